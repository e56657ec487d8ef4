"""One open serial device, by path or pyserial URL, readable and writable from asyncio.

Devices are opened with pyserial's ``serial_for_url``, so ``/dev/ttyUSB0``, ``socket://host:port`` and
``rfc2217://host:port`` need no special code. Reading happens in one daemon thread per link doing blocking
reads with a short timeout; chunks are handed to the event loop through a queue. A thread (rather than
``loop.add_reader``) works for every URL handler, including rfc2217 which has no file descriptor to poll.

Every failure (absent device, permission, unplugged mid-read, EOF on a socket) surfaces as ``LinkError``,
translated here at the one boundary; the driver above decides about reconnecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass

import serial

from gateway.errors import LinkError

READ_TIMEOUT_S = 0.1
READ_CHUNK_BYTES = 4096
QUEUE_CHUNKS = 1024


@dataclass(frozen=True, slots=True)
class _Closed:
    error: str


class SerialLink:
    """An open device. Use ``await SerialLink.open(...)``; ``read()`` raises LinkError once the link fails."""

    def __init__(self, port: serial.SerialBase, url: str, loop: asyncio.AbstractEventLoop) -> None:
        self.url = url
        self._port = port
        self._loop = loop
        self._queue: asyncio.Queue[bytes | _Closed] = asyncio.Queue(QUEUE_CHUNKS)
        self._stop = threading.Event()
        self._write_lock = asyncio.Lock()
        self._thread = threading.Thread(target=self._reader, name=f"serial-reader {url}", daemon=True)
        self._thread.start()

    @classmethod
    async def open(cls, url: str, baudrate: int, *, rtscts: bool = False) -> SerialLink:
        """Open the device; raise LinkError saying why it could not be opened."""

        def _open() -> serial.SerialBase:
            return serial.serial_for_url(
                url,
                baudrate=baudrate,
                timeout=READ_TIMEOUT_S,
                write_timeout=2.0,
                rtscts=rtscts,
                exclusive=True,
            )

        try:
            port = await asyncio.to_thread(_open)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LinkError(f"cannot open {url}: {exc}") from exc
        return cls(port, url, asyncio.get_running_loop())

    def _reader(self) -> None:
        error = "closed"
        try:
            while not self._stop.is_set():
                data = self._port.read(max(1, min(self._port.in_waiting, READ_CHUNK_BYTES)))
                # socket:// and rfc2217:// ports report in_waiting as 0 or 1 only: gather what has already
                # arrived so that the event loop gets one chunk, not one call per byte.
                while data and len(data) < READ_CHUNK_BYTES and self._port.in_waiting:
                    data += self._port.read(min(self._port.in_waiting, READ_CHUNK_BYTES - len(data)))
                if data:
                    self._put(data)
        except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
            # TypeError/AttributeError: pyserial's handlers raise these when the port is closed under them.
            error = f"read failed: {exc}"
        finally:
            self._put(_Closed(error))

    def _put(self, item: bytes | _Closed) -> None:
        if self._stop.is_set() and isinstance(item, bytes):
            return
        with contextlib.suppress(RuntimeError):  # loop already closed at shutdown
            self._loop.call_soon_threadsafe(self._enqueue, item)

    def _enqueue(self, item: bytes | _Closed) -> None:
        # When the consumer is far behind, dropping bytes is better than growing without bound: the framer
        # above resynchronises on the next line end.
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(item)

    async def read(self) -> bytes:
        """The next chunk of bytes; raises LinkError when the device has gone."""
        item = await self._queue.get()
        if isinstance(item, _Closed):
            self._queue.put_nowait(item)  # every later read fails the same way
            raise LinkError(f"{self.url}: {item.error}")
        return item

    async def write(self, data: bytes) -> None:
        """Write all bytes; raises LinkError when the device has gone."""
        async with self._write_lock:
            try:
                await asyncio.to_thread(self._port.write, data)
            except (serial.SerialException, OSError) as exc:
                raise LinkError(f"{self.url}: write failed: {exc}") from exc

    async def close(self) -> None:
        """Close the device and stop the reader thread."""
        self._stop.set()
        cancel = getattr(self._port, "cancel_read", None)
        if cancel is not None:
            with contextlib.suppress(Exception):
                cancel()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self._port.close)
        await asyncio.to_thread(self._thread.join, 1.0)
