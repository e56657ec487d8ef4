"""LIP (PID 0x0A): the spec's vectors, derived SI values, encoders, and construct round trips."""

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import CommandError, LipError
from gateway.protocols.bits import SdsPayload, build_bits, parse_bits
from gateway.protocols.lip import (
    LOCATION_REQUEST_FORMAT,
    LONG_REPORT_FORMAT,
    REASON_EMERGENCY,
    REASON_RESPONSE_TO_REQUEST,
    REASONS,
    SHAPE_FORMATS,
    SHORT_REPORT_FORMAT,
    TIME_FORMATS,
    VELOCITY_FORMATS,
    LocationRequest,
    LongLocationReport,
    PositionTime,
    ShortLocationReport,
    UnknownLip,
    altitude_m,
    decode_lip,
    encode_lip,
    encode_location_request,
    encode_long_report,
    encode_short_report,
    lat_from_raw,
    lon_from_raw,
    velocity_kmh,
)

DEG = 5e-7  # the spec's vectors are given to 6 decimals


def short(hex_: str, bits: int | None = None) -> ShortLocationReport:
    report = decode_lip(SdsPayload.from_hex(hex_, bits))
    assert isinstance(report, ShortLocationReport)
    return report


# --------------------------------------------------------------------------------------------------
# The spec's vectors.


@pytest.mark.parametrize(
    ("hex_", "bits", "lon", "lat", "time_elapsed", "error", "velocity", "direction", "reason"),
    [
        # +CTSDSR: 12,2269001,0,9999,0,84 (Motorola, real): 22 digits for 84 bits.
        ("0A112853A9FF4D4FFFE810", 84, 26.044346, 44.938642, 1, 7, 127, 15, 129),
        # Sepura, real: 21 digits (odd count), 84 bits.
        ("0A0BA7D5B95BC50AFFE16", 84, -97.748891, 30.565692, 0, 2, 127, 15, 22),
        ("0A0088BD4247F737FFE810", None, 12.018099, 51.325099, 0, 7, 127, 15, 129),
        # +CTSDSR: 12,4567891,0,9876543,0,88: a Motorola declaring 88 bits.
        ("0A007264F2654E89020810", 88, 10.054185, 53.903915, 0, 1, 1, 0, 129),
    ],
)
def test_short_report_vectors(
    hex_: str,
    bits: int | None,
    lon: float,
    lat: float,
    time_elapsed: int,
    error: int,
    velocity: int,
    direction: int,
    reason: int,
) -> None:
    report = short(hex_, bits)
    assert report.lon == pytest.approx(lon, abs=DEG)
    assert report.lat == pytest.approx(lat, abs=DEG)
    assert report.time_elapsed == time_elapsed
    assert report.position_error == error
    assert report.horizontal_velocity == velocity
    assert report.direction == direction
    assert report.additional_data_type == 0
    assert report.reason == reason
    assert report.user_data is None
    assert report.has_position


def test_vector_derived_values() -> None:
    motorola = short("0A112853A9FF4D4FFFE810", 84)
    assert motorola.accuracy_m is None  # error unknown
    assert motorola.speed_mps is None  # velocity unknown
    assert motorola.course_deg is None
    assert motorola.reason_name == "max_interval_exceeded"

    sepura = short("0A0BA7D5B95BC50AFFE16", 84)
    assert sepura.accuracy_m == 200.0
    assert sepura.reason_name == "regained_position"

    slow = short("0A007264F2654E89020810", 88)
    assert slow.accuracy_m == 20.0
    assert slow.speed_mps == pytest.approx(1 / 3.6)
    assert slow.course_deg == 0.0


def test_no_position_vector() -> None:
    """+CTSDSR: 12,1234567,0,4378565,0,88 / 0A30000000000007FFE810: never a fix at 0,0."""
    report = short("0A30000000000007FFE810", 88)
    assert report.time_elapsed == 3
    assert (report.lat, report.lon) == (0.0, 0.0)
    assert not report.has_position
    assert report.accuracy_m is None


def test_zero_position_with_known_time_is_a_position() -> None:
    report = ShortLocationReport(0, 0.0, 0.0, 1, 0, 0, 0, 129)
    assert report.has_position


