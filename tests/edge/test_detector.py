"""Detectors: the shipped NanoDet on real vtest.avi frames, and the YOLO-layout path on a model built here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from citytally.edge.config import CameraConfigError, parse_camera_config
from citytally.edge.detections import Detections
from citytally.edge.detector import (
    DEFAULT_SCORE_THRESHOLDS,
    SCORE_OFFSET_KEY,
    Detector,
    NanoDetDetector,
    WindowDetector,
    YoloOnnxDetector,
    build_detector,
    nanodet_model_path,
    overlapping,
)
from citytally.edge.source import open_source
from citytally.errors import DetectorError
from citytally.events import ROAD_USER_CLASSES

Image = npt.NDArray[np.uint8]
PERSON, CAR, BUS, TRUCK = (ROAD_USER_CLASSES.index(c) for c in ("person", "car", "bus", "truck"))

# --- a tiny YOLO-layout model with known outputs -----------------------------------------------------------

# (cx, cy, w, h, coco class, score) in 640x640 input pixels, one anchor each.
ANCHORS = [
    (320.0, 320.0, 100.0, 50.0, 2, 0.90),  # car
    (322.0, 321.0, 100.0, 50.0, 7, 0.80),  # truck on the same van: suppressed across classes
    (100.0, 300.0, 40.0, 80.0, 0, 0.30),  # person below the 0.45 threshold
    (500.0, 200.0, 60.0, 60.0, 16, 0.95),  # dog: not a road user
    (480.0, 330.0, 120.0, 80.0, 5, 0.60),  # bus
    (620.0, 330.0, 80.0, 40.0, 3, 0.70),  # motorcycle running off the right edge of a 16:9 frame
    (0.0, 0.0, 0.0, 0.0, 0, 0.0),  # person whose score is the mean red level of the input (RGB, /255)
]
RED_ANCHOR = len(ANCHORS) - 1


def _yolo_model(
    path: Path,
    *,
    transposed: bool = False,
    batch: int | str = "batch",
    metadata: dict[str, str] | None = None,
) -> Path:
    """A real ONNX graph in the Ultralytics layout: constant boxes plus one input-dependent score."""
    n = len(ANCHORS)
    table = np.zeros((1, 84, n), np.float32)
    for j, (cx, cy, w, h, cls, score) in enumerate(ANCHORS):
        table[0, :4, j] = (cx, cy, w, h)
        table[0, 4 + cls, j] = score
    mask = np.zeros((1, 84, n), np.float32)
    mask[0, 4, RED_ANCHOR] = 1.0
    constants = [
        numpy_helper.from_array(table, "table"),
        numpy_helper.from_array(mask, "mask"),
        numpy_helper.from_array(np.array([0], np.int64), "c0"),
        numpy_helper.from_array(np.array([1], np.int64), "c1"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "shape_b11"),
    ]
    nodes = [
        helper.make_node("Slice", ["images", "c0", "c1", "axis1"], ["red"]),  # channel 0 must be R
        helper.make_node("ReduceMean", ["red"], ["red_mean"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Reshape", ["red_mean", "shape_b11"], ["red_b11"]),
        helper.make_node("Mul", ["mask", "red_b11"], ["red_score"]),
        helper.make_node("Add", ["table", "red_score"], ["out_cf"]),
    ]
    if transposed:
        nodes.append(helper.make_node("Transpose", ["out_cf"], ["output0"], perm=[0, 2, 1]))
        out_shape: list[int | str] = [batch, n, 84]
    else:
        nodes.append(helper.make_node("Identity", ["out_cf"], ["output0"]))
        out_shape = [batch, 84, n]
    graph = helper.make_graph(
        nodes,
        "tiny_yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, 640, 640])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, out_shape)],
        initializer=constants,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    if metadata:
        helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _fixed_size_nanodet(path: Path, side: int = 320) -> Path:
    """The shipped int8 NanoDet with its frame size fixed at ``side`` x ``side``."""
    model = onnx.load(str(nanodet_model_path("int8")))
    for dim in model.graph.input[0].type.tensor_type.shape.dim[2:]:
        dim.dim_value = side
    onnx.save(model, str(path))
    return path


@pytest.fixture
def yolo_path(tmp_path: Path) -> Path:
    return _yolo_model(tmp_path / "tiny-yolo.onnx")


def _box_in_frame(cx: float, cy: float, w: float, h: float, frame_w: int, frame_h: int) -> list[float]:
    """Where an input-pixel box lands in the source frame, worked out independently of the detector."""
    scale = min(640 / frame_w, 640 / frame_h)
    pad_x, pad_y = (640 - round(frame_w * scale)) // 2, (640 - round(frame_h * scale)) // 2
    x1, y1 = (cx - w / 2 - pad_x) / scale, (cy - h / 2 - pad_y) / scale
    x2, y2 = (cx + w / 2 - pad_x) / scale, (cy + h / 2 - pad_y) / scale
    return [max(x1, 0), max(y1, 0), min(x2, frame_w), min(y2, frame_h)]


def test_yolo_layout_decodes_known_boxes(yolo_path: Path) -> None:
    frame = np.zeros((720, 1280, 3), np.uint8)  # 16:9, letterboxed with 140 rows of padding above and below
    (found,) = YoloOnnxDetector(yolo_path, threads=1)([frame])
    order = np.argsort(-found.scores)
    assert [ROAD_USER_CLASSES[c] for c in found.class_id[order]] == ["car", "motorcycle", "bus"]
    expected = [_box_in_frame(*ANCHORS[j][:4], 1280, 720) for j in (0, 5, 4)]
    np.testing.assert_allclose(found.xyxy[order], expected, atol=1e-3)
    assert expected[1][2] == 1280  # the motorcycle box was clipped at the frame edge
    np.testing.assert_allclose(found.scores[order], [0.9, 0.7, 0.6], atol=1e-6)


@pytest.mark.parametrize(
    ("bgr", "expected_score"),
    [((0, 0, 255), 1.0), ((0, 0, 128), 128 / 255), ((255, 0, 0), None), ((0, 0, 100), None)],
)
def test_yolo_input_is_rgb_scaled_to_one(
    yolo_path: Path, bgr: tuple[int, int, int], expected_score: float | None
) -> None:
    frame = np.full((640, 640, 3), bgr, np.uint8)
    (found,) = YoloOnnxDetector(yolo_path, threads=1)([frame])
    person = found[found.class_id == PERSON]
    if expected_score is None:
        assert len(person) == 0
    else:
        assert len(person) == 1
        assert person.scores[0] == pytest.approx(expected_score, abs=1e-5)


@pytest.mark.parametrize(("transposed", "batch"), [(False, "batch"), (True, "batch"), (False, 1), (True, 1)])
def test_yolo_layouts_and_fixed_batch_agree(tmp_path: Path, transposed: bool, batch: int | str) -> None:
    detector = YoloOnnxDetector(
        _yolo_model(tmp_path / "m.onnx", transposed=transposed, batch=batch), threads=1
    )
    frames = [np.zeros((720, 1280, 3), np.uint8), np.full((640, 640, 3), (0, 0, 255), np.uint8)]
    first, second = detector(frames)
    assert sorted(first.class_names) == ["bus", "car", "motorcycle"]
    assert sorted(second.class_names) == ["bus", "car", "motorcycle", "person"]


def test_thresholds_apply_before_suppression(yolo_path: Path) -> None:
    detector = YoloOnnxDetector(yolo_path, threads=1, score_thresholds={"car": 0.95})
    (found,) = detector([np.zeros((640, 640, 3), np.uint8)])
    assert sorted(found.class_names) == ["bus", "motorcycle", "truck"]  # the truck is no longer suppressed


@pytest.mark.parametrize(("offset", "kept"), [("0", True), ("0.11", False), ("-0.2", True)])
def test_score_offset_metadata_moves_thresholds(tmp_path: Path, offset: str, kept: bool) -> None:
    # The bus anchor scores 0.60 against a 0.45 bus threshold: kept unless the model says its scores run high.
    path = _yolo_model(tmp_path / "m.onnx", metadata={SCORE_OFFSET_KEY: offset})
    detector = YoloOnnxDetector(path, threads=1, score_thresholds={"bus": 0.5})
    (found,) = detector([np.zeros((640, 640, 3), np.uint8)])
    assert ("bus" in found.class_names) is kept


def test_shipped_int8_records_its_score_offset() -> None:
    int8 = NanoDetDetector(nanodet_model_path("int8"), threads=1)
    fp32 = NanoDetDetector(nanodet_model_path("fp32"), threads=1)
    np.testing.assert_allclose(int8._thresholds - fp32._thresholds, 0.01, atol=1e-6)


# --- errors ---------------------------------------------------------------------------------------------


def _garbage(path: Path) -> Path:
    path.write_bytes(b"\x00not an onnx model" * 64)
    return path


@pytest.mark.parametrize(
    ("make", "cls", "kwargs", "error"),
    [
        (lambda p: p / "absent.onnx", NanoDetDetector, {}, r"absent\.onnx: no such model file$"),
        (
            lambda p: _garbage(p / "junk.onnx"),
            NanoDetDetector,
            {},
            r"junk\.onnx: not a loadable ONNX model \(",
        ),
        (lambda p: _yolo_model(p / "y.onnx"), NanoDetDetector, {}, r"y\.onnx: not a NanoDet-g layout"),
        (
            lambda p: nanodet_model_path(),
            YoloOnnxDetector,
            {},
            r"nanodet-g-416\.onnx: not a YOLO export layout",
        ),
        (
            lambda p: _yolo_model(p / "y.onnx"),
            YoloOnnxDetector,
            {"score_thresholds": {"dog": 0.5}},
            "unknown",
        ),
        (
            lambda p: _yolo_model(p / "y.onnx"),
            YoloOnnxDetector,
            {"score_thresholds": {"car": 1.5}},
            r"\(0, 1\)",
        ),
        (lambda p: _yolo_model(p / "y.onnx"), YoloOnnxDetector, {"nms_iou": 0.0}, "nms_iou"),
        (lambda p: _yolo_model(p / "y.onnx"), YoloOnnxDetector, {"threads": 0}, "threads"),
        (lambda p: nanodet_model_path(), NanoDetDetector, {"input_size": 400}, "multiple of 32"),
        (
            lambda p: _fixed_size_nanodet(p / "fixed.onnx"),
            NanoDetDetector,
            {"input_size": 352},
            r"fixed\.onnx: the model's input is fixed at 320x320; input_size 352",
        ),
        (
            lambda p: _yolo_model(p / "y.onnx", metadata={SCORE_OFFSET_KEY: "lots"}),
            YoloOnnxDetector,
            {},
            r"y\.onnx: metadata citytally\.score_offset='lots' is not in",
        ),
        (
            lambda p: _yolo_model(p / "y.onnx", metadata={SCORE_OFFSET_KEY: "0.5"}),
            YoloOnnxDetector,
            {},
            "is not in -0.2..0.2",
        ),
    ],
)
def test_unsuitable_model_or_settings_give_one_line_error(
    tmp_path: Path, make: Any, cls: Any, kwargs: dict[str, Any], error: str
) -> None:
    with pytest.raises(DetectorError, match=error) as info:
        cls(make(tmp_path), **kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (np.zeros((10, 10, 3), np.float32), "image 1: expected a BGR uint8 array of shape"),
        (np.zeros((10, 10), np.uint8), "image 1: expected"),
        (np.zeros((10, 10, 4), np.uint8), "image 1: expected"),
        ([[1, 2, 3]], "image 1: expected"),
        (np.zeros((1, 10, 3), np.uint8), "image 1: too small"),
    ],
)
def test_bad_images_are_named(yolo_path: Path, bad: Any, error: str) -> None:
    with pytest.raises(DetectorError, match=error):
        YoloOnnxDetector(yolo_path, threads=1)([np.zeros((8, 8, 3), np.uint8), bad])


def test_unknown_variant() -> None:
    with pytest.raises(DetectorError, match="unknown NanoDet variant"):
        nanodet_model_path("fp8")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "input_size", "expected"),
    [
        (lambda p: nanodet_model_path(), None, NanoDetDetector.DEFAULT_INPUT_SIZE),
        (lambda p: nanodet_model_path(), 352, 352),
        (lambda p: _fixed_size_nanodet(p / "fixed.onnx", 320), None, 320),
        (lambda p: _fixed_size_nanodet(p / "fixed.onnx", 320), 320, 320),
    ],
)
def test_nanodet_input_size_defaults_to_the_models_own(
    tmp_path: Path, make: Any, input_size: int | None, expected: int
) -> None:
    assert NanoDetDetector(make(tmp_path), threads=1, input_size=input_size).input_size == expected


# --- NanoDet on real footage ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vtest_frames(vtest_path: Path) -> dict[int, Image]:
    wanted = {0, 100, 300, 500}
    source = open_source(vtest_path)
    frames = {}
    for frame in source:
        if frame.index in wanted:
            frames[frame.index] = frame.image
        if len(frames) == len(wanted):
            source.close()
    return frames


@pytest.fixture(scope="module")
def nanodet() -> NanoDetDetector:
    return NanoDetDetector(threads=2)


@pytest.mark.integration
def test_nanodet_finds_the_people_on_frame_100(
    nanodet: NanoDetDetector, vtest_frames: dict[int, Image]
) -> None:
    assert isinstance(nanodet, Detector)
    (found,) = nanodet([vtest_frames[100]])
    people = found[found.class_id == PERSON]
    assert len(people) >= 5
    x1, y1, x2, y2 = people.xyxy.T
    assert (x1 >= 0).all() and (y1 >= 0).all() and (x2 <= 768).all() and (y2 <= 576).all()
    heights, widths = y2 - y1, x2 - x1
    assert ((heights > 25) & (heights < 200)).all()  # people 3-20 m from a first-floor camera
    assert (heights > 1.3 * widths).all()  # standing people are taller than wide
    assert (people.scores >= DEFAULT_SCORE_THRESHOLDS["person"]).all()
    vehicles = found[np.isin(found.class_id, [CAR, TRUCK])]
    assert ((vehicles.xyxy[:, 0] > 600) & (vehicles.xyxy[:, 3] < 120)).sum() >= 1  # the parked van


@pytest.mark.integration
@pytest.mark.parametrize("index", [0, 300, 500])
def test_nanodet_finds_people_through_the_video(
    nanodet: NanoDetDetector, vtest_frames: dict[int, Image], index: int
) -> None:
    (found,) = nanodet([vtest_frames[index]])
    assert (found.class_id == PERSON).sum() >= 3
    assert found.class_id.max() < len(ROAD_USER_CLASSES)
    assert found.xyxy.dtype == np.float32 and found.scores.dtype == np.float32


def _same(a: Detections, b: Detections) -> None:
    order_a, order_b = np.lexsort(a.xyxy.T), np.lexsort(b.xyxy.T)
    np.testing.assert_array_equal(a.class_id[order_a], b.class_id[order_b])
    np.testing.assert_allclose(a.xyxy[order_a], b.xyxy[order_b], atol=0.05)
    np.testing.assert_allclose(a.scores[order_a], b.scores[order_b], atol=1e-4)


@pytest.mark.integration
def test_batch_of_different_sizes_equals_one_by_one(
    nanodet: NanoDetDetector, vtest_frames: dict[int, Image]
) -> None:
    frames: list[Image] = [
        vtest_frames[100],  # 768x576, camera A
        np.asarray(cv2.resize(vtest_frames[300], (1024, 768)), np.uint8),  # camera B, larger
        np.ascontiguousarray(vtest_frames[500][50:550, 200:600]),  # camera C, portrait 400x500
        vtest_frames[0],  # camera A again: batched with the first frame
    ]
    batched = nanodet(frames)
    assert len(batched) == 4
    for frame, result in zip(frames, batched, strict=True):
        (alone,) = nanodet([frame])
        _same(result, alone)
        assert len(alone) >= 2
        height, width = frame.shape[:2]
        assert (alone.xyxy[:, 2] <= width).all() and (alone.xyxy[:, 3] <= height).all()
    assert nanodet([]) == []


@pytest.mark.integration
@pytest.mark.parametrize("size", [(768, 576), (1024, 768), (400, 500), (333, 111)])
def test_nanodet_input_is_the_documented_normalisation(
    nanodet: NanoDetDetector, vtest_frames: dict[int, Image], size: tuple[int, int]
) -> None:
    """The tensor is the frame letterboxed onto black (aspect kept, centred), then (BGR - mean) / std."""
    image = np.asarray(cv2.resize(vtest_frames[100], size), np.uint8)
    input_w, input_h = nanodet._input_shape(image, None)
    tensor, (placed,) = nanodet._prepare([(image, None)], input_w, input_h)
    scale = min(input_w / size[0], input_h / size[1])
    new_w, new_h = round(size[0] * scale), round(size[1] * scale)
    left, top = (input_w - new_w) // 2, (input_h - new_h) // 2
    canvas = np.zeros((input_h, input_w, 3), np.uint8)
    canvas[top : top + new_h, left : left + new_w] = cv2.resize(image, (new_w, new_h))
    mean, std = np.array([103.53, 116.28, 123.675]), np.array([57.375, 57.12, 58.395])
    expected = ((canvas - mean) / std).transpose(2, 0, 1)[None]
    assert tensor.shape == (1, 3, input_h, input_w) and tensor.dtype == np.float32
    np.testing.assert_allclose(tensor, expected, atol=1e-5)
    assert (placed.pad_x, placed.pad_y, placed.scale) == (left, top, scale)


@pytest.mark.integration
@pytest.mark.parametrize("window", [(200, 100, 600, 450), (37, 11, 333, 290), (0, 0, 768, 300)])
def test_a_window_finds_what_the_whole_frame_finds_there(
    nanodet: NanoDetDetector, vtest_frames: dict[int, Image], window: tuple[int, int, int, int]
) -> None:
    assert isinstance(nanodet, WindowDetector)
    frame = vtest_frames[300]
    (whole,) = nanodet([frame])
    (part,) = nanodet.detect_windows([frame], [window])
    x1, y1, x2, y2 = window
    inside = whole[
        (whole.xyxy[:, 0] > x1 + 40)
        & (whole.xyxy[:, 1] > y1 + 40)
        & (whole.xyxy[:, 2] < x2 - 40)
        & (whole.xyxy[:, 3] < y2 - 40)
    ]
    assert len(inside) >= 2
    for box, score, cls in zip(inside.xyxy, inside.scores, inside.class_id, strict=True):
        nearest = np.abs(part.xyxy - box).max(axis=1).argmin()
        assert np.abs(part.xyxy[nearest] - box).max() < 1.0, "same box, in whole-frame pixels"
        assert abs(part.scores[nearest] - score) < 0.05 and part.class_id[nearest] == cls
    assert overlapping(part.xyxy, window).all(), "nothing from outside the window"
    width, height = nanodet._input_shape(frame, window)
    assert width % 32 == 0 and height % 32 == 0 and width * height < 416 * 320


@pytest.mark.parametrize(
    ("window", "error"),
    [((0, 0, 0, 10), "empty or outside"), ((700, 0, 800, 10), "empty or outside"), (("a",), "a window is")],
)
def test_bad_windows_are_named(
    nanodet: NanoDetDetector, vtest_frames: dict[int, Image], window: Any, error: str
) -> None:
    with pytest.raises(DetectorError, match=f"image 0: .*{error}"):
        nanodet.detect_windows([vtest_frames[0]], [window])


@pytest.mark.integration
def test_nanodet_threads_setting(vtest_frames: dict[int, Image]) -> None:
    detector = NanoDetDetector(threads=1)
    assert detector._session.get_session_options().intra_op_num_threads == 1
    assert len(detector([vtest_frames[100]])[0]) >= 5


def _area(boxes: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


@pytest.mark.integration
def test_int8_variant_agrees_with_fp32(nanodet: NanoDetDetector, vtest_frames: dict[int, Image]) -> None:
    int8 = NanoDetDetector(nanodet_model_path("int8"), threads=2)
    for index in (100, 300):
        (reference,) = nanodet([vtest_frames[index]])
        (reduced,) = int8([vtest_frames[index]])
        people_ref = reference[reference.class_id == PERSON]
        people = reduced[reduced.class_id == PERSON]
        assert abs(len(people) - len(people_ref)) <= 1
        # every fp32 person has an int8 box over it
        x1 = np.maximum(people_ref.xyxy[:, None, 0], people.xyxy[None, :, 0])
        y1 = np.maximum(people_ref.xyxy[:, None, 1], people.xyxy[None, :, 1])
        x2 = np.minimum(people_ref.xyxy[:, None, 2], people.xyxy[None, :, 2])
        y2 = np.minimum(people_ref.xyxy[:, None, 3], people.xyxy[None, :, 3])
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        iou = inter / (_area(people_ref.xyxy)[:, None] + _area(people.xyxy)[None, :] - inter)
        assert (iou.max(axis=1) >= 0.5).mean() >= 0.8


@pytest.mark.integration
def test_a_camera_class_filter_keeps_only_its_classes_in_windows_too(
    nanodet: NanoDetDetector, vtest_frames: dict[int, Image]
) -> None:
    """`[detector] classes = ["car", "truck"]`: only those classes, on whole frames and on windows."""
    frame = vtest_frames[100]
    vehicles_only = NanoDetDetector(threads=2, classes=["car", "truck"])
    window = (384, 0, 768, 288)  # the top right quarter, with the parked van
    (whole,) = nanodet([frame])
    (part,) = nanodet.detect_windows([frame], [window])
    (filtered_whole,) = vehicles_only([frame])
    (filtered_part,) = vehicles_only.detect_windows([frame], [window])
    for found, filtered in ((whole, filtered_whole), (part, filtered_part)):
        expected = found[np.isin(found.class_id, [CAR, TRUCK])]
        assert len(expected) >= 1 and len(expected) < len(found), "the frame has people and the van"
        _same(filtered, expected)


def test_build_detector_gives_each_kind(yolo_path: Path) -> None:
    """A camera's `[detector] kind` picks the family; a yolo model keeps its own decoding."""
    nano = build_detector("nanodet", variant="int8", threads=1)
    assert isinstance(nano, NanoDetDetector) and nano.model_path == nanodet_model_path("int8")
    yolo = build_detector("yolo", yolo_path, threads=1, score_threshold=0.35)  # the 0.30 person out
    assert isinstance(yolo, YoloOnnxDetector) and yolo.input_hw == (640, 640)
    (found,) = yolo([np.zeros((720, 1280, 3), np.uint8)])
    assert sorted(ROAD_USER_CLASSES[c] for c in found.class_id) == ["bus", "car", "motorcycle"]
    (cars,) = build_detector("yolo", yolo_path, threads=1, classes=["car"])(
        [np.zeros((720, 1280, 3), np.uint8)]
    )
    assert [ROAD_USER_CLASSES[c] for c in cars.class_id] == ["car"]


