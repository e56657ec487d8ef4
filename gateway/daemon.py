"""The daemon: drivers -> spool -> MQTT bridge, and dispatcher commands back to the radios.

Everything runs in one asyncio TaskGroup: the MQTT bridge, the GNSS driver, one driver per radio, the health
reporter, the spool's batch committer and the systemd watchdog. ``run()`` returns once ``stop`` is set, after
publishing ``offline`` and flushing what can be flushed within the shutdown budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from typing import Any

from gateway import __version__
from gateway.command_journal import CommandJournal, JournaledCommand
from gateway.config import Settings
from gateway.drivers.gnss import GnssDriver
from gateway.link_state import LinkStatus
from gateway.mqtt_bridge import CommandMeta, MqttBridge
from gateway.payloads import gnss_position
from gateway.policy import PositionReporter
from gateway.protocols.nmea import GnssFix
from gateway.radio_service import RadioService
from gateway.sd_notify import notify, watchdog_interval_s
from gateway.spool import Spool, SpoolError, SpoolStats
from gateway.timefmt import iso_ms, utc_now
from gateway.topics import Topics

log = logging.getLogger(__name__)

SHUTDOWN_BUDGET_S = 3.5
"""Of the 5 s a SIGTERM allows, what the MQTT flush may take; the rest is for closing devices."""
HEALTH_MIN_SPACING_S = 1.0
"""Health reports follow link state changes, but no closer together than this (a flapping link)."""


def spool_health(stats: SpoolStats) -> dict[str, Any]:
    """The spool part of the health payload: absent values omitted, drops (and expiries) by class."""
    out: dict[str, Any] = {
        "depth": stats.depth,
        "bytes": stats.bytes,
        "depth_by_class": dict(stats.depth_by_class),
        "drops": dict(stats.drops_by_class),
        "expired": dict(stats.expired_by_class),
        "committed": stats.committed,
        "acked": stats.acked,
    }
    if stats.oldest_age_s is not None:
        out["oldest_age_s"] = round(stats.oldest_age_s, 3)
    if stats.recovered_from is not None:
        out["recovered_from"] = stats.recovered_from
    return out


def health_line(body: dict[str, Any]) -> str:
    """The health report as one log line: spool depth, size, age, drops, MQTT state and rate, devices."""
    spool, mqtt = body["spool"], body["mqtt"]
    drops = ",".join(f"{cls}={n}" for cls, n in spool.get("drops", {}).items() if n) or "none"
    devices = ", ".join(f"{name}={d['state']}" for name, d in body["devices"].items()) or "none"
    return (
        f"health: spool depth {spool['depth']} ({spool['bytes']} B,"
        f" oldest {spool.get('oldest_age_s', 0):.1f} s,"
        f" drops {drops}), mqtt {'connected' if mqtt.get('connected') else 'disconnected'}"
        f" {mqtt.get('publish_rate_1m', 0)}/s, devices {devices}"
    )


class Gateway:
    """One patrol-gateway process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = Topics(settings.gateway.topic_prefix, settings.gateway.id)
        self.spool = Spool(settings.spool.path, settings.spool)
        self.journal = CommandJournal(self.spool)
        self.command_counts = dict.fromkeys(("received", "repeated", "replayed", "expired"), 0)
        self.bridge = MqttBridge(settings, self.spool, on_command=self._on_command)
        self.started = time.monotonic()
        self.reporter = PositionReporter(settings.gnss.report)
        self.gnss = GnssDriver(settings.gnss, self._on_fix) if settings.gnss.port else None
        self.radios = RadioService(settings, self.topics, self.publish)
        self._links_changed = asyncio.Event()
        for status in self.device_statuses():
            status.on_change = self._links_changed.set
        self.bridge.on_connection_change = self._links_changed.set
        if settings.gnss.port and not settings.gateway.unit:
            log.warning("gnss.port is set but gateway.unit is not: GNSS positions go under %s", self.own_unit)

    @property
    def own_unit(self) -> str:
        return self.settings.gateway.unit or self.settings.gateway.id

    def publish(
        self, cls: str, topic: str, body: dict[str, Any], *, retain: bool, meta: CommandMeta | None = None
    ) -> int:
        """Accept an event: it is in the spool (durably for its class) when this returns; returns its seq.

        A command result whose command carried an MQTT 5 response topic goes there too, with the command's
        correlation data, as well as to the result topic.
        """
        body = {**body, "gateway": self.settings.gateway.id}
        if meta is not None and meta.journal_id is not None:  # before the put, which commits both at once
            self.journal.finish(meta.journal_id, body)
        seq = self.spool.put(cls, topic, body, retain=retain)
        if meta is not None and meta.response_topic:
            self.spool.put(
                cls, meta.response_topic, body, retain=False, correlation_data=meta.correlation_data
            )
        self.bridge.notify()
        return seq

    def _on_fix(self, fix: GnssFix) -> None:
        has_position = fix.fix != "none" and fix.lat is not None and fix.lon is not None
        if not self.reporter.should_publish(
            now=time.monotonic(),
            lat=fix.lat if has_position else None,
            lon=fix.lon if has_position else None,
            course_deg=fix.course_deg if has_position else None,
        ):
            return
        body = gnss_position(fix, self.own_unit, utc_now())
        own_issi = self.radios.own_issi()
        if own_issi is not None:  # a vehicle unit whose radio has told us who it is
            body["issi"] = own_issi
        self.radios.remember_position(self.own_unit, body)
        self.publish("position", self.topics.unit(self.own_unit, "position"), body, retain=True)

    async def _on_command(self, name: str, payload: bytes, meta: CommandMeta) -> None:
        """Journal a received command durably (its PUBACK follows), then execute it; answer a repeat."""
        try:
            entry, new = self.journal.accept(
                name,
                payload,
                response_topic=meta.response_topic,
                correlation_data=meta.correlation_data,
                now=time.time(),
            )
        except SpoolError as exc:
            log.error("cannot journal the %s command (%s); executing it without a journal", name, exc)
            await self.radios.handle_command(name, payload, meta)
            return
        self.command_counts["received"] += 1
        if not new:
            self.command_counts["repeated"] += 1
            self._answer_repeat(entry, meta)
            return
        log.info("command %s accepted (journal %d): %r", name, entry.id, payload[:200])
        await self.radios.handle_command(name, payload, replace(meta, journal_id=entry.id))

    def _answer_repeat(self, entry: JournaledCommand, meta: CommandMeta) -> None:
        if entry.result is None:
            log.info(
                "command %s (journal %d) received again while in progress; its result follows",
                entry.name,
                entry.id,
            )
            return
        log.info(
            "command %s (journal %d) received again; answering with its first result", entry.name, entry.id
        )
        body = {key: value for key, value in entry.result.items() if key != "gateway"}
        self.publish("result", self.topics.command_result(entry.name), body, retain=False, meta=meta)

    async def _replay_unfinished_commands(self) -> None:
        """Execute the commands accepted before the gateway last stopped but not sent, unless too old."""
        max_age = self.settings.mqtt.command_replay_max_age_s
        for entry in self.journal.unfinished():
            age = time.time() - entry.received
            meta = CommandMeta(entry.response_topic, entry.correlation_data, journal_id=entry.id)
            if age > max_age:
                self.command_counts["expired"] += 1
                log.warning(
                    "not executing the %s command accepted %.0f s ago, before a restart", entry.name, age
                )
                self.radios.refuse_command(
                    entry.name,
                    entry.payload,
                    meta,
                    f"not sent: the gateway stopped after accepting it and restarted {age:.0f} s later, "
                    f"beyond mqtt.command_replay_max_age_s ({max_age:g} s)",
                )
                continue
            log.info("executing the %s command accepted %.1f s ago, before a restart", entry.name, age)
            self.command_counts["replayed"] += 1
            await self.radios.handle_command(entry.name, entry.payload, meta)

    def device_statuses(self) -> list[LinkStatus]:
        statuses = [self.gnss.status] if self.gnss else []
        return statuses + self.radios.statuses()

    def health(self) -> dict[str, Any]:
        """The health payload body."""
        stats = self.spool.stats()
        return {
            "version": __version__,
            "time": iso_ms(utc_now()),
            "uptime_s": round(time.monotonic() - self.started, 1),
            "spool": spool_health(stats),
            "mqtt": self.bridge.stats(),
            "commands": {**self.command_counts, "in_progress": self.journal.unfinished_count()},
            "devices": {status.name: status.snapshot() for status in self.device_statuses()},
        }

    async def _report_health(self) -> None:
        """Every ``gateway.health_interval_s``, and early when a device link or the broker link changes state
        (at most one early report per ``HEALTH_MIN_SPACING_S``).

        The report is retained: a dispatcher connecting later must not find a stale "starting" there.
        """
        while True:
            self._links_changed.clear()
            body = self.health()
            log.info(health_line(body))
            self.publish("health", self.topics.health, body, retain=True)
            spacing = min(HEALTH_MIN_SPACING_S, self.settings.gateway.health_interval_s)
            await asyncio.sleep(spacing)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._links_changed.wait(), self.settings.gateway.health_interval_s - spacing
                )

    def _report_stopped(self) -> None:
        """On a clean stop: the radios' retained state and a last health report say the links are down."""
        for status in self.device_statuses():
            status.set_state("down", "gateway stopped")
        self.radios.publish_states()
        self.publish("health", self.topics.health, self.health(), retain=True)

    async def _commit_positions(self) -> None:
        interval = self.settings.spool.position_commit_interval_s
        while True:
            await asyncio.sleep(interval or 0.1)
            self.spool.commit()

    async def _watchdog(self) -> None:
        interval = watchdog_interval_s()
        if interval is None:
            return
        while True:  # pinged from the loop itself: a wedged loop stops the pings and systemd restarts us
            notify("WATCHDOG=1")
            await asyncio.sleep(interval)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; then shut down within the budget."""
        tasks: list[asyncio.Task[None]] = []
        try:
            async with asyncio.TaskGroup() as group:
                tasks.append(group.create_task(self.bridge.run(), name="mqtt"))
                if self.gnss is not None:
                    tasks.append(group.create_task(self.gnss.run(), name="gnss"))
                tasks.extend(self.radios.start(group))
                await self._replay_unfinished_commands()
                tasks.append(group.create_task(self._report_health(), name="health"))
                tasks.append(group.create_task(self._commit_positions(), name="spool-commit"))
                tasks.append(group.create_task(self._watchdog(), name="watchdog"))
                notify("READY=1")
                notify(f"STATUS=patrol-gateway {__version__} running as {self.settings.gateway.id}")
                log.info("patrol-gateway %s running as %s", __version__, self.settings.gateway.id)
                await stop.wait()
                notify("STOPPING=1")
                log.info("stopping")
                for task in tasks:
                    if task.get_name() != "mqtt":
                        task.cancel()
                await self.radios.close()
                with contextlib.suppress(SpoolError):  # best effort: the stop goes on regardless
                    self._report_stopped()
                self.spool.commit()
                with contextlib.suppress(Exception):
                    await self.bridge.shutdown(timeout_s=SHUTDOWN_BUDGET_S)
                for task in tasks:
                    task.cancel()
        finally:
            self.spool.close()
