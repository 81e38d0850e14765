"""Conflict events in the hub, on SQLite and PostgreSQL: roll-ups, the weak-spots ranking, cells, CSV."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from citytally.events import ConflictEvent
from citytally.hub.access import issue_token
from citytally.hub.audit import read_entries
from citytally.hub.store import EventWriter, schema
from citytally.hub.web import create_app
from hub.conftest import incident_events

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
WINDOW = {"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z", "interval": "1h"}
CAMERAS = (("plaza", "cam-1"), ("plaza", "cam-2"), ("harbour", "cam-1"))


def conflict_event(
    site: str,
    camera: str,
    zone: str,
    minute: int,
    road_users: dict[str, int],
    rows: list[tuple[str, str, str, int]],
    cells: list[tuple[float, float, int, float | None]],
    ttc: tuple[list[float], list[int]] = ([0, 1, 2], [0, 0, 0]),
    pet: list[int] | None = None,
) -> ConflictEvent:
    start = T0 + timedelta(minutes=minute)
    total = sum(n for *_, n in rows)
    return ConflictEvent.model_validate(
        {
            "id": uuid.uuid4(),
            "site": site,
            "camera": camera,
            "start": start,
            "end": start + timedelta(minutes=15),
            "zone": zone,
            "road_users": road_users,
            "conflicts": [{"type": t, "severity": s, "classes": k, "count": n} for t, s, k, n in rows],
            "ttc": {"edges_s": ttc[0], "counts": ttc[1]},
            "pet": {"edges_s": [0, 1], "counts": [total, 0] if pet is None else pet},
            "cell_m": 5.0,
            "cells": [
                {"x_m": x, "y_m": y, "count": n, "image_x": px, "image_y": None if px is None else 200.0}
                for x, y, n, px in cells
            ],
        }
    )


def seeded() -> list[ConflictEvent]:
    """plaza/cam-1 junction: 6 conflicts in 1,000 road users (6 per 1,000) over two intervals;
    plaza/cam-2 north: 3 in 200 (15 per 1,000); harbour/cam-1 gate: none in 500; plaza/cam-2 south: one
    whose road users entered before the window: no rate. TTC bins (lower edge: conflicts): junction
    0: 2+1, 1: 1+0, 2: 0+1; north 0: 1, 0.5: 2. PET bins: junction 0: 2+0, 1: 0+1; north 0: 3; south 0: 1."""
    return [
        conflict_event(
            "plaza",
            "cam-1",
            "junction",
            0,
            {"car": 400, "person": 100},
            [("crossing", "serious", "car-person", 2), ("rear_end", "moderate", "car-car", 1)],
            [(10.0, 5.0, 2, 320.0), (15.0, 5.0, 1, None)],
            ([0, 1, 2], [2, 1, 0]),
            [2, 0],
        ),
        conflict_event(
            "plaza",
            "cam-1",
            "junction",
            15,
            {"car": 500},
            [("crossing", "serious", "car-person", 1), ("lane_change", "slight", "car-truck", 2)],
            [(10.0, 5.0, 3, 320.0)],
            ([0, 1, 2], [1, 0, 1]),
            [0, 1],
        ),
        conflict_event(
            "plaza",
            "cam-2",
            "north",
            0,
            {"bicycle": 200},
            [("crossing", "moderate", "bicycle-car", 3)],
            [],
            ([0, 0.5], [1, 2]),  # another edge's bins: they sum by their lower edge
        ),
        conflict_event("plaza", "cam-2", "south", 0, {}, [("rear_end", "slight", "car-car", 1)], []),
        conflict_event("harbour", "cam-1", "gate", 30, {"truck": 500}, [], []),
    ]


@pytest.fixture
def hub(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    make_registry(store_engine, *CAMERAS)
    events = seeded()
    assert EventWriter(store_engine).write_events(events).stored == len(events)
    header = {"Authorization": f"Bearer {issue_token(store_engine, 'viewer').secret}"}
    with TestClient(create_app(None, store_engine)) as client:
        yield client, header


def test_rollups_hold_every_period(hub: tuple[TestClient, dict[str, str]], store_engine: Engine) -> None:
    with store_engine.connect() as conn:
        daily = {
            table.name: conn.execute(
                sa.select(sa.func.sum(table.c[column])).where(table.c.period == "1d")
            ).scalar_one()
            for table, column in (
                (schema.conflict_rollups, "count"),
                (schema.conflict_exposure_rollups, "road_users"),
                (schema.conflict_cell_rollups, "count"),
            )
        }
        quarter = conn.execute(
            sa.select(sa.func.count())
            .select_from(schema.conflict_rollups)
            .where(schema.conflict_rollups.c.period == "15m")
        ).scalar_one()
    assert daily == {"conflict_rollups": 10, "conflict_exposure_rollups": 1700, "conflict_cell_rollups": 6}
    assert quarter == 6  # (crossing, rear_end) at 08:00, (crossing, lane_change) at 08:15, north, south


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {},
            [
                ("plaza", "cam-2", "north", 200, 3, 15.0),
                ("plaza", "cam-1", "junction", 1000, 6, 6.0),
                ("harbour", "cam-1", "gate", 500, 0, 0.0),
                ("plaza", "cam-2", "south", 0, 1, None),
            ],
        ),
        (
            {"min_road_users": 300},
            [("plaza", "cam-1", "junction", 1000, 6, 6.0), ("harbour", "cam-1", "gate", 500, 0, 0.0)],
        ),
        (
            {"level": "site"},
            [("plaza", None, None, 1200, 10, 8.333), ("harbour", None, None, 500, 0, 0.0)],
        ),
        ({"site": "plaza", "camera": "cam-1"}, [("plaza", "cam-1", "junction", 1000, 6, 6.0)]),
        ({"zone": "gate"}, [("harbour", "cam-1", "gate", 500, 0, 0.0)]),
        (
            {"start": "2026-11-20T08:15:00Z", "interval": "15m"},
            [("plaza", "cam-1", "junction", 500, 3, 6.0), ("harbour", "cam-1", "gate", 500, 0, 0.0)],
        ),
    ],
)
def test_ranking_by_conflicts_per_1000_road_users(
    hub: tuple[TestClient, dict[str, str]], params: dict[str, Any], expected: list[tuple[Any, ...]]
) -> None:
    client, header = hub
    answer = client.get("/conflicts/ranking", params=WINDOW | params, headers=header)
    assert answer.status_code == 200, answer.text
    ranking = answer.json()["ranking"]
    found = [
        (r["site"], r["camera"], r["zone"], r["road_users"], r["conflicts"], r["per_1000"]) for r in ranking
    ]
    assert found == expected


def test_each_rate_has_its_exact_95_percent_interval(hub: tuple[TestClient, dict[str, str]]) -> None:
    """Garwood's exact Poisson limits for 0, 3 and 6 events, from published tables (0–3.689, 0.619–8.767,
    2.202–13.059), per 1,000 of the place's road users; none without road users."""
    client, header = hub
    ranking = client.get("/conflicts/ranking", params=WINDOW, headers=header).json()["ranking"]
    found = {r["zone"]: (r["per_1000_low"], r["per_1000_high"]) for r in ranking}
    assert found["north"] == pytest.approx((0.619 / 200 * 1000, 8.767 / 200 * 1000), abs=0.01)
    assert found["junction"] == pytest.approx((2.202, 13.059), abs=0.01)
    assert found["gate"] == pytest.approx((0.0, 3.689 / 500 * 1000), abs=0.01)
    assert found["south"] == (None, None)
    # North's 3 in 200 rank above the junction's 6 in 1,000, but the counts do not tell them apart.
    assert found["north"][0] < found["junction"][1]


