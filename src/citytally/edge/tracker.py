"""A motion-only multi-object tracker in the ByteTrack style, inside one camera session.

Each track is a constant-velocity Kalman filter on its box (centre, width, height and their rates, with
time in seconds so frame drops and variable frame rates are handled). Every frame, boxes are associated to
tracks by IoU with Hungarian assignment in two stages: sure (high-score) boxes first, then unsure (low-score)
boxes keep the remaining tracks alive through occlusion and blur. A track only takes boxes of its kind
(person, two-wheeler or motor vehicle), so its class can flicker only within the kind. A new track is
tentative until it has been matched ``confirm_hits`` frames in a row; a confirmed track that misses is
*lost* and can be recovered for ``lost_buffer_s`` seconds, then it is removed.

There are no appearance features: nothing about what a road user looks like is computed or kept. Track ids
are drawn at random (:mod:`secrets`) per session, so an id says nothing about order, time or another session.
"""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from citytally.arrays import Float64Array as FloatArray
from citytally.arrays import Int64Array as IntArray
from citytally.edge.config import TrackerSettings
from citytally.edge.detections import Detections
from citytally.errors import SourceError
from citytally.events import ROAD_USER_CLASSES

__all__ = ["DetectionQuality", "MotionTracker", "box_iou"]


# Noise model (after ByteTrack), relative to box size so it holds for near and far road users. Rates are
# per reference frame of 1/25 s and scaled by the real time step.
_REFERENCE_DT = 1 / 25
_POS_STD = 1 / 20
_VEL_STD = 1 / 160 / _REFERENCE_DT
_RECENT_IDS = 4096
_MEASURE = np.hstack([np.eye(4), np.zeros((4, 4))])


# Kinds of road user a track may flicker between: person; two-wheeler (bicycle, motorcycle); motor vehicle
# (car, bus, truck). A track only takes boxes of its own kind: a cyclist's bicycle box, just below its
# rider's, must not be taken by the rider's track (or the other way round), which would turn a cyclist into
# a pedestrian by the class vote and leave nothing for riders.py to join.
_KIND = np.array(
    [{"person": 0, "bicycle": 1, "motorcycle": 1}.get(name, 2) for name in ROAD_USER_CLASSES], np.int64
)


class _State(Enum):
    TENTATIVE = "tentative"
    CONFIRMED = "confirmed"
    LOST = "lost"


def _to_state(xyxy: FloatArray) -> FloatArray:
    """(x1, y1, x2, y2) → (cx, cy, w, h)."""
    return np.array(
        [(xyxy[0] + xyxy[2]) / 2, (xyxy[1] + xyxy[3]) / 2, xyxy[2] - xyxy[0], xyxy[3] - xyxy[1]], np.float64
    )


def _size_std(w: float, h: float) -> FloatArray:
    w, h = max(w, 1.0), max(h, 1.0)
    return np.array([w, h, w, h], np.float64)


@dataclass(eq=False)
class _Track:
    track_id: int
    mean: FloatArray
    covariance: FloatArray
    last_seen: float
    state: _State = _State.TENTATIVE
    hits: int = 1
    votes: FloatArray = field(default_factory=lambda: np.zeros(len(ROAD_USER_CLASSES)))

    @classmethod
    def start(cls, track_id: int, xyxy: FloatArray, class_id: int, score: float, at: float) -> _Track:
        measured = _to_state(xyxy)
        scale = _size_std(measured[2], measured[3])
        std = np.hstack([2 * _POS_STD * scale, 10 * _VEL_STD * scale])
        track = cls(track_id, np.hstack([measured, np.zeros(4)]), np.diag(std**2), at)
        track.vote(class_id, score)
        return track

    def vote(self, class_id: int, score: float) -> None:
        # Each frame votes with its score: a label the detector is sure of outweighs a run of unsure ones
        # (a bicycle seen clearly against frames of "motorcycle" at 0.3), and a steady label wins anyway.
        self.votes[class_id] += score

    @property
    def class_id(self) -> int:
        return int(np.argmax(self.votes))

    @property
    def kind(self) -> int:
        return int(_KIND[self.class_id])

    def predict(self, dt: float) -> None:
        if dt <= 0:
            return
        transition = np.eye(8)
        transition[:4, 4:] = dt * np.eye(4)
        scale = _size_std(self.mean[2], self.mean[3])
        steps = dt / _REFERENCE_DT
        noise = np.diag(np.hstack([(_POS_STD * scale) ** 2 * steps, (_VEL_STD * scale) ** 2 * steps]))
        self.mean = transition @ self.mean
        self.covariance = transition @ self.covariance @ transition.T + noise

    def correct(self, xyxy: FloatArray, class_id: int, score: float, at: float) -> None:
        measured = _to_state(xyxy)
        noise = np.diag((_POS_STD * _size_std(self.mean[2], self.mean[3])) ** 2)
        projected_cov = _MEASURE @ self.covariance @ _MEASURE.T + noise
        gain = np.linalg.solve(projected_cov, _MEASURE @ self.covariance).T
        self.mean = self.mean + gain @ (measured - _MEASURE @ self.mean)
        self.covariance = self.covariance - gain @ projected_cov @ gain.T
        self.last_seen = at
        self.vote(class_id, score)

    @property
    def xyxy(self) -> FloatArray:
        cx, cy = self.mean[0], self.mean[1]
        w, h = max(self.mean[2], 1.0), max(self.mean[3], 1.0)
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float64)


