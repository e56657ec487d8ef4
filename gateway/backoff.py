"""Bounded exponential backoff with jitter, reset when the link is healthy again."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

DEFAULT_FACTOR = 2.0
DEFAULT_JITTER = 0.2


@dataclass(slots=True)
class Backoff:
    """Delays min_s, min_s*factor, ... capped at max_s, each spread by +/- jitter (a fraction)."""

    min_s: float
    max_s: float
    factor: float = DEFAULT_FACTOR
    jitter: float = DEFAULT_JITTER
    attempts: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def next_delay(self) -> float:
        """The delay before the next attempt; each call grows it until the cap."""
        base = min(self.max_s, self.min_s * self.factor**self.attempts)
        self.attempts += 1
        spread = base * self.jitter
        return max(0.0, base + self._rng.uniform(-spread, spread))

    def reset(self) -> None:
        """Start again from min_s (call once the link has proven healthy)."""
        self.attempts = 0
