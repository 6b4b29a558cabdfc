"""ament_python package definition; also works with plain `pip install -e .` in a venv."""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "mlkd_tracker"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.xml")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
        (f"share/{PACKAGE}/config/train", glob("config/train/*.yaml")),
        (f"share/{PACKAGE}/models", glob("models/*.onnx") + glob("models/*.md") + glob("models/SHA256SUMS")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="mlkd_tracker maintainers",
    maintainer_email="maintainers@mlkd-tracker.invalid",
    description="Night-time UAV tracking and detection with distilled students on ROS 2",
    license="AGPL-3.0-or-later",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            f"mlkd-tracker = {PACKAGE}.cli:main",
            f"sim_node = {PACKAGE}.tools.sim_node:main",
            f"tracker_node = {PACKAGE}.nodes.tracker_node:main",
            f"follow_node = {PACKAGE}.nodes.follow_node:main",
            f"camera_node = {PACKAGE}.nodes.camera_node:main",
            f"enhancer_node = {PACKAGE}.nodes.enhancer_node:main",
            f"detector_node = {PACKAGE}.nodes.detector_node:main",
        ],
    },
)
