"""What every incident detector shares: its zone, the classes it watches, its book of open incidents."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime, timedelta

import cv2
import numpy as np
import numpy.typing as npt

from citytally.edge.config import ZoneConfig
from citytally.edge.incident_config import ZoneRule
from citytally.edge.incidents.book import IncidentBook
from citytally.edge.incidents.tracks import TrackHistory
from citytally.events import ROAD_USER_CLASSES, EventIds, IncidentEvent, IncidentType, RoadUserClass

__all__ = ["ZoneDetector", "Context", "Raster"]


class Context:
    """Where a detector runs: the camera's site and camera names, how often open incidents update and
    where their ids come from (derived for a recording with a start time: :class:`EventIds`)."""

    def __init__(self, site: str, camera: str, update_s: float, ids: EventIds | None = None) -> None:
        self.site, self.camera, self.update_s = site, camera, update_s
        self.ids = ids or EventIds(site, camera, derived=False)


class Raster:
    """A zone as rules that read the picture look at it: its bounding box in the picture (x0, y0, x1, y1),
    the box's size scaled by ``scale`` (at least ``least`` pixels a side) and the zone's mask at that size."""

    def __init__(self, polygon: npt.NDArray[np.float64], scale: float, least: int = 1) -> None:
        x0, y0 = np.floor(polygon.min(axis=0)).astype(int)
        x1, y1 = np.ceil(polygon.max(axis=0)).astype(int)
        self.box = (int(x0), int(y0), int(x1), int(y1))
        self.scale = scale
        w = max(least, round((x1 - x0) * scale))
        h = max(least, round((y1 - y0) * scale))
        self.size = (w, h)
        self.mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(self.mask, [((polygon - (x0, y0)) * scale).astype(np.int32)], 1)


class ZoneDetector(ABC):
    """An incident rule watching one zone. :meth:`step` runs once per frame on the shared track history."""

    incident: IncidentType

    def __init__(self, rule: ZoneRule, zone: ZoneConfig, context: Context) -> None:
        self.rule = rule
        self.zone = zone
        self.polygon = np.asarray(zone.polygon, dtype=np.float64)
        self.book = IncidentBook(
            context.site,
            context.camera,
            self.incident,
            zone.name,
            rule.clear_s,
            context.update_s,
            context.ids,
        )

    @staticmethod
    def class_mask(classes: tuple[RoadUserClass, ...]) -> npt.NDArray[np.bool_]:
        """A boolean per class id: watched or not."""
        return np.array([c in classes for c in ROAD_USER_CLASSES])

    def inside(self, tracks: TrackHistory, watched: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
        """Indexes into ``tracks.frame`` of the watched road users standing in the zone now."""
        # The polygon test is the costly part: the history does it once per zone and frame for all rules.
        return np.flatnonzero(watched[tracks.frame.class_id] & tracks.in_zone(self.zone.name, self.polygon))

    @staticmethod
    def wall(at: datetime, now: float, then: float) -> datetime:
        """The wall time of stream time ``then``, given that stream time ``now`` is ``at``."""
        return at - timedelta(seconds=now - then)

    def step(self, tracks: TrackHistory, at: datetime) -> list[IncidentEvent]:
        """This frame's onsets and updates, then clearances of what no longer holds."""
        return self.observe(tracks, at) + self.book.sweep(at)

    @abstractmethod
    def observe(self, tracks: TrackHistory, at: datetime) -> list[IncidentEvent]:
        """Call ``self.book.hold`` for every incident that holds now; return its events."""

    def finish(self) -> list[IncidentEvent]:
        return self.book.close_all()
