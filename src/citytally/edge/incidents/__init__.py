"""Incident detectors of one camera: stopped vehicles, wrong-way movement, queues and congestion, people on
the carriageway, crowd density, objects left standing.

They read the tracker's output (and, for left objects, the picture) inside the edge and report incidents
about places as :class:`~citytally.events.IncidentEvent` onsets, updates and clearances; no track id leaves.
:class:`IncidentEngine` builds them from the camera config's ``[incidents]`` table (docs/incidents.md).
"""

from citytally.edge.incidents.book import IncidentBook
from citytally.edge.incidents.engine import IncidentEngine
from citytally.edge.incidents.flow import QueueDetector, queue_length_m
from citytally.edge.incidents.people import CrowdDensityDetector, RoadwayIntrusionDetector, fruin_level
from citytally.edge.incidents.static import LeftObjectDetector
from citytally.edge.incidents.tracks import Motion, TrackHistory, Trail
from citytally.edge.incidents.vehicles import StoppedVehicleDetector, WrongWayDetector

__all__ = [
    "CrowdDensityDetector",
    "IncidentBook",
    "IncidentEngine",
    "LeftObjectDetector",
    "Motion",
    "QueueDetector",
    "RoadwayIntrusionDetector",
    "StoppedVehicleDetector",
    "TrackHistory",
    "Trail",
    "WrongWayDetector",
    "fruin_level",
    "queue_length_m",
]
