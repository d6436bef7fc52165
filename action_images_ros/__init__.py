"""Action Images world action models on ROS 2 manipulators."""

__path__ = __import__("pkgutil").extend_path(__path__, __name__)
