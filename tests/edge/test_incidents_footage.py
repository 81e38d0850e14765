"""Incident rules on real footage: the two vehicles parked in OpenCV's ``vtest.avi``, and its grass.

A white van and a car stand at the top right of the plaza all 79.5 s of the video while people walk past
(marked by hand for the masking test: ``tests/edge/masking_check.py``). The detector sees the van at only
0.45–0.56, flickering between car and truck; the car, cut by the picture's edge, at 0.43–0.66. The example's
no-stopping zone round the two (the demo's incident) must raise one stopped-vehicle incident that counts
both, ``min_stop_s`` after the start, and hold it to the end; the same rule on the plaza, where only people
walk, must stay quiet.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from masking_check import PARKED_VEHICLES  # tests/edge/masking_check.py: marked by hand

from citytally.edge.config import CameraConfig, parse_camera_config
from citytally.edge.detections import Detections
from citytally.edge.incidents import IncidentEngine
from citytally.edge.pipeline import PipelineOptions, analyze_video
from citytally.events import IncidentEvent

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vtest.toml"
MARGIN_PX = 20


def kerb() -> list[list[float]]:
    """The hand-marked vehicles' boxes together, MARGIN_PX round them, inside the 768x576 picture."""
    x1, y1 = (min(box[k] for box in PARKED_VEHICLES.values()) - MARGIN_PX for k in (0, 1))
    x2, y2 = (max(box[k] for box in PARKED_VEHICLES.values()) + MARGIN_PX for k in (2, 3))
    x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, 767), min(y2, 575)
    return [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]


def stopped_vehicles(vtest_path: Path, out: Path) -> dict[str, list[IncidentEvent]]:
    """vtest.avi through the whole edge pipeline with the example's config (its stopped-vehicle rule on the
    no-stopping zone) and the same rule on the plaza: the incident events by zone."""
    raw: dict[str, Any] = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert raw["incidents"] == {"stopped_vehicle": [{"zone": "no-stopping"}]}, "the example's rule changed"
    raw["incidents"]["stopped_vehicle"].append({"zone": "plaza"})
    config = CameraConfig.model_validate(raw)
    options = PipelineOptions(target_fps=5, progress=False, detector_variant="int8", threads=2)
    result = analyze_video(vtest_path, config, out, options)
    assert result.error is None
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    found: dict[str, list[IncidentEvent]] = {"no-stopping": [], "plaza": []}
    for event in events:
        if event["type"] == "incident":
            incident = IncidentEvent.model_validate(event)
            assert incident.incident == "stopped_vehicle" and incident.zone is not None
            found[incident.zone].append(incident)
    return found


def test_the_two_parked_vehicles_are_one_stopped_vehicle_incident_all_video_long(
    vtest_path: Path, tmp_path: Path
) -> None:
    found = stopped_vehicles(vtest_path, tmp_path)
    assert found["plaza"] == [], "only people walk on the plaza"
    events = found["no-stopping"]
    assert len({e.incident_id for e in events}) == 1, [(e.phase, e.start, e.end) for e in events]
    onset, cleared = events[0], events[-1]
    start = onset.start
    assert onset.phase == "onset" and cleared.phase == "cleared"
    # Standing from the first frames, flagged once seen standing for min_stop_s (5 s).
    assert 5.0 <= (onset.end - start).total_seconds() <= 7.0
    # Both vehicles, though the van scores below the 0.6 a new track needed until the default followed
    # high_score; and held until the video ends at 79.5 s, through the people walking past.
    assert max(int(e.details["vehicles"]) for e in events) == 2
    assert (cleared.end - start).total_seconds() >= 78.0


def test_the_examples_no_stopping_zone_is_drawn_round_the_marked_vehicles() -> None:
    raw: dict[str, Any] = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    [zone] = [z for z in raw["zones"] if z["name"] == "no-stopping"]
    assert zone["polygon"] == kerb()


