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
    Thresholds,
    Trajectory,
    _body_axis,
    _clearance,
    conflict_type,
    find_conflicts,
    measure_encounters,
    measure_pair,
    summarise,
)
from citytally.edge.safety_paths import RoadPath
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
    # 2 m further back, enters in 2.86 s, before A has left: a collision course, TTC = 2.86 s. From t=1 s B
    # brakes at 4 m/s² (it stops short of the area: no collision course any more), waits from 3.5 s to 5 s
    # and drives on at 2 m/s², so the lowest TTC is 2.86 - 1 = 1.86 s, at t = 1 s. B's front reaches the
    # area (centre -3.4 m; it stood at -9.5 m) at t = 5 + sqrt(6.1) = 7.47 s: PET 7.47 - 3.34 = 4.13 s.
    t = np.round(np.arange(0, 12.05, 0.1), 6)
    speed = np.select([t <= 1, t <= 3.5, t <= 5], [10.0, 10 - 4 * (t - 1), 0.0], 2 * (t - 5))
    y = np.select([t <= 1, t <= 3.5, t <= 5], [-32 + 10 * t, -22 + 10 * (t - 1) - 2 * (t - 1) ** 2, -9.5])
    y = np.where(t > 5, -9.5 + (t - 5) ** 2, y)
    b = Trajectory(t, np.column_stack([np.zeros_like(t), y]), "car", speed)
    hit = measure_pair(straight(-30, 0, 10, 0, 0, 6), b)
    assert hit is not None
    assert hit.relation == "crossing" and hit.type == "crossing"
    assert hit.min_ttc_s == pytest.approx(1.86, abs=1e-6)
    assert hit.ttc_time_s == pytest.approx(1.0)
    assert hit.pet_s == pytest.approx(5 + np.sqrt(6.1) - 3.34, abs=0.01)


def test_no_crossing_where_a_user_was_not_seen_to_go() -> None:
    # As above, with B at a steady 10 m/s: seen all the way, it runs into A (TTC 0). If its record ends at
    # t=1 s, 20.6 m short of the area (it left the view, or its trip ended there: SUMO removes a vehicle
    # that arrives at the end of its last lane at speed), its path's straight prolongation is a guess, and
    # the crossing on it is no conflict.
    a = straight(-30, 0, 10, 0, 0, 6)
    seen = measure_pair(a, straight(0, -32, 0, 10, 0, 6))
    assert seen is not None and seen.min_ttc_s == 0.0 and seen.relation == "crossing"
    assert measure_pair(a, straight(0, -32, 0, 10, 0, 1)) is None
    assert measure_pair(straight(0, -32, 0, 10, 0, 1), a) is None
    # Its front reaching the area is enough (area from -0.9 m): B's record ending with its front at -0.5 m
    # counts, at -1.5 m (0.1 s earlier) it does not.
    assert measure_pair(a, straight(0, -32, 0, 10, 0, 2.8)) is None
    reached = straight(0, -32, 0, 10, 0, 2.9)
    hit = measure_pair(a, reached)
    assert hit is not None and hit.relation == "crossing"


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


def test_merging_ttc_is_measured_to_where_the_paths_have_joined() -> None:
    # B joins A's path at 30° from its left and runs on 0.4 m beside it (two ground points in one lane are
    # rarely on one line): the paths have joined at x=0, where B's comes as close to A's as it stays. A at
    # 10 m/s from centre x=-20; B (centre 22 m before the joining point at t=0) at 10 m/s brakes at 8 m/s²
    # from t=1 s, stands and drives on after A. At t=1.3 s B's front is 22 - 12.64 - 2.5 = 6.86 m from the
    # joining point at 7.6 m/s: it would arrive in 0.903 s, while A (front 4.5 m short) is in it until 0.95 s:
    # TTC 0.903 s, the least (from 1.4 s A has left before B's arrival, and B is slower behind it).
    t = np.round(np.arange(0, 12.05, 0.1), 6)
    done = np.select([t <= 1, t <= 2.25, t <= 6], [10 * t, 10 + 10 * (t - 1) - 4 * (t - 1) ** 2, 16.25])
    done = np.where(t > 6, 16.25 + (t - 6) ** 2, done)
    speed = np.select([t <= 1, t <= 2.25, t <= 6], [10.0, 10 - 8 * (t - 1), 0.0], 2 * (t - 6))
    r = 22 - done  # B's centre short of the joining point
    before = r > 0
    x = np.where(before, -r * np.cos(np.radians(30)), -r)
    y = np.where(before, 0.4 + r * np.sin(np.radians(30)), 0.4)
    b = Trajectory(t, np.column_stack([x, y]), "car", speed)
    a = straight(-20, 0, 10, 0, 0, 6)
    for hit in (measure_pair(a, b), measure_pair(b, a)):  # the same whichever path is measured on the other
        assert hit is not None and hit.relation == "merging"
        assert hit.min_ttc_s == pytest.approx(6.86 / 7.6, abs=0.002)
        assert hit.ttc_time_s == pytest.approx(1.3)


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


def _turning_leader(stand_x: float, radius: float = 5.0) -> Trajectory:
    """Drives east along y=0 at 5 m/s, stands with its centre at ``stand_x`` from t=2 to t=6, then drives on:
    straight to x=0 and a left turn of ``radius`` from there (north)."""
    t = np.round(np.arange(0, 10.05, 0.1), 6)
    s = np.where(t < 2, stand_x - 10 + 5 * t, np.where(t < 6, stand_x, stand_x + 5 * (t - 6)))
    theta = np.clip(s, 0, None) / radius
    arc = np.column_stack([radius * np.sin(theta), radius * (1 - np.cos(theta))])
    xy = np.where((s < 0)[:, None], np.column_stack([s, np.zeros_like(s)]), arc)
    return Trajectory(t, xy, "car")


def test_a_leader_turning_off_where_it_stands_is_no_longer_followed() -> None:
    # The follower drives straight on along y=0 at 10 m/s, from x=-60 at t=0. A leader standing 4 m before
    # its left turn (radius 5 m) is ahead in its lane: at t=4 the gap is (-4-2.5) - (-20+2.5) = 11 m, TTC
    # 1.1 s. A leader standing where its turn begins has its front on the follower's path but leaves it
    # within a metre (5·(1-cos 0.7) = 1.18 m off, 3.5 m into the turn): SSM's leader on another connection.
    follower = straight(-60, 0, 10, 0, 0, 4)
    before_turn = measure_pair(follower, _turning_leader(-4.0))
    assert before_turn is not None and before_turn.relation == "following"
    assert before_turn.min_ttc_s == pytest.approx(1.1, abs=0.01)
    assert measure_pair(follower, _turning_leader(0.0)) is None
    # Nor one that turns back where it stands, into the next lane the other way: its path runs beside the
    # follower's, but against it (no lane change of the follower's).
    t = np.round(np.arange(0, 10.05, 0.1), 6)
    x = np.where(t < 6, np.minimum(-40 + 20 * t, 0.0), -10 * (t - 6))
    back = Trajectory(t, np.column_stack([x, np.where(t < 6, 0.0, 3.2)]), "car")
    assert measure_pair(follower, back) is None


