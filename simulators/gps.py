"""The GNSS receiver simulator: replays an NMEA log, or drives a synthetic route, on a pseudo-terminal.

Output is organised in epochs (everything a receiver prints for one fix) written at ``rate_hz`` epochs per
second. Nothing is written before a reader opens the port; a log replay pauses while nobody is reading, so
no part of it is spent unheard. The synthetic receiver follows the wall clock instead: after a gap (stall,
unplug, no reader) the vehicle has moved on, as a real one would have.

Log replay. ``#`` lines are comments. Every other line is written with its content byte for byte as in the
file, terminated by CR LF whatever the file used (recorded logs on disk often lost their CRs; receivers send
CR LF), so a log's own garbage reaches the reader unchanged. Sentences are grouped into epochs by their UTC
time field (RMC, GGA, GLL, ZDA, GNS, GST, GBS, GRS): a sentence with a different time from the current epoch's
starts a new epoch; sentences without a time belong to the current epoch.

Faults apply per sentence, in this order: drop, wrong checksum, garbage bytes before it; ``split`` writes
everything in random small pieces; a stall window silences the receiver.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from simulators import nmea_writer
from simulators.device import PtyDevice
from simulators.faults import FaultInjector, Outage
from simulators.route import RouteDriver

_TIME_FIELD = {b"RMC": 1, b"GGA": 1, b"GLL": 5, b"ZDA": 1, b"GNS": 1, b"GST": 1, b"GBS": 1, b"GRS": 1}
"""Sentence type -> index of its UTC time field (after splitting on commas, the address is field 0)."""

SYNTHETIC_STEP_S = 1.0
"""Simulated seconds per epoch when the synthetic receiver runs as fast as possible (rate 0)."""


def sentence_time(line: bytes) -> bytes | None:
    """The UTC time field of a sentence that has one (``b"171926.00"``), else None."""
    if not line.startswith((b"$", b"!")):
        return None
    fields = line.split(b"*", 1)[0].split(b",")
    index = _TIME_FIELD.get(fields[0][-3:])
    if index is None or index >= len(fields) or not fields[index]:
        return None
    return fields[index]


def read_log_lines(path: Path) -> list[bytes]:
    """The log's lines without comments, blank lines or line ends."""
    lines = []
    for raw in Path(path).read_bytes().splitlines():
        line = raw.rstrip(b"\r\n")
        if line and not line.startswith(b"#"):
            lines.append(line)
    return lines


def group_epochs(lines: list[bytes]) -> list[list[bytes]]:
    """Group sentences into epochs by their time field (see the module docstring)."""
    epochs: list[list[bytes]] = []
    current: list[bytes] = []
    current_time: bytes | None = None
    for line in lines:
        stamp = sentence_time(line)
        if stamp is not None and current_time is not None and stamp != current_time and current:
            epochs.append(current)
            current = []
        if stamp is not None:
            current_time = stamp
        current.append(line)
    if current:
        epochs.append(current)
    return epochs


@dataclass(frozen=True, slots=True)
class GpsFaults:
    """Probabilities are per sentence; windows count from the first reader open."""

    checksum_errors: float = 0.0
    garbage: float = 0.0
    drop: float = 0.0
    split: bool = False
    stall: Outage | None = None
    unplug: Outage | None = None

    def __post_init__(self) -> None:
        for name in ("checksum_errors", "garbage", "drop"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value}")


class SyntheticReceiver:
    """Epochs from a vehicle driving ``route``; ``next_epoch(dt)`` advances it ``dt`` seconds."""

    def __init__(self, route: RouteDriver, rng: random.Random, *, with_gsv: bool = False) -> None:
        self._route = route
        self._rng = rng
        self._with_gsv = with_gsv
        self._time = datetime.now(UTC).replace(microsecond=0)
        self._satellites = tuple(sorted(rng.sample(range(1, 33), 10)))
        self.last_fix: nmea_writer.Fix | None = None

    def next_epoch(self, dt: float) -> list[bytes]:
        """Advance time and vehicle by ``dt`` seconds and return that epoch's sentences."""
        self._time += timedelta(seconds=dt)
        state = self._route.advance(dt)
        count = max(6, min(len(self._satellites), 8 + self._rng.randint(-2, 2)))
        fix = nmea_writer.Fix(
            time=self._time,
            lat=state.lat,
            lon=state.lon,
            alt_m=state.alt_m,
            speed_mps=state.speed_mps,
            course_deg=state.course_deg,
            satellites=self._satellites[:count],
            hdop=round(self._rng.uniform(0.7, 1.4), 2),
        )
        self.last_fix = fix
        return nmea_writer.epoch(fix, with_gsv=self._with_gsv)


