"""Status values (AI service 13) and the SDS-TL short reports carved out of them."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import CommandError, SdsError
from gateway.protocols.bits import SdsPayload, build_bits, parse_bits
from gateway.protocols.status import (
    SHORT_REPORT_FORMAT,
    STATUS_FORMAT,
    ShortReport,
    StatusValue,
    decode_status,
    decode_status_payload,
    encode_short_report,
    encode_status,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0x8004, StatusValue(0x8004)),
        (0x0000, StatusValue(0)),
        (0x8002, StatusValue(0x8002)),
        (0x7BFF, StatusValue(0x7BFF)),
        (0x7C00, ShortReport(0, 0)),
        (0x7DC9, ShortReport(1, 0xC9)),
        (0x7E08, ShortReport(2, 8)),
        (0x7FFF, ShortReport(3, 0xFF)),
        (0xFFFF, StatusValue(0xFFFF)),
    ],
)
def test_decode_status(value: int, expected: StatusValue | ShortReport) -> None:
    assert decode_status(value) == expected


def test_status_vector_from_spec() -> None:
    """`+CTSDSR: 13,1234567,0,2345678,0,16` / `8004`."""
    status = decode_status_payload(SdsPayload.from_hex("8004", 16))
    assert isinstance(status, StatusValue)
    assert status.value == 0x8004
    assert status.hex == "8004"
    assert not status.is_emergency


def test_emergency_and_hex_formatting() -> None:
    assert StatusValue(0).is_emergency
    assert StatusValue(0).hex == "0000"
    assert StatusValue(0xABC).hex == "0ABC"


def test_short_report_meaning_and_value() -> None:
    report = decode_status(0x7EC9)
    assert isinstance(report, ShortReport)
    assert report.meaning == "received"
    assert report.value == 0x7EC9
    assert ShortReport(3, 1).meaning == "consumed"
    assert encode_short_report(2, 0xC9).hex() == "7EC9"


@pytest.mark.parametrize(("value", "hex_"), [(0x8004, "8004"), (0, "0000"), (0xFFFF, "FFFF")])
def test_encode_status(value: int, hex_: str) -> None:
    payload = encode_status(value)
    assert payload.bits == 16
    assert payload.hex() == hex_


@pytest.mark.parametrize("value", [-1, 0x10000])
def test_encode_status_out_of_range(value: int) -> None:
    with pytest.raises(CommandError):
        encode_status(value)
    with pytest.raises(CommandError):
        StatusValue(value)


@pytest.mark.parametrize("value", [-1, 0x10000])
def test_decode_status_out_of_range(value: int) -> None:
    with pytest.raises(SdsError):
        decode_status(value)


def test_status_payload_too_short() -> None:
    with pytest.raises(SdsError):
        decode_status_payload(SdsPayload.from_hex("800", 12))


def test_status_payload_ignores_trailing_padding() -> None:
    assert decode_status_payload(SdsPayload.from_hex("80040000", 32)) == StatusValue(0x8004)


@given(st.integers(0, 0xFFFF))
def test_status_round_trip(value: int) -> None:
    decoded = decode_status_payload(encode_status(value))
    assert isinstance(decoded, StatusValue | ShortReport)
    assert decoded.value == value


@given(st.binary(min_size=2, max_size=2))
def test_status_format_build_parse(data: bytes) -> None:
    payload = SdsPayload.from_bytes(data)
    assert build_bits(STATUS_FORMAT, parse_bits(STATUS_FORMAT, payload)) == payload


@given(st.integers(0, 3), st.integers(0, 255))
def test_short_report_format_parse_build(report_type: int, reference: int) -> None:
    built = build_bits(SHORT_REPORT_FORMAT, {"report_type": report_type, "message_reference": reference})
    parsed = parse_bits(SHORT_REPORT_FORMAT, built)
    assert (parsed.report_type, parsed.message_reference) == (report_type, reference)
    assert build_bits(SHORT_REPORT_FORMAT, parsed) == built