def _u_turner(start_s: float, radius: float = 1.25) -> Trajectory:
    """Front bumper positions (a simulator's): stands at (0, 0) heading south until ``start_s``, then turns
    back on a half circle of ``radius`` into the lane beside it at x = 2·radius and drives north at 5 m/s."""
    t = np.round(np.arange(0, start_s + 12.05, 0.1), 6)
    s = np.clip(5.0 * (t - start_s), 0, None)
    half = np.pi * radius
    theta = np.clip(s / radius, 0, np.pi)
    turn = np.column_stack([radius * (1 - np.cos(theta)), -radius * np.sin(theta)])
    xy = np.where((s < half)[:, None], turn, np.column_stack([np.full_like(s, 2 * radius), s - half]))
    return Trajectory(t, xy, "car", np.where(s > 0, 5.0, 0.0), anchor="front")


def test_a_car_waiting_to_u_turn_is_not_run_into_by_traffic_beside_it() -> None:
    # The U-turner waits until t=15 s; a car drives north at 4 m/s in the lane it will turn into, 2.5 m to
    # its side (1.8 m wide each: 0.7 m between them). Along the U-turner's path, that car is ahead of it as
    # soon as it passes the end of the turn (3.9 m of path), and its back is behind the waiting car's front
    # until it is 5 - 3.9 = 1.1 m past it: a bumper gap of 0 or less, though the two never touch. Not a
    # collision (TTC 0): no conflict at all, the waiting car stands.
    beside = dataclasses.replace(straight(2.5, -20, 0, 4, 0, 8), anchor="front")
    assert measure_pair(_u_turner(15.0), beside) is None
    # A car driving down the waiting car's lane into it from behind: TTC 0 once its front reaches the waiting
    # car's back bumper (y = 5 m, at t = 6.25 s).
    into = Trajectory(
        beside.t,
        np.column_stack([np.zeros_like(beside.t), 30 - 4 * beside.t]),
        "car",
        np.full_like(beside.t, 4.0),
        anchor="front",
    )
    hit = measure_pair(_u_turner(15.0), into)
    assert hit is not None and hit.min_ttc_s == 0.0 and hit.relation == "following"


def test_footprints_are_rectangles_their_clearance_measured_between_sides_and_corners() -> None:
    # Cars 5 m x 1.8 m, the first centred on the origin heading east (x from -2.5 to 2.5, y from -0.9 to
    # 0.9). Hand-computed clearances: side by side 0.3 m apart; nose to tail 0.3 m; a car heading north
    # whose side reaches 0.4 m into the first's front corner; a car at 45° whose back corner is 0.096 m
    # from the first's side (two discs put it 0.6 m away); touching side by side; a car diagonally ahead
    # whose back corner is 5 cm into the first's front corner (two discs put them 0.68 m apart).
    car = straight(0, 0, 1, 0, 0, 1)
    cases = [
        ((0.0, 2.1), (1.0, 0.0), 0.3),
        ((5.3, 0.0), (1.0, 0.0), 0.3),
        ((3.0, 0.0), (0.0, 1.0), -0.4),
        ((5.0, 1.9), (np.sqrt(0.5), np.sqrt(0.5)), 0.096),
        ((0.0, 1.8), (1.0, 0.0), 0.0),
        ((4.95, 1.75), (1.0, 0.0), -0.05),
    ]
    for xy, heading, expected in cases:
        there, along = np.array([xy]), np.array([heading])
        found = _clearance(car, np.zeros((1, 2)), np.array([[1.0, 0.0]]), car, there, along)
        assert found[0] == pytest.approx(expected, abs=0.001), xy


def _changing_lane(at_x: float, offset_y: float) -> Trajectory:
    """East along y=0 at 10 m/s from x=-60; at ``at_x`` it jumps ``offset_y`` sideways (a simulator's lane
    change) and goes on straight."""
    t = np.round(np.arange(0, 10.05, 0.1), 6)
    x = -60 + 10 * t
    return Trajectory(t, np.column_stack([x, np.where(x < at_x, 0.0, offset_y)]), "car")


def test_a_follower_that_changes_lanes_before_the_leader_followed_it_until_then() -> None:
    # The leader drives up to x=0 on y=0 (20 m/s, stops at t=2) and stands there. The follower closes in at
    # 10 m/s and moves to the next lane (3.2 m over) when its centre reaches x=-15: until then it followed.
    # Its last sample heading along the lane is at x=-17 (t=4.3; the next one's heading points into the
    # jump): gap (0-2.5) - (-17+2.5) = 12 m, TTC 1.2 s. One that turns off south there never passes it.
    t = np.round(np.arange(0, 10.05, 0.1), 6)
    leader = Trajectory(t, np.column_stack([np.minimum(-40 + 20 * t, 0.0), np.zeros_like(t)]), "car")
    evasive = measure_pair(_changing_lane(-15.0, 3.2), leader)
    assert evasive is not None and evasive.relation == "following"
    assert evasive.min_ttc_s == pytest.approx(1.2, abs=0.01)
    x = -60 + 10 * t
    south = np.column_stack([np.minimum(x, -15.0), -np.clip(x + 15.0, 0, None)])
    assert measure_pair(Trajectory(t, south, "car"), leader) is None
    # The same when the leader later turns right where it stands, so that the two paths part just past its
    # front: the follower's lane change before reaching it says that it was in its lane until then.
    theta = np.clip(5 * (t - 6), 0, None) / 5.0
    right = np.column_stack(
        [5 * np.sin(np.minimum(theta, np.pi / 2)), -5 * (1 - np.cos(np.minimum(theta, np.pi / 2)))]
    )
    right[:, 1] -= 5 * np.clip(theta - np.pi / 2, 0, None)
    turning_right = Trajectory(t, np.where((t < 6)[:, None], leader.xy, right), "car")
    evasive = measure_pair(_changing_lane(-15.0, 3.2), turning_right)
    assert evasive is not None and evasive.relation == "following"
    assert evasive.min_ttc_s == pytest.approx(1.2, abs=0.01)


def test_a_follower_bearing_off_at_a_fork_before_a_standing_leader_never_followed_it() -> None:
    # The leader stands at x=0 on y=0 as above. The follower comes along y=0 at 10 m/s, bears off 25° to the
    # left at x=-15 onto another road, and 5 m on steps 3 m sideways, as a simulator's car does where the
    # internal lane of a junction meets the next road's lane. That step is a lane change by its shape (a
    # sideways move, the same course before and after), but this path has left the leader's road: it passes
    # 6 m and more from where the leader stands, where a lane change passes it one lane over. A simulator
    # that knows the routes (SUMO's SSM device) has them on different lanes. The same follower changing
    # lanes there instead followed the leader.
    t = np.round(np.arange(0, 10.05, 0.1), 6)
    leader = Trajectory(t, np.column_stack([np.minimum(-40 + 20 * t, 0.0), np.zeros_like(t)]), "car")
    x = -60 + 10 * t
    past = np.clip(x + 15.0, 0, None)
    course = np.array([np.cos(np.radians(25)), np.sin(np.radians(25))])
    side = np.array([-course[1], course[0]])  # to its left
    fork = np.column_stack([np.minimum(x, -15.0), np.zeros_like(x)]) + past[:, None] * course
    fork += 3.0 * (past > 5.0)[:, None] * side
    assert measure_pair(Trajectory(t, fork, "car"), leader) is None
    assert measure_pair(_changing_lane(-15.0, 3.2), leader) is not None


