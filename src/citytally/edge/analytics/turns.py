"""Turning movements: from the first (entry) zone a road user is seen in to the next different (exit) zone.

A zone visit counts after ``min_frames`` observations in a row inside it, so jitter on a zone's edge does not
make a movement. Each track makes at most one movement. Where zones overlap, the first in the config wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from citytally.edge.analytics.tracks import TrackStates
from citytally.edge.config import TurningConfig, ZoneConfig
from citytally.edge.detections import Detections
from citytally.errors import ConfigError

__all__ = ["Turn", "TurningCounter"]


@dataclass(frozen=True)
class Turn:
    """One road user's movement from an entry zone to an exit zone."""

    from_zone: str
    to_zone: str
    class_id: int
    track_id: int
    timestamp: float


@dataclass
class _Path:
    origin: str | None = None
    candidate: str | None = None
    streak: int = 0
    done: bool = False


class TurningCounter:
    """Counts entry zone → exit zone movements. ``update`` returns this frame's completed movements."""

    def __init__(
        self, config: TurningConfig, zones: Sequence[ZoneConfig], forget_after_s: float = 5.0
    ) -> None:
        self.config = config
        self._entries = set(config.entries)
        self._exits = set(config.exits)
        wanted = self._entries | self._exits
        self._zones = [(z.name, np.asarray(z.polygon, dtype=np.float64)) for z in zones if z.name in wanted]
        missing = wanted - {name for name, _ in self._zones}
        if missing:
            # The config validator already refuses this; a hand-built config gets the same message.
            raise ConfigError(f"turning names zones that are not given: {sorted(missing)}")
        self._tracks: TrackStates[_Path] = TrackStates(_Path, forget_after_s)

    def update(self, tracked: Detections, timestamp: float) -> list[Turn]:
        self._tracks.expire(timestamp)
        membership = [tracked.in_polygon(polygon) for _, polygon in self._zones]
        turns: list[Turn] = []
        for i in range(len(tracked)):
            track_id = int(tracked.track_id[i])
            path = self._tracks.get(track_id, timestamp)
            if path.done:
                continue
            zone = next(
                (name for (name, _), inside in zip(self._zones, membership, strict=True) if inside[i]), None
            )
            to_zone = self._observe(path, zone)
            if to_zone is not None and path.origin is not None:
                turns.append(Turn(path.origin, to_zone, int(tracked.class_id[i]), track_id, timestamp))
        return turns

    def _observe(self, path: _Path, zone: str | None) -> str | None:
        if zone is None or zone != path.candidate:
            path.candidate, path.streak = zone, (0 if zone is None else 1)
        else:
            path.streak += 1
        if zone is None or path.streak < self.config.min_frames:
            return None
        if path.origin is None:
            if zone in self._entries:
                path.origin = zone
            return None
        if zone != path.origin and zone in self._exits:
            path.done = True
            return zone
        return None
