"""The `mlkd-tracker` command. Subcommands import lazily so runtime commands work without torch."""
import sys


def main(argv=None) -> int:
    print("mlkd-tracker: no subcommands yet", file=sys.stderr)
    return 2
