"""Property-based API test: schemathesis generates requests from /openapi.json (with an admin token) against a
real SQLite store holding a camera and traffic; no answer may be a server error or break its documented
schema. Examples per operation are few, to keep the run to a couple of minutes on CI."""

from __future__ import annotations

import gc
import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance
from sqlalchemy.engine import Engine

from citytally.events import LineCountEvent, ZoneOccupancyEvent
from citytally.hub.access import issue_token
from citytally.hub.store import EventWriter, create_store_engine, migrate, sqlite_url, sync_registry
from citytally.hub.web import create_app

from .conftest import make_camera

pytestmark = pytest.mark.integration

#: Routes of other areas mounted in the app: checked for server errors and schema, not for their status docs.
OTHER_AREAS = ("/register", "/pia")
START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path: Path = tmp_path_factory.mktemp("schemathesis") / "hub.sqlite3"
    engine = create_store_engine(sqlite_url(path))
    migrate(engine)
    sync_registry(engine, [make_camera()])
    events: list[Any] = []
    for i in range(12):
        start = START + timedelta(minutes=15 * i)
        base = {
            "id": uuid.uuid4(),
            "site": "plaza",
            "camera": "cam-1",
            "start": start,
            "end": start + timedelta(minutes=15),
        }
        events.append(LineCountEvent(line="north", counts={"inbound": {"car": 2, "person": 1}}, **base))
        events.append(
            ZoneOccupancyEvent(
                **(base | {"id": uuid.uuid4()}), zone="west", mean={"car": 0.5}, peak={"car": 1}
            )
        )
    EventWriter(engine).write_events(events)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def admin_headers(store: Engine) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(store, 'admin').secret}"}


@pytest.fixture(scope="module")
def api_schema(store: Engine) -> Any:
    schemathesis.experimental.OPEN_API_3_1.enable()  # FastAPI documents itself as OpenAPI 3.1
    return schemathesis.from_asgi("/openapi.json", create_app(None, store))


# schemathesis 3.x warns about its own deprecated arguments here even when none are passed.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    # The dashboard's live stream never ends by design; a generated request to it would wait forever.
    schema = schemathesis.from_pytest_fixture("api_schema").exclude(path="/dashboard/api/live")


@pytest.fixture(autouse=True)
def _collect_leaked_streams() -> Iterator[None]:
    """Collect the transport's unclosed streams (see below) here, where their ResourceWarning is expected,
    instead of letting the garbage collector raise it inside whichever test happens to run next.

    Automatic collection is off meanwhile: every operation is one subtest of this test, and a collection
    set off by one operation's generated data (a large request body) would otherwise raise the earlier
    calls' warnings inside that operation's run."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()


@schema.parametrize()
# schemathesis' ASGI transport (the starlette-testclient fork) leaves anyio memory streams unclosed per call.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors_and_answers_match_the_schema(case: Any, admin_headers: dict[str, str]) -> None:
    response = case.call(headers=admin_headers)
    checks = [not_a_server_error, response_schema_conformance]
    if not case.path.startswith(OTHER_AREAS):
        checks.append(status_code_conformance)  # every status this package answers is documented
    case.validate_response(response, checks=tuple(checks))
