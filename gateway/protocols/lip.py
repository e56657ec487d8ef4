"""TETRA Location Information Protocol (ETSI TS 100 392-18-1), SDS type 4 with protocol identifier 0x0A.

Each PDU is one `construct` structure on a bit stream (see `gateway.protocols.bits`), parsed and built by the
same declaration. The long location report's variable parts are tables keyed by their selector (time type,
location shape, velocity type): each entry is a structure whose field names are also the names of the
optional fields of `LongLocationReport`, so conversion both ways is mechanical and a report is validated
against its own shape.

Reports keep the raw wire integers (position error class, velocity code, direction, altitude code, ...) and
offer SI values as properties. Latitude and longitude are the exception: the fields hold degrees (exact
multiples of 180/2^24 and 360/2^25 when decoded, two's complement so west and south are negative) and
`lat_raw` / `lon_raw` give the integers. A short report with time elapsed 3 ("unknown") and latitude and
longitude 0 means "no position", never a fix at 0,0: see `has_position`.

Decoding raises only LipError; encoders raise CommandError for values that do not fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from construct import (
    BitsInteger,
    Const,
    Construct,
    Error,
    Flag,
    If,
    Pass,
    Struct,
    Switch,
    this,
)

from gateway.errors import CommandError, LipError
from gateway.protocols.bits import SdsPayload, build_bits, parse_bits

LIP_PID: Final = 0x0A
SHORT_REPORT_PDU: Final = 0
EXTENDED_PDU: Final = 1
LOCATION_REQUEST_EXTENSION: Final = 1
LONG_REPORT_EXTENSION: Final = 3

TIME_ELAPSED_UNKNOWN: Final = 3
POSITION_ERROR_UNKNOWN: Final = 7
VELOCITY_UNKNOWN: Final = 127
VELOCITY_ABOVE_MAX: Final = 126
VELOCITY_MAX_KMH: Final = 1043.0
REASON_EMERGENCY: Final = 2
REASON_RESPONSE_TO_REQUEST: Final = 32
REASON_MAX_INTERVAL: Final = 129
REPORT_TYPE_SHORT_PREFERRED: Final = 3

_LON_BITS: Final = 25
_LAT_BITS: Final = 24
_LON_STEP: Final = 360 / (1 << _LON_BITS)
_LAT_STEP: Final = 180 / (1 << _LAT_BITS)

REASONS: dict[int, str] = {
    0: "power_on",
    1: "power_off",
    2: "emergency",
    3: "ptt",
    4: "status",
    5: "transmit_inhibit_on",
    6: "transmit_inhibit_off",
    7: "tmo_on",
    8: "dmo_on",
    9: "enter_service",
    10: "service_loss",
    11: "cell_reselection",
    12: "low_battery",
    13: "car_kit_connected",
    14: "car_kit_disconnected",
    15: "transfer_initialization_configuration",
    16: "arrival_at_destination",
    17: "arrival_at_location",
    18: "approaching_location",
    19: "sds_type1_entered",
    20: "user_application",
    21: "lost_position",
    22: "regained_position",
    23: "leaving_point",
    24: "ambience_listening",
    25: "temporary_reporting_start",
    26: "normal_reporting_return",
    27: "call_setup_type1",
    28: "call_setup_type2",
    29: "positioning_device_on",
    30: "positioning_device_off",
    32: "response_to_immediate_request",
    129: "max_interval_exceeded",
    130: "max_distance_travelled",
}
"""Reason for sending (8 bits) -> name."""

POSITION_ERROR_M: dict[int, float | None] = {
    0: 2.0,
    1: 20.0,
    2: 200.0,
    3: 2_000.0,
    4: 20_000.0,
    5: 200_000.0,
    6: None,
    7: None,
}
"""Position error class -> upper bound in metres (None: more than 200 km, or unknown)."""


# --------------------------------------------------------------------------------------------------
# Field codecs: wire integers <-> SI units.


def lon_from_raw(raw: int) -> float:
    """Degrees east of a 25-bit two's complement longitude."""
    return raw * _LON_STEP


def lat_from_raw(raw: int) -> float:
    """Degrees north of a 24-bit two's complement latitude."""
    return raw * _LAT_STEP


