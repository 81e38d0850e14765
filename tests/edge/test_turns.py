"""Turning movements: first (entry) zone → next different (exit) zone, once per road user, by class."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pytest

from citytally.edge.analytics.turns import TurningCounter
from citytally.edge.config import TurningConfig, ZoneConfig
from citytally.edge.detections import Detections
from citytally.errors import ConfigError

PERSON, CAR = 0, 2


def box(name: str, x0: float, y0: float) -> ZoneConfig:
    return ZoneConfig(name=name, polygon=[(x0, y0), (x0 + 100, y0), (x0 + 100, y0 + 100), (x0, y0 + 100)])


# A crossroads: arms north (top), south (bottom), west (left), east (right) around a centre at 200..300.
ZONES = [box("north", 200, 100), box("south", 200, 400), box("west", 100, 200), box("east", 400, 200)]
ALL = TurningConfig(zones=["north", "south", "west", "east"], min_frames=2)


def tracked(*objects: tuple[int, float, float, int]) -> Detections:
    """One frame: (track id, ground x, ground y, class) → boxes whose bottom centre is that point."""
    if not objects:
        return Detections.empty()
    arr = np.array(objects, dtype=np.float64)
    x, y = arr[:, 1], arr[:, 2]
    xyxy = np.stack([x - 10, y - 40, x + 10, y], axis=1).astype(np.float32)
    return Detections(
        xyxy, np.full(len(arr), 0.9, np.float32), arr[:, 3].astype(np.int64), arr[:, 0].astype(np.int64)
    )


def walk(*waypoints: tuple[float, float], steps: int = 10) -> list[tuple[float, float]]:
    path: list[tuple[float, float]] = []
    for (x0, y0), (x1, y1) in zip(waypoints, waypoints[1:], strict=False):
        path += [(x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps) for k in range(steps)]
    return [*path, waypoints[-1]]


Point = tuple[float, float]
NORTH: Point = (250, 150)
SOUTH: Point = (250, 450)
WEST: Point = (150, 250)
EAST: Point = (450, 250)
CENTRE: Point = (250, 250)


def movements(
    paths: Sequence[tuple[list[tuple[float, float]], int]], config: TurningConfig = ALL
) -> Counter[tuple[str, str, int]]:
    counter = TurningCounter(config, ZONES)
    found: Counter[tuple[str, str, int]] = Counter()
    for i in range(max(len(p) for p, _ in paths)):
        frame = tracked(*[(k + 1, *p[i], cls) for k, (p, cls) in enumerate(paths) if i < len(p)])
        for turn in counter.update(frame, i / 10):
            found[(turn.from_zone, turn.to_zone, turn.class_id)] += 1
    return found


@pytest.mark.parametrize(
    ("waypoints", "expected"),
    [
        pytest.param([NORTH, CENTRE, SOUTH], {("north", "south", CAR): 1}, id="straight-on"),
        pytest.param([WEST, CENTRE, NORTH], {("west", "north", CAR): 1}, id="left-turn"),
        pytest.param([EAST, CENTRE, EAST], {}, id="u-turn-back-to-start"),
        pytest.param([NORTH, CENTRE], {}, id="never-reaches-exit"),
        pytest.param([CENTRE, SOUTH], {}, id="appears-in-the-middle"),
        pytest.param(
            [NORTH, CENTRE, WEST, CENTRE, SOUTH], {("north", "west", CAR): 1}, id="only-first-movement"
        ),
    ],
)
def test_movements(waypoints: list[tuple[float, float]], expected: dict[tuple[str, str, int], int]) -> None:
    assert movements([(walk(*waypoints), CAR)]) == expected


def test_by_class_and_several_road_users() -> None:
    found = movements(
        [
            (walk(NORTH, CENTRE, SOUTH), CAR),
            (walk(NORTH, CENTRE, SOUTH), CAR),
            (walk(NORTH, CENTRE, SOUTH), PERSON),
            (walk(EAST, CENTRE, WEST), PERSON),
        ]
    )
    assert found == {("north", "south", CAR): 2, ("north", "south", PERSON): 1, ("east", "west", PERSON): 1}


def test_one_frame_in_a_zone_is_not_a_visit() -> None:
    # It starts in the west arm, grazes the north arm for one frame, then ends in the east arm.
    path = [WEST] * 3 + [CENTRE] * 3 + [NORTH] + [CENTRE] * 3 + [EAST] * 3
    assert movements([(path, CAR)]) == {("west", "east", CAR): 1}


def test_entry_and_exit_zones() -> None:
    config = TurningConfig(entry_zones=["north"], exit_zones=["south", "east"], min_frames=2)
    found = movements(
        [
            (walk(NORTH, CENTRE, SOUTH), CAR),
            (walk(SOUTH, CENTRE, NORTH), CAR),  # south is no entry, north no exit
            (walk(WEST, CENTRE, EAST), CAR),  # west is no entry
            (walk(NORTH, CENTRE, WEST, CENTRE, EAST), CAR),  # west is no exit: goes on to east
        ],
        config,
    )
    assert found == {("north", "south", CAR): 1, ("north", "east", CAR): 1}


def test_unknown_zone_refused() -> None:
    with pytest.raises(ConfigError, match="centre"):
        TurningCounter(TurningConfig(zones=["north", "centre"]), ZONES)
