"""systemd integration: Type=notify readiness, watchdog pings from the event loop, STOPPING on SIGTERM.

A unix datagram socket stands in for systemd's NOTIFY_SOCKET; the gateway is the real process.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.sd_notify import notify, watchdog_interval_s
from tests.broker import Mosquitto
from tests.harness import WAIT_S, Process, write_config

WATCHDOG_USEC = 200_000
PINGS_WANTED = 3


def collect(sock: socket.socket, seen: list[str], until: Callable[[list[str]], bool]) -> None:
    sock.settimeout(WAIT_S)
    while not until(seen):
        seen.extend(sock.recv(4096).decode().splitlines())


def test_ready_watchdog_and_stopping_reach_the_notify_socket(tmp_path: Path, mosquitto: Mosquitto) -> None:
    address = tmp_path / "notify.sock"
    config = write_config(
        tmp_path / "gw.toml",
        f'[gateway]\nid = "gw"\n[mqtt]\nurl = "{mosquitto.url}"\n[spool]\npath = "{tmp_path / "spool.db"}"\n',
    )
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(address))
        env = {"NOTIFY_SOCKET": str(address), "WATCHDOG_USEC": str(WATCHDOG_USEC)}
        gateway = Process(["-m", "gateway", "run", "--config", str(config)], tmp_path / "gw.out", env=env)
        try:
            seen: list[str] = []
            collect(sock, seen, lambda lines: "READY=1" in lines)
            ready_at = seen.index("READY=1")
            collect(sock, seen, lambda lines: lines[ready_at:].count("WATCHDOG=1") >= PINGS_WANTED)
            gateway.signal(signal.SIGTERM)
            collect(sock, seen, lambda lines: "STOPPING=1" in lines)
            assert gateway.popen.wait(WAIT_S) == 0
            assert any(line.startswith("STATUS=") for line in seen)
        finally:
            gateway.stop()


def test_without_systemd_notify_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert notify("READY=1") is False
    assert watchdog_interval_s() is None
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", "1")  # another process's watchdog
    assert watchdog_interval_s() is None
    monkeypatch.delenv("WATCHDOG_PID")
    assert watchdog_interval_s() == 15.0
