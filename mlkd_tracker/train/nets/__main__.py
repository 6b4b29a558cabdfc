"""``python -m mlkd_tracker.train.nets``: print the params/MACs table of every preset."""
from mlkd_tracker.train.nets.summary import main

main()
