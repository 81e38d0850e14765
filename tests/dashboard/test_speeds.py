"""The dashboard's speeds: V85 over a range and per bucket, always read off summed per-road-user bins; on
SQLite and PostgreSQL (the bins are summed in the database)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import sqlalchemy as sa

from citytally.edge.config import CameraConfig
from citytally.events import SPEED_BIN_KMH, RoadUserClass, SpeedEvent, SpeedStats
from citytally.hub.dashboard.speeds import histogram_percentile, speed_distribution
from citytally.hub.store import EventWriter, schema, sync_registry
from hub.conftest import empty_store, pg_engine, pg_url, sqlite_engine  # noqa: F401 (fixtures)

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # a Monday, 00:00 UTC
D = timedelta(days=1)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> sa.Engine:
    """An empty store (SQLite, then PostgreSQL) with the camera of these tests."""
    store: sa.Engine = request.getfixturevalue(f"{request.param.replace('postgresql', 'pg')}_engine")
    empty_store(store)
    camera = {
        "site": "plaza",
        "camera": "cam-1",
        "metadata": {"lat": 52.37, "lon": 4.89, "purpose": "count", "retention_days": 30},
        "source": {"uri": "/dev/null"},
        "lines": [{"name": "north", "p1": [0, 1], "p2": [9, 1], "directions": ["in", "out"]}],
    }
    sync_registry(store, [CameraConfig.model_validate(camera)])
    return store


@pytest.mark.integration
def test_speed_distribution_is_over_road_users_and_v85_comes_from_the_summed_bins(engine: sa.Engine) -> None:

    def speed(start: datetime, stats: SpeedStats) -> SpeedEvent:
        return SpeedEvent(
            id=uuid.uuid4(),
            site="plaza",
            camera="cam-1",
            start=start,
            end=start + timedelta(minutes=15),
            line="north",
            speeds={"in": {"car": stats}},
        )

    q = timedelta(minutes=15)
    slow = [float(v) for v in range(20, 40)]  # 20 cars at 20..39 km/h
    fast = [float(v) for v in range(40, 120)]  # 80 cars at 40..119 km/h
    unbinned = SpeedStats(n=7, mean_kmh=70.0, p85_kmh=90.0)  # an edge that sends no bins
    events = [
        speed(T0, SpeedStats.of(slow)),
        speed(T0 + 2 * q, SpeedStats.of(fast)),
        speed(T0 + 3 * q, unbinned),
    ]
    EventWriter(engine).write_events(events)
    out = speed_distribution(engine, "plaza", "cam-1", T0, T0 + 4 * q)
    # V85 over time, one interval per bucket: off each interval's bins (20 cars in bins [20, 40): the 17th
    # lies 2/5 into [35, 40)); the unbinned interval has only its own V85, drawn apart.
    (series,) = out.v85
    assert series.values == [37.0, None, 108.0, None]
    assert series.unbinned_v85 == [None, None, None, 90.0]
    assert (series.measured, series.binned) == ([20, None, 80, 7], [20, 0, 80, 0])
    (car,) = out.series
    assert (car.n, car.n_binned) == (107, 100)
    assert car.counts == [0, 0, 0, 0] + [5] * 20  # 5 km/h bins from 0: every road user once, at its speed
    assert out.bins[:2] == [0, 5] and len(out.bins) == len(car.counts) == 24
    # Of all 100 road users together, 85 lie below 105 km/h (the top of the bin [100, 105)); their own
    # percentile is 104.15: the bins give V85 to within their width.
    assert car.v85_kmh == 105.0
    assert car.v85_kmh == pytest.approx(float(np.percentile(slow + fast, 85)), abs=SPEED_BIN_KMH)
    # The mean of interval V85s (what an average of percentiles would have said) is far off.
    assert abs((SpeedStats.of(slow).p85_kmh + SpeedStats.of(fast).p85_kmh) / 2 - car.v85_kmh) > 20
    assert car.mean_kmh == pytest.approx((sum(slow) + sum(fast) + 7 * 70.0) / 107, abs=0.05)


def speed_event(start: datetime, minutes: int, speeds: dict[RoadUserClass, SpeedStats]) -> SpeedEvent:
    """Speeds of one interval of ``minutes`` on line north, direction in."""
    return SpeedEvent(
        id=uuid.uuid4(),
        site="plaza",
        camera="cam-1",
        start=start,
        end=start + timedelta(minutes=minutes),
        line="north",
        speeds={"in": speeds},
    )


def cars(*groups: tuple[int, float]) -> SpeedStats:
    """``n`` road users at each given speed."""
    return SpeedStats.of([v for n, v in groups for _ in range(n)])


#: Three 5-minute intervals per 15-minute bucket. Bucket 0: 90 cars at 32.5 km/h, then 10 at 72.5; bucket 1:
#: 20 binned cars and 5 from an edge without bins; bucket 2: only unbinned cars; bucket 3: nothing.
FIVE = timedelta(minutes=5)
BUCKETED_SPEEDS = [
    speed_event(T0, 5, {"car": cars((90, 32.5)), "bicycle": cars((3, 12.5))}),
    speed_event(T0 + FIVE, 5, {"car": cars((10, 72.5)), "bicycle": cars((1, 27.5))}),
    speed_event(T0 + 3 * FIVE, 5, {"car": cars((10, 42.5), (10, 47.5))}),
    speed_event(T0 + 4 * FIVE, 5, {"car": SpeedStats(n=5, mean_kmh=50.0, p85_kmh=60.0)}),
    speed_event(T0 + 6 * FIVE, 5, {"car": SpeedStats(n=5, mean_kmh=50.0, p85_kmh=60.0)}),
]


@pytest.mark.integration
def test_v85_per_bucket_is_read_off_the_buckets_summed_bins(engine: sa.Engine) -> None:
    EventWriter(engine).write_events(BUCKETED_SPEEDS)
    out = speed_distribution(engine, "plaza", "cam-1", T0, T0 + 4 * 3 * FIVE)
    assert out.period == "15m" and len(out.times) == 4
    bicycle, car = out.v85
    # Cars, bucket 0: 90 in [30, 35) and 10 in [70, 75); the 85th of 100 lies 85/90 into [30, 35): 34.72.
    # The intervals' own V85s are 32.5 and 72.5: their highest says 72.5, their mean 52.5.
    # Bucket 1: 10 in [40, 45), 10 in [45, 50): the 17th of the 20 binned lies 7/10 into [45, 50): 48.5,
    # from 20 of the 25 measured. Bucket 2: no bins, so no V85 from bins; the highest interval V85 apart.
    assert car.values == [34.7, 48.5, None, None]
    assert car.measured == [100, 25, 5, None]
    assert car.binned == [100, 20, 0, 0]
    assert car.unbinned_v85 == [None, None, 60.0, None]
    # Cyclists, bucket 0: 3 in [10, 15) and 1 in [25, 30): the 3.4th lies 0.4 into [25, 30): 27.0 (the
    # intervals' V85s: 12.5 and 27.5).
    assert (bicycle.cls, bicycle.values[0], bicycle.binned[0]) == ("bicycle", 27.0, 4)
    assert bicycle.values[1:] == [None, None, None] and bicycle.measured[1:] == [None, None, None]
    # The range's own V85 (over all 120 binned cars: the 102nd lies 2/10 into [45, 50)) is not any bucket's.
    assert {s.cls: s.v85_kmh for s in out.series} == {"bicycle": 27.0, "car": 46.0}


@pytest.mark.integration
def test_a_range_from_inside_a_bucket_keeps_the_charts_first_bucket_whole(engine: sa.Engine) -> None:
    EventWriter(engine).write_events(BUCKETED_SPEEDS)
    out = speed_distribution(engine, "plaza", "cam-1", T0 + timedelta(minutes=1), T0 + 4 * 3 * FIVE)
    _bicycle, car = out.v85
    assert car.values[0] == 34.7  # the chart's buckets are whole, as the roll-ups are
    # The range's distribution has only the intervals from 00:05 on: 10 + 20 binned cars of 40 measured.
    by_class = {s.cls: (s.n, s.n_binned) for s in out.series}
    assert by_class == {"bicycle": (1, 1), "car": (40, 30)}


@pytest.mark.integration
def test_speeds_read_rolled_up_bins_outlive_the_facts_and_a_range_stays_exact(engine: sa.Engine) -> None:
    EventWriter(engine).write_events(BUCKETED_SPEEDS)
    # 00:05-00:20 covers no whole 15-minute bucket: every interval comes from the facts (10 cars at 72.5
    # km/h from 00:05, 20 from 00:15); the chart's buckets are whole (00:00, 00:15).
    out = speed_distribution(engine, "plaza", "cam-1", T0 + FIVE, T0 + 4 * FIVE)
    assert {s.cls: (s.n, s.n_binned) for s in out.series} == {"bicycle": (1, 1), "car": (30, 30)}
    # Raw facts expire before roll-ups: the whole buckets keep their bins, the range's pieces of a bucket
    # (from the facts) are gone with them.
    with engine.begin() as connection:
        connection.execute(schema.speeds.delete())
    whole = speed_distribution(engine, "plaza", "cam-1", T0, T0 + 4 * 3 * FIVE)
    _bicycle, car = whole.v85
    assert car.values == [34.7, 48.5, None, None] and car.binned == [100, 20, 0, 0]
    assert {s.cls: (s.n, s.n_binned) for s in whole.series} == {"bicycle": (4, 4), "car": (130, 120)}
    part = speed_distribution(engine, "plaza", "cam-1", T0 + FIVE, T0 + 4 * 3 * FIVE)
    assert {s.cls: (s.n, s.n_binned) for s in part.series} == {"car": (30, 20)}  # 00:15 on, roll-ups


@pytest.mark.integration
def test_v85_per_day_in_a_local_time_zone_sums_the_days_bins(engine: sa.Engine) -> None:
    EventWriter(engine).write_events(BUCKETED_SPEEDS)
    zone = ZoneInfo("Europe/Amsterdam")
    out = speed_distribution(engine, "plaza", "cam-1", T0 - 30 * D, T0 + 20 * D, zone)
    assert out.period == "1d"
    _bicycle, car = out.v85
    day = next(i for i, v in enumerate(car.values) if v is not None)
    assert (car.values[day], car.binned[day], car.measured[day]) == (46.0, 120, 130)
    assert car.unbinned_v85[day] is None  # part of the day is binned: its V85 says from how many


@pytest.mark.parametrize(
    ("counts", "share", "expected"),
    [
        ([], 0.85, None),
        ([0, 0, 4], 0.5, 12.5),  # four in [10, 15): the middle of the bin
        ([0, 10], 0.85, 9.2),  # 9.25, to a tenth
        ([1, 0, 0, 1], 0.85, 18.5),  # 1.7 of 2 road users: 0.7 into the last one's bin [15, 20)
    ],
)
def test_histogram_percentile(counts: list[int], share: float, expected: float | None) -> None:
    assert histogram_percentile(counts, share) == expected


@pytest.mark.integration
@pytest.mark.parametrize(
    ("tz", "local", "span", "period", "before", "after"),
    [
        # A chart of 50 days (daily buckets) around a local midnight; one hourly roll-up holds both quarters.
        ("Asia/Kolkata", datetime(2026, 10, 23), 25 * D, "1d", "10-22", "10-23"),
        ("Asia/Kathmandu", datetime(2026, 10, 23), 25 * D, "1d", "10-22", "10-23"),
        ("America/St_Johns", datetime(2026, 10, 23), 25 * D, "1d", "10-22", "10-23"),
        # A chart of 4 days (hourly buckets) around 08:00 in India, 02:30 UTC.
        ("Asia/Kolkata", datetime(2026, 11, 2, 8), 2 * D, "1h", "07:00", "08:00"),
    ],
)
def test_v85_per_local_bucket_keeps_each_buckets_road_users_where_it_begins_mid_hour(
    engine: sa.Engine, tz: str, local: datetime, span: timedelta, period: str, before: str, after: str
) -> None:
    # Ten slow cars in the quarter before the local moment, ten fast ones in the quarter from it: the
    # buckets are the zone's own days and hours, told apart by the 15-minute roll-ups.
    zone = ZoneInfo(tz)
    moment = local.replace(tzinfo=zone).astimezone(UTC)
    quarter = timedelta(minutes=15)
    EventWriter(engine).write_events(
        [
            speed_event(moment - quarter, 15, {"car": cars((10, 32.5))}),
            speed_event(moment, 15, {"car": cars((10, 72.5))}),
        ]
    )
    out = speed_distribution(engine, "plaza", "cam-1", moment - span, moment + span, zone)
    assert out.period == period
    (car,) = out.v85
    label = "%H:%M" if period == "1h" else "%m-%d"
    shown = [datetime.fromtimestamp(t / 1000, zone).strftime(label) for t in out.times]
    found = {b: (v, n) for b, v, n in zip(shown, car.values, car.binned, strict=True) if n}
    assert found == {before: (34.2, 10), after: (74.2, 10)}
    assert {s.cls: (s.n, s.n_binned) for s in out.series} == {"car": (20, 20)}
