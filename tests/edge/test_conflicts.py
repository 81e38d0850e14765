"""Surrogate safety measures against hand-computed cases (citytally.edge.safety)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import numpy.typing as npt
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

FloatArray = npt.NDArray[np.float64]


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


def test_crossing_ttc_is_the_second_arrivals_distance_over_its_speed() -> None:
    # A eastwards along y=0, B northwards along x=0, both cars at 10 m/s (5 x 1.8 m). A's conflict area is
    # entered when its front is half B's width short of x=0 (centre -3.4 m) and left when its back is half
    # B's width past it (centre +3.4 m); likewise for B. At t=0 A enters in 2.66 s and leaves in 3.34 s; B,
    # 2 m further back, enters in 2.86 s, before A has left: a collision course, TTC = 2.86 s. B's track
    # ends at t=1 s (its path goes on straight), so the lowest TTC is 2.86 - 1 = 1.86 s, at t = 1 s.
    a = straight(-30, 0, 10, 0, 0, 6)
    b = straight(0, -32, 0, 10, 0, 1)
    hit = measure_pair(a, b)
    assert hit is not None
    assert hit.relation == "crossing" and hit.type == "crossing"
    assert hit.min_ttc_s == pytest.approx(1.86, abs=1e-6)
    assert hit.ttc_time_s == pytest.approx(1.0)
    assert hit.pet_s is None  # B was never seen in the conflict area


def test_a_user_braking_to_a_stop_short_of_the_conflict_area_is_on_no_collision_course() -> None:
    # As above, but B brakes at 4 m/s² from 10 m/s: at t=1 s it does 6 m/s and stops within 4.5 m, while
    # the conflict area is 20.6 m ahead. With B's speed given, its deceleration comes from the speeds.
    t = np.round(np.arange(0, 1.05, 0.1), 6)
    b = Trajectory(t, np.column_stack([np.zeros_like(t), -32 + 10 * t - 2 * t**2]), "car", 10 - 4 * t)
    assert measure_pair(straight(-30, 0, 10, 0, 0, 6), b) is None


def test_passing_the_same_spot_one_after_the_other_on_merging_paths_is_no_pet_conflict() -> None:
    # B joins A's path at the origin from 30° to its right, 1 s behind A, both at 10 m/s: 10 m apart, the
    # same speed. They pass the same spot 1 s apart, but the paths merge rather than cross: no PET (SSM's
    # definition), and no TTC while neither closes in.
    a = straight(-50, 0, 10, 0, 0, 10)
    t = np.round(np.arange(0, 10.05, 0.1), 6)
    along = 10 * (t - 1.0)  # B's distance past the joining point
    ramp = np.column_stack([along * np.cos(np.radians(30)), along * np.sin(np.radians(30))])
    b = Trajectory(t, np.where((along < 0)[:, None], ramp, np.column_stack([along, np.zeros_like(t)])), "car")
    assert measure_pair(a, b) is None


def test_front_bumper_positions_give_the_same_gap() -> None:
    # The rear-end case above, with positions at the front bumpers (2.5 m ahead of the centres).
    follower, leader = straight(2.5, 0, 20, 0, 0, 1), straight(32.5, 0, 10, 0, 0, 1)
    front = [dataclasses.replace(x, anchor="front") for x in (follower, leader)]
    hit = measure_pair(front[0], front[1])
    assert hit is not None and hit.min_ttc_s == pytest.approx(1.5)
    sized = [dataclasses.replace(x, size_m=(4.0, 1.8)) for x in front]
    bigger_gap = measure_pair(sized[0], sized[1])  # 4 m cars: the leader's back is 1 m further ahead
    assert bigger_gap is not None and bigger_gap.min_ttc_s == pytest.approx(1.6)


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


@pytest.mark.parametrize(
    ("t", "xy", "extra", "error"),
    [
        ([0.0, 0.0], np.zeros((2, 2)), {}, "increasing"),
        ([0.0, 1.0], np.zeros((3, 2)), {}, "xy is"),
        ([0.0, 1.0], np.zeros((2, 2)), {"speed": np.zeros(3)}, "speed is"),
        ([0.0, 1.0], np.zeros((2, 2)), {"anchor": "rear"}, "anchor is 'rear'"),
        ([0.0, 1.0], np.zeros((2, 2)), {"size_m": (0.0, 1.8)}, "must be positive"),
    ],
)
def test_bad_trajectory_is_a_config_error(
    t: list[float], xy: FloatArray, extra: dict[str, Any], error: str
) -> None:
    with pytest.raises(ConfigError, match=error):
        Trajectory(np.array(t), xy, "car", **extra)
