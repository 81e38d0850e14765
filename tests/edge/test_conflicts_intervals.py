"""Conflicts in a junction zone, end to end through CameraAnalytics: tracks in, one anonymous event out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from citytally.edge import safety
from citytally.edge.analytics.intervals import CameraAnalytics
from citytally.edge.analytics.speed import GroundPlane
from citytally.edge.config import CameraConfig
from citytally.edge.detections import Detections
from citytally.edge.incident_config import IncidentSettings
from citytally.edge.incidents import IncidentEngine
from citytally.events import ConflictEvent, event_to_json, parse_event
from citytally.transport.publisher import MemoryPublisher

PERSON, BICYCLE, CAR = 0, 1, 2
FPS = 20
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Mover:
    """A road user on a straight ground path: at (x0, y0) m at t = 0, velocity (vx, vy) m/s, from t0 to t1."""

    track_id: int
    cls: int
    x0: float
    y0: float
    vx: float
    vy: float
    t0: float = 0.0
    t1: float = 12.0

    def at(self, t: float) -> tuple[float, float] | None:
        if not self.t0 <= t <= self.t1:
            return None
        return self.x0 + self.vx * t, self.y0 + self.vy * t


def camera(interval_s: int = 60, **conflict: Any) -> CameraConfig:
    """10 px per metre, no perspective; the junction zone is the ground square 20..80 m."""
    return CameraConfig.model_validate(
        {
            "site": "plaza",
            "camera": "cam-1",
            "interval_seconds": interval_s,
            "start_time": T0,
            "source": {"uri": "video.mp4"},
            "zones": [{"name": "junction", "polygon": [[200, 200], [800, 200], [800, 800], [200, 800]]}],
            "speed": {
                "image_points": [[0, 0], [1000, 0], [1000, 1000], [0, 1000]],
                "ground_points_m": [[0, 0], [100, 0], [100, 100], [0, 100]],
            },
            "conflicts": [{"zone": "junction", **conflict}],
        }
    )


def frame(movers: list[Mover], t: float) -> Detections:
    """Boxes whose bottom centre is each road user's ground point (in pixels)."""
    rows = [(m.track_id, *xy, m.cls) for m in movers if (xy := m.at(t)) is not None]
    if not rows:
        return Detections.empty()
    arr = np.array(rows, dtype=np.float64)
    x, y = arr[:, 1] * 10, arr[:, 2] * 10
    xyxy = np.stack([x - 10, y - 40, x + 10, y], axis=1).astype(np.float32)
    scores = np.full(len(arr), 0.9, np.float32)
    return Detections(xyxy, scores, arr[:, 3].astype(np.int64), arr[:, 0].astype(np.int64))


def run(
    movers: list[Mover], seconds: float = 12.0, interval_s: int = 60, **conflict: Any
) -> list[ConflictEvent]:
    publisher = MemoryPublisher()
    analytics = CameraAnalytics(camera(interval_s, **conflict), publisher)
    for i in range(int(seconds * FPS) + 1):
        analytics.update(frame(movers, i / FPS), i / FPS)
    analytics.finish()
    return [e for e in publisher.events if isinstance(e, ConflictEvent)]


# A car eastbound along y = 50 at 10 m/s passes x = 50 at t = 5 s and clears a crossing path there (its back
# disc 1.2 m past it) at 5.28 s. Crossers go north along x = 50 and reach it PET seconds later.
CAR_EAST = Mover(1, CAR, 0.0, 50.0, 10.0, 0.0)
# Person: disc 0.3 m, enters when 1.2 m short of y = 50 (y = 48.8) at 5.867 s: PET 0.59 s.
PERSON_NORTH = Mover(2, PERSON, 50.0, 40.0, 0.0, 1.5)
# Bicycle: front disc 0.6 m ahead, enters at y = 48.2, at 4 m/s from y = 17.08: 7.78 s, PET 2.5 s.
BICYCLE_NORTH = Mover(3, BICYCLE, 50.0, 17.08, 0.0, 4.0)
# Rear end along y = 30: leader at 10 m/s leaves the zone after t = 4.95 s (x = 79.75), the follower at
# 12 m/s is then 8 m behind: bumper gap 3 m (discs 1.6 m off centre, radii 0.9 m), closing 2 m/s, TTC 1.5 s.
LEADER = Mover(4, CAR, 30.25, 30.0, 10.0, 0.0)
FOLLOWER = Mover(5, CAR, 12.35, 30.0, 12.0, 0.0)
# Two cars side by side 10 m apart at the same speed: no conflict.
SIDE_A = Mover(6, CAR, 10.0, 30.0, 10.0, 0.0)
SIDE_B = Mover(7, CAR, 10.0, 40.0, 10.0, 0.0)


