"""Riders and their two-wheelers are one road user for every counter; a pedestrian with a bicycle is not.

Scenes are tracked boxes frame by frame (what the tracker hands on), run through the real
:class:`CameraAnalytics` with a count line, so the tests check what is counted, not the merger's insides.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from citytally.edge.analytics.intervals import CameraAnalytics
from citytally.edge.analytics.riders import RiderMerger, RiderRule, rides
from citytally.edge.config import CameraConfig
from citytally.edge.detections import Detections
from citytally.transport.publisher import MemoryPublisher

PERSON, BICYCLE, CAR, MOTORCYCLE = 0, 1, 2, 3
FPS = 10

Box = tuple[float, float, float, float]
Part = tuple[int, Box, int]  # track id, box, class
Scene = Callable[[int], list[Part]]


def camera() -> CameraConfig:
    """A horizontal count line at y = 300 across the image, drawn left to right: moving down is "south"."""
    body: dict[str, Any] = {
        "site": "street",
        "camera": "cam-1",
        "interval_seconds": 60,
        "start_time": datetime(2026, 11, 23, 8, 0, tzinfo=UTC),
        "source": {"uri": "video.mp4"},
        "lines": [{"name": "main", "p1": [0, 300], "p2": [1000, 300], "directions": ["south", "north"]}],
        "zones": [{"name": "street", "polygon": [[0, 250], [1000, 250], [1000, 350], [0, 350]]}],
    }
    return CameraConfig.model_validate(body)


def bicycle_at(cx: float, bottom: float, w: float = 80, h: float = 60) -> Box:
    return (cx - w / 2, bottom - h, cx + w / 2, bottom)


def rider_on(cx: float, bottom: float, bike_h: float = 60) -> Box:
    """A seated rider: feet on the pedals a quarter of the bicycle's height above the ground."""
    feet = bottom - 0.25 * bike_h
    return (cx - 20, feet - 90, cx + 20, feet)


def walker_at(cx: float, bottom: float) -> Box:
    return (cx - 20, bottom - 110, cx + 20, bottom)


def down(start_y: float, step: float = 10, first: int = 0, last: int = 40) -> Callable[[int], float | None]:
    """The ground y of something moving down the image, or None outside frames first..last."""
    return lambda f: start_y + step * (f - first) if first <= f <= last else None


def cyclist(person_id: int, bike_id: int, x: float = 500, cls: int = BICYCLE) -> Scene:
    y = down(100)

    def at(f: int) -> list[Part]:
        if (g := y(f)) is None:
            return []
        return [(person_id, rider_on(x, g), PERSON), (bike_id, bicycle_at(x, g), cls)]

    return at


def play(*scenes: Scene, frames: int = 45) -> dict[str, int]:
    """Run the scenes through a camera's analytics; return the crossings of the line by class."""
    analytics = CameraAnalytics(camera(), MemoryPublisher())
    for f in range(frames):
        parts = [part for scene in scenes for part in scene(f)]
        if parts:
            boxes = np.array([p[1] for p in parts], np.float32)
            scores = np.full(len(parts), 0.8, np.float32)
            tracked = Detections(
                boxes, scores, np.array([p[2] for p in parts]), np.array([p[0] for p in parts])
            )
        else:
            tracked = Detections.empty()
        analytics.update(tracked, f / FPS)
    totals = analytics.finish()
    return {cls: n for by_class in totals.lines["main"].values() for cls, n in by_class.items()}


def test_a_cyclist_is_counted_once_as_a_bicycle() -> None:
    assert play(cyclist(1, 2)) == {"bicycle": 1}


def test_a_motorcyclist_is_counted_once_as_a_motorcycle() -> None:
    assert play(cyclist(1, 2, cls=MOTORCYCLE)) == {"motorcycle": 1}


def test_without_the_merger_a_cyclist_would_count_twice() -> None:
    """The scene is a real double count for a counter that takes boxes as road users."""
    analytics = CameraAnalytics(camera(), MemoryPublisher())
    analytics.riders = RiderMerger(RiderRule(min_frames=10_000))  # joins nothing
    counted = 0
    scene = cyclist(1, 2)
    for f in range(45):
        parts = scene(f)
        if not parts:
            continue
        boxes = np.array([p[1] for p in parts], np.float32)
        tracked = Detections(
            boxes, np.full(2, 0.8, np.float32), np.array([p[2] for p in parts]), np.array([1, 2])
        )
        counted += len(analytics.update(tracked, f / FPS).crossings)
    assert counted == 2


def test_two_cyclists_side_by_side_are_two_bicycles() -> None:
    assert play(cyclist(1, 2, x=400), cyclist(3, 4, x=600)) == {"bicycle": 2}


