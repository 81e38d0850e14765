"""The append-only, hash-chained audit log.

Every API call (failures and unauthenticated ones included), token change and retention run becomes one
row. Each row stores ``hash = sha256(prev_hash + canonical(row))``, where ``canonical`` is the row's fields
as sorted, compact JSON and ``prev_hash`` is the previous row's hash (64 zeros for the first). Altering a
row changes its hash, which no longer matches the next row's ``prev_hash``; deleting a row leaves a gap in
``seq``. :func:`verify_chain` finds the first place where either happens.

Writers are serialised through a single *head* row (``audit_head``: last seq, last hash): each append
first UPDATEs it, which takes a row lock on PostgreSQL and the write lock on SQLite, so two concurrent
requests cannot both extend the same ``prev_hash`` and fork the chain.

Pruning (retention) deletes a prefix of the chain and, in the same transaction, appends an *anchor* entry
that records the first kept ``seq`` and its ``prev_hash``; verification starts from that anchor. The anchor
is itself chained, so it cannot be forged without rewriting every later row.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from citytally.errors import StoreError
from citytally.hub.access_tables import audit_head_table, audit_log_table

__all__ = [
    "GENESIS_HASH",
    "audit_log_table",
    "audit_head_table",
    "AuditEntry",
    "AuditRecord",
    "ChainReport",
    "append_entry",
    "append_after",
    "prune_before",
    "verify_chain",
    "read_entries",
    "chain_hash",
]

GENESIS_HASH = "0" * 64
_ANCHOR_KIND = "audit_anchor"
_PAGE = 5000


# SQLite serialises writers with a database lock that a second connection meets as "database is locked"
# after its busy timeout; queueing writers of this process here first keeps them from timing out.
_PROCESS_LOCK = threading.Lock()


@dataclass(frozen=True)
class AuditEntry:
    """What to record. ``actor`` is a token id (never a secret) or 'anonymous' / 'cli' / 'system'."""

    kind: str
    actor: str
    role: str | None = None
    method: str = ""
    path: str = ""
    query: str = ""
    status: int | None = None
    client: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditRecord:
    """A stored entry with its place in the chain."""

    seq: int
    at: datetime
    entry: AuditEntry
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainReport:
    """Result of :func:`verify_chain`: ``ok`` or the first ``broken_at`` seq and why."""

    ok: bool
    checked: int
    first_seq: int | None
    last_seq: int | None
    broken_at: int | None = None
    reason: str | None = None


def _iso(at: datetime) -> str:
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _canonical(seq: int, at: datetime, entry: AuditEntry) -> str:
    body = {
        "seq": seq,
        "at": _iso(at),
        "kind": entry.kind,
        "actor": entry.actor,
        "role": entry.role,
        "method": entry.method,
        "path": entry.path,
        "query": entry.query,
        "status": entry.status,
        "client": entry.client,
        "detail": dict(entry.detail),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def chain_hash(prev_hash: str, seq: int, at: datetime, entry: AuditEntry) -> str:
    """``sha256(prev_hash + canonical row)``, hex."""
    return hashlib.sha256((prev_hash + _canonical(seq, at, entry)).encode("utf-8")).hexdigest()


def _lock_head(conn: sa.Connection) -> tuple[int, str]:
    """Take the writer lock; return the next seq and the hash to chain onto."""
    h = audit_head_table
    for _ in range(2):
        row = conn.execute(
            h.update()
            .where(h.c.id == 1)
            .values(last_seq=h.c.last_seq + 1)
            .returning(h.c.last_seq, h.c.last_hash)
        ).first()
        if row is not None:
            return int(row.last_seq), str(row.last_hash)
        conn.execute(h.insert().values(id=1, last_seq=0, last_hash=GENESIS_HASH))
    raise StoreError("audit_head: cannot create or lock the audit log's head row")


def _write(conn: sa.Connection, seq: int, prev_hash: str, entry: AuditEntry, at: datetime) -> str:
    at = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    digest = chain_hash(prev_hash, seq, at, entry)
    conn.execute(
        audit_log_table.insert().values(
            seq=seq,
            at=at,
            kind=entry.kind,
            actor=entry.actor,
            role=entry.role,
            method=entry.method,
            path=entry.path,
            query=entry.query,
            status=entry.status,
            client=entry.client,
            detail=json.dumps(dict(entry.detail), sort_keys=True, separators=(",", ":"), default=str),
            prev_hash=prev_hash,
            hash=digest,
        )
    )
    conn.execute(audit_head_table.update().where(audit_head_table.c.id == 1).values(last_hash=digest))
    return digest


def append_entry(engine: sa.Engine, entry: AuditEntry, now: datetime | None = None) -> AuditRecord:
    """Append one entry to the chain (serialised against every other writer) and return it."""
    with _PROCESS_LOCK, engine.begin() as conn:
        seq, prev = _lock_head(conn)
        at = now or datetime.now(UTC)
        digest = _write(conn, seq, prev, entry, at)
    return AuditRecord(seq=seq, at=at, entry=entry, prev_hash=prev, hash=digest)


def append_after(
    engine: sa.Engine, work: Callable[[sa.Connection], AuditEntry], now: datetime | None = None
) -> AuditRecord:
    """Run ``work`` and append the entry it returns, in one transaction: both happen or neither does.

    ``work`` runs while this process's audit writers wait, so keep it short (retention deletes do).
    """
    [record] = append_all_after(engine, lambda conn: [work(conn)], now)
    return record


def append_all_after(
    engine: sa.Engine, work: Callable[[sa.Connection], list[AuditEntry]], now: datetime | None = None
) -> list[AuditRecord]:
    """As :func:`append_after`, with the entries ``work`` returns (none, one or more)."""
    records = []
    with _PROCESS_LOCK, engine.begin() as conn:
        at = now or datetime.now(UTC)
        for entry in work(conn):
            seq, prev = _lock_head(conn)
            digest = _write(conn, seq, prev, entry, at)
            records.append(AuditRecord(seq=seq, at=at, entry=entry, prev_hash=prev, hash=digest))
    return records


def prune_before(engine: sa.Engine, cutoff: datetime, now: datetime | None = None) -> int:
    """Delete entries older than ``cutoff`` (a prefix of the chain) and anchor the rest; return the count.

    The anchor entry is appended in the same transaction, so the kept chain stays verifiable.
    """
    log_t = audit_log_table
    with _PROCESS_LOCK, engine.begin() as conn:
        seq, prev = _lock_head(conn)
        first_kept = conn.execute(sa.select(sa.func.min(log_t.c.seq)).where(log_t.c.at >= cutoff)).scalar()
        first_kept = int(first_kept) if first_kept is not None else seq
        doomed = int(
            conn.execute(
                sa.select(sa.func.count()).select_from(log_t).where(log_t.c.seq < first_kept)
            ).scalar_one()
        )
        if first_kept == seq:
            anchor_prev = prev
        else:
            anchor_prev = conn.execute(
                sa.select(log_t.c.prev_hash).where(log_t.c.seq == first_kept)
            ).scalar_one()
        detail = {
            "data_class": "audit_log",
            "cutoff": _iso(cutoff),
            "deleted": doomed,
            "anchor_seq": first_kept,
            "anchor_prev_hash": anchor_prev,
        }
        _write(
            conn,
            seq,
            prev,
            AuditEntry(kind=_ANCHOR_KIND, actor="system", detail=detail),
            now or datetime.now(UTC),
        )
        conn.execute(log_t.delete().where(log_t.c.seq < first_kept))
    return doomed


def _record(row: sa.Row[Any]) -> AuditRecord:
    entry = AuditEntry(
        kind=row.kind,
        actor=row.actor,
        role=row.role,
        method=row.method,
        path=row.path,
        query=row.query,
        status=row.status,
        client=row.client,
        detail=json.loads(row.detail),
    )
    at = row.at.replace(tzinfo=UTC) if row.at.tzinfo is None else row.at.astimezone(UTC)
    return AuditRecord(seq=int(row.seq), at=at, entry=entry, prev_hash=row.prev_hash, hash=row.hash)


def _walk(conn: sa.Connection) -> Iterator[AuditRecord]:
    """Every row in seq order, a page at a time (the log can be long)."""
    last = -1
    while True:
        rows = conn.execute(
            sa.select(audit_log_table).where(audit_log_table.c.seq > last).order_by("seq").limit(_PAGE)
        ).all()
        if not rows:
            return
        for row in rows:
            yield _record(row)
        last = int(rows[-1].seq)


def read_entries(engine: sa.Engine, *, after_seq: int = 0, limit: int = 100) -> list[AuditRecord]:
    """Up to ``limit`` entries with ``seq > after_seq``, oldest first."""
    query = sa.select(audit_log_table).where(audit_log_table.c.seq > after_seq).order_by("seq").limit(limit)
    with engine.connect() as conn:
        return [_record(row) for row in conn.execute(query)]


def _anchor_for(conn: sa.Connection, first_seq: int) -> str | None:
    """The ``prev_hash`` an anchor entry recorded for ``first_seq``, if any (newest anchor wins)."""
    log_t = audit_log_table
    rows = conn.execute(
        sa.select(log_t.c.detail).where(log_t.c.kind == _ANCHOR_KIND).order_by(log_t.c.seq.desc())
    )
    for (detail,) in rows:
        data = json.loads(detail)
        if data.get("anchor_seq") == first_seq:
            return str(data.get("anchor_prev_hash"))
    return None


def verify_chain(engine: sa.Engine) -> ChainReport:
    """Recompute the chain; report the first altered, missing or re-ordered row."""
    with engine.connect() as conn:
        head = conn.execute(sa.select(audit_head_table).where(audit_head_table.c.id == 1)).first()
        records = _walk(conn)
        first = next(records, None)
        if first is None:
            if head is not None and head.last_seq != 0:
                return ChainReport(False, 0, None, None, int(head.last_seq), "every row has been deleted")
            return ChainReport(True, 0, None, None)
        expected_prev = GENESIS_HASH if first.seq == 1 else _anchor_for(conn, first.seq)
        if expected_prev is None:
            reason = f"rows before seq {first.seq} were deleted without a retention anchor"
            return ChainReport(False, 0, first.seq, None, first.seq, reason)
        checked, prev_seq = 0, first.seq - 1
        for record in _chain(first, records):
            if record.seq != prev_seq + 1:
                reason = f"rows {prev_seq + 1}..{record.seq - 1} are missing (deleted)"
                return ChainReport(False, checked, first.seq, prev_seq, prev_seq + 1, reason)
            if record.prev_hash != expected_prev:
                reason = f"prev_hash does not match the hash of row {prev_seq} (altered or replaced)"
                return ChainReport(False, checked, first.seq, prev_seq, record.seq, reason)
            if chain_hash(record.prev_hash, record.seq, record.at, record.entry) != record.hash:
                reason = f"row {record.seq} does not match its hash (altered)"
                return ChainReport(False, checked, first.seq, prev_seq, record.seq, reason)
            checked, prev_seq, expected_prev = checked + 1, record.seq, record.hash
    if head is None or int(head.last_seq) != prev_seq or head.last_hash != expected_prev:
        last = int(head.last_seq) if head is not None else prev_seq
        reason = f"the chain ends at row {prev_seq} but the head says {last} (rows at the end deleted?)"
        return ChainReport(False, checked, first.seq, prev_seq, prev_seq + 1, reason)
    return ChainReport(True, checked, first.seq, prev_seq)


def _chain(first: AuditRecord, rest: Iterator[AuditRecord]) -> Iterator[AuditRecord]:
    yield first
    yield from rest
