"""The dashboard's data endpoints (``/dashboard/api/...``, viewer role) and the live stream."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, StreamingResponse

from citytally.hub import queries
from citytally.hub.access import Principal, public, require_role, token_is_active, tokens_table
from citytally.hub.api.cameras import SlugPath
from citytally.hub.api.deps import EngineDep
from citytally.hub.api.errors import ERROR_RESPONSES, ErrorResponse
from citytally.hub.api.params import time_zone
from citytally.hub.dashboard import data, exports
from citytally.hub.dashboard.exports import TmcOut
from citytally.hub.dashboard.live import live_messages
from citytally.hub.dashboard.models import (
    CameraInfo,
    CameraStatus,
    CameraSummary,
    ClientConfig,
    CountSeriesOut,
    HourProfileOut,
    IncidentDaysOut,
    Me,
    OccupancyOut,
    Overview,
    SpeedsOut,
    TurningOut,
    ViewChangesOut,
)
from citytally.hub.dashboard.settings import DashboardSettings
from citytally.hub.dashboard.speeds import speed_distribution

__all__ = ["router", "dashboard_settings"]

router = APIRouter(prefix="/dashboard/api", tags=["dashboard"], responses=ERROR_RESPONSES)
Viewer = Annotated[Principal, Depends(require_role("viewer"))]
_MAX_RANGE = timedelta(days=400)


def dashboard_settings(request: Request) -> DashboardSettings:
    """The dashboard settings: ``settings.dashboard`` of the hub settings if it has them, else defaults."""
    state = request.app.state
    found = getattr(state, "dashboard_settings", None) or getattr(state.settings, "dashboard", None)
    return found if isinstance(found, DashboardSettings) else DashboardSettings()


SettingsDep = Annotated[DashboardSettings, Depends(dashboard_settings)]
StartQ = Annotated[datetime | None, Query(description="Range start (ISO 8601); default: 24 h before end.")]
EndQ = Annotated[datetime | None, Query(description="Range end, exclusive (ISO 8601); default: now.")]


def _range(start: datetime | None, end: datetime | None, default: timedelta) -> tuple[datetime, datetime]:
    try:
        end = _aware(end) if end else datetime.now(UTC)
        start = _aware(start) if start else end - default
        queries.check_window(start, end)
    except OverflowError:  # a time in year 1 or 9999 whose UTC falls off the calendar
        raise HTTPException(422, "start or end is out of range") from None
    except queries.QueryError as exc:
        raise HTTPException(422, str(exc)) from exc
    if end <= start:
        raise HTTPException(422, f"end ({end.isoformat()}) must be after start ({start.isoformat()})")
    if end - start > _MAX_RANGE:
        raise HTTPException(422, f"range {end - start} is longer than {_MAX_RANGE.days} days")
    return start, end


TzQ = Annotated[
    str,
    Query(max_length=64, description="IANA time zone whose days the daily buckets are (e.g. Europe/Paris)."),
]


def _aware(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


#: The answers of a route that looks a camera up (and of a CSV download), for the OpenAPI document.
_NO_CAMERA: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such camera in the registry."}
}
_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "A CSV download."}
}


def _camera(engine: Any, site: str, camera: str) -> CameraInfo:
    info = data.camera_info(engine, site, camera)
    if info is None:
        raise HTTPException(404, f"no camera {site}/{camera}")
    return info


@router.get("/me", response_model=Me)
def me(who: Viewer, engine: EngineDep) -> Me:
    """Who the token belongs to and what the dashboard may show it."""
    t = tokens_table
    with engine.connect() as conn:
        label = conn.execute(sa.select(t.c.label).where(t.c.id == who.token_id)).scalar()
    return Me(
        token_id=who.token_id,
        role=who.role,
        # as acknowledgements name it: its label, its id where it has none
        name=label or f"token {who.token_id}",
        can_see_incidents=who.may("operator"),
        can_acknowledge=who.may("operator"),
    )


@router.get("/config", response_model=ClientConfig, dependencies=[Depends(public())])
def client_config(settings: SettingsDep) -> ClientConfig:
    """Base map and tile settings for the page (public: the login page needs nothing more)."""
    return ClientConfig(
        basemap_url="/dashboard/api/basemap.geojson" if settings.basemap_path() else None,
        basemap_attribution=settings.basemap_attribution,
        tile_url=settings.tile_url,
        tile_attribution=settings.tile_attribution,
    )


@router.get("/basemap.geojson", response_class=FileResponse, dependencies=[Depends(public())])
def basemap(settings: SettingsDep) -> FileResponse:
    """The site's base-map GeoJSON (streets, buildings, plazas): drawn instead of map tiles."""
    path = settings.basemap_path()
    if path is None or not path.is_file():
        raise HTTPException(404, "no base map is configured")
    return FileResponse(path, media_type="application/geo+json")