def test_pedestrian_walking_a_bicycle_beside_it_stays_a_pedestrian() -> None:
    y = down(100)

    def beside(f: int) -> list[Part]:
        if (g := y(f)) is None:
            return []
        # Feet on the ground level with the wheels, a step to the side, a hand on the handlebar.
        return [(1, walker_at(560, g), PERSON), (2, bicycle_at(500, g), BICYCLE)]

    def behind(f: int) -> list[Part]:
        if (g := y(f)) is None:
            return []
        # Right behind it as the camera sees it: the boxes overlap, but the feet are on the ground too.
        return [(3, walker_at(300, g + 2), PERSON), (4, bicycle_at(300, g), BICYCLE)]

    assert play(beside) == {"person": 1, "bicycle": 1}
    assert play(behind) == {"person": 1, "bicycle": 1}


def test_pedestrian_passing_a_parked_bicycle_is_one_pedestrian() -> None:
    """Walking down past a bicycle parked just beyond the line: for a few frames the person's feet appear
    above the wheels (the person is farther away), but the two do not move together. The person is counted
    once; the parked bicycle never crosses."""
    y = down(100)

    def scene(f: int) -> list[Part]:
        parts: list[Part] = [(2, bicycle_at(500, 340), BICYCLE)]
        if (g := y(f)) is not None:
            parts.append((1, walker_at(500, g), PERSON))
        return parts

    assert play(scene) == {"person": 1}


def test_cyclist_whose_bicycle_is_missed_near_the_line_is_still_one_bicycle() -> None:
    y = down(100)

    def scene(f: int) -> list[Part]:
        if (g := y(f)) is None:
            return []
        parts: list[Part] = [(1, rider_on(500, g), PERSON)]
        if not 16 <= f <= 24:  # the bicycle is not detected while the cyclist crosses (y 260..340)
            parts.append((2, bicycle_at(500, g), BICYCLE))
        return parts

    assert play(scene) == {"bicycle": 1}


def test_cyclist_whose_bicycle_gets_a_new_track_keeps_one_road_user() -> None:
    y = down(100)

    def scene(f: int) -> list[Part]:
        if (g := y(f)) is None:
            return []
        bike_id = 2 if f < 19 else 5  # the tracker lost the bicycle and started a new track at the line
        return [(1, rider_on(500, g), PERSON), (bike_id, bicycle_at(500, g), BICYCLE)]

    assert play(scene) == {"bicycle": 1}


def test_motorcycle_with_a_passenger_is_one_motorcycle() -> None:
    y = down(100)

    def scene(f: int) -> list[Part]:
        if (g := y(f)) is None:
            return []
        driver, passenger = rider_on(490, g), rider_on(520, g)
        return [(1, driver, PERSON), (3, passenger, PERSON), (2, bicycle_at(500, g, w=110), MOTORCYCLE)]

    assert play(scene) == {"motorcycle": 1}


def test_end_on_cyclist_is_one_bicycle_and_a_walker_beside_it_is_not() -> None:
    """Seen from behind, a cyclist's legs reach down to the pedals at the wheels' level (the 1906 Market
    Street clip in tests/data shows it); someone walking a bicycle seen so walks beside it."""
    y = down(100)

    def riding(f: int) -> list[Part]:
        if (g := y(f)) is None:
            return []
        return [(1, (480, g - 150, 520, g), PERSON), (2, bicycle_at(500, g, w=30, h=70), BICYCLE)]

    def walking(f: int) -> list[Part]:
        if (g := y(f)) is None:
            return []
        return [(1, (520, g - 150, 560, g), PERSON), (2, bicycle_at(500, g, w=30, h=70), BICYCLE)]

    assert play(riding) == {"bicycle": 1}
    assert play(walking) == {"person": 1, "bicycle": 1}


def test_rider_who_gets_off_and_walks_is_a_pedestrian_again() -> None:
    """Joined while riding down the image, the cyclist gets off before the line and walks the bicycle
    beside it across: the bicycle is counted, and so is the person, now a pedestrian."""
    y = down(100)

    def scene(f: int) -> list[Part]:
        if (g := y(f)) is None:
            return []
        person = rider_on(500, g) if f < 10 else walker_at(560, g)
        return [(1, person, PERSON), (2, bicycle_at(500, g), BICYCLE)]

    assert play(scene) == {"bicycle": 1, "person": 1}


def test_a_pedestrian_given_the_riders_track_id_is_released() -> None:
    """The tracker swaps the rider's id onto a pedestrian walking by (crowds do that): the pedestrian is
    soon seen off the bicycle, released, and counted; the cyclist is still one bicycle."""
    y = down(100)
    walker = down(100)

    def scene(f: int) -> list[Part]:
        if (g := y(f)) is None:
            return []
        # Frames 0-11: rider 1 on bicycle 2, pedestrian 3 at x 200. From 12 the ids of 1 and 3 are swapped.
        rider_id, walker_id = (1, 3) if f < 12 else (3, 1)
        w = walker(f)
        assert w is not None
        return [
            (rider_id, rider_on(500, g), PERSON),
            (2, bicycle_at(500, g), BICYCLE),
            (walker_id, walker_at(200, w), PERSON),
        ]

    assert play(scene) == {"bicycle": 1, "person": 1}


