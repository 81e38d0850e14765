"""Surrogate safety measures between pairs of road users: TTC, PET, DRAC and the conflict type.

Input is ground-plane trajectories (metres, seconds) with a class name each, such as the ground columns of
:class:`citytally.edge.incidents.tracks.Trail`. Output per pair is a :class:`Conflict`; per interval a
:class:`ConflictSummary` of counts and histograms that carries no pair or track identity.

The measures follow the definitions of SUMO's SSM device, with each road user's own recorded path standing in
for its route through the network (:mod:`citytally.edge.safety_paths`): at each time both users were seen,
the pair is in one of these relations, and only these count:

* following (one is on the other's path ahead or behind, heading the same way within 30°): TTC = bumper gap
  along the path / speed difference, when the follower is faster. SSM's lanes become paths: a leader whose
  path leaves the follower's within :data:`TURN_OFF_M` of its front bumper has turned onto another connection
  and is no longer followed; a follower that changes to the next lane before reaching the leader (its path
  changes lanes before the leader and passes it a lane over, not a path that bears off at a fork; or the
  leader is on its current course and its path stays beside the leader's, the same way) follows it until it
  leaves the leader's path, but a leader that has just moved
  out of the follower's lane is not followed. Nor is one that a path reaches only across a lane change
  (:func:`~citytally.edge.safety_paths.lane_shifts`): the user beside me in the next lane is not ahead of me
  in mine until I change into it. A follower whose record ends on the leader's path behind it, where its
  path prolonged straight would pass :data:`BENDS_M` or more from the leader's front (the lane bends between
  them), still follows it: where it went is not known. A gap of zero or less is a collision (TTC 0) only
  where the footprints touch; elsewhere the path folds back beside me (I wait to
  U-turn into the lane the other passes in) and the other is not ahead of me. Head-on, each on the other's
  path: gap / speed sum.
  A user that never moved in its record (:attr:`Trajectory.still`) has no heading: on my path it stands along
  it (a stalled car, the last car of a queue whose record began while it stood), a rear-end; it follows no
  one and crosses no path. A jump of a position that a measured speed does not account for (a simulator's
  lane change in one step) gives no heading;
* crossing (the paths cross, or pass each other at over 30° with the footprints within :data:`PASS_M`,
  :data:`PERSON_PASS_M` between a pedestrian and a vehicle, where
  each user's recorded front reached the conflict area: a path's straight prolongation past its last sample
  serves following only, since a user whose record ends short of the other's path was not seen to cross it):
  the conflict area on each path starts half the other's width before the crossing point and ends half its
  width after it. Entry and exit times are extrapolated from the current speed (and the current
  deceleration, if braking); when the second to arrive would enter before the first has left, TTC = the
  second's distance to the area / its speed; both in the area at once is a collision (TTC 0) only where
  the footprints touch. A footprint is the rectangle of the user's length and width (:data:`SIZE_M`) along
  the body's axis: from the back bumper, the last point of the path it came along a length away, to its
  front (SUMO's placement on a lane, and its drawing of a vehicle);
* merging (one path joins the other, both still short of the joining point, where the joining path first
  comes as close to the other as it stays along their shared stretch): constant-speed arrival times;
  TTC = the second's time to the joining point if the first is still in it then, else the time at which the
  second would run into the first past it.

A pair may meet more than once: each encounter (a stretch in which they are in one of these relations within
``range_m``, with no break over ``encounter_gap_s``) is its own conflict (:func:`measure_encounters`), as
SSM's device and FHWA's SSAM count them. A pair is measured only while they are within ``range_m`` of each
other (centres, along the path or to the conflict area; SSM's device range). PET exists only for crossing
paths that both users pass: the time from the first user's leaving the conflict area to the second's entering
it (0 if they were in it together), counted if both were seen while the first had not yet left. DRAC is the
deceleration that stops the closing in the remaining gap (speed difference² / (2·gap); for crossing and
merging, the second user's speed² / (2 × its distance to the area)). Type from the angle between headings, as
FHWA's SSAM: rear-end < 30°, crossing > 85°, else lane change. Sizes per class are :data:`SIZE_M`.

A rear-end TTC under the threshold is also what every car that draws up behind a queue shows: braking evenly
at a from v to stop g0 behind, its TTC falls to sqrt(2·g0 / a) (1.6 s at 2 m/s² and 2.5 m), though nobody had
to avoid anything. Such a conflict is marked ``controlled`` (:func:`measure_encounters`): it is SSM's and
SSAM's, and the comparisons with them keep it, but :func:`summarise` and the edge leave it out of the counts.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from citytally.edge.safety_paths import STEP_M, Crossing, RoadPath, path_relations, runs
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
    "measure_encounters",
    "find_conflicts",
    "summarise",
    "severity",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Typical (length, width) per class (m): the footprint is a rectangle of that length and width along the
#: body's axis.
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
    """One road user's ground positions ``xy`` (n×2, m) at increasing times ``t`` (n, s), and its class.

    ``speed`` (n, m/s) is optional: where a source measures speed (a simulator, a radar), give it; otherwise
    the speed is the rate of distance travelled along ``xy``. ``anchor`` says which point of the road user
    ``xy`` is: its centre (a detection's ground point) or its front bumper (a simulator's position on a lane).
    ``size_m`` (length, width) overrides the class's typical size in :data:`SIZE_M` where the source knows it.
    """

    t: FloatArray
    xy: FloatArray
    kind: str = "car"
    speed: FloatArray | None = None
    anchor: str = "centre"
    size_m: tuple[float, float] | None = None
    # Its path per range (m), built once: a path that ended is measured against every later one it may meet.
    _paths: dict[float, RoadPath] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.t.ndim != 1 or self.xy.shape != (len(self.t), 2):
            raise ConfigError(f"trajectory of {self.kind}: t is {self.t.shape}, xy is {self.xy.shape}")
        if len(self.t) < 2 or bool(np.any(np.diff(self.t) <= 0)):
            raise ConfigError(f"trajectory of {self.kind}: needs >= 2 samples at increasing times")
        if self.speed is not None and self.speed.shape != self.t.shape:
            raise ConfigError(f"trajectory of {self.kind}: speed is {self.speed.shape}, t is {self.t.shape}")
        if self.size_m is not None and not all(x > 0 for x in self.size_m):
            raise ConfigError(f"trajectory of {self.kind}: size_m {self.size_m} must be positive")
        if self.anchor not in ("centre", "front"):
            raise ConfigError(
                f"trajectory of {self.kind}: anchor is {self.anchor!r}, not 'centre' or 'front'"
            )

    @property
    def length(self) -> float:
        return (self.size_m or SIZE_M.get(self.kind, (2.0, 2.0)))[0]

    @property
    def width(self) -> float:
        return (self.size_m or SIZE_M.get(self.kind, (2.0, 2.0)))[1]

    @property
    def to_front(self) -> float:
        """Distance from the ``xy`` point forward to the front bumper."""
        return self.length / 2 if self.anchor == "centre" else 0.0

    def headings(self, moving_ms: float = 0.5) -> FloatArray:
        """Unit heading per sample (n×2): the velocity's direction, below :data:`CHORD_MS` the chord over the
        last :data:`CHORD_M` travelled; a standing sample, or one beside a jump of the position that a
        measured ``speed`` does not account for, takes the last moving one's (else the next)."""
        v = self.velocity()
        speed = np.hypot(v[:, 0], v[:, 1])
        # Slow, the velocity's direction is mostly the positions' noise: the chord over the last CHORD_M
        # travelled gives it instead, where the track has come that far.
        s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(self.xy, axis=0).T))])
        back = np.searchsorted(s, s - CHORD_M, side="right") - 1
        chord = self.xy - self.xy[np.clip(back, 0, None)]
        length = np.hypot(chord[:, 0], chord[:, 1])
        slow = (speed < CHORD_MS) & (back >= 0) & (length > CHORD_M / 2)
        v = np.where(slow[:, None], chord, v)
        speed = np.where(slow, np.where(speed > moving_ms, length, 0.0), speed)
        if self.speed is not None:
            # A step that moves the position further than the measured speed allows, by over STAND_M, is a
            # jump, not motion (a simulator's lane change moves a car, standing or not, into the next lane in
            # one step): the samples either side of it take their heading from elsewhere.
            step = np.hypot(*np.diff(self.xy, axis=0).T)
            jump = step > np.maximum(self.speed[:-1], self.speed[1:]) * np.diff(self.t) + STAND_M
            jumped = np.concatenate([jump, [False]]) | np.concatenate([[False], jump])
            speed = np.where(jumped, 0.0, speed)
        moving = np.flatnonzero(speed > moving_ms)
        if moving.size == 0:
            return np.tile([1.0, 0.0], (len(self.t), 1))
        nearest = moving[np.clip(np.searchsorted(moving, np.arange(len(self.t)), side="right") - 1, 0, None)]
        return v[nearest] / speed[nearest, None]

    def velocity(self) -> FloatArray:
        """Velocity per sample (m/s): central differences, one-sided at the ends."""
        return np.gradient(self.xy, self.t, axis=0)

    def smoothed(self, window_s: float) -> Trajectory:
        """The track with each position and velocity from a straight line fitted (least squares) to its
        samples within ``window_s / 2`` either side; the speed is that velocity's (a measured ``speed`` is
        kept). A detector's ground point jitters from frame to frame, and the rate of distance travelled
        along raw points counts the jitter as motion: 0.1 m of it at 10 samples a second makes a standing
        car "move" at about 2 m/s, and every closing speed, TTC and stop with it. The fit leaves the speed
        of steady motion and constant braking as it is (the slope of a line fitted over a window centred
        on a sample is the velocity there); the position it gives is the window's mean one, which lies
        inside a bend and behind a braking car by about the acceleration x ``window_s``² / 24 (0.3 m at
        8 m/s round a 10-m bend over 1 s). Near the ends the window keeps its length inside the track.
        ``window_s`` <= 0: unchanged."""
        if window_s <= 0:
            return self
        xy, velocity = _local_lines(self.t, self.xy, window_s)
        speed = self.speed if self.speed is not None else np.hypot(velocity[:, 0], velocity[:, 1])
        xy = _stands_still(xy, speed)
        return dataclasses.replace(self, xy=xy, speed=speed)

    @functools.cached_property
    def still(self) -> bool:
        """Whether the user never moved in a record of at least :data:`STILL_S`: every position within
        :data:`STAND_M` of their mean, and that spread under :data:`STAND_MS` x the record's duration (a
        record of a few tenths of a second, of a user moving or of a detector's flicker, shows no stand).
        Such a user has no heading of its own (:meth:`headings` gives +x); :mod:`citytally.edge.safety` takes
        it to stand along the path of whoever approaches it."""
        duration = float(self.t[-1] - self.t[0])
        spread = float(np.max(np.hypot(*(self.xy - self.xy.mean(axis=0)).T)))
        return duration >= STILL_S and spread < min(STAND_M, STAND_MS * duration)

    def heading_deg(self, index: int) -> float:
        """Heading at a sample in degrees (counter-clockwise from +x)."""
        unit = self.headings()[index]
        return float(np.degrees(np.arctan2(unit[1], unit[0])))


