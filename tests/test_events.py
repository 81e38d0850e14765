"""The event schema (v1): valid events round-trip; anything else is refused with a one-line reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from citytally.errors import SchemaError
from citytally.events import (
    MAX_COUNT,
    SPEED_BINS,
    LineCountEvent,
    SpeedStats,
    event_to_json,
    event_topic,
    new_event_id,
    parse_event,
)

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def line_count(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "v": 1,
        "id": str(new_event_id()),
        "site": "plaza",
        "camera": "cam-1",
        "start": T0.isoformat(),
        "end": (T0 + timedelta(minutes=15)).isoformat(),
        "type": "line_count",
        "line": "north",
        "counts": {"inbound": {"person": 3, "bicycle": 1}, "outbound": {"car": 2}},
    }
    body.update(overrides)
    return body


def test_round_trip() -> None:
    event = parse_event(json.dumps(line_count()))
    assert isinstance(event, LineCountEvent)
    assert event.counts["inbound"]["person"] == 3
    assert parse_event(event_to_json(event)) == event


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\xff\xfe", "not JSON"),
        ("[1, 2]", "must be a JSON object"),
        (json.dumps(line_count(v=2)), "unsupported schema version"),
        (json.dumps(line_count(type="faces")), "type"),
        (json.dumps(line_count(site="Plaza One")), "site"),
        (json.dumps(line_count(counts={"inbound": {"person": -1}})), "counts"),
        (json.dumps(line_count(counts={"inbound": {"pedestrian_age": 1}})), "counts"),
        (json.dumps(line_count(end=T0.isoformat())), "end"),
        (json.dumps(line_count(start="2026-11-23T08:00:00")), "start"),
    ],
)
def test_refused_with_reason(raw: str | bytes, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        parse_event(raw)


@pytest.mark.parametrize("field", ["track_id", "track_ids", "image", "face", "plate", "person_id"])
def test_no_identifying_field_can_ride_along(field: str) -> None:
    """Privacy guard: the schema refuses any field it does not name, so no identifier can leak through."""
    with pytest.raises(SchemaError, match=field):
        parse_event(line_count(**{field: "x"}))


def test_topic() -> None:
    assert event_topic("plaza", "cam-1") == "citytally/plaza/cam-1/events"
    with pytest.raises(SchemaError):
        event_topic("plaza/#", "cam-1")


def incident(**overrides: Any) -> dict[str, Any]:
    body = line_count(type="incident", incident="wrong_way", zone="lane-1", severity="critical")
    del body["line"], body["counts"]
    body.update(overrides)
    return body


def accepted_or_refused(raw: str, error: str | None) -> None:
    """``raw`` parses and round-trips when ``error`` is None, else is refused with a message matching it."""
    if error is None:
        event = parse_event(raw)
        assert parse_event(event_to_json(event)) == event
    else:
        with pytest.raises(SchemaError, match=error):
            parse_event(raw)


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({}, None),
        ({"incident_id": str(new_event_id()), "phase": "onset"}, None),
        ({"incident_id": str(new_event_id()), "phase": "cleared", "incident": "left_object"}, None),
        ({"phase": "onset"}, "incident_id and phase go together"),
        ({"incident_id": str(new_event_id())}, "incident_id and phase go together"),
        ({"incident_id": str(new_event_id()), "phase": "ended"}, "phase"),
        ({"details": {"track_id": [3]}}, "details"),
        # Details are a few numbers and short words about the place, bounded: no free text, no blob, and
        # named from a closed list: a track id, a position or a time of one road user has no name there.
        ({"details": {"level": "E", "persons_per_m2": 4.2, "flow_collapse": 0}}, None),
        ({"details": {"track_id": 3}}, "details.track_id.*not a detail name"),
        ({"details": {"subject": 1020723175}}, "details.subject.*not a detail name"),
        ({"details": {"stopped_s": 95, "at_x": 412.5, "at_y": 300.1, "seen_s": 12.3}}, "not a detail name"),
        ({"details": {"person_id": 123456789}}, "not a detail name"),
        ({"details": {"level": "x" * 1_000_000}}, "details.level"),
        ({"details": {"k" * 5000: 1}}, "details"),
        ({"details": {"Plate Text": 1}}, "details"),
        ({"details": {f"n{i}": i for i in range(33)}}, "details"),
        ({"details": {"vehicles": 2**60}}, "details.vehicles"),
        ({"details": {"vehicles": 1e308}}, "details.vehicles"),
        ({"details": {"level": "E", "persons": 1e15, "moved_m": -(10**15)}}, None),
        ({"details": {"level": "E\u0000"}}, "details.level: .* holds a character that does not print"),
        ({"details": {"level": "E\nF"}}, "details.level"),
        ({"details": {"level": "E\u00a0F"}}, "details.level"),  # a no-break space
        ({"details": {"change": "verschoben, Süd"}}, None),
    ],
)
def test_incident_lifecycle_fields(overrides: dict[str, Any], error: str | None) -> None:
    accepted_or_refused(json.dumps(incident(**overrides)), error)


def speed(**stats: Any) -> dict[str, Any]:
    body = line_count(type="speed")
    del body["counts"]
    body["speeds"] = {"inbound": {"car": {"n": 4, "mean_kmh": 31.0, "p85_kmh": 38.0, **stats}}}
    return body


@pytest.mark.parametrize(
    ("stats", "error"),
    [
        ({}, None),  # an edge that sends no histogram (before it existed) stays valid
        ({"histogram": [0, 0, 0, 0, 0, 0, 3, 1]}, None),
        ({"histogram": [0, 0, 0, 0, 0, 0, 3]}, "histogram holds 3 road users, n is 4"),
        ({"histogram": [0, 0, 0, 0, 0, 0, 3, 1, 0]}, "trailing zeros"),
        ({"histogram": []}, "histogram"),
        ({"histogram": [0] * 64 + [4]}, "histogram"),
        ({"histogram": [0, 0, 0, 0, 0, 0, 5, -1]}, "histogram"),
        # No road user is faster than 1,000 km/h and no camera sees ten million in one interval: beyond
        # that a number is an edge's bug, which must not overflow the sums it would join.
        ({"n": MAX_COUNT, "mean_kmh": 1000.0, "p85_kmh": 1000.0}, None),
        ({"p85_kmh": 1000.5}, "p85_kmh: Input should be less than or equal to 1000"),
        ({"mean_kmh": 1e308}, "mean_kmh"),
        ({"n": MAX_COUNT + 1}, "speeds.inbound.car.n"),
    ],
)
def test_speed_histogram(stats: dict[str, Any], error: str | None) -> None:
    accepted_or_refused(json.dumps(speed(**stats)), error)


def test_speed_stats_of_speeds_bins_each_road_user() -> None:
    stats = SpeedStats.of([0.0, 4.99, 5.0, 49.0, 1000.0])
    assert stats.histogram is not None
    assert stats.histogram[:2] == [2, 1] and stats.histogram[9] == 1
    assert (len(stats.histogram), stats.histogram[-1]) == (SPEED_BINS, 1)  # the last bin is open-ended
    with pytest.raises(ValueError, match="no speeds"):
        SpeedStats.of([])


def test_times_read_at_any_offset_are_held_and_written_in_utc() -> None:
    """The wire form is UTC: an event read at +01:00 is the same instants, written with "Z"; a time whose
    UTC falls off the calendar is a one-line schema error, not an overflow."""
    body = {
        "v": 1,
        "id": "00000000-0000-0000-0000-000000000001",
        "type": "line_count",
        "site": "plaza",
        "camera": "cam-1",
        "start": "2026-11-23T09:00:00+01:00",
        "end": "2026-11-23T09:01:00+01:00",
        "line": "main",
        "counts": {},
    }
    event = parse_event(body)
    assert event.start == datetime(2026, 11, 23, 8, 0, tzinfo=UTC) and event.start.utcoffset() == timedelta(0)
    assert '"start":"2026-11-23T08:00:00Z","end":"2026-11-23T08:01:00Z"' in event_to_json(event)
    with pytest.raises(SchemaError, match="outside the calendar"):
        parse_event(body | {"start": "0001-01-01T00:00:00+05:30", "end": "0001-01-01T01:00:00+05:30"})


@pytest.mark.parametrize(
    ("kind", "length", "error"),
    [
        (line_count, timedelta(days=1), None),  # interval_seconds = 86400
        (line_count, timedelta(days=1, seconds=1), "longer than a day: no edge reports one"),
        (incident, timedelta(days=3), None),  # a crowd, or a view changed, for days
    ],
)
def test_a_reporting_interval_is_at_most_a_day(kind: Any, length: timedelta, error: str | None) -> None:
    """The hub's overlap check of a recording looks back a day for what overlaps it: a forged interval of a
    week was not found, so the recording over it was added. No edge sends one; the hub refuses it."""
    accepted_or_refused(json.dumps(kind(end=(T0 + length).isoformat())), error)
