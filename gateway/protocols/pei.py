"""TETRA PEI (ETSI EN 300 392-5 AT commands) as a sans-I/O state machine.

``PeiProtocol`` never touches a port or a clock: the driver passes in the bytes it read and the time it read
them (``now``, any monotonic float), writes the bytes ``send`` returns, and calls ``poll`` at
``next_deadline()``. The same object serves the daemon, the radio simulator's tests, ``decode pei`` and the
fuzzer.

Two independent pieces of state:

- at most one *pending command* (the driver queues the rest); it completes on ``OK``, ``ERROR``,
  ``+CME ERROR: <n>`` or ``+CMS ERROR: <n>``, or times out at its deadline;
- at most one *SDS header awaiting its payload*: ``+CTSDSR: ...`` is followed by one line of hex user data.
  The header expires when its deadline passes or when the next line cannot be a payload (it starts with ``+``
  or is a final result code); that line is then handled as usual.

Every complete line is classified by the rules below, first match wins (``_handle_line`` is the table):

1. an SDS header is waiting: an echo of the pending command is skipped; a ``+`` line or a final result code
   expires the header and falls through; any other line is the payload -> ``SdsReceived`` (hex kept raw: the
   SDS codec checks it against the declared bit length);
2. an echo of the pending command or of its SDS user data (radios with ``ATE1``) is skipped;
3. a final result code completes the pending command -> ``CommandCompleted`` (with nothing pending:
   ``UnknownLine``, e.g. the ``+CME ERROR: 35`` some radios print on open);
4. a known unsolicited prefix (``UNSOLICITED_PREFIXES``) gets its own event; the exceptions: the first
   ``+CMGS:`` while ``AT+CMGS`` is pending is that command's response, and a line whose prefix names the
   pending command (``+CTOM: 0`` for ``AT+CTOM?``) is a response line (``+CREG:`` is also reported as an
   event);
5. while a command is pending, a line without a ``+NAME:`` prefix, or whose prefix names the pending command
   (``+CNUMF:`` for ``AT+CNUMF?``), is a response line;
6. anything else is ``UnknownLine`` (Motorola's ``+ENCR: 15,...``): counted in ``unknown_lines``, never fatal.

A known line whose fields do not parse becomes ``MalformedLine`` and is counted in ``drops``. Nothing here
raises on input from the radio; ``send`` raises ``CommandError`` when the caller breaks the rules (a command
while one is pending, a malformed command).
"""

from __future__ import annotations

import math
import re
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from gateway.errors import CommandError, PeiError
from gateway.protocols.pei_framer import DEFAULT_MAX_LINE_BYTES, LineFramer

DEFAULT_HEADER_TIMEOUT_S = 2.0
RECENT_LINES = 32
MAX_RESPONSE_LINES = 64
CTRL_Z = "\x1a"
LINE_ENDINGS: dict[str, str] = {"CR": "\r", "CRLF": "\r\n", "\r": "\r", "\r\n": "\r\n"}
"""Accepted spellings of ``line_ending``: the config names or the characters themselves."""
LineEnding: TypeAlias = Literal["CR", "CRLF", "\r", "\r\n"]
CMGS_LINE_ENDING = "\r\n"
"""``AT+CMGS=<called>,<bits>`` is followed by CR LF, then the hex user data and Ctrl-Z."""

MAX_SDS_BITS = 2047
MAX_SSI = 0xFFFFFF
ISSI_MAX_DIGITS = 8
SSI_DIGITS = 8
TSI_MIN_DIGITS = 15
TSI_MAX_DIGITS = 17
RSSI_MAX = 31
SIGNAL_UNKNOWN = 99
DBM_AT_RSSI_ZERO = -113
DBM_PER_RSSI_STEP = 2
EMERGENCY_PRIORITY = 15
"""+CTICN priority level 15 is emergency pre-emptive."""

