"""Vehicle rules: a vehicle stopped in a no-stopping zone, and movement against a lane's direction."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from citytally.arrays import Float64Array as FloatArray
from citytally.edge.config import ZoneConfig
from citytally.edge.incident_config import StoppedVehicleSettings, WrongWaySettings
from citytally.edge.incidents.base import Context, ZoneDetector
from citytally.edge.incidents.tracks import TrackHistory
from citytally.events import IncidentEvent

__all__ = ["StoppedVehicleDetector", "WrongWayDetector"]

_SPEED_WINDOW_S = 1.0
_STEADY_SHARE = 0.75
#: A track found within this much (m, or px uncalibrated) of where a lost wrong-way road user would be now,
#: or this share of the way it would have come since, if more, is taken for it.
_CONTINUES_M, _CONTINUES_PX, _CONTINUES_SHARE = 5.0, 30.0, 0.25


@dataclass
class _Stop:
    since: float
    last_seen: float
    #: Where it stands, on the ground (or in pixels uncalibrated): it stands while it stays near there.
    anchor: tuple[float, float]
    track_id: int | None
    #: It has stood for min_stop_s: once detached from its track it still holds for regain_s.
    qualified: bool = False


class StoppedVehicleDetector(ZoneDetector):
    """Vehicles standing in the zone for ``min_stop_s``: one incident per zone while any does.

    A stop belongs to a place as much as to a track. When the tracker loses a standing vehicle, or its
    track moves away (it drove off, or the track jumped to a passing vehicle), a stop that has lasted
    ``min_stop_s`` still holds for ``regain_s``, and a track standing within ``leave_m`` of it in that time
    continues it instead of starting the clock again. So an incident is cleared ``regain_s`` after its
    vehicle was last seen standing.
    """

    incident = "stopped_vehicle"

    def __init__(self, rule: StoppedVehicleSettings, zone: ZoneConfig, context: Context) -> None:
        super().__init__(rule, zone, context)
        self.settings = rule
        self._watched = self.class_mask(rule.classes)
        self._stops: list[_Stop] = []

    def _standing(self, tracks: TrackHistory, track_id: int) -> bool:
        motion = tracks.motion(track_id, _SPEED_WINDOW_S)
        if motion is None:
            return False
        if motion.kmh is not None:
            return motion.kmh <= self.settings.max_speed_kmh
        return motion.px_per_s <= self.settings.max_speed_px_s

    def observe(self, tracks: TrackHistory, at: datetime) -> list[IncidentEvent]:
        now, s = tracks.now, self.settings
        leave = s.leave_m if tracks.plane is not None else s.leave_px
        by_track = {stop.track_id: stop for stop in self._stops if stop.track_id is not None}
        current = {int(t) for t in tracks.frame.track_id}
        for i in self.inside(tracks, self._watched):
            tid = int(tracks.frame.track_id[i])
            place = self._place(tracks, tid)
            stop = by_track.get(tid)
            if stop is not None and math.dist(place, stop.anchor) > leave:
                stop.track_id = None
                continue
            if stop is None:
                if not self._standing(tracks, tid):
                    continue
                stop = self._regain(place, leave, now, current)
                stop.track_id = tid
            stop.last_seen = now
        self._stops = [stop for stop in self._stops if now - stop.last_seen <= s.regain_s]
        # It counts once it has been *seen* standing for min_stop_s: a vehicle that stood for a moment and
        # then went out of view (occluded, or driven off while the detector missed it) has not.
        for stop in self._stops:
            stop.qualified |= stop.last_seen - stop.since >= s.min_stop_s
        # A stop whose track is lost, or moved away, still holds for regain_s once it has stood long enough:
        # trackers lose standing vehicles and swap ids between them and passing ones.
        holding = [stop for stop in self._stops if stop.qualified]
        if not holding:
            return []
        details: dict[str, float | int | str] = {
            "vehicles": len(holding),
            "stopped_s": round(max(stop.last_seen - stop.since for stop in holding)),
            "min_stop_s": s.min_stop_s,
        }
        started = self.wall(at, now, min(stop.since for stop in holding))
        seen = self.wall(at, now, max(stop.last_seen for stop in holding))
        return self.book.hold("zone", at, started, s.severity, details, observed=seen)

    @staticmethod
    def _place(tracks: TrackHistory, track_id: int) -> tuple[float, float]:
        """Where the track stands: its mean position over the last second (box jitter averages out)."""
        trail = tracks.trail(track_id)
        if trail is None:
            return math.nan, math.nan
        recent = np.asarray([s for s in trail.samples if s[0] >= tracks.now - _SPEED_WINDOW_S])
        columns = slice(3, 5) if tracks.plane is not None else slice(1, 3)
        mean = recent[:, columns].mean(axis=0)
        return float(mean[0]), float(mean[1])

    def _regain(self, place: tuple[float, float], leave: float, now: float, current: set[int]) -> _Stop:
        """The nearest stop within ``leave`` of ``place`` whose track is gone (detached, or not in this
        frame), or a new one starting now."""
        detached = [
            stop
            for stop in self._stops
            if (stop.track_id is None or stop.track_id not in current)
            and math.dist(place, stop.anchor) <= leave
        ]
        if detached:
            return min(detached, key=lambda stop: math.dist(place, stop.anchor))
        stop = _Stop(now, now, place, None)
        self._stops.append(stop)
        return stop


@dataclass
class _WrongWay:
    """Where a road user judged to go the wrong way was last (stream time, ground m or pixels) and its
    velocity then (m/s or px/s)."""

    at: float
    where: tuple[float, float]
    velocity: tuple[float, float]


class WrongWayDetector(ZoneDetector):
    """Road users moving against the zone's expected direction (a vector, or a polyline's local one).

    One incident per zone while any road user goes the wrong way: a wrong-way driver whose track breaks
    (occlusion, oncoming traffic, a detector that misses it for a few seconds) stays one incident while it
    is found again within ``clear_s``. A track found where such a road user would be by now (at its last
    velocity), going the wrong way, is taken for it at once: it need not cover ``min_distance_m`` again, which
    at 20 km/h takes 3 s and would often outlast ``clear_s`` after a long miss.
    """

    incident = "wrong_way"

    def __init__(self, rule: WrongWaySettings, zone: ZoneConfig, context: Context) -> None:
        super().__init__(rule, zone, context)
        self.settings = rule
        self._watched = self.class_mask(rule.classes)
        self._cos_limit = math.cos(math.radians(rule.max_angle_deg))
        path = rule.path if rule.path is not None else []
        self._path = np.asarray(path, dtype=np.float64)
        self._seen: dict[int, _WrongWay] = {}  # track id → the wrong-way road user's last sighting

    def _continues(self, samples: FloatArray, motion_velocity: tuple[float, float], now: float) -> bool:
        """Whether the track (``samples``: its history) stands where a wrong-way road user lost since
        would be now and moves as it did."""
        calibrated = not math.isnan(samples[-1, 3])
        here = samples[-1, 3:5] if calibrated else samples[-1, 1:3]
        near = _CONTINUES_M if calibrated else _CONTINUES_PX
        for lost in self._seen.values():
            elapsed = now - lost.at
            if elapsed <= 0:
                continue  # seen this frame: not lost
            vx, vy = lost.velocity
            if vx * motion_velocity[0] + vy * motion_velocity[1] <= 0:
                continue
            travel = math.hypot(vx, vy) * elapsed
            gap = math.hypot(here[0] - lost.where[0] - vx * elapsed, here[1] - lost.where[1] - vy * elapsed)
            if gap <= max(near, _CONTINUES_SHARE * travel):
                return True
        return False

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

    def _steady_share(self, samples: FloatArray, now: float, ex: float, ey: float) -> float:
        """Share of the steps in the window that go against the direction (``samples``: the track's
        history, as rows of :class:`~citytally.edge.incidents.tracks.Trail`): a vehicle driving the wrong way
        makes nearly all of them; a track that jumps from one vehicle to another (an id switch) makes one big
        step among steps of jitter."""
        samples = samples[samples[:, 0] >= now - self.settings.window_s]
        if len(samples) < 3:
            return 0.0
        # Steps over a quarter of the window, not frame to frame: far from the camera a vehicle moves
        # under a pixel a frame, about as much as its box jitters.
        lag = max(1, len(samples) // 4)
        points = samples[:, 1:3]
        steps = (points[lag:] - points[:-lag]) @ np.array([ex, ey])
        return float(np.count_nonzero(steps < 0)) / len(steps)

    def _moved_against(self, samples: FloatArray, ex: float, ey: float) -> tuple[float, float] | None:
        """(pixels, metres; NaN uncalibrated) from the last place in the track's history (``samples``) at
        least ``min_distance_m`` (``min_distance_px``) from where it is now, if it has come from there against
        the direction; None if it has not come that far (in the history's last seconds) or not that way.

        The distance is not bounded by ``window_s``: a wrong-way driver at 20 km/h, or a cyclist, covers
        15 m in a few seconds, not in the two seconds its direction is judged on."""
        calibrated = not math.isnan(samples[-1, 3])
        columns, least = (slice(3, 5), self.settings.min_distance_m)
        if not calibrated:
            columns, least = slice(1, 3), self.settings.min_distance_px
        away = np.hypot(*(samples[:, columns] - samples[-1, columns]).T)
        far = np.flatnonzero(away >= least)
        if len(far) == 0:
            return None
        k = int(far[-1])
        dx, dy = samples[-1, 1:3] - samples[k, 1:3]
        pixels = float(np.hypot(dx, dy))
        if pixels == 0 or -(dx * ex + dy * ey) / pixels < self._cos_limit:
            return None
        return pixels, float(away[k]) if calibrated else math.nan

    def observe(self, tracks: TrackHistory, at: datetime) -> list[IncidentEvent]:
        now, s = tracks.now, self.settings
        wrong: list[tuple[float, dict[str, float | int | str]]] = []
        for i in self.inside(tracks, self._watched):
            tid = int(tracks.frame.track_id[i])
            # A fitted velocity, not two end points: box jitter far from the camera is metres on the ground.
            motion = tracks.motion(tid, s.window_s)
            if motion is None or motion.px_per_s == 0:
                continue
            # At this speed it cannot have come min_distance in the history kept (a standing vehicle's
            # jitter): skip the costlier tests.
            reach_s = tracks.keep_s
            if motion.kmh is None and motion.px_per_s * reach_s < s.min_distance_px:
                continue
            if motion.kmh is not None and motion.kmh / 3.6 * reach_s < s.min_distance_m:
                continue
            ex, ey = self.expected(*(float(v) for v in tracks.frame.bottom_centre[i]))
            cos_reverse = -(motion.vx_px * ex + motion.vy_px * ey) / motion.px_per_s
            trail = tracks.trail(tid)
            if cos_reverse < self._cos_limit or trail is None:
                continue
            samples = np.asarray(trail.samples, dtype=np.float64)
            if self._steady_share(samples, now, ex, ey) < _STEADY_SHARE:
                continue
            velocity = _ground_velocity(samples, s.window_s)
            calibrated = velocity is not None
            if velocity is None:
                velocity = (motion.vx_px, motion.vy_px)
            moved = self._moved_against(samples, ex, ey)
            if moved is None:
                if not self._continues(samples, velocity, now):
                    continue
                pixels, metres = samples[-1, 1:3] - samples[0, 1:3], samples[-1, 3:5] - samples[0, 3:5]
                moved = (float(np.hypot(*pixels)), float(np.hypot(*metres)))
            where = samples[-1, 3:5] if calibrated else samples[-1, 1:3]
            self._seen[tid] = _WrongWay(now, (float(where[0]), float(where[1])), velocity)
            details: dict[str, float | int | str] = {
                "angle_deg": round(math.degrees(math.acos(min(1.0, cos_reverse))), 1),
                "moved_px": round(moved[0], 1),
            }
            if not math.isnan(moved[1]):
                details["moved_m"] = round(moved[1], 1)
            wrong.append((_began(samples, ex, ey, trail.first_seen), details))
        self._seen = {t: w for t, w in self._seen.items() if now - w.at < s.clear_s}
        if not wrong:
            return []
        since, details = min(wrong, key=lambda item: item[0])
        details["road_users"] = len(wrong)
        return self.book.hold("zone", at, self.wall(at, now, since), s.severity, details)


#: Box jitter allowed for when finding where a wrong-way run began (pixels along the direction).
_TURN_JITTER_PX = 3.0


def _began(samples: FloatArray, ex: float, ey: float, first_seen: float) -> float:
    """When a track now going against the direction ``(ex, ey)`` began to: the last time it was as far
    along the direction as it has been (where it turned, or moved off after standing), within box jitter;
    ``first_seen`` when that reaches back to the oldest sample kept (it may have come the wrong way all
    along)."""
    along = samples[:, 1:3] @ np.array([ex, ey])
    turned = int(np.flatnonzero(along >= along.max() - _TURN_JITTER_PX)[-1])
    return first_seen if turned == 0 else float(samples[turned, 0])


def _ground_velocity(samples: FloatArray, window_s: float) -> tuple[float, float] | None:
    """Ground velocity (m/s), least squares over the track's last ``window_s``; None uncalibrated."""
    recent = samples[samples[:, 0] >= samples[-1, 0] - window_s]
    t = recent[:, 0] - recent[:, 0].mean()
    if math.isnan(recent[-1, 3]) or len(recent) < 3 or float(t @ t) == 0:
        return None
    vx, vy = t @ (recent[:, 3:5] - recent[:, 3:5].mean(axis=0)) / float(t @ t)
    return float(vx), float(vy)