def _on_bend(s: FloatArray, offset: FloatArray, radius: float = 400.0) -> FloatArray:
    """Points ``s`` metres along a left-hand bend of ``radius`` (from the origin, heading east), ``offset``
    metres to the left of it (the next lane in)."""
    theta = s / radius
    return np.column_stack([(radius - offset) * np.sin(theta), radius - (radius - offset) * np.cos(theta)])


def test_a_follower_that_changes_lanes_before_the_leader_on_a_bend_followed_it_until_then() -> None:
    # On a bend of 300 m radius the leader drives 60 m of the lane at 12 m/s and stands there from t=5; the
    # follower sets off at t=6 at 14 m/s and moves to the lane to its left over 8 m from s=18, 42 m short of
    # the leader. Until it leaves the leader's path it follows it: at s=18 the gap is 57.5 - 20.5 = 37 m,
    # TTC 2.64 s, and less as it starts to move over. All that while its heading line passes 2.5 m or more
    # outside the leader (distance² / 600): the lane change ahead, not its heading, says it is in that lane.
    t = np.round(np.arange(0, 15.05, 0.1), 6)
    leader = Trajectory(t, _on_bend(np.minimum(12 * t, 60.0), np.zeros_like(t), 300.0), "car")
    s = 14 * np.clip(t - 6, 0, None)
    u = np.clip((s - 18) / 4, 0, 1)
    follower = Trajectory(t[t >= 6], _on_bend(s, 3.2 * u * u * (3 - 2 * u), 300.0)[t >= 6], "car")
    hit = measure_pair(follower, leader)
    assert hit is not None and hit.relation == "following" and hit.type == "rear_end"
    assert 2.2 < hit.min_ttc_s < 2.65


def _into_bend(s: FloatArray, radius: float = 25.0) -> FloatArray:
    """Points ``s`` metres along a lane that runs east along y=0 up to x=0 and then bends left with
    ``radius`` (a junction's curved internal lane)."""
    bend = _on_bend(s, np.zeros_like(s), radius)
    return np.where((s < 0)[:, None], np.column_stack([s, np.zeros_like(s)]), bend)


def test_a_follower_last_seen_behind_a_leader_on_a_bend_follows_it_in_its_lane() -> None:
    # The leader comes along the lane at 10 m/s and stands 12 m into the bend (its centre) from t=2.8. The
    # follower comes at 10 m/s along the same lane from s=-40, and its record ends at t=4.1, 1 m into the
    # bend: the run (or the analysis window) ends there. Its path, prolonged straight from there, passes
    # 3.6 m outside the leader's front bumper, but it is in the leader's lane behind it, and where it went
    # from there is not known: it follows, as in SSM's lanes. At t=4.1 the bumper gap along the lane is
    # (12 - 2.5) - (1 + 2.5) = 6 m, closing at 10 m/s: TTC 0.6 s.
    t = np.round(np.arange(0, 6.05, 0.1), 6)
    leader = Trajectory(t, _into_bend(np.minimum(-16 + 10 * t, 12.0)), "car")
    seen = t <= 4.1 + 1e-9
    follower = Trajectory(t[seen], _into_bend(-40 + 10 * t[seen]), "car")
    hit = measure_pair(follower, leader)
    assert hit is not None and hit.relation == "following" and hit.type == "rear_end"
    assert hit.min_ttc_s == pytest.approx(0.6, abs=0.02)
    assert hit.ttc_time_s == pytest.approx(4.1)
    # A follower seen to go straight on where the lane bends (onto another road at a fork) never followed it.
    ahead = -40 + 10 * t
    assert measure_pair(Trajectory(t, np.column_stack([ahead, np.zeros_like(ahead)]), "car"), leader) is None


def test_a_car_moved_into_the_lane_while_standing_keeps_its_heading_and_is_followed() -> None:
    # A simulator's trajectories (front bumpers, measured speeds): the leader comes along the next lane
    # (y=3.2) at 10 m/s, stands at x=0 from t=3, and at t=4 is moved into the follower's lane (y=0) in one
    # step, still standing, as SUMO changes lanes. That jump of 3.2 m in 0.1 s at a measured speed of 0 is
    # no motion: the car still points along the lanes, and the follower, coming along y=0 at 10 m/s, follows
    # it from then. At t=5 the gap is (0 - 5) - (-10) = 5 m, closing at 10 m/s: TTC 0.5 s. Taken as motion,
    # the jump turned the leader's heading across the lane, and the follower followed no one.
    t = np.round(np.arange(0, 10.05, 0.1), 6)
    x = np.minimum(-30 + 10 * t, 0.0)
    leader = Trajectory(
        t, np.column_stack([x, np.where(t < 4, 3.2, 0.0)]), "car", np.where(t < 3, 10.0, 0.0), anchor="front"
    )
    seen = t <= 5 + 1e-9
    ahead = -60 + 10 * t[seen]
    follower = Trajectory(
        t[seen],
        np.column_stack([ahead, np.zeros_like(ahead)]),
        "car",
        np.full(ahead.size, 10.0),
        anchor="front",
    )
    assert np.allclose(leader.headings()[t >= 4], [1.0, 0.0])
    hit = measure_pair(follower, leader)
    assert hit is not None and hit.relation == "following" and hit.type == "rear_end"
    assert hit.min_ttc_s == pytest.approx(0.5, abs=0.01)
    assert hit.ttc_time_s == pytest.approx(5.0)


def test_a_leader_that_moved_out_of_the_lane_is_not_followed() -> None:
    # The reverse of the lane change above: the leader, 40 m ahead in the follower's lane at the same 10 m/s,
    # moves to the next lane (3.2 m over) at x=0 and stops at x=5 there; the follower drives on in its lane
    # and passes it. The follower is on the leader's past path and its path runs beside the leader's, but the
    # leader is 3.2 m off the follower's course: it left that lane (SSM: adjacent lanes, no conflict).
    t = np.round(np.arange(0, 8.05, 0.1), 6)
    x = np.where(t < 2, -20 + 10 * t, np.minimum(5 * (t - 2), 5.0))
    leader = Trajectory(t, np.column_stack([x, np.where(t < 2, 0.0, 3.2)]), "car")
    assert measure_pair(straight(-60, 0, 10, 0, 0, 8), leader) is None


def test_head_on_needs_each_on_the_others_path() -> None:
    # A waits at the origin to turn left (radius 15 m); B comes the other way in the next lane (y=2.4). Early
    # in A's turn its path bends towards B's lane, so B passes within a metre of A's path heading against
    # it, but A is 2.4 m from B's path: no head-on course on one path (SSM's oncoming is one lane).
    a = _turning_leader(0.0, radius=15.0)
    b = straight(60, 2.4, -12, 0, 0, 8)
    hit = measure_pair(a, b)
    assert hit is None or hit.relation != "oncoming"


def _along(t: FloatArray, speeds: list[tuple[float, float]], x0: float) -> Trajectory:
    """East along y=0 from ``x0``, at piecewise constant speeds [(until_t, m/s), ...]."""
    x, at, v = np.full_like(t, x0), 0.0, 0.0
    for until, v in speeds:
        x = x + v * np.clip(np.minimum(t, until) - at, 0, None)
        at = until
    return Trajectory(t, np.column_stack([x, np.zeros_like(t)]), "car")


