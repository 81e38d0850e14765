"""Incident snapshots on real footage: one masked still per opened incident, only when switched on.

The masking is checked with detectors independent of the masker (tests/edge/masking_check.py: OpenCV's HOG
people detector and the hand-marked parked vehicles), as the placement preview is in test_privacy.py.
"""

from __future__ import annotations

import json
import tomllib
from functools import partial
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from masking_check import PARKED_VEHICLES, Image, hog_leaks, patches

from citytally.edge.config import CameraConfig
from citytally.edge.pipeline import PipelineOptions, analyze_video
from citytally.edge.snapshots import SnapshotTap
from citytally.events import IncidentEvent

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vtest.toml"


def _config(snapshots: bool) -> CameraConfig:
    """examples/vtest.toml with the plaza watched as if it were carriageway: people in it open incidents."""
    raw: dict[str, Any] = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    raw["incidents"] = {
        "snapshots": snapshots,
        "pedestrian_on_roadway": [{"zone": "plaza", "min_duration_s": 2, "classes": ["person"]}],
    }
    return CameraConfig.model_validate(raw)


def _run(vtest_path: Path, out: Path, snapshots: bool) -> list[dict[str, Any]]:
    result = analyze_video(vtest_path, _config(snapshots), out, PipelineOptions(target_fps=2, progress=False))
    assert result.error is None
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    return [e for e in events if e["type"] == "incident" and e.get("phase") == "onset"]


@pytest.fixture(scope="module")
def empty_plaza(vtest_path: Path) -> Image:
    """vtest's plaza with nobody in it: the median of every 10th frame."""
    with av.open(str(vtest_path)) as container:
        samples = [
            f.to_ndarray(format="bgr24") for i, f in enumerate(container.decode(video=0)) if i % 10 == 0
        ]
    return np.median(np.stack(samples), axis=0).astype(np.uint8)


def test_each_opened_incident_gets_one_masked_snapshot(
    vtest_path: Path, tmp_path: Path, empty_plaza: Image
) -> None:
    onsets = _run(vtest_path, tmp_path, snapshots=True)
    assert onsets, "people crossed the watched plaza but no incident opened"
    written = sorted(p.name for p in (tmp_path / "snapshots").iterdir())
    assert written == sorted(f"{e['incident_id']}.png" for e in onsets)
    tap = SnapshotTap(tmp_path / "unused", _config(snapshots=True))
    for event in onsets:
        name = f"{event['incident_id']}.png"
        snapshot = cv2.imread(str(tmp_path / "snapshots" / name))
        assert snapshot is not None and snapshot.shape == empty_plaza.shape
        # The zone outline and caption are drawn on the control too: only a person's shape may count.
        overlay = partial(tap.draw, incident=IncidentEvent.model_validate(event))
        assert hog_leaks(snapshot, empty_plaza, drawn=overlay) == [], f"{name}: a person is left visible"
        for vehicle, (x1, y1, x2, y2) in PARKED_VEHICLES.items():
            assert patches(snapshot)[y1:y2, x1:x2].mean() > 0.9, f"{name}: the parked {vehicle} is visible"


def test_no_snapshot_unless_switched_on(vtest_path: Path, tmp_path: Path) -> None:
    onsets = _run(vtest_path, tmp_path, snapshots=False)
    assert onsets, "the same incidents open without snapshots"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.jsonl", "summary.json"]
