"""Surrogate safety measures against hand-computed cases (citytally.edge.safety)."""

from __future__ import annotations

import numpy as np
import pytest

from citytally.edge.safety import (
    PET_BINS_S,
    TTC_BINS_S,
    Trajectory,
    conflict_type,
    find_conflicts,
    measure_pair,
    summarise,
)
from citytally.errors import ConfigError


def straight(x0: float, y0: float, vx: float, vy: float, t0: float, t1: float, dt: float = 0.1) -> Trajectory:
    t = np.round(np.arange(t0, t1 + dt / 2, dt), 6)
    xy = np.column_stack([x0 + vx * (t - t0), y0 + vy * (t - t0)])
    return Trajectory(t, xy, "car")


def test_head_on_ttc_is_gap_over_closing_speed() -> None:
    # 100 m apart, 10 m/s each towards the other, discs of 2.5 m: at t=3 s the gap is 100-60-5 = 35 m,
    # closing at 20 m/s -> 1.75 s, the minimum over the samples.
    hit = measure_pair(straight(0, 0, 10, 0, 0, 3), straight(100, 0, -10, 0, 0, 3))
    assert hit is not None
    assert hit.min_ttc_s == pytest.approx(1.75)
    assert hit.ttc_time_s == pytest.approx(3.0)
    assert hit.drac_ms2 == pytest.approx(20.0**2 / (2 * 35.0))
    assert hit.type == "crossing"  # SSAM's angle rule has no head-on class: 180° > 85°


def test_rear_end_ttc_and_drac() -> None:
    # Follower at 20 m/s, leader 30 m ahead at 10 m/s: at t=1 s the bumper gap is 30-5-10 = 15 m,
    # closing 10 m/s -> TTC 1.5 s, DRAC 10²/(2·15) = 3.33 m/s².
    hit = measure_pair(straight(0, 0, 20, 0, 0, 1), straight(30, 0, 10, 0, 0, 1))
    assert hit is not None
    assert hit.type == "rear_end" and hit.pet_s is None
    assert hit.min_ttc_s == pytest.approx(1.5)
    assert hit.drac_ms2 == pytest.approx(100.0 / 30.0)


def test_crossing_pet_from_leaving_and_entering_times() -> None:
    # A eastwards along y=0, B northwards along x=0 two seconds later, both cars at 10 m/s, sampled every
    # 0.01 s. Footprint discs (r 0.9 m) sit 1.6 m ahead and behind the centre, so the conflict area is left
    # when A's back disc is 1.8 m past B's path: centre x = 3.4 m, t = (3.4 + 50.005) / 10 = 5.3405 s;
    # B enters when its front disc is 1.8 m short of A's path: y = -3.4 m, t = 2 + 4.6605 s -> PET 1.32 s.
    a = straight(-50.005, 0, 10, 0, 0, 10, dt=0.01)
    b = straight(0, -50.005, 0, 10, 2, 12, dt=0.01)
    hit = measure_pair(a, b)
    assert hit is not None
    assert hit.type == "crossing"
    assert hit.pet_s == pytest.approx(1.32, abs=0.011)
    assert hit.min_ttc_s == np.inf  # relative path passes 14 m clear: no collision course
    assert hit.time_s == pytest.approx(6.6605, abs=0.011)
    # Five seconds later B crosses well after A: PET 4.32 s, above the 2 s threshold, no conflict.
    assert measure_pair(a, straight(0, -50.005, 0, 10, 5, 15, dt=0.01)) is None


def test_oncoming_car_in_the_next_lane_is_no_conflict() -> None:
    # 3.2 m lane offset: the two-disc footprints (1.8 m wide) pass each other; in the same lane they collide.
    assert measure_pair(straight(0, 0, 10, 0, 0, 3), straight(100, 3.2, -10, 0, 0, 3)) is None
    same = measure_pair(straight(0, 0, 10, 0, 0, 3), straight(100, 0.5, -10, 0, 0, 3))
    assert same is not None and np.isfinite(same.min_ttc_s)


def test_diverging_paths_are_no_conflict() -> None:
    away = [straight(0, 0, -10, 0, 0, 3), straight(10, 0, 10, 0, 0, 3)]
    assert measure_pair(away[0], away[1]) is None
    assert find_conflicts(away) == []


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (0.0, 10.0, "rear_end"),
        (0.0, 29.9, "rear_end"),
        (350.0, 10.0, "rear_end"),
        (170.0, -170.0, "rear_end"),
        (0.0, 30.0, "lane_change"),
        (0.0, 85.0, "lane_change"),
        (0.0, 85.1, "crossing"),
        (0.0, 180.0, "crossing"),
        (90.0, 0.0, "crossing"),
    ],
)
def test_conflict_type_by_angle(a: float, b: float, expected: str) -> None:
    assert conflict_type(a, b) == expected


def test_find_conflicts_and_anonymous_summary() -> None:
    users = [
        straight(0, 0, 20, 0, 0, 1),  # rear-end pair with 1: TTC (32-5-10)/10 = 1.7 s -> moderate
        straight(32, 0, 10, 0, 0, 1),
        straight(-50.05, 200, 10, 0, 0, 10),  # crossing pair with 3: PET ~1.6 s -> moderate
        Trajectory(np.round(np.arange(2, 12.05, 0.1), 6), np.zeros((101, 2)), "person"),
        straight(500, 500, 5, 0, 0, 3),  # alone
    ]
    walker = users[3]
    users[3] = Trajectory(walker.t, np.column_stack([np.zeros(101), 150 + 10 * (walker.t - 2)]), "person")
    found = find_conflicts(users)
    assert sorted(c.pair for c in found) == [(0, 1), (2, 3)]
    summary = summarise(found)
    assert summary.total == 2
    assert summary.by_classes == {"car-car": 1, "car-person": 1}
    assert summary.by_type_severity == {("rear_end", "moderate"): 1, ("crossing", "moderate"): 1}
    assert summary.ttc_hist == [0, 0, 0, 1, 0, 0, 0] and len(summary.ttc_hist) == len(TTC_BINS_S)
    assert sum(summary.pet_hist) == 1 and len(summary.pet_hist) == len(PET_BINS_S)
    assert not {"pair", "track", "id"} & set(vars(summary))


def test_bad_trajectory_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="increasing"):
        Trajectory(np.array([0.0, 0.0]), np.zeros((2, 2)))
    with pytest.raises(ConfigError, match="xy is"):
        Trajectory(np.array([0.0, 1.0]), np.zeros((3, 2)))