def test_a_pair_that_meets_twice_is_two_encounters() -> None:
    # The follower does 15 m/s throughout. The leader, 30 m ahead at 10 m/s, pulls away at 40 m/s from t=3
    # (out of the 50 m range from t=4.8) and stands at x=340 from t=10; the follower is back in range at
    # t=18.7. First encounter, lowest at t=2.9: gap (59-2.5) - (43.5+2.5) = 10.5 m at 5 m/s, TTC 2.1 s.
    # Second, at t=21: gap (340-2.5) - (315+2.5) = 20 m at 15 m/s, TTC 1.33 s. 13.9 s apart: two conflicts.
    t = np.round(np.arange(0, 21.05, 0.1), 6)
    follower = _along(t, [(21.0, 15.0)], 0.0)
    leader = _along(t, [(3.0, 10.0), (10.0, 40.0), (21.0, 0.0)], 30.0)
    found = measure_encounters(follower, leader)
    assert [round(c.min_ttc_s, 2) for c in found] == [2.1, 1.33]
    assert [c.ttc_time_s for c in found] == pytest.approx([2.9, 21.0])
    whole = measure_pair(follower, leader)  # the pair's lowest over both
    assert whole is not None and whole.min_ttc_s == pytest.approx(20 / 15)
    assert len(find_conflicts([follower, leader])) == 2


def test_keeping_distance_for_a_while_is_still_one_encounter() -> None:
    # 10 m behind at the leader's 10 m/s for 10 s (following, not closing: TTC infinite) between two
    # closings: the pair never left the relation, so it is one encounter, one conflict, at its lowest TTC:
    # from t=12 the follower closes at 5 m/s from a 10 m gap, 2.5 m left at t=13.5 -> TTC 0.5 s.
    t = np.round(np.arange(0, 13.55, 0.1), 6)
    follower = _along(t, [(2.0, 15.0), (12.0, 10.0), (13.5, 15.0)], 0.0)
    leader = _along(t, [(13.5, 10.0)], 25.0)
    found = measure_encounters(follower, leader)
    assert len(found) == 1 and found[0].min_ttc_s == pytest.approx(0.5, abs=0.01)


def test_a_user_in_the_next_lane_is_not_followed_before_the_lane_change() -> None:
    # A drives up to x=0 in its lane (y=0, 10 m/s) and stands there from t=1 to t=6, then moves to the next
    # lane (3.2 m over) and drives off east at 5 m/s. B passes it in that lane at 10 m/s, beside it at t=4.
    # From x=0.5 B is on A's path (its stretch after the lane change) with its back behind A's front: a
    # bumper gap below 0, TTC 0, were A following it.
    # SSM follows in the current lane: B is in the next one, so the pair is no conflict.
    t = np.round(np.arange(0, 10.05, 0.1), 6)
    a_x = np.where(t <= 6.0, np.minimum(-10 + 10 * t, 0.0), 5 * (t - 6.0))
    a_v = np.where(t < 1.0, 10.0, np.where(t <= 6.0, 0.0, 5.0))  # measured, as a simulator's (no jump in it)
    a = Trajectory(t, np.column_stack([a_x, np.where(t <= 6.0, 0.0, 3.2)]), "car", a_v)
    b = straight(-40, 3.2, 10, 0, 0, 10)
    assert measure_pair(a, b) is None
    # Once in B's lane, A follows B there: the same lane change behind a slower B is a rear-end conflict.
    slow_x = np.where(t < 5.0, -40 + 10 * t, 10 + 1.0 * (t - 5.0))
    slow = Trajectory(t, np.column_stack([slow_x, np.full_like(t, 3.2)]))
    hit = measure_pair(a, slow)
    assert hit is not None and hit.relation == "following"


def test_lane_shifts_are_sideways_moves_not_bends() -> None:
    # A simulator's lane change (3.2 m sideways within one step, at x=10) is found where it moves sideways
    # (half-way up the jump: 10 m + 1.6 m along the path); a bend into a straight road (radius 5-10 m,
    # 45-90°: windows that start in it lie sideways of the course in and end on the course out), or a
    # gentle drift of 1 m, is not one.
    jump = np.array([[x, 0.0 if x < 10 else 3.2] for x in np.arange(0.0, 30.0, 0.5)])
    assert _path_of(jump).shifts == pytest.approx([10.0 + 1.6], abs=0.5)
    for radius, degrees in [(5.0, 60.0), (6.0, 90.0), (8.0, 45.0), (10.0, 60.0)]:
        theta = np.linspace(0.0, np.radians(degrees), 40)
        arc = np.column_stack([radius * np.sin(theta), radius * (1 - np.cos(theta))])
        out = arc[-1] + np.outer(np.arange(0.5, 20.0, 0.5), [np.cos(theta[-1]), np.sin(theta[-1])])
        bend = np.concatenate([np.column_stack([np.arange(-20.0, 0.0, 0.5), np.zeros(40)]), arc, out])
        assert _path_of(bend).shifts.size == 0, (radius, degrees)
    drift = np.column_stack([np.arange(0.0, 40.0, 0.5), np.linspace(0.0, 1.0, 80)])
    assert _path_of(drift).shifts.size == 0
    # Nor the jitter of a detector's ground point (0.2 m either way, every 0.4 m of a straight 60 m), while a
    # driver's lane change of 3.5 m over 6 m is one.
    rng = np.random.default_rng(15)
    x = np.arange(0.0, 60.0, 0.4)
    jitter = [
        _path_of(np.column_stack([x, np.zeros_like(x)]) + rng.normal(0, 0.2, (len(x), 2))) for _ in range(20)
    ]
    assert sum(p.shifts.size for p in jitter) <= 1
    driver = np.column_stack([x, np.clip((x - 30) / 6, 0, 1) * 3.5])
    assert _path_of(driver).shifts == pytest.approx([33.0], abs=2.0)


def _path_of(xy: FloatArray) -> RoadPath:
    keep = np.concatenate([[True], np.hypot(*np.diff(xy, axis=0).T) > 0])
    xy = xy[keep]
    t = 0.05 * np.arange(len(xy), dtype=np.float64)  # about 10 m/s: every sample is moving
    car = Trajectory(t, xy, "car")
    return RoadPath.build(t, xy, car.headings(), None, 50.0)


def _left_turn(t: FloatArray, origin: tuple[float, float], turned: float, radius: float = 10.0) -> Trajectory:
    """At 10 m/s: straight on to the origin (at t=4), a quarter circle to the left, straight on; the whole
    rotated by ``turned`` radians about the origin."""
    s = -40 + 10 * t
    theta = np.clip(s, 0, np.pi * radius / 2) / radius
    local = np.column_stack([radius * np.sin(theta), radius * (1 - np.cos(theta))])
    local[:, 0] += np.minimum(s, 0)
    local[:, 1] += np.maximum(s - np.pi * radius / 2, 0)
    c, sn = np.cos(turned), np.sin(turned)
    return Trajectory(t, local @ np.array([[c, sn], [-sn, c]]) + np.asarray(origin), "car")


