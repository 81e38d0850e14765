"""Motion gating: search only the parts of a frame that moved since they were last searched.

:class:`MotionGate` finds the patches of a frame that changed; :func:`search_windows` turns them into the
windows a :class:`~citytally.edge.detector.WindowDetector` searches (each grown until it holds whole every
box it touches, merged while one call costs less than two), or the whole frame when that is cheaper. The
pipeline (:mod:`citytally.edge.pipeline`) decides which frames are gated and keeps the boxes that hold
where nothing moved.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from citytally.arrays import Float32Array, Image
from citytally.edge.detector import Window

__all__ = [
    "GATE_CALL_COST",
    "GATE_MARGIN_PX",
    "GATE_WHOLE_FRAME_EVERY_S",
    "MotionGate",
    "fewer_calls",
    "grow_windows",
    "search_windows",
]

#: A window this much wider than the movement (pixels); the whole frame at least this often (seconds), so
#: that nothing held from an earlier frame stands for long unchecked; and what one detector call costs
#: besides the pixels it searches, as a share of the whole frame's pixels (NanoDet on CPU: 3-4 ms a call
#: against 21-31 ms for a 416x320 input; bench/detector_window_cost.py). Windows are merged, or the whole
#: frame searched, when that costs less.
GATE_MARGIN_PX = 16
GATE_WHOLE_FRAME_EVERY_S = 2.0
GATE_CALL_COST = 0.15


class MotionGate:
    """Finds where a frame changed since those pixels were last sent to the detector.

    Frame differencing on a small grey copy (``width`` pixels wide): a pixel changed when it differs by
    more than ``pixel_delta`` grey levels from the reference. The reference holds, pixel by pixel, the
    frame in which that pixel was last detected (not simply the previous frame), so slow movement cannot
    slip through one small step at a time. A frame is still when fewer than ``min_changed`` of its pixels
    changed. Otherwise the changed pixels are counted in square cells of ``cell`` small pixels; a cell
    moved when at least ``min_cell`` of its pixels changed (scattered sensor noise does not). Each patch of
    moved cells, one cell wider on every side, is a window, in source-frame pixels.
    """

    def __init__(
        self,
        width: int = 160,
        pixel_delta: int = 18,
        min_changed: float = 0.0015,
        cell: int = 8,
        min_cell: int = 3,
    ) -> None:
        self.width = width
        self.pixel_delta = pixel_delta
        self.min_changed = min_changed
        self.cell = cell
        self.min_cell = min_cell
        self._reference: Image | None = None
        self._small_now: Image | None = None
        self._factor = 1.0

    def _small(self, image: Image) -> Image:
        # Every k-th pixel, k the whole step nearest to ``width`` pixels across, then a blur against noise:
        # 0.3 ms a 768x576 frame where an area-averaging resize took 1.5.
        step = max(1, round(image.shape[1] / self.width))
        self._factor = float(step)
        grey = cv2.cvtColor(image[::step, ::step], cv2.COLOR_BGR2GRAY)
        return cv2.GaussianBlur(grey, (3, 3), 0)  # type: ignore[return-value]

    def regions(self, image: Image) -> list[Window]:
        """Where ``image`` moved: one window per patch of movement (the whole frame at first); none if
        nothing moved. Call :meth:`detected` with each window that is then actually sent to the detector.
        """
        small = self._small_now = self._small(image)
        height, width = image.shape[:2]
        if self._reference is None or self._reference.shape != small.shape:
            self._reference = np.zeros_like(small)
            return [(0, 0, width, height)]
        changed = cv2.absdiff(small, self._reference) > self.pixel_delta
        if float(changed.mean()) < self.min_changed:
            return []
        rows, cols = -(-changed.shape[0] // self.cell), -(-changed.shape[1] // self.cell)
        padded = np.zeros((rows * self.cell, cols * self.cell), np.uint8)
        padded[: changed.shape[0], : changed.shape[1]] = changed
        per_cell = padded.reshape(rows, self.cell, cols, self.cell).sum(axis=(1, 3))
        moved = (per_cell >= self.min_cell).astype(np.uint8)
        # One cell of margin around each moved cell; touching patches become one.
        moved = cv2.dilate(moved, np.ones((3, 3), np.uint8))
        count, _, stats, _ = cv2.connectedComponentsWithStats(moved, connectivity=8)
        step = self.cell * self._factor
        windows = []
        for left, top, w, h, _area in stats[1:count]:
            windows.append(
                (
                    max(0, int(left * step)),
                    max(0, int(top * step)),
                    min(width, int(np.ceil((left + w) * step))),
                    min(height, int(np.ceil((top + h) * step))),
                )
            )
        return windows

    def detected(self, window: Window) -> None:
        """The part of the last frame given to :meth:`regions` that was searched: its new reference."""
        if self._small_now is None or self._reference is None:
            return
        x1, y1, x2, y2 = (
            int(window[0] // self._factor),
            int(window[1] // self._factor),
            int(np.ceil(window[2] / self._factor)),
            int(np.ceil(window[3] / self._factor)),
        )
        self._reference[y1:y2, x1:x2] = self._small_now[y1:y2, x1:x2]


def grow_windows(
    windows: Sequence[Window], boxes: Float32Array, margin: int, width: int, height: int
) -> list[Window]:
    """``windows`` widened by ``margin``, then until every box they touch lies wholly inside one of them (a
    road user a window touches is searched whole, not cut at the window's edge), and windows that then
    overlap merged into one. The result covers the input and no two windows overlap."""
    grown = [(w[0] - margin, w[1] - margin, w[2] + margin, w[3] + margin) for w in windows]
    for _ in range(16):
        changed = False
        merged: list[tuple[int, int, int, int]] = []
        for x1, y1, x2, y2 in grown:
            touching = boxes[
                (boxes[:, 0] < x2) & (boxes[:, 2] > x1) & (boxes[:, 1] < y2) & (boxes[:, 3] > y1)
            ]
            if len(touching):
                wider = (
                    min(x1, int(touching[:, 0].min()) - margin),
                    min(y1, int(touching[:, 1].min()) - margin),
                    max(x2, int(np.ceil(touching[:, 2].max())) + margin),
                    max(y2, int(np.ceil(touching[:, 3].max())) + margin),
                )
                changed |= wider != (x1, y1, x2, y2)
                x1, y1, x2, y2 = wider
            for i, (a1, b1, a2, b2) in enumerate(merged):
                if x1 < a2 and a1 < x2 and y1 < b2 and b1 < y2:
                    merged[i] = (min(x1, a1), min(y1, b1), max(x2, a2), max(y2, b2))
                    changed = True
                    break
            else:
                merged.append((x1, y1, x2, y2))
        grown = merged
        if not changed:
            break
    return [(max(0, x1), max(0, y1), min(width, x2), min(height, y2)) for x1, y1, x2, y2 in grown]


def fewer_calls(windows: list[Window], frame_area: int, call_cost: float) -> list[Window]:
    """Merge windows while searching their union once is cheaper than searching them apart, a detector
    call costing ``call_cost`` of the frame's area on top of the area it searches."""

    def cost(w: Window) -> float:
        return call_cost + (w[2] - w[0]) * (w[3] - w[1]) / frame_area

    windows = list(windows)
    while len(windows) > 1:
        best: tuple[float, int, int, Window] | None = None
        for i in range(len(windows)):
            for j in range(i + 1, len(windows)):
                a, b = windows[i], windows[j]
                union = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                saving = cost(a) + cost(b) - cost(union)
                if saving > 0 and (best is None or saving > best[0]):
                    best = (saving, i, j, union)
        if best is None:
            break
        _, i, j, union = best
        windows = [w for k, w in enumerate(windows) if k not in (i, j)] + [union]
    return windows


def search_windows(
    moved: Sequence[Window],
    boxes: Float32Array,
    width: int,
    height: int,
    margin: int = GATE_MARGIN_PX,
    call_cost: float = GATE_CALL_COST,
) -> list[Window]:
    """Where to search a ``width`` × ``height`` frame whose ``moved`` patches the gate found, ``boxes``
    being the last frame's detections: the patches grown and merged (see :func:`grow_windows` and
    :func:`fewer_calls`), or the whole frame alone when searching it costs no more."""
    windows = grow_windows(moved, boxes, margin, width, height)
    windows = grow_windows(fewer_calls(windows, width * height, call_cost), boxes, 0, width, height)
    area = sum((w[2] - w[0]) * (w[3] - w[1]) for w in windows)
    if area + (len(windows) - 1) * call_cost * width * height >= width * height:
        return [(0, 0, width, height)]
    return windows
