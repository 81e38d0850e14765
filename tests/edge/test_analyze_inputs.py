"""What ``citytally analyze`` accepts: several files or a glob as one stream, stream URLs as given.

Run as a user runs it (a subprocess of the installed command) on 12 s of the real vtest.avi, re-encoded to
H.264 MP4s with B-frames (so every file carries an edit list, as a camera's recordings often do).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from fractions import Fraction
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "examples" / "vtest.toml"
CITYTALLY = Path(sys.executable).with_name("citytally")
FIRST, LAST = 100, 220  # vtest frames 100..219: ten crossings of the two lines (tests/data)
SPLITS = (124, 171)  # people are on the lines here (tests/data: crossings at frames 125 and 174)


def _write(path: Path, images: list[Any]) -> Path:
    with av.open(str(path), "w", format="mp4", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 768, 576, "yuv420p"
        stream.options = {"preset": "ultrafast", "bf": "2", "crf": "18"}
        for i, image in enumerate(images):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def clips(vtest_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``whole``: the 12 s as one file; ``parts``: the same frames cut into three consecutive files."""
    with av.open(str(vtest_path)) as source:
        images = [
            f.to_ndarray(format="bgr24") for i, f in zip(range(LAST), source.decode(video=0), strict=False)
        ]
    images = images[FIRST:LAST]
    folder = tmp_path_factory.mktemp("clips")
    cuts = [0, *(s - FIRST for s in SPLITS), len(images)]
    parts = [
        _write(folder / f"cam-{n:02d}.mp4", images[a:b])
        for n, (a, b) in enumerate(zip(cuts, cuts[1:], strict=False))
    ]
    upside_down = _write(folder / "upside-down.mp4", [image[::-1] for image in images])
    return {
        "whole": _write(folder / "whole.mp4", images),
        "parts": parts,
        "folder": folder,
        "upside_down": upside_down,
    }


