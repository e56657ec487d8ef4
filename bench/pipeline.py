"""Benchmark: decoded events -> spool -> MqttBridge -> mosquitto, against a naive paho loop.

    python -m bench.pipeline [--events N] [--broker URL] [--repeat R] [--window W]

Starts its own mosquitto on a free port unless ``--broker`` is given. Each measurement runs in a fresh child
process (so that CPU time and peak RSS belong to that run alone) and is repeated ``--repeat`` times; the
report gives medians and the ratio to the baseline measured in the same run.

- pipeline: NMEA line -> pynmea2 parse -> body -> ``Spool.put`` (99 % positions, batched commits; 1 %
  statuses, fsync'd) -> ``MqttBridge`` (QoS 1, ``--window`` in flight) -> PUBACK -> ``Spool.ack``.
- baseline: NMEA line -> pynmea2 parse -> JSON -> paho ``publish(qos=1).wait_for_publish()``; no spool.

Figures: sustained acknowledged events/s (N events put as fast as the loop allows, until the last PUBACK);
put -> PUBACK latency p50/p99 at a steady 100 events/s; CPU seconds per 1,000 events (this process only, not
the broker); peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pynmea2
from paho.mqtt.enums import CallbackAPIVersion

from gateway.config import Settings
from gateway.mqtt_bridge import MqttBridge
from gateway.spool import Spool

STEADY_RATE_HZ = 100.0
STEADY_EVENTS = 1000
STATUS_EVERY = 100
PUT_BATCH = 64
REPO = Path(__file__).resolve().parent.parent


def nmea_lines(count: int) -> list[str]:
    """Synthetic GGA sentences with valid checksums, one per second of a drive."""
    lines = []
    for index in range(count):
        seconds = index % 86400
        hhmmss = f"{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}.00"
        lat = f"{4807.038 + (index % 1000) * 0.001:.3f}"
        body = f"GPGGA,{hhmmss},{lat},N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"
        checksum = 0
        for char in body:
            checksum ^= ord(char)
        lines.append(f"${body}*{checksum:02X}")
    return lines


def decode(line: str, index: int, status_every: int = STATUS_EVERY) -> tuple[str, dict[str, Any]]:
    """The class and body of one decoded event (every ``status_every``-th event is a status)."""
    fix = pynmea2.parse(line)
    if index % status_every == status_every - 1:
        return "status", {"unit": "u1", "issi": 2001234, "code": 32770, "hex": "8002", "gateway": "bench"}
    return "position", {
        "unit": "u1",
        "time": str(fix.timestamp),
        "lat": round(fix.latitude, 7),
        "lon": round(fix.longitude, 7),
        "alt_m": float(fix.altitude),
        "sats": int(fix.num_sats),
        "hdop": float(fix.horizontal_dil),
        "fix": "3d",
        "source": "gnss",
        "gateway": "bench",
    }


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class TimedSpool(Spool):
    """A spool that notes when each seq was acknowledged (after its PUBACK)."""

    acked_at: dict[int, float]
    progress: asyncio.Event

    def ack(self, seqs: Iterable[int]) -> None:
        batch = list(seqs)
        now = time.perf_counter()
        for seq in batch:
            self.acked_at[seq] = now
        super().ack(batch)
        self.progress.set()


def pipeline_settings(broker: str, spool_path: Path, window: int) -> Settings:
    return Settings.model_validate(
        {
            "gateway": {"id": "bench"},
            "mqtt": {"url": broker, "publish_window": window},
            "spool": {"path": spool_path},
        }
    )


async def run_pipeline(broker: str, events: int, window: int, steady: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=REPO) as folder:
        settings = pipeline_settings(broker, Path(folder) / "spool.db", window)
        spool = TimedSpool(settings.spool.path, settings.spool)
        spool.acked_at = {}
        spool.progress = asyncio.Event()
        bridge = MqttBridge(settings, spool)
        runner = asyncio.create_task(bridge.run())
        committer = asyncio.create_task(
            _commit_periodically(spool, settings.spool.position_commit_interval_s)
        )
        await bridge.wait_connected()
        lines = nmea_lines(events)
        put_at: dict[int, float] = {}
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        for index, line in enumerate(lines):
            cls, body = decode(line, index)
            seq = spool.put(cls, f"patrol/units/u1/{cls}", body, retain=True)
            put_at[seq] = time.perf_counter()
            bridge.notify()
            if steady:
                next_at += 1.0 / STEADY_RATE_HZ
                await asyncio.sleep(max(0.0, next_at - loop.time()))
            elif index % PUT_BATCH == PUT_BATCH - 1:
                await asyncio.sleep(0)
        while len(spool.acked_at) < len(put_at):
            spool.progress.clear()
            await spool.progress.wait()
        wall = time.perf_counter() - wall_start
        cpu = time.process_time() - cpu_start
        await bridge.shutdown()
        committer.cancel()
        runner.cancel()
        await asyncio.gather(runner, committer, return_exceptions=True)
        spool.close()
        latencies = sorted(spool.acked_at[seq] - at for seq, at in put_at.items())
        return _figures(events, wall, cpu, latencies)


async def _commit_periodically(spool: Spool, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s or 0.1)
        spool.commit()


def run_baseline(broker: str, events: int, steady: bool) -> dict[str, float]:
    host, port = broker.removeprefix("mqtt://").rsplit(":", 1)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-baseline-{os.getpid()}")
    client.connect(host, int(port))
    client.loop_start()
    lines = nmea_lines(events)
    latencies = []
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    next_at = time.perf_counter()
    for index, line in enumerate(lines):
        started = time.perf_counter()
        cls, body = decode(line, index)
        payload = json.dumps({**body, "seq": index}, separators=(",", ":")).encode()
        client.publish(f"patrol/units/u1/{cls}", payload, qos=1, retain=True).wait_for_publish()
        latencies.append(time.perf_counter() - started)
        if steady:
            next_at += 1.0 / STEADY_RATE_HZ
            time.sleep(max(0.0, next_at - time.perf_counter()))
    wall = time.perf_counter() - wall_start
    cpu = time.process_time() - cpu_start
    client.loop_stop()
    client.disconnect()
    return _figures(events, wall, cpu, sorted(latencies))


def _figures(events: int, wall: float, cpu: float, latencies: list[float]) -> dict[str, float]:
    return {
        "events_per_s": events / wall,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "cpu_s_per_1000": cpu / events * 1000,
        "peak_rss_mib": peak_rss_mib(),
    }


def worker(kind: str, broker: str, events: int, window: int, steady: bool) -> dict[str, float]:
    if kind == "pipeline":
        return asyncio.run(run_pipeline(broker, events, window, steady))
    return run_baseline(broker, events, steady)


def measure(kind: str, broker: str, events: int, window: int, steady: bool) -> dict[str, float]:
    command = [sys.executable, "-m", "bench.pipeline", "--worker", kind, "--broker", broker]
    command += ["--events", str(events), "--window", str(window)] + (["--steady"] if steady else [])
    output = subprocess.run(command, cwd=REPO, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def report(broker: str, events: int, repeat: int, window: int) -> str:
    runs: dict[tuple[str, bool], list[dict[str, float]]] = {}
    for _ in range(repeat):  # interleaved, so that machine noise hits both alike
        for kind in ("pipeline", "baseline"):
            runs.setdefault((kind, False), []).append(measure(kind, broker, events, window, steady=False))
            runs.setdefault((kind, True), []).append(
                measure(kind, broker, STEADY_EVENTS, window, steady=True)
            )

    def median(kind: str, steady: bool, key: str) -> float:
        return statistics.median(run[key] for run in runs[(kind, steady)])

    rows = [
        ("sustained acknowledged events/s", False, "events_per_s", "{:,.0f}"),
        ("CPU s per 1,000 events (sustained)", False, "cpu_s_per_1000", "{:.3f}"),
        ("peak RSS MiB (sustained)", False, "peak_rss_mib", "{:.1f}"),
        ("latency p50 ms at 100 events/s", True, "p50_ms", "{:.2f}"),
        ("latency p99 ms at 100 events/s", True, "p99_ms", "{:.2f}"),
        ("CPU s per 1,000 events at 100 events/s", True, "cpu_s_per_1000", "{:.3f}"),
    ]
    lines = [
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; {events:,} events x {repeat} "
        f"repetitions (medians), window {window}, broker {broker}",
        "",
        "| figure | pipeline | baseline | pipeline / baseline |",
        "|---|---:|---:|---:|",
    ]
    for title, steady, key, fmt in rows:
        ours, theirs = median("pipeline", steady, key), median("baseline", steady, key)
        ratio = ours / theirs if theirs else float("nan")
        lines.append(f"| {title} | {fmt.format(ours)} | {fmt.format(theirs)} | {ratio:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per sustained-rate run")
    parser.add_argument("--broker", help="mqtt://host:port (default: start a local mosquitto)")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions (medians are reported)")
    parser.add_argument("--window", type=int, default=64, help="publish window of the pipeline")
    parser.add_argument("--worker", choices=("pipeline", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--steady", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.broker, args.events, args.window, args.steady)))
        return 0
    if args.broker:
        print(report(args.broker, args.events, args.repeat, args.window))
        return 0
    sys.path.insert(0, str(REPO))
    from tests.broker import Mosquitto

    with tempfile.TemporaryDirectory() as folder:
        broker = Mosquitto(Path(folder))
        broker.start()
        try:
            print(report(broker.url, args.events, args.repeat, args.window))
        finally:
            broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
