"""Road users, not boxes: a person riding a bicycle or motorcycle and the two-wheeler are one road user.

The detector sees a cyclist as two boxes, a ``person`` and a ``bicycle`` (or ``motorcycle``), and the tracker
follows each; counted as they are, every cyclist would count twice. :class:`RiderMerger` sits between the
tracker and the counters and joins them, so that lines, zones, turns, speeds and incident rules all see one
road user of the two-wheeler's class.

**The rule.** A person *rides* a two-wheeler in a frame when, as seen in the image,

* the person's box stands over the two-wheeler's: at least ``overlap`` (half) of the person's width lies
  over the two-wheeler's box, and the person's centre is within it;
* the person's feet are off the ground: the bottom of the person's box is at least ``feet_above`` (12 %)
  of the two-wheeler's box height above the two-wheeler's bottom (the wheels' contact), but below the
  two-wheeler's top (feet on pedals or footrests, not standing beyond it). Seen end-on (the two-wheeler's
  box taller than wide: from in front or behind) the rider's legs reach down to the pedals at the wheels'
  level, so there the feet may be level with the wheels (within ``feet_above``); someone walking a bicycle
  seen end-on walks beside it, off its centre;
* the rider sits up out of it: the person's box reaches higher than the two-wheeler's.

They are *joined* when that holds in at least three of their joint frames within ``window_s`` (1 s),
spread over at least ``min_span_s`` (0.3 s) of it, in three quarters of the joint frames in the window, and
the person kept its place on the two-wheeler (shared motion): the offset between the two boxes (centre and
head, in the person's heights) changed by at most ``max_drift`` (0.3) across those frames. An offset that
jumps by more than half of that from one riding frame to the next is the tracker putting one of the ids on
someone else, not a rider moving: the pair is judged afresh from that frame. A person walking a bicycle
beside it has its feet on the ground, level with the wheels, so it stays a pedestrian and the bicycle a
(riderless) bicycle; a pedestrian passing in front of or behind a parked bicycle does not keep its place on
it. Speed is not part of the rule: a cyclist waiting at a light is as slow as a pedestrian, and speeds in
pixels depend on the distance. A person walking a bicycle on its far side, seen from high up, can look
like its rider (its feet then appear above the wheels); such a pair moving together for a second is counted
as one cyclist. A passenger (a child seat, a pillion rider) joins the same road user. A joined rider
seen off its two-wheeler in ``release_frames`` (5) joint frames in a row is a pedestrian again (someone
who got off to walk); one seen away from it, or jumping on it, is released at once (a passer-by the
tracker confused with the rider).

While a person and a two-wheeler are still being judged (riding in this frame, first seen together less
than ``window_s`` ago) the person is held back from the counters, so a cyclist is not counted as a
pedestrian in the frames before the join; a person not joined within the window is released unchanged (a
line it crossed while held, unseen on its old side, is not counted for it). The two-wheeler is counted all
along (alone it is a bicycle anyway). Once joined, the road user goes on under the track id of whichever
part was seen first (the counters know which side it came from) and is reported every frame either part
is seen, with the box of both (estimated from the part that is seen, by the last known layout of the two,
when the other is missed), the two-wheeler's class and the higher score. If the two-wheeler's track is
lost and a new one found under the same rider, the road user keeps its id. A track whose own id a road
user goes on under (a released rider) is reported under another id, so no two road users ever share one.
Track ids never leave the edge.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from citytally.arrays import Float64Array as FloatArray
from citytally.edge.detections import Detections
from citytally.events import ROAD_USER_CLASSES

__all__ = ["RiderMerger", "RiderRule", "rides"]


PERSON = ROAD_USER_CLASSES.index("person")
TWO_WHEELERS = frozenset({ROAD_USER_CLASSES.index("bicycle"), ROAD_USER_CLASSES.index("motorcycle")})


@dataclass(frozen=True)
class RiderRule:
    """The thresholds of the rule in the module's docstring."""

    overlap: float = 0.5
    feet_above: float = 0.12
    window_s: float = 1.0
    min_span_s: float = 0.3
    min_frames: int = 3
    min_share: float = 0.75
    max_drift: float = 0.3
    release_frames: int = 5


