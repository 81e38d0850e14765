"""Series of a time zone's hours and days (``tz``) on both stores: the REST series gave UTC's only, so a
traffic engineer in India asking for daily counts got days running from 05:30 to 05:30, and in Berlin
from 01:00 (02:00 in summer). Each expected figure here is summed from the events themselves, by the local
date or hour of their start, not from the roll-ups."""

from __future__ import annotations

import csv
import io
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from citytally.events import (
    IncidentEvent,
    LineCountEvent,
    SpeedEvent,
    TurningMovementEvent,
    ZoneOccupancyEvent,
)
from citytally.hub.access import issue_token
from citytally.hub.store import EventWriter
from citytally.hub.web import create_app

pytestmark = pytest.mark.integration

#: Europe's clocks go back on 25 October 2026: that day has 25 hours in Berlin.
T0 = datetime(2026, 10, 23, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def client(store_engine: Engine, make_registry: Callable[..., Any]) -> Iterator[tuple[TestClient, Any]]:
    make_registry(store_engine, ("plaza", "cam-1"), ("plaza", "cam-2"))
    viewer = {"Authorization": f"Bearer {issue_token(store_engine, 'viewer').secret}"}
    with TestClient(create_app(None, store_engine)) as test_client:
        yield test_client, viewer


def crossing(start: datetime, counts: dict[str, int], camera: str = "cam-1") -> LineCountEvent:
    return LineCountEvent(
        id=uuid.uuid4(),
        site="plaza",
        camera=camera,
        start=start,
        end=start + MINUTE,
        line="north",
        counts={"inbound": counts},
    )


def midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def window(tz: ZoneInfo, first: date, days: int) -> dict[str, str]:
    return {
        "start": midnight(first, tz).isoformat(),
        "end": midnight(first + timedelta(days=days), tz).isoformat(),
        "tz": tz.key,
    }


@pytest.mark.parametrize(
    "zone", ["Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns", "Europe/Berlin", "UTC"]
)
@pytest.mark.parametrize("interval", ["1d", "1h"])
def test_counts_per_local_day_and_hour_are_the_crossings_of_that_day_and_hour(
    client: tuple[TestClient, Any], store_engine: Engine, zone: str, interval: str
) -> None:
    """Crossings at random minutes over five days, summed per local day or hour of five zones: India's
    half hour, Nepal's quarter, Newfoundland's half hour behind, Berlin's 25-hour day and UTC."""
    rng = random.Random(20261025)
    events = [
        crossing(
            T0 + MINUTE * rng.randrange(5 * 24 * 60), {"car": rng.randint(1, 3), "bus": rng.randint(0, 1)}
        )
        for _ in range(400)
    ]
    assert EventWriter(store_engine).write_events(events).stored == len(events)
    tz = ZoneInfo(zone)
    params = window(tz, date(2026, 10, 24), 3) | {"interval": interval, "group_by": "class"}
    lo, hi = datetime.fromisoformat(params["start"]), datetime.fromisoformat(params["end"])

    def bucket(moment: datetime) -> datetime:  # as a UTC instant: Berlin's 02:00 comes twice on 25 October
        local = moment.astimezone(tz)
        if interval == "1d":
            return midnight(local.date(), tz).astimezone(UTC)
        return local.replace(minute=0).astimezone(UTC)

    expected: Counter[tuple[datetime, str]] = Counter()
    for event in events:
        if lo <= event.start < hi:
            for cls, n in event.counts["inbound"].items():
                expected[(bucket(event.start), cls)] += n
    test_client, viewer = client
    answer = test_client.get("/counts", params=params, headers=viewer)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["tz"] == zone and body["truncated"] is False
    got = {
        (datetime.fromisoformat(p["bucket"]).astimezone(UTC), p["class"]): p["count"] for p in body["points"]
    }
    assert got == dict(expected)  # a class reported with none crossing is a row of 0, as in UTC
    for point in body["points"]:  # each start is given at the zone's offset then
        start = datetime.fromisoformat(point["bucket"])
        assert start.utcoffset() == start.astimezone(tz).utcoffset()
    if interval == "1d":
        assert len({start for start, _ in got}) == 3


def test_local_days_sum_speeds_occupancy_movements_and_incidents_and_mark_view_changes(
    client: tuple[TestClient, Any], store_engine: Engine
) -> None:
    """Either side of Kolkata's midnight (18:30 UTC): means are weighted by what they were measured over,
    peaks are the highest, incidents and movements counted on the local day they began, and a view changed
    at 00:10 there marks the new day only."""

    def at(hour: int, minute: int) -> dict[str, Any]:
        start = T0 + timedelta(hours=hour, minutes=minute)
        return {"site": "plaza", "camera": "cam-1", "start": start, "end": start + MINUTE}

    def speeds(n: int, mean: float, p85: float) -> dict[str, Any]:
        return {"inbound": {"car": {"n": n, "mean_kmh": mean, "p85_kmh": p85}}}

    def incident(when: dict[str, Any], kind: str, **details: Any) -> IncidentEvent:
        return IncidentEvent.model_validate(
            {
                **when,
                "id": uuid.uuid4(),
                "incident_id": uuid.uuid4(),
                "incident": kind,
                "phase": "onset",
                "severity": "warning",
                "zone": "west",
                "details": details,
            }
        )

    events = [
        SpeedEvent(id=uuid.uuid4(), speeds=speeds(1, 60.0, 62.0), **at(17, 0) | {"line": "north"}),
        SpeedEvent(id=uuid.uuid4(), speeds=speeds(1, 40.0, 41.0), **at(18, 20) | {"line": "north"}),
        SpeedEvent(id=uuid.uuid4(), speeds=speeds(3, 20.0, 25.0), **at(18, 40) | {"line": "north"}),
        ZoneOccupancyEvent(
            id=uuid.uuid4(), zone="west", mean={"person": 1.0}, peak={"person": 2}, **at(18, 15)
        ),
        ZoneOccupancyEvent(
            id=uuid.uuid4(), zone="west", mean={"person": 4.0}, peak={"person": 7}, **at(18, 45)
        ),
        ZoneOccupancyEvent(
            id=uuid.uuid4(), zone="west", mean={"person": 2.0}, peak={"person": 3}, **at(19, 0)
        ),
        TurningMovementEvent(
            id=uuid.uuid4(),
            movements=[{"from_zone": "west", "to_zone": "east", "class": "car", "count": 2}],
            **at(18, 25),
        ),
        TurningMovementEvent(
            id=uuid.uuid4(),
            movements=[{"from_zone": "west", "to_zone": "east", "class": "car", "count": 5}],
            **at(18, 35),
        ),
        incident(at(18, 29), "stopped_vehicle", stopped_s=5),
        incident(at(18, 31), "stopped_vehicle", stopped_s=5),
        incident(at(18, 32), "wrong_way", road_users=1),
    ]
    knocked = uuid.uuid4()
    view = incident(at(18, 40), "view_changed", change="moved").model_copy(update={"incident_id": knocked})
    cleared = view.model_copy(
        update={"id": uuid.uuid4(), "phase": "cleared", "end": T0 + timedelta(hours=18, minutes=50)}
    )
    events += [view, cleared]
    assert EventWriter(store_engine).write_events(events).stored == len(events)
    test_client, viewer = client
    tz = ZoneInfo("Asia/Kolkata")
    params = window(tz, date(2026, 10, 23), 2) | {"interval": "1d"}

    def points(path: str) -> list[dict[str, Any]]:
        answer = test_client.get(path, params=params, headers=viewer)
        assert answer.status_code == 200, answer.text
        return answer.json()["points"]  # type: ignore[no-any-return]

    days = ["2026-10-23T00:00:00+05:30", "2026-10-24T00:00:00+05:30"]
    got = [
        (p["bucket"], p["n"], p["mean_kmh"], p["p85_max_kmh"], p["view_changed"]) for p in points("/speeds")
    ]
    assert got == [
        (days[0], 2, pytest.approx(50.0), 62.0, False),
        (days[1], 3, pytest.approx(20.0), 25.0, True),
    ]
    got = [(p["bucket"], p["samples"], p["mean"], p["peak_max"]) for p in points("/occupancy")]
    assert got == [(days[0], 1, pytest.approx(1.0), 2), (days[1], 2, pytest.approx(3.0), 7)]
    assert [(p["bucket"], p["count"]) for p in points("/movements")] == [(days[0], 2), (days[1], 5)]
    got = [(p["bucket"], p["incident"], p["count"], p["view_changed"]) for p in points("/incident-counts")]
    assert got == [
        (days[0], "stopped_vehicle", 1, False),
        (days[1], "stopped_vehicle", 1, True),
        (days[1], "view_changed", 1, True),
        (days[1], "wrong_way", 1, True),
    ]
    text = test_client.get("/incident-counts.csv", params=params, headers=viewer).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["bucket"], r["incident"], r["count"]) for r in rows] == [(b, i, str(n)) for b, i, n, _ in got]


