"""The hub's SQLite store damaged (a failing SD card, a power cut on a disk that lies about its writes):
the hub says so (log, ``/health``, ``/metrics``) instead of retrying without a word, and ``citytally
salvage`` copies what still reads into a new store the hub runs on.

Real parts: the hub's writer and API on SQLite files, pages of them overwritten as a failing card's block
would be, and the ``citytally`` command in a child process. Which page to damage is found in the file's
bytes (the page holding one event's JSON), not from the salvage code.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from citytally.errors import ConfigError, StoreError
from citytally.hub.access import issue_token
from citytally.hub.store import EventWriter, create_store_engine, damage, migrate, schema, sqlite_url
from citytally.hub.web import create_app
from citytally.salvage import salvage

from .conftest import PrivateBroker, event_stream, line_count_event, wait_until
from .test_end_to_end import HubProcess

pytestmark = pytest.mark.integration

PAGE = 4096


def citytally(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from citytally.cli import main; main()", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def build_store(path: Path, make_registry: Callable[..., Any], n: int = 6000) -> dict[uuid.UUID, Any]:
    """A store of ``n`` events (written through the hub's writer, the WAL folded in); id → stored body."""
    engine = create_store_engine(sqlite_url(path))
    migrate(engine)
    make_registry(engine, ("plaza", "cam-1"), ("plaza", "cam-2"))
    events = event_stream(n)
    assert EventWriter(engine).write_events(events).stored == n
    with engine.connect() as conn:
        stored = dict(conn.execute(sa.select(schema.events.c.id, schema.events.c.body)).all())
    engine.dispose()  # the last connection's close folds the WAL into the file
    assert not path.with_name(path.name + "-wal").exists()
    return stored


def damage_page_of(path: Path, needle: bytes) -> int:
    """Overwrite most of the page holding ``needle`` (bytes of one event) with a pattern; its number."""
    data = bytearray(path.read_bytes())
    page = data.index(needle) // PAGE
    for offset in range(PAGE * page + 8, PAGE * page + 3000):
        data[offset] = (offset * 7) % 256
    path.write_bytes(bytes(data))
    return page


def test_a_damaged_page_is_said_and_what_reads_is_salvaged_into_a_store_the_hub_runs_on(
    tmp_path: Path, make_registry: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "hub.sqlite3"
    stored = build_store(path, make_registry)
    victim = sorted(stored)[len(stored) // 2]
    damage_page_of(path, str(victim).encode())
    caplog.set_level(logging.ERROR, logger="citytally.hub.store.damage")

    # The hub meets the damage: a read says so, /health and /metrics say so, one log line; the check the
    # hub runs when it starts finds it too
    engine = create_store_engine(sqlite_url(path))
    migrate(engine)  # the schema's pages are whole: the hub starts
    operator = {"Authorization": f"Bearer {issue_token(engine, 'operator').secret}"}
    with TestClient(create_app(None, engine)) as client:
        assert client.get("/health").json()["database"] == "ok"  # nothing has touched the page yet
        with engine.connect() as conn, pytest.raises(sa.exc.DatabaseError, match="malformed|UTF-8"):
            conn.execute(sa.select(schema.events.c.body)).all()
        answer = client.get("/health")
        assert answer.status_code == 503
        body = answer.json()
        assert (body["status"], body["database"]) == ("degraded", "damaged")
        assert "malformed" in body["database_problem"] or "UTF-8" in body["database_problem"]
        assert "citytally_store_damaged 1.0" in client.get("/metrics", headers=operator).text
    said = [r.getMessage() for r in caplog.records if "is damaged" in r.getMessage()]
    assert len(said) == 1 and "\n" not in said[0] and "hub.sqlite3" in said[0]
    assert "docs/hub.md, 'A damaged store'" in said[0]
    engine.dispose()
    fresh = create_store_engine(sqlite_url(path))
    found = damage.check(fresh)
    assert found is not None and found.problem.startswith("quick_check: ") and "\n" not in found.problem
    fresh.dispose()

    # Salvage: the rows on the damaged page are lost, every other one is saved as it was stored
    before = path.read_bytes()
    done = citytally("salvage", str(path), str(tmp_path / "saved.sqlite3"))
    assert done.returncode == 0, done.stderr
    assert path.read_bytes() == before, "the damaged file is only read"
    events_line = next(line for line in done.stdout.splitlines() if line.startswith("events: "))
    assert "lost rowids" in events_line and "rows lost in events" in done.stdout
    saved_engine = create_store_engine(sqlite_url(tmp_path / "saved.sqlite3"))
    with saved_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA quick_check").scalar() == "ok"
        saved = dict(conn.execute(sa.select(schema.events.c.id, schema.events.c.body)).all())
        rollups = conn.execute(sa.select(sa.func.count()).select_from(schema.line_count_rollups)).scalar()
    assert victim not in saved
    assert 0 < len(stored) - len(saved) < 100  # one page of events
    assert all(saved[k] == stored[k] for k in saved)
    assert rollups  # the roll-ups' pages were whole: the counts of the lost events are still there

    # The hub runs on the saved store: up to date, healthy, storing new events, answering reads
    migrate(saved_engine)
    new = line_count_event(
        "plaza", "cam-1", datetime(2026, 12, 1, 12, 0, tzinfo=UTC), {"inbound": {"car": 1}}
    )
    assert EventWriter(saved_engine).write_events([new]).stored == 1
    viewer = {"Authorization": f"Bearer {issue_token(saved_engine, 'viewer').secret}"}
    with TestClient(create_app(None, saved_engine)) as client:
        assert client.get("/health").json()["database"] == "ok"
        assert client.get("/cameras", headers=viewer).status_code == 200
    assert damage.damage(saved_engine) is None
    saved_engine.dispose()


def test_a_store_whose_header_is_damaged_stops_the_hub_in_one_line(
    tmp_path: Path, make_registry: Callable[..., Any]
) -> None:
    """Before, the hub printed SQLAlchemy's "migrating ... failed: DatabaseError" and a web link; then that
    the store was damaged, for any file at all."""
    path = tmp_path / "hub.sqlite3"
    build_store(path, make_registry, n=100)
    data = bytearray(path.read_bytes())
    data[:16] = b"not sqlite here!"
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"not an SQLite database \(the file does not begin as one\)"):
        migrate(create_store_engine(sqlite_url(path)))
    # a text file named by mistake: the same, not "damaged ... recover it", which salvage cannot
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    with pytest.raises(StoreError, match=r"names another file, or a store whose first page is lost"):
        migrate(create_store_engine(sqlite_url(notes)))
    assert notes.read_text() == "hello\n"
    done = citytally("salvage", str(path), str(tmp_path / "saved.sqlite3"))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "its schema cannot be read (file is not a database): nothing can be saved" in done.stderr
    assert not (tmp_path / "saved.sqlite3").exists()


def test_salvage_refuses_to_overwrite_and_copies_a_whole_file_whole(
    tmp_path: Path, make_registry: Callable[..., Any]
) -> None:
    path = tmp_path / "hub.sqlite3"
    stored = build_store(path, make_registry, n=500)
    (tmp_path / "taken.sqlite3").write_text("keep me")
    done = citytally("salvage", str(path), str(tmp_path / "taken.sqlite3"))
    assert done.returncode == 2 and "exists; name a new file" in done.stderr
    notes = tmp_path / "notes.sqlite3"  # not SQLite: said in one line, no blank one (a spinner's) before it
    notes.write_text("hello")
    done = citytally("salvage", str(notes), str(tmp_path / "b.sqlite3"))
    assert done.returncode == 2 and done.stderr.startswith("citytally: error: "), repr(done.stderr)
    assert (tmp_path / "taken.sqlite3").read_text() == "keep me"
    for damaged, out, said in [
        (tmp_path, tmp_path / "a.sqlite3", "not a file"),
        (tmp_path / "gone.sqlite3", tmp_path / "a.sqlite3", "no such file"),
        (path, tmp_path / "no" / "a.sqlite3", "no folder"),
    ]:
        with pytest.raises(ConfigError, match=said):
            salvage(damaged, out)
    (tmp_path / "empty.sqlite3").write_bytes(b"")  # SQLite reads an empty file as an empty database
    with pytest.raises(StoreError, match="holds no tables"):
        salvage(tmp_path / "empty.sqlite3", tmp_path / "a.sqlite3")
    assert not (tmp_path / "a.sqlite3").exists()
    found = {t.name: t for t in salvage(path, tmp_path / "copy.sqlite3")}
    assert found["events"].saved == len(stored) and not any(t.lost for t in found.values())
    copy = create_store_engine(sqlite_url(tmp_path / "copy.sqlite3"))
    with copy.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.events)).scalar() == len(stored)
    copy.dispose()


