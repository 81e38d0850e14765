"""Bring a store's schema up to date with alembic, programmatically (no alembic.ini, no CLI).

alembic is imported inside the functions: processes that only write (the edge's outbox, ingest) never
load it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from citytally.errors import StoreError
from citytally.hub.store import damage
from citytally.hub.store.engine import database_problem
from citytally.redaction import redact_url

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["MIGRATIONS_DIR", "HEAD_REVISION", "migrate", "current_revision", "head_revisions"]

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: The newest revision this version of citytally knows.
HEAD_REVISION = "0019"


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the store behind ``engine`` to ``revision`` (default: the newest). Safe to run again."""
    from alembic import command

    config = _config()
    _check_is_sqlite(engine)
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as exc:
        if damage.damage_in(exc) is None:  # damage is said below; anything else: no store to reach
            raise StoreError(f"{redact_url(engine.url)}: cannot connect: {database_problem(exc)}") from None
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except SQLAlchemyError as exc:
        problem = damage.damage_in(exc)
        if problem is not None:
            raise StoreError(
                f"{redact_url(engine.url)}: the store is damaged ({problem}); recover it before the hub can "
                "start (docs/hub.md, 'A damaged store')"
            ) from exc
        raise StoreError(f"migrating {redact_url(engine.url)} failed: {database_problem(exc)}") from exc
    if revision == "head":
        _restore_lost_tables(engine)


#: How every SQLite database file begins.
_SQLITE_HEADER = b"SQLite format 3\x00"


def _check_is_sqlite(engine: Engine) -> None:
    """A file at an SQLite URL that does not begin as an SQLite database is another file named by mistake
    (or a store whose first page is gone): said so before anything opens it, not as a damaged store."""
    database = engine.url.database or ""
    if engine.url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return
    try:
        with open(database, "rb") as file:
            head = file.read(len(_SQLITE_HEADER))
    except OSError:
        return  # not there yet (made now), or unreadable (said when it is opened)
    if head and head != _SQLITE_HEADER:
        raise StoreError(
            f"{redact_url(engine.url)}: not an SQLite database (the file does not begin as one): the "
            "database URL names another file, or a store whose first page is lost (docs/hub.md, 'A damaged "
            "store')"
        )


def _restore_lost_tables(engine: Engine) -> None:
    """Create, empty, the tables of the schema a store at the newest revision lacks: a store saved by
    ``citytally salvage`` from a file whose schema pages were damaged has lost the tables they named."""
    import sqlalchemy as sa

    from citytally.hub.store import schema

    present = set(sa.inspect(engine).get_table_names())
    lost = [table for table in schema.metadata.sorted_tables if table.name not in present]
    if lost:
        names = ", ".join(table.name for table in lost)
        log.warning(
            "store: %s lacked the tables %s (lost with its schema?): created empty",
            redact_url(engine.url),
            names,
        )
        schema.metadata.create_all(engine, tables=lost)


def current_revision(engine: Engine) -> str | None:
    """The revision the store is at, or ``None`` for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revisions() -> list[str]:
    """The heads of the shipped migration scripts (one, :data:`HEAD_REVISION`, in a healthy tree)."""
    from alembic.script import ScriptDirectory

    return list(ScriptDirectory.from_config(_config()).get_heads())