@pytest.mark.parametrize("interval", ["1h", "1d"])
def test_a_long_local_series_is_read_in_pieces_and_cut_at_the_limit(
    client: tuple[TestClient, Any], store_engine: Engine, interval: str
) -> None:
    """Kolkata's hours over 40 days are 960 buckets, read 384 at a time, and its 40 days are read 31 at a
    time: every crossing lands in its local hour or day, and ``limit`` cuts the answer where it says."""
    tz = ZoneInfo("Asia/Kolkata")
    first = midnight(date(2026, 11, 1), tz).astimezone(UTC)
    events = [crossing(first + timedelta(hours=6 * i, minutes=40), {"car": i + 1}) for i in range(160)]
    events.append(crossing(first + timedelta(hours=5), {"car": 7}, camera="cam-2"))
    assert EventWriter(store_engine).write_events(events).stored == len(events)
    test_client, viewer = client
    params = window(tz, date(2026, 11, 1), 40) | {"interval": interval}
    body = test_client.get("/counts", params=params, headers=viewer).json()
    got = [
        (datetime.fromisoformat(p["bucket"]).astimezone(UTC), p["camera"], p["count"]) for p in body["points"]
    ]
    per_bucket: Counter[tuple[datetime, str]] = Counter()
    for event in events:
        local = event.start.astimezone(tz)
        start = midnight(local.date(), tz) if interval == "1d" else local.replace(minute=0)
        per_bucket[(start.astimezone(UTC), event.camera)] += event.counts["inbound"]["car"]
    expected = sorted((start, camera, n) for (start, camera), n in per_bucket.items())
    assert len(expected) == (41 if interval == "1d" else 161)
    assert got == expected and body["truncated"] is False
    cut = test_client.get("/counts", params=params | {"limit": 35}, headers=viewer).json()
    assert cut["truncated"] is True and [p["count"] for p in cut["points"]] == [p[2] for p in expected[:35]]