def lon_to_raw(degrees: float) -> int:
    """The nearest 25-bit longitude; 180 east wraps to -180. CommandError outside -180..180."""
    if not -180.0 <= degrees <= 180.0:
        raise CommandError(f"longitude {degrees} is outside -180..180")
    raw = round(degrees / _LON_STEP)
    return raw - (1 << _LON_BITS) if raw >= 1 << (_LON_BITS - 1) else raw


def lat_to_raw(degrees: float) -> int:
    """The nearest 24-bit latitude (90 north clamps to the last step). CommandError outside -90..90."""
    if not -90.0 <= degrees <= 90.0:
        raise CommandError(f"latitude {degrees} is outside -90..90")
    return min(round(degrees / _LAT_STEP), (1 << (_LAT_BITS - 1)) - 1)


def velocity_kmh(code: int) -> float | None:
    """Velocity code -> km/h: K <= 28 is K km/h, then 16 * 1.038^(K-13); 126 "> 1043", 127 unknown."""
    if code == VELOCITY_UNKNOWN:
        return None
    if code >= VELOCITY_ABOVE_MAX:
        return VELOCITY_MAX_KMH
    if code <= 28:
        return float(code)
    return 16.0 * 1.038 ** (code - 13)


def velocity_code(kmh: float) -> int:
    """The velocity code nearest to `kmh`; CommandError for a negative or non-finite speed."""
    if not math.isfinite(kmh) or kmh < 0:
        raise CommandError(f"speed {kmh} km/h is not a non-negative number")
    if kmh > VELOCITY_MAX_KMH:
        return VELOCITY_ABOVE_MAX
    if kmh <= 28.5:
        return round(kmh)
    return max(29, min(125, round(13 + math.log(kmh / 16.0) / math.log(1.038))))


def uncertainty_m(code: int) -> float:
    """Horizontal position uncertainty (and ellipse half axis) code -> metres: 2 * 1.2^(K+5) - 4."""
    return 2.0 * 1.2 ** (code + 5) - 4.0


def uncertainty_code(metres: float) -> int:
    """The smallest uncertainty code whose radius covers `metres` (capped at 63)."""
    if not math.isfinite(metres) or metres < 0:
        raise CommandError(f"accuracy {metres} m is not a non-negative number")
    for code in range(64):
        if uncertainty_m(code) >= metres:
            return code
    return 63


def altitude_m(code: int) -> float | None:
    """Altitude code (11 bits) -> metres; 0 is reserved (None)."""
    if code == 0:
        return None
    if code <= 1201:
        return float(code - 201)
    if code <= 1926:
        return 1000.0 + 2.0 * (code - 1201)
    return 2450.0 + 75.0 * (code - 1926)


def altitude_code(metres: float) -> int:
    """The altitude code nearest to `metres` (clamped to -200 m .. 17 525 m)."""
    if not math.isfinite(metres):
        raise CommandError(f"altitude {metres} m is not a number")
    if metres <= 1000:
        return max(1, round(metres) + 201)
    if metres <= 2450:
        return 1201 + round((metres - 1000) / 2)
    return min(2047, 1926 + round((metres - 2450) / 75))


def _direction_deg(code: int) -> float:
    return code * 22.5


def _direction_code(course_deg: float) -> int:
    if not math.isfinite(course_deg):
        raise CommandError(f"course {course_deg} is not a number")
    return round((course_deg % 360.0) / 22.5) % 16


def _direction_extended_code(course_deg: float) -> int:
    if not math.isfinite(course_deg):
        raise CommandError(f"course {course_deg} is not a number")
    return round((course_deg % 360.0) * 256 / 360.0) % 256


# --------------------------------------------------------------------------------------------------
# Wire structures.

_LON = "lon" / BitsInteger(_LON_BITS, signed=True)
_LAT = "lat" / BitsInteger(_LAT_BITS, signed=True)
_HORIZONTAL_UNCERTAINTY = "horizontal_uncertainty" / BitsInteger(6)
_ELLIPSE = (
    "half_major_axis" / BitsInteger(6),
    "half_minor_axis" / BitsInteger(6),
    "angle" / BitsInteger(8),
)
_CONFIDENCE = "confidence" / BitsInteger(3)
_ALTITUDE = ("altitude_type" / BitsInteger(1), "altitude" / BitsInteger(11))
_ALTITUDE_UNCERTAINTY = "altitude_uncertainty" / BitsInteger(3)

