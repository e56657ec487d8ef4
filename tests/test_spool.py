"""The spool: ordering, seq that never repeats, recovery from corrupt files, bounds, TTL, durability."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway import spool as spool_module
from gateway.config import SpoolSection
from gateway.spool import Spool, SpooledMessage

REPO = Path(__file__).resolve().parent.parent


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def settings(path: Path, **overrides: Any) -> SpoolSection:
    return SpoolSection.model_validate({"path": path, **overrides})


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "spool.db"


@pytest.fixture
def spool(db: Path) -> Iterator[Spool]:
    opened = Spool(db, settings(db))
    yield opened
    opened.close()


def put(spool: Spool, cls: str, index: int = 0, **extra: Any) -> int:
    return spool.put(cls, f"patrol/units/u{index}/{cls}", {"index": index, **extra}, retain=False)


@pytest.mark.parametrize(
    ("classes", "expected"),
    [
        (["position", "status"], ["status", "position"]),
        (["health", "position", "emergency", "text"], ["emergency", "text", "position", "health"]),
        (
            ["position", "position", "emergency", "position"],
            ["emergency", "position", "position", "position"],
        ),
        (["radio", "result", "status", "emergency"], ["emergency", "result", "status", "radio"]),
    ],
)
def test_pending_puts_higher_classes_first(spool: Spool, classes: list[str], expected: list[str]) -> None:
    for index, cls in enumerate(classes):
        put(spool, cls, index)
    assert [message.cls for message in spool.pending(100, ())] == expected


def test_pending_keeps_seq_order_within_a_class_and_honours_exclude_and_limit(spool: Spool) -> None:
    seqs = [put(spool, "position", index) for index in range(10)]
    assert [m.seq for m in spool.pending(100, ())] == seqs
    assert [m.seq for m in spool.pending(3, {seqs[0], seqs[2]})] == [seqs[1], seqs[3], seqs[4]]


def test_put_returns_consecutive_seqs_and_publishes_compact_json_with_seq(spool: Spool) -> None:
    first = spool.put("status", "patrol/units/u1/status", {"unit": "Ä1", "code": 32770}, retain=True, qos=1)
    second = put(spool, "position")
    assert second == first + 1
    [status, _] = spool.pending(10, ())
    assert status == SpooledMessage(
        seq=first,
        cls="status",
        topic="patrol/units/u1/status",
        payload=f'{{"unit":"Ä1","code":32770,"seq":{first}}}'.encode(),
        qos=1,
        retain=True,
        created=status.created,
    )


def test_unknown_class_is_refused(spool: Spool) -> None:
    with pytest.raises(ValueError, match="unknown message class"):
        put(spool, "gossip")


def test_ack_removes_and_counts(spool: Spool) -> None:
    seqs = [put(spool, "status", index) for index in range(5)]
    spool.ack(seqs[:3])
    assert [m.seq for m in spool.pending(10, ())] == seqs[3:]
    stats = spool.stats()
    assert (stats.depth, stats.acked, stats.depth_by_class) == (2, 3, {"status": 2})


def test_seq_keeps_growing_across_reopen(db: Path) -> None:
    first = Spool(db, settings(db))
    before = [put(first, "status", index) for index in range(3)]
    first.ack(before)
    first.close()
    second = Spool(db, settings(db))
    after = put(second, "status")
    second.close()
    assert after > max(before)


def test_seq_does_not_repeat_when_the_file_is_deleted(db: Path) -> None:
    first = Spool(db, settings(db))
    before = put(first, "status")
    first.close()
    for leftover in db.parent.iterdir():
        leftover.unlink()
    second = Spool(db, settings(db))
    assert put(second, "status") > before
    second.close()


def test_seq_file_protects_against_a_clock_that_went_backwards(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = Spool(db, settings(db))
    before = put(first, "status")
    first.close()
    for suffix in ("", "-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    monkeypatch.setattr(spool_module, "_wall_clock_us", lambda: 0)  # e.g. booted without an RTC
    second = Spool(db, settings(db))
    assert put(second, "status") > before
    second.close()


def garbage(path: Path) -> None:
    path.write_bytes(b"this is not an SQLite database at all" * 200)


def truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:300])


def torn_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[4096:8192] = b"\xff" * 4096
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [garbage, truncated, torn_middle])
def test_corrupt_file_is_moved_aside_and_a_fresh_spool_works(
    db: Path, damage: Any, caplog: pytest.LogCaptureFixture
) -> None:
    first = Spool(db, settings(db))
    for index in range(300):
        put(first, "status", index, padding="x" * 100)
    old_max = first.last_seq
    first.close()
    damage(db)
    with caplog.at_level(logging.ERROR, logger="gateway.spool"):
        fresh = Spool(db, settings(db))
    assert fresh.recovered_from is not None
    assert fresh.recovered_from.name.startswith("spool.db.corrupt-")
    assert fresh.recovered_from.exists()
    assert "moved it aside" in caplog.text
    assert fresh.stats().recovered_from == str(fresh.recovered_from)
    seq = put(fresh, "emergency")
    assert seq > old_max
    assert [m.seq for m in fresh.pending(10, ())] == [seq]
    fresh.close()


def test_healthy_file_is_not_moved_aside(db: Path) -> None:
    first = Spool(db, settings(db))
    put(first, "status")
    first.close()
    again = Spool(db, settings(db))
    assert again.recovered_from is None
    assert again.depth == 1
    again.close()


def test_full_spool_drops_oldest_positions_and_never_durable_classes(db: Path) -> None:
    spool = Spool(db, settings(db, max_events=100))
    durable = [
        put(spool, cls, index) for index, cls in enumerate(["status", "emergency", "text", "result"] * 10)
    ]
    positions = [put(spool, "position", index) for index in range(200)]
    stats = spool.stats()
    assert stats.depth <= 100
    kept = {m.seq for m in spool.pending(1000, ())}
    assert set(durable) <= kept
    kept_positions = sorted(kept - set(durable))
    assert kept_positions == positions[-len(kept_positions) :]  # the oldest went first
    assert stats.drops_by_class == {"position": 200 - len(kept_positions)}
    spool.close()


def test_positions_go_before_health_when_full(db: Path) -> None:
    spool = Spool(db, settings(db, max_events=100))
    health = [put(spool, "health", index) for index in range(50)]
    for index in range(100):
        put(spool, "position", index)
    assert set(health) <= {m.seq for m in spool.pending(1000, ())}
    assert set(spool.stats().drops_by_class) == {"position"}
    spool.close()


def test_byte_bound_drops_positions(db: Path) -> None:
    spool = Spool(db, settings(db, max_bytes=64 * 1024))
    status = put(spool, "status", padding="s" * 1000)
    for index in range(200):
        put(spool, "position", index, padding="p" * 1000)
    stats = spool.stats()
    assert stats.bytes <= 64 * 1024
    assert stats.drops_by_class["position"] > 0
    assert status in {m.seq for m in spool.pending(1000, ())}
    spool.close()


def test_only_durable_classes_left_exceeds_the_bound_and_logs(
    db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(db, settings(db, max_events=100))
    with caplog.at_level(logging.ERROR, logger="gateway.spool"):
        seqs = [put(spool, "status", index) for index in range(150)]
    assert [m.seq for m in spool.pending(1000, ())] == seqs
    assert spool.stats().drops_by_class == {}
    assert "over its bound" in caplog.text
    spool.close()


def test_ttl_expires_per_class_and_counts(db: Path) -> None:
    clock = FakeClock()
    spool = Spool(db, settings(db, ttl_s={"position": 10, "status": 0}), clock=clock)
    old_position = put(spool, "position")
    status = put(spool, "status")
    clock.now += 5
    young_position = put(spool, "position")
    clock.now += 6
    assert [m.seq for m in spool.pending(10, ())] == [status, young_position]
    assert spool.stats().expired_by_class == {"position": 1}
    assert old_position not in {m.seq for m in spool.pending(10, ())}
    spool.close()


def test_stats_report_age_and_depth(db: Path) -> None:
    clock = FakeClock()
    spool = Spool(db, settings(db), clock=clock)
    put(spool, "status")
    put(spool, "position")
    clock.now += 7.5
    data = spool.stats().as_dict()
    assert data["oldest_age_s"] == 7.5
    assert data["depth_by_class"] == {"status": 1, "position": 1}
    assert json.loads(json.dumps(data)) == data
    spool.close()


def test_batched_positions_survive_after_commit(db: Path) -> None:
    spool = Spool(db, settings(db, position_commit_interval_s=5))
    seqs = [put(spool, "position", index) for index in range(5)]
    assert spool._db.in_transaction  # batched: not yet committed
    spool.commit()
    other = sqlite3.connect(db)
    assert [row[0] for row in other.execute("SELECT seq FROM messages ORDER BY seq")] == seqs
    other.close()
    spool.close()


def test_durable_put_is_committed_when_it_returns(db: Path) -> None:
    spool = Spool(db, settings(db, position_commit_interval_s=5))
    position = put(spool, "position")
    status = put(spool, "status")
    assert not spool._db.in_transaction
    other = sqlite3.connect(db)
    assert {row[0] for row in other.execute("SELECT seq FROM messages")} == {position, status}
    other.close()
    spool.close()


def test_every_returned_durable_put_survives_sigkill(db: Path) -> None:
    accepted: list[int] = []
    with subprocess.Popen(
        [sys.executable, "-m", "bench.producer", "--spool", str(db), "--classes", "status,emergency,text"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    ) as child:
        assert child.stdout is not None
        try:
            for line in child.stdout:
                accepted.append(int(line.split()[2]))
                if len(accepted) == 500:
                    break
            child.send_signal(signal.SIGKILL)
            accepted.extend(int(line.split()[2]) for line in child.stdout if line.startswith("put "))
        finally:
            child.kill()
    assert len(accepted) >= 500
    survivor = Spool(db, settings(db))
    stored = {m.seq for m in survivor.pending(100_000, ())}
    survivor.close()
    assert set(accepted) <= stored
    assert sorted(stored)[: len(accepted)] == sorted(accepted)  # consecutive: no gaps among committed events
    assert sorted(accepted) == list(range(min(accepted), max(accepted) + 1))