def rides(person: npt.ArrayLike, vehicle: npt.ArrayLike, rule: RiderRule = RiderRule()) -> bool:
    """Whether, in one frame, the person's box (x1, y1, x2, y2) sits on the two-wheeler's as a rider's."""
    px1, py1, px2, py2 = np.asarray(person, np.float64)
    vx1, vy1, vx2, vy2 = np.asarray(vehicle, np.float64)
    width, height = max(px2 - px1, 1e-6), max(vy2 - vy1, 1e-6)
    over = max(0.0, min(px2, vx2) - max(px1, vx1)) / width
    centred = vx1 <= (px1 + px2) / 2 <= vx2
    feet_up = (vy2 - py2) / height
    # Seen end-on (from in front or behind: taller than wide) a rider's legs reach down to the pedals at
    # the wheels' level, and someone walking a bicycle is beside it, not centred on it.
    end_on = height > vx2 - vx1
    feet = -rule.feet_above <= feet_up < 1.0 if end_on else rule.feet_above <= feet_up < 1.0
    return bool(over >= rule.overlap and centred and feet and py1 < vy1)


def _offset(person: FloatArray, vehicle: FloatArray) -> FloatArray:
    """Where the person is on the two-wheeler: centre and head relative to it, in the person's heights (not
    the feet: a cyclist's legs go up and down with the pedals; not in the two-wheeler's height, which
    changes by a third as a cyclist turns from end-on to side-on)."""
    height = max(float(person[3] - person[1]), 1e-6)
    return np.array(
        [(person[0] + person[2] - vehicle[0] - vehicle[2]) / 2 / height, (person[1] - vehicle[1]) / height]
    )


def _layout(part: FloatArray, whole: FloatArray) -> FloatArray:
    """The whole road user's box relative to one part's box (in the part's widths and heights)."""
    w, h = max(float(part[2] - part[0]), 1e-6), max(float(part[3] - part[1]), 1e-6)
    layout: FloatArray = (whole - part) / np.array([w, h, w, h])
    return layout


def _from_layout(part: FloatArray, layout: FloatArray) -> FloatArray:
    w, h = max(float(part[2] - part[0]), 1e-6), max(float(part[3] - part[1]), 1e-6)
    result: FloatArray = part + layout * np.array([w, h, w, h])
    return result


def _alias(track_id: int) -> int:
    """Another id for a track whose own id a road user goes on under; tracker ids are below 2**31."""
    return track_id + 2**31


@dataclass
class _Candidate:
    """A person and a two-wheeler seen together: their recent joint frames (time, rides, offset)."""

    first_seen: float
    frames: deque[tuple[float, bool, FloatArray]] = field(default_factory=lambda: deque(maxlen=256))
    last_seen: float = 0.0

    def jumped(self, offset: FloatArray, rule: RiderRule) -> bool:
        """Whether the person moved on the two-wheeler by more than half ``max_drift`` since the last frame
        it rode it: no rider does that in one frame, a tracker that swapped an id onto someone else does."""
        last = next((f[2] for f in reversed(self.frames) if f[1]), None)
        return last is not None and bool(np.any(np.abs(offset - last) > rule.max_drift / 2))


@dataclass
class _RoadUser:
    """A joined rider (or riders) and two-wheeler: one road user with a stable id."""

    road_user_id: int
    vehicle_id: int
    class_id: int
    riders: set[int] = field(default_factory=set)
    misses: dict[int, int] = field(default_factory=dict)  # rider → joint frames in a row not riding
    layouts: dict[int, FloatArray] = field(default_factory=dict)  # part's track id → layout of the whole
    last_seen: float = 0.0