@router.get("/cameras", response_model=list[CameraSummary])
def cameras(engine: EngineDep, _who: Viewer, since: StartQ = None, until: EndQ = None) -> list[CameraSummary]:
    """Every camera, its position if it has one, and its crossings in ``since``–``until`` (default: the
    last 24 h)."""
    start, end = _range(since, until, timedelta(days=1))
    return data.camera_summaries(engine, start, end)


@router.get("/camera-status", response_model=list[CameraStatus])
def camera_status(request: Request, engine: EngineDep, _who: Viewer) -> list[CameraStatus]:
    """Every camera: reporting or silent, its newest interval, and its edge's outbox backlog if known."""
    metrics = getattr(request.app.state, "metrics", None)
    registry = getattr(metrics, "registry", None)
    return data.camera_status(engine, registry, datetime.now(UTC))


@router.get("/overview", response_model=Overview)
def overview(
    engine: EngineDep,
    _who: Viewer,
    start: StartQ = None,
    end: EndQ = None,
    tz: Annotated[str, Query(max_length=64, description="IANA zone for the heat map.")] = "UTC",
) -> Overview:
    """City totals by class, the busiest lines and activity by weekday × hour."""
    zone = time_zone(tz)
    lo, hi = _range(start, end, timedelta(days=7))
    return data.overview(engine, lo, hi, zone)


@router.get("/incident-days", response_model=IncidentDaysOut)
def incident_days(
    engine: EngineDep,
    _who: Viewer,
    tz: TzQ = "UTC",
    days: Annotated[int, Query(ge=1, le=31, description="How many days, today the last.")] = 30,
) -> IncidentDaysOut:
    """Incidents that began per local day of ``tz``, camera and type: the incidents panel's record of where
    the same trouble keeps coming back. ``/incident-counts`` has the same roll-ups in UTC buckets."""
    return data.incident_days(engine, days, time_zone(tz), datetime.now(UTC))


@router.get("/cameras/{site}/{camera}", response_model=CameraInfo, responses=_NO_CAMERA)
def camera(site: SlugPath, camera: SlugPath, engine: EngineDep, _who: Viewer) -> CameraInfo:
    """One camera's registry entry."""
    return _camera(engine, site, camera)


@router.get("/cameras/{site}/{camera}/counts", response_model=CountSeriesOut, responses=_NO_CAMERA)
def counts(
    site: SlugPath,
    camera: SlugPath,
    engine: EngineDep,
    _who: Viewer,
    start: StartQ = None,
    end: EndQ = None,
    tz: TzQ = "UTC",
) -> CountSeriesOut:
    """Crossings per bucket by line, direction and class."""
    _camera(engine, site, camera)
    zone = time_zone(tz)
    return data.count_series(engine, site, camera, *_range(start, end, timedelta(days=1)), zone)


@router.get("/cameras/{site}/{camera}/profile", response_model=HourProfileOut, responses=_NO_CAMERA)
def hour_profile(
    site: SlugPath,
    camera: SlugPath,
    engine: EngineDep,
    _who: Viewer,
    tz: TzQ = "UTC",
    days: Annotated[int, Query(ge=1, le=31, description="How many days before now.")] = 28,
) -> HourProfileOut:
    """Mean crossings per local hour of the day (of ``tz``), weekdays and weekends apart, over the hours the
    camera reported: the weekday and weekend profile."""
    _camera(engine, site, camera)
    return data.hour_profile(engine, site, camera, days, time_zone(tz), datetime.now(UTC))


BucketQ = Annotated[
    Literal["15m", "1h", "1d"] | None,
    Query(
        description="Bucket size of the rows (15m: UTC quarters; 1h and 1d: hours and days of `tz`); "
        "default: what the chart of the range uses."
    ),
]
_TMC_RANGE = timedelta(days=31)


