"""Framing of NMEA 0183 sentences (``$...*hh``) out of an arbitrary byte stream.

The framer is a byte-at-a-time state machine, so the result never depends on how the stream was split into
reads: feeding a capture whole or one byte at a time yields the same frames and the same drops.

How it recovers from garbage:

- **Before a frame**: everything up to the next ``$`` is discarded. A run of such bytes that ends at ``$`` or
  at a line end is reported once as a ``garbage`` drop (blank line ends are not garbage).
- **Inside a frame**: a ``$`` means the frame in hand was cut short (the receiver restarted or bytes were
  lost), so it is dropped as ``truncated`` and a new frame starts at that ``$``. A byte that cannot appear
  in NMEA (outside printable ASCII) drops the frame as ``garbage``; the framer then skips to the next ``$``
  or line end. A frame longer than ``max_line_bytes`` is dropped as ``too_long`` and skipped the same way, so
  a device that never sends a line end cannot grow memory.
- **After a frame**: CR, LF or both end it. The frame must end in ``*hh`` (two hex digits, either case)
  matching the XOR of the bytes between ``$`` and ``*``; otherwise it is dropped as ``no_checksum`` or
  ``checksum``. Whatever follows the line end is hunted through as "before a frame".

Only complete, checksummed frames come out as ``Frame``; every other piece comes out as a ``DroppedLine`` with
its reason, so the caller can count it. Nothing here raises on bad input.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.config import DEFAULT_LINE_MAX_BYTES

DOLLAR = 0x24
STAR = 0x2A
CR = 0x0D
LF = 0x0A
PRINTABLE = range(0x20, 0x7F)
HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
CHECKSUM_FIELD_LEN = 3  # '*' and two hex digits


@dataclass(frozen=True, slots=True)
class Frame:
    """A checksummed sentence: ``body`` is the text between ``$`` and ``*``; ``raw`` the whole line."""

    body: bytes
    raw: bytes


@dataclass(frozen=True, slots=True)
class DroppedLine:
    """A piece of input that was not a usable sentence, and why (``checksum``, ``garbage``, ...)."""

    reason: str
    line: bytes


class _State(enum.Enum):
    HUNT = enum.auto()  # outside a frame, looking for '$'
    FRAME = enum.auto()  # after '$', collecting until a line end
    SKIP = enum.auto()  # after a dropped frame, discarding silently until '$' or a line end


class NmeaFramer:
    """Turns bytes into ``Frame`` and ``DroppedLine`` items; see the module docstring for recovery rules."""

    def __init__(self, max_line_bytes: int = DEFAULT_LINE_MAX_BYTES) -> None:
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be positive, not {max_line_bytes}")
        self.max_line_bytes = max_line_bytes
        self._state = _State.HUNT
        self._buffer = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes held of an incomplete frame or garbage run (never more than ``max_line_bytes``)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame | DroppedLine]:
        """Consume ``data`` and return the frames and drops it completed, in stream order."""
        out: list[Frame | DroppedLine] = []
        for byte in data:
            item = self._step(byte)
            if item is not None:
                out.append(item)
        return out

    def _step(self, byte: int) -> Frame | DroppedLine | None:
        if self._state is _State.FRAME:
            return self._in_frame(byte)
        if byte == DOLLAR:
            item = self._end_garbage_run()
            self._start_frame()
            return item
        if byte in (CR, LF):
            item = self._end_garbage_run()
            self._state = _State.HUNT
            return item
        if self._state is _State.HUNT and len(self._buffer) < self.max_line_bytes:
            self._buffer.append(byte)  # kept (bounded) only to show in the drop
        return None

    def _in_frame(self, byte: int) -> Frame | DroppedLine | None:
        if byte == DOLLAR:
            item = DroppedLine("truncated", bytes(self._buffer))
            self._start_frame()
            return item
        if byte in (CR, LF):
            line = bytes(self._buffer)
            self._reset(_State.HUNT)
            return self._check(line)
        if byte not in PRINTABLE:
            item = DroppedLine("garbage", bytes(self._buffer) + bytes((byte,)))
            self._reset(_State.SKIP)
            return item
        if len(self._buffer) >= self.max_line_bytes:
            item = DroppedLine("too_long", bytes(self._buffer))
            self._reset(_State.SKIP)
            return item
        self._buffer.append(byte)
        return None

    def _start_frame(self) -> None:
        self._buffer.clear()
        self._buffer.append(DOLLAR)
        self._state = _State.FRAME

    def _reset(self, state: _State) -> None:
        self._buffer.clear()
        self._state = state

    def _end_garbage_run(self) -> DroppedLine | None:
        run = bytes(self._buffer)
        self._buffer.clear()
        if self._state is _State.HUNT and run.strip():
            return DroppedLine("garbage", run)
        return None

    @staticmethod
    def _check(line: bytes) -> Frame | DroppedLine:
        star = line.rfind(b"*")
        if star < 0:
            return DroppedLine("no_checksum", line)
        digits = line[star + 1 :]
        if len(line) - star != CHECKSUM_FIELD_LEN or not all(d in HEX_DIGITS for d in digits):
            return DroppedLine("checksum", line)
        body = line[1:star]
        computed = 0
        for byte in body:
            computed ^= byte
        if computed != int(digits, 16):
            return DroppedLine("checksum", line)
        return Frame(body, line)
