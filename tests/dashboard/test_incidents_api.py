"""The incidents API: operators list and acknowledge; viewers and anonymous callers are refused."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from citytally.hub.access import issue_token
from citytally.hub.store import create_store_engine, migrate, sqlite_url
from citytally.hub.web import create_app

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
