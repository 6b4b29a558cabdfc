"""Starts node processes (from a launch plan), restarts the ones marked ``respawn``, and stops
them all cleanly.

Nodes are stopped with SIGINT (so Fast DDS removes its shared-memory segments), then SIGTERM,
then SIGKILL. Each process's output goes to ``<log_dir>/<name>.log``, or with ``echo`` to this
process's stdout prefixed ``[name]`` as ``ros2 launch`` prints it; either way the last lines are
kept so that a node that dies can be reported with its last error line.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from mlkd_tracker.tools.launch_xml import LaunchPlan, NodeSpec

_TAIL_LINES = 40
_ERROR_WORDS = ("error", "exception", "traceback", "fatal", "refused", "failed")


@dataclass
class Running:
    spec: NodeSpec
    proc: subprocess.Popen
    log_path: Path
    tail: deque = field(default_factory=lambda: deque(maxlen=_TAIL_LINES))
    respawns: int = 0
    ended_at: float | None = None

    @property
    def label(self) -> str:
        return self.spec.label

    def last_error_line(self) -> str:
        """The last line that looks like an error (else the last line) the node printed."""
        lines = list(self.tail)
        if not lines and self.log_path.is_file():
            lines = self.log_path.read_text(errors="replace").splitlines()[-_TAIL_LINES:]
        lines = [line.strip() for line in lines if line.strip()]
        for line in reversed(lines):
            if any(word in line.lower() for word in _ERROR_WORDS):
                return line
        return lines[-1] if lines else "(no output)"


class ProcessGroup:
    def __init__(self, plan: LaunchPlan, log_dir: Path | None = None,
                 env: dict[str, str] | None = None, echo: bool = False) -> None:
        self.plan = plan
        self.log_dir = log_dir
        self.env = {**os.environ, **(env or {}), **plan.env}
        self.echo = echo
        self.running: list[Running] = []
        self._stopping = False

    def start(self) -> "ProcessGroup":
        for spec in self.plan.nodes:
            self.running.append(self._spawn(spec))
        return self

    def _spawn(self, spec: NodeSpec, respawns: int = 0) -> Running:
        log_path = (self.log_dir / f"{spec.label}.log") if self.log_dir else Path(os.devnull)
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        out = subprocess.PIPE if self.echo else open(log_path, "ab" if respawns else "wb")
        proc = subprocess.Popen(spec.command(), env={**self.env, **spec.env}, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        run = Running(spec, proc, log_path, respawns=respawns)
        if self.echo:
            threading.Thread(target=self._echo, args=(run,), daemon=True).start()
        else:
            out.close()  # the child holds its own copy
        return run

    @staticmethod
    def _echo(run: Running) -> None:
        prefix = f"[{run.label}] "
        for raw in run.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            run.tail.append(line)
            sys.stdout.write(prefix + line + "\n")
            sys.stdout.flush()

    def poll(self) -> list[Running]:
        """Restart ended ``respawn`` nodes once their delay has passed; return the processes that
        ended for good (a node without respawn should not end on its own)."""
        now = time.monotonic()
        for i, run in enumerate(self.running):
            if run.proc.poll() is None or not run.spec.respawn or self._stopping:
                continue
            run.ended_at = run.ended_at or now
            if now - run.ended_at >= run.spec.respawn_delay:
                self.running[i] = self._spawn(run.spec, run.respawns + 1)
        return self.exited()

    def exited(self) -> list[Running]:
        """Processes that have ended and will not be restarted."""
        return [r for r in self.running if r.proc.poll() is not None and not r.spec.respawn]

    def stop(self, timeout: float = 5.0) -> dict[str, int]:
        """Stop every process; returns exit codes by node label."""
        self._stopping = True
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
