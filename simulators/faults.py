"""Fault injection shared by the simulators: the ways real serial links and devices misbehave.

Everything random draws from one ``random.Random`` seeded by ``--seed``, so a failing run can be replayed.
Pure functions of their input and the generator; the simulators decide when to apply them.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

SPLIT_MAX_CHUNK = 7
"""Largest piece ``--split`` writes at once; small enough to cut inside every header and line end."""

GARBAGE_MAX_LEN = 12
"""Longest run of random bytes ``--garbage`` injects at once."""

_CHECKSUM_AT_END = re.compile(rb"\*([0-9A-Fa-f]{2})$")


@dataclass(frozen=True, slots=True)
class Outage:
    """A window when the device misbehaves: starts ``after_s`` seconds into activity, lasts ``for_s``."""

    after_s: float
    for_s: float

    def __post_init__(self) -> None:
        if self.after_s < 0 or self.for_s < 0:
            raise ValueError(f"outage times must not be negative: {self}")

    def covers(self, elapsed_s: float) -> bool:
        """True when ``elapsed_s`` (seconds since the device became active) falls inside the window."""
        return self.after_s <= elapsed_s < self.after_s + self.for_s


class FaultInjector:
    """Seeded corruption primitives: chance, chunking, garbage bytes, wrong checksums."""

    def __init__(self, seed: int | None = None) -> None:
        self.rng = random.Random(seed)

    def chance(self, probability: float) -> bool:
        """True with the given probability (0 never draws, so a fault-free run stays reproducible)."""
        return probability > 0 and self.rng.random() < probability

    def split(self, data: bytes) -> list[bytes]:
        """Cut ``data`` into random pieces of 1..SPLIT_MAX_CHUNK bytes, in order, joined they are ``data``."""
        chunks: list[bytes] = []
        position = 0
        while position < len(data):
            size = self.rng.randint(1, SPLIT_MAX_CHUNK)
            chunks.append(data[position : position + size])
            position += size
        return chunks

    def garbage(self, *, line_safe: bool = False) -> bytes:
        """1..GARBAGE_MAX_LEN random bytes; with ``line_safe`` no CR, LF or Ctrl-Z (for line protocols)."""
        length = self.rng.randint(1, GARBAGE_MAX_LEN)
        excluded = {0x0D, 0x0A, 0x1A} if line_safe else set()
        out = bytearray()
        while len(out) < length:
            byte = self.rng.randrange(256)
            if byte not in excluded:
                out.append(byte)
        return bytes(out)

    def corrupt_checksum(self, sentence: bytes) -> bytes:
        """The sentence with a different, still well-formed ``*hh`` checksum; unchanged if it has none."""
        match = _CHECKSUM_AT_END.search(sentence)
        if match is None:
            return sentence
        good = int(match.group(1), 16)
        bad = good ^ self.rng.randint(1, 255)
        return sentence[: match.start(1)] + f"{bad:02X}".encode()
