"""The MQTT side: drains the spool to the broker with QoS 1 publishes pipelined, and receives commands.

The spool is the single source of truth for what the broker has not acknowledged. paho-mqtt (under aiomqtt)
keeps its own RAM queue of QoS 1 messages and replays it after a reconnect; we never let it: every
connection gets a new ``aiomqtt.Client``, so a message the old connection did not get a PUBACK for is resent
from the spool (in seq order) and nowhere else. A publish whose outcome is unknown (the connection broke, or
paho says "not connected") is never treated as failed: the message stays in the spool, the connection is
torn down, and the message is sent again on the next one -- at worst a duplicate, which consumers drop by
``seq``.

Pipelining: up to ``mqtt.publish_window`` publishes are in flight at once (paho's own
``max_inflight_messages`` is switched off: the window is the one limit). They go out through
``gateway.mqtt_publisher.SpoolPublisher``: no task or future per message, just a ``mid -> seq`` dict whose
PUBACKs are collected into a list; that list is deleted from the spool in one batch right before the next
``pending()`` query. The drain loop sleeps on one event, set by ``notify()`` (a producer put something), by
a batch of PUBACKs (slots are free) and by ``shutdown()``. The rarely used ``online``/``offline`` publishes
and the command subscription go through aiomqtt as before.

Commands: a received command's PUBACK is sent only once ``on_command`` has returned (paho's manual
acknowledgement), and the daemon's handler journals the command durably before it returns
(``gateway.command_journal``). So a command the broker has handed over for good is on disk; one that was not
yet journaled when the gateway died is redelivered by the broker from the persistent session.

Order: higher classes first (see ``gateway.spool.CLASS_RANK``), seq order within a class. After a
(re)connect, what was in the spool at that moment is the backlog: it is sent at no more than
``mqtt.drain_rate_per_s`` (a token bucket), so that a long outage does not flood the uplink and the
broker's per-subscriber queues, and live messages of other classes are not held up behind it. Within a
class order wins over liveness: a live position waits for the position backlog ahead of it, because
positions and statuses are retained and the last message on a topic must be the newest.

Back-pressure: nothing is queued here beyond the window; the spool holds everything else (and its bounds
decide what is dropped). Failure handling: ``aiomqtt.MqttError`` and ``OSError`` are translated to
``BrokerLinkError`` in ``_session()`` and logged once per outage; reconnects use bounded exponential backoff
with jitter, reset once a connection has proven healthy (its ``online`` was acknowledged).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import aiomqtt
from paho.mqtt import client as paho_client
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.backoff import Backoff
from gateway.config import Settings
from gateway.errors import LinkError
from gateway.mqtt_publisher import SpoolPublisher
from gateway.spool import Spool, SpooledMessage

log = logging.getLogger(__name__)

ONLINE: Final = b"online"
OFFLINE: Final = b"offline"
CONNECT_TIMEOUT_S: Final = 10.0
"""CONNACK, SUBACK and the ``online`` PUBACK must arrive within this; otherwise the connection is dropped."""
SHUTDOWN_FLUSH_SHARE: Final = 0.6
"""Of ``shutdown()``'s budget, the share spent flushing the spool; the rest is for ``offline``."""
BACKLOG_TICK_S: Final = 0.01
"""While the backlog is paced, the drain loop looks for new tokens at most this often."""
RATE_WINDOW_S: Final = 60
"""The publish rate in ``stats()`` is averaged over this many seconds."""


class BrokerLinkError(LinkError):
    """The connection to the MQTT broker failed or was lost."""


@dataclass(frozen=True, slots=True)
class CommandMeta:
    """MQTT 5 request/response properties of a received command, when the dispatcher gave them."""

    response_topic: str | None = None
    correlation_data: bytes | None = None
    journal_id: int | None = None
    """The command's entry in the command journal, once it has one."""


CommandHandler = Callable[[str, bytes, CommandMeta], Awaitable[None]]
"""Takes a received command; must return promptly: the command's PUBACK is sent when it returns."""


class _TokenBucket:
    """``rate`` tokens per second, at most ``capacity`` saved up."""

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.stamp = now

    def take(self, wanted: int, now: float) -> int:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        granted = min(wanted, int(self.tokens))
        self.tokens -= granted
        return granted

    def wait_s(self) -> float:
        return max(0.0, (1.0 - self.tokens) / self.rate)


