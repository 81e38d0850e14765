"""Camera config: good files load; each problem in a bad one gets one located, one-line message."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from citytally.edge import config as config_module
from citytally.edge.config import CameraConfig, CameraConfigError, load_camera_config, parse_camera_config
from citytally.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

BASE = """\
site = "plaza"
camera = "cam-1"
interval_seconds = 900
start_time = 2026-11-23T08:00:00Z

[source]
uri = "video.mp4"
frame_size = [640, 480]

[[lines]]
name = "north"
p1 = [10, 100]
p2 = [600, 100]
directions = ["southbound", "northbound"]

[[lines]]
name = "east"
p1 = [500, 10]
p2 = [500, 470]
directions = ["westbound", "eastbound"]

[[zones]]
name = "a"
polygon = [[0, 0], [100, 0], [100, 100], [0, 100]]

[[zones]]
name = "b"
polygon = [[200, 0], [300, 0], [300, 100]]

[turning]
zones = ["a", "b"]

[speed]
image_points = [[100, 100], [500, 100], [600, 400], [0, 400]]
ground_points_m = [[0, 0], [8, 0], [8, 20], [0, 20]]
"""


def edit(old: str, new: str, text: str = BASE) -> str:
    """The base config with one textual change (which must apply)."""
    if old not in text:
        raise ValueError(f"{old!r} not in the config text")
    return text.replace(old, new, 1)


def test_base_loads() -> None:
    config = parse_camera_config(BASE)
    assert isinstance(config, CameraConfig)
    assert [line.name for line in config.lines] == ["north", "east"]
    assert config.lines[0].directions == ("southbound", "northbound")
    assert config.turning is not None and config.turning.entries == ["a", "b"]
    assert config.start_time is not None and config.start_time.utcoffset() is not None


def test_texts_may_run_over_lines_and_hold_any_printable_letter() -> None:
    purpose = '"""Counts for the\n\tnew cycle lane (Ørestad, 자전거, اختبار)"""'
    config = parse_camera_config(edit("[source]", f"[metadata]\npurpose = {purpose}\n\n[source]"))
    assert config.metadata.purpose == "Counts for the\n\tnew cycle lane (Ørestad, 자전거, اختبار)"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_examples_load(path: Path) -> None:
    load_camera_config(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (edit('site = "plaza"', 'site = "Plaza 1"'), r"<cfg>:1: site: must be a slug"),
        (edit('camera = "cam-1"', ""), r"<cfg>: camera: required field is missing"),
        (
            edit("interval_seconds = 900", "interval_seconds = 0"),
            r"<cfg>:3: interval_seconds: .*greater than",
        ),
        (edit("2026-11-23T08:00:00Z", "2026-11-23T08:00:00"), r"<cfg>:4: start_time: .*timezone"),
        (edit('uri = "video.mp4"', 'uri = "video.mp4"\nfps = 5'), r"<cfg>:8: source\.fps: unknown field"),
        (
            edit("p2 = [600, 100]", "p2 = [700, 100]"),
            r"<cfg>:13: lines\[0\]\.p2: point .* outside the 640x480",
        ),
        (
            edit("p1 = [500, 10]", "p1 = [500, -10]"),
            r"<cfg>:18: lines\[1\]\.p1\[1\]: .*greater than or equal",
        ),
        (edit("p2 = [600, 100]", "p2 = [10, 100]"), r"<cfg>:10: lines\[0\]: p1 and p2 are the same point"),
        (
            edit('["westbound", "eastbound"]', '["west", "west"]'),
            r"<cfg>:20: lines\[1\]\.directions: .*differ",
        ),
        (
            edit('["westbound", "eastbound"]', '["west"]'),
            r"<cfg>:20: lines\[1\]\.directions\[1\]: required field is missing",
        ),
        (
            edit('name = "east"', 'name = "north"'),
            r"<cfg>:17: lines\[1\]\.name: name 'north' is already used",
        ),
        (
            edit(
                'name = "b"',
                'name = "a"',
                edit('zones = ["a", "b"]', 'entry_zones = ["a"]\nexit_zones = ["a"]'),
            ),
            r"<cfg>:27: zones\[1\]\.name: .*already used by zones\[0\]",
        ),
        (
            edit("[[200, 0], [300, 0], [300, 100]]", "[[200, 0], [300, 0]]"),
            r"<cfg>:28: zones\[1\]\.polygon: .*at least 3",
        ),
        (
            edit("[[0, 0], [100, 0], [100, 100], [0, 100]]", "[[0, 0], [100, 100], [100, 0], [0, 100]]"),
            r"<cfg>:24: zones\[0\]\.polygon: polygon edges cross",
        ),
        (
            edit("[[200, 0], [300, 0], [300, 100]]", "[[200, 0], [300, 0], [400, 0]]"),
            r"<cfg>:28: zones\[1\]\.polygon: polygon has no area",
        ),
        (edit("[[0, 0], [100, 0],", "[[0, 0], [900, 0],"), r"<cfg>:24: zones\[0\]\.polygon\[1\]: .* outside"),
        (
            edit('zones = ["a", "b"]', 'zones = ["a", "c"]'),
            r"<cfg>:31: turning\.zones\[1\]: no zone named 'c'",
        ),
        (edit('zones = ["a", "b"]', 'zones = ["a"]'), r"<cfg>:30: turning: .*at least two"),
        (edit('zones = ["a", "b"]', 'entry_zones = ["a"]'), r"<cfg>:30: turning: .*both be given"),
        (
            edit('zones = ["a", "b"]', 'zones = ["a", "b"]\nentry_zones = ["a"]'),
            r"<cfg>:30: turning: give either zones or entry_zones",
        ),
        (
            edit("[[100, 100], [500, 100], [600, 400]", "[[100, 100], [200, 100], [300, 100]"),
            r"<cfg>:34: speed\.image_points: three of the four",
        ),
        (edit("[8, 20], [0, 20]]", "[8, 20]]"), r"<cfg>:35: speed\.ground_points_m\[3\]: required"),
        (edit("[source]", "[tracker]\nlow_score = 0.9\n\n[source]"), r"<cfg>:6: tracker: low_score \(0\.9\)"),
        (edit("[source]", '[detector]\nclasses = ["face"]\n\n[source]'), r"<cfg>:7: detector\.classes\[0\]"),
        (edit("[source]", '[detector]\nbusy_wait = "maybe"\n\n[source]'), r"<cfg>:7: detector\.busy_wait"),
        (
            edit("[source]", "[metadata]\nlat = 91\n\n[source]"),
            r"<cfg>:7: metadata\.lat: .*less than or equal",
        ),
        (edit('site = "plaza"', 'site = "plaza'), r"<cfg>: not valid TOML: .*line 1"),
        # A control character in a text: the public register shows it, PostgreSQL cannot store a NUL.
        (
            edit("[source]", '[metadata]\ncontact = "ops\\u0000room"\n\n[source]'),
            r"<cfg>:7: metadata\.contact: holds the control character U\+0000: write plain text",
        ),
        (
            edit('uri = "video.mp4"', 'uri = "video\\u001b[2J.mp4"'),
            r"<cfg>:7: source\.uri: holds the control character U\+001B",
        ),
    ],
)
def test_config_errors(text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as info:
        parse_camera_config(text, source="<cfg>")
    assert isinstance(info.value, CameraConfigError)
    assert len(info.value.problems) == 1, info.value.problems


def test_every_problem_reported_once_with_its_location(tmp_path: Path) -> None:
    text = edit('name = "b"', 'name = "a"', edit("p2 = [600, 100]", "p2 = [700, 100]"))
    text = edit('zones = ["a", "b"]', 'zones = ["a", "x"]', text)
    path = tmp_path / "cam.toml"
    path.write_text(text)
    with pytest.raises(CameraConfigError) as info:
        load_camera_config(path)
    problems = info.value.problems
    assert len(problems) == 3
    assert all(p.startswith(f"{path}:") for p in problems)
    assert str(info.value).startswith(f"{path}: 3 problems")
    assert all("\n" not in p for p in problems)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read camera config"):
        load_camera_config(tmp_path / "missing.toml")


def test_every_field_is_described_and_bounded_models_forbid_extras() -> None:
    found = [getattr(config_module, name) for name in config_module.__all__]
    models: list[type[BaseModel]] = [m for m in found if isinstance(m, type) and issubclass(m, BaseModel)]
    assert len(models) >= 9
    undescribed = [
        f"{m.__name__}.{name}" for m in models for name, f in m.model_fields.items() if not f.description
    ]
    assert undescribed == []
    assert all(m.model_config.get("extra") == "forbid" for m in models)


def test_field_errors_and_cross_field_problems_reported_together() -> None:
    """A field error stops pydantic before its cross-field rules; they still run on the valid parts."""
    text = edit('camera = "cam-1"', 'camera = "Cam 1"')
    text = edit("p2 = [600, 100]", "p2 = [700, 100]", text)
    text = edit('zones = ["a", "b"]', 'zones = ["a", "x"]', text)
    text = edit(
        "[[200, 0], [300, 0], [300, 100]]", "[[200, 0], [300, 0]]", text
    )  # zone b broken, still named
    with pytest.raises(CameraConfigError) as info:
        parse_camera_config(text, source="<cfg>")
    problems = info.value.problems
    assert len(problems) == 4, problems
    assert problems[0].startswith("<cfg>:2: camera: must be a slug")
    assert "<cfg>:28: zones[1].polygon: List should have at least 3 items" in problems[1]
    assert set(problems[2:]) == {
        "<cfg>:13: lines[0].p2: point [700.0, 100.0] is outside the 640x480 frame",
        "<cfg>:31: turning.zones[1]: no zone named 'x' (zones: ['a', 'b'])",
    }
