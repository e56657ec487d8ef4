"""SDS user data: dispatch on the AI service, then on the protocol identifier; SDS-TL text, reports and acks.

`decode_sds(service, payload)` turns the user data of one `+CTSDSR` into an event: a status (service 13), a
user-defined value (SDS types 1-3, services 9-11), or for SDS type 4 (service 12) whatever the first byte, the
protocol identifier, says: LIP (0x0A), simple text (0x02, 0x09 immediate), SDS-TL text (0x82, 0x89 immediate),
concatenated SDS-TL text (0x8A), an SDS-TL report or ack (any PID >= 0x80 with message type 1 or 2), or
`UnknownSds`. It never guesses from the payload, and raises only SdsError (LipError for LIP).

Each PDU is one `construct` structure on a bit stream, used both to parse and to build. Text bodies follow the
SDS-TL header (and, with storage, the validity and forward address), the text header (timestamp flag, coding
scheme, optional timestamp) and, for PID 0x8A, a GSM-style user data header whose concatenation element
(8- or 16-bit reference, total, part number) `ConcatReassembler` uses to join the parts again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from construct import (
    BitsInteger,
    Const,
    Construct,
    Error,
    FixedSized,
    Flag,
    GreedyRange,
    If,
    Padding,
    Pass,
    PrefixedArray,
    Rebuild,
    Struct,
    Switch,
    this,
)

from gateway.errors import CommandError, SdsError
from gateway.protocols import lip, status, text_coding
from gateway.protocols.bits import BitTail, SdsPayload, build_bits, parse_bits

# AI services of +CTSDSR / AT+CTSDS.
SERVICE_SDS1: Final = 9
SERVICE_SDS2: Final = 10
SERVICE_SDS3: Final = 11
SERVICE_SDS4: Final = 12
SERVICE_STATUS: Final = 13
USER_DEFINED_BITS: dict[int, int] = {SERVICE_SDS1: 16, SERVICE_SDS2: 32, SERVICE_SDS3: 64}

# Protocol identifiers.
PID_SIMPLE_TEXT: Final = 0x02
PID_SIMPLE_IMMEDIATE_TEXT: Final = 0x09
PID_LIP: Final = lip.LIP_PID
PID_TEXT: Final = 0x82
PID_IMMEDIATE_TEXT: Final = 0x89
PID_CONCAT_TEXT: Final = 0x8A
SIMPLE_TEXT_PIDS = frozenset({PID_SIMPLE_TEXT, PID_SIMPLE_IMMEDIATE_TEXT})
SDS_TL_TEXT_PIDS = frozenset({PID_TEXT, PID_IMMEDIATE_TEXT, PID_CONCAT_TEXT})
IMMEDIATE_PIDS = frozenset({PID_SIMPLE_IMMEDIATE_TEXT, PID_IMMEDIATE_TEXT})
SDS_TL_FIRST_PID: Final = 0x80

# SDS-TL message types.
MESSAGE_TRANSFER: Final = 0
MESSAGE_REPORT: Final = 1
MESSAGE_ACK: Final = 2

# Delivery report request of SDS-TRANSFER.
REPORT_NONE: Final = 0
REPORT_RECEIVED: Final = 1
REPORT_CONSUMED: Final = 2
REPORT_BOTH: Final = 3

# User data header elements for concatenation.
IE_CONCAT_8BIT: Final = 0x00
IE_CONCAT_16BIT: Final = 0x08

DELIVERY_RECEIVED: Final = 0x00
DELIVERY_CONSUMED: Final = 0x02

DELIVERY_STATUS: dict[int, str] = {
    0x00: "received",
    0x01: "receipt report acknowledged",
    0x02: "consumed",
    0x03: "consumed report acknowledged",
    0x04: "forwarded to external network",
    0x05: "sent to group, acknowledgements prevented",
    0x06: "concatenation part received",
    0x20: "stored: congestion",
    0x21: "stored",
    0x22: "stored: destination not reachable",
    0x40: "failed: network overload",
    0x41: "failed: service permanently unavailable",
    0x42: "failed: service temporarily unavailable",
    0x43: "failed: source not authorised",
    0x44: "failed: destination not authorised",
    0x45: "failed: unknown destination",
    0x46: "failed: unknown forward address",
    0x47: "failed: group address with individual service",
    0x48: "failed: validity expired, not received",
    0x49: "failed: validity expired, not consumed",
    0x4A: "failed: delivery failed",
    0x4B: "failed: not registered",
    0x4C: "failed: destination queue full",
    0x4D: "failed: message too long",
    0x4E: "failed: destination does not support SDS-TL",
    0x4F: "failed: destination host not connected",
    0x50: "failed: protocol not supported",
    0x51: "failed: coding scheme not supported",
    0x52: "failed: destination memory full",
    0x53: "failed: destination not accepting SDS",
    0x5A: "failed: not reachable",
    0x60: "flow control: destination memory full",
    0x61: "flow control: destination memory available",
    0x62: "flow control: start pending messages",
    0x63: "flow control: no pending messages",
}
"""SDS-TL delivery status -> meaning; `delivery_status_meaning` names unlisted codes by their range."""


def delivery_status_meaning(code: int) -> str:
    """What an SDS-TL delivery status says: "received", "consumed", "stored", "failed: not registered"..."""
    if code in DELIVERY_STATUS:
        return DELIVERY_STATUS[code]
    if 0x00 <= code <= 0x1F:
        return f"delivered (0x{code:02X})"
    if 0x20 <= code <= 0x3F:
        return f"temporary error (0x{code:02X})"
    if 0x40 <= code <= 0x5F:
        return f"failed (0x{code:02X})"
    if 0x60 <= code <= 0x7F:
        return f"flow control (0x{code:02X})"
    return f"unknown (0x{code:02X})"


def is_delivery_failure(code: int) -> bool:
    """A delivery status in the "failed" range 0x40-0x5F."""
    return 0x40 <= code <= 0x5F


# --------------------------------------------------------------------------------------------------
# Wire structures.

_BYTE = BitsInteger(8)

EXTERNAL_NUMBER_FORMAT = Struct(
    "digits" / PrefixedArray(_BYTE, BitsInteger(4)),
    "_pad" / If(lambda ctx: len(ctx.digits) % 2 == 1, Padding(4)),
)
"""An external subscriber number: digit count, 4-bit digits, a fill nibble to an even count."""

STORAGE_FORMAT = Struct(
    "validity" / BitsInteger(5),
    "forward_address_type" / BitsInteger(3),
    "forward_address"
    / Switch(
        this.forward_address_type,
        {0: _BYTE, 1: BitsInteger(24), 2: BitsInteger(48), 3: EXTERNAL_NUMBER_FORMAT, 7: Pass},
        default=Error,
    ),
)
"""SDS-TL store and forward: validity, forward address type (0 SNA, 1 SSI, 2 TSI, 3 external, 7 none)."""

TIMESTAMP_FORMAT = Struct(
    "timeframe" / BitsInteger(2),
    "reserved" / BitsInteger(2),
    "month" / BitsInteger(4),
    "day" / BitsInteger(5),
    "hour" / BitsInteger(5),
    "minute" / BitsInteger(6),
)

INFORMATION_ELEMENT_FORMAT = Struct("id" / _BYTE, "data" / PrefixedArray(_BYTE, _BYTE))

USER_DATA_HEADER_FORMAT = Struct(
    "length" / Rebuild(_BYTE, lambda ctx: sum(2 + len(element["data"]) for element in ctx.elements)),
    "elements" / FixedSized(this.length * 8, GreedyRange(INFORMATION_ELEMENT_FORMAT)),
)
"""GSM-style user data header: its length in octets, then information elements (id, length, data)."""

SDS_TL_HEAD_FORMAT = Struct("pid" / _BYTE, "message_type" / BitsInteger(4))

SDS_TL_TEXT_FORMAT = Struct(
    "pid" / _BYTE,
    "message_type" / Const(MESSAGE_TRANSFER, BitsInteger(4)),
    "report_request" / BitsInteger(2),
    "service_selection" / Flag,
    "storage" / Flag,
    "message_reference" / _BYTE,
    "store" / If(this.storage, STORAGE_FORMAT),
    "timestamp_used" / Flag,
    "coding" / BitsInteger(7),
    "timestamp" / If(this.timestamp_used, TIMESTAMP_FORMAT),
    "header" / If(this.pid == PID_CONCAT_TEXT, USER_DATA_HEADER_FORMAT),
    "text" / BitTail,
)
"""SDS-TRANSFER carrying text (PIDs 0x82, 0x89, and 0x8A with a user data header)."""

SIMPLE_TEXT_FORMAT = Struct(
    "pid" / _BYTE,
    "reserved" / BitsInteger(1),
    "coding" / BitsInteger(7),
    "text" / BitTail,
)

SDS_REPORT_FORMAT = Struct(
    "pid" / _BYTE,
    "message_type" / Const(MESSAGE_REPORT, BitsInteger(4)),
    "ack_required" / Flag,
    "reserved" / BitsInteger(2),
    "storage" / Flag,
    "delivery_status" / _BYTE,
    "message_reference" / _BYTE,
)

SDS_ACK_FORMAT = Struct(
    "pid" / _BYTE,
    "message_type" / Const(MESSAGE_ACK, BitsInteger(4)),
    "reserved" / BitsInteger(4),
    "delivery_status" / _BYTE,
    "message_reference" / _BYTE,
)

SDS4_HEAD_FORMAT = Struct("pid" / _BYTE, "data" / BitTail)


def _user_defined_format(bits: int) -> Construct:
    return Struct("value" / BitsInteger(bits))


# --------------------------------------------------------------------------------------------------
# Events.


def _check(name: str, value: int | None, bits: int) -> None:
    if value is not None and not 0 <= value < 1 << bits:
        raise CommandError(f"{name} is {bits} bits, not {value}")


@dataclass(frozen=True, slots=True)
class TextTimestamp:
    """The SDS-TL text timestamp: no year, no seconds; `timeframe` 0 is UTC, 1 local time."""

    month: int
    day: int
    hour: int
    minute: int
    timeframe: int = 0

    def __post_init__(self) -> None:
        for name, bits in (("month", 4), ("day", 5), ("hour", 5), ("minute", 6), ("timeframe", 2)):
            _check(name, getattr(self, name), bits)


@dataclass(frozen=True, slots=True)
class ConcatPart:
    """Which part of which concatenated text this is (1-based `number` of `total`)."""

    reference: int
    total: int
    number: int
    wide_reference: bool = False

    def __post_init__(self) -> None:
        _check("concatenation reference", self.reference, 16 if self.wide_reference else 8)
        if not 1 <= self.number <= self.total <= 255:
            raise CommandError(f"part {self.number} of {self.total} is not a valid concatenation part")


@dataclass(frozen=True, slots=True)
class TextMessage:
    """A text SDS, simple (PID 0x02/0x09) or SDS-TL (0x82/0x89/0x8A)."""

    pid: int
    text: str
    coding: int
    message_reference: int | None = None
    report_request: int = REPORT_NONE
    timestamp: TextTimestamp | None = None
    concat: ConcatPart | None = None
    storage: bool = False
    service_selection: bool = False
    validity: int | None = None
    forward_address_type: int | None = None
    forward_address: str | None = None

    def __post_init__(self) -> None:
        _check("protocol identifier", self.pid, 8)
        _check("message reference", self.message_reference, 8)
        _check("delivery report request", self.report_request, 2)
        if self.coding not in text_coding.SCHEMES:
            raise CommandError(f"unknown text coding scheme {self.coding}")
        if self.storage != (self.validity is not None and self.forward_address_type is not None):
            raise CommandError(
                "storage needs a validity and a forward address type, and only storage has them"
            )

    @property
    def needs_report(self) -> bool:
        """The sender asked for a delivery report (answer with `encode_report`)."""
        return self.report_request != REPORT_NONE

    @property
    def immediate(self) -> bool:
        """An immediate (flash) text, to be displayed at once."""
        return self.pid in IMMEDIATE_PIDS

    @property
    def is_sds_tl(self) -> bool:
        """Sent with the SDS-TL header (message reference, reports), not as simple text."""
        return self.pid >= SDS_TL_FIRST_PID


@dataclass(frozen=True, slots=True)
class SdsReport:
    """SDS-TL SDS-REPORT: the fate of our message `message_reference` at the far end."""

    pid: int
    ack_required: bool
    storage: bool
    delivery_status: int
    message_reference: int

    def __post_init__(self) -> None:
        _check("protocol identifier", self.pid, 8)
        _check("delivery status", self.delivery_status, 8)
        _check("message reference", self.message_reference, 8)

    @property
    def meaning(self) -> str:
        """The delivery status in words."""
        return delivery_status_meaning(self.delivery_status)


@dataclass(frozen=True, slots=True)
class SdsAck:
    """SDS-TL SDS-ACK: acknowledges a report we sent."""

    pid: int
    delivery_status: int
    message_reference: int

    def __post_init__(self) -> None:
        _check("protocol identifier", self.pid, 8)
        _check("delivery status", self.delivery_status, 8)
        _check("message reference", self.message_reference, 8)

    @property
    def meaning(self) -> str:
        """The delivery status in words."""
        return delivery_status_meaning(self.delivery_status)


@dataclass(frozen=True, slots=True)
class UserDefinedData:
    """SDS type 1, 2 or 3 (AI service 9, 10, 11): a 16, 32 or 64-bit value without protocol."""

    service: int
    value: int

    def __post_init__(self) -> None:
        if self.service not in USER_DEFINED_BITS:
            raise CommandError(f"AI service {self.service} is not SDS type 1-3 (9-11)")
        _check("user-defined data", self.value, USER_DEFINED_BITS[self.service])


@dataclass(frozen=True, slots=True)
class UnknownSds:
    """SDS type 4 with a protocol this gateway does not interpret; `data` is what follows the PID."""

    pid: int
    data: bytes

    def __post_init__(self) -> None:
        _check("protocol identifier", self.pid, 8)


SdsMessage = (
    status.StatusValue
    | status.ShortReport
    | UserDefinedData
    | TextMessage
    | SdsReport
    | SdsAck
    | lip.LipMessage
    | UnknownSds
)


# --------------------------------------------------------------------------------------------------
# Decoding.


def decode_sds(service: int, payload: SdsPayload) -> SdsMessage:
    """Decode the user data of one received SDS of AI `service`; raises SdsError (LipError for LIP)."""
    if service == SERVICE_STATUS:
        return status.decode_status_payload(payload)
    if service in USER_DEFINED_BITS:
        value = parse_bits(_user_defined_format(USER_DEFINED_BITS[service]), payload).value
        return UserDefinedData(service, value)
    if service != SERVICE_SDS4:
        raise SdsError(f"AI service {service} is not an SDS service (9-13)")
    head = parse_bits(SDS4_HEAD_FORMAT, payload)
    pid = head.pid
    if pid == PID_LIP:
        return lip.decode_lip(payload)
    if pid in SIMPLE_TEXT_PIDS:
        fields = parse_bits(SIMPLE_TEXT_FORMAT, payload)
        return TextMessage(pid=pid, text=_text(fields), coding=fields.coding)
    if pid >= SDS_TL_FIRST_PID:
        message_type = parse_bits(SDS_TL_HEAD_FORMAT, payload).message_type
        if message_type == MESSAGE_TRANSFER and pid in SDS_TL_TEXT_PIDS:
            return _sds_tl_text(parse_bits(SDS_TL_TEXT_FORMAT, payload))
        if message_type == MESSAGE_REPORT:
            fields = parse_bits(SDS_REPORT_FORMAT, payload)
            return SdsReport(
                pid, fields.ack_required, fields.storage, fields.delivery_status, fields.message_reference
            )
        if message_type == MESSAGE_ACK:
            fields = parse_bits(SDS_ACK_FORMAT, payload)
            return SdsAck(pid, fields.delivery_status, fields.message_reference)
    return UnknownSds(pid, head.data.data)


def _text(fields: Any) -> str:
    body: SdsPayload = fields.text
    return text_coding.decode_text(fields.coding, body.data, bits=body.bits)


def _sds_tl_text(fields: Any) -> TextMessage:
    store = fields.store
    forward_address: str | None = None
    if store is not None and store.forward_address_type != 7:
        address = store.forward_address
        if store.forward_address_type == 3:
            forward_address = "".join(f"{digit:X}" for digit in address.digits)
        else:
            forward_address = str(address)
    timestamp = None
    if fields.timestamp is not None:
        ts = fields.timestamp
        timestamp = TextTimestamp(ts.month, ts.day, ts.hour, ts.minute, ts.timeframe)
    concat = None
    if fields.header is not None:
        concat = _concat_part(fields.header.elements)
    return TextMessage(
        pid=fields.pid,
        text=_text(fields),
        coding=fields.coding,
        message_reference=fields.message_reference,
        report_request=fields.report_request,
        timestamp=timestamp,
        concat=concat,
        storage=fields.storage,
        service_selection=fields.service_selection,
        validity=None if store is None else store.validity,
        forward_address_type=None if store is None else store.forward_address_type,
        forward_address=forward_address,
    )


def _concat_part(elements: Any) -> ConcatPart | None:
    for element in elements:
        data = list(element.data)
        if element.id == IE_CONCAT_8BIT and len(data) == 3:
            reference, total, number, wide = data[0], data[1], data[2], False
        elif element.id == IE_CONCAT_16BIT and len(data) == 4:
            reference, total, number, wide = data[0] << 8 | data[1], data[2], data[3], True
        else:
            continue
        if not 1 <= number <= total:
            raise SdsError(f"concatenation part {number} of {total} is impossible")
        return ConcatPart(reference, total, number, wide)
    return None


# --------------------------------------------------------------------------------------------------
# Encoding.


def _text_fields(text: str, coding: int | None) -> tuple[int, SdsPayload]:
    if coding is None:
        coding = text_coding.choose_coding(text)
    return coding, SdsPayload.from_bytes(text_coding.encode_text(coding, text))


def _timestamp_fields(timestamp: TextTimestamp | None) -> dict[str, int] | None:
    if timestamp is None:
        return None
    return {
        "timeframe": timestamp.timeframe,
        "reserved": 0,
        "month": timestamp.month,
        "day": timestamp.day,
        "hour": timestamp.hour,
        "minute": timestamp.minute,
    }


def _store_fields(message: TextMessage) -> dict[str, Any] | None:
    if not message.storage:
        return None
    kind = message.forward_address_type
    address: Any = None
    try:
        if kind == 3:
            address = {"digits": [int(digit, 16) for digit in message.forward_address or ""]}
        elif kind != 7:
            address = int(message.forward_address or "")
    except ValueError as exc:
        raise CommandError(f"bad forward address {message.forward_address!r}") from exc
    return {"validity": message.validity, "forward_address_type": kind, "forward_address": address}


def _header_fields(concat: ConcatPart | None) -> dict[str, Any] | None:
    if concat is None:
        return None
    if concat.wide_reference:
        element = {
            "id": IE_CONCAT_16BIT,
            "data": [*divmod(concat.reference, 256), concat.total, concat.number],
        }
    else:
        element = {"id": IE_CONCAT_8BIT, "data": [concat.reference, concat.total, concat.number]}
    return {"elements": [element]}


def encode_text_message(message: TextMessage) -> SdsPayload:
    """Build a `TextMessage` back to its PDU (simple or SDS-TL, by its PID)."""
    body = SdsPayload.from_bytes(text_coding.encode_text(message.coding, message.text))
    if not message.is_sds_tl:
        return build_bits(
            SIMPLE_TEXT_FORMAT, {"pid": message.pid, "reserved": 0, "coding": message.coding, "text": body}
        )
    if message.message_reference is None:
        raise CommandError("an SDS-TL text needs a message reference")
    if (message.pid == PID_CONCAT_TEXT) != (message.concat is not None):
        raise CommandError("PID 0x8A and only it carries a concatenation header")
    return build_bits(
        SDS_TL_TEXT_FORMAT,
        {
            "pid": message.pid,
            "report_request": message.report_request,
            "service_selection": message.service_selection,
            "storage": message.storage,
            "message_reference": message.message_reference,
            "store": _store_fields(message),
            "timestamp_used": message.timestamp is not None,
            "coding": message.coding,
            "timestamp": _timestamp_fields(message.timestamp),
            "header": _header_fields(message.concat),
            "text": body,
        },
    )


def encode_sds_tl_text(
    text: str,
    *,
    message_reference: int,
    report_request: int = REPORT_NONE,
    coding: int | None = None,
    pid: int = PID_TEXT,
    timestamp: TextTimestamp | None = None,
    service_selection: bool = False,
) -> SdsPayload:
    """An SDS-TL text (SDS-TRANSFER); `coding` None picks one with `choose_coding`. CommandError if unfit."""
    if pid not in (PID_TEXT, PID_IMMEDIATE_TEXT):
        raise CommandError(f"PID 0x{pid:02X} is not an SDS-TL text PID (0x82, 0x89)")
    coding, _ = _text_fields(text, coding)
    return encode_text_message(
        TextMessage(
            pid=pid,
            text=text,
            coding=coding,
            message_reference=message_reference,
            report_request=report_request,
            timestamp=timestamp,
            service_selection=service_selection,
        )
    )


def encode_simple_text(text: str, *, coding: int | None = None, pid: int = PID_SIMPLE_TEXT) -> SdsPayload:
    """A simple text SDS (PID 0x02, or 0x09 immediate): no message reference, no delivery report."""
    if pid not in SIMPLE_TEXT_PIDS:
        raise CommandError(f"PID 0x{pid:02X} is not a simple text PID (0x02, 0x09)")
    coding, _ = _text_fields(text, coding)
    return encode_text_message(TextMessage(pid=pid, text=text, coding=coding))


def _check_sds_tl_pid(pid: int) -> None:
    if not SDS_TL_FIRST_PID <= pid <= 0xFF:
        raise CommandError(f"PID 0x{pid:02X} does not use SDS-TL")


def encode_report(
    message_reference: int,
    delivery_status: int = DELIVERY_RECEIVED,
    *,
    pid: int = PID_TEXT,
    ack_required: bool = False,
) -> SdsPayload:
    """The SDS-REPORT that answers a TRANSFER asking for a report: ``82100008`` for text MR 8, received."""
    _check_sds_tl_pid(pid)
    return build_bits(
        SDS_REPORT_FORMAT,
        {
            "pid": pid,
            "ack_required": ack_required,
            "reserved": 0,
            "storage": False,
            "delivery_status": delivery_status,
            "message_reference": message_reference,
        },
    )


def encode_ack(
    message_reference: int, delivery_status: int = DELIVERY_RECEIVED, *, pid: int = PID_TEXT
) -> SdsPayload:
    """The SDS-ACK that acknowledges a report asking for one."""
    _check_sds_tl_pid(pid)
    return build_bits(
        SDS_ACK_FORMAT,
        {
            "pid": pid,
            "reserved": 0,
            "delivery_status": delivery_status,
            "message_reference": message_reference,
        },
    )


def split_text(
    text: str,
    *,
    max_bits: int,
    first_message_reference: int,
    concat_reference: int,
    report_request: int = REPORT_NONE,
    coding: int | None = None,
) -> list[SdsPayload]:
    """One SDS-TL text when it fits in `max_bits`, else concatenated parts (PID 0x8A), each within `max_bits`.

    Part n carries message reference `first_message_reference + n - 1` (mod 256) and the same concatenation
    reference (16-bit when above 255); characters are never split. CommandError when a part cannot hold a
    single character or more than 255 parts would be needed.
    """
    coding, _ = _text_fields(text, coding)
    _check("message reference", first_message_reference, 8)
    _check("concatenation reference", concat_reference, 16)
    single = encode_sds_tl_text(
        text, message_reference=first_message_reference, report_request=report_request, coding=coding
    )
    if single.bits <= max_bits:
        return [single]
    wide = concat_reference > 0xFF

    def part(chunk: str, number: int, total: int) -> SdsPayload:
        return encode_text_message(
            TextMessage(
                pid=PID_CONCAT_TEXT,
                text=chunk,
                coding=coding,
                message_reference=(first_message_reference + number - 1) % 256,
                report_request=report_request,
                concat=ConcatPart(concat_reference, total, number, wide),
            )
        )

    text_room = max_bits - part("", 1, 1).bits  # the headers are the same size in every part

    def fits(chunk: str) -> bool:
        return len(text_coding.encode_text(coding, chunk)) * 8 <= text_room

    chunks: list[str] = []
    rest = text
    while rest:
        if not fits(rest[:1]):
            raise CommandError(f"{max_bits} bits cannot hold one character of a concatenated text")
        size = 1
        while size < len(rest) and fits(rest[: size + 1]):
            size += 1
        chunks.append(rest[:size])
        rest = rest[size:]
    if len(chunks) > 255:
        raise CommandError(f"the text needs {len(chunks)} parts, more than 255")
    return [part(chunk, number, len(chunks)) for number, chunk in enumerate(chunks, start=1)]


# --------------------------------------------------------------------------------------------------
# Reassembly.


@dataclass(slots=True)
class _Pending:
    started: float
    parts: dict[int, TextMessage]


class ConcatReassembler:
    """Joins the parts of concatenated texts per sender; incomplete texts expire after `timeout_s`.

    The caller acknowledges each part (its own message reference and report request) as it arrives; the joined
    message therefore carries no message reference and no report request. At most `max_pending` texts are held
    at once; beyond that the oldest is dropped. Time is passed in by the caller (`now`), never read here.
    """

    def __init__(self, timeout_s: float, max_pending: int = 256) -> None:
        self._timeout_s = timeout_s
        self._max_pending = max_pending
        self._pending: dict[tuple[str, int, int], _Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, sender: str, part: TextMessage, now: float) -> TextMessage | None:
        """Add one received text; returns the whole text once every part is in (a plain text at once)."""
        concat = part.concat
        if concat is None:
            return part
        key = (sender, concat.reference, concat.total)
        pending = self._pending.get(key)
        if pending is None:
            if len(self._pending) >= self._max_pending:
                oldest = min(self._pending, key=lambda k: self._pending[k].started)
                del self._pending[oldest]
            pending = self._pending[key] = _Pending(now, {})
        pending.parts[concat.number] = part
        if len(pending.parts) < concat.total:
            return None
        del self._pending[key]
        ordered = [pending.parts[number] for number in range(1, concat.total + 1)]
        first = ordered[0]
        return TextMessage(
            pid=first.pid,
            text="".join(piece.text for piece in ordered),
            coding=first.coding,
            timestamp=first.timestamp,
        )

    def expire(self, now: float) -> int:
        """Drop texts whose first part arrived more than `timeout_s` before `now`; returns how many."""
        stale = [key for key, pending in self._pending.items() if now - pending.started > self._timeout_s]
        for key in stale:
            del self._pending[key]
        return len(stale)
