"""The position reporting policy: distances, course changes and publish decisions over fix sequences."""

from __future__ import annotations

import math

import pytest

from gateway.config import ReportPolicy
from gateway.policy import PositionReporter, course_change_deg, haversine_m

# One metre of latitude in degrees on the haversine sphere.
METRE = 1 / (6_371_008.8 * math.pi / 180)


@pytest.mark.parametrize(
    ("a", "b", "expected_m", "tolerance_m"),
    [
        ((0.0, 0.0), (0.0, 0.0), 0.0, 1e-9),
        ((0.0, 0.0), (1.0, 0.0), 111_195.08, 0.01),
        ((0.0, 0.0), (0.0, 1.0), 111_195.08, 0.01),
        # Antimeridian: 179.9 E to 179.9 W is 0.2 degrees of longitude on the equator, not 359.8.
        ((0.0, 179.9), (0.0, -179.9), 22_239.02, 0.01),
        ((-33.0, -179.95), (-33.0, 179.95), 9_325.60, 0.01),
        ((90.0, 0.0), (90.0, 123.0), 0.0, 1e-6),
        ((0.0, 0.0), (0.0, 180.0), math.pi * 6_371_008.8, 0.01),
        # Rosetta Code's haversine vector (Nashville BNA to Los Angeles LAX: 2887.2600 km on a 6372.8 km
        # sphere), rescaled to the mean radius used here.
        ((36.12, -86.67), (33.94, -118.40), 2_887_259.95 * 6_371_008.8 / 6_372_800.0, 0.1),
    ],
)
def test_haversine(
    a: tuple[float, float], b: tuple[float, float], expected_m: float, tolerance_m: float
) -> None:
    assert haversine_m(*a, *b) == pytest.approx(expected_m, abs=tolerance_m)
    assert haversine_m(*b, *a) == pytest.approx(expected_m, abs=tolerance_m)


@pytest.mark.parametrize(
    ("course1", "course2", "expected"),
    [
        (350.0, 10.0, 20.0),
        (10.0, 350.0, 20.0),
        (0.0, 180.0, 180.0),
        (90.0, 270.5, 179.5),
        (45.0, 45.0, 0.0),
        (359.9, 0.0, 0.1),
        (0.0, 359.0, 1.0),
    ],
)
def test_course_change(course1: float, course2: float, expected: float) -> None:
    assert course_change_deg(course1, course2) == pytest.approx(expected)


Fix = tuple[float, float | None, float | None, float | None, bool]  # now, lat, lon, course, published?

DEFAULT = ReportPolicy(min_interval_s=5, max_interval_s=60, min_distance_m=25, min_course_change_deg=30)
EVERY_FIX = ReportPolicy(min_interval_s=0, max_interval_s=0, min_distance_m=0, min_course_change_deg=0)
ZERO_MINIMUMS = ReportPolicy(min_interval_s=0, max_interval_s=60, min_distance_m=0, min_course_change_deg=0)
LAT = 44.8


SCENARIOS: dict[str, tuple[ReportPolicy, list[Fix]]] = {
    "first fix always published": (DEFAULT, [(100.0, LAT, 20.0, None, True)]),
    "first fix without position published": (DEFAULT, [(100.0, None, None, None, True)]),
    "all zero publishes every fix, even stationary and simultaneous": (
        EVERY_FIX,
        [
            (0.0, LAT, 20.0, 90.0, True),
            (0.0, LAT, 20.0, 90.0, True),
            (0.1, LAT, 20.0, 90.0, True),
            (0.2, None, None, None, True),
            (0.3, None, None, None, True),
        ],
    ),
    "zero minimums publish every fix with a position": (
        ZERO_MINIMUMS,
        [(0.0, LAT, 20.0, None, True), (0.5, LAT, 20.0, None, True), (1.0, LAT, 20.0, None, True)],
    ),
    "moved far enough but too soon, then later": (
        DEFAULT,
        [
            (0.0, LAT, 20.0, None, True),
            (4.9, LAT + 100 * METRE, 20.0, None, False),
            (5.0, LAT + 100 * METRE, 20.0, None, True),
        ],
    ),
    "distance measured from the last published fix, not the last seen": (
        DEFAULT,
        [
            (0.0, LAT, 20.0, None, True),
            (10.0, LAT + 20 * METRE, 20.0, None, False),
            (20.0, LAT + 24 * METRE, 20.0, None, False),
            (30.0, LAT + 25.5 * METRE, 20.0, None, True),
            (40.0, LAT + 40 * METRE, 20.0, None, False),
        ],
    ),
    "stationary heartbeat every max_interval_s": (
        DEFAULT,
        [
            (0.0, LAT, 20.0, 0.0, True),
            (30.0, LAT, 20.0, 0.0, False),
            (59.9, LAT, 20.0, 0.0, False),
            (60.0, LAT, 20.0, 0.0, True),
            (119.0, LAT, 20.0, 0.0, False),
            (120.0, LAT, 20.0, 0.0, True),
        ],
    ),
    "course wrap 350 to 10 is a 20 degree turn": (
        ReportPolicy(min_interval_s=1, max_interval_s=600, min_distance_m=1000, min_course_change_deg=20),
        [
            (0.0, LAT, 20.0, 350.0, True),
            (2.0, LAT, 20.0, 9.0, False),
            (4.0, LAT, 20.0, 10.0, True),
        ],
    ),
    "course wrap below threshold is not a turn": (
        ReportPolicy(min_interval_s=1, max_interval_s=600, min_distance_m=1000, min_course_change_deg=30),
        [(0.0, LAT, 20.0, 350.0, True), (2.0, LAT, 20.0, 10.0, False), (4.0, LAT, 20.0, 330.0, False)],
    ),
    "turn needs the course on both fixes": (
        DEFAULT,
        [
            (0.0, LAT, 20.0, None, True),
            (10.0, LAT, 20.0, 180.0, False),
            (20.0, LAT, 20.0, 180.0, False),
        ],
    ),
    "turn too soon is held back": (
        DEFAULT,
        [(0.0, LAT, 20.0, 0.0, True), (3.0, LAT, 20.0, 90.0, False), (6.0, LAT, 20.0, 90.0, True)],
    ),
    "antimeridian crossing is a short move": (
        DEFAULT,
        [
            (0.0, 0.0, 179.99990, None, True),
            (10.0, 0.0, -179.99990, None, False),
            (20.0, 0.0, -179.9997, None, True),
        ],
    ),
    "lost fix published at once, then by max interval, then regained at once": (
        DEFAULT,
        [
            (0.0, LAT, 20.0, None, True),
            (1.0, None, None, None, True),
            (2.0, None, None, None, False),
            (60.9, None, None, None, False),
            (61.0, None, None, None, True),
            (62.0, LAT, 20.0, None, True),
            (63.0, LAT, 20.0, None, False),
        ],
    ),
    "half a position counts as none": (
        DEFAULT,
        [(0.0, LAT, 20.0, None, True), (1.0, LAT, None, None, True), (2.0, None, 20.0, None, False)],
    ),
    "clock stepping back re-anchors": (
        DEFAULT,
        [(100.0, LAT, 20.0, None, True), (50.0, LAT, 20.0, None, True), (51.0, LAT, 20.0, None, False)],
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_reporter_decisions(name: str) -> None:
    policy, fixes = SCENARIOS[name]
    reporter = PositionReporter(policy)
    decisions = [
        reporter.should_publish(now=now, lat=lat, lon=lon, course_deg=course)
        for now, lat, lon, course, _ in fixes
    ]
    assert decisions == [expected for *_, expected in fixes]
