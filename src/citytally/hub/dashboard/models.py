"""What the dashboard's data endpoints answer (API schemas, not table rows)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Me",
    "ClientConfig",
    "CameraSummary",
    "CameraInfo",
    "BusyLine",
    "Overview",
    "CountSeries",
    "CountSeriesOut",
    "OccupancySeries",
    "OccupancyOut",
    "MovementCell",
    "TurningOut",
    "SpeedClass",
    "SpeedsOut",
    "IncidentOut",
]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Me(_Out):
    token_id: str
    role: str
    name: str = Field(description="What the top bar shows: the token id (never the secret).")
    can_see_incidents: bool
    can_acknowledge: bool


class ClientConfig(_Out):
    basemap_url: str | None = Field(description="Where the page fetches the base-map GeoJSON, if any.")
    basemap_attribution: str
    tile_url: str | None
    tile_attribution: str


class CameraSummary(_Out):
    site: str
    camera: str
    name: str
    location: str
    lat: float
    lon: float
    total: int = Field(description="Line crossings since `since` (all lines, directions and classes).")


class CameraInfo(_Out):
    site: str
    camera: str
    name: str
    location: str
    purpose: str
    lat: float | None
    lon: float | None
    lines: list[str]
    zones: list[str]


class BusyLine(_Out):
    site: str
    camera: str
    camera_name: str
    line: str
    total: int


class Overview(_Out):
    start: datetime
    end: datetime
    totals: dict[str, int] = Field(description="class → crossings in the range, every camera")
    busiest_lines: list[BusyLine]
    heatmap: list[list[int]] = Field(description="[weekday 0=Mon][hour 0-23] crossings, in the asked tz")


class CountSeries(_Out):
    line: str
    direction: str
    cls: str
    values: list[int]


class CountSeriesOut(_Out):
    period: str
    times: list[int] = Field(description="Bucket starts, milliseconds since the epoch (UTC).")
    series: list[CountSeries]
    total: int


class OccupancySeries(_Out):
    zone: str
    cls: str
    values: list[float | None]


class OccupancyOut(_Out):
    period: str
    times: list[int]
    series: list[OccupancySeries]


class MovementCell(_Out):
    from_zone: str
    to_zone: str
    count: int


class TurningOut(_Out):
    movements: list[MovementCell]


class SpeedClass(_Out):
    cls: str
    counts: list[int] = Field(description="Road users per bin (by their interval's mean speed).")
    n: int
    mean_kmh: float
    p85_kmh: float = Field(description="Interval 85th-percentile speeds, averaged weighted by road users.")


class SpeedsOut(_Out):
    bin_width: int
    bins: list[int] = Field(description="Lower edge of each bin, km/h.")
    series: list[SpeedClass]


class IncidentOut(_Out):
    id: uuid.UUID
    site: str
    camera: str
    camera_name: str
    start: datetime
    end: datetime
    incident: str
    severity: str
    zone: str | None
    line: str | None
    details: dict[str, float | int | str]
    acknowledged_at: datetime | None
    acknowledged_by: str | None
