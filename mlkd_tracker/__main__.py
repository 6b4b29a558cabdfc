"""`python -m mlkd_tracker` is the `mlkd-tracker` command."""
import sys

from mlkd_tracker.cli import main

sys.exit(main())
