"""NMEA 0183 receiver protocol: bytes in, one ``GnssFix`` per receiver epoch out.

Three layers, each testable alone:

1. ``NmeaFramer`` (``nmea_framer``) cuts checksummed ``$...*hh`` frames out of the byte stream.
2. ``decode_sentence`` turns one frame into a ``Sentence``: the fix-relevant fields of RMC, GGA, GNS, GLL,
   VTG, GSA and ZDA from any talker (GP, GN, GL, GA, GB, BD, GQ, ...), checked field by field. pynmea2
   supplies the sentence layouts (which field is where); the values are converted here, strictly, because
   pynmea2 passes odd values through unconverted. Anything wrong raises ``NmeaLineError`` with a reason.
3. ``NmeaProtocol`` groups sentences into epochs and merges each epoch into a ``GnssFix``.

Epochs: sentences with the same UTC time of day belong together; sentences without a time (VTG, GSA) join the
epoch in hand. An epoch is complete when a sentence with another time arrives, when a position sentence of
the same talker and type repeats (a receiver whose clock is not running yet), or, once learned, as soon as its
last sentence is seen. A position or ZDA sentence with an empty time field (a receiver at cold start) makes
its epoch clockless: such an epoch is reported as it is, and the first timed sentence after it starts a new
epoch instead of giving it a time. Like gpsd, the protocol learns which sentence (type and how many of that
type) ends a receiver's cycle: when two epochs in a row closed on the same sentence, later epochs are emitted
the moment that sentence arrives instead of a whole cycle later. A sentence of the same epoch arriving after
that is too late for its fix, and shows the learned end was wrong: it is forgotten until relearned.
``flush()`` emits the epoch in hand (idle line, end of a capture).

Merging (field mapping as in gpsd's NMEA driver): position from GGA, else GNS, RMC, GLL; altitude above mean
sea level from GGA/GNS; speed from RMC knots, else VTG km/h (or knots); true course from RMC, else VTG; date
from RMC, else ZDA; satellites used and HDOP from GGA/GNS, else GSA. The dimension comes from GSA when the
receiver sent it, else 3D when GGA/GNS gave an altitude from at least four satellites, else 2D. If any
sentence of the epoch says the fix is invalid (RMC or GLL status V, GGA quality 0, GNS or mode indicator N,
every GSA mode 1) the fix is ``"none"`` and carries no position, altitude, speed or course.
"""

from __future__ import annotations

import collections
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, Literal

import pynmea2

from gateway.config import DEFAULT_LINE_MAX_BYTES
from gateway.errors import NmeaError
from gateway.protocols.nmea_framer import DroppedLine, Frame, NmeaFramer

__all__ = [
    "DroppedLine",
    "FixKind",
    "GnssFix",
    "NmeaLineError",
    "NmeaProtocol",
    "Sentence",
    "decode_lines",
    "decode_sentence",
]

FixKind = Literal["none", "2d", "3d"]

RECENT_LINES = 32
KNOT_MPS = 1852.0 / 3600.0
KMH_MPS = 1.0 / 3.6
INVALID_DOP = 99.0  # receivers send 99.0 / 99.99 for "no DOP" (gpsd ignores these too)
MIN_SATS_3D = 4
HOURS_PER_DAY = 24
MINUTES_PER_HOUR = 60
SECONDS_PER_MINUTE = 60  # a leap second (60) cannot be represented by datetime.time: dropped as bad_field
MINUTES_PER_DEGREE = 60.0
FULL_CIRCLE_DEG = 360.0
GSA_NO_FIX = 1
GSA_3D = 3
CENTURY_PIVOT = 80  # two-digit years 80..99 are 19xx, 00..79 are 20xx

POSITION_TYPES = frozenset({"RMC", "GGA", "GNS", "GLL"})
USED_TYPES = POSITION_TYPES | {"VTG", "GSA", "ZDA"}
# The types with a UTC time field; one of these with the field empty comes from a receiver whose clock is not
# running yet. They come once per epoch: a repeat (same talker) starts a new epoch even when the time did not
# change.
TIMED_TYPES = POSITION_TYPES | {"ZDA"}

_ADDRESS = re.compile(r"[A-Z]{2}[A-Z0-9]{3}")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
_TIME = re.compile(r"(\d\d)(\d\d)(\d\d)(?:\.(\d*))?")
_ANGLE = re.compile(r"(\d+)(\d\d(?:\.\d*)?)")
_DATE = re.compile(r"(\d\d)(\d\d)(\d\d)")


