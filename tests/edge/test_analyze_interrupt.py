"""Ctrl-C during ``citytally analyze`` (a real process, a real SIGINT): exit status 130, and what was
counted up to then is flushed: a summary marked incomplete, events that parse."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from citytally.events import parse_event

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
CITYTALLY = Path(sys.executable).with_name("citytally")


def _analyze(vtest_path: Path, config: Path, out: Path) -> subprocess.Popen[str]:
    command = [str(CITYTALLY), "analyze", str(vtest_path), "--config", str(config), "--fps", "2"]
    return subprocess.Popen(
        [*command, "--out", str(out), "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stopped(vtest_path: Path, config: Path, out: Path, stop: int) -> tuple[int, str, str]:
    """A run of ``analyze`` into ``out`` sent ``stop`` once it counts (its first events on disk, in a file
    written after it began): its exit status, stdout and stderr."""
    began = time.time_ns()
    process = _analyze(vtest_path, config, out)
    events, deadline = out / "events.jsonl", time.monotonic() + 300

    def counting() -> bool:
        try:
            return events.stat().st_mtime_ns > began and events.read_text().count("\n") > 0
        except FileNotFoundError:
            return False

    while not counting():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no event written within 300 s"
        time.sleep(0.1)
    process.send_signal(stop)
    stdout, stderr = process.communicate(timeout=120)
    return process.returncode, stdout, stderr


def test_ctrl_c_stops_analyze_with_status_130_and_a_flushed_summary(vtest_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = tmp_path / "vtest.toml"  # 5-second intervals and 2 frames/s: events on disk within seconds
    text = (REPO / "examples" / "vtest.toml").read_text()
    config.write_text(text.replace("interval_seconds = 60", "interval_seconds = 5", 1))
    # interrupted once the pipeline is counting: its first events are on disk
    status, stdout, stderr = _stopped(vtest_path, config, out, signal.SIGINT)
    assert status == 130, stderr
    assert "interrupted after" in stderr and "Traceback" not in stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is False and 0 < summary["frames_analysed"] < 160, summary
    written = [parse_event(json.loads(line)) for line in (out / "events.jsonl").read_text().splitlines()]
    assert len(written) == summary["events"] > 0
    assert f"analysed {summary['frames_analysed']} frames" in stdout


def test_an_interrupted_run_leaves_the_finished_run_it_would_replace(
    vtest_path: Path, tmp_path: Path
) -> None:
    """A re-run replaces what a run wrote, but Ctrl-C on one left its partial events and summary where a
    finished run had been: an hour's analysis lost to a second's mistake. The finished run stays; the
    interrupted one's go to OUT/interrupted/. Killed outright (no chance to put anything back), the
    finished run waits in OUT/.citytally-previous/, and the next run interrupted puts it back too. A folder
    of the user's named previous/ is left alone (the first version of this deleted it)."""
    out, config = tmp_path / "out", tmp_path / "vtest.toml"
    text = (REPO / "examples" / "vtest.toml").read_text()
    config.write_text(text.replace("interval_seconds = 60", "interval_seconds = 5", 1))
    (out / "previous").mkdir(parents=True)
    (out / "previous" / "notes.txt").write_text("the user's")
    (out / "previous" / "summary.json").write_text('{"complete": true}')  # an older run the user kept
    first = _analyze(vtest_path, config, out)
    _, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    finished = {name: (out / name).read_bytes() for name in ("events.jsonl", "summary.json")}
    assert json.loads(finished["summary.json"])["complete"] is True

    status, stdout, stderr = _stopped(vtest_path, config, out, signal.SIGINT)
    assert status == 130, stderr
    assert {name: (out / name).read_bytes() for name in finished} == finished
    partial = json.loads((out / "interrupted" / "summary.json").read_text())
    assert partial["complete"] is False and partial["frames_analysed"] > 0
    lines = (out / "interrupted" / "events.jsonl").read_text().splitlines()
    assert len([parse_event(json.loads(line)) for line in lines]) == partial["events"] > 0
    assert f"the finished run already in {out} is kept" in stderr and str(out / "interrupted") in stdout
    assert not (out / ".citytally-previous").exists()

    _stopped(vtest_path, config, out, signal.SIGKILL)
    assert (out / ".citytally-previous" / "summary.json").read_bytes() == finished["summary.json"]
    status, _, stderr = _stopped(vtest_path, config, out, signal.SIGINT)
    assert status == 130, stderr
    assert {name: (out / name).read_bytes() for name in finished} == finished
    assert not (out / ".citytally-previous").exists()
    assert (out / "previous" / "notes.txt").read_text() == "the user's"
    assert (out / "previous" / "summary.json").read_text() == '{"complete": true}'


