"""The simulator: a ROS-free, torch-free synthetic night UAV scene renderer.

Used by the ROS sim node (30 Hz, 640x480) and by the synthetic data-set generator. Only numpy,
OpenCV and scikit-image's bundled photos; deterministic for a seed. Modules, one job each:

- photos    real photos shipped in the scikit-image wheel, as BGR texture sources
- ground    the photo-textured ground mosaic (fields, roads, paths)
- sprites   target (vehicle with lights, or ellipse) and occluder (canopy, roof) patches
- class_sprites  top-down person, motor and truck sprites for the detection set
- camera    pinhole + gimbal + drone pose -> ground-to-image homography; gimbal convention
- dynamics  target and drone motion (Ornstein-Uhlenbeck turns, drift, vibration, bursts)
- compose   per-frame target compositing under occluders; exact box and visibility
- optics    lamp pools, glare and motion blur in linear light
- lowlight  the low-light camera model (LowLightConfig, DARKNESS_LEVELS, degrade, NightCamera)
- lights    street lamps and the movers' head/tail lights as image-px point lights
- targets   the target, its stops/U-turns/road following, look-alike distractors, drone start
- scene     SimConfig, SimFrame, NightScene, render_sequence
"""
