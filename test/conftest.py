"""Shared fixtures. Tests that talk DDS get their own ROS domain, localhost-only discovery, a
temp log dir and the project's Fast DDS profile; whatever they start, they stop."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _claim_domain_id() -> tuple[int, object]:
    """A domain id no other test run on this machine holds (flock, released at exit)."""
    for offset in range(101):
        domain = 1 + (os.getpid() + offset) % 101
        handle = open(f"/tmp/mlkd_tracker_ros_domain_{domain}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return domain, handle
        except OSError:
            handle.close()
    raise RuntimeError("all ROS domain ids 1..101 are in use by other test runs")


@pytest.fixture(autouse=True, scope="session")
def _no_fetched_textures():
    """No test picks up a fetched aerial texture set (``data/textures/flightgear``), also when
    pytest runs without ``make test``: ``"auto"`` textures mean the built-in photos for the
    whole run, child processes included. A test that wants textures passes its own folder."""
    from mlkd_tracker.sim.texture_folder import ENV_VAR

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_VAR, "none")
        yield


@pytest.fixture(scope="session")
def ros_domain_id():
    domain, handle = _claim_domain_id()
    yield domain
    handle.close()


def _ros_vars(domain: int, log_dir: Path) -> dict[str, str]:
    return {
        "ROS_DOMAIN_ID": str(domain),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "ROS_LOG_DIR": str(log_dir),
        "FASTDDS_DEFAULT_PROFILES_FILE": str(REPO / "config" / "fastdds.xml"),
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def ros_env(ros_domain_id, tmp_path, monkeypatch) -> dict[str, str]:
    env = _ros_vars(ros_domain_id, tmp_path / "ros_log")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture(scope="module")
def ros_module_env(ros_domain_id, tmp_path_factory):
    """``ros_env`` for a module whose nodes or recordings serve several tests; yields the
    module's temp folder."""
    tmp = tmp_path_factory.mktemp("ros_module")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in _ros_vars(ros_domain_id, tmp / "ros_log").items():
            mp.setenv(key, value)
        yield tmp


# Shared test helpers (importable as plain modules from any test directory).
import sys  # noqa: E402

sys.path.insert(0, str(REPO / "test" / "support"))
