"""One camera's incident detectors, built from its config and run on each frame's tracked road users."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import numpy.typing as npt

from citytally.edge.analytics.speed import GroundPlane
from citytally.edge.config import CameraConfig, ZoneConfig
from citytally.edge.detections import Detections
from citytally.edge.incident_config import (
    CrowdDensitySettings,
    LeftObjectSettings,
    QueueSettings,
    RoadwayIntrusionSettings,
    StoppedVehicleSettings,
    ViewChangedSettings,
    WrongWaySettings,
    ZoneRule,
)
from citytally.edge.incidents.base import Context, ZoneDetector
from citytally.edge.incidents.flow import QueueDetector
from citytally.edge.incidents.people import CrowdDensityDetector, RoadwayIntrusionDetector
from citytally.edge.incidents.static import LeftObjectDetector
from citytally.edge.incidents.tracks import TrackHistory
from citytally.edge.incidents.vehicles import StoppedVehicleDetector, WrongWayDetector
from citytally.edge.incidents.view import ViewChangeDetector
from citytally.errors import ConfigError
from citytally.events import EventIds, IncidentEvent

__all__ = ["IncidentEngine"]

# Long enough for the slowest rule's window (wrong way up to 30 s) plus a margin.
_KEEP_S = 32.0


#: No frame for longer than this (the stream's own read timeout): the camera was not watching meanwhile.
STREAM_GAP_S = 10.0


class IncidentEngine:
    """Runs every configured incident detector of one camera; an ``IncidentDetector`` for CameraAnalytics.

    Call :meth:`see` with the frame's picture before :meth:`update` if a ``left_object`` or ``view_changed``
    rule is configured (:attr:`needs_pictures`); the other rules read only the tracked boxes.
    """

    def __init__(self, config: CameraConfig) -> None:
        plane = GroundPlane.from_config(config.speed) if config.speed is not None else None
        self.tracks = TrackHistory(plane, _KEEP_S, forget_after_s=config.tracker.lost_buffer_s + 1.0)
        # A recording's (a start time) ids are derived: analysed again, it is stored once (events.EventIds).
        ids = EventIds.of_run(config.site, config.camera, config.start_time)
        context = Context(config.site, config.camera, config.incidents.update_s, ids)
        zones = {zone.name: zone for zone in config.zones}
        self.detectors: list[ZoneDetector] = []
        for kind, i, rule in config.incidents.rules():
            zone = zones.get(rule.zone)
            if zone is None:
                raise ConfigError(f"incidents.{kind}[{i}]: no zone named {rule.zone!r}")
            # two rules of one kind on one zone (a warning at 5 s, another at 30 s) count their own ids
            scoped = Context(context.site, context.camera, context.update_s, ids.scoped(f"{kind}[{i}]"))
            self.detectors.append(_build(rule, zone, scoped, plane))
        self._seers = [d for d in self.detectors if isinstance(d, LeftObjectDetector | ViewChangeDetector)]
        self._opened: list[IncidentEvent] = []
        self._last: float | None = None  # the stream time of the last frame

    def __bool__(self) -> bool:
        return bool(self.detectors)

    @property
    def needs_pictures(self) -> bool:
        return bool(self._seers)

    def see(self, image: npt.NDArray[np.uint8]) -> None:
        for detector in self._seers:
            detector.see(image)

    def update(self, tracked: Detections, timestamp: float, at: datetime) -> Sequence[IncidentEvent]:
        # A stream that was away (reconnected after an outage) saw nothing meanwhile: what was open is
        # cleared as at a stream's end (its last sighting, ``stream_ended``: it may well go on), not as if
        # the condition had gone; still there, it opens again.
        gap = self._last is not None and timestamp - self._last > STREAM_GAP_S
        events = list(self.finish()) if gap else []
        self._last = timestamp
        self.tracks.update(tracked, timestamp)
        events += [event for detector in self.detectors for event in detector.step(self.tracks, at)]
        self._opened.extend(event for event in events if event.phase == "onset")
        return events

    def take_opened(self) -> list[IncidentEvent]:
        """The incidents that opened since the last call (for a snapshot of the frame they opened on)."""
        opened, self._opened = self._opened, []
        return opened

    def finish(self) -> Sequence[IncidentEvent]:
        return [event for detector in self.detectors for event in detector.finish()]


def _build(rule: ZoneRule, zone: ZoneConfig, context: Context, plane: GroundPlane | None) -> ZoneDetector:
    if isinstance(rule, StoppedVehicleSettings):
        return StoppedVehicleDetector(rule, zone, context)
    if isinstance(rule, WrongWaySettings):
        return WrongWayDetector(rule, zone, context)
    if isinstance(rule, QueueSettings):
        return QueueDetector(rule, zone, context, plane)
    if isinstance(rule, RoadwayIntrusionSettings):
        return RoadwayIntrusionDetector(rule, zone, context)
    if isinstance(rule, CrowdDensitySettings):
        return CrowdDensityDetector(rule, zone, context, plane)
    if isinstance(rule, LeftObjectSettings):
        return LeftObjectDetector(rule, zone, context)
    if isinstance(rule, ViewChangedSettings):
        return ViewChangeDetector(rule, zone, context)
    raise ConfigError(f"unknown incident rule {type(rule).__name__}")
