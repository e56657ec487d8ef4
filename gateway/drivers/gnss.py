"""The GNSS receiver driver: open the port (hunting the baud rate if asked), feed NMEA, emit fixes.

Lifecycle, in one loop: open -> (hunt baud) -> read until the link fails -> down -> backoff -> open again.
A receiver unplugged and plugged back (the device path vanishes and reappears) is picked up again without a
restart. A receiver that stops talking is marked ``silent`` after ``silence_timeout_s`` and, after twice that,
reopened (a wedged USB adapter often needs a fresh open).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from gateway.backoff import Backoff
from gateway.config import GnssSection
from gateway.drivers.serial_link import SerialLink
from gateway.errors import LinkError
from gateway.link_state import LinkStatus
from gateway.protocols.nmea import GnssFix, NmeaProtocol

log = logging.getLogger(__name__)

SILENCE_REOPEN_FACTOR = 2.0


class GnssDriver:
    """Reads one GNSS receiver forever; calls ``on_fix`` for each epoch's fix."""

    def __init__(self, settings: GnssSection, on_fix: Callable[[GnssFix], None], name: str = "gnss") -> None:
        if settings.port is None:
            raise ValueError("GnssDriver needs gnss.port")
        self.settings = settings
        self.port: str = settings.port
        self.on_fix = on_fix
        self.status = LinkStatus(name=name, kind="gnss", port=self.port)
        self.baud: int | None = None
        self._backoff = Backoff(settings.reconnect_min_s, settings.reconnect_max_s)
        self._protocol = NmeaProtocol(max_line_bytes=settings.max_line_bytes)
        self.status.recent_lines = lambda: [
            line.decode("ascii", "replace").rstrip() for line in self._protocol.recent
        ]

    async def run(self) -> None:
        """Run until cancelled."""
        ever_up = False
        while True:
            try:
                link, validated = await self._open()
            except LinkError as exc:
                self._went_down(str(exc))
                await asyncio.sleep(self._backoff.next_delay())
                continue
            if ever_up:
                self.status.reconnects += 1
            ever_up = True
            try:
                await self._read_until_failure(link, validated)
            except LinkError as exc:
                self._went_down(str(exc))
            finally:
                await link.close()
                self._emit(self._protocol.flush())
            await asyncio.sleep(self._backoff.next_delay())

    def _went_down(self, error: str) -> None:
        if self.status.set_state("down", error):
            log.warning("GNSS %s down: %s", self.port, error)
        self.status.counters["open_failures"] += 1

    async def _open(self) -> tuple[SerialLink, bool]:
        """The open link, and whether valid NMEA was already seen on it (baud hunting reads some)."""
        if self.settings.baud != "auto":
            link = await SerialLink.open(self.port, self.settings.baud)
            self.baud = self.settings.baud
            return link, False
        return await self._hunt_baud(), True

    async def _hunt_baud(self) -> SerialLink:
        """Try each rate in turn until a checksummed sentence is seen; keep what was read meanwhile.

        One protocol object serves every attempt, so its counters (drops at a wrong rate included) are the
        receiver's whole history, not the last attempt's.
        """
        for baud in self.settings.auto_bauds:
            link = await SerialLink.open(self.port, baud)
            before = self._valid_sentences()
            try:
                async with asyncio.timeout(self.settings.baud_probe_s):
                    while self._valid_sentences() == before:
                        self._emit(self._protocol.receive_data(await link.read()))
            except TimeoutError:
                log.info("GNSS %s: no valid NMEA at %d baud", self.port, baud)
                await link.close()
                continue
            except LinkError:
                await link.close()
                raise
            log.info("GNSS %s: NMEA found at %d baud", self.port, baud)
            self.baud = baud
            return link
        raise LinkError(f"{self.port}: no valid NMEA at any of {self.settings.auto_bauds} baud")

    async def _read_until_failure(self, link: SerialLink, validated: bool) -> None:
        if self.status.set_state("up" if validated else "starting"):
            log.info("GNSS %s opened at %s baud", self.port, self.baud)
        self.status.details["baud"] = self.baud
        silent_for = 0.0
        while True:
            try:
                async with asyncio.timeout(self.settings.idle_flush_s):
                    data = await link.read()
            except TimeoutError:
                self._emit(self._protocol.flush())
                silent_for += self.settings.idle_flush_s
                if silent_for >= self.settings.silence_timeout_s and self.status.set_state("silent"):
                    log.warning("GNSS %s silent for %.0f s", self.port, silent_for)
                if silent_for >= self.settings.silence_timeout_s * SILENCE_REOPEN_FACTOR:
                    raise LinkError(f"{self.port}: silent for {silent_for:.0f} s, reopening") from None
                continue
            before = self._valid_sentences()
            self._emit(self._protocol.receive_data(data))
            self.status.counters["bytes"] += len(data)
            if self._valid_sentences() > before:  # garbage at the right baud is not a live receiver
                silent_for = 0.0
                if self.status.set_state("up"):
                    log.info("GNSS %s up", self.port)
                self._backoff.reset()

    def _valid_sentences(self) -> int:
        """Checksummed sentences, used or not (a receiver talking only GSV is alive)."""
        return self._protocol.sentences + self._protocol.ignored

    def _emit(self, fixes: list[GnssFix]) -> None:
        self._sync_counters()
        for fix in fixes:
            self.status.counters["fixes"] += 1
            try:
                self.on_fix(fix)
            except Exception:  # a consumer bug must not take the receiver down with it
                log.exception("GNSS fix handler failed")

    def _sync_counters(self) -> None:
        protocol = self._protocol
        self.status.counters["sentences"] = protocol.sentences
        self.status.details["drops"] = dict(protocol.drops)
        self.status.details["ignored"] = protocol.ignored