def test_long_report_vector() -> None:
    report = decode_lip(SdsPayload.from_hex("0A4E73DDA841F55809493CC081", 104))
    assert isinstance(report, LongLocationReport)
    assert report.time_type == 2
    assert report.time_of_position == PositionTime(day=14, hour=15, minute=29, second=42)
    assert report.shape == 1
    assert report.lon == pytest.approx(11.015854, abs=DEG)
    assert report.lat == pytest.approx(52.234218, abs=DEG)
    assert report.velocity_type == 0
    assert report.speed_mps is None
    assert report.altitude_m is None
    assert report.accuracy_m is None
    assert not report.ack_request
    assert report.reason == 129
    assert report.has_position


@pytest.mark.parametrize(
    ("hex_", "bits"),
    [
        ("0A112853A9FF4D4FFFE810", 84),
        ("0A0BA7D5B95BC50AFFE16", 84),
        ("0A4E73DDA841F55809493CC081", 104),
    ],
)
def test_vectors_build_back_to_the_same_bits(hex_: str, bits: int) -> None:
    payload = SdsPayload.from_hex(hex_, bits)
    assert encode_lip(decode_lip(payload)) == payload


# --------------------------------------------------------------------------------------------------
# Known bugs in public decoders that we must not share.


def test_southern_latitude_is_twos_complement_not_minus_360() -> None:
    raw = round(-33.868820 * 2**24 / 180)  # Sydney
    payload = build_bits(SHORT_REPORT_FORMAT, _short_fields(lon=round(151.209296 * 2**25 / 360), lat=raw))
    report = short(payload.hex(), payload.bits)
    assert report.lat == pytest.approx(-33.868820, abs=180 / 2**24)
    assert report.lon == pytest.approx(151.209296, abs=360 / 2**25)
    # The bug computes unsigned * 180 / 2^24 - 360, which lands far outside -90..90.
    assert -90 <= report.lat < 0


def test_western_longitude_is_negative_not_180_to_360() -> None:
    report = short("0A0BA7D5B95BC50AFFE16", 84)
    assert report.lon == pytest.approx(-97.748891, abs=DEG)
    assert report.lon != pytest.approx(360 - 97.748891, abs=1)


def test_velocity_exponent_is_positive() -> None:
    # K = 50: 16 * 1.038^37 = 63.6 km/h; the reversed exponent gives about 4 km/h.
    assert velocity_kmh(50) == pytest.approx(16 * 1.038**37)
    assert velocity_kmh(50) == pytest.approx(63.6, abs=0.1)
    assert velocity_kmh(125) == pytest.approx(16 * 1.038**112)
    assert velocity_kmh(125) > velocity_kmh(29)  # type: ignore[operator]


@pytest.mark.parametrize(("code", "metres"), [(3, 2000.0), (4, 20000.0), (5, 200000.0), (6, None), (7, None)])
def test_all_three_position_error_bits_are_read(code: int, metres: float | None) -> None:
    payload = build_bits(SHORT_REPORT_FORMAT, _short_fields(position_error=code))
    report = short(payload.hex(), payload.bits)
    assert report.position_error == code
    assert report.accuracy_m == metres


@pytest.mark.parametrize(
    ("hex_", "bits"),
    [
        ("0A0BA7D5B95BC50AFFE16", 84),  # odd digit count
        ("0A0BA7D5B95BC50AFFE160", 84),  # even count, padding digit
        ("0A0BA7D5B95BC50AFFE160", 88),  # declared 88
        ("0A0BA7D5B95BC50AFFE1600000", 88),  # hex longer than declared
    ],
)
def test_hex_length_mismatch_is_not_dropped(hex_: str, bits: int) -> None:
    report = short(hex_, bits)
    assert report.reason == 22
    assert report.lat == pytest.approx(30.565692, abs=DEG)


# --------------------------------------------------------------------------------------------------
# Field codecs.


@pytest.mark.parametrize(
    ("code", "kmh"),
    [
        (0, 0.0),
        (1, 1.0),
        (28, 28.0),
        (29, 16 * 1.038**16),
        (125, 16 * 1.038**112),
        (126, 1043.0),
        (127, None),
    ],
)
def test_velocity_table(code: int, kmh: float | None) -> None:
    assert velocity_kmh(code) == (None if kmh is None else pytest.approx(kmh))


@pytest.mark.parametrize(
    ("code", "metres"),
    [
        (0, None),
        (1, -200.0),
        (201, 0.0),
        (318, 117.0),
        (1201, 1000.0),
        (1500, 1598.0),
        (1926, 2450.0),
        (2000, 8000.0),
    ],
)
def test_altitude_table(code: int, metres: float | None) -> None:
    assert altitude_m(code) == metres


