"""The store follower (the live stream's and the alert relay's cursor) on both databases: every stored event
once, in order (by the end of its interval where many share a time), and late commits within the look-back
window."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from citytally.events import Event, event_to_json
from citytally.hub.dashboard.live import LiveCursor
from citytally.hub.store import EventWriter, schema
from citytally.hub.store.follow import LOOKBACK, StoreFollower, store_now
from citytally.hub.store.writer import Received
from hub.conftest import empty_store, line_count_event

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_every_event_once_in_batches_however_many_share_a_time(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    make_registry(store_engine)
    writer = EventWriter(store_engine)
    now = datetime.now(UTC)
    follower = StoreFollower(after=now, batch=100)
    same_time = [line_count_event(start=T0 + timedelta(minutes=5 * k)) for k in range(250)]
    writer.write_events(same_time, received_at=now + timedelta(seconds=1))
    e = schema.events
    columns = (e.c.id, e.c.received_at, e.c.end)
    seen: list[str] = []
    with store_engine.connect() as conn:
        for expected in (100, 100, 50, 0):
            batch = follower.poll(conn, columns)
            assert len(batch) == expected
            seen += [str(row.id) for row in batch]
    # one MQTT message's events share their received_at: they come in the order of their intervals' ends
    assert seen == [str(event.id) for event in same_time]
    # committed late: stamped before the cursor, within the look-back window
    late = line_count_event(start=T0 - timedelta(days=1))
    writer.write_events([late], received_at=now + timedelta(seconds=1) - LOOKBACK / 2)
    too_late = line_count_event(start=T0 - timedelta(days=2))
    writer.write_events([too_late], received_at=now - LOOKBACK)
    following = line_count_event(start=T0 + timedelta(days=1))
    writer.write_events([following], received_at=now + timedelta(seconds=2))
    with store_engine.connect() as conn:
        assert [str(row.id) for row in follower.poll(conn, columns)] == [str(late.id), str(following.id)]
        assert follower.poll(conn, columns) == []


def test_a_filter_and_a_new_reader_skipping_what_was_stored(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    make_registry(store_engine)
    writer = EventWriter(store_engine)
    now = datetime.now(UTC)
    writer.write_events([line_count_event(start=T0)], received_at=now - timedelta(seconds=1))
    follower = StoreFollower(after=now)
    e = schema.events
    with store_engine.connect() as conn:
        follower.skip_old(conn)
    news = line_count_event(start=T0 + timedelta(hours=1))
    writer.write_events([news], received_at=now + timedelta(seconds=1))
    with store_engine.connect() as conn:
        assert follower.poll(conn, (e.c.id, e.c.received_at, e.c.end), e.c.type == "incident") == []
    follower = StoreFollower(after=now)
    with store_engine.connect() as conn:
        follower.skip_old(conn)
        assert [row.id for row in follower.poll(conn, (e.c.id, e.c.received_at, e.c.end))] == [news.id]


def test_on_postgresql_hubs_whose_clocks_are_off_stamp_by_the_databases_clock(
    pg_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    """Two hubs ingest side by side and one's clock runs 20 s ahead. Each stamped what it stored by its
    own clock, so once a row of the hub ahead was read, the next rows of the other lay 20 s behind the
    cursor, beyond its look-back, and the live stream and the alert relay passed them by (two real hubs,
    one under faketime: 6 of 12 alerts lost). On PostgreSQL the database's clock stamps them."""
    empty_store(pg_engine)
    make_registry(pg_engine)
    writer = EventWriter(pg_engine)
    with pg_engine.connect() as conn:
        follower = StoreFollower(after=store_now(conn))

    def message(received_at: datetime) -> tuple[Event, Received]:
        event = line_count_event(start=T0)
        topic = f"citytally/{event.site}/{event.camera}/events"
        return event, Received(topic, event_to_json(event).encode(), received_at)

    columns = (schema.events.c.id, schema.events.c.received_at, schema.events.c.end)
    read: list[Any] = []
    stored = []
    for offset_s in (20, 0, 20, 0):  # the hub ahead, the hub in step, ...
        event, received = message(datetime.now(UTC) + timedelta(seconds=offset_s))
        assert writer.write_messages([received]).stored == 1
        stored.append(event.id)
        with pg_engine.connect() as conn:
            read += [row.id for row in follower.poll(conn, columns)]
    assert read == stored


def test_on_postgresql_a_live_stream_starts_by_the_databases_clock(
    pg_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    """A dashboard's hub whose clock runs 20 s ahead started a new live stream 20 s ahead of the rows the
    database stamps: what was stored in the next 10 s lay beyond its look-back and never showed."""
    empty_store(pg_engine)
    make_registry(pg_engine)
    cursor = LiveCursor(after=datetime.now(UTC) + timedelta(seconds=20))  # the hub's clock
    cursor.skip_stored(pg_engine, include_incidents=False)
    news = line_count_event(start=T0)
    topic = f"citytally/{news.site}/{news.camera}/events"
    assert EventWriter(pg_engine).write_messages([Received(topic, event_to_json(news).encode(), T0)]).stored
    assert [row["id"] for row in cursor.poll_summaries(pg_engine, include_incidents=False)] == [str(news.id)]
