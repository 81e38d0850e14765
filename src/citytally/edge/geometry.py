"""Plane geometry in image pixels: sides of a directed segment, segment crossings, polygons.

Image coordinates: x to the right, y *down*, as the frame is displayed. "Left" and "right" of a directed
segment p1→p2 are meant as a person walking from p1 to p2 on the displayed image would see them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from citytally.arrays import Float64Array as FloatArray

__all__ = [
    "Point",
    "signed_distance",
    "segment_parameter",
    "segments_intersect",
    "polygon_self_intersects",
    "polygon_area",
    "points_in_polygon",
    "three_collinear",
]

Point = tuple[float, float]


def signed_distance(p1: Point, p2: Point, points: npt.ArrayLike) -> FloatArray:
    """Distance in pixels of each point from the infinite line through p1→p2.

    Negative on the left of p1→p2 as displayed (y down), positive on the right.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    dx, dy = p2[0] - p1[0], p2[1] - p1[1]
    length = float(np.hypot(dx, dy))
    # With y pointing down, the usual cross product is negative for points that *look* left of the segment.
    cross = dx * (pts[:, 1] - p1[1]) - dy * (pts[:, 0] - p1[0])
    result: FloatArray = cross / length
    return result


def segment_parameter(p1: Point, p2: Point, a: Point, b: Point) -> float | None:
    """Where the step a→b meets the infinite line p1→p2, as a fraction along p1→p2 (0 at p1, 1 at p2).

    ``None`` when a→b is parallel to the line.
    """
    d_line = np.array([p2[0] - p1[0], p2[1] - p1[1]])
    d_step = np.array([b[0] - a[0], b[1] - a[1]])
    denom = float(d_line[0] * d_step[1] - d_line[1] * d_step[0])
    if abs(denom) < 1e-12:
        return None
    rel = np.array([a[0] - p1[0], a[1] - p1[1]])
    return float(rel[0] * d_step[1] - rel[1] * d_step[0]) / denom


def _orientation(a: Point, b: Point, c: Point) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _on_segment(a: Point, b: Point, p: Point) -> bool:
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def segments_intersect(a1: Point, a2: Point, b1: Point, b2: Point) -> bool:
    """Whether the closed segments a1–a2 and b1–b2 share at least one point."""
    o1, o2 = _orientation(a1, a2, b1), _orientation(a1, a2, b2)
    o3, o4 = _orientation(b1, b2, a1), _orientation(b1, b2, a2)
    if ((o1 > 0 > o2) or (o1 < 0 < o2)) and ((o3 > 0 > o4) or (o3 < 0 < o4)):
        return True
    return (
        (o1 == 0 and _on_segment(a1, a2, b1))
        or (o2 == 0 and _on_segment(a1, a2, b2))
        or (o3 == 0 and _on_segment(b1, b2, a1))
        or (o4 == 0 and _on_segment(b1, b2, a2))
    )


def polygon_self_intersects(polygon: Sequence[Point]) -> bool:
    """Whether any two non-adjacent edges of the closed polygon touch (or adjacent ones overlap)."""
    n = len(polygon)
    edges = [(polygon[i], polygon[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            adjacent = j == i + 1 or (i == 0 and j == n - 1)
            if adjacent:
                # Adjacent edges share a vertex; they are only a problem if they fold back onto each other.
                shared = edges[i][1] if j == i + 1 else edges[i][0]
                other_i = edges[i][0] if j == i + 1 else edges[i][1]
                other_j = edges[j][1] if j == i + 1 else edges[j][0]
                if _orientation(shared, other_i, other_j) == 0 and _points_same_way(shared, other_i, other_j):
                    return True
                continue
            if segments_intersect(*edges[i], *edges[j]):
                return True
    return False


def _points_same_way(origin: Point, a: Point, b: Point) -> bool:
    return (a[0] - origin[0]) * (b[0] - origin[0]) + (a[1] - origin[1]) * (b[1] - origin[1]) > 0


def polygon_area(polygon: Sequence[Point]) -> float:
    """Unsigned area (shoelace formula)."""
    pts = np.asarray(polygon, dtype=np.float64)
    x, y = pts[:, 0], pts[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def points_in_polygon(polygon: FloatArray, points: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Even-odd test of each point against a polygon (vertices as an (M, 2) array), vectorised."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    x, y = pts[:, 0:1], pts[:, 1:2]
    xi, yi = polygon[:, 0], polygon[:, 1]
    # Each vertex's predecessor (np.roll costs more than the test itself on a small polygon).
    before = np.concatenate((polygon[-1:], polygon[:-1]))
    xj, yj = before[:, 0], before[:, 1]
    straddles = (yi > y) != (yj > y)
    # A level edge straddles no point; its divisor of 1 only keeps numpy quiet (cheaper than errstate).
    rise = yj - yi
    x_cross = (xj - xi) * (y - yi) / np.where(rise == 0, 1.0, rise) + xi
    # Odd crossings to the right: inside (xor over the edges: count_nonzero along an axis costs several times
    # more on arrays this small).
    inside: npt.NDArray[np.bool_] = np.logical_xor.reduce(straddles & (x < x_cross), axis=1)
    return inside


def three_collinear(points: Sequence[Point], tolerance: float = 1e-9, every: bool = False) -> bool:
    """Whether any three of the points lie on one line (a degenerate quadrilateral for a homography).

    With ``every``: whether *all* the points lie on one line (a polygon without area).
    """
    n = len(points)
    if every:
        centred = np.asarray(points, dtype=np.float64) - np.mean(points, axis=0)
        return bool(np.linalg.matrix_rank(centred, tol=1e-6 * max(1.0, float(np.abs(centred).max()))) < 2)
    scale = max(1.0, float(np.ptp(np.asarray(points, dtype=np.float64))))
    for i in range(n):
        for j in range(i + 1, n):
            for k in range(j + 1, n):
                if abs(_orientation(points[i], points[j], points[k])) <= tolerance * scale * scale:
                    return True
    return False
