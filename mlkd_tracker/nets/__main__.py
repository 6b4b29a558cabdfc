"""``python -m mlkd_tracker.nets``: print the params/MACs table of every preset."""
from mlkd_tracker.nets.summary import main

main()