CME_ERRORS: dict[int, str] = {
    0: "cannot send over the air",
    3: "not allowed in current state",
    4: "not supported",
    20: "message stack full",
    30: "MS out of service",
    31: "no layer-2 acknowledgement from the network",
    32: "user data decoding failed",
    33: "wrong parameter type",
    34: "parameter out of range",
    35: "syntax error",
    36: "user data without AT+CMGS",
    37: "AT+CMGS timed out waiting for user data",
    38: "PID already registered",
    40: "not supported in DMO",
    41: "transmit inhibit",
    42: "MT busy",
}
"""``+CME ERROR: <n>`` meanings from EN 300 392-5."""

REGISTRATION_STATES: dict[int, str] = {
    0: "searching",
    1: "registered, home network",
    2: "not registered",
    3: "registration rejected",
    4: "unknown",
    5: "registered, visited network",
}

CTSDSR = "+CTSDSR"
CMGS = "+CMGS"
CREG = "+CREG"
CTICN = "+CTICN"
UNSOLICITED_PREFIXES = frozenset(
    {"+CTXD", "+CTCR", "+CTOM", "+CDTXC", CTSDSR, CMGS, CREG, CTICN, "+CTCC", "+CTXG", "+CTXN"}
)
"""Line prefixes a radio prints on its own; recognised before a line is taken as a command response."""

FINAL_OK = "OK"
FINAL_ERROR = "ERROR"
CME_ERROR = "+CME ERROR"
CMS_ERROR = "+CMS ERROR"

DROP_SDS_HEADER_EXPIRED = "sds_header_expired"
DROP_ORPHAN_SDS_PAYLOAD = "orphan_sds_payload"
DROP_RESPONSE_OVERFLOW = "response_overflow"

_DIGITS = re.compile(r"[0-9]+")
_HEX = re.compile(r"[0-9A-Fa-f]+")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")
_COMMAND_NAME = re.compile(r"AT(\+[A-Z0-9]+)")


# --------------------------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class CommandCompleted:
    """The pending command got its final result code; ``lines`` are the response lines before it."""

    command: str
    ok: bool
    lines: tuple[str, ...]
    result: str
    error_code: int | None = None
    error_meaning: str | None = None

    def __post_init__(self) -> None:
        if self.ok and self.error_code is not None:
            raise PeiError(f"a successful command has no error code: {self!r}")


@dataclass(frozen=True, slots=True)
class CommandTimedOut:
    """The pending command got no final result code before its deadline."""

    command: str
    lines: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SdsReceived:
    """A ``+CTSDSR`` header and its payload line; ``data_hex`` is kept exactly as the radio printed it."""

    service: int
    calling: str | None
    calling_type: int | None
    called: str
    called_type: int | None
    length_bits: int
    e2ee: int | None
    data_hex: str

    def __post_init__(self) -> None:
        if not 0 <= self.length_bits <= MAX_SDS_BITS:
            raise PeiError(f"SDS length {self.length_bits} bits is outside 0..{MAX_SDS_BITS}")


@dataclass(frozen=True, slots=True)
class SdsHeaderExpired:
    """A ``+CTSDSR`` header whose payload line never came (timeout, or a ``+`` line arrived first)."""

    header: str


@dataclass(frozen=True, slots=True)
class SendReport:
    """Unsolicited ``+CMGS: <instance>,<status>,<mr>``: status 4 = sent over the air, 5 = failed."""

    instance: int
    status: int | None
    message_reference: int | None


@dataclass(frozen=True, slots=True)
class RegistrationChanged:
    """A ``+CREG:`` line, unsolicited or in answer to ``AT+CREG?``."""

    stat: int
    la: int | None
    mni: str | None
    meaning: str


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """``+CTICN:`` in EN 300 392-5 field order, missing fields None; priority 15 is emergency pre-emptive."""

    instance: int
    call_status: int | None
    service: int | None
    calling: str | None
    calling_type: int | None
    priority: int | None
    hook: int | None = None
    simplex: int | None = None
    e2ee: int | None = None
    comms_type: int | None = None
    slots_codec: int | None = None
    called: str | None = None
    called_type: int | None = None


