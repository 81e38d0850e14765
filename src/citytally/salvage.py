"""Copy what still reads of a damaged SQLite file (the hub's store, an edge's outbox) into a new one: the
``citytally salvage`` command, and the edge's outbox when its file is found damaged while it runs.

SQLite's own ``.recover`` needs a build with the ``sqlite_dbpage`` table, which Debian's ``sqlite3`` lacks
(it answers "SQL logic error"), and ``.dump`` of a damaged file ends in ``ROLLBACK``. So this reads the file
through SQLite itself: the schema, then each table in rowid order, a batch at a time. Where a batch meets a
damaged page its rows are taken one by one up to the damage, and the first rowid that reads again is found
by probing ever further ahead (then back), so a damaged leaf costs the rows on it and a damaged branch the
rows under it, and nothing else. Indexes are built anew from the rows saved. The new file is written under
a temporary name and renamed when complete and checked (``quick_check``); the damaged one is only read.

What is lost is said per table, as ranges of rowids (a table's rows in the order they were written: for the
hub's ``events`` the order they arrived). Rows are copied as they read; a page whose damage SQLite cannot
see (its structure intact, its bytes changed) is copied as it is.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from citytally.errors import ConfigError, StoreError

__all__ = ["TableSalvage", "salvage", "sqlite_damage"]

#: Rows read (and written) at a time.
_BATCH = 2_000
_LOWEST = -(2**63)
_HIGHEST = 2**63 - 1


@dataclass
class TableSalvage:
    """One table's outcome: rows saved, and the rowid ranges (first, last; last None: to the end) lost."""

    name: str
    saved: int = 0
    lost: list[tuple[int, int | None]] = field(default_factory=list)
    #: What SQLite said first where it could not read (None: it read everything).
    error: str | None = None

    def lost_rows(self) -> int | None:
        """At most this many rows were lost (rowids are dense in tables that are only appended to); None
        where the loss runs to the table's end, whose last rowid is unknown."""
        if any(last is None for _, last in self.lost):
            return None
        return sum(last - first + 1 for first, last in self.lost if last is not None)


#: SQLite's primary result codes for a damaged file: SQLITE_CORRUPT and SQLITE_NOTADB.
_DAMAGE_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
#: Python's sqlite3 on text that is not UTF-8 (a page whose bytes changed under an intact structure: what
#: citytally writes is always UTF-8).
_NOT_UTF8 = "Could not decode to UTF-8"