LIP_HEADER_FORMAT = Struct(
    "pid" / Const(LIP_PID, BitsInteger(8)),
    "pdu_type" / BitsInteger(2),
    "extension" / If(this.pdu_type == EXTENDED_PDU, BitsInteger(4)),
)

SHORT_REPORT_FORMAT = Struct(
    "pid" / Const(LIP_PID, BitsInteger(8)),
    "pdu_type" / Const(SHORT_REPORT_PDU, BitsInteger(2)),
    "time_elapsed" / BitsInteger(2),
    _LON,
    _LAT,
    "position_error" / BitsInteger(3),
    "horizontal_velocity" / BitsInteger(7),
    "direction" / BitsInteger(4),
    "additional_data_type" / BitsInteger(1),
    "additional_data" / BitsInteger(8),
)

TIME_FORMATS: dict[int, Construct] = {
    0: Struct(),
    1: Struct("time_elapsed" / BitsInteger(2)),
    2: Struct(
        "day" / BitsInteger(5),
        "hour" / BitsInteger(5),
        "minute" / BitsInteger(6),
        "second" / BitsInteger(6),
    ),
}
"""Time type -> time data."""

SHAPE_FORMATS: dict[int, Construct] = {
    0: Struct(),
    1: Struct(_LON, _LAT),
    2: Struct(_LON, _LAT, _HORIZONTAL_UNCERTAINTY),
    3: Struct(_LON, _LAT, *_ELLIPSE, _CONFIDENCE),
    4: Struct(_LON, _LAT, *_ALTITUDE),
    5: Struct(_LON, _LAT, _HORIZONTAL_UNCERTAINTY, *_ALTITUDE),
    6: Struct(_LON, _LAT, *_ELLIPSE, *_ALTITUDE, _CONFIDENCE),
    7: Struct(_LON, _LAT, _HORIZONTAL_UNCERTAINTY, *_ALTITUDE, _ALTITUDE_UNCERTAINTY),
    8: Struct(_LON, _LAT, *_ELLIPSE, *_ALTITUDE, _ALTITUDE_UNCERTAINTY, _CONFIDENCE),
    9: Struct(
        _LON,
        _LAT,
        "inner_radius" / BitsInteger(16),
        "uncertainty_radius" / BitsInteger(16),
        "start_angle" / BitsInteger(8),
        "stop_angle" / BitsInteger(8),
        _CONFIDENCE,
    ),
    10: Struct(_LON, _LAT, "position_error" / BitsInteger(3)),
}
"""Location shape -> location data: none, point, circle, ellipse, point/circle/ellipse + altitude,
circle/ellipse + altitude + altitude uncertainty, arc, point + position error.
Shapes 11-15 are reserved and do not decode."""

_HORIZONTAL = "horizontal_velocity" / BitsInteger(7)
_HORIZONTAL_VU = "horizontal_velocity_uncertainty" / BitsInteger(3)
_VERTICAL = ("vertical_velocity" / BitsInteger(7), "vertical_direction" / BitsInteger(1))
_VERTICAL_VU = "vertical_velocity_uncertainty" / BitsInteger(3)
_DIRECTION = "direction_extended" / BitsInteger(8)
_DIRECTION_U = "direction_uncertainty" / BitsInteger(3)

VELOCITY_FORMATS: dict[int, Construct] = {
    0: Struct(),
    1: Struct(_HORIZONTAL),
    2: Struct(_HORIZONTAL, _HORIZONTAL_VU),
    3: Struct(_HORIZONTAL, *_VERTICAL),
    4: Struct(_HORIZONTAL, _HORIZONTAL_VU, *_VERTICAL, _VERTICAL_VU),
    5: Struct(_HORIZONTAL, _DIRECTION),
    6: Struct(_HORIZONTAL, _HORIZONTAL_VU, _DIRECTION, _DIRECTION_U),
    7: Struct(_HORIZONTAL, _HORIZONTAL_VU, *_VERTICAL, _VERTICAL_VU, _DIRECTION, _DIRECTION_U),
}
"""Velocity type -> velocity data; each uncertainty follows the quantity it qualifies."""

