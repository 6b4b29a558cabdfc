"""Torch networks: low-light enhancer, Siamese tracker, teacher/student backbones, presets and
cost summaries. Never imports rclpy (the layers contract in .importlinter)."""
from mlkd_tracker.train.nets.backbones import BACKBONES, build_backbone
from mlkd_tracker.train.nets.config import EnhancerConfig, TrackerNetConfig
from mlkd_tracker.train.nets.enhancer import LowLightEnhancer
from mlkd_tracker.train.nets.layers import recalibrate_batchnorm
from mlkd_tracker.train.nets.presets import PRESETS, STUDENT_PRESETS, get_preset
from mlkd_tracker.train.nets.siamese import (SearchBranch, SiameseTracker, TemplateBranch,
                                       build_tracker, xcorr_depthwise)
from mlkd_tracker.train.nets.summary import (count_macs, count_params, format_summary_table,
                                       model_summary)

__all__ = ["BACKBONES", "build_backbone", "EnhancerConfig", "TrackerNetConfig",
           "LowLightEnhancer", "recalibrate_batchnorm", "PRESETS", "STUDENT_PRESETS",
           "get_preset", "SearchBranch", "SiameseTracker", "TemplateBranch", "build_tracker",
           "xcorr_depthwise", "count_macs", "count_params", "format_summary_table",
           "model_summary"]