def test_reason_names() -> None:
    assert REASONS[REASON_EMERGENCY] == "emergency"
    assert REASONS[REASON_RESPONSE_TO_REQUEST] == "response_to_immediate_request"
    assert REASONS[129] == "max_interval_exceeded"
    assert REASONS[130] == "max_distance_travelled"
    assert ShortLocationReport(0, 0.0, 0.0, 1, 0, 0, 0, 200).reason_name == "reason_200"
    assert ShortLocationReport(0, 0.0, 0.0, 1, 0, 0, 1, None, 5).reason_name is None


# --------------------------------------------------------------------------------------------------
# Encoders.


@pytest.mark.parametrize(
    ("lat", "lon"), [(46.0569, 14.5058), (-33.8688, 151.2093), (44.7866, 20.4489), (-22.9, -43.2)]
)
def test_encode_short_report_rounds_to_nearest_step(lat: float, lon: float) -> None:
    payload = encode_short_report(lat=lat, lon=lon, speed_kmh=50.0, course_deg=91.0, reason=3)
    assert payload.bits == 84
    report = short(payload.hex(), payload.bits)
    assert abs(report.lat - lat) <= 180 / 2**24 / 2
    assert abs(report.lon - lon) <= 360 / 2**25 / 2
    assert report.speed_mps == pytest.approx(50 / 3.6, rel=0.02)
    assert report.course_deg == 90.0
    assert report.reason == 3
    assert report.time_elapsed == 0


def test_encode_short_report_extremes() -> None:
    east = short(encode_short_report(lat=90.0, lon=180.0).hex(), 84)
    assert east.lon == -180.0  # the same meridian
    assert east.lat == pytest.approx(90.0, abs=180 / 2**24)
    fast = short(encode_short_report(lat=0.0, lon=0.0, speed_kmh=2000).hex(), 84)
    assert fast.horizontal_velocity == 126


def test_encode_no_position() -> None:
    payload = encode_short_report(lat=None, lon=None, reason=21)
    report = short(payload.hex(), 84)
    assert not report.has_position
    assert report.reason == 21
    assert report.speed_mps is None


def test_encode_short_report_with_user_data() -> None:
    report = short(encode_short_report(lat=1.0, lon=2.0, reason=None, user_data=0x5A).hex(), 84)
    assert (report.additional_data_type, report.reason, report.user_data) == (1, None, 0x5A)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lat": 90.5, "lon": 0.0},
        {"lat": 0.0, "lon": -180.1},
        {"lat": 0.0, "lon": 0.0, "speed_kmh": -1.0},
        {"lat": 0.0, "lon": 0.0, "speed_kmh": math.nan},
        {"lat": 0.0, "lon": 0.0, "reason": 256},
        {"lat": 0.0, "lon": 0.0, "reason": 1, "user_data": 1},
        {"lat": 0.0, "lon": 0.0, "time_elapsed": 4},
    ],
)
def test_encode_short_report_rejects_bad_input(kwargs: dict[str, Any]) -> None:
    with pytest.raises(CommandError):
        encode_short_report(**kwargs)


def test_encode_long_report_full() -> None:
    payload = encode_long_report(
        lat=44.8,
        lon=20.4,
        time_of_position=PositionTime(3, 4, 5, 6),
        altitude_m=117.0,
        accuracy_m=10.0,
        speed_kmh=60.0,
        course_deg=270.0,
        ack_request=True,
        reason=2,
    )
    report = decode_lip(payload)
    assert isinstance(report, LongLocationReport)
    assert report.shape == 5
    assert report.time_of_position == PositionTime(3, 4, 5, 6)
    assert report.altitude_m == 117.0
    assert report.accuracy_m is not None and 10.0 <= report.accuracy_m < 13.0
    assert report.speed_mps == pytest.approx(60 / 3.6, rel=0.02)
    assert report.course_deg == 270.0
    assert report.ack_request
    assert report.reason_name == "emergency"
    assert report.lat == pytest.approx(44.8, abs=180 / 2**24)


@pytest.mark.parametrize(
    ("kwargs", "shape", "velocity_type"),
    [
        ({}, 1, 0),
        ({"accuracy_m": 5.0}, 2, 0),
        ({"altitude_m": 300.0}, 4, 0),
        ({"speed_kmh": 10.0}, 1, 1),
        ({"speed_kmh": 10.0, "course_deg": 45.0, "time_elapsed": 1}, 1, 5),
    ],
)
def test_encode_long_report_picks_shape(kwargs: dict[str, Any], shape: int, velocity_type: int) -> None:
    report = decode_lip(encode_long_report(lat=1.0, lon=-1.0, **kwargs))
    assert isinstance(report, LongLocationReport)
    assert (report.shape, report.velocity_type) == (shape, velocity_type)
    assert report.lon == pytest.approx(-1.0, abs=360 / 2**25)


