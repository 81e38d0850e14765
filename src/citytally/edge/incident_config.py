"""The ``[incidents]`` table of a camera config: which incident detectors run, where, with what thresholds.

Every detector watches one zone of the camera (``zone = "<name>"`` from ``[[zones]]``); several of one kind
are a list (``[[incidents.stopped_vehicle]]``). Defaults are documented per field and in docs/incidents.md.
Detectors that measure on the ground (queue length in metres, persons per m²) need the camera's ``[speed]``
ground-plane calibration; :class:`~citytally.edge.config.CameraConfig` checks that and the zone names.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from citytally.events import SLUG_PATTERN, RoadUserClass

__all__ = [
    "FRUIN_LEVELS",
    "IncidentSettings",
    "StoppedVehicleSettings",
    "WrongWaySettings",
    "QueueSettings",
    "RoadwayIntrusionSettings",
    "CrowdDensitySettings",
    "LeftObjectSettings",
    "ViewChangedSettings",
    "VEHICLE_CLASSES",
    "ZoneRule",
    "valid_rules",
    "needs_ground",
    "GROUND_FALLBACKS",
]

Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]
PixelCoord = Annotated[float, Field(ge=0, le=100_000)]
PixelPoint = tuple[PixelCoord, PixelCoord]
DirectionComponent = Annotated[float, Field(ge=-100_000, le=100_000, allow_inf_nan=False)]
Severity = Literal["info", "warning", "critical"]
FruinLevel = Literal["A", "B", "C", "D", "E", "F"]
FRUIN_LEVELS: tuple[FruinLevel, ...] = ("A", "B", "C", "D", "E", "F")
VehicleClass = Literal["car", "motorcycle", "bus", "truck"]
VEHICLE_CLASSES: tuple[VehicleClass, ...] = ("car", "motorcycle", "bus", "truck")


class _Model(BaseModel):
    # NaN and infinity (TOML has both) are no settings; they would fail a bound with a misleading message
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ZoneRule(_Model):
    """What every detector has: the zone it watches and how long the condition must be gone to clear."""

    zone: Slug = Field(description="The zone (from [[zones]]) this detector watches.")
    clear_s: float = Field(
        default=3.0, ge=0, le=600, description="Seconds without the condition before the incident is cleared."
    )


class StoppedVehicleSettings(ZoneRule):
    """A vehicle standing still in a no-stopping zone for longer than ``min_stop_s``."""

    min_stop_s: float = Field(default=5.0, ge=0.5, le=3600, description="Seconds standing before it counts.")
    max_speed_kmh: float = Field(
        default=4.0,
        gt=0,
        le=30,
        description="At or below this a vehicle stands (needs [speed]; else pixels).",
    )
    max_speed_px_s: float = Field(
        default=3.0, gt=0, le=200, description="Without [speed]: at or below this many pixels/s it stands."
    )
    leave_m: float = Field(
        default=2.0,
        gt=0,
        le=50,
        description="A standing vehicle that moves this far (m) from its stop goes on.",
    )
    leave_px: float = Field(
        default=10.0, gt=0, le=500, description="Without [speed]: the same distance in pixels."
    )
    regain_s: float = Field(
        default=5.0,
        ge=0,
        le=60,
        description="A vehicle lost for up to this long and seen again within leave_m continues its stop.",
    )
    classes: tuple[VehicleClass, ...] = Field(
        default=VEHICLE_CLASSES, min_length=1, description="Classes watched (vehicles)."
    )
    severity: Severity = Field(default="warning", description="Severity of the incident.")


class WrongWaySettings(ZoneRule):
    """Movement against the expected direction of a lane or path.

    The expected direction is ``direction`` ([dx, dy] in image pixels, the same everywhere in the zone) or
    ``path`` (a polyline in pixels drawn the way traffic should go: the nearest segment gives the direction).
    """

    clear_s: float = Field(
        default=10.0,
        ge=0,
        le=600,
        description="Seconds without wrong-way movement before it clears (tracks break in oncoming traffic).",
    )
    direction: tuple[DirectionComponent, DirectionComponent] | None = Field(
        default=None, description="Expected [dx, dy] in pixels."
    )
    path: list[PixelPoint] | None = Field(
        default=None, min_length=2, max_length=64, description="Polyline in the direction of travel."
    )
    min_distance_m: float = Field(
        default=15.0,
        gt=0,
        le=500,
        description="Least movement against the direction (m) in a track's history kept, its last 32 s "
        "(with [speed]).",
    )
    min_distance_px: float = Field(
        default=30.0, ge=1, le=5000, description="Without [speed]: the least movement in pixels."
    )
    max_angle_deg: float = Field(
        default=60.0, ge=10, le=90, description="Movement within this angle of the reverse direction counts."
    )
    window_s: float = Field(default=2.0, ge=0.2, le=30, description="Seconds of movement looked at.")
    classes: tuple[RoadUserClass, ...] = Field(
        default=(*VEHICLE_CLASSES, "bicycle"), min_length=1, description="Classes watched."
    )
    severity: Severity = Field(default="critical", description="Severity of the incident.")

    @model_validator(mode="after")
    def _one_direction(self) -> WrongWaySettings:
        if (self.direction is None) == (self.path is None):
            raise ValueError("give either direction = [dx, dy] or path = [[x, y], ...], exactly one")
        if self.direction is not None and self.direction[0] == 0 and self.direction[1] == 0:
            raise ValueError("direction [0, 0] has no direction")
        if self.path is not None and any(a == b for a, b in zip(self.path, self.path[1:], strict=False)):
            raise ValueError("path repeats a point: each segment needs length")
        return self


class QueueSettings(ZoneRule):
    """Queue length (metres, from ``head``) and congestion (occupancy plus speed) on one approach."""

    head: PixelPoint = Field(description="The queue's head, e.g. the middle of the stop line, in pixels.")
    queued_kmh: float = Field(default=7.0, gt=0, le=30, description="Vehicles at or below this are queued.")
    max_gap_m: float = Field(
        default=20.0,
        gt=0,
        le=200,
        description="A queued vehicle further than this from the one ahead ends it.",
    )
    onset_m: float = Field(
        default=30.0, gt=0, le=5000, description="A queue this long (m) opens an incident."
    )
    clear_m: float = Field(default=15.0, ge=0, le=5000, description="Shorter than this (m) it can clear.")
    onset_s: float = Field(default=5.0, ge=0, le=600, description="Seconds over onset_m before it opens.")
    regain_s: float = Field(
        default=3.0,
        ge=0,
        le=60,
        description="A queued vehicle the detector misses stays in the queue, where it was, this long.",
    )
    congested_kmh: float = Field(
        default=15.0, gt=0, le=120, description="Congestion: mean vehicle speed at or below this ..."
    )
    congested_vehicles: int = Field(
        default=4, ge=1, le=1000, description="... with at least this many vehicles in the zone."
    )
    clear_kmh: float | None = Field(
        default=None,
        gt=0,
        le=120,
        description="Open congestion holds up to this mean speed (hysteresis); None: congested_kmh + 5.",
    )
    classes: tuple[VehicleClass, ...] = Field(
        default=VEHICLE_CLASSES, min_length=1, description="Classes counted (vehicles)."
    )
    severity: Severity = Field(default="warning", description="Severity of the incident.")

    @model_validator(mode="after")
    def _hysteresis(self) -> QueueSettings:
        if self.clear_m > self.onset_m:
            raise ValueError(f"clear_m ({self.clear_m}) must not exceed onset_m ({self.onset_m})")
        if self.clear_kmh is not None and self.clear_kmh < self.congested_kmh:
            raise ValueError(
                f"clear_kmh ({self.clear_kmh}) must not be under congested_kmh ({self.congested_kmh})"
            )
        return self

    @property
    def holds_kmh(self) -> float:
        """The mean speed up to which open congestion holds."""
        return self.clear_kmh if self.clear_kmh is not None else self.congested_kmh + 5.0


class RoadwayIntrusionSettings(ZoneRule):
    """Pedestrians or cyclists in a zone where they should not be (the carriageway)."""

    min_duration_s: float = Field(default=2.0, ge=0, le=600, description="Seconds present before it counts.")
    classes: tuple[Literal["person", "bicycle"], ...] = Field(
        default=("person", "bicycle"), min_length=1, description="Classes watched (persons, cyclists)."
    )
    severity: Severity = Field(default="warning", description="Severity of the incident.")


class CrowdDensitySettings(ZoneRule):
    """Persons per m² in a calibrated zone, with Fruin's levels of service (walkway or queuing tables)."""

    area_m2: float | None = Field(
        default=None,
        gt=0,
        le=1_000_000,
        description="The zone's ground area; None: from the [speed] calibration.",
    )
    table: Literal["walkway", "queuing"] = Field(
        default="walkway", description="Which Fruin table grades it."
    )
    alert_level: Literal["B", "C", "D", "E", "F"] = Field(
        default="E", description="Level of service that opens an incident (A is an empty zone's)."
    )
    crush_per_m2: float = Field(default=4.0, gt=0, le=20, description="Crush risk: critical at this density.")
    collapse_per_m2: float = Field(default=5.0, gt=0, le=20, description="Flow collapses at this density.")
    window_s: float = Field(
        default=5.0, ge=0, le=120, description="Density is the mean over this many seconds."
    )
    min_duration_s: float = Field(
        default=3.0, ge=0, le=600, description="Seconds at the level before it opens."
    )
    hysteresis_per_m2: float = Field(
        default=0.25,
        ge=0,
        le=5,
        description="A level, the severity or the incident itself goes down only once the density is this "
        "far below the threshold it crossed going up (a crowd hovering at a threshold would flap).",
    )

    @model_validator(mode="after")
    def _ordered(self) -> CrowdDensitySettings:
        if self.collapse_per_m2 < self.crush_per_m2:
            raise ValueError(
                f"collapse_per_m2 ({self.collapse_per_m2}) is below crush_per_m2 ({self.crush_per_m2})"
            )
        return self


