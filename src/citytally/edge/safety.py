"""Surrogate safety measures between pairs of road users: TTC, PET, DRAC and the conflict type.

Input is ground-plane trajectories (metres, seconds) with a class name each, such as the ground columns of
:class:`citytally.edge.incidents.tracks.Trail`. Output per pair is a :class:`Conflict`; per interval a
:class:`ConflictSummary` of counts and histograms that carries no pair or track identity.

Footprint: two discs per road user, of half its class's width, centred along its heading so that they reach
exactly its front and back (a car: 5 × 1.8 m; a pedestrian: one 0.6 m disc). Discs make TTC a closed-form
quadratic that vectorises over time (four disc pairs per user pair); the two-disc shape keeps the
bumper-to-bumper gap of a rear-end exact and the width of a side-by-side pass right (a single disc of
half-length radius made every oncoming car in the next lane a head-on "collision"); only the corners are
rounded. Heading comes from the velocity; a standing user keeps a moving sample's heading.

* TTC: time until the discs touch if both keep their current velocity (infinite if they never do).
* PET: the conflict area is where one user's footprint path overlaps the other's; PET is the time from the
  first user's last sample in it to the second user's first sample in it (0 if they were in it together).
  Only defined for non-rear-end pairs (on a shared path the "area" would be the whole path).
* DRAC: closing speed squared over twice the gap, at the moment of minimum TTC (m/s²).
* Type from the angle between headings, as FHWA's SSAM: rear-end < 30°, crossing > 85°, else lane change.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from citytally.errors import ConfigError

__all__ = [
    "SIZE_M",
    "TTC_BINS_S",
    "PET_BINS_S",
    "Trajectory",
    "Thresholds",
    "Conflict",
    "ConflictSummary",
    "ttc_series",
    "pet",
    "conflict_type",
    "measure_pair",
    "find_conflicts",
    "summarise",
    "severity",
]

FloatArray = npt.NDArray[np.float64]

#: Typical (length, width) per class (m): the footprint is two discs of half the width, set along the heading
#: so that they reach exactly the front and back bumper.
SIZE_M: dict[str, tuple[float, float]] = {
    "car": (5.0, 1.8),
    "truck": (10.0, 2.5),
    "bus": (12.0, 2.5),
    "motorcycle": (2.2, 0.8),
    "bicycle": (1.8, 0.6),
    "person": (0.6, 0.6),
}
#: Histogram edges of the summaries (s); the last bin is open-ended.
TTC_BINS_S: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
PET_BINS_S: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0)


@dataclass(frozen=True)
class Trajectory:
    """One road user's ground positions ``xy`` (n×2, m) at increasing times ``t`` (n, s), and its class."""

    t: FloatArray
    xy: FloatArray
    kind: str = "car"

    def __post_init__(self) -> None:
        if self.t.ndim != 1 or self.xy.shape != (len(self.t), 2):
            raise ConfigError(f"trajectory of {self.kind}: t is {self.t.shape}, xy is {self.xy.shape}")
        if len(self.t) < 2 or bool(np.any(np.diff(self.t) <= 0)):
            raise ConfigError(f"trajectory of {self.kind}: needs >= 2 samples at increasing times")

    @property
    def radius(self) -> float:
        """Radius of each of the two footprint discs: half the class's width."""
        return SIZE_M.get(self.kind, (2.0, 2.0))[1] / 2

    def discs(self) -> FloatArray:
        """Footprint disc centres per sample (n×2×2): front and back, half a length minus a radius out."""
        length, width = SIZE_M.get(self.kind, (2.0, 2.0))
        reach = max(0.0, length / 2 - width / 2)
        unit = self.headings()
        return np.stack([self.xy + reach * unit, self.xy - reach * unit], axis=1)

    def headings(self, moving_ms: float = 0.5) -> FloatArray:
        """Unit heading per sample (n×2); a standing sample takes the next moving one's (else the last)."""
        v = self.velocity()
        speed = np.hypot(v[:, 0], v[:, 1])
        moving = np.flatnonzero(speed > moving_ms)
        if moving.size == 0:
            return np.tile([1.0, 0.0], (len(self.t), 1))
        nearest = moving[np.clip(np.searchsorted(moving, np.arange(len(self.t))), 0, moving.size - 1)]
        return v[nearest] / speed[nearest, None]

    def velocity(self) -> FloatArray:
        """Velocity per sample (m/s): central differences, one-sided at the ends."""
        return np.gradient(self.xy, self.t, axis=0)

    def heading_deg(self, index: int) -> float:
        """Heading at a sample in degrees (counter-clockwise from +x)."""
        unit = self.headings()[index]
        return float(np.degrees(np.arctan2(unit[1], unit[0])))


