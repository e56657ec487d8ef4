"""The MQTT bridge against a real mosquitto: availability and will, pipelining, outages, commands."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.config import Settings
from gateway.mqtt_bridge import CommandMeta, MqttBridge
from gateway.spool import Spool
from tests.broker import Mosquitto

REPO = Path(__file__).resolve().parent.parent
SAFETY_TIMEOUT_S = 60.0
GW = "gw1"
AVAILABILITY = f"patrol/gateways/{GW}/availability"


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    properties: Any

    @property
    def seq(self) -> int:
        return int(json.loads(self.payload)["seq"])


@dataclass
class Collector:
    """A subscriber that reconnects on its own; ``persistent`` keeps its session across broker restarts."""

    port: int
    topic: str = "patrol/#"
    persistent: bool = False
    client_id: str = "test-collector"
    messages: list[Received] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1",
                    self.port,
                    identifier=self.client_id,
                    protocol=aiomqtt.ProtocolVersion.V311 if self.persistent else aiomqtt.ProtocolVersion.V5,
                    clean_session=False if self.persistent else None,
                ) as client:
                    await client.subscribe(self.topic, qos=1)
                    self.subscribed.set()
                    async for message in client.messages:
                        payload = message.payload if isinstance(message.payload, bytes) else b""
                        self.messages.append(
                            Received(message.topic.value, payload, message.retain, message.properties)
                        )
                        self.changed.set()
            except aiomqtt.MqttError:
                await asyncio.sleep(0.05)  # the broker is being restarted by the test: retry

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(SAFETY_TIMEOUT_S):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    def on(self, topic: str) -> list[Received]:
        return [m for m in self.messages if m.topic == topic]

    def seqs(self) -> set[int]:
        return {m.seq for m in self.messages if m.topic.startswith("patrol/units/")}


@contextlib.asynccontextmanager
async def collecting(broker: Mosquitto, **options: Any) -> AsyncIterator[Collector]:
    collector = Collector(broker.port, **options)
    task = asyncio.create_task(collector.run())
    try:
        async with asyncio.timeout(SAFETY_TIMEOUT_S):
            await collector.subscribed.wait()
        yield collector
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def bridge_settings(broker: Mosquitto, spool_path: Path, **mqtt: Any) -> Settings:
    return Settings.model_validate(
        {
            "gateway": {"id": GW, "topic_prefix": "patrol"},
            "mqtt": {"url": broker.url, "reconnect_min_s": 0.05, "reconnect_max_s": 0.3, **mqtt},
            "spool": {"path": spool_path},
        }
    )


@dataclass
class Running:
    bridge: MqttBridge
    spool: Spool
    task: asyncio.Task[None]

    def put(self, cls: str, index: int, **extra: Any) -> int:
        seq = self.spool.put(cls, f"patrol/units/u{index % 3}/{cls}", {"index": index, **extra}, retain=False)
        self.bridge.notify()
        return seq


@contextlib.asynccontextmanager
async def running_bridge(
    broker: Mosquitto, tmp_path: Path, on_command: Any = None, **mqtt: Any
) -> AsyncIterator[Running]:
    settings = bridge_settings(broker, tmp_path / "spool.db", **mqtt)
    spool = Spool(settings.spool.path, settings.spool)
    bridge = MqttBridge(settings, spool, on_command=on_command)
    task = asyncio.create_task(bridge.run())
    try:
        yield Running(bridge, spool, task)
    finally:
        await bridge.shutdown(timeout_s=3.0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        spool.close()


@pytest.fixture
def durable_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A mosquitto that keeps sessions and queued messages across a restart (persistence on)."""
    workdir = tmp_path / "broker"
    workdir.mkdir()
    broker = Mosquitto(workdir, extra_config=f"persistence true\npersistence_location {workdir}/\n")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


