"""RTSP sources against a real RTSP server (GStreamer's, see tools/rtsp_camera.py) on loopback.

The camera asks for basic authentication, so these also check that the credentials in the URL reach the
server and never reach a log line, an error or the source's name.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from citytally.edge.source import Frame, Reconnect, open_source
from citytally.errors import SourceError

CAMERA_SCRIPT = Path(__file__).with_name("tools") / "rtsp_camera.py"
SYSTEM_PYTHON = "/usr/bin/python3"
USER, PASSWORD = "viewer", "hunter2"

# Each test takes seconds; a stream that cannot be closed (see source.py, thread_type) must fail fast.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


class _RtspCamera:
    """GStreamer's RTSP server in a child process, which can be killed and started again on its port."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._process: subprocess.Popen[str] | None = None
        self.start()

    def url(self, password: str = PASSWORD) -> str:
        return f"rtsp://{USER}:{password}@127.0.0.1:{self.port}/cam"

    def start(self) -> None:
        process = subprocess.Popen(
            [SYSTEM_PYTHON, str(CAMERA_SCRIPT), str(self.port), USER, PASSWORD],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if line != "ready":
            process.kill()
            rest = process.communicate(timeout=10)[0]
            pytest.fail(
                f"the RTSP test camera did not start ({line} {rest.strip()}); "
                "scripts/setup-system.sh installs GStreamer's RTSP server"
            )
        self._process = process

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.communicate(timeout=10)
            self._process = None


@pytest.fixture
def camera() -> Iterator[_RtspCamera]:
    if not Path(SYSTEM_PYTHON).exists():
        pytest.fail(f"{SYSTEM_PYTHON} is missing: the RTSP test camera runs on Debian's Python")
    running = _RtspCamera()
    yield running
    running.kill()


def test_rtsp_stream_with_credentials(camera: _RtspCamera, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    frames: list[Frame] = []
    with open_source(camera.url(), timeout_s=10) as source:
        assert source.live  # type: ignore[attr-defined]
        assert (source.fps, source.size) == (10.0, (320, 240))
        for frame in source:
            frames.append(frame)
            if len(frames) == 30:
                break
    assert [f.index for f in frames] == list(range(30))
    assert np.all(np.diff([f.pts_seconds for f in frames]) > 0)
    assert frames[-1].image.shape == (240, 320, 3)
    # The test picture's ball moves: the stream is live video, not a repeated still.
    assert np.abs(frames[-1].image.astype(int) - frames[0].image.astype(int)).mean() > 1
    assert PASSWORD not in caplog.text and USER not in source.name


def test_rtsp_wrong_password_is_a_redacted_one_line_error(camera: _RtspCamera) -> None:
    with pytest.raises(SourceError) as info:
        open_source(camera.url(password="wrong-pw"), timeout_s=10)
    message = str(info.value)
    assert message.startswith(f"rtsp://***@127.0.0.1:{camera.port}/cam: cannot open: ")
    assert "401" in message or "unauthorized" in message.lower()
    assert "wrong-pw" not in message and "\n" not in message


@pytest.mark.timeout(90)
def test_rtsp_camera_restart_is_reconnected(camera: _RtspCamera, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="citytally.edge.source")
    policy = Reconnect(initial_delay_s=0.2, max_delay_s=1.0, factor=2.0, max_attempts=10)
    source = open_source(camera.url(), reconnect=policy, timeout_s=3)
    restarted = threading.Event()

    def power_cycle() -> None:
        camera.kill()
        time.sleep(2.0)  # long enough for the source to notice and fail a reconnect attempt
        camera.start()
        restarted.set()

    frames: list[Frame] = []
    came: list[float] = []  # monotonic time each frame came
    cycler: threading.Thread | None = None
    try:
        for frame in source:
            frames.append(frame)
            came.append(time.monotonic())
            if len(frames) == 20:
                cycler = threading.Thread(target=power_cycle, daemon=True)
                cycler.start()
            if (restarted.is_set() and len(frames) >= 40) or len(frames) >= 600:
                break
    finally:
        source.close()
        if cycler is not None:
            cycler.join(30)
    assert source.error is None
    assert restarted.is_set() and len(frames) >= 40
    assert [f.index for f in frames] == list(range(len(frames)))
    # The stream's time goes on by as long as the camera was away (2 s and its restart), so what comes
    # after is stamped when it happened; before, it went on by one frame, the outage's length early.
    steps = np.diff([f.pts_seconds for f in frames])
    jump = int(np.argmax(np.diff(came)))
    away = came[jump + 1] - came[jump]
    assert away > 2.0
    assert steps[jump] > away - 1.0, f"away {away:.1f} s; the stream's time went on by {steps[jump]:.2f} s"
    log_text = caplog.text
    assert "live stream lost" in log_text and "reconnected on attempt" in log_text
    assert "the stream was away" in log_text
    assert PASSWORD not in log_text and USER not in log_text


CITYTALLY = Path(sys.executable).with_name("citytally")
CAMERA_TOML = """
site = "street"
camera = "rtsp-cam"
interval_seconds = 60
[source]
uri = "rtsp://placeholder/cam"
[[lines]]
name = "middle"
p1 = [160, 0]
p2 = [160, 240]
directions = ["westbound", "eastbound"]
"""


def _analyze(url: str, out: Path, config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(CITYTALLY), "analyze", url, "--config", str(config), "--out", str(out), "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_analyze_reads_a_live_rtsp_camera_and_never_prints_its_password(
    camera: _RtspCamera, tmp_path: Path
) -> None:
    """``citytally analyze rtsp://user:pass@host/...`` as a user types it: the URL reaches the camera intact
    (it used to be taken for a path, ``//`` becoming ``/``), frames are analysed until Ctrl-C, and the
    password appears nowhere: not on stdout or stderr, not in the summary or the events."""
    config = tmp_path / "camera.toml"  # with a start time left from a recording: said, as it stamps so
    config.write_text(CAMERA_TOML.replace("[source]", "start_time = 2026-11-23T08:00:00Z\n[source]", 1))
    run = _analyze(camera.url(), tmp_path / "out", config)
    summary = tmp_path / "out" / "summary.json"
    # The events file is made once the stream is open (the pipeline is built); then a few seconds of frames.
    deadline = time.monotonic() + 90
    while not (tmp_path / "out" / "events.jsonl").exists() and run.poll() is None:
        assert time.monotonic() < deadline, "the stream was not opened within 90 s"
        time.sleep(0.2)
    time.sleep(4)
    run.send_signal(signal.SIGINT)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 130, stderr
    assert "a live stream, but the config's start_time stamps it as a recording" in stderr
    body = json.loads(summary.read_text())
    assert body["frames_analysed"] >= 10 and body["complete"] is False
    events = (tmp_path / "out" / "events.jsonl").read_text()
    for text in (stdout, stderr, summary.read_text(), events):
        assert PASSWORD not in text

    wrong = _analyze(camera.url(password="wrong-secret"), tmp_path / "out2", config)
    stdout, stderr = wrong.communicate(timeout=60)
    assert wrong.returncode == 2
    assert f"rtsp://***@127.0.0.1:{camera.port}/cam" in stderr
    assert "wrong-secret" not in stdout + stderr
