"""Intervals: the right events and boundaries on the stream's clock, a final flush, valid schema."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from citytally.edge.analytics.intervals import CameraAnalytics, StreamClock, dwell_stats
from citytally.edge.config import CameraConfig
from citytally.edge.detections import Detections
from citytally.errors import ConfigError
from citytally.events import (
    MAX_DWELL_S,
    Event,
    IncidentEvent,
    LineCountEvent,
    SpeedEvent,
    TurningMovementEvent,
    ZoneOccupancyEvent,
    event_to_json,
    new_event_id,
    parse_event,
)
from citytally.transport.publisher import MemoryPublisher

PERSON, CAR = 0, 2
FPS = 10
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def camera(**overrides: Any) -> CameraConfig:
    """A camera with a horizontal line at y = 300 (drawn left to right), two zones and a calibration."""
    body: dict[str, Any] = {
        "site": "plaza",
        "camera": "cam-1",
        "interval_seconds": 60,
        "start_time": T0,
        "source": {"uri": "video.mp4"},
        "lines": [{"name": "main", "p1": [0, 300], "p2": [1000, 300], "directions": ["south", "north"]}],
        "zones": [
            {"name": "top", "polygon": [[0, 0], [1000, 0], [1000, 250], [0, 250]]},
            {"name": "bottom", "polygon": [[0, 350], [1000, 350], [1000, 600], [0, 600]]},
        ],
        "turning": {"zones": ["top", "bottom"]},
        # 10 px per metre, no perspective: a track moving 10 px per frame at 10 fps goes 10 m/s = 36 km/h.
        "speed": {
            "image_points": [[0, 0], [1000, 0], [1000, 600], [0, 600]],
            "ground_points_m": [[0, 0], [100, 0], [100, 60], [0, 60]],
        },
    }
    body.update(overrides)
    return CameraConfig.model_validate(body)


def tracked(*objects: tuple[int, float, float, int]) -> Detections:
    """One frame: (track id, ground x, ground y, class) → boxes whose bottom centre is that point."""
    if not objects:
        return Detections.empty()
    arr = np.array(objects, dtype=np.float64)
    x, y = arr[:, 1], arr[:, 2]
    xyxy = np.stack([x - 10, y - 40, x + 10, y], axis=1).astype(np.float32)
    return Detections(
        xyxy, np.full(len(arr), 0.9, np.float32), arr[:, 3].astype(np.int64), arr[:, 0].astype(np.int64)
    )


Scene = Callable[[int], Detections]


def southbound(track_id: int, first_frame: int, cls: int = CAR, px_per_frame: float = 10) -> Scene:
    """A road user walking down the image from y=100 to y=500, starting at ``first_frame``."""

    def at(frame: int) -> Detections:
        y = 100 + px_per_frame * (frame - first_frame)
        return tracked((track_id, 500, y, cls)) if first_frame <= frame and y <= 500 else Detections.empty()

    return at


def play(analytics: CameraAnalytics, frames: int, *scenes: Scene, first: int = 0) -> None:
    for frame in range(first, first + frames):
        parts = [scene(frame) for scene in scenes]
        rows = [p for p in parts if len(p)]
        merged = (
            Detections(
                np.concatenate([p.xyxy for p in rows]),
                np.concatenate([p.scores for p in rows]),
                np.concatenate([p.class_id for p in rows]),
                np.concatenate([p.track_id for p in rows]),
            )
            if rows
            else Detections.empty()
        )
        analytics.update(merged, frame / FPS)


def of_type(events: list[Event], kind: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def test_boundaries_counts_and_final_flush() -> None:
    publisher = MemoryPublisher()
    analytics = CameraAnalytics(camera(), publisher)
    # Crossings at about 20 s (frame 200+20), 70 s and 125 s; 1500 frames = 150 s of video.
    play(analytics, 1500, southbound(11, 200), southbound(12, 680, PERSON), southbound(13, 1230))
    assert publisher.events and all(e.end <= T0 + timedelta(seconds=120) for e in publisher.events)
    totals = analytics.finish()

    counts = of_type(publisher.events, LineCountEvent)
    assert [(e.start, e.end) for e in counts] == [
        (T0, T0 + timedelta(seconds=60)),
        (T0 + timedelta(seconds=60), T0 + timedelta(seconds=120)),
        (T0 + timedelta(seconds=120), T0 + timedelta(seconds=150)),  # last frame at 149.9 s stands for 0.1 s
    ]
    assert [e.counts for e in counts] == [
        {"south": {"car": 1}, "north": {}},
        {"south": {"person": 1}, "north": {}},
        {"south": {"car": 1}, "north": {}},
    ]
    assert totals.lines == {"main": {"south": {"car": 2, "person": 1}, "north": {}}}
    assert totals.frames == 1500
    assert totals.events == len(publisher.events)
    for event in publisher.events:
        assert parse_event(event_to_json(event)) == event
        assert (event.site, event.camera) == ("plaza", "cam-1")


def test_finish_twice_and_without_frames_publishes_nothing_more() -> None:
    publisher = MemoryPublisher()
    analytics = CameraAnalytics(camera(), publisher)
    analytics.finish()
    assert publisher.events == []
    play(analytics, 10, southbound(1, 0))
    analytics.finish()
    published = len(publisher.events)
    analytics.finish()
    assert len(publisher.events) == published


def test_speed_event_per_direction_and_class() -> None:
    publisher = MemoryPublisher()
    analytics = CameraAnalytics(camera(), publisher)
    play(analytics, 100, southbound(1, 0, CAR, 10), southbound(2, 5, CAR, 5), southbound(3, 0, PERSON, 3))
    analytics.finish()
    (speed,) = of_type(publisher.events, SpeedEvent)
    car = speed.speeds["south"]["car"]
    assert car.n == 2
    assert car.mean_kmh == pytest.approx((36 + 18) / 2, rel=0.02)
    assert car.p85_kmh == pytest.approx(18 + 0.85 * 18, rel=0.02)
    assert car.histogram is not None and sum(car.histogram) == 2  # one car near 18 km/h, one near 36
    assert (car.histogram[3], car.histogram[7]) == (1, 1)
    assert speed.speeds["south"]["person"].mean_kmh == pytest.approx(10.8, rel=0.02)


def test_zone_occupancy_mean_peak_and_dwell() -> None:
    publisher = MemoryPublisher()
    analytics = CameraAnalytics(camera(), publisher)

    def standing(frame: int) -> Detections:
        # Two people in "top" for the first 100 of 200 frames, one car in it all the time.
        people = [(1, 100, 200, PERSON), (2, 200, 200, PERSON)] if frame < 100 else []
        return tracked(*people, (3, 300, 200, CAR))

    play(analytics, 200, standing)
    analytics.finish()
    top = next(e for e in of_type(publisher.events, ZoneOccupancyEvent) if e.zone == "top")
    absent = {"bicycle": 0, "motorcycle": 0, "bus": 0, "truck": 0}  # measured zeros, not left out
    assert top.mean == {"person": pytest.approx(1.0), "car": pytest.approx(1.0)} | absent
    assert top.peak == {"person": 2, "car": 1} | absent
    assert top.dwell["person"].n == 2
    assert top.dwell["person"].mean_s == pytest.approx(9.9)
    # The car is still there at the end of the stream: its stay is closed by the flush.
    assert top.dwell["car"].max_s == pytest.approx(19.9)
    bottom = next(e for e in of_type(publisher.events, ZoneOccupancyEvent) if e.zone == "bottom")
    nobody = dict.fromkeys(("person", "bicycle", "car", "motorcycle", "bus", "truck"), 0)
    assert (bottom.mean, bottom.peak, bottom.dwell) == (nobody, nobody, {})
    assert analytics.totals.zone_peaks == {"top": {"person": 2, "car": 1}, "bottom": {}}


def test_turning_movements_event() -> None:
    publisher = MemoryPublisher()
    analytics = CameraAnalytics(camera(), publisher)
    play(analytics, 100, southbound(1, 0), southbound(2, 3), southbound(3, 6, PERSON))
    analytics.finish()
    (turning,) = of_type(publisher.events, TurningMovementEvent)
    assert {(m.from_zone, m.to_zone, m.cls, m.count) for m in turning.movements} == {
        ("top", "bottom", "car", 2),
        ("top", "bottom", "person", 1),
    }
    assert analytics.totals.movements == {"top": {"bottom": {"car": 2, "person": 1}}}


def test_stream_starting_mid_interval_reports_only_what_it_watched() -> None:
    publisher = MemoryPublisher()
    start = T0 + timedelta(seconds=30)
    analytics = CameraAnalytics(camera(start_time=start, interval_seconds=900), publisher)
    play(analytics, 100, southbound(1, 0))
    analytics.finish()
    assert {(e.start, e.end) for e in publisher.events} == {(start, start + timedelta(seconds=10))}


def test_gap_in_the_stream_leaves_no_empty_intervals() -> None:
    publisher = MemoryPublisher()
    analytics = CameraAnalytics(camera(), publisher)
    play(analytics, 100, southbound(1, 0))  # 0..9.9 s
    play(analytics, 100, southbound(2, 2000), first=2000)  # 200..209.9 s
    analytics.finish()
    spans = sorted({(e.start, e.end) for e in publisher.events})
    assert spans == [
        (T0, T0 + timedelta(seconds=10)),
        (T0 + timedelta(seconds=200), T0 + timedelta(seconds=210)),
    ]


def test_a_break_within_one_interval_reports_the_watched_parts_apart() -> None:
    """A stream away for 20 s inside one minute (a dropped RTSP link): the minute's crossings are of the
    40 s watched, so it is reported as two spans, not as a whole minute watched."""
    publisher = MemoryPublisher()
    analytics = CameraAnalytics(camera(), publisher)
    play(analytics, 150, southbound(1, 0))  # 0..14.9 s
    play(analytics, 250, southbound(2, 350), first=350)  # 35..59.9 s
    play(analytics, 100, southbound(3, 600), first=600)  # 60..69.9 s
    analytics.finish()
    spans = sorted({(e.start, e.end) for e in publisher.events})
    assert spans == [
        (T0, T0 + timedelta(seconds=15)),
        (T0 + timedelta(seconds=35), T0 + timedelta(seconds=60)),
        (T0 + timedelta(seconds=60), T0 + timedelta(seconds=70)),
    ]
    crossings = {
        e.start: sum(n for by_class in e.counts.values() for n in by_class.values())
        for e in publisher.events
        if isinstance(e, LineCountEvent)
    }
    assert sorted(crossings.values()) == [1, 1, 1]  # each road user once, in the span it crossed in


def test_short_frame_gaps_keep_intervals_contiguous() -> None:
    """A second without frames (a slow decoder, a dropped packet) is no break in the stream."""
    publisher = MemoryPublisher()
    analytics = CameraAnalytics(camera(), publisher)
    play(analytics, 590, southbound(1, 0))  # 0..58.9 s
    play(analytics, 100, southbound(2, 600), first=600)  # 60..69.9 s
    analytics.finish()
    spans = sorted({(e.start, e.end) for e in publisher.events})
    assert spans == [
        (T0, T0 + timedelta(seconds=60)),
        (T0 + timedelta(seconds=60), T0 + timedelta(seconds=70)),
    ]


class Ticking:
    """A wall clock that moves on by ``step`` seconds each time it is read, and the monotonic clock that
    goes with it (which reads the time the wall clock last gave)."""

    def __init__(self, start: datetime, step: float) -> None:
        self.now, self.step, self.last = start, timedelta(seconds=step), start

    def __call__(self) -> datetime:
        self.last = self.now
        self.now += self.step
        return self.last

    def monotonic(self) -> float:
        return self.last.timestamp() - 1e9


class Clocks:
    """A wall clock and a monotonic clock set by hand: time passing moves both, setting the system clock
    moves the wall clock only."""

    def __init__(self, start: datetime) -> None:
        self.wall, self.mono = start, 1000.0

    def passes(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds

    def clock(self) -> StreamClock:
        return StreamClock(None, now=lambda: self.wall, monotonic=lambda: self.mono, live=True)


def test_live_clock_anchors_at_the_first_frame() -> None:
    now = datetime(2026, 11, 23, 9, 14, 59, 500000, tzinfo=UTC)
    late = Ticking(now, 2.0)  # frames analysed later than they came: their stream's time is kept
    clock = StreamClock(None, now=late, monotonic=late.monotonic, live=True)
    assert clock.wall(12.0) == now
    assert clock.wall(13.5) == now + timedelta(seconds=1.5)
    publisher = MemoryPublisher()
    ticking = Ticking(now, 1 / FPS)
    live = StreamClock(None, now=ticking, monotonic=ticking.monotonic, live=True)
    analytics = CameraAnalytics(camera(start_time=None), publisher, live)
    play(analytics, 20, southbound(1, 0))
    analytics.finish()
    boundary = datetime(2026, 11, 23, 9, 15, tzinfo=UTC)
    assert sorted({(e.start, e.end) for e in publisher.events}) == [
        (now, boundary),
        (boundary, now + timedelta(seconds=2)),
    ]


def test_a_live_frame_is_never_stamped_later_than_it_came() -> None:
    """A camera connected to (or reconnected) sends the seconds it had buffered at once: anchored at the
    first of them, those frames were stamped up to that many seconds in the future (2.6 s with GStreamer's
    RTSP server), and so was everything after. Stamps now wait for the wall clock."""
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    clocks = Clocks(now)
    clock = clocks.clock()
    burst = [clock.wall(t / 10) for t in range(30)]  # 3 s of frames in one instant
    assert burst == [now] * 30
    clocks.passes(0.1)
    assert clock.wall(3.0) == now + timedelta(seconds=0.1), "then on the stream's time from there"
    clocks.passes(5)  # analysis falls behind: stamps keep the stream's time
    assert clock.wall(3.1) == now + timedelta(seconds=0.2)


@pytest.mark.parametrize("step_s", [3600.0, -3600.0, 86400.0 * 365 * 56, 1.5])
def test_live_stamps_move_with_the_system_clock_when_it_is_set(step_s: float) -> None:
    """An edge box that booted without the time (no clock battery: 1970, or the time it was switched off)
    anchored its stamps there, and when NTP set the clock they stayed behind for the rest of the run: the
    hub refused a day of counts as too old, or stored them on the wrong day. Processing that falls behind
    is no step (the monotonic clock moves as much)."""
    booted = datetime(2026, 11, 23, 9, 0, tzinfo=UTC) - timedelta(seconds=step_s)
    clocks = Clocks(booted)
    clock = clocks.clock()
    assert clock.wall(0.0) == booted
    clocks.passes(12.0)  # analysis 2 s behind the stream: no step
    assert clock.wall(10.0) == booted + timedelta(seconds=10)
    clocks.wall += timedelta(seconds=step_s)  # NTP sets the clock
    clocks.passes(0.1)
    assert clock.wall(10.1) == booted + timedelta(seconds=step_s + 10.1)
    clocks.passes(0.1)
    assert clock.wall(10.2) == booted + timedelta(seconds=step_s + 10.2), "and on from there"


def test_a_file_without_a_start_time_keeps_its_own_pace() -> None:
    """Only a live stream is held to the wall clock: a file analysed five times faster than it plays keeps
    its timestamps' spacing (its intervals are intervals of the video), from the wall clock at its start."""
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    clocks = Clocks(now)
    clock = StreamClock(None, now=lambda: clocks.wall, monotonic=lambda: clocks.mono)
    assert clock.wall(0.0) == now
    clocks.passes(16.0)
    assert clock.wall(80.0) == now + timedelta(seconds=80)


