"""The edge pipeline's one wiring point: source → detector (batched) → tracker → analytics → publisher.

:func:`build_pipeline` builds the stages in order from a camera config; :meth:`EdgePipeline.run` runs them
until the source ends, a damaged file stops it or the caller interrupts, and always flushes the analytics'
last interval to the publisher before returning. Per-stage wall time is collected for the benchmarks.

Frames and crops never leave this module, except through the optional masked preview
(:mod:`citytally.edge.preview`) and masked incident snapshots (:mod:`citytally.edge.snapshots`), which are
written only when an operator asks for them, and to the left-object
incident rule (:mod:`citytally.edge.incidents.static`), which keeps running grey backgrounds of its zone in
memory and reports only areas and times. Where each frame is
searched under motion gating is decided in :mod:`citytally.edge.motion`.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TextIO

import numpy as np

from citytally.edge.analytics.intervals import CameraAnalytics, RunTotals, StreamClock
from citytally.edge.config import CameraConfig
from citytally.edge.detections import Detections
from citytally.edge.detector import (
    INPUT_SIZE_RULE,
    Detector,
    WindowDetector,
    overlapping,
    valid_input_size,
)
from citytally.edge.incidents import IncidentEngine
from citytally.edge.motion import GATE_WHOLE_FRAME_EVERY_S, MotionGate, search_windows
from citytally.edge.preview import PreviewRequest, PreviewTap
from citytally.edge.snapshots import SnapshotTap
from citytally.edge.source import Frame, Reconnect, VideoSource
from citytally.edge.tracker import DetectionQuality, MotionTracker
from citytally.errors import CitytallyError, ConfigError, SourceError, StoreError
from citytally.transport.publisher import Publisher

__all__ = [
    "EdgePipeline",
    "PipelineOptions",
    "RunResult",
    "StageTimes",
    "analyze_video",
    "build_pipeline",
    "write_summary",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineOptions:
    """How to run (not what to measure: that is the camera config)."""

    target_fps: float | None = None
    batch_size: int = 4
    detect_every: int = 1
    motion_gating: bool = False
    detector_variant: Literal["fp32", "int8"] = "fp32"
    input_size: int | None = None  # detector input's longer side in pixels; None: the model's own (416)
    threads: int | None = None
    progress: bool = True
    preview: PreviewRequest | None = None
    snapshots: Path | None = None  # folder for masked incident snapshots; None: none are written
    reconnect: Reconnect | None = None  # a stream's backoff; None: the source's default (10 attempts)

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= 64:
            raise ConfigError(f"batch_size must be in 1..64, got {self.batch_size}")
        if not 1 <= self.detect_every <= 30:
            raise ConfigError(f"detect_every must be in 1..30, got {self.detect_every}")
        if self.target_fps is not None and not 0 < self.target_fps <= 120:
            raise ConfigError(f"--fps must be in (0, 120], got {self.target_fps}")
        if self.detector_variant not in ("fp32", "int8"):
            raise ConfigError(f"detector variant must be fp32 or int8, got {self.detector_variant!r}")
        if self.input_size is not None and not valid_input_size(self.input_size):
            raise ConfigError(f"--input-size must be {INPUT_SIZE_RULE}, got {self.input_size}")


@dataclass
class StageTimes:
    """Wall seconds spent in each stage, and how many frames went through detection."""

    decode: float = 0.0
    gate: float = 0.0
    detect: float = 0.0
    track: float = 0.0
    analytics: float = 0.0
    frames: int = 0
    detected_frames: int = 0
    window_share: float = 0.0  # motion gating: sum over detected frames of the share of the frame searched

    @property
    def total(self) -> float:
        return self.decode + self.gate + self.detect + self.track + self.analytics


@dataclass
class RunResult:
    """What a run did: frames analysed, seconds of video covered, totals, timings, and the damage if any."""

    frames: int
    video_seconds: float
    wall_seconds: float
    totals: RunTotals
    times: StageTimes
    error: CitytallyError | None = None
    interrupted: bool = False
    #: Where an interrupted run's events and summary went, the finished run before it kept in their place
    set_aside: Path | None = None
    preview_png: Path | None = None
    preview_still: Path | None = None
    quality: DetectionQuality = field(default_factory=DetectionQuality)

    def summary(self) -> dict[str, Any]:
        """The ``summary.json`` body: totals plus frames analysed and duration."""
        return {
            "lines": self.totals.lines,
            "zones": self.totals.zone_peaks,
            "movements": self.totals.movements,
            "frames_analysed": self.frames,
            "duration_s": round(self.video_seconds, 3),
            "events": self.totals.events,
            "complete": self.error is None and not self.interrupted,
            "error": str(self.error) if self.error is not None else None,
            "detection_quality": self.quality.as_dict(),
        }


@dataclass
class _Pending:
    """A decoded frame waiting for its batch; ``detect`` is False for frames skipped by ``detect_every``."""

    frame: Frame
    detect: bool


class EdgePipeline:
    """One camera's pipeline, built by :func:`build_pipeline`. Run it once with :meth:`run`."""

    def __init__(
        self,
        config: CameraConfig,
        source: VideoSource,
        detector: Detector,
        tracker: MotionTracker,
        analytics: CameraAnalytics,
        publisher: Publisher,
        options: PipelineOptions,
        total_frames: int | None = None,
    ) -> None:
        self.config = config
        self.source = source
        self.detector = detector
        self.tracker = tracker
        self.analytics = analytics
        self.publisher = publisher
        self.options = options
        self.total_frames = total_frames
        self.times = StageTimes()
        self._gate = MotionGate() if options.motion_gating else None
        self._windows = isinstance(detector, WindowDetector)
        self._last_whole = -np.inf
        self._last_tracked = Detections.empty()
        self._last_found = Detections.empty()
        self._last_pts = 0.0
        self._decoded = 0
        # Incident rules that look at the picture (a left object); they keep only grey backgrounds of a zone.
        self._seers = [
            d for d in analytics.incident_detectors if isinstance(d, IncidentEngine) and d.needs_pictures
        ]
        self._preview: PreviewTap | None = (
            PreviewTap(options.preview, config, source, _analysed_fps(source.fps, options, config))
            if options.preview is not None
            else None
        )
        engines = [d for d in analytics.incident_detectors if isinstance(d, IncidentEngine)]
        self._snapshots: tuple[SnapshotTap, IncidentEngine] | None = (
            (SnapshotTap(options.snapshots, config), engines[0])
            if options.snapshots is not None and engines
            else None
        )

    def run(self) -> RunResult:
        """Analyse the source to its end; flush and close everything, also after damage or Ctrl-C."""
        started = time.perf_counter()
        error: CitytallyError | None = None
        interrupted = False
        try:
            with _progress(self.options.progress, self.total_frames, self.source.name) as advance:
                for batch in self._batches():
                    self._process(batch)
                    advance(len(batch))
        except SourceError as exc:
            error = exc  # reported by the caller, after the summary is written
        except KeyboardInterrupt:
            interrupted = True
            log.warning("interrupted after %d frames; flushing what was counted", self.times.frames)
        finally:
            self._stop()
        refused = getattr(self.publisher, "error", None)  # the events file's disk refused a write
        if isinstance(refused, CitytallyError):
            error = refused if error is None else CitytallyError(f"{error}; {refused}")
        return RunResult(
            frames=self.times.frames,
            video_seconds=self._last_pts + 1 / self.source.fps if self.times.frames else 0.0,
            wall_seconds=time.perf_counter() - started,
            totals=self.analytics.totals,
            times=self.times,
            error=error,
            interrupted=interrupted,
            preview_png=self._preview.written_png if self._preview is not None else None,
            preview_still=self._preview.written_still if self._preview is not None else None,
            quality=self.tracker.quality,
        )

    def _stop(self) -> None:
        """Stop in reverse order of building: analytics flush → publisher → preview → source."""
        try:
            totals = self.analytics.finish()
            if self._preview is not None:
                self._preview.finish(totals)
        finally:
            try:
                self.publisher.close()
            finally:
                if self._preview is not None:
                    self._preview.close()
                self.source.close()

    def _batches(self) -> Iterator[list[_Pending]]:
        batch: list[_Pending] = []
        frames = iter(self.source)
        while True:
            t0 = time.perf_counter()
            try:
                frame = next(frames, None)
            except SourceError:
                if batch:
                    yield batch  # the frames decoded before the damage are still analysed
                raise
            finally:
                self.times.decode += time.perf_counter() - t0
            if frame is None:
                break
            batch.append(self._plan(frame))
            if sum(p.detect for p in batch) >= self.options.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _plan(self, frame: Frame) -> _Pending:
        """Whether this frame is due for detection (motion gating then decides where, frame by frame)."""
        self._decoded += 1
        return _Pending(frame, detect=not (self._decoded - 1) % self.options.detect_every)

    def _process(self, batch: Sequence[_Pending]) -> None:
        if self._gate is not None:
            # Gated frames go one at a time: where to search depends on the boxes of the frame before.
            for pending in batch:
                self._advance(pending.frame, self._gated_detect(pending.frame) if pending.detect else None)
            return
        t0 = time.perf_counter()
        images = [p.frame.image for p in batch if p.detect]
        results = iter(self.detector(images) if images else [])
        self.times.detect += time.perf_counter() - t0
        self.times.detected_frames += len(images)
        for pending in batch:
            self._advance(pending.frame, next(results) if pending.detect else None)

    def _gated_detect(self, frame: Frame) -> Detections | None:
        """Detections where ``frame`` moved, the last boxes standing elsewhere; ``None`` if nothing moved."""
        assert self._gate is not None
        t0 = time.perf_counter()
        moved = self._gate.regions(frame.image)
        if not moved:
            self.times.gate += time.perf_counter() - t0
            return None
        height, width = frame.image.shape[:2]
        whole = (0, 0, width, height)
        windows = [whole]
        if self._windows and frame.pts_seconds - self._last_whole < GATE_WHOLE_FRAME_EVERY_S:
            windows = search_windows(moved, self._last_found.xyxy, width, height)
        for window in windows:
            self._gate.detected(window)
        t1 = time.perf_counter()
        self.times.gate += t1 - t0
        self.times.detected_frames += 1
        if windows == [whole]:
            self._last_whole = frame.pts_seconds
            self.times.window_share += 1.0
            (found,) = self.detector([frame.image])
        else:
            assert isinstance(self.detector, WindowDetector)
            area = sum((w[2] - w[0]) * (w[3] - w[1]) for w in windows)
            self.times.window_share += area / (width * height)
            found = Detections.empty()
            searched = np.zeros(len(self._last_found), bool)
            for window, detections in zip(
                windows, self.detector.detect_windows([frame.image] * len(windows), windows), strict=True
            ):
                found = found + detections
                searched |= overlapping(self._last_found.xyxy, window)
            # Where nothing moved the last boxes still hold, as on a frame where nothing moved at all.
            found = found + self._last_found[~searched]
        self.times.detect += time.perf_counter() - t1
        return found

    def _advance(self, frame: Frame, found: Detections | None) -> None:
        """Track and analyse one frame; ``found`` is None when it was not detected."""
        t1 = time.perf_counter()
        if found is not None:
            self._last_found = found
            self._last_tracked = self.tracker.update(found, frame.pts_seconds)
        elif self._gate is not None:
            # Nothing moved: the last boxes still hold. Telling the tracker so keeps its motion model
            # honest (a person who stops must not be predicted to walk on through the still frames).
            self._last_tracked = self.tracker.update(self._last_found, frame.pts_seconds)
        # Otherwise (detect_every) the last tracked boxes stand in until the next detected frame, a
        # fraction of a second away; the tracker bridges the gap with the real time step.
        t2 = time.perf_counter()
        for seer in self._seers:
            seer.see(frame.image)
        self.analytics.update(self._last_tracked, frame.pts_seconds)
        t3 = time.perf_counter()
        self.times.track += t2 - t1
        self.times.analytics += t3 - t2
        self.times.frames += 1
        self._last_pts = frame.pts_seconds
        if self._preview is not None or self._snapshots is not None:
            # Masked beside the masker's own finds: every box the camera's detector found (at the camera's
            # threshold, tracked or not yet) and every tracked one (a box held through a missed frame).
            seen = self._last_tracked + self._last_found
            if self._preview is not None:
                self._preview.offer(frame, seen)
            if self._snapshots is not None:
                tap, engine = self._snapshots
                tap.offer(frame.image, seen, engine.take_opened())


