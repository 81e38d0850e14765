"""Rules about people: pedestrians or cyclists on the carriageway, and crowd density with Fruin's levels.

Both report about the zone (how many, how dense), never about a person.

Fruin's levels of service (J. J. Fruin, *Pedestrian Planning and Design*, 1971), as persons per m² at the
upper bound of each level: walkways A ≤ 0.31, B ≤ 0.43, C ≤ 0.72, D ≤ 1.08, E ≤ 2.17, F above; queuing
areas A ≤ 0.83, B ≤ 1.08, C ≤ 1.54, D ≤ 3.57, E ≤ 5.26, F above. Crush risk from about 4 persons/m²; flow
collapses from about 5 (G. K. Still, *Introduction to Crowd Science*).
"""

from __future__ import annotations

import bisect
import math
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


#: A road user is on the carriageway while most of its sightings over this long were in the zone.
PRESENCE_S = 1.0
#: A track first seen on the carriageway within this long of one lost there, and near where that one would
#: be by now, continues its time there: trackers give a person they lose for a moment a new id.
CARRY_S = 3.0
#: How near (m, or px uncalibrated), plus half the way the lost one would have come since at its last speed.
_CARRY_NEAR_M, _CARRY_NEAR_PX = 2.0, 30.0


class _Presence:
    """One road user's sightings of the last :data:`PRESENCE_S`, each in the zone or not."""

    __slots__ = ("sightings", "inside", "entered", "carried")

    def __init__(self, carried: float | None = None) -> None:
        self.sightings: deque[tuple[float, bool]] = deque()
        self.inside = 0  # how many of the sightings were in the zone
        self.entered: float | None = None  # since when it has been on the carriageway
        self.carried = carried  # since when the road user it continues had been on it (a new track id)

    def see(self, now: float, inside: bool) -> None:
        self.sightings.append((now, inside))
        self.inside += inside
        while self.sightings[0][0] < now - PRESENCE_S:
            self.inside -= self.sightings.popleft()[1]
        if 2 * self.inside <= len(self.sightings):
            self.entered = None
        elif self.entered is None:
            first = next(t for t, was_inside in self.sightings if was_inside)
            self.entered = first if self.carried is None else min(first, self.carried)
        self.carried = None  # it counts from its first sighting only


