"""When to publish a position: the reporting policy fleet trackers use.

A ``PositionReporter`` sees every fix and answers one question, "publish this one?", comparing it with the
last fix it said yes to. It is pure: the caller passes the time (a monotonic clock in seconds), so the same
object serves the daemon and table-driven tests.

The rules, in the order they are applied (settings from ``gateway.config.ReportPolicy``):

1. The first fix is always published.
2. A fix without a position (fix "none") is published at once when the last published fix had one, so the
   dispatcher learns that the position was lost; after that, only every ``max_interval_s``.
3. A position after a published "no position" is published at once: the position is back.
4. ``max_interval_s`` after the last publication a fix is published whatever it is (the stationary heartbeat).
5. Otherwise, once ``min_interval_s`` has passed, a fix is published when the unit moved at least
   ``min_distance_m`` (great-circle distance) or turned at least ``min_course_change_deg`` (shortest angle,
   only when the course is known on both fixes).

With every minimum at 0 each fix is published. A clock that went backwards (``now`` earlier than the last
publication) re-anchors the reporter: that fix is published.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gateway.config import ReportPolicy

EARTH_MEAN_RADIUS_M = 6_371_008.8
"""IUGG mean Earth radius; the haversine distance on this sphere is within 0.5 % of WGS 84 geodesics."""


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS 84 points given in degrees."""
    phi1 = math.radians(lat1)
    phi2 = math.radians(lat2)
    half_dphi = (phi2 - phi1) / 2
    half_dlambda = math.radians(lon2 - lon1) / 2
    h = math.sin(half_dphi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    return 2 * EARTH_MEAN_RADIUS_M * math.asin(math.sqrt(min(1.0, max(0.0, h))))


def course_change_deg(course1: float, course2: float) -> float:
    """The smaller angle in degrees (0..180) between two courses: 350 -> 10 is 20."""
    difference = abs(course2 - course1) % 360.0
    return min(difference, 360.0 - difference)


@dataclass(frozen=True, slots=True)
class _Published:
    now: float
    position: tuple[float, float] | None
    course_deg: float | None


class PositionReporter:
    """Decides which fixes of one unit are published; remembers the last one it approved."""

    def __init__(self, policy: ReportPolicy) -> None:
        self._policy = policy
        self._last: _Published | None = None

    def should_publish(
        self, *, now: float, lat: float | None, lon: float | None, course_deg: float | None
    ) -> bool:
        """True when this fix should be published; the fix then becomes the reference for the next one.

        ``now`` is a monotonic time in seconds. A fix has a position only when both ``lat`` and ``lon`` are
        given; ``course_deg`` may be None when unknown.
        """
        position = (lat, lon) if lat is not None and lon is not None else None
        current = _Published(now, position, course_deg)
        if self._decide(current):
            self._last = current
            return True
        return False

    def _decide(self, current: _Published) -> bool:
        last = self._last
        if last is None:
            return True
        elapsed = current.now - last.now
        if elapsed < 0:
            return True
        if (current.position is None) != (last.position is None):
            return True
        if elapsed >= self._policy.max_interval_s:
            return True
        if current.position is None or last.position is None or elapsed < self._policy.min_interval_s:
            return False
        return self._moved_or_turned(last.position, last.course_deg, current.position, current.course_deg)

    def _moved_or_turned(
        self,
        last_position: tuple[float, float],
        last_course: float | None,
        position: tuple[float, float],
        course: float | None,
    ) -> bool:
        distance = haversine_m(*last_position, *position)
        if distance >= self._policy.min_distance_m:
            return True
        if last_course is None or course is None:
            return False
        turned = course_change_deg(last_course, course)
        return turned >= self._policy.min_course_change_deg
