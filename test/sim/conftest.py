"""Simulator tests run on the built-in photos unless a test passes its own texture folder, so
they neither depend on nor pick up a fetched texture set (``data/textures/flightgear``)."""
import pytest

from mlkd_tracker.sim.texture_folder import ENV_VAR


@pytest.fixture(autouse=True, scope="module")
def _no_fetched_textures():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_VAR, "none")
        yield
