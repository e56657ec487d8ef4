"""``patrol-gateway doctor`` against the pty simulators and a real mosquitto, run as the installer runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import ENV_PREFIX
from tests.broker import Mosquitto, free_port
from tests.harness import REPO, Process, start_simulator

ISSI = 4242


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in reversed(started):
        process.stop()


def _simulator(processes: list[Process], tmp_path: Path, kind: str, *args: str) -> Path:
    link = tmp_path / kind
    sim = start_simulator(kind, link, *args, log=tmp_path / f"{kind}.out")
    processes.append(sim)
    sim.wait_line(f"patrol-sim {kind}: ready at {link}")
    return link


def _doctor(tmp_path: Path, config: str) -> tuple[int, list[str]]:
    path = tmp_path / "gateway.toml"
    path.write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "doctor", "--config", str(path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout.splitlines()


def _failures(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("[FAIL]")]


@pytest.mark.parametrize(
    ("gnss_baud", "reported_baud", "cnumf_type"),
    [('"auto"', 9600, "6"), ("4800", 4800, "0")],
    ids=["auto baud, 17-digit TSI", "fixed 4800 baud, bare ISSI"],
)
def test_everything_answers(
    gnss_baud: str,
    reported_baud: int,
    cnumf_type: str,
    tmp_path: Path,
    mosquitto: Mosquitto,
    processes: list[Process],
) -> None:
    gps = _simulator(processes, tmp_path, "gps")
    radio = _simulator(processes, tmp_path, "radio", "--issi", str(ISSI), "--cnumf-type", cnumf_type)
    code, lines = _doctor(
        tmp_path,
        f"""
[mqtt]
url = "{mosquitto.url}"

[gnss]
port = "{gps}"
baud = {gnss_baud}
auto_bauds = [9600, 4800]

[[radios]]
port = "{radio}"
name = "base"
""",
    )
    assert code == 0, lines
    assert _failures(lines) == []
    assert f"[ok] GNSS: {gps} present, read/write allowed" in lines
    assert any(line.startswith(f"[ok] GNSS: NMEA at {reported_baud} baud") for line in lines), lines
    assert f"[ok] radio base: {radio} present, read/write allowed" in lines
    assert f"[ok] radio base: PEI answers at 38400 baud, ISSI {ISSI}" in lines
    assert f"[ok] broker {mosquitto.url}: connected" in lines


def test_nothing_configured_but_the_broker(tmp_path: Path, mosquitto: Mosquitto) -> None:
    code, lines = _doctor(tmp_path, f'[mqtt]\nurl = "{mosquitto.url}"\n')
    assert code == 0, lines
    assert lines == [
        "[ok] GNSS: none configured (gnss.port absent)",
        "[ok] radios: none configured",
        f"[ok] broker {mosquitto.url}: connected",
    ]


def test_absent_devices_and_dead_broker_fail_with_reasons(
    tmp_path: Path, mosquitto: Mosquitto, processes: list[Process]
) -> None:
    radio = _simulator(processes, tmp_path, "radio", "--issi", str(ISSI))
    gps = tmp_path / "ttyACM9"
    spare = tmp_path / "ttyUSB7"
    dead = f"mqtt://127.0.0.1:{free_port()}"  # nothing listens there
    code, lines = _doctor(
        tmp_path,
        f"""
[mqtt]
url = "{dead}"

[gnss]
port = "{gps}"

[[radios]]
port = "{radio}"

[[radios]]
port = "{spare}"
name = "spare"
""",
    )
    assert code == 1
    failures = _failures(lines)
    assert failures[0] == f"[FAIL] GNSS: {gps} does not exist (unplugged? wrong udev name?)"
    assert failures[1] == f"[FAIL] radio spare: {spare} does not exist (unplugged? wrong udev name?)"
    assert failures[2].startswith(f"[FAIL] broker {dead}: ")
    assert "refused" in failures[2].lower(), "the reason is given"
    assert len(failures) == 3
    assert f"[ok] radio radio0: PEI answers at 38400 baud, ISSI {ISSI}" in lines, "the rest is still probed"


def test_device_that_does_not_speak_nmea(
    tmp_path: Path, mosquitto: Mosquitto, processes: list[Process]
) -> None:
    """A radio on the GNSS port: present, opens, but says nothing in NMEA."""
    radio = _simulator(processes, tmp_path, "radio")
    code, lines = _doctor(
        tmp_path, f'[mqtt]\nurl = "{mosquitto.url}"\n[gnss]\nport = "{radio}"\nbaud = 9600\n'
    )
    assert code == 1
    assert _failures(lines) == ["[FAIL] GNSS: no valid NMEA at 9600 baud"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may open any file")
def test_device_without_permission(tmp_path: Path, mosquitto: Mosquitto) -> None:
    device = tmp_path / "ttyUSB0"
    device.touch(mode=0o600)
    device.chmod(0)
    code, lines = _doctor(tmp_path, f'[mqtt]\nurl = "{mosquitto.url}"\n[[radios]]\nport = "{device}"\n')
    assert code == 1
    assert _failures(lines) == [
        f"[FAIL] radio radio0: {device} is not readable and writable by this user (add it to 'dialout')"
    ]


def test_bad_configuration_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('[gnss]\nbaud = "fast"\n')
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "doctor", "--config", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "gnss.baud" in result.stderr
