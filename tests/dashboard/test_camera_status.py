"""The overview's camera list: each camera's state (reporting, silent, no data), its newest data and its
edge's outbox backlog as the edge's status messages left it in the hub's metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page

from citytally.hub.config import HubSettings
from citytally.hub.dashboard.server import DashboardServer, serve
from citytally.hub.metrics import HubMetrics
from citytally.hub.store import schema

pytestmark = [pytest.mark.integration, pytest.mark.browser]

Shot = Callable[[Page, str], Path]
Login = Callable[[Page, DashboardServer, str], None]
SITE = "demo-plaza"


@pytest.fixture(scope="module")
def metrics() -> HubMetrics:
    return HubMetrics()


@pytest.fixture(scope="module")
def status_server(
    seeded_engine: sa.Engine, built_frontend: Path, metrics: HubMetrics
) -> Iterator[DashboardServer]:
    # east-bridge fell silent 90 minutes ago: its newer intervals never arrived. Its newest data then ended
    # 75-90 min ago (the seeded 15-min intervals are on the quarter hours): "silent" (over two intervals and
    # a minute) and "N min ago" (under 120 min) whatever the time of day. Two hours ago made it "2 h ago" when
    # the tests ran in the half minute before a quarter hour.
    cutoff = datetime.now(UTC) - timedelta(minutes=90)
    e = schema.events
    with seeded_engine.begin() as conn:
        conn.execute(e.delete().where(e.c.camera == "east-bridge", e.c.start >= cutoff))
    server = serve(HubSettings(), seeded_engine, build=False, metrics=metrics)
    yield server
    server.stop()


def test_the_camera_list_says_which_cameras_report_and_their_backlog(
    page: Page,
    status_server: DashboardServer,
    tokens: dict[str, str],
    login: Login,
    metrics: HubMetrics,
    screenshot: Shot,
) -> None:
    # what ingest sets when vtest's edge publishes its outbox status
    metrics.edge_outbox_depth.labels(SITE, "vtest").set(42)
    metrics.edge_outbox_oldest.labels(SITE, "vtest").set(95.0)
    metrics.edge_outbox_held.labels(SITE, "vtest").set(5)  # its disk refuses writes: 5 held in memory
    metrics.edge_outbox_dropped.labels(SITE, "vtest").set(3)  # and its memory hold was full: 3 lost
    metrics.edge_status_time.labels(SITE, "vtest").set(datetime.now(UTC).timestamp())
    login(page, status_server, tokens["viewer"])
    page.wait_for_selector("#camera-list tr[data-camera]")

    def row(camera: str) -> str:
        return page.inner_text(f"#camera-list tr[data-camera='{SITE}/{camera}']")

    assert "reporting" in row("vtest") and "42 events, oldest 95 s" in row("vtest")
    assert "5 held in memory: its disk refuses writes" in row("vtest")
    held = page.locator(f"#camera-list tr[data-camera='{SITE}/vtest'] .outbox-held")
    assert "lost if the edge stops" in (held.get_attribute("title") or "")
    assert "3 lost at the edge" in row("vtest") and "lost at the edge" not in row("north-gate")
    assert "reporting" in row("north-gate") and "no status received" in row("north-gate")
    assert "silent" in row("east-bridge") and "min ago" in row("east-bridge")
    screenshot(page, "camera-status")