#: Below this speed (m/s) a heading is the chord over the last CHORD_M travelled (Trajectory.headings).
CHORD_MS = 2.0
CHORD_M = 1.5
#: A stretch of samples slower than this (m/s) whose ends lie within STAND_M of each other is a stand.
STAND_MS = 0.5
STAND_M = 1.0
#: A record shorter than this (s) shows no stand (Trajectory.still).
STILL_S = 1.0


def _stands_still(xy: FloatArray, speed: FloatArray) -> FloatArray:
    """The positions with each stand's at their mean: a standing road user's fitted point still wanders with
    the detector's jitter, and that wander would add to the distance it travelled and draw a scribble at the
    end of its path."""
    xy = xy.copy()
    for lo, hi in runs(speed < STAND_MS):
        if hi - lo >= 2 and float(np.hypot(*(xy[hi - 1] - xy[lo]))) < STAND_M:
            xy[lo:hi] = xy[lo:hi].mean(axis=0)
    return xy


def _local_lines(t: FloatArray, xy: FloatArray, window_s: float) -> tuple[FloatArray, FloatArray]:
    """Per sample, the line fitted to the samples within ``window_s / 2`` of it (within the first or last
    ``window_s`` of the track near its ends): its value and slope there.

    Sums over each window come from running sums (so the cost is linear in the samples) of times counted from
    the track's first sample, then centred on the sample's own time. A window with one sample keeps the
    point and takes its velocity from differences."""
    rel = t - t[0]
    width = window_s * (1 + 1e-9)  # a sample on the window's edge is in it, on either side alike
    # Centred where it can be; near the ends the window keeps its length and lies inside the track.
    first = np.clip(rel - width / 2, 0.0, max(float(rel[-1]) - width, 0.0))
    lo = np.searchsorted(rel, first, side="left")
    hi = np.searchsorted(rel, first + width, side="right")

    def windowed(values: FloatArray) -> FloatArray:
        running = np.concatenate([np.zeros((1, *values.shape[1:])), np.cumsum(values, axis=0)])
        found: FloatArray = running[hi] - running[lo]
        return found

    n, s_t, s_tt = windowed(np.ones_like(rel)), windowed(rel), windowed(rel * rel)
    s_x, s_tx = windowed(xy), windowed(rel[:, None] * xy)
    # Centred on each sample's own time: sums of (t - t_i).
    c_t = s_t - n * rel
    c_tt = s_tt - 2 * rel * s_t + n * rel * rel
    c_tx = s_tx - rel[:, None] * s_x
    det = n * c_tt - c_t * c_t
    fitted = det > 1e-9 * np.maximum(n * n, 1.0)
    safe = np.where(fitted, det, 1.0)[:, None]
    slope = np.where(fitted[:, None], (n[:, None] * c_tx - c_t[:, None] * s_x) / safe, 0.0)
    slope = np.where(fitted[:, None], slope, np.gradient(xy, t, axis=0))
    value = np.where(fitted[:, None], (s_x - slope * c_t[:, None]) / n[:, None], xy)
    return value, slope


