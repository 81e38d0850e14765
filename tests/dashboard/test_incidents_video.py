"""From a real video to the operator's screen: vtest.avi through the edge pipeline (decoder, NanoDet, tracker,
incident rules) into the hub's store, and the incidents it raised appear in Chromium's incidents panel.

Two rules watch the plaza: people on the paved middle (where they walk all video long: it must fire) and on
the lawn at the bottom left (where nobody walks: it must stay quiet)."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page

from citytally.edge.config import CameraConfig
from citytally.edge.pipeline import PipelineOptions, analyze_video
from citytally.events import IncidentEvent
from citytally.hub.dashboard.server import DashboardServer
from citytally.hub.store import EventWriter

Login = Callable[[Page, DashboardServer, str], None]

pytestmark = [pytest.mark.integration, pytest.mark.browser]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vtest.toml"
LAWN = [[0, 470], [200, 470], [200, 576], [0, 576]]


def vtest_with_rules(start: datetime) -> CameraConfig:
    """examples/vtest.toml (site demo-plaza, camera vtest, as the seeded store has it), its first frame at
    ``start``, watching the plaza and the lawn for people."""
    raw: dict[str, Any] = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    raw["start_time"] = start
    raw["zones"].append({"name": "lawn", "polygon": LAWN})
    rule = {"min_duration_s": 3, "classes": ["person"]}
    raw["incidents"] = {"pedestrian_on_roadway": [{"zone": "plaza", **rule}, {"zone": "lawn", **rule}]}
    return CameraConfig.model_validate(raw)


def test_incidents_from_a_real_video_appear_in_the_panel(
    page: Page,
    hub_server: DashboardServer,
    tokens: dict[str, str],
    login: Login,
    seeded_engine: sa.Engine,
    vtest_path: Path,
    tmp_path: Path,
) -> None:
    config = vtest_with_rules(datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5))
    result = analyze_video(vtest_path, config, tmp_path, PipelineOptions(target_fps=2, progress=False))
    assert result.error is None
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    incidents = [IncidentEvent.model_validate(e) for e in map(json.loads, lines) if e["type"] == "incident"]
    plaza = {e.incident_id for e in incidents if e.zone == "plaza"}
    assert plaza, "people walked across the plaza all video long and no incident opened"
    assert not [e for e in incidents if e.zone == "lawn"], "nobody walked on the lawn, yet it raised one"
    assert EventWriter(seeded_engine).write_events(incidents).stored == len(incidents)

    login(page, hub_server, tokens["operator"])
    page.click("#nav-incidents")
    for key in plaza:
        row = page.locator(f"#incident-rows tr[data-key='{key}']")
        row.wait_for(timeout=15_000)
        assert "pedestrian" in row.inner_text().lower() and "vtest" in row.inner_text().lower()
