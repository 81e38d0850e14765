"""Speeds on the ground: a four-point homography from image pixels to metres, and per-track speed fits.

The ground is assumed flat. Speeds are fitted over a sliding window of each track's ground positions (a
least-squares line through x(t) and y(t)), which averages out box jitter better than two-point differences.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from citytally.arrays import Float64Array as FloatArray
from citytally.edge.analytics.tracks import TrackStates
from citytally.edge.config import SpeedCalibration
from citytally.edge.detections import Detections
from citytally.errors import ConfigError

__all__ = ["GroundPlane", "SpeedMeter"]

_MS_TO_KMH = 3.6


def _homography(source: FloatArray, target: FloatArray) -> FloatArray:
    """The 3x3 projective map taking four source points exactly onto four target points."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(source, target, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    try:
        h = np.linalg.solve(np.array(rows, dtype=np.float64), np.array(rhs, dtype=np.float64))
    except np.linalg.LinAlgError as exc:
        raise ConfigError("speed calibration points are degenerate (three on one line?)") from exc
    return np.append(h, 1.0).reshape(3, 3)


class GroundPlane:
    """Maps image pixels to metres on the (flat) ground from four point correspondences."""

    def __init__(
        self, image_points: Sequence[Sequence[float]], ground_points_m: Sequence[Sequence[float]]
    ) -> None:
        image = np.asarray(image_points, dtype=np.float64).reshape(4, 2)
        ground = np.asarray(ground_points_m, dtype=np.float64).reshape(4, 2)
        self.matrix = _homography(image, ground)
        self._key = ("on_ground", self.matrix.tobytes())

    @classmethod
    def from_config(cls, calibration: SpeedCalibration) -> GroundPlane:
        return cls(calibration.image_points, calibration.ground_points_m)

    def to_ground(self, points: npt.ArrayLike) -> FloatArray:
        """(N, 2) pixel points → (N, 2) ground points in metres."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        projected = np.hstack([pts, np.ones((len(pts), 1))]) @ self.matrix.T
        ground: FloatArray = projected[:, :2] / projected[:, 2:3]
        return ground

    def ground_points(self, frame: Detections) -> FloatArray:
        """Each box's :attr:`~Detections.bottom_centre` on the ground (N, 2, metres; read-only): projected
        once per frame however many analysers (speeds, the incident rules, a conflict zone) ask, as long as
        their planes come from the same calibration."""
        return frame.derived(self._key, lambda: self.to_ground(frame.bottom_centre))

    def to_image(self, points_m: npt.ArrayLike) -> FloatArray:
        """(N, 2) ground points in metres → (N, 2) pixel points; NaN where a point is behind the camera."""
        pts = np.asarray(points_m, dtype=np.float64).reshape(-1, 2)
        projected = np.hstack([pts, np.ones((len(pts), 1))]) @ np.linalg.inv(self.matrix).T
        scale = projected[:, 2:3]
        with np.errstate(divide="ignore", invalid="ignore"):
            image: FloatArray = np.where(scale > 0, projected[:, :2] / scale, np.nan)
        return image


class SpeedMeter:
    """Keeps each track's recent ground positions and fits its current speed."""

    def __init__(
        self, plane: GroundPlane, window_s: float = 1.0, max_kmh: float = 200.0, forget_after_s: float = 5.0
    ) -> None:
        self.plane = plane
        self.window_s = window_s
        self.max_kmh = max_kmh
        # Bounded: at 60 fps a 10 s window is 600 points; more than that is never needed.
        self._tracks: TrackStates[deque[tuple[float, float, float]]] = TrackStates(
            lambda: deque(maxlen=1024), forget_after_s
        )

    @classmethod
    def from_config(cls, calibration: SpeedCalibration, forget_after_s: float = 5.0) -> SpeedMeter:
        return cls(
            GroundPlane.from_config(calibration), calibration.window_s, calibration.max_kmh, forget_after_s
        )

    def update(self, tracked: Detections, timestamp: float) -> None:
        self._tracks.expire(timestamp)
        ground = self.plane.ground_points(tracked)
        for i in range(len(tracked)):
            history = self._tracks.get(int(tracked.track_id[i]), timestamp)
            history.append((timestamp, float(ground[i, 0]), float(ground[i, 1])))
            while history and history[0][0] < timestamp - self.window_s:
                history.popleft()

    def speed_kmh(self, track_id: int) -> float | None:
        """The track's speed over the window, or ``None`` if it has too little history or is implausible."""
        history = self._tracks.peek(track_id)
        if history is None or len(history) < 3:
            return None
        samples = np.array(history, dtype=np.float64)
        t = samples[:, 0] - samples[-1, 0]
        if t[-1] - t[0] < self.window_s / 2:
            return None
        # Least-squares slopes of x(t) and y(t): the velocity on the ground in m/s.
        design = np.vstack([t, np.ones_like(t)]).T
        (vx, _), (vy, _) = np.linalg.lstsq(design, samples[:, 1:3], rcond=None)[0].T
        kmh = float(np.hypot(vx, vy)) * _MS_TO_KMH
        return kmh if kmh <= self.max_kmh else None
