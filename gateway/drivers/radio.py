"""The TETRA radio driver: one radio's PEI, from opening the port to sending SDS and reporting link state.

Lifecycle, in one loop: open -> ``AT`` until ``OK`` (radios print ``+CME ERROR: 35`` garbage on open) -> the
configured init sequence -> identity (``AT+CNUMF?``) -> session -> link fails or radio stops answering ->
down -> backoff -> open again. A rebooted radio forgets its PID registrations, so every reopen runs the whole
init sequence again.

Within a session three coroutines share one ``PeiProtocol``:
- the reader feeds bytes in and dispatches events: the completion of the pending command resolves its
  future; everything unsolicited goes to ``on_event``;
- the command worker takes jobs from the queue and runs their commands one at a time (``AT+CTSDS`` and its
  ``AT+CMGS`` are one job, so nothing gets between them);
- the poller checks signal and registration every ``poll_interval_s`` and wakes the protocol's deadlines.
A command that times out means the radio has gone silent: the session ends and the radio is reopened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.backoff import Backoff
from gateway.config import RadioSection
from gateway.drivers.serial_link import SerialLink
from gateway.errors import CommandError, LinkError, PeiError
from gateway.link_state import LinkStatus
from gateway.protocols.bits import SdsPayload
from gateway.protocols.pei import (
    CommandCompleted,
    CommandTimedOut,
    Identity,
    PeiEvent,
    PeiProtocol,
    RegistrationChanged,
    SendReport,
    Unsolicited,
    parse_cmgs_response,
    parse_cnumf,
    parse_creg,
    parse_csq,
)

log = logging.getLogger(__name__)

OPEN_ATTEMPTS = 5
"""``AT`` tries after opening before the radio is declared not answering."""
SETTLE_QUIET_S = 0.3
"""After garbage on open: how long the radio must be quiet before the first real command goes out."""
SETTLE_MAX_ROUNDS = 10
"""...and at most this many quiet periods are waited for (a radio that never stops talking)."""
POLL_TICK_S = 0.2
"""Longest the poller sleeps before checking the protocol's deadlines."""
POWER_UP_PREFIXES = frozenset({"+CTOM"})
"""Unsolicited lines a radio prints when it (re)starts: its trunked/direct mode report. Seen while we are up,
it means the radio rebooted under us (power dip, firmware watchdog) and forgot our AT+CTSP registrations."""
TRANSIENT_CME = frozenset({0, 3, 20, 30, 31, 41, 42})
"""+CME errors worth retrying: cannot send now, stack full, out of service, no layer-2 ack, busy."""


class CommandTimeout(LinkError):
    """The radio did not complete a command in time: rebooting, wedged, or gone."""


