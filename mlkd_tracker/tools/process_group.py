"""Starts node processes (from a launch plan) and stops them cleanly.

Nodes are stopped with SIGINT (so Fast DDS removes its shared-memory segments), then SIGTERM,
then SIGKILL. Each process's output goes to ``<log_dir>/<name>.log``.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from mlkd_tracker.tools.launch_xml import LaunchPlan, NodeSpec


@dataclass
class Running:
    spec: NodeSpec
    proc: subprocess.Popen
    log_path: Path

    @property
    def label(self) -> str:
        return self.spec.name or self.spec.exec


class ProcessGroup:
    def __init__(self, plan: LaunchPlan, log_dir: Path | None = None,
                 env: dict[str, str] | None = None, echo: bool = False) -> None:
        self.plan = plan
        self.log_dir = log_dir
        self.env = {**os.environ, **(env or {}), **plan.env}
        self.echo = echo
        self.running: list[Running] = []

    def start(self) -> "ProcessGroup":
        for spec in self.plan.nodes:
            label = spec.name or spec.exec
            log_path = (self.log_dir / f"{label}.log") if self.log_dir else Path(os.devnull)
            if self.log_dir:
                self.log_dir.mkdir(parents=True, exist_ok=True)
            out = None if self.echo else open(log_path, "wb")
            proc = subprocess.Popen(spec.command(), env=self.env, stdout=out,
                                    stderr=subprocess.STDOUT if out else None,
                                    start_new_session=True)
            self.running.append(Running(spec, proc, log_path))
        return self

    def exited(self) -> list[Running]:
        """Processes that have already ended (a node should not end on its own)."""
        return [r for r in self.running if r.proc.poll() is not None]

    def stop(self, timeout: float = 5.0) -> dict[str, int]:
        """Stop every process; returns exit codes by node label."""
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            alive = [r for r in self.running if r.proc.poll() is None]
            for r in alive:
                try:
                    os.killpg(r.proc.pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + timeout
            while alive and time.monotonic() < deadline:
                alive = [r for r in alive if r.proc.poll() is None]
                time.sleep(0.05)
            if not alive:
                break
        return {r.label: r.proc.wait() for r in self.running}

    def __enter__(self) -> "ProcessGroup":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
