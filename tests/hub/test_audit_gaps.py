"""Audit gaps closed: a read whose audit row cannot be written is refused; live streams are audited when
they open and when they close; signed checkpoints outside the database catch the newest rows deleted with
the head set back; ``audit verify`` without a store fails instead of checking an empty new one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from citytally.cli import app as cli_app
from citytally.hub.access import issue_token, revoke_token
from citytally.hub.access_tables import audit_head_table, audit_log_table
from citytally.hub.audit import AuditEntry, append_entry, read_entries, verify_chain
from citytally.hub.audit_checkpoints import (
    AUDIT_KEY_ENV,
    AuditCheckpointer,
    read_checkpoints,
    verify_checkpoints,
    write_checkpoint,
)
from citytally.hub.dashboard.server import DashboardServer, free_port
from citytally.hub.metrics import HubMetrics
from citytally.hub.web import create_app

from .sse import SseClient

pytestmark = pytest.mark.integration

KEY = b"k" * 40


def break_audit_writes(engine: Engine) -> None:
    """Make the database itself refuse audit rows (as a full disk or a revoked grant would)."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'audit log unavailable'; END $$ LANGUAGE plpgsql"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log "
                "FOR EACH ROW EXECUTE FUNCTION refuse_audit()"
            )


def mend_audit_writes(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER refuse_audit")
        else:
            conn.exec_driver_sql("DROP TRIGGER refuse_audit ON audit_log")
            conn.exec_driver_sql("DROP FUNCTION refuse_audit()")


def test_a_read_is_refused_when_its_audit_row_cannot_be_written(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    make_registry(store_engine)
    viewer = {"Authorization": f"Bearer {issue_token(store_engine, 'viewer').secret}"}
    metrics = HubMetrics()
    with TestClient(create_app(None, store_engine, metrics=metrics)) as client:
        assert client.get("/cameras", headers=viewer).status_code == 200
        break_audit_writes(store_engine)
        try:
            refused = client.get("/cameras", headers=viewer)
            unauthenticated = client.get("/cameras")
        finally:
            mend_audit_writes(store_engine)
        served = client.get("/cameras", headers=viewer)
    assert refused.status_code == 503, refused.text
    assert "plaza" not in refused.text and "audit log" in refused.json()["error"]["message"]
    assert unauthenticated.status_code == 401  # an error answer discloses nothing: it still goes out
    assert metrics.audit_failures._value.get() == 2
    assert served.status_code == 200 and "plaza" in served.text
    assert [e.entry.status for e in read_entries(store_engine) if e.entry.kind == "request"] == [200, 200]
    assert verify_chain(store_engine).ok


@pytest.fixture
def server(sqlite_engine: Engine) -> Iterator[DashboardServer]:
    running = DashboardServer(create_app(None, sqlite_engine), "127.0.0.1", free_port()).start()
    yield running
    running.stop()


def test_a_live_stream_is_audited_when_it_opens_and_when_it_closes(
    sqlite_engine: Engine, server: DashboardServer
) -> None:
    viewer = issue_token(sqlite_engine, "viewer")
    client = SseClient(f"{server.base_url}/dashboard/api/live", viewer.secret)
    assert client.status == 200
    opened = [e for e in read_entries(sqlite_engine) if e.entry.path == "/dashboard/api/live"]
    assert [(e.entry.kind, e.entry.actor, e.entry.status) for e in opened] == [("request", viewer.id, 200)]
    time.sleep(0.5)
    assert revoke_token(sqlite_engine, viewer.id)
    client.until_closed(timeout=6)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        closed = [e for e in read_entries(sqlite_engine) if e.entry.kind == "stream_closed"]
        if closed:
            break
        time.sleep(0.05)
    assert len(closed) == 1 and closed[0].entry.actor == viewer.id
    detail = dict(closed[0].entry.detail)
    assert detail["opened_seq"] == opened[0].seq and detail["seconds"] >= 0.5


def test_a_stream_open_when_the_server_stops_is_audited_as_closed(sqlite_engine: Engine) -> None:
    running = DashboardServer(create_app(None, sqlite_engine), "127.0.0.1", free_port()).start()
    viewer = issue_token(sqlite_engine, "viewer")
    client = SseClient(f"{running.base_url}/dashboard/api/live", viewer.secret)
    assert client.status == 200
    running.stop()
    client.until_closed(timeout=5)
    kinds = [e.entry.kind for e in read_entries(sqlite_engine) if e.entry.path == "/dashboard/api/live"]
    assert kinds == ["request", "stream_closed"]


def fill(engine: Engine, n: int) -> None:
    for i in range(n):
        append_entry(engine, AuditEntry(kind="request", actor=f"tok{i}", method="GET", path=f"/p/{i}"))


def cut_the_tail(engine: Engine, keep: int) -> None:
    """What an attacker with database access does: delete the newest rows and set the head back."""
    with engine.begin() as conn:
        conn.execute(audit_log_table.delete().where(audit_log_table.c.seq > keep))
        last = conn.execute(sa.select(audit_log_table.c.hash).where(audit_log_table.c.seq == keep)).scalar()
        conn.execute(audit_head_table.update().values(last_seq=keep, last_hash=last))


def test_checkpoints_catch_the_newest_rows_deleted_with_the_head_set_back(
    store_engine: Engine, tmp_path: Path
) -> None:
    book = tmp_path / "checkpoints.log"
    fill(store_engine, 10)
    assert write_checkpoint(store_engine, book, KEY) is not None
    assert write_checkpoint(store_engine, book, KEY) is None  # the head has not moved: nothing new
    fill(store_engine, 5)
    assert write_checkpoint(store_engine, book, KEY) is not None
    assert verify_checkpoints(store_engine, read_checkpoints(book, KEY)).ok
    cut_the_tail(store_engine, keep=12)
    assert verify_chain(store_engine).ok  # the chain alone cannot tell
    report = verify_checkpoints(store_engine, read_checkpoints(book, KEY))
    assert (report.ok, report.broken_at) == (False, 15)
    assert "the newest rows were deleted" in (report.reason or "")


def test_checkpoints_catch_a_checkpointed_row_rewritten_with_its_successors(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    book = tmp_path / "checkpoints.log"
    fill(sqlite_engine, 6)
    write_checkpoint(sqlite_engine, book, KEY)
    with sqlite_engine.begin() as conn:  # a forged row 6 (the whole chain tail rehashed would look the same)
        conn.execute(audit_log_table.update().where(audit_log_table.c.seq == 6).values(hash="f" * 64))
    report = verify_checkpoints(sqlite_engine, read_checkpoints(book, KEY))
    assert (report.ok, report.broken_at) == (False, 6)


def test_a_forged_or_foreign_checkpoint_is_refused(sqlite_engine: Engine, tmp_path: Path) -> None:
    book = tmp_path / "checkpoints.log"
    fill(sqlite_engine, 3)
    write_checkpoint(sqlite_engine, book, KEY)
    with pytest.raises(Exception, match="signature does not match"):
        read_checkpoints(book, b"another key " * 4)
    book.write_text(book.read_text().replace('"seq":3', '"seq":2'))
    with pytest.raises(Exception, match=r"checkpoints.log:1: the signature does not match"):
        read_checkpoints(book, KEY)


def test_the_cli_verifies_against_checkpoints(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = tmp_path / "checkpoints.log"
    monkeypatch.setenv("CITYTALLY_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv(AUDIT_KEY_ENV, KEY.decode())
    fill(sqlite_engine, 8)
    runner = CliRunner()
    assert runner.invoke(cli_app, ["audit", "checkpoint", "--to", str(book)]).exit_code == 0
    ok = runner.invoke(cli_app, ["audit", "verify", "--checkpoints", str(book)])
    assert ok.exit_code == 0 and "matches 1 signed checkpoints" in ok.output, ok.output
    cut_the_tail(sqlite_engine, keep=5)
    assert runner.invoke(cli_app, ["audit", "verify"]).exit_code == 0
    broken = runner.invoke(cli_app, ["audit", "verify", "--checkpoints", str(book)])
    assert broken.exit_code == 1 and "BROKEN at seq 8" in broken.output


def test_the_hub_checkpoints_periodically_and_when_it_stops(sqlite_engine: Engine, tmp_path: Path) -> None:
    book = tmp_path / "checkpoints.log"
    fill(sqlite_engine, 2)
    checkpointer = AuditCheckpointer(sqlite_engine, book, KEY, interval_s=0.2)
    checkpointer.start()
    time.sleep(0.6)
    fill(sqlite_engine, 2)
    time.sleep(0.6)
    fill(sqlite_engine, 1)
    checkpointer.stop()
    seqs = [c.seq for c in read_checkpoints(book, KEY)]
    # the first interval saw seq 2, the last word (on stop) is seq 5; never the same head twice
    assert seqs[0] == 2 and seqs[-1] == 5 and seqs == sorted(set(seqs))


def run_cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = "from citytally.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_audit_verify_without_a_store_fails_and_creates_nothing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYTALLY_")}
    done = run_cli("audit", "verify", cwd=tmp_path, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no hub store" in lines[0] and "CITYTALLY_DATABASE_URL" in lines[0]
    assert list(tmp_path.iterdir()) == []
    other = tmp_path / "other.sqlite3"
    sa.create_engine(f"sqlite:///{other}").connect().close()
    done = run_cli(
        "audit", "verify", cwd=tmp_path, env=env | {"CITYTALLY_DATABASE_URL": f"sqlite:///{other}"}
    )
    assert done.returncode == 2 and "not a citytally hub store" in done.stderr
    junk = tmp_path / "photo.sqlite3"  # not SQLite at all: one line in the database's words, not ingest's
    junk.write_bytes(bytes(range(256)) * 20)
    done = run_cli("audit", "verify", cwd=tmp_path, env=env | {"CITYTALLY_DATABASE_URL": f"sqlite:///{junk}"})
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        f"citytally: error: sqlite:///{junk}: cannot read the store: file is not a database"
    ]
    unreachable = env | {"CITYTALLY_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"}
    done = run_cli("audit", "verify", cwd=tmp_path, env=unreachable)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_checkpoints_need_a_key(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYTALLY_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    monkeypatch.delenv(AUDIT_KEY_ENV, raising=False)
    result = CliRunner().invoke(cli_app, ["audit", "checkpoint", "--to", str(tmp_path / "c.log")])
    assert result.exit_code != 0 and AUDIT_KEY_ENV in str(result.exception)
    assert not (tmp_path / "c.log").exists()
