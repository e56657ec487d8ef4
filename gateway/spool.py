"""The durable spool: every outgoing MQTT message lives here until the broker has acknowledged it.

Design, in the order a message travels:

- ``put()`` gives the message its ``seq``, adds ``"seq"`` to the JSON body and inserts it into one SQLite
  table (WAL mode, ``synchronous=FULL``). Messages of the durable classes (emergency, status, text, result)
  are committed, i.e. fsync'd, before ``put()`` returns. Positions, health and radio state are committed in
  batches: by ``commit()`` (the daemon calls it every ``position_commit_interval_s``), by the next durable
  put, or by the next put/ack once that interval has passed. A batched message may be published before its
  batch is committed; that is why ``seq`` values are reserved ahead (below) rather than taken from the table.
- ``pending()`` returns what to send next: highest class first, ``seq`` order within a class, via an index
  on ``(rank, seq)`` -- one index range scan per rank.
- ``ack()`` deletes what the broker acknowledged. Deletes ride on the next commit: a crash before it means
  the message is sent again, a duplicate that consumers drop by ``seq``.

``seq`` never repeats, even after a crash, a corrupt file being moved aside or the file being deleted:
- at every open the counter starts at ``max(highest seq in the table + 1, the reservation in the side file
  <path>.seq, the wall clock in microseconds)``. The counter advances by one per message, far slower than the
  clock advances (10^6 per second), so a fresh start from the clock is always beyond any seq used before --
  provided the clock did not go backwards. The side file covers that case (a vehicle unit without a real-time
  clock booting at 1970): it holds a ceiling that is written and fsync'd *before* any seq below it is handed
  out, in blocks of ``SEQ_BLOCK``, so a crash can never make us reuse a seq that may already be on the wire.
  It lives outside the database so that it survives the database being moved aside.

Bounds (``max_events``, ``max_bytes``): when full, the oldest positions are dropped first, then health and
radio state; emergencies, statuses, texts and command results are never dropped -- if only they remain the
bound is exceeded and that is logged. Time to live per class (0 = forever) is enforced by ``expire()``,
which ``pending()`` runs at most once per ``EXPIRE_SWEEP_INTERVAL_S``. Drops and expiries are counted per
class in ``stats()``.

All calls are synchronous and meant to be made from the event loop: a batched put is a single INSERT
(~10-20 us), a durable put adds one WAL fsync (0.3-1 ms on the SSDs/eMMC this runs on; see
docs/durability.md and bench/README.md for the measurements that justify not using a thread).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from gateway.config import SpoolSection
from gateway.errors import GatewayError

log = logging.getLogger(__name__)

CLASS_RANK: Final[Mapping[str, int]] = MappingProxyType(
    {
        "emergency": 0,
        "status": 1,
        "text": 1,
        "result": 1,
        "position": 2,
        "health": 3,
        "radio": 3,
    }
)
"""Message class -> priority rank (0 is sent first). The one place classes and priorities are defined."""

DURABLE_RANK: Final = 1
"""Ranks up to this one (lower = more urgent) are fsync'd before ``put()`` returns and never dropped."""

DROP_ORDER: Final = ("position", "health", "radio")
"""What a full spool sacrifices, oldest first within a class, in this order of classes."""

SEQ_BLOCK: Final = 10_000
"""Seqs reserved (one fsync'd side-file write) at a time."""

EXPIRE_SWEEP_INTERVAL_S: Final = 1.0
"""``pending()`` sweeps expired messages at most this often."""

BOUND_HEADROOM_FRACTION: Final = 0.01
"""A full spool drops down to this fraction below its bound, so that dropping is not done on every put."""

_SQLITE_CORRUPT: Final = 11
_SQLITE_NOTADB: Final = 26
_DELETE_CHUNK: Final = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,
    rank INTEGER NOT NULL,
    cls TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    created REAL NOT NULL,
    correlation BLOB
);
CREATE INDEX IF NOT EXISTS messages_rank_seq ON messages (rank, seq);
CREATE INDEX IF NOT EXISTS messages_cls_created ON messages (cls, created);
"""
_COLUMNS = "seq, cls, topic, payload, qos, retain, created, correlation"
_INSERT = f"INSERT INTO messages (rank, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_SIZE = "length(payload) + length(topic)"
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
"""What ``json.dumps(..., separators=..., ensure_ascii=False)`` would build anew on every call."""


class SpoolError(GatewayError):
    """The spool's file cannot be used (and could not be replaced by a fresh one)."""


