"""The event loop every simulated device shares: a pty link, unplug/replug, a control pipe, timers.

One thread runs ``run()``: it polls the control pipe and (while a reader is present) the pty master, hands
received bytes to ``_on_data`` and calls ``_on_tick`` whenever a timer of the subclass may be due. Other
threads and signal handlers only set flags and wake the loop (``stop()``, ``toggle_plug()``), so all device
state is touched by one thread and no locks are needed beyond the small condition that reports plug state.

Use it from a CLI (``run()`` in the main thread, signals call ``stop``/``toggle_plug``), from threads or from
asyncio (``with sim:`` starts it on a daemon thread and returns once the link exists;
``await asyncio.to_thread(sim.run)`` also works).
"""

from __future__ import annotations

import abc
import select
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

from simulators.faults import FaultInjector, Outage
from simulators.pty_link import PtyLink, Waker, monotonic

NO_READER_POLL_S = 0.02
"""How often a link without a reader is tested for one (a master in POLLHUP cannot be waited on)."""

SPLIT_GAP_S = 0.002
"""Pause between the pieces of a ``--split`` write, so the reader really receives them separately."""

READER_SETTLE_S = 0.1
"""Quiet time after a reader opens the port before the device talks: openers configure the port, and
pyserial flushes its input buffer (``tcflush``) at the end of ``open()``, discarding what came sooner."""

IDLE_POLL_S = 1.0
"""Longest single wait when nothing is scheduled (the control pipe ends it early)."""


