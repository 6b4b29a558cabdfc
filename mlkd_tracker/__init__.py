"""Night-time UAV tracking and detection with distilled lightweight students on ROS 2."""

__version__ = "0.1.0"
