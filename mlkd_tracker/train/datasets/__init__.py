"""Torch datasets for training: template/search pairs cropped like the runtime tracker
(``pairs``), their response-map targets (``targets``) and the SLKD enhancer's patches
(``enhance_patches``). Data-set files themselves are written and read by ``mlkd_tracker.data``."""
