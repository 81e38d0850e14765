"""Road users' paths for :mod:`citytally.edge.safety`: distance along a path, projection onto another's path,
and where two paths follow, cross or merge.

A path is the polyline of a road user's recorded ground positions, resampled every :data:`STEP_M` metres of
distance travelled and prolonged straight past its last sample (the recorded future ends there; straight on
is the least-assuming guess, and :mod:`citytally.edge.safety` uses it for following only). Relations between
two paths come from projecting one onto the other: a point within ``tolerance`` metres of the other path is
*on* it. A short stretch on the other path whose two ends lie on opposite sides of it is a *crossing*; a
stretch that starts off the other path and stays on it is a *merge*. These are the trajectory-only
counterparts of the lane topology SUMO's SSM device reads from its network (crossing and merging links at a
junction, the same lane for lead/follow).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

__all__ = [
    "STEP_M",
    "CROSSING_MAX_M",
    "SHIFT_M",
    "RoadPath",
    "Projection",
    "Crossing",
    "lane_shifts",
    "path_relations",
    "runs",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Spacing of the resampled path polyline (m).
STEP_M = 0.5
#: A stretch on the other path longer than this is a shared stretch (following, merging), not a crossing:
#: two paths crossing at 10° stay within 1 m of each other for about 11.5 m.
CROSSING_MAX_M = 15.0
#: Paths that pass close without crossing meet at a crossing only at more than 30° to each other: same-way
#: neighbouring lanes are never one.
_PASS_COS = float(np.cos(np.radians(30.0)))
#: A lane change: the path moves sideways by at least SHIFT_M (three quarters of a 3.2 m lane) within
#: SHIFT_WINDOW_M of travel and heads the same way after it as before (within 20°), unlike a bend.
SHIFT_M = 2.4
SHIFT_WINDOW_M = 8.0
_SHIFT_COS = float(np.cos(np.radians(20.0)))
_SHIFT_BASE_M = 2.0  # the stretch before and after the window that gives the heading there
#: Merging paths have joined where they first come within this of the distance they keep afterwards.
JOIN_MARGIN_M = 0.05
_SMOOTH_M = 2.0  # the running mean either side that takes out measured positions' jitter


@dataclass(frozen=True)
class Projection:
    """Nearest points on a path for k query points: distance, signed side (+ left), arc length, tangent."""

    distance: FloatArray
    side: FloatArray
    s: FloatArray
    tangent: FloatArray


@dataclass(frozen=True)
class Crossing:
    """Where two paths cross (``kind`` "crossing") or join (``kind`` "merging"): arc length on each.

    A crossing found where the paths pass close without crossing carries the stretch of each path that is
    close to the other (``extent_a``, ``extent_b``): there the conflict area is that stretch.
    """

    kind: str
    s_a: float
    s_b: float
    extent_a: tuple[float, float] | None = None
    extent_b: tuple[float, float] | None = None


@dataclass(frozen=True)
class RoadPath:
    """One road user's path: per sample its distance travelled ``s``, speed and acceleration, and the
    resampled polyline ``points`` with their distances ``points_s`` (prolonged ``extend_m`` past the end)."""

    s: FloatArray
    speed: FloatArray
    accel: FloatArray
    heading: FloatArray
    points: FloatArray
    points_s: FloatArray
    end_s: float
    tree: cKDTree
    shifts: FloatArray  # distances along the path at which it changes lanes (:func:`lane_shifts`)

    @classmethod
    def build(
        cls, t: FloatArray, xy: FloatArray, heading: FloatArray, speed: FloatArray | None, extend_m: float
    ) -> RoadPath:
        """From samples at times ``t`` with unit ``heading`` (n×2); ``speed`` if measured, else the rate of
        ``s``."""
        s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
        v = np.gradient(s, t) if speed is None else np.asarray(speed, dtype=np.float64)
        # SUMO-like current acceleration: the change of speed over the last step (central at the start).
        accel = np.empty_like(v)
        accel[1:] = np.diff(v) / np.diff(t)
        accel[0] = accel[1] if len(v) > 1 else 0.0
        grid = np.arange(0.0, s[-1], STEP_M)
        keep = np.concatenate([[True], np.diff(s) > 0])
        sx, sxy = s[keep], xy[keep]
        inner = np.column_stack([np.interp(grid, sx, sxy[:, 0]), np.interp(grid, sx, sxy[:, 1])])
        tail_s = s[-1] + np.arange(0.0, extend_m + STEP_M / 2, STEP_M)
        tail = xy[-1] + (tail_s - s[-1])[:, None] * heading[-1]
        points = np.concatenate([inner, tail])
        points_s = np.concatenate([grid, tail_s])
        shifts = lane_shifts(points, points_s)
        return cls(s, v, accel, heading, points, points_s, float(s[-1]), cKDTree(points), shifts)

    def project(self, q: FloatArray) -> Projection:
        """Nearest point on the polyline for each row of ``q`` (k×2)."""
        _, k = self.tree.query(q)
        last = len(self.points) - 2
        before = self._onto_segments(q, np.clip(np.asarray(k, dtype=np.int64) - 1, 0, last))
        after = self._onto_segments(q, np.clip(np.asarray(k, dtype=np.int64), 0, last))
        return _closer(before, after)

    def _onto_segments(self, q: FloatArray, seg: IntArray) -> Projection:
        a, d = self.points[seg], self.points[seg + 1] - self.points[seg]
        length = np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-9)
        u = np.clip(np.einsum("ij,ij->i", q - a, d) / length**2, 0.0, 1.0)
        rel = q - (a + u[:, None] * d)
        dist = np.hypot(rel[:, 0], rel[:, 1])
        side = np.sign(d[:, 0] * (q - a)[:, 1] - d[:, 1] * (q - a)[:, 0]) * dist
        return Projection(dist, side, self.points_s[seg] + u * length, d / length[:, None])

    def point_at(self, s: FloatArray) -> FloatArray:
        """Points on the polyline at distances ``s`` (k×2), clamped to its ends."""
        return np.column_stack([np.interp(s, self.points_s, self.points[:, i]) for i in (0, 1)])

    def shifts_between(self, lo: FloatArray, hi: FloatArray) -> npt.NDArray[np.bool_]:
        """Whether the path changes lanes between distances ``lo`` and ``hi`` (either order), per row."""
        if self.shifts.size == 0:
            return np.zeros(np.shape(lo), dtype=bool)
        first, last = (
            np.searchsorted(self.shifts, np.minimum(lo, hi)),
            np.searchsorted(self.shifts, np.maximum(lo, hi)),
        )
        inside: npt.NDArray[np.bool_] = last > first
        return inside

    def box(self, grow: float) -> tuple[FloatArray, FloatArray]:
        return self.points.min(0) - grow, self.points.max(0) + grow


def _closer(p: Projection, q: Projection) -> Projection:
    pick = q.distance < p.distance
    return Projection(
        np.where(pick, q.distance, p.distance),
        np.where(pick, q.side, p.side),
        np.where(pick, q.s, p.s),
        np.where(pick[:, None], q.tangent, p.tangent),
    )


def lane_shifts(points: FloatArray, points_s: FloatArray) -> FloatArray:
    """Where a resampled path changes lanes: per lane change, the distance at which it moves most steeply
    sideways.

    A window of :data:`SHIFT_WINDOW_M` is a lane change when the path's end lies :data:`SHIFT_M` or more to
    one side of the course it had coming in and to the same side of the course it leaves on (the product of
    the two offsets at least SHIFT_M²), and those two courses are the same way (a bend turns, and its chord
    lies between the two courses; a lane change, however abrupt, does not). A
    simulator's lane change is a sideways jump within one step; a driver's takes a few metres at junction
    speeds. The course is judged on the path's running mean over :data:`_SMOOTH_M` either side, so that a
    measured position's jitter of a few decimetres is none.
    """
    base, window = round(_SHIFT_BASE_M / STEP_M), round(SHIFT_WINDOW_M / STEP_M)
    n = len(points)
    if n < 2 * base + window + 1:
        return np.zeros(0)
    # Measured positions jitter (a detector's ground point by a few decimetres): judge the path's course from
    # its running mean over _SMOOTH_M either side, which a lane's width of sideways move outlasts.
    half = round(_SMOOTH_M / STEP_M)
    kernel = np.ones(2 * half + 1) / (2 * half + 1)
    padded = np.pad(points, ((half, half), (0, 0)), mode="edge")
    points = np.column_stack([np.convolve(padded[:, k], kernel, mode="valid") for k in (0, 1)])
    i = np.arange(base, n - window - base)
    j = i + window
    before, after = points[i] - points[i - base], points[j + base] - points[j]
    before /= np.maximum(np.hypot(before[:, 0], before[:, 1]), 1e-9)[:, None]
    after /= np.maximum(np.hypot(after[:, 0], after[:, 1]), 1e-9)[:, None]
    moved = points[j] - points[i]
    # Sideways of the course both before and after (a bend's chord lies between the two courses, to one side
    # of one and the other side of the other).
    side = before[:, 0] * moved[:, 1] - before[:, 1] * moved[:, 0]
    side_after = after[:, 0] * moved[:, 1] - after[:, 1] * moved[:, 0]
    shifted = (np.abs(side) >= SHIFT_M) & (side * side_after >= SHIFT_M * SHIFT_M)
    shifted &= np.einsum("ij,ij->i", before, after) > _SHIFT_COS
    found = []
    for start, stop in runs(shifted):
        # One lane change, from the first window's start to the last one's end: it is where the path moves
        # most steeply sideways (the middle of that stretch; a bend leading into it is less steep).
        k0, k1 = int(i[start]), int(j[stop - 1])
        seg = np.diff(points[k0 : k1 + 1], axis=0)
        u = after[stop - 1]
        length = np.maximum(np.hypot(seg[:, 0], seg[:, 1]), 1e-9)
        steep = np.abs(u[0] * seg[:, 1] - u[1] * seg[:, 0]) / length
        most = np.flatnonzero(steep >= steep.max() / 2)
        found.append(float((points_s[k0 + most[0]] + points_s[k0 + most[-1] + 1]) / 2))
    return np.asarray(found)


def path_relations(
    a: RoadPath, b: RoadPath, tolerance: float, clearance: float, closest: float | None = None
) -> list[Crossing]:
    """Where ``a``'s path crosses, passes or joins ``b``'s (same-direction joins only), in order along ``a``.

    Besides paths that cross, paths that come closer than ``clearance`` (half the two widths plus the
    tolerance: the swept footprints nearly touch) at an angle of over 30° without crossing, such as two
    opposing left turns passing each other, have a crossing at their closest approach, if that is under
    ``closest`` (default ``clearance``); the stretch closer than ``clearance`` is its conflict area.
    """
    closest = clearance if closest is None else closest
    lo, hi = b.box(clearance + CROSSING_MAX_M)  # room for the points either side of a crossing
    near_box = np.flatnonzero(np.all((a.points >= lo) & (a.points <= hi), axis=1))
    if near_box.size == 0:
        return []
    dist, side, s_b = np.full(len(a.points), np.inf), np.zeros(len(a.points)), np.zeros(len(a.points))
    tan_b = np.zeros((len(a.points), 2))
    proj = b.project(a.points[near_box])
    dist[near_box], side[near_box], s_b[near_box], tan_b[near_box] = (
        proj.distance,
        proj.side,
        proj.s,
        proj.tangent,
    )
    tan_a = np.gradient(a.points, axis=0)
    tan_a /= np.maximum(np.hypot(tan_a[:, 0], tan_a[:, 1]), 1e-9)[:, None]
    on = dist < tolerance
    found: list[Crossing] = []
    for start, stop in runs(on):
        span = a.points_s[stop - 1] - a.points_s[start]
        bounded = start > 0 and stop < len(on)
        if bounded and span <= CROSSING_MAX_M and side[start - 1] * side[stop] < 0:
            found.append(_crossing_in(a, side, s_b, start, stop))
        elif start > 0 and span > CROSSING_MAX_M and float(np.dot(tan_a[start], tan_b[start])) > 0:
            j = start + _joined(dist[start:stop])
            found.append(Crossing("merging", float(a.points_s[j]), float(s_b[j])))
    for start, stop in runs(dist < clearance):
        if start == 0 or stop == len(on) or bool(np.any(on[start:stop])):
            continue
        i = start + int(np.argmin(dist[start:stop]))
        if dist[i] < closest and float(np.dot(tan_a[i], tan_b[i])) < _PASS_COS:
            on_b = (float(np.min(s_b[start:stop])), float(np.max(s_b[start:stop])))
            extent_a = (float(a.points_s[start]), float(a.points_s[stop - 1]))
            found.append(Crossing("crossing", float(a.points_s[i]), float(s_b[i]), extent_a, on_b))
    return sorted(found, key=lambda c: c.s_a)


def _joined(dist: FloatArray) -> int:
    """Where merging paths have joined: the first point as close to the other path as the shared stretch
    runs on (its median distance, plus :data:`JOIN_MARGIN_M`), not merely within the lane tolerance."""
    return int(np.argmax(dist <= float(np.median(dist)) + JOIN_MARGIN_M))


def _crossing_in(a: RoadPath, side: FloatArray, on_b: FloatArray, start: int, stop: int) -> Crossing:
    """The crossing point inside a run: where the signed distance to the other path changes sign."""
    idx = np.arange(start - 1, stop + 1)
    flips = np.flatnonzero(np.sign(side[idx[:-1]]) != np.sign(side[idx[1:]]))
    i = int(idx[flips[0]]) if flips.size else start
    d0, d1 = side[i], side[i + 1]
    w = float(d0 / (d0 - d1)) if d0 != d1 else 0.0
    s_a = float(a.points_s[i] + w * (a.points_s[i + 1] - a.points_s[i]))
    return Crossing("crossing", s_a, float(on_b[i] + w * (on_b[i + 1] - on_b[i])))


def runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))
