"""Fuzz contract for the TETRA codecs: any input decodes or raises SdsError (a ProtocolError), only that."""

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.errors import ProtocolError, SdsError
from gateway.protocols.bits import SdsPayload
from gateway.protocols.lip import decode_lip
from gateway.protocols.sds import decode_sds
from gateway.protocols.text_coding import decode_text

FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Prefixes that steer random data into every decoder: LIP short/long/request, simple and SDS-TL text,
# concatenated text (with and without timestamp/storage), reports, acks.
PREFIXES = [
    b"",
    b"\x0a",
    b"\x0a\x00",
    b"\x0a\x4c",
    b"\x0a\x4e",
    b"\x0a\x45",
    b"\x02",
    b"\x09",
    b"\x82",
    b"\x82\x00",
    b"\x82\x01",
    b"\x89",
    b"\x8a",
    b"\x8a\x02\xc9\x81",
    b"\x8a\x02\xc9\x01",
    b"\x82\x10",
    b"\x82\x20",
    b"\xc5",
]


def _payload(data: bytes, declared: int) -> SdsPayload | None:
    """What the PEI layer builds from `data` as hex with a declared length; None if refused."""
    try:
        return SdsPayload.from_hex(data.hex(), declared)
    except SdsError:
        return None


def _decode_or_sds_error(service: int, payload: SdsPayload) -> None:
    with contextlib.suppress(SdsError):
        decode_sds(service, payload)


@FUZZ
@given(st.integers(9, 13), st.binary(max_size=260), st.integers(0, 2100))
def test_decode_sds_any_bytes_any_length(service: int, data: bytes, declared: int) -> None:
    payload = _payload(data, declared)
    if payload is not None:
        _decode_or_sds_error(service, payload)


@FUZZ
@given(st.sampled_from(PREFIXES), st.binary(max_size=80), st.integers(0, 16 * 8))
def test_decode_sds_type4_steered(prefix: bytes, data: bytes, shortfall: int) -> None:
    whole = prefix + data
    payload = _payload(whole, max(0, len(whole) * 8 - shortfall))
    if payload is not None:
        _decode_or_sds_error(12, payload)


@FUZZ
@given(st.text(max_size=40), st.one_of(st.none(), st.integers(-8, 200)))
def test_payload_from_any_text(text: str, declared: int | None) -> None:
    try:
        payload = SdsPayload.from_hex(text, declared)
    except SdsError:
        return
    assert len(payload.hex()) == (payload.bits + 3) // 4


@FUZZ
@given(st.binary(max_size=40), st.integers(0, 320))
def test_decode_lip_any_bits(data: bytes, declared: int) -> None:
    payload = _payload(b"\x0a" + data, min(declared, (len(data) + 1) * 8))
    if payload is None:
        return
    with contextlib.suppress(SdsError):  # LipError is an SdsError
        decode_lip(payload)


@FUZZ
@given(st.integers(-1, 130), st.binary(max_size=40), st.one_of(st.none(), st.integers(0, 400)))
def test_decode_text_any_bytes(coding: int, data: bytes, bits: int | None) -> None:
    with contextlib.suppress(SdsError):
        decode_text(coding, data, bits=bits)


def test_sds_error_is_a_protocol_error() -> None:
    """The fuzz contract is stated for the ProtocolError family; SdsError is part of it."""
    assert issubclass(SdsError, ProtocolError)


@pytest.mark.parametrize("service", [9, 10, 11, 12, 13])
def test_empty_payload(service: int) -> None:
    with pytest.raises(SdsError):
        decode_sds(service, SdsPayload(b"", 0))
