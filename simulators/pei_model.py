"""What the simulated TETRA radio answers: a sans-I/O model of a Motorola/Sepura PEI.

``CommandAssembler`` turns the bytes a gateway writes into received lines: commands end in CR or CR LF
(a bare LF is accepted too). Only a well-formed send, ``AT+CMGS=<called>,<bits>``, opens data mode (the test
form ``AT+CMGS=?`` and malformed sends are ordinary commands): the next bytes are the hex user data, and
every way out of data mode yields it as one line of its own, terminator removed, marked with how it ended:
Ctrl-Z (0x1A) sends it, ESC (0x1B) cancels it (as on GSM modems), and ``time_out()``, called by whoever keeps
the clock ``USER_DATA_TIMEOUT_S`` after the command, abandons it. So a cancelled or timed-out message is still
received (and logged) as what the gateway wrote, possibly an empty line. Empty command lines are ignored and
a line longer than ``MAX_LINE`` is cut there.

``RadioModel.handle`` takes one received line and returns a ``Reply``: lines to print now or after a delay
(the later ``+CMGS: <instance>,4,<mr>`` "sent over the air" report and, when the SDS-TL text asked for one,
the delivery report coming back), a silence to keep (``ATZ`` reboots), and what was sent (so a simulated fleet
can answer a location request). User data ended by ESC is answered ``OK`` and not sent; user data that timed
out is answered ``+CME ERROR: 37``. Test commands (``AT+CMGS=?``, ``AT+CTSDS=?``, ...) answer from
``TEST_ANSWERS``. No clock, no I/O: the radio simulator schedules the replies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from gateway.protocols import sds

MAX_LINE = 4096
CTRL_Z = 0x1A
ESC = 0x1B

SENT_REPORT_DELAY_S = 0.2
"""After accepting AT+CMGS, when the radio reports the message sent over the air."""

DELIVERY_REPORT_DELAY_S = 0.6
"""After accepting AT+CMGS, when the addressee's SDS-TL delivery report arrives."""

ATZ_SILENCE_S = 0.5
"""How long the radio ignores commands after ATZ (it reboots)."""

USER_DATA_TIMEOUT_S = 5.0
"""How long the radio waits, from ``AT+CMGS=<called>,<bits>``, for the whole user data and its Ctrl-Z before
it answers ``+CME ERROR: 37`` and returns to command mode."""

MAX_USER_DATA_BITS = 1184
"""The user data length the radio advertises in its ``AT+CMGS=?`` answer (advertised, not enforced)."""

TEST_ANSWERS: dict[str, tuple[str, ...]] = {
    "+CMGS": (f"+CMGS: (0-16777215),(0-{MAX_USER_DATA_BITS})",),
    "+CTSDS": ("+CTSDS: (12,13),(0,1)",),
    "+CTSP": (),
    "+CTOM": (),
    "+CSQ": (),
    "+CREG": (),
    "+CNUMF": (),
    "+GMI": (),
    "+GMM": (),
    "+GMR": (),
}
"""``AT<name>=?`` test commands: the parameter ranges printed before ``OK`` (none: just ``OK``). AT+CMGS
advertises called identities of up to 24 bits and ``MAX_USER_DATA_BITS``; AT+CTSDS the two AI services the
simulator models (12 SDS type 4, 13 status) and called identity types 0 (individual) and 1 (group)."""

SDS_STATUS_STORED = 2
SDS_STATUS_SENT = 4
SDS_STATUS_FAILED = 5
CME_NOT_SUPPORTED = 4
CME_NO_LAYER2_ACK = 31
CME_SYNTAX_ERROR = 35
CME_USER_DATA_WITHOUT_CMGS = 36
CME_USER_DATA_TIMEOUT = 37
SERVICE_SDS_TYPE4 = 12
SERVICE_STATUS = 13
SDS_TL_MIN_PID = 0x80
SDS_TL_TRANSFER = 0
DELIVERY_RECEIVED = 0x00
DELIVERY_CONSUMED = 0x02

SIGNAL_LINE = "+CSQ: 24,99"
LOCATION_AREA = 1001
MANUFACTURER = "+GMI: patrol-sim"
MODEL = "+GMM: TETRA PEI simulator"
REVISION = "+GMR: 1.0"


