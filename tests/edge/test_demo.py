"""The demo: its wiring (a real clip through the pipeline into the embedded store) and what it prints."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import av
import pytest
import sqlalchemy as sa

from citytally.demo import HUB_DATABASE, run_demo

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clip(vtest_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 15 seconds of vtest.avi, re-encoded (a short real clip keeps the test quick)."""
    path = tmp_path_factory.mktemp("clip") / "vtest-15s.mp4"
    with av.open(str(vtest_path)) as source, av.open(str(path), "w") as sink:
        stream = sink.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 768, 576, "yuv420p"
        for index, frame in enumerate(source.decode(video=0)):
            if index == 150:
                break
            sink.mux(stream.encode(frame.reformat(format="yuv420p")))
        sink.mux(stream.encode(None))
    return path


@pytest.mark.integration
def test_demo_stores_every_event_in_the_hub(clip: Path, tmp_path: Path) -> None:
    result = run_demo(out=tmp_path, video=clip, progress=False, serve=False)

    assert result.error is None and result.frames == 150
    lines = (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines, "the clip produced no events"
    ids = {json.loads(line)["id"] for line in lines}
    engine = sa.create_engine(f"sqlite:///{tmp_path / HUB_DATABASE}")
    try:
        with engine.connect() as conn:
            stored = {str(row[0]).replace("-", "") for row in conn.execute(sa.text("SELECT id FROM events"))}
    finally:
        engine.dispose()
    assert stored == {i.replace("-", "") for i in ids}
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert set(summary["lines"]) == {"path-west", "path-east"}


#: A row of the line-crossings table ``citytally demo`` prints (and README shows): line, direction, class, n.
_COUNT_ROW = re.compile(r"│\s*(path-\w+)\s*│\s*(\w+bound)\s*│\s*([a-z]+)\s*│\s*(\d+)\s*│")


def _count_rows(text: str) -> list[tuple[str, str, str, int]]:
    return [(line, direction, cls, int(n)) for line, direction, cls, n in _COUNT_ROW.findall(text)]


@pytest.mark.integration
@pytest.mark.timeout(1800)  # one full pass of vtest.avi: about a minute of CPU, far more on a loaded runner
def test_the_demo_prints_the_counts_the_readme_shows(vtest_path: Path, tmp_path: Path) -> None:
    """``citytally demo`` on the whole vtest.avi, run as a user runs it: the printed crossings are exactly
    README's (7 west- and 5 eastbound on path-west, 18 and 15 on path-east)."""
    shown = _count_rows((REPO / "README.md").read_text(encoding="utf-8"))
    assert shown == [
        ("path-west", "westbound", "person", 7),
        ("path-west", "eastbound", "person", 5),
        ("path-east", "westbound", "person", 18),
        ("path-east", "eastbound", "person", 15),
    ], "README's demo table changed: update this test with the counts the demo really prints"
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("citytally")),
            "demo",
            "--out", str(tmp_path),
            "--video", str(vtest_path),
            "--config", str(REPO / "examples" / "vtest.toml"),
            "--no-progress",
            "--no-serve",
        ],
        capture_output=True,
        text=True,
        timeout=1700,
        env={**os.environ, "COLUMNS": "100"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert _count_rows(done.stdout) == shown, done.stdout


def _demo(clip: Path, out: Path, *more: str) -> subprocess.Popen[str]:
    command = [
        str(Path(sys.executable).with_name("citytally")),
        "demo",
        "--out",
        str(out),
        "--video",
        str(clip),
    ]
    command += ["--no-progress", "--no-simulated-day", *more]
    env = {**os.environ, "COLUMNS": "100"}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_a_service_managers_stop_ends_the_demo_as_ctrl_c_does(clip: Path, tmp_path: Path) -> None:
    """``docker stop`` (SIGTERM) killed the demo at once, mid-analysis or while serving, without a word.
    Serving, it now stops as Ctrl-C stops it (exit 0, "stopped"); analysing, it keeps what was counted,
    serves nothing and exits 143."""
    import signal
    import time

    serving = _demo(clip, tmp_path / "serving", "--serve-for", "300")
    assert serving.stdout is not None
    printed = []
    for line in serving.stdout:  # until it serves
        printed.append(line)
        if "public register:" in line:
            break
    assert any("public register:" in line for line in printed), "".join(printed)
    serving.send_signal(signal.SIGTERM)
    rest, _ = serving.communicate(timeout=30)
    assert serving.returncode == 0 and "stopped" in rest, "".join(printed) + rest

    # the stopped vehicle's onset (raised 5.8 s into the video) is the first event on disk: counting
    analysing = _demo(clip, tmp_path / "analysing", "--config", str(REPO / "examples" / "vtest.toml"))
    events = tmp_path / "analysing" / "events.jsonl"
    deadline = time.monotonic() + 300
    while not (events.exists() and events.stat().st_size > 0):  # counting: its first interval is out
        assert analysing.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    analysing.send_signal(signal.SIGTERM)
    output, _ = analysing.communicate(timeout=60)
    assert analysing.returncode == 143, output
    assert "public register:" not in output and "Traceback" not in output
    summary = json.loads((tmp_path / "analysing" / "summary.json").read_text(encoding="utf-8"))
    assert summary["complete"] is False and 0 < summary["frames_analysed"] < 150