def _csv_response(lines: Iterator[str], name: str) -> StreamingResponse:
    return StreamingResponse(
        lines, media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get("/cameras/{site}/{camera}/view-changes", response_model=ViewChangesOut, responses=_NO_CAMERA)
def view_changes(
    site: SlugPath, camera: SlugPath, engine: EngineDep, _who: Viewer, start: StartQ = None, end: EndQ = None
) -> ViewChangesOut:
    """When the camera's view was knocked, turned, covered or out of focus (its ``view_changed``
    incidents) within the range: its counts, occupancy and speeds then may be wrong."""
    _camera(engine, site, camera)
    lo, hi = _range(start, end, timedelta(days=1))
    return data.view_changes(engine, site, camera, lo, hi, datetime.now(UTC))


@router.get("/cameras/{site}/{camera}/tmc", response_model=TmcOut, responses=_NO_CAMERA)
def turning_movement_count(
    site: SlugPath, camera: SlugPath, engine: EngineDep, _who: Viewer, start: StartQ = None, end: EndQ = None
) -> TmcOut:
    """The 15-minute turning-movement count (movement × class × quarter), its peak hour and factor."""
    _camera(engine, site, camera)
    lo, hi = _range(start, end, timedelta(days=1))
    if hi - lo > _TMC_RANGE:
        raise HTTPException(422, f"a turning-movement count covers at most {_TMC_RANGE.days} days")
    return exports.turning_movement_count(engine, site, camera, lo, hi)


@router.get("/cameras/{site}/{camera}/tmc.csv", response_class=StreamingResponse, responses=_NO_CAMERA | _CSV)
def turning_movement_count_csv(
    site: SlugPath, camera: SlugPath, engine: EngineDep, who: Viewer, start: StartQ = None, end: EndQ = None
) -> StreamingResponse:
    """The turning-movement count as CSV (a row per quarter, a column per movement and class)."""
    report = turning_movement_count(site, camera, engine, who, start, end)
    name = f"{site}-{camera}-tmc.csv"
    return _csv_response(exports.tmc_csv(report, site, camera), name)


@router.get(
    "/cameras/{site}/{camera}/{kind}.csv", response_class=StreamingResponse, responses=_NO_CAMERA | _CSV
)
def export_csv(
    site: SlugPath,
    camera: SlugPath,
    kind: Literal["counts", "occupancy", "speeds", "movements"],
    engine: EngineDep,
    _who: Viewer,
    start: StartQ = None,
    end: EndQ = None,
    bucket: BucketQ = None,
    tz: TzQ = "UTC",
) -> StreamingResponse:
    """One camera's counts, occupancy, speeds or turning movements, one row per bucket and key; hourly and
    daily rows are hours and days of ``tz``."""
    _camera(engine, site, camera)
    zone = time_zone(tz)
    lo, hi = _range(start, end, timedelta(days=1))
    period = bucket or data.series_period(lo, hi)
    if hi - lo > queries.MAX_RANGE[period]:  # as the API's series: the rows are built in memory
        days = queries.MAX_RANGE[period].days
        raise HTTPException(
            422, f"a {period} export covers at most {days} days: narrow the range or choose a longer bucket"
        )
    name = f"{site}-{camera}-{kind}-{period}-{lo:%Y%m%d}-{hi:%Y%m%d}.csv"
    return _csv_response(exports.csv_lines(engine, kind, site, camera, lo, hi, period, zone), name)


@router.get("/cameras/{site}/{camera}/occupancy", response_model=OccupancyOut, responses=_NO_CAMERA)
def occupancy(
    site: SlugPath,
    camera: SlugPath,
    engine: EngineDep,
    _who: Viewer,
    start: StartQ = None,
    end: EndQ = None,
    tz: TzQ = "UTC",
) -> OccupancyOut:
    """Mean road users present per bucket, by zone and class."""
    _camera(engine, site, camera)
    zone = time_zone(tz)
    return data.occupancy_series(engine, site, camera, *_range(start, end, timedelta(days=1)), zone)


@router.get("/cameras/{site}/{camera}/turning", response_model=TurningOut, responses=_NO_CAMERA)
def turning(
    site: SlugPath, camera: SlugPath, engine: EngineDep, _who: Viewer, start: StartQ = None, end: EndQ = None
) -> TurningOut:
    """The turning-movement matrix (from zone → to zone) over the range."""
    _camera(engine, site, camera)
    return data.turning_movements(engine, site, camera, *_range(start, end, timedelta(days=1)))


@router.get("/cameras/{site}/{camera}/speeds", response_model=SpeedsOut, responses=_NO_CAMERA)
def speeds(
    site: SlugPath,
    camera: SlugPath,
    engine: EngineDep,
    _who: Viewer,
    start: StartQ = None,
    end: EndQ = None,
    tz: TzQ = "UTC",
) -> SpeedsOut:
    """The speed distribution by class over the range."""
    _camera(engine, site, camera)
    zone = time_zone(tz)
    return speed_distribution(engine, site, camera, *_range(start, end, timedelta(days=1)), zone)


@router.get("/live", response_class=StreamingResponse)
def live(
    engine: EngineDep,
    who: Viewer,
    settings: SettingsDep,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> StreamingResponse:
    """Server-Sent Events: one ``stored`` message per event stored from now on (incidents for operators).

    The token is checked again while the stream is open; a revoked or expired one ends it.
    """
    stream = live_messages(
        engine,
        settings.live_poll_seconds,
        who.may("operator"),
        last_event_id,
        still_allowed=lambda: token_is_active(engine, who.token_id),
    )
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
