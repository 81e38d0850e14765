"""Hub settings: one TOML file plus the environment (the only place secrets may come from).

```toml
cameras = ["cameras/plaza-cam-1.toml"]        # camera configs (citytally.edge.config), relative to this file
stills_dir = "stills"                          # the geometry editor's masked stills: <site>/<camera>.png

[database]                                     # or CITYTALLY_DATABASE_URL (which may hold a password)
url = "postgresql+psycopg://citytally@db.example.org/citytally"

[mqtt]                                         # password: CITYTALLY_MQTT_PASSWORD
host = "broker.example.org"
port = 8883
tls = true
username = "hub"

[sites.plaza]
name = "Plaza junction"

[retention]                                    # days; the retention job enforces them
raw_events_days = 90
```

A bad file raises :class:`~citytally.errors.ConfigError` with one ``file: dotted.path: problem`` line per
problem.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from citytally.config_text import field_message, key_lines, line_of, located, read_config_text
from citytally.edge.config import CameraConfig, load_reporting_camera_config
from citytally.errors import ConfigError
from citytally.events import SLUG_PATTERN
from citytally.hub.audit_checkpoints import AuditSettings
from citytally.hub.dashboard.settings import DashboardSettings
from citytally.hub.store.engine import DEFAULT_DATABASE_URL
from citytally.hub.store.limits import MessageLimits
from citytally.redaction import redact_url
from citytally.transport.mqtt import MqttSettings

__all__ = [
    "DATABASE_URL_ENV",
    "DatabaseSettings",
    "IngestSettings",
    "ApiSettings",
    "SiteSettings",
    "RetentionSettings",
    "HubSettings",
    "load_hub_settings",
    "parse_hub_settings",
]

DATABASE_URL_ENV = "CITYTALLY_DATABASE_URL"

Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]
Days = Annotated[int, Field(ge=1, le=36500)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Model):
    """Where the hub stores: a SQLite file by default, PostgreSQL when a URL is given."""

    url: str | None = Field(
        default=None,
        max_length=2000,
        description=f"sqlite:///PATH or postgresql+psycopg://USER@HOST/DB, without a password (put a URL "
        f"with a password in ${DATABASE_URL_ENV}, which wins). None: {DEFAULT_DATABASE_URL}.",
    )

    @field_validator("url")
    @classmethod
    def _no_password(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parsed = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL: {exc}") from None
        if parsed.password:
            raise ValueError(f"holds a password ({redact_url(parsed)}): set ${DATABASE_URL_ENV} instead")
        return value

    def resolved_url(self) -> str:
        """The URL to connect to: the environment's, else the file's, else the default SQLite file."""
        return os.environ.get(DATABASE_URL_ENV) or self.url or DEFAULT_DATABASE_URL


class IngestSettings(_Model):
    """How ingest groups messages into database transactions."""

    batch_max: int = Field(default=5000, ge=1, le=100_000, description="Most messages per transaction.")
    batch_wait_ms: int = Field(
        default=50,
        ge=0,
        le=10_000,
        description="Longest a message waits for its batch to fill, milliseconds.",
    )
    writers: int = Field(
        default=2,
        ge=1,
        le=16,
        description="PostgreSQL: batches stored side by side, each on its own connection (SQLite: always 1).",
    )
    accept_unknown_cameras: bool = Field(
        default=False, description="Store events from cameras the registry does not list (else dead-letter)."
    )
    retry_max_s: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="Longest pause between retries while the database is down (so long after it is back, "
        "at most, before ingest goes on).",
    )
    stall_after_s: float = Field(
        default=60.0,
        gt=0,
        le=86400,
        description="Messages waiting this long with no batch stored: /health answers 503 'stalled'.",
    )
    max_queued_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1024 * 1024,
        le=64 * 1024 * 1024 * 1024,
        description="Received messages waiting to be stored hold at most this much: a QoS 0 message that "
        "would go over it is dropped and counted (edges publish at QoS 1, whose messages the broker holds "
        "back instead: at most receive_maximum of them are unacknowledged).",
    )
    max_message_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1024,
        le=256 * 1024 * 1024,
        description="A longer message is one dead letter (too_large), checked before parsing.",
    )
    max_events_per_message: int = Field(
        default=10_000,
        ge=1,
        le=1_000_000,
        description="A longer array is one dead letter (too_large); edge outboxes send 200 by default.",
    )
    max_nesting: int = Field(
        default=16, ge=6, le=1000, description="Deeper JSON is one dead letter (too_large); events need 6."
    )
    max_event_age_days: int | None = Field(
        default=3650,
        ge=1,
        le=36500,
        description="Events that start longer ago than this (when received) are dead-lettered (time_window); "
        "None: no bound. The default matches the roll-ups' retention.",
    )
    max_event_future_s: int | None = Field(
        default=3600,
        ge=0,
        le=366 * 86400,
        description="Events that end this much later than they were received are dead-lettered "
        "(time_window: the edge's clock is wrong); None: no bound.",
    )

    def message_limits(self) -> MessageLimits:
        """The bounds the hub's event writer applies to each message."""
        days, future = self.max_event_age_days, self.max_event_future_s
        return MessageLimits(
            max_bytes=self.max_message_bytes,
            max_events=self.max_events_per_message,
            max_depth=self.max_nesting,
            max_past=timedelta(days=days) if days is not None else None,
            max_future=timedelta(seconds=future) if future is not None else None,
        )


