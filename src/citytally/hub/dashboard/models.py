"""What the dashboard's data endpoints answer (API schemas, not table rows)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Me",
    "ClientConfig",
    "CameraSummary",
    "CameraInfo",
    "CameraStatus",
    "BusyLine",
    "Overview",
    "CountSeries",
    "CountSeriesOut",
    "OccupancySeries",
    "OccupancyOut",
    "MovementCell",
    "TurningOut",
    "SpeedClass",
    "V85Series",
    "SpeedsOut",
    "IncidentOut",
    "IncidentSummaryOut",
    "IncidentDayCount",
    "IncidentDaysOut",
    "HourProfileOut",
]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Me(_Out):
    token_id: str
    role: str
    name: str = Field(
        description="What the top bar shows: the token's label, else its id (never its secret)."
    )
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
    lat: float | None = Field(description="None: no position configured (listed, not on the map).")
    lon: float | None
    total: int = Field(description="Line crossings in `since`–`until` (all lines, directions and classes).")


class CameraStatus(_Out):
    site: str
    camera: str
    state: str = Field(description="reporting, silent (no data for more than two intervals) or no data")
    last_data_end: datetime | None = Field(description="End of the newest interval the camera reported.")
    last_received_at: datetime | None = Field(description="When the hub received that interval.")
    interval_s: float | None = Field(description="Length of the camera's reporting interval.")
    outbox_depth: int | None = Field(
        description="Events waiting in the edge's outbox, as its latest status said (null: no status "
        "reached this hub process)."
    )
    outbox_oldest_s: float | None = Field(description="How long the oldest of them had waited.")
    outbox_held: int | None = Field(
        default=None,
        description="Of them, events the edge holds in memory because its outbox file refuses them (a full "
        "or failing disk): lost if the edge stops first.",
    )
    outbox_dropped: int | None = Field(
        default=None,
        description="The camera's events its edge dropped since it started (the outbox file refused them and "
        "the memory hold was full, or it stopped holding them): lost.",
    )
    status_at: datetime | None = Field(description="When the edge measured that status.")
    view_changed: str | None = Field(
        default=None,
        description="While the camera's view is knocked, turned, covered or out of focus (an open "
        "`view_changed` incident, reported within 15 minutes), how: moved, lost or blurred; its counts "
        "meanwhile may be wrong. Null otherwise.",
    )


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
    values: list[int | None] = Field(
        description="Crossings per bucket: 0 when the camera reported and none crossed, null when the "
        "camera sent nothing for the bucket (offline or not yet reported)."
    )


class CountSeriesOut(_Out):
    period: str = Field(description="Bucket size: 15m, 1h or 1d (days of `tz`).")
    tz: str = Field(description="Time zone of daily buckets (IANA).")
    times: list[int] = Field(description="Bucket starts, milliseconds since the epoch (UTC).")
    reported: list[bool] = Field(description="Per bucket: did the camera send counts for it?")
    series: list[CountSeries]
    total: int


class OccupancySeries(_Out):
    zone: str
    cls: str
    values: list[float | None] = Field(description="Mean present per bucket; null: no data for the bucket.")


class OccupancyOut(_Out):
    period: str
    tz: str
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
    counts: list[int] = Field(
        description="Road users per bin of their own speed (the edges' per-interval histograms summed)."
    )
    n: int = Field(description="Road users whose speed was measured in the range.")
    n_binned: int = Field(
        description="Of those, the road users in `counts`: intervals from edges that send no histogram "
        "(older ones) count in `n` and `mean_kmh` only."
    )
    mean_kmh: float = Field(description="Mean speed over the range (interval means weighted by n).")
    v85_kmh: float | None = Field(
        description="85th-percentile speed of the road users in `counts`, interpolated within its bin; "
        "null when none were binned."
    )


class V85Series(_Out):
    line: str
    direction: str
    cls: str
    values: list[float | None] = Field(
        description="Per bucket, V85 (85th-percentile speed) read off the bucket's road users' summed 5 km/h "
        "bins (interpolated within a bin); null where none of them was binned. Where `binned` is below "
        "`measured` it is the V85 of the binned road users only."
    )
    measured: list[int | None] = Field(
        description="Per bucket, the road users whose speed was measured; null where none was."
    )
    binned: list[int] = Field(description="Per bucket, of those, the road users in the bins behind `values`.")
    unbinned_v85: list[float | None] = Field(
        description="Per bucket with measured road users but no bins (edges that send none): the highest "
        "interval V85, which the bucket's own V85 does not exceed; null elsewhere."
    )


class SpeedsOut(_Out):
    bin_width: int
    bins: list[int] = Field(description="Lower edge of each bin, km/h.")
    series: list[SpeedClass]
    period: str
    tz: str
    times: list[int] = Field(description="Bucket starts of `v85`, milliseconds since the epoch (UTC).")
    v85: list[V85Series]


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
    acknowledged_at: datetime | None = Field(
        description=(
            "When it was first acknowledged at its current severity or a worse one (null: it waits for one,"
            " also when an update made it more severe than it was acknowledged at)."
        )
    )
    acknowledged_by: str | None = Field(description="The acknowledging token's id (as audited).")
    acknowledged_by_label: str | None = Field(
        default=None, description="The acknowledging token's label (its id when it has none)."
    )
    incident_id: uuid.UUID | None = Field(
        default=None, description="Shared by an incident's onset, updates and clearance (null: a one-off)."
    )
    phase: str | None = Field(default=None, description="The latest event's phase: onset, update or cleared.")
    open: bool = Field(
        default=False, description="Still going on at `end` (its latest event is not cleared)."
    )
    silent: bool = Field(
        default=False,
        description="Open, but not reported for 15 minutes (by its reports' time and by when they reached "
        "the hub), where an edge reports an open incident every 5: its edge has stopped (killed, powered "
        "off, cut off) and may never clear it.",
    )


class IncidentSummaryOut(_Out):
    open: int = Field(description="Incidents not acknowledged yet.")
    by_severity: dict[str, int] = Field(description="severity → incidents not acknowledged yet")


class IncidentDayCount(_Out):
    day: date = Field(description="The local day (of `tz`) the incidents began on.")
    site: str
    camera: str
    incident: str
    count: int = Field(description="Incidents of this type that began that day at this camera.")


class IncidentDaysOut(_Out):
    tz: str = Field(description="Time zone of the days (IANA).")
    days: list[date] = Field(description="Every day of the range, oldest first, today last.")
    counts: list[IncidentDayCount] = Field(description="Only where some began.")


class ViewChangeOut(_Out):
    start: datetime = Field(description="When the camera's view began to differ from the one it learned.")
    end: datetime = Field(
        description="When the view was back; while open, now by the edge's clock (its latest report's time "
        "plus the time since the hub heard it: a file replayed with a past start_time ends at its own now); "
        "if stale, 15 minutes after its last report."
    )
    open: bool = Field(description="Still changed, as the camera reports it.")
    stale: bool = Field(
        description="Never cleared, and not reported for 15 minutes (its edge keeps reporting an open "
        "incident every 5; neither its latest report's time nor when the hub heard it is within 15 minutes "
        "of now): the edge went away (killed, powered off); taken to end 15 minutes after its last report."
    )
    last_report: datetime = Field(description="The end of the incident's latest event.")
    change: str | None = Field(description="moved, lost (covered, turned away) or blurred, as the edge said.")


class ViewChangesOut(_Out):
    changes: list[ViewChangeOut] = Field(
        description="The camera's `view_changed` incidents that overlap the range, oldest first: while its "
        "view was knocked, turned, covered or out of focus its counts, occupancy and speeds may be wrong."
    )


class HourProfileOut(_Out):
    tz: str = Field(description="Time zone of the hours (IANA).")
    days: int = Field(description="Days before now that the profile covers.")
    weekday: list[float | None] = Field(
        description="Mean crossings in each local hour 0-23, Monday to Friday; null: no such hour reported."
    )
    weekend: list[float | None] = Field(description="The same, Saturday and Sunday.")
    hours: int = Field(
        description="Local hours in which the camera reported counts (an offline hour is left out)."
    )
