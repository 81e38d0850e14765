"""One camera's analytics, summarised per reporting interval into anonymous events.

:class:`CameraAnalytics` joins riders to their two-wheelers (:mod:`.riders`), then feeds each frame's road
users to the count lines, zones, turning counter and speed meter, tallies their results into the current
interval, and when the stream's clock passes the end of the interval hands one event per line, zone,
movement table and conflict zone to a :class:`~citytally.transport.publisher.Publisher`.
Intervals are aligned to the clock (a 900 s interval runs 08:00–08:15, 08:15–08:30, ...). The stream's clock
is the frame's timestamp plus the configured start time for files, or anchored to the wall clock at the first
frame for live sources. Events carry counts and statistics only, never a track id.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypedDict, cast

import numpy as np
import numpy.typing as npt

from citytally.edge.analytics.conflicts import ConflictMonitor, ConflictTally, conflict_event
from citytally.edge.analytics.lines import Crossing, LineCounter
from citytally.edge.analytics.riders import RiderMerger
from citytally.edge.analytics.speed import GroundPlane, SpeedMeter
from citytally.edge.analytics.turns import Turn, TurningCounter
from citytally.edge.analytics.zones import Dwell, ZoneMonitor
from citytally.edge.config import CameraConfig
from citytally.edge.detections import Detections
from citytally.errors import ConfigError
from citytally.events import (
    MAX_DWELL_S,
    ROAD_USER_CLASSES,
    DwellStats,
    Event,
    EventIds,
    IncidentEvent,
    LineCountEvent,
    Movement,
    RoadUserClass,
    SpeedEvent,
    SpeedStats,
    TurningMovementEvent,
    ZoneOccupancyEvent,
)
from citytally.transport.publisher import Publisher

__all__ = ["CameraAnalytics", "FrameAnalytics", "IncidentDetector", "RunTotals", "StreamClock", "dwell_stats"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_SPAN = timedelta(milliseconds=1)
_BREAK = timedelta(seconds=2)
_CLASSES = cast(tuple[RoadUserClass, ...], ROAD_USER_CLASSES)


class _Head(TypedDict):
    """The fields every event of one interval shares."""

    id: uuid.UUID
    site: str
    camera: str
    start: datetime
    end: datetime


log = logging.getLogger(__name__)

_CLOCK_STEP_S = 1.0  # a change of the system clock against the monotonic one by this much is a step
_PLAUSIBLE = datetime(2026, 1, 1, tzinfo=UTC)  # a live clock before this has not been set since boot
#: Events held while the clock is not set, at most (a day of one-minute intervals on 30 lines and zones).
_HELD_MAX = 50_000


def _utc_now() -> datetime:
    return datetime.now(UTC)


class StreamClock:
    """Maps a frame's timestamp (seconds on the stream's clock) to wall time.

    Files: ``start`` (the wall time of the first frame) plus the timestamp. No ``start``: the wall clock
    at the first frame, then advanced by the stream's own timestamps, so intervals follow the frames even
    when processing lags behind (or, for a file, runs ahead). Live streams (``live``): a frame is never
    stamped later than it came: a stream that delivers faster than real time for a while (the frames a
    camera had buffered when it was connected to, or again after a reconnect) pulls the anchor back to
    now. When the system clock is set
    (NTP stepping the clock of a box that booted without the time, or an operator), the stamps move with
    it: the clock's distance from the monotonic clock, which only such a step changes, is watched. While
    it reads before 2026 (``unset``: never set since boot), what is stamped then is wrong by however far
    the step that sets it goes: ``correction`` is that, once it is set.
    """

    def __init__(
        self,
        start: datetime | None = None,
        now: Callable[[], datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        *,
        live: bool = False,
    ) -> None:
        if start is not None and start.utcoffset() is None:
            raise ConfigError(f"start time {start.isoformat()} needs a timezone (e.g. Z or +01:00)")
        self._start = start
        self._live = live and start is None
        self._now = now
        self._monotonic = monotonic
        self._anchor: datetime | None = start
        self._set_by: float | None = None  # the system clock minus the monotonic clock, in seconds
        #: The live clock reads before 2026: it has not been set since boot.
        self.unset = False
        self._unset_by: float | None = None  # ``_set_by`` while it was unset
        #: Seconds to add to a stamp before 2026 (taken while the clock was unset), once it has been set.
        self.correction: float | None = None

    def wall(self, timestamp: float) -> datetime:
        offset = timedelta(seconds=timestamp)
        if not self._live:
            if self._anchor is None:  # a file without a start time: from now, at the stream's pace
                self._anchor = self._now() - offset
            return (self._anchor + offset).astimezone(UTC)
        now = self._now()
        set_by = now.timestamp() - self._monotonic()
        if self._anchor is None:
            self._anchor = now - offset
            if now < _PLAUSIBLE:
                log.error(
                    "the system clock says %s: it has not been set since boot; events are held until it is"
                    " (NTP), then go out at the time they happened",
                    now.isoformat(timespec="seconds"),
                )
        elif self._set_by is not None and abs(set_by - self._set_by) >= _CLOCK_STEP_S:
            step = set_by - self._set_by
            self._anchor += timedelta(seconds=step)
            log.warning("the system clock was set %+.1f s; events are stamped by it from here", step)
        self._set_by = set_by
        if now < _PLAUSIBLE:
            self.unset = True
            if self._unset_by is None:
                self._unset_by = set_by
        elif self.unset and self._unset_by is not None:
            self.unset = False
            self.correction = set_by - self._unset_by
            log.warning("the system clock is set: %d s on; the events held go out", round(self.correction))
        if self._anchor + offset > now:  # never later than it came
            self._anchor = now - offset
        return (self._anchor + offset).astimezone(UTC)


class IncidentDetector(Protocol):
    """A place for incident rules (stopped vehicle, wrong way, ...; a later issue).

    It sees every frame and returns incidents to publish at once; :class:`CameraAnalytics` takes a sequence.
    """

    def update(self, tracked: Detections, timestamp: float, at: datetime) -> Sequence[IncidentEvent]: ...

    def finish(self) -> Sequence[IncidentEvent]: ...


@dataclass(frozen=True)
class FrameAnalytics:
    """What one frame produced (for overlays and logs; the events carry the aggregates)."""

    at: datetime
    crossings: list[Crossing]
    turns: list[Turn]
    occupancy: dict[str, dict[RoadUserClass, int]]


@dataclass
class RunTotals:
    """Totals over the whole run, for a summary at the end."""

    lines: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    zone_peaks: dict[str, dict[str, int]] = field(default_factory=dict)
    movements: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    frames: int = 0
    events: int = 0


def _class_counts(present: npt.NDArray[np.int64]) -> dict[RoadUserClass, int]:
    return {_CLASSES[i]: int(n) for i, n in enumerate(present) if n > 0}


@dataclass
class _Interval:
    start: datetime
    end: datetime
    first_frame: datetime
    last_frame: datetime
    frames: int = 0
    crossings: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    speeds: dict[tuple[str, str, int], list[float]] = field(default_factory=dict)
    zone_sum: dict[str, npt.NDArray[np.int64]] = field(default_factory=dict)
    zone_peak: dict[str, npt.NDArray[np.int64]] = field(default_factory=dict)
    dwells: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    turns: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    conflicts: dict[str, ConflictTally] = field(default_factory=dict)


class CameraAnalytics:
    """Runs a camera's analytics frame by frame and publishes one set of events per interval.

    Call :meth:`update` for *every* analysed frame (also frames with no road user: they count for the zone
    means) and :meth:`finish` once at the end of the stream to flush the last, partial interval.
    """

    def __init__(
        self,
        config: CameraConfig,
        publisher: Publisher,
        clock: StreamClock | None = None,
        incident_detectors: Sequence[IncidentDetector] = (),
        ids: EventIds | None = None,
    ) -> None:
        self.config = config
        self.publisher = publisher
        self.clock = clock or StreamClock(config.start_time)
        #: A recording's (a start time) ids are derived: analysed again, it is stored once (events.EventIds).
        self.ids = ids or EventIds.of_run(config.site, config.camera, config.start_time)
        self.incident_detectors = list(incident_detectors)
        # Analysers must remember a track for longer than the tracker can recover it after an occlusion.
        forget = config.tracker.lost_buffer_s + 1.0
        self.lines = [LineCounter(line, forget) for line in config.lines]
        self.zones = [ZoneMonitor(zone, forget) for zone in config.zones]
        self.turning = TurningCounter(config.turning, config.zones, forget) if config.turning else None
        self.speed = SpeedMeter.from_config(config.speed, forget) if config.speed else None
        self.conflicts = _conflict_monitors(config, forget)
        # Every analyser sees road users: a rider and the two-wheeler under them are one (riders.py).
        self.riders = RiderMerger(forget_after_s=forget)
        self._interval_s = config.interval_seconds
        self._current: _Interval | None = None
        #: Events made while the live clock was not set, until it is (``_HELD_MAX`` at most).
        self._held: deque[Event] = deque()
        self._held_overflowed = False  # said once that the oldest held go out as stamped
        self._covered_until: datetime | None = None
        self._last_frame: datetime | None = None
        self._frame_gap = _MIN_SPAN
        self.totals = RunTotals(
            lines={line.name: {d: {} for d in line.directions} for line in config.lines},
            zone_peaks={zone.name: {} for zone in config.zones},
        )

    def update(self, tracked: Detections, timestamp: float) -> FrameAnalytics:
        """Analyse one frame of tracked detections at ``timestamp`` seconds on the stream's clock."""
        at = self.clock.wall(timestamp)
        if self._held and not self.clock.unset:
            self._release()
        tracked = self.riders.update(tracked, timestamp)
        interval = self._interval_for(at)
        if self._last_frame is not None and at > self._last_frame:
            self._frame_gap = at - self._last_frame
        self._last_frame = at
        interval.frames += 1
        self.totals.frames += 1
        if self.speed is not None:
            self.speed.update(tracked, timestamp)
        crossings = [c for line in self.lines for c in line.update(tracked, timestamp)]
        for crossing in crossings:
            self._tally_crossing(interval, crossing)
        occupancy: dict[str, dict[RoadUserClass, int]] = {}
        for zone in self.zones:
            result = zone.update(tracked, timestamp)
            self._tally_zone(interval, result.zone, result.present, result.departures)
            occupancy[zone.name] = _class_counts(result.present)
        turns = self.turning.update(tracked, timestamp) if self.turning else []
        for turn in turns:
            interval.turns[(turn.from_zone, turn.to_zone, turn.class_id)] += 1
            moves = self.totals.movements.setdefault(turn.from_zone, {}).setdefault(turn.to_zone, {})
            cls = ROAD_USER_CLASSES[turn.class_id]
            moves[cls] = moves.get(cls, 0) + 1
        for monitor in self.conflicts:
            found = monitor.update(tracked, timestamp)
            interval.conflicts.setdefault(monitor.zone, ConflictTally()).add(found)
        for detector in self.incident_detectors:
            self._publish(list(detector.update(tracked, timestamp, at)))
        return FrameAnalytics(at, crossings, turns, occupancy)

    def finish(self) -> RunTotals:
        """End of stream: close crossings in progress and open zone stays, publish the last (partial)
        interval, return the totals."""
        interval = self._current
        if interval is not None:
            # Crossings still in progress in the last frames close now (lines.py has the rule).
            for line in self.lines:
                for crossing in line.finish():
                    self._tally_crossing(interval, crossing)
            for zone in self.zones:
                self._tally_zone(interval, zone.name, None, zone.finish())
            for monitor in self.conflicts:
                interval.conflicts.setdefault(monitor.zone, ConflictTally()).add(monitor.finish())
            self._emit(interval, final=True)
            self._current = None
        for detector in self.incident_detectors:
            self._publish(list(detector.finish()))
        if self._held:
            log.error(
                "the system clock was never set: %d events go out stamped by it (%s), which the hub refuses"
                " as too old",
                len(self._held),
                self._held[0].start.isoformat(timespec="seconds"),
            )
            self._release()
        return self.totals

    # -- intervals ---------------------------------------------------------------------------------

    def _interval_for(self, at: datetime) -> _Interval:
        current = self._current
        if current is not None:
            # After a break in the stream the interval ends with its last frame, not at its boundary, and
            # what follows starts at its first frame: also a break within one interval, whose minutes
            # unwatched would otherwise be reported as watched (and their zero crossings as measured).
            broken = at - current.last_frame > max(_BREAK, 10 * self._frame_gap)
            if broken or at >= current.end:
                self._emit(current, final=broken)
                current = None
        if current is None:
            index = math.floor((at - _EPOCH).total_seconds() / self._interval_s)
            aligned = _EPOCH + timedelta(seconds=index * self._interval_s)
            # The first interval, or one after a gap, starts at its first frame: only report what was watched.
            start = aligned if self._covered_until == aligned else at
            current = _Interval(start, aligned + timedelta(seconds=self._interval_s), at, at)
            self._current = current
        current.last_frame = at
        return current

    def _emit(self, interval: _Interval, final: bool) -> None:
        """Publish an interval's events; ``final``: the video ends (for now) with its last frame."""
        end = interval.end
        if final:
            # The last frame stands for one frame period of video.
            end = min(interval.end, max(interval.last_frame + self._frame_gap, interval.start + _MIN_SPAN))
        self._publish(self._events(interval, end))
        self._covered_until = end

    def _publish(self, events: list[Event]) -> None:
        """Publish ``events``; while the live clock is not set, hold them, and once it is, send those held
        first, every stamp taken before it was set moved by the step that set it."""
        if self.clock.unset:
            self._held.extend(events)
            if len(self._held) > _HELD_MAX and not self._held_overflowed:
                self._held_overflowed = True
                log.error(
                    "the system clock is still not set and %d events are held: from now on the oldest go "
                    "out stamped by it (%s), which the hub refuses as too old",
                    _HELD_MAX,
                    self._held[0].start.isoformat(timespec="seconds"),
                )
            while len(self._held) > _HELD_MAX:  # a clock never set: the oldest go out as they are
                self._send(self._held.popleft())
            return
        if self._held:
            self._release()
        for event in events:
            self._send(event)

    def _release(self) -> None:
        while self._held:
            self._send(self._held.popleft())

    def _send(self, event: Event) -> None:
        correction = self.clock.correction
        if correction is not None and event.start < _PLAUSIBLE:
            shift = timedelta(seconds=correction)
            end = event.end + shift if event.end < _PLAUSIBLE else event.end
            event = event.model_copy(update={"start": event.start + shift, "end": end})
        self.publisher.publish(event)
        self.totals.events += 1

    # -- tallies -------------------------------------------------------------------------------------

    def _tally_crossing(self, interval: _Interval, crossing: Crossing) -> None:
        key = (crossing.line, crossing.direction, crossing.class_id)
        interval.crossings[key] += 1
        by_class = self.totals.lines[crossing.line][crossing.direction]
        cls = ROAD_USER_CLASSES[crossing.class_id]
        by_class[cls] = by_class.get(cls, 0) + 1
        if self.speed is not None and (kmh := self.speed.speed_kmh(crossing.track_id)) is not None:
            interval.speeds.setdefault(key, []).append(kmh)

    def _tally_zone(
        self, interval: _Interval, zone: str, present: npt.NDArray[np.int64] | None, departures: list[Dwell]
    ) -> None:
        for dwell in departures:
            interval.dwells.setdefault((zone, dwell.class_id), []).append(dwell.seconds)
        if present is None:
            return
        if zone in interval.zone_sum:
            interval.zone_sum[zone] = interval.zone_sum[zone] + present
            interval.zone_peak[zone] = np.maximum(interval.zone_peak[zone], present)
        else:
            interval.zone_sum[zone], interval.zone_peak[zone] = present.copy(), present.copy()
        peaks = self.totals.zone_peaks[zone]
        for cls, n in _class_counts(present).items():
            peaks[cls] = max(peaks.get(cls, 0), n)

    # -- events --------------------------------------------------------------------------------------

    def _events(self, interval: _Interval, end: datetime) -> list[Event]:
        def head(kind: str, place: str = "") -> _Head:
            # A recording analysed again sends the same ids (the hub checks them: events.derived_event_id)
            return _Head(
                id=self.ids.interval(kind, place, interval.start, end),
                site=self.config.site,
                camera=self.config.camera,
                start=interval.start,
                end=end,
            )

        events: list[Event] = []
        for line in self.config.lines:
            counts = {
                d: {
                    _CLASSES[c]: n
                    for (name, direction, c), n in sorted(interval.crossings.items())
                    if name == line.name and direction == d
                }
                for d in line.directions
            }
            events.append(LineCountEvent(line=line.name, counts=counts, **head("line_count", line.name)))
            speeds: dict[str, dict[RoadUserClass, SpeedStats]] = {}
            for (name, direction, c), values in sorted(interval.speeds.items()):
                if name == line.name:
                    speeds.setdefault(direction, {})[_CLASSES[c]] = SpeedStats.of(values)
            if speeds:
                events.append(SpeedEvent(line=line.name, speeds=speeds, **head("speed", line.name)))
        for zone in self.config.zones:
            events.append(self._zone_event(interval, zone.name, head("zone_occupancy", zone.name)))
        if self.turning is not None:
            movements = [
                Movement.model_validate({"from_zone": a, "to_zone": b, "class": _CLASSES[c], "count": n})
                for (a, b, c), n in sorted(interval.turns.items())
            ]
            events.append(TurningMovementEvent(movements=movements, **head("turning_movement")))
        for monitor in self.conflicts:
            tally = interval.conflicts.get(monitor.zone, ConflictTally())
            events.append(conflict_event(head("conflict", monitor.zone), tally, monitor))
        return events

    def _zone_event(self, interval: _Interval, zone: str, head: _Head) -> ZoneOccupancyEvent:
        frames = max(interval.frames, 1)
        total = interval.zone_sum.get(zone, np.zeros(len(ROAD_USER_CLASSES), np.int64))
        peak = interval.zone_peak.get(zone, np.zeros(len(ROAD_USER_CLASSES), np.int64))
        dwell = {
            _CLASSES[c]: dwell_stats(v) for (name, c), v in sorted(interval.dwells.items()) if name == zone
        }
        # Every class the camera detects, 0 where none was there: the hub's mean over an hour is then over
        # every interval, not only those in which the class was seen (one car in one minute of sixty was a
        # mean of 1.0 present for the hour).
        watched = self.config.detector.classes or _CLASSES
        return ZoneOccupancyEvent(
            zone=zone,
            mean={c: round(float(total[i]) / frames, 4) for i, c in enumerate(_CLASSES) if c in watched},
            peak={c: int(peak[i]) for i, c in enumerate(_CLASSES) if c in watched},
            dwell=dwell,
            **head,
        )


def dwell_stats(stays_s: Sequence[float]) -> DwellStats:
    """The stays of one class in one zone and interval, in seconds; a stay longer than the schema takes
    (a stream resumed after a year with the road user still there) counts as that long."""
    return DwellStats(
        n=len(stays_s),
        mean_s=min(round(float(np.mean(stays_s)), 3), MAX_DWELL_S),
        max_s=min(round(max(stays_s), 3), MAX_DWELL_S),
    )


def _conflict_monitors(config: CameraConfig, forget_after_s: float) -> list[ConflictMonitor]:
    """One conflict monitor per ``[[conflicts]]`` table (the config has checked zones and calibration)."""
    if not config.conflicts:
        return []
    if config.speed is None:
        raise ConfigError("conflicts: needs the [speed] ground-plane calibration")
    plane = GroundPlane.from_config(config.speed)
    zones = {zone.name: zone for zone in config.zones}
    monitors = []
    for i, settings in enumerate(config.conflicts):
        if settings.zone not in zones:
            raise ConfigError(f"conflicts[{i}].zone: no zone named {settings.zone!r}")
        monitors.append(ConflictMonitor(settings, zones[settings.zone], plane, forget_after_s))
    return monitors