@contextlib.contextmanager
def _progress(enabled: bool, total: int | None, name: str) -> Iterator[Callable[[int], None]]:
    """A rich progress bar counting frames (to stderr, so stdout stays clean for the caller)."""
    if not enabled:
        yield lambda _n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("[bold]analysing[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("frames"),
        TimeRemainingColumn(),
    )
    real_stderr = sys.stderr
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(Path(name).name or name, total=total)
        with _logs_above(real_stderr):
            yield lambda n: bar.advance(task, n)


@contextlib.contextmanager
def _logs_above(real_stderr: TextIO) -> Iterator[None]:
    """On a terminal rich has ``sys.stderr`` print above the bar, but the log handlers still write to the
    terminal itself, into the bar, which the next refresh then draws over: while the bar is shown they
    write through rich too."""
    moved = [
        handler
        for handler in logging.getLogger().handlers
        if sys.stderr is not real_stderr
        and isinstance(handler, logging.StreamHandler)
        and handler.stream is real_stderr
    ]
    for handler in moved:
        handler.setStream(sys.stderr)
    try:
        yield
    finally:
        for handler in moved:
            handler.setStream(real_stderr)


def _analysed_fps(native_fps: float, options: PipelineOptions, config: CameraConfig) -> float:
    """The rate frames are analysed at: the source's, or the lower one asked for."""
    target = options.target_fps or config.source.target_fps
    return min(native_fps, target) if target is not None and native_fps > 0 else native_fps