@dataclass(frozen=True)
class Thresholds:
    """A pair is a conflict when its min TTC or its PET is below these (SSM's defaults are 3 s and 2 s).

    ``range_m`` is how far apart two users may be and still be measured (SSM's ``device.ssm.range``);
    ``lane_tolerance_m`` how close a position must be to another user's path to be on it (under half a lane,
    so that users in neighbouring lanes are not). ``encounter_gap_s`` is how long a pair may be in no relation
    before the next is another encounter, another conflict (SSM's ``device.ssm.extratime``).
    ``comfortable_decel_ms2`` is the braking below which a rear-end approach is controlled (AASHTO's 3.4 m/s²
    for stopping sight distance: most drivers brake harder only when surprised); 0 marks none controlled.
    """

    ttc_s: float = 3.0
    pet_s: float = 2.0
    time_tolerance_s: float = 1e-6  # samples of the two users closer than this count as simultaneous
    range_m: float = 50.0
    lane_tolerance_m: float = 1.0
    encounter_gap_s: float = 5.0
    comfortable_decel_ms2: float = 3.4


@dataclass(frozen=True)
class Conflict:
    """One pair's measures. ``pair`` indexes the input list: edge-internal, never in a summary.

    ``relation`` is what the min TTC (else the PET) was measured on: "following", "oncoming", "crossing" or
    "merging" (see the module's description); ``min_ttc_s`` is infinite when no TTC was defined.
    ``controlled``: a rear-end approach that needed no evasive action (:func:`measure_encounters`).
    """

    pair: tuple[int, int]
    kinds: tuple[str, str]
    type: str
    min_ttc_s: float
    ttc_time_s: float
    drac_ms2: float
    pet_s: float | None
    time_s: float
    relation: str = ""
    controlled: bool = False


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


#: Cosine of the largest angle between a user's heading and the other's path for following (30°, SSAM's
#: rear-end limit): a user crossing the path at the crossing point is on it, but not following it.
_FOLLOW_COS = float(np.cos(np.radians(30.0)))
#: A leader whose path leaves the follower's within this distance past its front bumper is turning off: in
#: SSM's lanes it is on another connection of the junction, and the follower no longer follows it.
TURN_OFF_M = 1.0
#: A follower whose path stays within this distance of the leader's, the same way, for BESIDE_LOOK_M past the
#: leader's front is in the leader's lane or the next one over: it changes lanes before reaching the leader.
BESIDE_M = 5.0
BESIDE_LOOK_M = 20.0
#: ... and the leader is within half a lane of the follower's current course (the follower is still in the
#: leader's lane, rather than the leader having just moved out of the follower's).
COURSE_M = 1.6
#: A pedestrian's path passes a vehicle's as a crossing only where the two bodies, swept along the paths,
#: come within this distance: a pedestrian walks where its body is, and one waiting at the kerb 0.7 m from a
#: passing car crossed no path of it.
PERSON_PASS_M = 0.4
#: Paths that pass without crossing are a crossing only where the two footprints, swept along them, come
#: within this distance of each other (opposing left turns that SUMO's junctions keep apart pass 0.9 m apart).
PASS_M = 0.8
#: A follower's path prolonged straight past the end of its record that passes this far or further from the
#: front bumper of a leader standing in its lane is no guess of that lane: the lane bends between them.
BENDS_M = 0.5


@dataclass(frozen=True)
class _Pair:
    """Two users at the times both were seen: their paths, sample indices and state there."""

    a: Trajectory
    b: Trajectory
    pa: RoadPath
    pb: RoadPath
    times: FloatArray
    ia: npt.NDArray[np.int64]
    ib: npt.NDArray[np.int64]

    @classmethod
    def of(cls, a: Trajectory, b: Trajectory, pa: RoadPath, pb: RoadPath, tol: float) -> _Pair:
        times, ia, ib = _common(a, b, tol)
        return cls(a, b, pa, pb, times, ia.astype(np.int64), ib.astype(np.int64))


@dataclass(frozen=True)
class _Series:
    """TTC per common time on one relation, with the closing speed and gap that give its DRAC."""

    relation: str
    ttc: FloatArray
    closing: FloatArray
    gap: FloatArray
    active: BoolArray  # the times at which the pair is in this relation at all (an encounter goes on)
    follower: IntArray | None = None  # following: who closes in at each time (0: a, 1: b; -1: neither)


def _path(t: Trajectory, thresholds: Thresholds) -> RoadPath:
    path = t._paths.get(thresholds.range_m)
    if path is None:
        path = RoadPath.build(t.t, t.xy, t.headings(), t.speed, thresholds.range_m)
        t._paths[thresholds.range_m] = path
    return path


def _arrival(dist: FloatArray, speed: FloatArray, accel: FloatArray) -> FloatArray:
    """Time to cover ``dist`` from ``speed`` at a constant ``accel`` <= 0; inf if it stops first."""
    brake = np.minimum(accel, 0.0)
    root = speed * speed + 2.0 * brake * dist
    with np.errstate(divide="ignore", invalid="ignore"):
        steady = np.where(speed > 0, dist / speed, np.inf)
        braking = np.where(root >= 0, (speed - np.sqrt(np.maximum(root, 0.0))) / -brake, np.inf)
    return np.where(dist <= 0, 0.0, np.where(brake < 0, braking, steady))


def _gap_ttc(gap: FloatArray, closing: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gap <= 0, 0.0, np.where(closing > 0, gap / closing, np.inf))