async def test_online_retained_on_connect_and_offline_on_clean_shutdown(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    async with collecting(mosquitto, topic=AVAILABILITY) as collector:
        async with running_bridge(mosquitto, tmp_path) as running:
            await collector.wait_for(lambda: [m.payload for m in collector.on(AVAILABILITY)] == [b"online"])
            assert running.bridge.connected
            await running.bridge.shutdown(timeout_s=3.0)
            assert running.task.done()
            assert not running.bridge.connected
        await collector.wait_for(lambda: len(collector.on(AVAILABILITY)) == 2)
    assert [m.payload for m in collector.on(AVAILABILITY)] == [b"online", b"offline"]
    async with collecting(mosquitto, topic=AVAILABILITY, client_id="late") as late:
        await late.wait_for(lambda: bool(late.messages))
    assert (late.messages[0].payload, late.messages[0].retain) == (b"offline", True)


async def test_will_offline_when_the_bridge_process_is_killed(mosquitto: Mosquitto, tmp_path: Path) -> None:
    async with collecting(mosquitto, topic="patrol/gateways/bench/availability") as collector:
        producer = await start_producer(tmp_path / "spool.db", mosquitto.url, "--count", "1")
        try:
            await collector.wait_for(lambda: [m.payload for m in collector.messages] == [b"online"])
            producer.process.send_signal(signal.SIGKILL)
            await collector.wait_for(lambda: len(collector.messages) == 2)
        finally:
            await producer.stop()
    assert [m.payload for m in collector.messages] == [b"online", b"offline"]


async def test_window_pipelines_publishes_and_keeps_order(mosquitto: Mosquitto, tmp_path: Path) -> None:
    async with (
        collecting(mosquitto) as collector,
        running_bridge(mosquitto, tmp_path, publish_window=32) as running,
    ):
        seqs = [running.put("position", index) for index in range(2000)]
        await collector.wait_for(lambda: len(collector.seqs()) == len(seqs))
        assert running.bridge.peak_in_flight > 1
        assert [m.seq for m in collector.messages if m.topic.startswith("patrol/units/")] == seqs
        await running.bridge.shutdown(timeout_s=3.0)  # waits for the last PUBACKs
        assert running.spool.depth == 0
        assert running.bridge.stats()["acked"] == len(seqs)


async def test_shutdown_sends_what_was_put_just_before_it(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """The daemon's last words (radio state "down", a final health) are put right before ``shutdown()``."""
    async with collecting(mosquitto) as collector, running_bridge(mosquitto, tmp_path) as running:
        await running.bridge.wait_connected()
        seqs = [running.put("radio", index) for index in range(3)]
        await running.bridge.shutdown(timeout_s=3.0)
        assert running.spool.depth == 0
        await collector.wait_for(lambda: [m.payload for m in collector.on(AVAILABILITY)][-1:] == [b"offline"])
    order = [m.topic if m.topic != AVAILABILITY else m.payload.decode() for m in collector.messages]
    assert [m.seq for m in collector.messages if m.topic.endswith("/radio")] == seqs
    assert order.index("offline") > max(i for i, t in enumerate(order) if t.endswith("/radio")), order


async def test_window_of_one_never_has_two_in_flight(mosquitto: Mosquitto, tmp_path: Path) -> None:
    async with (
        collecting(mosquitto) as collector,
        running_bridge(mosquitto, tmp_path, publish_window=1) as running,
    ):
        seqs = [running.put("position", index) for index in range(50)]
        await collector.wait_for(lambda: len(collector.seqs()) == len(seqs))
        assert running.bridge.peak_in_flight == 1


async def test_higher_class_overtakes_a_lower_backlog(mosquitto: Mosquitto, tmp_path: Path) -> None:
    settings = bridge_settings(mosquitto, tmp_path / "spool.db")
    spool = Spool(settings.spool.path, settings.spool)
    positions = [
        spool.put("position", f"patrol/units/u{i}/position", {"i": i}, retain=False) for i in range(100)
    ]
    emergency = spool.put("emergency", "patrol/units/u1/emergency", {"kind": "button"}, retain=False)
    spool.close()
    async with collecting(mosquitto) as collector, running_bridge(mosquitto, tmp_path, publish_window=1):
        await collector.wait_for(lambda: len(collector.seqs()) == 101)
    assert [m.seq for m in collector.messages if m.topic.startswith("patrol/units/")] == [
        emergency,
        *positions,
    ]


async def connection(running: Running, connected: bool) -> None:
    async with asyncio.timeout(SAFETY_TIMEOUT_S):
        await running.bridge.wait_connected(connected)


async def test_broker_restart_under_a_steady_stream_loses_nothing(
    durable_broker: Mosquitto, tmp_path: Path
) -> None:
    put_seqs: dict[str, list[int]] = {"status": [], "position": [], "emergency": []}
    classes = list(put_seqs)
    async with (
        collecting(durable_broker, persistent=True) as collector,
        running_bridge(durable_broker, tmp_path, publish_window=16) as running,
    ):
        produced = asyncio.Event()

        def count() -> int:
            return sum(map(len, put_seqs.values()))

        async def stream(total: int) -> None:
            for index in range(total):
                cls = classes[index % len(classes)]
                put_seqs[cls].append(running.put(cls, index))
                produced.set()
                await asyncio.sleep(0.002)  # a steady stream, not a burst

        async def produced_at_least(target: int) -> None:
            async with asyncio.timeout(SAFETY_TIMEOUT_S):
                while count() < target:
                    produced.clear()
                    await produced.wait()

        producer = asyncio.create_task(stream(3000))
        await collector.wait_for(lambda: len(collector.seqs()) >= 300)
        await asyncio.to_thread(durable_broker.stop)
        await connection(running, connected=False)
        await produced_at_least(count() + 300)
        await asyncio.to_thread(durable_broker.start)
        await connection(running, connected=True)
        await producer
        every = {seq for seqs in put_seqs.values() for seq in seqs}
        await collector.wait_for(lambda: collector.seqs() >= every)

    assert running.bridge.reconnects >= 1
    assert collector.seqs() == every
    assert sorted(every) == list(range(min(every), max(every) + 1))  # no seq gaps
    for cls, seqs in put_seqs.items():
        first_seen: list[int] = []
        for message in collector.messages:
            if message.topic.endswith(f"/{cls}") and message.seq not in first_seen:
                first_seen.append(message.seq)
        assert first_seen == seqs, f"{cls} out of order"


async def test_commands_reach_the_handler_with_mqtt5_properties(mosquitto: Mosquitto, tmp_path: Path) -> None:
    received: asyncio.Queue[tuple[str, bytes, CommandMeta]] = asyncio.Queue()

    async def on_command(name: str, payload: bytes, meta: CommandMeta) -> None:
        await received.put((name, payload, meta))
        if name == "explode":
            raise RuntimeError("handler bug")

    async with running_bridge(mosquitto, tmp_path, on_command=on_command) as running:
        async with collecting(mosquitto, topic=AVAILABILITY) as collector:
            await collector.wait_for(lambda: bool(collector.on(AVAILABILITY)))
        async with aiomqtt.Client(
            "127.0.0.1", mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5
        ) as dispatcher:
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.ResponseTopic = "dispatch/replies"
            properties.CorrelationData = b"\x01corr"
            base = f"patrol/gateways/{GW}/cmd"
            await dispatcher.publish(f"{base}/explode", b"{}", qos=1)
            await dispatcher.publish(f"{base}/send_status/result", b'{"id":"x"}', qos=1)
            await dispatcher.publish(f"{base}/send_status", b'{"id":"1"}', qos=1, properties=properties)
            async with asyncio.timeout(SAFETY_TIMEOUT_S):
                first = await received.get()
                second = await received.get()
        assert first == ("explode", b"{}", CommandMeta())
        assert second == ("send_status", b'{"id":"1"}', CommandMeta("dispatch/replies", b"\x01corr"))
        assert received.empty()
        assert running.bridge.connected


async def test_result_carries_correlation_data(mosquitto: Mosquitto, tmp_path: Path) -> None:
    topic = "dispatch/replies"
    async with (
        collecting(mosquitto, topic=topic) as collector,
        running_bridge(mosquitto, tmp_path) as running,
    ):
        running.spool.put("result", topic, {"id": "1", "ok": True}, retain=False, correlation_data=b"abc")
        running.bridge.notify()
        await collector.wait_for(lambda: bool(collector.messages))
    [result] = collector.messages
    assert result.properties.CorrelationData == b"abc"
    assert json.loads(result.payload)["ok"] is True


async def test_shutdown_with_the_broker_down_returns(mosquitto: Mosquitto, tmp_path: Path) -> None:
    async with running_bridge(mosquitto, tmp_path) as running:
        await connection(running, connected=True)
        await asyncio.to_thread(mosquitto.stop)
        await connection(running, connected=False)
        seq = running.put("status", 1)
        await running.bridge.shutdown(timeout_s=3.0)
        assert running.task.done()
        assert [m.seq for m in running.spool.pending(10, ())] == [seq]
        assert running.bridge.stats()["last_error"]


@dataclass
class Producer:
    """``python -m bench.producer`` as a child process; ``accepted`` are the seqs whose put() returned."""

    process: asyncio.subprocess.Process
    accepted: list[int] = field(default_factory=list)
    classes: dict[int, str] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    reader: asyncio.Task[None] | None = None

    async def read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            words = line.decode().split()
            if words and words[0] == "put":
                self.accepted.append(int(words[2]))
                self.classes[int(words[2])] = words[1]
                self.changed.set()

    def committed_before_kill(self) -> set[int]:
        """What a SIGKILL cannot take: every durable put that returned, and every batched (position) put
        made before the last durable one, whose commit took the open batch with it. A position put after
        the last durable commit may go with the process; docs/durability.md says so."""
        durable = [seq for seq in self.accepted if self.classes[seq] != "position"]
        last_durable = max(durable, default=-1)
        return set(durable) | {seq for seq in self.accepted if seq < last_durable}

    async def wait_for_count(self, count: int) -> None:
        async with asyncio.timeout(SAFETY_TIMEOUT_S):
            while len(self.accepted) < count:
                self.changed.clear()
                await self.changed.wait()

    async def stop(self) -> int:
        if self.process.returncode is None:
            self.process.kill()
        code = await self.process.wait()
        if self.reader is not None:
            await self.reader
        return code


async def start_producer(spool: Path, broker_url: str, *args: str) -> Producer:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.producer",
        "--spool",
        str(spool),
        "--broker",
        broker_url,
        *args,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    producer = Producer(process)
    producer.reader = asyncio.create_task(producer.read())
    return producer


async def test_broker_restart_and_sigkill_lose_no_accepted_event(
    durable_broker: Mosquitto, tmp_path: Path
) -> None:
    spool = tmp_path / "spool.db"
    args = ("--rate", "400", "--classes", "status,position,emergency,text")
    async with collecting(durable_broker, persistent=True) as collector:
        first = await start_producer(spool, durable_broker.url, *args)
        try:
            await collector.wait_for(lambda: len(collector.seqs()) >= 200)
            await asyncio.to_thread(durable_broker.stop)
            await first.wait_for_count(len(first.accepted) + 300)  # produced while the broker is down
            await asyncio.to_thread(durable_broker.start)
            await collector.wait_for(lambda: len(collector.seqs()) >= len(first.accepted[:600]))
            first.process.send_signal(signal.SIGKILL)
        finally:
            await first.stop()
        second = await start_producer(spool, durable_broker.url, *args, "--count", "300")
        try:
            await second.wait_for_count(300)
            accepted = first.committed_before_kill() | set(second.accepted)
            await collector.wait_for(lambda: collector.seqs() >= accepted)
            second.process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(SAFETY_TIMEOUT_S):
                assert await second.process.wait() == 0
        finally:
            await second.stop()
    accepted = first.committed_before_kill() | set(second.accepted)
    assert accepted <= collector.seqs()
    assert len(first.accepted) - len(first.committed_before_kill()) <= 1, "at most the last position"
    assert max(first.accepted) < min(second.accepted)  # seq never repeats across the restart


async def test_sigterm_with_the_broker_down_exits_zero(mosquitto: Mosquitto, tmp_path: Path) -> None:
    async with collecting(mosquitto, topic="patrol/gateways/bench/availability") as collector:
        producer = await start_producer(tmp_path / "spool.db", mosquitto.url, "--rate", "100")
        try:
            await collector.wait_for(lambda: bool(collector.messages))
            await asyncio.to_thread(mosquitto.stop)
            await producer.wait_for_count(len(producer.accepted) + 20)
            producer.process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(SAFETY_TIMEOUT_S):  # the contract is 5 s; tests do not time things
                assert await producer.process.wait() == 0
        finally:
            await producer.stop()
