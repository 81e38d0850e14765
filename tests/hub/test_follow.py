"""The store follower (the live stream's and the alert relay's cursor) on both databases: every stored event
once, in order (by the end of its interval where many share a time), and late commits within the look-back
window."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from citytally.hub.store import EventWriter, schema
from citytally.hub.store.follow import LOOKBACK, StoreFollower
from hub.conftest import line_count_event

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