class LeftObjectSettings(ZoneRule):
    """An object left standing: a new static region of the picture, with no road user next to it."""

    min_static_s: float = Field(default=30.0, ge=1, le=3600, description="Seconds static before it counts.")
    unattended_s: float = Field(
        default=10.0, ge=0, le=3600, description="... and seconds without a road user next to it."
    )
    min_area_px: float = Field(
        default=400.0, ge=16, le=1_000_000, description="Least area (pixels) of the region."
    )
    near_px: float = Field(
        default=30.0, ge=0, le=1000, description="A road user this near (pixels) attends it."
    )
    difference: int = Field(default=30, ge=5, le=200, description="Grey-level change that counts as new.")
    scale: float = Field(
        default=0.25, gt=0, le=1, description="The picture is analysed at this scale (speed)."
    )
    check_s: float = Field(
        default=0.5,
        ge=0,
        le=10,
        description="Seconds between two looks at the picture (road users near it are noted every frame).",
    )
    severity: Severity = Field(default="warning", description="Severity of the incident.")


class ViewChangedSettings(ZoneRule):
    """The camera's view moved or is lost (knocked, turned, covered, out of focus): the scenery of the zone
    (kerbs, markings, walls: its edges) no longer matches what the edge saw when it started."""

    check_s: float = Field(default=2.0, ge=0.1, le=600, description="Seconds between two looks at the view.")
    onset_s: float = Field(
        default=20.0, ge=0, le=3600, description="Seconds the view must stay changed before it counts."
    )
    moved_px: float = Field(
        default=8.0, ge=1, le=10_000, description="A shift of the picture by this many pixels is a move."
    )
    min_match: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Least correlation of the zone's edges with the learned view's; below it, changed.",
    )
    clear_s: float = Field(
        default=10.0, ge=0, le=600, description="Seconds of the view back before the incident is cleared."
    )
    severity: Severity = Field(default="warning", description="Severity of the incident.")