#: The grass below the plaza's path (nobody walks on it in the video) and a street lamp with a sharp
#: cut-off that comes on over it at 20 s: 40 % more light inside an ellipse, none outside.
GRASS = [[150, 420], [450, 420], [450, 560], [150, 560]]
_YY, _XX = np.mgrid[0:576, 0:768]
LAMP = np.where(((_XX - 300) / 120.0) ** 2 + ((_YY - 490) / 50.0) ** 2 <= 1, 1.4, 1.0)[..., None]


def left_objects_on_the_grass(
    vtest_path: Path, edit: Callable[[float, np.ndarray], np.ndarray]
) -> list[float]:
    """The left-object rule (``min_static_s`` 10) on the grass of vtest.avi's first 45 s, each frame changed
    by ``edit``: when its incidents began to be raised (seconds into the video)."""
    config = parse_camera_config(
        'site = "demo-plaza"\ncamera = "grass"\n[source]\nuri = "vtest.avi"\nframe_size = [768, 576]\n'
        f'[[zones]]\nname = "grass"\npolygon = {GRASS}\n'
        '[[incidents.left_object]]\nzone = "grass"\nmin_static_s = 10\n',
        "grass.toml",
    )
    found = play_vtest(vtest_path, config, 450, edit, lambda t: Detections.empty())
    return [end for phase, end, _ in found if phase == "onset"]


def play_vtest(
    vtest_path: Path,
    config: CameraConfig,
    frames: int,
    edit: Callable[[float, np.ndarray], np.ndarray],
    boxes: Callable[[float], Detections],
) -> list[tuple[str, float, dict[str, Any]]]:
    """The config's incident rules over vtest.avi's first ``frames``, each frame changed by ``edit`` and
    with ``boxes`` as its road users: (phase, end in seconds into the video, details) of every event,
    including those of the end of the stream."""
    engine, video, found = IncidentEngine(config), cv2.VideoCapture(str(vtest_path)), []
    start = datetime(2026, 11, 23, 8, tzinfo=UTC)

    def seen(events: Sequence[IncidentEvent]) -> list[tuple[str, float, dict[str, Any]]]:
        return [(e.phase or "", (e.end - start).total_seconds(), dict(e.details)) for e in events]

    for k in range(frames):
        ok, picture = video.read()
        assert ok, f"vtest.avi ended at frame {k}"
        t = k / 10.0
        engine.see(np.clip(edit(t, picture.astype(np.float32)), 0, 255).astype(np.uint8))
        found += seen(engine.update(boxes(t), t, start + timedelta(seconds=t)))
    return found + seen(engine.finish())


def test_a_sharp_edged_pool_of_light_on_real_grass_is_no_left_object(vtest_path: Path) -> None:
    # The lamp's pool keeps the grass's pattern, only brighter; before, it was an object from 30.5 s.
    assert left_objects_on_the_grass(vtest_path, lambda t, f: f * LAMP if t >= 20 else f) == []
    assert left_objects_on_the_grass(vtest_path, lambda t, f: f) == []

    def bag(t: float, f: np.ndarray) -> np.ndarray:  # a dark bag put on the grass at 10 s
        if t >= 10:
            f[480:510, 280:310] = (40, 45, 50)
        return f

    raised = left_objects_on_the_grass(vtest_path, bag)
    assert len(raised) == 1 and 20.0 <= raised[0] <= 23.0, raised


def view_changes(
    vtest_path: Path, edit: Callable[[float, np.ndarray], np.ndarray], boxes: Callable[[float], Detections]
) -> list[tuple[str, float, dict[str, Any]]]:
    """The view check (defaults: a look every 2 s, 20 s to hold) on the whole of vtest.avi's picture, each
    frame changed by ``edit`` and with ``boxes`` as the frame's road users: (phase, end s, details) of its
    incident events."""
    config = parse_camera_config(
        'site = "demo-plaza"\ncamera = "view"\n[source]\nuri = "vtest.avi"\nframe_size = [768, 576]\n'
        '[[zones]]\nname = "scene"\npolygon = [[0, 0], [767, 0], [767, 575], [0, 575]]\n'
        '[[incidents.view_changed]]\nzone = "scene"\n',
        "view.toml",
    )
    return play_vtest(vtest_path, config, 795, edit, boxes)


