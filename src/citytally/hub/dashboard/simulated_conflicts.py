"""Traffic conflicts of the demo's simulated day: SUMO's cars through citytally's own conflict analysis.

Each virtual camera's conflict zone is the square of ``2 × ZONE_HALF_M`` metres centred on its junction.
While SUMO runs, every car in the square is sampled at each simulation step (a quarter of a second,
:data:`citytally.hub.dashboard.simulated.STEP_S`) at its centre (SUMO reports the front bumper; the
centre is half the vehicle's own length behind it, along its heading), in metres from the junction centre,
x east and y north. A car's path is its samples while in the square, the last
``window_s`` seconds of it, as on the edge (a car that leaves and comes back starts a new path).

The paths are measured by :func:`citytally.edge.safety.find_conflicts` with the zone's thresholds (it pairs
the road users that were near each other at one time at least), controlled approaches (a car drawing up
behind a queue) are left out as on the edge, and each conflict is placed midway
between the two cars at its time, as the edge's :class:`~citytally.edge.analytics.conflicts.ConflictMonitor`
does. A car counts in the quarter of the hour in which it entered the square, a conflict in the quarter in
which the later of its two cars left it (the edge counts it when both paths have ended).

The day's interval keeps the same share of the quarter's cars as the other panels (the same deterministic
rule, over the zone's cars in the order they entered) and the conflicts between two kept cars. The event
is built by :class:`~citytally.edge.analytics.conflicts.ConflictTally`, as on the edge; the ground plane
maps the square onto the camera drawing's ``junction`` zone, so the heat map's cells fall inside it. The car
indexes below stay in this module: the event carries counts, histograms and cells only.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from citytally.arrays import Float64Array
from citytally.edge.analytics.conflicts import ConflictTally, LocatedConflict
from citytally.edge.analytics.speed import GroundPlane
from citytally.edge.conflict_config import ConflictSettings
from citytally.edge.safety import Conflict, Trajectory, find_conflicts
from citytally.events import ROAD_USER_CLASSES, ConflictEvent

__all__ = [
    "ZONE_HALF_M",
    "ZONE_CORNERS_M",
    "kept_stays",
    "CONFLICT_ZONE",
    "SETTINGS",
    "ZonePath",
    "ZoneHour",
    "ZoneRecorder",
    "measure_zone",
    "drawing_plane",
    "interval_conflict_event",
]

#: Half the side of a junction's conflict zone (m): the square covers the junction box (every pair of cars
#: in it at once is measured, about 7 ms each on the development machine: a larger square costs seconds).
ZONE_HALF_M = 10.0
#: The zone's corners on the ground: north-west, north-east, south-east, south-west (x east, y north).
ZONE_CORNERS_M = (
    (-ZONE_HALF_M, ZONE_HALF_M),
    (ZONE_HALF_M, ZONE_HALF_M),
    (ZONE_HALF_M, -ZONE_HALF_M),
    (-ZONE_HALF_M, -ZONE_HALF_M),
)
CONFLICT_ZONE = "junction"
SETTINGS = ConflictSettings(zone=CONFLICT_ZONE)
_CAR = ROAD_USER_CLASSES.index("car")
_GOLDEN = 0.6180339887


@dataclass(frozen=True)
class ZonePath:
    """One car's stay in a junction's conflict zone: when it entered and left (s into the hour), its path."""

    entered: float
    left: float
    trajectory: Trajectory


@dataclass(frozen=True)
class ZoneHour:
    """A junction zone's simulated hour: the cars' stays (in order of entry) and the conflicts measured,
    each with the indexes of its two stays (internal; never in an event)."""

    paths: list[ZonePath]
    conflicts: list[tuple[int, int, LocatedConflict]]


class ZoneRecorder:
    """Samples the cars in each junction's conflict zone once per simulation step (SUMO context
    subscriptions on a point of interest at each junction centre: one call per junction and step)."""

    def __init__(self, api: Any, centres: dict[str, tuple[float, float]], step_s: float) -> None:
        import traci.constants as tc  # libsumo shares traci's constants

        self._api, self._tc = api, tc
        self._step_s = step_s
        self._centres = centres
        self._samples: dict[str, dict[str, list[tuple[float, float, float]]]] = defaultdict(dict)
        for junction, (x, y) in centres.items():
            api.poi.add(f"citytally-{junction}", x, y, (0, 0, 0, 0))
            variables = [tc.VAR_POSITION, tc.VAR_ANGLE, tc.VAR_LENGTH]
            api.poi.subscribeContext(
                f"citytally-{junction}", tc.CMD_GET_VEHICLE_VARIABLE, ZONE_HALF_M * 1.5, variables
            )

    def step(self, second: float) -> None:
        """Record every car in each zone at ``second`` (into the hour)."""
        tc = self._tc
        for junction, (cx, cy) in self._centres.items():
            found = self._api.poi.getContextSubscriptionResults(f"citytally-{junction}")
            for vehicle, values in found.items():
                fx, fy = values[tc.VAR_POSITION]
                angle = math.radians(values[tc.VAR_ANGLE])  # SUMO: clockwise from north
                half = values[tc.VAR_LENGTH] / 2  # the vehicle's own length: cologne3's cars are 4.3 m
                x = fx - half * math.sin(angle) - cx
                y = fy - half * math.cos(angle) - cy
                if abs(x) < ZONE_HALF_M and abs(y) < ZONE_HALF_M:
                    self._samples[junction].setdefault(vehicle, []).append((second, x, y))

    def paths(self) -> dict[str, list[ZonePath]]:
        """Each junction's stays, in order of entry; a gap of more than a step splits a car's samples."""
        found: dict[str, list[ZonePath]] = {}
        for junction in self._centres:
            stays = []
            for rows in self._samples[junction].values():
                samples = np.asarray(rows, dtype=np.float64)
                breaks = np.flatnonzero(np.diff(samples[:, 0]) > 1.5 * self._step_s) + 1
                stays += [_stay(part) for part in np.split(samples, breaks)]
            found[junction] = sorted((s for s in stays if s is not None), key=lambda s: s.entered)
        return found


def _stay(samples: Float64Array) -> ZonePath | None:
    kept = samples[samples[:, 0] >= samples[-1, 0] - SETTINGS.window_s]
    if len(kept) < 2:
        return None
    trajectory = Trajectory(kept[:, 0].copy(), kept[:, 1:3].copy(), "car")
    return ZonePath(float(samples[0, 0]), float(samples[-1, 0]), trajectory)


def measure_zone(paths: Sequence[ZonePath], settings: ConflictSettings = SETTINGS) -> ZoneHour:
    """Measure the stays' pairs with the zone's thresholds, as the edge measures its ended paths."""
    trajectories = [p.trajectory for p in paths]
    found = find_conflicts(trajectories, settings.thresholds(), ignore_pairs=set(settings.ignore_pairs))
    conflicts = [
        (i, j, _locate(c.time_s, trajectories[i], trajectories[j], c))
        for c in found
        if not c.controlled
        for i, j in [c.pair]
    ]
    return ZoneHour(list(paths), conflicts)


def _locate(when: float, a: Trajectory, b: Trajectory, conflict: Conflict) -> LocatedConflict:
    """Midway between the two cars at the conflict's time."""
    x, y = ((np.interp(when, a.t, a.xy[:, k]) + np.interp(when, b.t, b.xy[:, k])) / 2 for k in (0, 1))
    return LocatedConflict(conflict, float(x), float(y))


