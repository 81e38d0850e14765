"""Zones: per-frame occupancy by class, and each road user's dwell time reported once when it leaves."""

from __future__ import annotations

import numpy as np
import pytest

from citytally.edge.analytics.zones import Dwell, ZoneMonitor
from citytally.edge.config import ZoneConfig
from citytally.edge.detections import Detections
from citytally.edge.geometry import points_in_polygon, polygon_self_intersects

PERSON, CAR = 0, 2
SQUARE = ZoneConfig(name="square", polygon=[(100, 100), (300, 100), (300, 300), (100, 300)])


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


def test_occupancy_counts_by_class() -> None:
    zone = ZoneMonitor(SQUARE)
    result = zone.update(
        tracked((1, 150, 150, PERSON), (2, 200, 200, PERSON), (3, 250, 250, CAR), (4, 400, 200, CAR)), 0.0
    )
    assert result.present[PERSON] == 2
    assert result.present[CAR] == 1
    assert result.present.sum() == 3
    assert zone.update(Detections.empty(), 0.1).present.sum() == 0


def test_dwell_reported_once_when_leaving() -> None:
    zone = ZoneMonitor(SQUARE, exit_frames=3)
    departures: list[Dwell] = []
    # Walks in at t=1.0, stays until t=4.0, then out for good.
    for i in range(80):
        t = i / 10
        x = 50 if t < 1.0 else (200 if t <= 4.0 else 400)
        departures += zone.update(tracked((5, x, 200, CAR)), t).departures
    assert len(departures) == 1
    assert departures[0].class_id == CAR
    assert departures[0].seconds == pytest.approx(3.0)


def test_jitter_on_the_edge_is_one_stay() -> None:
    zone = ZoneMonitor(SQUARE, exit_frames=3)
    departures: list[Dwell] = []
    xs = [150] * 5 + [299, 301, 299, 302, 298, 301, 299] + [150] * 5 + [400] * 5
    for i, x in enumerate(xs):
        departures += zone.update(tracked((5, x, 200, PERSON)), i / 10).departures
    assert len(departures) == 1
    assert departures[0].seconds == pytest.approx(1.6)


def test_vanished_track_leaves_after_the_forget_time_and_at_the_end() -> None:
    zone = ZoneMonitor(SQUARE, forget_after_s=1.0)
    zone.update(tracked((1, 150, 150, PERSON), (2, 200, 200, CAR)), 0.0)
    zone.update(tracked((1, 150, 150, PERSON), (2, 200, 200, CAR)), 0.8)
    assert zone.update(tracked((2, 200, 200, CAR)), 1.5).departures == []
    gone = zone.update(tracked((2, 200, 200, CAR)), 2.0).departures
    assert [d.class_id for d in gone] == [PERSON]
    assert gone[0].seconds == pytest.approx(0.8)
    remaining = zone.finish()
    assert [(d.class_id, d.seconds) for d in remaining] == [(CAR, 2.0)]
    assert zone.finish() == []


def test_points_in_concave_polygon() -> None:
    # An L shape: the notch (250, 150) is outside.
    ell = np.array([(100, 100), (200, 100), (200, 200), (300, 200), (300, 300), (100, 300)], np.float64)
    inside = points_in_polygon(ell, [(150, 150), (250, 150), (250, 250), (50, 50)])
    assert inside.tolist() == [True, False, True, False]


def test_a_frames_zone_membership_is_tested_once_and_cannot_be_changed_by_a_reader() -> None:
    # Every analyser of a frame (zone counts, turning, conflicts, incident rules) asks whether each road user
    # stands in a zone: the boxes answer once per polygon, the same answer to each; no reader may alter it.
    ell = np.array([(100, 100), (200, 100), (200, 200), (300, 200), (300, 300), (100, 300)], np.float64)
    frame = tracked((1, 150, 150, CAR), (2, 250, 150, CAR), (3, 250, 250, PERSON), (4, 50, 50, CAR))
    first = frame.in_polygon(ell)
    assert first.tolist() == [True, False, True, False]
    assert frame.in_polygon(ell.copy()) is first  # another analyser's copy of the same zone
    square = np.array(SQUARE.polygon, np.float64)
    assert frame.in_polygon(square).tolist() == [True, True, True, False]
    with pytest.raises(ValueError, match="read-only"):
        first[0] = False
    with pytest.raises(ValueError, match="read-only"):
        frame.bottom_centre[0, 0] = 0.0
    # A subset of the boxes is tested afresh.
    assert frame[np.array([3, 1])].in_polygon(ell).tolist() == [False, False]
    assert Detections.empty().in_polygon(ell).shape == (0,)


@pytest.mark.parametrize(
    ("polygon", "crosses"),
    [
        ([(0, 0), (10, 0), (10, 10), (0, 10)], False),
        ([(0, 0), (10, 10), (10, 0), (0, 10)], True),
        ([(0, 0), (10, 0), (5, 5), (10, 10), (0, 10)], False),
        ([(0, 0), (10, 0), (5, 0), (5, 10)], True),
    ],
)
def test_polygon_self_intersection(polygon: list[tuple[float, float]], crosses: bool) -> None:
    assert polygon_self_intersects(polygon) is crosses
