"""Byte-stream line framer for the TETRA PEI (AT command) link.

The radio speaks in text lines, but a serial read returns whatever bytes happen to be there: a read may end
inside ``+CTSDSR``, between CR and LF, or between an SDS header and its payload line. ``LineFramer`` keeps the
unfinished tail between calls and hands back only complete lines, so the result of feeding a stream does not
depend on how it was split.

Rules (each drop is counted in ``drops`` under the reason in quotes):

- A line ends at CR, at LF or at CR LF (in fact at any run of CR and LF bytes). Empty lines are skipped, so
  the empty lines radios print between responses, and the LF of a CR LF split across two reads, cost nothing.
- A line is kept only if it is printable ASCII (0x20-0x7E). Garbage *before* a line (noise at power-on or
  after a baud-rate change, the tail of a half-line the radio printed while the port was closed) and *after*
  it (a Ctrl-Z that ends echoed SDS user data, a stray NUL) is stripped from both ends of the line and counted
  per byte as "garbage_bytes"; the printable middle is delivered. A line with garbage *inside* it (a non-
  printable byte between printable ones) cannot be trusted and is discarded whole: "binary_line".
- At most ``max_line_bytes`` bytes are buffered. A line that grows past the cap is discarded, together with
  everything up to the next CR or LF, and counted once as "line_too_long"; the next line is read normally.
  So a device that never sends a line end cannot grow memory, and framing recovers at the next line end.
- Nothing here raises on any input: every byte either ends up in a line or in a counter.
"""

from __future__ import annotations

from collections import Counter

from gateway.errors import CommandError

DEFAULT_MAX_LINE_BYTES = 1024
FIRST_PRINTABLE = 0x20
LAST_PRINTABLE = 0x7E

DROP_GARBAGE_BYTES = "garbage_bytes"
DROP_BINARY_LINE = "binary_line"
DROP_LINE_TOO_LONG = "line_too_long"

_PRINTABLE = bytes(range(FIRST_PRINTABLE, LAST_PRINTABLE + 1))
_NON_PRINTABLE = bytes(b for b in range(256) if b not in _PRINTABLE)


class LineFramer:
    """Assemble CR/LF-terminated ASCII lines from arbitrary byte chunks (see the module docstring)."""

    def __init__(
        self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, drops: Counter[str] | None = None
    ) -> None:
        if max_line_bytes < 1:
            raise CommandError(f"max_line_bytes must be at least 1, got {max_line_bytes}")
        self.max_line_bytes = max_line_bytes
        self.drops: Counter[str] = drops if drops is not None else Counter()
        self._buffer = bytearray()
        self._discarding = False

    @property
    def buffered(self) -> int:
        """Bytes of an unfinished line held back until its line end arrives."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[str]:
        """Take the next bytes of the stream; return the lines they complete, in order."""
        lines: list[str] = []
        start = 0
        end = len(data)
        while start < end:
            stop = _find_line_end(data, start)
            if stop < 0:
                self._append(data[start:])
                break
            self._append(data[start:stop])
            line = self._finish_line()
            if line is not None:
                lines.append(line)
            start = stop + 1
        return lines

    def _append(self, chunk: bytes) -> None:
        if self._discarding or not chunk:
            return
        if len(self._buffer) + len(chunk) > self.max_line_bytes:
            self._buffer.clear()
            self._discarding = True
            self.drops[DROP_LINE_TOO_LONG] += 1
            return
        self._buffer += chunk

    def _finish_line(self) -> str | None:
        raw = bytes(self._buffer)
        self._buffer.clear()
        if self._discarding:
            self._discarding = False
            return None
        if not raw:
            return None
        core = raw.strip(_NON_PRINTABLE)
        stripped = len(raw) - len(core)
        if stripped:
            self.drops[DROP_GARBAGE_BYTES] += stripped
        if not core:
            return None
        if core.translate(None, _PRINTABLE):
            self.drops[DROP_BINARY_LINE] += 1
            return None
        return core.decode("ascii")


def _find_line_end(data: bytes, start: int) -> int:
    cr = data.find(b"\r", start)
    lf = data.find(b"\n", start)
    if cr < 0:
        return lf
    if lf < 0:
        return cr
    return min(cr, lf)