class _RateMeter:
    """Events per second over the last ``RATE_WINDOW_S`` seconds, kept in one-second buckets."""

    def __init__(self) -> None:
        self._buckets: deque[list[int]] = deque()

    def add(self, count: int, now: float) -> None:
        second = int(now)
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1][1] += count
        else:
            self._buckets.append([second, count])
        self._trim(second)

    def rate(self, now: float) -> float:
        self._trim(int(now))
        return sum(count for _, count in self._buckets) / RATE_WINDOW_S

    def _trim(self, second: int) -> None:
        while self._buckets and self._buckets[0][0] <= second - RATE_WINDOW_S:
            self._buckets.popleft()


class MqttBridge:
    """Spool -> broker (QoS 1, pipelined) and broker -> ``on_command``; see the module docstring."""

    def __init__(self, settings: Settings, spool: Spool, *, on_command: CommandHandler | None = None) -> None:
        self.settings = settings
        self.spool = spool
        self.on_command = on_command
        prefix, gateway = settings.gateway.topic_prefix, settings.gateway.id
        self.availability_topic = f"{prefix}/gateways/{gateway}/availability"
        self.command_filter = f"{prefix}/gateways/{gateway}/cmd/+"
        self._command_base = f"{prefix}/gateways/{gateway}/cmd/"
        self._mqtt5 = getattr(settings.mqtt, "protocol", "5") == "5"
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._stopped = asyncio.Event()
        self._flush_deadline = math.inf
        self._shutdown_deadline = math.inf
        self._run_task: asyncio.Task[Any] | None = None
        self._publisher: SpoolPublisher | None = None
        self._connected = False
        self._connection_changed = asyncio.Event()
        self.on_connection_change: Callable[[], None] | None = None
        """Called after the broker link goes up or down."""
        self._outage_since: float | None = None
        self._rate = _RateMeter()
        self.published = 0
        self.acked = 0
        self.reconnects = 0
        self.connections = 0
        self.peak_in_flight = 0
        self.rejected = 0
        self.last_error: str | None = None

    # -- public surface ------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while connected to the broker with ``online`` published."""
        return self._connected

    async def wait_connected(self, connected: bool = True) -> None:
        """Wait until ``connected`` is the given value (for supervisors, the demo and tests)."""
        while self._connected != connected:
            self._connection_changed.clear()
            await self._connection_changed.wait()

    def _set_connected(self, connected: bool) -> None:
        if connected != self._connected:
            self._connected = connected
            self._connection_changed.set()
            if self.on_connection_change is not None:
                self.on_connection_change()

    def notify(self) -> None:
        """Tell the bridge that something was put in the spool (call after ``Spool.put``)."""
        self._wake.set()

    def stats(self) -> dict[str, Any]:
        """Counters for the health topic (JSON-ready; absent values omitted)."""
        stats = {
            "connected": self._connected,
            "published": self.published,
            "acked": self.acked,
            "in_flight": 0 if self._publisher is None else len(self._publisher.in_flight),
            "peak_in_flight": self.peak_in_flight,
            "rejected": self.rejected + (0 if self._publisher is None else self._publisher.rejected),
            "reconnects": self.reconnects,
            "publish_rate_1m": round(self._rate.rate(time.monotonic()), 2),
            "last_error": self.last_error,
        }
        return {key: value for key, value in stats.items() if value is not None}

    async def run(self) -> None:
        """Connect, publish ``online``, drain the spool, receive commands; reconnect; until shut down."""
        self._run_task = asyncio.current_task()
        mqtt = self.settings.mqtt
        backoff = Backoff(mqtt.reconnect_min_s, mqtt.reconnect_max_s)
        try:
            while not self._closing.is_set():
                try:
                    await self._session(backoff)
                except BrokerLinkError as exc:
                    self._note_outage(exc)
                if self._closing.is_set():
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), backoff.next_delay())
        finally:
            self._set_connected(False)
            self._flush_acks()
            self._stopped.set()

    async def shutdown(self, timeout_s: float = 3.0) -> None:
        """Flush what can be flushed within ``timeout_s``, publish ``offline``, disconnect; never raises.

        Sending what the spool holds (in the usual order and pacing) and collecting the PUBACKs gets
        ``SHUTDOWN_FLUSH_SHARE`` of the budget; whatever is not acknowledged by then stays in the spool for
        the next start. With the broker down this returns at once.
        """
        loop = asyncio.get_running_loop()
        self._flush_deadline = loop.time() + timeout_s * SHUTDOWN_FLUSH_SHARE
        self._shutdown_deadline = loop.time() + timeout_s
        self._closing.set()
        self._wake.set()
        self._commit_spool()
        task = self._run_task
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=timeout_s)
            if not task.done():
                log.warning("MQTT shutdown did not finish within %.1f s; dropping the connection", timeout_s)
                task.cancel()
                await asyncio.wait({task}, timeout=0.5)
        self._commit_spool()

    # -- one connection ------------------------------------------------------------------------------------

    def _client(self) -> aiomqtt.Client:
        mqtt = self.settings.mqtt
        tls = None
        if mqtt.tls:
            tls = aiomqtt.TLSParameters(
                ca_certs=str(mqtt.ca_file) if mqtt.ca_file else None,
                certfile=str(mqtt.cert_file) if mqtt.cert_file else None,
                keyfile=str(mqtt.key_file) if mqtt.key_file else None,
            )
        persistent = mqtt.session_expiry_s > 0
        properties = None
        if self._mqtt5 and persistent:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = mqtt.session_expiry_s
        client = aiomqtt.Client(
            mqtt.host,
            mqtt.port,
            username=mqtt.username,
            password=mqtt.password.get_secret_value() if mqtt.password else None,
            identifier=mqtt.client_id or f"patrol-gateway-{self.settings.gateway.id}",
            protocol=aiomqtt.ProtocolVersion.V5 if self._mqtt5 else aiomqtt.ProtocolVersion.V311,
            # A persistent session keeps the command subscription, and the commands sent while we were
            # away, at the broker. Every connection is a new Client, so paho's "clean start on the first
            # connect only" would always mean clean: say what we mean instead.
            clean_session=None if self._mqtt5 else not persistent,
            clean_start=not persistent if self._mqtt5 else paho_client.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
            will=aiomqtt.Will(self.availability_topic, OFFLINE, qos=1, retain=True),
            keepalive=mqtt.keepalive_s,
            timeout=CONNECT_TIMEOUT_S,
            tls_params=tls,
            max_inflight_messages=0,  # the window is the limit; 0 also skips paho's O(n) scan per PUBACK
        )
        client.pending_calls_threshold = mqtt.publish_window + 2  # a full window is normal, not a warning
        # aiomqtt 2 does not pass paho's manual_ack through; commands are acknowledged in _receive().
        client._client.manual_ack_set(True)
        return client

    async def _session(self, backoff: Backoff) -> None:
        """One connection's lifetime; the one place lower-level exceptions are translated."""
        try:
            async with self._client() as client:
                if self.on_command is not None:  # first, so that "online" means commands are heard
                    await client.subscribe(self.command_filter, qos=1)
                await client.publish(self.availability_topic, ONLINE, qos=1, retain=True)
                self._on_connected()
                backoff.reset()
                try:
                    await self._serve(client)
                finally:
                    self._set_connected(False)
        except (aiomqtt.MqttError, OSError) as exc:
            raise BrokerLinkError(f"{self.settings.mqtt.url}: {exc or type(exc).__name__}") from exc

    def _on_connected(self) -> None:
        self._set_connected(True)
        self.connections += 1
        if self.connections > 1:
            self.reconnects += 1
        if self._outage_since is not None:
            log.info(
                "MQTT broker %s is back after %.1f s; %d messages in the spool",
                self.settings.mqtt.url,
                time.monotonic() - self._outage_since,
                self.spool.depth,
            )
            self._outage_since = None
        else:
            log.info("MQTT connected to %s", self.settings.mqtt.url)

    def _note_outage(self, exc: BrokerLinkError) -> None:
        self.last_error = str(exc)
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            log.warning("MQTT broker unavailable (%s); messages stay in the spool, reconnecting", exc)
        else:
            log.debug("MQTT still unavailable: %s", exc)

    async def _serve(self, client: aiomqtt.Client) -> None:
        """Run the receiver and the drain loop until one ends; ``offline`` if it was a clean shutdown."""
        receiver = asyncio.create_task(self._receive(client), name="mqtt-receive")
        drainer = asyncio.create_task(self._drain(client), name="mqtt-drain")
        try:
            await asyncio.wait({receiver, drainer}, return_when=asyncio.FIRST_COMPLETED)
            if drainer.done() and drainer.exception() is None:
                remaining = self._shutdown_deadline - asyncio.get_running_loop().time()
                await client.publish(
                    self.availability_topic, OFFLINE, qos=1, retain=True, timeout=max(0.1, remaining)
                )
                return
            for task in (receiver, drainer):
                error = task.exception() if task.done() else None
                if error is not None:
                    raise error
        finally:
            for task in (receiver, drainer):
                task.cancel()
            await asyncio.gather(receiver, drainer, return_exceptions=True)

    async def _receive(self, client: aiomqtt.Client) -> None:
        """Hand commands to ``on_command``, then acknowledge them; ends with MqttError when the link drops."""
        async for message in client.messages:
            await self._take(message)
            # Not when cancelled above: an unacknowledged command is redelivered from the session. A PUBACK
            # lost with the connection means a redelivery too; the journal recognises the repeat.
            client._client.ack(message.mid, message.qos)

    async def _take(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        name = topic.removeprefix(self._command_base)
        if name == topic or not name or "/" in name:
            return  # e.g. .../cmd/<name>/result
        if self.on_command is None:
            return
        payload = message.payload
        if isinstance(payload, str):
            raw = payload.encode()
        elif isinstance(payload, bytes | bytearray):
            raw = bytes(payload)
        else:
            raw = b"" if payload is None else str(payload).encode()
        properties = message.properties
        meta = CommandMeta(
            response_topic=getattr(properties, "ResponseTopic", None),
            correlation_data=getattr(properties, "CorrelationData", None),
        )
        try:
            await self.on_command(name, raw, meta)
        except asyncio.CancelledError:
            raise
        except Exception:  # acknowledged all the same: a command that breaks its handler must not loop
            log.exception("command %r failed in its handler (payload %r)", name, raw[:200])

    # -- the drain loop ------------------------------------------------------------------------------------

    async def _drain(self, client: aiomqtt.Client) -> None:
        """Keep up to ``publish_window`` spooled messages in flight; returns once flushed on shutdown."""
        loop = asyncio.get_running_loop()
        mqtt = self.settings.mqtt
        window = mqtt.publish_window
        backlog_ceiling = self.spool.last_seq
        bucket = _TokenBucket(
            mqtt.drain_rate_per_s, max(1.0, min(window, mqtt.drain_rate_per_s)), loop.time()
        )
        publisher = SpoolPublisher(client, mqtt5=self._mqtt5, on_progress=self._wake.set)
        self._publisher = publisher
        in_flight = publisher.in_flight
        try:
            while True:
                self._wake.clear()
                self._flush_acks()
                timeout: float | None = None
                closing = self._closing.is_set()
                if closing and loop.time() >= self._flush_deadline:
                    if in_flight or self.spool.depth:
                        log.warning(
                            "shutting down with %d publishes unacknowledged, %d messages left in the spool",
                            len(in_flight),
                            self.spool.depth,
                        )
                    return
                batch, paced = self._next_batch(window - len(in_flight), backlog_ceiling, bucket)
                for message in batch:
                    publisher.publish(message)  # MqttCodeError: outcome unknown, stays in the spool
                self.published += len(batch)
                self.peak_in_flight = max(self.peak_in_flight, len(in_flight))
                if paced:
                    timeout = max(bucket.wait_s(), BACKLOG_TICK_S)
                if closing:  # flushing: until nothing is left to send or the flush budget is spent
                    if not in_flight and not paced:
                        return
                    timeout = min(timeout or math.inf, self._flush_deadline - loop.time())
                if timeout is None:
                    await self._wake.wait()
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout)
        finally:
            self._flush_acks()
            self.rejected += publisher.rejected
            publisher.detach()
            self._publisher = None

    def _next_batch(
        self, free: int, backlog_ceiling: int, bucket: _TokenBucket
    ) -> tuple[list[SpooledMessage], bool]:
        """Up to ``free`` messages in priority order; backlog ones only as the token bucket allows.

        A class whose next backlog message has no token is skipped entirely for now (its live messages
        too), so that order within a class -- and the last retained value of a topic -- is kept. Returns the
        batch and whether something was held back by the pacing.
        """
        if free <= 0:
            return [], False
        in_flight = self._publisher.in_flight if self._publisher is not None else ()
        pending = self.spool.pending(free, in_flight)
        if all(message.seq > backlog_ceiling for message in pending):
            return pending, False  # all live: nothing to pace
        now = asyncio.get_running_loop().time()
        batch: list[SpooledMessage] = []
        held_back: set[str] = set()
        for message in pending:
            if message.cls in held_back:
                continue
            if message.seq <= backlog_ceiling and not bucket.take(1, now):
                held_back.add(message.cls)
                continue
            batch.append(message)
        return batch, bool(held_back)

    def _flush_acks(self) -> None:
        if self._publisher is None:
            return
        acked = self._publisher.take_acked()
        if acked:
            self.spool.ack(acked)
            self.acked += len(acked)
            self._rate.add(len(acked), time.monotonic())

    def _commit_spool(self) -> None:
        try:
            self._flush_acks()
            self.spool.commit()
        except Exception:
            log.exception("could not commit the spool during MQTT shutdown")