LONG_REPORT_FORMAT = Struct(
    "pid" / Const(LIP_PID, BitsInteger(8)),
    "pdu_type" / Const(EXTENDED_PDU, BitsInteger(2)),
    "extension" / Const(LONG_REPORT_EXTENSION, BitsInteger(4)),
    "time_type" / BitsInteger(2),
    "time" / Switch(this.time_type, TIME_FORMATS, default=Error),
    "shape" / BitsInteger(4),
    "location" / Switch(this.shape, SHAPE_FORMATS, default=Error),
    "velocity_type" / BitsInteger(3),
    "velocity" / Switch(this.velocity_type, VELOCITY_FORMATS),
    "ack_request" / Flag,
    "additional_data_type" / BitsInteger(1),
    "additional_data" / BitsInteger(8),
)

LOCATION_REQUEST_FORMAT = Struct(
    "pid" / Const(LIP_PID, BitsInteger(8)),
    "pdu_type" / Const(EXTENDED_PDU, BitsInteger(2)),
    "extension" / Const(LOCATION_REQUEST_EXTENSION, BitsInteger(4)),
    "is_response" / Flag,
    "report_type" / BitsInteger(2),
    "destination_type" / BitsInteger(4),
    "destination"
    / Switch(this.destination_type, {0: Pass, 1: BitsInteger(24), 2: BitsInteger(48)}, default=Error),
)
"""Immediate location report request; destination 0 none (answer the requester), 1 SSI, 2 SSI + MNI."""


def _names(fmt: Construct) -> tuple[str, ...]:
    return tuple(sub.name for sub in fmt.subcons)


def _check_range(name: str, value: int | None, bits: int) -> None:
    if value is not None and not 0 <= value < 1 << bits:
        raise CommandError(f"{name} is {bits} bits, not {value}")


# --------------------------------------------------------------------------------------------------
# Events.


def _check_additional(additional_data_type: int, reason: int | None, user_data: int | None) -> None:
    _check_range("reason for sending", reason, 8)
    _check_range("user data", user_data, 8)
    if additional_data_type == 0 and (reason is None or user_data is not None):
        raise CommandError("additional data type 0 carries a reason for sending and no user data")
    if additional_data_type == 1 and (user_data is None or reason is not None):
        raise CommandError("additional data type 1 carries user data and no reason for sending")
    if additional_data_type not in (0, 1):
        raise CommandError(f"additional data type is 1 bit, not {additional_data_type}")


def _check_position(lon: float, lat: float) -> None:
    if not (-180.0 <= lon < 180.0 and -90.0 <= lat < 90.0):
        raise CommandError(f"position {lat},{lon} is outside the LIP ranges")


@dataclass(frozen=True, slots=True)
class ShortLocationReport:
    """LIP short location report (PDU type 0). `lon`/`lat` in degrees; everything else raw wire values."""

    time_elapsed: int
    lon: float
    lat: float
    position_error: int
    horizontal_velocity: int
    direction: int
    additional_data_type: int
    reason: int | None
    user_data: int | None = None

    def __post_init__(self) -> None:
        _check_range("time elapsed", self.time_elapsed, 2)
        _check_position(self.lon, self.lat)
        _check_range("position error", self.position_error, 3)
        _check_range("horizontal velocity", self.horizontal_velocity, 7)
        _check_range("direction of travel", self.direction, 4)
        _check_additional(self.additional_data_type, self.reason, self.user_data)

    @property
    def lon_raw(self) -> int:
        """The 25-bit two's complement longitude."""
        return lon_to_raw(self.lon)

    @property
    def lat_raw(self) -> int:
        """The 24-bit two's complement latitude."""
        return lat_to_raw(self.lat)

    @property
    def has_position(self) -> bool:
        """False for the "no position" report: time elapsed unknown with latitude and longitude 0."""
        return not (self.time_elapsed == TIME_ELAPSED_UNKNOWN and self.lon == 0 and self.lat == 0)

    @property
    def accuracy_m(self) -> float | None:
        """Upper bound of the position error class in metres; None when unknown or beyond 200 km."""
        return POSITION_ERROR_M[self.position_error]

    @property
    def speed_mps(self) -> float | None:
        """Horizontal speed in m/s; None when unknown. Code 126 ("> 1043 km/h") gives the lower bound."""
        kmh = velocity_kmh(self.horizontal_velocity)
        return None if kmh is None else kmh / 3.6

    @property
    def course_deg(self) -> float | None:
        """Direction of travel (22.5 degree steps, 0 north); None when the speed is unknown or zero."""
        if self.horizontal_velocity in (0, VELOCITY_UNKNOWN):
            return None
        return _direction_deg(self.direction)

    @property
    def reason_name(self) -> str | None:
        """The reason for sending as a REASONS name (``reason_<n>`` if unlisted); None for user data."""
        return None if self.reason is None else REASONS.get(self.reason, f"reason_{self.reason}")


