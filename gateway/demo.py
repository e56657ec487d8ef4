"""``patrol-gateway demo``: the whole system on one machine with no hardware.

It starts a simulated GNSS receiver and a simulated base-station radio with a fleet of patrol cars (both
``patrol-sim`` processes on pseudo-terminals), an embedded MQTT broker (amqtt, pure Python; or ``--broker``),
the gateway itself, and a live view of everything published, until Ctrl-C. After a few seconds it plays
the dispatcher once: a ``send_text`` command to the first car, so the command path shows too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt

from gateway.config import Settings
from gateway.daemon import Gateway

DEMO_GATEWAY_ID = "demo"
DEMO_OWN_UNIT = "CAR-01"
DEMO_RADIO_ISSI = 9000001
DEMO_FLEET_BASE_ISSI = 2001001
DEMO_COMMAND_DELAY_S = 8.0
DEMO_EMERGENCY_EVERY_S = 20.0
SIMULATOR_READY_TIMEOUT_S = 20.0
STATUS_LABELS = {
    "0000": "emergency",
    "8002": "available",
    "8003": "en route",
    "8004": "on scene",
    "8005": "transporting",
    "8006": "at station",
    "8007": "meal break",
    "8008": "off duty",
    "8009": "request to talk",
    "800A": "urgent request to talk",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def embedded_broker(port: int) -> AsyncIterator[str]:
    """An amqtt broker on 127.0.0.1:port (MQTT 3.1.1)."""
    import logging
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from amqtt.broker import Broker

        logging.getLogger("amqtt").setLevel(logging.ERROR)
        broker = Broker(
            {
                "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
                "auth": {"allow-anonymous": True, "plugins": ["auth_anonymous"]},
                "topic-check": {"enabled": False},
            }
        )
        await broker.start()
    try:
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        await broker.shutdown()


async def start_simulator(*args: str) -> tuple[asyncio.subprocess.Process, Path]:
    """Start ``patrol-sim ARGS`` and wait for its ready line; returns the process and its link path."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simulators", *args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert process.stdout is not None
    link = Path(args[args.index("--link") + 1])
    async with asyncio.timeout(SIMULATOR_READY_TIMEOUT_S):
        while not link.exists():
            line = await process.stdout.readline()
            if not line:
                raise RuntimeError(f"patrol-sim {args[0]} exited before it was ready")
    return process, link


def describe(topic: str, payload: bytes) -> str:
    """One line of the live view for one MQTT message."""
    parts = topic.split("/")
    try:
        data: Any = json.loads(payload)
    except ValueError:
        return f"{topic}: {payload.decode(errors='replace')}"
    if not isinstance(data, dict):
        return f"{topic}: {data}"
    if len(parts) >= 4 and parts[1] == "units":
        unit, kind = parts[2], parts[3]
        if kind == "position":
            where = f"{data['lat']:.5f},{data['lon']:.5f}" if "lat" in data else "no fix"
            speed = f" {data['speed_mps'] * 3.6:.0f} km/h" if "speed_mps" in data else ""
            return f"{unit:>10} position  {where}{speed} ({data.get('source')}, seq {data.get('seq')})"
        if kind == "status":
            return f"{unit:>10} status    {data.get('hex')} {data.get('label', '')}"
        if kind == "text":
            return f"{unit:>10} text      {data.get('text')!r}"
        if kind == "emergency":
            last = data.get("position") or {}
            where = f"{last['lat']:.5f},{last['lon']:.5f}" if "lat" in last else "no known position"
            return f"{unit:>10} EMERGENCY ({data.get('kind')}) last seen at {where}"
    if parts[-1] == "health":
        devices = ", ".join(f"{n}={d.get('state')}" for n, d in data.get("devices", {}).items())
        return f"{'gateway':>10} health    spool {data.get('spool', {}).get('depth')} | {devices}"
    if parts[-1] == "result":
        outcome = data.get("state") or ("ok" if data.get("ok") else "refused")
        error = f": {data['error']}" if "error" in data else ""
        return f"{'dispatch':>10} result    {data.get('id')} {outcome}{error}"
    if len(parts) >= 5 and parts[-2] == "cmd":
        return f"{'dispatch':>10} command   {parts[-1]} {data}"
    if len(parts) >= 4 and parts[3] == "radios":
        state, issi, dbm = data.get("state"), data.get("issi"), data.get("signal_dbm")
        return f"{'radio':>10} {parts[4]:<9} {state} issi {issi} {dbm} dBm"
    return f"{topic}: {data}"