class PtyDevice(abc.ABC):
    """Base of the simulators: owns the link, the loop, plugging and the announcement lines."""

    kind = "device"

    def __init__(
        self,
        link: Path,
        *,
        faults: FaultInjector | None = None,
        split: bool = False,
        unplug: Outage | None = None,
        announce: Callable[[str], None] | None = None,
    ) -> None:
        self._link = PtyLink(Path(link))
        self.faults = faults or FaultInjector()
        self._split = split
        self._unplug_plan = unplug
        self._announce = announce
        self._waker = Waker()
        self._stop_requested = False
        self._toggle_requested = False
        self._reader_was_present = False
        self._settled_at: float | None = None
        self._active_since: float | None = None
        self._auto_unplug_at: float | None = None
        self._replug_at: float | None = None
        self._plug_state = threading.Condition()
        self._plugged_count = 0
        self._thread: threading.Thread | None = None
        self._failure: Exception | None = None

    # -- control, from any thread or a signal handler -------------------------------------------------
    @property
    def link(self) -> Path:
        """The path a reader opens."""
        return self._link.path

    def stop(self) -> None:
        """Ask the loop to end; ``run()`` returns after removing the link."""
        self._stop_requested = True
        self._waker.wake()

    def toggle_plug(self) -> None:
        """Unplug now if plugged, plug back now if unplugged (what SIGUSR1 does)."""
        self._toggle_requested = True
        self._waker.wake()

    def wait_plugged(self, plugged: bool = True, *, generation: int = 1, timeout: float = 5.0) -> bool:
        """Wait until the link is (un)plugged and has been plugged at least ``generation`` times."""
        with self._plug_state:
            return self._plug_state.wait_for(
                lambda: self._link.plugged == plugged and self._plugged_count >= generation, timeout
            )

    def start(self, timeout: float = 5.0) -> None:
        """Run the loop on a daemon thread; return once the link exists.

        Raises what stopped the loop (LinkError when the path is taken) or TimeoutError.
        """
        self._thread = threading.Thread(
            target=self._run_recording_failure, name=f"sim-{self.kind}", daemon=True
        )
        self._thread.start()
        with self._plug_state:
            self._plug_state.wait_for(lambda: self._plugged_count > 0 or self._failure is not None, timeout)
        if self._failure is not None:
            raise self._failure
        if self._plugged_count == 0:
            self.stop()
            raise TimeoutError(f"{self.link}: simulator did not become ready in {timeout} s")

    def join(self, timeout: float | None = None) -> None:
        """Wait for the loop thread started by ``start()`` to end."""
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        self.join(5.0)
        self._waker.close()

    # -- the loop --------------------------------------------------------------------------------------
    def run(self) -> None:
        """Create the link and serve it until ``stop()``; the link is removed however the loop ends."""
        self._plug()
        try:
            while not self._stop_requested:
                self._loop_once()
        finally:
            self._unplug(announce=False)

    def _run_recording_failure(self) -> None:
        try:
            self.run()
        except Exception as exc:
            with self._plug_state:
                self._failure = exc
                self._plug_state.notify_all()

    def _loop_once(self) -> None:
        now = monotonic()
        self._apply_plug_changes(now)
        if self._stop_requested:
            return
        if not self._link.plugged:
            self._wait(self._timeout_until(self._replug_at, now), None)
            return
        present = self._link.reader_present()
        if not present:
            self._settled_at = None
            if self._reader_was_present:
                self._reader_was_present = False
                self._on_reader_closed(now)
            self._wait(NO_READER_POLL_S, None)
            return
        if not self._reader_was_present:
            if self._settled_at is None:
                self._settled_at = now + READER_SETTLE_S
            if now < self._settled_at:
                self._wait(min(NO_READER_POLL_S, self._settled_at - now), None)
                return
            self._reader_was_present = True
            self._on_reader_opened(now)
        self._on_tick(now)
        deadlines = [d for d in (self._next_deadline(), self._auto_unplug_at) if d is not None]
        timeout = self._timeout_until(min(deadlines) if deadlines else None, monotonic())
        if self._wait(timeout, self._link.fileno()) and self._link.plugged:
            data = self._link.read()
            if data:
                self._on_data(data, monotonic())

    def _wait(self, timeout: float, master: int | None) -> bool:
        """Wait for control or (when given) the master; True when the master has input or hung up."""
        poller = select.poll()
        poller.register(self._waker.fileno(), select.POLLIN)
        if master is not None:
            poller.register(master, select.POLLIN)
        ready = poller.poll(max(0.0, timeout) * 1000)
        self._waker.drain()
        return any(fd == master for fd, _ in ready)

    @staticmethod
    def _timeout_until(deadline: float | None, now: float) -> float:
        if deadline is None:
            return IDLE_POLL_S
        return min(IDLE_POLL_S, max(0.0, deadline - now))

    def _apply_plug_changes(self, now: float) -> None:
        if self._toggle_requested:
            self._toggle_requested = False
            self._replug_at = None
            if self._link.plugged:
                self._unplug(announce=True)
            else:
                self._plug()
        if self._auto_unplug_at is not None and now >= self._auto_unplug_at and self._link.plugged:
            assert self._unplug_plan is not None
            self._auto_unplug_at = None
            self._unplug(announce=True)
            self._replug_at = now + self._unplug_plan.for_s
        if self._replug_at is not None and now >= self._replug_at:
            self._replug_at = None
            if not self._link.plugged:
                self._plug()

    def _plug(self) -> None:
        self._link.plug()
        self._reader_was_present = False
        self._settled_at = None
        with self._plug_state:
            self._plugged_count += 1
            self._plug_state.notify_all()
        self._say(f"ready at {self._link.path}")

    def _unplug(self, *, announce: bool) -> None:
        was_plugged = self._link.plugged
        self._link.unplug()
        if was_plugged and self._reader_was_present:
            self._reader_was_present = False
            self._on_reader_closed(monotonic())
        with self._plug_state:
            self._plug_state.notify_all()
        if was_plugged and announce:
            self._say(f"unplugged {self._link.path}")

    def _say(self, message: str) -> None:
        if self._announce is not None:
            self._announce(f"patrol-sim {self.kind}: {message}")

    # -- for subclasses --------------------------------------------------------------------------------
    def _activate(self, now: float) -> None:
        """Mark the moment the device starts talking; fault windows count from here (first call only)."""
        if self._active_since is not None:
            return
        self._active_since = now
        if self._unplug_plan is not None:
            self._auto_unplug_at = now + self._unplug_plan.after_s

    def _active_for(self, now: float) -> float | None:
        """Seconds since ``_activate``, or None before it."""
        return None if self._active_since is None else now - self._active_since

    def _send(self, data: bytes) -> bool:
        """Write to the reader, in random small pieces with ``split``; False if the reader went away."""
        if not self._split:
            return self._link.write(data, lambda: self._stop_requested)
        for chunk in self.faults.split(data):
            if not self._link.write(chunk, lambda: self._stop_requested):
                return False
            time.sleep(SPLIT_GAP_S)
        return True

    def _on_reader_opened(self, now: float) -> None:  # noqa: B027 - optional hook
        """A reader opened the port."""

    def _on_reader_closed(self, now: float) -> None:  # noqa: B027 - optional hook
        """The last reader closed the port, or the link was unplugged."""

    def _on_data(self, data: bytes, now: float) -> None:  # noqa: B027 - optional hook
        """The reader wrote ``data``."""

    @abc.abstractmethod
    def _on_tick(self, now: float) -> None:
        """Do whatever is due at ``now`` (only called while a reader is present)."""

    @abc.abstractmethod
    def _next_deadline(self) -> float | None:
        """The monotonic time ``_on_tick`` next has work, or None when idle."""
