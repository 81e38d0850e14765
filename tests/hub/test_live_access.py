"""A live stream (``/dashboard/api/live``) ends when its token stops being valid: a real uvicorn server, a
real SSE client over HTTP, tokens revoked (through the API and the command line) or expiring while the
stream is open."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.engine import Engine

from citytally.events import LineCountEvent
from citytally.hub.access import issue_token, revoke_token
from citytally.hub.api import create_app
from citytally.hub.dashboard.server import DashboardServer, free_port
from citytally.hub.store import EventWriter

pytestmark = pytest.mark.integration


class SseClient:
    """Reads one SSE stream in a thread; frames (dicts of field → value) arrive on ``frames``."""

    def __init__(self, url: str, secret: str) -> None:
        self.frames: queue.Queue[dict[str, str] | None] = queue.Queue()
        self.status: int | None = None
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(url, secret), daemon=True)
        self._thread.start()
        assert self._opened.wait(10), "the stream did not open"

    def _read(self, url: str, secret: str) -> None:
        headers = {"Authorization": f"Bearer {secret}", "Accept": "text/event-stream"}
        with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(30.0)) as answer:
            self.status = answer.status_code
            self._opened.set()
            frame: dict[str, str] = {}
            for line in answer.iter_lines():
                if not line:
                    if frame:
                        self.frames.put(frame)
                    frame = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    frame[name] = value.strip()
        self.frames.put(None)  # the server closed the stream

    def until_closed(self, timeout: float) -> list[dict[str, str]]:
        """Every frame up to the end of the stream; fails if it is still open after ``timeout`` s."""
        got: list[dict[str, str]] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                frame = self.frames.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                pytest.fail(f"the stream is still open after {timeout} s; frames so far: {got}")
            if frame is None:
                return got
            got.append(frame)

    def next_event(self, timeout: float) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self.frames.get(timeout=max(deadline - time.monotonic(), 0.01))
            assert frame is not None, "the stream closed"
            if "event" in frame:
                return frame
        pytest.fail("no event arrived")


@pytest.fixture
def server(sqlite_engine: Engine) -> Iterator[DashboardServer]:
    running = DashboardServer(create_app(None, sqlite_engine), "127.0.0.1", free_port()).start()
    yield running
    running.stop()


def store_one(engine: Engine) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    event = LineCountEvent(
        id=uuid.uuid4(), site="plaza", camera="cam-1", start=start, end=start + timedelta(minutes=1),
        line="north", counts={"inbound": {"car": 1}},
    )  # fmt: skip
    assert EventWriter(engine, accept_unknown_cameras=True).write_events([event]).stored == 1


def test_the_stream_delivers_while_the_token_is_valid_and_ends_when_it_is_revoked(
    sqlite_engine: Engine, server: DashboardServer
) -> None:
    viewer = issue_token(sqlite_engine, "viewer")
    admin = issue_token(sqlite_engine, "admin")
    client = SseClient(f"{server.base_url}/dashboard/api/live", viewer.secret)
    assert client.status == 200
    store_one(sqlite_engine)
    assert client.next_event(5)["event"] == "stored"
    revoked = httpx.delete(
        f"{server.base_url}/tokens/{viewer.id}", headers={"Authorization": f"Bearer {admin.secret}"}
    )
    assert revoked.status_code == 204
    store_one(sqlite_engine)  # stored after the revocation: must not reach the revoked token
    rest = client.until_closed(timeout=5)
    assert [f.get("event") for f in rest if "event" in f] == ["access-ended"]
    again = httpx.get(
        f"{server.base_url}/dashboard/api/live", headers={"Authorization": f"Bearer {viewer.secret}"}
    )
    assert again.status_code == 401


def test_an_idle_stream_ends_within_seconds_of_a_command_line_revocation(
    sqlite_engine: Engine, server: DashboardServer
) -> None:
    viewer = issue_token(sqlite_engine, "viewer")
    client = SseClient(f"{server.base_url}/dashboard/api/live", viewer.secret)
    time.sleep(1.0)
    revoked_at = time.monotonic()
    assert revoke_token(sqlite_engine, viewer.id)  # what `citytally token revoke` does, from outside the API
    frames = client.until_closed(timeout=6)
    assert frames[-1]["event"] == "access-ended"
    assert time.monotonic() - revoked_at < 4.0


def test_a_stream_ends_when_its_token_expires(sqlite_engine: Engine, server: DashboardServer) -> None:
    expires = datetime.now(UTC) + timedelta(seconds=2)
    viewer = issue_token(sqlite_engine, "viewer", expires_at=expires)
    client = SseClient(f"{server.base_url}/dashboard/api/live", viewer.secret)
    frames = client.until_closed(timeout=8)
    assert frames[-1]["event"] == "access-ended"
    assert datetime.now(UTC) >= expires
