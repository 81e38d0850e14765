"""Zones: how many road users of each class stand in a polygon each frame, and how long each one stays.

A road user is in the zone when its ground point (bottom centre of its box) is inside the polygon. Occupancy
is per frame. Dwell is per track: from the first frame it is seen inside to the last frame it is seen inside,
reported when it leaves. It has left after ``exit_frames`` observations outside in a row (so a box jittering
on the edge does not enter and leave many times), when the tracker has lost it for good, or when the stream
ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from citytally.edge.analytics.tracks import TrackStates
from citytally.edge.config import ZoneConfig
from citytally.edge.detections import Detections
from citytally.events import ROAD_USER_CLASSES

__all__ = ["Dwell", "ZoneFrame", "ZoneMonitor"]


@dataclass(frozen=True)
class Dwell:
    """One road user's stay in a zone."""

    zone: str
    class_id: int
    entered: float
    left: float

    @property
    def seconds(self) -> float:
        return self.left - self.entered


@dataclass(frozen=True)
class ZoneFrame:
    """One frame's result: road users present by class id (a count per class) and stays that ended."""

    zone: str
    present: npt.NDArray[np.int64]
    departures: list[Dwell]


@dataclass
class _Stay:
    entered: float | None = None
    last_inside: float = 0.0
    outside_frames: int = 0
    class_id: int = 0


class ZoneMonitor:
    """Occupancy and dwell in one zone."""

    def __init__(self, config: ZoneConfig, forget_after_s: float = 5.0, exit_frames: int = 3) -> None:
        self.config = config
        self.exit_frames = exit_frames
        self._polygon = np.asarray(config.polygon, dtype=np.float64)
        self._tracks: TrackStates[_Stay] = TrackStates(_Stay, forget_after_s)

    @property
    def name(self) -> str:
        return self.config.name

    def update(self, tracked: Detections, timestamp: float) -> ZoneFrame:
        departures = [
            self._dwell(stay) for _, stay, _ in self._tracks.expire(timestamp) if stay.entered is not None
        ]
        inside = tracked.in_polygon(self._polygon)
        present = np.bincount(tracked.class_id[inside], minlength=len(ROAD_USER_CLASSES)).astype(np.int64)
        rows = zip(tracked.track_id.tolist(), tracked.class_id.tolist(), inside.tolist(), strict=True)
        for track_id, class_id, is_inside in rows:
            stay = self._tracks.get(track_id, timestamp)
            stay.class_id = class_id
            if is_inside:
                if stay.entered is None:
                    stay.entered = timestamp
                stay.last_inside, stay.outside_frames = timestamp, 0
            elif stay.entered is not None:
                stay.outside_frames += 1
                if stay.outside_frames >= self.exit_frames:
                    departures.append(self._dwell(stay))
                    stay.entered, stay.outside_frames = None, 0
        return ZoneFrame(self.name, present, departures)

    def finish(self) -> list[Dwell]:
        """End of stream: everyone still inside leaves now (at their last frame inside)."""
        return [self._dwell(stay) for _, stay, _ in self._tracks.drain() if stay.entered is not None]

    def _dwell(self, stay: _Stay) -> Dwell:
        entered = stay.entered if stay.entered is not None else stay.last_inside
        return Dwell(self.name, stay.class_id, entered, stay.last_inside)