@dataclass(frozen=True, slots=True)
class SpooledMessage:
    """One message waiting for its PUBACK."""

    seq: int
    cls: str
    topic: str
    payload: bytes
    qos: int
    retain: bool
    created: float
    correlation_data: bytes | None = None


@dataclass(frozen=True, slots=True)
class SpoolStats:
    """A snapshot for the health topic."""

    depth: int
    bytes: int
    oldest_age_s: float | None
    depth_by_class: dict[str, int]
    drops_by_class: dict[str, int]
    expired_by_class: dict[str, int]
    committed: int
    acked: int
    recovered_from: str | None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return {
            "depth": self.depth,
            "bytes": self.bytes,
            "oldest_age_s": None if self.oldest_age_s is None else round(self.oldest_age_s, 3),
            "depth_by_class": dict(self.depth_by_class),
            "drops_by_class": dict(self.drops_by_class),
            "expired_by_class": dict(self.expired_by_class),
            "committed": self.committed,
            "acked": self.acked,
            "recovered_from": self.recovered_from,
        }


def rank_of(cls: str) -> int:
    """The priority rank of a message class; ValueError for an unknown class."""
    try:
        return CLASS_RANK[cls]
    except KeyError:
        raise ValueError(f"unknown message class {cls!r}; expected one of {sorted(CLASS_RANK)}") from None


def _wall_clock_us() -> int:
    return time.time_ns() // 1000


