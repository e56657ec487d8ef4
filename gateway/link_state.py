"""What each device link is doing, for the health topic and the logs: state, since when, counters."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

RECENT_LINES_IN_HEALTH = 5

LinkStateName = Literal["starting", "up", "silent", "down"]


@dataclass(slots=True)
class LinkStatus:
    """Mutable status of one device link, owned by its driver and read by the health reporter."""

    name: str
    kind: Literal["gnss", "radio"]
    port: str
    state: LinkStateName = "starting"
    since: float = field(default_factory=time.time)
    last_error: str | None = None
    reconnects: int = 0
    counters: Counter[str] = field(default_factory=Counter)
    details: dict[str, Any] = field(default_factory=dict)
    recent_lines: Callable[[], list[str]] | None = None
    """The device's last few raw lines, read only when a health report is made (for remote diagnosis)."""
    on_change: Callable[[], None] | None = None
    """Called after every state change (the daemon reports health early then)."""

    def set_state(self, state: LinkStateName, error: str | None = None) -> bool:
        """Change state; returns True when it actually changed."""
        if error is not None:
            self.last_error = error
        if state == self.state:
            return False
        self.state = state
        self.since = time.time()
        if self.on_change is not None:
            self.on_change()
        return True

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able view for the health payload."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "port": self.port,
            "state": self.state,
            "since_s": round(max(0.0, time.time() - self.since), 1),
            "reconnects": self.reconnects,
            "counters": dict(self.counters),
        }
        if self.last_error:
            out["last_error"] = self.last_error
        out.update((key, value) for key, value in self.details.items() if value is not None)
        if self.recent_lines is not None:
            out["recent_lines"] = self.recent_lines()[-RECENT_LINES_IN_HEALTH:]
        return out
