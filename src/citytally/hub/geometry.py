"""The geometry editor's side of the hub: a camera's lines and zones over its masked still, as revisions.

An admin draws in the dashboard; :func:`save_geometry` validates the new lines and zones with the camera
TOML's own models (:func:`citytally.edge.config.validate_camera_data`, together with the rest of the
camera's stored config, so a turning rule or incident rule naming a deleted zone is caught), stores them as
the camera's next revision, puts them in the registry and appends an audit entry, all in one transaction.
:func:`geometry_toml` writes a revision as the ``[[lines]]`` and ``[[zones]]`` tables of a camera TOML: the
operator replaces those tables in the camera's config file (on the edge and the hub's copy) with it. The hub
never sends anything to an edge.

The still is the camera's masked placement still, ``<stills_dir>/<site>/<camera>.png`` as written by
``citytally analyze --still`` on the edge, which an operator copies to the hub; one without the mark
(:mod:`citytally.edge.masked_png`) is not shown.
"""

from __future__ import annotations

import base64
import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from citytally.edge.config import CameraConfig, LineConfig, ZoneConfig, validate_camera_data
from citytally.edge.masked_png import masked_size
from citytally.errors import CitytallyError
from citytally.hub.access_tables import tokens_table
from citytally.hub.audit import AuditEntry, append_after
from citytally.hub.store import schema
from citytally.hub.store.geometry import (
    FILE_ACTOR,
    Geometry,
    GeometryRevision,
    add_revision,
    geometry_digest,
    geometry_of,
    latest_revision,
)
from citytally.hub.store.registry import replace_geometry, upsert_camera

__all__ = [
    "EditorState",
    "GeometryConflict",
    "Still",
    "UnknownCamera",
    "editor_state",
    "save_geometry",
    "geometry_toml",
    "load_still",
    "geometry_changes",
    "SaveRequest",
    "token_label",
]

#: A still bigger than this is not sent to the browser (a 4K PNG is about 10 MiB).
MAX_STILL_BYTES = 16 * 1024 * 1024
_EDGE_SOURCE = "(kept on the edge)"


class UnknownCamera(CitytallyError):
    """No such camera in the registry."""


class GeometryConflict(CitytallyError):
    """Someone saved a newer revision since the editor loaded the one it changed."""

    def __init__(self, latest: GeometryRevision) -> None:
        who = latest.actor_label or latest.actor
        super().__init__(
            f"revision {latest.revision} was saved meanwhile ({latest.origin}, by {who}, "
            f"{latest.saved_at.isoformat(timespec='seconds')}); reload it and make your change again"
        )
        self.latest = latest


@dataclass(frozen=True)
class Still:
    """A masked still as a ``data:`` URL (the dashboard's content security policy allows those)."""

    data_url: str
    width: int
    height: int


@dataclass(frozen=True)
class EditorState:
    """What the editor opens with: the geometry in force, its revision, the frame and the still."""

    site: str
    camera: str
    geometry: Geometry
    revision: GeometryRevision | None
    frame_size: tuple[int, int] | None
    still: Still | None
    still_note: str

    @property
    def in_config_file(self) -> bool:
        """Whether the camera's config file (as last read) holds this geometry."""
        rev = self.revision
        return rev is None or rev.origin == "file" or geometry_digest(rev.geometry) == rev.file_digest


def load_still(stills_dir: Path | None, site: str, camera: str) -> tuple[Still | None, str]:
    """The camera's masked still, or ``None`` and a note saying why there is none."""
    blank = "the editor shows a blank frame instead"
    if stills_dir is None:
        return None, f"This hub has no stills folder (stills_dir in the hub config), so {blank}."
    path = stills_dir / site / f"{camera}.png"
    try:
        size = path.stat().st_size if path.is_file() else None
        raw = path.read_bytes() if size is not None and size <= MAX_STILL_BYTES else None
    except OSError as exc:
        return None, f"The still {site}/{camera}.png cannot be read ({exc.strerror}), so {blank}."
    if size is None:
        return None, (
            f"No masked still of this camera ({site}/{camera}.png in the hub's stills folder; "
            f"`citytally analyze --still` writes one), so {blank}."
        )
    if raw is None:
        return None, f"The still {site}/{camera}.png is larger than {MAX_STILL_BYTES} bytes, so {blank}."
    found = masked_size(raw)
    if found is None:
        return None, (
            f"{site}/{camera}.png is not a masked still written by citytally (it lacks the mark), so it "
            f"is not shown and {blank}."
        )
    return Still("data:image/png;base64," + base64.b64encode(raw).decode("ascii"), *found), ""


def _stored_config(conn: sa.Connection, site: str, camera: str) -> dict[str, Any]:
    c = schema.cameras
    row = conn.execute(sa.select(c.c.config).where(c.c.site == site, c.c.camera == camera)).first()
    if row is None:
        raise UnknownCamera(f"no camera {site}/{camera}")
    config: dict[str, Any] = row.config
    return config


def editor_state(engine: sa.Engine, site: str, camera: str, stills_dir: Path | None) -> EditorState:
    """The camera's geometry in force, with its revision, frame size and still; :class:`UnknownCamera`."""
    with engine.connect() as conn:
        config = _stored_config(conn, site, camera)
        latest = latest_revision(conn, site, camera)
    geometry = {"lines": config.get("lines", []), "zones": config.get("zones", [])}
    still, note = load_still(stills_dir, site, camera)
    size = (config.get("source") or {}).get("frame_size")
    frame = (int(size[0]), int(size[1])) if size else (still.width, still.height) if still else None
    return EditorState(site, camera, geometry, latest, frame, still, note)


