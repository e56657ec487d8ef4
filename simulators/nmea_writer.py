"""NMEA 0183 sentence building for the synthetic GNSS receiver: fields, checksums, one epoch of sentences.

Sentences are returned as bytes *without* the CR LF line end; the simulator appends it when writing, the same
way it writes lines replayed from a log.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

KNOTS_PER_MPS = 3600 / 1852
KMH_PER_MPS = 3.6


def checksum(body: str) -> int:
    """XOR of the characters between ``$`` and ``*``."""
    value = 0
    for byte in body.encode("ascii"):
        value ^= byte
    return value


def sentence(address: str, fields: Sequence[str]) -> bytes:
    """``$<address>,<fields...>*hh`` with the correct checksum (no line end)."""
    body = ",".join([address, *fields])
    return f"${body}*{checksum(body):02X}".encode("ascii")


def format_latitude(lat: float) -> tuple[str, str]:
    """``ddmm.mmmmm`` and ``N``/``S``."""
    hemisphere = "N" if lat >= 0 else "S"
    degrees, minutes = divmod(abs(lat) * 60, 60)
    return f"{int(degrees):02d}{minutes:08.5f}", hemisphere


def format_longitude(lon: float) -> tuple[str, str]:
    """``dddmm.mmmmm`` and ``E``/``W``."""
    hemisphere = "E" if lon >= 0 else "W"
    degrees, minutes = divmod(abs(lon) * 60, 60)
    return f"{int(degrees):03d}{minutes:08.5f}", hemisphere


@dataclass(frozen=True, slots=True)
class Fix:
    """One receiver solution, in SI units; ``time`` must be timezone-aware UTC."""

    time: datetime
    lat: float
    lon: float
    alt_m: float
    speed_mps: float
    course_deg: float
    satellites: tuple[int, ...]
    hdop: float
    geoid_separation_m: float = 46.0

    def __post_init__(self) -> None:
        if self.time.utcoffset() is None:
            raise ValueError("Fix.time must be timezone-aware")
        if not (-90 <= self.lat <= 90 and -180 <= self.lon <= 180):
            raise ValueError(f"position out of range: {self.lat}, {self.lon}")
        if self.speed_mps < 0 or math.isnan(self.speed_mps):
            raise ValueError(f"speed must be >= 0: {self.speed_mps}")

    @property
    def pdop(self) -> float:
        """Position dilution, derived plausibly from the horizontal one."""
        return round(self.hdop * 1.6, 2)

    @property
    def vdop(self) -> float:
        """Vertical dilution, derived plausibly from the horizontal one."""
        return round(self.hdop * 1.25, 2)


def _utc_fields(fix: Fix) -> tuple[str, str]:
    stamp = fix.time
    hhmmss = f"{stamp:%H%M%S}.{stamp.microsecond // 10000:02d}"
    return hhmmss, f"{stamp:%d%m%y}"


def rmc(fix: Fix, talker: str = "GN") -> bytes:
    """Recommended minimum: time, status A, position, speed (knots), course, date, mode A."""
    hhmmss, ddmmyy = _utc_fields(fix)
    lat, ns = format_latitude(fix.lat)
    lon, ew = format_longitude(fix.lon)
    fields = [
        hhmmss,
        "A",
        lat,
        ns,
        lon,
        ew,
        f"{fix.speed_mps * KNOTS_PER_MPS:.3f}",
        f"{fix.course_deg % 360:.2f}",
        ddmmyy,
        "",
        "",
        "A",
    ]
    return sentence(f"{talker}RMC", fields)


def gga(fix: Fix, talker: str = "GN") -> bytes:
    """Fix data: time, position, quality 1, satellites used, HDOP, altitude MSL, geoid separation."""
    hhmmss, _ = _utc_fields(fix)
    lat, ns = format_latitude(fix.lat)
    lon, ew = format_longitude(fix.lon)
    fields = [
        hhmmss,
        lat,
        ns,
        lon,
        ew,
        "1",
        f"{len(fix.satellites):02d}",
        f"{fix.hdop:.2f}",
        f"{fix.alt_m:.1f}",
        "M",
        f"{fix.geoid_separation_m:.1f}",
        "M",
        "",
        "",
    ]
    return sentence(f"{talker}GGA", fields)


def gsa(fix: Fix, talker: str = "GN") -> bytes:
    """DOP and active satellites: automatic mode, 3D fix, up to 12 PRNs, PDOP/HDOP/VDOP."""
    prns = [f"{prn:02d}" for prn in fix.satellites[:12]]
    prns += [""] * (12 - len(prns))
    fields = ["A", "3", *prns, f"{fix.pdop:.2f}", f"{fix.hdop:.2f}", f"{fix.vdop:.2f}"]
    return sentence(f"{talker}GSA", fields)


def vtg(fix: Fix, talker: str = "GN") -> bytes:
    """Course and speed over ground (true course, knots and km/h), mode A."""
    fields = [
        f"{fix.course_deg % 360:.2f}",
        "T",
        "",
        "M",
        f"{fix.speed_mps * KNOTS_PER_MPS:.3f}",
        "N",
        f"{fix.speed_mps * KMH_PER_MPS:.3f}",
        "K",
        "A",
    ]
    return sentence(f"{talker}VTG", fields)


def gsv(fix: Fix, talker: str = "GP") -> list[bytes]:
    """Satellites in view, four per sentence, with made-up but stable elevation, azimuth and SNR."""
    sats = fix.satellites
    total = max(1, math.ceil(len(sats) / 4))
    out: list[bytes] = []
    for index in range(total):
        fields = [str(total), str(index + 1), f"{len(sats):02d}"]
        for prn in sats[index * 4 : index * 4 + 4]:
            fields += [
                f"{prn:02d}",
                f"{(prn * 37) % 80 + 5:02d}",
                f"{(prn * 71) % 360:03d}",
                f"{25 + prn % 20:02d}",
            ]
        out.append(sentence(f"{talker}GSV", fields))
    return out


def epoch(fix: Fix, *, with_gsv: bool = False) -> list[bytes]:
    """One receiver epoch: GNRMC, GNGGA, GNGSA, GNVTG (and GPGSV when asked)."""
    sentences = [rmc(fix), gga(fix), gsa(fix), vtg(fix)]
    if with_gsv:
        sentences += gsv(fix)
    return sentences
