"""The hash-chained audit log on real stores: tampering is found, concurrent writers cannot fork the chain,
and pruning keeps what is left verifiable."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from citytally.cli import app as cli_app
from citytally.hub.access_tables import audit_head_table, audit_log_table
from citytally.hub.audit import (
    GENESIS_HASH,
    AuditEntry,
    append_entry,
    prune_before,
    read_entries,
    verify_chain,
)

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def request(i: int, status: int = 200) -> AuditEntry:
    return AuditEntry(
        kind="request", actor=f"tok{i}", role="viewer", method="GET", path=f"/counts/{i}", status=status
    )


def fill(engine: Engine, n: int, start: datetime = T0, step: timedelta = timedelta(minutes=1)) -> None:
    for i in range(n):
        append_entry(engine, request(i), now=start + i * step)


def seqs(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(audit_log_table.c.seq).order_by(audit_log_table.c.seq)).scalars())


def test_an_untouched_chain_verifies(store_engine: Engine) -> None:
    assert verify_chain(store_engine).ok  # empty
    fill(store_engine, 20)
    report = verify_chain(store_engine)
    assert (report.ok, report.checked, report.first_seq, report.last_seq) == (True, 20, 1, 20)
    first = read_entries(store_engine, limit=1)[0]
    assert first.prev_hash == GENESIS_HASH and first.entry.path == "/counts/0"


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("path", "/innocent"),
        ("status", 500),
        ("actor", "someone-else"),
        ("at", datetime(2030, 1, 1, tzinfo=UTC)),
    ],
)
def test_altering_a_row_breaks_the_chain_there(store_engine: Engine, column: str, value: object) -> None:
    fill(store_engine, 10)
    with store_engine.begin() as conn:
        conn.execute(audit_log_table.update().where(audit_log_table.c.seq == 6).values({column: value}))
    report = verify_chain(store_engine)
    assert (report.ok, report.broken_at, report.checked) == (False, 6, 5)
    assert "row 6" in (report.reason or "")


def test_rehashing_an_altered_row_breaks_the_next_link(store_engine: Engine) -> None:
    fill(store_engine, 10)
    forged = "f" * 64
    with store_engine.begin() as conn:
        conn.execute(
            audit_log_table.update().where(audit_log_table.c.seq == 4).values(hash=forged, path="/x")
        )
    report = verify_chain(store_engine)
    assert not report.ok and report.broken_at == 4


@pytest.mark.parametrize(("deleted", "broken_at"), [(5, 5), (1, 2), (10, 10)])
def test_deleting_a_row_breaks_the_chain(store_engine: Engine, deleted: int, broken_at: int) -> None:
    fill(store_engine, 10)
    with store_engine.begin() as conn:
        conn.execute(audit_log_table.delete().where(audit_log_table.c.seq == deleted))
    report = verify_chain(store_engine)
    assert (report.ok, report.broken_at) == (False, broken_at), report.reason


def test_concurrent_writers_in_one_process_keep_one_chain(store_engine: Engine) -> None:
    def write(worker: int) -> None:
        for i in range(15):
            append_entry(store_engine, request(worker * 100 + i))

    threads = [threading.Thread(target=write, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seqs(store_engine) == list(range(1, 91))
    assert verify_chain(store_engine).ok


_WRITER = """
import sys
from citytally.hub.audit import AuditEntry, append_entry
from citytally.hub.store import create_store_engine
engine = create_store_engine(sys.argv[1])
for i in range(int(sys.argv[2])):
    append_entry(engine, AuditEntry(kind="request", actor="proc", path=f"/p/{i}"))
"""


def test_concurrent_processes_cannot_fork_the_chain(pg_engine: Engine) -> None:
    """Separate processes share no lock but the database's: the head row must serialise them."""
    with pg_engine.begin() as conn:
        conn.execute(audit_log_table.delete())
        conn.execute(audit_head_table.update().values(last_seq=0, last_hash=GENESIS_HASH))
    url = pg_engine.url.render_as_string(hide_password=False)
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, url, "40"], env=os.environ.copy()) for _ in range(4)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    assert seqs(pg_engine) == list(range(1, 161))
    assert verify_chain(pg_engine).ok


def test_pruning_keeps_the_rest_verifiable(store_engine: Engine) -> None:
    fill(store_engine, 30)
    cutoff = T0 + timedelta(minutes=10)  # rows 1..10 are older
    assert prune_before(store_engine, cutoff, now=T0 + timedelta(hours=1)) == 10
    assert seqs(store_engine)[0] == 11
    report = verify_chain(store_engine)
    assert report.ok and (report.first_seq, report.last_seq) == (11, 31), report.reason
    anchor = read_entries(store_engine, after_seq=30)[0]
    assert anchor.entry.kind == "audit_anchor"
    assert dict(anchor.entry.detail) | {"cutoff": None} == {
        "data_class": "audit_log",
        "cutoff": None,
        "deleted": 10,
        "anchor_seq": 11,
        "anchor_prev_hash": read_entries(store_engine, after_seq=10, limit=1)[0].prev_hash,
    }
    # a second prune (anchor of the first one goes too) still verifies
    fill(store_engine, 5, start=T0 + timedelta(hours=2))
    assert prune_before(store_engine, T0 + timedelta(minutes=90), now=T0 + timedelta(hours=3)) == 21
    assert verify_chain(store_engine).ok


def test_deleting_old_rows_without_an_anchor_is_detected(store_engine: Engine) -> None:
    fill(store_engine, 10)
    with store_engine.begin() as conn:
        conn.execute(audit_log_table.delete().where(audit_log_table.c.seq <= 3))
    report = verify_chain(store_engine)
    assert not report.ok and "without a retention anchor" in (report.reason or "")


def test_cli_verify_exits_1_and_names_the_row(store_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(store_engine, 8)
    monkeypatch.setenv("CITYTALLY_DATABASE_URL", store_engine.url.render_as_string(hide_password=False))
    runner = CliRunner()
    ok = runner.invoke(cli_app, ["audit", "verify"])
    assert ok.exit_code == 0 and "OK: 8 entries" in ok.output
    with store_engine.begin() as conn:
        conn.execute(audit_log_table.update().where(audit_log_table.c.seq == 3).values(status=201))
    broken = runner.invoke(cli_app, ["audit", "verify"])
    assert broken.exit_code == 1 and "BROKEN at seq 3" in broken.output
