"""The ingest fast path: bulk writes below SQLAlchemy's per-row parameter processing.

PostgreSQL gets ``COPY`` (events through a temporary table, then ``INSERT … SELECT … ON CONFLICT (id) DO
NOTHING RETURNING id``; fact rows straight into their tables, since they belong only to events just
inserted) and roll-up upserts from column arrays (``INSERT … SELECT … FROM unnest(…) ON CONFLICT``).
SQLite gets multi-row ``INSERT … ON CONFLICT (id) DO NOTHING RETURNING id`` for events (500 rows per
statement) and one ``executemany`` per fact and roll-up table.

Values are converted exactly as the column types of :mod:`~citytally.hub.store.schema` would convert them,
so SQLAlchemy reads the rows back unchanged (the store tests check this on both dialects).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from citytally.hub.store import schema

__all__ = ["insert_new_events", "insert_rows"]

_Convert = Callable[[Any], Any]
_CHUNK = 500  # events per SQLite statement: 4,000 parameters, far below its limit of 32,766


@lru_cache(maxsize=65536)  # the events of a batch share few distinct times
def _sqlite_time(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _converters(table: sa.Table, dialect: str) -> list[_Convert | None]:
    found: list[_Convert | None] = []
    for column in table.columns:
        kind = column.type
        if isinstance(kind, schema.UtcDateTime) and dialect == "sqlite":
            found.append(lambda v: None if v is None else _sqlite_time(v))
        elif isinstance(kind, sa.Uuid) and dialect == "sqlite":
            found.append(lambda v: v.hex)
        elif isinstance(kind, sa.JSON):
            found.append(_json_text)
        else:
            found.append(None)
    return found


def _tuples(table: sa.Table, dialect: str, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    names = [column.name for column in table.columns]
    pairs = list(zip(names, _converters(table, dialect), strict=True))
    return [tuple(row[n] if c is None else c(row[n]) for n, c in pairs) for row in rows]


def _column_list(table: sa.Table) -> str:
    return ", ".join(f'"{column.name}"' for column in table.columns)


def insert_new_events(connection: Connection, rows: Sequence[dict[str, Any]]) -> set[uuid.UUID]:
    """Insert the ``events`` rows whose id is not stored yet; return the ids actually inserted."""
    if not rows:
        return set()
    dialect = connection.dialect.name
    values = _tuples(schema.events, dialect, rows)
    raw = connection.connection.driver_connection
    if raw is None:
        raise RuntimeError("no database connection")
    if dialect == "postgresql":
        with raw.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS citytally_incoming (LIKE events) ON COMMIT DELETE ROWS"
            )
            with cursor.copy(f"COPY citytally_incoming ({_column_list(schema.events)}) FROM STDIN") as copy:
                for value in values:
                    copy.write_row(value)
            cursor.execute(
                "INSERT INTO events SELECT * FROM citytally_incoming ON CONFLICT (id) DO NOTHING RETURNING id"
            )
            return {row[0] for row in cursor.fetchall()}
    cursor = raw.cursor()
    try:
        row_marks = "(" + ",".join("?" * len(schema.events.columns)) + ")"
        inserted: set[uuid.UUID] = set()
        for start in range(0, len(values), _CHUNK):
            chunk = values[start : start + _CHUNK]
            rows_sql = ",".join([row_marks] * len(chunk))
            statement = (
                f"INSERT INTO events ({_column_list(schema.events)}) VALUES {rows_sql} "
                "ON CONFLICT (id) DO NOTHING RETURNING id"
            )
            flat = [field for value in chunk for field in value]
            inserted.update(uuid.UUID(hex=row[0]) for row in cursor.execute(statement, flat))
        return inserted
    finally:
        cursor.close()


def insert_rows(connection: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Append ``rows`` (dicts naming every column of ``table``) to ``table``: COPY or executemany."""
    if not rows:
        return
    dialect = connection.dialect.name
    values = _tuples(table, dialect, rows)
    raw = connection.connection.driver_connection
    if raw is None:
        raise RuntimeError("no database connection")
    if dialect == "postgresql":
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({_column_list(table)}) FROM STDIN") as copy,
        ):
            for value in values:
                copy.write_row(value)
        return
    cursor = raw.cursor()
    try:
        marks = ",".join("?" * len(table.columns))
        cursor.executemany(f"INSERT INTO {table.name} ({_column_list(table)}) VALUES ({marks})", values)
    finally:
        cursor.close()


def upsert_add(
    connection: Connection,
    table: sa.Table,
    ops: Sequence[tuple[str, str]],
    increments: dict[tuple[Any, ...], list[Any]],
) -> None:
    """Add ``increments`` (primary key → values, in column order) to a roll-up table.

    ``ops`` names each value column and how it combines: ``sum`` adds, ``max`` keeps the larger. Rows are
    written in key order so that two writers touching the same rows cannot deadlock.
    """
    if not increments:
        return
    dialect = connection.dialect.name
    keys = [column.name for column in table.primary_key.columns]
    names = [column.name for column in table.columns]
    if names != keys + [name for name, _ in ops]:
        raise RuntimeError(f"{table.name}: columns are not key columns then value columns")
    larger = "GREATEST" if dialect == "postgresql" else "MAX"
    updates = ", ".join(
        f'"{name}" = {table.name}."{name}" + excluded."{name}"'
        if op == "sum"
        else f'"{name}" = {larger}({table.name}."{name}", excluded."{name}")'
        for name, op in ops
    )
    conflict = f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    ordered = sorted(increments.items(), key=itemgetter(0))  # keys are unique: values never compared
    converters = _converters(table, dialect)
    values = [
        tuple(v if c is None else c(v) for v, c in zip((*key, *vals), converters, strict=True))
        for key, vals in ordered
    ]
    raw = connection.connection.driver_connection
    if raw is None:
        raise RuntimeError("no database connection")
    columns = _column_list(table)
    if dialect == "postgresql":
        # One array per column, unnested server-side: no per-row encoding in Python.
        arrays = [list(column) for column in zip(*values, strict=True)]
        casts = ", ".join(f"%s::{column.type.compile(connection.dialect)}[]" for column in table.columns)
        with raw.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table.name} ({columns}) SELECT * FROM unnest({casts}) {conflict}", arrays
            )
        return
    cursor = raw.cursor()
    try:
        marks = ",".join("?" * len(names))
        cursor.executemany(f"INSERT INTO {table.name} ({columns}) VALUES ({marks}) {conflict}", values)
    finally:
        cursor.close()
