"""The drone side's ROS 2 nodes and their kit.

Nodes (each a thin rclpy shell over ``mlkd_tracker.runtime``): ``camera_node``, ``tracker_node``
(with ``tracker_acquisition``: detections in, init requests out), ``detector_node``,
``enhancer_node``, ``follow_node``. Kit shared by them: ``params`` (declared, range-checked
parameters), ``qos``, ``diagnostics``, ``image_input`` (newest-frame buffer, worker thread, bad
input handling), ``image_conversion`` and ``detection_conversion`` (messages <-> numpy),
``gimbal_command`` and ``node_main`` (start-up and shutdown). Nothing here imports torch.
"""
