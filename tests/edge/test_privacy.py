"""Masking for the placement preview: unit checks of the geometry, and real detectors over real footage."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt
import pytest

from citytally.edge.detections import Detections
from citytally.edge.privacy import (
    FaceFinder,
    LineOverlay,
    PreviewOverlay,
    ZoneOverlay,
    grow_boxes,
    mask_regions,
    render_preview,
    write_png,
)
from citytally.errors import PrivacyError

Image = npt.NDArray[np.uint8]
MASK_COLOUR = (40, 40, 40)


def _boxes(*rows: tuple[float, float, float, float]) -> npt.NDArray[np.float32]:
    return np.array(rows, np.float32).reshape(-1, 4)


def _noise(height: int = 120, width: int = 160, seed: int = 1) -> Image:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("box", "growth", "expected"),
    [
        ((10, 10, 30, 50), 0.0, (10, 10, 30, 50)),
        ((10, 10, 30, 50), 0.25, (5, 0, 35, 60)),  # 20x40 box grows 5 and 10 px a side
        ((0, 0, 20, 20), 0.5, (0, 0, 30, 30)),  # clipped at the top-left corner
        ((150, 100, 160, 120), 1.0, (140, 80, 160, 120)),  # clipped at the frame's edge (160x120)
    ],
)
def test_grow_boxes_enlarges_and_clips(
    box: tuple[float, float, float, float], growth: float, expected: tuple[int, int, int, int]
) -> None:
    assert tuple(grow_boxes(_boxes(box), growth, 160, 120)[0]) == expected


def test_mask_regions_fills_solid_and_leaves_the_input_alone() -> None:
    frame = _noise()
    before = frame.copy()
    masked = mask_regions(frame, _boxes((20, 20, 60, 100)), growth=0.1)
    np.testing.assert_array_equal(frame, before)
    region = masked[16:108, 16:64]
    assert (region == MASK_COLOUR).all(), "the whole enlarged box is one solid colour"
    assert not (masked[:, 70:] == MASK_COLOUR).all(axis=2).any(), "nothing outside the box is touched"


@pytest.mark.parametrize(
    ("face", "masked_outside_person"),
    [
        ((100, 10, 120, 30), True),  # a face the person detector missed: masked on its own
        ((30, 30, 40, 40), False),  # a face inside a person's box: covered by the box already
    ],
)
def test_render_preview_masks_faces_outside_road_users(
    face: tuple[float, float, float, float], masked_outside_person: bool
) -> None:
    frame = _noise()
    person = Detections(_boxes((20, 20, 60, 100)), np.ones(1, np.float32), np.zeros(1, np.int64))
    image = render_preview(frame, person, _boxes(face))
    solid = (image == MASK_COLOUR).all(axis=2)
    assert solid[20:100, 20:60].all()
    assert solid[12:28, 102:118].all() == masked_outside_person


def test_render_preview_draws_lines_and_zones_without_unmasking() -> None:
    frame = _noise()
    person = Detections(_boxes((20, 20, 60, 100)), np.ones(1, np.float32), np.zeros(1, np.int64))
    overlay = PreviewOverlay(
        lines=[LineOverlay("path", (80, 5), (80, 115), "westbound 3")],
        zones=[ZoneOverlay("plaza", [(90, 60), (150, 60), (150, 110)], "peak 2")],
        title="site/camera",
    )
    image = render_preview(frame, person, _boxes(), overlay)
    assert (image[20:100, 20:60] != frame[20:100, 20:60]).any()
    assert (image[:, 79:82] != frame[:, 79:82]).any(), "the line is drawn"


def test_face_finder_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="threshold"):
        FaceFinder(threshold=1.5)


def test_write_png_refuses_a_non_image_suffix(tmp_path: Path) -> None:
    with pytest.raises(PrivacyError, match="cannot write"):
        write_png(tmp_path / "preview.unknown", _noise())


# -- real footage, real detectors ------------------------------------------------------------------

FRAMES = (100, 300, 720)  # a few people; a crowd at the west line; three men crossing the east line


def _decode(path: Path) -> Iterator[tuple[int, Image]]:
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            yield index, frame.to_ndarray(format="bgr24")


FACE_FRAME = 400


@pytest.fixture(scope="module")
def vtest_frames(vtest_path: Path) -> dict[int, Image]:
    """The test frames, and under key -1 the plaza with nobody in it (median of every 10th frame)."""
    wanted = {*FRAMES, FACE_FRAME}
    frames: dict[int, Image] = {}
    samples: list[Image] = []
    for index, image in _decode(vtest_path):
        if index in wanted:
            frames[index] = image
        if index % 10 == 0:
            samples.append(image)
    frames[-1] = np.median(np.stack(samples), axis=0).astype(np.uint8)
    return frames


@pytest.fixture(scope="module")
def scenery(vtest_frames: dict[int, Image]) -> list[tuple[str, npt.NDArray[np.float64]]]:
    """What the Haar cascades find on the empty plaza: windows, bollards, a lamp post."""
    return _haar(vtest_frames[-1])


_CASCADES = ("haarcascade_fullbody.xml", "haarcascade_upperbody.xml", "haarcascade_frontalface_default.xml")


def _haar(image: Image) -> list[tuple[str, npt.NDArray[np.float64]]]:
    """OpenCV's Haar cascades (independent of every model citytally uses), on an enlarged copy: vtest's
    people are 60-120 px tall and their faces 8-10 px, below the cascades' window sizes."""
    found: list[tuple[str, npt.NDArray[np.float64]]] = []
    for name in _CASCADES:
        scale = 3 if "face" in name else 2
        cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / name))  # type: ignore[attr-defined]
        grey = cv2.cvtColor(cv2.resize(image, None, fx=scale, fy=scale), cv2.COLOR_BGR2GRAY)
        for x, y, w, h in cascade.detectMultiScale(grey, 1.05, 3):
            found.append((name, np.array([x, y, x + w, y + h], np.float64) / scale))
    return found


