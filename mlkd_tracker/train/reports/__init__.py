"""Reports on training runs that need torch (to export or re-run checkpoints): the MLKD ablation
(``report mlkd``), the detector comparison (``report detector``) and the SLKD enhancer report
(``report slkd``). Torch-free evaluation lives in ``mlkd_tracker.eval``."""
