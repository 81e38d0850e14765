"""An object left standing in a zone: a new static region of the picture with no road user next to it.

Two running-average backgrounds of the zone's part of the picture (grey, scaled down): a fast one that takes
in anything standing still within seconds, and a slow one that takes minutes. A pixel that differs from the
slow background but not from the fast one shows something new that has stopped moving. Once a region of
such pixels has been static for ``min_static_s``, at least ``min_area_px`` large, and no tracked road user's
box has come within ``near_px`` of it for ``unattended_s``, the zone has a ``left_object`` incident.

The slow background learns only where no road user's box is: a car parked for an hour is not taken in, so
the road it leaves behind is not "new" (a ghost, which would be unattended as soon as the car had gone). A
place first seen under a box is learned when the box leaves it. Nothing here follows a person: the rule sees
pixels and the current frame's boxes only.
"""

from __future__ import annotations

import math
from datetime import datetime

import cv2
import numpy as np
import numpy.typing as npt

from citytally.edge.config import ZoneConfig
from citytally.edge.incident_config import LeftObjectSettings
from citytally.edge.incidents.base import Context, ZoneDetector
from citytally.edge.incidents.tracks import TrackHistory
from citytally.events import IncidentEvent

__all__ = ["LeftObjectDetector"]

_FAST_TAU_S = 2.0
_SLOW_TAU_FACTOR = 20.0  # the slow background's time constant, in units of min_static_s
_STATIC_NEVER = np.float32(np.inf)


class LeftObjectDetector(ZoneDetector):
    """Static new regions in the zone, unattended; needs each frame's picture (:meth:`see`)."""

    incident = "left_object"

    def __init__(self, rule: LeftObjectSettings, zone: ZoneConfig, context: Context) -> None:
        super().__init__(rule, zone, context)
        self.settings = rule
        x0, y0 = np.floor(self.polygon.min(axis=0)).astype(int)
        x1, y1 = np.ceil(self.polygon.max(axis=0)).astype(int)
        self._box = (int(x0), int(y0), int(x1), int(y1))
        w = max(1, round((x1 - x0) * rule.scale))
        h = max(1, round((y1 - y0) * rule.scale))
        self._size = (w, h)
        local = ((self.polygon - (x0, y0)) * rule.scale).astype(np.int32)
        self._mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(self._mask, [local], 1)
        self._fast: npt.NDArray[np.float32] | None = None
        self._slow: npt.NDArray[np.float32] | None = None
        self._static_since = np.full((h, w), _STATIC_NEVER, np.float32)
        self._attended = np.zeros((h, w), np.float32)  # last time a road user was near each pixel
        self._known = np.zeros((h, w), np.bool_)  # pixels the slow background has seen with no road user on
        self._last_t: float | None = None
        self._image: npt.NDArray[np.uint8] | None = None

    def see(self, image: npt.NDArray[np.uint8]) -> None:
        """The frame's picture (BGR), taken before :meth:`step` of the same frame."""
        self._image = image

    def _grey(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        x0, y0, x1, y1 = self._box
        crop = image[max(y0, 0) : y1, max(x0, 0) : x1]
        grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
        return cv2.resize(grey, self._size, interpolation=cv2.INTER_AREA).astype(np.float32)

    def observe(self, tracks: TrackHistory, at: datetime) -> list[IncidentEvent]:
        image, self._image = self._image, None
        if image is None:
            return []
        now, s = tracks.now, self.settings
        grey = self._grey(image)
        dt = 0.0 if self._last_t is None else max(0.0, now - self._last_t)
        self._last_t = now
        free = ~self._road_users(tracks, now)
        if self._fast is None or self._slow is None:
            self._fast, self._slow = grey.copy(), grey.copy()
            self._known = free
            self._attended[:] = now
            return []
        seed = free & ~self._known  # first seen free of road users: start the slow background there
        self._slow[seed] = grey[seed]
        self._known |= free
        cv2.accumulateWeighted(grey, self._fast, 1 - math.exp(-dt / _FAST_TAU_S))
        alpha = 1 - math.exp(-dt / (_SLOW_TAU_FACTOR * s.min_static_s))
        cv2.accumulateWeighted(grey, self._slow, alpha, mask=free.view(np.uint8))
        new = cv2.absdiff(grey, self._slow) > s.difference
        moving = cv2.absdiff(grey, self._fast) > s.difference
        self._static_since[~new] = _STATIC_NEVER
        starting = new & ~moving & (self._static_since == _STATIC_NEVER)
        self._static_since[starting] = now
        # under a box is attended anyway: a parked car's pixels are left out before the costly part
        candidate = (now - self._static_since >= s.min_static_s) & (self._mask > 0) & free
        if not candidate.any():
            return []
        return self._regions(candidate, now, at)

    def _road_users(self, tracks: TrackHistory, now: float) -> npt.NDArray[np.bool_]:
        """Mark the pixels within ``near_px`` of a road user's box attended now; return those under a box."""
        x0, y0, x1, y1 = self._box
        pad = self.settings.near_px
        covered = np.zeros(self._attended.shape, np.bool_)
        boxes = tracks.frame.xyxy
        near = (
            (boxes[:, 0] - pad < x1)
            & (boxes[:, 2] + pad > x0)
            & (boxes[:, 1] - pad < y1)
            & (boxes[:, 3] + pad > y0)
        )
        for box in boxes[near].tolist():
            self._attended[self._cells(box, pad)] = now
            covered[self._cells(box, 0.0)] = True
        return covered

    def _cells(self, box: list[float], margin: float) -> tuple[slice, slice]:
        """The analysed pixels (rows, columns) of an image box grown by ``margin`` pixels."""
        x0, y0, _, _ = self._box
        scale, (h, w) = self.settings.scale, self._attended.shape
        a = max(0, int((box[0] - margin - x0) * scale))
        b = max(0, int((box[1] - margin - y0) * scale))
        c = min(w, int(math.ceil((box[2] + margin - x0) * scale)))
        d = min(h, int(math.ceil((box[3] + margin - y0) * scale)))
        return slice(b, max(b, d)), slice(a, max(a, c))

    def _regions(self, candidate: npt.NDArray[np.bool_], now: float, at: datetime) -> list[IncidentEvent]:
        s = self.settings
        n, labels, stats, _ = cv2.connectedComponentsWithStats(candidate.astype(np.uint8), connectivity=8)
        full_area = stats[1:, cv2.CC_STAT_AREA] / (s.scale * s.scale)
        # A region is attended if a road user came near any part of it lately.
        last_near = np.full(n, -np.inf)
        np.maximum.at(last_near, labels.ravel().astype(np.intp), self._attended.ravel())
        unattended = now - last_near[1:] >= s.unattended_s
        big = np.flatnonzero((full_area >= s.min_area_px) & unattended) + 1
        if n <= 1 or len(big) == 0:
            return []
        static_s = float(now - self._static_since[np.isin(labels, big)].min())
        details: dict[str, float | int | str] = {
            "regions": len(big),
            "area_px": round(float(full_area[big - 1].sum())),
            "static_s": round(static_s),
        }
        return self.book.hold("zone", at, self.wall(at, now, now - static_s), s.severity, details)
