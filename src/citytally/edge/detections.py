"""The one data type every edge stage takes and returns: a columnar set of boxes."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from citytally.edge.geometry import points_in_polygon
from citytally.events import ROAD_USER_CLASSES

__all__ = ["Detections", "NO_TRACK"]

#: ``track_id`` of a box that belongs to no confirmed track.
NO_TRACK = -1


def _empty_ids(n: int) -> npt.NDArray[np.int64]:
    return np.full(n, NO_TRACK, dtype=np.int64)


@dataclass(frozen=True)
class Detections:
    """Road users in one frame.

    ``xyxy`` are pixel boxes of the source frame (x1, y1, x2, y2), ``class_id`` indexes
    :data:`citytally.events.ROAD_USER_CLASSES`, ``track_id`` is :data:`NO_TRACK` until a tracker sets it.
    Track ids are random per camera session and are never written next to an image.
    """

    xyxy: npt.NDArray[np.float32]
    scores: npt.NDArray[np.float32]
    class_id: npt.NDArray[np.int64]
    track_id: npt.NDArray[np.int64] = field(default_factory=lambda: _empty_ids(0))
    # What was derived from these boxes: every analyser of a frame asks for the same ground points and zones.
    _derived: dict[Hashable, npt.NDArray[Any]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        n = self.xyxy.shape[0] if self.xyxy.ndim == 2 else -1
        if self.xyxy.ndim != 2 or self.xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must have shape (N, 4), got {self.xyxy.shape}")
        if self.track_id.shape == (0,) and n > 0:
            object.__setattr__(self, "track_id", _empty_ids(n))
        for name in ("scores", "class_id", "track_id"):
            shape = getattr(self, name).shape
            if shape != (n,):
                raise ValueError(f"{name} must have shape ({n},), got {shape}")
        if n and (self.class_id.min() < 0 or self.class_id.max() >= len(ROAD_USER_CLASSES)):
            raise ValueError(f"class_id out of range 0..{len(ROAD_USER_CLASSES) - 1}")

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            scores=np.zeros(0, np.float32),
            class_id=np.zeros(0, np.int64),
        )

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: npt.NDArray[np.bool_] | npt.NDArray[np.int64] | slice) -> Detections:
        return Detections(
            xyxy=self.xyxy[index],
            scores=self.scores[index],
            class_id=self.class_id[index],
            track_id=self.track_id[index],
        )

    def __add__(self, other: Detections) -> Detections:
        """Both sets of boxes in one (``a + b``: a's boxes first)."""
        return Detections(
            xyxy=np.concatenate([self.xyxy, other.xyxy]),
            scores=np.concatenate([self.scores, other.scores]),
            class_id=np.concatenate([self.class_id, other.class_id]),
            track_id=np.concatenate([self.track_id, other.track_id]),
        )

    def with_track_ids(self, track_id: npt.NDArray[np.int64]) -> Detections:
        return Detections(self.xyxy, self.scores, self.class_id, track_id.astype(np.int64))

    @property
    def bottom_centre(self) -> npt.NDArray[np.float32]:
        """Ground contact point of each box (centre of its bottom edge): where a road user stands.
        Worked out once (read-only)."""
        return self.derived("bottom_centre", self._bottom_centre)

    def _bottom_centre(self) -> npt.NDArray[np.float32]:
        x = (self.xyxy[:, 0] + self.xyxy[:, 2]) / 2
        return np.stack([x, self.xyxy[:, 3]], axis=1).astype(np.float32)

    def in_polygon(self, polygon: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        """Whether each box's :attr:`bottom_centre` lies in ``polygon`` (vertices, M×2): tested once per
        polygon, however many analysers of the frame watch that zone (read-only)."""
        key = ("in_polygon", polygon.shape, polygon.tobytes())
        return self.derived(key, lambda: points_in_polygon(polygon, self.bottom_centre))

    def derived(self, key: Hashable, make: Callable[[], npt.NDArray[Any]]) -> npt.NDArray[Any]:
        """What ``make()`` works out from these boxes, made once under ``key`` and kept read-only: every
        analyser of a frame that asks with the same key (the same zone, the same ground plane) shares it."""
        found = self._derived.get(key)
        if found is None:
            found = make()
            found.flags.writeable = False
            self._derived[key] = found
        return found

    @property
    def class_names(self) -> list[str]:
        return [ROAD_USER_CLASSES[i] for i in self.class_id]
