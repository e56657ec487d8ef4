"""Reading gpsd's regression ``.chk`` files and comparing our fixes with gpsd's TPV reports.

A ``.chk`` file echoes each input sentence followed by the JSON reports gpsd emitted after it. gpsd reports a
TPV after several sentences of one epoch, each time with what it knows so far; the last TPV carrying a given
``time`` is gpsd's final word on that epoch, and is what we compare with. TPVs without a ``time`` (gpsd had no
date yet, or no fix) cannot be matched to an epoch and are left out.

Used by the NMEA protocol's recorded-data test and by the end-to-end test, which compares published position
payloads (``time``, ``lat``, ``lon``, ``alt_m``, ``speed_mps``, ``course_deg``, ``fix``) the same way.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

LATLON_TOLERANCE_DEG = 1e-6
# gpsd prints speed with 3 decimals; our m/s value is exact knots * 1852/3600 (or km/h / 3.6).
SPEED_TOLERANCE_MPS = 0.01
COURSE_TOLERANCE_DEG = 0.01
ALTITUDE_TOLERANCE_M = 0.01
# gpsd "corrects" dates it believes a GPS week-number rollover has hit, moving them by whole eras of 1024
# weeks. In neo-m8n.log the RMCs say 2015-03-18 and gpsd reports 2034-11-01: exactly 1024 weeks later. Such a
# date is gpsd's guess, not the receiver's, so a difference of a whole number of eras is accepted; any other
# date difference is a mismatch.
GPS_WEEK_ERA = timedelta(weeks=1024)
GPSD_MODES = {1: "none", 2: "2d", 3: "3d"}


def gpsd_epochs(chk: Path) -> dict[str, dict[str, Any]]:
    """gpsd's final TPV per epoch, keyed by its ``time`` (ISO 8601, e.g. ``2015-04-13T20:26:40.000Z``)."""
    epochs: dict[str, dict[str, Any]] = {}
    for line in chk.read_text(encoding="utf-8").splitlines():
        if not line.startswith("{"):
            continue
        report = json.loads(line)
        if report.get("class") == "TPV" and "time" in report:
            epochs[report["time"]] = report
    return epochs


def time_of_day_key(iso_time: str) -> str:
    """``HH:MM:SS.mmm`` of an ISO timestamp: how epochs are matched when gpsd's date is a guess."""
    return iso_time[11:23]


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _date_mismatch(expected: date, got: date) -> str | None:
    difference = got - expected
    if difference == timedelta(0):
        return None
    if difference % GPS_WEEK_ERA == timedelta(0):
        return None  # gpsd's week-rollover guess, see GPS_WEEK_ERA
    return f"date: expected {expected}, got {got}"


def _close(name: str, expected: float, got: Any, tolerance: float) -> str | None:
    if got is None:
        return f"{name}: expected {expected}, got nothing"
    if abs(float(got) - expected) > tolerance:
        return f"{name}: expected {expected}, got {got} (tolerance {tolerance})"
    return None


def _course_close(expected: float, got: Any) -> str | None:
    if got is None:
        return f"course: expected {expected}, got nothing"
    difference = abs(float(got) - expected) % 360.0
    if min(difference, 360.0 - difference) > COURSE_TOLERANCE_DEG:
        return f"course: expected {expected}, got {got}"
    return None


def compare_fix(expected: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """Mismatches between gpsd's TPV ``expected`` and our position ``got``; an empty list means they agree.

    Time of day must be equal to the millisecond and the date equal (or off by whole GPS week eras, see
    ``GPS_WEEK_ERA``); the fix mode must agree; lat/lon within 1e-6 degrees; speed, course and altitude are
    compared wherever gpsd reports them.
    """
    problems: list[str] = []
    got_time = got.get("time")
    if got_time is None:
        problems.append("time: missing")
    else:
        expected_at, got_at = _parse_iso(expected["time"]), _parse_iso(got_time)
        if time_of_day_key(expected["time"]) != time_of_day_key(got_time):
            problems.append(f"time of day: expected {expected['time']}, got {got_time}")
        date_problem = _date_mismatch(expected_at.date(), got_at.date())
        if date_problem:
            problems.append(date_problem)
    expected_fix = GPSD_MODES.get(expected.get("mode", 0), "none")
    if got.get("fix") != expected_fix:
        problems.append(f"fix: expected {expected_fix} (mode {expected.get('mode')}), got {got.get('fix')}")
    checks: list[str | None] = []
    if "lat" in expected and "lon" in expected:
        checks.append(_close("lat", expected["lat"], got.get("lat"), LATLON_TOLERANCE_DEG))
        checks.append(_close("lon", expected["lon"], got.get("lon"), LATLON_TOLERANCE_DEG))
    altitude = expected.get("altMSL", expected.get("alt"))
    if altitude is not None:
        checks.append(_close("alt_m", altitude, got.get("alt_m"), ALTITUDE_TOLERANCE_M))
    if "speed" in expected:
        checks.append(_close("speed_mps", expected["speed"], got.get("speed_mps"), SPEED_TOLERANCE_MPS))
    if "track" in expected:
        checks.append(_course_close(expected["track"], got.get("course_deg")))
    problems.extend(problem for problem in checks if problem)
    return problems
