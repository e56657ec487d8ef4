"""NMEA protocol: table-driven wire cases (bytes in -> fixes or counted drops), decoding, epoch grouping.

Every wire case is fed whole and byte by byte, and must give identical fixes and drop counts both ways.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, date, time
from typing import Any

import pytest

from gateway.errors import NmeaError
from gateway.protocols.nmea import (
    RECENT_LINES,
    DroppedLine,
    GnssFix,
    NmeaLineError,
    NmeaProtocol,
    decode_lines,
    decode_sentence,
)

# ------------------------------------------------------------------------------------------------ helpers


def checksum(body: str) -> int:
    value = 0
    for byte in body.encode("ascii"):
        value ^= byte
    return value


def line(body: str, *, ending: bytes = b"\r\n", lower: bool = False) -> bytes:
    """``$body*HH`` plus a line ending, with a correct checksum."""
    digits = f"{checksum(body):02x}" if lower else f"{checksum(body):02X}"
    return f"${body}*{digits}".encode("ascii") + ending


def lines(*bodies: str) -> bytes:
    return b"".join(line(body) for body in bodies)


def run(
    data: bytes, chunks: Iterable[bytes] | None = None
) -> tuple[list[GnssFix], Counter[str], NmeaProtocol]:
    """Feed ``data`` (or the given chunks of it), then flush; return fixes, drop counts and the protocol."""
    protocol = NmeaProtocol()
    fixes: list[GnssFix] = []
    for chunk in chunks if chunks is not None else [data]:
        fixes.extend(protocol.receive_data(chunk))
    fixes.extend(protocol.flush())
    return fixes, protocol.drops, protocol


def byte_by_byte(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def utc(text: str) -> time:
    return time.fromisoformat(text).replace(tzinfo=UTC)


def summary(fix: GnssFix) -> dict[str, Any]:
    """The fields a wire case states: time of day, position (rounded), fix kind."""
    return {
        "time": None if fix.time_of_day is None else fix.time_of_day.isoformat("milliseconds")[:12],
        "lat": None if fix.lat is None else round(fix.lat, 6),
        "lon": None if fix.lon is None else round(fix.lon, 6),
        "fix": fix.fix,
    }


GGA_A = "GPGGA,123519.00,4807.038,N,01131.324,E,1,08,0.9,545.4,M,46.9,M,,"
RMC_A = "GPRMC,123519.00,A,4807.038,N,01131.324,E,022.4,084.4,230394,003.1,W"
GGA_B = "GPGGA,123520.00,4807.040,N,01131.330,E,1,08,0.9,545.6,M,46.9,M,,"
RMC_B = "GPRMC,123520.00,A,4807.040,N,01131.330,E,022.5,084.6,230394,003.1,W"
FIX_A = {"time": "12:35:19.000", "lat": 48.1173, "lon": 11.522067, "fix": "3d"}
FIX_B = {"time": "12:35:20.000", "lat": 48.117333, "lon": 11.522167, "fix": "3d"}
GOOD_A = lines(GGA_A, RMC_A)
GOOD_B = lines(GGA_B, RMC_B)
GOOD = GOOD_A + GOOD_B

# (name, input bytes, expected fixes, expected drops)
WIRE_CASES: list[tuple[str, bytes, list[dict[str, Any]], dict[str, int]]] = [
    ("clean", GOOD, [FIX_A, FIX_B], {}),
    ("binary noise before", b"\x00\xff\xfe\x81\x13" + GOOD, [FIX_A, FIX_B], {"garbage": 1}),
    ("binary noise between lines", GOOD_A + b"\xde\xad\xbe\xef\r\n" + GOOD_B, [FIX_A, FIX_B], {"garbage": 1}),
    (
        "binary noise inside a frame",
        line(GGA_A)[:20] + b"\xff\x00" + line(GGA_A)[20:] + GOOD_B,
        [FIX_B],
        {"garbage": 1},
    ),
    (
        "broken checksum",
        line(GGA_A)[:-4] + b"00\r\n" + line(RMC_A) + GOOD_B,
        [{**FIX_A, "fix": "2d"}, FIX_B],
        {"checksum": 1},
    ),
    ("non-hex checksum", line(GGA_A)[:-4] + b"ZZ\r\n" + GOOD_B, [FIX_B], {"checksum": 1}),
    ("one-digit checksum", line(GGA_A)[:-3] + b"\r\n" + GOOD_B, [FIX_B], {"checksum": 1}),
    ("missing checksum", b"$" + GGA_A.encode() + b"\r\n" + GOOD_B, [FIX_B], {"no_checksum": 1}),
    ("truncated line followed by a good one", line(GGA_A)[:25] + GOOD_B, [FIX_B], {"truncated": 1}),
    ("truncated line ended by a line end", line(GGA_A)[:25] + b"\r\n" + GOOD_B, [FIX_B], {"no_checksum": 1}),
    ("over-long line", b"$GPGGA," + b"1" * 2000 + b"*00\r\n" + GOOD, [FIX_A, FIX_B], {"too_long": 1}),
    ("over-long garbage without line end", b"x" * 5000 + GOOD, [FIX_A, FIX_B], {"garbage": 1}),
    (
        "$ inside garbage",
        b"\x13\x80$\x81\x82$$\r\n" + GOOD,
        [FIX_A, FIX_B],
        {"garbage": 2, "truncated": 1, "no_checksum": 1},
    ),
    ("$ inside binary junk followed by a frame", b"\x80$\x81" + GOOD, [FIX_A, FIX_B], {"garbage": 2}),
    (
        "CR-only endings",
        b"".join(line(b, ending=b"\r") for b in (GGA_A, RMC_A, GGA_B, RMC_B)),
        [FIX_A, FIX_B],
        {},
    ),
    (
        "LF-only endings",
        b"".join(line(b, ending=b"\n") for b in (GGA_A, RMC_A, GGA_B, RMC_B)),
        [FIX_A, FIX_B],
        {},
    ),
    ("blank lines", b"\r\n\r\n" + GOOD_A + b"\n\n\r" + GOOD_B, [FIX_A, FIX_B], {}),
    (
        "lowercase hex checksum",
        b"".join(line(b, lower=True) for b in (GGA_A, RMC_A, GGA_B, RMC_B)),
        [FIX_A, FIX_B],
        {},
    ),
    ("unparsable address", line("G,1,2") + line("GPGGA") + GOOD, [FIX_A, FIX_B], {"unparsable": 2}),
    (
        "bad latitude",
        line(GGA_A.replace("4807.038", "48x7.038")) + line(RMC_A) + GOOD_B,
        [{**FIX_A, "fix": "2d"}, FIX_B],
        {"bad_field": 1},
    ),
    ("minutes over 60", line(GGA_A.replace("4807.038", "4867.038")) + GOOD_B, [FIX_B], {"bad_field": 1}),
    ("bad time", line(GGA_A.replace("123519.00", "253519.00")) + GOOD_B, [FIX_B], {"bad_field": 1}),
    ("nan altitude", line(GGA_A.replace("545.4", "nan")) + GOOD_B, [FIX_B], {"bad_field": 1}),
    ("bad date", line(RMC_A.replace("230394", "320394")) + GOOD_B, [FIX_B], {"bad_field": 1}),
    ("position without hemisphere", line(RMC_A.replace(",N,", ",,")) + GOOD_B, [FIX_B], {"bad_field": 1}),
    (
        "ignored sentences",
        lines("GPGSV,1,1,01,05,20,023,39", "GPTXT,01,01,02,ANTSTATUS=OK", "PGRME,7.6,M,41.7,M") + GOOD,
        [FIX_A, FIX_B],
        {},
    ),
]


@pytest.mark.parametrize(
    ("data", "expected", "drops"), [c[1:] for c in WIRE_CASES], ids=[c[0] for c in WIRE_CASES]
)
def test_wire_case_whole_and_byte_by_byte(
    data: bytes, expected: list[dict[str, Any]], drops: dict[str, int]
) -> None:
    whole_fixes, whole_drops, _ = run(data)
    split_fixes, split_drops, _ = run(data, byte_by_byte(data))
    assert [summary(fix) for fix in whole_fixes] == expected
    assert dict(whole_drops) == drops
    assert split_fixes == whole_fixes
    assert split_drops == whole_drops


# ------------------------------------------------------------------------------------------------ sentences

TALKERS = ["GP", "GN", "GL", "GA", "GB", "BD", "GQ"]


@pytest.mark.parametrize("talker", TALKERS)
def test_every_talker_gives_a_fix(talker: str) -> None:
    data = lines(
        f"{talker}GGA,101010.50,3340.8472,S,15117.3205,E,1,05,1.2,64.2,M,22.4,M,,",
        f"{talker}RMC,101010.50,A,3340.8472,S,15117.3205,E,10.0,271.5,251112,,,A",
    )
    [fix], drops, protocol = run(data)
    assert not drops
    assert protocol.sentences == 2
    assert fix.time_of_day == utc("10:10:10.500")
    assert fix.date == date(2012, 11, 25)
    assert fix.lat == pytest.approx(-(33 + 40.8472 / 60), abs=1e-9)
    assert fix.lon == pytest.approx(151 + 17.3205 / 60, abs=1e-9)
    assert fix.fix == "3d"
    assert fix.alt_m == 64.2
    assert fix.sats == 5
    assert fix.hdop == 1.2
    assert fix.speed_mps == pytest.approx(10.0 * 1852 / 3600)
    assert fix.course_deg == 271.5


@pytest.mark.parametrize(
    ("lat", "lat_dir", "lon", "lon_dir", "expected"),
    [
        ("4807.038", "N", "01131.324", "E", (48.1173, 11.5220667)),
        ("3747.0873", "S", "17518.8938", "E", (-37.7847883, 175.3148967)),
        ("4404.1306", "N", "12118.8515", "W", (44.0688433, -121.3141917)),
        ("3340.8472", "S", "07017.3205", "W", (-33.6807867, -70.2886750)),
        ("0000.000", "N", "00000.000", "E", (0.0, 0.0)),
        ("8959.999", "S", "17959.999", "W", (-89.9999833, -179.9999833)),
    ],
    ids=["NE", "SE", "NW", "SW", "origin", "near-pole-antimeridian"],
)
def test_hemispheres(lat: str, lat_dir: str, lon: str, lon_dir: str, expected: tuple[float, float]) -> None:
    [fix], _, _ = run(line(f"GPGLL,{lat},{lat_dir},{lon},{lon_dir},120000.00,A,A"))
    assert (fix.lat, fix.lon) == pytest.approx(expected, abs=1e-7)
    assert fix.fix == "2d"


def test_gns_gll_vtg_gsa_zda_merge_into_one_fix() -> None:
    data = lines(
        "GNGNS,090000.00,5130.000,N,00007.500,W,AAN,10,0.8,35.2,47.0,,",
        "GNGLL,5130.000,N,00007.500,W,090000.00,A,A",
        "GNVTG,45.0,T,,M,,N,36.0,K,A",
        "GNGSA,A,3,01,02,03,04,05,06,,,,,,,1.5,0.8,1.2",
        "GNGSA,A,3,65,66,67,68,,,,,,,,,1.5,0.8,1.2",
        "GNZDA,090000.00,07,05,2024,00,00",
    )
    [fix], drops, _ = run(data)
    assert not drops
    assert (fix.time_of_day, fix.date) == (utc("09:00:00"), date(2024, 5, 7))
    assert (fix.lat, fix.lon) == pytest.approx((51.5, -0.125))
    assert (fix.alt_m, fix.course_deg, fix.fix, fix.sats, fix.hdop) == (35.2, 45.0, "3d", 10, 0.8)
    assert fix.speed_mps == pytest.approx(10.0)


def test_vtg_knots_when_no_kmh_and_gsa_counts_sats_when_no_gga() -> None:
    data = lines(
        "GPRMC,080000,A,1000.000,N,02000.000,E,,,010124,,,A",
        "GPVTG,350.0,T,,M,2.0,N,,K,A",
        "GPGSA,A,2,01,02,03,,,,,,,,,,2.5,2.1,1.3",
        "GLGSA,A,2,70,71,,,,,,,,,,,2.5,2.1,1.3",
    )
    [fix], _, _ = run(data)
    assert fix.speed_mps == pytest.approx(2.0 * 1852 / 3600)
    assert fix.course_deg == 350.0
    assert fix.fix == "2d"
    assert fix.sats == 5
    assert fix.hdop == 2.1
    assert fix.alt_m is None


def test_gga_altitude_from_three_satellites_is_2d() -> None:
    [fix], _, _ = run(line("GPGGA,080000,1000.000,N,02000.000,E,1,03,2.0,100.0,M,,M,,"))
    assert fix.fix == "2d"
    assert fix.alt_m == 100.0


INVALID_FIX_CASES = {
    "RMC status V": ["GPRMC,120000,V,4807.038,N,01131.324,E,0.0,0.0,230394,,"],
    "GGA quality 0": ["GPGGA,120000,4807.038,N,01131.324,E,0,02,99.0,545.4,M,46.9,M,,"],
    "GSA mode 1": [
        "GPRMC,120000,A,4807.038,N,01131.324,E,0.0,0.0,230394,,",
        "GPGSA,A,1,,,,,,,,,,,,,99.0,99.0,99.0",
    ],
    "GLL status V": ["GPGLL,4807.038,N,01131.324,E,120000,V,N"],
    "RMC mode indicator N": ["GPRMC,120000,A,4807.038,N,01131.324,E,0.0,0.0,230394,,,N"],
    "GNS mode NN": ["GNGNS,120000,4807.038,N,01131.324,E,NN,00,,545.4,46.9,,"],
    "VTG mode N": [
        "GPRMC,120000,A,4807.038,N,01131.324,E,0.0,0.0,230394,,",
        "GPVTG,0.0,T,,M,0.0,N,0.0,K,N",
    ],
    "empty RMC": ["GPRMC,120000,V,,,,,,,230394,,,N"],
}


@pytest.mark.parametrize("bodies", INVALID_FIX_CASES.values(), ids=INVALID_FIX_CASES.keys())
def test_invalid_fix_is_none_without_position(bodies: list[str]) -> None:
    [fix], drops, _ = run(lines(*bodies))
    assert not drops
    assert fix.fix == "none"
    assert (fix.lat, fix.lon, fix.alt_m, fix.speed_mps, fix.course_deg) == (None, None, None, None, None)
    assert fix.time_of_day == utc("12:00:00")


def test_absent_values_are_none_not_zero() -> None:
    [fix], _, _ = run(line("GPGLL,4807.038,N,01131.324,E,120000,A,A"))
    assert (fix.alt_m, fix.speed_mps, fix.course_deg, fix.sats, fix.hdop, fix.date) == (None,) * 6
    assert fix.timestamp is None


def test_invalid_dops_are_absent() -> None:
    [fix], _, _ = run(line("GPGGA,120000,4807.038,N,01131.324,E,1,04,99.99,545.4,M,46.9,M,,"))
    assert fix.hdop is None
    assert fix.fix == "3d"


@pytest.mark.parametrize(
    "body",
    [
        "GPGSV,3,1,11,02,60,319,36",
        "GPTXT,01,01,02,u-blox",
        "PGRME,7.6,M,41.7,M,42.4,M",
        "PUBX,00,081350.00",
        "QZGSV,1,1,01,193,34,332,,",
    ],
)
def test_unused_sentences_are_ignored(body: str) -> None:
    assert decode_sentence(body) is None
    _, drops, protocol = run(line(body))
    assert protocol.ignored == 1
    assert protocol.sentences == 0
    assert not drops


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("GP", "unparsable"),
        ("gpgga,1,2", "unparsable"),
        ("GPGGA*1", "unparsable"),
        ("GPRMC,120000,X,4807.038,N,01131.324,E,,,230394,,", "bad_field"),
        ("GPRMC,120000,A,4807.038,N,01131.324,E,-1.0,,230394,,", "bad_field"),
        ("GPRMC,120000,A,4807.038,N,01131.324,E,1.0,361,230394,,", "bad_field"),
        ("GPRMC,120000,A,9107.038,N,01131.324,E,1.0,36,230394,,", "bad_field"),
        ("GPRMC,120000,A,4807.038,N,18131.324,E,1.0,36,230394,,", "bad_field"),
        ("GPRMC,120060,A,4807.038,N,01131.324,E,1.0,36,230394,,", "bad_field"),
        ("GPGGA,120000,4807.038,N,01131.324,E,one,08,0.9,545.4,M,46.9,M,,", "bad_field"),
        ("GPGGA,120000,4807.038,N,01131.324,E,1,08,0.9,545.4,F,46.9,M,,", "bad_field"),
        ("GPGGA,120000,4807.038,N,01131.324,E,1,08,inf,545.4,M,46.9,M,,", "bad_field"),
        ("GPRMC,120000,A,4807.038,N,01131.324,E," + "9" * 320 + ",36,230394,,", "bad_field"),
        ("GPGSA,A,7,,,,,,,,,,,,,1,1,1", "bad_field"),
        ("GPZDA,120000,31,02,2024,,", "bad_field"),
        ("GPVTG,10,T,,M,1,N,1,K,?", "bad_field"),
    ],
)
def test_bad_sentences_raise_nmea_error_with_reason(body: str, reason: str) -> None:
    with pytest.raises(NmeaLineError) as caught:
        decode_sentence(body)
    assert caught.value.reason == reason
    assert isinstance(caught.value, NmeaError)
    _, drops, protocol = run(line(body))
    assert dict(drops) == {reason: 1}
    assert protocol.sentences == 0


def test_fractional_seconds_are_exact() -> None:
    [fix], _, _ = run(line("GPRMC,132820.60,A,4134.49821229,N,09345.03351845,W,3.252,92.308,180320,,,D"))
    assert fix.time_of_day == utc("13:28:20.600000")
    assert fix.lat == pytest.approx(41.574970205, abs=1e-9)
    assert fix.lon == pytest.approx(-93.750558641, abs=1e-9)


def test_two_digit_years_pivot_at_1980() -> None:
    [old], _, _ = run(line("GPRMC,120000,A,4807.038,N,01131.324,E,,,311299,,"))
    [new], _, _ = run(line("GPRMC,120000,A,4807.038,N,01131.324,E,,,010179,,"))
    assert old.date == date(1999, 12, 31)
    assert new.date == date(2079, 1, 1)


# ------------------------------------------------------------------------------------------------ epochs


def test_epoch_emitted_when_the_time_changes() -> None:
    protocol = NmeaProtocol()
    assert protocol.receive_data(GOOD_A) == []
    [first] = protocol.receive_data(line(GGA_B))
    assert summary(first) == FIX_A
    assert first.speed_mps == pytest.approx(22.4 * 1852 / 3600)
    assert first.course_deg == 84.4
    assert first.date == date(1994, 3, 23)
    assert protocol.receive_data(line(RMC_B)) == []
    [second] = protocol.flush()
    assert summary(second) == FIX_B
    assert protocol.flush() == []
    assert protocol.fixes == 2


def cycle(second: int) -> bytes:
    stamp = f"1200{second:02d}.00"
    return lines(
        f"GPGGA,{stamp},4807.038,N,01131.324,E,1,08,0.9,545.4,M,46.9,M,,",
        "GPGSA,A,3,01,02,03,04,05,06,07,08,,,,,1.5,0.9,1.2",
        "GPGSV,2,1,08,01,40,083,46,02,17,308,41,12,07,344,39,14,22,228,45",
        f"GPRMC,{stamp},A,4807.038,N,01131.324,E,0.0,,230394,,,A",
    )


def test_learned_cycle_end_emits_without_waiting_for_the_next_epoch() -> None:
    protocol = NmeaProtocol()
    assert protocol.receive_data(cycle(0)) == []  # nothing learned yet: wait for the time to change
    assert [f.time_of_day for f in protocol.receive_data(cycle(1))] == [utc("12:00:00")]
    # The GGA at 12:00:02 closes the second epoch ending in RMC: from now on RMC ends an epoch at once,
    # so this cycle's own RMC already brings its fix.
    fixes = protocol.receive_data(cycle(2))
    assert [f.time_of_day for f in fixes] == [utc("12:00:01"), utc("12:00:02")]
    assert protocol.cycle_end == ("RMC", 1)
    for second in range(3, 6):
        [fix] = protocol.receive_data(cycle(second))
        assert fix.time_of_day == utc(f"12:00:{second:02d}")
    assert protocol.flush() == []  # already out


def test_cycle_end_counts_repeated_sentence_types() -> None:
    def sl869_cycle(second: int) -> bytes:
        stamp = f"1021{second:02d}.000"
        return lines(
            f"GPRMC,{stamp},A,3340.8097,S,15117.4692,E,0.3,311.5,251112,0.0,W",
            f"GPGGA,{stamp},3340.8097,S,15117.4692,E,1,05,2.0,077.22,M,22.4,M,,",
            "GNGSA,A,3,10,17,12,24,09,,,,,,,,3.7,2.0,3.1",
            "GNGSA,A,3,,,,,,,,,,,,,3.7,2.0,3.1",
            "GNGSA,A,3,,,,,,,,,,,,,3.7,2.0,3.1",
        )

    protocol = NmeaProtocol()
    fixes = [fix for second in range(10, 14) for fix in protocol.receive_data(sl869_cycle(second))]
    assert protocol.cycle_end == ("GSA", 3)
    assert [fix.time_of_day for fix in fixes] == [utc(f"10:21:{s}") for s in (10, 11, 12, 13)]
    assert all(fix.fix == "3d" and fix.sats == 5 for fix in fixes)


def test_relearns_when_the_cycle_grows() -> None:
    protocol = NmeaProtocol()
    short = [lines(f"GPGGA,1200{s:02d},4807.038,N,01131.324,E,1,08,0.9,545.4,M,,M,,") for s in range(3)]
    for chunk in short:
        protocol.receive_data(chunk)
    assert protocol.cycle_end == ("GGA", 1)
    for second in range(3, 7):
        protocol.receive_data(cycle(second))
    assert protocol.cycle_end == ("RMC", 1)


def test_sentences_after_an_early_emit_do_not_emit_twice() -> None:
    protocol = NmeaProtocol()
    protocol.receive_data(GOOD_A)
    [fix] = protocol.flush()
    assert fix.time_of_day == utc("12:35:19")
    assert protocol.receive_data(lines("GPVTG,84.4,T,,M,22.4,N,41.5,K,A")) == []
    assert protocol.flush() == []
    [nxt] = protocol.receive_data(GOOD_B) + protocol.flush()
    assert nxt.time_of_day == utc("12:35:20")


def test_timeless_sentences_join_the_epoch_in_hand() -> None:
    data = lines("GPGSA,A,2,01,02,03,,,,,,,,,,2.5,2.1,1.3", GGA_A, "GPVTG,1.0,T,,M,,N,,K,A")
    [fix], _, _ = run(data)
    assert fix.time_of_day == utc("12:35:19")
    assert fix.fix == "2d"  # from the GSA, though GGA has an altitude
    assert fix.course_deg == 1.0


def test_receiver_without_a_clock_still_gives_one_fix_per_cycle() -> None:
    data = lines("GPGGA,,,,,,0,00,99.99,,,,,,", "GPRMC,,V,,,,,,,,,,N") * 3
    fixes, drops, _ = run(data)
    assert not drops
    assert len(fixes) == 3
    assert all(fix.fix == "none" and fix.time_of_day is None and fix.lat is None for fix in fixes)


def test_epoch_without_position_sentences_gives_no_fix() -> None:
    fixes, _, protocol = run(lines("GPZDA,120000,01,01,2024,,", "GPZDA,120001,01,01,2024,,"))
    assert fixes == []
    assert protocol.sentences == 2


def test_date_from_zda_when_no_rmc() -> None:
    [fix], _, _ = run(lines(GGA_A, "GPZDA,123519.00,29,02,2024,00,00"))
    assert fix.date == date(2024, 2, 29)
    assert fix.timestamp is not None
    assert fix.timestamp.isoformat() == "2024-02-29T12:35:19+00:00"


RMC_NO_CLOCK = "GPRMC,,V,,,,,,,,,,N"  # a receiver at cold start: no time, no fix
GGA_NO_CLOCK = "GPGGA,,,,,,0,00,99.99,,,,,,"
CLOCKLESS = {
    "time": None,
    "lat": None,
    "lon": None,
    "fix": "none",
    "date": None,
    "knots": None,
    "course": None,
}
FULL_A = {**FIX_A, "date": date(1994, 3, 23), "knots": 22.4, "course": 84.4}
FULL_B = {**FIX_B, "date": date(1994, 3, 23), "knots": 22.5, "course": 84.6}


def in_full(fix: GnssFix) -> dict[str, Any]:
    """``summary`` plus what the RMC of the epoch adds: date, speed (knots) and course."""
    knots = None if fix.speed_mps is None else round(fix.speed_mps * 3600 / 1852, 1)
    return {**summary(fix), "date": fix.date, "knots": knots, "course": fix.course_deg}


# (name, bursts of sentences as a receiver writes them, expected fixes)
CLOCKLESS_CASES: list[tuple[str, list[list[str]], list[dict[str, Any]]]] = [
    (
        "timeless GGA, then the first fix",
        [[GGA_NO_CLOCK], ["GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"]],
        [CLOCKLESS, {**CLOCKLESS, "time": "12:35:19.000", "lat": 48.1173, "lon": 11.516667, "fix": "3d"}],
    ),
    (
        "timeless RMC and GGA, then timed pairs",
        [[RMC_NO_CLOCK, GGA_NO_CLOCK], [RMC_A, GGA_A], [RMC_B, GGA_B]],
        [CLOCKLESS, FULL_A, FULL_B],
    ),
    (
        "clockless cycles long enough to learn their end, then timed ones",
        [[GGA_NO_CLOCK, RMC_NO_CLOCK] * 3, [GGA_A, RMC_A], [GGA_B, RMC_B]],
        [CLOCKLESS, CLOCKLESS, CLOCKLESS, FULL_A, FULL_B],
    ),
]


@pytest.mark.parametrize(
    ("bursts", "expected"), [c[1:] for c in CLOCKLESS_CASES], ids=[c[0] for c in CLOCKLESS_CASES]
)
def test_timeless_sentences_never_swallow_a_timed_fix(
    bursts: list[list[str]], expected: list[dict[str, Any]]
) -> None:
    data = b"".join(lines(*burst) for burst in bursts)
    whole_fixes, whole_drops, _ = run(data)
    split_fixes, _, _ = run(data, byte_by_byte(data))
    idle = NmeaProtocol()  # the line goes idle after each burst, and the daemon flushes
    idle_fixes = [fix for burst in bursts for fix in idle.receive_data(lines(*burst)) + idle.flush()]
    assert [in_full(fix) for fix in whole_fixes] == expected
    assert not whole_drops
    assert split_fixes == whole_fixes
    assert idle_fixes == whole_fixes


def test_fix_after_an_idle_line_is_not_swallowed_by_the_timeless_sentences_before() -> None:
    protocol = NmeaProtocol()
    assert protocol.receive_data(lines("GPGSA,A,1,,,,,,,,,,,,,99.0,99.0,99.0", "GPVTG,,T,,M,,N,,K,N")) == []
    assert protocol.flush() == []  # the line went idle: that epoch is over, and had no position
    fixes = protocol.receive_data(GOOD_A) + protocol.flush()
    assert [in_full(fix) for fix in fixes] == [FULL_A]


def test_cycle_growing_past_its_learned_end_is_relearned() -> None:
    def pair(second: int, *extra: str) -> bytes:
        stamp = f"1200{second:02d}"
        return lines(
            f"GPRMC,{stamp},A,4807.038,N,01131.324,E,0.0,,230394,,,A",
            f"GPGGA,{stamp},4807.038,N,01131.324,E,1,08,2.0,545.4,M,46.9,M,,",
            *extra,
        )

    gsa_2d = "GPGSA,A,2,01,02,03,,,,,,,,,,2.5,2.0,1.3"
    data = b"".join(pair(second) for second in range(3)) + b"".join(pair(s, gsa_2d) for s in range(3, 6))
    protocol = NmeaProtocol()
    fixes = protocol.receive_data(data) + protocol.flush()
    assert [fix.time_of_day for fix in fixes] == [utc(f"12:00:0{second}") for second in range(6)]
    # 12:00:03 went out on its GGA, the learned end, before its GSA came: too late for that fix, but from
    # then on epochs wait for their GSA, which says 2D although GGA has an altitude.
    assert [fix.fix for fix in fixes] == ["3d"] * 4 + ["2d"] * 2
    assert protocol.cycle_end == ("GSA", 1)


# ------------------------------------------------------------------------------------------------ counters


def test_counters_ring_buffer_and_valid_seen() -> None:
    protocol = NmeaProtocol()
    protocol.receive_data(b"\xff\xfe garbage\r\n")
    assert not protocol.valid_seen
    protocol.receive_data(line(GGA_A)[:-4] + b"00\r\n")
    assert not protocol.valid_seen
    protocol.receive_data(line("GPGSV,1,1,01,05,20,023,39"))
    assert protocol.valid_seen  # any checksummed sentence proves the baud rate
    for _ in range(20):
        protocol.receive_data(GOOD)
    assert protocol.ignored == 1
    assert protocol.sentences == 80
    assert dict(protocol.drops) == {"garbage": 1, "checksum": 1}
    assert len(protocol.recent) == RECENT_LINES
    assert protocol.recent[-1] == line(RMC_B).rstrip(b"\r\n")


def test_max_line_bytes_from_the_constructor() -> None:
    long_body = GGA_A + ",EXTRA" * 20  # a 200-byte sentence: legal below a 256 cap, too long for 100
    data = line(long_body)
    assert NmeaProtocol(max_line_bytes=256).receive_data(data) == []
    capped = NmeaProtocol(max_line_bytes=100)
    capped.receive_data(data)
    assert dict(capped.drops) == {"too_long": 1}
    assert capped.receive_events(b"$" + b"A" * 150) == [DroppedLine("too_long", b"$" + b"A" * 99)]


# ------------------------------------------------------------------------------------------------ events


def test_fix_is_frozen() -> None:
    [fix], _, _ = run(GOOD_A)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fix.lat = 0.0  # type: ignore[misc]


FIX_FIELDS: dict[str, Any] = {
    "time_of_day": utc("12:00:00"),
    "date": date(2024, 1, 1),
    "lat": 1.0,
    "lon": 2.0,
    "alt_m": 3.0,
    "speed_mps": 4.0,
    "course_deg": 5.0,
    "fix": "3d",
    "sats": 6,
    "hdop": 0.7,
}


@pytest.mark.parametrize(
    "changes",
    [
        {"lat": 91.0},
        {"lon": -180.5},
        {"lat": None},
        {"fix": "none"},
        {"fix": "4d"},
        {"lat": None, "lon": None},
        {"speed_mps": -1.0},
        {"course_deg": 360.0},
        {"alt_m": float("nan")},
        {"sats": -1},
        {"time_of_day": time(12, 0)},
    ],
)
def test_fix_is_validated_at_construction(changes: dict[str, Any]) -> None:
    GnssFix(**FIX_FIELDS)
    with pytest.raises(ValueError):
        GnssFix(**{**FIX_FIELDS, **changes})


def test_decode_lines_yields_fixes_and_drops() -> None:
    captured: list[str | bytes] = [
        line("GPGSV,1,1,01,05,20,023,39"),
        line(GGA_A).decode().rstrip(),
        line(RMC_A)[:-4] + b"00",
        line(RMC_A).decode(),
        "garbage here",
        line(GGA_B),
    ]
    items = list(decode_lines(captured))
    assert items[0] == {"error": "checksum", "line": line(RMC_A)[:-4].decode() + "00"}
    assert items[1] == {"error": "garbage", "line": "garbage here"}
    assert items[2]["time"] == "1994-03-23T12:35:19.000Z"
    assert items[2]["fix"] == "3d"
    assert items[2]["lat"] == pytest.approx(48.1173)
    assert items[3]["time"] is None  # the last GGA alone: no date in its epoch
    assert items[3]["time_of_day"] == "12:35:20+00:00"
    assert len(items) == 4
