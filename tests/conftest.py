"""Shared fixtures: a real mosquitto per test on a free port; paths to recorded data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.broker import Mosquitto
from tests.harness import Process

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("PATROL_GATEWAY_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def gpsd_data() -> Path:
    folder = DATA_DIR / "gpsd"
    if not folder.is_dir():
        pytest.skip(f"recorded gpsd logs not found at {folder} (set PATROL_GATEWAY_DATA)")
    return folder


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    """Child processes a test starts (simulators, gateways); stopped in reverse order afterwards."""
    started: list[Process] = []
    yield started
    for process in reversed(started):
        process.stop()