class UserDataEnd(Enum):
    """How the user data after ``AT+CMGS`` ended."""

    CTRL_Z = "ctrl-z"
    """Sent: the radio transmits it."""
    ESC = "esc"
    """Cancelled by the gateway."""
    TIMEOUT = "timeout"
    """Abandoned: no Ctrl-Z within ``USER_DATA_TIMEOUT_S``."""


@dataclass(frozen=True, slots=True)
class ReceivedLine:
    """One line the gateway wrote; for the hex after AT+CMGS, ``end`` says how it ended (without it)."""

    text: str
    end: UserDataEnd | None = None

    @property
    def user_data(self) -> bool:
        """True for the user data after AT+CMGS, False for a command."""
        return self.end is not None


@dataclass(frozen=True, slots=True)
class SendRequest:
    """A well-formed ``AT+CMGS=<called>,<bits>``: the command that opens data mode."""

    called: str
    bits: int


def parse_send_request(text: str) -> SendRequest | None:
    """``AT+CMGS=<called>,<bits>`` (any case, spaces ignored) -> its request; None for any other line."""
    command = text.upper().replace(" ", "")
    if not command.startswith("AT+CMGS="):
        return None
    fields = command.removeprefix("AT+CMGS=").split(",")
    if len(fields) != 2 or not all(_is_number(f) for f in fields):
        return None
    return SendRequest(fields[0], int(fields[1]))


class CommandAssembler:
    """Bytes from the gateway -> ``ReceivedLine``s (see the module docstring for the rules)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._in_user_data = False
        self._after_cr = False

    @property
    def in_user_data(self) -> bool:
        """True from a well-formed ``AT+CMGS`` until its user data ends."""
        return self._in_user_data

    def time_out(self) -> ReceivedLine:
        """The radio gave up waiting for the Ctrl-Z: the user data received so far, back to command mode."""
        if not self._in_user_data:
            raise RuntimeError("time_out() without user data pending: no AT+CMGS opened data mode")
        return self._end_user_data(UserDataEnd.TIMEOUT)

    def feed(self, data: bytes) -> list[ReceivedLine]:
        """Consume ``data``; return the lines it completed."""
        lines: list[ReceivedLine] = []
        for byte in data:
            if self._in_user_data:
                self._feed_user_data(byte, lines)
                continue
            if byte in (0x0D, 0x0A):
                if byte == 0x0A and self._after_cr:
                    self._after_cr = False
                    continue
                self._after_cr = byte == 0x0D
                self._finish_command(lines)
                continue
            self._after_cr = False
            if len(self._buffer) < MAX_LINE:
                self._buffer.append(byte)
        return lines

    def _finish_command(self, lines: list[ReceivedLine]) -> None:
        text = self._buffer.decode("latin-1").strip()
        self._buffer.clear()
        if not text:
            return
        lines.append(ReceivedLine(text))
        self._in_user_data = parse_send_request(text) is not None

    def _feed_user_data(self, byte: int, lines: list[ReceivedLine]) -> None:
        if byte == CTRL_Z:
            lines.append(self._end_user_data(UserDataEnd.CTRL_Z))
        elif byte == ESC:
            lines.append(self._end_user_data(UserDataEnd.ESC))
        elif byte not in (0x0D, 0x0A) and len(self._buffer) < MAX_LINE:
            self._buffer.append(byte)

    def _end_user_data(self, end: UserDataEnd) -> ReceivedLine:
        text = self._buffer.decode("latin-1").strip()
        self._buffer.clear()
        self._in_user_data = False
        self._after_cr = False
        return ReceivedLine(text, end)


@dataclass(frozen=True, slots=True)
class Output:
    """Lines the radio prints (CR LF appended), ``delay_s`` after the command that caused them."""

    lines: tuple[str, ...]
    delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class SentSds:
    """User data the radio accepted for sending."""

    called: str
    service: int
    bits: int
    hex: str


@dataclass(frozen=True, slots=True)
class Reply:
    """The radio's reaction to one received line."""

    outputs: tuple[Output, ...] = ()
    silence_s: float = 0.0
    sent: SentSds | None = None


