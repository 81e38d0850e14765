"""Queues and congestion on one approach, measured on the ground.

Queue: the vehicles in the zone moving at most ``queued_kmh``, chained from the queue's ``head`` (the stop
line) while each is within ``max_gap_m`` of the one ahead; its length is the ground distance from the head to
the last of them. A queued vehicle the detector misses (a frame, or a few seconds behind the one in front)
stays in the queue where it was seen for up to ``regain_s``: a queue does not shorten, nor its onset start
again, because its last car was missed. A queue of ``onset_m`` for ``onset_s`` opens a ``queue`` incident;
it clears once shorter than ``clear_m`` for ``clear_s`` (hysteresis). Once open, every vehicle in the zone
links the chain and only the queued ones count: the queue goes on while its front drives off at a green
light, its length to its back, and clears when its back drives off. Congestion: at least
``congested_vehicles`` in the zone with a mean speed of at most ``congested_kmh``, for ``onset_s``, opens a
``congestion`` incident, which holds up to ``clear_kmh`` (hysteresis); the speed is each vehicle's towards
the head (unbiased by the boxes' jitter), and the vehicles and their mean speed are averaged over the last
second, the missed queued vehicles with them.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime

import numpy as np
import numpy.typing as npt

from citytally.edge.analytics.speed import GroundPlane
from citytally.edge.config import ZoneConfig
from citytally.edge.incident_config import QueueSettings
from citytally.edge.incidents.base import Context, ZoneDetector
from citytally.edge.incidents.book import IncidentBook
from citytally.edge.incidents.tracks import TrackHistory
from citytally.errors import ConfigError
from citytally.events import IncidentEvent

__all__ = ["QueueDetector", "queue_length_m"]

_SPEED_WINDOW_S = 1.0
#: Congestion reads the zone's vehicles and mean speed averaged over this many seconds of frames.
_ZONE_MEAN_S = 1.0
#: A vehicle seen again this close (m) to where a missed queued vehicle stood is that vehicle, re-found.
_SAME_PLACE_M = 2.0


def queue_length_m(
    head: np.ndarray, points: np.ndarray, max_gap_m: float, queued: np.ndarray | None = None
) -> tuple[float, int]:
    """(metres, vehicles) of the queue chained from ``head`` through the ground ``points``, each within
    ``max_gap_m`` of the one before. Given ``queued`` (a mask of the points), every point links the chain
    but only queued ones count: the length is to the farthest queued point in it."""
    if len(points) == 0:
        return 0.0, 0
    distance = np.hypot(points[:, 0] - head[0], points[:, 1] - head[1])
    order = np.argsort(distance)
    length, reach, n = 0.0, 0.0, 0
    for k in order:
        if distance[k] - reach > max_gap_m:
            break
        reach = float(distance[k])
        if queued is None or queued[k]:
            length = reach
            n += 1
    return length, n


class QueueDetector(ZoneDetector):
    """Queue length and congestion on one approach (needs the ground-plane calibration)."""

    incident = "queue"

    def __init__(
        self, rule: QueueSettings, zone: ZoneConfig, context: Context, plane: GroundPlane | None
    ) -> None:
        super().__init__(rule, zone, context)
        if plane is None:
            raise ConfigError(
                f"incidents.queue (zone {zone.name!r}) needs the [speed] ground-plane calibration"
            )
        self.settings = rule
        self._watched = self.class_mask(rule.classes)
        self._head = plane.to_ground([rule.head])[0]
        self.congestion = IncidentBook(
            context.site, context.camera, "congestion", zone.name, rule.clear_s, context.update_s, context.ids
        )
        self._queue_since: float | None = None
        self._congested_since: float | None = None
        #: (time, vehicles, mean km/h) of the frames in the last ``_ZONE_MEAN_S``: congestion's mean.
        self._recent: deque[tuple[float, int, float | None]] = deque()
        #: Track id → (when, where on the ground, its speed towards the head) it was last seen queued.
        self._queued: dict[int, tuple[float, tuple[float, float], float]] = {}
        self._queue_seen: datetime | None = None  # when the vehicles in view last made the queue alone
        self.queue_m = 0.0
        #: The zone's vehicles and their mean speed (km/h; None: none measured) at the last frame.
        self.vehicles: int = 0
        self.mean_kmh: float | None = None

    def step(self, tracks: TrackHistory, at: datetime) -> list[IncidentEvent]:
        return self.observe(tracks, at) + self.book.sweep(at) + self.congestion.sweep(at)

    def finish(self) -> list[IncidentEvent]:
        return self.book.close_all() + self.congestion.close_all()

    def observe(self, tracks: TrackHistory, at: datetime) -> list[IncidentEvent]:
        now, s = tracks.now, self.settings
        inside = self.inside(tracks, self._watched)
        speeds = np.full(len(inside), np.nan)
        towards = np.full(len(inside), np.nan)  # km/h towards the head
        for j, i in enumerate(inside):
            motion = tracks.motion(int(tracks.frame.track_id[i]), _SPEED_WINDOW_S)
            if motion is not None and motion.kmh is not None and motion.ground_m_s is not None:
                speeds[j] = motion.kmh
                ahead = self._head - tracks.ground[i]
                far = float(np.hypot(*ahead))
                along = float(np.dot(motion.ground_m_s, ahead)) / far * 3.6 if far > 0 else motion.kmh
                # Moving away from the head faster than congestion (the other way's traffic, where the zone
                # takes in its lane): at its speed. Slower, it is the jitter of a standing or crawling one.
                towards[j] = along if along >= -s.congested_kmh else motion.kmh
        standing = speeds <= s.queued_kmh
        missed, missed_kmh = self._missed(tracks, inside, standing, towards)
        if self.book.is_open("queue"):
            # An open queue goes on while its front drives off: the vehicles moving off from the head link
            # the chain back to those still standing, and its length is to the last of them (its back).
            seen, links = tracks.ground[inside], standing
        else:
            seen, links = tracks.ground[inside][standing], None
        both = None if links is None else np.concatenate([links, np.ones(len(missed), bool)])
        self.queue_m, in_queue = queue_length_m(self._head, np.vstack([seen, missed]), s.max_gap_m, both)
        seen_m = queue_length_m(self._head, seen, s.max_gap_m, links)[0] if len(missed) else self.queue_m
        vehicles, mean_kmh = self._zone_mean(
            now, len(inside) + len(missed), np.concatenate([towards, missed_kmh])
        )
        self.vehicles, self.mean_kmh = len(inside), mean_kmh
        details: dict[str, float | int | str] = {
            "queue_m": round(self.queue_m, 1),
            "queued": in_queue,
            "vehicles": len(inside),
        }
        if mean_kmh is not None:
            details["mean_kmh"] = round(mean_kmh, 1)
        events: list[IncidentEvent] = []
        # Hysteresis: an open queue holds down to clear_m; a new one needs onset_m.
        limit = s.clear_m if self.book.is_open("queue") else s.onset_m
        queueing = self.queue_m >= limit and self.queue_m > 0
        self._queue_since = (
            (self._queue_since if self._queue_since is not None else now) if queueing else None
        )
        if queueing and seen_m >= limit:
            self._queue_seen = at
        elif self._queue_since is None:
            self._queue_seen = None
        if self._queue_since is not None and (
            self.book.is_open("queue") or now - self._queue_since >= s.onset_s
        ):
            # Held up by missed vehicles only, it was last seen as long when they were: a clearance ends then.
            observed = None if seen_m >= limit else self._queue_seen
            started = self.wall(at, now, self._queue_since)
            events += self.book.hold("queue", at, started, s.severity, details, observed=observed)
        # Hysteresis: open congestion holds up to clear_kmh (congested_kmh + 5); new needs congested_kmh.
        kmh = s.holds_kmh if self.congestion.is_open("zone") else s.congested_kmh
        congested = mean_kmh is not None and vehicles >= s.congested_vehicles and mean_kmh <= kmh
        since = self._congested_since if self._congested_since is not None else now
        self._congested_since = since if congested else None
        if congested and (self.congestion.is_open("zone") or now - since >= s.onset_s):
            events += self.congestion.hold("zone", at, self.wall(at, now, since), s.severity, details)
        return events

    def _zone_mean(
        self, now: float, inside: int, towards: npt.NDArray[np.float64]
    ) -> tuple[float, float | None]:
        """The zone's vehicles and their mean speed towards the head (km/h; None: none measured), each
        averaged over the frames of the last ``_ZONE_MEAN_S``. Towards the head, not the speed's size:
        the detector's jitter makes a standing vehicle's size of speed a few km/h, its mean along the
        approach 0 (the size of speed put a jam's mean 3 km/h over SUMO's)."""
        measured = towards[~np.isnan(towards)]
        self._recent.append((now, inside, float(measured.mean()) if len(measured) else None))
        while self._recent[0][0] < now - _ZONE_MEAN_S:
            self._recent.popleft()
        means = [m for _, _, m in self._recent if m is not None]
        vehicles = float(np.mean([n for _, n, _ in self._recent]))
        return vehicles, float(np.mean(means)) if means else None

    def _missed(
        self,
        tracks: TrackHistory,
        inside: npt.NDArray[np.int64],
        queued: npt.NDArray[np.bool_],
        towards: npt.NDArray[np.float64],
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Where the queued vehicles the detector missed this frame were last seen (up to ``regain_s`` ago),
        and their speeds towards the head then; notes this frame's queued vehicles and forgets those seen
        moving or out of the zone."""
        now, ids = tracks.now, tracks.frame.track_id
        for i in range(len(ids)):
            self._queued.pop(int(ids[i]), None)
        for i, standing, kmh in zip(inside.tolist(), queued.tolist(), towards.tolist(), strict=True):
            if standing:
                x, y = tracks.ground[i]
                self._queued[int(ids[i])] = (now, (float(x), float(y)), 0.0 if np.isnan(kmh) else kmh)
        self._queued = {t: q for t, q in self._queued.items() if now - q[0] <= self.settings.regain_s}
        held = [(where, kmh) for when, where, kmh in self._queued.values() if when < now]
        missed = np.array([where for where, _ in held]).reshape(-1, 2)
        speeds = np.array([kmh for _, kmh in held], np.float64)
        if len(missed) and len(inside):
            # A vehicle re-found under a new track id stands where it was missed: not two vehicles.
            seen = tracks.ground[inside]
            gap = np.hypot(missed[:, None, 0] - seen[None, :, 0], missed[:, None, 1] - seen[None, :, 1])
            apart = gap.min(axis=1) > _SAME_PLACE_M
            missed, speeds = missed[apart], speeds[apart]
        return missed, speeds
