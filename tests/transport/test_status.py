"""Edge status messages: topics and the payload the hub accepts (unit tests; the MQTT path is in
test_outbox)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from citytally.transport.status import OutboxStatus, camera_of_status_topic, status_subscription, status_topic

GOOD = {"v": 1, "outbox_depth": 12, "oldest_pending_s": 3.5, "at": "2026-11-23T12:00:00Z"}


@pytest.mark.parametrize(
    ("events_topic", "expected"),
    [
        ("citytally/plaza/cam-1/events", "citytally/plaza/cam-1/status"),
        ("x/y/events", "x/y/status"),
        ("citytally/plaza/cam-1/status", None),
        ("events", None),
    ],
)
def test_status_topic_sits_beside_the_events_topic(events_topic: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(ValueError, match="not an events topic"):
            status_topic(events_topic)
    else:
        assert status_topic(events_topic) == expected


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("citytally/plaza/cam-1/status", ("plaza", "cam-1")),
        ("citytally/plaza/cam-1/events", None),
        ("other/plaza/cam-1/status", None),
        ("citytally/plaza/status", None),
    ],
)
def test_camera_of_status_topic(topic: str, expected: tuple[str, str] | None) -> None:
    assert camera_of_status_topic(topic, "citytally") == expected
    assert status_subscription("citytally") == "citytally/+/+/status"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({}, None),
        ({"outbox_depth": -1}, "greater than or equal to 0"),
        ({"oldest_pending_s": float("inf")}, "finite"),
        ({"at": "2026-11-23T12:00:00"}, "timezone"),
        ({"v": 2}, "Input should be 1"),
        ({"camera_owner": "x"}, "Extra inputs are not permitted"),
        ({"held_in_memory": 12}, None),
        ({"held_in_memory": 13}, "more held in memory than queued"),
        ({"held_in_memory": -1}, "greater than or equal to 0"),
        ({"dropped": 3}, None),
        ({"dropped": -1}, "greater than or equal to 0"),
    ],
)
def test_status_payload(change: dict[str, Any], error: str | None) -> None:
    payload = json.dumps(GOOD | change, allow_nan=True)
    if error is None:
        assert OutboxStatus.model_validate_json(payload).outbox_depth == 12
        return
    with pytest.raises(ValidationError, match=error):
        OutboxStatus.model_validate_json(payload)
