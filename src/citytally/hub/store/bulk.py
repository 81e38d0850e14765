"""The ingest fast path: bulk writes below SQLAlchemy's per-row parameter processing.

PostgreSQL (:func:`store_events_postgresql`): the batch's canonical event bodies are ``COPY``-ed into a
temporary staging table, then *one* statement inserts the new events (``ON CONFLICT (id) DO NOTHING``),
derives their numbers from the bodies just inserted (``jsonb_each`` …; into a fact table where there is
one) and adds each event type's roll-up increments, grouped per period, bucket and key
(``INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE``).
No per-event or per-fact work is left in Python, and one round trip carries the whole batch.

SQLite gets multi-row ``INSERT … ON CONFLICT (id) DO NOTHING RETURNING id`` for events (500 rows per
statement) and one ``executemany`` per fact and roll-up table, from rows the writer builds.

Values are converted exactly as the column types of :mod:`~citytally.hub.store.schema` would convert them,
so SQLAlchemy reads the rows back unchanged (the store tests check this on both dialects).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from citytally.hub.store import schema

__all__ = ["ROLLUP_OPS", "insert_new_events", "insert_rows", "store_events_postgresql", "upsert_add"]

_Convert = Callable[[Any], Any]

#: Roll-up value columns and how two values combine: ``sum`` adds, ``max`` keeps the larger.
ROLLUP_OPS: dict[sa.Table, tuple[tuple[str, str], ...]] = {
    schema.line_count_rollups: (("count", "sum"),),
    schema.speed_rollups: (("n", "sum"), ("speed_sum_kmh", "sum"), ("p85_max_kmh", "max")),
    schema.speed_bin_rollups: (("count", "sum"),),
    schema.occupancy_rollups: (("samples", "sum"), ("mean_sum", "sum"), ("peak_max", "max")),
    schema.movement_rollups: (("count", "sum"),),
    schema.incident_rollups: (("count", "sum"),),
    schema.conflict_rollups: (("count", "sum"),),
    schema.conflict_exposure_rollups: (("road_users", "sum"),),
    schema.conflict_cell_rollups: (("count", "sum"), ("image_x", "max"), ("image_y", "max")),
    schema.conflict_histogram_rollups: (("count", "sum"),),
}
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
            found.append(lambda v: None if v is None else v.hex)
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
    """SQLite: insert the ``events`` rows whose id is not stored yet; return the ids actually inserted.

    (PostgreSQL stores whole batches with :func:`store_events_postgresql`.)"""
    if not rows:
        return set()
    values = _tuples(schema.events, connection.dialect.name, rows)
    cursor = _raw(connection).cursor()
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


def _raw(connection: Connection) -> Any:
    raw = connection.connection.driver_connection
    if raw is None:
        raise RuntimeError("no database connection")
    return raw


def insert_rows(connection: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """SQLite: append ``rows`` (dicts naming every column of ``table``) to ``table`` with executemany."""
    if not rows:
        return
    values = _tuples(table, connection.dialect.name, rows)
    cursor = _raw(connection).cursor()
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
    """SQLite: add ``increments`` (primary key → values, in column order) to a roll-up table.

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
    larger = "MAX"  # SQLite's two-argument max
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
    columns = _column_list(table)
    cursor = _raw(connection).cursor()
    try:
        marks = ",".join("?" * len(names))
        cursor.executemany(f"INSERT INTO {table.name} ({columns}) VALUES ({marks}) {conflict}", values)
    finally:
        cursor.close()


# -- PostgreSQL: one statement per batch ------------------------------------------------------------------

_STAGING = "citytally_arriving"


@dataclass(frozen=True)
class _Source:
    """The rows one event type adds to its roll-up, derived from the bodies of ``new_events n``.

    ``columns`` names the ``SELECT`` list; a source with a fact table (``stored``) inserts the rows into it
    and hands on what it inserted, the others are a plain ``SELECT``. ``values`` is what each row adds to
    the roll-up's value columns (same order as ``ROLLUP_OPS``).
    """

    name: str
    columns: tuple[str, ...]
    select: str
    rollup: sa.Table
    values: tuple[str, ...]
    stored: sa.Table | None = None


