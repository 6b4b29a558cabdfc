"""Execution providers: short names resolve to ONNX Runtime's, CPU stays the last fall-back, and a
provider the installed build lacks is refused by name instead of silently running on the CPU."""
from __future__ import annotations

from pathlib import Path

import onnxruntime as ort
import pytest

from mlkd_tracker.runtime.detector import OnnxDetector
from mlkd_tracker.runtime.onnx_session import ProviderError, resolve_providers

REPO_MODELS = Path(__file__).resolve().parents[2] / "models"


def test_default_is_the_cpu():
    assert resolve_providers(None) == ("CPUExecutionProvider",)
    assert resolve_providers("") == ("CPUExecutionProvider",)


def test_short_and_full_names_resolve_in_order_with_cpu_last(monkeypatch):
    assert resolve_providers("cpu") == ("CPUExecutionProvider",)
    assert resolve_providers(["CPUExecutionProvider", "cpu"]) == ("CPUExecutionProvider",)
    # as a Jetson build would offer them
    monkeypatch.setattr(ort, "get_available_providers", lambda: [
        "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"])
    assert resolve_providers("tensorrt,cuda") == (
        "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
    assert resolve_providers("CUDAExecutionProvider,cpu,tensorrt") == (
        "CUDAExecutionProvider", "CPUExecutionProvider", "TensorrtExecutionProvider")
    assert resolve_providers(" cuda , ") == ("CUDAExecutionProvider", "CPUExecutionProvider")


@pytest.mark.parametrize("name", ["tensorrt", "cuda", "NoSuchExecutionProvider"])
def test_a_provider_the_build_lacks_is_refused_by_name(name):
    full = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider"}.get(name, name)
    if full in ort.get_available_providers():
        pytest.skip(f"this onnxruntime build has {full}")
    with pytest.raises(ProviderError, match=f"'{name}' is not offered.*available: .*CPUExecutionProvider"):
        resolve_providers(name)


def test_a_model_reports_the_providers_it_runs_on():
    detector = OnnxDetector(REPO_MODELS / "detector.onnx", threads=1, providers="cpu")
    assert detector.providers == ("CPUExecutionProvider",)