class ApiSettings(_Model):
    """Where the API and dashboard listen."""

    host: str = Field(default="127.0.0.1", min_length=1, max_length=253, description="Listen address.")
    port: int = Field(default=8080, ge=1, le=65535, description="Listen port.")
    enabled: bool = Field(default=True, description="Serve the API and dashboard from the hub command.")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="Addresses or networks (10.0.0.0/8) of reverse proxies whose X-Forwarded-For names the "
        "client (for the audit log and the failed-login throttle). Empty (the default): the header is "
        "ignored and the connecting address counts.",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return value


class SiteSettings(_Model):
    """A site's display name and description (its cameras come from their camera configs)."""

    name: str = Field(default="", max_length=200, description="Display name.")
    description: str = Field(default="", max_length=2000, description="What and where the site is.")


class RetentionSettings(_Model):
    """How long each class of data is kept, in days (None: until an operator deletes it).

    A camera's own ``metadata.retention_days``, when shorter, bounds its raw events and facts.
    """

    raw_events_days: Days | None = Field(default=90, description="Raw events and their fact rows.")
    rollups_days: Days | None = Field(default=3650, description="15-minute, hourly and daily roll-ups.")
    dead_letters_days: Days | None = Field(default=30, description="Refused messages kept for inspection.")
    audit_log_days: Days | None = Field(default=365, description="The access audit log.")


class HubSettings(_Model):
    """Everything the ``citytally hub`` command reads."""

    cameras: list[Path] = Field(
        default_factory=list, max_length=10_000, description="Camera config files, relative to this file."
    )
    database: DatabaseSettings = Field(default_factory=DatabaseSettings, description="The store.")
    mqtt: MqttSettings = Field(default_factory=MqttSettings, description="The broker.")
    ingest: IngestSettings = Field(default_factory=IngestSettings, description="Ingest batching.")
    api: ApiSettings = Field(default_factory=ApiSettings, description="The API server.")
    sites: dict[Slug, SiteSettings] = Field(default_factory=dict, description="Site names and descriptions.")
    retention: RetentionSettings = Field(
        default_factory=RetentionSettings, description="Retention per class."
    )
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings, description="Dashboard.")
    audit: AuditSettings = Field(default_factory=AuditSettings, description="Audit-log checkpoints.")
    stills_dir: Path | None = Field(
        default=None,
        description="Folder of masked camera stills for the geometry editor, <site>/<camera>.png each as "
        "`citytally analyze --still` writes them, relative to this file (None: blank frames).",
    )
    base_dir: Path = Field(
        default=Path("."),
        exclude=True,
        description="Directory relative paths are resolved against (set by the loader).",
    )

    def stills_path(self) -> Path | None:
        """``stills_dir`` resolved against the config file's folder."""
        if self.stills_dir is None:
            return None
        return self.stills_dir if self.stills_dir.is_absolute() else self.base_dir / self.stills_dir

    def load_cameras(self) -> list[CameraConfig]:
        """Read every listed camera config; refuse two configs for the same site/camera."""
        found: list[CameraConfig] = []
        seen: dict[tuple[str, str], Path] = {}
        for relative in self.cameras:
            path = relative if relative.is_absolute() else self.base_dir / relative
            camera = load_reporting_camera_config(path)
            key = (camera.site, camera.camera)
            if key in seen:
                raise ConfigError(f"{path}: camera {key[0]}/{key[1]} is already configured by {seen[key]}")
            seen[key] = path
            found.append(camera)
        return found


def parse_hub_settings(text: str, source: str = "<hub config>", base_dir: Path | None = None) -> HubSettings:
    """Validate hub config TOML text; ``source`` names it in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    lines = key_lines(text)
    if "base_dir" in data:
        line = line_of(lines, ("base_dir",))
        raise ConfigError(f"{source}:{line}: base_dir: is set by the loader, not in the file")
    if {"site", "camera"} <= data.keys():  # ten "unknown field" lines said nothing of the mix-up
        raise ConfigError(
            f"{source}: this is a camera config (it has site and camera), not a hub config: list it in the "
            "hub config's cameras = [...], and give the hub its own file (or none: every default)"
        )
    try:
        return HubSettings.model_validate(data | {"base_dir": base_dir or Path(".")})
    except ValidationError as exc:
        problems = [
            located(source, lines, err["loc"], field_message(err["type"], err["msg"])) for err in exc.errors()
        ]
        header = [f"{source}: {len(problems)} problems"] if len(problems) > 1 else []
        raise ConfigError("\n".join(header + problems)) from None


def load_hub_settings(path: Path | None) -> HubSettings:
    """Read the hub config file (``None``: every default, for a quick local hub)."""
    if path is None:
        return HubSettings()
    text = read_config_text(path, "hub config")
    return parse_hub_settings(text, source=str(path), base_dir=path.resolve().parent)