@pytest.mark.parametrize(("interval", "years"), [("1d", 10), ("1h", 1)])
def test_the_work_of_a_long_local_series_is_bounded_by_what_is_stored(
    client: tuple[TestClient, Any], store_engine: Engine, interval: str, years: int
) -> None:
    """The longest local series a viewer may ask for (ten years of India's days, a year of Nepal's hours)
    was built and read a month at a time, about 120 statements and seconds of the hub's time, on a store
    that holds a day. Now the stored roll-ups bound the reads: the same answer, a few statements."""
    tz = ZoneInfo("Asia/Kolkata" if interval == "1d" else "Asia/Kathmandu")
    day = midnight(date(2026, 11, 2), tz).astimezone(UTC)
    events = [crossing(day + timedelta(hours=h, minutes=50), {"car": h + 1}) for h in (0, 5, 18, 23, 29)]
    assert EventWriter(store_engine).write_events(events).stored == len(events)
    end = midnight(date(2026, 12, 7), tz)
    params = {
        "interval": interval,
        "start": end.replace(year=end.year - years).isoformat(),
        "end": end.isoformat(),
        "tz": tz.key,
    }
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "line_count_rollups" in statement:
            statements.append(statement)

    test_client, viewer = client
    sa.event.listen(store_engine, "before_cursor_execute", count)
    try:
        body = test_client.get("/counts", params=params, headers=viewer).json()
    finally:
        sa.event.remove(store_engine, "before_cursor_execute", count)
    per_bucket: Counter[datetime] = Counter()
    for event in events:
        local = event.start.astimezone(tz)
        start = midnight(local.date(), tz) if interval == "1d" else local.replace(minute=0)
        per_bucket[start.astimezone(UTC)] += event.counts["inbound"]["car"]
    got = {datetime.fromisoformat(p["bucket"]).astimezone(UTC): p["count"] for p in body["points"]}
    assert got == dict(per_bucket) and len(got) == (2 if interval == "1d" else 5)
    assert len(statements) <= 5, len(statements)


@pytest.mark.parametrize("zone", ["Mars/Olympus", "Europe", "zone.tab"])
def test_an_unknown_time_zone_is_a_one_line_422(client: tuple[TestClient, Any], zone: str) -> None:
    test_client, viewer = client
    answer = test_client.get("/counts", params={"tz": zone, "interval": "1d"}, headers=viewer)
    assert answer.status_code == 422
    message = answer.json()["error"]["message"]
    assert "tz" in message and "\n" not in message