@dataclass(frozen=True, slots=True)
class RadioIdentity:
    """Who the radio is: its ISSI and network (MCC, MNC), and how AT+CNUMF? reports it (type 6 or 0)."""

    issi: int
    mcc: int = 293
    mnc: int = 1
    cnumf_type: int = 6

    def __post_init__(self) -> None:
        if not 0 < self.issi <= 0xFFFFFF:
            raise ValueError(f"ISSI must be 1..16777215, got {self.issi}")
        if self.cnumf_type not in (0, 6):
            raise ValueError(f"AT+CNUMF? type must be 0 or 6, got {self.cnumf_type}")

    @property
    def tsi(self) -> str:
        """MCC (4 digits), MNC (5 digits) and SSI (8 digits): 17 digits."""
        return f"{self.mcc:04d}{self.mnc:05d}{self.issi:08d}"

    @property
    def cnumf(self) -> str:
        """The AT+CNUMF? response line."""
        return f"+CNUMF: 6,{self.tsi}" if self.cnumf_type == 6 else f"+CNUMF: 0,{self.issi}"

    @property
    def creg(self) -> str:
        """A "registered, home network" +CREG line."""
        return f"+CREG: 1,{LOCATION_AREA},{self.mcc:04d}{self.mnc:05d}"


@dataclass(slots=True)
class _RadioState:
    """Everything a reboot forgets."""

    echo: bool = False
    mode: int = 0
    service: int = SERVICE_SDS_TYPE4
    called_type: int = 0
    registrations: set[str] = field(default_factory=set)
    pending_cmgs: SendRequest | None = None


