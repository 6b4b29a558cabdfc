"""The one tracker factory: spec strings -> trackers for the node, eval, bench and replay alike;
model paths found as the node finds them; plug-in kinds registered once work everywhere."""
from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

from mlkd_tracker.runtime import tracker_factory
from mlkd_tracker.runtime.enhanced_tracker import EnhancedSiameseEngine
from mlkd_tracker.runtime.opencv_trackers import OpenCVTracker, available_opencv_trackers
from mlkd_tracker.runtime.siamese_tracker import SiameseTracker
from mlkd_tracker.runtime.tracker_base import TrackResult, Tracker
from mlkd_tracker.runtime.tracker_factory import (ENTRY_POINT_GROUP, TrackerKind, TrackerSpec,
                                                  build, describe_spec_forms, parse_spec,
                                                  register_kind, spec_forms,
                                                  spec_from_parameters)
from mlkd_tracker.runtime.onnx_session import ProviderError
from fake_siamese_onnx import fake_export
from tiny_enhancer import export_tiny_enhancer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    fake_export(folder / "fake")
    return export_tiny_enhancer(folder / "tiny_enhancer.onnx"), folder / "fake"


@pytest.fixture
def isolated_kinds(monkeypatch):
    """Registrations made by a test vanish after it."""
    monkeypatch.setattr(tracker_factory, "_KINDS", dict(tracker_factory._KINDS))
    return tracker_factory._KINDS


class Plugged(Tracker):
    name = "plugged"

    def __init__(self, arg: str, threads: int | None = None) -> None:
        self.arg, self.threads = arg, threads

    def init(self, frame, box) -> None:
        pass

    def update(self, frame) -> TrackResult:
        return TrackResult((0.0, 0.0, 1.0, 1.0), 1.0)


def test_the_built_in_forms_are_listed_for_help():
    forms = dict(spec_forms())
    assert "opencv:csrt|kcf|mil|mosse" in forms and "onnx:<model>" in forms
    assert "enhanced:<enhancer.onnx>+<model>" in forms
    text = " ".join(describe_spec_forms().split())  # wrapped for --help
    assert all(form in text and help_text in text for form, help_text in spec_forms())
    assert max(len(line) for line in describe_spec_forms(width=80).splitlines()) <= 80


@pytest.mark.parametrize("text", ["opencv:csrt", " OpenCV:KCF ", "opencv:mil"])
def test_opencv_specs_build_a_fresh_tracker_each_time(text):
    spec = parse_spec(text)
    assert spec.kind == "opencv" and spec.arg == text.strip().split(":")[1].lower()
    a, b = build(spec), build(text)
    assert isinstance(a, OpenCVTracker) and a is not b and a.name == f"opencv-{spec.arg}"


@pytest.mark.parametrize("text, message", [
    ("csrt", "must look like kind:arg"),
    ("opencv:", "must look like kind:arg"),
    ("tensorrt:model.plan", "unknown tracker kind 'tensorrt'"),
    ("opencv:boosting", "'boosting' is not available in this build"),
    ("onnx:/no/such/student", "onnx tracker: model '/no/such/student': missing"),
    ("enhanced:/no/e.onnx+/no/t", "enhanced tracker: enhancer model '/no/e.onnx' does not exist"),
])
def test_bad_specs_are_refused_with_the_reason_and_the_known_forms(text, message):
    with pytest.raises(ValueError, match=message) as err:
        parse_spec(text)
    if "kind" in message:
        assert "opencv:csrt|kcf|mil|mosse" in str(err.value) and "onnx:<model>" in str(err.value)


def test_onnx_models_are_found_as_the_node_finds_them(tmp_path, monkeypatch):
    """From the working directory first, else from the package share directory."""
    monkeypatch.chdir(tmp_path)  # no models/ here
    spec = parse_spec("onnx:models/student_mobile")
    assert Path(spec.arg) == REPO / "models" / "student_mobile"
    assert isinstance(build(spec, threads=1), SiameseTracker)
    (tmp_path / "models").mkdir()
    fake_export(tmp_path / "models" / "student_mobile")  # a local copy wins
    assert parse_spec("onnx:models/student_mobile").arg == "models/student_mobile"


def test_enhanced_specs_name_the_tracker_with_or_without_its_kind(models):
    enhancer, tracker = models
    plain, prefixed = parse_spec(f"enhanced:{enhancer}+{tracker}"), parse_spec(f"enhanced:{enhancer}+onnx:{tracker}")
    assert plain == prefixed == TrackerSpec("enhanced", f"{enhancer}+{tracker}")
    built = build(prefixed, threads=1)
    assert isinstance(built.engine, EnhancedSiameseEngine)
    with pytest.raises(ValueError, match="must be onnx:<model>"):
        parse_spec(f"enhanced:{enhancer}+opencv:csrt")


