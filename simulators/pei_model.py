"""What the simulated TETRA radio answers: a sans-I/O model of a Motorola/Sepura PEI.

``CommandAssembler`` turns the bytes a gateway writes into received lines: commands end in CR or CR LF
(a bare LF is accepted too); after ``AT+CMGS=...`` the next bytes up to Ctrl-Z (0x1A) are the hex user data,
received as a line of its own without the Ctrl-Z (ESC, 0x1B, cancels it). Empty lines are ignored and a line
longer than ``MAX_LINE`` is cut there.

``RadioModel.handle`` takes one received line and returns a ``Reply``: lines to print now or after a delay
(the later ``+CMGS: <instance>,4,<mr>`` "sent over the air" report and, when the SDS-TL text asked for one,
the delivery report coming back), a silence to keep (``ATZ`` reboots), and what was sent (so a simulated fleet
can answer a location request). No clock, no I/O: the radio simulator schedules the replies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

SDS_STATUS_STORED = 2
SDS_STATUS_SENT = 4
SDS_STATUS_FAILED = 5
CME_NOT_SUPPORTED = 4
CME_NO_LAYER2_ACK = 31
CME_SYNTAX_ERROR = 35
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


@dataclass(frozen=True, slots=True)
class ReceivedLine:
    """One line the gateway wrote; ``user_data`` for the hex after AT+CMGS (Ctrl-Z removed)."""

    text: str
    user_data: bool = False


class CommandAssembler:
    """Bytes from the gateway -> ``ReceivedLine``s (see the module docstring for the rules)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._in_user_data = False
        self._after_cr = False

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
        if text.upper().startswith("AT+CMGS="):
            self._in_user_data = True

    def _feed_user_data(self, byte: int, lines: list[ReceivedLine]) -> None:
        if byte == CTRL_Z:
            text = self._buffer.decode("latin-1").strip()
            self._buffer.clear()
            self._in_user_data = False
            self._after_cr = False
            lines.append(ReceivedLine(text, user_data=True))
        elif byte == ESC:
            self._buffer.clear()
            self._in_user_data = False
        elif byte not in (0x0D, 0x0A) and len(self._buffer) < MAX_LINE:
            self._buffer.append(byte)


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
    pending_cmgs: tuple[str, int] | None = None


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
            return self._user_data(line.text)
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
        if name == "+CTOM" and argument.isdigit():
            self._state.mode = int(argument)
            return _lines("OK")
        if name == "+CTSP" and argument:
            self._state.registrations.add(argument)
            return _lines("OK")
        if name == "+CTSDS" and argument:
            return self._select_service(argument)
        if name == "+CMGS" and argument:
            return self._start_send(argument)
        return _lines(f"+CME ERROR: {CME_NOT_SUPPORTED}")

    def _select_service(self, argument: str) -> Reply:
        fields = argument.split(",")
        if len(fields) < 2 or not all(f.isdigit() for f in fields[:2]):
            return _lines(f"+CME ERROR: {CME_SYNTAX_ERROR}")
        self._state.service, self._state.called_type = int(fields[0]), int(fields[1])
        return _lines("OK")

    def _start_send(self, argument: str) -> Reply:
        fields = argument.split(",")
        if len(fields) != 2 or not fields[0].isdigit() or not fields[1].isdigit():
            self._state.pending_cmgs = None
            return Reply()
        self._state.pending_cmgs = (fields[0], int(fields[1]))
        return Reply()

    def _user_data(self, hex_text: str) -> Reply:
        pending, self._state.pending_cmgs = self._state.pending_cmgs, None
        if self._garbled or pending is None:
            return _lines(f"+CME ERROR: {CME_SYNTAX_ERROR}")
        called, bits = pending
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