class NmeaLineError(NmeaError):
    """A sentence that cannot be used; ``reason`` is the drop counter it is counted under."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class GnssFix:
    """One receiver epoch merged into a fix. Absent values are None, never zero-filled."""

    time_of_day: time | None  # UTC, with microseconds, tzinfo=UTC
    date: date | None  # from RMC/ZDA when the receiver gave it
    lat: float | None  # WGS84 degrees, signed (south negative)
    lon: float | None  # WGS84 degrees, signed (west negative)
    alt_m: float | None  # altitude above mean sea level (GGA/GNS)
    speed_mps: float | None
    course_deg: float | None  # true, [0, 360)
    fix: FixKind
    sats: int | None  # satellites used
    hdop: float | None

    def __post_init__(self) -> None:
        if self.fix not in ("none", "2d", "3d"):
            raise ValueError(f"fix must be 'none', '2d' or '3d', not {self.fix!r}")
        if self.time_of_day is not None and self.time_of_day.utcoffset() != UTC.utcoffset(None):
            raise ValueError("time_of_day must carry tzinfo=UTC")
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon come together or not at all")
        if self.fix == "none" and self.lat is not None:
            raise ValueError("a fix of 'none' has no position")
        if self.fix != "none" and self.lat is None:
            raise ValueError(f"a {self.fix} fix needs a position")
        _check_range("lat", self.lat, -90.0, 90.0)
        _check_range("lon", self.lon, -180.0, 180.0)
        _check_range("alt_m", self.alt_m, -math.inf, math.inf)
        _check_range("speed_mps", self.speed_mps, 0.0, math.inf)
        _check_range("course_deg", self.course_deg, 0.0, 360.0)
        if self.course_deg == FULL_CIRCLE_DEG:
            raise ValueError("course_deg must be below 360")
        _check_range("hdop", self.hdop, 0.0, math.inf)
        if self.sats is not None and self.sats < 0:
            raise ValueError(f"sats must not be negative, not {self.sats}")

    @property
    def timestamp(self) -> datetime | None:
        """Date and time of day as an aware UTC datetime, when the receiver gave both."""
        if self.date is None or self.time_of_day is None:
            return None
        return datetime.combine(self.date, self.time_of_day)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able fields; ``time`` is the full ISO timestamp with milliseconds and ``Z`` when known."""
        stamp = self.timestamp
        return {
            "time": None if stamp is None else _iso_ms(stamp),
            "time_of_day": None if self.time_of_day is None else self.time_of_day.isoformat(),
            "date": None if self.date is None else self.date.isoformat(),
            "lat": self.lat,
            "lon": self.lon,
            "alt_m": self.alt_m,
            "speed_mps": self.speed_mps,
            "course_deg": self.course_deg,
            "fix": self.fix,
            "sats": self.sats,
            "hdop": self.hdop,
        }


def _check_range(name: str, value: float | None, low: float, high: float) -> None:
    if value is not None and not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name} must be finite and within [{low}, {high}], not {value!r}")


def _iso_ms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class Sentence:
    """The fix-relevant content of one decoded sentence; ``valid`` is False when it reports no fix."""

    talker: str
    kind: str  # RMC, GGA, GNS, GLL, VTG, GSA, ZDA
    time_of_day: time | None = None
    date: date | None = None
    lat: float | None = None
    lon: float | None = None
    alt_m: float | None = None
    speed_mps: float | None = None
    course_deg: float | None = None
    valid: bool | None = None  # None: the sentence says nothing about validity
    gsa_mode: int | None = None  # 1 no fix, 2 2D, 3 3D
    sats: int | None = None
    hdop: float | None = None


# ---------------------------------------------------------------------------------------------- fields


def _bad(what: str, value: str) -> NmeaLineError:
    return NmeaLineError("bad_field", f"{what} {value!r}")


def _number(value: str, what: str) -> float | None:
    if value == "":
        return None
    number = float(value) if _NUMBER.fullmatch(value) else math.nan
    if not math.isfinite(number):  # also catches hundreds of digits, which float() makes infinite
        raise _bad(what, value)
    return number


def _integer(value: str, what: str) -> int | None:
    if value == "":
        return None
    if not value.isdigit() or not value.isascii():
        raise _bad(what, value)
    return int(value)


