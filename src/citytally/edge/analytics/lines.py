"""Count lines: each crossing of a segment by a tracked road user's ground point, once, by direction.

A track has an *established side* of the directed segment p1→p2 once its ground point (bottom centre of its
box) is at least a margin from the line: ``margin_px``, or ``margin_ratio`` times its box height if that is
more, so the band scales with how big (near) the road user is and so with how much its box jitters. A
crossing is counted when the track has been on the other side, beyond the margin, for ``min_frames``
observations without coming back to its established side, and the step from its last position on the old
side to its first position on the new one passes through the segment itself (crossing the infinite line
beyond either end does not count). Points within the margin move nothing: a box jittering on the line is
counted once, a track that touches the line and turns back is not counted, and a track that later crosses
back is counted again in the other direction.

End of stream: a crossing still in progress when the stream ends is closed by :meth:`LineCounter.finish`. A
track counts then if its *last* observation was beyond the band on the side opposite its established side
(seen there fewer than ``min_frames`` times, none of them back on the old side or in the band since) and the
step passes through the segment, as above. A track that was last seen inside the band is undecided (it may be
turning back) and is not counted; a crossing already counted reset the track's state, so nothing is counted
twice. Only the end of the stream closes crossings this way: a track the tracker loses mid-stream may be
recovered, and is forgotten without a count as before.

Directions: ``directions[0]`` is a crossing from the left of p1→p2 to its right (as displayed, y down),
``directions[1]`` from right to left.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from citytally.edge.analytics.tracks import TrackStates
from citytally.edge.config import LineConfig
from citytally.edge.detections import Detections
from citytally.edge.geometry import Point, segment_parameter, signed_distance

__all__ = ["Crossing", "LineCounter"]


@dataclass(frozen=True)
class Crossing:
    """One road user crossing one line. ``track_id`` stays on the edge; events only carry counts."""

    line: str
    direction: str
    class_id: int
    track_id: int
    timestamp: float


@dataclass
class _Side:
    side: int = 0  # -1 left, +1 right, 0 not yet established
    last_on_side: Point | None = None
    far_frames: int = 0
    first_far: Point | None = None
    last_zone: int = 0  # where the last observation was: -1 / +1 beyond the band on that side, 0 in it
    class_id: int = 0


class LineCounter:
    """Counts crossings of one line. ``update`` returns this frame's crossings."""

    def __init__(self, config: LineConfig, forget_after_s: float = 5.0) -> None:
        self.config = config
        self._p1: Point = (float(config.p1[0]), float(config.p1[1]))
        self._p2: Point = (float(config.p2[0]), float(config.p2[1]))
        self._tracks: TrackStates[_Side] = TrackStates(_Side, forget_after_s)

    @property
    def name(self) -> str:
        return self.config.name

    def update(self, tracked: Detections, timestamp: float) -> list[Crossing]:
        self._tracks.expire(timestamp)
        anchors = tracked.bottom_centre.astype(np.float64)
        distances = signed_distance(self._p1, self._p2, anchors)
        heights = (tracked.xyxy[:, 3] - tracked.xyxy[:, 1]).astype(np.float64)
        margins = np.maximum(self.config.margin_px, self.config.margin_ratio * heights)
        crossings: list[Crossing] = []
        for i in range(len(tracked)):
            state = self._tracks.get(int(tracked.track_id[i]), timestamp)
            state.class_id = int(tracked.class_id[i])
            point: Point = (float(anchors[i, 0]), float(anchors[i, 1]))
            direction = self._observe(state, point, float(distances[i]), float(margins[i]))
            if direction is not None:
                crossings.append(
                    Crossing(
                        self.name, direction, int(tracked.class_id[i]), int(tracked.track_id[i]), timestamp
                    )
                )
        return crossings

    def _observe(self, state: _Side, point: Point, distance: float, margin: float) -> str | None:
        side_now = -1 if distance <= -margin else (1 if distance >= margin else 0)
        state.last_zone = side_now
        if side_now == 0:
            return None  # inside the hysteresis band: evidence for neither side
        if state.side == 0 or side_now == state.side:
            state.side, state.last_on_side = side_now, point
            state.far_frames, state.first_far = 0, None
            return None
        state.far_frames += 1
        if state.first_far is None:
            state.first_far = point
        if state.far_frames < self.config.min_frames:
            return None
        came_from, step_start, step_end = state.side, state.last_on_side, state.first_far
        state.side, state.last_on_side = side_now, point
        state.far_frames, state.first_far = 0, None
        if step_start is None or not self._within_segment(step_start, step_end):
            return None  # it crossed the infinite line beyond the segment: a side change, not a count
        return self.config.directions[0] if came_from < 0 else self.config.directions[1]

    def finish(self) -> list[Crossing]:
        """End of stream: close the crossings in progress (see the module's rule); forget every track."""
        crossings = []
        for track_id, state, last_seen in self._tracks.drain():
            in_progress = state.side != 0 and state.far_frames > 0 and state.last_zone == -state.side
            if not in_progress or state.last_on_side is None or state.first_far is None:
                continue
            if self._within_segment(state.last_on_side, state.first_far):
                direction = self.config.directions[0] if state.side < 0 else self.config.directions[1]
                crossings.append(Crossing(self.name, direction, state.class_id, track_id, last_seen))
        return crossings

    def _within_segment(self, a: Point, b: Point) -> bool:
        where = segment_parameter(self._p1, self._p2, a, b)
        return where is not None and 0.0 <= where <= 1.0