@pytest.mark.parametrize("busy_wait", [True, False])
def test_busy_wait_reaches_onnx_runtime(yolo_path: Path, busy_wait: bool) -> None:
    """`[detector] busy_wait = false` stops ONNX Runtime's threads spinning between batches, for each kind."""
    for kind, model in (("nanodet", None), ("yolo", yolo_path)):
        detector = build_detector(kind, model, threads=1, busy_wait=busy_wait)
        options = detector._session.get_session_options()  # type: ignore[attr-defined]
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == str(int(busy_wait))


@pytest.mark.parametrize(
    ("kind", "model", "variant", "error"),
    [
        ("yolo", None, "fp32", "a yolo detector needs a model file"),
        ("yolo", "YOLO", "int8", "the int8 variant is of the shipped NanoDet"),
        ("ssd", None, "fp32", "unknown detector kind 'ssd'"),
        ("nanodet", "YOLO", "fp32", "not a NanoDet-g layout"),
    ],
)
def test_build_detector_refuses_what_cannot_run(
    yolo_path: Path, kind: str, model: str | None, variant: Any, error: str
) -> None:
    with pytest.raises(DetectorError, match=error):
        build_detector(kind, yolo_path if model else None, variant=variant, threads=1)


def test_camera_config_chooses_the_detector_with_located_errors(tmp_path: Path, yolo_path: Path) -> None:
    """`[detector] kind = "yolo"` + model loads; a missing model or a bad size names file, line and field."""
    base = 'site = "s"\ncamera = "c"\n\n[source]\nuri = "v.mp4"\n\n[detector]\n'
    good = parse_camera_config(base + f'kind = "yolo"\nmodel = "{yolo_path}"\ninput_size = 512\n')
    assert (good.detector.kind, good.detector.model, good.detector.input_size) == ("yolo", yolo_path, 512)
    assert parse_camera_config(base).detector.kind == "nanodet"
    for body, located in [
        ('kind = "yolo"\n', r"<cfg>:7: detector: .*needs model"),
        (f'model = "{tmp_path / "gone.onnx"}"\n', r"<cfg>:8: detector\.model: .*no such model file"),
        ("input_size = 500\n", r"<cfg>:8: detector\.input_size: .*multiple of 32"),
        ('kind = "ssd"\n', r"<cfg>:8: detector\.kind"),
    ]:
        with pytest.raises(CameraConfigError, match=located):
            parse_camera_config(base + body, source="<cfg>")
