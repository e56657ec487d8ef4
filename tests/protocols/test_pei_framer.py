"""The PEI line framer: line ends, garbage recovery and the line-length cap, invariant under any split."""

from __future__ import annotations

from collections import Counter

import pytest

from gateway.errors import CommandError
from gateway.protocols.pei_framer import LineFramer


def frame(data: bytes, max_line_bytes: int = 1024) -> tuple[list[str], Counter[str]]:
    """Frame ``data`` whole, byte by byte and split at every position; all must agree."""

    def run(chunks: list[bytes]) -> tuple[list[str], Counter[str]]:
        framer = LineFramer(max_line_bytes)
        lines = [line for chunk in chunks for line in framer.feed(chunk)]
        return lines, framer.drops

    whole = run([data])
    assert run([data[i : i + 1] for i in range(len(data))]) == whole
    for cut in range(len(data) + 1):
        assert run([data[:cut], data[cut:]]) == whole, f"split at {cut}"
    return whole


CASES = [
    ("crlf", b"OK\r\n", ["OK"], {}),
    ("cr only", b"+CSQ: 20,99\rOK\r", ["+CSQ: 20,99", "OK"], {}),
    ("lf only", b"+CSQ: 20,99\nOK\n", ["+CSQ: 20,99", "OK"], {}),
    ("lf cr", b"A\n\rB\n\r", ["A", "B"], {}),
    ("empty lines skipped", b"\r\n\r\n\r\nOK\r\n\r\n", ["OK"], {}),
    ("unterminated tail held back", b"OK\r\n+CTSDSR: 12,1", ["OK"], {}),
    ("leading garbage stripped", b"\x00\xff\xfeOK\r\n", ["OK"], {"garbage_bytes": 3}),
    ("trailing ctrl-z stripped", b"0A11\x1a\r\n", ["0A11"], {"garbage_bytes": 1}),
    ("garbage-only line", b"\x00\x00\x80\r\nOK\r\n", ["OK"], {"garbage_bytes": 3}),
    ("garbage inside drops the line", b"O\x00K\r\nERROR\r\n", ["ERROR"], {"binary_line": 1}),
    ("high bytes inside drop the line", b"+CTSDSR: 1\xe92\r\nOK\r\n", ["OK"], {"binary_line": 1}),
    ("spaces are kept", b"  Motorola  \r\n", ["  Motorola  "], {}),
]


@pytest.mark.parametrize(("data", "lines", "drops"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_framing(data: bytes, lines: list[str], drops: dict[str, int]) -> None:
    got_lines, got_drops = frame(data)
    assert got_lines == lines
    assert got_drops == Counter(drops)


def test_line_at_the_cap_is_kept_and_one_past_it_is_discarded_to_the_next_line_end() -> None:
    at_cap = b"A" * 16
    past_cap = b"B" * 17
    lines, drops = frame(at_cap + b"\r\n" + past_cap + b"\r\nOK\r\n", max_line_bytes=16)
    assert lines == ["A" * 16, "OK"]
    assert drops == Counter({"line_too_long": 1})


def test_a_stream_without_line_ends_never_buffers_more_than_the_cap() -> None:
    framer = LineFramer(max_line_bytes=64)
    for _ in range(100):
        assert framer.feed(b"x" * 50) == []
        assert framer.buffered <= 64
    assert framer.drops["line_too_long"] == 1
    assert framer.feed(b"\r\nOK\r\n") == ["OK"]


def test_drops_can_be_shared_with_the_owner() -> None:
    shared: Counter[str] = Counter()
    framer = LineFramer(drops=shared)
    framer.feed(b"\x00OK\r\n")
    assert shared["garbage_bytes"] == 1


def test_cap_must_be_positive() -> None:
    with pytest.raises(CommandError):
        LineFramer(max_line_bytes=0)
