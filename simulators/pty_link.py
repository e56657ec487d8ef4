"""A pseudo-terminal that stands in for a serial device, linked at a stable path.

The simulator keeps the master side; the slave side (``/dev/pts/N``) is what a gateway opens, through a
symlink at the requested path (``/tmp/gps0``), exactly as it would open ``/dev/ttyUSB0``.

Detecting the reader. After setting the slave to raw mode we close our own slave descriptor. On Linux the
master then reports ``POLLHUP`` for as long as no process has the slave open, and the flag clears the moment
a reader opens it; it comes back when the last reader closes. This was checked on this machine (Linux 6.x):
``poll`` on the master gives ``POLLOUT|POLLHUP`` with no slave open and ``POLLOUT`` once one is, and the raw
termios settings survive the close and re-open of the slave. ``reader_present`` is that test with a zero
timeout. Two consequences shape the simulators:

- Bytes written while no reader is there are *not* lost: the line discipline buffers them and hands them to
  the next reader. Simulators therefore write only while a reader is present, so a reader never sees a stale
  backlog and a replayed log is never half-spent before anyone listens.
- A reader that has just opened the port may still be configuring it: pyserial flushes its input buffer at
  the end of ``open()``. The device loop (``device.py``) therefore waits a short settle time after the
  reader appears before it writes anything.
- A master in ``POLLHUP`` is always "ready", so it cannot be waited on; while nobody is there the
  simulators wait on their control pipe with a short timeout and test again.

Unplugging (a USB receiver pulled out) closes the master, which makes the reader's reads fail with EIO or
end-of-file as with a vanished ``/dev/ttyUSB0``, and removes the symlink; plugging in creates a fresh pty and
re-links the same path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import time
import tty
from collections.abc import Callable
from pathlib import Path

from gateway.errors import LinkError

_WRITE_WAIT_S = 0.05
"""How long one wait for room in the pty buffer lasts before the stop and reader checks run again."""

_READ_SIZE = 4096


class PtyLink:
    """One pseudo-terminal, its slave symlinked at ``path``; plug and unplug it any number of times."""

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._master: int | None = None
        self._device: str | None = None

    @property
    def path(self) -> Path:
        """Where the slave is linked (what a reader opens)."""
        return self._path

    @property
    def device(self) -> str | None:
        """The current slave device name (``/dev/pts/N``), or None while unplugged."""
        return self._device

    @property
    def plugged(self) -> bool:
        """True while a pty exists and is linked."""
        return self._master is not None

    def fileno(self) -> int:
        """The master's file descriptor; only valid while plugged."""
        if self._master is None:
            raise LinkError(f"{self._path}: not plugged")
        return self._master

    def plug(self) -> None:
        """Create a fresh raw-mode pty and link its slave at ``path``.

        A stale symlink at ``path`` is replaced; anything else there (a regular file, a directory, a real
        device) is refused with LinkError rather than clobbered.
        """
        if self._master is not None:
            return
        if not self._path.is_symlink() and self._path.exists():
            raise LinkError(f"{self._path}: exists and is not a symlink; refusing to replace it")
        master, slave = os.openpty()
        try:
            tty.setraw(slave)
            device = os.ttyname(slave)
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        staging = self._path.with_name(f".{self._path.name}.{os.getpid()}.tmp")
        try:
            with contextlib.suppress(FileNotFoundError):
                staging.unlink()
            staging.symlink_to(device)
            os.replace(staging, self._path)
        except OSError as exc:
            os.close(master)
            raise LinkError(f"{self._path}: cannot link to {device}: {exc}") from exc
        self._master = master
        self._device = device

    def unplug(self) -> None:
        """Close the master (the reader sees the device vanish) and remove our symlink."""
        master, device = self._master, self._device
        self._master = None
        self._device = None
        if master is not None:
            os.close(master)
        if device is not None:
            with contextlib.suppress(OSError):
                if self._path.is_symlink() and os.readlink(self._path) == device:
                    self._path.unlink()

    def reader_present(self) -> bool:
        """True while some process has the slave open (the master does not report POLLHUP)."""
        if self._master is None:
            return False
        poller = select.poll()
        poller.register(self._master, select.POLLOUT)
        return not any(events & select.POLLHUP for _, events in poller.poll(0))

    def read(self) -> bytes:
        """What the reader wrote, without blocking; b"" when there is nothing or no reader."""
        if self._master is None:
            return b""
        try:
            return os.read(self._master, _READ_SIZE)
        except BlockingIOError:
            return b""
        except OSError as exc:
            if exc.errno == errno.EIO:
                return b""
            raise

    def write(self, data: bytes, cancelled: Callable[[], bool] = lambda: False) -> bool:
        """Write all of ``data`` while a reader is present, waiting for room when the buffer is full.

        Returns False, without raising, when the reader goes away, the link is unplugged or ``cancelled()``
        turns true before everything was written: the caller waits for a reader again.
        """
        view = memoryview(data)
        while view:
            if self._master is None or cancelled() or not self.reader_present():
                return False
            try:
                written = os.write(self._master, view)
            except BlockingIOError:
                written = 0
            except OSError as exc:
                if exc.errno in (errno.EIO, errno.EBADF):
                    return False
                raise
            view = view[written:]
            if view:
                poller = select.poll()
                poller.register(self._master, select.POLLOUT)
                poller.poll(_WRITE_WAIT_S * 1000)
        return True


class Waker:
    """A self-pipe: another thread or a signal handler calls ``wake()`` to end a ``poll`` early."""

    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)

    def fileno(self) -> int:
        """The end to poll for POLLIN."""
        return self._read_fd

    def wake(self) -> None:
        """Make the next (or current) poll on ``fileno()`` return."""
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._write_fd, b"\0")

    def drain(self) -> None:
        """Consume pending wake-ups."""
        with contextlib.suppress(BlockingIOError, OSError):
            while os.read(self._read_fd, 256):
                pass

    def close(self) -> None:
        """Release both pipe ends."""
        for fd in (self._read_fd, self._write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


def monotonic() -> float:
    """The clock every simulator timer uses."""
    return time.monotonic()
