"""Datasets and rosbag2 I/O (through `rosbags`; no ROS installation needed)."""