class RadioModel:
    """The PEI command set of a radio (see the module docstring)."""

    def __init__(
        self,
        identity: RadioIdentity,
        *,
        echo: bool = False,
        fail_sends: bool = False,
        lose_over_air: bool = False,
        cme_on_open: bool = False,
    ) -> None:
        self.identity = identity
        self._default_echo = echo
        self._fail_sends = fail_sends
        self._lose_over_air = lose_over_air
        self._cme_on_open = cme_on_open
        self._garbled = False
        self._first_command = True
        self._state = _RadioState(echo=echo)
        self._message_reference = 0

    @property
    def registrations(self) -> frozenset[str]:
        """The AT+CTSP registrations received since power-up, as their parameter strings."""
        return frozenset(self._state.registrations)

    def power_up(self) -> tuple[str, ...]:
        """Forget everything volatile (as after a reboot) and return the lines printed on power-up."""
        self._state = _RadioState(echo=self._default_echo)
        return (f"+CTOM: {self._state.mode}", self.identity.creg)

    def port_opened(self) -> tuple[Output, ...]:
        """A reader opened the port: with ``cme_on_open``, garbage now and errors until an AT gets OK."""
        if not self._cme_on_open:
            return ()
        self._garbled = True
        self._first_command = True
        return (Output((f"+CME ERROR: {CME_SYNTAX_ERROR}",)),)

    def handle(self, line: ReceivedLine) -> Reply:
        """React to one received line."""
        first, self._first_command = self._first_command, False
        if line.user_data:
            return self._user_data(line)
        echo = (Output((line.text,)),) if self._state.echo else ()
        if self._garbled:
            if line.text.upper() == "AT" and not first:
                self._garbled = False
                return Reply((*echo, Output(("OK",))))
            return Reply((*echo, Output((f"+CME ERROR: {CME_SYNTAX_ERROR}",))))
        reply = self._command(line.text)
        return Reply(echo + reply.outputs, reply.silence_s, reply.sent)

    def _command(self, text: str) -> Reply:
        command = text.upper().replace(" ", "")
        if not command.startswith("AT"):
            return _lines("ERROR")
        name, _, argument = command[2:].partition("=")
        if argument == "?":
            return self._test(name)
        if command in ("AT", "ATE0", "ATE1", "ATQ0", "ATV1", "AT&F"):
            if command in ("ATE0", "ATE1"):
                self._state.echo = command == "ATE1"
            return _lines("OK")
        if command == "ATZ":
            self.power_up()
            return Reply((Output(("OK",)),), silence_s=ATZ_SILENCE_S)
        if name in ("+GMI?", "+GMI"):
            return _lines(MANUFACTURER, "OK")
        if name in ("+GMM?", "+GMM"):
            return _lines(MODEL, "OK")
        if name in ("+GMR?", "+GMR"):
            return _lines(REVISION, "OK")
        if name in ("+CSQ?", "+CSQ"):
            return _lines(SIGNAL_LINE, "OK")
        if name == "+CREG?":
            return _lines(self.identity.creg, "OK")
        if name == "+CNUMF?":
            return _lines(self.identity.cnumf, "OK")
        if name == "+CTOM?":
            return _lines(f"+CTOM: {self._state.mode}", "OK")
        if name == "+CTOM" and _is_number(argument):
            self._state.mode = int(argument)
            return _lines("OK")
        if name == "+CTSP" and argument:
            self._state.registrations.add(argument)
            return _lines("OK")
        if name == "+CTSDS" and argument:
            return self._select_service(argument)
        if name == "+CMGS" and argument:
            return self._start_send(text)
        return _lines(f"+CME ERROR: {CME_NOT_SUPPORTED}")

    @staticmethod
    def _test(name: str) -> Reply:
        if name not in TEST_ANSWERS:
            return _lines(f"+CME ERROR: {CME_NOT_SUPPORTED}")
        return _lines(*TEST_ANSWERS[name], "OK")

    def _select_service(self, argument: str) -> Reply:
        fields = argument.split(",")
        if len(fields) < 2 or not all(_is_number(f) for f in fields[:2]):
            return _lines(f"+CME ERROR: {CME_SYNTAX_ERROR}")
        self._state.service, self._state.called_type = int(fields[0]), int(fields[1])
        return _lines("OK")

    def _start_send(self, text: str) -> Reply:
        self._state.pending_cmgs = parse_send_request(text)
        if self._state.pending_cmgs is None:
            return _lines(f"+CME ERROR: {CME_SYNTAX_ERROR}")
        return Reply()

    def _user_data(self, line: ReceivedLine) -> Reply:
        pending, self._state.pending_cmgs = self._state.pending_cmgs, None
        if self._garbled:
            return _lines(f"+CME ERROR: {CME_SYNTAX_ERROR}")
        if line.end is UserDataEnd.ESC:
            return _lines("OK")
        if line.end is UserDataEnd.TIMEOUT:
            return _lines(f"+CME ERROR: {CME_USER_DATA_TIMEOUT}")
        if pending is None:
            return _lines(f"+CME ERROR: {CME_USER_DATA_WITHOUT_CMGS}")
        called, bits, hex_text = pending.called, pending.bits, line.text
        if self._fail_sends:
            return _lines(f"+CME ERROR: {CME_NO_LAYER2_ACK}")
        try:
            data = bytes.fromhex(hex_text + "0" * (len(hex_text) % 2))
        except ValueError:
            return _lines(f"+CME ERROR: {CME_SYNTAX_ERROR}")
        if len(data) * 8 < bits:
            return _lines(f"+CME ERROR: {CME_SYNTAX_ERROR}")
        self._message_reference = self._message_reference % 255 + 1
        mr = self._message_reference
        outcome = SDS_STATUS_FAILED if self._lose_over_air else SDS_STATUS_SENT
        outputs = [
            Output((f"+CMGS: 0,{SDS_STATUS_STORED},{mr}", "OK")),
            Output((f"+CMGS: 0,{outcome},{mr}",), SENT_REPORT_DELAY_S),
        ]
        if self._state.service == SERVICE_SDS_TYPE4 and not self._lose_over_air:
            outputs += self._delivery_reports(called, data)
        return Reply(tuple(outputs), sent=SentSds(called, self._state.service, bits, hex_text.upper()))

    def _delivery_reports(self, called: str, data: bytes) -> list[Output]:
        if len(data) < 3 or data[0] < SDS_TL_MIN_PID or data[1] >> 4 != SDS_TL_TRANSFER:
            return []
        pid, requested, reference = data[0], (data[1] >> 2) & 0b11, data[2]
        statuses = {1: [DELIVERY_RECEIVED], 2: [DELIVERY_CONSUMED], 3: [DELIVERY_RECEIVED, DELIVERY_CONSUMED]}
        header = f"+CTSDSR: {SERVICE_SDS_TYPE4},{called},0,{self.identity.issi},0,32"
        return [
            Output(
                (header, sds.encode_report(reference, status, pid=pid).data.hex().upper()),
                DELIVERY_REPORT_DELAY_S * (n + 1),
            )
            for n, status in enumerate(statuses.get(requested, []))
        ]


def _lines(*lines: str) -> Reply:
    return Reply((Output(lines),))


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()
