"""Geometry revisions: every version of a camera's lines and zones the hub has known, numbered per camera.

A revision comes from the camera's config file (read when the hub starts) or from the dashboard's geometry
editor. Each keeps the digest of the geometry the config file held when it was made, which is how a restart
tells the two cases apart: if the file's geometry digest is still the latest revision's ``file_digest``, the
file has not changed since, and an editor revision saved after it stays in force (the file is merely not
updated yet); if the digest differs, someone edited the file, and the file's geometry becomes a new revision.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from citytally.edge.config import CameraConfig, CameraConfigError, validate_camera_data
from citytally.hub.store import schema

__all__ = [
    "FILE_ACTOR",
    "Geometry",
    "GeometryRevision",
    "geometry_of",
    "geometry_digest",
    "latest_revision",
    "add_revision",
    "camera_in_force",
]

log = logging.getLogger(__name__)

#: The actor of revisions read from a camera's config file.
FILE_ACTOR = "config file"

#: ``{"lines": [...], "zones": [...]}``: each item as the camera TOML's ``[[lines]]`` / ``[[zones]]`` table.
Geometry = dict[str, list[dict[str, Any]]]
Origin = Literal["file", "dashboard"]


@dataclass(frozen=True)
class GeometryRevision:
    """One stored revision of a camera's lines and zones."""

    site: str
    camera: str
    revision: int
    saved_at: datetime
    origin: Origin
    actor: str
    actor_label: str
    file_digest: str
    geometry: Geometry


def geometry_of(camera: CameraConfig) -> Geometry:
    """A camera config's lines and zones, as JSON-ready tables."""
    return {
        "lines": [line.model_dump(mode="json") for line in camera.lines],
        "zones": [zone.model_dump(mode="json") for zone in camera.zones],
    }


def geometry_digest(geometry: Geometry) -> str:
    """sha256 of the geometry's canonical JSON (sorted keys, compact)."""
    text = json.dumps(geometry, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def latest_revision(conn: Connection, site: str, camera: str) -> GeometryRevision | None:
    """The newest revision of a camera's geometry, or ``None`` if it has none."""
    g = schema.geometry_revisions
    row = conn.execute(
        sa.select(g).where(g.c.site == site, g.c.camera == camera).order_by(g.c.revision.desc()).limit(1)
    ).first()
    if row is None:
        return None
    return GeometryRevision(
        site=row.site,
        camera=row.camera,
        revision=int(row.revision),
        saved_at=row.saved_at,
        origin=row.origin,
        actor=row.actor,
        actor_label=row.actor_label,
        file_digest=row.file_digest,
        geometry=row.geometry,
    )


def add_revision(
    conn: Connection,
    site: str,
    camera: str,
    geometry: Geometry,
    *,
    origin: Origin,
    actor: str,
    actor_label: str,
    file_digest: str,
    now: datetime,
) -> GeometryRevision:
    """Store the next revision of a camera's geometry (the camera must be registered) and return it."""
    latest = latest_revision(conn, site, camera)
    revision = GeometryRevision(
        site=site,
        camera=camera,
        revision=(latest.revision if latest else 0) + 1,
        saved_at=now,
        origin=origin,
        actor=actor[:64],
        actor_label=actor_label[:200],
        file_digest=file_digest,
        geometry=geometry,
    )
    conn.execute(sa.insert(schema.geometry_revisions).values(vars(revision)))
    return revision


def camera_in_force(conn: Connection, camera: CameraConfig, now: datetime) -> CameraConfig:
    """The camera as the registry should hold it: its config file's, unless an editor revision saved since
    the file last changed is in force (see the module docstring). Records a revision when the file changed.

    An editor revision that no longer fits the rest of the file (a turning rule naming a zone it removed,
    say) cannot be kept: the file's geometry is used, logged, and recorded as the newest revision.
    """
    from_file = geometry_of(camera)
    digest = geometry_digest(from_file)
    latest = latest_revision(conn, camera.site, camera.camera)
    if latest is not None and latest.file_digest == digest:
        if latest.geometry == from_file:
            return camera
        try:
            return validate_camera_data(camera.model_dump() | latest.geometry, f"revision {latest.revision}")
        except CameraConfigError as exc:
            log.error(
                "camera %s/%s: geometry revision %d (saved in the dashboard) does not fit its config file "
                "any more (%s); using the file's lines and zones",
                camera.site,
                camera.camera,
                latest.revision,
                exc.problems[0],
            )
    add_revision(
        conn,
        camera.site,
        camera.camera,
        from_file,
        origin="file",
        actor=FILE_ACTOR,
        actor_label="",
        file_digest=digest,
        now=now,
    )
    return camera
