"""The ``conflict`` event: valid bodies round-trip; inconsistent or identifying ones are refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from citytally.errors import SchemaError
from citytally.events import ConflictEvent, event_to_json, new_event_id, parse_event


def conflict(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "v": 1,
        "id": str(new_event_id()),
        "site": "plaza",
        "camera": "cam-1",
        "start": "2026-11-23T08:00:00Z",
        "end": "2026-11-23T08:15:00Z",
        "type": "conflict",
        "zone": "junction",
        "road_users": {"car": 120, "person": 40},
        "conflicts": [
            {"type": "crossing", "severity": "serious", "classes": "car-person", "count": 2},
            {"type": "rear_end", "severity": "slight", "classes": "car-car", "count": 1},
        ],
        "ttc": {"edges_s": [0, 1, 2], "counts": [0, 0, 1]},
        "pet": {"edges_s": [0, 1], "counts": [2, 0]},
        "cell_m": 5.0,
        "cells": [{"x_m": 10.0, "y_m": -5.0, "image_x": 320.5, "image_y": 200.0, "count": 3}],
    }
    body.update(overrides)
    return body


def test_round_trip() -> None:
    event = parse_event(json.dumps(conflict()))
    assert isinstance(event, ConflictEvent)
    assert event.total == 3
    assert parse_event(event_to_json(event)) == event


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"conflicts": [{"type": "crossing", "severity": "serious", "classes": "person-car", "count": 1}]},
            "alphabetical",
        ),
        (
            {"conflicts": [{"type": "crossing", "severity": "serious", "classes": "car-horse", "count": 1}]},
            "classes",
        ),
        (
            {"conflicts": [{"type": "head_on", "severity": "serious", "classes": "car-car", "count": 1}]},
            "type",
        ),
        (
            {"conflicts": [{"type": "crossing", "severity": "fatal", "classes": "car-car", "count": 1}]},
            "severity",
        ),
        (
            {"conflicts": [{"type": "crossing", "severity": "slight", "classes": "car-car", "count": 0}]},
            "count",
        ),
        ({"ttc": {"edges_s": [0, 1], "counts": [1]}}, "1 counts for 2 bins"),
        ({"ttc": {"edges_s": [1, 0], "counts": [0, 0]}}, "must increase"),
        ({"cells": [{"x_m": 0, "y_m": 0, "count": 4}]}, "cells holds 4 conflicts, more than the 3"),
        ({"pet": {"edges_s": [0], "counts": [9]}}, "pet holds 9"),
        ({"road_users": {"car": -1}}, "road_users"),
        ({"track_ids": [1, 2]}, "track_ids"),
        ({"cells": [{"x_m": 0, "y_m": 0, "count": 1, "track_id": 7}]}, "track_id"),
    ],
)
def test_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        parse_event(json.dumps(conflict(**overrides)))