def test_bicycle_first_detected_on_the_line_under_its_rider_is_counted() -> None:
    """The rider is tracked from afar, the bicycle only once it is on the line (as in the Market Street
    clip): the road user goes on under the rider's id, whose side the counter knows, and is one bicycle."""
    y = down(100)

    def scene(f: int) -> list[Part]:
        if (g := y(f)) is None:
            return []
        parts: list[Part] = [(1, rider_on(500, g), PERSON)]
        if f >= 20:  # y 300: on the line
            parts.append((2, bicycle_at(500, g), BICYCLE))
        return parts

    assert play(scene) == {"bicycle": 1}


def test_a_released_rider_whose_id_the_road_user_kept_is_counted_under_another() -> None:
    """The road user goes on under the rider's id (tracked first); then the tracker moves that id onto a
    pedestrian walking up the image elsewhere. The pedestrian is released at once and must not share the
    road user's id: each is counted, in its own direction."""
    y = down(100)
    walker = down(500, step=-10)

    def scene(f: int) -> list[Part]:
        if (g := y(f)) is None:
            return []
        rider_id, walker_id = (1, 3) if f < 12 else (3, 1)
        parts: list[Part] = [(rider_id, rider_on(500, g), PERSON)]
        if f >= 3:
            parts.append((2, bicycle_at(500, g), BICYCLE))
        w = walker(f)
        assert w is not None
        parts.append((walker_id, walker_at(200, w), PERSON))
        return parts

    merger = RiderMerger()
    for f in range(41):
        parts = scene(f)
        tracked = Detections(
            np.array([p[1] for p in parts], np.float32),
            np.full(len(parts), 0.8, np.float32),
            np.array([p[2] for p in parts]),
            np.array([p[0] for p in parts]),
        )
        out = merger.update(tracked, f / FPS)
        assert len(set(out.track_id.tolist())) == len(out), f"frame {f}: two road users under one id"
    assert play(scene) == {"bicycle": 1, "person": 1}


def test_a_rider_judged_after_someone_else_under_its_id_is_joined_before_the_line() -> None:
    """The person is tracked alone from afar; when the bicycle is first seen, the person's id is for a few
    frames on someone standing at the bicycle's back, then on the real rider (a tracker swap), who keeps
    its place. The jump starts the judging afresh, so the rider is joined before the line and the cyclist
    is one bicycle, not also a pedestrian released at the end of a judging started before the swap."""
    y = down(200)

    def scene(f: int) -> list[Part]:
        if (g := y(f)) is None:
            return []
        x1, top, x2, bottom = rider_on(500, g)
        shift = 30 if 3 <= f < 6 else 0
        parts: list[Part] = [(1, (x1 + shift, top, x2 + shift, bottom), PERSON)]
        if f >= 3:
            parts.append((2, bicycle_at(500, g), BICYCLE))
        return parts

    assert play(scene) == {"bicycle": 1}


def test_the_joined_road_user_keeps_the_two_wheelers_id_and_both_boxes() -> None:
    merger = RiderMerger()
    scene = cyclist(7, 8)
    out = Detections.empty()
    for f in range(12):
        parts = scene(f)
        boxes = np.array([p[1] for p in parts], np.float32)
        tracked = Detections(
            boxes, np.array([0.9, 0.6], np.float32), np.array([PERSON, BICYCLE]), np.array([7, 8])
        )
        out = merger.update(tracked, f / FPS)
    assert out.track_id.tolist() == [8] and out.class_id.tolist() == [BICYCLE]
    assert out.scores.tolist() == [pytest.approx(0.9)]
    rider, bike = rider_on(500, 210), bicycle_at(500, 210)
    assert out.xyxy[0].tolist() == pytest.approx([bike[0], rider[1], bike[2], bike[3]])


@pytest.mark.parametrize(
    ("person", "vehicle", "expected"),
    [
        (rider_on(500, 300), bicycle_at(500, 300), True),  # seated on it
        (rider_on(530, 300), bicycle_at(500, 300), True),  # leaning: still half over it
        (walker_at(500, 300), bicycle_at(500, 300), False),  # feet level with the wheels
        (walker_at(560, 300), bicycle_at(500, 300), False),  # beside it
        (walker_at(500, 230), bicycle_at(500, 300), False),  # far behind it: feet above its top
        ((480, 270, 520, 290), bicycle_at(500, 300), False),  # a small box inside it, not sitting up
        ((480, 150, 520, 300), bicycle_at(500, 300, w=30, h=70), True),  # end-on: legs down to the pedals
        ((515, 150, 555, 300), bicycle_at(500, 300, w=30, h=70), False),  # end-on, walking beside it
    ],
)
def test_rides(person: Box, vehicle: Box, expected: bool) -> None:
    assert rides(person, vehicle) is expected
