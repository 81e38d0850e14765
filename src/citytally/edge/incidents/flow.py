"""Queues and congestion on one approach, measured on the ground.

Queue: the vehicles in the zone moving at most ``queued_kmh``, chained from the queue's ``head`` (the stop
line) while each is within ``max_gap_m`` of the one ahead; its length is the ground distance from the head to
the last of them. A queue of ``onset_m`` for ``onset_s`` opens a ``queue`` incident; it clears once shorter
than ``clear_m`` for ``clear_s`` (hysteresis). Congestion: at least ``congested_vehicles`` in the zone with a
mean speed of at most ``congested_kmh``, for ``onset_s``, opens a ``congestion`` incident.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

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


def queue_length_m(head: np.ndarray, queued: np.ndarray, max_gap_m: float) -> tuple[float, int]:
    """(metres, vehicles) of the queue chained from ``head`` through the ground points ``queued``."""
    if len(queued) == 0:
        return 0.0, 0
    distance = np.hypot(queued[:, 0] - head[0], queued[:, 1] - head[1])
    order = np.argsort(distance)
    length, reach, n = 0.0, 0.0, 0
    for k in order:
        if distance[k] - reach > max_gap_m:
            break
        length = reach = float(distance[k])
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
            context.site, context.camera, "congestion", zone.name, rule.clear_s, context.update_s
        )
        self._queue_since: float | None = None
        self._congested_since: float | None = None
        self.queue_m = 0.0

    def step(self, tracks: TrackHistory, at: datetime) -> list[IncidentEvent]:
        return self.observe(tracks, at) + self.book.sweep(at) + self.congestion.sweep(at)

    def finish(self) -> list[IncidentEvent]:
        return self.book.close_all() + self.congestion.close_all()

    def observe(self, tracks: TrackHistory, at: datetime) -> list[IncidentEvent]:
        now, s = tracks.now, self.settings
        inside = self.inside(tracks, self._watched)
        speeds = np.full(len(inside), np.nan)
        for j, i in enumerate(inside):
            motion = tracks.motion(int(tracks.frame.track_id[i]), _SPEED_WINDOW_S)
            if motion is not None and motion.kmh is not None:
                speeds[j] = motion.kmh
        queued = tracks.ground[inside][speeds <= s.queued_kmh]
        self.queue_m, in_queue = queue_length_m(self._head, queued, s.max_gap_m)
        measured = speeds[~np.isnan(speeds)]
        mean_kmh = float(measured.mean()) if len(measured) else None
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
        if self._queue_since is not None and (
            self.book.is_open("queue") or now - self._queue_since >= s.onset_s
        ):
            events += self.book.hold("queue", at, self.wall(at, now, self._queue_since), s.severity, details)
        congested = (
            mean_kmh is not None and len(inside) >= s.congested_vehicles and mean_kmh <= s.congested_kmh
        )
        since = self._congested_since if self._congested_since is not None else now
        self._congested_since = since if congested else None
        if congested and (self.congestion.is_open("zone") or now - since >= s.onset_s):
            events += self.congestion.hold("zone", at, self.wall(at, now, since), s.severity, details)
        return events
