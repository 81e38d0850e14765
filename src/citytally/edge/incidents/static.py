"""An object left standing in a zone: a new static region of the picture with no road user next to it.

Two running-average backgrounds of the zone's part of the picture (grey, scaled down): a fast one that takes
in anything standing still within seconds, and a slow one that takes minutes. A pixel that differs from the
slow background but not from the fast one shows something new that has stopped moving. Once a region of
such pixels has been static for ``min_static_s``, at least ``min_area_px`` large, and no tracked road user's
box has come within ``near_px`` of it for ``unattended_s``, the zone has a ``left_object`` incident. The
picture is looked at every ``check_s`` of the stream (an object left takes tens of seconds to count, so a look
every frame of a 30 frames/s camera would cost 15 times as much for nothing); the road users near the zone are
noted every frame, so one who passes by between two looks still attends what it passes.

The slow background learns only where no road user's box is: a car parked for an hour is not taken in, so
the road it leaves behind is not "new" (a ghost, which would be unattended as soon as the car had gone). A
place first seen under a box is learned when the box leaves it. Nothing here follows a person: the rule sees
pixels and the current frame's boxes only.

A change of light is not an object. The slow background is compared with the frame at the frame's own
brightness (scaled by the median ratio of the two over the pixels no road user covers), so a cloud, dusk or
the camera's exposure changes nothing; a new region must have an outline (its difference from the background
falls by half the threshold or more from its edge to just outside it; the edge of a soft change, the
brightest part of a lamp's pool of light, is no such step); a region whose pixels follow the background's
pattern, only brighter or darker, is lit, not left (a lamp with a sharp cut-off); and when over half of the
watched picture differs from its background by half the threshold or more, and has stopped changing, the
view itself changed (a light switched, the camera turned): the background is learned again, with a warning.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime

import cv2
import numpy as np
import numpy.typing as npt

from citytally.edge.config import ZoneConfig
from citytally.edge.incident_config import LeftObjectSettings
from citytally.edge.incidents.base import Context, Raster, ZoneDetector
from citytally.edge.incidents.tracks import TrackHistory
from citytally.events import IncidentEvent

__all__ = ["LeftObjectDetector"]

log = logging.getLogger(__name__)

_FAST_TAU_S = 2.0
_SLOW_TAU_FACTOR = 20.0  # the slow background's time constant, in units of min_static_s
_STATIC_NEVER = np.float32(np.inf)
_FAINT = 0.5  # a difference of half the threshold: faint, but more than noise
_VIEW_CHANGED = 0.5  # this share of the watched picture changed (faintly or more) and static: a new view
# A camera on a preset tour, or a sign that flashes, changes the view every few seconds: one line per ten
# minutes (of the stream) says so, with how often, instead of thousands a day on the edge's disk.
_VIEW_WARNING_EVERY_S = 600.0
_HIDDEN = 0.5  # this share of an open incident's object under road users' boxes: hidden, not taken away
_RING = np.ones((3, 3), np.uint8)
# A region over a patterned background (paving, grass) whose pixels follow that pattern, only brighter or
# darker, is lit, not left: a lamp with a sharp cut-off. It takes a pattern to tell (a plain grey road does
# not show one) and pixels that follow it closely.
_PATTERN = 3.0  # least spread (grey levels) of the background under a region to judge by its pattern
_FOLLOWS = 0.8  # least correlation of the region's pixels with the background's
_SAME_LIGHT = 0.1  # ratios to the background within this share of each other: lit alike
_LIT_AROUND = 0.25  # this share of what lies round a plain region lit alike: the light goes on past it


@dataclass(frozen=True)
class _Look:
    """One frame's view of the zone, scaled down: its grey levels, the slow background at the frame's
    brightness, their difference, the pixels no road user's box covers, and the stream time."""

    grey: npt.NDArray[np.float32]
    background: npt.NDArray[np.float32]
    difference: npt.NDArray[np.float32]
    free: npt.NDArray[np.bool_]
    now: float


