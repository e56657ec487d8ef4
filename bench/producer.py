"""A producer + spool (+ MQTT bridge) in one process, for fault-injection tests and the benchmark.

    python -m bench.producer --spool PATH [--broker URL] [--count N] [--rate HZ] [--classes status,position]

Puts ``--count`` events (0 = until killed) round-robin over ``--classes`` at ``--rate`` per second (0 = as
fast as possible) and prints ``put <class> <seq>`` once each ``put()`` has returned, i.e. once the spool has
accepted the event; then ``done``. With ``--broker`` an ``MqttBridge`` drains the spool to that broker.
SIGTERM or SIGINT shut the bridge down (``offline``, flush) and exit 0. The tests SIGKILL it at any point and
restart it on the same spool to check that every accepted event is delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from gateway.config import Settings
from gateway.mqtt_bridge import MqttBridge
from gateway.spool import CLASS_RANK, Spool

GATEWAY_ID = "bench"
TOPIC_PREFIX = "patrol"
UNITS = 5
SHUTDOWN_TIMEOUT_S = 3.0


def topic_for(cls: str, index: int) -> str:
    """The topic an event of this class goes to (gateway topics for health/radio, unit topics otherwise)."""
    if cls in ("health", "radio", "result"):
        return f"{TOPIC_PREFIX}/gateways/{GATEWAY_ID}/{cls}"
    return f"{TOPIC_PREFIX}/units/u{index % UNITS}/{cls}"


def body_for(cls: str, index: int) -> dict[str, object]:
    """A small body shaped like the real payloads."""
    return {
        "unit": f"u{index % UNITS}",
        "index": index,
        "time": "2024-05-01T12:00:00.000Z",
        "gateway": GATEWAY_ID,
    }


def settings_for(spool: Path, broker: str | None, window: int) -> Settings:
    """Settings for the harness: fast reconnects so that tests do not wait."""
    return Settings.model_validate(
        {
            "gateway": {"id": GATEWAY_ID, "topic_prefix": TOPIC_PREFIX},
            "mqtt": {
                "url": broker or "mqtt://127.0.0.1:1883",
                "reconnect_min_s": 0.05,
                "reconnect_max_s": 0.5,
                "publish_window": window,
            },
            "spool": {"path": spool},
        }
    )


async def produce(args: argparse.Namespace) -> None:
    settings = settings_for(args.spool, args.broker, args.window)
    spool = Spool(settings.spool.path, settings.spool)
    bridge = MqttBridge(settings, spool) if args.broker else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    tasks = [asyncio.create_task(_commit_periodically(spool, settings.spool.position_commit_interval_s))]
    if bridge is not None:
        tasks.append(asyncio.create_task(bridge.run()))
    tasks.append(asyncio.create_task(_put_events(spool, bridge, args)))
    try:
        await stop.wait()
        if bridge is not None:
            await bridge.shutdown(SHUTDOWN_TIMEOUT_S)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        spool.close()


async def _commit_periodically(spool: Spool, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s or 0.1)
        spool.commit()


async def _put_events(spool: Spool, bridge: MqttBridge | None, args: argparse.Namespace) -> None:
    classes = args.classes.split(",")
    index = 0
    period = 1.0 / args.rate if args.rate else 0.0
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    while not args.count or index < args.count:
        cls = classes[index % len(classes)]
        seq = spool.put(cls, topic_for(cls, index), body_for(cls, index), retain=False)
        if bridge is not None:
            bridge.notify()
        sys.stdout.write(f"put {cls} {seq}\n")
        sys.stdout.flush()
        index += 1
        next_at += period
        await asyncio.sleep(max(0.0, next_at - loop.time()))
    sys.stdout.write("done\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.producer", description=__doc__.splitlines()[0])
    parser.add_argument("--spool", type=Path, required=True, help="spool file")
    parser.add_argument("--broker", help="mqtt://host:port; absent = spool only")
    parser.add_argument("--count", type=int, default=0, help="events to put (0 = until killed)")
    parser.add_argument("--rate", type=float, default=0.0, help="events per second (0 = as fast as possible)")
    parser.add_argument(
        "--classes", default="status,position", help=f"comma-separated, of {sorted(CLASS_RANK)}"
    )
    parser.add_argument("--window", type=int, default=64, help="publish window")
    args = parser.parse_args(argv)
    unknown = set(args.classes.split(",")) - set(CLASS_RANK)
    if unknown:
        parser.error(f"unknown classes {sorted(unknown)}")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(produce(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
