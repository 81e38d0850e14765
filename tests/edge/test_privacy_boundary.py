"""Guards of "What citytally never does" (README) that a test can check, on real footage.

Each test would fail if the capability it guards were added: a network call during analysis, an
identifier or image riding along in the events, a detector class beyond road users, a dependency that
exists to recognise faces or read plates.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from citytally.edge.pipeline import PipelineOptions, analyze_video
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


#: What a run of ``citytally analyze`` writes, and nothing else, in any folder.
ANALYSIS_OUTPUTS = {"out/events.jsonl", "out/summary.json.part"}  # the summary is renamed into place
_OPENED = re.compile(r'\b(?:open|openat|openat2|creat)\((?:AT_FDCWD, )?"([^"]+)", ([A-Z_0-9|]+)')
_DIALLED = re.compile(r"\b(?:connect|sendto|sendmsg)\(.*\bAF_INET6?\b")


@pytest.mark.integration
def test_an_analysis_writes_only_its_outputs_and_dials_nothing_as_the_kernel_sees_it(
    vtest_path: Path, tmp_path: Path
) -> None:
    """The installed command under strace: every file it opens for writing, in any folder and from any
    library, native code included, and every connection it makes. Patching Python's sockets (above) sees
    neither: ONNX Runtime's telemetry wrote a device id under ~/.cache and queued an event for Microsoft,
    and no Python call showed it. A picture written anywhere but the run's outputs fails here too."""
    strace = shutil.which("strace")
    assert strace, "strace is needed for this test (scripts/setup-system.sh test installs it)"
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    for name in ("ORT_DISABLE_TELEMETRY", "ORT_TELEMETRY_DISABLED"):  # citytally must set them itself
        env.pop(name, None)
    calls = "trace=open,openat,openat2,creat,connect,sendto,sendmsg"
    citytally = str(Path(sys.executable).with_name("citytally"))
    analyze = [citytally, "analyze", str(vtest_path), "-c", str(CONFIG), "-o", "out", "--fps", "2"]
    done = subprocess.run(
        [strace, "-f", "-qq", "-o", str(tmp_path / "trace"), "-e", calls, *analyze],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    written: set[str] = set()
    dialled: list[str] = []
    for line in (tmp_path / "trace").read_text(encoding="utf-8", errors="replace").splitlines():
        opened = _OPENED.search(line)
        flags = opened.group(2).split("|") if opened else []
        if opened and {"O_WRONLY", "O_RDWR", "O_CREAT"} & set(flags) and "= -1 " not in line:
            written.add(opened.group(1))
        if _DIALLED.search(line):
            dialled.append(line)
    assert dialled == [], "the analysis dialled out"
    assert {path for path in written if not path.startswith("/dev/")} == ANALYSIS_OUTPUTS
    assert list(home.rglob("*")) == []


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
