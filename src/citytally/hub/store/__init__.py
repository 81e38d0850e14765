"""The hub store: one schema on SQLite or PostgreSQL, alembic migrations, idempotent batched writes."""

from __future__ import annotations

from citytally.hub.store.engine import (
    DEFAULT_DATABASE_URL,
    create_store_engine,
    sqlite_url,
    wait_for_database,
)
from citytally.hub.store.limits import MessageLimits
from citytally.hub.store.migrate import HEAD_REVISION, current_revision, head_revisions, migrate
from citytally.hub.store.registry import sync_registry
from citytally.hub.store.writer import EventWriter, Received, WriteResult

__all__ = [
    "DEFAULT_DATABASE_URL",
    "HEAD_REVISION",
    "EventWriter",
    "MessageLimits",
    "Received",
    "WriteResult",
    "create_store_engine",
    "current_revision",
    "head_revisions",
    "migrate",
    "sqlite_url",
    "sync_registry",
    "wait_for_database",
]
