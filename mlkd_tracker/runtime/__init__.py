"""The drone side's runtime: torch-free, ROS-free inference and tracking logic (ONNX Runtime,
OpenCV, numpy). Every node is a thin rclpy shell over a class here, and evaluation runs the
same classes offline."""
