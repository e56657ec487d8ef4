"""Fixtures for the simulator tests: simulators run as subprocesses through the real CLI."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 10.0


class SimProcess:
    """``python -m simulators ...`` with its stdout lines readable with a timeout."""

    def __init__(self, args: list[str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "simulators", *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def expect(self, fragment: str, timeout: float = READY_TIMEOUT_S) -> str:
        """The next stdout line, which must contain ``fragment``."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no line containing {fragment!r} within {timeout} s")
        if line is None:
            stderr = self.process.stderr.read() if self.process.stderr else ""
            pytest.fail(f"simulator exited ({self.process.wait()}) before {fragment!r}: {stderr}")
        assert fragment in line
        return line

    def signal(self, signum: int) -> None:
        os.kill(self.process.pid, signum)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=10)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        self._reader.join(5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return code


@pytest.fixture
def run_sim() -> Iterator[type[SimProcess]]:
    """Start simulator subprocesses; every one is terminated when the test ends."""
    started: list[SimProcess] = []

    class Tracked(SimProcess):
        def __init__(self, args: list[str]) -> None:
            super().__init__(args)
            started.append(self)

    yield Tracked
    for sim in started:
        sim.stop()
