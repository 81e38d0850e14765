"""Guards of "What citytally never does" (README) that a test can check, on real footage.

Each test would fail if the capability it guards were added: a network call during analysis, an
identifier or image riding along in the events, a detector class beyond road users, a dependency that
exists to recognise faces or read plates.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from citytally.edge.pipeline import PipelineOptions, analyze_video
from citytally.errors import ConfigError
from citytally.events import ROAD_USER_CLASSES, parse_event

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "examples" / "vtest.toml"

#: Packages whose purpose is identifying people or reading plates. citytally must never depend on them.
IDENTIFYING_PACKAGES = {
    "face-recognition",  # guard list: identity
    "insightface",  # guard list: identity
    "deepface",  # guard list: identity and demographics
    "facenet-pytorch",  # guard list: identity
    "dlib",  # guard list: face descriptors
    "easyocr",  # guard list: plate reading
    "fast-plate-ocr",  # guard list: plate reading
    "openalpr",  # guard list: plate reading
    "torchreid",  # guard list: re-identification
}

#: Keys that would carry an individual's trace; no event may contain one at any depth.
FORBIDDEN_KEYS = ("track", "image", "frame", "bbox", "box", "crop", "pixel", "face", "plate", "embedding")


@pytest.fixture(scope="module")
def analysed(vtest_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[Any]]]:
    """Analyse vtest.avi at 2 fps with every outgoing connection attempt recorded."""
    attempts: list[Any] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> Any:
        attempts.append(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        attempts.append(address)
        return real_connect_ex(self, address)

    out = tmp_path_factory.mktemp("analysed")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", connect)
        patch.setattr(socket.socket, "connect_ex", connect_ex)
        result = analyze_video(vtest_path, CONFIG, out, PipelineOptions(target_fps=2.0, progress=False))
    assert result.error is None and result.frames > 100
    yield out, attempts


@pytest.mark.integration
def test_nothing_phones_home(analysed: tuple[Path, list[Any]]) -> None:
    _, attempts = analysed
    assert attempts == [], f"analysis opened network connections: {attempts}"


@pytest.mark.integration
def test_no_image_leaves_without_a_preview(analysed: tuple[Path, list[Any]]) -> None:
    out, _ = analysed
    assert sorted(p.name for p in out.iterdir()) == ["events.jsonl", "summary.json"]


_OPENED = re.compile(r'\b(?:open|openat|openat2|creat)\((?:AT_FDCWD, )?"([^"]+)", ([A-Z_0-9|]+)')
_DIALLED = re.compile(r"\b(?:connect|sendto|sendmsg)\(.*\bAF_INET6?\b")
_ADDRESS = re.compile(r'inet_(?:addr|pton)\((?:AF_INET6?, )?"([^"]+)"')
CITYTALLY = str(Path(sys.executable).with_name("citytally"))


@dataclass
class Traced:
    """What a command did, as the kernel saw it (strace -f): files opened for writing, and the addresses
    of every internet connection or datagram, from Python or from any library's native code."""

    written: set[str]
    dialled: list[str]
    home: Path
    output: Path

    def said(self) -> str:
        return self.output.read_text(errors="replace")[-2000:]