def test_damage_is_told_from_an_outage() -> None:
    """SQLite's and PostgreSQL's words for damage count; a store out of reach or busy does not."""
    import sqlite3

    import psycopg

    corrupt = sqlite3.DatabaseError("database disk image is malformed")
    corrupt.sqlite_errorcode = 11  # type: ignore[attr-defined]
    assert damage.damage_in(corrupt) == "database disk image is malformed"
    postgres = psycopg.errors.lookup("XX001")("could not read block 7 in file base/16384/16385")
    assert damage.damage_in(sa.exc.DatabaseError("SELECT", {}, postgres)) == str(postgres)
    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorcode = 5  # type: ignore[attr-defined]
    down = psycopg.errors.lookup("57P01")("terminating connection due to administrator command")
    assert damage.damage_in(busy) is None and damage.damage_in(down) is None


def test_the_hub_command_finds_damage_no_statement_met_when_it_starts(
    tmp_path: Path, make_registry: Callable[..., Any], mqtt_prefix: str, private_broker: PrivateBroker
) -> None:
    """`citytally hub` on a store with a damaged page of old events: it starts, and its background check
    says the store is damaged before anything reads that page."""
    path = tmp_path / "hub.sqlite3"
    stored = build_store(path, make_registry, n=3000)
    damage_page_of(path, str(sorted(stored)[100]).encode())
    config = tmp_path / "hub.toml"
    config.write_text(
        f'[mqtt]\nport = {private_broker.port}\ntopic_prefix = "{mqtt_prefix}"\n'
        f'client_id = "{mqtt_prefix}-hub"\n\n[ingest]\naccept_unknown_cameras = true\n'
    )
    env = dict(os.environ, CITYTALLY_DATABASE_URL=sqlite_url(path))
    hub = HubProcess(config, env, tmp_path / "hub.log")
    hub.start()
    try:
        wait_until(lambda: "is damaged (quick_check: " in hub.log.read_text(), 30, "the check to say so")
    finally:
        assert hub.stop() == 0
    [said] = [line for line in hub.log.read_text().splitlines() if "is damaged" in line]
    assert "ERROR citytally.hub.store.damage" in said and "'A damaged store'" in said


