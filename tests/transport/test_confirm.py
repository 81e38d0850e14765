"""Receipts and the re-send plan of end-to-end confirmation (pure logic; the crash tests are in
tests/hub/test_broker_crash.py)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from citytally.transport.confirm import (
    MAX_IDS_PER_RECEIPT,
    HubPresence,
    Receipt,
    ResendPlanner,
    ack_topic,
    event_ids_in,
    receipts_for,
)

IDS = [str(uuid.uuid4()) for _ in range(3)]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (json.dumps({"v": 1, "id": IDS[0], "site": "s"}).encode(), [IDS[0]]),
        (json.dumps([{"id": IDS[0]}, {"id": IDS[1].upper()}]).encode(), IDS[:2]),
        (b'{"id" : "' + IDS[2].encode() + b'"}', [IDS[2]]),
        (b'{"id": "not-a-uuid"}', []),
        (b"\xff\xfe garbage", []),
    ],
)
def test_event_ids_are_found_in_a_message(payload: bytes, expected: list[str]) -> None:
    assert event_ids_in(payload) == expected


def test_receipts_go_to_each_cameras_ack_topic_in_bounded_chunks() -> None:
    many = [{"id": str(uuid.uuid4())} for _ in range(MAX_IDS_PER_RECEIPT + 5)]
    messages = [
        ("p/plaza/cam-1/events", json.dumps(many).encode()),
        ("p/plaza/cam-2/events", json.dumps({"id": IDS[0]}).encode()),
        ("p/plaza/cam-1/events", json.dumps({"id": IDS[1]}).encode()),
        ("p/bad-topic", json.dumps({"id": IDS[2]}).encode()),
    ]
    receipts = [(topic, Receipt.model_validate_json(body)) for topic, body in receipts_for(messages)]
    assert [(topic, len(r.ids)) for topic, r in receipts] == [
        ("p/plaza/cam-1/ack", MAX_IDS_PER_RECEIPT),
        ("p/plaza/cam-1/ack", 6),
        ("p/plaza/cam-2/ack", 1),
    ]
    assert receipts[1][1].ids[-1] == IDS[1]


@pytest.mark.parametrize("topic", ["p/plaza/cam-1/status", "events", "p/x/events/more"])
def test_ack_topic_needs_an_events_topic(topic: str) -> None:
    with pytest.raises(ValueError, match="not an events topic"):
        ack_topic(topic)


def online(at: int) -> HubPresence:
    return HubPresence(online=True, since=datetime.fromtimestamp(at, UTC))


def test_the_plan_resends_only_rows_sent_long_enough_ago() -> None:
    plan = ResendPlanner(resend_after_s=10)
    plan.handed(0, 100)
    plan.handed(5, 200)
    assert plan.start_sweep(9, oldest_seq=1) is None  # nothing was sent 10 s ago yet
    assert plan.start_sweep(12, oldest_seq=1) == 100  # rows sent at t=0; not those of t=5
    assert plan.start_sweep(15, oldest_seq=1) is None  # the next sweep is due 10 s later...
    assert plan.start_sweep(22, oldest_seq=1) == 200
    assert plan.start_sweep(33, oldest_seq=1) is None  # ...and, nothing confirmed, backs off: 20 s
    assert plan.start_sweep(42, oldest_seq=1) == 200
    plan.confirmed()
    assert plan.start_sweep(53, oldest_seq=1) is None  # the backoff of the sweep just started (40 s)
    assert plan.start_sweep(82, oldest_seq=1) == 200
    assert plan.start_sweep(200, oldest_seq=None) is None  # nothing left: no sweep
    assert plan.start_sweep(200, oldest_seq=201) is None  # only rows newer than the cut-off left


def test_the_plan_waits_for_the_hub() -> None:
    plan = ResendPlanner(resend_after_s=10)
    plan.handed(0, 50)
    plan.presence(1, HubPresence(online=False))
    assert plan.start_sweep(30, oldest_seq=1) is None  # the hub is gone: copies would only pile up
    plan.presence(31, online(31))
    assert plan.start_sweep(35, oldest_seq=1) is None  # back, maybe still draining its queue
    plan.presence(36, online(31))  # the same presence again (a reconnect of the edge): no new wait
    assert plan.start_sweep(42, oldest_seq=1) == 50
    plan.presence(43, online(43))  # the hub restarted: wait again
    assert plan.start_sweep(52, oldest_seq=1) is None
    assert plan.start_sweep(54, oldest_seq=1) == 50


def test_the_plan_refuses_a_zero_timeout() -> None:
    with pytest.raises(ValueError, match="positive"):
        ResendPlanner(0)