@dataclass(frozen=True, slots=True)
class PositionTime:
    """Time of position in a long report: day of month and UTC time, no month or year."""

    day: int
    hour: int
    minute: int
    second: int

    def __post_init__(self) -> None:
        _check_range("day", self.day, 5)
        _check_range("hour", self.hour, 5)
        _check_range("minute", self.minute, 6)
        _check_range("second", self.second, 6)


@dataclass(frozen=True, slots=True)
class LongLocationReport:
    """LIP long location report (PDU type 1, extension 3).

    Which optional fields are present follows `time_type`, `shape` and `velocity_type` (see TIME_FORMATS,
    SHAPE_FORMATS, VELOCITY_FORMATS); the others are None. `lon`/`lat` in degrees, the rest raw.
    """

    time_type: int = 0
    time_elapsed: int | None = None
    time_of_position: PositionTime | None = None
    shape: int = 0
    lon: float | None = None
    lat: float | None = None
    horizontal_uncertainty: int | None = None
    half_major_axis: int | None = None
    half_minor_axis: int | None = None
    angle: int | None = None
    confidence: int | None = None
    altitude_type: int | None = None
    altitude: int | None = None
    altitude_uncertainty: int | None = None
    inner_radius: int | None = None
    uncertainty_radius: int | None = None
    start_angle: int | None = None
    stop_angle: int | None = None
    position_error: int | None = None
    velocity_type: int = 0
    horizontal_velocity: int | None = None
    horizontal_velocity_uncertainty: int | None = None
    vertical_velocity: int | None = None
    vertical_direction: int | None = None
    vertical_velocity_uncertainty: int | None = None
    direction_extended: int | None = None
    direction_uncertainty: int | None = None
    ack_request: bool = False
    additional_data_type: int = 0
    reason: int | None = REASON_MAX_INTERVAL
    user_data: int | None = None

    def __post_init__(self) -> None:
        if self.time_type not in TIME_FORMATS:
            raise CommandError(f"time type {self.time_type} is not 0, 1 or 2")
        if (self.time_type == 1) != (self.time_elapsed is not None):
            raise CommandError("time type 1 and only it carries time elapsed")
        if (self.time_type == 2) != (self.time_of_position is not None):
            raise CommandError("time type 2 and only it carries the time of position")
        _check_range("time elapsed", self.time_elapsed, 2)
        if self.shape not in SHAPE_FORMATS:
            raise CommandError(f"location shape {self.shape} is not supported")
        if self.velocity_type not in VELOCITY_FORMATS:
            raise CommandError(f"velocity type {self.velocity_type} is not 0-7")
        wanted = {*_names(SHAPE_FORMATS[self.shape]), *_names(VELOCITY_FORMATS[self.velocity_type])}
        for fmt in (*SHAPE_FORMATS.values(), *VELOCITY_FORMATS.values()):
            for sub in fmt.subcons:
                value = getattr(self, sub.name)
                if (value is not None) != (sub.name in wanted):
                    raise CommandError(
                        f"{sub.name} must be {'given' if sub.name in wanted else 'absent'} for shape "
                        f"{self.shape} and velocity type {self.velocity_type}"
                    )
                if sub.name not in ("lon", "lat"):
                    _check_range(sub.name, value, sub.sizeof())
        if self.lon is not None and self.lat is not None:
            _check_position(self.lon, self.lat)
        _check_additional(self.additional_data_type, self.reason, self.user_data)

    @property
    def lon_raw(self) -> int | None:
        """The 25-bit two's complement longitude, when the shape has one."""
        return None if self.lon is None else lon_to_raw(self.lon)

    @property
    def lat_raw(self) -> int | None:
        """The 24-bit two's complement latitude, when the shape has one."""
        return None if self.lat is None else lat_to_raw(self.lat)

    @property
    def has_position(self) -> bool:
        """A shape with a point, not the "no position" convention (time unknown, latitude and longitude 0)."""
        if self.lon is None or self.lat is None:
            return False
        time_unknown = self.time_type == 0 or self.time_elapsed == TIME_ELAPSED_UNKNOWN
        return not (time_unknown and self.lon == 0 and self.lat == 0)

    @property
    def accuracy_m(self) -> float | None:
        """Horizontal accuracy in metres: position error bound, uncertainty radius or half major axis."""
        if self.position_error is not None:
            return POSITION_ERROR_M[self.position_error]
        if self.horizontal_uncertainty is not None:
            return uncertainty_m(self.horizontal_uncertainty)
        if self.half_major_axis is not None:
            return uncertainty_m(self.half_major_axis)
        return None

    @property
    def altitude_m(self) -> float | None:
        """Altitude in metres, when the shape carries one."""
        return None if self.altitude is None else altitude_m(self.altitude)

    @property
    def speed_mps(self) -> float | None:
        """Horizontal speed in m/s; None when absent or unknown."""
        if self.horizontal_velocity is None:
            return None
        kmh = velocity_kmh(self.horizontal_velocity)
        return None if kmh is None else kmh / 3.6

    @property
    def course_deg(self) -> float | None:
        """Direction of travel (360/256 degree steps) for velocity types 5-7; None otherwise or when still."""
        if self.direction_extended is None or self.horizontal_velocity in (0, VELOCITY_UNKNOWN):
            return None
        return self.direction_extended * 360.0 / 256.0

    @property
    def reason_name(self) -> str | None:
        """The reason for sending as a name from REASONS; None for user data."""
        return None if self.reason is None else REASONS.get(self.reason, f"reason_{self.reason}")


