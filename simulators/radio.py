"""The TETRA radio simulator: a PEI on a pseudo-terminal that answers AT commands and prints SDS traffic.

Three sources of output share one writer:

- replies to the gateway's commands, from ``pei_model.RadioModel`` (immediate lines now, later reports
  through a small timer queue);
- a ``--script`` (``script.py``), started by the first command received, each line after its delay;
- a ``--fleet`` (``fleet.py``) of units sending LIP, status and text SDS at an aggregate rate, also started by
  the first command, with an emergency every ``--emergency-every`` seconds.

The writer applies the output faults: ``missing_payload`` drops the payload line after a ``+CTSDSR`` header,
``odd_hex`` drops the padding digit of that payload (Sepura style), ``garbage`` puts a line of random bytes
(never between a header and its payload) before a line, and ``split`` writes everything in small pieces.
``reboot_after`` silences the radio, then prints its power-up lines and forgets its volatile state (echo,
mode, AT+CTSP registrations); replies that were still queued are lost, as in a real reboot.

Data mode has a clock, kept here: ``user_data_timeout_s`` after the ``AT+CMGS=<called>,<bits>`` that opened
it (for the whole user data, however slowly it trickles in) the simulator ends data mode itself, and the
model answers ``+CME ERROR: 37``. ``--log`` gets one line for the user data after every such AT+CMGS, whether
Ctrl-Z sent it, ESC cancelled it or the timeout abandoned it: what had been received, possibly empty.

Nothing is written while no reader has the port open; queued lines wait for one.
"""

from __future__ import annotations

import heapq
import json
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from gateway.errors import PeiError
from gateway.protocols.pei import parse_ctsdsr
from simulators.device import PtyDevice
from simulators.faults import FaultInjector, Outage
from simulators.fleet import Fleet, FleetMessage
from simulators.pei_model import (
    USER_DATA_TIMEOUT_S,
    CommandAssembler,
    Output,
    RadioIdentity,
    RadioModel,
    ReceivedLine,
    Reply,
    UserDataEnd,
)
from simulators.script import ScriptLine, load_script

LOCATION_ANSWER_DELAY_S = 1.0
"""How long a fleet unit takes to answer an immediate location request."""

CRLF = b"\r\n"
VERBOSE_END_NOTES: dict[UserDataEnd | None, str] = {
    UserDataEnd.ESC: " (cancelled by ESC)",
    UserDataEnd.TIMEOUT: " (timed out)",
}


@dataclass(frozen=True, slots=True)
class RadioOptions:
    """What the radio is and says; see ``patrol-sim radio --help``."""

    issi: int = 9000
    cnumf_type: int = 6
    echo: bool = False
    script: Path | None = None
    loop_script: bool = False
    log: Path | None = None
    fleet: int = 0
    fleet_rate: float = 1.0
    fleet_base_issi: int = 1001001
    emergency_every_s: float = 0.0
    manifest: Path | None = None

    def __post_init__(self) -> None:
        if self.fleet < 0 or self.fleet_rate < 0 or self.emergency_every_s < 0:
            raise ValueError("fleet size, rate and emergency interval must not be negative")


@dataclass(frozen=True, slots=True)
class RadioFaults:
    """How the radio misbehaves; probabilities per output line."""

    split: bool = False
    garbage: float = 0.0
    cme_on_open: bool = False
    reboot_after_s: float | None = None
    reboot_silence_s: float = 3.0
    """How long a ``reboot_after`` reboot keeps the radio silent before its power-up lines."""
    odd_hex: bool = False
    missing_payload: float = 0.0
    fail_sends: bool = False
    lose_over_air: bool = False
    """Accept AT+CMGS, then report the transmission failed (+CMGS: <instance>,5,<mr>)."""
    unplug: Outage | None = None

    def __post_init__(self) -> None:
        for name in ("garbage", "missing_payload"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value}")


@dataclass(order=True, slots=True)
class _Queued:
    due: float
    order: int
    lines: tuple[str, ...] = field(compare=False)
    messages: tuple[FleetMessage, ...] = field(compare=False, default=())


