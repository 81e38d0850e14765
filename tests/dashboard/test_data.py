"""The dashboard's range arithmetic, settings, register escaping and the live cursor."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from citytally.edge.config import CameraConfig
from citytally.events import IncidentEvent, LineCountEvent, ZoneOccupancyEvent
from citytally.hub.config import RetentionSettings
from citytally.hub.dashboard.data import (
    _segments,
    bucket_times,
    camera_status,
    count_series,
    hour_profile,
    occupancy_series,
    overview,
    series_period,
)
from citytally.hub.dashboard.live import LOOKBACK, LiveCursor
from citytally.hub.dashboard.settings import DashboardSettings
from citytally.hub.queries import QueryError
from citytally.hub.register import build_register, render_register_html
from citytally.hub.store import EventWriter, create_store_engine, migrate, sqlite_url, sync_registry

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # a Monday, 00:00 UTC
H = timedelta(hours=1)
D = timedelta(days=1)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (T0 + 3 * H, T0 + 5 * H, [("1h", T0 + 3 * H, T0 + 5 * H)]),
        (T0, T0 + 2 * D, [("1d", T0, T0 + 2 * D)]),
        (
            T0 - 2 * H,
            T0 + D + 3 * H,
            [("1d", T0, T0 + D), ("1h", T0 - 2 * H, T0), ("1h", T0 + D, T0 + D + 3 * H)],
        ),
        (T0 + 22 * H, T0 + 26 * H, [("1h", T0 + 22 * H, T0 + 26 * H)]),
    ],
)
def test_range_sums_use_whole_days_and_hours_at_the_edges(
    start: datetime, end: datetime, expected: list[tuple[str, datetime, datetime]]
) -> None:
    assert _segments(start, end) == expected


@pytest.mark.parametrize(
    ("span", "period", "buckets"),
    [(D, "15m", 96), (3 * D, "15m", 288), (7 * D, "1h", 168), (31 * D, "1h", 744), (90 * D, "1d", 90)],
)
def test_series_period_keeps_charts_under_a_thousand_points(
    span: timedelta, period: str, buckets: int
) -> None:
    assert series_period(T0, T0 + span) == period
    times = bucket_times(T0, T0 + span, period)
    assert len(times) == buckets and times[0] == T0


@pytest.mark.parametrize(
    ("tile_url", "error"),
    [
        (None, None),
        ("https://tiles.example.org/{z}/{x}/{y}.png", None),
        ("https://tiles.example.org/tile.png", "must contain {z}, {x} and {y}"),
        ("ftp://tiles.example.org/{z}/{x}/{y}.png", "must be an http(s) URL"),
    ],
)
def test_tile_url_is_checked(tile_url: str | None, error: str | None) -> None:
    if error is None:
        assert DashboardSettings(tile_url=tile_url).tile_url == tile_url
    else:
        with pytest.raises(ValidationError, match=error.replace("(", r"\(").replace(")", r"\)")):
            DashboardSettings(tile_url=tile_url)


def test_settings_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="extra"):
        DashboardSettings.model_validate({"tiles": "x"})


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    store = create_store_engine(sqlite_url(tmp_path / "hub.sqlite3"))
    migrate(store)
    return store


def _camera(purpose: str) -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "site": "plaza",
            "camera": "cam-1",
            "metadata": {"lat": 52.37, "lon": 4.89, "purpose": purpose, "retention_days": 30},
            "source": {"uri": "/dev/null"},
            "lines": [{"name": "north", "p1": [0, 1], "p2": [9, 1], "directions": ["in", "out"]}],
        }
    )


@pytest.mark.integration
def test_register_escapes_what_operators_typed(engine: sa.Engine) -> None:
    sync_registry(engine, [_camera('<script>alert("x")</script> counting')])
    page = render_register_html(build_register(engine, DashboardSettings(), retention=RetentionSettings()))
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "30 days after the start of the interval" in page


def _one_car(start: datetime) -> LineCountEvent:
    """A minute's count of one car on line north, from ``start`` (a fresh id each call)."""
    return _counts(start, {"in": {"car": 1}}, minutes=1)


