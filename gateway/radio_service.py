"""The radios' side of the daemon: decoded fleet traffic to MQTT, dispatcher commands to the air.

Inbound: each radio driver hands over PEI events; ``+CTSDSR`` user data is decoded here (dispatch on the AI
service first, then on the PID) and published under the sending unit's identity: statuses, LIP positions,
texts, emergencies (status 0 or a configured code, LIP reason "emergency", a call at emergency priority).
SDS-TL transfers that ask for a report are answered. SDS-TL reports and short reports that come back for a
message we sent become ``delivered`` results.

Outbound: commands are validated (``gateway.commands``), encoded, and sent with ``AT+CTSDS``/``AT+CMGS``
by a background task per command, retried with backoff on transient radio errors; the outcome is published
on the command's result topic. Bad commands get ``ok: false`` at once and touch nothing else.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.backoff import Backoff
from gateway.commands import Command, RequestLocation, SendStatus, command_id, parse_command
from gateway.config import Settings
from gateway.drivers.radio import TRANSIENT_CME, RadioDriver, SendAccepted, SendFailed
from gateway.errors import CommandError, LinkError, ProtocolError
from gateway.link_state import LinkStatus
from gateway.mqtt_bridge import CommandMeta
from gateway.protocols import lip, sds, status
from gateway.protocols.bits import SdsPayload
from gateway.protocols.pei import (
    IncomingCall,
    PeiEvent,
    SdsHeaderExpired,
    SdsReceived,
    SendReport,
    UnknownLine,
)
from gateway.protocols.pei import parse_identity as parse_pei_identity
from gateway.timefmt import iso_ms, utc_now
from gateway.topics import Topics

log = logging.getLogger(__name__)

SERVICE_STATUS = 13
SERVICE_SDS4 = 12
CALLED_TYPE_SSI = 0
CALLED_TYPE_GSSI = 1
"""The group address type for AT+CTSDS on most radios (tetra.md, "Sending")."""
DELIVERY_WAIT_S = 600.0
"""How long a sent text waits for its SDS-TL report before we stop expecting one."""
STATUS_SENT_OVER_AIR = 4
STATUS_REPORT_FAILED = 5
REPORT_RECEIVED = 0x00
LIP_CLOCK_SKEW = timedelta(minutes=1)
LocationReport = lip.ShortLocationReport | lip.LongLocationReport

Publish = Callable[..., int]


@dataclass(slots=True)
class _AwaitingDelivery:
    name: str
    command_id: str
    to: int
    meta: CommandMeta
    expires: float


OnAirKey = tuple[str, int, int | None]
"""(radio name, SDS instance, message reference) of a message the radio accepted."""
MAX_UNCLAIMED_REPORTS = 64


class _SendGaveUp(Exception):
    """A send failed for good (a permanent +CME error, or the retries ran out)."""


class RadioService:
    """Owns the radio drivers and everything between them and the spool."""

    def __init__(self, settings: Settings, topics: Topics, publish: Publish) -> None:
        self.settings = settings
        self.topics = topics
        self.publish = publish
        self.drivers = [
            RadioDriver(radio, self._on_event, self._make_state_cb(radio.name)) for radio in settings.radios
        ]
        self.last_positions: dict[str, dict[str, Any]] = {}
        self._retained_times: dict[str, str] = {}
        """Per unit, the time of the position now retained (ISO strings of one format compare as times)."""
        self._reassembler = sds.ConcatReassembler(
            settings.radios[0].concat_timeout_s if settings.radios else 120.0
        )
        self._message_refs = itertools.cycle(range(1, 256))
        self._concat_refs = itertools.cycle(range(1, 256))
        self._awaiting: dict[tuple[int, int], _AwaitingDelivery] = {}
        self._on_air: dict[OnAirKey, _AwaitingDelivery] = {}
        """Messages the radio accepted, until its final +CMGS says sent (4) or failed (5) over the air."""
        self._unclaimed_reports: dict[OnAirKey, int] = {}
        """Final +CMGS reports that arrived before their send finished being recorded (same read)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._emergency_codes = {int(code, 16) for code in settings.emergency.status_codes}

    # --- lifecycle ---

    def start(self, group: asyncio.TaskGroup) -> list[asyncio.Task[None]]:
        return [group.create_task(driver.run(), name=f"radio-{driver.name}") for driver in self.drivers]

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def statuses(self) -> list[LinkStatus]:
        return [driver.status for driver in self.drivers]

    def own_issi(self) -> int | None:
        """The first radio's own ISSI (a vehicle unit's radio), once AT+CNUMF? has answered."""
        for driver in self.drivers:
            if driver.identity is not None:
                return driver.identity.issi
        return None

    def remember_position(self, unit: str, body: dict[str, Any]) -> None:
        self.last_positions[unit] = body

    def _make_state_cb(self, name: str | None) -> Callable[[], None]:
        def publish_state() -> None:
            driver = next(d for d in self.drivers if d.name == name)
            self._publish_radio_state(driver)

        return publish_state

    def publish_states(self) -> None:
        """Publish every radio's retained state as it is now."""
        for driver in self.drivers:
            self._publish_radio_state(driver)

    def _publish_radio_state(self, driver: RadioDriver) -> None:
        body: dict[str, Any] = {
            "name": driver.name,
            "port": driver.settings.port,
            "state": driver.status.state,
            "time": iso_ms(utc_now()),
        }
        if driver.identity is not None:
            body["issi"] = driver.identity.issi
            if driver.identity.tsi:
                body["tsi"] = driver.identity.tsi
        if driver.registration is not None:
            body["registration"] = driver.registration
        if driver.signal_dbm is not None:
            body["signal_dbm"] = driver.signal_dbm
        if driver.status.last_error and driver.status.state in ("down", "silent"):  # not a past one
            body["error"] = driver.status.last_error
        self.publish("radio", self.topics.radio(driver.name), body, retain=True)

    # --- inbound ---

    def _on_event(self, driver: RadioDriver, event: PeiEvent) -> None:
        if isinstance(event, SdsReceived):
            self._on_sds(driver, event)
        elif isinstance(event, SendReport):
            self._on_send_report(driver, event)
        elif isinstance(event, IncomingCall):
            self._on_call(driver, event)
        elif isinstance(event, SdsHeaderExpired):
            driver.status.counters["sds_header_expired"] += 1
            log.warning("radio %s: +CTSDSR header without payload: %s", driver.name, event.header)
        elif isinstance(event, UnknownLine):
            driver.status.counters["unknown_lines"] += 1
            log.debug("radio %s: unknown line %r", driver.name, event.line)

    def _on_sds(self, driver: RadioDriver, event: SdsReceived) -> None:
        driver.status.counters["sds_received"] += 1
        try:
            payload = SdsPayload.from_hex(event.data_hex, event.length_bits)
            message = sds.decode_sds(event.service, payload)
            sender = parse_pei_identity(event.calling) if event.calling else None
        except ProtocolError as exc:
            driver.status.counters["sds_undecodable"] += 1
            log.warning(
                "radio %s: undecodable SDS %s/%s: %s", driver.name, event.service, event.data_hex, exc
            )
            return
        if sender is None:
            driver.status.counters["sds_without_sender"] += 1
            log.warning("radio %s: SDS without calling identity dropped: %r", driver.name, event)
            return
        to = int(event.called) if event.called.isdigit() else None
        self._route(driver, sender.issi, sender.tsi, to, message)

    def _route(self, driver: RadioDriver, issi: int, tsi: str | None, to: int | None, message: Any) -> None:
        unit = self.settings.unit_for(issi)
        now = iso_ms(utc_now())
        base: dict[str, Any] = {"unit": unit, "issi": issi}
        if isinstance(message, status.StatusValue):
            self._publish_status(base, to, message.value, now)
        elif isinstance(message, status.ShortReport):
            self._delivered(issi, message.message_reference, status_text=message.meaning)
        elif isinstance(message, LocationReport):
            self._publish_lip(base, tsi, message)
        elif isinstance(message, sds.TextMessage):
            self._on_text(driver, base, issi, to, message, now)
        elif isinstance(message, sds.SdsReport):
            self._delivered(
                issi,
                message.message_reference,
                status_text=sds.delivery_status_meaning(message.delivery_status),
                ok=message.delivery_status < 0x40,
            )
        elif isinstance(message, sds.SdsAck):
            driver.status.counters["sds_acks"] += 1
        else:
            driver.status.counters["sds_unhandled"] += 1
            log.info("radio %s: unhandled SDS from %s: %r", driver.name, issi, message)

    def _publish_status(self, base: dict[str, Any], to: int | None, value: int, now: str) -> None:
        body = {**base, "code": value, "hex": f"{value:04X}", "time": now}
        if to is not None:
            body["to"] = to
        label = self.settings.status_codes.get(f"{value:04X}")
        if label is not None:
            body["label"] = label
        unit = base["unit"]
        if value in self._emergency_codes:
            self._publish_emergency(base, "status", now, code=value)
        self.publish("status", self.topics.unit(unit, "status"), body, retain=True)

    def _publish_lip(self, base: dict[str, Any], tsi: str | None, report: LocationReport) -> None:
        unit = base["unit"]
        body: dict[str, Any] = {**base, "time": iso_ms(lip_time(report, utc_now()))}
        if report.has_position and report.lat is not None and report.lon is not None:
            altitude = report.altitude_m if isinstance(report, lip.LongLocationReport) else None
            body["lat"] = round(report.lat, 7)
            body["lon"] = round(report.lon, 7)
            body["fix"] = "3d" if altitude is not None else "2d"
            for key, value in (
                ("alt_m", altitude),
                ("speed_mps", report.speed_mps),
                ("course_deg", report.course_deg),
                ("accuracy_m", report.accuracy_m),
            ):
                if value is not None:
                    body[key] = round(float(value), 3)
        else:
            body["fix"] = "none"
        body["source"] = "lip"
        if report.reason_name is not None:
            body["reason"] = report.reason_name
        if tsi:
            body["tsi"] = tsi
        # A long report can carry an older time of position than what the unit last reported (sent late,
        # or repeated): it is published, but not retained, so the retained position stays the newest.
        newest = body["time"] >= self._retained_times.get(unit, "")
        if newest:
            self._retained_times[unit] = body["time"]
            if "lat" in body:
                self.remember_position(unit, body)
        if report.reason == lip.REASON_EMERGENCY:
            self._publish_emergency(base, "lip", body["time"])
        self.publish("position", self.topics.unit(unit, "position"), body, retain=newest)

    def _on_text(
        self,
        driver: RadioDriver,
        base: dict[str, Any],
        issi: int,
        to: int | None,
        message: sds.TextMessage,
        now: str,
    ) -> None:
        if message.needs_report and message.message_reference is not None:
            self._spawn(self._answer_report(driver, issi, message))
        if message.concat is not None:
            now_s = time.monotonic()
            expired = self._reassembler.expire(now_s)
            if expired:
                driver.status.counters["concat_expired"] += expired
                log.warning("radio %s: %d concatenated text(s) gave up: parts missing", driver.name, expired)
            complete = self._reassembler.add(str(issi), message, now_s)
            if complete is None:
                return
            message = complete
        body = {**base, "text": message.text, "time": now, "coding": message.coding}
        if to is not None:
            body["to"] = to
        if message.message_reference is not None:
            body["message_reference"] = message.message_reference
        self.publish("text", self.topics.unit(base["unit"], "text"), body, retain=False)

    def _on_call(self, driver: RadioDriver, event: IncomingCall) -> None:
        if (
            event.priority is None
            or event.priority < self.settings.emergency.call_priority
            or not event.calling
        ):
            return
        try:
            caller = parse_pei_identity(event.calling)
        except ProtocolError:
            return
        base = {"unit": self.settings.unit_for(caller.issi), "issi": caller.issi}
        self._publish_emergency(base, "call", iso_ms(utc_now()))

    def _publish_emergency(
        self, base: dict[str, Any], kind: str, now: str, *, code: int | None = None
    ) -> None:
        unit = base["unit"]
        body: dict[str, Any] = {**base, "time": now, "kind": kind}
        if code is not None:
            body["code"] = code
        position = self.last_positions.get(unit)
        if position is not None:
            body["position"] = {
                key: position[key]
                for key in ("lat", "lon", "alt_m", "time", "accuracy_m", "speed_mps", "course_deg", "source")
                if key in position
            }
        log.warning("EMERGENCY from %s (%s)", unit, kind)
        self.publish("emergency", self.topics.unit(unit, "emergency"), body, retain=False)

    def _on_send_report(self, driver: RadioDriver, event: SendReport) -> None:
        key = (driver.name, event.instance, event.message_reference)
        sent = self._on_air.pop(key, None)
        if sent is None:
            if event.status in (STATUS_SENT_OVER_AIR, STATUS_REPORT_FAILED):
                self._unclaimed_reports[key] = event.status
                while len(self._unclaimed_reports) > MAX_UNCLAIMED_REPORTS:
                    del self._unclaimed_reports[next(iter(self._unclaimed_reports))]
            return
        self._final_report(driver, sent, event.status)

    def _final_report(self, driver: RadioDriver, sent: _AwaitingDelivery, status: int | None) -> None:
        if status != STATUS_REPORT_FAILED:
            return
        log.warning("radio %s: %s %s failed over the air", driver.name, sent.name, sent.command_id)
        self._awaiting = {key: value for key, value in self._awaiting.items() if value is not sent}
        self._publish_result(
            sent.name,
            {
                "id": sent.command_id,
                "ok": False,
                "state": "failed",
                "error": "transmission failed over the air",
            },
            sent.meta,
        )

    def _delivered(self, issi: int, reference: int, *, status_text: str, ok: bool = True) -> None:
        awaiting = self._awaiting.pop((issi, reference), None)
        if awaiting is None:
            return
        result: dict[str, Any] = {
            "id": awaiting.command_id,
            "ok": ok,
            "state": "delivered" if ok else "failed",
        }
        if not ok:
            result["error"] = status_text
        self._publish_result(awaiting.name, result, awaiting.meta)

    # --- outbound ---

    async def handle_command(self, name: str, payload: bytes, meta: CommandMeta) -> None:
        """Validate and start one dispatcher command; answers bad ones at once."""
        try:
            command = parse_command(name, payload, self.settings.units, self.settings.groups)
            driver = self._driver_for(command)
        except CommandError as exc:
            log.warning("bad %s command: %s", name, exc)
            self._publish_result(name, {"id": command_id(payload), "ok": False, "error": str(exc)}, meta)
            return
        self._spawn(self._execute(name, command, driver, meta))

    def refuse_command(self, name: str, payload: bytes, meta: CommandMeta, error: str) -> None:
        """Answer a command that will not be executed (a valid one, too stale to send) as failed."""
        self._publish_result(
            name, {"id": command_id(payload), "ok": False, "state": "failed", "error": error}, meta
        )

    def _driver_for(self, command: Command) -> RadioDriver:
        if not self.drivers:
            raise CommandError("this gateway has no radio configured")
        if command.radio is None:
            return self.drivers[0]
        for driver in self.drivers:
            if driver.name == command.radio:
                return driver
        raise CommandError(
            f"no radio named {command.radio!r}; radios: {', '.join(d.name for d in self.drivers)}"
        )

    def _encode(self, command: Command) -> list[tuple[int, SdsPayload, int | None]]:
        """(AI service, payload, message reference awaiting a report) for each SDS the command needs."""
        if isinstance(command, SendStatus):
            return [(SERVICE_STATUS, status.encode_status(command.code), None)]
        if isinstance(command, RequestLocation):
            return [(SERVICE_SDS4, lip.encode_location_request(), None)]
        reference = next(self._message_refs)
        driver_bits = self.settings.radios[0].max_text_bits if self.settings.radios else 668
        parts = sds.split_text(
            command.text,
            max_bits=driver_bits,
            first_message_reference=reference,
            concat_reference=next(self._concat_refs),
            report_request=1,
        )
        out: list[tuple[int, SdsPayload, int | None]] = []
        for index, part in enumerate(parts):
            ref = (reference + index - 1) % 255 + 1
            out.append((SERVICE_SDS4, part, ref if index == len(parts) - 1 else None))
        return out

    async def _execute(self, name: str, command: Command, driver: RadioDriver, meta: CommandMeta) -> None:
        try:
            sends = self._encode(command)
        except (CommandError, ProtocolError) as exc:
            self._publish_result(name, {"id": command.id, "ok": False, "error": str(exc)}, meta)
            return
        record = _AwaitingDelivery(
            name, command.id, command.to.number, meta, time.monotonic() + DELIVERY_WAIT_S
        )
        accepted: list[SendAccepted] = []
        for service, payload, awaiting_ref in sends:
            try:
                accepted.append(await self._send_with_retries(driver, service, command, payload))
            except _SendGaveUp as exc:
                self._publish_result(
                    name, {"id": command.id, "ok": False, "state": "failed", "error": str(exc)}, meta
                )
                return
            if awaiting_ref is not None:
                self._awaiting[(command.to.number, awaiting_ref)] = record
        self._expire_awaiting()
        self._publish_result(name, {"id": command.id, "ok": True, "state": "sent"}, meta)
        for part in accepted:  # now watch for the radio's final word on each part
            if part.instance is None:
                continue
            key = (driver.name, part.instance, part.message_reference)
            early = self._unclaimed_reports.pop(key, None)
            if early is not None:
                self._final_report(driver, record, early)
            else:
                self._on_air[key] = record

    async def _send_with_retries(
        self, driver: RadioDriver, service: int, command: Command, payload: SdsPayload
    ) -> SendAccepted:
        """Send one SDS, retrying transient refusals with backoff; raises _SendGaveUp saying why not."""
        backoff = Backoff(driver.settings.send_retry_backoff_s, driver.settings.send_retry_backoff_s * 8)
        retries = 0
        while True:
            try:
                called_type = CALLED_TYPE_GSSI if command.to.group else CALLED_TYPE_SSI
                return await driver.send_sds(service, command.to.number, called_type, payload)
            except (SendFailed, LinkError) as exc:
                code = exc.code if isinstance(exc, SendFailed) else None
                if (
                    code is not None and code not in TRANSIENT_CME
                ) or retries >= driver.settings.send_retries:
                    raise _SendGaveUp(
                        str(exc) + (f" (+CME ERROR {code})" if code is not None else "")
                    ) from exc
                retries += 1
                log.info("%s: attempt %d failed (%s), retrying", command.id, retries, exc)
                await asyncio.sleep(backoff.next_delay())

    async def _answer_report(self, driver: RadioDriver, issi: int, message: sds.TextMessage) -> None:
        assert message.message_reference is not None
        report = sds.encode_report(message.message_reference, REPORT_RECEIVED, pid=message.pid)
        try:
            await driver.send_sds(SERVICE_SDS4, issi, CALLED_TYPE_SSI, report)
            driver.status.counters["reports_sent"] += 1
        except (SendFailed, LinkError) as exc:
            driver.status.counters["reports_failed"] += 1
            log.warning("radio %s: could not send SDS-REPORT to %s: %s", driver.name, issi, exc)

    def _expire_awaiting(self) -> None:
        now = time.monotonic()
        self._awaiting = {key: value for key, value in self._awaiting.items() if value.expires >= now}
        self._on_air = {key: value for key, value in self._on_air.items() if value.expires >= now}

    def _publish_result(self, name: str, result: dict[str, Any], meta: CommandMeta) -> None:
        body = {**result, "command": name, "time": iso_ms(utc_now())}
        if body.get("id") is None:
            body.pop("id", None)
        self.publish("result", self.topics.command_result(name), body, retain=False, meta=meta)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def lip_time(report: LocationReport, received: datetime) -> datetime:
    """When the position was taken: a long report's own day/time (in the month it must fall in), else now.

    The report carries only day of month and UTC time; the latest such moment not after reception (plus a
    minute of clock skew) is meant.
    """
    stamp = report.time_of_position if isinstance(report, lip.LongLocationReport) else None
    if stamp is None:
        return received
    year, month = received.year, received.month
    for _ in range(3):  # this month, else the previous ones (day 31 in a 30-day month)
        try:
            moment = datetime(year, month, stamp.day, stamp.hour, stamp.minute, stamp.second, tzinfo=UTC)
        except ValueError:
            moment = None
        if moment is not None and moment <= received + LIP_CLOCK_SKEW:
            return moment
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return received
