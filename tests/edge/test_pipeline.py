"""The pipeline's wiring: in-memory frames, a scripted detector, the real tracker, analytics and publisher.

The detector here stands in for NanoDet only so that the wiring can be checked fast and exactly: where a road
user is on each frame is part of the test's input. The real detector is covered by test_detector.py and the
whole chain on real footage by test_analyze_cli.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from citytally.edge.analytics.intervals import CameraAnalytics
from citytally.edge.config import CameraConfig, parse_camera_config
from citytally.edge.detections import Detections
from citytally.edge.detector import Window, WindowDetector
from citytally.edge.pipeline import EdgePipeline, PipelineOptions
from citytally.edge.preview import PreviewRequest
from citytally.edge.source import Frame, FrameListSource
from citytally.edge.tracker import MotionTracker
from citytally.errors import ConfigError, SourceError
from citytally.events import LineCountEvent
from citytally.transport.publisher import MemoryPublisher

Image = npt.NDArray[np.uint8]
WIDTH, HEIGHT = 320, 240

CONFIG = """
site = "test-site"
camera = "cam-1"
interval_seconds = 60
start_time = 2026-01-01T00:00:00Z
[source]
uri = "memory"
[[lines]]
name = "gate"
p1 = [160, 0]
p2 = [160, 240]
directions = ["westbound", "eastbound"]
[[zones]]
name = "left"
polygon = [[0, 0], [160, 0], [160, 240], [0, 240]]
"""


def _config() -> CameraConfig:
    return parse_camera_config(CONFIG, source="test")


def _walker_x(index: int) -> float:
    """A person walking left to right at 8 px a frame, standing still on frames 10-20."""
    return 40.0 + 8 * min(index, 10) + 8 * max(0, index - 20)


def _frames(count: int) -> list[Image]:
    """Grey frames with a dark 'person' painted where the scripted detector will report one."""
    frames = []
    for index in range(count):
        image = np.full((HEIGHT, WIDTH, 3), 128, np.uint8)
        x = int(_walker_x(index))
        image[100:180, x : x + 30] = 20
        frames.append(image)
    return frames


class ScriptedDetector:
    """Reports the painted person of each frame, found by its dark pixels (a synthetic scene's detector)."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, images: Sequence[Image]) -> list[Detections]:
        self.calls.append(len(images))
        out = []
        for image in images:
            ys, xs = np.nonzero(image[:, :, 0] < 60)
            if len(xs) == 0:
                out.append(Detections.empty())
                continue
            box = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
            out.append(Detections(box, np.array([0.9], np.float32), np.zeros(1, np.int64)))
        return out


class WindowScriptedDetector(ScriptedDetector):
    """Also searches windows: each dark blob that overlaps a window, as far as the window shows it."""

    def __init__(self) -> None:
        super().__init__()
        self.windows: list[Window | None] = []

    def __call__(self, images: Sequence[Image]) -> list[Detections]:
        return self.detect_windows(images, [None] * len(images))

    def detect_windows(self, images: Sequence[Image], windows: Sequence[Window | None]) -> list[Detections]:
        self.calls.append(len(images))
        self.windows.extend(windows)
        out = []
        for image, window in zip(images, windows, strict=True):
            x1, y1, x2, y2 = window or (0, 0, image.shape[1], image.shape[0])
            dark = (image[y1:y2, x1:x2, 0] < 60).astype(np.uint8)
            count, _, stats, _ = cv2.connectedComponentsWithStats(dark)
            boxes = [(x1 + x, y1 + y, x1 + x + w, y1 + y + h) for x, y, w, h, _ in stats[1:count]]
            out.append(
                Detections(
                    np.array(boxes, np.float32).reshape(-1, 4),
                    np.full(len(boxes), 0.9, np.float32),
                    np.zeros(len(boxes), np.int64),
                )
            )
        return out


class BrokenSource(FrameListSource):
    """Yields its frames, then fails like a truncated file."""

    def __iter__(self) -> Iterator[Frame]:
        yield from super().__iter__()
        raise SourceError("broken.avi: truncated after 30 frames")


def _pipeline(
    frames: list[Image],
    options: PipelineOptions,
    source_cls: type[FrameListSource] = FrameListSource,
    detector: ScriptedDetector | None = None,
) -> tuple[EdgePipeline, MemoryPublisher, ScriptedDetector]:
    config = _config()
    publisher = MemoryPublisher()
    detector = detector or ScriptedDetector()
    pipeline = EdgePipeline(
        config,
        source_cls(frames, fps=10.0),
        detector,
        MotionTracker(config.tracker),
        CameraAnalytics(config, publisher),
        publisher,
        options,
    )
    return pipeline, publisher, detector


def _eastbound(publisher: MemoryPublisher) -> int:
    return sum(
        e.counts.get("eastbound", {}).get("person", 0)
        for e in publisher.events
        if isinstance(e, LineCountEvent)
    )


@pytest.mark.parametrize(
    ("options", "detected_frames"),
    [
        (PipelineOptions(progress=False), 40),
        (PipelineOptions(progress=False, batch_size=1), 40),
        (PipelineOptions(progress=False, detect_every=2), 20),
        (PipelineOptions(progress=False, motion_gating=True), 30),  # frames 11-20 stand still
    ],
)
def test_a_walker_is_counted_once_whatever_the_detection_schedule(
    options: PipelineOptions, detected_frames: int
) -> None:
    pipeline, publisher, detector = _pipeline(_frames(40), options)
    result = pipeline.run()
    assert result.error is None and result.frames == 40
    assert result.times.detected_frames == detected_frames == sum(detector.calls)
    assert max(detector.calls) <= options.batch_size
    assert _eastbound(publisher) == 1
    assert result.totals.lines["gate"]["eastbound"] == {"person": 1}
    assert result.video_seconds == pytest.approx(4.0)


def test_damage_keeps_what_was_counted_and_reports_the_error() -> None:
    pipeline, publisher, _ = _pipeline(_frames(30), PipelineOptions(progress=False), BrokenSource)
    result = pipeline.run()
    assert isinstance(result.error, SourceError) and "broken.avi" in str(result.error)
    assert result.frames == 30
    assert _eastbound(publisher) == 1, "the last interval was flushed despite the damage"
    summary = result.summary()
    assert summary["complete"] is False and summary["frames_analysed"] == 30
    assert summary["lines"]["gate"]["eastbound"] == {"person": 1}


def test_summary_has_the_documented_shape() -> None:
    pipeline, _, _ = _pipeline(_frames(40), PipelineOptions(progress=False))
    summary = pipeline.run().summary()
    assert set(summary) >= {"lines", "zones", "frames_analysed", "duration_s"}
    assert summary["zones"]["left"]["person"] == 1


def test_motion_gating_searches_only_what_moved_and_holds_the_rest() -> None:
    """A walker crosses the line while someone stands still in the left zone the whole time."""
    frames = _frames(40)
    for image in frames:
        image[20:80, 20:44] = 20  # the one standing still, never moving
    detector = WindowScriptedDetector()
    assert isinstance(detector, WindowDetector)
    pipeline, _, _ = _pipeline(frames, PipelineOptions(progress=False, motion_gating=True), detector=detector)
    result = pipeline.run()
    assert result.totals.lines["gate"]["eastbound"] == {"person": 1}
    assert result.totals.zone_peaks["left"] == {"person": 2}
    windowed = [w for w in detector.windows if w is not None]
    assert windowed, "frames after the first were searched in windows"
    # The still person (20..44, 20..80) is searched whole when the walker's window reaches him, never cut;
    # once the walker has gone on, his box is held without searching there again.
    apart = [w for w in windowed if not (w[0] < 44 and w[1] < 80 and w[2] > 20 and w[3] > 20)]
    whole = [w for w in windowed if w[0] <= 20 and w[1] <= 20 and w[2] >= 44 and w[3] >= 80]
    assert len(apart) + len(whole) == len(windowed)
    assert len(apart) > len(windowed) / 2
    assert result.times.window_share < 0.6 * result.times.detected_frames
    # Two whole frames only: the first, and the refresh after motion.GATE_WHOLE_FRAME_EVERY_S (2 s of 4).
    assert detector.windows.count(None) == 2


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: PipelineOptions(batch_size=0), "batch_size"),
        (lambda: PipelineOptions(detect_every=0), "detect_every"),
        (lambda: PipelineOptions(target_fps=0), "--fps"),
        (lambda: PipelineOptions(detector_variant="fp8"), "fp32 or int8"),
        (lambda: PipelineOptions(input_size=350), "--input-size must be a multiple of 32 .*, got 350"),
        (lambda: PipelineOptions(input_size=32), "--input-size must be a multiple of 32 .*, got 32"),
        (lambda: PipelineOptions(input_size=4000), "--input-size must be a multiple of 32 .*, got 4000"),
        (lambda: PreviewRequest(png=Path("preview.jpg")), "png"),
        (lambda: PreviewRequest(video=Path("preview.avi")), "mp4"),
        (lambda: PreviewRequest(at_seconds=-1), "--preview-at -1: must be 0 to 86400 seconds"),
    ],
)
def test_bad_options_are_refused(make: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make()  # type: ignore[operator]
