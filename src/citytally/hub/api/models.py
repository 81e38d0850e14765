"""Response models of the series and registry endpoints (API types, not table rows)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from citytally.events import IncidentType
from citytally.hub.queries import Interval

__all__ = [
    "CountPoint",
    "SpeedPoint",
    "OccupancyPoint",
    "MovementPoint",
    "CountSeries",
    "SpeedSeries",
    "OccupancySeries",
    "MovementSeries",
    "NamedShape",
    "CameraOut",
    "CameraActivity",
]


_BUCKET = "Bucket start: UTC, or with `tz` the zone's offset then (a local hour's or day's start)."


def _view_changed() -> Any:
    """The last field of every series point (the routes write rows in the model's order)."""
    return Field(
        description="The camera's view was knocked, turned, covered or out of focus during part of the "
        "bucket (a `view_changed` incident): its numbers may be wrong. Summed over cameras: any of them."
    )


class _Point(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    bucket: datetime = Field(description=_BUCKET)
    site: str
    camera: str


class CountPoint(BaseModel):
    """Crossings in one bucket; a column not in ``group_by`` was summed over and is null."""

    model_config = ConfigDict(populate_by_name=True)

    bucket: datetime = Field(description=_BUCKET)
    site: str | None
    camera: str | None
    line: str | None
    direction: str | None
    cls: str | None = Field(alias="class")
    count: int = Field(ge=0, description="Crossings in the bucket.")
    view_changed: bool = _view_changed()


class SpeedPoint(_Point):
    line: str
    direction: str
    cls: str = Field(alias="class")
    n: int = Field(description="Road users whose speed was measured.")
    mean_kmh: float | None
    p85_max_kmh: float = Field(description="Highest reported 85th-percentile speed in the bucket.")
    view_changed: bool = _view_changed()


class OccupancyPoint(_Point):
    zone: str
    cls: str = Field(alias="class")
    samples: int = Field(description="Reported intervals folded into the bucket.")
    mean: float | None = Field(description="Mean number present.")
    peak_max: int = Field(description="Most present at once.")
    view_changed: bool = _view_changed()


class MovementPoint(_Point):
    from_zone: str
    to_zone: str
    cls: str = Field(alias="class")
    count: int
    view_changed: bool = _view_changed()


class IncidentCountPoint(BaseModel):
    """Incidents that began in one bucket at one camera, of one type and severity."""

    bucket: datetime = Field(description=_BUCKET)
    site: str
    camera: str
    incident: IncidentType
    severity: Literal["info", "warning", "critical"]
    count: int = Field(ge=1, description="Incidents that began in the bucket (each once, at its onset).")
    view_changed: bool = _view_changed()


class _Series(BaseModel):
    interval: Interval
    start: datetime
    end: datetime
    tz: str = Field(description="The time zone whose hours and days the buckets are (`tz`; UTC if none).")
    truncated: bool = Field(description="True when `limit` cut the answer short; narrow the window.")


class CountSeries(_Series):
    points: list[CountPoint]


class IncidentCountSeries(_Series):
    points: list[IncidentCountPoint]


class SpeedSeries(_Series):
    points: list[SpeedPoint]


class OccupancySeries(_Series):
    points: list[OccupancyPoint]


class MovementSeries(_Series):
    points: list[MovementPoint]


class NamedShape(BaseModel):
    name: str
    config: dict[str, Any] = Field(description="Geometry (image pixels) and options, as configured.")


class CameraOut(BaseModel):
    """A camera's public record: what it is for, on what legal basis, and whom to ask."""

    site: str
    camera: str
    location: str
    lat: float | None
    lon: float | None
    purpose: str
    legal_basis: str
    retention_days: int | None
    contact: str
    updated_at: datetime
    lines: list[NamedShape]
    zones: list[NamedShape]


class CameraActivity(BaseModel):
    site: str
    camera: str
    last_interval_start: datetime | None = Field(description="Start of the newest stored interval.")
