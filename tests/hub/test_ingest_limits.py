"""No single message stops ingest: poison payloads (deep nesting, huge integers, huge arrays, absurd dates)
become one dead letter each, with a one-line reason, and the events after them are stored."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from citytally.events import event_to_json, event_topic, new_event_id, parse_event
from citytally.hub.ingest import Ingest
from citytally.hub.metrics import HubMetrics
from citytally.hub.store import EventWriter, Received, WriteResult, schema
from hub.conftest import T0, event_stream, mqtt_settings_for, wait_until

pytestmark = pytest.mark.integration

TOPIC = "citytally/plaza/cam-1/events"

#: The issue's payloads: 2 KB of arrays nested 1,000 deep, and an integer of 5,000 digits.
NESTED_1000 = b"[" * 1000 + b"]" * 1000
INTEGER_5000 = b"9" * 5000
#: And the 200,000-element array that became 200,000 dead letters and stalled ingest for 10 s.
ARRAY_200000 = b"[" + b",".join([b"{}"] * 200_000) + b"]"


def line_count(start: datetime = T0, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "v": 1,
        "id": str(new_event_id()),
        "site": "plaza",
        "camera": "cam-1",
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=5)).isoformat(),
        "type": "line_count",
        "line": "north",
        "counts": {"inbound": {"car": 2}},
    }
    return body | overrides


def huge_count_event() -> bytes:
    """A line-count event whose one count is an integer of 5,000 digits."""
    return json.dumps(line_count()).replace('"car": 2', '"car": ' + "9" * 5000).encode()


def dead_letters(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(sa.select(schema.dead_letters).order_by(schema.dead_letters.c.id)))


def stored(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(schema.events)).scalar_one())


@pytest.fixture
def start_ingest(mqtt_prefix: str) -> Iterator[Callable[..., Ingest]]:
    started: list[Ingest] = []

    def start(engine: Engine) -> Ingest:
        ingest = Ingest(
            EventWriter(engine, topic_prefix=mqtt_prefix),
            mqtt_settings_for(mqtt_prefix),
            metrics=HubMetrics(),
        )
        ingest.start()
        assert ingest.wait_connected(10), "ingest did not connect to the broker"
        started.append(ingest)
        return ingest

    yield start
    for ingest in started:
        ingest.stop(timeout=5)


def test_poison_messages_are_dead_lettered_and_the_events_after_them_stored(
    store_engine: Engine,
    make_registry: Callable[..., Any],
    mqtt_client: mqtt.Client,
    mqtt_prefix: str,
    start_ingest: Callable[..., Ingest],
) -> None:
    make_registry(store_engine)
    ingest = start_ingest(store_engine)
    topic = event_topic("plaza", "cam-1", mqtt_prefix)
    # A NUL in a field name (or the type) is quoted by the schema error: PostgreSQL's text cannot hold it,
    # and the dead letter it refused stopped ingest for good (one 300-byte message).
    nul_name = json.dumps(line_count() | {"bad\u0000name": 1}).encode()
    nul_type = json.dumps(line_count(type="line\u0000count")).encode()
    poison = [NESTED_1000, INTEGER_5000, huge_count_event(), ARRAY_200000, nul_name, nul_type]
    for payload in poison:
        mqtt_client.publish(topic, payload, qos=1).wait_for_publish(10)
    good = event_stream(10, cameras=1)
    for event in good:
        mqtt_client.publish(topic, event_to_json(event), qos=1).wait_for_publish(10)
    wait_until(lambda: ingest.totals.stored >= 10, 20, "the 10 good events after the poison")
    wait_until(lambda: ingest.totals.dead.total() >= 6, 5, "6 dead letters")
    assert stored(store_engine) == 10
    letters = dead_letters(store_engine)
    assert [bytes(letter.payload) for letter in letters] == poison
    kinds = ["too_large", "not_json", "not_json", "too_large", "schema", "schema"]
    assert [letter.kind for letter in letters] == kinds
    assert all(letter.reason and "\n" not in letter.reason for letter in letters)
    assert "deeper than 16 levels" in letters[0].reason
    assert "bad\\x00name" in letters[4].reason and "\\x00" in letters[5].reason


def received(payload: bytes | dict[str, Any] | list[Any], at: datetime = T0) -> Received:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return Received(TOPIC, raw, at)


@pytest.mark.parametrize(
    ("payload", "kind", "reason"),
    [
        (NESTED_1000, "too_large", "nests deeper than 16 levels"),
        (b"[" * 5000 + b"]" * 5000, "too_large", "nests deeper than 16 levels"),
        (b'{"a":' * 1000 + b"1" + b"}" * 1000, "too_large", "nests deeper than 16 levels"),
        (INTEGER_5000, "not_json", "not JSON"),
        (b"[" + b",".join([b"1"] * 200_000) + b"]", "too_large", "array of 200000 elements"),
        (ARRAY_200000, "too_large", "array of 200000 elements"),
        (b"[" + b",".join([json.dumps(line_count()).encode()] * 20_000) + b"]", "too_large", "bytes"),
        (
            json.dumps(line_count(counts={"in": {"car": [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}})).encode(),
            "too_large",
            "deeper",
        ),
    ],
    ids=[
        "nested-1000",
        "nested-5000",
        "objects-1000",
        "integer-5000",
        "array-200000",
        "objects-200000",
        "4-MB",
        "deep-field",
    ],
)
def test_a_message_beyond_the_bounds_is_one_dead_letter(
    sqlite_engine: Engine, make_registry: Callable[..., Any], payload: bytes, kind: str, reason: str
) -> None:
    make_registry(sqlite_engine)
    good = received(line_count())
    started = time.perf_counter()
    result = EventWriter(sqlite_engine).write_messages([received(payload), good])
    assert time.perf_counter() - started < 5
    assert (result.stored, dict(result.dead)) == (1, {kind: 1})
    [letter] = dead_letters(sqlite_engine)
    assert reason in letter.reason and "\n" not in letter.reason
    kept = (
        payload if len(payload) <= 4 * 1024 * 1024 else payload[: 64 * 1024]
    )  # the first 64 KiB of a long one
    assert bytes(letter.payload) == kept


def test_health_and_a_gauge_say_when_ingest_does_not_advance(
    pg_engine: Engine,
    pg_url: str,
    make_registry: Callable[..., Any],
    mqtt_client: mqtt.Client,
    mqtt_prefix: str,
) -> None:
    from fastapi.testclient import TestClient

    from citytally.hub.config import IngestSettings
    from citytally.hub.web import create_app
    from hub.conftest import empty_store

    empty_store(pg_engine)
    make_registry(pg_engine)
    metrics = HubMetrics()
    settings = IngestSettings(stall_after_s=1)
    ingest = Ingest(
        EventWriter(pg_engine, topic_prefix=mqtt_prefix),
        mqtt_settings_for(mqtt_prefix),
        settings,
        metrics=metrics,
    )
    stalled_gauge = "citytally_ingest_stalled_seconds"
    locker = sa.create_engine(pg_url)
    ingest.start()
    try:
        assert ingest.wait_connected(10)
        with TestClient(create_app(None, pg_engine, metrics=metrics)) as client, locker.connect() as lock:
            assert client.get("/health").json()["status"] == "ok"
            # Another session holds the events table: ingest's writes hang (no error, no progress).
            lock.exec_driver_sql("LOCK TABLE events IN EXCLUSIVE MODE")
            for event in event_stream(3, cameras=1):
                publish_to = event_topic(event.site, event.camera, mqtt_prefix)
                mqtt_client.publish(publish_to, event_to_json(event), qos=1).wait_for_publish(10)
            wait_until(lambda: (metrics.registry.get_sample_value(stalled_gauge) or 0) >= 1, 10, "a stall")
            answer = client.get("/health")
            assert answer.status_code == 503
            assert answer.json()["status"] == "stalled" and answer.json()["ingest_waiting"] == 3
            assert answer.json()["database"] == "ok" and answer.json()["ingest_stalled_s"] >= 1
            lock.rollback()  # the lock goes: ingest advances again
            wait_until(lambda: ingest.totals.stored >= 3, 20, "the 3 events after the lock")
            answer = client.get("/health")
            assert answer.status_code == 200 and answer.json()["status"] == "ok"
            assert metrics.registry.get_sample_value(stalled_gauge) == 0
    finally:
        ingest.stop(timeout=5)
        locker.dispose()


class _WriterWithABug(EventWriter):
    """A real writer with a bug that only one payload triggers (what the writer's own guard cannot catch)."""

    def write_messages(self, messages: Sequence[Received]) -> WriteResult:
        if any(b"trigger-the-bug" in message.payload for message in messages):
            raise KeyError("a bug in the writer")
        return super().write_messages(messages)


def test_a_batch_that_raises_is_written_one_by_one_and_the_culprit_dead_lettered(
    sqlite_engine: Engine, make_registry: Callable[..., Any], mqtt_client: mqtt.Client, mqtt_prefix: str
) -> None:
    make_registry(sqlite_engine)
    ingest = Ingest(_WriterWithABug(sqlite_engine, topic_prefix=mqtt_prefix), mqtt_settings_for(mqtt_prefix))
    ingest.start()
    try:
        assert ingest.wait_connected(10)
        topic = event_topic("plaza", "cam-1", mqtt_prefix)
        events = event_stream(6, cameras=1)
        for index, event in enumerate(events):
            mqtt_client.publish(topic, event_to_json(event), qos=1).wait_for_publish(10)
            if index == 2:
                mqtt_client.publish(topic, b'"trigger-the-bug"', qos=1).wait_for_publish(10)
        wait_until(lambda: ingest.totals.stored >= 6, 20, "the 6 events around the bad message")
        wait_until(lambda: ingest.totals.dead.total() >= 1, 5, "its dead letter")
    finally:
        ingest.stop(timeout=5)
    [letter] = dead_letters(sqlite_engine)
    assert (
        letter.kind == "unreadable" and letter.reason == "writing it raised KeyError: 'a bug in the writer'"
    )


@pytest.mark.parametrize(
    ("start", "kind"),
    [
        (datetime(9999, 12, 31, 23, 0, tzinfo=UTC), "time_window"),
        (T0 + timedelta(minutes=50), None),  # ends 55 min after it was received: inside the hour
        (T0 + timedelta(minutes=56), "time_window"),
        (T0 - timedelta(days=3649), None),
        (datetime(1970, 1, 1, tzinfo=UTC), "time_window"),
    ],
    ids=["year-9999", "55-min-ahead", "61-min-ahead", "3649-days-old", "1970"],
)
def test_events_dated_far_from_now_are_dead_lettered(
    store_engine: Engine, make_registry: Callable[..., Any], start: datetime, kind: str | None
) -> None:
    from citytally.hub.config import IngestSettings

    make_registry(store_engine)
    writer = EventWriter(store_engine, limits=IngestSettings().message_limits())
    body = line_count(start)
    as_array = line_count(start) | {"id": str(new_event_id())}
    result = writer.write_messages([received(body), received([as_array, line_count()])])
    assert (result.stored, dict(result.dead)) == ((1, {kind: 2}) if kind else (3, {}))
    for letter in dead_letters(store_engine):
        assert "edge's clock" in letter.reason or "before it was received" in letter.reason
    in_process = writer.write_events([parse_event(line_count(start))], received_at=T0)
    assert dict(in_process.dead) == ({kind: 1} if kind else {})


def test_an_incident_with_unbounded_details_is_one_dead_letter(
    sqlite_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    # An incident's details are a few numbers and short words. A megabyte of text in them (an edge's bug,
    # or a stolen edge password) was stored, served whole in every /incidents and NGSI-LD answer and
    # relayed on the alert topic: it is one dead letter, with a reason, and the events after it are stored.
    make_registry(sqlite_engine)
    body = line_count(type="incident", incident="left_object", zone="north", severity="warning")
    del body["line"], body["counts"]
    blob = body | {"details": {"area_px": 900, "level": "x" * 1_000_000}}
    result = EventWriter(sqlite_engine).write_messages([received(blob), received(line_count())])
    assert (result.stored, dict(result.dead)) == (1, {"schema": 1})
    [letter] = dead_letters(sqlite_engine)
    assert letter.reason == "incident.details.level: Value error, a text of 1000000 characters; at most 40"