@pytest.mark.integration
def test_live_cursor_sends_each_event_once_even_when_it_commits_late(engine: sa.Engine) -> None:
    sync_registry(engine, [_camera("count")])
    writer = EventWriter(engine)
    now = datetime.now(UTC)

    cursor = LiveCursor(after=now)
    first = _one_car(now.replace(second=0, microsecond=0))
    writer.write_events([first], received_at=now + timedelta(seconds=1))
    assert [m["id"] for m in cursor.poll_summaries(engine, include_incidents=False)] == [str(first.id)]
    # stamped before the cursor (its transaction began earlier) but committed only now
    late = _one_car(now.replace(second=0, microsecond=0))
    writer.write_events([late], received_at=now + timedelta(seconds=1) - LOOKBACK / 2)
    assert [m["id"] for m in cursor.poll_summaries(engine, include_incidents=False)] == [str(late.id)]
    assert cursor.poll_summaries(engine, include_incidents=False) == []


@pytest.mark.integration
def test_live_cursor_sends_a_burst_larger_than_a_poll_and_what_follows_it(engine: sa.Engine) -> None:
    """An edge's outbox emptying after an outage stores hundreds of events within a second. The stream used
    to read the first 500 of the look-back window again at every poll and send nothing more, ever."""
    sync_registry(engine, [_camera("count")])
    writer = EventWriter(engine)
    now = datetime.now(UTC)
    cursor = LiveCursor(after=now)

    def backlog(n: int, first_minute: int) -> list[LineCountEvent]:
        start = now.replace(second=0, microsecond=0) - timedelta(days=1)
        return [_one_car(start + timedelta(minutes=first_minute + k)) for k in range(n)]

    burst = backlog(1200, 0)
    for k in range(0, 1200, 100):  # twelve messages of 100 events within a tenth of a second
        writer.write_events(burst[k : k + 100], received_at=now + timedelta(seconds=1, milliseconds=k // 10))
    sent: list[str] = []
    for _ in range(4):
        sent += [m["id"] for m in cursor.poll_summaries(engine, include_incidents=False)]
    assert sorted(sent) == sorted(str(e.id) for e in burst)
    after = backlog(3, 2000)
    writer.write_events(after, received_at=now + timedelta(seconds=2))
    assert sorted(m["id"] for m in cursor.poll_summaries(engine, include_incidents=False)) == sorted(
        str(e.id) for e in after
    )
    assert cursor.poll_summaries(engine, include_incidents=False) == []


@pytest.mark.integration
def test_a_viewers_stream_gets_a_late_commit_though_an_incident_was_stored_before_it_began(
    engine: sa.Engine,
) -> None:
    """A viewer's stream leaves incidents out. An incident stored just before it began must not count as
    something it sent, or a late commit in the same window looks already sent and is never sent."""
    sync_registry(engine, [_camera("count")])
    writer = EventWriter(engine)
    now = datetime.now(UTC)
    start = now.replace(second=0, microsecond=0)
    writer.write_events(
        [
            IncidentEvent(
                id=uuid.uuid4(),
                site="plaza",
                camera="cam-1",
                start=start,
                end=start + timedelta(seconds=5),
                incident="stopped_vehicle",
                zone="plaza",
                severity="warning",
                details={"vehicles": 1},
            )
        ],
        received_at=now - timedelta(seconds=2),
    )
    cursor = LiveCursor(after=now)
    cursor.skip_stored(engine, include_incidents=False)
    late = _one_car(start)
    writer.write_events([late], received_at=now - timedelta(seconds=1))  # stamped before, committed after
    assert [m["id"] for m in cursor.poll_summaries(engine, include_incidents=False)] == [str(late.id)]


def _counts(start: datetime, counts: dict[str, dict[str, int]], minutes: int = 15) -> LineCountEvent:
    """Counts on line north of plaza/cam-1 over ``minutes`` from ``start`` (a fresh id each call)."""
    return LineCountEvent(
        id=uuid.uuid4(),
        site="plaza",
        camera="cam-1",
        start=start,
        end=start + timedelta(minutes=minutes),
        line="north",
        counts=counts,  # type: ignore[arg-type]
    )


def _raw_deleted(engine: sa.Engine, now: datetime) -> None:
    """Retention of the raw events stored before ``now`` (the roll-ups kept), as after 90 days."""
    from citytally.hub.retention import run_retention

    raw_only = RetentionSettings(
        raw_events_days=1, rollups_days=None, dead_letters_days=None, audit_log_days=None
    )
    run_retention(engine, raw_only, now=now + timedelta(days=1))


@pytest.mark.integration
@pytest.mark.parametrize("raw_deleted", [False, True], ids=["raw-kept", "raw-deleted"])
def test_count_series_tells_no_data_from_nobody_passing(engine: sa.Engine, raw_deleted: bool) -> None:
    """Also once retention deleted the raw events: before, the quarter in which nobody crossed was then a
    gap, as if the camera had been offline."""
    sync_registry(engine, [_camera("count")])
    q = timedelta(minutes=15)
    EventWriter(engine).write_events(
        [
            _counts(T0, {"in": {"car": 3}}),
            _counts(T0 + q, {"in": {}, "out": {}}),  # the camera reported: nobody crossed
            # T0 + 2q: nothing arrived (camera offline)
            _counts(T0 + 3 * q, {"in": {"car": 1}, "out": {"bicycle": 2}}),
        ]
    )
    if raw_deleted:
        _raw_deleted(engine, T0 + 4 * q)
    out = count_series(engine, "plaza", "cam-1", T0, T0 + 4 * q)
    assert out.period == "15m" and out.reported == [True, True, False, True]
    values = {(s.direction, s.cls): s.values for s in out.series}
    assert values == {("in", "car"): [3, 0, None, 1], ("out", "bicycle"): [0, 0, None, 2]}
    assert out.total == 6


@pytest.mark.integration
def test_daily_buckets_are_days_of_the_asked_time_zone(engine: sa.Engine) -> None:
    sync_registry(engine, [_camera("count")])
    # 23:30 UTC on Nov 2 is 00:30 on Nov 3 in Amsterdam (UTC+1 in November)
    EventWriter(engine).write_events([_counts(T0 + 23 * H + timedelta(minutes=30), {"in": {"car": 5}})])
    start, end = T0 - 30 * D, T0 + 30 * D
    utc = count_series(engine, "plaza", "cam-1", start, end)
    local = count_series(engine, "plaza", "cam-1", start, end, ZoneInfo("Europe/Amsterdam"))
    assert utc.period == local.period == "1d" and local.tz == "Europe/Amsterdam"

    def day_of(out: Any, tz: ZoneInfo) -> str:
        (series,) = out.series
        (i,) = [i for i, v in enumerate(series.values) if v]
        return datetime.fromtimestamp(out.times[i] / 1000, tz).date().isoformat()

    assert day_of(utc, ZoneInfo("UTC")) == "2026-11-02"
    assert day_of(local, ZoneInfo("Europe/Amsterdam")) == "2026-11-03"
    assert datetime.fromtimestamp(local.times[0] / 1000, ZoneInfo("Europe/Amsterdam")).hour == 0


#: Zones whose midnight is not on a UTC hour: India (+5:30), Nepal (+5:45), Newfoundland (-3:30, and -2:30
#: in summer) and Lord Howe Island (+10:30, +11 in summer: its clocks move by half an hour).
HALF_HOUR_ZONES = ["Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns", "Australia/Lord_Howe"]


@pytest.mark.integration
@pytest.mark.parametrize("tz", HALF_HOUR_ZONES)
def test_daily_buckets_of_a_zone_whose_midnight_is_mid_hour_are_whole_local_days(
    engine: sa.Engine, tz: str
) -> None:
    # The hourly roll-up that holds local midnight holds the end of one day and the start of the next: the
    # 15-minute roll-ups of that hour decide. 1 car in the quarter before each midnight and 10 × (k + 1) in
    # the one after the midnight of day k, on each day of a 60-day chart (daily buckets).
    sync_registry(engine, [_camera("count")])
    zone = ZoneInfo(tz)
    start, end = T0 - 30 * D, T0 + 30 * D
    first = start.astimezone(zone).date()
    days = [first + timedelta(days=k) for k in range((end - start).days + 2)]
    q = timedelta(minutes=15)
    events = []
    for k, day in enumerate(days):
        midnight = datetime.combine(day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
        events.append(_counts(midnight - q, {"in": {"car": 1}}))
        events.append(_counts(midnight, {"in": {"car": 10 * (k + 1)}}))
    EventWriter(engine).write_events(events)
    out = count_series(engine, "plaza", "cam-1", start, end, zone)
    assert out.period == "1d"
    (series,) = out.series
    shown = [datetime.fromtimestamp(t / 1000, zone) for t in out.times]
    assert all(moment.time() == datetime.min.time() for moment in shown)
    assert [moment.date() for moment in shown] == days[: len(shown)]
    # Day k: the 10 × (k + 1) after its midnight and the 1 before the next; the chart's last day ends with
    # the chart, before the next midnight.
    expected = [10 * (k + 1) + 1 for k in range(len(shown))]
    last_end = datetime.combine(shown[-1].date() + D, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    if last_end - q >= end:
        expected[-1] -= 1
    assert series.values == expected


@pytest.mark.integration
@pytest.mark.parametrize("tz", HALF_HOUR_ZONES)
def test_daily_occupancy_of_a_zone_whose_midnight_is_mid_hour_is_of_whole_local_days(
    engine: sa.Engine, tz: str
) -> None:
    camera = _camera("count").model_dump(mode="json", exclude_none=True)
    camera["zones"] = [{"name": "square", "polygon": [[0, 0], [9, 0], [9, 9], [0, 9]]}]
    sync_registry(engine, [CameraConfig.model_validate(camera)])
    zone = ZoneInfo(tz)
    start, end = T0 - 60 * D, T0  # September and October: Lord Howe Island is at +10:30
    day = (T0 - 50 * D).astimezone(zone).date()
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    q = timedelta(minutes=15)

    def present(at: datetime, n: float) -> ZoneOccupancyEvent:
        return ZoneOccupancyEvent(
            id=uuid.uuid4(),
            site="plaza",
            camera="cam-1",
            start=at,
            end=at + q,
            zone="square",
            mean={"person": n},
            peak={"person": int(n)},
        )

    # Ten people on the square in the last quarter of the day before, none in the first of the day.
    EventWriter(engine).write_events([present(midnight - q, 10.0), present(midnight, 0.0)])
    out = occupancy_series(engine, "plaza", "cam-1", start, end, zone)
    (series,) = out.series
    local = {
        datetime.fromtimestamp(t / 1000, zone).date(): v
        for t, v in zip(out.times, series.values, strict=True)
    }
    assert (local[day - D], local[day]) == (10.0, 0.0)


@pytest.mark.integration
@pytest.mark.parametrize("tz", ["Europe/Amsterdam", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns"])
def test_the_heat_map_puts_crossings_in_their_local_hour(engine: sa.Engine, tz: str) -> None:
    # 1 car in the quarter before 08:00 local time on Monday, 7 in the quarter from 08:00: where local hours
    # begin at the half hour (India, Newfoundland) one UTC hour holds both, and the peak hour is 08:00-09:00,
    # not 07:30-08:30; in Nepal (+5:45) that UTC hour begins at 07:45.
    sync_registry(engine, [_camera("count")])
    zone = ZoneInfo(tz)
    eight = datetime(2026, 11, 2, 8, 0, tzinfo=zone).astimezone(UTC)
    q = timedelta(minutes=15)
    EventWriter(engine).write_events(
        [_counts(eight - q, {"in": {"car": 1}}), _counts(eight, {"in": {"car": 7}})]
    )
    out = overview(engine, T0 - D, T0 + 2 * D, zone)
    monday = out.heatmap[0]
    assert (monday[7], monday[8]) == (1, 7)
    assert sum(map(sum, out.heatmap)) == 8


@pytest.mark.integration
@pytest.mark.parametrize("tz", ["Europe/Amsterdam", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns"])
@pytest.mark.parametrize("raw_deleted", [False, True], ids=["raw-kept", "raw-deleted"])
def test_the_weekday_profile_is_of_whole_local_hours_the_camera_reported(
    engine: sa.Engine, tz: str, raw_deleted: bool
) -> None:
    # On a Monday: 1 car in the quarter before 08:00 local time and 7 in the quarter from 08:00; on the
    # Monday after, 3 from 08:00 and a report of nobody at 09:00; on the Saturday between, 2 at 08:00.
    sync_registry(engine, [_camera("count")])
    zone = ZoneInfo(tz)

    def at(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime(2026, 11, day, hour, minute, tzinfo=zone).astimezone(UTC)

    EventWriter(engine).write_events(
        [
            _counts(at(2, 7, 45), {"in": {"car": 1}}),
            _counts(at(2, 8), {"in": {"car": 7}}),
            _counts(at(7, 8), {"in": {"bicycle": 2}}),
            _counts(at(9, 8), {"in": {"car": 3}}),
            _counts(at(9, 9), {"in": {}}),
        ]
    )
    if raw_deleted:  # a camera whose own retention is a few days: the hours it reported are still known
        _raw_deleted(engine, at(10, 0))
    out = hour_profile(engine, "plaza", "cam-1", 28, zone, at(10, 0))
    assert (out.weekday[7], out.weekday[8], out.weekday[9]) == (1.0, 5.0, 0.0)
    assert out.weekend[8] == 2.0
    assert out.hours == 5  # Monday 7 and 8, Saturday 8, Monday 8 and 9
    assert sum(v is not None for v in out.weekday + out.weekend) == 4
    # 1 to 31 days (the 15-minute roll-ups' limit)
    with pytest.raises(QueryError, match="days must be 1 to 31"):
        hour_profile(engine, "plaza", "cam-1", 32, zone, at(10, 0))


@pytest.mark.integration
@pytest.mark.parametrize("tz", ["Europe/Amsterdam", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns"])
def test_hourly_buckets_are_local_hours_where_they_begin_within_a_utc_hour(
    engine: sa.Engine, tz: str
) -> None:
    # A chart of 5 days (hourly buckets): 1 car in the quarter before 08:00 local time, 7 in the quarter
    # from 08:00. India's 08:00 is 02:30 UTC: the buckets are 07:00-08:00 and 08:00-09:00 there, not the UTC
    # hours 07:30-08:30.
    sync_registry(engine, [_camera("count")])
    zone = ZoneInfo(tz)
    eight = datetime(2026, 11, 2, 8, tzinfo=zone).astimezone(UTC)
    q = timedelta(minutes=15)
    EventWriter(engine).write_events(
        [_counts(eight - q, {"in": {"car": 1}}), _counts(eight, {"in": {"car": 7}})]
    )
    start = eight - 2 * D - timedelta(minutes=7)  # a range that begins anywhere
    out = count_series(engine, "plaza", "cam-1", start, start + 5 * D, zone)
    assert out.period == "1h"
    shown = [datetime.fromtimestamp(t / 1000, zone) for t in out.times]
    assert all(moment.minute == 0 for moment in shown)
    assert {b - a for a, b in zip(out.times, out.times[1:], strict=False)} == {3_600_000}
    (series,) = out.series
    at = {moment.strftime("%m-%d %H:%M"): value for moment, value in zip(shown, series.values, strict=True)}
    assert (at["11-02 07:00"], at["11-02 08:00"]) == (1, 7)
    assert sum(v or 0 for v in series.values) == 8
    assert out.reported.count(True) == 2


@pytest.mark.integration
def test_a_camera_silent_for_longer_than_raw_retention_is_silent_not_without_data(engine: sa.Engine) -> None:
    """Its last interval deleted by retention, the camera list said "no data" (as of a camera never heard
    from) and lost when it last reported; what retention noted says both."""
    sync_registry(engine, [_camera("count")])
    assert [s.state for s in camera_status(engine, None, T0)] == ["no data"]
    EventWriter(engine).write_events([_counts(T0, {"in": {"car": 3}})])
    _raw_deleted(engine, T0 + timedelta(days=100))
    (status,) = camera_status(engine, None, T0 + timedelta(days=101))
    assert (status.state, status.last_data_end) == ("silent", T0 + timedelta(minutes=15))