class GpsSimulator(PtyDevice):
    """A GNSS receiver on a pty at ``link``: ``nmea`` log replay, or the synthetic route when None."""

    kind = "gps"

    def __init__(
        self,
        link: Path,
        *,
        nmea: Path | None = None,
        rate_hz: float = 1.0,
        loop: bool = False,
        faults: GpsFaults | None = None,
        seed: int | None = None,
        with_gsv: bool = False,
        verbose: bool = False,
        announce: Callable[[str], None] | None = None,
    ) -> None:
        if rate_hz < 0:
            raise ValueError(f"rate must be >= 0, got {rate_hz}")
        self._faults = faults or GpsFaults()
        injector = FaultInjector(seed)
        super().__init__(
            link, faults=injector, split=self._faults.split, unplug=self._faults.unplug, announce=announce
        )
        self._rate_hz = rate_hz
        self._loop_log = loop
        self._verbose = verbose
        self._log_epochs = group_epochs(read_log_lines(nmea)) if nmea is not None else None
        self._synthetic = (
            None
            if nmea is not None
            else SyntheticReceiver(
                RouteDriver(rng=random.Random(injector.rng.random())), injector.rng, with_gsv=with_gsv
            )
        )
        self._replay: Iterator[list[bytes]] | None = None
        self._next_epoch_at: float | None = None
        self._last_epoch_at: float | None = None
        self._finished = False
        self.epochs_sent = 0

    def _on_reader_opened(self, now: float) -> None:
        self._activate(now)
        if self._next_epoch_at is None:
            self._next_epoch_at = now

    def _next_deadline(self) -> float | None:
        if self._finished or self._next_epoch_at is None:
            return None
        active = self._active_for(self._next_epoch_at)
        stall = self._faults.stall
        if stall is not None and active is not None and stall.covers(active):
            assert self._active_since is not None
            return self._active_since + stall.after_s + stall.for_s
        return self._next_epoch_at

    def _on_tick(self, now: float) -> None:
        deadline = self._next_deadline()
        if deadline is None or now < deadline:
            return
        epoch = self._take_epoch(now)
        if epoch is None:
            self._finished = True
            return
        self._write_epoch(epoch)
        self.epochs_sent += 1
        self._last_epoch_at = now
        period = 0.0 if self._rate_hz == 0 else 1.0 / self._rate_hz
        self._next_epoch_at = max(deadline + period, now - period)

    def _take_epoch(self, now: float) -> list[bytes] | None:
        if self._synthetic is not None:
            if self._rate_hz == 0 or self._last_epoch_at is None:
                dt = SYNTHETIC_STEP_S if self._rate_hz == 0 else 1.0 / self._rate_hz
            else:
                dt = now - self._last_epoch_at
            return self._synthetic.next_epoch(dt)
        assert self._log_epochs is not None
        if self._replay is None:
            self._replay = iter(self._log_epochs)
        epoch = next(self._replay, None)
        if epoch is None and self._loop_log and self._log_epochs:
            self._replay = iter(self._log_epochs)
            epoch = next(self._replay, None)
        return epoch

    def _write_epoch(self, epoch: list[bytes]) -> None:
        faults, inject = self._faults, self.faults
        out = bytearray()
        for line in epoch:
            if inject.chance(faults.drop):
                continue
            if inject.chance(faults.checksum_errors):
                line = inject.corrupt_checksum(line)
            if inject.chance(faults.garbage):
                out += inject.garbage()
            out += line + b"\r\n"
        self._send(bytes(out))
        if self._verbose:
            where = ""
            if self._synthetic is not None and self._synthetic.last_fix is not None:
                fix = self._synthetic.last_fix
                where = (
                    f" {fix.lat:.6f},{fix.lon:.6f} {fix.speed_mps * 3.6:.1f} km/h {fix.course_deg:.0f} deg"
                )
            print(
                f"patrol-sim gps: epoch {self.epochs_sent + 1}: {len(epoch)} sentences, "
                f"{len(out)} bytes{where}",
                file=sys.stderr,
                flush=True,
            )
