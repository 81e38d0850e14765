"""The API holds under hostile input and behind proxies: time-zone folders, spoofed forwarding headers,
lock-outs that spare valid tokens, security headers on every answer, documentation served locally."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from citytally.hub.access import issue_token
from citytally.hub.api import create_app
from citytally.hub.store import create_store_engine, migrate, sqlite_url

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_store_engine(sqlite_url(tmp_path / "hub.sqlite3"))
    migrate(engine)
    yield engine
    engine.dispose()


def bearer(engine: sa.Engine, role: str = "viewer") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(engine, role).secret}"}


@pytest.mark.parametrize(
    ("tz", "status"),
    [
        ("Europe", 422),
        ("America/Argentina", 422),
        ("zone.tab", 422),
        ("../../../etc/passwd", 422),
        ("Europe/Amsterdam", 200),
        ("UTC", 200),
    ],
)
def test_a_time_zone_must_be_a_zone_not_a_folder_of_the_tz_database(
    engine: sa.Engine, tz: str, status: int
) -> None:
    with TestClient(create_app(None, engine), raise_server_exceptions=False) as client:
        answer = client.get("/dashboard/api/overview", params={"tz": tz}, headers=bearer(engine))
    assert answer.status_code == status
    if status == 422:
        message = answer.json()["error"]["message"]
        assert message.startswith(f"tz: unknown time zone {tz!r}") and "\n" not in message