@pytest.mark.parametrize(
    ("movers", "settings", "expected_rows", "road_users"),
    [
        ([CAR_EAST, PERSON_NORTH], {}, [("crossing", "serious", "car-person")], {"car": 1, "person": 1}),
        ([CAR_EAST, BICYCLE_NORTH], {}, [], {"car": 1, "bicycle": 1}),
        (
            [CAR_EAST, BICYCLE_NORTH],
            {"pet_s": 3.0},
            [("crossing", "slight", "bicycle-car")],
            {"car": 1, "bicycle": 1},
        ),
        ([LEADER, FOLLOWER], {}, [("rear_end", "moderate", "car-car")], {"car": 2}),
        ([LEADER, FOLLOWER], {"ttc_s": 1.0}, [], {"car": 2}),
        ([CAR_EAST, PERSON_NORTH], {"ignore_pairs": ["car-person"]}, [], {"car": 1, "person": 1}),
        ([SIDE_A, SIDE_B], {}, [], {"car": 2}),
        # The same crossing 40 m further north, outside the zone: nobody is counted.
        (
            [Mover(1, CAR, 0.0, 90.0, 10.0, 0.0), Mover(2, PERSON, 50.0, 80.5, 0.0, 1.5)],
            {},
            [],
            {},
        ),
    ],
    ids=[
        "car-person-crossing",
        "bicycle-above-pet",
        "bicycle-below-raised-pet",
        "rear-end",
        "rear-end-above-ttc",
        "car-person-ignored",
        "side-by-side",
        "outside-zone",
    ],
)
def test_tracks_to_summary(
    movers: list[Mover],
    settings: dict[str, Any],
    expected_rows: list[tuple[str, str, str]],
    road_users: dict[str, int],
) -> None:
    (event,) = run(movers, **settings)
    assert event.zone == "junction"
    assert event.road_users == road_users
    assert [(c.type, c.severity, c.classes) for c in event.conflicts] == expected_rows
    assert event.total == len(expected_rows)
    assert sum(c.count for c in event.cells) == event.total
    is_rear_end = [t == "rear_end" for t, _, _ in expected_rows]
    assert sum(event.pet.counts) == is_rear_end.count(False)
    assert sum(event.ttc.counts) <= event.total


def test_a_pair_is_counted_once_however_many_paths_end_after_it() -> None:
    # A slow car along y = 70 is in the zone from t = 5 s to the end: the car-person pair, ended long
    # before, is measured once, not again at each later pairing.
    slow = Mover(8, CAR, 10.0, 70.0, 2.0, 0.0, t1=40.0)
    (event,) = run([CAR_EAST, PERSON_NORTH, slow], seconds=40.0)
    assert [(c.type, c.classes, c.count) for c in event.conflicts] == [("crossing", "car-person", 1)]
    assert event.road_users == {"car": 2, "person": 1}


@pytest.mark.parametrize(("ignore", "measured", "expected"), [(None, 0, []), ([], 1, ["person-person"])])
def test_ignored_pairs_are_not_measured(
    monkeypatch: pytest.MonkeyPatch, ignore: list[str] | None, measured: int, expected: list[str]
) -> None:
    # Two pedestrians on a collision course (both at (50, 50) m at t = 6.7 s). Measuring a pair is the costly
    # part of the analysis, so an ignored pair (person-person by default) is skipped before it, not after.
    calls: list[object] = []
    measure = safety.measure_encounters

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return measure(*args, **kwargs)

    monkeypatch.setattr(safety, "measure_encounters", counted)
    east = Mover(9, PERSON, 40.0, 50.0, 1.5, 0.0)
    (event,) = run([PERSON_NORTH, east], **({} if ignore is None else {"ignore_pairs": ignore}))
    assert len(calls) == measured
    assert [c.classes for c in event.conflicts] == expected