def sqlite_damage(exc: BaseException) -> str | None:
    """What SQLite said, if ``exc`` says its file is damaged: a page or the header (SQLITE_CORRUPT or
    SQLITE_NOTADB, extended codes included), or stored text that no longer decodes (the text left out)."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in _DAMAGE_CODES:
        return str(exc)
    if str(exc).startswith(_NOT_UTF8):
        return str(exc).split(" with text ", 1)[0]
    return None


def salvage(
    damaged: Path, out: Path, progress: Callable[[str, int], None] | None = None
) -> list[TableSalvage]:
    """Copy every readable row of every table of ``damaged`` into the new file ``out`` (which must not exist),
    with the same schema; returns each table's outcome. ``progress(table, rows_saved)`` is called as it goes.

    Raises :class:`ConfigError` when ``out`` exists or ``damaged`` does not, and :class:`StoreError` when
    nothing can be read (no SQLite file, or its schema is damaged)."""
    if not damaged.is_file():
        raise ConfigError(f"{damaged}: {'not a file' if damaged.exists() else 'no such file'}")
    if out.exists():
        raise ConfigError(f"{out}: exists; name a new file for what is saved")
    if not out.parent.is_dir():
        raise ConfigError(f"{out}: no folder {out.parent} to write it in")
    source = sqlite3.connect(f"{damaged.resolve().as_uri()}?mode=ro", uri=True)
    try:
        # SQLite reads a schema with damaged pages as far as it goes only with writable_schema on (the
        # connection is read-only all the same); the schema's own rows are read past damage as a table's are
        source.execute("PRAGMA writable_schema = ON")
        rows: list[tuple[Any, ...]] = []

        def keep(got: list[tuple[Any, ...]]) -> int:
            rows.extend(got)
            return len(got)

        read = _read_table(source, "sqlite_master", ["type", "name", "tbl_name", "sql"], keep)
        schema = [(kind, name, table, sql) for _, kind, name, table, sql in rows if sql is not None]
        if not rows and read.lost:
            raise StoreError(f"{damaged}: its schema cannot be read ({read.error}): nothing can be saved")
        if not any(kind == "table" for kind, *_ in schema):
            raise StoreError(f"{damaged}: holds no tables (an empty file?): nothing to save")
        partial = out.with_name(out.name + ".partial")
        partial.unlink(missing_ok=True)
        target = sqlite3.connect(partial, isolation_level=None)
        try:
            found = _copy(source, target, schema, progress)
            target.execute("COMMIT")
            problems = [row[0] for row in target.execute("PRAGMA quick_check")]
        finally:
            target.close()
        if problems != ["ok"]:
            raise StoreError(f"{partial}: the copy fails its check ({'; '.join(problems)}); kept for a look")
        partial.rename(out)
        # rows of the schema lost: the tables and indexes they named are not in the copy
        return [read, *found] if read.lost else found
    finally:
        source.close()


def _copy(
    source: sqlite3.Connection,
    target: sqlite3.Connection,
    schema: list[tuple[str, str, str, str]],
    progress: Callable[[str, int], None] | None,
) -> list[TableSalvage]:
    target.execute("PRAGMA journal_mode = OFF")  # a new file, renamed only once complete
    target.execute("BEGIN")
    tables = [
        (name, sql) for kind, name, _, sql in schema if kind == "table" and not name.startswith("sqlite_")
    ]
    for _, sql in tables:
        target.execute(sql)
    found = []
    for name, _ in tables:
        columns = [row[1] for row in source.execute(f'PRAGMA table_info("{name}")')]
        found.append(_copy_table(source, target, name, columns, progress))
    if any(name == "sqlite_sequence" for _, name, _, _ in schema):  # AUTOINCREMENT's high-water marks
        with contextlib.suppress(sqlite3.DatabaseError):
            rows = source.execute("SELECT name, seq FROM sqlite_sequence").fetchall()
            target.execute("DELETE FROM sqlite_sequence")
            target.executemany("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", rows)
    copied = {name for name, _ in tables}
    for kind, name, table, sql in schema:
        # an index of a table whose schema row was lost has nothing to index
        if kind in ("index", "trigger", "view") and (kind == "view" or table in copied):
            try:
                target.execute(sql)
            except sqlite3.DatabaseError as exc:  # a unique index over rows the damage changed
                raise StoreError(f"rebuilding {kind} {name} of the rows saved: {exc}") from exc
    return found


def _copy_table(
    source: sqlite3.Connection,
    target: sqlite3.Connection,
    table: str,
    columns: list[str],
    progress: Callable[[str, int], None] | None,
) -> TableSalvage:
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" * (len(columns) + 1))
    insert = f'INSERT OR IGNORE INTO "{table}" (rowid, {names}) VALUES ({marks})'

    def take(rows: list[tuple[Any, ...]]) -> int:  # a repeated key (damage) is left out, not counted
        return int(target.executemany(insert, rows).rowcount)

    return _read_table(source, table, columns, take, progress)


def _read_table(
    source: sqlite3.Connection,
    table: str,
    columns: list[str],
    take: Callable[[list[tuple[Any, ...]]], int],
    progress: Callable[[str, int], None] | None = None,
) -> TableSalvage:
    """Hand every row of ``table`` that reads (rowid first, then ``columns``) to ``take``, a batch at a
    time in rowid order, past damaged pages; ``take`` says how many it kept."""
    names = ", ".join(f'"{c}"' for c in columns)
    select = f'SELECT rowid, {names} FROM "{table}" WHERE rowid > ? ORDER BY rowid LIMIT ?'
    outcome = TableSalvage(table)
    last = _LOWEST  # rowid > last: every rowid SQLite assigns (it never assigns the lowest itself)
    while True:
        try:
            rows = source.execute(select, (last, _BATCH)).fetchall()
        except sqlite3.DatabaseError as exc:
            outcome.error = outcome.error or str(exc)
            rows = list(_one_by_one(source, select, last))
            if not rows:  # the next row is on a damaged page: find the first that reads again
                if last == _LOWEST:  # nothing read yet: probe from 0 (SQLite numbers rows from 1)
                    last = -1
                after = _next_readable(source, select, last)
                outcome.lost.append((last + 1, None if after is None else after - 1))
                if after is None:
                    break
                last = after - 1
                continue
        if not rows:
            break
        outcome.saved += take(rows)
        last = rows[-1][0]
        if progress is not None:
            progress(table, outcome.saved)
    return outcome


def _one_by_one(source: sqlite3.Connection, select: str, last: int) -> Iterator[tuple[Any, ...]]:
    """The rows after ``last`` up to the damage, one statement each."""
    for _ in range(_BATCH):
        try:
            row = source.execute(select, (last, 1)).fetchone()
        except sqlite3.DatabaseError:
            return
        if row is None:
            return
        yield row
        last = row[0]


def _reads(source: sqlite3.Connection, select: str, after: int) -> tuple[bool, int | None]:
    """Whether the first row after ``after`` reads, and its rowid (None: no row after it)."""
    try:
        row = source.execute(select, (after, 1)).fetchone()
    except sqlite3.DatabaseError:
        return False, None
    return True, None if row is None else int(row[0])


def _next_readable(source: sqlite3.Connection, select: str, last: int) -> int | None:
    """The first rowid after ``last`` whose row reads again, past a damaged page (None: none does): probe
    ``last`` + 1, 2, 4, ... until a read succeeds, then halve the step back to the first one that does."""
    step = 1
    while True:
        probe = last + step
        if probe >= _HIGHEST:
            return None
        ok, rowid = _reads(source, select, probe)
        if ok:
            break
        step *= 2
    low, high = last + step // 2, probe  # reads fail after low (or low is last), succeed after high
    while high - low > 1:
        middle = (low + high) // 2
        ok, found = _reads(source, select, middle)
        if ok:
            high, rowid = middle, found
        else:
            low = middle
    return rowid