@dataclass(frozen=True)
class Thresholds:
    """A pair is a conflict when its min TTC or its PET is below these (SSM's defaults are 3 s and 2 s)."""

    ttc_s: float = 3.0
    pet_s: float = 2.0
    time_tolerance_s: float = 1e-6  # samples of the two users closer than this count as simultaneous


@dataclass(frozen=True)
class Conflict:
    """One pair's measures. ``pair`` indexes the input list: edge-internal, never in a summary."""

    pair: tuple[int, int]
    kinds: tuple[str, str]
    type: str
    min_ttc_s: float
    ttc_time_s: float
    drac_ms2: float
    pet_s: float | None
    time_s: float


@dataclass
class ConflictSummary:
    """Conflicts of one interval and place, anonymous: counts and histograms only."""

    by_type_severity: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_classes: Counter[str] = field(default_factory=Counter)
    ttc_hist: list[int] = field(default_factory=lambda: [0] * len(TTC_BINS_S))
    pet_hist: list[int] = field(default_factory=lambda: [0] * len(PET_BINS_S))

    @property
    def total(self) -> int:
        return sum(self.by_type_severity.values())


def ttc_series(p_rel: FloatArray, v_rel: FloatArray, reach: float) -> FloatArray:
    """TTC per row for relative positions/velocities (k×2) of two discs whose radii sum to ``reach``.

    Solves |p + v·t| = reach for the smallest t >= 0; 0 where they already touch, inf where they never will.
    """
    a = np.einsum("ij,ij->i", v_rel, v_rel)
    b = 2.0 * np.einsum("ij,ij->i", p_rel, v_rel)
    c = np.einsum("ij,ij->i", p_rel, p_rel) - reach * reach
    disc = b * b - 4.0 * a * c
    closing = (b < 0) & (disc >= 0) & (a > 0)
    root = np.sqrt(np.where(closing, disc, 0.0))
    t = np.where(closing, (-b - root) / np.where(a > 0, 2.0 * a, 1.0), np.inf)
    return np.where(c <= 0, 0.0, t)