def _iou(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def _haar_people(
    image: Image, people: npt.NDArray[np.float32], scenery: list[tuple[str, npt.NDArray[np.float64]]]
) -> int:
    """Haar hits that overlap a person (IoU > 0.25) and are not one of the cascade's hits on the empty
    plaza (Haar cascades fire on windows and bollards too)."""
    hits = 0
    for name, box in _haar(image):
        if any(name == other and _iou(box, where) > 0.3 for other, where in scenery):
            continue
        if any(_iou(box, person.astype(np.float64)) > 0.25 for person in people):
            hits += 1
    return hits


@pytest.fixture(scope="module")
def masker() -> Any:
    from citytally.edge.privacy import PreviewMasker

    return PreviewMasker()


@pytest.fixture(scope="module")
def nanodet() -> Any:
    from citytally.edge.detector import NanoDetDetector

    return NanoDetDetector()  # the counting detector at its normal thresholds, run on the unmasked frame


@pytest.mark.integration
@pytest.mark.parametrize("index", FRAMES)
def test_no_detector_finds_a_person_in_the_masked_frame(
    index: int,
    vtest_frames: dict[int, Image],
    scenery: list[tuple[str, npt.NDArray[np.float64]]],
    masker: Any,
    nanodet: Any,
) -> None:
    frame = vtest_frames[index]
    masked = masker.mask(frame)
    before = nanodet([frame])[0]
    people = before.xyxy[before.class_id == 0]
    # The detectors do see people in the unmasked frame, so this test can fail...
    assert len(people) >= 3
    assert _haar_people(frame, people, scenery) >= 1
    # ...and after masking neither finds anyone.
    after = nanodet([masked])[0]
    assert not (after.class_id == 0).any(), f"NanoDet still finds people: {after.xyxy[after.class_id == 0]}"
    assert _haar_people(masked, people, scenery) == 0


@pytest.mark.integration
def test_face_finder_finds_a_face_the_size_of_a_street_camera_face(vtest_frames: dict[int, Image]) -> None:
    # Frame 400: a man walks towards the camera at the right of the plaza, his face about 9x12 px.
    frame = vtest_frames[FACE_FRAME]
    faces = FaceFinder().find(frame)
    centres = (faces[:, :2] + faces[:, 2:]) / 2
    assert any(700 <= x <= 740 and 290 <= y <= 325 for x, y in centres), faces
    nobody = FaceFinder().find(np.full_like(frame, 128))
    assert len(nobody) == 0


def test_preview_writer_writes_a_short_playable_video(tmp_path: Path) -> None:
    from citytally.edge.privacy import PreviewWriter

    path = tmp_path / "preview.mp4"
    writer = PreviewWriter(path, 161, 120, fps=10.0, max_frames=5)  # an odd width is trimmed for H.264
    for seed in range(8):
        writer.write(mask_regions(_noise(120, 161, seed), _boxes((10, 10, 50, 90))))
    writer.close()
    assert writer.full
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]
    assert len(frames) == 5 and frames[0].shape == (120, 160, 3)
    # The masked box survives encoding as a flat patch (lossy codec: nearly, not exactly, one colour).
    assert np.ptp(frames[0][20:80, 16:44].astype(int)) < 40


def _clip(source: Path, target: Path, first: int, count: int) -> list[Image]:
    """Frames ``first``..``first + count - 1`` of ``source`` as a real H.264 file (nearly lossless)."""
    frames = [image for index, image in _decode(source) if first <= index < first + count]
    with av.open(str(target), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        stream.options = {"crf": "12", "preset": "veryfast"}
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    return frames


@pytest.mark.integration
def test_preview_video_of_a_real_run_shows_no_person(vtest_path: Path, tmp_path: Path, nanodet: Any) -> None:
    """``--preview-video`` end to end: the pipeline's own preview of real footage, checked frame by frame
    by the unmasked counting detector, which does find the people in the same frames before masking."""
    from citytally.edge.config import load_camera_config
    from citytally.edge.pipeline import PipelineOptions, PreviewRequest, build_pipeline
    from citytally.transport.publisher import MemoryPublisher

    clip = tmp_path / "crossing.mp4"
    originals = _clip(vtest_path, clip, first=710, count=20)  # three men crossing, others behind them
    preview = tmp_path / "preview.mp4"
    config = load_camera_config(Path(__file__).parents[2] / "examples" / "vtest.toml")
    options = PipelineOptions(progress=False, preview=PreviewRequest(video=preview, video_seconds=2.0))
    result = build_pipeline(config, MemoryPublisher(), options, clip).run()
    assert result.error is None and result.frames == 20
    with av.open(str(preview)) as container:
        shown = [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]
    assert len(shown) == 20
    for index in range(0, 20, 4):
        before = nanodet([originals[index]])[0]
        assert (before.class_id == 0).sum() >= 3, f"frame {index}: the check itself sees too few people"
        after = nanodet([shown[index]])[0]
        assert not (after.class_id == 0).any(), f"frame {index}: a person is visible in the preview video"
