"""Keep the store's camera registry (sites, cameras, lines, zones) in step with the camera configs.

A camera's lines and zones are its config file's unless a revision saved in the dashboard's geometry editor
is in force (:func:`citytally.hub.store.geometry.camera_in_force`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from citytally.edge.config import CameraConfig
from citytally.errors import StoreError
from citytally.hub.store import schema
from citytally.hub.store.geometry import camera_in_force
from citytally.redaction import redact_url

if TYPE_CHECKING:
    from citytally.hub.audit import AuditEntry

__all__ = ["sync_registry", "camera_row", "replace_geometry", "upsert_camera"]


def camera_row(camera: CameraConfig, now: datetime) -> dict[str, Any]:
    """The ``cameras`` row of one camera config. The video source's URL is left out: it can hold secrets
    (its frame size and rate stay: the geometry editor needs the frame)."""
    meta = camera.metadata
    return {
        "site": camera.site,
        "camera": camera.camera,
        "location": meta.location or "",
        "lat": meta.lat,
        "lon": meta.lon,
        "purpose": meta.purpose or "",
        "legal_basis": meta.legal_basis or "",
        "retention_days": meta.retention_days,
        "contact": meta.contact or "",
        "config": camera.model_dump(mode="json", exclude={"source": {"uri"}}),
        "updated_at": now,
        "registered_at": now,  # on insert only: _upsert keeps a registered camera's
    }


#: The facts about a camera the public register shows: a camera registered, or one of these changed, is
#: an audit entry (kind ``camera``), what it was and what it became.
AUDITED_METADATA = ("location", "lat", "lon", "purpose", "legal_basis", "retention_days", "contact")


def sync_registry(
    engine: Engine, cameras: Sequence[CameraConfig], sites: Mapping[str, Mapping[str, str]] | None = None
) -> None:
    """Insert or update every site and camera (with its lines and zones) named; remove none.

    Cameras that left the config stay, so their history still has metadata; lines and zones of a listed
    camera are replaced by the config's. A camera registered, or whose register facts
    (:data:`AUDITED_METADATA`) changed, is an audit entry in the same transaction.
    """
    from citytally.hub.audit import append_all_after

    now = datetime.now(UTC)
    site_info = dict(sites or {})
    for camera in cameras:
        site_info.setdefault(camera.site, {})

    def work(connection: Connection) -> list[AuditEntry]:
        before = _register_facts(connection, cameras)
        for slug, info in sorted(site_info.items()):
            row = {"site": slug, "name": info.get("name", ""), "description": info.get("description", "")}
            _upsert(connection, schema.sites, row, ["site"])
        for camera in cameras:
            _upsert(connection, schema.cameras, camera_row(camera, now), ["site", "camera"])
            in_force = camera_in_force(connection, camera, now)
            if in_force is not camera:
                _upsert(connection, schema.cameras, camera_row(in_force, now), ["site", "camera"])
            replace_geometry(connection, in_force)
        after = _register_facts(connection, cameras)
        return [entry for key in sorted(after) if (entry := _facts_entry(key, before.get(key), after[key]))]

    try:
        append_all_after(engine, work, now)
    except SQLAlchemyError as exc:
        raise StoreError(f"writing the camera registry to {redact_url(engine.url)}: {exc}") from exc


def _register_facts(
    connection: Connection, cameras: Sequence[CameraConfig]
) -> dict[tuple[str, str], dict[str, Any]]:
    """(site, camera) → its :data:`AUDITED_METADATA` as stored, for those of ``cameras`` registered."""
    t = schema.cameras
    wanted = {(c.site, c.camera) for c in cameras}
    rows = connection.execute(sa.select(t.c.site, t.c.camera, *(t.c[name] for name in AUDITED_METADATA)))
    return {
        (row.site, row.camera): {name: getattr(row, name) for name in AUDITED_METADATA}
        for row in rows
        if (row.site, row.camera) in wanted
    }


def _facts_entry(
    key: tuple[str, str], before: dict[str, Any] | None, after: dict[str, Any]
) -> AuditEntry | None:
    """The audit entry of one camera's register facts going from ``before`` (None: not registered) to
    ``after``; None when nothing changed."""
    from citytally.hub.audit import AuditEntry

    site, camera = key
    if before is None:
        detail = {"action": "registered", "site": site, "camera": camera, "facts": after}
    else:
        changed = {k: {"from": before[k], "to": v} for k, v in after.items() if before[k] != v}
        if not changed:
            return None
        detail = {"action": "changed", "site": site, "camera": camera, "changed": changed}
    return AuditEntry(kind="camera", actor="system", detail=detail)


def upsert_camera(connection: Connection, camera: CameraConfig, now: datetime) -> None:
    """Insert or update the ``cameras`` row of ``camera`` (its site must be registered)."""
    _upsert(connection, schema.cameras, camera_row(camera, now), ["site", "camera"])


def _upsert(connection: Connection, table: sa.Table, row: dict[str, Any], key: list[str]) -> None:
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(table).values(row)
    updates = {name: statement.excluded[name] for name in row if name not in key and name != "registered_at"}
    connection.execute(statement.on_conflict_do_update(index_elements=key, set_=updates))


def replace_geometry(connection: Connection, camera: CameraConfig) -> None:
    """Replace the registry's ``lines`` and ``zones`` rows of ``camera`` with its config's."""
    for table in (schema.lines, schema.zones):
        connection.execute(
            sa.delete(table).where(table.c.site == camera.site, table.c.camera == camera.camera)
        )
    keys = {"site": camera.site, "camera": camera.camera}
    if camera.lines:
        connection.execute(
            sa.insert(schema.lines),
            [keys | {"line": line.name, "config": line.model_dump(mode="json")} for line in camera.lines],
        )
    if camera.zones:
        connection.execute(
            sa.insert(schema.zones),
            [keys | {"zone": zone.name, "config": zone.model_dump(mode="json")} for zone in camera.zones],
        )
