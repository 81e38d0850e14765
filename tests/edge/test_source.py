"""Video sources on real footage: files, damaged files, HTTP streams served on loopback, reconnects."""

from __future__ import annotations

import logging
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from citytally.edge.source import (
    Frame,
    FrameListSource,
    Reconnect,
    VideoSource,
    _RateSampler,
    open_source,
)
from citytally.errors import ConfigError, SourceError

VTEST_FRAMES = 795


# --- unit: backoff, sampling (URL redaction: tests/test_redaction.py) ----------------------------------


@pytest.mark.parametrize(
    ("kwargs", "delays", "error"),
    [
        ({"initial_delay_s": 0.5, "max_delay_s": 3, "factor": 2, "max_attempts": 5}, [0.5, 1, 2, 3, 3], None),
        ({"initial_delay_s": 1, "max_delay_s": 1, "factor": 1, "max_attempts": 2}, [1, 1], None),
        ({"max_attempts": 0}, [], None),
        ({"initial_delay_s": 0}, None, "initial_delay_s"),
        ({"initial_delay_s": 5, "max_delay_s": 2}, None, "max_delay_s"),
        ({"factor": 0.5}, None, "factor"),
        ({"max_attempts": -1}, None, "max_attempts"),
    ],
)
def test_reconnect_backoff(kwargs: dict[str, Any], delays: list[float] | None, error: str | None) -> None:
    if error is not None:
        with pytest.raises(ConfigError, match=error):
            Reconnect(**kwargs)
        return
    assert list(Reconnect(**kwargs).delays()) == delays


@pytest.mark.parametrize(
    ("native_fps", "target_fps", "seconds", "expected"),
    [
        (25.0, 10.0, 10, 100),
        (25.0, None, 2, 50),
        (25.0, 25.0, 2, 50),
        (25.0, 50.0, 2, 50),
        (10.0, 4.0, 10, 40),
        (30.0, 1.0, 5, 5),
        (29.97, 10.0, 10, 100),
    ],
)
def test_rate_sampler_picks_evenly(
    native_fps: float, target_fps: float | None, seconds: int, expected: int
) -> None:
    sampler = _RateSampler(target_fps, native_fps)
    picked = [i / native_fps for i in range(round(seconds * native_fps)) if sampler.keep(i / native_fps)]
    assert len(picked) == expected
    if target_fps is not None and target_fps < native_fps:
        gaps = np.diff(picked)
        assert gaps.min() >= 1 / target_fps - 1 / native_fps


def test_rate_sampler_restarts_after_a_gap() -> None:
    sampler = _RateSampler(5.0, 25.0)
    kept = [t for t in (0.0, 0.04, 0.2, 10.0, 10.04, 10.2) if sampler.keep(t)]
    assert kept == [0.0, 0.2, 10.0, 10.2]