@pytest.mark.parametrize(
    "path",
    [
        "/counts",
        "/counts.csv",
        "/speeds",
        "/incident-counts",
        "/conflicts/ranking",
        "/ngsi-ld/TrafficFlowObserved",
        "/dashboard/api/overview",
        "/dashboard/api/cameras/plaza/cam-1/counts",
        "/dashboard/api/cameras/plaza/cam-1/counts.csv",
        "/dashboard/api/cameras/plaza/cam-1/tmc",
        "/dashboard/api/cameras/plaza/cam-1/speeds",
    ],
)
@pytest.mark.parametrize(
    "when",
    [
        {"start": "0001-01-01T00:00:00Z", "end": "0001-01-05T00:00:00Z"},
        {"start": "0001-01-01T00:00:00+05:00", "end": "0001-01-05T00:00:00Z"},
        {"start": "9999-12-20T00:00:00Z", "end": "9999-12-31T23:00:00Z"},
        {"start": "9999-12-20T00:00:00Z", "end": "9999-12-31T23:59:00-05:00", "tz": "Asia/Kolkata"},
    ],
)
def test_a_window_at_the_ends_of_the_calendar_is_a_one_line_422(
    client: tuple[TestClient, Any], path: str, when: dict[str, str]
) -> None:
    """A window in year 1 or 9999 was a 500 on every series, with or without ``tz``: a bucket's end or the
    window's UTC fell off the calendar (found trying ``tz`` at the calendar's ends)."""
    test_client, viewer = client
    params = {"interval": "1d", "tz": "UTC"} | when
    if path.startswith("/ngsi-ld/"):
        params.pop("tz")  # NGSI-LD exports are UTC: a tz they do not take is refused as such
    answer = test_client.get(path, params=params, headers=viewer)
    assert answer.status_code == 422, answer.text
    message = answer.json()["error"]["message"]
    assert ("must lie between" in message or "out of range" in message) and "\n" not in message


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "Asia/Kathmandu", "Europe/Berlin"])
@pytest.mark.parametrize("interval", ["1d", "1h"])
def test_the_api_and_the_dashboard_export_give_the_same_local_days_and_hours(
    client: tuple[TestClient, Any], store_engine: Engine, zone: str, interval: str
) -> None:
    """Two ways to the same local buckets, written apart: the API sums them in the database, the
    dashboard's CSV export in Python from the same roll-ups. Counts, speeds (measured, mean, highest
    interval V85) and occupancy (intervals, mean, peak) agree row for row."""
    rng = random.Random(7)
    events: list[Any] = []
    for _ in range(150):
        start = T0 + MINUTE * rng.randrange(4 * 24 * 60)
        where = {"site": "plaza", "camera": "cam-1", "start": start, "end": start + MINUTE}
        n, mean = rng.randint(1, 4), rng.uniform(10, 60)
        speeds = {"inbound": {"car": {"n": n, "mean_kmh": mean, "p85_kmh": mean + rng.uniform(0, 15)}}}
        events += [
            crossing(start, {"car": rng.randint(0, 3), "bus": rng.randint(0, 1)}),
            SpeedEvent(id=uuid.uuid4(), line="north", speeds=speeds, **where),
            ZoneOccupancyEvent(
                id=uuid.uuid4(),
                zone="west",
                mean={"person": rng.uniform(0, 5)},
                peak={"person": rng.randint(5, 9)},
                **where,
            ),
        ]
    assert EventWriter(store_engine).write_events(events).stored == len(events)
    test_client, viewer = client
    tz = ZoneInfo(zone)
    when = window(tz, date(2026, 10, 24), 2)

    def api(path: str, names: tuple[str, ...]) -> list[tuple[Any, ...]]:
        params = when | {"interval": interval, "camera": "cam-1"}
        answer = test_client.get(path, params=params, headers=viewer)
        assert answer.status_code == 200, answer.text
        return [
            (datetime.fromisoformat(p["bucket"]), *(_rounded(p[n]) for n in names))
            for p in answer.json()["points"]
        ]

    def dashboard(kind: str, names: tuple[str, ...]) -> list[tuple[Any, ...]]:
        params = {"start": when["start"], "end": when["end"], "tz": zone, "bucket": interval}
        answer = test_client.get(
            f"/dashboard/api/cameras/plaza/cam-1/{kind}.csv", params=params, headers=viewer
        )
        assert answer.status_code == 200, answer.text
        rows = csv.DictReader(io.StringIO(answer.text))
        return [(datetime.fromisoformat(r["bucket_start"]), *(_rounded(r[n]) for n in names)) for r in rows]

    counts = api("/counts", ("line", "direction", "class", "count"))
    lo, hi = datetime.fromisoformat(when["start"]), datetime.fromisoformat(when["end"])
    local = [e.start.astimezone(tz) for e in events if isinstance(e, LineCountEvent) and lo <= e.start < hi]
    reported = {midnight(t.date(), tz) if interval == "1d" else t.replace(minute=0) for t in local}
    assert {row[0].astimezone(UTC) for row in counts} == {t.astimezone(UTC) for t in reported}
    assert counts == dashboard("counts", ("line", "direction", "class", "count"))
    assert api("/speeds", ("class", "n", "mean_kmh", "p85_max_kmh")) == dashboard(
        "speeds", ("class", "measured", "mean_kmh", "highest_interval_v85_kmh")
    )
    assert api("/occupancy", ("zone", "class", "samples", "mean", "peak_max")) == dashboard(
        "occupancy", ("zone", "class", "intervals", "mean_present", "peak_present")
    )


def _rounded(value: Any) -> Any:
    """A number as the dashboard's CSV writes it (three decimals), from JSON or from CSV text."""
    try:
        return round(float(value), 3)
    except (TypeError, ValueError):
        return value
