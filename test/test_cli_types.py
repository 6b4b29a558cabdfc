"""argparse value types reject out-of-range numbers with argparse's own error."""
import argparse

import pytest

from mlkd_tracker.cli_types import non_negative_int, positive_float, positive_int


@pytest.mark.parametrize("kind, good, bad", [
    (positive_int, ["1", "12"], ["0", "-3"]),
    (non_negative_int, ["0", "500"], ["-1"]),
    (positive_float, ["0.5", "2"], ["0", "-1.5", "nan"]),
])
def test_range_checks(kind, good, bad):
    assert [kind(t) for t in good] == [type(kind(good[0]))(t) for t in good]
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError):
            kind(text)