def test_a_service_managers_stop_ends_an_edge_as_ctrl_c_does_and_keeps_the_open_interval(
    vtest_path: Path, tmp_path: Path
) -> None:
    """``systemctl stop`` and ``docker stop`` send SIGTERM: the edge died at once, without a word, and the
    interval it was counting never reached its outbox (up to 15 minutes of counts at 900 s). Now it stops
    as Ctrl-C does: the open interval is counted and kept in the outbox (the broker being down, nothing is
    sent), it says what it did, within docker's 10 s of grace, and exits 143 (128 + SIGTERM)."""
    import contextlib
    import sqlite3

    config = tmp_path / "vtest.toml"  # one interval for the whole run: nothing is written before the stop
    text = (REPO / "examples" / "vtest.toml").read_text()
    config.write_text(text.replace("interval_seconds = 60", "interval_seconds = 3600", 1))
    outbox = tmp_path / "outbox.sqlite3"
    command = [str(CITYTALLY), "edge", "-c", str(config), "--video", str(vtest_path)]
    process = subprocess.Popen(
        [*command, "--broker", "127.0.0.1:1", "--outbox", str(outbox)],  # no broker: the events stay queued
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(4)  # counting by now: it starts in about 2 s, and takes 15 s for the video's 795 frames
    assert process.poll() is None, process.communicate()
    stopped = time.monotonic()
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert time.monotonic() - stopped < 10, stderr[-2000:]
    assert process.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    assert "interrupted after" in stderr and "Traceback" not in stderr
    with contextlib.closing(sqlite3.connect(outbox)) as db:
        queued = [parse_event(row[0]) for row in db.execute("SELECT payload FROM outbox")]
    kinds = {event.type for event in queued}
    assert {"line_count", "zone_occupancy"} <= kinds, kinds  # the open interval, cut at the stop
    assert f"{len(queued)} still queued in {outbox}" in stdout


def _edge_on(url: str, tmp_path: Path) -> subprocess.Popen[str]:
    command = [str(CITYTALLY), "edge", "-c", str(REPO / "examples" / "vtest.toml"), "--video", url]
    return subprocess.Popen(
        [*command, "--broker", "127.0.0.1:1", "--outbox", str(tmp_path / "outbox.sqlite3")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_an_edge_waits_for_a_camera_that_is_down_when_it_starts_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """A service started while its camera reboots exited at once (exit 2): now it tries again with the
    reconnect backoff, saying so each time, until the camera answers or it is stopped."""
    with socket.socket() as closed:  # a port nothing listens on: the camera is down
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    process = _edge_on(f"rtsp://127.0.0.1:{port}/cam", tmp_path)
    time.sleep(5)
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr[-2000:]
    tries = [line for line in stderr.splitlines() if "cannot open" in line and "trying again in" in line]
    assert len(tries) >= 2 and "stopped before the video opened" in stderr and "Traceback" not in stderr


def test_ctrl_c_while_a_stream_is_being_opened_is_not_lost(tmp_path: Path) -> None:
    """A server that takes the connection and never answers: PyAV turned the KeyboardInterrupt raised
    while FFmpeg waited into "Immediate exit requested", so the edge reported a failed open (exit 2), and
    while reconnecting took it for a failed attempt and tried again, for good. Now it stops (130) by the
    open's 10 s timeout at the latest."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        process = _edge_on(f"http://127.0.0.1:{silent.getsockname()[1]}/live.ts", tmp_path)
        time.sleep(4)
        process.send_signal(signal.SIGINT)
        sent = time.monotonic()
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr[-2000:]
    assert time.monotonic() - sent < 15, stderr[-2000:]
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    ("summary", "finished"),
    [
        ({"complete": True, "error": None}, True),
        ({"complete": False, "error": "vtest.avi: damaged at 0:41"}, True),  # ended at the damage
        ({"complete": False, "error": None}, False),  # cut short
        ("not json", False),
    ],
)
def test_a_finished_run_is_one_that_ended_complete_or_at_damage(
    tmp_path: Path, summary: object, finished: bool
) -> None:
    from citytally.edge.pipeline import _is_finished

    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary) if isinstance(summary, dict) else str(summary))
    assert _is_finished(path) is finished