def test_ranking_splits_by_severity_and_type_and_exports_csv(hub: tuple[TestClient, dict[str, str]]) -> None:
    client, header = hub
    params = WINDOW | {"zone": "junction"}
    (row,) = client.get("/conflicts/ranking", params=params, headers=header).json()["ranking"]
    assert (row["serious"], row["moderate"], row["slight"]) == (3, 1, 2)
    assert (row["crossing"], row["rear_end"], row["lane_change"]) == (3, 1, 2)
    answer = client.get("/conflicts/ranking.csv", params=params, headers=header)
    assert answer.headers["content-type"].startswith("text/csv")
    (line,) = list(csv.DictReader(io.StringIO(answer.text)))
    assert (line["site"], line["zone"], line["conflicts"], line["per_1000"]) == (
        "plaza",
        "junction",
        "6",
        "6.0",
    )
    assert (line["per_1000_low"], line["per_1000_high"]) == ("2.202", "13.059")


def test_a_place_whose_cameras_view_was_changed_is_marked(
    hub: tuple[TestClient, dict[str, str]], store_engine: Engine
) -> None:
    # plaza/cam-2 was knocked at 09:10 and set right at 09:30: its conflicts and road users that day may be
    # wrong, and the ranking says so for its zone and for its site, not for the others; a window that ends
    # before it does not say so. Before, nothing did.
    knocked = T0 + timedelta(minutes=70)
    phases = [("onset", knocked + timedelta(seconds=20)), ("cleared", knocked + timedelta(minutes=20))]
    events = incident_events("plaza", "cam-2", "view_changed", knocked, phases, zone="south")
    assert EventWriter(store_engine).write_events(events).stored == 2
    client, header = hub

    def marks(params: dict[str, Any]) -> dict[tuple[str, str | None, str | None], bool]:
        answer = client.get("/conflicts/ranking", params=WINDOW | params, headers=header)
        assert answer.status_code == 200, answer.text
        return {(r["site"], r["camera"], r["zone"]): r["view_changed"] for r in answer.json()["ranking"]}

    assert marks({}) == {
        ("plaza", "cam-1", "junction"): False,
        ("plaza", "cam-2", "north"): True,
        ("plaza", "cam-2", "south"): True,
        ("harbour", "cam-1", "gate"): False,
    }
    assert marks({"level": "site"}) == {("plaza", None, None): True, ("harbour", None, None): False}
    assert not any(marks({"end": "2026-11-20T09:00:00Z"}).values())
    answer = client.get("/conflicts/ranking.csv", params=WINDOW | {"level": "camera"}, headers=header)
    flags = {(r["site"], r["camera"]): r["view_changed"] for r in csv.DictReader(io.StringIO(answer.text))}
    assert flags == {("plaza", "cam-1"): "false", ("plaza", "cam-2"): "true", ("harbour", "cam-1"): "false"}