def _following(p: _Pair, thresholds: Thresholds) -> tuple[_Series, npt.NDArray[np.bool_]]:
    """TTC where one user is on the other's path ahead or behind (same way: following; opposite: oncoming),
    and the common times at which either is on the other's path at all."""
    n = len(p.times)
    ttc, closing, gap = np.full(n, np.inf), np.zeros(n), np.zeros(n)
    follower = np.full(n, -1, dtype=np.int64)
    on_path, oncoming = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    # Only times at which they are close enough for a gap within range need a projection.
    apart = np.hypot(*(p.a.xy[p.ia] - p.b.xy[p.ib]).T)
    rows = np.flatnonzero(apart <= thresholds.range_m + p.a.length + p.b.length)
    views = ((p.pa, p.a, p.pb, p.b, p.ia, p.ib, 0), (p.pb, p.b, p.pa, p.a, p.ib, p.ia, 1))
    for path, own, other_path, other, i_own, i_other, me in views:
        if rows.size == 0:
            break
        if own.still:  # what lies ahead of a user that never moved is unknown: it follows no one
            continue
        on = path.project(other.xy[i_other[rows]])
        # A user that never moved has no heading: it is taken to stand along my path, as a car stands in its
        # lane (a stalled car, the last of a queue whose record began while it stood).
        cos = (
            np.ones(rows.size)
            if other.still
            else np.einsum("ij,ij->i", other_path.heading[i_other[rows]], on.tangent)
        )
        here = (on.distance < thresholds.lane_tolerance_m) & (np.abs(cos) > _FOLLOW_COS)
        s_own, v_own, v_other = path.s[i_own[rows]], path.speed[i_own[rows]], other_path.speed[i_other[rows]]
        ahead, same = on.s - s_own, cos > 0
        # Bumper gap along my path: from my front to the other's nearer end when it is ahead (its back, or its
        # front when it comes the other way), from its front to my back when it is behind.
        near_end = np.where(same, on.s + other.to_front - other.length, on.s - other.to_front)
        g = np.where(
            ahead > 0,
            near_end - (s_own + own.to_front),
            s_own + own.to_front - own.length - (on.s + other.to_front),
        )
        c = np.where(
            same, np.where(ahead > 0, v_own - v_other, v_other - v_own), np.sign(ahead) * (v_own + v_other)
        )
        # SSM's lanes: a leader whose front has turned off the follower's path, or whose path leaves it within
        # TURN_OFF_M past its front, is on another connection. Head-on on one path needs each on the other's.
        # A follower still on my path that moves to a neighbouring lane before reaching me (an evasive lane
        # change) follows me until it leaves my lane, as SSM's lanes have it: its path stays beside mine.
        tol = thresholds.lane_tolerance_m
        lead, behind, head_on = here & same & (ahead > 0), here & same & (ahead <= 0), here & ~same
        if not other.still:  # one that never moved turns off nowhere, and its path is no lane to follow
            here[lead] = _front_on(other_path, other, i_other[rows[lead]], path, tol)
            front_on = _front_on(path, own, i_own[rows[behind]], other_path, tol)
            front_on |= _ends_behind(path, own, i_own[rows[behind]], other, other_path, tol)
            turned = np.flatnonzero(behind)[~front_on]
            here[behind] = front_on
            here[turned] = _passes_beside(
                path, own, i_own[rows[turned]], other_path, other, i_other[rows[turned]], -ahead[turned]
            )
        if bool(np.any(head_on)):
            here[head_on] = other_path.project(own.xy[i_own[rows[head_on]]]).distance < tol
        # SSM follows in the current lane: not where my path changes lanes between the two of us (I reach the
        # other only after a lane change of mine ahead, or the other is in the lane I left behind).
        here &= ~path.shifts_between(s_own, on.s)
        # A gap closed along my path is a collision only where the footprints touch. Where they are apart, my
        # path folds back beside me (a car waiting in the junction to U-turn into the lane the other drives
        # in) or the other's back is still in the next lane: it is not ahead of me in my lane.
        overlap = np.flatnonzero(here & (g <= 0))
        if overlap.size:
            k_own, k_other = i_own[rows[overlap]], i_other[rows[overlap]]
            along = on.tangent[overlap] if other.still else None
            here[overlap] = _touching(own, path, k_own, other, other_path, k_other, along)
        t = np.where(here & (g <= thresholds.range_m), _gap_ttc(g, c), np.inf)
        take = here & (t <= ttc[rows])
        ttc[rows] = np.where(take, t, ttc[rows])
        closing[rows], gap[rows] = np.where(take, c, closing[rows]), np.where(take, g, gap[rows])
        closer = np.where(same, np.where(ahead > 0, me, 1 - me), -1)
        follower[rows] = np.where(take, closer, follower[rows])
        on_path[rows] |= here & (apart[rows] <= thresholds.range_m)  # an encounter goes on only in range
        oncoming[rows] |= here & ~same
    relation = "oncoming" if bool(np.any(oncoming & np.isfinite(ttc))) else "following"
    return _Series(relation, ttc, closing, gap, on_path, follower), on_path


def _clearance(
    a: Trajectory,
    xy_a: FloatArray,
    heading_a: FloatArray,
    b: Trajectory,
    xy_b: FloatArray,
    heading_b: FloatArray,
) -> FloatArray:
    """Distance between two users' footprints (rectangles, :data:`SIZE_M`) at the given positions (k×2 each)
    with their bodies along the given unit axes; where they overlap, minus the least depth of the overlap
    along the four sides' directions (the separating axes of two rectangles)."""
    corners_a, corners_b = _corners(a, xy_a, heading_a), _corners(b, xy_b, heading_b)
    axes = np.stack([heading_a, _left(heading_a), heading_b, _left(heading_b)], axis=1)  # k×4×2
    on_a = np.einsum("kcj,kxj->kxc", corners_a, axes)  # each corner projected on each axis: k×4×4
    on_b = np.einsum("kcj,kxj->kxc", corners_b, axes)
    depth = np.minimum(on_a.max(axis=2), on_b.max(axis=2)) - np.maximum(on_a.min(axis=2), on_b.min(axis=2))
    overlap = depth.min(axis=1)  # > 0 on every axis: no axis separates them
    apart = np.minimum(_to_sides(corners_a, corners_b), _to_sides(corners_b, corners_a))
    found: FloatArray = np.where(overlap > 0, -overlap, apart)
    return found


def _left(heading: FloatArray) -> FloatArray:
    found: FloatArray = np.column_stack([-heading[:, 1], heading[:, 0]])
    return found


def _corners(user: Trajectory, xy: FloatArray, heading: FloatArray) -> FloatArray:
    """The corners of the user's rectangle (k×4×2) at positions ``xy`` with its body along ``heading``,
    in order round it."""
    centre = xy + (user.to_front - user.length / 2) * heading
    along, side = heading * (user.length / 2), _left(heading) * (user.width / 2)
    return np.stack(
        [centre + along + side, centre - along + side, centre - along - side, centre + along - side], 1
    )


