"""Fuzz contract: any bytes, whole or split anywhere, with or without a pending command, give the same events
and raise nothing but our ProtocolError family (in practice: nothing)."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import ProtocolError
from gateway.protocols.pei import PeiEvent, PeiProtocol

EVENT_TYPES = PeiEvent.__args__

TOKENS = [
    b"\r",
    b"\n",
    b"\r\n",
    b"\x00",
    b"\x1a",
    b"\xff",
    b">",
    b",",
    b":",
    b" ",
    b"OK",
    b"ERROR",
    b"+CME ERROR: ",
    b"+CMS ERROR: ",
    b"+CTSDSR: ",
    b"+CMGS: ",
    b"+CREG: ",
    b"+CTICN: ",
    b"+CTXG: ",
    b"+ENCR: ",
    b"+CSQ: ",
    b"AT+CSQ?",
    b"AT+CMGS=9000,16",
    b"8004",
    b"12",
    b"13,2001234,0,9000,0,16",
    b"99999999999999999999",
]

streams = st.lists(st.sampled_from(TOKENS) | st.binary(max_size=6), max_size=40).map(b"".join)
pending_commands = st.sampled_from([None, ("AT+CSQ?", None), ("AT+CMGS=9000,16", "8004"), ("AT", None)])


Outcome = tuple[list[PeiEvent], dict[str, int], str | None]


def run(chunks: list[bytes], pending: tuple[str, str | None] | None, max_line_bytes: int) -> Outcome:
    """Events, drops, and the ProtocolError raised (allowed by the contract), if any."""
    protocol = PeiProtocol(max_line_bytes=max_line_bytes)
    if pending is not None:
        protocol.send(pending[0], data_hex=pending[1], timeout_s=5.0, now=0.0)
    events: list[PeiEvent] = []
    try:
        for chunk in chunks:
            events += protocol.receive_data(chunk, 1.0)
        events += protocol.poll(100.0)
    except ProtocolError as exc:
        return events, dict(protocol.drops), f"{type(exc).__name__}: {exc}"
    for event in events:
        assert isinstance(event, EVENT_TYPES)
        assert dataclasses.is_dataclass(event)
    assert protocol.pending_command is None
    assert not protocol.awaiting_payload
    return events, dict(protocol.drops), None


@settings(max_examples=400, deadline=None)
@given(
    data=streams,
    pending=pending_commands,
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
    max_line_bytes=st.sampled_from([8, 32, 1024]),
)
def test_any_bytes_give_the_same_events_however_split(
    data: bytes, pending: tuple[str, str | None] | None, cuts: list[int], max_line_bytes: int
) -> None:
    whole = run([data], pending, max_line_bytes)
    points = sorted({min(cut, len(data)) for cut in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    assert run(chunks, pending, max_line_bytes) == whole
    assert run([data[i : i + 1] for i in range(len(data))], pending, max_line_bytes) == whole


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300), pending=pending_commands)
def test_raw_binary(data: bytes, pending: tuple[str, str | None] | None) -> None:
    assert run([data], pending, 1024) == run([data[i : i + 1] for i in range(len(data))], pending, 1024)
