"""Rules about people: pedestrians or cyclists on the carriageway, and crowd density with Fruin's levels.

Both report about the zone (how many, how dense), never about a person.

Fruin's levels of service (J. J. Fruin, *Pedestrian Planning and Design*, 1971), as persons per m² at the
upper bound of each level: walkways A ≤ 0.31, B ≤ 0.43, C ≤ 0.72, D ≤ 1.08, E ≤ 2.17, F above; queuing
areas A ≤ 0.83, B ≤ 1.08, C ≤ 1.54, D ≤ 3.57, E ≤ 5.26, F above. Crush risk from about 4 persons/m²; flow
collapses from about 5 (G. K. Still, *Introduction to Crowd Science*).
"""

from __future__ import annotations

import bisect
from collections import deque
from datetime import datetime

import numpy as np

from citytally.edge.analytics.speed import GroundPlane
from citytally.edge.config import ZoneConfig
from citytally.edge.geometry import polygon_area
from citytally.edge.incident_config import FRUIN_LEVELS, CrowdDensitySettings, RoadwayIntrusionSettings
from citytally.edge.incidents.base import Context, ZoneDetector
from citytally.edge.incidents.tracks import TrackHistory
from citytally.errors import ConfigError
from citytally.events import ROAD_USER_CLASSES, IncidentEvent

__all__ = ["RoadwayIntrusionDetector", "CrowdDensityDetector", "fruin_level", "FRUIN_BOUNDS"]

#: Upper bounds (persons/m²) of levels A-E; above the last is F.
FRUIN_BOUNDS: dict[str, tuple[float, ...]] = {
    "walkway": (0.31, 0.43, 0.72, 1.08, 2.17),
    "queuing": (0.83, 1.08, 1.54, 3.57, 5.26),
}
_PERSON = ROAD_USER_CLASSES.index("person")


def fruin_level(persons_per_m2: float, table: str = "walkway") -> str:
    """Fruin's level of service (A-F) of a density."""
    return FRUIN_LEVELS[bisect.bisect_left(FRUIN_BOUNDS[table], persons_per_m2)]


class RoadwayIntrusionDetector(ZoneDetector):
    """Pedestrians or cyclists in the zone for longer than ``min_duration_s`` (one incident per zone)."""

    incident = "pedestrian_on_roadway"

    def __init__(self, rule: RoadwayIntrusionSettings, zone: ZoneConfig, context: Context) -> None:
        super().__init__(rule, zone, context)
        self.settings = rule
        self._watched = self.class_mask(rule.classes)
        self._entered: dict[int, float] = {}  # track id → first seen in the zone (kept while briefly lost)

    def observe(self, tracks: TrackHistory, at: datetime) -> list[IncidentEvent]:
        now, s = tracks.now, self.settings
        inside = self.inside(tracks, self._watched)
        ids = {int(tracks.frame.track_id[i]) for i in inside}
        for tid in ids:
            self._entered.setdefault(tid, now)
        # Forget a road user once the track history does (it left, or the tracker gave it up).
        self._entered = {
            t: since for t, since in self._entered.items() if t in ids or tracks.trail(t) is not None
        }
        lasting = [now - self._entered[t] for t in ids if now - self._entered[t] >= s.min_duration_s]
        if not lasting:
            return []
        classes = tracks.frame.class_id[inside]
        details: dict[str, float | int | str] = {
            "persons": int(np.count_nonzero(classes == _PERSON)),
            "cyclists": int(np.count_nonzero(classes != _PERSON)),
            "longest_s": round(max(lasting)),
        }
        started = self.wall(at, now, now - max(lasting))
        return self.book.hold("zone", at, started, s.severity, details)


class CrowdDensityDetector(ZoneDetector):
    """Persons per m² in the zone (mean over ``window_s``), graded A-F; an incident from ``alert_level``."""

    incident = "crowd_density"

    def __init__(
        self, rule: CrowdDensitySettings, zone: ZoneConfig, context: Context, plane: GroundPlane | None
    ) -> None:
        super().__init__(rule, zone, context)
        self.settings = rule
        if rule.area_m2 is not None:
            self.area_m2 = rule.area_m2
        elif plane is not None:
            self.area_m2 = polygon_area([tuple(p) for p in plane.to_ground(zone.polygon)])
        else:
            raise ConfigError(f"incidents.crowd_density (zone {zone.name!r}) needs area_m2 or [speed]")
        self._watched = self.class_mask(("person",))
        self._counts: deque[tuple[float, int]] = deque()
        self._alert_since: float | None = None
        self.density = 0.0
        self.persons = 0  # in the zone in the latest frame
        self._level = ""

    def observe(self, tracks: TrackHistory, at: datetime) -> list[IncidentEvent]:
        now, s = tracks.now, self.settings
        persons = self.persons = len(self.inside(tracks, self._watched))
        self._counts.append((now, persons))
        while self._counts[0][0] < now - s.window_s:
            self._counts.popleft()
        self.density = float(np.mean([n for _, n in self._counts])) / self.area_m2
        level = fruin_level(self.density, s.table)
        alerting = (
            FRUIN_LEVELS.index(level) >= FRUIN_LEVELS.index(s.alert_level) or self.density >= s.crush_per_m2
        )
        since = self._alert_since if self._alert_since is not None else now
        self._alert_since = since if alerting else None
        if not alerting or now - since < s.min_duration_s:
            return []
        severity = "critical" if self.density >= s.crush_per_m2 else "warning"
        details: dict[str, float | int | str] = {
            "persons_per_m2": round(self.density, 2),
            "level": level,
            "persons": persons,
            "area_m2": round(self.area_m2, 1),
            "flow_collapse": int(self.density >= s.collapse_per_m2),
        }
        new_level = level != self._level
        self._level = level
        return self.book.hold(
            "zone", at, self.wall(at, now, since), severity, details, changed_kind=new_level
        )
