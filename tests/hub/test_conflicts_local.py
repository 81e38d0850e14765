"""The weak spots of a time zone's days and hours (``tz`` on ``/conflicts``), on both stores.

The conflict endpoints summed UTC's buckets only: a road-safety engineer in India ranking last week's
junctions at ``interval=1d`` got days running from 05:30 to 05:30. Each expected figure here is summed from
the conflict events themselves, by whether the bucket holding their start (a local day, a local hour, a
quarter hour) begins in the window, not from the roll-ups.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from citytally.events import ConflictEvent, IncidentEvent
from citytally.hub.access import issue_token
from citytally.hub.queries import tiles
from citytally.hub.store import EventWriter

pytestmark = pytest.mark.integration

#: Europe's clocks go back on 25 October 2026: that day has 25 hours in Berlin.
T0 = datetime(2026, 10, 23, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
PLACES = (("plaza", "cam-1", "junction"), ("plaza", "cam-2", "north"), ("harbour", "cam-1", "gate"))
ZONES = ["Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns", "Europe/Berlin", "UTC"]


@pytest.fixture
def client(store_engine: Engine, make_registry: Callable[..., Any]) -> Iterator[tuple[TestClient, Any]]:
    from citytally.hub.web import create_app

    make_registry(store_engine, *{(site, camera) for site, camera, _ in PLACES})
    viewer = {"Authorization": f"Bearer {issue_token(store_engine, 'viewer').secret}"}
    with TestClient(create_app(None, store_engine)) as test_client:
        yield test_client, viewer


def conflict(place: tuple[str, str, str], start: datetime, users: int, rows: list[tuple[str, int]]) -> Any:
    site, camera, zone = place
    total = sum(n for _, n in rows)
    return ConflictEvent.model_validate(
        {
            "id": uuid.uuid4(),
            "site": site,
            "camera": camera,
            "start": start,
            "end": start + MINUTE,
            "zone": zone,
            "road_users": {"car": users},
            "conflicts": [
                {"type": "crossing", "severity": severity, "classes": "car-car", "count": n}
                for severity, n in rows
            ],
            "ttc": {"edges_s": [0, 1, 2], "counts": [total, 0, 0]},
            "pet": {"edges_s": [0, 1], "counts": [0, total]},
            "cell_m": 5.0,
            "cells": [{"x_m": 10.0, "y_m": 5.0, "count": total, "image_x": 320.0, "image_y": 200.0}]
            if total
            else [],
        }
    )


def random_conflicts(seed: int, n: int = 300) -> list[Any]:
    """``n`` conflict events at random minutes over five days (23-28 October 2026), at random places."""
    rng = random.Random(seed)
    events = []
    for _ in range(n):
        rows = [(s, rng.randint(1, 3)) for s in ("serious", "slight") if rng.random() < 0.5]
        start = T0 + MINUTE * rng.randrange(5 * 24 * 60)
        events.append(conflict(rng.choice(PLACES), start, rng.randint(10, 200), rows))
    return events


def bucket_of(moment: datetime, interval: str, tz: ZoneInfo) -> datetime:
    """The start (a UTC instant) of the bucket of ``interval`` in ``tz`` that holds ``moment``."""
    local = moment.astimezone(tz)
    if interval == "1d":
        return datetime.combine(local.date(), time(0), tzinfo=tz).astimezone(UTC)
    if interval == "1h":  # the local hour: Berlin's 02:00 comes twice on 25 October (fold tells which)
        return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    return moment.replace(minute=moment.minute // 15 * 15, second=0, microsecond=0)


def expected(events: list[Any], params: dict[str, str]) -> dict[str, Any]:
    """Per place: road users and conflicts; per cell and per TTC bin: conflicts; all summed over the events
    whose bucket begins in the window."""
    tz = ZoneInfo(params.get("tz", "UTC"))
    lo, hi = datetime.fromisoformat(params["start"]), datetime.fromisoformat(params["end"])
    users: Counter[tuple[str, str, str]] = Counter()
    conflicts: Counter[tuple[str, str, str]] = Counter()
    for event in events:
        if lo <= bucket_of(event.start, params["interval"], tz) < hi:
            place = (event.site, event.camera, event.zone)
            users[place] += sum(event.road_users.values())
            conflicts[place] += sum(row.count for row in event.conflicts)
    return {"users": users, "conflicts": conflicts}


def answers(test_client: TestClient, viewer: Any, params: dict[str, str]) -> dict[str, Any]:
    got: dict[str, Any] = {}
    for path in ("/conflicts/ranking", "/conflicts/cells", "/conflicts/histograms"):
        answer = test_client.get(path, params=params, headers=viewer)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["tz"] == params.get("tz", "UTC") and body["interval"] == params["interval"]
        got[path] = body
    ranking = got["/conflicts/ranking"]["ranking"]
    return {
        "users": Counter({(r["site"], r["camera"], r["zone"]): r["road_users"] for r in ranking}),
        "conflicts": Counter({(r["site"], r["camera"], r["zone"]): r["conflicts"] for r in ranking}),
        "cells": Counter(
            {(c["site"], c["camera"], c["zone"]): c["count"] for c in got["/conflicts/cells"]["cells"]}
        ),
        "ttc": sum(b["count"] for b in got["/conflicts/histograms"]["ttc"]),
        "pet": sum(b["count"] for b in got["/conflicts/histograms"]["pet"]),
    }


def midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("interval", ["1d", "1h"])
def test_weak_spots_of_local_days_and_hours_are_the_conflicts_that_began_in_them(
    client: tuple[TestClient, Any], store_engine: Engine, zone: str, interval: str
) -> None:
    """Three local days (24-26 October; Berlin's 25th has 25 hours) of five zones: the ranking's road users
    and conflicts per place, the heat map's cells and the TTC and PET histograms are the sums of the
    conflict events that began in them."""
    events = random_conflicts(20261025)
    assert EventWriter(store_engine).write_events(events).stored == len(events)
    tz = ZoneInfo(zone)
    params = {
        "start": midnight(date(2026, 10, 24), tz).isoformat(),
        "end": midnight(date(2026, 10, 27), tz).isoformat(),
        "interval": interval,
        "tz": zone,
    }
    want = expected(events, params)
    got = answers(*client, params)
    assert got["users"] == want["users"] and got["conflicts"] == want["conflicts"]
    assert got["cells"] == +want["conflicts"]  # one cell a place here, holding all its conflicts
    assert got["ttc"] == got["pet"] == sum(want["conflicts"].values())
    if interval == "1d" and zone != "UTC" or zone in ZONES[:3]:  # UTC's buckets hold other conflicts
        utc = expected(events, params | {"tz": "UTC"})
        assert utc["conflicts"] != want["conflicts"]


def test_weak_spots_of_random_windows_in_every_zone_and_width(
    client: tuple[TestClient, Any], store_engine: Engine
) -> None:
    """Windows at random minutes (quarter hours, hours and days of five zones, without ``tz`` too): each
    answer is the sum of the conflicts whose bucket begins in the window, read from days, hours and quarter
    hours together."""
    events = random_conflicts(7, n=400)
    assert EventWriter(store_engine).write_events(events).stored == len(events)
    rng = random.Random(11)
    for _ in range(40):
        interval = rng.choice(["15m", "1h", "1d"])
        start = T0 - 2 * MINUTE * 60 + MINUTE * rng.randrange(5 * 24 * 60)
        end = start + MINUTE * rng.randrange(1, 4 * 24 * 60)
        zone = rng.choice([*ZONES, None])
        params = {"start": start.isoformat(), "end": end.isoformat(), "interval": interval}
        if zone is not None:
            params["tz"] = zone
        want = expected(events, params)
        got = answers(*client, params)
        assert got["users"] == want["users"] and got["conflicts"] == want["conflicts"], params
        assert got["ttc"] == sum(want["conflicts"].values()), params


def test_a_view_changed_after_local_midnight_marks_the_new_days_ranking_only(
    client: tuple[TestClient, Any], store_engine: Engine
) -> None:
    """A camera knocked at 00:10 in India (18:40 UTC) marks the ranking of India's new day, not of the day
    before, which ended at 18:30 UTC; in UTC's days it is the day before that holds it."""
    knocked = T0 + timedelta(hours=18, minutes=40)
    change = IncidentEvent.model_validate(
        {
            "id": uuid.uuid4(),
            "incident_id": uuid.uuid4(),
            "site": "plaza",
            "camera": "cam-1",
            "start": knocked,
            "end": knocked + MINUTE,
            "incident": "view_changed",
            "phase": "onset",
            "severity": "warning",
            "details": {"change": "moved"},
        }
    )
    events = [conflict(PLACES[0], T0 + timedelta(hours=h), 100, [("serious", 1)]) for h in (12, 20, 30)]
    assert EventWriter(store_engine).write_events([*events, change]).stored == 4
    test_client, viewer = client

    def marked(day: date, zone: str) -> bool:
        params = {
            "start": midnight(day, ZoneInfo(zone)).isoformat(),
            "end": midnight(day + timedelta(days=1), ZoneInfo(zone)).isoformat(),
            "interval": "1d",
            "tz": zone,
        }
        answer = test_client.get("/conflicts/ranking", params=params, headers=viewer)
        assert answer.status_code == 200, answer.text
        (row,) = answer.json()["ranking"]
        return bool(row["view_changed"])

    assert not marked(date(2026, 10, 23), "Asia/Kolkata")
    assert marked(date(2026, 10, 24), "Asia/Kolkata")
    assert marked(date(2026, 10, 23), "UTC")
    assert not marked(date(2026, 10, 24), "UTC")


def test_an_unknown_zone_is_refused_in_one_line(client: tuple[TestClient, Any]) -> None:
    test_client, viewer = client
    for path in ("/conflicts/ranking", "/conflicts/ranking.csv", "/conflicts/cells", "/conflicts/histograms"):
        answer = test_client.get(path, params={"tz": "Mars/Olympus"}, headers=viewer)
        assert answer.status_code == 422, (path, answer.text)
        assert "tz: unknown time zone 'Mars/Olympus'" in answer.text


@pytest.mark.parametrize(
    ("lo", "hi", "days"),
    [
        ("2026-10-23T18:30:00+00:00", "2026-10-26T18:30:00+00:00", 2),  # India's three days
        ("2026-10-23T18:15:00+00:00", "2026-10-23T20:45:00+00:00", 0),  # Nepal's 00:00 to 02:30
        ("2026-10-23T00:00:00+00:00", "2026-10-24T00:00:00+00:00", 1),  # a UTC day
        ("2026-10-23T03:30:00+00:00", "2026-10-23T03:45:00+00:00", 0),  # one quarter
        ("2026-10-23T03:31:00+00:00", "2026-10-23T03:44:00+00:00", 0),  # the quarter beginning in it
        ("2026-10-23T03:30:00+00:00", "2026-10-23T03:30:00+00:00", 0),  # nothing
    ],
)
def test_tiles_are_every_quarter_hour_of_the_window_once(lo: str, hi: str, days: int) -> None:
    """The runs of days, hours and quarter hours read for a window take in each quarter hour beginning in
    it once, and nothing else; whole UTC days are read as days."""
    start, end = datetime.fromisoformat(lo), datetime.fromisoformat(hi)
    quarter = timedelta(minutes=15)
    width = {"15m": quarter, "1h": timedelta(hours=1), "1d": timedelta(days=1)}
    covered = []
    for period, a, b in tiles(start, end):
        assert a < b and (a - T0) % width[period] == timedelta(0) == (b - T0) % width[period]
        moment = a
        while moment < b:
            covered.append(moment)
            moment += quarter
    first = start + (-(start - T0)) % quarter
    want = []
    while first < end:
        want.append(first)
        first += quarter
    assert covered == want
    assert sum((b - a).days for period, a, b in tiles(start, end) if period == "1d") == days