def _to_sides(points: FloatArray, corners: FloatArray) -> FloatArray:
    """Per row, the least distance from any of ``points`` (k×p×2) to the sides of the polygon ``corners``
    (k×4×2, in order round it)."""
    start, side = corners, np.roll(corners, -1, axis=1) - corners
    rel = points[:, :, None, :] - start[:, None, :, :]  # k×p×4×2
    along = np.einsum("kpsj,ksj->kps", rel, side) / np.einsum("ksj,ksj->ks", side, side)[:, None, :]
    off = rel - np.clip(along, 0.0, 1.0)[..., None] * side[:, None, :, :]
    found: FloatArray = np.hypot(off[..., 0], off[..., 1]).min(axis=(1, 2))
    return found


def _body_axis(user: Trajectory, path: RoadPath, rows: IntArray) -> FloatArray:
    """Unit direction of the user's body at the given samples (k×2): to its ``xy`` point from its back
    bumper, taken as the last point of the path it came along that far away (as SUMO places a vehicle on its
    lane: front bumper at its position, back bumper a length behind on the lane). In a tight turn this is
    not the heading of ``xy``'s motion: a car starting a U-turn moves sideways at its front while its body
    still points the way it came. Only the path behind counts, so a car waiting to turn does not point where
    it will drive off; and the back is found by distance rather than along the path, which a detector's
    jitter lengthens while a car stands. With no such point in the record, the heading stands."""
    xy = user.xy[rows]
    reach = max(user.length - user.to_front, STEP_M)
    here = np.searchsorted(path.points_s, path.s[rows], side="right") - 1
    axis: FloatArray = np.array(path.heading[rows], dtype=np.float64)
    todo, lag, block = np.arange(len(rows)), 0, 16
    while todo.size and lag <= int(here.max(initial=0)):
        idx = here[todo, None] - lag - np.arange(block)[None, :]
        behind = path.points[np.clip(idx, 0, None)]
        far = (np.hypot(*(xy[todo, None, :] - behind).transpose(2, 0, 1)) >= reach) & (idx >= 0)
        hit = np.any(far, axis=1)
        back = behind[hit, np.argmax(far, axis=1)[hit]]
        axis[todo[hit]] = (xy[todo[hit]] - back) / np.hypot(*(xy[todo[hit]] - back).T)[:, None]
        todo, lag, block = todo[~hit], lag + block, block * 2
    return axis


def _touching(
    a: Trajectory,
    pa: RoadPath,
    rows_a: IntArray,
    b: Trajectory,
    pb: RoadPath,
    rows_b: IntArray,
    axis_b: FloatArray | None = None,
) -> BoolArray:
    """Whether the two bodies, each along its path (:func:`_body_axis`; ``b``'s along ``axis_b`` if given),
    touch or overlap."""
    axis_b = _body_axis(b, pb, rows_b) if axis_b is None else axis_b
    gap = _clearance(a, a.xy[rows_a], _body_axis(a, pa, rows_a), b, b.xy[rows_b], axis_b)
    found: BoolArray = gap <= 0.0
    return found


def _passes_beside(
    path: RoadPath,
    user: Trajectory,
    rows: IntArray,
    other_path: RoadPath,
    other: Trajectory,
    other_rows: IntArray,
    behind_m: FloatArray,
) -> BoolArray:
    """Whether the other user, ``behind_m`` behind the user on its path, is in the user's lane now and will
    pass it in the next: the other's path changes lanes within ``behind_m``
    (:func:`~citytally.edge.safety_paths.lane_shifts`: it moves out of the user's lane before reaching it)
    and passes the user within BESIDE_M (not a path that has borne off onto another road at a fork),
    or the user is within half a lane (COURSE_M) of the other's current course and the other's path stays
    within a neighbouring lane of the user's, the same way, for BESIDE_LOOK_M past the user's front bumper.
    (Not when it is the user that has just moved out of the other's lane: its own path changes lanes between
    the two, which the caller rules out, or, where that change is not seen, it is off the other's course.)
    The course is the other's heading line, straight: on a bend it misses a user far ahead, so that a lane
    change of the other's does not depend on it."""
    heading, apart = other_path.heading[other_rows], user.xy[rows] - other.xy[other_rows]
    at = other_path.s[other_rows]
    # A lane change passes the user within a neighbouring lane; a path that bears off at a fork onto another
    # road, which the sideways move alone cannot tell from a lane change, leaves it further away.
    swerves = other_path.shifts_between(at, at + behind_m)
    if bool(np.any(swerves)):
        swerves[swerves] = other_path.project(user.xy[rows[swerves]]).distance < BESIDE_M
    passes = ~swerves & (np.abs(heading[:, 0] * apart[:, 1] - heading[:, 1] * apart[:, 0]) < COURSE_M)
    if not bool(np.any(passes)):
        return swerves
    # Only the rows on course need the look along the path (the costly part).
    ahead = np.arange(0.0, BESIDE_LOOK_M + 1e-9, 1.0)
    s = (path.s[rows[passes]] + user.to_front)[:, None] + ahead[None, :]
    at = path.point_at(s.ravel())
    near = other_path.project(at)
    step = path.point_at(s.ravel() + STEP_M) - at
    cos = np.einsum("ij,ij->i", step, near.tangent) / np.maximum(np.hypot(step[:, 0], step[:, 1]), 1e-9)
    passes[passes] = np.all(((near.distance < BESIDE_M) & (cos > _FOLLOW_COS)).reshape(s.shape), axis=1)
    return passes | swerves


def _front_on(path: RoadPath, user: Trajectory, rows: IntArray, other: RoadPath, tol: float) -> BoolArray:
    """Whether the user's front bumper, at the given samples, and its path up to TURN_OFF_M further are on the
    other user's path."""
    if rows.size == 0:
        return np.zeros(0, dtype=bool)
    ahead = np.arange(0.0, TURN_OFF_M + 1e-9, STEP_M)
    s = (path.s[rows] + user.to_front)[:, None] + ahead[None, :]
    far = other.project(path.point_at(s.ravel())).distance.reshape(s.shape)
    on: BoolArray = np.all(far < tol, axis=1)
    return on


def _ends_behind(
    path: RoadPath, user: Trajectory, rows: IntArray, other: Trajectory, other_path: RoadPath, tol: float
) -> BoolArray:
    """Whether, at the given samples, the other user's record ends on the user's path short of its front
    bumper, and the other's path, prolonged straight from there, passes BENDS_M or more from that front
    bumper: the lane bends between them (a junction's curved internal lane). Where the other went after it
    was last seen (the run or the analysis window ends, or the track is lost) is not known, and the straight
    guess says nothing about a bend: it stays in the user's lane behind it, as a follower in SSM's lanes does.
    (A user with its front on that guess, whose path turns off just past it, is on another connection:
    :func:`_front_on`.)"""
    end = path.project(other.xy[-1:])
    if end.distance[0] >= tol or rows.size == 0:
        return np.zeros(rows.size, dtype=bool)
    found: BoolArray = end.s[0] < path.s[rows] + user.to_front
    if bool(np.any(found)):
        k = rows[found]
        front = user.xy[k] + user.to_front * _body_axis(user, path, k)
        found[found] = other_path.project(front).distance >= BENDS_M
    return found