def traced_child(strace: subprocess.Popen[str]) -> int:
    """The pid of the command strace runs (a signal to strace itself is not passed on)."""
    children = Path(f"/proc/{strace.pid}/task/{strace.pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


@contextlib.contextmanager
def traced(command: list[str], cwd: Path) -> Iterator[tuple[subprocess.Popen[str], Traced]]:
    """Run ``command`` under strace with an empty home of its own; the trace is read when it has ended."""
    strace = shutil.which("strace")
    assert strace, "strace is needed for this test (scripts/setup-system.sh test installs it)"
    home = cwd / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    for name in ("ORT_DISABLE_TELEMETRY", "ORT_TELEMETRY_DISABLED"):  # citytally must set them itself
        env.pop(name, None)
    calls = "trace=open,openat,openat2,creat,connect,sendto,sendmsg"
    trace = cwd / "trace"
    with (cwd / "output").open("w") as output:  # a file: a pipe nobody reads could fill and stall it
        process = subprocess.Popen(
            [strace, "-f", "-qq", "-o", str(trace), "-e", calls, *command],
            cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    seen = Traced(set(), [], home, cwd / "output")
    try:
        yield process, seen
    finally:
        if process.poll() is None:  # the command first: killed, strace would leave it running
            with contextlib.suppress(AssertionError, OSError):
                os.kill(traced_child(process), signal.SIGKILL)
            process.kill()
        process.wait(timeout=120)
    for line in trace.read_text(encoding="utf-8", errors="replace").splitlines():
        opened = _OPENED.search(line)
        flags = opened.group(2).split("|") if opened else []
        if opened and {"O_WRONLY", "O_RDWR", "O_CREAT"} & set(flags) and "= -1 " not in line:
            seen.written.add(opened.group(1))
        if _DIALLED.search(line):
            found = _ADDRESS.search(line)
            seen.dialled.append(found.group(1) if found else line)


@pytest.mark.integration
def test_an_analysis_writes_only_its_outputs_and_dials_nothing_as_the_kernel_sees_it(
    vtest_path: Path, tmp_path: Path
) -> None:
    """The installed command under strace: every file it opens for writing, in any folder and from any
    library, native code included, and every connection it makes. Patching Python's sockets (above) sees
    neither: ONNX Runtime's telemetry wrote a device id under ~/.cache and queued an event for Microsoft,
    and no Python call showed it. A picture written anywhere but the run's outputs fails here too."""
    analyze = [CITYTALLY, "analyze", str(vtest_path), "-c", str(CONFIG), "-o", "out", "--fps", "2"]
    with traced(analyze, tmp_path) as (process, seen):
        assert process.wait(timeout=600) == 0, seen.said()
    assert seen.dialled == [], "the analysis dialled out"
    # the summary is written beside its name and renamed into place
    assert {path for path in seen.written if not path.startswith("/dev/")} == {
        "out/events.jsonl",
        "out/summary.json.part",
    }
    assert list(seen.home.rglob("*")) == []


def _store_files(path: Path) -> set[str]:
    return {str(path), f"{path}-wal", f"{path}-shm", f"{path}-journal"}


@pytest.mark.integration
def test_an_edge_writes_only_its_outbox_and_dials_only_its_broker_as_the_kernel_sees_it(
    vtest_path: Path, tmp_path: Path
) -> None:
    """``citytally edge``, a service, on the same terms: its outbox and its configured broker (here a
    port nothing listens on: the events stay queued). Connections on the loopback are its own (paho's
    wake-up pair is a TCP pair there); anything else would be a call out."""
    outbox = tmp_path / "outbox.sqlite3"
    edge = [CITYTALLY, "edge", "-c", str(CONFIG), "--video", str(vtest_path), "--fps", "2"]
    with traced([*edge, "--broker", "127.0.0.1:1", "--outbox", str(outbox)], tmp_path) as (process, seen):
        process.wait(timeout=600)  # the video ends; the broker never answers; the outbox keeps the events
    assert process.returncode == 0, seen.said()
    assert {address for address in seen.dialled} <= {"127.0.0.1"}, seen.dialled
    written = {path for path in seen.written if not path.startswith("/dev/")}
    lock = outbox.with_name(outbox.name + ".lock")  # one edge per outbox: it holds the edge's pid only
    assert written <= _store_files(outbox) | {str(lock)} and str(outbox) in written
    assert lock.read_text().isdigit()  # a process id, nothing else
    assert list(seen.home.rglob("*")) == []


@pytest.mark.integration
def test_a_hub_writes_only_its_store_and_dials_only_its_broker_as_the_kernel_sees_it(tmp_path: Path) -> None:
    """The hub with its API answering: the same terms for the central data bank."""
    store = tmp_path / "hub.sqlite3"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "hub.toml").write_text(
        f'[database]\nurl = "sqlite:///{store}"\n[mqtt]\nport = 1\n[api]\nport = {port}\n'
    )
    with traced([CITYTALLY, "hub", "-c", "hub.toml"], tmp_path) as (process, seen):
        deadline = time.monotonic() + 120
        while True:
            try:
                answer = urllib.request.urlopen(f"http://127.0.0.1:{port}/register", timeout=5)
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, seen.said()
                time.sleep(0.5)
        assert answer.status == 200
        os.kill(traced_child(process), signal.SIGINT)
        assert process.wait(timeout=60) == 0, seen.said()
    assert {address for address in seen.dialled} <= {"127.0.0.1"}, seen.dialled
    written = {path for path in seen.written if not path.startswith("/dev/")}
    assert written <= _store_files(store) and str(store) in written
    assert list(seen.home.rglob("*")) == []


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield str(key)
            yield from _keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _keys(inner)


@pytest.mark.integration
def test_events_are_aggregates_without_identifiers(analysed: tuple[Path, list[Any]]) -> None:
    out, _ = analysed
    lines = (out / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines, "the run produced no events, so nothing was checked"
    for line in lines:
        parse_event(line)
        for key in _keys(json.loads(line)):
            assert not any(word in key.lower() for word in FORBIDDEN_KEYS), f"event key {key!r}"


def test_detector_knows_only_road_users() -> None:
    assert ROAD_USER_CLASSES == ("person", "bicycle", "car", "motorcycle", "bus", "truck")


def _requirement_names(dist: str, seen: set[str]) -> set[str]:
    name = dist.lower().replace("_", "-")
    if name in seen:
        return seen
    seen.add(name)
    try:
        requires = metadata.requires(dist) or []
    except metadata.PackageNotFoundError:
        return seen
    for requirement in requires:
        # citytally's own extras (test, signals) count; other packages' optional extras are not installed
        if "extra ==" in requirement and name != "citytally":
            continue
        token = requirement.split(";")[0].strip()
        for stop in "<>=!~[ (":
            token = token.split(stop)[0]
        _requirement_names(token, seen)
    return seen


def test_no_dependency_identifies_people_or_reads_plates() -> None:
    installed = _requirement_names("citytally", set())
    assert len(installed) > 20, "the dependency walk found too little to be a check"
    assert not installed & IDENTIFYING_PACKAGES


@pytest.mark.parametrize("seconds", [1, 5, 59])
def test_no_camera_reports_a_hub_counts_over_seconds(tmp_path: Path, seconds: int) -> None:
    """No re-identification across cameras: over a few seconds a line's count is nearly one road user's
    passage and its time, which another camera's could be joined to. ``citytally edge``, the demo and a
    hub's registry refuse a camera whose interval is under a minute, naming the line; a minute is taken,
    and ``citytally analyze`` on a file kept on the edge may count over less."""
    from citytally.edge.config import load_camera_config
    from citytally.hub.config import parse_hub_settings

    config = tmp_path / "short.toml"
    config.write_text(CONFIG.read_text().replace("interval_seconds = 60", f"interval_seconds = {seconds}", 1))
    line = next(n for n, text in enumerate(config.read_text().splitlines(), 1) if "interval_seconds" in text)
    edge = subprocess.run(
        [
            str(Path(sys.executable).with_name("citytally")),
            "edge",
            "-c",
            str(config),
            "--broker",
            "127.0.0.1:1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert edge.returncode == 2 and "Traceback" not in edge.stderr, edge.stderr
    assert f"{config}:{line}: interval_seconds: {seconds} s is under a minute" in edge.stderr
    assert not list(tmp_path.glob("citytally-outbox-*"))  # refused before anything was opened
    hub = parse_hub_settings(f'cameras = ["{config.name}"]\n', base_dir=tmp_path)
    with pytest.raises(ConfigError, match=f"{config.name}:{line}: interval_seconds: {seconds} s is under"):
        hub.load_cameras()
    assert load_camera_config(config).interval_seconds == seconds  # analyze's own reading
    config.write_text(CONFIG.read_text())
    assert [camera.interval_seconds for camera in hub.load_cameras()] == [60]
