"""Build the hub's database engine from a URL: a SQLite file by default, PostgreSQL when configured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from citytally.errors import ConfigError
from citytally.hub.store import damage
from citytally.redaction import redact_url

__all__ = ["DEFAULT_DATABASE_URL", "create_store_engine", "sqlite_url"]

#: A file next to where the hub runs: a new user needs no database server.
DEFAULT_DATABASE_URL = "sqlite:///citytally-hub.sqlite3"


def sqlite_url(path: Path) -> str:
    """The URL of a SQLite store at ``path``."""
    return f"sqlite:///{path}"


def create_store_engine(url: str = DEFAULT_DATABASE_URL, *, echo: bool = False) -> Engine:
    """An engine for ``url`` (``sqlite:///PATH`` or ``postgresql+psycopg://...``), tuned for ingest.

    SQLite gets WAL journalling with ``synchronous=FULL`` (a committed batch survives power loss, which is
    what lets ingest acknowledge it), foreign keys on and a busy timeout so the API can read while ingest
    writes. Raises :class:`ConfigError` for a URL of another kind.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"database URL {redact_url(url)!r} is not a URL: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"database URL {redact_url(parsed)!r}: the hub stores to sqlite:///PATH or postgresql+psycopg://..."
        )
    if backend == "postgresql" and parsed.drivername != "postgresql+psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    kwargs: dict[str, Any] = {"echo": echo}
    if backend == "postgresql":
        kwargs.update(pool_pre_ping=True, pool_size=5, max_overflow=5)
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(f"database URL {redact_url(parsed)!r}: {exc}") from exc
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
