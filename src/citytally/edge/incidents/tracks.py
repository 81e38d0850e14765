"""Recent positions of each track in the image and on the ground: what incident (and conflict) rules read.

One :class:`TrackHistory` per camera is updated once per frame and shared by every detector, so that a
track's ground position and velocity are computed once. It holds a few seconds per track and forgets tracks
the tracker has dropped; track ids never leave the edge.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from citytally.arrays import Float64Array as FloatArray
from citytally.edge.analytics.speed import GroundPlane
from citytally.edge.analytics.tracks import TrackStates
from citytally.edge.detections import NO_TRACK, Detections

__all__ = ["TrackHistory", "Trail", "Motion"]

_MS_TO_KMH = 3.6


@dataclass
class Trail:
    """One track's recent samples: (t, image x, image y, ground x, ground y); ground is NaN uncalibrated."""

    class_id: int = 0
    samples: deque[tuple[float, float, float, float, float]] = field(
        default_factory=lambda: deque(maxlen=512)
    )
    first_seen: float = 0.0


@dataclass(frozen=True)
class Motion:
    """A track's least-squares velocity over a window: pixels/s and (if calibrated) km/h on the ground,
    with its ground components in m/s (None uncalibrated)."""

    vx_px: float
    vy_px: float
    kmh: float | None
    span_s: float
    ground_m_s: tuple[float, float] | None = None

    @property
    def px_per_s(self) -> float:
        return float(np.hypot(self.vx_px, self.vy_px))


class TrackHistory:
    """Track id → :class:`Trail` for the last ``keep_s`` seconds, with ground positions if calibrated."""

    def __init__(self, plane: GroundPlane | None, keep_s: float = 10.0, forget_after_s: float = 5.0) -> None:
        self.plane = plane
        self.keep_s = keep_s
        self._trails: TrackStates[Trail] = TrackStates(Trail, forget_after_s)
        self.now = 0.0
        #: The current frame's tracked road users (confirmed tracks only) and their ground points.
        self.frame = Detections.empty()
        self.points: FloatArray = np.zeros((0, 2))  # their ground contact points in the picture
        self.ground: FloatArray = np.zeros((0, 2))
        self._tracked, self._confirmed = Detections.empty(), np.zeros(0, bool)
        self._in_zone: dict[str, npt.NDArray[np.bool_]] = {}
        self._motions: dict[tuple[int, float], Motion | None] = {}

    def in_zone(self, zone: str, polygon: FloatArray) -> npt.NDArray[np.bool_]:
        """Which of this frame's road users stand in the named zone: tested once per frame and zone, however
        many rules (and the camera's other analysers: :meth:`Detections.in_polygon`) watch it."""
        inside = self._in_zone.get(zone)
        if inside is None:
            inside = self._tracked.in_polygon(polygon)[self._confirmed]
            self._in_zone[zone] = inside
        return inside

    def update(self, tracked: Detections, timestamp: float) -> None:
        self.now = timestamp
        self._trails.expire(timestamp)
        self._tracked, self._confirmed = tracked, tracked.track_id != NO_TRACK
        frame = tracked[self._confirmed]
        points = frame.bottom_centre.astype(np.float64)
        if self.plane is not None:
            ground = self.plane.ground_points(tracked)[self._confirmed]
        else:
            ground = np.full_like(points, np.nan)
        self.frame, self.points, self.ground = frame, points, ground
        self._in_zone, self._motions = {}, {}
        rows = np.hstack([points, ground]).tolist()
        for tid, cls, row in zip(frame.track_id.tolist(), frame.class_id.tolist(), rows, strict=True):
            fresh = self._trails.peek(tid) is None
            trail = self._trails.get(tid, timestamp)
            if fresh:
                trail.first_seen = timestamp
            trail.class_id = cls
            trail.samples.append((timestamp, *row))
            while trail.samples[0][0] < timestamp - self.keep_s:
                trail.samples.popleft()

    def trail(self, track_id: int) -> Trail | None:
        return self._trails.peek(track_id)

    def motion(self, track_id: int, window_s: float) -> Motion | None:
        """Velocity fitted over the last ``window_s``; None with under half a window or 3 samples. Fitted
        once per frame, however many rules ask."""
        key = (track_id, window_s)
        if key not in self._motions:
            self._motions[key] = self._fit_motion(track_id, window_s)
        return self._motions[key]

    def _fit_motion(self, track_id: int, window_s: float) -> Motion | None:
        trail = self._trails.peek(track_id)
        if trail is None:
            return None
        since = trail.samples[-1][0] - window_s
        recent = list(itertools.takewhile(lambda sample: sample[0] >= since, reversed(trail.samples)))
        if len(recent) < 3:
            return None
        samples = np.asarray(recent[::-1], dtype=np.float64)
        t = samples[:, 0] - samples[:, 0].mean()
        span = float(t[-1] - t[0])
        if span < window_s / 2:
            return None
        # Least-squares slopes of x(t), y(t) in the image and on the ground.
        slopes = t @ (samples[:, 1:5] - samples[:, 1:5].mean(axis=0)) / float(t @ t)
        if np.isnan(slopes[2]):
            return Motion(float(slopes[0]), float(slopes[1]), None, span)
        kmh = float(np.hypot(slopes[2], slopes[3])) * _MS_TO_KMH
        return Motion(float(slopes[0]), float(slopes[1]), kmh, span, (float(slopes[2]), float(slopes[3])))

    def displacement(self, track_id: int, window_s: float) -> tuple[float, float, float] | None:
        """Image displacement (dx, dy) from the first sample within ``window_s`` to the latest, and the
        ground distance between them in metres (NaN uncalibrated)."""
        trail = self._trails.peek(track_id)
        if trail is None or len(trail.samples) < 2:
            return None
        last = trail.samples[-1]
        first = next(s for s in trail.samples if s[0] >= last[0] - window_s)
        return last[1] - first[1], last[2] - first[2], float(np.hypot(last[3] - first[3], last[4] - first[4]))