def test_frame_list_source_is_a_video_source() -> None:
    images = [np.full((4, 6, 3), i, np.uint8) for i in range(3)]
    source = FrameListSource(images, fps=5.0)
    assert isinstance(source, VideoSource)
    assert source.size == (6, 4)
    assert [(f.index, f.pts_seconds) for f in source] == [(0, 0.0), (1, 0.2), (2, 0.4)]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"target_fps": 0}, "target_fps"), ({"target_fps": -5}, "target_fps"), ({"timeout_s": 0}, "timeout_s")],
)
def test_open_source_rejects_bad_settings(tmp_path: Path, kwargs: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        open_source(tmp_path / "x.avi", **kwargs)


# --- files ------------------------------------------------------------------------------------------------


def _read(source: VideoSource) -> tuple[list[Frame], SourceError | None]:
    """Every frame a source yields and the error it raises at the end, if any."""
    frames: list[Frame] = []
    try:
        for frame in source:
            frames.append(Frame(frame.index, frame.pts_seconds, frame.image[:2, :2].copy()))
    except SourceError as exc:
        return frames, exc
    return frames, None


@pytest.mark.integration
def test_vtest_file_every_frame(vtest_path: Path) -> None:
    with open_source(vtest_path) as source:
        assert (source.fps, source.size) == (10.0, (768, 576))
        first = next(iter(source))
        assert first.image.shape == (576, 768, 3) and first.image.dtype == np.uint8
        assert first.image.flags.c_contiguous
    frames, error = _read(open_source(vtest_path))
    assert error is None
    assert len(frames) == VTEST_FRAMES
    assert [f.index for f in frames] == list(range(VTEST_FRAMES))
    assert frames[-1].pts_seconds == pytest.approx(79.4)


@pytest.mark.integration
@pytest.mark.parametrize(("target_fps", "expected"), [(4.0, 318), (5.0, 398), (10.0, 795), (25.0, 795)])
def test_vtest_target_rate(vtest_path: Path, target_fps: float, expected: int) -> None:
    frames, error = _read(open_source(vtest_path, target_fps=target_fps))
    assert error is None
    assert len(frames) == expected
    pts = np.array([f.pts_seconds for f in frames])
    assert np.diff(pts).min() >= 1 / target_fps - 0.05 - 1e-9
    assert frames[-1].index <= VTEST_FRAMES - 1


@pytest.fixture
def damaged(tmp_path: Path, vtest_path: Path) -> dict[str, Path]:
    size = vtest_path.stat().st_size
    truncated = tmp_path / "truncated.avi"
    truncated.write_bytes(vtest_path.read_bytes()[: size // 2])
    corrupt = tmp_path / "corrupt.avi"
    shutil.copy(vtest_path, corrupt)
    with corrupt.open("r+b") as f:
        f.seek(size // 2)
        f.write(np.random.default_rng(7).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    return {"truncated": truncated, "corrupt": corrupt}


@pytest.mark.integration
@pytest.mark.parametrize(
    ("kind", "min_frames", "max_frames"), [("truncated", 350, 450), ("corrupt", 350, 794)]
)
def test_damaged_file_yields_good_frames_then_one_line_error(
    damaged: dict[str, Path], kind: str, min_frames: int, max_frames: int
) -> None:
    source = open_source(damaged[kind])
    frames, error = _read(source)
    assert min_frames <= len(frames) <= max_frames
    assert [f.index for f in frames] == list(range(len(frames)))
    assert error is not None and source.error is error
    message = str(error)
    assert "\n" not in message
    assert message.startswith(str(damaged[kind]))
    assert f"only {len(frames)} of {VTEST_FRAMES} frames decodable" in message


@pytest.mark.parametrize(("name", "problem"), [("missing.avi", "no such file"), ("", "is not a file")])
def test_missing_file_is_a_one_line_error(tmp_path: Path, name: str, problem: str) -> None:
    with pytest.raises(SourceError, match=f"^{tmp_path / name if name else tmp_path}: {problem}$"):
        open_source(tmp_path / name)


@pytest.mark.integration
def test_file_that_is_not_video(tmp_path: Path) -> None:
    junk = tmp_path / "notes.avi"
    junk.write_text("not a video\n" * 100)
    with pytest.raises(SourceError, match=f"^{junk}: cannot open: ") as info:
        open_source(junk)
    assert "\n" not in str(info.value)
    # FFmpeg's words, not PyAV's "[Errno 1094995529]" and the path a second time
    assert "Errno" not in str(info.value) and str(info.value).count(str(junk)) == 1


# --- HTTP streams on loopback -----------------------------------------------------------------------------


class _Camera:
    """A camera on loopback streaming ``payload`` without a length, like a live source.

    With ``drop_after`` it goes away that many bytes into its first connection: it stops listening
    *before* it drops the connection, so the viewer's first reconnect attempts are refused. With ``hang``
    as well it keeps that connection open instead, sending nothing more, until ``released`` is set.
    """

    def __init__(self, payload: bytes, drop_after: int | None, hang: bool = False) -> None:
        self.payload = payload
        self.drop_after = drop_after
        self.hang = hang
        self.gone = threading.Event()
        self.released = threading.Event()
        self._running = _serve(self._handler())
        self.port = self._running[0].server_address[1]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "video/x-msvideo")
                self.end_headers()
                drop = camera.drop_after is not None and not camera.gone.is_set()
                end = camera.drop_after if drop and camera.drop_after else len(camera.payload)
                try:
                    for start in range(0, end, 65536):
                        self.wfile.write(camera.payload[start : min(start + 65536, end)])
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    return
                if drop and camera.hang:
                    camera.gone.set()
                    camera.released.wait(60)
                elif drop:
                    _stop(*camera._running)  # another thread than serve_forever's, so this cannot deadlock
                    camera.gone.set()

            def log_message(self, format: str, *args: Any) -> None:
                """Keep the test output quiet."""

        return Handler

    def restart(self) -> None:
        """Come back on the same port, streaming the whole payload."""
        self._running = _serve(self._handler(), self.port)

    def stop(self) -> None:
        _stop(*self._running)


def _serve(handler: Any, port: int = 0) -> tuple[ThreadingHTTPServer, threading.Thread]:
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def _stop(server: ThreadingHTTPServer, thread: threading.Thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def file_server(vtest_path: Path, tmp_path: Path) -> Iterator[str]:
    shutil.copy(vtest_path, tmp_path / "vtest.avi")
    server, thread = _serve(partial(SimpleHTTPRequestHandler, directory=str(tmp_path)))
    yield f"http://127.0.0.1:{server.server_address[1]}"
    _stop(server, thread)


@pytest.mark.integration
def test_http_file_stream(file_server: str) -> None:
    source = open_source(f"{file_server}/vtest.avi", target_fps=5)
    assert (source.fps, source.size) == (10.0, (768, 576))
    assert not source.live  # type: ignore[attr-defined]
    frames, error = _read(source)
    assert error is None
    assert len(frames) == 398


@pytest.mark.integration
def test_http_not_found_is_a_one_line_error(file_server: str) -> None:
    with pytest.raises(SourceError, match=r"^http://127\.0\.0\.1:\d+/nothing\.avi: cannot open: .*404"):
        open_source(f"{file_server}/nothing.avi")


class _LogWatch(logging.Handler):
    """Sets ``seen`` when a log message contains ``text``."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.WARNING)
        self.text = text
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


@pytest.mark.integration
def test_live_stream_drop_is_reconnected_with_backoff(
    vtest_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    payload = vtest_path.read_bytes()
    camera = _Camera(payload, drop_after=len(payload) * 2 // 5)

    refused = _LogWatch("reconnect attempt 2 failed")

    def restart_later() -> None:
        if refused.seen.wait(60):  # the source has really met a closed port, twice
            camera.restart()

    logging.getLogger("citytally.edge.source").addHandler(refused)
    controller = threading.Thread(target=restart_later, daemon=True)
    controller.start()
    url = f"http://viewer:hunter2@127.0.0.1:{camera.port}/live.avi?token=s3cret"
    policy = Reconnect(initial_delay_s=0.1, max_delay_s=1.0, factor=2.0, max_attempts=8)
    caplog.set_level(logging.WARNING, logger="citytally.edge.source")
    source = open_source(url, live=True, reconnect=policy, timeout_s=5)
    frames: list[Frame] = []
    try:
        for frame in source:
            frames.append(frame)
            if len(frames) >= 600:  # well past the ~320 frames sent before the drop
                source.close()
    finally:
        logging.getLogger("citytally.edge.source").removeHandler(refused)
        controller.join(10)
        camera.stop()
    assert source.error is None
    assert len(frames) == 600
    assert [f.index for f in frames] == list(range(600))
    assert np.all(np.diff([f.pts_seconds for f in frames]) > 0)
    log_text = caplog.text
    assert "live stream lost" in log_text and "reconnected on attempt" in log_text
    assert "reconnect attempt 2 failed" in log_text and "reconnected on attempt 3" in log_text
    for secret in ("viewer", "hunter2", "s3cret"):
        assert secret not in log_text and secret not in source.name


@pytest.mark.integration
def test_a_live_streams_time_goes_on_by_as_long_as_it_was_away(vtest_path: Path) -> None:
    """The frames after a reconnect took up the stream's time where it had stopped: an edge stamped
    everything after an outage as many seconds early as the outage lasted (five minutes away, five minutes
    early, for the rest of the run, and more after each outage)."""
    payload = vtest_path.read_bytes()
    camera = _Camera(payload, drop_after=len(payload) * 2 // 5)

    def back_after_3_s() -> None:
        if camera.gone.wait(60):
            time.sleep(3.0)
            camera.restart()

    controller = threading.Thread(target=back_after_3_s, daemon=True)
    controller.start()
    policy = Reconnect(initial_delay_s=0.1, max_delay_s=0.5, factor=2.0, max_attempts=40)
    source = open_source(f"http://127.0.0.1:{camera.port}/live.avi", live=True, reconnect=policy, timeout_s=5)
    frames: list[Frame] = []
    try:
        for frame in source:
            frames.append(frame)
            if len(frames) >= 450:  # past the ~320 frames sent before the drop
                source.close()
    finally:
        controller.join(10)
        camera.stop()
    steps = np.diff([f.pts_seconds for f in frames])
    assert np.all(steps > 0)
    jump = int(np.argmax(steps))
    assert 250 < jump < 400, "the largest step is at the reconnect"
    # Measured from when the reader took the last frame: one running behind under load (two test suites on
    # two cores) took it up to 0.7 s late, so the outage reads that much shorter; no jump at all is 0.1 s.
    assert steps[jump] >= 2.0, f"the stream was away 3 s; its time went on by {steps[jump]:.2f} s"
    assert np.all(np.delete(steps, jump) < 0.2), "elsewhere the stream's own time (10 fps)"


@pytest.mark.integration
def test_live_stream_gives_up_after_max_attempts(vtest_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    payload = vtest_path.read_bytes()
    camera = _Camera(payload, drop_after=len(payload) // 10)
    port = camera.port
    url = f"rtsp-over-http-user:pw123@127.0.0.1:{port}"
    policy = Reconnect(initial_delay_s=0.05, max_delay_s=0.2, factor=2.0, max_attempts=4)
    caplog.set_level(logging.WARNING, logger="citytally.edge.source")
    source = open_source(f"http://{url}/live.avi", live=True, reconnect=policy, timeout_s=5)
    started = time.monotonic()
    frames, error = _read(source)
    assert camera.gone.is_set()
    assert 40 <= len(frames) < VTEST_FRAMES
    assert error is not None
    assert str(error).startswith(
        f"http://***@127.0.0.1:{port}/live.avi: live stream lost; gave up after 4 reconnect attempts (cannot"
    )
    assert "\n" not in str(error)
    assert time.monotonic() - started >= 0.05 + 0.1 + 0.2 + 0.2
    waits = [
        r.args[-1]
        for r in caplog.records
        if isinstance(r.args, tuple) and r.getMessage().startswith(f"{source.name}: reconnect attempt")
    ]
    assert [w for w in waits if isinstance(w, float)] == [0.05, 0.1, 0.2, 0.2]
    assert "pw123" not in caplog.text and "pw123" not in str(error)


@pytest.mark.integration
def test_a_stream_that_stalls_midway_is_said_to_have_sent_nothing_for_the_timeout(
    vtest_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A camera that keeps its connection open but stops sending was reported as lost with FFmpeg's
    "Immediate exit requested" (what PyAV's read timeout is called there): now with how long it was
    silent."""
    payload = vtest_path.read_bytes()
    camera = _Camera(payload, drop_after=len(payload) // 5, hang=True)
    lost = _LogWatch("live stream lost")
    logging.getLogger("citytally.edge.source").addHandler(lost)
    caplog.set_level(logging.WARNING, logger="citytally.edge.source")
    policy = Reconnect(initial_delay_s=30, max_delay_s=60)
    source = open_source(f"http://127.0.0.1:{camera.port}/live.avi", live=True, reconnect=policy, timeout_s=2)
    reader = threading.Thread(target=_read, args=(source,), daemon=True)
    try:
        reader.start()
        assert lost.seen.wait(60), caplog.text
    finally:
        source.close()
        camera.released.set()
        reader.join(10)
        logging.getLogger("citytally.edge.source").removeHandler(lost)
        camera.stop()
    said = [r.getMessage() for r in caplog.records if "live stream lost" in r.getMessage()]
    stalled = r"lost after frame \d+ \(read error after frame \d+: no data within 2 s\); reconnecting$"
    assert len(said) == 1 and re.search(stalled, said[0]), said
    assert "Immediate exit" not in caplog.text


@pytest.mark.integration
def test_close_from_another_thread_stops_a_reconnecting_source(vtest_path: Path) -> None:
    payload = vtest_path.read_bytes()
    camera = _Camera(payload, drop_after=len(payload) // 10)
    source = open_source(
        f"http://127.0.0.1:{camera.port}/live.avi",
        live=True,
        reconnect=Reconnect(initial_delay_s=30, max_delay_s=60),
    )

    def kill_then_close() -> None:
        camera.gone.wait(60)
        time.sleep(0.5)  # the source is now waiting 30 s before its first attempt
        source.close()

    closer = threading.Thread(target=kill_then_close, daemon=True)
    closer.start()
    started = time.monotonic()
    frames, error = _read(source)
    closer.join(10)
    assert error is None and frames
    assert time.monotonic() - started < 20


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.integration
@pytest.mark.parametrize("scheme", ["http", "rtsp"])
def test_unreachable_stream_is_a_redacted_one_line_error(
    scheme: str, caplog: pytest.LogCaptureFixture
) -> None:
    port = _closed_port()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SourceError) as info:
        open_source(f"{scheme}://admin:hunter2@127.0.0.1:{port}/cam1", timeout_s=3)
    message = str(info.value)
    assert message.startswith(f"{scheme}://***@127.0.0.1:{port}/cam1: cannot open: ")
    assert "refused" in message.lower() and "\n" not in message
    assert "hunter2" not in message and "admin" not in message and "hunter2" not in caplog.text