def test_location_request() -> None:
    payload = encode_location_request()
    assert payload.hex() == "0A4580"
    assert payload.bits == 21
    assert decode_lip(payload) == LocationRequest(report_type=3)
    to_ssi = LocationRequest(report_type=2, destination_type=1, destination=2269001)
    assert decode_lip(encode_lip(to_ssi)) == to_ssi


def test_unsupported_lip_pdus_are_unknown_not_errors() -> None:
    ack = SdsPayload.from_hex("0A50", 16)  # PDU type 1, extension 4: location report acknowledgement
    message = decode_lip(ack)
    assert message == UnknownLip(pdu_type=1, extension=4, payload=ack)
    assert decode_lip(SdsPayload.from_hex("0A80", 16)) == UnknownLip(2, None, SdsPayload.from_hex("0A80", 16))


@pytest.mark.parametrize(
    ("hex_", "bits"),
    [
        ("", 0),
        ("0A", 8),
        ("0B112853A9FF4D4FFFE810", 84),  # not PID 0x0A
        ("0A112853A9FF4D4FFFE810", 80),  # a short report cut short
        ("0A4E73DDA841F55809493CC0", 96),  # a long report cut short
        ("0A4F", 16),  # long report, time type 3 (reserved)
        ("0A4CF0", 24),  # long report, no time, shape 15 (reserved)
    ],
)
def test_malformed_lip_raises_lip_error(hex_: str, bits: int) -> None:
    with pytest.raises(LipError):
        decode_lip(SdsPayload.from_hex(hex_, bits))


# Body length in bits of each location shape and velocity type: the sum of the element sizes of
# TS 100 392-18-1, which independent decoders (tetraconnect, TETRALIP.cpp) agree on. A field in the
# wrong shape shifts every later field, so these lengths pin the layout.
SHAPE_BITS = {0: 0, 1: 49, 2: 55, 3: 72, 4: 61, 5: 67, 6: 84, 7: 70, 8: 87, 9: 100, 10: 52}
VELOCITY_BITS = {0: 0, 1: 7, 2: 10, 3: 15, 4: 21, 5: 15, 6: 21, 7: 32}


@pytest.mark.parametrize(("shape", "bits"), sorted(SHAPE_BITS.items()))
def test_location_shape_body_length(shape: int, bits: int) -> None:
    assert SHAPE_FORMATS[shape].sizeof() == bits


@pytest.mark.parametrize(("velocity_type", "bits"), sorted(VELOCITY_BITS.items()))
def test_velocity_type_body_length(velocity_type: int, bits: int) -> None:
    assert VELOCITY_FORMATS[velocity_type].sizeof() == bits


def test_long_report_validates_fields_against_its_shape() -> None:
    with pytest.raises(CommandError):
        LongLocationReport(shape=1)  # a point needs lon and lat
    with pytest.raises(CommandError):
        LongLocationReport(shape=0, altitude=5)  # no altitude without an altitude shape
    with pytest.raises(CommandError):
        LongLocationReport(time_type=2)  # time of position missing


# --------------------------------------------------------------------------------------------------
# Round trips through the construct structures.


def _short_fields(**overrides: int) -> dict[str, int]:
    fields = {
        "time_elapsed": 0,
        "lon": 0,
        "lat": 0,
        "position_error": 1,
        "horizontal_velocity": 10,
        "direction": 3,
        "additional_data_type": 0,
        "additional_data": 129,
    }
    fields.update(overrides)
    return fields


def _bits(width: int, signed: bool = False) -> st.SearchStrategy[int]:
    if signed:
        return st.integers(-(2 ** (width - 1)), 2 ** (width - 1) - 1)
    return st.integers(0, 2**width - 1)


def _body(fmt: Any) -> st.SearchStrategy[dict[str, int]]:
    return st.fixed_dictionaries(
        {sub.name: _bits(sub.sizeof(), signed=sub.name in ("lon", "lat")) for sub in fmt.subcons}
    )