@pytest.mark.parametrize(("closest_m", "conflict"), [(2.7, False), (2.3, True)])
def test_paths_passing_without_crossing_are_a_crossing_only_where_footprints_nearly_touch(
    closest_m: float, conflict: bool
) -> None:
    # Two opposing left turns (10 m radius, 10 m/s) whose arcs bulge towards each other and come closest,
    # ``closest_m`` apart, half-way round, where both are at the same time. Cars 1.8 m wide: 2.7 m leaves
    # 0.9 m between the footprints (SUMO's junctions keep such turns apart: no conflict), 2.3 m leaves 0.5 m:
    # a crossing at their closest approach, the two in its area at once (TTC 0).
    t = np.round(np.arange(0, 8.05, 0.05), 6)
    r = 10.0
    gap = closest_m / np.sqrt(2)
    a = _left_turn(t, (0.0, 0.0), 0.0, r)
    b = _left_turn(t, (np.sqrt(2) * r + gap, (2 - np.sqrt(2)) * r - gap), np.pi, r)
    apart = np.hypot(*(a.xy - b.xy).T).min()
    assert apart == pytest.approx(closest_m, abs=0.03)  # samples every 0.5 m of the arc
    hit = measure_pair(a, b)
    if conflict:
        assert hit is not None and hit.relation == "crossing" and hit.min_ttc_s == 0.0
    else:
        assert hit is None


def test_out_of_range_for_a_while_ends_an_encounter() -> None:
    # The follower closes in on the leader (15 m/s to its 10 m/s, from 25 m: TTC 2.1 s at t=1.9), the leader
    # pulls away to 55 m (30 m/s until t=4) and both go on at 10 m/s: still on one path, but beyond SSM's
    # 50 m range from t=3.75 until the leader stops at t=12 and the follower, at 15 m/s, is back within 50 m
    # at t=12.33 and closes in again (TTC 0.83 s at t=14.5). Out of range for over 5 s: two encounters.
    t = np.round(np.arange(0, 14.55, 0.1), 6)
    follower = _along(t, [(2.0, 15.0), (12.0, 10.0), (14.5, 15.0)], 0.0)
    leader = _along(t, [(2.0, 10.0), (4.0, 30.0), (12.0, 10.0), (14.5, 0.0)], 25.0)
    found = measure_encounters(follower, leader)
    assert [round(c.min_ttc_s, 2) for c in found] == [2.1, 0.83]


def _braking_to(x_stop: float, t_stop: float, t: FloatArray, v0: float = 8.0) -> FloatArray:
    """East along y=0 at ``v0``, braking evenly to stand at ``x_stop`` from ``t_stop`` on."""
    rate = v0 / t_stop
    x = np.where(t < t_stop, x_stop - (v0 - rate * t) ** 2 / (2 * rate), x_stop)
    return np.column_stack([x, np.zeros_like(t)])


def test_smoothing_keeps_steady_and_braking_motion_and_stills_a_jittering_stand() -> None:
    t = np.round(np.arange(0, 12.05, 0.1), 6)
    exact = Trajectory(t, _braking_to(0.0, 6.0, t), "car")
    fitted = exact.smoothed(1.0)
    assert fitted.speed is not None
    inner = (t >= 0.5) & (t <= 5.5)  # whole windows on the braking stretch: the slope is the speed there
    assert np.allclose(fitted.speed[inner], 8.0 - 8.0 / 6.0 * t[inner], atol=1e-9)
    assert np.allclose(fitted.speed[t >= 6.5], 0.0, atol=1e-9)
    # A standing car whose ground point jitters by 0.1 m: along the raw points it "moves" at about 2 m/s.
    rng = np.random.default_rng(5)
    jitter = Trajectory(t, rng.normal(0.0, 0.1, (len(t), 2)), "car")
    raw = RoadPath.build(t, jitter.xy, jitter.headings(), jitter.speed, 10.0)
    assert float(np.median(raw.speed)) > 1.5
    assert float(np.median(jitter.smoothed(1.0).speed)) < 0.25  # type: ignore[arg-type]
    assert jitter.smoothed(0.0) is jitter
    measured = dataclasses.replace(jitter, speed=np.full_like(t, 3.0))
    assert np.all(measured.smoothed(1.0).speed == 3.0)  # a measured speed is kept


def test_smoothing_pulls_positions_into_a_bend_and_back_under_braking() -> None:
    # The line fitted over a centred window passes through the window's mean position: on a bend that lies
    # inside the arc, under braking behind the car, by acceleration x mean(dt^2) / 2 (about
    # acceleration x smooth_s^2 / 24). What docs/incidents.md says the fit costs on bends.
    t = np.round(np.arange(0, 12.05, 0.1), 6)
    r, v = 10.0, 8.0
    arc = Trajectory(t, r * np.column_stack([np.cos(v * t / r), np.sin(v * t / r)]), "car")
    fitted = arc.smoothed(1.0)
    inner = (t >= 0.5) & (t <= 11.5)
    dt = np.round(np.arange(-0.5, 0.55, 0.1), 6)
    inside = r * (1 - np.mean(np.cos(v * dt / r)))
    assert np.allclose(r - np.hypot(*fitted.xy[inner].T), inside, atol=1e-9)
    assert inside == pytest.approx(v**2 / r * np.mean(dt**2) / 2, rel=0.01)
    assert inside > 0.3  # 8 m/s round a 10-m bend, smoothed over 1 s
    braking = Trajectory(t, _braking_to(0.0, 6.0, t), "car")
    behind = braking.xy[:, 0] - braking.smoothed(1.0).xy[:, 0]
    on_brakes = (t >= 0.5) & (t <= 5.5)
    assert np.allclose(behind[on_brakes], 8.0 / 6.0 * np.mean(dt**2) / 2, atol=1e-9)


def test_a_creeping_queue_at_a_jittering_camera_has_no_conflict_once_smoothed() -> None:
    # Two cars creep along at 1.5 m/s, 2.5 m between bumpers, for 20 s; their ground points jitter by 0.1 m.
    # Along the raw points the speeds swing by about 2 m/s from sample to sample: closing speeds and TTCs
    # under 3 s, a conflict in 11 of 12 seeds (in every one before slow headings came from the chord of the
    # path). Smoothed over 1 s, none.
    t = np.round(np.arange(0, 20.05, 0.1), 6)
    raw = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        lead, queued = (
            Trajectory(
                t, np.column_stack([1.5 * t + x0, np.zeros_like(t)]) + rng.normal(0, 0.1, (len(t), 2)), "car"
            )
            for x0 in (0.0, -7.5)
        )
        raw += bool(find_conflicts([lead, queued]))
        assert find_conflicts([lead.smoothed(1.0), queued.smoothed(1.0)]) == [], seed
    assert raw >= 10


def test_candidate_pairs_are_those_within_reach_at_a_common_time() -> None:
    from citytally.edge.safety import _candidate_pairs

    rng = np.random.default_rng(11)
    for trial in range(30):
        tracks = []
        for _ in range(2 if trial % 2 else 4):
            start = int(rng.integers(0, 20))
            t = np.round(np.arange(start, start + int(rng.integers(3, 20))) * 0.1, 6)
            xy = rng.uniform(0, 120, 2) + np.cumsum(rng.normal(0, 2, (len(t), 2)), axis=0)
            tracks.append(Trajectory(t, xy, "car"))
        expected = []
        for i in range(len(tracks)):
            for j in range(i + 1, len(tracks)):
                at = {round(float(v), 6): k for k, v in enumerate(tracks[j].t)}
                gaps = [
                    np.hypot(*(tracks[i].xy[k] - tracks[j].xy[at[round(float(v), 6)]]))
                    for k, v in enumerate(tracks[i].t)
                    if round(float(v), 6) in at
                ]
                if gaps and min(gaps) <= 50.0:
                    expected.append((i, j))
        assert _candidate_pairs(tracks, 50.0, 1e-6) == expected, trial