class LeftObjectDetector(ZoneDetector):
    """Static new regions in the zone, unattended; needs each frame's picture (:meth:`see`)."""

    incident = "left_object"

    def __init__(self, rule: LeftObjectSettings, zone: ZoneConfig, context: Context) -> None:
        super().__init__(rule, zone, context)
        self.settings = rule
        raster = Raster(self.polygon, rule.scale)
        self._box, self._size, self._mask = raster.box, raster.size, raster.mask
        w, h = raster.size
        self._fast: npt.NDArray[np.float32] | None = None
        self._slow: npt.NDArray[np.float32] | None = None
        self._static_since = np.full((h, w), _STATIC_NEVER, np.float32)
        self._attended = np.zeros((h, w), np.float32)  # last time a road user was near each pixel
        self._known = np.zeros((h, w), np.bool_)  # pixels the slow background has seen with no road user on
        self._last_t: float | None = None
        self._next = -math.inf  # stream time of the next look
        self._holding: tuple[datetime, dict[str, float | int | str], datetime | None] | None = None
        self._image: npt.NDArray[np.uint8] | None = None
        self._where = f"{context.site}/{context.camera}: left_object in zone {zone.name!r}"
        self._reported = np.zeros((h, w), np.bool_)  # the objects of the open incident, as last seen
        self._view_changes = 0  # since the last warning
        self._view_warned: float | None = None
        # The open incident as last seen: (when it began, its details, when it was seen)
        self._seen: tuple[datetime, dict[str, float | int | str], datetime] | None = None

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
        now, s = tracks.now, self.settings
        boxes = self._attend(tracks, now)  # every frame: a road user passing between two looks attends
        if image is None or now < self._next:
            return self._hold_on(at)
        self._next = now + s.check_s
        self._holding = None
        grey = self._grey(image)
        dt = 0.0 if self._last_t is None else max(0.0, now - self._last_t)
        self._last_t = now
        free = ~self._covered(boxes)
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
        background = self._slow * _brightness(grey, self._slow, free)
        difference = cv2.absdiff(grey, background).astype(np.float32, copy=False)
        new = difference > s.difference
        moving = cv2.absdiff(grey, self._fast) > s.difference
        settled = np.count_nonzero((difference > _FAINT * s.difference) & ~moving & free)
        if settled > _VIEW_CHANGED * np.count_nonzero(free):
            self._view_changed(100 * settled / np.count_nonzero(free), now)
            self._slow, self._known = grey.copy(), free.copy()
            self._static_since[:] = _STATIC_NEVER
            return []
        self._static_since[~new] = _STATIC_NEVER
        starting = new & ~moving & (self._static_since == _STATIC_NEVER)
        self._static_since[starting] = now
        # under a box is attended anyway: a parked car's pixels are left out before the costly part
        candidate = (now - self._static_since >= s.min_static_s) & (self._mask > 0) & free
        if not candidate.any():
            return self._hidden(free, at)
        return self._regions(candidate, _Look(grey, background, difference, free, now), at)

    def _view_changed(self, percent: float, now: float) -> None:
        self._view_changes += 1
        last = self._view_warned
        if last is not None and now - last < _VIEW_WARNING_EVERY_S:
            return
        n = self._view_changes
        often = (
            ""
            if last is None or n == 1
            else f" ({n} changes of view since the last warning, {now - last:.0f} s ago)"
        )
        log.warning(
            "%s: %.0f %% of the zone's picture changed at once (a light switched, or the camera moved); "
            "its background is learned again%s",
            self._where,
            percent,
            often,
        )
        self._view_changes, self._view_warned = 0, now

    def _attend(self, tracks: TrackHistory, now: float) -> list[list[float]]:
        """Mark the pixels within ``near_px`` of a road user's box attended now; return the boxes near the
        zone."""
        x0, y0, x1, y1 = self._box
        pad = self.settings.near_px
        boxes = tracks.frame.xyxy
        near = (
            (boxes[:, 0] - pad < x1)
            & (boxes[:, 2] + pad > x0)
            & (boxes[:, 1] - pad < y1)
            & (boxes[:, 3] + pad > y0)
        )
        found: list[list[float]] = boxes[near].tolist()
        for box in found:
            self._attended[self._cells(box, pad)] = now
        return found

    def _covered(self, boxes: list[list[float]]) -> npt.NDArray[np.bool_]:
        """The analysed pixels under a road user's box."""
        covered = np.zeros(self._attended.shape, np.bool_)
        for box in boxes:
            covered[self._cells(box, 0.0)] = True
        return covered

    def _hold_on(self, at: datetime) -> list[IncidentEvent]:
        """Between two looks, what the last one held holds on."""
        if self._holding is None or not self.book.is_open("zone"):
            return []
        started, details, observed = self._holding
        return self.book.hold("zone", at, started, self.settings.severity, details, observed=observed)

    def _cells(self, box: list[float], margin: float) -> tuple[slice, slice]:
        """The analysed pixels (rows, columns) of an image box grown by ``margin`` pixels."""
        x0, y0, _, _ = self._box
        scale, (h, w) = self.settings.scale, self._attended.shape
        a = max(0, int((box[0] - margin - x0) * scale))
        b = max(0, int((box[1] - margin - y0) * scale))
        c = min(w, int(math.ceil((box[2] + margin - x0) * scale)))
        d = min(h, int(math.ceil((box[3] + margin - y0) * scale)))
        return slice(b, max(b, d)), slice(a, max(a, c))

    def _regions(self, candidate: npt.NDArray[np.bool_], look: _Look, at: datetime) -> list[IncidentEvent]:
        s, now = self.settings, look.now
        objects, count = self._objects(candidate, look, look_inside=True)
        if count == 0:
            return self._hidden(look.free, at)
        self._reported = objects
        static_s = float(now - self._static_since[objects].min())
        details: dict[str, float | int | str] = {
            "regions": count,
            "area_px": round(np.count_nonzero(objects) / (s.scale * s.scale)),
            "static_s": round(static_s),
        }
        started = self.wall(at, now, now - static_s)
        self._seen = (started, details, at)
        self._holding = (started, details, None)
        return self.book.hold("zone", at, started, s.severity, details)

    def _hidden(self, free: npt.NDArray[np.bool_], at: datetime) -> list[IncidentEvent]:
        """The open incident's objects are not seen now: held as last seen while road users' boxes cover
        them (someone standing over a bag, a van parked in front of it: hidden is not taken away), with
        ``observed`` saying when they were seen; if they turn out gone, it clears with that time."""
        reported = np.count_nonzero(self._reported)
        if self._seen is None or not self.book.is_open("zone") or reported == 0:
            return []
        if np.count_nonzero(self._reported & ~free) < _HIDDEN * reported:
            return []
        started, details, seen = self._seen
        self._holding = (started, details, seen)
        return self.book.hold("zone", at, started, self.settings.severity, details, observed=seen)

    def _objects(
        self, candidate: npt.NDArray[np.bool_], look: _Look, look_inside: bool
    ) -> tuple[npt.NDArray[np.bool_], int]:
        """The pixels of the candidate regions that are objects left standing, and how many regions."""
        s = self.settings
        n, labels, stats, _ = cv2.connectedComponentsWithStats(candidate.astype(np.uint8), connectivity=8)
        full_area = stats[1:, cv2.CC_STAT_AREA] / (s.scale * s.scale)
        # A region is attended if a road user came near any part of it lately.
        last_near = np.full(n, -np.inf)
        np.maximum.at(last_near, labels.ravel().astype(np.intp), self._attended.ravel())
        unattended = look.now - last_near[1:] >= s.unattended_s
        if self.book.is_open("zone"):
            # Once left, an object stays left while people pass it or wait beside it; taking it away ends it.
            still = np.unique(labels[self._reported])
            unattended[still[still > 0] - 1] = True
        objects, count = np.zeros(candidate.shape, np.bool_), 0
        for k in np.flatnonzero((full_area >= s.min_area_px) & unattended) + 1:
            region = labels == k
            lit = _lit(region, look) if look_inside else None
            if lit is not None:
                # The background's pattern shows through, lit: what in it does not follow the light is
                # looked at (an object left where a lamp has come on).
                unlike = np.abs(look.grey - lit * look.background) > s.difference
                inside, more = self._objects(region & unlike, look, look_inside=False)
                objects |= inside
                count += more
                continue
            step, around = self._outline(region, stats[k], look)
            if step >= _FAINT * s.difference:
                objects |= region
                count += 1
            elif look_inside:
                # The bright part of a soft change of light: something in it stands out from the change
                # round it by the threshold (an object left where a lamp has just come on)?
                inside, more = self._objects(
                    region & (look.difference > around + s.difference), look, look_inside=False
                )
                objects |= inside
                count += more
        return objects, count

    def _outline(
        self, region: npt.NDArray[np.bool_], box: npt.NDArray[np.int32], look: _Look
    ) -> tuple[float, float]:
        """How far a region's difference from the background falls from its edge to 2 px outside it, and
        the difference there (the median of each).

        An object's outline is a step of half the threshold or more, in the open or in a pool of light;
        the edge of a soft change of light (the brightest part of a lamp's pool) is where the difference
        just crosses the threshold, with the picture round it only just under it. A region with nothing
        seen round it (covered, or at the edge of the picture) has an outline.
        """
        x, y, w, h = (int(v) for v in box[:4])
        rows = slice(max(0, y - 2), y + h + 2)
        cols = slice(max(0, x - 2), x + w + 2)
        inside = region[rows, cols].astype(np.uint8)
        touching = cv2.dilate(inside, _RING).astype(np.bool_)
        ring = cv2.dilate(inside, _RING, iterations=2).astype(np.bool_) & ~touching & look.free[rows, cols]
        if not ring.any():
            return math.inf, 0.0
        edge = inside.astype(np.bool_) & ~cv2.erode(inside, _RING, borderValue=0).astype(np.bool_)
        local = look.difference[rows, cols]
        around = float(np.median(local[ring]))
        return float(np.median(local[edge])) - around, around