class Spool:
    """Store-and-forward of outgoing MQTT messages in one SQLite file (see the module docstring)."""

    def __init__(self, path: Path, settings: SpoolSection, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.settings = settings
        self._clock = clock
        self._classes_by_rank = {
            rank: tuple(cls for cls, r in CLASS_RANK.items() if r == rank)
            for rank in sorted(set(CLASS_RANK.values()))
        }
        self._seq_file = self.path.with_name(self.path.name + ".seq")
        self.recovered_from: Path | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = self._open_or_recover()
        self._depth_by_class: dict[str, int] = dict.fromkeys(CLASS_RANK, 0)
        self._drops_by_class: dict[str, int] = dict.fromkeys(CLASS_RANK, 0)
        self._expired_by_class: dict[str, int] = dict.fromkeys(CLASS_RANK, 0)
        self._bytes = 0
        for cls, count, size in self._db.execute(
            f"SELECT cls, count(*), sum({_SIZE}) FROM messages GROUP BY cls"
        ):
            self._depth_by_class[cls] = self._depth_by_class.get(cls, 0) + count
            self._bytes += size or 0
        self._committed = 0
        self._uncommitted_puts = 0
        self._acked = 0
        self._dirty_since: float | None = None
        self._last_sweep = -math.inf
        self._over_bound_logged = False
        (highest,) = self._db.execute("SELECT coalesce(max(seq), 0) FROM messages").fetchone()
        self._next_seq = max(int(highest) + 1, self._read_seq_ceiling(), _wall_clock_us())
        self._seq_ceiling = self._next_seq
        self._closed = False

    # -- opening -------------------------------------------------------------------------------------------

    def _open_or_recover(self) -> sqlite3.Connection:
        try:
            return self._open()
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorcode", None) not in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
                raise SpoolError(f"cannot open spool {self.path}: {exc}") from exc
            self.recovered_from = self._move_aside(exc)
        try:
            return self._open()
        except sqlite3.DatabaseError as exc:
            raise SpoolError(f"cannot create a fresh spool at {self.path}: {exc}") from exc

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            (verdict,) = db.execute("PRAGMA quick_check").fetchone()
            if verdict != "ok":
                error = sqlite3.DatabaseError(f"integrity check failed: {verdict}")
                error.sqlite_errorcode = _SQLITE_CORRUPT
                raise error
            db.executescript(_SCHEMA)
        except BaseException:
            db.close()
            raise
        return db

    def _move_aside(self, cause: sqlite3.DatabaseError) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        try:
            for suffix in ("", "-wal", "-shm"):
                source = self.path.with_name(self.path.name + suffix)
                if source.exists():
                    source.rename(target.with_name(target.name + suffix))
        except OSError as exc:
            raise SpoolError(
                f"spool {self.path} is corrupt ({cause}) and cannot be moved aside: {exc}"
            ) from exc
        log.error(
            "spool %s is corrupt or truncated (%s); moved it aside to %s and started a fresh spool. "
            "Messages in it that were not yet delivered are not sent.",
            self.path,
            cause,
            target,
        )
        return target

    # -- seq reservation -----------------------------------------------------------------------------------

    def _read_seq_ceiling(self) -> int:
        try:
            return int(self._seq_file.read_text(encoding="ascii").strip() or 0)
        except FileNotFoundError:
            return 0
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable seq file %s: %s", self._seq_file, exc)
            return 0

    def _reserve_seqs(self) -> None:
        ceiling = self._next_seq + SEQ_BLOCK
        temporary = self._seq_file.with_name(self._seq_file.name + ".tmp")
        try:
            with open(temporary, "w", encoding="ascii") as handle:
                handle.write(f"{ceiling}\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self._seq_file)
            directory = os.open(self._seq_file.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as exc:
            raise SpoolError(f"cannot reserve seqs in {self._seq_file}: {exc}") from exc
        self._seq_ceiling = ceiling

    def _allocate_seq(self) -> int:
        if self._next_seq >= self._seq_ceiling:
            self._reserve_seqs()
        seq = self._next_seq
        self._next_seq += 1
        return seq

    # -- writing -------------------------------------------------------------------------------------------

    def put(
        self,
        cls: str,
        topic: str,
        body: Mapping[str, Any],
        *,
        retain: bool,
        qos: int = 1,
        correlation_data: bytes | None = None,
    ) -> int:
        """Store one message and return its ``seq``; durable classes are fsync'd before this returns.

        The payload is ``body`` as compact UTF-8 JSON with ``"seq"`` added. ``correlation_data`` is sent as
        the MQTT 5 correlation data property (command results).
        """
        rank = rank_of(cls)
        seq = self._allocate_seq()
        payload = _JSON.encode({**body, "seq": seq}).encode()
        now = self._clock()
        self._begin(now)
        try:
            self._db.execute(
                _INSERT, (rank, seq, cls, topic, payload, qos, int(retain), now, correlation_data)
            )
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot store message in {self.path}: {exc}") from exc
        self._depth_by_class[cls] += 1
        self._bytes += len(payload) + len(topic.encode())
        self._uncommitted_puts += 1
        self._enforce_bounds()
        if rank <= DURABLE_RANK:
            self.commit()
        else:
            self._commit_if_due(now)
        return seq

    def execute(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement on the spool's file inside its open transaction (committed with the next commit).

        For tables that must change atomically with a spooled message, such as the command journal.
        """
        self._begin(self._clock())
        return self.query(sql, params)

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement outside any new transaction; for reads (it sees what this process has written
        but not yet committed). ``execute()`` is the one for writes."""
        try:
            return self._db.execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise SpoolError(f"spool {self.path}: {exc}") from exc

    def _begin(self, now: float) -> None:
        if not self._db.in_transaction:
            self._db.execute("BEGIN")
            self._dirty_since = now

    def commit(self) -> None:
        """Commit (fsync) everything put or acknowledged so far."""
        if self._db.in_transaction:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise SpoolError(f"cannot commit spool {self.path}: {exc}") from exc
        self._committed += self._uncommitted_puts
        self._uncommitted_puts = 0
        self._dirty_since = None

    def _commit_if_due(self, now: float) -> None:
        if (
            self._dirty_since is not None
            and now - self._dirty_since >= self.settings.position_commit_interval_s
        ):
            self.commit()

    def ack(self, seqs: Iterable[int]) -> None:
        """Forget messages the broker has acknowledged (committed with the next commit)."""
        batch = list(seqs)
        if not batch:
            return
        now = self._clock()
        self._begin(now)
        removed = 0
        for start in range(0, len(batch), _DELETE_CHUNK):
            chunk = batch[start : start + _DELETE_CHUNK]
            marks = ",".join("?" * len(chunk))
            removed += self._delete(f"DELETE FROM messages WHERE seq IN ({marks})", chunk, None)
        self._acked += removed
        self._commit_if_due(now)

    def _delete(self, sql: str, params: Iterable[Any], counter: dict[str, int] | None) -> int:
        rows = self._db.execute(f"{sql} RETURNING cls, {_SIZE}", tuple(params)).fetchall()
        for cls, size in rows:
            self._depth_by_class[cls] -= 1
            self._bytes -= size
            if counter is not None:
                counter[cls] = counter.get(cls, 0) + 1
        return len(rows)

    # -- bounds and time to live ---------------------------------------------------------------------------

    def _over_bound(self, headroom: float) -> bool:
        events_bound = self.settings.max_events * (1 - headroom)
        bytes_bound = self.settings.max_bytes * (1 - headroom)
        return self.depth > events_bound or self._bytes > bytes_bound

    def _enforce_bounds(self) -> None:
        if not self._over_bound(0.0):
            self._over_bound_logged = False
            return
        for cls in DROP_ORDER:
            while self._depth_by_class[cls] and self._over_bound(BOUND_HEADROOM_FRACTION):
                self._delete(
                    "DELETE FROM messages WHERE seq IN "
                    "(SELECT seq FROM messages WHERE rank = ? AND cls = ? ORDER BY seq LIMIT ?)",
                    (CLASS_RANK[cls], cls, self._excess_count()),
                    self._drops_by_class,
                )
        if self._over_bound(0.0) and not self._over_bound_logged:
            self._over_bound_logged = True
            log.error(
                "spool is over its bound (%d events, %d bytes; max %d events, %d bytes) with only "
                "never-dropped classes left: %s",
                self.depth,
                self._bytes,
                self.settings.max_events,
                self.settings.max_bytes,
                {cls: n for cls, n in self._depth_by_class.items() if n},
            )

    def _excess_count(self) -> int:
        low_events = self.settings.max_events * (1 - BOUND_HEADROOM_FRACTION)
        low_bytes = self.settings.max_bytes * (1 - BOUND_HEADROOM_FRACTION)
        by_events = self.depth - low_events
        average = self._bytes / self.depth if self.depth else 1.0
        by_bytes = (self._bytes - low_bytes) / max(average, 1.0)
        return max(1, math.ceil(max(by_events, by_bytes)))

    def expire(self) -> int:
        """Drop messages older than their class's time to live; returns how many."""
        now = self._clock()
        self._last_sweep = now
        expired = 0
        for cls, ttl in self.settings.ttl_s.items():
            if ttl > 0 and cls in CLASS_RANK and self._depth_by_class[cls]:
                self._begin(now)
                expired += self._delete(
                    "DELETE FROM messages WHERE cls = ? AND created < ?",
                    (cls, now - ttl),
                    self._expired_by_class,
                )
        return expired

    # -- reading -------------------------------------------------------------------------------------------

    def pending(
        self,
        limit: int,
        exclude: Collection[int] = (),
    ) -> list[SpooledMessage]:
        """Up to ``limit`` messages to send: highest class first, then ``seq`` order within a class.

        ``exclude`` are seqs already in flight. Runs the TTL sweep when it is due.
        """
        if self._clock() - self._last_sweep >= EXPIRE_SWEEP_INTERVAL_S:
            self.expire()
        out: list[SpooledMessage] = []
        if limit <= 0:
            return out
        conditions = ["rank = ?"]
        excluded = list(exclude)
        if excluded:
            conditions.append(f"seq NOT IN ({','.join('?' * len(excluded))})")
        sql = f"SELECT {_COLUMNS} FROM messages WHERE {' AND '.join(conditions)} ORDER BY seq LIMIT ?"
        for rank, classes in self._classes_by_rank.items():
            wanted = limit - len(out)
            if wanted <= 0:
                break
            if not any(self._depth_by_class[cls] for cls in classes):
                continue  # nothing of this rank: skip the query
            rows = self._db.execute(sql, (rank, *excluded, wanted))
            out.extend(
                SpooledMessage(seq, cls, topic, payload, qos, bool(retain), created, correlation)
                for seq, cls, topic, payload, qos, retain, created, correlation in rows
            )
        return out

    @property
    def depth(self) -> int:
        """Messages waiting for a PUBACK."""
        return sum(self._depth_by_class.values())

    @property
    def last_seq(self) -> int:
        """The most recently assigned seq (or one below the next, before any put)."""
        return self._next_seq - 1

    def stats(self) -> SpoolStats:
        """Depth, size, age of the oldest message and the drop/expiry counters."""
        row = self._db.execute("SELECT created FROM messages ORDER BY seq LIMIT 1").fetchone()
        return SpoolStats(
            depth=self.depth,
            bytes=self._bytes,
            oldest_age_s=None if row is None else max(0.0, self._clock() - row[0]),
            depth_by_class={cls: n for cls, n in self._depth_by_class.items() if n},
            drops_by_class={cls: n for cls, n in self._drops_by_class.items() if n},
            expired_by_class={cls: n for cls, n in self._expired_by_class.items() if n},
            committed=self._committed,
            acked=self._acked,
            recovered_from=None if self.recovered_from is None else str(self.recovered_from),
        )

    def close(self) -> None:
        """Commit and close the file. Further calls are no-ops."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(SpoolError):
            self.commit()
        self._db.close()