def _waits_then_turns_back(t: FloatArray, t_go: float) -> Trajectory:
    """Centre points: comes south along x = 0 at 5 m/s, brakes evenly to a stand at (0, 0) at t = 4 s, waits
    until ``t_go``, then drives off at 5 m/s south-east to (1.25, -1.25), east to (2.5, -1.25) and north up
    the lane beside, x = 2.5 (a U-turn begun across the corner)."""
    arrive = np.column_stack([np.zeros_like(t), 0.625 * np.clip(4.0 - t, 0, None) ** 2])
    corners = np.array([[0.0, 0.0], [1.25, -1.25], [2.5, -1.25], [2.5, 100.0]])
    legs = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(corners, axis=0).T))])
    s = 5.0 * np.clip(t - t_go, 0, None)
    leave = np.column_stack([np.interp(s, legs, corners[:, 0]), np.interp(s, legs, corners[:, 1])])
    return Trajectory(t, np.where((t < t_go)[:, None], arrive, leave))


def test_a_standing_car_keeps_the_heading_it_stopped_with() -> None:
    # While a car stands, its body points the way it came in (a car does not turn on the spot), not the way
    # it later drives off. Here it came south and leaves south-east: standing, it heads south.
    t = np.round(np.arange(0.0, 20.05, 0.1), 6)
    waiting = _waits_then_turns_back(t, 15.0)
    heading = waiting.headings()
    assert np.allclose(heading[(t > 3.0) & (t < 14.95)], [0.0, -1.0], atol=1e-6)
    assert np.allclose(heading[(t > 14.95) & (t < 15.3)], [np.sqrt(0.5), -np.sqrt(0.5)], atol=1e-6)
    # A car drives north up the lane the waiting car will turn into, 2.5 m to its side (1.8 m wide each:
    # 0.7 m between them). Along the waiting car's path it is ahead with a bumper gap of 0 or less, as in the
    # U-turn case above; the footprints decide. Turned south-east, the waiting car's would reach into the
    # other's (TTC 0); heading south, they are apart: no conflict.
    assert measure_pair(waiting, straight(2.5, -20, 0, 4, 0, 8)) is None
    # 1.7 m to its side (their bodies 0.1 m into each other), they collide.
    hit = measure_pair(waiting, straight(1.7, -20, 0, 4, 0, 8))
    assert hit is not None and hit.min_ttc_s == 0.0


def test_a_car_passing_a_waiting_one_collides_only_where_their_rectangles_meet() -> None:
    # The waiting car above (standing at the origin, its body 1.8 m wide along y) and a car driving north
    # past it. 2.1 m to its side there are 0.3 m between the bodies: no collision, no conflict. (A
    # footprint of two discs, with a 0.4 m allowance for the corners it leaves out of the rectangle, took
    # them for touching: TTC 0, a serious conflict.) 1.75 m to its side the sides overlap by 5 cm: a
    # collision.
    t = np.round(np.arange(0.0, 20.05, 0.1), 6)
    waiting = _waits_then_turns_back(t, 15.0)
    assert measure_pair(waiting, straight(2.1, -20, 0, 4, 0, 8)) is None
    assert measure_pair(waiting, straight(1.9, -20, 0, 4, 0, 8)) is None
    hit = measure_pair(waiting, straight(1.75, -20, 0, 4, 0, 8))
    assert hit is not None and hit.min_ttc_s == 0.0


def test_a_pedestrian_standing_at_the_kerb_beside_a_passing_car_is_no_conflict() -> None:
    # A pedestrian walks to the kerb, along it against the traffic, and stands at (0, 1.9) from t = 1 s to
    # t = 10 s; a car drives past along y = 0 at 10 m/s (at x = 0 at t = 4 s). Their paths do not cross:
    # the footprints pass 1.9 - 0.9 - 0.3 = 0.7 m apart. Between a pedestrian and a vehicle a pass counts
    # only where the footprints would come within PERSON_PASS_M, and two users in a conflict area at once
    # are a collision only where they touch: no conflict (it was a TTC-0 "collision").
    t = np.round(np.arange(-10.0, 18.05, 0.1), 6)
    corners = np.array([[12.0, 6.0], [4.0, 1.9], [0.0, 1.9]])
    legs = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(corners, axis=0).T))])
    s = np.clip(1.3 * (t - 1.0) + legs[-1], 0, legs[-1])
    xy = np.column_stack([np.interp(s, legs, corners[:, 0]), np.interp(s, legs, corners[:, 1])])
    xy[:, 1] += np.clip(1.3 * (t - 10.0), 0, None)  # then walks away from the road
    pedestrian = Trajectory(t, xy, "person")
    assert measure_pair(straight(-40, 0, 10, 0, 0, 8), pedestrian) is None
    # Standing on the car's path instead, it is run into (TTC 0 once the car's front reaches it).
    on_road = Trajectory(t, np.where((t < 10)[:, None], [0.0, 0.0], xy), "person")
    hit = measure_pair(straight(-40, 0, 10, 0, 0, 8), on_road)
    assert hit is not None and hit.min_ttc_s == 0.0


def test_a_car_starting_a_u_turn_beside_a_waiting_pedestrian_does_not_collide_with_it() -> None:
    # Front bumper positions (a simulator's): the car stands at (0, 0) facing north until t = 15 s, having
    # come up x = 0, then turns left on a half circle of radius 1.25 m (a U-turn) at 5 m/s. A pedestrian
    # stands at (1.6, -1.2), beside the lane it came up. Once the turn starts the front moves west, but the
    # body still lies back along that lane (SUMO places it so), from x = 0 near y = -5 to the front, 1.6 m
    # west of the pedestrian. They never touch: no TTC 0 (before, the pedestrian's spot beside the car's
    # path was a conflict area both stood in, a "collision").
    t = np.round(np.arange(0.0, 20.05, 0.1), 6)
    s = np.clip(5.0 * (t - 15.0), 0, None)
    theta = np.clip(s / 1.25, 0, np.pi)
    arrive = np.column_stack([np.zeros_like(t), -5.0 * np.clip(5.0 - t, 0, None)])
    turn = np.column_stack([-1.25 * (1 - np.cos(theta)), 1.25 * np.sin(theta)])
    xy = np.where((t < 15)[:, None], arrive, turn)
    speed = np.where((t > 0) & (t < 5), 5.0, np.where(t >= 15, 5.0, 0.0))
    car = Trajectory(t, xy, "car", speed, anchor="front")
    waits = t >= 10.0  # the pedestrian is seen from t = 10 s, when the car already stands
    pedestrian = Trajectory(t[waits], np.tile([1.6, -1.2], (int(waits.sum()), 1)), "person")
    hit = measure_pair(car, pedestrian)
    assert hit is None or hit.min_ttc_s > 0.0