short_fields = st.fixed_dictionaries(
    {
        "time_elapsed": _bits(2),
        "lon": _bits(25, signed=True),
        "lat": _bits(24, signed=True),
        "position_error": _bits(3),
        "horizontal_velocity": _bits(7),
        "direction": _bits(4),
        "additional_data_type": _bits(1),
        "additional_data": _bits(8),
    }
)

long_fields = st.builds(
    lambda time_type, time, shape, location, velocity_type, velocity, ack, kind, data: {
        "time_type": time_type,
        "time": time,
        "shape": shape,
        "location": location,
        "velocity_type": velocity_type,
        "velocity": velocity,
        "ack_request": ack,
        "additional_data_type": kind,
        "additional_data": data,
    },
    st.shared(st.sampled_from(sorted(TIME_FORMATS)), key="time"),
    st.shared(st.sampled_from(sorted(TIME_FORMATS)), key="time").flatmap(lambda t: _body(TIME_FORMATS[t])),
    st.shared(st.sampled_from(sorted(SHAPE_FORMATS)), key="shape"),
    st.shared(st.sampled_from(sorted(SHAPE_FORMATS)), key="shape").flatmap(lambda s: _body(SHAPE_FORMATS[s])),
    st.shared(st.sampled_from(sorted(VELOCITY_FORMATS)), key="velocity"),
    st.shared(st.sampled_from(sorted(VELOCITY_FORMATS)), key="velocity").flatmap(
        lambda v: _body(VELOCITY_FORMATS[v])
    ),
    st.booleans(),
    _bits(1),
    _bits(8),
)


def _same(container: Any, expected: dict[str, Any]) -> None:
    for name, value in expected.items():
        if isinstance(value, dict):
            _same(container[name], value)
        else:
            assert container[name] == value, name


@given(short_fields)
def test_short_format_parse_build(fields: dict[str, int]) -> None:
    built = build_bits(SHORT_REPORT_FORMAT, fields)
    assert built.bits == 84
    _same(parse_bits(SHORT_REPORT_FORMAT, built), fields)
    assert build_bits(SHORT_REPORT_FORMAT, parse_bits(SHORT_REPORT_FORMAT, built)) == built


@given(st.integers(0, 2**76 - 1))
def test_short_format_build_parse_of_any_bits(body: int) -> None:
    """Any 76 bits after PID 0x0A with PDU type 0 parse, and build back to the same bits."""
    body &= ~(0b11 << 74)  # PDU type 0
    payload = SdsPayload.from_hex(f"0A{body << 4:020X}", 84)
    assert build_bits(SHORT_REPORT_FORMAT, parse_bits(SHORT_REPORT_FORMAT, payload)) == payload


@given(long_fields)
def test_long_format_parse_build(fields: dict[str, Any]) -> None:
    built = build_bits(LONG_REPORT_FORMAT, fields)
    parsed = parse_bits(LONG_REPORT_FORMAT, built)
    _same(parsed, fields)
    assert build_bits(LONG_REPORT_FORMAT, parsed) == built


@given(long_fields)
def test_long_report_event_round_trip(fields: dict[str, Any]) -> None:
    payload = build_bits(LONG_REPORT_FORMAT, fields)
    report = decode_lip(payload)
    assert isinstance(report, LongLocationReport)
    assert encode_lip(report) == payload
    assert decode_lip(encode_lip(report)) == report


@given(short_fields)
def test_short_report_event_round_trip(fields: dict[str, int]) -> None:
    payload = build_bits(SHORT_REPORT_FORMAT, fields)
    report = short(payload.hex(), payload.bits)
    assert report.lon == lon_from_raw(fields["lon"])
    assert report.lat == lat_from_raw(fields["lat"])
    assert report.lon_raw == fields["lon"]
    assert report.lat_raw == fields["lat"]
    assert encode_lip(report) == payload


@given(
    st.booleans(),
    _bits(2),
    st.sampled_from([(0, None), (1, 24), (2, 48)]).flatmap(
        lambda kind: st.tuples(st.just(kind[0]), st.none() if kind[1] is None else _bits(kind[1]))
    ),
)
def test_location_request_round_trip(
    is_response: bool, report_type: int, destination: tuple[int, int | None]
) -> None:
    request = LocationRequest(report_type, is_response, destination[0], destination[1])
    payload = encode_lip(request)
    assert decode_lip(payload) == request
    assert build_bits(LOCATION_REQUEST_FORMAT, parse_bits(LOCATION_REQUEST_FORMAT, payload)) == payload