@dataclass(frozen=True, slots=True)
class Unsolicited:
    """A known unsolicited line without a dedicated event (``+CTXD``, ``+CTCC``, ...)."""

    prefix: str
    line: str


@dataclass(frozen=True, slots=True)
class UnknownLine:
    """A line nobody expected: nothing pending, or a ``+NAME:`` line that answers another command."""

    line: str


@dataclass(frozen=True, slots=True)
class MalformedLine:
    """A line with a known prefix whose fields do not parse; ``reason`` says why."""

    line: str
    reason: str


PeiEvent: TypeAlias = (
    CommandCompleted
    | CommandTimedOut
    | SdsReceived
    | SdsHeaderExpired
    | SendReport
    | RegistrationChanged
    | IncomingCall
    | Unsolicited
    | UnknownLine
    | MalformedLine
)


# --------------------------------------------------------------------------------------------- parsers


@dataclass(frozen=True, slots=True)
class Identity:
    """A radio identity: the ISSI (the SSI, last 8 digits) and, when given, the full TSI (MCC+MNC+SSI)."""

    issi: int
    tsi: str | None
    raw: str


@dataclass(frozen=True, slots=True)
class Signal:
    """``+CSQ: <rssi>,<ber>``; ``dbm`` is None when the radio reports 99 (unknown)."""

    rssi: int
    ber: int
    dbm: int | None


@dataclass(frozen=True, slots=True)
class Registration:
    """``+CREG: <stat>[,<la>[,<mni>]]`` with the meaning of ``stat``."""

    stat: int
    meaning: str
    la: int | None = None
    mni: str | None = None


@dataclass(frozen=True, slots=True)
class CmgsResponse:
    """``+CMGS: <instance>[,<sds status>[,<message reference>]]``."""

    instance: int
    status: int | None
    message_reference: int | None


@dataclass(frozen=True, slots=True)
class SdsHeader:
    """The fields of a ``+CTSDSR:`` header line (3, 4, 6 or 7 fields)."""

    service: int
    calling: str | None
    calling_type: int | None
    called: str
    called_type: int | None
    length_bits: int
    e2ee: int | None


def parse_identity(text: str) -> Identity:
    """Parse an ISSI (up to 8 digits) or a full TSI (15-17 digits; the SSI is the last 8)."""
    raw = text.strip().strip('"').strip()
    if not _DIGITS.fullmatch(raw):
        raise PeiError(f"identity {text!r} is not a string of digits")
    if len(raw) <= ISSI_MAX_DIGITS:
        tsi = None
        ssi = raw
    elif TSI_MIN_DIGITS <= len(raw) <= TSI_MAX_DIGITS:
        tsi = raw
        ssi = raw[-SSI_DIGITS:]
    else:
        raise PeiError(
            f"identity {text!r} has {len(raw)} digits: neither an ISSI (1-{ISSI_MAX_DIGITS}) "
            f"nor a TSI ({TSI_MIN_DIGITS}-{TSI_MAX_DIGITS})"
        )
    issi = int(ssi)
    if issi > MAX_SSI:
        raise PeiError(f"identity {text!r}: SSI {issi} exceeds 24 bits")
    return Identity(issi=issi, tsi=tsi, raw=raw)


def parse_cnumf(lines: Iterable[str]) -> Identity:
    """The radio's own identity from the response to ``AT+CNUMF?`` (``+CNUMF: <type>,<number>``)."""
    fields = _fields(_find_line(lines, "+CNUMF"))
    if len(fields) < 2:
        raise PeiError(f"+CNUMF needs <type>,<number>, got {fields!r}")
    _int(fields[0], "+CNUMF identity type")
    return parse_identity(fields[1])