def test_a_body_lies_back_along_the_path_it_came_not_along_its_heading() -> None:
    # A car comes north up x = 0 at 5 m/s and turns left on a half circle of radius 1.25 m (a U-turn). 0.2 s
    # into the turn the tracked point is at (-0.379, 0.897), moving north-west (135.8 deg). Tracked at the
    # front bumper (a simulator's), the back bumper is the car's 5 m behind, on the lane it came up: the
    # last sample of the path that far away is (0, -4.5), so the body points atan2(5.397, 0.379) = 94.0 deg.
    # Tracked at its centre, the back is half a length behind, (0, -2): 97.5 deg. On the straight both are
    # north, the heading.
    t = np.round(np.arange(0.0, 8.05, 0.1), 6)
    s = 5.0 * t - 20.0
    theta = np.clip(s, 0, np.pi * 1.25) / 1.25
    xy = np.column_stack(
        [np.where(s < 0, 0.0, -1.25 * (1 - np.cos(theta))), np.where(s < 0, s, 1.25 * np.sin(theta))]
    )
    xy[:, 1] -= np.clip(s - np.pi * 1.25, 0, None)
    rows = np.array([30, 42])  # t = 3 s, on the straight, and 0.2 s into the turn
    for anchor, expected in (("front", 94.02), ("centre", 97.46)):
        car = Trajectory(t, xy, "car", np.full_like(t, 5.0), anchor=anchor)
        path = RoadPath.build(t, xy, car.headings(), car.speed, 50.0)
        assert np.degrees(np.arctan2(*path.heading[42, ::-1])) == pytest.approx(135.8, abs=0.1)
        axis = _body_axis(car, path, rows)
        assert np.degrees(np.arctan2(axis[:, 1], axis[:, 0])) == pytest.approx([90.0, expected], abs=0.05)


def _drawing_up(
    t: FloatArray, v0: float, decel: float, stand_gap: float, brake_at: float = 3.0
) -> Trajectory:
    """A car east along y=0 at ``v0`` braking evenly at ``decel`` from ``brake_at`` to stand with its front
    ``stand_gap`` behind the back of a car standing centred at x=0 (both 5 m long)."""
    x_stop = -(5.0 + stand_gap)
    x_brake = x_stop - v0 * v0 / (2 * decel)
    since = np.clip(t - brake_at, 0.0, v0 / decel)
    x = np.where(t < brake_at, x_brake - v0 * (brake_at - t), x_brake + v0 * since - decel * since**2 / 2)
    return Trajectory(t, np.column_stack([x, np.zeros_like(t)]), "car")


@pytest.mark.parametrize(
    ("decel", "stand_gap", "controlled"),
    [
        # Even braking at a to stand g0 behind: the least TTC is sqrt(2 g0 / a), where the DRAC is a / 2.
        (2.0, 2.5, True),  # a car drawing up behind a queue: TTC 1.58 s, braking 2 m/s² (DRAC 1)
        (3.0, 1.0, True),  # closer and firmer, still comfortable: TTC 0.82 s
        (6.0, 0.5, False),  # a late stop: TTC 0.41 s, braking 6 m/s², harder than comfortable
        (4.0, 2.5, False),  # firm braking: 4 m/s², TTC 1.12 s
    ],
)
def test_a_car_drawing_up_behind_a_queue_at_comfortable_braking_is_controlled(
    decel: float, stand_gap: float, controlled: bool
) -> None:
    t = np.round(np.arange(0, 15.05, 0.1), 6)
    standing = Trajectory(t, np.zeros((len(t), 2)), "car")
    (found,) = measure_encounters(_drawing_up(t, 13.9, decel, stand_gap), standing)
    assert (found.type, found.relation) == ("rear_end", "following")
    assert found.min_ttc_s == pytest.approx(np.sqrt(2 * stand_gap / decel), abs=0.03)
    assert found.controlled is controlled
    assert summarise([found]).total == (0 if controlled else 1)
    # With no comfortable braking set, every rear-end TTC counts, as SSAM and SSM count them.
    (every,) = measure_encounters(
        _drawing_up(t, 13.9, decel, stand_gap), standing, Thresholds(comfortable_decel_ms2=0.0)
    )
    assert not every.controlled and summarise([every]).total == 1
    assert every.min_ttc_s == found.min_ttc_s


def test_a_follower_not_braking_when_the_leader_pulls_away_is_no_controlled_approach() -> None:
    # The follower does 15 m/s, 17.5 m behind the leader's back at 10 m/s; from t=2 (gap 10 m, TTC 2 s) the
    # leader speeds up at 2 m/s² and pulls away. Nobody braked: the near miss counts.
    t = np.round(np.arange(0, 8.05, 0.1), 6)
    follower = _along(t, [(8.0, 15.0)], -25.0)
    ahead = np.where(t < 2.0, 10.0 * t, 20.0 + 10.0 * (t - 2.0) + (t - 2.0) ** 2)
    leader = Trajectory(t, np.column_stack([ahead, np.zeros_like(t)]), "car")
    (found,) = measure_encounters(follower, leader)
    assert found.min_ttc_s == pytest.approx(2.0, abs=0.1)  # speeds from positions: 1.94 s
    assert not found.controlled and summarise([found]).total == 1


def test_footprints_that_touch_are_a_collision_not_a_controlled_approach() -> None:
    # Two cars slow down from 5 m/s at 1 m/s², the follower's front 0.2 m into the leader's back and falling
    # back at 0.05 m/s (as two tracks of one vehicle may be): TTC 0 while opening, so a DRAC of 0 that the
    # braking meets.
    t = np.round(np.arange(0, 2.05, 0.1), 6)
    x = 5.0 * t - t**2 / 2
    leader = Trajectory(t, np.column_stack([x, np.zeros_like(t)]), "car")
    follower = Trajectory(t, np.column_stack([x - 4.8 - 0.05 * t, np.zeros_like(t)]), "car")
    (found,) = measure_encounters(follower, leader)
    assert (found.min_ttc_s, found.relation) == (0.0, "following")
    assert not found.controlled and summarise([found]).total == 1


def test_a_hard_stop_behind_a_standing_car_is_found_on_a_jittering_camera() -> None:
    # At 20 frames/s a car brakes at 6 m/s² from 10 m/s to stand 0.5 m behind a standing one (least TTC
    # 0.41 s); its ground point jitters by 0.2 m. Smoothed over 1 s, its stand still wandered by a few
    # centimetres a frame, which added metres of "travel" to its path and turned the path's last heading,
    # along which the leader ahead of where it stopped is found, by tens of degrees: no seed of 20 found the
    # conflict (7 of 20 at 0.1 m). A stand is now at its mean position and a slow heading is the path's
    # chord: 19 of 20 (20 of 20 at 0.1 m).
    t = np.round(np.arange(0, 15.0, 0.05), 6)
    since = np.clip(t - 3.62, 0.0, 10.0 / 6.0)
    x = 20.0 + 10.0 * np.minimum(t, 3.62) + 10.0 * since - 3.0 * since**2
    standing = Trajectory(t, np.column_stack([np.full_like(t, 70.0), np.full_like(t, 30.0)]), "car")
    hits = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        xy = np.column_stack([x, np.full_like(t, 30.0)]) + rng.normal(0.0, 0.2, (len(t), 2))
        braking = Trajectory(t, xy, "car").smoothed(1.0)
        found = measure_encounters(braking, standing.smoothed(1.0))
        hits += any(c.relation == "following" and c.min_ttc_s < 1.0 and not c.controlled for c in found)
        # While it stood, its path grew by well under a metre (at most a few stands, where the fitted speed's
        # noise passed 0.5 m/s between them).
        stood = braking.xy[t > 6.0]
        assert float(np.hypot(*np.diff(stood, axis=0).T).sum()) < 0.5, seed
    assert hits >= 18