def test_a_live_clock_that_was_never_set_is_said(caplog: pytest.LogCaptureFixture) -> None:
    clocks = Clocks(datetime(1970, 1, 1, 0, 0, 42, tzinfo=UTC))
    clocks.clock().wall(0.0)
    assert "the system clock says 1970-01-01T00:00:42+00:00: it has not been set since boot" in caplog.text
    caplog.clear()
    Clocks(datetime(2026, 11, 23, tzinfo=UTC)).clock().wall(0.0)
    assert caplog.text == ""


def test_what_was_counted_before_the_clock_was_set_goes_out_at_the_time_it_happened() -> None:
    """A box without a clock battery boots at 1970 and NTP sets its clock 80 s into the stream (at 09:01:20).
    The cars counted before then (at 2, 30 and 70 s) and the interval they were in go out at the time they
    really passed (09:00:00-09:01:20), not at 1970, which the hub refuses as too old: the events made while
    the clock was not set are held until it is and their stamps moved by the step. Nothing goes out stamped
    before 2026; every car is counted once. Before, the 1970 events went out as they were."""
    started = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    clocks = Clocks(datetime(1970, 1, 1, 0, 0, 42, tzinfo=UTC))
    publisher = MemoryPublisher()
    analytics = CameraAnalytics(camera(start_time=None), publisher, clocks.clock())
    cars = [southbound(n + 1, first) for n, first in enumerate((20, 300, 700, 900, 1200))]
    for frame in range(1500):
        if frame == 800:
            assert publisher.events == [], "held while the clock is not set"
            clocks.wall = started + timedelta(seconds=80)  # NTP
        play(analytics, 1, *cars, first=frame)
        clocks.passes(1 / FPS)
    analytics.finish()
    events = publisher.events
    assert min(e.start for e in events) == started
    assert max(e.end for e in events) <= started + timedelta(seconds=150)
    counts = [e for e in events if isinstance(e, LineCountEvent)]
    assert sum(c for e in counts for by_class in e.counts.values() for c in by_class.values()) == 5
    # The minutes of the unset clock (from 00:00:42), moved: 09:00:00-09:00:18, 09:00:18-09:01:18 and the
    # last 2 s to the step; then the set clock's own minutes.
    spans = sorted({(e.start, e.end) for e in counts})
    at = [started + timedelta(seconds=s) for s in (0, 18, 78, 80, 120, 150)]
    assert spans == list(zip(at, at[1:], strict=False))


