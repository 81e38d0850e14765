"""A damaged store: pages of the hub's database that no longer read back (a power cut on a failing SD card,
a disk going bad, a file copied while written).

SQLite says so only when a statement touches a damaged page ("database disk image is malformed"; or text
that is no longer UTF-8, where the page's structure held) or the file's header ("file is not a
database"); PostgreSQL with ``data_corrupted`` or ``index_corrupted``. Until
then, and for every other page after, the store works. So the hub keeps running what still can (ingest
retries a batch it cannot store and acknowledges nothing; reads that miss the damage are answered), and
says it loudly instead of retrying without a word: :func:`watch` notes the first such error on any
connection of the engine, logs one error naming the store and what to do, and :func:`damage` gives it to
``/health`` (``database: "damaged"``, 503) and ``/metrics`` (``citytally_store_damaged``).
:func:`check` looks for damage a statement has not met yet (SQLite's ``quick_check``); the hub runs it
in the background when it starts. Recovery is the operator's (docs/hub.md, "A damaged store").
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary

import sqlalchemy as sa

from citytally.redaction import redact_url
from citytally.salvage import sqlite_damage

__all__ = ["Damage", "watch", "damage", "check", "damage_in"]

log = logging.getLogger(__name__)

#: PostgreSQL's SQLSTATEs for damaged data: data_corrupted, index_corrupted.
_POSTGRES_DAMAGE = {"XX001", "XX002"}


@dataclass(frozen=True)
class Damage:
    """The first sign of damage: what the database said, and when (UTC)."""

    problem: str
    noticed: datetime


_found: WeakKeyDictionary[sa.Engine, Damage] = WeakKeyDictionary()
_lock = threading.Lock()


def damage_in(exc: BaseException) -> str | None:
    """What the database said, if ``exc`` (a DBAPI error, or SQLAlchemy's around one) is damage."""
    original = getattr(exc, "orig", None) or exc
    said = sqlite_damage(original)
    if said is not None:
        return said
    if getattr(original, "sqlstate", None) in _POSTGRES_DAMAGE:
        return str(original).splitlines()[0]
    return None


def watch(engine: sa.Engine) -> None:
    """Note damage on any of ``engine``'s connections (see :func:`damage`)."""
    sa.event.listen(engine, "handle_error", _on_error)


def _on_error(context: Any) -> None:
    problem = damage_in(context.original_exception)
    if problem is not None and context.engine is not None:
        note(context.engine, problem)


def note(engine: sa.Engine, problem: str) -> None:
    """Record damage of ``engine``'s store (the first one counts) and say it once."""
    with _lock:
        if engine in _found:
            return
        _found[engine] = Damage(problem, datetime.now(UTC))
    log.error(
        "store: %s is damaged (%s); nothing the hub cannot store is acknowledged (the edges keep it); "
        "recover the store (docs/hub.md, 'A damaged store')",
        redact_url(engine.url),
        problem,
    )


def damage(engine: sa.Engine) -> Damage | None:
    """The damage noted of ``engine``'s store since the hub started, if any."""
    return _found.get(engine)


def check(engine: sa.Engine) -> Damage | None:
    """Look for damage no statement has met yet: SQLite's ``quick_check`` reads every page of the file (a few
    seconds a gigabyte); PostgreSQL has no such check, and is left alone. Returns what is noted."""
    if engine.dialect.name != "sqlite":
        return damage(engine)
    try:
        with engine.connect() as conn:
            found = [str(row[0]) for row in conn.exec_driver_sql("PRAGMA quick_check(3)")]
    except sa.exc.DBAPIError as exc:
        if damage_in(exc) is None:  # an outage, not damage: that is said where it matters
            log.warning("store: cannot check %s: %s", redact_url(engine.url), exc.orig)
        return damage(engine)  # damage met while checking is noted by watch()
    if found != ["ok"]:  # up to three problems, the first line naming the database ("*** in database main")
        lines = [line for row in found for line in row.splitlines() if not line.startswith("***")]
        note(engine, "quick_check: " + "; ".join(lines))
    return damage(engine)