_SOURCES: tuple[_Source, ...] = (
    _Source(
        "line_count_rows",
        ("site", "camera", "start", "line", "direction", "class", "count"),
        """SELECT n.site, n.camera, n."start", n.body->>'line', d.key, c.key, c.value::bigint
        FROM new_events n, jsonb_each(n.body->'counts') d, jsonb_each_text(d.value) c
        WHERE n.type = 'line_count'""",
        schema.line_count_rollups,
        ('"count"',),
    ),
    _Source(
        "speeds_new",
        ("site", "camera", "start", "line", "direction", "class", "n", "mean_kmh", "p85_kmh"),
        """SELECT n.id, n.site, n.camera, n."start", n."end", n.body->>'line', d.key, c.key,
            (c.value->>'n')::bigint, (c.value->>'mean_kmh')::float8, (c.value->>'p85_kmh')::float8,
            nullif(c.value->'histogram', 'null'::jsonb)
        FROM new_events n, jsonb_each(n.body->'speeds') d, jsonb_each(d.value) c
        WHERE n.type = 'speed'""",
        schema.speed_rollups,
        ('"n"', '"mean_kmh" * "n"', '"p85_kmh"'),
        stored=schema.speeds,
    ),
    _Source(
        "speed_bin_rows",
        ("site", "camera", "start", "line", "direction", "class", "bin", "count"),
        # The CASE keeps a JSON null (an edge that sends no histogram) from the array function, which
        # refuses a scalar; SQL NULL gives no rows.
        """SELECT n.site, n.camera, n."start", n.body->>'line', d.key, c.key, (h.i - 1)::int, h.value::bigint
        FROM new_events n, jsonb_each(n.body->'speeds') d, jsonb_each(d.value) c,
            jsonb_array_elements_text(CASE WHEN jsonb_typeof(c.value->'histogram') = 'array'
                THEN c.value->'histogram' END) WITH ORDINALITY h(value, i)
        WHERE n.type = 'speed' AND h.value::bigint > 0""",
        schema.speed_bin_rollups,
        ('"count"',),
    ),
    _Source(
        "occupancy_rows",
        ("site", "camera", "start", "zone", "class", "mean", "peak"),
        """SELECT n.site, n.camera, n."start", n.body->>'zone', k.cls,
            coalesce((n.body->'mean'->>k.cls)::float8, 0), coalesce((n.body->'peak'->>k.cls)::bigint, 0)
        FROM new_events n CROSS JOIN LATERAL (
            SELECT jsonb_object_keys(n.body->'mean') UNION SELECT jsonb_object_keys(n.body->'peak')
            UNION SELECT jsonb_object_keys(n.body->'dwell')
        ) k(cls)
        WHERE n.type = 'zone_occupancy'""",
        schema.occupancy_rollups,
        ("1", '"mean"', '"peak"'),
    ),
    _Source(
        "movement_rows",
        ("site", "camera", "start", "from_zone", "to_zone", "class", "count"),
        """SELECT n.site, n.camera, n."start", m->>'from_zone', m->>'to_zone', m->>'class',
            (m->>'count')::bigint
        FROM new_events n, jsonb_array_elements(n.body->'movements') m
        WHERE n.type = 'turning_movement'""",
        schema.movement_rollups,
        ('"count"',),
    ),
    _Source(
        "incidents_new",
        ("site", "camera", "start", "incident", "severity", "phase"),
        """SELECT n.id, n.site, n.camera, n."start", n."end", n.body->>'incident', n.body->>'severity',
            n.body->>'zone', n.body->>'line', n.body->'details', n.received_at, NULL::timestamptz, NULL,
            (n.body->>'incident_id')::uuid, n.body->>'phase'
        FROM new_events n
        WHERE n.type = 'incident'""",
        schema.incident_rollups,
        ("""CASE WHEN "phase" IS NULL OR "phase" = 'onset' THEN 1 ELSE 0 END""",),
        stored=schema.incidents,
    ),
    _Source(
        "conflict_rows",
        ("site", "camera", "start", "zone", "conflict_type", "severity", "classes", "count"),
        """SELECT n.site, n.camera, n."start", n.body->>'zone', c->>'type', c->>'severity', c->>'classes',
            (c->>'count')::bigint
        FROM new_events n, jsonb_array_elements(n.body->'conflicts') c
        WHERE n.type = 'conflict'""",
        schema.conflict_rollups,
        ('"count"',),
    ),
    _Source(
        "conflict_exposure_rows",
        ("site", "camera", "start", "zone", "class", "road_users"),
        """SELECT n.site, n.camera, n."start", n.body->>'zone', u.key, u.value::bigint
        FROM new_events n, jsonb_each_text(n.body->'road_users') u
        WHERE n.type = 'conflict'""",
        schema.conflict_exposure_rollups,
        ('"road_users"',),
    ),
    _Source(
        "conflict_cell_rows",
        ("site", "camera", "start", "zone", "cell_m", "x_m", "y_m", "count", "image_x", "image_y"),
        """SELECT n.site, n.camera, n."start", n.body->>'zone', (n.body->>'cell_m')::float8,
            (c->>'x_m')::float8, (c->>'y_m')::float8, (c->>'count')::bigint,
            coalesce((c->>'image_x')::float8, -1), coalesce((c->>'image_y')::float8, -1)
        FROM new_events n, jsonb_array_elements(n.body->'cells') c
        WHERE n.type = 'conflict'""",
        schema.conflict_cell_rollups,
        ('"count"', '"image_x"', '"image_y"'),
    ),
    _Source(
        "conflict_histogram_rows",
        ("site", "camera", "start", "zone", "measure", "bin_s", "count"),
        """SELECT n.site, n.camera, n."start", n.body->>'zone', m.measure, e.edge::float8,
            (n.body->m.measure->'counts'->>(e.i - 1)::int)::bigint
        FROM new_events n, (VALUES ('ttc'), ('pet')) m(measure),
            jsonb_array_elements_text(n.body->m.measure->'edges_s') WITH ORDINALITY e(edge, i)
        WHERE n.type = 'conflict'""",
        schema.conflict_histogram_rollups,
        ('"count"',),
    ),
)


