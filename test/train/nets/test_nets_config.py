"""TrackerNetConfig: dict/YAML round trip and validation with clear errors."""
from __future__ import annotations

import json

import pytest
import yaml

from mlkd_tracker.train.nets import PRESETS, EnhancerConfig, TrackerNetConfig


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_round_trip_through_json(name):
    cfg = PRESETS[name]
    d = json.loads(json.dumps(cfg.to_dict()))
    assert isinstance(d["mean_bgr"], list)
    assert TrackerNetConfig.from_dict(d) == cfg


def test_yaml_lists_and_nested_enhancer():
    text = ("name: t\nbackbone: resnet\nmean_bgr: [1, 2, 3]\n"
            "enhancer: {channels: 16, layers: 5, iterations: 4}\n")
    cfg = TrackerNetConfig.from_dict(yaml.safe_load(text))
    assert cfg.enhancer == EnhancerConfig(16, 5, 4)
    assert cfg.mean_bgr == (1.0, 2.0, 3.0)
    assert yaml.safe_load(yaml.safe_dump(cfg.to_dict())) == cfg.to_dict()


def test_geometry_follows_sizes():
    g = TrackerNetConfig(template_size=48, search_size=128).geometry()
    assert (g.template_size, g.search_size, g.stride, g.score_size) == (48, 128, 8, 11)
    assert TrackerNetConfig().geometry().score_size == 13


def test_unknown_backbone_lists_known_names():
    with pytest.raises(ValueError) as err:
        TrackerNetConfig(backbone="vgg16")
    for known in ("alexnet_slim", "mobilenet", "shufflenet", "resnet"):
        assert known in str(err.value)


@pytest.mark.parametrize("sizes", [dict(search_size=150), dict(template_size=200),
                                   dict(template_size=60, search_size=140), dict(stride=16)])
def test_bad_sizes_rejected(sizes):
    with pytest.raises(ValueError):
        TrackerNetConfig(**sizes)


def test_geometry_error_comes_from_siamese_geometry():
    with pytest.raises(ValueError, match="multiple of the stride"):
        TrackerNetConfig.from_dict({"search_size": 161})


def test_unknown_keys_rejected():
    with pytest.raises(ValueError, match="neck_channel"):
        TrackerNetConfig.from_dict({"neck_channel": 32})
    with pytest.raises(ValueError, match="depth"):
        TrackerNetConfig.from_dict({"enhancer": {"depth": 3}})


def test_replace_revalidates():
    cfg = PRESETS["student_mobile"]
    assert cfg.replace(search_size=128).search_size == 128
    with pytest.raises(ValueError):
        cfg.replace(search_size=130)


def test_nets_never_import_rclpy():
    """Training-side layers run where ROS is absent."""
    import subprocess
    import sys

    code = ("import sys, mlkd_tracker.train.nets, mlkd_tracker.train.nets.summary; "
            "assert 'rclpy' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