@dataclass
class DetectionQuality:
    """How sure the detections behind a session's tracks were: the evidence for an "unreliable" warning.

    ``detections``: boxes at or above the tracker's ``low_score`` (the ones it can use); ``on_tracks``: of
    them, those reported on a confirmed track, with ``score_sum`` their scores; ``tracks``: tracks that
    were ever confirmed.
    """

    detections: int = 0
    on_tracks: int = 0
    score_sum: float = 0.0
    tracks: int = 0

    #: Below this mean score of the boxes on confirmed tracks the detector is guessing. On footage it
    #: knows (vtest.avi, people at 416 pixels) the mean is 0.69, and 0.60 on the same footage darkened to
    #: 12 % with sensor noise, which still counts right; out of focus (a 6-pixel blur) it is 0.38 and
    #: almost nothing is counted.
    LOW_MEAN_SCORE = 0.45
    #: Fewer than this share of the usable boxes on confirmed tracks: what the detector finds does not hold
    #: together as road users (0.20 on vtest.avi, plain or darkened; 0.02 blurred; 0 upside down).
    LOW_TRACKED_SHARE = 0.08
    #: Too little to judge below this many usable boxes.
    MIN_EVIDENCE = 200

    @property
    def mean_score(self) -> float | None:
        return self.score_sum / self.on_tracks if self.on_tracks else None

    @property
    def tracked_share(self) -> float | None:
        return self.on_tracks / self.detections if self.detections else None

    def warning(self) -> str | None:
        """One line saying why the counts may be unreliable, or ``None`` when nothing suggests it."""
        mean, share = self.mean_score, self.tracked_share
        if share is None or self.detections < self.MIN_EVIDENCE:
            return None
        problems = []
        if mean is not None and mean < self.LOW_MEAN_SCORE:
            problems.append(f"mean detection score of confirmed tracks {mean:.2f} < {self.LOW_MEAN_SCORE}")
        if share < self.LOW_TRACKED_SHARE:
            problems.append(
                f"only {share:.0%} of {self.detections} usable detections on confirmed tracks "
                f"(< {self.LOW_TRACKED_SHARE:.0%})"
            )
        if not problems:
            return None
        return (
            "detections look unreliable for this camera (" + "; ".join(problems) + "): counts are likely "
            "low; check the camera's height and angle and the detector settings (docs/camera-config.md)"
        )

    def as_dict(self) -> dict[str, float | int | str | None]:
        """The ``summary.json`` form."""
        mean, share = self.mean_score, self.tracked_share
        return {
            "confirmed_tracks": self.tracks,
            "detections": self.detections,
            "detections_on_tracks": self.on_tracks,
            "mean_track_score": None if mean is None else round(mean, 3),
            "tracked_share": None if share is None else round(share, 3),
            "warning": self.warning(),
        }