def _areas(p: _Pair, where: Crossing) -> tuple[tuple[float, float], tuple[float, float]]:
    """The conflict area along each path: half the other's width either side of a crossing point (SSM's
    square), the close stretch where the paths pass, the joining point of a merge."""
    if where.kind != "crossing":
        return (where.s_a, where.s_a), (where.s_b, where.s_b)
    area_a = where.extent_a or (where.s_a - p.b.width / 2, where.s_a + p.b.width / 2)
    area_b = where.extent_b or (where.s_b - p.a.width / 2, where.s_b + p.a.width / 2)
    return area_a, area_b


def _entry_distances(p: _Pair, where: Crossing) -> tuple[FloatArray, FloatArray]:
    """Front bumper to the conflict area along each path."""
    area_a, area_b = _areas(p, where)
    d_a = area_a[0] - (p.pa.s[p.ia] + p.a.to_front)
    d_b = area_b[0] - (p.pb.s[p.ib] + p.b.to_front)
    return d_a, d_b


def _crossing(p: _Pair, where: Crossing, thresholds: Thresholds) -> _Series:
    """SSM's crossing TTC: the second to arrive would enter before the first has left."""
    d_in_a, d_in_b = _entry_distances(p, where)
    (lo_a, hi_a), (lo_b, hi_b) = _areas(p, where)
    d_out_a, d_out_b = d_in_a + hi_a - lo_a + p.a.length, d_in_b + hi_b - lo_b + p.b.length
    va, vb = p.pa.speed[p.ia], p.pb.speed[p.ib]
    aa, ab = p.pa.accel[p.ia], p.pb.accel[p.ib]
    in_a, in_b = _arrival(d_in_a, va, aa), _arrival(d_in_b, vb, ab)
    out_a, out_b = _arrival(d_out_a, va, aa), _arrival(d_out_b, vb, ab)
    a_first = in_a < in_b
    follower_in, leader_out = np.where(a_first, in_b, in_a), np.where(a_first, out_a, out_b)
    d_f, v_f = np.where(a_first, d_in_b, d_in_a), np.where(a_first, vb, va)
    live = (d_out_a >= 0) & (d_out_b >= 0) & ~((d_in_a <= 0) & (d_in_b <= 0))
    live &= (d_in_a <= thresholds.range_m) & (d_in_b <= thresholds.range_m)
    # A user predicted to stop short of the area (infinite entry time) is on no collision course; two users
    # in the area at once have collided (TTC 0, SSM's collision state) where their bodies touch. Where they
    # do not, the area is larger than where they meet (paths that pass rather than cross, at an angle) and
    # neither is on a collision course with the other there.
    ttc = np.where(live & np.isfinite(follower_in) & (follower_in <= leader_out), _gap_ttc(d_f, v_f), np.inf)
    both_in = (d_in_a <= 0) & (d_in_b <= 0) & (d_out_a >= 0) & (d_out_b >= 0)
    inside = np.flatnonzero(both_in)
    if inside.size:
        touch = _touching(p.a, p.pa, p.ia[inside], p.b, p.pb, p.ib[inside])
        ttc[inside] = np.where(touch, 0.0, np.inf)
    return _Series("crossing", ttc, v_f, d_f, live | both_in)


