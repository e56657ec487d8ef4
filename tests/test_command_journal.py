"""The command journal: durable before the PUBACK, finished atomically with the result, repeats recognised."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway import command_journal
from gateway.command_journal import COMMAND_MEMORY_S, CommandJournal, JournaledCommand
from gateway.config import SpoolSection
from gateway.spool import Spool

NOW = 1_800_000_000.0
STATUS = b'{"id": "c-1", "to": "P-1", "code": "8002"}'
RESULT = {"id": "c-1", "ok": True, "state": "sent", "command": "send_status"}


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    spool = Spool(tmp_path / "spool.db", SpoolSection(path=tmp_path / "spool.db"))
    yield spool
    spool.close()


def unfinished_after_crash(spool: Spool) -> list[JournaledCommand]:
    """What a process starting after a crash would find: a second connection reads the file."""
    other = Spool(spool.path, spool.settings)
    try:
        return CommandJournal(other).unfinished()
    finally:
        other.close()


def test_an_accepted_command_is_on_disk_when_accept_returns(spool: Spool) -> None:
    journal = CommandJournal(spool)
    entry, new = journal.accept("send_status", STATUS, response_topic="dispatch/r", now=NOW)
    assert new
    (found,) = unfinished_after_crash(spool)
    assert (found.id, found.name, found.payload, found.response_topic) == (
        entry.id,
        "send_status",
        STATUS,
        "dispatch/r",
    )
    assert found.result is None and found.received == NOW


def test_the_first_result_finishes_a_command_in_the_same_commit_as_the_spooled_result(spool: Spool) -> None:
    journal = CommandJournal(spool)
    entry, _ = journal.accept("send_status", STATUS, now=NOW)
    assert journal.finish(entry.id, RESULT)
    assert [e.id for e in unfinished_after_crash(spool)] == [entry.id], "not committed before the result"
    spool.put("result", "patrol/gateways/gw/cmd/send_status/result", RESULT, retain=False)
    assert unfinished_after_crash(spool) == [], "committed with the durable result message"
    assert not journal.finish(entry.id, {**RESULT, "state": "delivered"}), "only the first result is kept"
    again, new = journal.accept("send_status", STATUS, now=NOW + 1)
    assert not new and again.id == entry.id and again.result == RESULT


def test_a_repeat_is_recognised_while_in_progress_and_a_different_command_is_not(spool: Spool) -> None:
    journal = CommandJournal(spool)
    first, _ = journal.accept("send_status", STATUS, now=NOW)
    repeat, new = journal.accept("send_status", STATUS, now=NOW + 5)
    assert not new and repeat.id == first.id and repeat.result is None
    for name, payload in [
        ("send_status", STATUS.replace(b"c-1", b"c-2")),
        ("send_text", STATUS),
        ("send_status", STATUS.replace(b"8002", b"8003")),
    ]:
        other, new = journal.accept(name, payload, now=NOW + 5)
        assert new and other.id != first.id, (name, payload)
    assert len(journal.unfinished()) == 4


def test_finished_commands_are_forgotten_after_the_memory_window_unfinished_ones_never(spool: Spool) -> None:
    journal = CommandJournal(spool)
    done, _ = journal.accept("send_status", STATUS, now=NOW)
    journal.finish(done.id, RESULT)
    stuck, _ = journal.accept("send_text", b'{"id": "t-1", "to": 1, "text": "x"}', now=NOW)
    later = NOW + COMMAND_MEMORY_S + 1
    again, new = journal.accept("send_status", STATUS, now=later)
    assert new and again.id != done.id, "a command beyond the window is a new command"
    assert [e.id for e in journal.unfinished()] == [stuck.id, again.id]


def test_the_memory_is_bounded_in_count(spool: Spool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(command_journal, "COMMAND_MEMORY_MAX", 3)
    journal = CommandJournal(spool)
    payloads = [STATUS.replace(b"c-1", f"c-{n}".encode()) for n in range(6)]
    for payload in payloads:
        entry, _ = journal.accept("send_status", payload, now=NOW)
        journal.finish(entry.id, RESULT)
    ((count,),) = spool.query("SELECT count(*) FROM commands")
    assert count <= 4
    _, new = journal.accept("send_status", payloads[0], now=NOW)
    assert new, "the oldest was forgotten"
    _, new = journal.accept("send_status", payloads[-1], now=NOW)
    assert not new, "the newest is remembered"


def test_a_spool_from_before_the_journal_gets_its_table(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = Spool(path, SpoolSection(path=path))
    old.execute("DROP TABLE IF EXISTS commands")
    old.put("status", "patrol/units/P-1/status", {"code": 1}, retain=True)
    old.close()
    spool = Spool(path, SpoolSection(path=path))
    try:
        journal = CommandJournal(spool)
        assert journal.unfinished() == []
        assert spool.depth == 1, "the spooled message is still there"
    finally:
        spool.close()