@dataclass(frozen=True, slots=True)
class LocationRequest:
    """Immediate location report request (or its response, `is_response`)."""

    report_type: int = REPORT_TYPE_SHORT_PREFERRED
    is_response: bool = False
    destination_type: int = 0
    destination: int | None = None

    def __post_init__(self) -> None:
        _check_range("report type", self.report_type, 2)
        widths = {0: None, 1: 24, 2: 48}
        if self.destination_type not in widths:
            raise CommandError(f"location destination type {self.destination_type} is not supported")
        width = widths[self.destination_type]
        if (width is None) != (self.destination is None):
            raise CommandError(f"destination type {self.destination_type} and destination disagree")
        if width is not None:
            _check_range("destination", self.destination, width)


@dataclass(frozen=True, slots=True)
class UnknownLip:
    """A LIP PDU this gateway does not interpret (triggers, backlog, acknowledgements, reserved types)."""

    pdu_type: int
    extension: int | None
    payload: SdsPayload


LipMessage = ShortLocationReport | LongLocationReport | LocationRequest | UnknownLip


# --------------------------------------------------------------------------------------------------
# Decoding and encoding.


def _additional(container: Any) -> tuple[int | None, int | None]:
    data = int(container.additional_data)
    return (data, None) if container.additional_data_type == 0 else (None, data)