def box_iou(a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """Pairwise IoU of two sets of (x1, y1, x2, y2) boxes: an (len(a), len(b)) matrix."""
    boxes_a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    boxes_b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    top_left = np.maximum(boxes_a[:, None, :2], boxes_b[None, :, :2])
    bottom_right = np.minimum(boxes_a[:, None, 2:], boxes_b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(np.clip(boxes_a[:, 2:] - boxes_a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(boxes_b[:, 2:] - boxes_b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    iou: FloatArray = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    return iou


def _assign(
    tracks: list[_Track], boxes: FloatArray, kinds: IntArray, min_iou: float
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Hungarian assignment on IoU between tracks and boxes of the same kind (:data:`_KIND`). Returns
    (track index, box index) pairs and the unmatched of each."""
    if not tracks or len(boxes) == 0:
        return [], list(range(len(tracks))), list(range(len(boxes)))
    iou = box_iou(np.stack([t.xyxy for t in tracks]), boxes)
    track_kinds = np.array([t.kind for t in tracks], np.int64)
    iou[track_kinds[:, None] != kinds[None, :]] = 0.0
    rows, cols = linear_sum_assignment(1.0 - iou)
    pairs = [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if iou[r, c] >= min_iou]
    matched_tracks = {r for r, _ in pairs}
    matched_boxes = {c for _, c in pairs}
    return (
        pairs,
        [i for i in range(len(tracks)) if i not in matched_tracks],
        [j for j in range(len(boxes)) if j not in matched_boxes],
    )


class MotionTracker:
    """ByteTrack-style tracker for one camera session. Not thread-safe; one instance per camera.

    ``update`` takes a frame's detections and its timestamp in seconds on the stream's clock (increasing)
    and returns the detections that belong to confirmed tracks, with ``track_id`` set and ``class_id``
    replaced by the track's majority class. Unconfirmed and unmatched boxes are not returned.
    """

    def __init__(self, settings: TrackerSettings | None = None) -> None:
        self.settings = settings or TrackerSettings()
        self._tracks: list[_Track] = []
        self._recent_ids: deque[int] = deque(maxlen=_RECENT_IDS)
        self._last_timestamp: float | None = None
        self.quality = DetectionQuality()

    def reset(self) -> None:
        """Start a new session: forget every track; later ids are fresh random numbers."""
        self._tracks = []
        self._recent_ids.clear()
        self._last_timestamp = None
        self.quality = DetectionQuality()

    @property
    def track_count(self) -> int:
        """Tracks currently held (tentative, confirmed and lost)."""
        return len(self._tracks)

    def update(self, detections: Detections, timestamp: float) -> Detections:
        dt = self._advance(timestamp)
        for track in self._tracks:
            track.predict(dt)
        keep = timestamp - self.settings.lost_buffer_s
        self._tracks = [t for t in self._tracks if t.state is not _State.LOST or t.last_seen >= keep]
        self.quality.detections += int(np.count_nonzero(detections.scores >= self.settings.low_score))
        matched, unclaimed = self._associate(detections, timestamp)
        for det in unclaimed:
            if detections.scores[det] >= self.settings.new_track_score:
                score, class_id = float(detections.scores[det]), int(detections.class_id[det])
                track = _Track.start(
                    self._new_id(), detections.xyxy[det].astype(np.float64), class_id, score, timestamp
                )
                self._tracks.append(track)
                matched[int(det)] = track
        return self._report(detections, matched)

    def _associate(self, detections: Detections, timestamp: float) -> tuple[dict[int, _Track], IntArray]:
        """Match boxes to tracks in ByteTrack's order: (detection index → track, unclaimed sure boxes)."""
        s = self.settings
        boxes = detections.xyxy.astype(np.float64)
        kinds = _KIND[detections.class_id]
        high = np.flatnonzero(detections.scores >= s.high_score)
        low = np.flatnonzero((detections.scores >= s.low_score) & (detections.scores < s.high_score))
        matched: dict[int, _Track] = {}

        def match(pool: list[_Track], candidates: IntArray, min_iou: float) -> tuple[list[_Track], IntArray]:
            pairs, lone_tracks, lone_boxes = _assign(pool, boxes[candidates], kinds[candidates], min_iou)
            for ti, bi in pairs:
                det = int(candidates[bi])
                score, class_id = float(detections.scores[det]), int(detections.class_id[det])
                pool[ti].correct(boxes[det], class_id, score, timestamp)
                matched[det] = pool[ti]
            return [pool[i] for i in lone_tracks], candidates[lone_boxes]

        established = [t for t in self._tracks if t.state is not _State.TENTATIVE]
        tentative = [t for t in self._tracks if t.state is _State.TENTATIVE]
        # Stage 1: sure boxes to confirmed and lost tracks. Stage 2: unsure boxes to tracks seen last frame.
        unmatched, high_left = match(established, high, s.match_iou)
        missed, _ = match([t for t in unmatched if t.state is _State.CONFIRMED], low, s.low_match_iou)
        for track in missed:
            track.state = _State.LOST
        # Tentative tracks get what sure boxes remain; a tentative track that misses once is dropped.
        dropped, high_left = match(tentative, high_left, s.match_iou)
        gone = {id(t) for t in dropped}
        for track in tentative:
            if id(track) not in gone:
                track.hits += 1
        self._tracks = [t for t in self._tracks if id(t) not in gone]
        return matched, high_left

    def _advance(self, timestamp: float) -> float:
        if not np.isfinite(timestamp):
            raise SourceError(f"frame timestamp {timestamp!r} is not a finite number of seconds")
        last = self._last_timestamp
        if last is not None and timestamp < last:
            raise SourceError(f"frame timestamp went backwards ({timestamp:.3f} s after {last:.3f} s)")
        self._last_timestamp = timestamp
        return 0.0 if last is None else timestamp - last

    def _report(self, detections: Detections, matched: dict[int, _Track]) -> Detections:
        for track in matched.values():
            confirmed_now = track.state is _State.TENTATIVE and track.hits >= self.settings.confirm_hits
            if track.state is _State.LOST or confirmed_now:
                track.state = _State.CONFIRMED
            self.quality.tracks += confirmed_now
        rows = sorted(det for det, track in matched.items() if track.state is _State.CONFIRMED)
        self.quality.on_tracks += len(rows)
        self.quality.score_sum += float(detections.scores[rows].sum()) if rows else 0.0
        index = np.array(rows, dtype=np.int64)
        out = detections[index]
        ids = np.array([matched[d].track_id for d in rows], dtype=np.int64)
        classes = np.array([matched[d].class_id for d in rows], dtype=np.int64)
        return Detections(out.xyxy, out.scores, classes, ids)

    def _new_id(self) -> int:
        taken = {t.track_id for t in self._tracks} | set(self._recent_ids)
        while True:
            # 31 bits: readable in a debug overlay; a repeat of a live or recent id is refused so
            # analytics that still remember a finished track never see its id come back.
            track_id = secrets.randbelow(2**31 - 1) + 1
            if track_id not in taken:
                self._recent_ids.append(track_id)
                return track_id
