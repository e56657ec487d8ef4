"""Event -> JSON payload bodies, per the interface spec. ``gateway`` and ``seq`` are added on the way out.

Absent values are omitted, never zero-filled: a fix without a position has no ``lat``/``lon``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from gateway.protocols.nmea import GnssFix
from gateway.timefmt import iso_ms

COORD_DECIMALS = 7
VALUE_DECIMALS = 3


def _put(
    body: dict[str, Any], key: str, value: float | int | str | None, decimals: int | None = None
) -> None:
    if value is None:
        return
    body[key] = round(value, decimals) if decimals is not None and isinstance(value, float) else value


def fix_time(fix: GnssFix, now: datetime) -> datetime:
    """The fix's time; a receiver that gave no date (GGA only) gets today's UTC date, none at all gets now."""
    if fix.time_of_day is None:
        return now
    day: date = fix.date or now.date()
    moment = datetime.combine(day, fix.time_of_day.replace(tzinfo=None), tzinfo=UTC)
    return moment


def gnss_position(fix: GnssFix, unit: str, now: datetime) -> dict[str, Any]:
    """The position payload body of a GNSS fix."""
    body: dict[str, Any] = {"unit": unit, "time": iso_ms(fix_time(fix, now)), "fix": fix.fix}
    if fix.fix != "none":
        _put(body, "lat", fix.lat, COORD_DECIMALS)
        _put(body, "lon", fix.lon, COORD_DECIMALS)
        _put(body, "alt_m", fix.alt_m, VALUE_DECIMALS)
        _put(body, "speed_mps", fix.speed_mps, VALUE_DECIMALS)
        if fix.course_deg is not None:
            body["course_deg"] = round(fix.course_deg % 360.0, VALUE_DECIMALS) % 360.0
    _put(body, "sats", fix.sats)
    _put(body, "hdop", fix.hdop, 2)
    body["source"] = "gnss"
    return body