class RiderMerger:
    """Joins riders to their two-wheelers frame by frame. ``update`` returns the road users of a frame."""

    def __init__(self, rule: RiderRule | None = None, forget_after_s: float = 5.0) -> None:
        self.rule = rule or RiderRule()
        self.forget_after_s = forget_after_s
        self._candidates: dict[tuple[int, int], _Candidate] = {}
        self._by_part: dict[int, _RoadUser] = {}
        self._seen: dict[int, tuple[float, float]] = {}  # track id → (first seen, last seen)
        self._swapped: set[tuple[int, int]] = set()  # joint pairs seen apart, or jumped, this frame
        self._aliased: set[int] = set()  # tracks reported under :func:`_alias` (their id is a road user's)

    def update(self, tracked: Detections, timestamp: float) -> Detections:
        """The frame's road users: ``tracked`` with each joined rider and two-wheeler as one row."""
        self._expire(timestamp)
        if len(tracked) == 0:
            return tracked
        boxes = tracked.xyxy.astype(np.float64)
        ids = [int(t) for t in tracked.track_id]
        index = {track_id: i for i, track_id in enumerate(ids)}
        for track_id in ids:
            self._seen[track_id] = (self._seen.get(track_id, (timestamp, timestamp))[0], timestamp)
        held = self._observe(tracked, boxes, ids, timestamp)
        self._release(boxes, index)
        self._join(tracked, boxes, index, timestamp)
        return self._report(tracked, boxes, ids, held, timestamp)

    # -- judging pairs ---------------------------------------------------------------------------------

    def _observe(self, tracked: Detections, boxes: FloatArray, ids: list[int], timestamp: float) -> set[int]:
        """Record every person/two-wheeler pair seen riding or overlapping; return the ids held back."""
        people = [i for i in range(len(ids)) if tracked.class_id[i] == PERSON]
        vehicles = [i for i in range(len(ids)) if int(tracked.class_id[i]) in TWO_WHEELERS]
        held: set[int] = set()
        self._swapped.clear()
        for p in people:
            for v in vehicles:
                key = (ids[p], ids[v])
                if boxes[p, 2] <= boxes[v, 0] or boxes[v, 2] <= boxes[p, 0]:
                    self._swapped.add(key)  # not even over each other: if joined, not its rider now
                    continue
                riding = rides(boxes[p], boxes[v], self.rule)
                candidate = self._candidates.get(key)
                offset = _offset(boxes[p], boxes[v])
                if candidate is not None and riding and candidate.jumped(offset, self.rule):
                    candidate = None  # someone else under one of the ids: judge them afresh
                    self._swapped.add(key)
                if candidate is None:
                    if not riding:
                        continue
                    candidate = self._candidates[key] = _Candidate(first_seen=timestamp)
                candidate.frames.append((timestamp, riding, offset))
                candidate.last_seen = timestamp
                judging = timestamp - candidate.first_seen < self.rule.window_s
                if riding and judging and ids[p] not in self._by_part:
                    held.add(ids[p])  # the two-wheeler is not held: alone, it is a bicycle all the same
        return held

    def _release(self, boxes: FloatArray, index: dict[int, int]) -> None:
        """A rider seen off its two-wheeler for ``release_frames`` joint frames in a row is a pedestrian
        again (got off and walks it); one seen elsewhere, or jumped to another place on it, at once (the
        tracker put its id on someone else)."""
        for user in {id(u): u for u in self._by_part.values()}.values():
            if user.vehicle_id not in index:
                continue
            vehicle = boxes[index[user.vehicle_id]]
            for person in [p for p in user.riders if p in index]:
                riding = rides(boxes[index[person]], vehicle, self.rule)
                user.misses[person] = 0 if riding else user.misses.get(person, 0) + 1
                if (person, user.vehicle_id) in self._swapped:
                    user.misses[person] = self.rule.release_frames
                if user.misses[person] >= self.rule.release_frames:
                    user.riders.discard(person)
                    user.misses.pop(person)
                    user.layouts.pop(person, None)
                    self._by_part.pop(person, None)
                    self._candidates.pop((person, user.vehicle_id), None)

    def _joined(self, candidate: _Candidate, timestamp: float) -> bool:
        rule = self.rule
        recent = [f for f in candidate.frames if f[0] > timestamp - rule.window_s]
        riding = [f for f in recent if f[1]]
        if len(riding) < rule.min_frames or len(riding) < rule.min_share * len(recent):
            return False
        if riding[-1][0] - riding[0][0] < rule.min_span_s:
            return False
        offsets = np.stack([f[2] for f in riding])
        return bool(np.all(offsets.max(axis=0) - offsets.min(axis=0) <= rule.max_drift))

    def _join(self, tracked: Detections, boxes: FloatArray, index: dict[int, int], timestamp: float) -> None:
        for (person, vehicle), candidate in self._candidates.items():
            if candidate.last_seen != timestamp or not self._joined(candidate, timestamp):
                continue
            user = self._by_part.get(vehicle) or self._by_part.get(person)
            if user is None:
                # The road user goes on under the id the counters have known longer: a bicycle first
                # detected on the line itself has no side yet, its rider coming from afar has.
                older = min((vehicle, person), key=lambda t: self._seen[t][0])
                user = _RoadUser(
                    self._reported_id(older),
                    vehicle,
                    int(tracked.class_id[index[vehicle]]),
                    last_seen=timestamp,
                )
            elif user.vehicle_id != vehicle and vehicle in self._by_part:
                continue  # each is already part of a different road user
            if user.vehicle_id != vehicle:
                # The rider's two-wheeler was found again under a new track: same road user, same id.
                self._by_part.pop(user.vehicle_id, None)
                user.layouts.pop(user.vehicle_id, None)
                user.vehicle_id = vehicle
            user.riders.add(person)
            self._by_part[person] = self._by_part[vehicle] = user

    # -- reporting -------------------------------------------------------------------------------------

    def _report(
        self, tracked: Detections, boxes: FloatArray, ids: list[int], held: set[int], timestamp: float
    ) -> Detections:
        keep = np.ones(len(ids), bool)
        merged: dict[int, list[int]] = {}  # road user id → rows of its parts in this frame
        users: dict[int, _RoadUser] = {}
        taken = {u.road_user_id for u in self._by_part.values()}
        for i, track_id in enumerate(ids):
            user = self._by_part.get(track_id)
            if user is not None:
                keep[i] = False
                merged.setdefault(user.road_user_id, []).append(i)
                users[user.road_user_id] = user
            elif track_id in held:
                keep[i] = False
            elif track_id in taken:
                # A released rider (or a two-wheeler's lost track found again) whose id a road user goes
                # on under: from now on it is reported under another id, so the counters never see two
                # road users under one id.
                self._aliased.add(track_id)
        out = tracked[np.flatnonzero(keep)]
        out = out.with_track_ids(np.array([self._reported_id(int(t)) for t in out.track_id], np.int64))
        if not merged:
            return out
        xyxy, scores, classes, user_ids = [], [], [], []
        for road_user_id, rows in merged.items():
            user = users[road_user_id]
            user.last_seen = timestamp
            for r in rows:
                if ids[r] == user.vehicle_id:  # its voted class; a frame with the rider alone keeps the last
                    user.class_id = int(tracked.class_id[r])
            xyxy.append(self._whole_box(user, boxes, ids, rows))
            scores.append(float(tracked.scores[rows].max()))
            classes.append(user.class_id)
            user_ids.append(road_user_id)
        joined = Detections(
            np.array(xyxy, np.float32),
            np.array(scores, np.float32),
            np.array(classes, np.int64),
            np.array(user_ids, np.int64),
        )
        return out + joined

    def _reported_id(self, track_id: int) -> int:
        return _alias(track_id) if track_id in self._aliased else track_id

    def _whole_box(self, user: _RoadUser, boxes: FloatArray, ids: list[int], rows: list[int]) -> FloatArray:
        """The road user's box: the union of the parts seen; a missed part from the last layout."""
        parts = {ids[r]: boxes[r] for r in rows}
        seen = np.stack(list(parts.values()))
        whole = np.concatenate([seen[:, :2].min(axis=0), seen[:, 2:].max(axis=0)])
        if user.vehicle_id in parts and parts.keys() & user.riders:
            for track_id, box in parts.items():  # both seen: remember how they fit together
                user.layouts[track_id] = _layout(box, whole)
            return whole
        for track_id, box in parts.items():
            layout = user.layouts.get(track_id)
            if layout is not None:
                return _from_layout(box, layout)
        return whole

    def _expire(self, timestamp: float) -> None:
        horizon = timestamp - self.forget_after_s
        self._candidates = {k: c for k, c in self._candidates.items() if c.last_seen >= horizon}
        self._by_part = {k: u for k, u in self._by_part.items() if u.last_seen >= horizon}
        self._seen = {k: seen for k, seen in self._seen.items() if seen[1] >= horizon}
        self._aliased &= self._seen.keys()