def drawing_plane(square: Sequence[Sequence[float]]) -> GroundPlane:
    """The ground plane that puts the zone's square (metres, north up) onto the drawing's square
    ``square`` (image pixels: top-left, top-right, bottom-right, bottom-left)."""
    return GroundPlane(square, ZONE_CORNERS_M)


def kept_stays(zone: ZoneHour, share: float) -> list[bool]:
    """Which stays a day's interval keeps: the same evenly spread share as the other panels' cars."""
    return [(k * _GOLDEN) % 1.0 < share for k in range(len(zone.paths))]


def interval_conflict_event(
    head: dict[str, Any], zone: ZoneHour, quarter: int, share: float, plane: GroundPlane
) -> ConflictEvent:
    """One interval's conflict event: the kept cars that entered in ``quarter`` of the hour and the
    conflicts between two kept cars counted in it, tallied as the edge does."""
    kept = kept_stays(zone, share)
    tally = ConflictTally(road_users=Counter())
    tally.road_users[_CAR] = sum(
        1 for p, keep in zip(zone.paths, kept, strict=True) if keep and _quarter(p.entered) == quarter
    )
    tally.conflicts = [
        located
        for i, j, located in zone.conflicts
        if kept[i] and kept[j] and _quarter(max(zone.paths[i].left, zone.paths[j].left)) == quarter
    ]
    return ConflictEvent.model_validate({**head, **tally.event_body(SETTINGS, plane)})


def _quarter(second: float) -> int:
    return min(3, int(second // 900))