def _merging(p: _Pair, where: Crossing, thresholds: Thresholds) -> _Series:
    """SSM's merging TTC at constant speeds: at the joining point, or after it behind the first."""
    d_a, d_b = _entry_distances(p, where)
    va, vb = p.pa.speed[p.ia], p.pb.speed[p.ib]
    approaching = (d_a > 0) & (d_b > 0) & (d_a <= thresholds.range_m) & (d_b <= thresholds.range_m)
    live = approaching & (va > 0) & (vb > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        in_a, in_b = d_a / va, d_b / vb
        out_a, out_b = (d_a + p.a.length) / va, (d_b + p.b.length) / vb
    a_first = in_a <= in_b
    follower_in, leader_out = np.where(a_first, in_b, in_a), np.where(a_first, out_a, out_b)
    d_f, v_f, v_l = np.where(a_first, d_b, d_a), np.where(a_first, vb, va), np.where(a_first, va, vb)
    with np.errstate(invalid="ignore"):  # times of stopped users are inf; those rows are not live
        after = leader_out + _gap_ttc(d_f - leader_out * v_f, v_f - v_l)
    ttc = np.where(leader_out >= follower_in, _gap_ttc(d_f, v_f), after)
    return _Series("merging", np.where(live, ttc, np.inf), v_f, d_f, approaching)


def _time_at(s: FloatArray, t: FloatArray, target: float) -> float:
    """When the distance travelled first reached ``target`` (linear between samples); nan if never seen."""
    if target < s[0] or target > s[-1]:
        return float("nan")
    i = int(np.searchsorted(s, target, side="left"))
    if i == 0:
        return float(t[0])
    w = (target - s[i - 1]) / (s[i] - s[i - 1])
    return float(t[i - 1] + w * (t[i] - t[i - 1]))


def _pet(p: _Pair, where: Crossing, thresholds: Thresholds) -> tuple[float, float] | None:
    """PET at one crossing and its time (the second user's entry), if both passed it and met before."""
    a, b = p.a, p.b
    (lo_a, hi_a), (lo_b, hi_b) = _areas(p, where)
    in_a, out_a = (
        _time_at(p.pa.s, a.t, lo_a - a.to_front),
        _time_at(p.pa.s, a.t, hi_a + a.length - a.to_front),
    )
    in_b, out_b = (
        _time_at(p.pb.s, b.t, lo_b - b.to_front),
        _time_at(p.pb.s, b.t, hi_b + b.length - b.to_front),
    )
    if any(np.isnan(x) for x in (in_a, out_a, in_b, out_b)):
        return None
    if in_b >= out_a:
        pet_s, when, first_out = in_b - out_a, in_b, out_a
    elif in_a >= out_b:
        pet_s, when, first_out = in_a - out_b, in_a, out_b
    else:
        pet_s, when, first_out = 0.0, max(in_a, in_b), min(out_a, out_b)
    d_a, d_b = _entry_distances(p, where)
    met = (p.times <= first_out) & (d_a <= thresholds.range_m) & (d_b <= thresholds.range_m)
    return (pet_s, when) if bool(np.any(met)) else None


def pet(a: Trajectory, b: Trajectory, thresholds: Thresholds = Thresholds()) -> tuple[float, float] | None:
    """The lowest PET over the places where the two paths cross, and its time; None if there is none."""
    pa, pb = _path(a, thresholds), _path(b, thresholds)
    p = _Pair.of(a, b, pa, pb, thresholds.time_tolerance_s)
    return _lowest_pet(p, _relations(a, b, pa, pb, thresholds), thresholds)


def _relations(
    a: Trajectory, b: Trajectory, pa: RoadPath, pb: RoadPath, thresholds: Thresholds
) -> list[Crossing]:
    if a.still or b.still:  # it went nowhere, so crosses nothing (its path along +x is a guess)
        return []
    reach, tol = (a.width + b.width) / 2, thresholds.lane_tolerance_m
    # PASS_M stands in for SSM's junction connections, which cross where vehicles' bumper paths pass; a
    # pedestrian walks where its body is: passing a car 0.7 m off at the kerb is no crossing of its path.
    allowance = PERSON_PASS_M if "person" in (a.kind, b.kind) else PASS_M
    found = path_relations(pa, pb, tol, clearance=reach + tol, closest=reach + allowance)
    # Only where both were seen to go: a path's straight prolongation past its last sample is a guess, and
    # a user whose recording ends short of the other's path (it left the view, or its trip ended there)
    # did not cross it. Reached = its front came to the conflict area (half the other's width short).
    return [
        c
        for c in found
        if c.s_a - b.width / 2 <= pa.end_s + a.to_front and c.s_b - a.width / 2 <= pb.end_s + b.to_front
    ]


def _lowest_pet(p: _Pair, relations: list[Crossing], thresholds: Thresholds) -> tuple[float, float] | None:
    found = [x for c in relations if c.kind == "crossing" for x in [_pet(p, c, thresholds)] if x is not None]
    return min(found) if found else None


def _ttc_series(p: _Pair, relations: list[Crossing], thresholds: Thresholds) -> list[_Series]:
    """Every relation's TTC per common time; crossing and merging only where neither follows the other."""
    following, busy = _following(p, thresholds)
    others = [
        _crossing(p, c, thresholds) if c.kind == "crossing" else _merging(p, c, thresholds) for c in relations
    ]
    others = [dataclasses.replace(x, ttc=np.where(busy, np.inf, x.ttc)) for x in others]
    return [following, *others]


def measure_pair(
    a: Trajectory,
    b: Trajectory,
    thresholds: Thresholds = Thresholds(),
    paths: tuple[RoadPath, RoadPath] | None = None,
) -> Conflict | None:
    """The pair's min TTC (over all their common samples), DRAC there, PET and type; None if neither is low.

    :func:`measure_encounters` splits the same measures by encounter.
    """
    p, series, pet = _measures(a, b, thresholds, paths)
    return _conflict(a, b, p, series, (0, p.times.size), pet, thresholds)


def measure_encounters(
    a: Trajectory,
    b: Trajectory,
    thresholds: Thresholds = Thresholds(),
    paths: tuple[RoadPath, RoadPath] | None = None,
) -> list[Conflict]:
    """The pair's conflicts, one per encounter (as SSM's device and FHWA's SSAM count them).

    An encounter is a stretch of common samples in which the pair is in one of the relations at all; one
    that is in none for over ``thresholds.encounter_gap_s`` starts a new one (a follower that kept its
    distance for a while and closes in again is one encounter). Each encounter is a conflict when its own
    min TTC is low; the pair's PET goes with the encounter in which (or within the gap after which) the second
    user entered the conflict area, else it is a conflict of its own.

    A rear-end conflict (by its TTC on the following relation, its PET not low) is ``controlled`` when the
    follower, at its least TTC, was already braking at least the DRAC and never braked harder than
    ``thresholds.comfortable_decel_ms2`` in the encounter (braking taken over :data:`DECEL_WINDOW_S`): it drew
    up behind the leader as planned, as a car does behind a queue. A late stop brakes harder; a follower that
    was not braking at its least TTC (the leader pulled away in time) is no controlled approach, and a TTC of
    0 (the footprints touch) is a collision, never one.
    """
    p, series, pet = _measures(a, b, thresholds, paths)
    gap = thresholds.encounter_gap_s
    spans = _encounters(p.times, series, gap)
    holds_pet = next(
        (
            k
            for k, (lo, hi) in enumerate(spans)
            if pet is not None and p.times[lo] - gap <= pet[1] <= p.times[hi - 1] + gap
        ),
        None,
    )
    found = [
        _conflict(a, b, p, series, span, pet if k == holds_pet else None, thresholds)
        for k, span in enumerate(spans)
    ]
    if pet is not None and holds_pet is None:
        found.append(_conflict(a, b, p, series, (0, 0), pet, thresholds))
    return [c for c in found if c is not None]


def _measures(
    a: Trajectory, b: Trajectory, thresholds: Thresholds, paths: tuple[RoadPath, RoadPath] | None
) -> tuple[_Pair, list[_Series], tuple[float, float] | None]:
    """The pair at its common samples, every relation's TTC series there, and the lowest PET with its time."""
    pa, pb = paths if paths is not None else (_path(a, thresholds), _path(b, thresholds))
    p = _Pair.of(a, b, pa, pb, thresholds.time_tolerance_s)
    relations = _relations(a, b, pa, pb, thresholds)
    series = _ttc_series(p, relations, thresholds) if p.times.size else []
    return p, series, _lowest_pet(p, relations, thresholds)


def _encounters(times: FloatArray, series: list[_Series], gap_s: float) -> list[tuple[int, int]]:
    """[start, stop) of each encounter in the common samples: related samples no more than gap_s apart."""
    if not series:
        return []
    related = np.flatnonzero(np.logical_or.reduce([x.active for x in series]))
    if related.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(times[related]) > gap_s)
    starts = np.concatenate([[related[0]], related[breaks + 1]])
    stops = np.concatenate([related[breaks] + 1, [related[-1] + 1]])
    return [(int(lo), int(hi)) for lo, hi in zip(starts, stops, strict=True)]


