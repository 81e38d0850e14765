"""A live stream (``/dashboard/api/live``) ends when its token stops being valid: a real uvicorn server, a
real SSE client over HTTP, tokens revoked (through the API and the command line) or expiring while the
stream is open."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from citytally.events import LineCountEvent
from citytally.hub.access import issue_token, revoke_token
from citytally.hub.dashboard.server import DashboardServer, free_port
from citytally.hub.store import EventWriter, schema
from citytally.hub.web import create_app

from .sse import SseClient

pytestmark = pytest.mark.integration


@pytest.fixture
def server(sqlite_engine: Engine) -> Iterator[DashboardServer]:
    running = DashboardServer(create_app(None, sqlite_engine), "127.0.0.1", free_port()).start()
    yield running
    running.stop()


def store_one(engine: Engine) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    event = LineCountEvent(
        id=uuid.uuid4(), site="plaza", camera="cam-1", start=start, end=start + timedelta(minutes=1),
        line="north", counts={"inbound": {"car": 1}},
    )  # fmt: skip
    assert EventWriter(engine, accept_unknown_cameras=True).write_events([event]).stored == 1


def test_the_stream_delivers_while_the_token_is_valid_and_ends_when_it_is_revoked(
    sqlite_engine: Engine, server: DashboardServer
) -> None:
    viewer = issue_token(sqlite_engine, "viewer")
    admin = issue_token(sqlite_engine, "admin")
    client = SseClient(f"{server.base_url}/dashboard/api/live", viewer.secret)
    assert client.status == 200
    store_one(sqlite_engine)
    assert client.next_event(15)["event"] == "stored"
    revoked = httpx.delete(
        f"{server.base_url}/tokens/{viewer.id}", headers={"Authorization": f"Bearer {admin.secret}"}
    )
    assert revoked.status_code == 204
    store_one(sqlite_engine)  # stored after the revocation: must not reach the revoked token
    rest = client.until_closed(timeout=5)
    assert [f.get("event") for f in rest if "event" in f] == ["access-ended"]
    again = httpx.get(
        f"{server.base_url}/dashboard/api/live", headers={"Authorization": f"Bearer {viewer.secret}"}
    )
    assert again.status_code == 401


def test_an_idle_stream_ends_within_seconds_of_a_command_line_revocation(
    sqlite_engine: Engine, server: DashboardServer
) -> None:
    viewer = issue_token(sqlite_engine, "viewer")
    client = SseClient(f"{server.base_url}/dashboard/api/live", viewer.secret)
    time.sleep(1.0)
    revoked_at = time.monotonic()
    assert revoke_token(sqlite_engine, viewer.id)  # what `citytally token revoke` does, from outside the API
    frames = client.until_closed(timeout=6)
    assert frames[-1]["event"] == "access-ended"
    assert time.monotonic() - revoked_at < 4.0


def test_a_stream_ends_when_its_token_expires(sqlite_engine: Engine, server: DashboardServer) -> None:
    expires = datetime.now(UTC) + timedelta(seconds=2)
    viewer = issue_token(sqlite_engine, "viewer", expires_at=expires)
    client = SseClient(f"{server.base_url}/dashboard/api/live", viewer.secret)
    frames = client.until_closed(timeout=8)
    assert frames[-1]["event"] == "access-ended"
    assert datetime.now(UTC) >= expires


def test_an_event_stored_between_the_streams_start_and_its_first_poll_is_news(sqlite_engine: Engine) -> None:
    from citytally.hub.dashboard.live import LiveCursor

    store_one(sqlite_engine)  # before the stream: old news
    time.sleep(0.05)
    cursor = LiveCursor(after=datetime.now(UTC))  # the stream starts here...
    time.sleep(0.05)
    store_one(sqlite_engine)  # ...this one arrives before its first poll has run
    cursor.skip_stored(sqlite_engine, include_incidents=False)
    assert len(cursor.poll_summaries(sqlite_engine, include_incidents=False)) == 1


@pytest.mark.parametrize(
    ("last_event_id", "replayed"),
    [
        ("2000-01-01T00:00:00Z", ["half an hour ago"]),  # held to the last hour: not every stored event
        ("0001-01-01", ["half an hour ago"]),
        ("0001-01-01T00:00:00+14:00", []),  # before the calendar in UTC: no cursor, a new client
        ("9999-12-31T23:59:59-14:00", []),  # after it
        ("yesterday", []),
    ],
)
def test_a_reconnecting_clients_cursor_reaches_back_an_hour_at_most(
    sqlite_engine: Engine,
    server: DashboardServer,
    caplog: pytest.LogCaptureFixture,
    last_event_id: str,
    replayed: list[str],
) -> None:
    """Last-Event-ID is the client's to write: "0001-01-01" replayed every stored event, and a date the
    look-back's arithmetic overflows on ended the stream with a traceback in the hub's log."""
    stored_at = {"three hours ago": timedelta(hours=3), "half an hour ago": timedelta(minutes=30)}
    for when, ago in stored_at.items():
        store_one(sqlite_engine)
        with sqlite_engine.begin() as conn:
            newest = sa.select(sa.func.max(schema.events.c.received_at)).scalar_subquery()
            conn.execute(
                schema.events.update()
                .where(schema.events.c.received_at == newest)
                .values(received_at=datetime.now(UTC) - ago, site=when)
            )
    viewer = issue_token(sqlite_engine, "viewer")
    client = SseClient(f"{server.base_url}/dashboard/api/live", viewer.secret, last_event_id)
    assert client.status == 200
    time.sleep(1.5)  # several polls: whatever the cursor reaches has been sent
    store_one(sqlite_engine)
    sent = [json.loads(client.next_event(10)["data"])["site"] for _ in range(len(replayed) + 1)]
    assert sent == [*replayed, "plaza"]  # and then the stream goes on with what arrives
    assert "Traceback" not in caplog.text and "OverflowError" not in caplog.text


def test_a_live_stream_is_counted_but_not_timed_as_a_request(sqlite_engine: Engine) -> None:
    """A stream's time open (minutes to hours) went into the request-duration histogram as one request's
    latency, so any latency quantile over routes came out in its top bucket."""
    from citytally.hub.metrics import HubMetrics

    metrics = HubMetrics()
    running = DashboardServer(
        create_app(None, sqlite_engine, metrics=metrics), "127.0.0.1", free_port()
    ).start()
    try:
        viewer = issue_token(sqlite_engine, "viewer")
        client = SseClient(f"{running.base_url}/dashboard/api/live", viewer.secret)
        time.sleep(1.5)
        assert revoke_token(sqlite_engine, viewer.id)
        client.until_closed(timeout=6)
        httpx.get(f"{running.base_url}/health")
    finally:
        running.stop()
    sample = metrics.registry.get_sample_value
    route = "/dashboard/api/live"
    assert sample("citytally_api_requests_total", {"method": "GET", "route": route, "status": "200"}) == 1
    assert sample("citytally_api_request_seconds_count", {"route": route}) in (None, 0)
    assert sample("citytally_api_request_seconds_count", {"route": "/health"}) == 1