def _rollup_sql(source: str, rollup: sa.Table, values: tuple[str, ...]) -> str:
    """Add the rows of CTE ``source`` to ``rollup``: one row per period, bucket and key, in key order
    (so that two writers upserting the same rows take their locks in the same order: no deadlock; text in
    byte order, "C", the same everywhere and much cheaper to compare than the database's collation)."""
    ops = ROLLUP_OPS[rollup]
    keys = [column.name for column in rollup.primary_key.columns]
    # Grouped in "C" order, so the ORDER BY below costs nothing more (the aggregate's sort is the order).
    fact_keys = [  # after period … bucket; a number has no collation
        f'f."{name}" COLLATE "C" AS "{name}"' if _is_text(rollup, name) else f'f."{name}"'
        for name in keys[4:]
    ]
    aggregates = [
        f'{"sum" if op == "sum" else "max"}({value}) AS "{name}"'
        for (name, op), value in zip(ops, values, strict=True)
    ]
    # Bucket first: a timestamp sorts fast (abbreviated keys) and nearly settles the order by itself.
    positions = [4, 3, 2, 1, *range(5, len(keys) + 1)]
    group = ", ".join(str(i) for i in positions)
    order = ", ".join(f'g."{keys[i - 1]}"' for i in positions)
    updates = ", ".join(
        f'"{name}" = {rollup.name}."{name}" + excluded."{name}"'
        if op == "sum"
        else f'"{name}" = GREATEST({rollup.name}."{name}", excluded."{name}")'
        for name, op in ops
    )
    return f"""INSERT INTO {rollup.name} ({_column_list(rollup)})
        SELECT g.* FROM (
            SELECT p.period COLLATE "C" AS period, f.site COLLATE "C" AS site, f.camera COLLATE "C" AS camera,
                date_bin(p.width, f."start", timestamptz '1970-01-01 00:00+00') AS bucket,
                {", ".join([*fact_keys, *aggregates])}
            FROM {source} f CROSS JOIN periods p
            GROUP BY {group}
        ) g
        ORDER BY {order}
        ON CONFLICT ({", ".join(f'"{k}"' for k in keys)}) DO UPDATE SET {updates}"""