def _frame_count(uris: Sequence[str], native_fps: float, target_fps: float | None) -> int | None:
    """How many frames the files will yield, for the progress bar; ``None`` for streams or when unknown."""
    import av
    import av.logging

    frames = 0
    for uri in uris:
        path = Path(uri)
        if not path.is_file():
            return None
        # FFmpeg's log lines about a file that does not open are kept here: the source says it, once.
        with av.logging.Capture():
            try:
                with av.open(str(path)) as container:
                    frames += container.streams.video[0].frames
            except (av.FFmpegError, IndexError):
                return None
    if not frames:
        return None
    if target_fps is not None and native_fps > 0 and target_fps < native_fps:
        return max(1, round(frames * target_fps / native_fps))
    return int(frames)


def build_pipeline(
    config: CameraConfig,
    publisher: Publisher | Callable[[], Publisher],
    options: PipelineOptions | None = None,
    video: str | Path | Sequence[str | Path] | None = None,
) -> EdgePipeline:
    """Build every stage in order for one camera; ``video`` overrides the config's source URI.

    ``video`` may be several files or a glob pattern, analysed as one continuous stream; a stream URL is
    passed on exactly as given.

    ``publisher`` may be a factory: it is then called last, once the source has opened, so a missing
    video leaves no empty output behind.
    """
    from citytally.edge.detector import build_detector
    from citytally.edge.source import open_inputs, resolve_inputs

    options = options or PipelineOptions()
    if video is None:
        inputs: Sequence[str | Path] = [config.source.uri]
    elif isinstance(video, str | Path):
        inputs = [video]
    else:
        inputs = list(video)
    uris = resolve_inputs(inputs)
    target_fps = options.target_fps or config.source.target_fps
    settings = config.detector
    detector = build_detector(
        settings.kind,
        settings.model,
        variant=options.detector_variant,
        # The tracker uses low-score boxes to keep tracks alive; it alone decides what becomes a track.
        score_threshold=settings.score_threshold,
        nms_iou=settings.nms_iou,
        classes=settings.classes,
        threads=options.threads,
        input_size=options.input_size or settings.input_size,
        busy_wait=settings.busy_wait,
    )
    tracker = MotionTracker(config.tracker)
    source = open_inputs(uris, target_fps, options.reconnect)
    try:
        _check_frame(config, source.size, source.name)
        total = _frame_count(uris, source.fps, target_fps)
        sink = publisher if isinstance(publisher, Publisher) else publisher()
        incidents = IncidentEngine(config)
        live = bool(getattr(source, "live", False))
        if live and config.start_time is not None:
            log.warning(
                "%s: a live stream, but the config's start_time stamps it as a recording from %s (restarted,"
                " it would report those minutes again, which a hub refuses): for a live camera, remove"
                " start_time",
                source.name,
                config.start_time.isoformat(),
            )
        clock = StreamClock(config.start_time, live=live)
        analytics = CameraAnalytics(
            config, sink, clock=clock, incident_detectors=[incidents] if incidents else []
        )
        return EdgePipeline(config, source, detector, tracker, analytics, sink, options, total)
    except CitytallyError:
        source.close()
        raise