def parse_csq(lines: Iterable[str]) -> Signal:
    """Signal quality from the response to ``AT+CSQ?``: dBm = -113 + 2 * rssi, 99 = unknown."""
    fields = _fields(_find_line(lines, "+CSQ"))
    if len(fields) != 2:
        raise PeiError(f"+CSQ needs <rssi>,<ber>, got {fields!r}")
    rssi = _int(fields[0], "+CSQ rssi")
    ber = _int(fields[1], "+CSQ ber")
    if rssi == SIGNAL_UNKNOWN:
        dbm = None
    elif rssi <= RSSI_MAX:
        dbm = DBM_AT_RSSI_ZERO + DBM_PER_RSSI_STEP * rssi
    else:
        raise PeiError(f"+CSQ rssi {rssi} is outside 0..{RSSI_MAX} and not {SIGNAL_UNKNOWN}")
    return Signal(rssi=rssi, ber=ber, dbm=dbm)


def parse_creg(line: str) -> Registration:
    """A ``+CREG: <stat>[,<la>[,<mni>]]`` line (the prefix is optional)."""
    fields = _fields(line) if line.lstrip().upper().startswith(CREG) else _split(line)
    if not fields or len(fields) > 3:
        raise PeiError(f"+CREG needs <stat>[,<la>[,<mni>]], got {line!r}")
    stat = _int(fields[0], "+CREG stat")
    meaning = REGISTRATION_STATES.get(stat, f"stat {stat}")
    la = _optional_int(fields, 1, "+CREG location area")
    mni = fields[2] if len(fields) > 2 and fields[2] else None
    return Registration(stat=stat, meaning=meaning, la=la, mni=mni)


def parse_cmgs_response(lines: Iterable[str]) -> CmgsResponse:
    """The first ``+CMGS: <instance>[,<status>[,<mr>]]`` among ``lines``."""
    fields = _fields(_find_line(lines, CMGS))
    if not fields or len(fields) > 3:
        raise PeiError(f"+CMGS needs <instance>[,<status>[,<mr>]], got {fields!r}")
    return CmgsResponse(
        instance=_int(fields[0], "+CMGS instance"),
        status=_optional_int(fields, 1, "+CMGS status"),
        message_reference=_optional_int(fields, 2, "+CMGS message reference"),
    )


def parse_ctsdsr(line: str) -> SdsHeader:
    """A ``+CTSDSR:`` header: 3 (service, called, length), 4 (+ called type), 6 (full) or 7 (+ e2ee) fields.

    Raises PeiError for another field count or a field that does not parse.
    """
    fields = _fields(line)
    count = len(fields)
    if count == 3:
        service, called, length = fields
        calling = calling_type = called_type = e2ee = ""
    elif count == 4:
        service, called, called_type, length = fields
        calling = calling_type = e2ee = ""
    elif count in (6, 7):
        service, calling, calling_type, called, called_type, length = fields[:6]
        e2ee = fields[6] if count == 7 else ""
    else:
        raise PeiError(f"+CTSDSR has {count} fields; expected 3, 4, 6 or 7")
    if not called:
        raise PeiError("+CTSDSR without a called identity")
    length_bits = _int(length, "+CTSDSR length")
    if length_bits > MAX_SDS_BITS:
        raise PeiError(f"+CTSDSR length {length_bits} bits exceeds {MAX_SDS_BITS}")
    return SdsHeader(
        service=_int(service, "+CTSDSR AI service"),
        calling=calling or None,
        calling_type=_optional_int([calling_type], 0, "+CTSDSR calling identity type"),
        called=called,
        called_type=_optional_int([called_type], 0, "+CTSDSR called identity type"),
        length_bits=length_bits,
        e2ee=_optional_int([e2ee], 0, "+CTSDSR e2ee"),
    )


