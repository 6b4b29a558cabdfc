"""Workstation tools that drive the nodes: the demo, the launch-file runner, bag recording and
replay, the node benchmark and the simulator node (``sim_node``, ``replay_node``).

They run on the development machine, not on the drone; they may use evaluation (scores, plots)
and data (bags), never training.
"""