def _hard_stop_along(
    angle_deg: float, t: FloatArray, jitter_m: float, seed: int
) -> tuple[Trajectory, Trajectory]:
    """A car braking at 6 m/s² from 10 m/s to stand 0.5 m behind one that stands throughout (least TTC
    0.41 s), on a road heading ``angle_deg``; both ground points jitter by ``jitter_m``."""
    u = np.array([np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))])
    since = np.clip(t - 3.62, 0.0, 10.0 / 6.0)
    along = 10.0 * np.minimum(t, 3.62) + 10.0 * since - 3.0 * since**2
    rng = np.random.default_rng(seed)
    braking = np.array([5.0, 8.0]) + along[:, None] * u + rng.normal(0.0, jitter_m, (len(t), 2))
    standing = np.array([5.0, 8.0]) + 50.0 * u + rng.normal(0.0, jitter_m, (len(t), 2))
    return Trajectory(t, braking, "car"), Trajectory(t, standing, "car")


@pytest.mark.parametrize("angle_deg", [0.0, 55.0, 125.0, 200.0, 270.0])
def test_a_hard_stop_behind_a_car_that_never_moved_is_found_whichever_way_the_road_runs(
    angle_deg: float,
) -> None:
    # A car that stood throughout its record has no heading of its own. It was given +x, and following
    # needs the leader's heading within 30° of the follower's path: the hard stop behind it was found only
    # on a road along x. It is taken to stand along the path of whoever approaches it.
    t = np.round(np.arange(0, 15.0, 0.05), 6)
    braking, standing = _hard_stop_along(angle_deg, t, 0.0, 0)
    assert standing.still and not braking.still
    found = [c for c in measure_encounters(braking, standing) if c.relation == "following"]
    assert len(found) == 1, found
    (hit,) = found
    # Along x, where the old heading happened to be right, the least TTC was 0.394 s.
    assert hit.type == "rear_end" and not hit.controlled
    assert 0.3 < hit.min_ttc_s < 0.5, hit
    assert measure_encounters(standing, braking)[0].min_ttc_s == pytest.approx(hit.min_ttc_s)


def test_a_hard_stop_behind_a_car_that_never_moved_is_found_on_a_jittering_camera() -> None:
    # Both ground points jitter by 0.2 m, smoothed over 1 s: the standing car's jitter made a "move" of its
    # own now and then, and its heading was that move's: found in 1 of 20 seeds on a road at 125°.
    t = np.round(np.arange(0, 15.0, 0.05), 6)
    hits = 0
    for seed in range(20):
        braking, standing = _hard_stop_along(125.0, t, 0.2, seed)
        found = measure_encounters(braking.smoothed(1.0), standing.smoothed(1.0))
        hits += any(c.relation == "following" and c.min_ttc_s < 1.0 and not c.controlled for c in found)
    assert hits >= 18


def test_a_car_that_never_moved_beside_the_path_or_behind_is_no_conflict() -> None:
    # Standing in the next lane (3.2 m to the side), or behind the car driving away: no relation.
    t = np.round(np.arange(0, 6.0, 0.1), 6)
    u, side = np.array([np.cos(2.2), np.sin(2.2)]), np.array([-np.sin(2.2), np.cos(2.2)])
    moving = Trajectory(t, (10.0 * t)[:, None] * u, "car")
    for place in (30.0 * u + 3.2 * side, -6.0 * u):
        standing = Trajectory(t, np.tile(place, (len(t), 1)), "car")
        assert standing.still
        assert measure_encounters(moving, standing) == [], place


def test_a_walker_stepping_round_a_parked_bicycle_is_none_a_cyclist_riding_at_a_standing_walker_is_one() -> (
    None
):
    # A walker at 1.4 m/s heads for a bicycle that stands throughout (its back 3.1 m ahead) and, 1.1 m short
    # of it, steps 1.2 m aside over 0.8 s to walk past: the bicycle is never on its path. A cyclist at 5 m/s
    # that brakes late (5 m/s²) to stop 0.3 m short of a walker standing on its path is a conflict.
    t = np.round(np.arange(0, 4.0, 0.1), 6)
    u, side = np.array([np.cos(0.9), np.sin(0.9)]), np.array([-np.sin(0.9), np.cos(0.9)])
    aside = np.clip((t - 1.2) / 0.8, 0.0, 1.0) * 1.2
    walker = Trajectory(t, (1.4 * t)[:, None] * u + aside[:, None] * side, "person")
    parked = Trajectory(t, np.tile(4.0 * u, (len(t), 1)), "bicycle")
    assert parked.still and measure_encounters(walker, parked) == []
    since = np.clip(t - 1.0, 0.0, 1.0)
    along = 5.0 * np.minimum(t, 1.0) + 5.0 * since - 2.5 * since**2
    cyclist = Trajectory(t, along[:, None] * u, "bicycle")
    # The cyclist's front (0.9 m ahead of its centre) stops at 7.5 + 0.9 = 8.4 m, the walker's back at 8.7 m.
    standing = Trajectory(t, np.tile(9.0 * u, (len(t), 1)), "person")
    (hit,) = measure_encounters(cyclist, standing)
    assert (
        hit.relation == "following" and hit.type == "rear_end" and hit.min_ttc_s < 1.0 and not hit.controlled
    )


def test_a_record_too_short_to_show_a_stand_is_not_still() -> None:
    # Within 1 m of its mean, but moving: a bicycle seen for 0.3 s at 2.5 m/s, a walker seen for 1.4 s at
    # 1.4 m/s (0.98 m either side of its mean), a detector's flicker of 0.4 s jittering by 0.2 m; and a box
    # seen at one place for 0.5 s: under a second of record shows no stand. Taken for still, such records
    # made conflicts of their own on the Market Street clip (a bicycle closing on a walker seen for 0.4 s).
    rng = np.random.default_rng(3)
    for t, speed, jitter in ((0.3, 2.5, 0.0), (1.4, 1.4, 0.0), (0.4, 0.0, 0.2), (0.5, 0.0, 0.0)):
        times = np.round(np.arange(0, t + 0.05, 0.1), 6)
        xy = np.column_stack([speed * times, np.zeros_like(times)]) + rng.normal(0.0, jitter, (len(times), 2))
        assert not Trajectory(times, xy, "bicycle").still, (t, speed, jitter)
    # A car standing for 3 s whose ground point jitters by 0.2 m, smoothed over 1 s, is still.
    times = np.round(np.arange(0, 3.0, 0.05), 6)
    standing = Trajectory(
        times, np.full((len(times), 2), 20.0) + rng.normal(0.0, 0.2, (len(times), 2)), "car"
    )
    assert standing.smoothed(1.0).still