def parse_cticn(line: str) -> IncomingCall:
    """A ``+CTICN:`` line in EN 300 392-5 order; fields after the CC instance may be empty or missing."""
    fields = _fields(line)
    if not fields or len(fields) > 13:
        raise PeiError(f"+CTICN has {len(fields)} fields; expected 1..13")
    fields += [""] * (13 - len(fields))

    def number(index: int, what: str) -> int | None:
        return _optional_int(fields, index, f"+CTICN {what}")

    return IncomingCall(
        instance=_int(fields[0], "+CTICN CC instance"),
        call_status=number(1, "call status"),
        service=number(2, "AI service"),
        calling_type=number(3, "calling party identity type"),
        calling=fields[4] or None,
        hook=number(5, "hook"),
        simplex=number(6, "simplex"),
        e2ee=number(7, "e2ee"),
        comms_type=number(8, "comms type"),
        slots_codec=number(9, "slots/codec"),
        called_type=number(10, "called party identity type"),
        called=fields[11] or None,
        priority=number(12, "priority level"),
    )


def _find_line(lines: Iterable[str], prefix: str) -> str:
    if isinstance(lines, str):
        lines = [lines]
    for line in lines:
        if _line_name(line.strip()) == prefix:
            return line
    raise PeiError(f"no {prefix}: line in the response")


def _fields(line: str) -> list[str]:
    _, sep, rest = line.partition(":")
    if not sep:
        raise PeiError(f"{line!r} has no ':'")
    return _split(rest)


def _split(text: str) -> list[str]:
    if not text.strip():
        return []
    return [part.strip().strip('"').strip() for part in text.split(",")]


def _int(text: str, what: str) -> int:
    if not _DIGITS.fullmatch(text):
        raise PeiError(f"{what} {text!r} is not a number")
    return int(text)


def _optional_int(fields: list[str], index: int, what: str) -> int | None:
    if index >= len(fields) or not fields[index]:
        return None
    return _int(fields[index], what)


def _line_name(text: str) -> str | None:
    if not text.startswith("+"):
        return None
    return text.partition(":")[0].strip().upper()


@dataclass(frozen=True, slots=True)
class _FinalResult:
    ok: bool
    code: int | None
    meaning: str | None


def _final_result(text: str) -> _FinalResult | None:
    upper = text.upper()
    if upper == FINAL_OK:
        return _FinalResult(True, None, None)
    if upper == FINAL_ERROR:
        return _FinalResult(False, None, None)
    for prefix in (CME_ERROR, CMS_ERROR):
        if upper.startswith(prefix):
            digits = upper[len(prefix) :].lstrip(": ").strip()
            code = int(digits) if _DIGITS.fullmatch(digits) else None
            meaning = CME_ERRORS.get(code) if prefix == CME_ERROR and code is not None else None
            return _FinalResult(False, code, meaning)
    return None


# --------------------------------------------------------------------------------------------- protocol


@dataclass(slots=True)
class _PendingCommand:
    command: str
    name: str | None
    data_hex: str | None
    deadline: float
    lines: list[str] = field(default_factory=list)
    cmgs_answered: bool = False

    def is_echo(self, text: str) -> bool:
        upper = text.upper()
        return upper == self.command.upper() or (self.data_hex is not None and upper == self.data_hex.upper())

    def answers(self, name: str) -> bool:
        return self.name is not None and name.startswith(self.name)


@dataclass(slots=True)
class _AwaitedPayload:
    line: str
    header: SdsHeader | None
    deadline: float


