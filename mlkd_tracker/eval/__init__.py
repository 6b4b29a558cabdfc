"""Evaluation and benchmarks: one-pass evaluation (OPE) of trackers, detection metrics, plots,
speed and node benchmark reports. No ROS and no torch (reports that need torch live in
``mlkd_tracker.train.reports``)."""