def analyze(out: Path, *inputs: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    done = subprocess.run(
        [str(CITYTALLY), "analyze", *inputs, "--config", str(CONFIG), "--out", str(out), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=500,
    )
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return done, summary


def counts(summary: dict[str, Any]) -> dict[tuple[str, str], int]:
    return {(line, d): sum(c.values()) for line, ds in summary["lines"].items() for d, c in ds.items()}


@pytest.fixture(scope="module")
def whole_run(clips: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    done, summary = analyze(tmp_path_factory.mktemp("whole"), str(clips["whole"]))
    assert done.returncode == 0, done.stderr
    assert "truncated or damaged" not in done.stderr  # the edit list is not damage
    assert summary["complete"] is True and summary["frames_analysed"] == LAST - FIRST
    assert summary["detection_quality"]["warning"] is None and "warning" not in done.stderr
    return summary


def test_consecutive_files_count_as_one_stream(
    clips: dict[str, Any], whole_run: dict[str, Any], tmp_path: Path
) -> None:
    done, summary = analyze(tmp_path / "joined", *map(str, clips["parts"]))
    assert done.returncode == 0, done.stderr
    assert summary["complete"] is True
    assert summary["frames_analysed"] == LAST - FIRST
    assert summary["duration_s"] == pytest.approx((LAST - FIRST) / 10)  # the clock runs on across files
    assert counts(summary) == counts(whole_run)
    assert sum(counts(summary).values()) >= 8
    # The same files analysed one by one lose the people on the line at each cut: the joining matters.
    apart = [analyze(tmp_path / f"apart-{n}", str(part))[1] for n, part in enumerate(clips["parts"])]
    separate = {key: sum(counts(s)[key] for s in apart) for key in counts(whole_run)}
    assert separate != counts(whole_run)


def test_glob_pattern_is_expanded_in_name_order(
    clips: dict[str, Any], whole_run: dict[str, Any], tmp_path: Path
) -> None:
    done, summary = analyze(tmp_path, str(clips["folder"] / "cam-*.mp4"))
    assert done.returncode == 0, done.stderr
    assert counts(summary) == counts(whole_run)
    assert summary["frames_analysed"] == LAST - FIRST


#: An MP4 header and nothing a reader can use ("moov atom not found").
UNREADABLE = b"\x00\x00\x00\x18ftypmp42" + bytes(4000)


def the_error(done: subprocess.CompletedProcess[str]) -> str:
    """The one error line of a failed run (exit status 2)."""
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("citytally: error:")]
    assert len(errors) == 1, done.stderr
    return errors[0]


def test_damaged_file_in_the_middle_is_reported_and_the_rest_analysed(
    clips: dict[str, Any], tmp_path: Path
) -> None:
    first, middle, last = clips["parts"]
    broken = tmp_path / "cam-01.mp4"
    broken.write_bytes(middle.read_bytes()[: middle.stat().st_size // 2])
    done, summary = analyze(tmp_path / "out", str(first), str(broken), str(last))
    assert str(broken) in the_error(done)
    assert summary["complete"] is False
    # Every frame of the whole files, and those of the broken one that can be read (here none: its index
    # was at the end).
    whole_frames = LAST - FIRST
    assert whole_frames - (SPLITS[1] - SPLITS[0]) <= summary["frames_analysed"] < whole_frames


def test_a_damaged_first_file_is_reported_and_the_rest_analysed(
    clips: dict[str, Any], tmp_path: Path
) -> None:
    """The first file of a sequence was opened before the others were looked at: a damaged one ended the
    run with nothing analysed, where one further on is skipped with the rest analysed."""
    first, middle, last = clips["parts"]
    broken = tmp_path / "cam-00.mp4"
    broken.write_bytes(UNREADABLE)
    done, summary = analyze(tmp_path / "out", str(broken), str(middle), str(last))
    assert str(broken) in the_error(done)
    assert summary["complete"] is False and summary["frames_analysed"] == LAST - SPLITS[0]


def test_a_file_that_cannot_be_opened_is_said_once(clips: dict[str, Any], tmp_path: Path) -> None:
    """A file of a sequence that does not open was said twice: by FFmpeg's own log line ("ERROR
    libav.mov,mp4,...: moov atom not found", from counting the frames for the progress bar) and by the
    error line, which says the same."""
    first, middle, last = clips["parts"]
    broken = tmp_path / "cam-01.mp4"
    broken.write_bytes(UNREADABLE)
    done, summary = analyze(tmp_path / "out", str(first), str(broken), str(last))
    assert "moov atom not found" in the_error(done)
    assert done.stderr.count("moov atom not found") == 1, done.stderr
    assert summary["frames_analysed"] == LAST - FIRST - (SPLITS[1] - SPLITS[0])


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (["{folder}/nothing-*.mp4"], "{folder}/nothing-*.mp4: no file matches this pattern"),
        (["{folder}/cam-00.mp4", "{folder}/missing.mp4"], "{folder}/missing.mp4: no such file"),
        (
            ["{folder}/cam-00.mp4", "rtsp://u:secret@127.0.0.1/cam"],
            "rtsp://***@127.0.0.1/cam: a stream URL must be the only input",
        ),
    ],
)
def test_bad_inputs_are_one_line(
    clips: dict[str, Any], tmp_path: Path, inputs: list[str], message: str
) -> None:
    folder = str(clips["folder"])
    done, _ = analyze(tmp_path, *(i.format(folder=folder) for i in inputs))
    assert done.returncode == 2
    assert f"citytally: error: {message.format(folder=folder)}" in done.stderr
    assert "secret" not in done.stderr + done.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_rtsp_url_is_not_a_path_and_its_password_is_never_printed(tmp_path: Path) -> None:
    port = _free_port()  # nothing listens there: the stream cannot be opened
    done, _ = analyze(tmp_path, f"rtsp://admin:hunter2@127.0.0.1:{port}/stream1")
    assert done.returncode == 2
    assert f"rtsp://***@127.0.0.1:{port}/stream1" in done.stderr  # '//' kept: it was tried as a URL
    assert "no such file" not in done.stderr
    assert "hunter2" not in done.stderr + done.stdout
    assert not (tmp_path / "events.jsonl").exists()


@pytest.fixture
def http_server(clips: dict[str, Any]) -> Iterator[str]:
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(clips["folder"])))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_url_is_read_as_a_stream(http_server: str, whole_run: dict[str, Any], tmp_path: Path) -> None:
    done, summary = analyze(tmp_path, f"{http_server}/whole.mp4?token=abc123")
    assert done.returncode == 0, done.stderr
    assert summary["frames_analysed"] == LAST - FIRST
    assert counts(summary) == counts(whole_run)
    assert "abc123" not in done.stderr + done.stdout


def test_unreliable_detections_are_warned_about(clips: dict[str, Any], tmp_path: Path) -> None:
    """A camera mounted upside down: the detector still finds boxes, but they never hold together as road
    users. The run completes and says so, on stderr and in the summary."""
    done, summary = analyze(tmp_path, str(clips["upside_down"]))
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("citytally: warning:")]
    assert len(warnings) == 1, done.stderr
    assert "detections look unreliable" in warnings[0]
    quality = summary["detection_quality"]
    assert quality["warning"] == warnings[0].removeprefix("citytally: warning: ")
    assert quality["detections"] > 200 and quality["tracked_share"] < 0.08