def test_cells_sum_over_the_window_and_keep_the_picture_position(
    hub: tuple[TestClient, dict[str, str]],
) -> None:
    client, header = hub
    cells = client.get("/conflicts/cells", params=WINDOW, headers=header).json()["cells"]
    found = [(c["zone"], c["x_m"], c["y_m"], c["count"], c["image_x"], c["image_y"]) for c in cells]
    assert found == [("junction", 10.0, 5.0, 5, 320.0, 200.0), ("junction", 15.0, 5.0, 1, None, None)]


def _bins(rows: list[dict[str, Any]]) -> list[tuple[float, float | None, int]]:
    return [(b["from_s"], b["to_s"], b["count"]) for b in rows]


@pytest.mark.parametrize(
    ("params", "ttc", "pet"),
    [
        (
            {"zone": "junction"},
            [(0.0, 1.0, 3), (1.0, 2.0, 1), (2.0, None, 1)],
            [(0.0, 1.0, 2), (1.0, None, 1)],
        ),
        (
            {"site": "plaza"},
            [(0.0, 0.5, 4), (0.5, 1.0, 2), (1.0, 2.0, 1), (2.0, None, 1)],
            [(0.0, 1.0, 6), (1.0, None, 1)],
        ),
        (
            {"site": "plaza", "camera": "cam-2", "zone": "north"},
            [(0.0, 0.5, 1), (0.5, None, 2)],
            [(0.0, 1.0, 3), (1.0, None, 0)],
        ),
        (  # 08:15 on: the junction's second interval and the harbour gate's empty bins
            {"start": "2026-11-20T08:15:00Z", "interval": "15m"},
            [(0.0, 1.0, 1), (1.0, 2.0, 0), (2.0, None, 1)],
            [(0.0, 1.0, 0), (1.0, None, 1)],
        ),
        ({"site": "nowhere"}, [], []),
    ],
)
def test_histograms_sum_the_bins_of_the_chosen_places(
    hub: tuple[TestClient, dict[str, str]],
    params: dict[str, Any],
    ttc: list[tuple[Any, ...]],
    pet: list[tuple[Any, ...]],
) -> None:
    client, header = hub
    answer = client.get("/conflicts/histograms", params=WINDOW | params, headers=header)
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert (_bins(found["ttc"]), _bins(found["pet"])) == (ttc, pet)
    assert (found["site"], found["zone"]) == (params.get("site"), params.get("zone"))


def test_histogram_rollups_keep_every_bin_per_bucket(
    hub: tuple[TestClient, dict[str, str]], store_engine: Engine
) -> None:
    t = schema.conflict_histogram_rollups
    with store_engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.c.period, t.c.measure, t.c.bin_s, t.c["count"])
            .where(t.c.zone == "junction")
            .order_by(t.c.period, t.c.bucket, t.c.measure, t.c.bin_s)
        ).all()
    by_period = {period: [(m, b, n) for p, m, b, n in rows if p == period] for period in ("15m", "1d")}
    assert by_period["1d"] == [
        ("pet", 0.0, 2),
        ("pet", 1.0, 1),
        ("ttc", 0.0, 3),
        ("ttc", 1.0, 1),
        ("ttc", 2.0, 1),
    ]
    # two quarter-hours of five bins each, the empty ones kept
    assert by_period["15m"] == [
        *[("pet", 0.0, 2), ("pet", 1.0, 0), ("ttc", 0.0, 2), ("ttc", 1.0, 1), ("ttc", 2.0, 0)],
        *[("pet", 0.0, 0), ("pet", 1.0, 1), ("ttc", 0.0, 1), ("ttc", 1.0, 0), ("ttc", 2.0, 1)],
    ]


def test_roles_and_audit(hub: tuple[TestClient, dict[str, str]], store_engine: Engine) -> None:
    client, header = hub
    before = len(read_entries(store_engine, limit=10_000))
    assert client.get("/conflicts/ranking", params=WINDOW).status_code == 401
    assert client.get("/conflicts/cells", params=WINDOW, headers=header).status_code == 200
    assert client.get("/conflicts/histograms", params=WINDOW).status_code == 401
    assert client.get("/conflicts/histograms", params=WINDOW, headers=header).status_code == 200
    assert (
        client.get("/conflicts/ranking", params={**WINDOW, "level": "lane"}, headers=header).status_code
        == 422
    )
    entries = read_entries(store_engine, limit=10_000)[before:]
    assert [(e.entry.role, e.entry.path, e.entry.status) for e in entries] == [
        (None, "/conflicts/ranking", 401),
        ("viewer", "/conflicts/cells", 200),
        (None, "/conflicts/histograms", 401),
        ("viewer", "/conflicts/histograms", 200),
        ("viewer", "/conflicts/ranking", 422),
    ]