class PeiProtocol:
    """The PEI state machine: ``send`` a command, feed ``receive_data``, ``poll`` at ``next_deadline()``.

    Counters for health and diagnosis: ``drops`` (by reason, shared with the line framer), ``unknown_lines``,
    and ``recent``, the last 32 lines received.
    """

    def __init__(
        self,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S,
        line_ending: LineEnding = "CR",
    ) -> None:
        if not header_timeout_s > 0:
            raise CommandError(f"header_timeout_s must be positive, got {header_timeout_s}")
        if line_ending not in LINE_ENDINGS:
            raise CommandError(f"line_ending must be one of {list(LINE_ENDINGS)}, got {line_ending!r}")
        self.header_timeout_s = header_timeout_s
        self.line_ending = LINE_ENDINGS[line_ending]
        self.drops: Counter[str] = Counter()
        self.unknown_lines = 0
        self.recent: deque[str] = deque(maxlen=RECENT_LINES)
        self._framer = LineFramer(max_line_bytes, self.drops)
        self._pending: _PendingCommand | None = None
        self._awaited: _AwaitedPayload | None = None

    @property
    def pending_command(self) -> str | None:
        """The command awaiting its final result code, if any."""
        return self._pending.command if self._pending is not None else None

    @property
    def awaiting_payload(self) -> bool:
        """True while a ``+CTSDSR`` header waits for its payload line."""
        return self._awaited is not None

    def send(self, command: str, *, data_hex: str | None = None, timeout_s: float, now: float) -> bytes:
        """Start ``command`` and return the bytes to write.

        ``AT+CMGS=<called>,<bits>`` needs ``data_hex``: the bytes are the command, CR LF, the hex and Ctrl-Z.
        Raises ``CommandError`` if a command is already pending (the caller queues) or the input is malformed.
        """
        if self._pending is not None:
            raise CommandError(f"cannot send {command!r}: {self._pending.command!r} is still pending")
        text = command.strip()
        if not _PRINTABLE_ASCII.fullmatch(text) or not text.upper().startswith("AT"):
            raise CommandError(f"not a printable AT command: {command!r}")
        if not timeout_s > 0:
            raise CommandError(f"timeout_s must be positive, got {timeout_s}")
        is_cmgs = text.upper().startswith("AT+CMGS=")
        if is_cmgs and data_hex is None:
            raise CommandError(f"{text!r} needs data_hex (the SDS user data)")
        if data_hex is not None:
            if not is_cmgs:
                raise CommandError(f"data_hex is only sent after AT+CMGS=..., not after {text!r}")
            if not _HEX.fullmatch(data_hex):
                raise CommandError(f"data_hex {data_hex!r} is not hex digits")
        match = _COMMAND_NAME.match(text.upper())
        self._pending = _PendingCommand(
            command=text,
            name=match.group(1) if match else None,
            data_hex=data_hex,
            deadline=now + timeout_s,
        )
        if data_hex is not None:
            return f"{text}{CMGS_LINE_ENDING}{data_hex}{CTRL_Z}".encode("ascii")
        return f"{text}{self.line_ending}".encode("ascii")

    def receive_data(self, data: bytes, now: float) -> list[PeiEvent]:
        """Feed bytes read from the radio at time ``now``; return the events they complete.

        Deadlines that passed before ``now`` are applied first, exactly as ``poll(now)`` would.
        """
        events = self._expire(now)
        for line in self._framer.feed(data):
            self.recent.append(line)
            self._handle_line(line, now, events)
        return events

    def poll(self, now: float) -> list[PeiEvent]:
        """Time out the pending command and an SDS header whose deadline has passed."""
        return self._expire(now)

    def next_deadline(self) -> float | None:
        """When ``poll`` next has something to do, or None."""
        deadlines = [state.deadline for state in (self._pending, self._awaited) if state is not None]
        return min(deadlines) if deadlines else None

    def _expire(self, now: float) -> list[PeiEvent]:
        events: list[PeiEvent] = []
        if self._pending is not None and now >= self._pending.deadline:
            events.append(CommandTimedOut(self._pending.command, tuple(self._pending.lines)))
            self._pending = None
        if self._awaited is not None and now >= self._awaited.deadline:
            events.append(self._expire_header())
        return events

    def _expire_header(self) -> SdsHeaderExpired:
        assert self._awaited is not None
        line = self._awaited.line
        self._awaited = None
        self.drops[DROP_SDS_HEADER_EXPIRED] += 1
        return SdsHeaderExpired(line)

    def _handle_line(self, line: str, now: float, events: list[PeiEvent]) -> None:
        text = line.strip()
        pending = self._pending
        if pending is not None and pending.data_hex is not None and text.startswith(">"):
            text = text[1:].strip()  # the prompt some radios print before the user data
        if not text:
            return

        if self._awaited is not None:
            if pending is not None and text.upper() == pending.command.upper():
                return
            if text.startswith("+") or _final_result(text) is not None:
                events.append(self._expire_header())
            else:
                self._deliver_payload(text, events)
                return

        if pending is not None and pending.is_echo(text):
            return

        final = _final_result(text)
        if final is not None:
            if pending is None:
                self._unknown(text, events)
                return
            self._pending = None
            events.append(
                CommandCompleted(
                    command=pending.command,
                    ok=final.ok,
                    lines=tuple(pending.lines),
                    result=text,
                    error_code=final.code,
                    error_meaning=final.meaning,
                )
            )
            return

        name = _line_name(text)
        if name in UNSOLICITED_PREFIXES:
            self._handle_unsolicited(name, text, now, events)
        elif pending is not None and (name is None or pending.answers(name)):
            self._add_response_line(pending, text)
        else:
            self._unknown(text, events)

    def _handle_unsolicited(self, name: str, text: str, now: float, events: list[PeiEvent]) -> None:
        pending = self._pending
        if name == CTSDSR:
            try:
                header: SdsHeader | None = parse_ctsdsr(text)
            except PeiError as exc:
                header = None
                self._malformed(text, str(exc), events)
            self._awaited = _AwaitedPayload(text, header, now + self.header_timeout_s)
            return
        if name == CMGS:
            if pending is not None and pending.data_hex is not None and not pending.cmgs_answered:
                pending.cmgs_answered = True
                self._add_response_line(pending, text)
                return
            try:
                response = parse_cmgs_response([text])
            except PeiError as exc:
                self._malformed(text, str(exc), events)
                return
            events.append(SendReport(response.instance, response.status, response.message_reference))
            return

        answers_pending = pending is not None and pending.answers(name)
        if pending is not None and answers_pending:
            self._add_response_line(pending, text)
        try:
            if name == CREG:
                reg = parse_creg(text)
                events.append(RegistrationChanged(reg.stat, reg.la, reg.mni, reg.meaning))
            elif name == CTICN:
                events.append(parse_cticn(text))
            elif not answers_pending:
                events.append(Unsolicited(name, text))
        except PeiError as exc:
            self._malformed(text, str(exc), events)

    def _deliver_payload(self, text: str, events: list[PeiEvent]) -> None:
        assert self._awaited is not None
        header = self._awaited.header
        self._awaited = None
        if header is None:
            self.drops[DROP_ORPHAN_SDS_PAYLOAD] += 1
            return
        events.append(
            SdsReceived(
                service=header.service,
                calling=header.calling,
                calling_type=header.calling_type,
                called=header.called,
                called_type=header.called_type,
                length_bits=header.length_bits,
                e2ee=header.e2ee,
                data_hex=text,
            )
        )

    def _add_response_line(self, pending: _PendingCommand, text: str) -> None:
        if len(pending.lines) >= MAX_RESPONSE_LINES:
            self.drops[DROP_RESPONSE_OVERFLOW] += 1
            return
        pending.lines.append(text)

    def _unknown(self, text: str, events: list[PeiEvent]) -> None:
        self.unknown_lines += 1
        events.append(UnknownLine(text))

    def _malformed(self, text: str, reason: str, events: list[PeiEvent]) -> None:
        name = _line_name(text) or "line"
        self.drops[f"malformed {name}"] += 1
        events.append(MalformedLine(text, reason))


def decode_pei_lines(lines: Iterable[str]) -> Iterator[PeiEvent]:
    """Decode captured radio output offline, one line per item (line ends optional), no command pending.

    A ``+CTSDSR`` header left without its payload at the end is reported as ``SdsHeaderExpired``.
    """
    protocol = PeiProtocol()
    for line in lines:
        yield from protocol.receive_data(line.encode("utf-8", "replace") + b"\r\n", now=0.0)
    yield from protocol.poll(math.inf)
