"""The command journal: a dispatcher's command is on disk before the broker hears that we have it.

A QoS 1 command is acknowledged (PUBACK) only once ``accept()`` has committed it to the spool's file, so a
gateway killed or powered off at any moment after the PUBACK finds the command again at start-up
(``unfinished()``) and executes it then. The first result a command gets (sent, failed, or refused as
malformed) is recorded by ``finish()`` in the same transaction as the spooled result message, so after a
crash a command is either still unfinished or has its result in the spool, never neither or both.

A command identical (same name and payload bytes) to one accepted within ``COMMAND_MEMORY_S`` is a
repeat: a QoS 1 redelivery after a lost PUBACK, or a dispatcher retrying with the same ``id``. It is not
executed again; the caller answers it with the recorded result, or lets the first one's result stand.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from gateway.spool import Spool

COMMAND_MEMORY_S: Final = 24 * 3600.0
"""How long a finished command is remembered, to recognise a repeat of it."""
COMMAND_MEMORY_MAX: Final = 10_000
"""At most this many finished commands are remembered (the oldest are forgotten first)."""

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS commands (
        id INTEGER PRIMARY KEY,
        digest BLOB NOT NULL,
        name TEXT NOT NULL,
        payload BLOB NOT NULL,
        response_topic TEXT,
        correlation BLOB,
        received REAL NOT NULL,
        result TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS commands_digest ON commands (digest)",
)
_COLUMNS: Final = "id, name, payload, response_topic, correlation, received, result"


@dataclass(frozen=True, slots=True)
class JournaledCommand:
    """One command as received, and its first result once it has one."""

    id: int
    name: str
    payload: bytes
    response_topic: str | None
    correlation_data: bytes | None
    received: float
    """Wall-clock time (epoch seconds) it was accepted."""
    result: dict[str, Any] | None


def _digest(name: str, payload: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\0" + payload).digest()


def _entry(row: tuple[Any, ...]) -> JournaledCommand:
    ident, name, payload, response_topic, correlation, received, result = row
    return JournaledCommand(
        ident,
        name,
        bytes(payload),
        response_topic,
        correlation,
        received,
        json.loads(result) if result else None,
    )


class CommandJournal:
    """Received commands, in the spool's SQLite file so that a result and its command commit together."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        for statement in _SCHEMA:
            spool.execute(statement)
        spool.commit()

    def accept(
        self,
        name: str,
        payload: bytes,
        *,
        response_topic: str | None = None,
        correlation_data: bytes | None = None,
        now: float,
    ) -> tuple[JournaledCommand, bool]:
        """Record a received command durably: ``(entry, True)``; a repeat gives ``(earlier entry, False)``."""
        digest = _digest(name, payload)
        earlier = self.spool.query(
            f"SELECT {_COLUMNS} FROM commands WHERE digest = ? AND received >= ? ORDER BY id DESC LIMIT 1",
            (digest, now - COMMAND_MEMORY_S),
        )
        if earlier:
            return _entry(earlier[0]), False
        self._forget_old(now)
        (row,) = self.spool.execute(
            "INSERT INTO commands (digest, name, payload, response_topic, correlation, received)"
            f" VALUES (?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
            (digest, name, payload, response_topic, correlation_data, now),
        )
        self.spool.commit()
        return _entry(row), True

    def finish(self, ident: int, result: Mapping[str, Any]) -> bool:
        """Record a command's first result; later ones are ignored. Commits with the next spool commit.

        Returns whether this was the first.
        """
        rows = self.spool.execute(
            "UPDATE commands SET result = ? WHERE id = ? AND result IS NULL RETURNING id",
            (json.dumps(dict(result), separators=(",", ":")), ident),
        )
        return bool(rows)

    def unfinished(self) -> list[JournaledCommand]:
        """Commands accepted but without a result yet (the gateway stopped first), oldest first."""
        return [
            _entry(row)
            for row in self.spool.query(f"SELECT {_COLUMNS} FROM commands WHERE result IS NULL ORDER BY id")
        ]

    def unfinished_count(self) -> int:
        """How many commands are accepted and still waiting for their first result."""
        ((count,),) = self.spool.query("SELECT count(*) FROM commands WHERE result IS NULL")
        return int(count)

    def _forget_old(self, now: float) -> None:
        self.spool.execute(
            "DELETE FROM commands WHERE result IS NOT NULL AND (received < ? OR id <= "
            "(SELECT id FROM commands WHERE result IS NOT NULL ORDER BY id DESC LIMIT 1 OFFSET ?))",
            (now - COMMAND_MEMORY_S, COMMAND_MEMORY_MAX),
        )
