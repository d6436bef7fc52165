"""What the launch files share: where the package's files are, and launch arguments as parameters.

Kept free of `launch` imports so that it is tested without a ROS distribution; the launch files
in launch/ call it from their `OpaqueFunction`s.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from pathlib import Path

PACKAGE = "action_images_ros"
# The packaged Panda URDF names its meshes in example-robot-data's package, which no ROS
# distribution provides; only the collision meshes ship with this package.
_EXAMPLE_ROBOT_DATA_MESH = re.compile(
    r"package://example-robot-data/robots/panda_description/meshes/(?:visual/(\w+)\.dae|collision/)"
)


def package_dir() -> Path:
    """The directory of the importable Python package (installed, or the source tree)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the Python package {PACKAGE} is not importable")
    return Path(next(iter(spec.submodule_search_locations)))


def package_share(launch_file: str | Path) -> Path:
    """The package's installed share directory, or the source tree when it is not installed.

    `launch_file` is the calling launch file: outside an install, its folder's parent holds
    config/, rviz/ and launch/.
    """
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

    try:
        return Path(get_package_share_directory(PACKAGE))
    except PackageNotFoundError:
        return Path(launch_file).resolve().parents[1]


def is_installed(package: str) -> bool:
    """Whether the ament index knows `package` (robot_state_publisher, rviz2, ...)."""
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        get_package_prefix(package)
    except PackageNotFoundError:
        return False
    return True


def packaged_urdf() -> Path:
    """The simulated Panda's URDF (the robot of the sim and of the default model)."""
    return package_dir() / "sim" / "assets" / "panda" / "panda.urdf"


def packaged_checkpoint() -> Path | None:
    """The default model shipped with the package, or None where it is not installed."""
    path = package_dir() / "checkpoints" / "sim_panda_small"
    return path if path.is_dir() else None


def display_urdf(urdf: Path) -> str:
    """The URDF's text with mesh references a visualiser can open (file:// to shipped meshes).

    robot_state_publisher serves this text on /robot_description, and RViz loads the meshes it
    names; the visual meshes are replaced by the collision meshes, the only ones shipped.
    """
    mesh_dir = (urdf.parent / "meshes" / "collision").resolve()

    def local(match: re.Match[str]) -> str:
        return f"file://{mesh_dir}/" + (f"{match.group(1)}.stl" if match.group(1) else "")

    return _EXAMPLE_ROBOT_DATA_MESH.sub(local, urdf.read_text())


def existing_file(argument: str, path: str) -> str:
    """`path`, checked: launch_ros only warns about a missing parameter file and starts anyway."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"launch argument {argument}:={path!r} is not a file")
    return path


def _parse_bool(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"launch argument {name}:={text!r} is not a boolean (true or false)")


def parameter_overrides(
    arguments: Mapping[str, str], types: Mapping[str, type]
) -> dict[str, object]:
    """Node parameters from launch arguments; an empty argument keeps the config file's value.

    `types` gives each argument's parameter type (str, bool, int or float), so that a task
    named "yes" stays a string and `seed:=1.5` is refused with the argument named.
    """
    overrides: dict[str, object] = {}
    for name, kind in types.items():
        text = arguments.get(name, "")
        if text == "":
            continue
        if kind is bool:
            overrides[name] = _parse_bool(name, text)
        elif kind in (int, float):
            try:
                overrides[name] = kind(text)
            except ValueError:
                raise ValueError(
                    f"launch argument {name}:={text!r} is not a{'n' if kind is int else ''} "
                    f"{kind.__name__}"
                ) from None
        else:
            overrides[name] = text
    return overrides


def node_parameters(
    config_argument: str,
    config: str,
    sim_config: Path,
    arguments: Mapping[str, str],
    types: Mapping[str, type],
) -> list[object]:
    """A robot-watching node's parameters: its config file (checked to exist, named by its
    launch argument) and the launch arguments over it. Only with the default sim config does
    the node get the packaged Panda URDF when `urdf:=` is empty; a robot config keeps its own
    robot model (or the latched /robot_description)."""
    existing_file(config_argument, config)
    arguments = dict(arguments)
    if not arguments.get("urdf") and Path(config).resolve() == sim_config.resolve():
        arguments["urdf"] = str(packaged_urdf())
    if arguments.get("urdf"):
        existing_file("urdf", arguments["urdf"])
    return [config, parameter_overrides(arguments, types)]
