"""The incidents API: operators list and acknowledge; viewers and anonymous callers are refused."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from citytally.events import IncidentEvent
from citytally.hub.access import issue_token
from citytally.hub.store import EventWriter, create_store_engine, migrate, sqlite_url
from citytally.hub.web import create_app
from dashboard.conftest import SITE

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(tmp_path: Path, seed_store: Callable[[sa.Engine], None]) -> Iterator[sa.Engine]:
    """A store with the demo cameras, their events and two open incidents."""
    store = create_store_engine(sqlite_url(tmp_path / "hub.sqlite3"))
    migrate(store)
    seed_store(store)
    yield store
    store.dispose()


def bearer(engine: sa.Engine, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(engine, role).secret}"}


@pytest.mark.parametrize(
    ("role", "get_status", "post_status"),
    [
        (None, 401, 401),
        ("viewer", 403, 403),
        ("auditor", 403, 403),
        ("operator", 200, 200),
        ("admin", 200, 200),
    ],
)
def test_who_may_list_and_acknowledge(
    engine: sa.Engine, role: str | None, get_status: int, post_status: int
) -> None:
    client = TestClient(create_app(None, engine))
    headers = bearer(engine, role) if role else {}
    listed = client.get("/incidents", headers=headers)
    assert listed.status_code == get_status
    any_id = client.get("/incidents", headers=bearer(engine, "operator")).json()[0]["id"]
    assert client.post(f"/incidents/{any_id}/ack", headers=headers).status_code == post_status


def test_acknowledging_keeps_the_first_and_unknown_ids_are_404(engine: sa.Engine) -> None:
    client = TestClient(create_app(None, engine))
    first, second = issue_token(engine, "operator"), issue_token(engine, "operator")
    open_ids = [
        i["id"] for i in client.get("/incidents", headers={"Authorization": f"Bearer {first.secret}"}).json()
    ]
    assert len(open_ids) == 2
    done = client.post(f"/incidents/{open_ids[0]}/ack", headers={"Authorization": f"Bearer {first.secret}"})
    again = client.post(f"/incidents/{open_ids[0]}/ack", headers={"Authorization": f"Bearer {second.secret}"})
    assert done.json()["acknowledged_by"] == again.json()["acknowledged_by"] == first.id
    left = client.get("/incidents", headers={"Authorization": f"Bearer {second.secret}"}).json()
    assert [i["id"] for i in left] == open_ids[1:]
    everything = client.get(
        "/incidents",
        params={"include_acknowledged": "true"},
        headers={"Authorization": f"Bearer {second.secret}"},
    ).json()
    assert len(everything) == 2
    missing = client.post(
        f"/incidents/{uuid.uuid4()}/ack", headers={"Authorization": f"Bearer {first.secret}"}
    )
    assert missing.status_code == 404


def incident(kind: str, severity: str, minutes_ago: int) -> IncidentEvent:
    start = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return IncidentEvent(
        id=uuid.uuid4(),
        site=SITE,
        camera="vtest",
        start=start,
        end=start + timedelta(minutes=1),
        incident=kind,
        severity=severity,
        zone="middle",
    )


def test_most_severe_first_then_newest_and_acknowledged_last(engine: sa.Engine) -> None:
    # The seed holds two warnings: congestion 50 min ago and a stopped vehicle 20 min ago.
    extra = [incident("wrong_way", "critical", 90), incident("crowd_density", "info", 5)]
    extra.append(incident("pedestrian_on_roadway", "critical", 30))
    assert EventWriter(engine).write_events(extra).stored == 3
    client = TestClient(create_app(None, engine))
    who = bearer(engine, "operator")
    listed = client.get("/incidents", headers=who).json()
    expected = ["pedestrian_on_roadway", "wrong_way", "stopped_vehicle", "congestion", "crowd_density"]
    assert [i["incident"] for i in listed] == expected
    critical = client.get("/incidents", params={"severity": "critical"}, headers=who).json()
    assert [i["incident"] for i in critical] == expected[:2]
    newest_critical = listed[0]["id"]
    assert client.post(f"/incidents/{newest_critical}/ack", headers=who).status_code == 200
    everything = client.get("/incidents", params={"include_acknowledged": "true"}, headers=who).json()
    assert [i["incident"] for i in everything] == expected[1:] + expected[:1]


def test_summary_counts_what_waits_for_an_acknowledgement(engine: sa.Engine) -> None:
    client = TestClient(create_app(None, engine))
    assert client.get("/incidents/summary", headers=bearer(engine, "viewer")).status_code == 403
    who = bearer(engine, "operator")
    EventWriter(engine).write_events([incident("wrong_way", "critical", 3)])
    summary = client.get("/incidents/summary", headers=who).json()
    assert summary == {"open": 3, "by_severity": {"critical": 1, "warning": 2, "info": 0}}
    critical = client.get("/incidents", headers=who).json()[0]
    client.post(f"/incidents/{critical['id']}/ack", headers=who)
    summary = client.get("/incidents/summary", headers=who).json()
    assert summary == {"open": 2, "by_severity": {"critical": 0, "warning": 2, "info": 0}}


@pytest.mark.parametrize(
    ("label", "shown"), [("night shift, control room", "night shift, control room"), ("", None)]
)
def test_acknowledgement_names_the_token_by_label(engine: sa.Engine, label: str, shown: str | None) -> None:
    client = TestClient(create_app(None, engine))
    token = issue_token(engine, "operator", label=label)
    who = {"Authorization": f"Bearer {token.secret}"}
    first = client.get("/incidents", headers=who).json()[0]
    assert first["acknowledged_by_label"] is None
    done = client.post(f"/incidents/{first['id']}/ack", headers=who).json()
    assert done["acknowledged_by"] == token.id
    assert done["acknowledged_by_label"] == (shown or token.id)  # a token without a label goes by its id
