"""From video to the operator's screen: ``citytally demo`` on the first 20 s of vtest.avi (its packets
copied, so the frames are the video's own) raises the stopped-vehicle incident of the two vehicles parked in
the example's no-stopping zone, prints it, and the dashboard's incidents panel shows it in Chromium.

The detector is the real one, on real footage: the van scores 0.45–0.56 (tests/edge/test_incidents_footage.py
checks the rule on the whole video). Nothing is seeded into the store but what the demo put there."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import av
import pytest
from playwright.sync_api import Page
from rich.console import Console

from citytally.demo import HUB_DATABASE, run_demo
from citytally.hub.access import issue_token
from citytally.hub.config import HubSettings
from citytally.hub.dashboard.server import DashboardServer, serve
from citytally.hub.store import create_store_engine, sqlite_url

Login = Callable[[Page, DashboardServer, str], None]

pytestmark = [pytest.mark.integration, pytest.mark.browser]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vtest.toml"
SECONDS = 20


@pytest.fixture(scope="module")
def first_seconds(vtest_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """vtest.avi's first SECONDS, its packets copied into a new file: the same frames, decoded the same."""
    path = tmp_path_factory.mktemp("clip") / f"vtest-{SECONDS}s.avi"
    with av.open(str(vtest_path)) as source, av.open(str(path), "w") as sink:
        video = source.streams.video[0]
        stream = sink.add_stream_from_template(video)
        frames = int(SECONDS * video.average_rate)
        for index, packet in enumerate(source.demux(video)):
            if packet.dts is None or index == frames:
                break
            packet.stream = stream
            sink.mux(packet)
    return path


def test_the_demo_videos_parked_vehicles_reach_the_incidents_panel(
    first_seconds: Path, tmp_path: Path, page: Page, built_frontend: Path, login: Login
) -> None:
    printed = io.StringIO()
    result = run_demo(
        out=tmp_path,
        video=first_seconds,
        config=EXAMPLE,
        progress=False,
        serve=False,
        console=Console(file=printed, width=80),
    )
    assert result.error is None and result.frames == SECONDS * 10
    lines = printed.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80, printed.getvalue()
    title = next(k for k, line in enumerate(lines) if line.startswith("Incidents (times"))
    first = next(k for k in range(title, len(lines)) if "no-stopping" in lines[k])
    row = lines[first : lines.index(next(line for line in lines[first:] if line.startswith("└")))]
    cells = [[cell.strip() for cell in line.strip("│").split("│")] for line in row]
    incident, place, _began, _raised, ended, numbers = (
        " ".join(filter(None, column)) for column in zip(*cells, strict=True)
    )
    assert (incident, place) == ("stopped vehicle", "no-stopping"), printed.getvalue()
    assert ended.endswith("video ended") and numbers.startswith("vehicles 2 stopped"), printed.getvalue()
    engine = create_store_engine(sqlite_url(tmp_path / HUB_DATABASE))
    server = serve(HubSettings(), engine, build=False)
    try:
        login(page, server, issue_token(engine, "operator").secret)
        page.click("#nav-incidents")
        shown = page.locator("#incident-rows tr[data-id]")
        shown.first.wait_for(timeout=10_000)
        assert shown.count() == 1  # the demo's one incident, nothing else
        assert "stopped vehicle" in shown.inner_text() and "no-stopping" in shown.inner_text()
        # the clip ended, not the stop
        assert shown.locator("td.state").inner_text().startswith("stream ended")
        assert "vehicles 2" in shown.locator("td.details").inner_text()
    finally:
        server.stop()
        engine.dispose()
