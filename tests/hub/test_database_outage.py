"""The hub on a PostgreSQL that hangs, refuses or is not there yet: it answers, says why, and waits.

The database is the real shared PostgreSQL, each test on a database of its own: a hang is a lock held on
the tables every request touches (as a stopped server or a long migration holds them), an outage a URL
whose port takes no connection, a late database a TCP relay to it that opens only after the hub started.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from citytally.hub.access import issue_token
from citytally.hub.api.middleware import AUDIT_WAIT_S
from citytally.hub.api.system import HEALTH_WAIT_S
from citytally.hub.config import HubSettings
from citytally.hub.dashboard.server import serve
from citytally.hub.store import create_store_engine
from citytally.hub.web import create_app

from .conftest import wait_until

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_database_that_hangs_leaves_health_answering_and_reads_refused(pg_engine: sa.Engine) -> None:
    """``/health`` read the database with no bound before it looked at anything else: with the database
    hung (stopped, or a lock held on the events) it never answered, nor did any request, since each waits
    for its audit entry; the "stalled" state the docs promise for a hung database could never be seen."""
    viewer = {"Authorization": f"Bearer {issue_token(pg_engine, 'viewer').secret}"}
    locker = pg_engine.connect()
    transaction = locker.begin()
    try:
        with TestClient(create_app(None, pg_engine)) as client:
            assert client.get("/health").status_code == 200
            locker.exec_driver_sql("LOCK TABLE events, audit_log IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            health = client.get("/health")
            assert time.monotonic() - started < HEALTH_WAIT_S + AUDIT_WAIT_S + 2
            assert health.status_code == 503
            assert health.json()["database"] == "not_answering" and health.json()["status"] == "degraded"
            started = time.monotonic()
            read = client.get("/cameras", headers=viewer)  # served only once its audit entry is written
            assert time.monotonic() - started < AUDIT_WAIT_S + 2
            assert read.status_code == 503 and "audit log cannot be written" in read.text
            transaction.rollback()  # the lock is let go: all is well again
            wait_until(lambda: client.get("/health").status_code == 200, 30, "/health to say ok again")
            assert client.get("/cameras", headers=viewer).status_code == 200
    finally:
        if transaction.is_active:
            transaction.rollback()
        locker.close()


def test_health_answers_while_a_hung_database_holds_every_worker_thread(pg_engine: sa.Engine) -> None:
    """Requests wait on a hung database in the API's worker threads (40): with more readers than that
    waiting, ``/health`` (a worker-thread route) could not even start, however its read was bounded."""
    viewer = {"Authorization": f"Bearer {issue_token(pg_engine, 'viewer').secret}"}
    server = serve(HubSettings(), pg_engine, build=False)  # real uvicorn, as the hub command runs it
    locker = pg_engine.connect()
    transaction = locker.begin()
    try:
        locker.exec_driver_sql("LOCK TABLE api_tokens, events, audit_log IN ACCESS EXCLUSIVE MODE")
        with httpx.Client(base_url=server.base_url, timeout=120) as client:
            readers = [
                threading.Thread(target=lambda: client.get("/cameras", headers=viewer), daemon=True)
                for _ in range(50)  # each held in a worker thread by its token's lookup
            ]
            for reader in readers:
                reader.start()
            time.sleep(2)
            started = time.monotonic()
            health = client.get("/health", timeout=30)
            assert time.monotonic() - started < HEALTH_WAIT_S + AUDIT_WAIT_S + 2
            assert health.status_code == 503 and health.json()["database"] == "not_answering"
            transaction.rollback()
            for reader in readers:
                reader.join(60)
    finally:
        if transaction.is_active:
            transaction.rollback()
        locker.close()
        server.stop()


def test_a_database_that_is_down_gets_503_with_a_reason_and_one_log_line(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every request to a hub whose database was down answered 500 "internal error" and wrote two chained
    tracebacks (42 lines) to the log."""
    closed = make_url(pg_url).set(host="127.0.0.1", port=_free_port())
    engine = create_store_engine(closed.render_as_string(hide_password=False))
    caplog.set_level(logging.INFO)
    try:
        with TestClient(create_app(None, engine), raise_server_exceptions=False) as client:
            answers = [client.get("/cameras", headers={"Authorization": "Bearer x" * 3}) for _ in range(3)]
    finally:
        engine.dispose()
    for answer in answers:
        assert answer.status_code == 503 and answer.headers["retry-after"] == "5", answer.text
        assert answer.json()["error"]["message"] == "the database does not answer; try again later"
    said = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "Traceback" not in caplog.text and not any(r.exc_info for r in said)
    assert len([r for r in said if "the database does not answer" in r.getMessage()]) == 1


class _Relay:
    """A TCP relay from a port of its own to PostgreSQL's, taking connections only once :meth:`open`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = _free_port()
        self._server: socket.socket | None = None
        self._stop = threading.Event()

    def open(self) -> None:
        server = socket.create_server(("127.0.0.1", self.port))
        server.settimeout(0.2)
        self._server = server
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:  # closed
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with source, sink:
            try:
                while data := source.recv(65536):
                    sink.sendall(data)
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.close()


@pytest.fixture
def late_database(pg_url: str) -> Iterator[tuple[_Relay, str]]:
    url = make_url(pg_url)
    relay = _Relay((url.host or "127.0.0.1", url.port or 5432))
    yield relay, url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    relay.close()


def test_a_hub_started_before_its_database_waits_for_it(
    late_database: tuple[_Relay, str], tmp_path: Path
) -> None:
    """A hub started before its database (a machine booting, a compose file) exited with "migrating ...
    failed" and psycopg's three lines; now it says it waits, once, and goes on when the database is
    there. A wrong database name still ends it at once, in one line."""
    relay, url = late_database
    log = tmp_path / "hub.log"
    config = tmp_path / "hub.toml"
    config.write_text("[mqtt]\nport = 1\n")  # no broker: the hub waits for it too, after the database
    command = [
        sys.executable,
        "-c",
        "from citytally.cli import main; main()",
        "hub",
        "--no-api",
        "-c",
        str(config),
    ]
    env = {**os.environ, "CITYTALLY_DATABASE_URL": url}
    with log.open("wb") as out:
        hub = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        wait_until(lambda: "waiting for it" in log.read_text(), 60, "the hub to say it waits")
        assert hub.poll() is None
        said = [line for line in log.read_text().splitlines() if "does not answer" in line]
        assert len(said) == 1 and "***@127.0.0.1" in said[0] and "refused" in said[0].lower(), said
        relay.open()
        wait_until(lambda: "answers (it lasted" in log.read_text(), 60, "the hub to find its database")
        wait_until(lambda: "cameras registered" in log.read_text(), 60, "the hub to start")
        assert hub.poll() is None
    finally:
        hub.terminate()
        hub.wait(30)
    wrong = make_url(url).set(database="no_such_database_here").render_as_string(hide_password=False)
    done = subprocess.run(command, env={**env, "CITYTALLY_DATABASE_URL": wrong}, capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "no_such_database_here" in errors[0] and "cannot connect" in errors[0], errors
