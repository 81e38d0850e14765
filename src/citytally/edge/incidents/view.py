"""The camera's view moved or was lost: its counting lines and zones are then no longer where the road is.

Counts from a camera that was knocked, turned or covered are wrong without any sign in the numbers. Every
``check_s`` of the stream this rule looks at the edges of the zone's scenery (kerbs, markings, walls: the
gradient of the grey picture, scaled down and blurred a little) where no road user's box is, and compares
them with the view it learned at the start:

* a *move*: the shift that best lays the edges over the learned ones (phase correlation) is ``moved_px``
  or more;
* a *lost* view: the edges no longer correlate with the learned ones (below ``min_match``: a covered lens,
  a camera turned to other scenery), or the picture has lost half its sharpness or more (fine detail
  against contrast, which a change of light does not alter: out of focus, fog or rain on the lens).

Held for ``onset_s``, that is a ``view_changed`` incident of the zone, with the shift in pixels and the
correlation; it clears once the view is back for ``clear_s``. While the view matches, the learned view
follows it slowly, so the light of the day and the seasons do not build up into a change; a change of light
at once (a street lamp, the exposure) keeps the scenery's edges where they were and is no change either.
Road users are people and vehicles moving through the view, not scenery: pixels under their boxes are left
out, and while they cover most of the zone the view is not judged. Nothing here looks at a road user.
"""

from __future__ import annotations

import math
from datetime import datetime

import cv2
import numpy as np
import numpy.typing as npt

from citytally.edge.config import ZoneConfig
from citytally.edge.incident_config import ViewChangedSettings
from citytally.edge.incidents.base import Context, Raster, ZoneDetector
from citytally.edge.incidents.tracks import TrackHistory
from citytally.events import IncidentEvent

__all__ = ["ViewChangeDetector"]

_WIDTH = 192  # the zone is looked at this many pixels wide (or less, never enlarged)
_LEARN = 0.1  # share of a matching look taken into the learned view
_FREE = 0.3  # least share of the zone free of road users' boxes for a look to count
_PEAK = 0.05  # least phase-correlation peak for a shift to be believed
_BLURRED = 0.5  # sharpness below this share of the learned view's: out of focus


class ViewChangeDetector(ZoneDetector):
    """The zone's scenery against the view learned at the start; needs each frame's picture (:meth:`see`)."""

    incident = "view_changed"

    def __init__(self, rule: ViewChangedSettings, zone: ZoneConfig, context: Context) -> None:
        super().__init__(rule, zone, context)
        self.settings = rule
        width = float(np.ptp(self.polygon[:, 0]))
        raster = Raster(self.polygon, min(1.0, _WIDTH / max(1.0, width)), least=8)
        self._box, self._size, self._mask, self._scale = raster.box, raster.size, raster.mask, raster.scale
        self._window = cv2.createHanningWindow(raster.size, cv2.CV_32F)
        self._learned: npt.NDArray[np.float32] | None = None
        self._sharpness = 0.0  # the learned view's
        self._image: npt.NDArray[np.uint8] | None = None
        self._next = -math.inf  # stream time of the next look
        self._since: float | None = None  # stream time the view was first seen changed, this spell
        self._last: dict[str, float | int | str] | None = None  # the last look's numbers, while changed

    def see(self, image: npt.NDArray[np.uint8]) -> None:
        """The frame's picture (BGR), taken before :meth:`step` of the same frame."""
        self._image = image

    def observe(self, tracks: TrackHistory, at: datetime) -> list[IncidentEvent]:
        image, self._image = self._image, None
        now = tracks.now
        if image is not None and now >= self._next:
            self._next = now + self.settings.check_s
            self._look(image, tracks)
        if self._since is None or self._last is None or now - self._since < self.settings.onset_s:
            return []
        started = self.wall(at, now, self._since)
        return self.book.hold("zone", at, started, self.settings.severity, self._last)

    def _look(self, image: npt.NDArray[np.uint8], tracks: TrackHistory) -> None:
        small = self._grey(image)
        edges = _edges(small)
        free = (self._mask > 0) & ~self._covered(tracks)
        if np.count_nonzero(free) < _FREE * np.count_nonzero(self._mask):
            return  # mostly road users: the view cannot be judged now
        sharpness = _sharpness(small, free)
        if self._learned is None:
            self._learned, self._sharpness = edges, sharpness
            return
        learned, s = self._learned, self.settings
        match = _correlation(learned[free], edges[free])
        (dx, dy), peak = cv2.phaseCorrelate(learned * free, edges * free, self._window)
        shift = math.hypot(dx, dy) / self._scale if peak >= _PEAK else 0.0
        sharp = sharpness / self._sharpness if self._sharpness > 0 else 1.0
        if shift >= s.moved_px or match < s.min_match or sharp < _BLURRED:
            if self._since is None:
                self._since = tracks.now
            change = "moved" if shift >= s.moved_px else "lost" if match < s.min_match else "blurred"
            self._last = {"change": change, "shift_px": round(shift, 1), "match": round(match, 2)}
            self._last["sharpness"] = round(min(sharp, 9.99), 2)
            return
        self._since, self._last = None, None
        cv2.accumulateWeighted(edges, learned, _LEARN, mask=free.view(np.uint8))
        self._sharpness += _LEARN * (sharpness - self._sharpness)

    def _grey(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        x0, y0, x1, y1 = self._box
        crop = image[y0:y1, x0:x1]
        grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
        return cv2.resize(grey, self._size, interpolation=cv2.INTER_AREA).astype(np.float32)

    def _covered(self, tracks: TrackHistory) -> npt.NDArray[np.bool_]:
        """The looked-at pixels under a road user's box now."""
        covered = np.zeros(self._mask.shape, np.bool_)
        x0, y0, _, _ = self._box
        h, w = self._mask.shape
        for box in tracks.frame.xyxy.tolist():
            a, b = max(0, int((box[0] - x0) * self._scale)), max(0, int((box[1] - y0) * self._scale))
            c = min(w, math.ceil((box[2] - x0) * self._scale))
            d = min(h, math.ceil((box[3] - y0) * self._scale))
            if c > a and d > b:
                covered[b:d, a:c] = True
        return covered


def _edges(grey: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Edge strength: the gradient's magnitude, blurred a little so that a pixel's jitter is no move."""
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.GaussianBlur(cv2.magnitude(gx, gy), (5, 5), 1.0).astype(np.float32, copy=False)


def _sharpness(grey: npt.NDArray[np.float32], free: npt.NDArray[np.bool_]) -> float:
    """Fine detail against contrast: the mean absolute Laplacian over the grey levels' spread. Light that
    scales the picture scales both; blur takes the detail and leaves most of the spread."""
    detail = np.abs(cv2.Laplacian(grey, cv2.CV_32F, ksize=1))[free]
    spread = float(grey[free].std())
    return float(detail.mean()) / spread if spread > 1.0 else 0.0


def _correlation(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    """Pearson's correlation of two sets of edge strengths (0 where either is flat)."""
    a, b = a - a.mean(), b - b.mean()
    norm = math.sqrt(float(np.dot(a, a)) * float(np.dot(b, b)))
    return float(np.dot(a, b)) / norm if norm > 0 else 0.0
