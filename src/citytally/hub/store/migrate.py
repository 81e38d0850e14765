"""Bring a store's schema up to date with alembic, programmatically (no alembic.ini, no CLI)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from citytally.errors import StoreError
from citytally.hub.store.engine import redact_url

__all__ = ["MIGRATIONS_DIR", "HEAD_REVISION", "migrate", "current_revision"]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: The newest revision this version of citytally knows.
HEAD_REVISION = "0002"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the store behind ``engine`` to ``revision`` (default: the newest). Safe to run again."""
    config = _config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except SQLAlchemyError as exc:
        raise StoreError(
            f"migrating {redact_url(engine.url)} failed: {exc.__class__.__name__}: {exc}"
        ) from exc


def current_revision(engine: Engine) -> str | None:
    """The revision the store is at, or ``None`` for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _check_head() -> None:  # pragma: no cover - used by the tests to keep HEAD_REVISION honest
    heads = ScriptDirectory.from_config(_config()).get_heads()
    if heads != [HEAD_REVISION]:
        raise StoreError(f"migration heads {heads} != HEAD_REVISION {HEAD_REVISION!r}")