def _common(a: Trajectory, b: Trajectory, tol: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Times both were sampled and the indices of those samples in ``a`` and ``b``."""
    times, ia, ib = np.intersect1d(np.round(a.t / tol), np.round(b.t / tol), return_indices=True)
    return times * tol, ia.astype(np.float64), ib.astype(np.float64)


def conflict_type(heading_a_deg: float, heading_b_deg: float) -> str:
    """SSAM's rule on the angle between two headings: rear-end < 30°, crossing > 85°, else lane change."""
    angle = abs((heading_a_deg - heading_b_deg + 180.0) % 360.0 - 180.0)
    if angle < 30.0:
        return "rear_end"
    return "crossing" if angle > 85.0 else "lane_change"


def pet(a: Trajectory, b: Trajectory) -> tuple[float, float, int, int] | None:
    """PET, its time (the second user's entry) and the two samples at the area; None if paths never meet."""
    reach = a.radius + b.radius
    da, db = a.discs().reshape(-1, 2), b.discs().reshape(-1, 2)
    # Only disc points inside the other path's box (grown by the reach) can touch it: a cheap cut first.
    sa = np.flatnonzero(np.all((da > db.min(0) - reach) & (da < db.max(0) + reach), axis=1))
    sb = np.flatnonzero(np.all((db > da.min(0) - reach) & (db < da.max(0) + reach), axis=1))
    near = np.linalg.norm(da[sa, None, :] - db[None, sb, :], axis=2) < reach
    rows = np.unique(sa[near.any(axis=1)] // 2)
    cols = np.unique(sb[near.any(axis=0)] // 2)
    if rows.size == 0:
        return None
    a_in, a_out, b_in, b_out = a.t[rows[0]], a.t[rows[-1]], b.t[cols[0]], b.t[cols[-1]]
    if a_out < b_in:
        return float(b_in - a_out), float(b_in), int(rows[-1]), int(cols[0])
    if b_out < a_in:
        return float(a_in - b_out), float(a_in), int(rows[0]), int(cols[-1])
    return 0.0, float(max(a_in, b_in)), int(rows[0]), int(cols[0])


def measure_pair(a: Trajectory, b: Trajectory, thresholds: Thresholds = Thresholds()) -> Conflict | None:
    """The pair's min TTC (over their common samples), DRAC there, PET and type; None if neither is low."""
    times, ia_f, ib_f = _common(a, b, thresholds.time_tolerance_s)
    ia, ib = ia_f.astype(np.int64), ib_f.astype(np.int64)
    va, vb = a.velocity(), b.velocity()
    min_ttc, ttc_at, drac = np.inf, float("nan"), 0.0
    headings: tuple[int, int] | None = None
    if times.size:
        v_rel, reach = vb[ib] - va[ia], a.radius + b.radius
        # Every front/back disc pair; discs move with the centre (turning within the horizon is ignored).
        p_rel = b.discs()[ib][:, None, :, :] - a.discs()[ia][:, :, None, :]
        p_rel = p_rel.reshape(len(ia), 4, 2)
        ttc = np.stack([ttc_series(p_rel[:, d], v_rel, reach) for d in range(4)], axis=1)
        k, d = np.unravel_index(int(np.argmin(ttc)), ttc.shape)
        if np.isfinite(ttc[k, d]):
            min_ttc, ttc_at = float(ttc[k, d]), float(times[k])
            headings = (int(ia[k]), int(ib[k]))
            drac = _drac(p_rel[k, d], v_rel[k], reach)
    found = pet(a, b)
    if headings is None and found is not None:
        headings = (found[2], found[3])
    if headings is None:
        return None
    kind = conflict_type(a.heading_deg(headings[0]), b.heading_deg(headings[1]))
    pet_s = found[0] if found is not None and kind != "rear_end" else None
    if min_ttc >= thresholds.ttc_s and (pet_s is None or pet_s >= thresholds.pet_s):
        return None
    when = ttc_at if np.isfinite(min_ttc) else (found[1] if found is not None else float("nan"))
    return Conflict((0, 1), (a.kind, b.kind), kind, min_ttc, ttc_at, drac, pet_s, when)


def _drac(p_rel: FloatArray, v_rel: FloatArray, reach: float) -> float:
    """Closing speed² / (2·gap): the deceleration that stops the approach just as the discs touch."""
    distance = float(np.linalg.norm(p_rel))
    gap = distance - reach
    closing = -float(np.dot(p_rel, v_rel)) / distance if distance > 0 else 0.0
    if closing <= 0:
        return 0.0
    return float("inf") if gap <= 0 else closing * closing / (2.0 * gap)


def _may_meet(a: Trajectory, b: Trajectory, margin_m: float, pet_s: float) -> bool:
    """Cheap pre-filter: their times come within ``pet_s`` and their paths' boxes within ``margin_m``."""
    if a.t[0] > b.t[-1] + pet_s or b.t[0] > a.t[-1] + pet_s:
        return False
    lo_a, hi_a, lo_b, hi_b = a.xy.min(0), a.xy.max(0), b.xy.min(0), b.xy.max(0)
    return bool(np.all(lo_a - margin_m <= hi_b) and np.all(lo_b - margin_m <= hi_a))


def find_conflicts(
    trajectories: Sequence[Trajectory], thresholds: Thresholds = Thresholds(), margin_m: float = 15.0
) -> list[Conflict]:
    """Every pair's :class:`Conflict` (``pair`` = their indices in ``trajectories``)."""
    found = []
    for i, j in itertools.combinations(range(len(trajectories)), 2):
        a, b = trajectories[i], trajectories[j]
        if not _may_meet(a, b, margin_m, thresholds.pet_s):
            continue
        hit = measure_pair(a, b, thresholds)
        if hit is not None:
            found.append(dataclasses.replace(hit, pair=(i, j)))
    return found


def _severity(conflict: Conflict) -> str:
    """Band on the lower of TTC and PET: serious < 1 s, moderate < 2 s, else slight."""
    low = min(conflict.min_ttc_s, conflict.pet_s if conflict.pet_s is not None else np.inf)
    return "serious" if low < 1.0 else "moderate" if low < 2.0 else "slight"


def summarise(conflicts: Sequence[Conflict]) -> ConflictSummary:
    """Counts by (type, severity) and by classes, and TTC/PET histograms: what may leave the edge."""
    summary = ConflictSummary()
    for c in conflicts:
        summary.by_type_severity[(c.type, _severity(c))] += 1
        summary.by_classes["-".join(sorted(c.kinds))] += 1
    ttc = np.array([c.min_ttc_s for c in conflicts if np.isfinite(c.min_ttc_s)], dtype=np.float64)
    pets = np.array([c.pet_s for c in conflicts if c.pet_s is not None], dtype=np.float64)
    summary.ttc_hist = _bin(ttc, TTC_BINS_S)
    summary.pet_hist = _bin(pets, PET_BINS_S)
    return summary


def _bin(values: FloatArray, edges: tuple[float, ...]) -> list[int]:
    """Counts per bin [edge_i, edge_i+1), the last bin open-ended."""
    index = np.searchsorted(np.asarray(edges), values, side="right") - 1
    counts = np.bincount(np.clip(index, 0, len(edges) - 1), minlength=len(edges))
    return [int(n) for n in counts]


def severity(conflict: Conflict) -> str:
    """The conflict's severity band, as :func:`summarise` counts it (serious, moderate or slight)."""
    return _severity(conflict)