def _lit(region: npt.NDArray[np.bool_], look: _Look) -> float | None:
    """How much brighter (or darker) a region is than its background, if it is a change of light; None if
    it may be an object.

    Over a pattern (paving, grass) a change of light keeps it: the region's pixels follow the background's.
    Over a plain patch (one paving slab) nothing in the region tells; the light then shows round it: the
    region is brightened by one factor, and so is a quarter or more of what lies just outside it (a lamp's
    pool is larger than what of it stands out from the background; at its sharp edge, half of what lies
    round a slab is dark)."""
    background, grey = look.background[region], look.grey[region]
    if background.size < 16 or float(grey.std()) == 0.0:
        return None
    ratios = (grey + 1.0) / (background + 1.0)
    factor = float(np.median(ratios))
    if float(background.std()) >= _PATTERN:
        return factor if float(np.corrcoef(grey, background)[0, 1]) >= _FOLLOWS else None
    if float(np.median(np.abs(ratios - factor))) > _SAME_LIGHT * factor:
        return None
    near = cv2.dilate(region.view(np.uint8), _RING).astype(np.bool_)
    ring = cv2.dilate(region.view(np.uint8), _RING, iterations=3).astype(np.bool_) & ~near & look.free
    if not ring.any():
        return None
    around = (look.grey[ring] + 1.0) / (look.background[ring] + 1.0)
    return factor if float(np.mean(np.abs(around - factor) <= _SAME_LIGHT * factor)) >= _LIT_AROUND else None


def _brightness(
    grey: npt.NDArray[np.float32], background: npt.NDArray[np.float32], free: npt.NDArray[np.bool_]
) -> float:
    """How much brighter the picture is than its background now: the median ratio over ``free`` pixels."""
    if not free.any():
        return 1.0
    return float(np.median((grey[free] + 1.0) / (background[free] + 1.0)))
