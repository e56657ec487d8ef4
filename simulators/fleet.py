"""A simulated fleet of patrol units, as a base-station radio hears it: LIP, status and text SDS.

Each unit drives the Ljubljana loop (``route.py``; odd units the other way round, all from different
junctions). ``Fleet.next_message`` picks a random unit and a message kind by weight and encodes it with the
gateway's own encoders (``gateway.protocols.lip``, ``status``, ``sds``), so what the radio prints is exactly
what real units would send. ``emergency`` makes one unit send status 0 and a LIP report with reason 2.
``answer`` lets a unit reply to an immediate location request (reason 32) the gateway sent it.

Every message is a ``FleetMessage``: the ``+CTSDSR`` header and payload lines plus the values that went into
it, which the simulator writes to the ``--manifest`` file so tests can check nothing was lost or garbled.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.errors import ProtocolError
from gateway.protocols import lip, sds, status
from gateway.protocols.bits import SdsPayload
from simulators.route import RouteDriver

SERVICE_SDS_TYPE4 = 12
SERVICE_STATUS = 13
EMERGENCY_STATUS = 0x0000
EMERGENCY_REASON = 2
REASON_RESPONSE_TO_REQUEST = 32
REASON_MAX_INTERVAL = 129
REASON_MAX_DISTANCE = 130
POSITION_ERROR_20M = 1
DIRECTION_STEP_DEG = 22.5
STATUS_VALUES = tuple(range(0x8002, 0x800B))
"""``8002``..``800A``: "status 0".."status 8" in common national practice."""

KIND_WEIGHTS: Mapping[str, float] = {"lip_short": 0.45, "lip_long": 0.2, "status": 0.25, "text": 0.1}
TEXT_REPORT_SHARE = 0.3
"""Share of fleet texts that ask the gateway for a "received" delivery report."""
TEXTS = (
    "Na lokaciji.",
    "Potrebujem podporo.",
    "Kontrola prometa končana.",
    "Vozilo ustavljeno, preverjam.",
    "Vračam se v bazo.",
)


@dataclass(frozen=True, slots=True)
class FleetMessage:
    """One SDS a unit sent: the two lines the radio prints and the values encoded in them."""

    issi: int
    kind: str
    service: int
    payload: SdsPayload
    values: Mapping[str, Any] = field(default_factory=dict)

    def header(self, gateway_issi: int) -> str:
        """The ``+CTSDSR`` line announcing it."""
        return f"+CTSDSR: {self.service},{self.issi},0,{gateway_issi},0,{self.payload.bits}"

    def payload_hex(self) -> str:
        """The user data as a Motorola prints it: whole octets, padding digit included."""
        return self.payload.data.hex().upper()

    def manifest(self, gateway_issi: int) -> dict[str, Any]:
        """The JSON-able record of this message for the manifest file."""
        return {
            "issi": self.issi,
            "kind": self.kind,
            "values": dict(self.values),
            "header": self.header(gateway_issi),
            "payload": self.payload_hex(),
        }


class _Unit:
    def __init__(self, issi: int, index: int, rng: random.Random) -> None:
        self.issi = issi
        self.route = RouteDriver(rng=random.Random(rng.random()), reverse=index % 2 == 1, start_segment=index)
        self.last_update: float | None = None
        self.message_reference = rng.randrange(256)

    def move(self, now: float) -> None:
        dt = 0.0 if self.last_update is None else now - self.last_update
        self.last_update = now
        self.route.advance(dt)

    def next_reference(self) -> int:
        self.message_reference = (self.message_reference + 1) % 256
        return self.message_reference


class Fleet:
    """``count`` units with ISSIs from ``base_issi``, moving in real time (``now`` is a monotonic time)."""

    def __init__(self, count: int, *, base_issi: int = 1001001, rng: random.Random | None = None) -> None:
        if count < 1:
            raise ValueError(f"a fleet needs at least one unit, got {count}")
        if base_issi < 1 or base_issi + count - 1 > 0xFFFFFF:
            raise ValueError(f"fleet ISSIs {base_issi}..{base_issi + count - 1} do not fit in 24 bits")
        self._rng = rng or random.Random()
        self._units = {base_issi + i: _Unit(base_issi + i, i, self._rng) for i in range(count)}

    @property
    def issis(self) -> tuple[int, ...]:
        """Every unit's ISSI."""
        return tuple(self._units)

    def next_message(self, now: float) -> FleetMessage:
        """A random unit's next message, of a kind drawn by ``KIND_WEIGHTS``."""
        unit = self._rng.choice(list(self._units.values()))
        kind = self._rng.choices(list(KIND_WEIGHTS), weights=list(KIND_WEIGHTS.values()))[0]
        unit.move(now)
        if kind == "lip_short":
            reason = self._rng.choice((REASON_MAX_INTERVAL, REASON_MAX_DISTANCE))
            return self._short_report(unit, reason)
        if kind == "lip_long":
            return self._long_report(unit)
        if kind == "status":
            return self._status(unit, self._rng.choice(STATUS_VALUES))
        report_request = sds.REPORT_RECEIVED if self._rng.random() < TEXT_REPORT_SHARE else sds.REPORT_NONE
        return self._text(unit, self._rng.choice(TEXTS), report_request)

    def emergency(self, now: float) -> tuple[FleetMessage, FleetMessage]:
        """A random unit raises an emergency: status 0, then a LIP short report with reason 2."""
        unit = self._rng.choice(list(self._units.values()))
        unit.move(now)
        return self._status(unit, EMERGENCY_STATUS), self._short_report(unit, EMERGENCY_REASON)

    def answer(self, called: str, service: int, hex_text: str, bits: int, now: float) -> FleetMessage | None:
        """The unit's reply when the gateway sent it an immediate location request, else None."""
        unit = self._units.get(int(called)) if called.isdigit() else None
        if unit is None or service != SERVICE_SDS_TYPE4:
            return None
        try:
            message = lip.decode_lip(SdsPayload.from_hex(hex_text, bits))
        except ProtocolError:
            return None
        if not isinstance(message, lip.LocationRequest) or message.is_response:
            return None
        unit.move(now)
        return self._short_report(unit, REASON_RESPONSE_TO_REQUEST)

    @staticmethod
    def _short_report(unit: _Unit, reason: int) -> FleetMessage:
        state = unit.route.state()
        report = lip.ShortLocationReport(
            time_elapsed=0,
            lon=state.lon,
            lat=state.lat,
            position_error=POSITION_ERROR_20M,
            horizontal_velocity=lip.velocity_code(state.speed_mps * 3.6),
            direction=round(state.course_deg / DIRECTION_STEP_DEG) % 16,
            additional_data_type=0,
            reason=reason,
        )
        values = {
            "lat": state.lat,
            "lon": state.lon,
            "speed_mps": state.speed_mps,
            "course_deg": state.course_deg,
            "reason": reason,
        }
        return FleetMessage(unit.issi, "lip_short", SERVICE_SDS_TYPE4, lip.encode_lip(report), values)

    @staticmethod
    def _long_report(unit: _Unit) -> FleetMessage:
        state = unit.route.state()
        now = datetime.now(UTC)
        report = lip.LongLocationReport(
            time_type=2,
            time_of_position=lip.PositionTime(
                day=now.day, hour=now.hour, minute=now.minute, second=now.second
            ),
            shape=4,
            lon=state.lon,
            lat=state.lat,
            altitude_type=0,
            altitude=lip.altitude_code(state.alt_m),
            velocity_type=5,
            horizontal_velocity=lip.velocity_code(state.speed_mps * 3.6),
            direction_extended=round(state.course_deg * 256 / 360) % 256,
            reason=REASON_MAX_INTERVAL,
        )
        values = {
            "lat": state.lat,
            "lon": state.lon,
            "alt_m": state.alt_m,
            "speed_mps": state.speed_mps,
            "course_deg": state.course_deg,
            "reason": REASON_MAX_INTERVAL,
        }
        return FleetMessage(unit.issi, "lip_long", SERVICE_SDS_TYPE4, lip.encode_lip(report), values)

    @staticmethod
    def _status(unit: _Unit, value: int) -> FleetMessage:
        values = {"code": value, "hex": f"{value:04X}"}
        return FleetMessage(unit.issi, "status", SERVICE_STATUS, status.encode_status(value), values)

    @staticmethod
    def _text(unit: _Unit, text: str, report_request: int) -> FleetMessage:
        reference = unit.next_reference()
        payload = sds.encode_sds_tl_text(text, message_reference=reference, report_request=report_request)
        values = {"text": text, "message_reference": reference, "report_request": report_request}
        return FleetMessage(unit.issi, "text", SERVICE_SDS_TYPE4, payload, values)