class SendFailed(Exception):
    """The radio refused an SDS; ``code`` is the +CME error when it gave one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class SendAccepted:
    """The radio accepted an SDS: its instance and, when given, message reference."""

    instance: int | None
    message_reference: int | None


@dataclass(slots=True)
class _Job:
    commands: list[tuple[str, str | None]]
    future: asyncio.Future[list[CommandCompleted]]
    timeout_s: float
    queued: float = field(default_factory=time.monotonic)


RadioEventHandler = Callable[["RadioDriver", PeiEvent], None]


class RadioDriver:
    """Drives one radio forever; unsolicited PEI events go to ``on_event``, state changes to ``on_state``."""

    def __init__(
        self, settings: RadioSection, on_event: RadioEventHandler, on_state: Callable[[], None]
    ) -> None:
        self.settings = settings
        self.name: str = settings.name or "radio"
        self.on_event = on_event
        self.on_state = on_state
        self.status = LinkStatus(name=self.name, kind="radio", port=settings.port)
        self.identity: Identity | None = None
        self.signal_dbm: int | None = None
        self.registration: str | None = None
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._pending: asyncio.Future[CommandCompleted] | None = None
        self._backoff = Backoff(settings.reconnect_min_s, settings.reconnect_max_s)
        self._protocol = self._new_protocol()
        self.status.recent_lines = lambda: list(self._protocol.recent)
        self._up = asyncio.Event()
        self._reset_done = False
        self._restarted = asyncio.Event()
        """Set when the radio printed its power-up lines: it forgot the PID registrations of our init."""
        self._line = asyncio.Lock()
        """Held while a command sequence owns the PEI: one command is pending at a time."""

    def _new_protocol(self) -> PeiProtocol:
        return PeiProtocol(
            max_line_bytes=self.settings.max_line_bytes,
            line_ending="\r\n" if self.settings.line_ending == "CRLF" else "\r",
        )

    @property
    def is_up(self) -> bool:
        return self.status.state == "up"

    async def wait_up(self) -> None:
        await self._up.wait()

    def _set_state(self, state: str, error: str | None = None) -> None:
        if self.status.set_state(state, error):  # type: ignore[arg-type]
            if state == "up":
                self._up.set()
            else:
                self._up.clear()
            log.log(
                logging.INFO if state == "up" else logging.WARNING,
                "radio %s (%s) %s%s",
                self.name,
                self.settings.port,
                state,
                f": {error}" if error and state != "up" else "",
            )
            self.on_state()

    # --- public API used by the radio service ---------------------------------------------------------------

    async def execute(
        self, *commands: tuple[str, str | None], timeout_s: float | None = None
    ) -> list[CommandCompleted]:
        """Queue commands that run back to back; returns their completions (ok or not)."""
        future: asyncio.Future[list[CommandCompleted]] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(list(commands), future, timeout_s or self.settings.command_timeout_s))
        return await future

    async def send_sds(
        self, service: int, called: int, called_type: int, payload: SdsPayload
    ) -> SendAccepted:
        """``AT+CTSDS`` + ``AT+CMGS`` with the hex user data; raises SendFailed when the radio refuses it."""
        if not self.is_up:  # initialising (a report to answer) or down: wait a little, not forever
            try:
                await asyncio.wait_for(self._up.wait(), self.settings.command_timeout_s)
            except TimeoutError:
                raise LinkError(f"radio {self.name} is {self.status.state}") from None
        select, send = await self.execute(
            (f"AT+CTSDS={service},{called_type}", None),
            (f"AT+CMGS={called},{payload.bits}", payload.hex()),
        )
        for completion in (select, send):
            if not completion.ok:
                raise SendFailed(
                    f"{completion.command}: {completion.error_meaning or completion.result}",
                    completion.error_code,
                )
        try:
            response = parse_cmgs_response(send.lines)
        except PeiError:
            return SendAccepted(None, None)
        return SendAccepted(response.instance, response.message_reference)

    # --- the loop ---

    async def run(self) -> None:
        """Run until cancelled."""
        while True:
            try:
                link = await SerialLink.open(
                    self.settings.port, self.settings.baud, rtscts=self.settings.rtscts
                )
            except LinkError as exc:
                self._set_state("down", str(exc))
                self._fail_pending(exc)
                self.status.counters["open_failures"] += 1
                await asyncio.sleep(self._backoff.next_delay())
                continue
            try:
                await self._session(link)
            except LinkError as exc:
                self._set_state("down", str(exc))
            finally:
                self._fail_pending(LinkError(f"radio {self.name} link closed"))
                await link.close()
            self.status.reconnects += 1
            await asyncio.sleep(self._backoff.next_delay())

    async def _session(self, link: SerialLink) -> None:
        self._protocol = self._new_protocol()
        self._set_state("starting")
        tasks = [asyncio.create_task(self._read(link)), asyncio.create_task(self._tick())]
        try:
            async with self._line:
                await self._initialise(link)
            self._backoff.reset()
            self._set_state("up")
            tasks.append(asyncio.create_task(self._work(link)))
            tasks.append(asyncio.create_task(self._poll_health(link)))
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raises the LinkError that ended the session
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _initialise(self, link: SerialLink, *, after_restart: bool = False) -> None:
        """``AT`` until OK, the configured init list, identity and signal. ``after_restart``: the radio
        restarted on its own while we were up; its mode (AT+CTOM=...) is then left as the radio reports it,
        since an officer may have switched it, and only the rest is sent again."""
        if self.settings.reset_on_start and not self._reset_done:
            self._reset_done = True  # once per process: a reopen must not reboot the radio again
            with contextlib.suppress(CommandTimeout):  # some radios reboot before they answer
                await self._command(link, "ATZ", None, self.settings.command_timeout_s)
        answered_at_once = True
        for _ in range(OPEN_ATTEMPTS):  # garbage such as +CME ERROR: 35 on open, or still booting
            with contextlib.suppress(CommandTimeout):
                completion = await self._command(link, "AT", None, self.settings.command_timeout_s)
                if completion.ok:
                    break
            answered_at_once = False
        else:
            raise LinkError(f"radio {self.name} does not answer AT with OK")
        if not answered_at_once:
            await self._settle()
        for command in self.settings.init:
            if command.strip().upper() in ("AT", "ATZ"):
                continue
            if after_restart and command.strip().upper().startswith("AT+CTOM="):
                continue
            completion = await self._command(link, command, None, self.settings.command_timeout_s)
            if not completion.ok:
                log.warning(
                    "radio %s: %s -> %s", self.name, command, completion.error_meaning or completion.result
                )
        completion = await self._command(link, "AT+CNUMF?", None, self.settings.command_timeout_s)
        if completion.ok:
            try:
                self.identity = parse_cnumf(completion.lines)
                self.status.details["issi"] = self.identity.issi
                self.status.details["tsi"] = self.identity.tsi
            except PeiError as exc:
                log.warning("radio %s: cannot read its identity: %s", self.name, exc)
        await self._check_signal(link)

    async def _settle(self) -> None:
        """Let late answers to the ATs before the OK arrive, and be dropped as unsolicited lines.

        Garbage on open (``+CME ERROR: 35``) can complete the first AT, whose own OK then completes the
        second: that OK may not be the second's, and the second's would answer the next command, and so on
        -- every answer one command late. Waiting until the radio is quiet puts the exchange back in step.
        """
        for _ in range(SETTLE_MAX_ROUNDS):
            before = self.status.counters["bytes"]
            await asyncio.sleep(SETTLE_QUIET_S)
            if self.status.counters["bytes"] == before:
                return

    async def _poll_health(self, link: SerialLink) -> None:
        """Signal and registration every poll interval; the whole init again when the radio restarted."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._restarted.wait(), self.settings.poll_interval_s)
            async with self._line:
                if self._restarted.is_set():
                    self._restarted.clear()
                    self.status.counters["reinitialised"] += 1
                    log.warning("radio %s restarted on its own: registering again", self.name)
                    await self._initialise(link, after_restart=True)
                else:
                    await self._check_signal(link)

    async def _check_signal(self, link: SerialLink) -> None:
        before = (self.signal_dbm, self.registration)
        csq = await self._command(link, "AT+CSQ?", None, self.settings.command_timeout_s)
        if csq.ok:
            with contextlib.suppress(PeiError):
                self.signal_dbm = parse_csq(csq.lines).dbm
        creg = await self._command(link, "AT+CREG?", None, self.settings.command_timeout_s)
        if creg.ok:
            for line in creg.lines:
                if line.startswith("+CREG"):
                    with contextlib.suppress(PeiError):
                        self.registration = parse_creg(line).meaning
        self.status.details["signal_dbm"] = self.signal_dbm
        self.status.details["registration"] = self.registration
        if (self.signal_dbm, self.registration) != before:
            self.on_state()

    async def _command(
        self, link: SerialLink, command: str, data_hex: str | None, timeout_s: float
    ) -> CommandCompleted:
        """Run one command now (the caller holds the line); LinkError when the radio stops answering."""
        future: asyncio.Future[CommandCompleted] = asyncio.get_running_loop().create_future()
        self._pending = future
        try:
            data = self._protocol.send(command, data_hex=data_hex, timeout_s=timeout_s, now=time.monotonic())
        except CommandError:
            self._pending = None
            raise
        await link.write(data)
        self.status.counters["commands"] += 1
        try:
            return await future
        finally:
            self._pending = None

    async def _run_job(self, link: SerialLink, job: _Job) -> None:
        results: list[CommandCompleted] = []
        try:
            await self._line.acquire()
            for command, data_hex in job.commands:
                completion = await self._command(
                    link, command, data_hex, job.timeout_s or self.settings.command_timeout_s
                )
                results.append(completion)
                if not completion.ok:
                    break
        except BaseException as exc:
            if not job.future.done():
                job.future.set_exception(exc if isinstance(exc, Exception) else LinkError("cancelled"))
            raise
        finally:
            if self._line.locked():
                self._line.release()
        if not job.future.done():
            job.future.set_result(results)

    async def _work(self, link: SerialLink) -> None:
        while True:
            job = await self._queue.get()
            if job.future.done():  # the caller gave up
                continue
            await self._run_job(link, job)

    async def _read(self, link: SerialLink) -> None:
        while True:
            try:
                data = await link.read()
            except LinkError as exc:
                self._fail_pending(exc)
                raise
            self.status.counters["bytes"] += len(data)
            self._dispatch(self._protocol.receive_data(data, time.monotonic()))

    async def _tick(self) -> None:
        while True:
            deadline = self._protocol.next_deadline()
            delay = (
                POLL_TICK_S if deadline is None else max(0.0, min(POLL_TICK_S, deadline - time.monotonic()))
            )
            await asyncio.sleep(delay)
            self._dispatch(self._protocol.poll(time.monotonic()))

    def _dispatch(self, events: list[PeiEvent]) -> None:
        for event in events:
            if isinstance(event, CommandCompleted):
                if self._pending is not None and not self._pending.done():
                    self._pending.set_result(event)
                continue
            if isinstance(event, CommandTimedOut):
                self.status.counters["timeouts"] += 1
                if self._pending is not None and not self._pending.done():
                    self._pending.set_exception(
                        CommandTimeout(f"radio {self.name}: {event.command} timed out")
                    )
                continue
            if isinstance(event, Unsolicited) and event.prefix in POWER_UP_PREFIXES and self.is_up:
                self._restarted.set()
            if isinstance(event, RegistrationChanged):
                self.registration = event.meaning
                self.status.details["registration"] = event.meaning
                self.on_state()
            if isinstance(event, SendReport):
                self.status.counters["send_reports"] += 1
            try:
                self.on_event(self, event)
            except Exception:  # a consumer bug must not take the radio down with it
                log.exception("radio %s: event handler failed for %r", self.name, event)

    def _fail_pending(self, exc: Exception) -> None:
        if self._pending is not None and not self._pending.done():
            self._pending.set_exception(exc)
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.future.done():
                job.future.set_exception(exc)
