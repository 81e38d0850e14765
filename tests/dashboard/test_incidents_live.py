"""From tracks to the operator's screen: an edge's incident engine raises a stopped vehicle; its onset and
clearance go through the hub's writer and appear live in Chromium's incidents panel as one row that is
first ongoing, then ended."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from playwright.sync_api import Page

from citytally.edge.detections import Detections
from citytally.edge.incidents import IncidentEngine
from citytally.events import IncidentEvent
from citytally.hub.dashboard.server import DashboardServer
from citytally.hub.store import EventWriter
from dashboard.conftest import SITE, camera_config

Login = Callable[[Page, DashboardServer, str], None]

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def stopped_car(t: float) -> Detections:
    """A car driving along the middle zone at 10 m/s and standing there from 2 s to 14 s, then gone."""
    if t >= 14:
        return Detections.empty()
    x = 260 + 100 * min(t, 2.0)
    box = np.array([[x - 30, 360, x + 30, 400]], np.float32)
    return Detections(box, np.array([0.9], np.float32), np.array([2]), np.array([3]))


def incident_events() -> list[IncidentEvent]:
    config = camera_config("vtest", 52.37, 4.89).model_copy(
        update={"incidents": camera_config("vtest", 52.37, 4.89).incidents.model_validate(
            {"stopped_vehicle": [{"zone": "middle", "min_stop_s": 3}]}
        )}
    )  # fmt: skip
    engine = IncidentEngine(config)
    start = datetime.now(UTC) - timedelta(seconds=30)
    events: list[IncidentEvent] = []
    for k in range(300):  # long enough for the rule to clear it, rather than the end of the stream
        t = k / 10
        events += engine.update(stopped_car(t), t, start + timedelta(seconds=t))
    return events + list(engine.finish())


def test_a_stopped_vehicle_appears_live_then_ends(
    page: Page, hub_server: DashboardServer, tokens: dict[str, str], login: Login, seeded_engine: sa.Engine
) -> None:
    events = incident_events()
    assert [e.phase for e in events][0] == "onset" and events[-1].phase == "cleared"
    assert all(e.site == SITE for e in events)
    login(page, hub_server, tokens["operator"])
    page.click("#nav-incidents")
    page.wait_for_selector("#incident-rows tr[data-id]")
    before = page.locator("#incident-rows tr[data-id]").count()
    writer = EventWriter(seeded_engine)
    assert writer.write_events(events[:1]).stored == 1  # the onset only
    ongoing = page.locator("#incident-rows tr.open")
    ongoing.wait_for(timeout=10_000)
    assert "stopped vehicle" in ongoing.inner_text()
    assert ongoing.locator("td.state").inner_text() == "ongoing"
    assert writer.write_events(events[1:]).stored == len(events) - 1  # updates and the clearance
    page.wait_for_function("() => !document.querySelector('#incident-rows tr.open')", timeout=10_000)
    assert page.locator("#incident-rows tr[data-id]").count() == before + 1  # one row per incident
    ended = page.locator(f"#incident-rows tr[data-id='{events[-1].id}']")
    assert ended.locator("td.state").inner_text().startswith("ended")
    assert "vehicles 1" in ended.locator("td.details").inner_text()