def decode_lip(payload: SdsPayload) -> LipMessage:
    """Decode a LIP PDU, protocol identifier 0x0A included; trailing padding is ignored. Raises LipError."""
    head = parse_bits(LIP_HEADER_FORMAT, payload, LipError)
    if head.pdu_type == SHORT_REPORT_PDU:
        return _short_from(parse_bits(SHORT_REPORT_FORMAT, payload, LipError))
    if head.pdu_type == EXTENDED_PDU and head.extension == LONG_REPORT_EXTENSION:
        return _long_from(parse_bits(LONG_REPORT_FORMAT, payload, LipError))
    if head.pdu_type == EXTENDED_PDU and head.extension == LOCATION_REQUEST_EXTENSION:
        fields_ = parse_bits(LOCATION_REQUEST_FORMAT, payload, LipError)
        return LocationRequest(
            report_type=fields_.report_type,
            is_response=fields_.is_response,
            destination_type=fields_.destination_type,
            destination=fields_.destination,
        )
    return UnknownLip(head.pdu_type, head.extension, payload)


def _short_from(container: Any) -> ShortLocationReport:
    reason, user_data = _additional(container)
    return ShortLocationReport(
        time_elapsed=container.time_elapsed,
        lon=lon_from_raw(container.lon),
        lat=lat_from_raw(container.lat),
        position_error=container.position_error,
        horizontal_velocity=container.horizontal_velocity,
        direction=container.direction,
        additional_data_type=container.additional_data_type,
        reason=reason,
        user_data=user_data,
    )


def _long_from(container: Any) -> LongLocationReport:
    optional: dict[str, Any] = {}
    for part in (container.location, container.velocity):
        for name, value in part.items():
            if not name.startswith("_"):
                optional[name] = value
    if "lon" in optional:
        optional["lon"] = lon_from_raw(optional["lon"])
        optional["lat"] = lat_from_raw(optional["lat"])
    time = container.time
    reason, user_data = _additional(container)
    return LongLocationReport(
        time_type=container.time_type,
        time_elapsed=time.time_elapsed if container.time_type == 1 else None,
        time_of_position=(
            PositionTime(time.day, time.hour, time.minute, time.second) if container.time_type == 2 else None
        ),
        shape=container.shape,
        velocity_type=container.velocity_type,
        ack_request=container.ack_request,
        additional_data_type=container.additional_data_type,
        reason=reason,
        user_data=user_data,
        **optional,
    )


def _additional_data(report: ShortLocationReport | LongLocationReport) -> int:
    value = report.reason if report.additional_data_type == 0 else report.user_data
    assert value is not None  # guaranteed by the report's validation
    return value


def encode_lip(message: LipMessage) -> SdsPayload:
    """Build any LIP event back to its PDU (protocol identifier included)."""
    if isinstance(message, UnknownLip):
        return message.payload
    if isinstance(message, LocationRequest):
        return build_bits(
            LOCATION_REQUEST_FORMAT,
            {
                "is_response": message.is_response,
                "report_type": message.report_type,
                "destination_type": message.destination_type,
                "destination": message.destination,
            },
        )
    if isinstance(message, ShortLocationReport):
        return build_bits(
            SHORT_REPORT_FORMAT,
            {
                "time_elapsed": message.time_elapsed,
                "lon": message.lon_raw,
                "lat": message.lat_raw,
                "position_error": message.position_error,
                "horizontal_velocity": message.horizontal_velocity,
                "direction": message.direction,
                "additional_data_type": message.additional_data_type,
                "additional_data": _additional_data(message),
            },
        )
    return _build_long(message)


def _build_long(report: LongLocationReport) -> SdsPayload:
    def body(fmt: Construct) -> dict[str, Any]:
        values = {name: getattr(report, name) for name in _names(fmt)}
        if "lon" in values:
            values["lon"], values["lat"] = report.lon_raw, report.lat_raw
        return values

    time: dict[str, Any] = {}
    if report.time_elapsed is not None:
        time = {"time_elapsed": report.time_elapsed}
    elif report.time_of_position is not None:
        tp = report.time_of_position
        time = {"day": tp.day, "hour": tp.hour, "minute": tp.minute, "second": tp.second}
    return build_bits(
        LONG_REPORT_FORMAT,
        {
            "time_type": report.time_type,
            "time": time,
            "shape": report.shape,
            "location": body(SHAPE_FORMATS[report.shape]),
            "velocity_type": report.velocity_type,
            "velocity": body(VELOCITY_FORMATS[report.velocity_type]),
            "ack_request": report.ack_request,
            "additional_data_type": report.additional_data_type,
            "additional_data": _additional_data(report),
        },
    )


