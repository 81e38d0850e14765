"""Live updates: an event published on the demo's in-process bus (SQLite), and one stored by another
process in PostgreSQL (the production shape), each appear in an open page within 2 seconds."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page
from sqlalchemy.engine import make_url

from citytally.events import Event
from citytally.hub.access import issue_token
from citytally.hub.dashboard.server import DashboardServer, serve
from citytally.hub.embedded import EmbeddedHub, open_embedded_hub
from citytally.hub.store import create_store_engine, migrate

pytestmark = [pytest.mark.integration, pytest.mark.browser]

SERVER_URL = os.environ.get(
    "CITYTALLY_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

#: The other process: the hub's own writer, as ingest uses it, storing one line-count event.
WRITER = textwrap.dedent(
    """
    import sys, uuid
    from datetime import UTC, datetime, timedelta
    from citytally.events import LineCountEvent
    from citytally.hub.store import EventWriter, create_store_engine
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    event = LineCountEvent(id=uuid.uuid4(), site="demo-plaza", camera="vtest", start=start,
                           end=start + timedelta(minutes=1), line="centre",
                           counts={"westbound": {"car": 7}})
    result = EventWriter(create_store_engine(sys.argv[1])).write_events([event])
    sys.exit(0 if result.stored == 1 else 1)
    """
)


@pytest.fixture(scope="module")
def pg_engine(seed_store: Callable[[sa.Engine], None]) -> Iterator[sa.Engine]:
    """A fresh, migrated and seeded PostgreSQL database, dropped afterwards."""
    name = f"citytally_dash_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = create_store_engine(
        make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)
    )
    try:
        migrate(engine)
        seed_store(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="module")
def pg_server(pg_engine: sa.Engine, built_frontend: Path) -> Iterator[DashboardServer]:
    server = serve(None, pg_engine, build=False)
    yield server
    server.stop()


def test_an_event_from_another_process_appears_within_two_seconds(
    page: Page,
    pg_engine: sa.Engine,
    pg_server: DashboardServer,
    login: Callable[[Page, DashboardServer, str], None],
) -> None:
    login(page, pg_server, issue_token(pg_engine, "viewer").secret)
    page.wait_for_selector("#overview-summary[data-total]")
    page.wait_for_selector("#live-status[data-state=live]")
    before = int(page.get_attribute("#overview-summary", "data-total") or -1)
    url = pg_engine.url.render_as_string(hide_password=False)
    done = subprocess.run([sys.executable, "-c", WRITER, url], capture_output=True, text=True, timeout=60)
    stored_at = time.monotonic()
    assert done.returncode == 0, done.stderr
    page.wait_for_function(
        "n => Number(document.querySelector('#overview-summary').dataset.total) === n",
        arg=before + 7,
        timeout=2000,
    )
    assert time.monotonic() - stored_at < 2.0


@pytest.fixture
def embedded(tmp_path: Path, seed_store: Callable[[sa.Engine], None]) -> Iterator[EmbeddedHub]:
    """The demo's hub: SQLite, the in-process bus storing what is published, the hub's settings."""
    hub = open_embedded_hub(tmp_path / "hub.sqlite3")
    seed_store(hub.engine)
    yield hub
    hub.close()


def test_an_event_published_on_the_in_process_bus_appears_within_two_seconds(
    page: Page,
    embedded: EmbeddedHub,
    built_frontend: Path,
    login: Callable[[Page, DashboardServer, str], None],
    line_count: Callable[..., Event],
) -> None:
    server = serve(embedded.settings, embedded.engine, build=False)
    try:
        login(page, server, issue_token(embedded.engine, "viewer").secret)
        page.wait_for_selector("#overview-summary[data-total]")
        page.wait_for_selector("#live-status[data-state=live]")
        before = int(page.get_attribute("#overview-summary", "data-total") or -1)
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        embedded.bus.publish(line_count("north-gate", now, 5, 1))
        published_at = time.monotonic()
        page.wait_for_function(
            "n => Number(document.querySelector('#overview-summary').dataset.total) === n",
            arg=before + 5 + 1 + 6,
            timeout=2000,
        )
        assert time.monotonic() - published_at < 2.0
    finally:
        server.stop()
