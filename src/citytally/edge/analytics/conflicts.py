"""Traffic conflicts in a junction zone: ground paths of the road users in it, paired by
:func:`citytally.edge.safety.find_conflicts`, tallied per interval into an anonymous :class:`ConflictEvent`.

A road user's path is its ground points (bottom centre of its box through the ``[speed]`` homography) while
that point is inside the zone, the last ``window_s`` seconds of it, smoothed over ``smooth_s`` seconds
(:meth:`Trajectory.smoothed`: a detector's jitter is no motion). The path ends when the road user has been
outside for ``exit_frames`` observations in a row, when the tracker has lost it for good, or at the end of the
stream. A pair is measured once, when the later of its two paths has ended, so the conflict is counted in the
interval in which the second road user left the zone (PET needs both paths whole); a controlled approach (a
car drawing up behind a queue, :func:`~citytally.edge.safety.measure_encounters`) is not counted. Ended paths
are kept while a path still going on may overlap them in time (``window_s`` plus the PET threshold; at most
``_KEEP_ENDED``), which bounds memory. Only counts, histograms and a grid of ground cells leave this module:
the pair indexes and track ids stay here.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from citytally.arrays import Float64Array as FloatArray
from citytally.edge.analytics.speed import GroundPlane
from citytally.edge.analytics.tracks import TrackStates
from citytally.edge.config import ZoneConfig
from citytally.edge.conflict_config import ConflictSettings
from citytally.edge.detections import NO_TRACK, Detections
from citytally.edge.safety import (
    PET_BINS_S,
    TTC_BINS_S,
    Conflict,
    Trajectory,
    find_conflicts,
    severity,
    summarise,
)
from citytally.events import (
    ROAD_USER_CLASSES,
    ConflictCell,
    ConflictCount,
    ConflictEvent,
    ConflictHistogram,
)

__all__ = ["ConflictFrame", "ConflictMonitor", "ConflictTally", "LocatedConflict", "conflict_event"]

#: Seconds of stream between two pairings of the paths that ended: conflicts are counted at most this late.
EVALUATE_EVERY_S = 1.0
#: Most ended paths kept for pairing with later ones (a busy junction empties the oldest first).
_KEEP_ENDED = 512


@dataclass(frozen=True)
class LocatedConflict:
    """A conflict and where it happened on the ground: midway between the two road users at its time."""

    conflict: Conflict
    x_m: float
    y_m: float


@dataclass
class _Path:
    class_id: int = 0
    samples: deque[tuple[float, float, float]] = field(default_factory=lambda: deque(maxlen=4096))
    outside: int = 0
    active: bool = False

    def trajectory(self) -> Trajectory | None:
        if len(self.samples) < 2:
            return None
        rows = np.asarray(self.samples, dtype=np.float64)
        return Trajectory(rows[:, 0], rows[:, 1:3], ROAD_USER_CLASSES[self.class_id])


@dataclass
class ConflictFrame:
    """What one call produced: classes of the road users that entered the zone, conflicts counted now."""

    entered: list[int]
    conflicts: list[LocatedConflict]


class ConflictMonitor:
    """Collects the ground paths of road users in one zone and measures every pair once."""

    def __init__(
        self,
        settings: ConflictSettings,
        zone: ZoneConfig,
        plane: GroundPlane,
        forget_after_s: float = 5.0,
        exit_frames: int = 3,
    ) -> None:
        self.settings = settings
        self.plane = plane
        self.exit_frames = exit_frames
        self.thresholds = settings.thresholds()
        self._polygon = np.asarray(zone.polygon, dtype=np.float64)
        self._paths: TrackStates[_Path] = TrackStates(_Path, forget_after_s)
        self._ended: list[Trajectory] = []
        self._kept: deque[Trajectory] = deque(maxlen=_KEEP_ENDED)
        self._evaluated = -np.inf
        # An ended path may meet one still going on that began up to this long before now.
        self._keep_s = settings.window_s + settings.pet_s + forget_after_s

    @property
    def zone(self) -> str:
        return self.settings.zone

    @property
    def held_paths(self) -> int:
        """Paths in memory: in progress, ended and waiting, kept for later pairs (bounded)."""
        return len(self._paths) + len(self._ended) + len(self._kept)

    def update(self, tracked: Detections, timestamp: float) -> ConflictFrame:
        """Add one frame's confirmed road users; pair the paths that ended, about once a second."""
        for _, path, _ in self._paths.expire(timestamp):
            if path.active:
                self._end(path)
        known = tracked.track_id != NO_TRACK
        confirmed = tracked[known]
        inside = tracked.in_polygon(self._polygon)[known]
        ground = self.plane.ground_points(tracked)[known][inside]
        entered = self._extend(confirmed, inside, ground, timestamp)
        found: list[LocatedConflict] = []
        if timestamp - self._evaluated >= EVALUATE_EVERY_S:
            found = self._pair(timestamp)
        return ConflictFrame(entered, found)

    def finish(self) -> ConflictFrame:
        """End of stream: every path ends now and is paired."""
        for _, path, _ in self._paths.drain():
            if path.active:
                self._end(path)
        return ConflictFrame([], self._pair(np.inf))

    def _extend(
        self, confirmed: Detections, inside: npt.NDArray[np.bool_], ground: FloatArray, timestamp: float
    ) -> list[int]:
        """Append the ground points of those inside; end the paths of those outside long enough."""
        entered: list[int] = []
        rows = iter(ground.tolist())
        ids, classes = confirmed.track_id.tolist(), confirmed.class_id.tolist()
        for tid, cls, is_in in zip(ids, classes, inside.tolist(), strict=True):
            path = self._paths.get(tid, timestamp)
            if not is_in:
                path.outside += 1
                if path.active and path.outside >= self.exit_frames:
                    self._end(path)
                continue
            x, y = next(rows)
            if not path.active:
                entered.append(cls)
                path.active = True
            path.class_id, path.outside = cls, 0
            if np.isfinite(x) and np.isfinite(y) and (not path.samples or path.samples[-1][0] < timestamp):
                path.samples.append((timestamp, x, y))
            while path.samples and path.samples[0][0] < timestamp - self.settings.window_s:
                path.samples.popleft()
        return entered

    def _end(self, path: _Path) -> None:
        """The road user has left: its path waits for the next pairing; a return starts a new one."""
        trajectory = path.trajectory()
        if trajectory is not None:
            self._ended.append(trajectory.smoothed(self.settings.smooth_s))
        path.active, path.samples = False, deque(maxlen=path.samples.maxlen)

    def _pair(self, now: float) -> list[LocatedConflict]:
        """Measure the paths that ended against each other and against the kept ones they may meet."""
        self._evaluated = now
        fresh, self._ended = self._ended, []
        if not fresh:
            return []
        horizon = min(float(t.t[0]) for t in fresh) - self.settings.pet_s
        older = [t for t in self._kept if t.t[-1] >= horizon]
        ignored = set(self.settings.ignore_pairs)
        # The ended paths among themselves, then each against each kept one it may meet: kept pairs were
        # measured before. Ignored class pairs are skipped before they are measured (that is the cost).
        groups = [fresh, *([new, old] for new in fresh for old in older if self._may_meet(new, old, ignored))]
        found = [
            self._locate(c, group)
            for group in groups
            for c in find_conflicts(group, self.thresholds, ignore_pairs=ignored)
            if not c.controlled
        ]
        self._kept.extend(fresh)
        if np.isfinite(now):
            keep_from = now - self._keep_s
            while self._kept and self._kept[0].t[-1] < keep_from:
                self._kept.popleft()
        return found

    def _may_meet(self, a: Trajectory, b: Trajectory, ignored: set[str]) -> bool:
        """Whether a pair is worth measuring: classes not ignored, and in the zone at about the same time
        (find_conflicts measures only pairs seen together; the PET threshold is a generous margin)."""
        if "-".join(sorted((a.kind, b.kind))) in ignored:
            return False
        margin = max(self.settings.pet_s, self.thresholds.time_tolerance_s)
        return bool(a.t[0] <= b.t[-1] + margin and b.t[0] <= a.t[-1] + margin)

    @staticmethod
    def _locate(conflict: Conflict, paths: Sequence[Trajectory]) -> LocatedConflict:
        when = conflict.time_s
        a, b = (paths[i] for i in conflict.pair)
        middle = [(np.interp(when, a.t, a.xy[:, k]) + np.interp(when, b.t, b.xy[:, k])) / 2 for k in (0, 1)]
        return LocatedConflict(conflict, float(middle[0]), float(middle[1]))


