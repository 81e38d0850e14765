"""Build the hub's database engine from a URL: a SQLite file by default, PostgreSQL when configured."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from citytally.errors import ConfigError, Spell, StoreError
from citytally.hub.store import damage
from citytally.redaction import redact_url

__all__ = [
    "DEFAULT_DATABASE_URL",
    "create_store_engine",
    "database_problem",
    "sqlite_url",
    "wait_for_database",
]

#: A file next to where the hub runs: a new user needs no database server.
DEFAULT_DATABASE_URL = "sqlite:///citytally-hub.sqlite3"

#: libpq settings of every PostgreSQL connection: a server that does not answer (stopped, its host gone)
#: fails a new connection after 10 s rather than never, and an open one whose peer vanished from the
#: network is found dead by TCP keepalives within about a minute (a URL's own query parameters win).
_PG_CONNECT: dict[str, Any] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


def sqlite_url(path: Path) -> str:
    """The URL of a SQLite store at ``path``."""
    return f"sqlite:///{path}"


def create_store_engine(
    url: str = DEFAULT_DATABASE_URL, *, echo: bool = False, watch_damage: bool = True
) -> Engine:
    """An engine for ``url`` (``sqlite:///PATH`` or ``postgresql+psycopg://...``), tuned for ingest.

    SQLite gets WAL journalling with ``synchronous=FULL`` (a committed batch survives power loss, which is
    what lets ingest acknowledge it), foreign keys on and a busy timeout so the API can read while ingest
    writes. Raises :class:`ConfigError` for a URL of another kind. ``watch_damage``: the hub's services
    note (and log, once) damage any statement meets (:mod:`~citytally.hub.store.damage`); a command that
    says what went wrong in its own line does not.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"database URL {redact_url(url)!r} is not a URL: {exc}") from exc
    if "@" in (parsed.host or ""):  # split at its first "@": the rest of the password is taken for the host
        raise ConfigError(
            f"database URL {redact_url(url)!r}: its user name or password holds an '@'; write it as %40"
        )
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"database URL {redact_url(parsed)!r}: the hub stores to sqlite:///PATH or postgresql+psycopg://..."
        )
    if backend == "postgresql" and parsed.drivername != "postgresql+psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    kwargs: dict[str, Any] = {"echo": echo}
    if backend == "postgresql":
        connect = {name: value for name, value in _PG_CONNECT.items() if name not in parsed.query}
        kwargs.update(pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args=connect)
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(f"database URL {redact_url(parsed)!r}: {exc}") from exc
    if watch_damage:
        damage.watch(engine)
    if backend == "sqlite":
        database = parsed.database or ""
        if database not in ("", ":memory:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        sa.event.listen(engine, "connect", _tune_sqlite)
    return engine


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA busy_timeout=10000",
        ):
            cursor.execute(pragma)
    finally:
        cursor.close()


#: What libpq says of a server that is not there yet or not taking connections yet (no route, refused, not
#: answering, starting up, in recovery): waited for. Anything else (a wrong password, a database or role that
#: does not exist, a host name that does not resolve) waiting will not mend.
_NOT_YET = (
    "connection refused", "timeout expired", "timed out", "no route to host", "network is unreachable",
    "connection reset", "closed the connection unexpectedly", "the database system is starting up",
    "the database system is shutting down", "the database system is in recovery mode",
    "the database system is not yet accepting connections",
)  # fmt: skip


def database_problem(exc: BaseException) -> str:
    """What the database driver said, on one line (without SQLAlchemy's pointer to its web page)."""
    said = getattr(exc, "orig", None) or exc
    return " ".join(str(said).split()) or type(said).__name__


def wait_for_database(engine: Engine, every_s: float = 5.0) -> None:
    """Return once ``engine``'s PostgreSQL database takes a connection (a SQLite store at once). A server
    that refuses, times out or is still starting (a service started before its database) is tried again
    every ``every_s``, said once, then once a minute; anything else (a wrong password, a database that
    does not exist, a host name that does not resolve) is a :class:`StoreError` at once. Ctrl-C ends the
    wait."""
    if engine.dialect.name != "postgresql":
        return
    spell = Spell(logging.getLogger("citytally.hub"))
    while True:
        try:
            with engine.connect():
                pass
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            said = database_problem(exc)
            if not any(words in said.lower() for words in _NOT_YET):
                raise StoreError(f"{redact_url(engine.url)}: cannot connect: {said}") from None
            spell.failed("hub: the database %s does not answer (%s); waiting for it",
                         redact_url(engine.url), said, level=logging.WARNING)  # fmt: skip
            time.sleep(every_s)
            continue
        spell.ended("hub: the database %s answers", redact_url(engine.url))
        return
