"""Analytics of tracked road users in one camera: count lines, zones, turning movements, speeds, intervals.

Each analyser is a small stateful class whose ``update(tracked, timestamp)`` takes a frame's tracked
:class:`~citytally.edge.detections.Detections` and returns that frame's per-object results, keeping a bounded
per-track history. :class:`CameraAnalytics` runs them all and publishes anonymous events per interval.
"""

from citytally.edge.analytics.intervals import (
    CameraAnalytics,
    FrameAnalytics,
    IncidentDetector,
    RunTotals,
    StreamClock,
)
from citytally.edge.analytics.lines import Crossing, LineCounter
from citytally.edge.analytics.riders import RiderMerger, RiderRule
from citytally.edge.analytics.speed import GroundPlane, SpeedMeter
from citytally.edge.analytics.turns import Turn, TurningCounter
from citytally.edge.analytics.zones import Dwell, ZoneFrame, ZoneMonitor

__all__ = [
    "CameraAnalytics",
    "Crossing",
    "Dwell",
    "FrameAnalytics",
    "GroundPlane",
    "IncidentDetector",
    "LineCounter",
    "RiderMerger",
    "RiderRule",
    "RunTotals",
    "SpeedMeter",
    "StreamClock",
    "Turn",
    "TurningCounter",
    "ZoneFrame",
    "ZoneMonitor",
]
