"""SDS user data as an exact number of bits, and the bridge between it and `construct`.

A radio reports SDS user data as a hex line plus a declared length in bits, and the two disagree in the field:
a Motorola sends 22 hex digits for 84 bits, a Sepura 21 (an odd count), another Motorola declares 88 bits for
the same PDU. `SdsPayload.from_hex` applies one rule to all of them: decode exactly the declared number of
bits, pad an odd digit count, ignore trailing padding, and refuse only hex that is shorter than declared.

The TETRA PDUs are bit fields that need not end on an octet boundary (a short LIP report is 84 bits), so every
structure in this package is declared once as a `construct.Struct` of `BitsInteger` fields and parsed from, or
built to, a *bit stream*: one byte (0 or 1) per bit, exactly `bits` long, which is what `construct.BitStruct`
uses inside. `parse_bits` and `build_bits` do the conversion and translate construct's exceptions to ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from construct import Adapter, Construct, ConstructError, GreedyBytes
from construct.lib import bits2bytes, bytes2bits

from gateway.errors import CommandError, ProtocolError, SdsError

_HEX_DIGITS = re.compile(r"[0-9A-Fa-f]*")


@dataclass(frozen=True, slots=True)
class SdsPayload:
    """SDS user data: `bits` bits, MSB first, held in the first `ceil(bits / 8)` bytes of `data`.

    Padding bits after `bits` are cleared at construction, so two payloads with the same bits compare equal.
    """

    data: bytes
    bits: int

    def __post_init__(self) -> None:
        needed = (self.bits + 7) // 8
        if self.bits < 0 or len(self.data) != needed:
            raise SdsError(f"{self.bits} bits need {needed} bytes of data, not {len(self.data)}")
        spare = needed * 8 - self.bits
        if spare and self.data[-1] & ((1 << spare) - 1):
            cleared = self.data[:-1] + bytes([self.data[-1] & (0xFF << spare) & 0xFF])
            object.__setattr__(self, "data", cleared)

    def hex(self) -> str:
        """The bits as upper-case hex, exactly `ceil(bits / 4)` digits (the last one padded with zeros)."""
        return self.data.hex().upper()[: (self.bits + 3) // 4]

    @classmethod
    def from_hex(cls, text: str, bits: int | None = None) -> SdsPayload:
        """Decode exactly `bits` bits (default: 4 per digit) from hex digits as a radio prints them.

        An odd digit count is padded, digits beyond the declared length are ignored; surrounding white space
        is allowed. Raises SdsError for non-hex characters, a negative length, or fewer digits than declared.
        """
        digits = text.strip()
        if not _HEX_DIGITS.fullmatch(digits):
            raise SdsError(f"SDS user data is not hex: {text!r}")
        if bits is None:
            bits = len(digits) * 4
        if bits < 0:
            raise SdsError(f"negative SDS length {bits}")
        if len(digits) * 4 < bits:
            raise SdsError(f"{len(digits)} hex digits hold fewer than the {bits} bits declared")
        if len(digits) % 2:
            digits += "0"
        return cls(bytes.fromhex(digits)[: (bits + 7) // 8], bits)

    @classmethod
    def from_bytes(cls, data: bytes) -> SdsPayload:
        """Whole octets as a payload."""
        return cls(bytes(data), len(data) * 8)


def to_bit_stream(payload: SdsPayload) -> bytes:
    """One byte (0 or 1) per bit of the payload."""
    return bytes2bits(payload.data)[: payload.bits]  # type: ignore[no-any-return]


def from_bit_stream(stream: bytes) -> SdsPayload:
    """The payload whose bits are the bytes (0 or 1) of `stream`."""
    padded = stream + bytes(-len(stream) % 8)
    return SdsPayload(bits2bytes(padded), len(stream))


class _BitTailAdapter(Adapter):  # type: ignore[misc]
    """The rest of a bit stream as an `SdsPayload` (exact bit count, not rounded to octets)."""

    def _decode(self, obj: bytes, context: Any, path: str) -> SdsPayload:
        return from_bit_stream(obj)

    def _encode(self, obj: SdsPayload, context: Any, path: str) -> bytes:
        return to_bit_stream(obj)


BitTail: Construct = _BitTailAdapter(GreedyBytes)
"""A `construct` field that takes every remaining bit as an `SdsPayload`."""


def parse_bits(fmt: Construct, payload: SdsPayload, error: type[ProtocolError] = SdsError) -> Any:
    """Parse `payload` with a bit-level structure; construct and value errors become `error`."""
    try:
        return fmt.parse(to_bit_stream(payload))
    except (ConstructError, ValueError) as exc:
        raise error(f"cannot decode {payload.bits}-bit PDU {payload.hex() or '(empty)'}: {exc}") from exc


def build_bits(fmt: Construct, value: Any) -> SdsPayload:
    """Build a bit-level structure to a payload; a value that does not fit raises CommandError."""
    try:
        return from_bit_stream(fmt.build(value))
    except (ConstructError, ValueError, TypeError) as exc:
        raise CommandError(f"cannot encode PDU: {exc}") from exc