class IncidentSettings(_Model):
    """Incident detectors of one camera. Each list holds one detector per watched zone."""

    update_s: float = Field(
        default=30.0,
        ge=1,
        le=3600,
        description="An open incident whose numbers changed is updated this often.",
    )
    snapshots: bool = Field(
        default=False,
        description=(
            "Write one masked still per opened incident to <out>/snapshots/<incident_id>.png (every person, "
            "face and vehicle filled solid); it stays on the edge. Off unless an operator turns it on."
        ),
    )
    stopped_vehicle: list[StoppedVehicleSettings] = Field(default_factory=list, max_length=32)
    wrong_way: list[WrongWaySettings] = Field(default_factory=list, max_length=32)
    queue: list[QueueSettings] = Field(default_factory=list, max_length=32)
    pedestrian_on_roadway: list[RoadwayIntrusionSettings] = Field(default_factory=list, max_length=32)
    crowd_density: list[CrowdDensitySettings] = Field(default_factory=list, max_length=32)
    left_object: list[LeftObjectSettings] = Field(default_factory=list, max_length=32)
    view_changed: list[ViewChangedSettings] = Field(default_factory=list, max_length=32)

    def rules(self) -> list[tuple[str, int, ZoneRule]]:
        """(kind, index, settings) of every configured detector, in config order."""
        return [(kind, i, rule) for kind in _KINDS for i, rule in enumerate(getattr(self, kind))]


_KINDS: dict[str, type[ZoneRule]] = {
    "stopped_vehicle": StoppedVehicleSettings,
    "wrong_way": WrongWaySettings,
    "queue": QueueSettings,
    "pedestrian_on_roadway": RoadwayIntrusionSettings,
    "crowd_density": CrowdDensitySettings,
    "left_object": LeftObjectSettings,
    "view_changed": ViewChangedSettings,
}


def valid_rules(raw: object) -> list[tuple[str, int, ZoneRule]]:
    """The detectors of a raw ``[incidents]`` table that are valid on their own, with their kind and index.

    A broken file's cross-field problems (an unknown zone, a missing calibration) are found from these and
    reported together with the field errors.
    """
    if not isinstance(raw, dict):
        return []
    found: list[tuple[str, int, ZoneRule]] = []
    for kind, model in _KINDS.items():
        items = raw.get(kind)
        for i, item in enumerate(items if isinstance(items, list) else []):
            try:
                found.append((kind, i, model.model_validate(item)))
            except ValueError:
                continue
    return found


#: Settings measured on the ground (with [speed]) → the setting a camera without [speed] uses instead.
GROUND_FALLBACKS: dict[str, str] = {
    "max_speed_kmh": "max_speed_px_s",
    "leave_m": "leave_px",
    "min_distance_m": "min_distance_px",
}


def needs_ground(kind: str, rule: ZoneRule) -> bool:
    """Whether the detector measures on the ground and so needs the [speed] calibration."""
    return kind == "queue" or (isinstance(rule, CrowdDensitySettings) and rule.area_m2 is None)
