"""The ONNX nodes' ``providers`` parameter: an execution provider the installed onnxruntime does
not offer stops start-up with exit code 2 and one line naming the parameter and what is
available, rather than silently running on the CPU."""
from __future__ import annotations

import onnxruntime as ort
import pytest

from mlkd_tracker.tools.launch_xml import NodeSpec
from ros_probe import start_nodes

pytestmark = pytest.mark.ros


def test_a_cpu_only_tracker_refuses_an_accelerator(ros_env, tmp_path):
    group = start_nodes(tmp_path / "logs", NodeSpec("mlkd_tracker", "tracker_node", name="tracker_node",
                                                    params={"tracker": "opencv:csrt",
                                                            "providers": "cuda"}))
    try:
        code = group.running[0].proc.wait(timeout=180)
    finally:
        group.stop()
    log = group.running[0].log_path.read_text()
    assert code == 2 and "CPU only" in log and "Traceback" not in log, log[-2000:]


def test_an_unavailable_provider_is_refused_at_start_up(ros_env, tmp_path):
    if "TensorrtExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime build offers TensorRT")
    extra = {"tracker_node": {"tracker": "onnx:models/student_mobile"}}
    groups = {exe: start_nodes(tmp_path / exe, NodeSpec(
        "mlkd_tracker", exe, name=exe, params={"providers": "tensorrt,cpu", **extra.get(exe, {})}))
              for exe in ("detector_node", "enhancer_node", "tracker_node")}
    try:
        codes = {exe: g.running[0].proc.wait(timeout=180) for exe, g in groups.items()}
    finally:
        for g in groups.values():
            g.stop()
    for exe, group in groups.items():
        log = group.running[0].log_path.read_text()
        assert codes[exe] == 2, log[-2000:]
        assert "[FATAL] parameter 'providers' = 'tensorrt,cpu'" in log, log[-2000:]
        assert "not offered by this onnxruntime build" in log and "CPUExecutionProvider" in log
        assert "Traceback" not in log
