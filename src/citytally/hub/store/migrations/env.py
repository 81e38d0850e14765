"""Alembic environment for the hub store. Run through :func:`citytally.hub.store.migrate`, which passes
an open connection in ``config.attributes["connection"]``; there is no alembic.ini."""

from __future__ import annotations

from alembic import context

from citytally.hub.store.schema import metadata

_connection = context.config.attributes.get("connection")
if _connection is None:
    raise RuntimeError("run hub migrations with citytally.hub.store.migrate(engine)")

context.configure(
    connection=_connection,
    target_metadata=metadata,
    render_as_batch=_connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
