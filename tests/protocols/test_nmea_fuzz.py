"""The fuzz contract: bytes, whole or split anywhere, give GnssFix events or counted drops, nothing more."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import NmeaError
from gateway.protocols.nmea import GnssFix, NmeaProtocol, decode_sentence
from tests.protocols.test_nmea import GGA_A, GGA_B, RMC_A, RMC_B, line

# Pieces that make the fuzzer reach deep: real sentences, their fragments, framing bytes and noise.
FRAGMENTS = [
    line(GGA_A),
    line(RMC_A),
    line(GGA_B),
    line(RMC_B),
    line("GNGNS,090000.00,5130.000,N,00007.500,W,AAN,10,0.8,35.2,47.0,,"),
    line("GPGSA,A,3,01,02,03,04,05,06,,,,,,,1.5,0.8,1.2"),
    line("GPVTG,45.0,T,,M,5.0,N,36.0,K,A"),
    line("GPZDA,123519.00,29,02,2024,00,00"),
    line("GPRMC,,V,,,,,,,,,,N"),
    line("GPGSV,1,1,01,05,20,023,39"),
    b"$GPGGA,",
    b"*",
    b"$",
    b"\r",
    b"\n",
    b",",
    b"\xff\x00",
]

pieces = st.lists(st.sampled_from(FRAGMENTS) | st.binary(max_size=12), max_size=30).map(b"".join)
streams = st.one_of(st.binary(max_size=400), pieces)


def feed(chunks: list[bytes]) -> tuple[list[GnssFix], NmeaProtocol]:
    protocol = NmeaProtocol(max_line_bytes=120)
    fixes: list[GnssFix] = []
    for chunk in chunks:
        fixes.extend(protocol.receive_data(chunk))
    fixes.extend(protocol.flush())
    return fixes, protocol


@given(data=streams, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_any_bytes_split_anywhere_give_fixes_or_counted_drops(data: bytes, cuts: list[int]) -> None:
    whole, whole_protocol = feed([data])
    points = sorted({min(cut, len(data)) for cut in cuts})
    chunks = [data[start:end] for start, end in zip([0, *points], [*points, len(data)], strict=True)]
    split, split_protocol = feed(chunks)
    assert all(isinstance(fix, GnssFix) for fix in whole)
    assert split == whole
    assert split_protocol.drops == whole_protocol.drops
    assert split_protocol.sentences == whole_protocol.sentences
    assert whole_protocol.fixes == len(whole)


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=90))
def test_any_sentence_body_decodes_or_raises_nmea_error(body: str) -> None:
    with contextlib.suppress(NmeaError):
        decode_sentence(body)


@given(
    st.sampled_from(["GPRMC", "GNGGA", "GLGNS", "GAGLL", "GBVTG", "BDGSA", "GQZDA"]),
    st.lists(
        st.sampled_from(
            ["", "A", "V", "N", "S", "E", "W", "M", "1", "0", "12.5", "-3", "4807.038", "123519"]
        ),
        max_size=16,
    ),
)
def test_used_sentence_types_with_odd_fields_decode_or_raise_nmea_error(
    address: str, fields: list[str]
) -> None:
    with contextlib.suppress(NmeaError):
        decode_sentence(",".join([address, *fields]))
