"""Motion gating: where a frame moved, and the windows searched there (unit tests on synthetic frames; the
gated pipeline is in test_pipeline.py)."""

from __future__ import annotations

import numpy as np
import pytest

from citytally.arrays import Image
from citytally.edge.motion import MotionGate, fewer_calls, grow_windows, search_windows

HEIGHT, WIDTH = 240, 320
Window = tuple[int, int, int, int]


def _moved(gate: MotionGate, image: Image) -> bool:
    """Frame-level use of the gate: did anything move; if so, the whole frame is searched."""
    if not gate.regions(image):
        return False
    gate.detected((0, 0, image.shape[1], image.shape[0]))
    return True


def test_motion_gate_passes_movement_and_holds_still_frames() -> None:
    gate = MotionGate()
    still = np.full((HEIGHT, WIDTH, 3), 100, np.uint8)
    moved = still.copy()
    moved[100:140, 100:120] = 250
    noisy = (still.astype(np.int16) + np.random.default_rng(3).integers(-3, 4, still.shape)).astype(np.uint8)
    assert _moved(gate, still) is True, "the first frame is always detected"
    assert _moved(gate, still) is False
    assert _moved(gate, noisy) is False, "sensor noise is not movement"
    assert _moved(gate, moved) is True
    assert _moved(gate, moved) is False


def test_motion_gate_finds_each_moving_patch() -> None:
    gate = MotionGate()
    still = np.full((480, 640, 3), 100, np.uint8)
    assert gate.regions(still) == [(0, 0, 640, 480)], "the first frame is searched whole"
    gate.detected((0, 0, 640, 480))
    assert gate.regions(still) == []
    moved = still.copy()
    moved[50:130, 40:70] = 250  # someone top left
    moved[300:380, 500:530] = 20  # someone bottom right
    windows = gate.regions(moved)
    assert len(windows) == 2
    for x1, y1, x2, y2 in [(40, 50, 70, 130), (500, 300, 530, 380)]:
        assert any(w[0] <= x1 and w[1] <= y1 and w[2] >= x2 and w[3] >= y2 for w in windows)
    assert sum((w[2] - w[0]) * (w[3] - w[1]) for w in windows) < 0.2 * 640 * 480
    gate.detected(windows[0])
    assert len(gate.regions(moved)) == 1, "a patch stays moved until it is searched"


def test_grown_windows_hold_every_box_they_touch_and_do_not_overlap() -> None:
    boxes = np.array([[90, 10, 130, 90], [300, 300, 340, 380]], np.float32)
    grown = grow_windows([(20, 20, 100, 60), (120, 40, 200, 80), (500, 400, 520, 420)], boxes, 4, 640, 480)
    assert len(grown) == 2, "the first two windows both touch the first box: one window"
    (a, b) = sorted(grown)
    assert a[0] <= 16 and a[1] <= 6 and a[2] >= 204 and a[3] >= 94
    assert b == (496, 396, 524, 424), "the far window touches no box and only gets its margin"
    assert grow_windows([(0, 0, 10, 10)], boxes[:0], 50, 640, 480) == [(0, 0, 60, 60)], "clipped to the frame"


def test_windows_are_merged_only_where_one_call_is_cheaper() -> None:
    area = 1000 * 1000
    near = [(0, 0, 100, 100), (120, 0, 220, 100)]  # the union adds 2,000 px: far less than a call
    far = [(0, 0, 100, 100), (800, 800, 900, 900)]  # the union adds 790,000 px: more than a call
    assert fewer_calls(near, area, 0.15) == [(0, 0, 220, 100)]
    assert sorted(fewer_calls(far, area, 0.15)) == far
    assert sorted(fewer_calls(far, area, 0.9)) == [(0, 0, 900, 900)], "dear calls: one search"
    assert fewer_calls(far[:1], area, 0.15) == far[:1]


@pytest.mark.parametrize(
    ("moved", "boxes", "expected"),
    [
        # a small patch far from any box: searched alone, with its margin
        ([(100, 100, 120, 140)], [], [(84, 84, 136, 156)]),
        # a patch touching a box: grown to hold the box whole
        ([(100, 100, 120, 140)], [[110, 90, 180, 150]], [(84, 74, 196, 166)]),
        # two patches covering most of the frame: one whole-frame search costs less than two calls
        ([(16, 16, 284, 464), (356, 16, 624, 464)], [], [(0, 0, 640, 480)]),
    ],
)
def test_search_windows_hold_the_movement_and_whole_boxes(
    moved: list[Window], boxes: list[list[float]], expected: list[Window]
) -> None:
    found = search_windows(moved, np.array(boxes, np.float32).reshape(-1, 4), 640, 480)
    assert found == expected