def shifted(dx: float, dy: float) -> Callable[[np.ndarray], np.ndarray]:
    move = np.float32([[1, 0, dx], [0, 1, dy]])
    return lambda f: cv2.warpAffine(f, move, (768, 576), borderMode=cv2.BORDER_REPLICATE)


def noise(t: float, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(int(t * 10)).normal(0, 8, shape)


def no_one(t: float) -> Detections:
    return Detections.empty()


@pytest.mark.parametrize(
    ("what", "edit", "change"),
    [
        ("knocked 10 px up at 30 s", lambda t, f: shifted(0, -10)(f) if t >= 30 else f, "moved"),
        ("turned to other scenery", lambda t, f: cv2.flip(f, 1) if t >= 30 else f, "moved"),
        ("lens covered", lambda t, f: np.full_like(f, 20) if t >= 30 else f, "lost"),
        ("out of focus", lambda t, f: cv2.GaussianBlur(f, (0, 0), 6) if t >= 30 else f, "blurred"),
    ],
)
def test_a_camera_knocked_turned_covered_or_out_of_focus_is_a_view_changed_incident(
    vtest_path: Path, what: str, edit: Callable[[float, np.ndarray], np.ndarray], change: str
) -> None:
    """Counts from a camera whose view changed are wrong with no sign in the numbers; only the left-object
    rule noticed, in its own zone, and only as a warning in the edge's log."""
    found = view_changes(vtest_path, edit, no_one)
    onsets = [(end, details) for phase, end, details in found if phase == "onset"]
    assert len(onsets) == 1, (what, found)
    end, details = onsets[0]
    assert 50.0 <= end <= 52.5, (what, end)  # changed at 30 s, held 20 s, looked at every 2 s
    assert details["change"] == change, (what, details)
    if change == "moved" and what.startswith("knocked"):
        assert 8.0 <= float(details["shift_px"]) <= 12.0, details


@pytest.mark.parametrize(
    ("what", "edit"),
    [
        ("as filmed: people walking through", lambda t, f: f),
        ("half the light at once (a cloud, the exposure)", lambda t, f: f * 0.5 if t >= 30 else f),
        (
            "sensor noise of 8 grey levels",
            lambda t, f: f + np.random.default_rng(int(t * 10)).normal(0, 8, f.shape),
        ),
        ("a 2 px shake", lambda t, f: shifted(2, -2)(f) if int(t) % 2 else f),
    ],
)
def test_light_noise_shake_and_passers_by_are_no_change_of_view(
    vtest_path: Path, what: str, edit: Callable[[float, np.ndarray], np.ndarray]
) -> None:
    assert view_changes(vtest_path, edit, no_one) == [], what


def test_a_bus_standing_in_front_of_the_camera_is_no_change_of_view(vtest_path: Path) -> None:
    """A tracked road user covering most of the picture hides the scenery; the view is not judged then."""

    def bus(t: float, f: np.ndarray) -> np.ndarray:
        if 30 <= t < 70:
            f[40:560, 20:740] = (60, 90, 170)
        return f

    def its_box(t: float) -> Detections:
        if not 30 <= t < 70:
            return Detections.empty()
        return Detections(
            np.array([[20, 40, 740, 560]], np.float32),
            np.array([0.9], np.float32),
            np.array([4]),
            np.array([3]),
        )

    assert view_changes(vtest_path, bus, its_box) == []


def test_a_view_put_back_clears_with_the_time_it_came_back(vtest_path: Path) -> None:
    found = view_changes(vtest_path, lambda t, f: shifted(20, 0)(f) if 30 <= t < 60 else f, no_one)
    assert [phase for phase, _, _ in found] == ["onset", "cleared"], found
    assert 59.0 <= found[-1][1] <= 62.0, found