class RoadwayIntrusionDetector(ZoneDetector):
    """Pedestrians or cyclists on the carriageway for longer than ``min_duration_s`` (one incident per zone).

    A road user is on it while most of its sightings over the last :data:`PRESENCE_S` were in the zone:
    a pedestrian waiting at the kerb, whose ground point a detector's jitter puts over the edge now and
    then, is not; one standing on the road that the jitter puts on the pavement now and then still is. Its
    time on the carriageway goes on through frames the detector misses it in, as long as the tracker
    keeps it, and across a new id the tracker gives it: a track first seen on the carriageway within
    :data:`CARRY_S` of one lost there, near where that one would be by now, continues its time (no
    identity is kept: the time on the road and the place go over, the lost one's record is dropped).
    """

    incident = "pedestrian_on_roadway"

    def __init__(self, rule: RoadwayIntrusionSettings, zone: ZoneConfig, context: Context) -> None:
        super().__init__(rule, zone, context)
        self.settings = rule
        self._watched = self.class_mask(rule.classes)
        self._present: dict[int, _Presence] = {}  # track id → its presence, from its first sighting inside

    def observe(self, tracks: TrackHistory, at: datetime) -> list[IncidentEvent]:
        now, s, frame = tracks.now, self.settings, tracks.frame
        inside = {int(frame.track_id[i]) for i in self.inside(tracks, self._watched)}
        on_road: list[tuple[float, int]] = []  # (since, class id) of those on the carriageway now
        for i, (tid, cls) in enumerate(zip(frame.track_id.tolist(), frame.class_id.tolist(), strict=True)):
            presence = self._present.get(tid)
            if presence is None:
                if tid not in inside:
                    continue
                presence = self._present[tid] = _Presence(self._carry(tracks, i))
            presence.see(now, tid in inside)
            if presence.entered is not None:
                on_road.append((presence.entered, cls))
        # Forget a road user once it has stayed out of the zone for PRESENCE_S, or the track history has
        # forgotten it (it left, or the tracker gave it up).
        self._present = {
            t: p
            for t, p in self._present.items()
            if p.inside and (t in inside or tracks.trail(t) is not None)
        }
        lasting = [now - since for since, _ in on_road if now - since >= s.min_duration_s]
        if not lasting:
            return []
        classes = np.asarray([cls for _, cls in on_road])
        details: dict[str, float | int | str] = {
            "persons": int(np.count_nonzero(classes == _PERSON)),
            "cyclists": int(np.count_nonzero(classes != _PERSON)),
            "longest_s": round(max(lasting)),
        }
        started = self.wall(at, now, now - max(lasting))
        return self.book.hold("zone", at, started, s.severity, details)

    def _carry(self, tracks: TrackHistory, i: int) -> float | None:
        """Since when the road user that this frame's ``i``-th track, first seen on the carriageway,
        continues had been on it: the nearest one lost there (not in this frame) within :data:`CARRY_S`,
        near where it would be by now at its last velocity (both from the track history, which keeps a lost
        track a while); None if none. The lost one's record is dropped: one road user continues one other."""
        calibrated = tracks.plane is not None
        here = tracks.ground[i] if calibrated else tracks.points[i]
        near = _CARRY_NEAR_M if calibrated else _CARRY_NEAR_PX
        current = set(tracks.frame.track_id.tolist())
        best: tuple[float, int, float] | None = None  # (gap, track id, entered)
        for tid, lost in self._present.items():
            trail = tracks.trail(tid)
            if lost.entered is None or tid in current or trail is None:
                continue
            last = trail.samples[-1]  # (t, image x, y, ground x, y)
            elapsed = tracks.now - last[0]
            if elapsed > CARRY_S:
                continue
            where = (last[3], last[4]) if calibrated else (last[1], last[2])
            motion = tracks.motion(tid, PRESENCE_S)
            vx, vy = 0.0, 0.0
            if motion is not None:
                vx, vy = (motion.ground_m_s or (0.0, 0.0)) if calibrated else (motion.vx_px, motion.vy_px)
            gap = math.hypot(here[0] - where[0] - vx * elapsed, here[1] - where[1] - vy * elapsed)
            if gap <= near + 0.5 * math.hypot(vx, vy) * elapsed and (best is None or gap < best[0]):
                best = (gap, tid, lost.entered)
        if best is None:
            return None
        del self._present[best[1]]
        return best[2]


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
        self._counted = 0  # the sum of the counts in the window
        self._alert_since: float | None = None
        self.density = 0.0
        self.persons = 0  # in the zone in the latest frame
        self._level = ""  # the level held (with hysteresis); "" before the first frame
        self._critical = False  # at crush risk (with hysteresis)
        self._published_level = ""

    def observe(self, tracks: TrackHistory, at: datetime) -> list[IncidentEvent]:
        now, s = tracks.now, self.settings
        persons = self.persons = len(self.inside(tracks, self._watched))
        self._counts.append((now, persons))
        self._counted += persons
        while self._counts[0][0] < now - s.window_s:
            self._counted -= self._counts.popleft()[1]
        self.density = self._counted / len(self._counts) / self.area_m2
        level = self._level = self._held_level(self.density)
        # up at once (safety first); down only once the density is the hysteresis below the threshold
        easing = s.crush_per_m2 - s.hysteresis_per_m2
        self._critical = self.density >= s.crush_per_m2 or (self._critical and self.density > easing)
        alerting = FRUIN_LEVELS.index(level) >= FRUIN_LEVELS.index(s.alert_level) or self._critical
        since = self._alert_since if self._alert_since is not None else now
        self._alert_since = since if alerting else None
        if not alerting or now - since < s.min_duration_s:
            return []
        severity = "critical" if self._critical else "warning"
        details: dict[str, float | int | str] = {
            "persons_per_m2": round(self.density, 2),
            "level": level,
            "persons": persons,
            "area_m2": round(self.area_m2, 1),
            "flow_collapse": int(self.density >= s.collapse_per_m2),
        }
        new_level = level != self._published_level
        self._published_level = level
        return self.book.hold(
            "zone", at, self.wall(at, now, since), severity, details, changed_kind=new_level
        )

    def _held_level(self, density: float) -> str:
        """The level of ``density``: a higher one than held is taken at once, a lower one only once the
        density is ``hysteresis_per_m2`` below the held level's lower bound."""
        s = self.settings
        level = fruin_level(density, s.table)
        if not self._level or FRUIN_LEVELS.index(level) >= FRUIN_LEVELS.index(self._level):
            return level
        eased = fruin_level(density + s.hysteresis_per_m2, s.table)
        return FRUIN_LEVELS[min(FRUIN_LEVELS.index(eased), FRUIN_LEVELS.index(self._level))]