def _conflict(
    a: Trajectory,
    b: Trajectory,
    p: _Pair,
    series: list[_Series],
    span: tuple[int, int],
    pet: tuple[float, float] | None,
    thresholds: Thresholds,
) -> Conflict | None:
    """The conflict of the common samples in ``span`` (min TTC there, DRAC at it) with ``pet``, if low."""
    lo, hi = span
    min_ttc, ttc_at, drac, relation, k, closer = np.inf, float("nan"), 0.0, "", -1, -1
    if hi > lo:
        for x in series:
            i = lo + int(np.argmin(x.ttc[lo:hi]))
            if x.ttc[i] < min_ttc:
                min_ttc, ttc_at, relation, k = float(x.ttc[i]), float(p.times[i]), x.relation, i
                drac = _drac(float(x.gap[i]), float(x.closing[i]))
                closer = int(x.follower[i]) if x.follower is not None else -1
    pet_s, pet_at = pet if pet is not None else (None, float("nan"))
    by_ttc = min_ttc < thresholds.ttc_s
    if not by_ttc and (pet_s is None or pet_s >= thresholds.pet_s):
        return None
    if by_ttc:
        when, ka, kb = ttc_at, int(p.ia[k]), int(p.ib[k])
    else:  # a conflict by its PET alone: at the second user's entry into the crossing's conflict area
        when, relation = pet_at, "crossing"
        ka, kb = (int(np.clip(np.searchsorted(x.t, when), 0, len(x.t) - 1)) for x in (a, b))
    # One that never moved stands along the other's path (_following): at 0° to it, a rear-end.
    heading_a, heading_b = a.heading_deg(ka), b.heading_deg(kb)
    kind = conflict_type(heading_b if a.still else heading_a, heading_a if b.still else heading_b)
    by_pet = pet_s is not None and pet_s < thresholds.pet_s
    # A gap closed (TTC 0: the footprints touch) is a collision, never a controlled approach.
    approach = by_ttc and min_ttc > 0 and not by_pet and closer >= 0
    controlled = approach and _controlled(p, closer, k, span, drac, thresholds)
    return Conflict((0, 1), (a.kind, b.kind), kind, min_ttc, ttc_at, drac, pet_s, when, relation, controlled)


#: Seconds over which a road user's deceleration is taken: its speed's change over this, centred on the time
#: (a camera track's speed changes from frame to frame by its noise; a second spans the onset of braking).
DECEL_WINDOW_S = 1.0


def _decelerations(user: Trajectory, path: RoadPath, at: FloatArray) -> FloatArray:
    """The user's deceleration (m/s², braking positive) at the times ``at`` (inside its record)."""
    half = DECEL_WINDOW_S / 2
    lo, hi = np.maximum(at - half, user.t[0]), np.minimum(at + half, user.t[-1])
    change = np.interp(lo, user.t, path.speed) - np.interp(hi, user.t, path.speed)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(hi > lo, change / (hi - lo), 0.0)


def _controlled(
    p: _Pair, closer: int, k: int, span: tuple[int, int], drac: float, thresholds: Thresholds
) -> bool:
    """Whether a rear-end approach needed no evasive action: at its least TTC the follower was already braking
    at least the DRAC (the braking under way stops the closing short of the leader), and never harder than
    ``comfortable_decel_ms2`` in the encounter (a car drawing up behind a queue; a late stop brakes
    harder)."""
    if thresholds.comfortable_decel_ms2 <= 0:
        return False
    user, path = (p.a, p.pa) if closer == 0 else (p.b, p.pb)
    lo, hi = span
    seen = user.t[(user.t >= p.times[lo]) & (user.t <= p.times[hi - 1])]
    now = float(_decelerations(user, path, p.times[k : k + 1])[0])
    hardest = float(np.max(_decelerations(user, path, seen))) if seen.size else now
    return now >= drac and max(now, hardest) <= thresholds.comfortable_decel_ms2


def _drac(gap: float, closing: float) -> float:
    """Closing speed² / (2·gap): the deceleration that stops the approach just as the gap closes."""
    if closing <= 0:
        return 0.0
    return float("inf") if gap <= 0 else closing * closing / (2.0 * gap)


def _candidate_pairs(trajectories: Sequence[Trajectory], reach: float, tol: float) -> list[tuple[int, int]]:
    """Pairs that were, at one time at least, within ``reach`` of each other (one k-d tree per time)."""
    n = len(trajectories)
    if n < 2:
        return []
    if n == 2:  # the edge pairs each ended path with each kept one: no tree for one pair
        a, b = trajectories
        _, ia, ib = np.intersect1d(np.round(a.t / tol), np.round(b.t / tol), return_indices=True)
        near = ia.size > 0 and float(np.min(np.hypot(*(a.xy[ia] - b.xy[ib]).T))) <= reach
        return [(0, 1)] if near else []
    keys = np.concatenate([np.round(t.t / tol) for t in trajectories])
    who = np.concatenate([np.full(len(t.t), i) for i, t in enumerate(trajectories)])
    xy = np.concatenate([t.xy for t in trajectories])
    order = np.argsort(keys, kind="stable")
    keys, who, xy = keys[order], who[order], xy[order]
    bounds = np.flatnonzero(np.diff(keys)) + 1
    codes = [np.zeros(0, dtype=np.int64)]
    for lo, hi in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [len(keys)]]), strict=True):
        if hi - lo >= 2:
            close = who[lo:hi][cKDTree(xy[lo:hi]).query_pairs(reach, output_type="ndarray")]
            codes.append(close.min(axis=1) * n + close.max(axis=1))
    unique = np.unique(np.concatenate(codes))
    return [(int(c // n), int(c % n)) for c in unique]


def find_conflicts(
    trajectories: Sequence[Trajectory],
    thresholds: Thresholds = Thresholds(),
    margin_m: float = 15.0,
    ignore_pairs: Collection[str] = (),
) -> list[Conflict]:
    """Every pair's :class:`Conflict` (``pair`` = their indices in ``trajectories``).

    Only pairs that came within ``thresholds.range_m`` plus ``margin_m`` of each other (positions) are
    measured, and none whose classes, sorted and joined by "-" ("person-person"), are in ``ignore_pairs``.
    """
    paths: dict[int, RoadPath] = {}
    found: list[Conflict] = []
    for i, j in _candidate_pairs(trajectories, thresholds.range_m + margin_m, thresholds.time_tolerance_s):
        if "-".join(sorted((trajectories[i].kind, trajectories[j].kind))) in ignore_pairs:
            continue
        for n in (i, j):
            if n not in paths:
                paths[n] = _path(trajectories[n], thresholds)
        hits = measure_encounters(trajectories[i], trajectories[j], thresholds, (paths[i], paths[j]))
        found.extend(dataclasses.replace(hit, pair=(i, j)) for hit in hits)
    return found


def _severity(conflict: Conflict) -> str:
    """Band on the lower of TTC and PET: serious < 1 s, moderate < 2 s, else slight."""
    low = min(conflict.min_ttc_s, conflict.pet_s if conflict.pet_s is not None else np.inf)
    return "serious" if low < 1.0 else "moderate" if low < 2.0 else "slight"


def summarise(conflicts: Sequence[Conflict]) -> ConflictSummary:
    """Counts by (type, severity) and by classes, and TTC/PET histograms: what may leave the edge.

    A controlled approach (``Conflict.controlled``) is no conflict here: it is not counted."""
    summary = ConflictSummary()
    conflicts = [c for c in conflicts if not c.controlled]
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