def _is_text(table: sa.Table, column: str) -> bool:
    return isinstance(table.c[column].type, sa.String)


@lru_cache(maxsize=1)
def _postgresql_statement() -> str:
    periods = ", ".join(
        f"('{period}', interval '{seconds} seconds')" for period, seconds in schema.ROLLUP_PERIODS.items()
    )
    parts = [
        f"periods(period, width) AS (VALUES {periods})",
        f"""new_events AS (
            INSERT INTO events ({_column_list(schema.events)})
            SELECT (body->>'id')::uuid, body->>'site', body->>'camera', body->>'type',
                (body->>'start')::timestamptz, (body->>'end')::timestamptz, COALESCE(received_at, now()), body
            FROM {_STAGING}
            ORDER BY body->>'id'  -- writers side by side lock ids in one order: a repeat cannot deadlock
            ON CONFLICT (id) DO NOTHING
            RETURNING *)""",
    ]
    for source in _SOURCES:
        columns = ", ".join(f'"{name}"' for name in source.columns)
        if source.stored is None:
            parts.append(f"{source.name}({columns}) AS ({source.select})")
        else:
            parts.append(
                f"{source.name} AS (INSERT INTO {source.stored.name} ({_column_list(source.stored)}) "
                f"{source.select} RETURNING {columns})"
            )
        parts.append(
            f"{source.rollup.name}_added AS ({_rollup_sql(source.name, source.rollup, source.values)})"
        )
    return "WITH " + ",\n".join(parts) + "\nSELECT id FROM new_events"


#: Per transaction: the planner's guesses for a statement over a fresh staging table are far too high,
#: which would buy JIT compilation (slower than the whole batch) and spill aggregates to disk.
_SESSION = "SET LOCAL jit = off; SET LOCAL work_mem = '64MB'"


def _copy_line(received_at: datetime | None, document: bytes) -> bytes:
    # COPY text format: JSON escapes every control character, so only its backslashes need doubling.
    stamp = b"\\N" if received_at is None else received_at.isoformat().encode()
    return stamp + b"\t" + document.replace(b"\\", b"\\\\") + b"\n"


def store_events_postgresql(
    connection: Connection, events: Sequence[tuple[datetime | None, bytes]]
) -> set[uuid.UUID]:
    """Store ``(received_at, canonical JSON body)`` events with their fact rows and roll-ups; skip ids already
    stored. A ``received_at`` of None is the transaction's start by the database's clock (``now()``).
    Returns the ids inserted. The caller's transaction commits it all or nothing."""
    if not events:
        return set()
    with _raw(connection).cursor() as cursor:
        cursor.execute(
            f"{_SESSION}; CREATE TEMP TABLE IF NOT EXISTS {_STAGING}"
            " (received_at timestamptz, body jsonb NOT NULL) ON COMMIT DELETE ROWS"
        )
        with cursor.copy(f"COPY {_STAGING} (received_at, body) FROM STDIN") as copy:
            copy.write(b"".join(_copy_line(received_at, document) for received_at, document in events))
        cursor.execute(_postgresql_statement())
        return {row[0] for row in cursor.fetchall()}
