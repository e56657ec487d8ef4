"""Recorded receiver logs from gpsd's regression suite, replayed through NmeaProtocol, checked against gpsd.

For every epoch gpsd reports with a fix (mode >= 2), we must have a fix with the same time of day, position
within 1e-6 degrees, speed, course, altitude and fix mode (see ``tests/gpsd_chk.compare_fix``; dates are
compared except where gpsd applied its week-rollover guess). Where gpsd is arguably wrong, the exception is
listed in ``GPSD_DISAGREEMENTS`` with what we report instead, so the rest of the comparison stays strict.

nmea-fuzzy-cases.log (Trimble RTK output with sub-second epochs, 8-decimal minutes and a GP -> GN talker
switch mid-stream: the cases that once made gpsd's floating-point time arithmetic slip) matches gpsd exactly:
times are parsed from their digits, not through floats, and epochs are grouped by exact time of day.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.protocols.nmea import GnssFix, NmeaProtocol
from tests.gpsd_chk import compare_fix, gpsd_epochs, time_of_day_key

pytestmark = pytest.mark.recorded

LOGS = ["bu353s4", "garmin15x", "mt3339", "neo-m8n", "nmea-fuzzy-cases", "quectel-L70", "sl869"]

# (log, gpsd time) -> (what gpsd reports, what we report, why we differ)
GPSD_DISAGREEMENTS: dict[tuple[str, str], dict[str, str]] = {
    # At these two epochs the Telit SL869 says, in all three GNGSAs, "A,2": a 2D fix from three satellites
    # (PRNs 10, 17, 12; GGA also says 03), with DOPs of 99.0. gpsd reports mode 3 because GGA carried an
    # altitude; three satellites cannot give a 3D solution, and the receiver says so. One epoch earlier
    # (10:21:43.000, same satellites) gpsd itself reports mode 2. We follow the receiver's GSA.
    ("sl869", "2012-11-25T10:21:43.990Z"): {"field": "fix", "gpsd": "3d", "ours": "2d"},
    ("sl869", "2012-11-25T10:21:44.000Z"): {"field": "fix", "gpsd": "3d", "ours": "2d"},
}

# Input we drop on purpose. sl869.log has the receiver's banner "$GPTXT,TELIT SW Version: ..." without a
# checksum; a sentence we would ignore anyway, but unchecked lines are never trusted.
KNOWN_DROPS: dict[str, dict[str, int]] = {"sl869": {"no_checksum": 1}}


def replay(log: Path) -> tuple[list[GnssFix], NmeaProtocol]:
    """Feed a gpsd log through the protocol; ``#`` lines are the log's comment header, not receiver output."""
    data = b"".join(row for row in log.read_bytes().splitlines(keepends=True) if not row.startswith(b"#"))
    protocol = NmeaProtocol()
    fixes = protocol.receive_data(data) + protocol.flush()
    return fixes, protocol


def as_payload(fix: GnssFix) -> dict[str, Any]:
    return fix.as_dict()


@pytest.mark.parametrize("name", LOGS)
def test_log_matches_gpsd(gpsd_data: Path, name: str) -> None:
    log = gpsd_data / f"{name}.log"
    fixes, protocol = replay(log)
    assert dict(protocol.drops) == KNOWN_DROPS.get(name, {})
    assert protocol.valid_seen
    ours: dict[str, list[dict[str, Any]]] = {}
    for fix in fixes:
        payload = as_payload(fix)
        if payload["time"] is not None:
            ours.setdefault(time_of_day_key(payload["time"]), []).append(payload)
    expected = {
        when: tpv for when, tpv in gpsd_epochs(log.with_name(log.name + ".chk")).items() if tpv["mode"] >= 2
    }
    assert expected, f"{name}: no gpsd epochs with a fix"
    problems: list[str] = []
    for when, tpv in expected.items():
        matches = ours.get(time_of_day_key(when), [])
        if len(matches) != 1:
            problems.append(f"{when}: expected one fix, got {len(matches)}")
            continue
        got = matches[0]
        disagreement = GPSD_DISAGREEMENTS.get((name, when))
        if disagreement is not None:
            assert got[disagreement["field"]] == disagreement["ours"], f"{name} {when}: known case changed"
            gpsd_value = {"2d": 2, "3d": 3}[disagreement["gpsd"]]
            assert tpv["mode"] == gpsd_value
            tpv = {**tpv, "mode": {"2d": 2, "3d": 3}[disagreement["ours"]]}
        problems.extend(f"{when}: {problem}" for problem in compare_fix(tpv, got))
    assert not problems, f"{name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", LOGS)
def test_every_dated_fix_we_report_is_an_epoch_gpsd_reported(gpsd_data: Path, name: str) -> None:
    log = gpsd_data / f"{name}.log"
    fixes, _ = replay(log)
    gpsd_times = {time_of_day_key(when) for when in gpsd_epochs(log.with_name(log.name + ".chk"))}
    ours = [fix.as_dict()["time"] for fix in fixes if fix.fix != "none" and fix.date is not None]
    # The last epoch of a log is cut off before gpsd saw its end, so gpsd never reported it; we flush it.
    extra = [when for when in ours[:-1] if time_of_day_key(when) not in gpsd_times]
    assert not extra


def test_sl869_no_fix_epochs_carry_no_position(gpsd_data: Path) -> None:
    fixes, _ = replay(gpsd_data / "sl869.log")
    none = [fix for fix in fixes if fix.fix == "none"]
    assert len(none) == 7  # 10:21:36 .. 10:21:42, where gpsd reports mode 1
    assert all(fix.lat is None and fix.lon is None and fix.alt_m is None for fix in none)


def test_neo_m8n_dates_are_the_receivers_not_gpsds_rollover_guess(gpsd_data: Path) -> None:
    fixes, _ = replay(gpsd_data / "neo-m8n.log")
    dates = {fix.date for fix in fixes if fix.date is not None}
    assert {str(day) for day in dates} == {"2015-03-18"}  # RMC 180315; gpsd says 2034-11-01