def test_a_damaged_page_of_the_schema_costs_the_tables_it_named_and_those_after(
    tmp_path: Path, make_registry: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Before, a damaged page of the schema (the hub's runs to several pages) meant "nothing can be saved".
    Now the tables defined before it are saved whole; those on it and after it (SQLite stops loading a
    schema at its first damaged page) are lost, and the hub makes them again, empty, when it starts on the
    copy."""
    path = tmp_path / "hub.sqlite3"
    stored = build_store(path, make_registry, n=2000)
    damage_page_of(path, b"CREATE TABLE broker_sessions")
    found = {t.name: t for t in salvage(path, tmp_path / "saved.sqlite3")}
    assert found["sqlite_master"].lost
    assert "broker_sessions" not in found
    assert (found["events"].saved, found["cameras"].saved) == (len(stored), 2)
    assert not found["events"].lost
    done = citytally("salvage", str(path), str(tmp_path / "again.sqlite3"))
    assert done.returncode == 0 and "part of the schema was lost" in done.stdout
    saved = create_store_engine(sqlite_url(tmp_path / "saved.sqlite3"))
    with saved.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA quick_check").scalar() == "ok"
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.events)).scalar() == len(stored)
    # the hub starts on it: the tables lost with the schema are made again, empty, and it works
    caplog.set_level(logging.WARNING, logger="citytally.hub.store.migrate")
    migrate(saved)
    assert "broker_sessions" in sa.inspect(saved).get_table_names()
    assert any(
        "lacked the tables" in r.getMessage() and "broker_sessions" in r.getMessage() for r in caplog.records
    )
    later = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert EventWriter(saved).write_events([line_count_event("plaza", "cam-1", later)]).stored == 1
    viewer = {"Authorization": f"Bearer {issue_token(saved, 'viewer').secret}"}
    with TestClient(create_app(None, saved)) as client:
        assert client.get("/health").json()["database"] == "ok"
        assert client.get("/cameras", headers=viewer).status_code == 200
    saved.dispose()
