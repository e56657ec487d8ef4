"""`patrol-gateway demo`, the first thing a new user runs: the whole system with the embedded broker."""

from __future__ import annotations

import subprocess
import sys

from tests.harness import REPO

DEMO_SECONDS = 16
TIMEOUT_S = 90


def test_demo_shows_gnss_and_fleet_traffic_and_a_dispatcher_command_then_exits_cleanly() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "demo",
            "--duration",
            str(DEMO_SECONDS),
            "--units",
            "3",
            "--rate",
            "5",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, result.stderr[-3000:]
    assert "(gnss, seq" in out, "the simulated receiver's positions"
    assert "(lip, seq" in out, "the simulated fleet's LIP positions"
    assert "radio base      up" in out
    assert "dispatch result    demo-1 sent" in out, "the dispatcher's send_text went out"
    assert out.rstrip().endswith("availability: offline"), "the gateway said goodbye"
