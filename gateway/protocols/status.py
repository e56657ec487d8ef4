"""TETRA pre-coded status (AI service 13): a 16-bit value, with the SDS-TL short reports carved out of it.

0x0000 is Emergency; 0x7C00-0x7FFF are SDS-TL short reports (identifier bits ``011111``, a 2-bit report type
and the 8-bit message reference of the text they acknowledge); everything else is a network or user status
that the gateway publishes raw, labelled from configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

from construct import BitsInteger, Const, Struct

from gateway.errors import CommandError, SdsError
from gateway.protocols.bits import SdsPayload, build_bits, parse_bits

EMERGENCY = 0x0000
SHORT_REPORT_FIRST = 0x7C00
SHORT_REPORT_LAST = 0x7FFF

SHORT_REPORT_TYPES: dict[int, str] = {
    0: "protocol not supported",
    1: "memory full",
    2: "received",
    3: "consumed",
}

STATUS_FORMAT = Struct("value" / BitsInteger(16))
SHORT_REPORT_FORMAT = Struct(
    "identifier" / Const(0b011111, BitsInteger(6)),
    "report_type" / BitsInteger(2),
    "message_reference" / BitsInteger(8),
)


def _check_16_bits(value: int) -> None:
    if not 0 <= value <= 0xFFFF:
        raise CommandError(f"a status value is 16 bits (0-0xFFFF), not {value}")


@dataclass(frozen=True, slots=True)
class StatusValue:
    """A pre-coded status as received or to be sent."""

    value: int

    def __post_init__(self) -> None:
        _check_16_bits(self.value)

    @property
    def hex(self) -> str:
        """Four upper-case hex digits, e.g. ``8004``."""
        return f"{self.value:04X}"

    @property
    def is_emergency(self) -> bool:
        """Status 0 is TETRA's emergency status."""
        return self.value == EMERGENCY


@dataclass(frozen=True, slots=True)
class ShortReport:
    """An SDS-TL short report carried as a status: the fate of the text with `message_reference`."""

    report_type: int
    message_reference: int

    def __post_init__(self) -> None:
        if self.report_type not in SHORT_REPORT_TYPES or not 0 <= self.message_reference <= 0xFF:
            raise CommandError(f"bad short report {self.report_type}/{self.message_reference}")

    @property
    def meaning(self) -> str:
        """What the report says: received, consumed, memory full, protocol not supported."""
        return SHORT_REPORT_TYPES[self.report_type]

    @property
    def value(self) -> int:
        """The 16-bit status value that carries this report."""
        return SHORT_REPORT_FIRST | self.report_type << 8 | self.message_reference


def decode_status(value: int) -> StatusValue | ShortReport:
    """Classify a received 16-bit status value; raises SdsError outside 0-0xFFFF."""
    if not 0 <= value <= 0xFFFF:
        raise SdsError(f"a status value is 16 bits, not {value}")
    if SHORT_REPORT_FIRST <= value <= SHORT_REPORT_LAST:
        fields = parse_bits(SHORT_REPORT_FORMAT, encode_status(value))
        return ShortReport(fields.report_type, fields.message_reference)
    return StatusValue(value)


def decode_status_payload(payload: SdsPayload) -> StatusValue | ShortReport:
    """Decode the user data of AI service 13: the first 16 bits; trailing padding is ignored."""
    return decode_status(parse_bits(STATUS_FORMAT, payload).value)


def encode_status(value: int) -> SdsPayload:
    """The 16-bit user data that sends status `value`; CommandError outside 0-0xFFFF."""
    _check_16_bits(value)
    return build_bits(STATUS_FORMAT, {"value": value})


def encode_short_report(report_type: int, message_reference: int) -> SdsPayload:
    """The status user data of an SDS-TL short report; CommandError for a bad type or reference."""
    return encode_status(ShortReport(report_type, message_reference).value)