class RadioSimulator(PtyDevice):
    """A TETRA radio on a pty at ``link`` (see the module docstring)."""

    kind = "radio"

    def __init__(
        self,
        link: Path,
        options: RadioOptions | None = None,
        *,
        faults: RadioFaults | None = None,
        seed: int | None = None,
        verbose: bool = False,
        announce: Callable[[str], None] | None = None,
        user_data_timeout_s: float = USER_DATA_TIMEOUT_S,
    ) -> None:
        if user_data_timeout_s <= 0:
            raise ValueError(f"the user data timeout must be positive, got {user_data_timeout_s}")
        self.options = options or RadioOptions()
        self._radio_faults = faults or RadioFaults()
        super().__init__(
            link,
            faults=FaultInjector(seed),
            split=self._radio_faults.split,
            unplug=self._radio_faults.unplug,
            announce=announce,
        )
        self._verbose = verbose
        self.model = RadioModel(
            RadioIdentity(self.options.issi, cnumf_type=self.options.cnumf_type),
            echo=self.options.echo,
            fail_sends=self._radio_faults.fail_sends,
            lose_over_air=self._radio_faults.lose_over_air,
            cme_on_open=self._radio_faults.cme_on_open,
        )
        self._assembler = CommandAssembler()
        self._user_data_timeout_s = user_data_timeout_s
        self._user_data_deadline: float | None = None
        self._script: list[ScriptLine] = load_script(self.options.script) if self.options.script else []
        self._fleet = (
            Fleet(
                self.options.fleet,
                base_issi=self.options.fleet_base_issi,
                rng=random.Random(self.faults.rng.random()),
            )
            if self.options.fleet
            else None
        )
        self._queue: list[_Queued] = []
        self._order = 0
        self._script_index = 0
        self._script_next_at: float | None = None
        self._fleet_next_at: float | None = None
        self._emergency_at: float | None = None
        self._reboot_at: float | None = None
        self._silent_until: float | None = None
        self._power_up_due = False
        self._payload_bits: int | None = None
        self._skip_payload = False
        self._log_file: IO[str] | None = None
        self._manifest_file: IO[str] | None = None
        self.lines_received = 0

    def run(self) -> None:
        """Serve the link until ``stop()``, with the log and manifest files open."""
        try:
            if self.options.log is not None:
                self._log_file = self.options.log.open("a", encoding="latin-1", newline="\n")
            if self.options.manifest is not None:
                self._manifest_file = self.options.manifest.open("a", encoding="utf-8")
            super().run()
        finally:
            for handle in (self._log_file, self._manifest_file):
                if handle is not None:
                    handle.close()

    # -- input -----------------------------------------------------------------------------------------
    def _on_reader_opened(self, now: float) -> None:
        self._emit_outputs(self.model.port_opened(), now)

    def _on_data(self, data: bytes, now: float) -> None:
        lines = self._assembler.feed(data)
        if not self._assembler.in_user_data:
            self._user_data_deadline = None
        elif lines:
            # in data mode after new lines: the last of them is the AT+CMGS that opened it
            self._user_data_deadline = now + self._user_data_timeout_s
        self._receive(lines, now)

    def _receive(self, lines: Sequence[ReceivedLine], now: float) -> None:
        for line in lines:
            self.lines_received += 1
            self._log(line.text)
            if self._verbose:
                note = VERBOSE_END_NOTES.get(line.end, "")
                print(f"patrol-sim radio: <- {line.text}{note}", file=sys.stderr, flush=True)
            if self._is_silent(now):
                continue
            self._start(now)
            reply = self.model.handle(line)
            self._emit_outputs(reply.outputs, now)
            self._after_reply(reply, now)

    def _log(self, text: str) -> None:
        if self._log_file is not None:
            self._log_file.write(text + "\n")
            self._log_file.flush()

    def _after_reply(self, reply: Reply, now: float) -> None:
        if reply.silence_s:
            self._queue.clear()
            self._silent_until = now + reply.silence_s
        if reply.sent is not None and self._fleet is not None:
            sent = reply.sent
            answer = self._fleet.answer(sent.called, sent.service, sent.hex, sent.bits, now)
            if answer is not None:
                self._enqueue(now + LOCATION_ANSWER_DELAY_S, self._message_lines(answer), (answer,))

    def _start(self, now: float) -> None:
        if self._active_since is not None:
            return
        self._activate(now)
        if self._script:
            self._script_next_at = now + self._script[0].delay_s
        if self._fleet is not None and self.options.fleet_rate > 0:
            self._fleet_next_at = now + 1 / self.options.fleet_rate
        if self._fleet is not None and self.options.emergency_every_s > 0:
            self._emergency_at = now + self.options.emergency_every_s
        if self._radio_faults.reboot_after_s is not None:
            self._reboot_at = now + self._radio_faults.reboot_after_s

    # -- timers ----------------------------------------------------------------------------------------
    def _is_silent(self, now: float) -> bool:
        return self._silent_until is not None and now < self._silent_until

    def _next_deadline(self) -> float | None:
        if self._silent_until is not None:
            return self._silent_until
        candidates = [
            self._script_next_at,
            self._fleet_next_at,
            self._emergency_at,
            self._reboot_at,
            self._user_data_deadline,
        ]
        if self._queue:
            candidates.append(self._queue[0].due)
        due = [c for c in candidates if c is not None]
        return min(due) if due else None

    def _on_tick(self, now: float) -> None:
        if self._reboot_at is not None and now >= self._reboot_at:
            self._reboot_at = None
            self._queue.clear()
            self._silent_until = now + self._radio_faults.reboot_silence_s
            self._power_up_due = True
            self._say("rebooting")
        if self._is_silent(now):
            return
        self._silent_until = None
        if self._power_up_due:
            self._power_up_due = False
            self._write(self.model.power_up())
        if self._user_data_deadline is not None and now >= self._user_data_deadline:
            self._user_data_deadline = None
            self._receive((self._assembler.time_out(),), now)
        while self._queue and self._queue[0].due <= now:
            item = heapq.heappop(self._queue)
            self._write(item.lines, item.messages)
        self._run_script(now)
        self._run_fleet(now)

    def _run_script(self, now: float) -> None:
        while self._script_next_at is not None and now >= self._script_next_at:
            self._write((self._script[self._script_index].text,))
            self._script_index += 1
            if self._script_index == len(self._script) and self.options.loop_script:
                self._script_index = 0
            if self._script_index < len(self._script):
                self._script_next_at += self._script[self._script_index].delay_s
            else:
                self._script_next_at = None

    def _run_fleet(self, now: float) -> None:
        if self._fleet is None:
            return
        if self._fleet_next_at is not None and now >= self._fleet_next_at:
            message = self._fleet.next_message(now)
            self._write(self._message_lines(message), (message,))
            period = 1 / self.options.fleet_rate
            self._fleet_next_at = max(self._fleet_next_at + period, now - period)
        if self._emergency_at is not None and now >= self._emergency_at:
            alarm = self._fleet.emergency(now)
            self._write(tuple(line for message in alarm for line in self._message_lines(message)), alarm)
            self._emergency_at = now + self.options.emergency_every_s

    # -- output ----------------------------------------------------------------------------------------
    def _message_lines(self, message: FleetMessage) -> tuple[str, str]:
        return message.header(self.options.issi), message.payload_hex()

    def _enqueue(self, due: float, lines: tuple[str, ...], messages: tuple[FleetMessage, ...] = ()) -> None:
        self._order += 1
        heapq.heappush(self._queue, _Queued(due, self._order, lines, messages))

    def _emit_outputs(self, outputs: Sequence[Output], now: float) -> None:
        for output in outputs:
            if output.delay_s <= 0:
                self._write(output.lines)
            else:
                self._enqueue(now + output.delay_s, output.lines)

    def _write(self, lines: Sequence[str], messages: Sequence[FleetMessage] = ()) -> None:
        """Shape ``lines`` with the output faults and write them; record ``messages`` once written."""
        out = bytearray()
        for line in lines:
            shaped = self._shape(line)
            if shaped is None:
                continue
            out += shaped
            if self._verbose:
                print(f"patrol-sim radio: -> {line}", file=sys.stderr, flush=True)
        if self._send(bytes(out)) and self._manifest_file is not None:
            for message in messages:
                self._manifest_file.write(json.dumps(message.manifest(self.options.issi)) + "\n")
            self._manifest_file.flush()

    def _shape(self, line: str) -> bytes | None:
        faults, inject = self._radio_faults, self.faults
        if self._payload_bits is not None:
            bits, skip = self._payload_bits, self._skip_payload
            self._payload_bits, self._skip_payload = None, False
            if skip:
                return None
            if faults.odd_hex and len(line) > (bits + 3) // 4:
                line = line[: (bits + 3) // 4]
            return line.encode("latin-1", "replace") + CRLF
        prefix = b""
        if inject.chance(faults.garbage):
            prefix = inject.garbage(line_safe=True) + CRLF
        if line.startswith("+CTSDSR:"):
            self._payload_bits = _declared_bits(line)
            self._skip_payload = self._payload_bits is not None and inject.chance(faults.missing_payload)
        return prefix + line.encode("latin-1", "replace") + CRLF


def _declared_bits(header: str) -> int | None:
    try:
        return parse_ctsdsr(header).length_bits
    except PeiError:
        return None


def manifest_records(path: Path) -> list[dict[str, Any]]:
    """Read a ``--manifest`` file back (for tests and tools)."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line]