@dataclass
class ConflictTally:
    """One zone's conflicts and entering road users over one interval."""

    road_users: Counter[int] = field(default_factory=Counter)
    conflicts: list[LocatedConflict] = field(default_factory=list)

    def add(self, frame: ConflictFrame) -> None:
        self.road_users.update(frame.entered)
        self.conflicts.extend(frame.conflicts)

    def event_body(self, settings: ConflictSettings, plane: GroundPlane) -> dict[str, object]:
        """The interval's :class:`ConflictEvent` fields other than the common head: counts only."""
        rows: Counter[tuple[str, str, str]] = Counter(
            (c.type, severity(c), "-".join(sorted(c.kinds))) for c in (x.conflict for x in self.conflicts)
        )
        summary = summarise([c.conflict for c in self.conflicts])
        return {
            "zone": settings.zone,
            "road_users": {ROAD_USER_CLASSES[c]: n for c, n in sorted(self.road_users.items())},
            "conflicts": [
                ConflictCount.model_validate({"type": t, "severity": s, "classes": k, "count": n})
                for (t, s, k), n in sorted(rows.items())
            ],
            "ttc": ConflictHistogram(edges_s=list(TTC_BINS_S), counts=summary.ttc_hist),
            "pet": ConflictHistogram(edges_s=list(PET_BINS_S), counts=summary.pet_hist),
            "cell_m": settings.cell_m,
            "cells": _cells(self.conflicts, settings.cell_m, plane),
        }


def _cells(conflicts: Sequence[LocatedConflict], cell_m: float, plane: GroundPlane) -> list[ConflictCell]:
    """Conflicts per square ground cell, with the cell centre in the picture for drawing."""
    counts: Counter[tuple[int, int]] = Counter(
        (int(np.floor(c.x_m / cell_m)), int(np.floor(c.y_m / cell_m)))
        for c in conflicts
        if np.isfinite(c.x_m) and np.isfinite(c.y_m)
    )
    keys = sorted(counts)
    if not keys:
        return []
    centres = plane.to_image([((i + 0.5) * cell_m, (j + 0.5) * cell_m) for i, j in keys])
    cells = []
    for (i, j), centre in zip(keys, centres, strict=True):
        seen = bool(np.all(np.isfinite(centre)))
        cells.append(
            ConflictCell(
                x_m=round(i * cell_m, 3),
                y_m=round(j * cell_m, 3),
                image_x=round(float(centre[0]), 1) if seen else None,
                image_y=round(float(centre[1]), 1) if seen else None,
                count=counts[(i, j)],
            )
        )
    return cells


def conflict_event(head: Mapping[str, Any], tally: ConflictTally, monitor: ConflictMonitor) -> ConflictEvent:
    """The interval's conflict event of one zone (``head``: id, site, camera, start, end)."""
    return ConflictEvent.model_validate({**head, **tally.event_body(monitor.settings, monitor.plane)})