def _additional_fields(reason: int | None, user_data: int | None) -> dict[str, Any]:
    if (reason is None) == (user_data is None):
        raise CommandError("give either a reason for sending or user data")
    return {"additional_data_type": 0 if user_data is None else 1, "reason": reason, "user_data": user_data}


def encode_short_report(
    *,
    lat: float | None,
    lon: float | None,
    time_elapsed: int = 0,
    position_error: int = 1,
    speed_kmh: float | None = None,
    course_deg: float | None = None,
    reason: int | None = REASON_MAX_INTERVAL,
    user_data: int | None = None,
) -> SdsPayload:
    """A short location report from degrees and km/h, rounded to the nearest wire step.

    `lat`/`lon` None sends "no position" (time elapsed unknown, 0/0, error unknown). Speed None is
    "unknown"; a course without a speed is dropped. Give `user_data` (and `reason=None`) for user-defined
    additional data.
    """
    if lat is None or lon is None:
        lat = lon = 0.0
        time_elapsed, position_error = TIME_ELAPSED_UNKNOWN, POSITION_ERROR_UNKNOWN
    velocity = VELOCITY_UNKNOWN if speed_kmh is None else velocity_code(speed_kmh)
    report = ShortLocationReport(
        time_elapsed=time_elapsed,
        lon=lon_from_raw(lon_to_raw(lon)),
        lat=lat_from_raw(lat_to_raw(lat)),
        position_error=position_error,
        horizontal_velocity=velocity,
        direction=0 if course_deg is None or speed_kmh is None else _direction_code(course_deg),
        **_additional_fields(reason, user_data),
    )
    return encode_lip(report)


def encode_long_report(
    *,
    lat: float,
    lon: float,
    time_of_position: PositionTime | None = None,
    time_elapsed: int | None = None,
    altitude_m: float | None = None,
    accuracy_m: float | None = None,
    speed_kmh: float | None = None,
    course_deg: float | None = None,
    ack_request: bool = False,
    reason: int | None = REASON_MAX_INTERVAL,
    user_data: int | None = None,
) -> SdsPayload:
    """A long location report from degrees, metres and km/h, choosing the smallest shape that carries them.

    Point (1), circle (2) with `accuracy_m`, point + altitude (4), circle + altitude (5); velocity type 1
    with a speed, 5 (direction extended) with a speed and a course. Time of position wins over time elapsed.
    """
    location: dict[str, Any] = {"lon": lon_from_raw(lon_to_raw(lon)), "lat": lat_from_raw(lat_to_raw(lat))}
    if accuracy_m is not None:
        location["horizontal_uncertainty"] = uncertainty_code(accuracy_m)
    if altitude_m is not None:
        location.update(altitude_type=0, altitude=altitude_code(altitude_m))
    shape = {(False, False): 1, (True, False): 2, (False, True): 4, (True, True): 5}[
        (accuracy_m is not None, altitude_m is not None)
    ]
    velocity: dict[str, Any] = {}
    velocity_type = 0
    if speed_kmh is not None:
        velocity["horizontal_velocity"] = velocity_code(speed_kmh)
        velocity_type = 1
        if course_deg is not None:
            velocity["direction_extended"] = _direction_extended_code(course_deg)
            velocity_type = 5
    if time_of_position is not None:
        time: dict[str, Any] = {"time_type": 2, "time_of_position": time_of_position}
    elif time_elapsed is not None:
        time = {"time_type": 1, "time_elapsed": time_elapsed}
    else:
        time = {"time_type": 0}
    report = LongLocationReport(
        **time,
        shape=shape,
        **location,
        velocity_type=velocity_type,
        **velocity,
        ack_request=ack_request,
        **_additional_fields(reason, user_data),
    )
    return encode_lip(report)


def encode_location_request(report_type: int = REPORT_TYPE_SHORT_PREFERRED) -> SdsPayload:
    """An immediate location report request; the answer comes back to the requester with reason 32."""
    return encode_lip(LocationRequest(report_type=report_type))
