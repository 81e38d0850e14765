"""Road-user detectors: ONNX Runtime on CPU, a batch of frames in, one :class:`Detections` per frame out.

Public API::

    detector = NanoDetDetector()                     # the shipped NanoDet-g 416 (COCO), fp32
    detector = NanoDetDetector(nanodet_model_path("int8"), threads=2)
    detections = detector([frame_a, frame_b, ...])   # BGR uint8 HxWx3 images, any sizes, any cameras
    detections[0].xyxy, .scores, .class_id           # source-frame pixels; classes of ROAD_USER_CLASSES

* :class:`Detector` is the protocol every backend follows (a GPU one can batch across cameras the same way).
* A :class:`WindowDetector` (NanoDet) can also look at only part of a frame, at the scale it would use for
  the whole frame: ``detector.detect_windows([frame], [(x1, y1, x2, y2)])``. Motion gating uses it to skip
  the parts of a frame where nothing moved; the cost of a window is about its share of the frame.
* COCO person, bicycle, car, motorcycle, bus and truck become the road-user classes; everything else is
  dropped. Each class has its own score threshold (``score_thresholds``; unnamed classes keep
  :data:`DEFAULT_SCORE_THRESHOLDS`). Overlapping boxes are suppressed across classes (IoU 0.5), so a van is
  one car *or* one truck, not both.
* ``threads`` sets ONNX Runtime's intra-op threads (default: every core this process may use). They sleep
  while they wait for the next batch (ONNX Runtime's ``session.intra_op.allow_spinning`` off) unless
  ``busy_wait=True``: spinning threads take the cores the decoder and tracker need between batches, so on
  the 2-core reference machine sleeping is both faster and about a third cheaper in CPU (docs/benchmarks.md).
* The ``int8`` variant is about 1.6x faster on CPU; its scores run about 0.01 above fp32's, which the model
  file records (:data:`SCORE_OFFSET_KEY`) and the detector adds to the thresholds.

Bring your own YOLO model (:class:`YoloOnnxDetector`): any ONNX detector in the common Ultralytics export
layout works, e.g. ``yolo export model=yolov8n.pt format=onnx imgsz=640`` (YOLOv5u/v8/v9/v10/11 without
NMS baked in). Expected: one input ``[B or 1, 3, H, W]`` taking RGB scaled to 0..1, letterboxed with grey
(114) padding; one output ``[B, 4 + 80, N]`` (or ``[B, N, 4 + 80]``) of centre x, centre y, width, height in
input pixels followed by the 80 COCO class scores. Then ``YoloOnnxDetector("yolov8n.onnx")``, or in a camera
config ``[detector] kind = "yolo"``, ``model = "yolov8n.onnx"`` (:func:`build_detector` builds what a camera
config asks for). No YOLO model is shipped: the licences of the common pretrained ones (AGPL) and their
download-at-run-time habit keep them out. A model file that is missing or has another layout raises
:class:`~citytally.errors.DetectorError`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import cv2
import numpy as np
import numpy.typing as npt

from citytally.arrays import Float32Array as FloatArray
from citytally.arrays import Image
from citytally.edge.detections import Detections
from citytally.errors import DetectorError
from citytally.events import ROAD_USER_CLASSES

__all__ = [
    "Detector",
    "WindowDetector",
    "Window",
    "NanoDetDetector",
    "YoloOnnxDetector",
    "DEFAULT_SCORE_THRESHOLDS",
    "COCO_ROAD_USERS",
    "nanodet_model_path",
    "SCORE_OFFSET_KEY",
    "overlapping",
    "INPUT_SIZE_RULE",
    "valid_input_size",
    "DETECTOR_KINDS",
    "build_detector",
]

#: A part of a frame, (x1, y1, x2, y2) in its pixels, x2 and y2 exclusive.
Window = tuple[int, int, int, int]

#: COCO class index of each road-user class, in the order of :data:`ROAD_USER_CLASSES`.
COCO_ROAD_USERS: Mapping[str, int] = {
    "person": 0,
    "bicycle": 1,
    "car": 2,
    "motorcycle": 3,
    "bus": 5,
    "truck": 7,
}

#: Per-class score thresholds. NanoDet scores people 0.6-0.85 and look-alikes (cones, rocks) 0.30-0.43.
DEFAULT_SCORE_THRESHOLDS: Mapping[str, float] = {
    "person": 0.45,
    "bicycle": 0.40,
    "car": 0.40,
    "motorcycle": 0.40,
    "bus": 0.45,
    "truck": 0.45,
}

#: ONNX metadata key: how much higher a reduced-precision model scores the same boxes than fp32 does;
#: added to every threshold so the variant keeps fp32's operating point.
SCORE_OFFSET_KEY = "citytally.score_offset"

_MODELS = Path(__file__).resolve().parent / "models"
_NANODET_FILES = {"fp32": "nanodet-g-416.onnx", "int8": "nanodet-g-416-int8.onnx"}
_COCO_COLUMNS = np.array([COCO_ROAD_USERS[name] for name in ROAD_USER_CLASSES])
_MAX_DETECTIONS = 300


@runtime_checkable
class Detector(Protocol):
    """Finds road users in a batch of BGR uint8 frames (any sizes); returns one Detections per frame."""

    def __call__(self, images: Sequence[Image]) -> list[Detections]: ...


@runtime_checkable
class WindowDetector(Detector, Protocol):
    """A detector that can also search only a window of each frame (``None``: the whole frame).

    A window is searched at the scale the whole frame would be, so a road user gets the same box either
    way (give or take the context the window cuts off); boxes come back in whole-frame pixels.
    """

    def detect_windows(
        self, images: Sequence[Image], windows: Sequence[Window | None]
    ) -> list[Detections]: ...


#: What a NanoDet input size (the letterboxed frame's longer side, in pixels) may be.
INPUT_SIZE_RULE = "a multiple of 32 in 64..1920"


def valid_input_size(size: int) -> bool:
    """Whether ``size`` follows :data:`INPUT_SIZE_RULE` (the network's coarsest stride is 32)."""
    return 64 <= size <= 1920 and size % 32 == 0


def nanodet_model_path(variant: Literal["fp32", "int8"] = "fp32") -> Path:
    """Path of a shipped NanoDet-g 416 model: ``fp32`` (reference) or ``int8`` (static QDQ, faster)."""
    if variant not in _NANODET_FILES:
        raise DetectorError(f"unknown NanoDet variant {variant!r}; choose one of {sorted(_NANODET_FILES)}")
    return _MODELS / _NANODET_FILES[variant]


@dataclass(frozen=True)
class _Letterbox:
    """How a frame was placed in the network input: ``input = frame * scale + (pad_x, pad_y)``."""

    scale: float
    pad_x: float
    pad_y: float
    width: int
    height: int

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def to_frame(self, xyxy: FloatArray) -> FloatArray:
        boxes = (xyxy - np.array([self.pad_x, self.pad_y] * 2, np.float32)) / self.scale
        np.clip(boxes[:, 0::2], 0, self.width, out=boxes[:, 0::2])
        np.clip(boxes[:, 1::2], 0, self.height, out=boxes[:, 1::2])
        return boxes.astype(np.float32)


_Job = tuple[Image, "Window | None"]


def _check_window(index: int, image: Image, window: Any) -> Window | None:
    """``None`` for the whole frame; otherwise a non-empty window inside the frame, as ints."""
    if window is None:
        return None
    height, width = image.shape[:2]
    try:
        x1, y1, x2, y2 = (int(v) for v in window)
    except (TypeError, ValueError):
        raise DetectorError(f"image {index}: a window is (x1, y1, x2, y2), got {window!r}") from None
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        raise DetectorError(
            f"image {index}: window {window!r} is empty or outside the {width}x{height} frame"
        )
    if (x1, y1, x2, y2) == (0, 0, width, height):
        return None
    return x1, y1, x2, y2


def _check_image(index: int, image: Any) -> Image:
    if not (
        isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    ):
        got = f"{type(image).__name__} {getattr(image, 'dtype', '')} {getattr(image, 'shape', '')}".strip()
        raise DetectorError(f"image {index}: expected a BGR uint8 array of shape (H, W, 3), got {got}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise DetectorError(f"image {index}: too small ({image.shape[1]}x{image.shape[0]})")
    return image


def _placement(width: int, height: int, input_w: int, input_h: int) -> tuple[_Letterbox, int, int]:
    """Where a ``width`` x ``height`` frame sits, scaled to fit ``input_w`` x ``input_h`` keeping its aspect
    and centred, and its scaled size (the one rule for both whole frames and windows)."""
    scale = min(input_w / width, input_h / height)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    pad_x, pad_y = (input_w - new_w) // 2, (input_h - new_h) // 2
    return _Letterbox(scale, float(pad_x), float(pad_y), width, height), new_w, new_h


def _fit(image: Image, input_w: int, input_h: int) -> tuple[Image, _Letterbox]:
    """``image`` scaled to fit ``input_w`` x ``input_h`` keeping its aspect, and where it sits centred."""
    letterbox, new_w, new_h = _placement(image.shape[1], image.shape[0], input_w, input_h)
    resized = np.asarray(cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR), np.uint8)
    return resized, letterbox


def _letterbox(image: Image, input_w: int, input_h: int, pad_value: int) -> tuple[Image, _Letterbox]:
    """Scale ``image`` to fit ``input_w`` x ``input_h`` keeping its aspect, centred on ``pad_value``."""
    resized, letterbox = _fit(image, input_w, input_h)
    top, left = int(letterbox.pad_y), int(letterbox.pad_x)
    canvas = np.full((input_h, input_w, 3), pad_value, np.uint8)
    canvas[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
    return canvas, letterbox


def overlapping(xyxy: FloatArray, window: Window) -> npt.NDArray[np.bool_]:
    """Which boxes overlap ``window`` (by more than an edge): what searching that window can find."""
    x1, y1, x2, y2 = window
    return np.asarray((xyxy[:, 2] > x1) & (xyxy[:, 0] < x2) & (xyxy[:, 3] > y1) & (xyxy[:, 1] < y2))


def _nms(boxes: FloatArray, scores: FloatArray, iou_threshold: float) -> npt.NDArray[np.int64]:
    """Indices of the boxes kept by greedy non-maximum suppression, best score first."""
    order = np.argsort(-scores, kind="stable")
    areas = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    keep: list[int] = []
    while order.size and len(keep) < _MAX_DETECTIONS:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        x1 = np.maximum(boxes[best, 0], boxes[rest, 0])
        y1 = np.maximum(boxes[best, 1], boxes[rest, 1])
        x2 = np.minimum(boxes[best, 2], boxes[rest, 2])
        y2 = np.minimum(boxes[best, 3], boxes[rest, 3])
        inter = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.array(keep, np.int64)


class _OnnxDetector:
    """Shared machinery: session, thresholds, candidate selection, NMS, letterbox undo."""

    def __init__(
        self,
        model_path: str | Path,
        score_thresholds: Mapping[str, float] | None,
        threads: int | None,
        nms_iou: float,
        classes: Sequence[str] | None = None,
        busy_wait: bool = False,
    ) -> None:
        unknown = (set(score_thresholds or {}) | set(classes or ())) - set(ROAD_USER_CLASSES)
        if unknown:
            raise DetectorError(
                f"score_thresholds/classes: unknown classes {sorted(unknown)}; use {ROAD_USER_CLASSES}"
            )
        merged = {**DEFAULT_SCORE_THRESHOLDS, **(score_thresholds or {})}
        bad = {k: v for k, v in merged.items() if not 0.0 < v < 1.0}
        if bad:
            raise DetectorError(f"score_thresholds must be in (0, 1), got {bad}")
        if not 0.0 < nms_iou <= 1.0:
            raise DetectorError(f"nms_iou must be in (0, 1], got {nms_iou}")
        self._thresholds = np.array([merged[name] for name in ROAD_USER_CLASSES], np.float32)
        self._nms_iou = nms_iou
        self.model_path = Path(model_path)
        self._session = _session(self.model_path, threads, busy_wait)
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[1] != 3:
            shapes = [i.shape for i in inputs]
            raise DetectorError(f"{self.model_path}: expected one image input [B, 3, H, W], got {shapes}")
        self._input_name: str = inputs[0].name
        self._fixed_batch = inputs[0].shape[0] == 1
        self._thresholds = np.clip(self._thresholds + self._score_offset(), 0.01, 0.99).astype(np.float32)
        if classes is not None:
            # A class the camera does not want never passes, so it cannot suppress a wanted box in NMS.
            unwanted = [name not in classes for name in ROAD_USER_CLASSES]
            self._thresholds[np.array(unwanted, bool)] = np.inf

    def _score_offset(self) -> float:
        """Shift a reduced-precision model records for its scores (thresholds are on the fp32 scale)."""
        raw = self._session.get_modelmeta().custom_metadata_map.get(SCORE_OFFSET_KEY, "0")
        try:
            offset = float(raw)
        except ValueError:
            offset = float("nan")
        if not -0.2 <= offset <= 0.2:
            raise DetectorError(f"{self.model_path}: metadata {SCORE_OFFSET_KEY}={raw!r} is not in -0.2..0.2")
        return offset

    def __call__(self, images: Sequence[Image]) -> list[Detections]:
        """Detect road users in each image; a batch may mix cameras and frame sizes.

        Frames that need the same network input size run together, so a frame's result does not depend
        on what else is in the batch.
        """
        return self._detect(images, [None] * len(images))

    def _detect(self, images: Sequence[Image], windows: Sequence[Window | None]) -> list[Detections]:
        if len(windows) != len(images):
            raise DetectorError(f"{len(images)} images but {len(windows)} windows")
        jobs = [
            (_check_image(i, image), _check_window(i, image, window))
            for i, (image, window) in enumerate(zip(images, windows, strict=True))
        ]
        groups: dict[tuple[int, int], list[int]] = {}
        for i, (image, window) in enumerate(jobs):
            groups.setdefault(self._input_shape(image, window), []).append(i)
        results: list[Detections] = [Detections.empty()] * len(jobs)
        for (input_w, input_h), members in groups.items():
            step = 1 if self._fixed_batch else len(members)
            for start in range(0, len(members), step):
                chunk = members[start : start + step]
                found = self._run([jobs[i] for i in chunk], input_w, input_h)
                for i, detections in zip(chunk, found, strict=True):
                    results[i] = detections
        return results

    def _run(self, jobs: list[_Job], input_w: int, input_h: int) -> list[Detections]:
        tensor, boxes = self._prepare(jobs, input_w, input_h)
        outputs = self._session.run(None, {self._input_name: tensor})
        return [
            self._select(*self._candidates(outputs, i, (input_h, input_w)), letterbox)
            for i, letterbox in enumerate(boxes)
        ]

    def _select(self, xyxy: FloatArray, scores: FloatArray, letterbox: _Letterbox) -> Detections:
        """Per-class thresholds, then class-agnostic NMS, then back to frame pixels."""
        # One candidate per box: its best class that passes. The other classes of the same box would only
        # be suppressed by it (IoU 1), so dropping them first gives the same result with fewer boxes.
        passing = np.where(scores >= self._thresholds, scores, -1.0)
        cls = passing.argmax(axis=1)
        cell = np.nonzero(passing[np.arange(len(cls)), cls] >= 0)[0]
        if cell.size == 0:
            return Detections.empty()
        cls = cls[cell]
        boxes, best = xyxy[cell], scores[cell, cls]
        keep = _nms(boxes, best, self._nms_iou)
        return Detections(
            xyxy=letterbox.to_frame(boxes[keep]),
            scores=best[keep].astype(np.float32),
            class_id=cls[keep].astype(np.int64),
        )

    def _input_shape(self, image: Image, window: Window | None) -> tuple[int, int]:
        """Network input (width, height) for this frame, or for this window of it."""
        raise NotImplementedError

    def _prepare(self, jobs: list[_Job], input_w: int, input_h: int) -> tuple[FloatArray, list[_Letterbox]]:
        """The input tensor [B, 3, input_h, input_w] and where each frame (or window) sits in it."""
        raise NotImplementedError

    def _candidates(
        self, outputs: list[Any], index: int, input_hw: tuple[int, ...]
    ) -> tuple[FloatArray, FloatArray]:
        """Boxes (x1, y1, x2, y2 in input pixels) and road-user scores [N, 6] of image ``index``."""
        raise NotImplementedError


def _session(model_path: Path, threads: int | None, busy_wait: bool = False) -> Any:
    import onnxruntime as ort  # heavy; only when a detector is built

    if not model_path.is_file():
        raise DetectorError(f"{model_path}: no such model file")
    if threads is not None and not 1 <= threads <= 256:
        raise DetectorError(f"threads must be in 1..256, got {threads}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if busy_wait else "0")
    try:
        return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors for unreadable models
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DetectorError(f"{model_path}: not a loadable ONNX model ({first_line})") from None


class NanoDetDetector(_OnnxDetector):
    """NanoDet-g (GFL head, strides 8/16/32, 11-bin distributions) from the shipped ONNX conversion.

    Frames are letterboxed so their longer side is ``input_size`` and each side is padded to a multiple of
    32 (416x320 for 4:3 video, instead of a square that would waste a quarter of the work on padding).
    ``input_size`` defaults to the model's own: its fixed input side, or :attr:`DEFAULT_INPUT_SIZE`.
    """

    #: The longer side the shipped NanoDet-g models were trained at.
    DEFAULT_INPUT_SIZE = 416

    _MEAN = np.array([103.53, 116.28, 123.675], np.float32)
    _STD = np.array([57.375, 57.12, 58.395], np.float32)
    _STRIDES = (8, 16, 32)
    _BINS = 11

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        score_thresholds: Mapping[str, float] | None = None,
        threads: int | None = None,
        nms_iou: float = 0.5,
        input_size: int | None = None,
        classes: Sequence[str] | None = None,
        busy_wait: bool = False,
    ) -> None:
        super().__init__(
            model_path or nanodet_model_path(), score_thresholds, threads, nms_iou, classes, busy_wait
        )
        outputs = self._session.get_outputs()
        widths = sorted(o.shape[-1] for o in outputs)
        if len(outputs) != 6 or widths != [4 * self._BINS] * 3 + [80] * 3:
            raise DetectorError(
                f"{self.model_path}: not a NanoDet-g layout (6 outputs: 3 x [B, N, 80] scores and "
                f"3 x [B, N, 44] box distributions), got {[o.shape for o in outputs]}"
            )
        if input_size is not None and not valid_input_size(input_size):
            raise DetectorError(f"input_size must be {INPUT_SIZE_RULE}, got {input_size}")
        fixed = self._session.get_inputs()[0].shape[2]
        self._square = isinstance(fixed, int)
        if self._square and input_size not in (None, fixed):
            raise DetectorError(
                f"{self.model_path}: the model's input is fixed at {fixed}x{fixed}; input_size {input_size} "
                "needs a model with an open frame size"
            )
        self.input_size: int = int(fixed) if self._square else input_size or self.DEFAULT_INPUT_SIZE
        self._fitted: dict[int, tuple[Image, Image, _Letterbox]] = {}

    def __call__(self, images: Sequence[Image]) -> list[Detections]:
        return self.detect_windows(images, [None] * len(images))

    def detect_windows(self, images: Sequence[Image], windows: Sequence[Window | None]) -> list[Detections]:
        """Detect in a window of each frame (``None``: all of it), at the whole frame's scale.

        Only boxes that overlap the window are returned.
        """
        # A fixed-size model cannot take a smaller input and searches whole frames; a window is widened to
        # the network's grid. Either way only boxes that overlap the window itself are returned, so what
        # lies outside it is left to the caller.
        try:
            found = self._detect(images, windows if not self._square else [None] * len(images))
        finally:
            self._fitted.clear()
        return [
            detections if window is None else detections[overlapping(detections.xyxy, window)]
            for detections, window in zip(found, windows, strict=True)
        ]

    def _whole_input(self, image: Image) -> tuple[int, int]:
        """Network input (width, height) for the whole frame."""
        if self._square:
            return self.input_size, self.input_size
        height, width = image.shape[:2]
        scale = self.input_size / max(height, width)
        return (-(-max(1, round(width * scale)) // 32) * 32, -(-max(1, round(height * scale)) // 32) * 32)

    def _input_window(self, image: Image, window: Window) -> Window:
        """``window`` in whole-frame input pixels, widened to the network's coarsest stride (32).

        A window is then a slice of exactly the input the whole frame would get, on the same grid of
        anchor cells, so whatever it holds is found as it would be in the whole frame (only the context
        beyond the window is missing)."""
        input_w, input_h = self._whole_input(image)
        placed, _, _ = _placement(image.shape[1], image.shape[0], input_w, input_h)
        scale, pad_x, pad_y = placed.scale, placed.pad_x, placed.pad_y
        x1, y1, x2, y2 = window
        return (
            max(0, int((x1 * scale + pad_x) // 32) * 32),
            max(0, int((y1 * scale + pad_y) // 32) * 32),
            min(input_w, -(-int(np.ceil(x2 * scale + pad_x)) // 32) * 32),
            min(input_h, -(-int(np.ceil(y2 * scale + pad_y)) // 32) * 32),
        )

    def _input_shape(self, image: Image, window: Window | None) -> tuple[int, int]:
        if window is None or self._square:
            return self._whole_input(image)
        x1, y1, x2, y2 = self._input_window(image, window)
        return x2 - x1, y2 - y1

    def _prepare(self, jobs: list[_Job], input_w: int, input_h: int) -> tuple[FloatArray, list[_Letterbox]]:
        # Same values as letterboxing onto black and then normalising ``(pixel - mean) / std`` in HWC, but
        # written plane by plane straight into the NCHW tensor: about 0.6 ms a frame instead of 4 (the
        # float HWC copy and its transpose were a tenth of the fp32 model's own time).
        batch = np.empty((len(jobs), 3, input_h, input_w), np.float32)
        batch[:] = (-self._MEAN / self._STD)[:, None, None]
        boxes = []
        for i, (image, window) in enumerate(jobs):
            whole_w, whole_h = self._whole_input(image)
            # Several windows of one frame share its resized copy (for the length of one call).
            fitted = self._fitted.get(id(image))
            if fitted is None or fitted[0] is not image:
                fitted = self._fitted[id(image)] = (image, *_fit(image, whole_w, whole_h))
            _, resized, letterbox = fitted
            left, top = int(letterbox.pad_x), int(letterbox.pad_y)
            if window is not None:
                # The whole frame's input, cut to the window: shift it so the window's corner is (0, 0).
                x1, y1, _, _ = self._input_window(image, window)
                left, top = left - x1, top - y1
                letterbox = _Letterbox(letterbox.scale, float(left), float(top), *letterbox.size)
            # The resized frame's part that falls inside this input, and where it goes.
            src_x, src_y = max(0, -left), max(0, -top)
            w = min(resized.shape[1] - src_x, input_w - max(0, left))
            h = min(resized.shape[0] - src_y, input_h - max(0, top))
            part = resized[src_y : src_y + h, src_x : src_x + w]
            dst_x, dst_y = max(0, left), max(0, top)
            for channel, plane in enumerate(cv2.split(part)):
                target = batch[i, channel, dst_y : dst_y + h, dst_x : dst_x + w]
                np.multiply(plane, 1.0 / self._STD[channel], out=target, casting="unsafe")
                target -= self._MEAN[channel] / self._STD[channel]
            boxes.append(letterbox)
        return batch, boxes

    def _candidates(
        self, outputs: list[Any], index: int, input_hw: tuple[int, ...]
    ) -> tuple[FloatArray, FloatArray]:
        width = int(input_hw[1])
        scores = [o[index] for o in outputs if o.shape[-1] == 80]
        dists = [o[index] for o in outputs if o.shape[-1] == 4 * self._BINS]
        # Outputs come per stride, finest first; order each list by its number of cells.
        scores.sort(key=len, reverse=True)
        dists.sort(key=len, reverse=True)
        all_boxes, all_scores = [], []
        for stride, level_scores, level_dists in zip(self._STRIDES, scores, dists, strict=True):
            cols = -(-width // stride)
            road = level_scores[:, _COCO_COLUMNS]
            cells = np.nonzero(road.max(axis=1) >= self._thresholds.min())[0]
            logits = level_dists[cells].reshape(-1, 4, self._BINS)
            logits = np.exp(logits - logits.max(axis=2, keepdims=True))
            distance = (logits / logits.sum(axis=2, keepdims=True)) @ np.arange(self._BINS, dtype=np.float32)
            distance *= stride
            cx = (cells % cols + 0.5) * stride
            cy = (cells // cols + 0.5) * stride
            all_boxes.append(
                np.stack(
                    [cx - distance[:, 0], cy - distance[:, 1], cx + distance[:, 2], cy + distance[:, 3]], 1
                )
            )
            all_scores.append(road[cells])
        return np.concatenate(all_boxes).astype(np.float32), np.concatenate(all_scores).astype(np.float32)


class YoloOnnxDetector(_OnnxDetector):
    """A user's YOLO detector in the Ultralytics export layout (see the module docstring)."""

    _PAD = 114

    def __init__(
        self,
        model_path: str | Path,
        *,
        score_thresholds: Mapping[str, float] | None = None,
        threads: int | None = None,
        nms_iou: float = 0.5,
        input_size: int = 640,
        classes: Sequence[str] | None = None,
        busy_wait: bool = False,
    ) -> None:
        if not valid_input_size(input_size):
            raise DetectorError(f"input_size must be {INPUT_SIZE_RULE}, got {input_size}")
        super().__init__(model_path, score_thresholds, threads, nms_iou, classes, busy_wait)
        outputs = self._session.get_outputs()
        shape = outputs[0].shape if len(outputs) == 1 else None
        if shape is None or len(shape) != 3 or 84 not in shape[1:]:
            raise DetectorError(
                f"{self.model_path}: not a YOLO export layout (one output [B, 84, N] of box + 80 COCO "
                f"class scores), got {[o.shape for o in outputs]}"
            )
        self._channels_first = shape[1] == 84
        dims = self._session.get_inputs()[0].shape[2:]
        self.input_hw = tuple(int(d) if isinstance(d, int) else input_size for d in dims)

    def _input_shape(self, image: Image, window: Window | None) -> tuple[int, int]:
        return self.input_hw[1], self.input_hw[0]

    def _prepare(self, jobs: list[_Job], input_w: int, input_h: int) -> tuple[FloatArray, list[_Letterbox]]:
        batch = np.empty((len(jobs), 3, input_h, input_w), np.float32)
        boxes = []
        for i, (image, _window) in enumerate(jobs):  # always whole frames (no detect_windows)
            canvas, letterbox = _letterbox(image, input_w, input_h, self._PAD)
            batch[i] = canvas[:, :, ::-1].transpose(2, 0, 1) * np.float32(1 / 255)
            boxes.append(letterbox)
        return batch, boxes

    def _candidates(
        self, outputs: list[Any], index: int, input_hw: tuple[int, ...]
    ) -> tuple[FloatArray, FloatArray]:
        rows = outputs[0][index]
        rows = rows.T if self._channels_first else rows
        cx, cy, w, h = rows[:, 0], rows[:, 1], rows[:, 2] / 2, rows[:, 3] / 2
        boxes = np.stack([cx - w, cy - h, cx + w, cy + h], axis=1)
        return boxes.astype(np.float32), rows[:, 4 + _COCO_COLUMNS].astype(np.float32)


#: The detector families a camera config can choose (``[detector] kind``).
DETECTOR_KINDS = ("nanodet", "yolo")


def build_detector(
    kind: str = "nanodet",
    model: str | Path | None = None,
    *,
    variant: Literal["fp32", "int8"] = "fp32",
    score_threshold: float = 0.1,
    nms_iou: float = 0.5,
    classes: Sequence[str] | None = None,
    threads: int | None = None,
    input_size: int | None = None,
    busy_wait: bool = False,
) -> Detector:
    """The detector a camera asks for: ``nanodet`` (the shipped model of ``variant``, or ``model``) or
    ``yolo`` (``model`` in the Ultralytics export layout; ``input_size`` defaults to 640 where the model
    leaves its frame size open). One score threshold for every class: the tracker decides what becomes a
    track. ``classes`` keeps only those road-user classes (None: all six).
    """
    thresholds = dict.fromkeys(ROAD_USER_CLASSES, max(score_threshold, 0.01))
    if kind == "nanodet":
        return NanoDetDetector(
            model or nanodet_model_path(variant),
            score_thresholds=thresholds,
            threads=threads,
            nms_iou=nms_iou,
            input_size=input_size,
            classes=classes,
            busy_wait=busy_wait,
        )
    if kind == "yolo":
        if model is None:
            raise DetectorError("a yolo detector needs a model file (no YOLO model is shipped)")
        if variant != "fp32":
            raise DetectorError(
                f"the {variant} variant is of the shipped NanoDet; a yolo model runs as its file is "
                "(quantise it yourself and point model at it)"
            )
        return YoloOnnxDetector(
            model,
            score_thresholds=thresholds,
            threads=threads,
            nms_iou=nms_iou,
            input_size=input_size or 640,
            classes=classes,
            busy_wait=busy_wait,
        )
    raise DetectorError(f"unknown detector kind {kind!r}; choose one of {list(DETECTOR_KINDS)}")