def test_threads_go_to_backends_that_take_them(isolated_kinds):
    set_to: list[int] = []
    register_kind("plug", TrackerKind(Plugged, arg="<x>", help="test", threads_kwarg="threads",
                                      threads_setter=set_to.append))
    assert build("plug:a").threads is None and set_to == []
    assert build("plug:a", threads=3).threads == 3 and set_to == [3]


def test_providers_go_to_the_onnx_kinds_and_a_cpu_only_kind_refuses_an_accelerator(models):
    enhancer, tracker = models
    assert build(f"onnx:{tracker}", providers="cpu").engine.providers == ("CPUExecutionProvider",)
    assert build(f"enhanced:{enhancer}+{tracker}", providers="cpu").engine.engine.providers == (
        "CPUExecutionProvider",)
    with pytest.raises(ProviderError, match="'nosuch' is not offered"):
        build(f"onnx:{tracker}", providers="nosuch")
    assert build("opencv:kcf", providers="cpu").name  # the CPU is every kind's
    with pytest.raises(ValueError, match="CPU only"):
        build("opencv:kcf", providers="cuda")


def test_a_registered_kind_works_everywhere_specs_are_read(isolated_kinds):
    register_kind("plug", TrackerKind("test_tracker_factory:Plugged", arg="<x>", help="a plug-in",
                                      check=str.upper))
    assert "plug:<x>" in dict(spec_forms())
    spec = parse_spec("plug:abc")
    assert spec == TrackerSpec("plug", "ABC")  # normalised by its check
    assert build(spec).arg == "ABC"
    from mlkd_tracker.eval.tracker_registry import make, parse_spec as eval_parse_spec
    assert make(eval_parse_spec("x=plug:abc")).arg == "ABC"  # eval and bench read the same specs


def test_register_kind_refuses_bad_names_and_targets(isolated_kinds):
    with pytest.raises(ValueError, match="lower-case"):
        register_kind("My-Kind", TrackerKind(Plugged, arg="<x>", help=""))
    with pytest.raises(ValueError, match="package.module:Attr"):
        register_kind("ok", TrackerKind("no_colon", arg="<x>", help=""))


def test_a_backend_that_cannot_be_imported_or_returns_no_tracker_is_an_error(isolated_kinds):
    register_kind("gone", TrackerKind("no_such_module_anywhere:Build", arg="<x>", help=""))
    with pytest.raises(ValueError, match="cannot load the 'gone' tracker backend"):
        build("gone:x")
    register_kind("odd", TrackerKind(lambda arg: object(), arg="<x>", help=""))
    with pytest.raises(TypeError, match="not a Tracker"):
        build("odd:x")


def test_kinds_from_entry_points_are_found_without_importing_them(isolated_kinds, monkeypatch):
    point = importlib.metadata.EntryPoint("fromep", "test_tracker_factory:Plugged", ENTRY_POINT_GROUP)
    seen = []

    def entry_points(group):
        seen.append(group)
        return [point] if group == ENTRY_POINT_GROUP else []

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    monkeypatch.setattr(tracker_factory, "_entry_points_loaded", False)
    assert "fromep:<arg>" in dict(spec_forms())
    assert build("fromep:z").arg == "z"
    assert seen == [ENTRY_POINT_GROUP]  # looked up once per process


@pytest.mark.parametrize("params, spec", [
    ({}, "opencv:csrt"),
    ({"opencv_algorithm": "kcf"}, "opencv:kcf"),
    ({"backend": "onnx", "model_path": "models/m"}, "onnx:models/m"),
    ({"backend": "onnx", "model_path": "m", "enhancer_path": "e.onnx"}, "enhanced:e.onnx+m"),
])
def test_the_node_s_older_parameters_map_to_specs(params, spec):
    assert spec_from_parameters(**params) == spec


@pytest.mark.parametrize("params, message", [
    ({"backend": "tensorrt"}, "unknown tracker backend 'tensorrt'; known: opencv, onnx"),
    ({"backend": "onnx"}, "needs model_path"),
    ({"backend": "opencv", "enhancer_path": "e.onnx"}, "onnx backend only"),
])
def test_older_parameters_that_cannot_work_are_refused(params, message):
    with pytest.raises(ValueError, match=message):
        spec_from_parameters(**params)


def test_importing_the_factory_loads_no_backend():
    code = ("import sys, mlkd_tracker.runtime.tracker_factory as f; f.spec_forms(); "
            "f.build('opencv:kcf'); "
            "print(sorted(m for m in ('onnxruntime', 'torch', 'rclpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_available_opencv_algorithm_parses():
    for name in available_opencv_trackers():
        assert parse_spec(f"opencv:{name}").arg == name
