"""Radio script files: what ``patrol-sim radio --script FILE`` prints, and when.

One output line per script line: an optional ``@SECONDS`` delay (counted from the previous line), then one
space and the exact text the radio prints (CR LF is appended). ``@SECONDS`` alone prints an empty line after
the delay. Lines starting with ``#`` are comments; empty lines are skipped. Example::

    # a status from unit 2001234, half a second after the first command
    @0.5 +CTSDSR: 13,2001234,0,9000,0,16
    8002
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ScriptLine:
    """Print ``text`` ``delay_s`` seconds after the previous script line."""

    delay_s: float
    text: str

    def __post_init__(self) -> None:
        if self.delay_s < 0 or not math.isfinite(self.delay_s):
            raise ValueError(f"script delay must be a finite number >= 0, got {self.delay_s}")
        if "\r" in self.text or "\n" in self.text:
            raise ValueError("a script line's text cannot contain CR or LF")


def parse_script(text: str, *, source: str = "script") -> list[ScriptLine]:
    """Parse a script; ValueError naming the line for a malformed delay."""
    lines: list[ScriptLine] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r\n")
        if not line or line.startswith("#"):
            continue
        delay = 0.0
        if line.startswith("@"):
            stamp, _, line = line[1:].partition(" ")
            try:
                delay = float(stamp)
                lines.append(ScriptLine(delay, line))
            except ValueError as exc:
                raise ValueError(f"{source}:{number}: bad delay {stamp!r}: expected @SECONDS") from exc
            continue
        lines.append(ScriptLine(delay, line))
    return lines


def load_script(path: Path) -> list[ScriptLine]:
    """Read and parse a script file (UTF-8)."""
    return parse_script(Path(path).read_text(encoding="utf-8"), source=str(path))
