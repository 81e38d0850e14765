"""NGSI-LD export: entities carry the Smart Data Models' required attributes, in their types and enums."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from citytally.events import IncidentEvent, LineCountEvent, SpeedEvent
from citytally.hub.access import issue_token
from citytally.hub.ngsi import NGSI_LD_CONTEXT, VEHICLE_TYPES, crowd_flow_entities, traffic_flow_entities
from citytally.hub.store import EventWriter
from citytally.hub.web import create_app

# From the models' schema.json (smart-data-models/dataModel.Transportation): required id, type, dateObserved;
# TrafficFlowObserved also needs one of refRoadSegment, location, address.
REQUIRED = ("id", "type", "dateObserved", "@context")
TRAFFIC_ENUMS = {
    "laneDirection": {"forward", "backward"},
    "vehicleType": set(
        [
            "agriculturalVehicle",
            "bicycle",
            "bus",
            "minibus",
            "car",
            "caravan",
            "tram",
            "tanker",
            "carWithCaravan",
            "carWithTrailer",
            "lorry",
            "moped",
            "motorcycle",
            "motorcycleWithSideCar",
            "motorscooter",
            "trailer",
            "van",
            "constructionOrMaintenanceVehicle",
            "trolley",
            "binTrolley",
            "sweepingMachine",
            "cleaningTrolley",
        ]
    ),
}
BUCKET = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
CAMERAS = {("plaza", "cam-1"): {"lat": 52.5, "lon": 13.4, "location": "Plaza, north side"}}


def row(direction: str, cls: str, count: int, line: str = "north") -> dict[str, Any]:
    return {"bucket": BUCKET, "site": "plaza", "camera": "cam-1", "line": line, "direction": direction} | {
        "class": cls,
        "count": count,
    }


def check_common(entity: dict[str, Any], kind: str) -> None:
    for name in REQUIRED:
        assert name in entity, f"{kind} lacks {name}"
    assert entity["type"] == kind and entity["id"].startswith(f"urn:ngsi-ld:{kind}:")
    assert entity["@context"] == NGSI_LD_CONTEXT
    start, end = entity["dateObserved"]["value"].split("/")
    assert datetime.fromisoformat(start) < datetime.fromisoformat(end)
    assert entity["dateObservedFrom"]["value"] == {"@type": "DateTime", "@value": start}
    assert entity["dateObservedTo"]["value"] == {"@type": "DateTime", "@value": end}
    assert any(k in entity for k in ("refRoadSegment", "location", "address"))
    for name, attribute in entity.items():
        if name not in ("id", "type", "@context"):
            assert attribute["type"] in ("Property", "Relationship", "GeoProperty"), name


def test_traffic_flow_sums_vehicles_per_line_direction_and_bucket() -> None:
    counts = [
        row("inbound", "car", 5),
        row("inbound", "truck", 2),
        row("inbound", "person", 9),
        row("outbound", "bus", 1),
    ]
    speeds = [
        row("inbound", "car", 0) | {"n": 5, "mean_kmh": 40.0},
        row("inbound", "truck", 0) | {"n": 2, "mean_kmh": 33.0},
    ]
    entities = traffic_flow_entities(
        counts,
        speeds,
        width=timedelta(hours=1),
        cameras=CAMERAS,
        line_directions={("plaza", "cam-1", "north"): ["inbound", "outbound"]},
    )
    assert [(e["intensity"]["value"], e["laneDirection"]["value"]) for e in entities] == [
        (7, "forward"),
        (1, "backward"),
    ]
    assert entities[0]["averageVehicleSpeed"]["value"] == pytest.approx(38.0)  # (5*40 + 2*33) / 7
    assert "averageVehicleSpeed" not in entities[1]
    assert entities[0]["location"] == {
        "type": "GeoProperty",
        "value": {"type": "Point", "coordinates": [13.4, 52.5]},
    }
    assert entities[0]["dateObserved"]["value"] == "2026-11-20T08:00:00Z/2026-11-20T09:00:00Z"
    for entity in entities:
        check_common(entity, "TrafficFlowObserved")
        assert entity["intensity"]["value"] >= 0


@pytest.mark.parametrize("cls", sorted(VEHICLE_TYPES))
def test_one_vehicle_class_sets_a_valid_vehicle_type(cls: str) -> None:
    entities = traffic_flow_entities(
        [row("inbound", cls, 3), row("inbound", "car" if cls != "car" else "bus", 4)],
        [],
        width=timedelta(minutes=15),
        cameras={},
        line_directions={},
        vehicle_class=cls,
    )
    assert len(entities) == 1 and entities[0]["intensity"]["value"] == 3
    assert entities[0]["vehicleType"]["value"] in TRAFFIC_ENUMS["vehicleType"]
    assert "laneDirection" not in entities[0]  # unknown line: no guess
    check_common(entities[0], "TrafficFlowObserved")


def test_each_observation_has_its_own_id() -> None:
    """The id held the bucket's start only: a quarter's count, the hour's and the hour's cars were one
    entity, so a context broker taking them in (an upsert by id) overwrote one with the other."""
    counts = [row("inbound", "car", 3), row("inbound", "bus", 1)]
    ids = {
        (width, cls): traffic_flow_entities(
            counts, [], width=width, cameras={}, line_directions={}, vehicle_class=cls
        )[0]["id"]
        for width in (timedelta(minutes=15), timedelta(hours=1), timedelta(days=1))
        for cls in (None, "car", "bus")
    }
    assert len(set(ids.values())) == 9
    assert ids[(timedelta(hours=1), None)] == (
        "urn:ngsi-ld:TrafficFlowObserved:citytally:plaza:cam-1:north:inbound:20261120T0800Z:PT1H"
    )
    assert ids[(timedelta(minutes=15), "car")].endswith(":20261120T0800Z:PT15M:car")
    assert ids[(timedelta(days=1), "bus")].endswith(":20261120T0800Z:P1D:bus")
    (people,) = crowd_flow_entities([row("inbound", "person", 2)], [], width=timedelta(days=1), cameras={})
    assert people["id"].endswith(":north:inbound:20261120T0800Z:P1D")


def test_crowd_flow_counts_people_and_names_direction_only_when_it_is_the_models() -> None:
    counts = [row("inbound", "person", 4), row("east", "person", 2), row("inbound", "car", 10)]
    entities = crowd_flow_entities(counts, [], width=timedelta(minutes=15), cameras=CAMERAS)
    assert [(e["peopleCount"]["value"], e.get("direction", {}).get("value")) for e in entities] == [
        (2, None),
        (4, "inbound"),
    ]
    for entity in entities:
        check_common(entity, "CrowdFlowObserved")
        assert isinstance(entity["peopleCount"]["value"], int)


@pytest.fixture
def client(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    make_registry(store_engine)
    start = BUCKET
    EventWriter(store_engine).write_events(
        [
            LineCountEvent(
                id=uuid.uuid4(), site="plaza", camera="cam-1", start=start, end=start + timedelta(minutes=5),
                line="north", counts={"inbound": {"car": 3, "person": 2}, "outbound": {"car": 1}},
            ),
            SpeedEvent(
                id=uuid.uuid4(), site="plaza", camera="cam-1", start=start, end=start + timedelta(minutes=5),
                line="north", speeds={"inbound": {"car": {"n": 3, "mean_kmh": 42.0, "p85_kmh": 50.0}}},
            ),
        ]
    )  # fmt: skip
    headers = {"Authorization": f"Bearer {issue_token(store_engine, 'viewer').secret}"}
    with TestClient(create_app(None, store_engine)) as test_client:
        yield test_client, headers


@pytest.mark.integration
@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("TrafficFlowObserved", [("intensity", 3, "forward"), ("intensity", 1, "backward")]),
        ("CrowdFlowObserved", [("peopleCount", 2, "inbound")]),
    ],
)
def test_api_serves_json_ld(
    client: tuple[TestClient, dict[str, str]], kind: str, expected: list[Any]
) -> None:
    test_client, headers = client
    params = {"interval": "15m", "start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z"}
    answer = test_client.get(f"/ngsi-ld/{kind}", params=params, headers=headers)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/ld+json")
    entities = answer.json()
    value_name = expected[0][0]
    got = [
        (value_name, e[value_name]["value"], e.get("laneDirection", e.get("direction", {})).get("value"))
        for e in entities
    ]
    assert got == expected
    for entity in entities:
        check_common(entity, kind)
    if kind == "TrafficFlowObserved":
        assert entities[0]["averageVehicleSpeed"]["value"] == 42.0


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["TrafficFlowObserved", "CrowdFlowObserved"])
def test_entities_say_where_the_camera_view_changed(
    client: tuple[TestClient, dict[str, str]], store_engine: Engine, kind: str
) -> None:
    """cam-1 was knocked from 08:20 to 08:25: the 08:15 bucket's entities say ``viewChanged`` true (their
    counts may be wrong), the 08:00 bucket's false, as the REST series mark them. Before, NGSI-LD consumers
    were not told."""
    test_client, headers = client
    later = BUCKET + timedelta(minutes=15)
    knocked, moved = uuid.uuid4(), later + timedelta(minutes=5)
    view = {"site": "plaza", "camera": "cam-1", "incident": "view_changed", "zone": "road"}
    EventWriter(store_engine).write_events(
        [
            LineCountEvent(
                id=uuid.uuid4(), site="plaza", camera="cam-1", start=later, end=later + timedelta(minutes=5),
                line="north", counts={"inbound": {"car": 2, "person": 1}},
            ),
            IncidentEvent(
                id=uuid.uuid4(), **view, start=moved, end=moved + timedelta(minutes=1),
                severity="warning", details={"change": "moved"}, incident_id=knocked, phase="onset",
            ),
            IncidentEvent(
                id=uuid.uuid4(), **view, start=moved, end=moved + timedelta(minutes=5),
                severity="warning", details={"change": "moved"}, incident_id=knocked, phase="cleared",
            ),
        ]
    )  # fmt: skip
    params = {"interval": "15m", "start": "2026-11-20T08:00:00Z", "end": "2026-11-20T08:30:00Z"}
    entities = test_client.get(f"/ngsi-ld/{kind}", params=params, headers=headers).json()
    marks = {(e["dateObservedFrom"]["value"]["@value"][11:16], e["viewChanged"]["value"]) for e in entities}
    assert marks == {("08:00", False), ("08:15", True)}
    for entity in entities:
        check_common(entity, kind)


@pytest.mark.integration
def test_an_answer_cut_by_limit_holds_whole_buckets_only_and_says_so(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    """``limit`` counts rows, one per line, direction and class, in bucket order: the entity of the bucket
    it cut through summed some of its classes only (intensity 4 where 5 went by), and nothing said that
    the answer was cut."""
    make_registry(store_engine)
    quarter = timedelta(minutes=15)

    def counts(start: datetime, per_class: dict[str, int]) -> LineCountEvent:
        return LineCountEvent(
            id=uuid.uuid4(), site="plaza", camera="cam-1", start=start, end=start + quarter, line="north",
            counts={"inbound": per_class},
        )  # fmt: skip

    EventWriter(store_engine).write_events(
        [
            counts(BUCKET, {"car": 3, "truck": 2, "person": 1}),
            counts(BUCKET + quarter, {"car": 4, "truck": 1}),
        ]
    )
    headers = {"Authorization": f"Bearer {issue_token(store_engine, 'viewer').secret}"}
    window = {"interval": "15m", "start": "2026-11-20T08:00:00Z", "end": "2026-11-20T09:00:00Z"}
    with TestClient(create_app(None, store_engine)) as client:

        def ask(limit: int) -> Any:
            return client.get(
                "/ngsi-ld/TrafficFlowObserved", params=window | {"limit": limit}, headers=headers
            )

        whole = ask(100)
        assert [e["intensity"]["value"] for e in whole.json()] == [5, 5]
        assert "x-truncated" not in whole.headers
        cut = ask(4)  # the three rows of 08:00, and car of 08:15 without its truck
        assert cut.status_code == 200 and cut.headers["x-truncated"] == "true"
        assert [(e["dateObserved"]["value"], e["intensity"]["value"]) for e in cut.json()] == [
            ("2026-11-20T08:00:00Z/2026-11-20T08:15:00Z", 5)
        ]
        too_few = ask(2)  # not even the first bucket whole
        assert too_few.status_code == 422 and "`limit`" in too_few.json()["error"]["message"]