def test_what_was_counted_goes_out_as_it_is_when_the_clock_is_never_set(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A stream that ends before the clock is set sends what it held as it was stamped, and says so."""
    clocks = Clocks(datetime(1970, 1, 1, 0, 0, 42, tzinfo=UTC))
    publisher = MemoryPublisher()
    analytics = CameraAnalytics(camera(start_time=None), publisher, clocks.clock())
    for frame in range(100):
        play(analytics, 1, southbound(1, 20), first=frame)
        clocks.passes(1 / FPS)
    analytics.finish()
    assert publisher.events and all(e.start.year == 1970 for e in publisher.events)
    assert "the system clock was never set" in caplog.text


def test_held_events_beyond_the_cap_go_out_as_stamped_and_it_is_said_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clock never set while the stream runs on: past the cap of held events the oldest go out stamped by
    it, which the hub refuses; the operator reads it once, when it begins, not only when the stream ends."""
    from citytally.edge.analytics import intervals

    monkeypatch.setattr(intervals, "_HELD_MAX", 12)  # 50,000 in the field
    clocks = Clocks(datetime(1970, 1, 1, 0, 0, 42, tzinfo=UTC))
    publisher = MemoryPublisher()
    analytics = CameraAnalytics(camera(start_time=None, interval_seconds=1), publisher, clocks.clock())
    for frame in range(100):
        play(analytics, 1, southbound(1, 20), first=frame)
        clocks.passes(1 / FPS)
    assert publisher.events, "the oldest went out"
    assert caplog.text.count("the system clock is still not set") == 1
    assert "12 events are held" in caplog.text


def test_no_track_id_leaves_in_an_event() -> None:
    publisher = MemoryPublisher()
    analytics = CameraAnalytics(camera(), publisher)
    ids = [1_234_567_891, 1_987_654_321]
    play(analytics, 100, southbound(ids[0], 0), southbound(ids[1], 4, PERSON))
    analytics.finish()
    wire = "\n".join(event_to_json(e) for e in publisher.events)
    assert all(str(i) not in wire for i in ids)
    assert "track" not in wire


def test_naive_start_time_refused() -> None:
    with pytest.raises(ConfigError, match="timezone"):
        StreamClock(datetime(2026, 11, 23, 8, 0))


class _CarsPresent:
    """A stand-in incident rule for the plug-in point: reports once when a car is first seen."""

    def __init__(self) -> None:
        self.reported = False

    def update(self, tracked: Detections, timestamp: float, at: datetime) -> list[IncidentEvent]:
        if self.reported or CAR not in tracked.class_id:
            return []
        self.reported = True
        return [
            IncidentEvent(
                id=new_event_id(),
                site="plaza",
                camera="cam-1",
                start=at,
                end=at + timedelta(seconds=1),
                incident="congestion",
            )
        ]

    def finish(self) -> list[IncidentEvent]:
        return []


def test_incident_detectors_plug_in() -> None:
    publisher = MemoryPublisher()
    analytics = CameraAnalytics(camera(), publisher, incident_detectors=[_CarsPresent()])
    play(analytics, 30, southbound(1, 10))
    assert [e.type for e in publisher.events] == ["incident"]
    assert publisher.events[0].start == T0 + timedelta(seconds=1)
    analytics.finish()
    assert analytics.totals.events == len(publisher.events)


def test_crossing_in_the_last_frames_is_in_the_last_event() -> None:
    """The stream ends one frame after a car passed the band (a crossing needs two): still counted, once."""
    publisher = MemoryPublisher()
    analytics = CameraAnalytics(camera(), publisher)
    # The car's ground point reaches y = 310 (beyond the 6 px band of its 40 px box) at frame 21.
    play(analytics, 22, southbound(11, 0))
    totals = analytics.finish()
    (last,) = of_type(publisher.events, LineCountEvent)
    assert last.counts == {"south": {"car": 1}, "north": {}}
    assert totals.lines == {"main": {"south": {"car": 1}, "north": {}}}


@pytest.mark.parametrize(
    ("stays_s", "mean_s", "max_s"),
    [
        ([12.5, 7.5], 10.0, 12.5),
        ([MAX_DWELL_S], MAX_DWELL_S, MAX_DWELL_S),
        ([MAX_DWELL_S + 1.0], MAX_DWELL_S, MAX_DWELL_S),  # a year and a day, and more: at the bound
        ([10.0, 3 * MAX_DWELL_S], MAX_DWELL_S, MAX_DWELL_S),
        ([10.0, MAX_DWELL_S + 2.0], MAX_DWELL_S / 2 + 6.0, MAX_DWELL_S),
    ],
)
def test_stays_longer_than_the_schema_takes_are_reported_at_its_bound(
    stays_s: list[float], mean_s: float, max_s: float
) -> None:
    stats = dwell_stats(stays_s)
    assert (stats.n, stats.mean_s, stats.max_s) == (len(stays_s), pytest.approx(mean_s), max_s)
    event = ZoneOccupancyEvent(
        id=new_event_id(),
        site="plaza",
        camera="cam-1",
        start=T0,
        end=T0 + timedelta(hours=1),
        zone="top",
        mean={"car": 1.0},
        peak={"car": 1},
        dwell={"car": stats},
    )
    assert parse_event(event_to_json(event)) == event


def test_an_hours_mean_occupancy_counts_the_minutes_nobody_was_there(tmp_path: Any) -> None:
    """A car stands in "top" for the first of two minutes: the hub's mean for the hour is half a car. When
    the edge left a class out of a minute without it, the hub averaged the minutes it was there only: 1.0."""
    from citytally.hub.queries import SeriesQuery, occupancy_series
    from citytally.hub.store import EventWriter, create_store_engine, migrate, sqlite_url, sync_registry

    publisher = MemoryPublisher()
    config = camera()
    analytics = CameraAnalytics(config, publisher)
    play(analytics, 600, lambda frame: tracked((3, 300, 200, CAR)))  # the first minute
    play(analytics, 600, lambda frame: Detections.empty(), first=600)  # the second, empty
    analytics.finish()
    engine = create_store_engine(sqlite_url(tmp_path / "hub.sqlite3"))
    migrate(engine)
    sync_registry(engine, [config])
    assert EventWriter(engine).write_events(publisher.events).stored == len(publisher.events)
    hour = SeriesQuery(start=T0, end=T0 + timedelta(hours=1), interval="1h", filters={"zone": "top"})
    rows = {row["class"]: row for row in occupancy_series(engine, hour).rows}
    assert rows["car"]["mean"] == pytest.approx(0.5) and rows["car"]["samples"] == 2
    assert rows["person"]["mean"] == 0 and rows["car"]["peak_max"] == 1
    engine.dispose()


def _run(config: CameraConfig, frames: int) -> list[Event]:
    publisher = MemoryPublisher()
    analytics = CameraAnalytics(config, publisher)
    play(analytics, frames, southbound(11, 200), southbound(12, 680, PERSON), southbound(13, 1230))
    analytics.finish()
    return publisher.events


def test_a_recording_analysed_again_repeats_its_ids_and_a_live_stream_does_not() -> None:
    """A recording (a start time) analysed twice sent new random ids, and the hub stored its counts twice.
    Its ids now follow from what each event reports: the same each time, unique within a run; a run cut
    short repeats the ids of the intervals it reported whole (the one it cut is another interval: the hub
    refuses the whole one over it as an overlap). A stream on the live clock keeps random ids."""
    first, again = _run(camera(), 1500), _run(camera(), 1500)
    assert [e.id for e in first] == [e.id for e in again] and first == again
    assert len({e.id for e in first}) == len(first) and {e.id.version for e in first} == {5}
    cut = _run(camera(), 900)  # 90 s of the 150: the second interval cut short, another interval
    whole = {e.id: e for e in first}
    assert [e for e in cut if e.start == T0] == [e for e in first if e.start == T0]
    assert {e.start for e in cut if e.id not in whole} == {T0 + timedelta(seconds=60)}
    live = [_run(camera(start_time=None), 300) for _ in range(2)]
    assert not {e.id for e in live[0]} & {e.id for e in live[1]}
    assert {e.id.version for e in live[0]} == {4}
    other = _run(camera(camera="cam-2"), 1500)  # another camera's recording of the same minutes
    assert not {e.id for e in other} & set(whole)