def test_conflict_located_in_its_ground_cell_and_picture() -> None:
    (event,) = run([CAR_EAST, PERSON_NORTH])
    (cell,) = event.cells
    # Midway between the car and the person when the person reaches the car's path (t = 5.87 s): car at
    # x = 58.7, person at (50, 48.8): (54.3, 49.4), in the 5 m cell from (50, 45).
    assert (cell.x_m, cell.y_m, cell.count) == (50.0, 45.0, 1)
    assert (cell.image_x, cell.image_y) == pytest.approx((525.0, 475.0))


def test_counted_in_the_interval_the_second_road_user_leaves() -> None:
    # 10 s intervals; the pair meets at t = 5.9 s, but the person walks on in the zone until y = 80 m at
    # t = 26.7 s: the pair is measured then, in the third interval. Both were counted when they entered.
    walker = Mover(2, PERSON, 50.0, 40.0, 0.0, 1.5, t1=30.0)
    events = run([CAR_EAST, walker], seconds=29.0, interval_s=10)
    assert [e.total for e in events] == [0, 0, 1]
    assert [e.road_users for e in events] == [{"car": 1, "person": 1}, {}, {}]


def test_no_identity_or_fine_time_leaves_the_edge() -> None:
    (event,) = run([CAR_EAST, PERSON_NORTH, LEADER, FOLLOWER])
    wire = json.loads(event_to_json(event))
    keys: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            keys.update(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(wire)
    allowed = {"v", "id", "site", "camera", "start", "end", "type", "zone", "road_users", "conflicts"}
    allowed |= {"severity", "classes", "count", "ttc", "pet", "edges_s", "counts", "cell_m", "cells"}
    allowed |= {"x_m", "y_m", "image_x", "image_y", "car", "person"}
    assert keys <= allowed
    assert parse_event(json.dumps(wire)) == event


def test_memory_stays_bounded_on_a_long_busy_stream() -> None:
    # A car every 2 s for 10 minutes, each 6 s in the zone: only the few that may still pair are held.
    config = camera()
    analytics = CameraAnalytics(config, MemoryPublisher())
    cars = [Mover(100 + k, CAR, 10.0 - 20.0 * k, 30.0 + (k % 2) * 10, 10.0, 0.0, t1=1e9) for k in range(300)]
    held = []
    for i in range(0, 600 * 5):  # 5 fps
        t = i / 5
        analytics.update(frame([m for m in cars if -5 <= m.x0 + 10 * t <= 105], t), t)
        held.append(analytics.conflicts[0].held_paths)
    analytics.finish()
    # window_s 30 + pet_s 2 + lost buffer 2 = 34 s of ended paths (about 17 cars) plus those in view.
    assert max(held) <= 30
    assert held[-1] > 5


@dataclass(frozen=True)
class Jittering(Mover):
    """A mover whose ground point jitters (normal, ``sigma_m`` per axis), as a detector's box does."""

    sigma_m: float = 0.1

    def at(self, t: float) -> tuple[float, float] | None:
        xy = super().at(t)
        if xy is None:
            return None
        dx, dy = np.random.default_rng((self.track_id, round(t * FPS))).normal(0.0, self.sigma_m, 2)
        return xy[0] + dx, xy[1] + dy


def test_a_creeping_queue_seen_with_jitter_is_no_conflict() -> None:
    # Two cars creep east at 1.5 m/s, 2.5 m between bumpers, for 20 s; their ground points jitter by 0.1 m.
    # The paths are smoothed over 1 s by default: no conflict. On the raw points (smooth_s 0) the jitter
    # reads as speeds swinging by metres a second, and the queue as a near miss.
    queue = [
        Jittering(8, CAR, 40.0, 30.0, 1.5, 0.0, t1=20.0),
        Jittering(9, CAR, 32.5, 30.0, 1.5, 0.0, t1=20.0),
    ]
    (smoothed,) = run(queue, seconds=20.0)
    assert smoothed.conflicts == [] and smoothed.road_users == {"car": 2}
    (raw,) = run(queue, seconds=20.0, smooth_s=0.0)
    assert raw.conflicts and {c.classes for c in raw.conflicts} == {"car-car"}  # typed by jittering headings


@dataclass(frozen=True)
class Braking(Mover):
    """A mover at (``vx``, ``vy``) that brakes evenly at ``decel_ms2`` from ``brake_at_s`` to a stand."""

    decel_ms2: float = 2.0
    brake_at_s: float = 0.0

    def at(self, t: float) -> tuple[float, float] | None:
        if not self.t0 <= t <= self.t1:
            return None
        speed = float(np.hypot(self.vx, self.vy))
        since = min(max(t - self.brake_at_s, 0.0), speed / self.decel_ms2)
        along = speed * min(t, self.brake_at_s) + speed * since - self.decel_ms2 * since**2 / 2
        return self.x0 + along * self.vx / speed, self.y0 + along * self.vy / speed


def test_a_car_drawing_up_behind_a_standing_one_is_no_conflict_unless_every_approach_counts() -> None:
    # A car stands at x = 70 m in the zone; another enters at 10 m/s and brakes at 2 m/s² from x = 37.5 m to
    # stand 2.5 m behind it (front at 65 m): least TTC 1.6 s, a rear-end conflict by SSAM's and SSM's
    # definition, and what every car that stops behind a queue does. Braking comfortably, in time: not
    # counted. With comfortable_decel_ms2 = 0 it is, as SSAM counts it.
    standing = Mover(10, CAR, 70.0, 30.0, 0.0, 0.0, t1=15.0)
    drawing_up = Braking(11, CAR, 20.0, 30.0, 10.0, 0.0, t1=15.0, decel_ms2=2.0, brake_at_s=1.75)
    (event,) = run([standing, drawing_up], seconds=15.0)
    assert event.conflicts == [] and event.road_users == {"car": 2}
    (every,) = run([standing, drawing_up], seconds=15.0, comfortable_decel_ms2=0.0)
    assert [(c.type, c.severity, c.classes, c.count) for c in every.conflicts] == [
        ("rear_end", "moderate", "car-car", 1)
    ]
    # The same stop made late and hard (6 m/s² from x = 56.2 m, to stand 0.5 m behind) counts at the default.
    late = Braking(11, CAR, 20.0, 30.0, 10.0, 0.0, t1=15.0, decel_ms2=6.0, brake_at_s=3.62)
    (hard,) = run([standing, late], seconds=15.0)
    assert [(c.type, c.classes) for c in hard.conflicts] == [("rear_end", "car-car")]
    # And on a road running along y: a car that never moved has no heading of its own (it was taken to point
    # along x, and the car stopping hard behind it followed nothing).
    standing_y = Mover(10, CAR, 40.0, 70.0, 0.0, 0.0, t1=15.0)
    late_y = Braking(11, CAR, 40.0, 20.0, 0.0, 10.0, t1=15.0, decel_ms2=6.0, brake_at_s=3.62)
    (hard_y,) = run([standing_y, late_y], seconds=15.0)
    assert [(c.type, c.classes) for c in hard_y.conflicts] == [("rear_end", "car-car")]


def test_a_frames_ground_points_are_projected_once_for_speeds_incident_rules_and_conflicts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The speed meter, the incident rules' track history and the conflict zone each hold a plane made from
    # the same [speed] calibration; each frame's boxes are put on the ground once for all three.
    projected: list[int] = []
    to_ground = GroundPlane.to_ground

    def counted(plane: GroundPlane, points: Any) -> Any:
        projected.append(len(np.asarray(points).reshape(-1, 2)))
        return to_ground(plane, points)

    config = camera().model_copy(
        update={
            "incidents": IncidentSettings.model_validate(
                {"queue": [{"zone": "junction", "head": [500, 800]}]}
            )
        }
    )
    engine = IncidentEngine(config)
    publisher = MemoryPublisher()
    analytics = CameraAnalytics(config, publisher, incident_detectors=[engine])
    monkeypatch.setattr(GroundPlane, "to_ground", counted)
    movers = [LEADER, FOLLOWER, PERSON_NORTH]
    for i in range(3 * FPS):
        projected.clear()
        analytics.update(frame(movers, i / FPS), i / FPS)
        assert projected == [3], f"frame {i}: projected {projected}"
    # The shared points are each box's own: the follower's speed, and the rules' ground positions.
    assert analytics.speed is not None
    assert analytics.speed.speed_kmh(FOLLOWER.track_id) == pytest.approx(12 * 3.6, rel=1e-6)
    last = frame(movers, (3 * FPS - 1) / FPS)
    assert config.speed is not None
    expected = GroundPlane.from_config(config.speed).to_ground(last.bottom_centre)
    np.testing.assert_allclose(engine.tracks.ground, expected, atol=1e-9)
