"""A vehicle driving a closed loop of city streets: position, speed and heading over time.

The loop is a polyline of junctions in central Ljubljana (Slovenska cesta, Masarykova, Resljeva, Roška,
Karlovška, Zoisova). The driver model is deliberately simple but gives plausible GNSS traces:

- cruise at a speed limit (50 km/h by default, never above 60 km/h), accelerate at 1.5 m/s^2, brake at
  2.5 m/s^2;
- slow for turns (the sharper, the slower) and, at each junction, stop with some probability (a red light)
  for a random few seconds, braking so as to stop exactly on the junction;
- heading is the bearing of the current street segment.

Distances use an equirectangular projection around each segment, which is exact enough over a few km.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_000.0

LJUBLJANA_LOOP: tuple[tuple[float, float], ...] = (
    (46.05400, 14.50270),  # Slovenska / Gosposvetska
    (46.05740, 14.50350),  # Bavarski dvor
    (46.05760, 14.50520),  # Masarykova, west
    (46.05700, 14.51130),  # Masarykova / Resljeva
    (46.05400, 14.51130),  # Resljeva / Komenskega
    (46.05080, 14.51250),  # Resljeva / Poljanska
    (46.04550, 14.51400),  # Roška / Karlovška
    (46.04470, 14.50950),  # Karlovška / Zoisova
    (46.04590, 14.50300),  # Zoisova / Slovenska
    (46.04960, 14.50330),  # Slovenska, Kongresni trg
    (46.05150, 14.50260),  # Slovenska / Šubičeva
)
"""Junctions of a ~4.5 km loop through the centre of Ljubljana, driven in this order."""

LJUBLJANA_ALTITUDE_M = 295.0


@dataclass(frozen=True, slots=True)
class DriverProfile:
    """How the vehicle drives; speeds in m/s, accelerations in m/s^2, times in s."""

    cruise_mps: float = 50 / 3.6
    max_mps: float = 60 / 3.6
    accel: float = 1.5
    brake: float = 2.5
    turn_90_mps: float = 15 / 3.6
    stop_probability: float = 0.35
    stop_min_s: float = 3.0
    stop_max_s: float = 20.0

    def __post_init__(self) -> None:
        if not 0 < self.cruise_mps <= self.max_mps:
            raise ValueError("cruise speed must be positive and at most the maximum")
        if self.accel <= 0 or self.brake <= 0:
            raise ValueError("acceleration and braking must be positive")


@dataclass(frozen=True, slots=True)
class VehicleState:
    """Where the vehicle is now: WGS 84 degrees, metres, m/s, degrees true."""

    lat: float
    lon: float
    alt_m: float
    speed_mps: float
    course_deg: float
    distance_m: float


@dataclass(frozen=True, slots=True)
class _Segment:
    start: tuple[float, float]
    end: tuple[float, float]
    length_m: float
    bearing_deg: float


def _project(origin: tuple[float, float], point: tuple[float, float]) -> tuple[float, float]:
    """East and north metres of ``point`` from ``origin``."""
    lat0 = math.radians(origin[0])
    east = math.radians(point[1] - origin[1]) * math.cos(lat0) * EARTH_RADIUS_M
    north = math.radians(point[0] - origin[0]) * EARTH_RADIUS_M
    return east, north


def _segment(start: tuple[float, float], end: tuple[float, float]) -> _Segment:
    east, north = _project(start, end)
    return _Segment(start, end, math.hypot(east, north), math.degrees(math.atan2(east, north)) % 360)


def _turn_angle(before: float, after: float) -> float:
    return abs((after - before + 180) % 360 - 180)


class RouteDriver:
    """Drives a closed polyline; ``advance(dt)`` moves the vehicle and returns its new state."""

    def __init__(
        self,
        waypoints: Sequence[tuple[float, float]] = LJUBLJANA_LOOP,
        *,
        rng: random.Random | None = None,
        profile: DriverProfile | None = None,
        reverse: bool = False,
        start_segment: int = 0,
        altitude_m: float = LJUBLJANA_ALTITUDE_M,
    ) -> None:
        points = list(reversed(waypoints)) if reverse else list(waypoints)
        if len(points) < 3:
            raise ValueError("a loop needs at least three waypoints")
        self._segments = [_segment(points[i], points[(i + 1) % len(points)]) for i in range(len(points))]
        self._rng = rng or random.Random()
        self._profile = profile or DriverProfile()
        self._altitude_m = altitude_m
        self._index = start_segment % len(self._segments)
        self._along_m = 0.0
        self._speed = 0.0
        self._odometer = 0.0
        self._dwell_s = 0.0
        self._stop_next = self._draw_stop()

    def _draw_stop(self) -> bool:
        return self._rng.random() < self._profile.stop_probability

    def _junction_speed(self) -> float:
        if self._stop_next:
            return 0.0
        current = self._segments[self._index]
        following = self._segments[(self._index + 1) % len(self._segments)]
        angle = _turn_angle(current.bearing_deg, following.bearing_deg)
        share = min(1.0, angle / 90)
        return self._profile.cruise_mps - share * (self._profile.cruise_mps - self._profile.turn_90_mps)

    def advance(self, dt: float) -> VehicleState:
        """Move the vehicle ``dt`` seconds forward (in small internal steps) and return where it is."""
        remaining = max(0.0, dt)
        while remaining > 0:
            step = min(0.2, remaining)
            remaining -= step
            self._step(step)
        return self.state()

    def _step(self, dt: float) -> None:
        profile = self._profile
        if self._dwell_s > 0:
            self._dwell_s = max(0.0, self._dwell_s - dt)
            return
        segment = self._segments[self._index]
        to_junction = segment.length_m - self._along_m
        allowed = math.sqrt(self._junction_speed() ** 2 + 2 * profile.brake * max(0.0, to_junction))
        target = min(profile.cruise_mps, allowed)
        if self._speed < target:
            self._speed = min(target, self._speed + profile.accel * dt)
        else:
            self._speed = max(target, self._speed - profile.brake * 1.5 * dt)
        self._speed = min(self._speed, profile.max_mps)
        if self._stop_next and self._speed < 0.3 and to_junction < 2.0:
            self._speed = max(self._speed, 0.5)
        travelled = self._speed * dt
        self._odometer += travelled
        self._along_m += travelled
        if self._along_m >= segment.length_m:
            self._along_m -= segment.length_m
            self._index = (self._index + 1) % len(self._segments)
            if self._stop_next:
                self._speed = 0.0
                self._along_m = 0.0
                self._dwell_s = self._rng.uniform(profile.stop_min_s, profile.stop_max_s)
            self._stop_next = self._draw_stop()

    def state(self) -> VehicleState:
        """The vehicle's current position, speed and heading."""
        segment = self._segments[self._index]
        share = 0.0 if segment.length_m == 0 else self._along_m / segment.length_m
        lat = segment.start[0] + (segment.end[0] - segment.start[0]) * share
        lon = segment.start[1] + (segment.end[1] - segment.start[1]) * share
        altitude = self._altitude_m + 4.0 * math.sin(self._odometer / 700)
        return VehicleState(lat, lon, altitude, self._speed, segment.bearing_deg, self._odometer)