def _time_of_day(value: str) -> time | None:
    if value == "":
        return None
    match = _TIME.fullmatch(value)
    if match is None:
        raise _bad("time", value)
    hour, minute, second = (int(part) for part in match.group(1, 2, 3))
    if hour >= HOURS_PER_DAY or minute >= MINUTES_PER_HOUR or second >= SECONDS_PER_MINUTE:
        raise _bad("time", value)
    fraction = match.group(4) or ""
    micro = min(999_999, int((Decimal("0." + (fraction or "0")) * 1_000_000).to_integral_value()))
    return time(hour, minute, second, micro, tzinfo=UTC)


def _date_ddmmyy(value: str) -> date | None:
    if value == "":
        return None
    match = _DATE.fullmatch(value)
    if match is None:
        raise _bad("date", value)
    day, month, year = (int(part) for part in match.group(1, 2, 3))
    year += 1900 if year >= CENTURY_PIVOT else 2000
    return _make_date(day, month, year, value)


def _make_date(day: int, month: int, year: int, text: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise _bad("date", text) from None


def _angle(
    value: str, hemisphere: str, positive: str, negative: str, limit: float, what: str
) -> float | None:
    """``dddmm.mmmm`` plus hemisphere letter -> signed degrees."""
    if value == "" and hemisphere == "":
        return None
    match = _ANGLE.fullmatch(value)
    if match is None or hemisphere not in (positive, negative):
        raise _bad(what, f"{value},{hemisphere}")
    degrees = int(match.group(1))
    minutes = float(match.group(2))
    result = degrees + minutes / 60.0
    if minutes >= MINUTES_PER_DEGREE or result > limit:
        raise _bad(what, f"{value},{hemisphere}")
    return -result if hemisphere == negative else result


def _position(lat: str, lat_dir: str, lon: str, lon_dir: str) -> tuple[float | None, float | None]:
    latitude = _angle(lat, lat_dir, "N", "S", 90.0, "latitude")
    longitude = _angle(lon, lon_dir, "E", "W", 180.0, "longitude")
    if (latitude is None) != (longitude is None):
        raise _bad("position", f"{lat},{lat_dir},{lon},{lon_dir}")
    return latitude, longitude


def _speed(value: str, factor: float, what: str) -> float | None:
    number = _number(value, what)
    if number is None:
        return None
    if number < 0:
        raise _bad(what, value)
    return number * factor


def _course(value: str) -> float | None:
    number = _number(value, "course")
    if number is None:
        return None
    if not 0.0 <= number <= FULL_CIRCLE_DEG:
        raise _bad("course", value)
    return number % FULL_CIRCLE_DEG


def _dop(value: str) -> float | None:
    number = _number(value, "dop")
    if number is None or number >= INVALID_DOP:
        return None
    if number < 0:
        raise _bad("dop", value)
    return number


def _status(value: str, what: str) -> bool | None:
    """'A' valid, 'V' void; empty says nothing."""
    if value == "":
        return None
    if value not in ("A", "V"):
        raise _bad(what, value)
    return value == "A"


def _mode_indicator(value: str) -> bool | None:
    """FAA mode indicator (NMEA 2.3+): 'N' means not valid; any other letter means a fix of some kind."""
    if value == "":
        return None
    if not value.isalpha() or not value.isascii():
        raise _bad("mode indicator", value)
    return not all(letter == "N" for letter in value)


def _all_valid(*flags: bool | None) -> bool | None:
    """False if any flag says invalid, True if one says valid and none invalid, else None."""
    known = [flag for flag in flags if flag is not None]
    if not known:
        return None
    return all(known)


# ---------------------------------------------------------------------------------------------- sentences


def _raw_fields(sentence: Any) -> dict[str, str]:
    """pynmea2's field names mapped to the raw strings (missing trailing fields are empty)."""
    data: list[str] = sentence.data
    return {name: (data[index] if index < len(data) else "") for name, index in sentence.name_to_idx.items()}


def _rmc(talker: str, f: dict[str, str]) -> Sentence:
    lat, lon = _position(f["lat"], f["lat_dir"], f["lon"], f["lon_dir"])
    return Sentence(
        talker,
        "RMC",
        time_of_day=_time_of_day(f["timestamp"]),
        date=_date_ddmmyy(f["datestamp"]),
        lat=lat,
        lon=lon,
        speed_mps=_speed(f["spd_over_grnd"], KNOT_MPS, "speed"),
        course_deg=_course(f["true_course"]),
        valid=_all_valid(_status(f["status"], "status"), _mode_indicator(f["mode_indicator"])),
    )


def _gga(talker: str, f: dict[str, str]) -> Sentence:
    lat, lon = _position(f["lat"], f["lat_dir"], f["lon"], f["lon_dir"])
    quality = _integer(f["gps_qual"], "quality")
    if f["altitude_units"] not in ("", "M"):
        raise _bad("altitude unit", f["altitude_units"])
    return Sentence(
        talker,
        "GGA",
        time_of_day=_time_of_day(f["timestamp"]),
        lat=lat,
        lon=lon,
        alt_m=_number(f["altitude"], "altitude"),
        valid=None if quality is None else quality > 0,
        sats=_integer(f["num_sats"], "satellites"),
        hdop=_dop(f["horizontal_dil"]),
    )


def _gns(talker: str, f: dict[str, str]) -> Sentence:
    lat, lon = _position(f["lat"], f["lat_dir"], f["lon"], f["lon_dir"])
    return Sentence(
        talker,
        "GNS",
        time_of_day=_time_of_day(f["timestamp"]),
        lat=lat,
        lon=lon,
        alt_m=_number(f["altitude"], "altitude"),
        valid=_mode_indicator(f["mode_indicator"]),
        sats=_integer(f["num_sats"], "satellites"),
        hdop=_dop(f["hdop"]),
    )


def _gll(talker: str, f: dict[str, str]) -> Sentence:
    lat, lon = _position(f["lat"], f["lat_dir"], f["lon"], f["lon_dir"])
    return Sentence(
        talker,
        "GLL",
        time_of_day=_time_of_day(f["timestamp"]),
        lat=lat,
        lon=lon,
        valid=_all_valid(_status(f["status"], "status"), _mode_indicator(f["faa_mode"])),
    )


def _vtg(talker: str, f: dict[str, str]) -> Sentence:
    speed = _speed(f["spd_over_grnd_kmph"], KMH_MPS, "speed")
    if speed is None:
        speed = _speed(f["spd_over_grnd_kts"], KNOT_MPS, "speed")
    return Sentence(
        talker,
        "VTG",
        speed_mps=speed,
        course_deg=_course(f["true_track"]),
        valid=_mode_indicator(f["faa_mode"]),
    )


GSA_PRN_FIELDS = slice(2, 14)
GSA_STANDARD_LENGTHS = (17, 18)  # NMEA 2.x-4.0, and 4.1 with the system id


def _gsa(talker: str, f: dict[str, str], data: list[str]) -> Sentence:
    mode = f["mode_fix_type"]
    if mode not in ("", "1", "2", "3", "E"):  # 'E': Antaris dead reckoning, carries no dimension
        raise _bad("GSA mode", mode)
    standard = len(data) in GSA_STANDARD_LENGTHS
    return Sentence(
        talker,
        "GSA",
        gsa_mode=int(mode) if mode.isdigit() else None,
        sats=sum(1 for prn in data[GSA_PRN_FIELDS] if prn.strip()),
        hdop=_dop(f["hdop"]) if standard else None,
    )


def _zda(talker: str, f: dict[str, str]) -> Sentence:
    day, month, year = (_integer(f[name], name) for name in ("day", "month", "year"))
    when = None
    if day is not None and month is not None and year is not None:
        when = _make_date(day, month, year, f"{f['day']},{f['month']},{f['year']}")
    return Sentence(talker, "ZDA", time_of_day=_time_of_day(f["timestamp"]), date=when)


def decode_sentence(body: str) -> Sentence | None:
    """Decode the text between ``$`` and ``*`` of a checksummed sentence.

    Returns None for a well-formed sentence of a type we do not use (GSV, TXT, proprietary ``$P...``).
    Raises ``NmeaLineError`` ("unparsable" or "bad_field") for a sentence that cannot be used.
    """
    address = body.split(",", 1)[0]
    if address.startswith("P"):
        return None
    if not _ADDRESS.fullmatch(address) or "," not in body:
        raise NmeaLineError("unparsable", f"address {address!r}")
    talker, kind = address[:2], address[2:]
    if kind not in USED_TYPES:
        return None
    try:
        parsed = pynmea2.parse("$" + body)
    except Exception as exc:  # pynmea2 raises ParseError, ValueError, IndexError, ...: all mean "unparsable"
        raise NmeaLineError("unparsable", f"{address}: {exc}") from exc
    fields = _raw_fields(parsed)
    match kind:
        case "RMC":
            return _rmc(talker, fields)
        case "GGA":
            return _gga(talker, fields)
        case "GNS":
            return _gns(talker, fields)
        case "GLL":
            return _gll(talker, fields)
        case "VTG":
            return _vtg(talker, fields)
        case "GSA":
            return _gsa(talker, fields, list(parsed.data))
        case _:
            return _zda(talker, fields)


# ---------------------------------------------------------------------------------------------- epochs


@dataclass(slots=True)
class _Epoch:
    time_of_day: time | None = None
    sentences: list[Sentence] = field(default_factory=list)
    type_counts: collections.Counter[str] = field(default_factory=collections.Counter)
    emitted: bool = False

    def add(self, sentence: Sentence) -> None:
        if self.time_of_day is None:
            self.time_of_day = sentence.time_of_day
        self.sentences.append(sentence)
        self.type_counts[sentence.kind] += 1

    @property
    def ending(self) -> tuple[str, int] | None:
        """The last sentence as (type, how many of that type so far): what a learned cycle end matches."""
        if not self.sentences:
            return None
        kind = self.sentences[-1].kind
        return kind, self.type_counts[kind]

    def is_new_epoch(self, sentence: Sentence) -> bool:
        if not self.sentences:
            return False
        if sentence.time_of_day is not None and self.time_of_day is not None:
            if sentence.time_of_day != self.time_of_day:
                return True
        elif sentence.time_of_day is not None:
            # The epoch in hand has no time yet. While it holds only sentences that carry none (VTG, GSA) and
            # is not out yet, this sentence gives it one. A sentence that came with its time field empty means
            # the receiver's clock was not running for that epoch: it is never merged with a timed one.
            return self.emitted or any(seen.kind in TIMED_TYPES for seen in self.sentences)
        return sentence.kind in TIMED_TYPES and any(
            seen.kind == sentence.kind and seen.talker == sentence.talker for seen in self.sentences
        )


def _first(values: Iterable[Any]) -> Any:
    return next((value for value in values if value is not None), None)


def merge_epoch(sentences: list[Sentence], time_of_day: time | None) -> GnssFix | None:
    """Merge one epoch's sentences into a fix; None when no position sentence (RMC/GGA/GNS/GLL) was seen."""
    by_kind: dict[str, list[Sentence]] = collections.defaultdict(list)
    for sentence in sentences:
        by_kind[sentence.kind].append(sentence)
    if not any(by_kind[kind] for kind in POSITION_TYPES):
        return None
    gsa_modes = [s.gsa_mode for s in by_kind["GSA"] if s.gsa_mode is not None]
    invalid = any(s.valid is False for s in sentences) or (bool(gsa_modes) and max(gsa_modes) <= GSA_NO_FIX)
    fixes = [*by_kind["GGA"], *by_kind["GNS"]]
    positional = [*fixes, *by_kind["RMC"], *by_kind["GLL"]]
    located = next((s for s in positional if s.lat is not None), None)
    sats = _first(s.sats for s in fixes)
    if sats is None and by_kind["GSA"]:
        sats = sum(s.sats or 0 for s in by_kind["GSA"])
    hdop = _first(s.hdop for s in [*fixes, *by_kind["GSA"]])
    day = _first(s.date for s in [*by_kind["RMC"], *by_kind["ZDA"]])
    if invalid or located is None:
        return GnssFix(time_of_day, day, None, None, None, None, None, "none", sats, hdop)
    alt = _first(s.alt_m for s in fixes)
    kind: FixKind
    if gsa_modes:
        kind = "3d" if max(gsa_modes) == GSA_3D else "2d"
    else:
        kind = "3d" if alt is not None and (sats is None or sats >= MIN_SATS_3D) else "2d"
    speed = _first(s.speed_mps for s in [*by_kind["RMC"], *by_kind["VTG"]])
    course = _first(s.course_deg for s in [*by_kind["RMC"], *by_kind["VTG"]])
    return GnssFix(time_of_day, day, located.lat, located.lon, alt, speed, course, kind, sats, hdop)


class NmeaProtocol:
    """Sans-I/O NMEA 0183 receiver: ``receive_data(bytes)`` returns the fixes completed by those bytes.

    Counters for health reports: ``sentences`` (decoded sentences of the types we use), ``ignored``
    (well-formed sentences of other types), ``fixes`` (fixes emitted), ``drops`` (unusable input by reason:
    ``checksum``, ``no_checksum``, ``too_long``, ``truncated``, ``garbage``, ``unparsable``, ``bad_field``),
    and ``recent``, the last raw lines (good or bad) for diagnosis.
    """

    def __init__(self, max_line_bytes: int = DEFAULT_LINE_MAX_BYTES) -> None:
        self._framer = NmeaFramer(max_line_bytes)
        self._epoch = _Epoch()
        self._end_candidate: tuple[str, int] | None = None
        self.cycle_end: tuple[str, int] | None = None
        """The learned last sentence of a receiver cycle (type, count of that type), once trusted."""
        self.sentences = 0
        self.ignored = 0
        self.fixes = 0
        self.drops: collections.Counter[str] = collections.Counter()
        self.recent: collections.deque[bytes] = collections.deque(maxlen=RECENT_LINES)
        self._checksummed = 0

    @property
    def valid_seen(self) -> bool:
        """True once a frame with a correct checksum arrived (used or not): the baud rate is right."""
        return self._checksummed > 0

    def receive_data(self, data: bytes) -> list[GnssFix]:
        """Consume bytes (split anywhere); return the fixes of the epochs they completed."""
        return [event for event in self.receive_events(data) if isinstance(event, GnssFix)]

    def receive_events(self, data: bytes) -> list[GnssFix | DroppedLine]:
        """Like ``receive_data`` but also returns every dropped line, in stream order."""
        events: list[GnssFix | DroppedLine] = []
        for item in self._framer.feed(data):
            self.recent.append(item.line if isinstance(item, DroppedLine) else item.raw)
            if isinstance(item, DroppedLine):
                self.drops[item.reason] += 1
                events.append(item)
            else:
                events.extend(self._frame(item))
        return events

    def flush(self) -> list[GnssFix]:
        """Emit the epoch in hand, if any (the line went idle, or the capture ended)."""
        return self._emit()

    def _frame(self, frame: Frame) -> list[GnssFix | DroppedLine]:
        self._checksummed += 1
        try:
            sentence = decode_sentence(frame.body.decode("ascii"))
        except NmeaLineError as exc:
            self.drops[exc.reason] += 1
            return [DroppedLine(exc.reason, frame.raw)]
        if sentence is None:
            self.ignored += 1
            return []
        self.sentences += 1
        return list(self._accept(sentence))

    def _accept(self, sentence: Sentence) -> list[GnssFix]:
        out: list[GnssFix] = []
        if self._epoch.is_new_epoch(sentence):
            out.extend(self._close_epoch())
        elif self._epoch.emitted:  # the cycle goes on past its learned end: wait for whole epochs again
            self.cycle_end = None
        self._epoch.add(sentence)
        if self.cycle_end is not None and self._epoch.ending == self.cycle_end:
            out.extend(self._emit())
        return out

    def _close_epoch(self) -> list[GnssFix]:
        out = self._emit()
        ending = self._epoch.ending
        if ending == self._end_candidate:
            self.cycle_end = ending
        self._end_candidate = ending
        self._epoch = _Epoch()
        return out

    def _emit(self) -> list[GnssFix]:
        epoch = self._epoch
        if epoch.emitted or not epoch.sentences:
            return []
        epoch.emitted = True
        fix = merge_epoch(epoch.sentences, epoch.time_of_day)
        if fix is None:
            return []
        self.fixes += 1
        return [fix]


def decode_lines(
    lines: Iterable[str | bytes], max_line_bytes: int = DEFAULT_LINE_MAX_BYTES
) -> Iterator[dict[str, Any]]:
    """Decode captured lines offline: one JSON-able dict per fix, one ``{"error", "line"}`` per dropped line.

    Each item is taken as one line (a missing line end is supplied); the last epoch is flushed at the end.
    """
    protocol = NmeaProtocol(max_line_bytes)
    for line in lines:
        data = line.encode("utf-8", "surrogateescape") if isinstance(line, str) else line
        if not data.endswith((b"\n", b"\r")):
            data += b"\r\n"
        for event in protocol.receive_events(data):
            yield _event_dict(event)
    for fix in protocol.flush():
        yield fix.as_dict()


def _event_dict(event: GnssFix | DroppedLine) -> dict[str, Any]:
    if isinstance(event, GnssFix):
        return event.as_dict()
    return {"error": event.reason, "line": event.line.decode("ascii", "backslashreplace")}
