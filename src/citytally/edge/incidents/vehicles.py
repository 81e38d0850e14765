"""Vehicle rules: a vehicle stopped in a no-stopping zone, and movement against a lane's direction."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from citytally.edge.config import ZoneConfig
from citytally.edge.incident_config import StoppedVehicleSettings, WrongWaySettings
from citytally.edge.incidents.base import Context, ZoneDetector
from citytally.edge.incidents.tracks import TrackHistory
from citytally.events import IncidentEvent

__all__ = ["StoppedVehicleDetector", "WrongWayDetector"]

_SPEED_WINDOW_S = 1.0


@dataclass
class _Stop:
    key: int
    since: float
    last_seen: float
    x: float
    y: float


class StoppedVehicleDetector(ZoneDetector):
    """A vehicle standing in the zone for ``min_stop_s``.

    A stop belongs to a place as much as to a track: when the detector loses a standing vehicle and the
    tracker starts a new track for it, a new track standing within ``regain_px`` of a stop lost less than
    ``regain_s`` ago continues that stop instead of starting the clock again.
    """

    incident = "stopped_vehicle"

    def __init__(self, rule: StoppedVehicleSettings, zone: ZoneConfig, context: Context) -> None:
        super().__init__(rule, zone, context)
        self.settings = rule
        self._watched = self.class_mask(rule.classes)
        self._stops: dict[int, _Stop] = {}  # track id → its stop
        self._keys = itertools.count()

    def _standing(self, tracks: TrackHistory, track_id: int) -> bool | None:
        motion = tracks.motion(track_id, _SPEED_WINDOW_S)
        if motion is None:
            return None
        if motion.kmh is not None:
            return motion.kmh <= self.settings.max_speed_kmh
        return motion.px_per_s <= self.settings.max_speed_px_s

    def observe(self, tracks: TrackHistory, at: datetime) -> list[IncidentEvent]:
        now, s = tracks.now, self.settings
        events: list[IncidentEvent] = []
        seen: set[int] = set()
        for i in self.inside(tracks, self._watched):
            tid = int(tracks.frame.track_id[i])
            x, y = (float(v) for v in tracks.frame.bottom_centre[i])
            standing = self._standing(tracks, tid)
            if standing is False:
                self._stops.pop(tid, None)
                continue
            if standing is None and tid not in self._stops:
                continue
            seen.add(tid)
            stop = self._stops.get(tid) or self._regain(tid, x, y, now)
            stop.last_seen, stop.x, stop.y = now, x, y
        # Lost stops are kept (and still hold) for regain_s: the vehicle is most likely still there.
        for tid, stop in list(self._stops.items()):
            if tid not in seen and now - stop.last_seen > s.regain_s:
                del self._stops[tid]
                continue
            stopped_s = now - stop.since
            if stopped_s >= s.min_stop_s:
                started = self.wall(at, now, stop.since)
                details = {"stopped_s": round(stopped_s), "min_stop_s": s.min_stop_s}
                events += self.book.hold(stop.key, at, started, s.severity, details)
        return events

    def _regain(self, track_id: int, x: float, y: float, now: float) -> _Stop:
        lost = [
            (tid, stop)
            for tid, stop in self._stops.items()
            if now - stop.last_seen > 0 and math.hypot(stop.x - x, stop.y - y) <= self.settings.regain_px
        ]
        if lost:
            old, stop = min(lost, key=lambda item: math.hypot(item[1].x - x, item[1].y - y))
            del self._stops[old]
        else:
            stop = _Stop(next(self._keys), now, now, x, y)
        self._stops[track_id] = stop
        return stop


class WrongWayDetector(ZoneDetector):
    """A road user moving against the zone's expected direction (a vector, or a polyline's local one)."""

    incident = "wrong_way"

    def __init__(self, rule: WrongWaySettings, zone: ZoneConfig, context: Context) -> None:
        super().__init__(rule, zone, context)
        self.settings = rule
        self._watched = self.class_mask(rule.classes)
        self._cos_limit = math.cos(math.radians(rule.max_angle_deg))
        path = rule.path if rule.path is not None else []
        self._path = np.asarray(path, dtype=np.float64)

    def expected(self, x: float, y: float) -> tuple[float, float]:
        """The unit direction traffic should take at pixel (x, y)."""
        if self.settings.direction is not None:
            dx, dy = self.settings.direction
        else:
            a, b = self._path[:-1], self._path[1:]
            d = b - a
            t = np.clip(((x - a[:, 0]) * d[:, 0] + (y - a[:, 1]) * d[:, 1]) / (d**2).sum(axis=1), 0, 1)
            near = a + t[:, None] * d
            k = int(np.argmin(np.hypot(near[:, 0] - x, near[:, 1] - y)))
            dx, dy = float(d[k, 0]), float(d[k, 1])
        norm = math.hypot(dx, dy)
        return dx / norm, dy / norm

    def observe(self, tracks: TrackHistory, at: datetime) -> list[IncidentEvent]:
        now, s = tracks.now, self.settings
        events: list[IncidentEvent] = []
        for i in self.inside(tracks, self._watched):
            tid = int(tracks.frame.track_id[i])
            moved = tracks.displacement(tid, s.window_s)
            if moved is None:
                continue
            distance = math.hypot(*moved)
            if distance < s.min_distance_px:
                continue
            ex, ey = self.expected(*(float(v) for v in tracks.frame.bottom_centre[i]))
            cos_reverse = -(moved[0] * ex + moved[1] * ey) / distance
            if cos_reverse < self._cos_limit:
                continue
            trail = tracks.trail(tid)
            since = trail.first_seen if trail is not None else now
            details = {"angle_deg": round(math.degrees(math.acos(min(1.0, cos_reverse))), 1)}
            details["moved_px"] = round(distance, 1)
            events += self.book.hold(("track", tid), at, self.wall(at, now, since), s.severity, details)
        return events