def _validated(site: str, camera: str, stored: dict[str, Any], geometry: Geometry) -> CameraConfig:
    """The camera with the new geometry, validated like its TOML file (:class:`CameraConfigError`)."""
    data = dict(stored)
    # The source URL stays on the edge; a placeholder keeps the model whole (frame_size is checked).
    data["source"] = {**(stored.get("source") or {}), "uri": _EDGE_SOURCE}
    data["lines"], data["zones"] = geometry["lines"], geometry["zones"]
    return validate_camera_data(data, f"{site}/{camera}")


def token_label(conn: sa.Connection, token_id: str) -> str:
    """The label an admin gave a token (who it is for), or ``""``."""
    label = conn.execute(sa.select(tokens_table.c.label).where(tokens_table.c.id == token_id)).scalar()
    return str(label or "")


@dataclass(frozen=True)
class SaveRequest:
    """Who saves which geometry over which revision, for :func:`save_geometry`."""

    site: str
    camera: str
    lines: Sequence[dict[str, Any]]
    zones: Sequence[dict[str, Any]]
    base_revision: int | None
    token_id: str
    role: str
    path: str = ""
    client: str | None = None


def save_geometry(engine: sa.Engine, request: SaveRequest) -> tuple[GeometryRevision | None, bool]:
    """Validate and store a new geometry with its audit entry; return (the revision in force, changed).

    Raises :class:`~citytally.edge.config.CameraConfigError` (every problem, located), :class:`UnknownCamera`
    or :class:`GeometryConflict` (``base_revision`` is not the latest). Saving what is in force already
    stores nothing.
    """
    site, camera = request.site, request.camera
    geometry: Geometry = {"lines": list(request.lines), "zones": list(request.zones)}
    with engine.connect() as conn:
        stored = _stored_config(conn, site, camera)
        latest = latest_revision(conn, site, camera)
    new = geometry_of(_validated(site, camera, stored, geometry))
    _check_base(latest, request.base_revision)
    current = {"lines": stored.get("lines", []), "zones": stored.get("zones", [])}
    if new == current:
        return latest, False
    saved: list[GeometryRevision] = []

    def work(conn: sa.Connection) -> AuditEntry:
        # again under the audit lock, so two admins saving at once cannot both extend the same revision
        head = latest_revision(conn, site, camera)
        _check_base(head, request.base_revision)
        in_force = _validated(site, camera, _stored_config(conn, site, camera), new)
        now = datetime.now(UTC)
        upsert_camera(conn, in_force, now)
        replace_geometry(conn, in_force)
        label = token_label(conn, request.token_id)
        digest = head.file_digest if head is not None else geometry_digest(current)
        revision = add_revision(
            conn, site, camera, new, origin="dashboard", actor=request.token_id, actor_label=label,
            file_digest=digest, now=now,
        )  # fmt: skip
        saved.append(revision)
        detail = {"site": site, "camera": camera, "revision": revision.revision, "label": label}
        detail["changes"] = geometry_changes(current, new)
        return AuditEntry(
            kind="camera_geometry", actor=request.token_id, role=request.role, method="PUT",
            path=request.path, client=request.client, detail=detail,
        )  # fmt: skip

    append_after(engine, work)
    return saved[0], True


def _check_base(latest: GeometryRevision | None, base: int | None) -> None:
    if base is not None and latest is not None and latest.revision != base:
        raise GeometryConflict(latest)


def geometry_changes(old: Geometry, new: Geometry) -> dict[str, dict[str, list[str]]]:
    """Which lines and zones were added, removed or changed (by name), for the audit log."""
    found: dict[str, dict[str, list[str]]] = {}
    for kind in ("lines", "zones"):
        before = {item["name"]: item for item in old.get(kind, [])}
        after = {item["name"]: item for item in new.get(kind, [])}
        found[kind] = {
            "added": sorted(after.keys() - before.keys()),
            "removed": sorted(before.keys() - after.keys()),
            "changed": sorted(n for n in after.keys() & before.keys() if after[n] != before[n]),
        }
    return found


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string for every text JSON escapes
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _toml_table(kind: str, item: dict[str, Any], model: type[LineConfig] | type[ZoneConfig]) -> list[str]:
    """One ``[[lines]]`` or ``[[zones]]`` table; fields left at their default are left out."""
    out = [f"[[{kind}]]"]
    for name, field in model.model_fields.items():
        if name not in item or item[name] is None:
            continue
        if not field.is_required() and field.default == item[name]:
            continue
        out.append(f"{name} = {_toml_value(item[name])}")
    return out


def _one_line(text: str) -> str:
    """``text`` with every control character a space: a label made before they were refused (or on the
    command line) cannot end the comment it is written into and start TOML of its own."""
    return "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)


def geometry_toml(state: EditorState) -> str:
    """The geometry in force as the ``[[lines]]`` and ``[[zones]]`` tables of a camera TOML."""
    rev = state.revision
    head = [f"# Lines and zones of camera {state.site}/{state.camera}"]
    if rev is not None:
        label = _one_line(rev.actor_label or "no label")
        who = FILE_ACTOR if rev.origin == "file" else f"{label} (token {rev.actor})"
        head.append(
            f"# revision {rev.revision}, saved {rev.saved_at.isoformat(timespec='seconds')} "
            f"({'its config file' if rev.origin == 'file' else 'the dashboard'}; {who})"
        )
    head += [
        "# Replace every [[lines]] and [[zones]] table of the camera's config file with these, on the edge",
        "# and in the hub's copy, and restart both (docs/camera-config.md, 'Drawing lines and zones').",
    ]
    parts = ["\n".join(head)]
    for item in state.geometry["lines"]:
        parts.append("\n".join(_toml_table("lines", item, LineConfig)))
    for item in state.geometry["zones"]:
        parts.append("\n".join(_toml_table("zones", item, ZoneConfig)))
    return "\n\n".join(parts) + "\n"
