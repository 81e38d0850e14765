"""The hub API against real stores (SQLite and PostgreSQL): access rules on every route, series, CSV, errors,
health, metrics and the audit trail of every request."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI, routing
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy.engine import Engine

from citytally.events import LineCountEvent, SpeedEvent, TurningMovementEvent, ZoneOccupancyEvent
from citytally.hub.access import ROLES, issue_token, list_tokens, route_access
from citytally.hub.access_tables import audit_log_table
from citytally.hub.api.models import CountSeries, MovementSeries, OccupancySeries, SpeedSeries
from citytally.hub.audit import read_entries
from citytally.hub.store import EventWriter, create_store_engine
from citytally.hub.web import create_app

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
WINDOW = {"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z"}

#: The rule each of this package's routes must declare; dashboard routes are checked generically below.
EXPECTED_RULES: dict[tuple[str, str], str] = {
    ("GET", "/health"): "public",
    ("GET", "/metrics"): "operator",
    ("GET", "/cameras"): "viewer",
    ("GET", "/cameras/{site}/{camera}"): "viewer",
    ("GET", "/cameras/{site}/{camera}/config"): "admin",
    ("GET", "/cameras/{site}/{camera}/geometry"): "admin",
    ("PUT", "/cameras/{site}/{camera}/geometry"): "admin",
    ("GET", "/cameras/{site}/{camera}/geometry.toml"): "admin",
    ("GET", "/live"): "operator",
    ("GET", "/counts"): "viewer",
    ("GET", "/counts.csv"): "viewer",
    ("GET", "/speeds"): "viewer",
    ("GET", "/occupancy"): "viewer",
    ("GET", "/movements"): "viewer",
    ("GET", "/incident-counts"): "viewer",
    ("GET", "/incident-counts.csv"): "viewer",
    ("GET", "/conflicts/ranking"): "viewer",
    ("GET", "/conflicts/ranking.csv"): "viewer",
    ("GET", "/conflicts/cells"): "viewer",
    ("GET", "/conflicts/histograms"): "viewer",
    ("GET", "/ngsi-ld/TrafficFlowObserved"): "viewer",
    ("GET", "/ngsi-ld/CrowdFlowObserved"): "viewer",
    ("GET", "/tokens"): "admin",
    ("POST", "/tokens"): "admin",
    ("DELETE", "/tokens/{token_id}"): "admin",
    ("GET", "/audit"): "auditor",
    ("GET", "/audit/verify"): "auditor",
    ("GET", "/incidents"): "operator",
}
#: FastAPI's own documentation routes: deliberately public.
DOC_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect"}
#: What a role may call: the roles whose routes it can use.
MAY = {
    "viewer": {"viewer"},
    "operator": {"viewer", "operator"},
    "admin": {"viewer", "operator", "admin"},
    "auditor": {"auditor"},
}


def routes_of(app: FastAPI) -> list[tuple[str, str, str | None]]:
    """(method, path, declared rule) for every route, included routers flattened."""
    found = []
    for route in routing.iter_route_contexts(app.routes):
        for method in sorted((route.methods or set()) - {"HEAD"}):
            found.append((method, str(route.path), route_access(route)))
    return found


def streaming_paths(app: FastAPI) -> set[str]:
    """Routes that answer an endless stream: a test client would wait on them forever once let in."""
    found = set()
    for route in routing.iter_route_contexts(app.routes):
        kind = getattr(route, "response_class", None)
        if isinstance(kind, type) and issubclass(kind, StreamingResponse):
            found.add(str(route.path))
    return found


def filled(path: str) -> str:
    values = {"site": "plaza", "camera": "cam-1", "token_id": "abc123", "incident_id": str(uuid.uuid4())}
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values.get(m.group(1), "x"), path)


def add_traffic(engine: Engine) -> None:
    """Two hours of every kind of aggregate for plaza/cam-1, through the real writer."""
    events: list[Any] = []
    for i in range(24):
        start = T0 + timedelta(minutes=5 * i)
        base = {"site": "plaza", "camera": "cam-1", "start": start, "end": start + timedelta(minutes=5)}
        events += [
            LineCountEvent(
                id=uuid.uuid4(),
                line="north",
                counts={"inbound": {"car": 3, "person": 2}, "outbound": {"bus": 1, "person": 1}},
                **base,
            ),
            SpeedEvent(
                id=uuid.uuid4(),
                line="north",
                speeds={"inbound": {"car": {"n": 3, "mean_kmh": 30.0 + i, "p85_kmh": 40.0 + i}}},
                **base,
            ),
            ZoneOccupancyEvent(
                id=uuid.uuid4(), zone="west", mean={"person": 1.5}, peak={"person": 3}, **base
            ),
            TurningMovementEvent(
                id=uuid.uuid4(),
                movements=[{"from_zone": "west", "to_zone": "east", "class": "car", "count": 2}],
                **base,
            ),
        ]
    result = EventWriter(engine).write_events(events)
    assert result.stored == len(events)


@pytest.fixture
def hub(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    """A client on a store with one camera and traffic, and a bearer header per role."""
    make_registry(store_engine)
    add_traffic(store_engine)
    headers = {role: {"Authorization": f"Bearer {issue_token(store_engine, role).secret}"} for role in ROLES}
    with TestClient(create_app(None, store_engine)) as client:
        yield client, headers


# -- access rules --------------------------------------------------------------------------------------------


def test_every_route_declares_an_access_rule(sqlite_engine: Engine) -> None:
    app = create_app(None, sqlite_engine)
    undeclared = [(m, p) for m, p, rule in routes_of(app) if rule is None and p not in DOC_ROUTES]
    assert undeclared == [], "routes without require_role(...) or public(): add a rule"
    declared = {(m, p): rule for m, p, rule in routes_of(app)}
    assert {key: declared.get(key) for key in EXPECTED_RULES} == EXPECTED_RULES


@pytest.mark.parametrize("who", [None, *ROLES])
def test_roles_on_every_route(hub: tuple[TestClient, dict[str, dict[str, str]]], who: str | None) -> None:
    client, headers = hub
    problems = []
    endless = streaming_paths(client.app)  # type: ignore[arg-type]
    for method, path, rule in routes_of(client.app):  # type: ignore[arg-type]
        if rule is None or rule == "public" or (who is not None and rule in MAY[who] and path in endless):
            continue  # public routes answer anyone; an admitted stream would never end
        answer = client.request(method, filled(path), headers=headers[who] if who else {})
        if who is None:
            expected_ok = False
            expect = {401}
        elif rule in MAY[who]:
            expected_ok = True
            expect = set()
        else:
            expected_ok = False
            expect = {403}
        if expected_ok and answer.status_code in (401, 403):
            problems.append(f"{who} {method} {path}: {answer.status_code}, should be allowed")
        if not expected_ok and answer.status_code not in expect:
            problems.append(f"{who} {method} {path}: {answer.status_code}, expected {expect}")
        if answer.status_code in (401, 403):
            assert answer.json()["error"]["status"] == answer.status_code
    assert problems == []


def test_unauthenticated_answer_is_401_with_challenge(hub: tuple[TestClient, Any]) -> None:
    client, _ = hub
    answer = client.get("/counts")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.json() == {"error": {"status": 401, "message": "missing bearer token", "details": []}}


# -- series --------------------------------------------------------------------------------------------------


def test_a_query_parameter_the_route_does_not_take_is_refused(hub: tuple[TestClient, Any]) -> None:
    """A misspelt ``strat=`` (or ``from=`` for ``start=``) was ignored: 200, with the default range's
    counts, which a script then took for the day it asked for."""
    client, headers = hub
    answer = client.get(
        "/counts", params={"strat": WINDOW["start"], "end": WINDOW["end"]}, headers=headers["viewer"]
    )
    assert answer.status_code == 422
    said = answer.json()["error"]["message"]
    assert said.startswith("unknown query parameter strat: /counts takes ") and "start" in said
    assert client.get("/counts", params=WINDOW, headers=headers["viewer"]).status_code == 200
    # the dashboard's own routes are left be: its front end sends its time zone to every series
    turning = "/dashboard/api/cameras/plaza/cam-1/turning"
    assert client.get(turning, params={"tz": "UTC"}, headers=headers["viewer"]).status_code == 200


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"interval": "1h"}, {("08:00", "inbound", "car"): 36, ("09:00", "outbound", "bus"): 12}),
        (
            {"interval": "15m", "class": "car"},
            {("08:00", "inbound", "car"): 9, ("09:45", "inbound", "car"): 9},
        ),
        ({"interval": "1d", "direction": "outbound"}, {("00:00", "outbound", "person"): 24}),
    ],
)
def test_counts_come_from_the_rollup_of_the_interval(
    hub: tuple[TestClient, Any], params: dict[str, str], expected: dict[tuple[str, str, str], int]
) -> None:
    client, headers = hub
    answer = client.get("/counts", params=WINDOW | params, headers=headers["viewer"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    got = {(p["bucket"][11:16], p["direction"], p["class"]): p["count"] for p in body["points"]}
    assert {key: got.get(key) for key in expected} == expected
    assert body["interval"] == params["interval"] and body["truncated"] is False
    if "class" in params:
        assert {p["class"] for p in body["points"]} == {params["class"]}


def test_group_by_sums_over_the_other_columns(hub: tuple[TestClient, Any]) -> None:
    client, headers = hub
    params = WINDOW | {"interval": "1d", "group_by": ["class"]}
    body = client.get("/counts", params=params, headers=headers["viewer"]).json()
    assert [(p["class"], p["count"], p["camera"], p["direction"]) for p in body["points"]] == [
        ("bus", 24, None, None),
        ("car", 72, None, None),
        ("person", 72, None, None),
    ]
    bad = client.get("/counts", params={"group_by": "colour"}, headers=headers["viewer"])
    assert bad.status_code == 422
    # the CSV too: the columns summed over are empty
    rows = list(
        csv.DictReader(io.StringIO(client.get("/counts.csv", params=params, headers=headers["viewer"]).text))
    )
    assert [(r["class"], r["count"], r["camera"], r["direction"]) for r in rows] == [
        ("bus", "24", "", ""),
        ("car", "72", "", ""),
        ("person", "72", "", ""),
    ]
    assert (
        client.get("/counts.csv", params={"group_by": "colour"}, headers=headers["viewer"]).status_code == 422
    )


def test_limit_truncates_and_says_so(hub: tuple[TestClient, Any]) -> None:
    client, headers = hub
    body = client.get(
        "/counts", params=WINDOW | {"interval": "15m", "limit": 5}, headers=headers["viewer"]
    ).json()
    assert len(body["points"]) == 5 and body["truncated"] is True


def test_csv_export_parses_and_matches_json(hub: tuple[TestClient, Any]) -> None:
    client, headers = hub
    params = WINDOW | {"interval": "1h"}
    answer = client.get("/counts.csv", params=params, headers=headers["viewer"])
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    points = client.get("/counts", params=params, headers=headers["viewer"]).json()["points"]
    assert len(rows) == len(points) > 0
    for row, point in zip(rows, points, strict=True):
        assert datetime.fromisoformat(row["bucket"]) == datetime.fromisoformat(point["bucket"])
        assert (row["line"], row["direction"], row["class"], int(row["count"])) == (
            point["line"],
            point["direction"],
            point["class"],
            point["count"],
        )


def test_speeds_occupancy_and_movements(hub: tuple[TestClient, Any]) -> None:
    client, headers = hub
    params, viewer = WINDOW | {"interval": "1h"}, headers["viewer"]
    speeds = client.get("/speeds", params=params, headers=viewer).json()["points"]
    first = speeds[0]
    assert (first["n"], first["mean_kmh"], first["p85_max_kmh"]) == (36, pytest.approx(35.5), 51.0)
    occupancy = client.get("/occupancy", params=params | {"zone": "west"}, headers=viewer).json()["points"]
    assert [(p["samples"], p["mean"], p["peak_max"]) for p in occupancy] == [(12, 1.5, 3), (12, 1.5, 3)]
    moves = client.get("/movements", params=params, headers=viewer).json()["points"]
    assert [(p["from_zone"], p["to_zone"], p["count"]) for p in moves] == [("west", "east", 24)] * 2


@pytest.mark.parametrize(
    ("path", "model", "extra"),
    [
        ("/counts", CountSeries, {}),
        ("/counts", CountSeries, {"group_by": "class"}),
        ("/speeds", SpeedSeries, {}),
        ("/occupancy", OccupancySeries, {}),
        ("/movements", MovementSeries, {}),
        ("/counts", CountSeries, {"tz": "Asia/Kolkata", "group_by": "class"}),
        ("/speeds", SpeedSeries, {"tz": "Asia/Kolkata"}),
        ("/occupancy", OccupancySeries, {"tz": "America/St_Johns"}),
    ],
)
def test_series_json_is_exactly_what_the_declared_model_writes(
    hub: tuple[TestClient, Any], path: str, model: type[BaseModel], extra: dict[str, str]
) -> None:
    """The series routes write their rows straight to JSON: it must be what the OpenAPI model would write."""
    client, headers = hub
    answer = client.get(path, params=WINDOW | {"interval": "1h"} | extra, headers=headers["viewer"])
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body["points"]
    assert model.model_validate(body).model_dump(mode="json", by_alias=True) == body
    assert model.model_validate(body).model_dump_json(by_alias=True).encode() == answer.content


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"interval": "5m"}, "query.interval"),
        ({"start": "2026-11-21T00:00:00Z", "end": "2026-11-20T00:00:00Z"}, "must be after start"),
        (
            {"interval": "15m", "start": "2026-01-01T00:00:00Z", "end": "2026-11-20T00:00:00Z"},
            "at most 31 days",
        ),
        ({"start": "2026-11-20T00:00:00"}, "timezone"),
        ({"camera": "Not A Slug"}, "query.camera"),
        ({"limit": 0}, "query.limit"),
    ],
)
def test_bad_parameters_get_one_line_422(
    hub: tuple[TestClient, Any], params: dict[str, Any], message: str
) -> None:
    client, headers = hub
    answer = client.get("/counts", params=params, headers=headers["viewer"])
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["status"] == 422 and message in error["message"] and "\n" not in error["message"]


def test_cameras_publish_metadata_but_config_is_for_admins(hub: tuple[TestClient, Any]) -> None:
    client, headers = hub
    cameras = client.get("/cameras", headers=headers["viewer"]).json()
    assert [(c["site"], c["camera"], c["legal_basis"], c["contact"]) for c in cameras] == [
        ("plaza", "cam-1", "public task", "traffic@example.org")
    ]
    assert [line["name"] for line in cameras[0]["lines"]] == ["north"]
    assert client.get("/cameras/plaza/cam-2", headers=headers["viewer"]).status_code == 404
    config = client.get("/cameras/plaza/cam-1/config", headers=headers["admin"]).json()
    assert "uri" not in config["source"] and config["camera"] == "cam-1"
    assert "secret" not in str(config)


def test_live_state_shows_the_newest_interval(hub: tuple[TestClient, Any]) -> None:
    client, headers = hub
    live = client.get("/live", headers=headers["operator"]).json()
    assert live == [{"site": "plaza", "camera": "cam-1", "last_interval_start": "2026-11-20T09:55:00Z"}]


# -- tokens, audit, health, metrics --------------------------------------------------------------------------


def test_admin_creates_and_revokes_a_token(hub: tuple[TestClient, Any]) -> None:
    client, headers = hub
    created = client.post("/tokens", json={"role": "viewer", "label": "ops"}, headers=headers["admin"])
    assert created.status_code == 201
    token = created.json()
    mine = {"Authorization": f"Bearer {token['token']}"}
    assert client.get("/cameras", headers=mine).status_code == 200
    listed = client.get("/tokens", headers=headers["admin"]).json()
    assert token["token"] not in str(listed) and token["id"] in {t["id"] for t in listed}
    assert client.delete(f"/tokens/{token['id']}", headers=headers["admin"]).status_code == 204
    assert client.get("/cameras", headers=mine).status_code == 401
    assert client.delete(f"/tokens/{token['id']}", headers=headers["admin"]).status_code == 404


def test_tokens_made_and_revoked_over_the_api_are_in_the_trail(
    hub: tuple[TestClient, Any], store_engine: Engine
) -> None:
    """The request's entry says only 'POST /tokens'; auditors cannot list tokens. Each token made or
    revoked has an entry naming it, as the command line writes one."""
    client, headers = hub
    admin_id = next(t.id for t in list_tokens(store_engine) if t.role == "admin")
    made = client.post(
        "/tokens",
        json={"role": "admin", "label": "second desk", "expires_at": "2031-01-01T00:00:00Z"},
        headers=headers["admin"],
    ).json()
    assert client.delete(f"/tokens/{made['id']}", headers=headers["admin"]).status_code == 204
    audit = client.get("/audit", params={"limit": 1000}, headers=headers["auditor"]).json()
    kinds = [(e["kind"], e["actor"], e["role"], e["detail"]) for e in audit if e["kind"] == "token"]
    assert kinds == [
        (
            "token",
            admin_id,
            "admin",
            {
                "action": "create",
                "token_id": made["id"],
                "role": "admin",
                "expires_at": "2031-01-01T00:00:00+00:00",
            },
        ),
        ("token", admin_id, "admin", {"action": "revoke", "token_id": made["id"], "role": "admin"}),
    ]


def test_an_admin_cannot_revoke_the_auditors_token(hub: tuple[TestClient, Any], store_engine: Engine) -> None:
    """Whoever configures the hub must not shut out whoever checks its trail: auditor tokens are made and
    revoked on the hub machine only."""
    client, headers = hub
    auditor_id = next(t.id for t in list_tokens(store_engine) if t.role == "auditor")
    refused = client.delete(f"/tokens/{auditor_id}", headers=headers["admin"])
    assert refused.status_code == 403
    assert f"citytally token revoke {auditor_id}" in refused.json()["error"]["message"]
    assert client.get("/audit/verify", headers=headers["auditor"]).status_code == 200


def test_every_request_is_audited_without_secrets(hub: tuple[TestClient, Any], store_engine: Engine) -> None:
    client, headers = hub
    before = len(read_entries(store_engine, limit=10_000))
    client.get("/counts", params={"interval": "1h"})
    client.get("/counts", params={"interval": "1h"}, headers={"Authorization": "Bearer ct_wrong"})
    client.get("/audit", headers=headers["viewer"])
    client.get("/counts", params={"site": "plaza"}, headers=headers["viewer"])
    entries = read_entries(store_engine, limit=10_000)[before:]
    assert [(e.entry.actor, e.entry.role, e.entry.method, e.entry.path, e.entry.status) for e in entries] == [
        ("anonymous", None, "GET", "/counts", 401),
        ("anonymous", None, "GET", "/counts", 401),
        (entries[2].entry.actor, "viewer", "GET", "/audit", 403),
        (entries[2].entry.actor, "viewer", "GET", "/counts", 200),
    ]
    assert entries[0].entry.query == "interval=1h" and entries[3].entry.query == "site=plaza"
    with store_engine.connect() as conn:
        stored = " ".join(str(v) for row in conn.execute(sa.select(audit_log_table)) for v in row)
    for header in headers.values():
        assert header["Authorization"].split()[1] not in stored
    assert client.get("/audit/verify", headers=headers["auditor"]).json()["ok"] is True


def test_health_and_metrics(hub: tuple[TestClient, Any]) -> None:
    client, headers = hub
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["database"] == "ok" and health["ingest_lag_s"] >= 0
    text = client.get("/metrics", headers=headers["operator"]).text
    for name in ("citytally_ingest_lag_seconds", "citytally_dead_letters", "citytally_api_requests_total"):
        assert name in text
    # one series per counter and histogram child, not a `_created` one beside each
    assert "citytally_api_requests_total{" in text and "_created" not in text


def test_health_says_503_when_the_database_is_gone() -> None:
    engine = create_store_engine("postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    with TestClient(create_app(None, engine)) as client:
        answer = client.get("/health")
    assert answer.status_code == 503
    assert answer.json() == {
        "status": "degraded",
        "database": "unreachable",
        "database_problem": None,
        "ingest_lag_s": None,
        "ingest_stalled_s": 0.0,
        "ingest_waiting": 0,
        "broker_session": None,
        "broker": None,
        "broker_down_s": None,
    }