def _check_frame(config: CameraConfig, size: tuple[int, int], name: str) -> None:
    """Refuse a video its config's lines and zones were not drawn on: they are in the config's pixels, so
    on a picture of another size they count where nothing is, or nothing at all, and report zeros that
    look like data (the config written for a 768x576 camera on a 544x360 one counted nothing, exit 0)."""
    width, height = size
    if config.source.frame_size is not None and tuple(config.source.frame_size) != (width, height):
        w, h = config.source.frame_size
        raise ConfigError(
            f"{name}: the video is {width}x{height}, but [source] frame_size is {w}x{h}: the lines and zones "
            "are in the pixels of the picture they were drawn on; draw them on this camera's picture"
        )
    points = [(f"lines[{line.name}]", p) for line in config.lines for p in (line.p1, line.p2)]
    points += [(f"zones[{zone.name}]", p) for zone in config.zones for p in zone.polygon]
    outside = [f"{at} {list(p)}" for at, p in points if not (0 <= p[0] <= width and 0 <= p[1] <= height)]
    if outside:
        raise ConfigError(
            f"{name}: the video is {width}x{height}, and {', '.join(outside[:3])}"
            f"{' and more' if len(outside) > 3 else ''} lie outside it: draw them on this camera's picture"
        )


def write_summary(path: Path, result: RunResult) -> None:
    """Write ``summary.json`` atomically (a reader never sees half a file)."""
    import json

    partial = path.with_name(path.name + ".part")
    partial.write_text(json.dumps(result.summary(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    partial.replace(path)


class _FinishedRun:
    """A finished run's ``events.jsonl`` and ``summary.json`` in ``out``, kept while another run goes: set
    aside in ``out/.citytally-previous/`` when it starts, dropped when it ends, put back when it is
    interrupted (its own go to ``out/interrupted/``). A run killed outright leaves them set aside, where the
    next run that starts finds them and keeps them as well. Only those two files are ever moved or
    deleted: whatever else is in those folders is the user's."""

    NAMES = ("events.jsonl", "summary.json")

    def __init__(self, out: Path) -> None:
        self.out, self.aside = out, out / ".citytally-previous"

    def set_aside(self) -> None:
        if not _is_finished(self.out / "summary.json"):
            return  # nothing finished here (or one set aside by a run killed outright: it stays there)
        self.aside.mkdir(exist_ok=True)
        for name in self.NAMES:
            if (self.out / name).exists():
                (self.out / name).replace(self.aside / name)

    def run_ended(self, interrupted: bool) -> Path | None:
        """Drop the finished run kept (this one replaces it) or, when this one was interrupted, put it back
        and return where this one's went."""
        if not _is_finished(self.aside / "summary.json"):
            return None
        if interrupted:
            partial = self.out / "interrupted"
            partial.mkdir(exist_ok=True)
            for name in self.NAMES:
                if (self.out / name).exists():
                    (self.out / name).replace(partial / name)
                if (self.aside / name).exists():
                    (self.aside / name).replace(self.out / name)
        for name in self.NAMES:
            (self.aside / name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # not empty: the user's files stay
            self.aside.rmdir()
        return partial if interrupted else None


def _is_finished(summary: Path) -> bool:
    """Whether ``summary`` is a run's that ended (complete, or the end of a damaged file), not one cut
    short."""
    import json

    try:
        body = json.loads(summary.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(body, dict) and (body.get("complete") is True or body.get("error") is not None)


def analyze_video(
    video: str | Path | Sequence[str | Path],
    config: Path | CameraConfig,
    out: Path,
    options: PipelineOptions | None = None,
    also: Publisher | None = None,
    keep_finished: bool = False,
) -> RunResult:
    """``citytally analyze``: run one video through the pipeline into ``out/events.jsonl`` and
    ``out/summary.json``. The summary is written even when the file turns out to be damaged.

    ``config`` is a camera config file or an already loaded one; ``also`` receives every event too (the
    demo hands them to its embedded hub). ``keep_finished``: a finished run already in ``out`` stays there
    if this one is interrupted (see :class:`_FinishedRun`); without it a run always replaces it."""
    from citytally.edge.config import load_camera_config
    from citytally.transport.publisher import FanoutPublisher, JsonlPublisher

    if isinstance(config, Path):
        config = load_camera_config(config)
    if config.incidents.snapshots:
        # The operator turned snapshots on for this camera: they go beside its events, masked.
        options = replace(options or PipelineOptions(), snapshots=out / "snapshots")
    events_path = out / "events.jsonl"

    finished = _FinishedRun(out) if keep_finished else None

    def open_events() -> Publisher:
        out.mkdir(parents=True, exist_ok=True)
        if finished is not None:
            finished.set_aside()
        # A re-run replaces the previous run's events rather than appending a second copy.
        events_path.unlink(missing_ok=True)
        jsonl = JsonlPublisher(events_path)
        return jsonl if also is None else FanoutPublisher(jsonl, also)

    try:
        pipeline = build_pipeline(config, open_events, options, video)
    except OSError as exc:
        where = exc.filename or out
        raise ConfigError(f"{where}: cannot write the output directory: {exc.strerror or exc}") from exc
    result = pipeline.run()
    try:
        write_summary(out / "summary.json", result)
    except OSError as exc:
        refused = StoreError(f"{out / 'summary.json'}: cannot write the summary: {exc.strerror or exc}")
        raise (refused if result.error is None else CitytallyError(f"{result.error}; {refused}")) from exc
    if finished is not None:
        try:
            result.set_aside = finished.run_ended(result.interrupted)
        except OSError as exc:
            where = exc.filename or out
            raise StoreError(
                f"{where}: {exc.strerror or exc}: this run's events and summary stay in {out}, the finished "
                f"run before it in {finished.aside}"
            ) from exc
    return result