async def live_view(url: str, prefix: str, protocol: str) -> None:
    host, port = url.removeprefix("mqtt://").rsplit(":", 1)
    version = aiomqtt.ProtocolVersion.V5 if protocol == "5" else aiomqtt.ProtocolVersion.V311
    while True:
        try:
            async with aiomqtt.Client(host, int(port), protocol=version) as client:
                await client.subscribe(f"{prefix}/#", qos=1)
                async for message in client.messages:
                    print(describe(str(message.topic), bytes(message.payload)), flush=True)
        except aiomqtt.MqttError:
            await asyncio.sleep(1.0)


async def dispatcher_once(url: str, protocol: str, to: int) -> None:
    await asyncio.sleep(DEMO_COMMAND_DELAY_S)
    host, port = url.removeprefix("mqtt://").rsplit(":", 1)
    version = aiomqtt.ProtocolVersion.V5 if protocol == "5" else aiomqtt.ProtocolVersion.V311
    command = {"id": "demo-1", "to": to, "text": "Proceed to Trg Republike, report on arrival"}
    async with aiomqtt.Client(host, int(port), protocol=version) as client:
        await client.publish(
            f"patrol/gateways/{DEMO_GATEWAY_ID}/cmd/send_text", json.dumps(command).encode(), qos=1
        )


async def run_demo(args: argparse.Namespace) -> int:
    processes: list[asyncio.subprocess.Process] = []
    with tempfile.TemporaryDirectory(prefix="patrol-demo-") as folder:
        work = Path(folder)
        async with contextlib.AsyncExitStack() as stack:
            if args.broker:
                url, protocol = args.broker, "5"
            else:
                url = await stack.enter_async_context(embedded_broker(_free_port()))
                protocol = "3.1.1"
            gps, gps_link = await start_simulator("gps", "--link", str(work / "gps0"), "--rate", "1")
            processes.append(gps)
            radio, radio_link = await start_simulator(
                "radio",
                "--link",
                str(work / "radio0"),
                "--issi",
                str(DEMO_RADIO_ISSI),
                "--fleet",
                str(args.units),
                "--rate",
                str(args.rate),
                "--fleet-base-issi",
                str(DEMO_FLEET_BASE_ISSI),
                "--emergency-every",
                str(DEMO_EMERGENCY_EVERY_S),
            )
            processes.append(radio)
            units = {str(DEMO_FLEET_BASE_ISSI + n): f"PATROL-{n + 1:02d}" for n in range(args.units)}
            settings = Settings.model_validate(
                {
                    "gateway": {"id": DEMO_GATEWAY_ID, "unit": DEMO_OWN_UNIT, "health_interval_s": 10},
                    "mqtt": {"url": url, "protocol": protocol},
                    "gnss": {
                        "port": str(gps_link),
                        "baud": "auto",
                        "report": {"min_interval_s": 2, "min_distance_m": 20},
                    },
                    "radios": [{"port": str(radio_link), "name": "base", "poll_interval_s": 15}],
                    "units": units,
                    "status_codes": STATUS_LABELS,
                    "spool": {"path": str(work / "spool.db")},
                }
            )
            print(
                f"patrol-gateway demo: broker {url}, GNSS at {gps_link}, "
                f"radio fleet of {args.units} at {radio_link}"
            )
            print("Ctrl-C stops it.\n", flush=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            import signal

            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            extras = [
                asyncio.create_task(live_view(url, "patrol", protocol)),
                asyncio.create_task(dispatcher_once(url, protocol, DEMO_FLEET_BASE_ISSI)),
            ]
            if args.duration:
                loop.call_later(args.duration, stop.set)
            try:
                await Gateway(settings).run(stop)
            finally:
                for task in extras:
                    task.cancel()
                await asyncio.gather(*extras, return_exceptions=True)
                for process in processes:
                    with contextlib.suppress(ProcessLookupError):
                        process.terminate()
                    await process.wait()
    return 0
