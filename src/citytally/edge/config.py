"""Camera config: one TOML file per camera, validated into nested pydantic models.

A bad file raises :class:`CameraConfigError` (a :class:`~citytally.errors.ConfigError`) whose message has one
line per problem: ``file:line: dotted.path[1].field: what is wrong``.

Line directions: ``directions = ["a", "b"]`` names the two ways across the line p1→p2. ``a`` is a crossing
from the **left** of p1→p2 to its **right**, ``b`` from right to left, where left and right are as seen by
someone walking from p1 to p2 on the displayed image. Example: p1 = [0, 300], p2 = [768, 300] (drawn left
to right): ``a`` is moving *down* the image, ``b`` moving *up*.
"""

from __future__ import annotations

import math
import tomllib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from citytally.config_text import dotted, field_message, key_lines, located, read_config_text
from citytally.edge.conflict_config import ConflictSettings
from citytally.edge.geometry import polygon_area, polygon_self_intersects, three_collinear
from citytally.edge.incident_config import (
    GROUND_FALLBACKS,
    IncidentSettings,
    QueueSettings,
    ZoneRule,
    needs_ground,
    valid_rules,
)
from citytally.errors import ConfigError
from citytally.events import SLUG_PATTERN, RoadUserClass

__all__ = [
    "SHORTEST_REPORTED_INTERVAL_S",
    "load_reporting_camera_config",
    "CameraConfig",
    "CameraConfigError",
    "CameraMetadata",
    "SourceSettings",
    "DetectorSettings",
    "TrackerSettings",
    "LineConfig",
    "ZoneConfig",
    "TurningConfig",
    "SpeedCalibration",
    "load_camera_config",
    "parse_camera_config",
    "validate_camera_data",
]

Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]
PixelCoord = Annotated[float, Field(ge=0, le=100_000)]
PixelPoint = tuple[PixelCoord, PixelCoord]
Metres = Annotated[float, Field(ge=-1_000_000, le=1_000_000)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_M = TypeVar("_M", bound=BaseModel)


class CameraMetadata(_Model):
    """Facts about the camera the hub's public register shows (a change is an audit entry); none of them
    change the analysis."""

    location: str | None = Field(default=None, max_length=200, description="Human description of the place.")
    lat: float | None = Field(default=None, ge=-90, le=90, description="Latitude (WGS84 degrees).")
    lon: float | None = Field(default=None, ge=-180, le=180, description="Longitude (WGS84 degrees).")
    purpose: str | None = Field(default=None, max_length=500, description="Why this camera is analysed.")
    legal_basis: str | None = Field(
        default=None, max_length=500, description="Legal basis of the processing."
    )
    retention_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description="How long the hub keeps this camera's raw events (roll-ups: [retention] rollups_days).",
    )
    contact: str | None = Field(default=None, max_length=200, description="Who answers questions about it.")


class SourceSettings(_Model):
    """Where the frames come from."""

    uri: str = Field(min_length=1, max_length=2000, description="File path or stream URL (rtsp://, http://).")
    target_fps: float | None = Field(
        default=None,
        gt=0,
        le=120,
        description="Analyse at most this many frames a second (None: every frame).",
    )
    frame_size: (
        tuple[Annotated[int, Field(ge=16, le=16384)], Annotated[int, Field(ge=16, le=16384)]] | None
    ) = Field(default=None, description="[width, height] in pixels, if known: enables bounds checks.")


class DetectorSettings(_Model):
    """Which object detector, and its thresholds. Boxes below ``score_threshold`` never reach the tracker.

    ``kind = "nanodet"`` (default) is the shipped NanoDet-g; ``model`` may point at another NanoDet-g
    conversion. ``kind = "yolo"`` is a YOLO model in the Ultralytics ONNX export layout (see
    :class:`citytally.edge.detector.YoloOnnxDetector`); ``model`` is then required.
    """

    kind: Literal["nanodet", "yolo"] = Field(
        default="nanodet", description="Detector family: the shipped NanoDet-g, or a YOLO ONNX export."
    )
    model: Path | None = Field(
        default=None, description="ONNX model file (None: the bundled NanoDet; required for yolo)."
    )
    input_size: int | None = Field(
        default=None,
        description="Network input's longer side in pixels, a multiple of 32 in 64..1920 (None: the "
        "model's own; larger finds smaller road users, costs about its square).",
    )
    score_threshold: float = Field(
        default=0.1, ge=0, le=1, description="Keep boxes scoring at least this (low: the tracker uses them)."
    )
    nms_iou: float = Field(default=0.45, gt=0, le=1, description="IoU above which NMS drops the weaker box.")
    classes: tuple[RoadUserClass, ...] | None = Field(
        default=None, description="Road-user classes to keep (None: all six)."
    )
    busy_wait: bool = Field(
        default=False,
        description="Let ONNX Runtime's threads spin between batches (true: may help a many-core box that "
        "does nothing else; on 2 cores it was slower and costlier, see docs/benchmarks.md).",
    )

    @field_validator("input_size")
    @classmethod
    def _input_size_rule(cls, value: int | None) -> int | None:
        if value is not None and not (64 <= value <= 1920 and value % 32 == 0):
            raise ValueError(f"must be a multiple of 32 in 64..1920, got {value}")
        return value

    @field_validator("model")
    @classmethod
    def _model_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.expanduser().is_file():
            raise ValueError(f"no such model file: {value}")
        return value

    @model_validator(mode="after")
    def _yolo_needs_model(self) -> DetectorSettings:
        if self.kind == "yolo" and self.model is None:
            raise ValueError('kind = "yolo" needs model = "path/to/model.onnx" (no YOLO model is shipped)')
        return self


class TrackerSettings(_Model):
    """The motion-only tracker (ByteTrack-style two-stage association)."""

    high_score: float = Field(default=0.5, gt=0, le=1, description="Boxes at or above are matched first.")
    low_score: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Boxes between this and high_score only keep existing tracks alive.",
    )
    new_track_score: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="A new track needs a box this sure; it is reported after confirm_hits in a row. A "
        "standing vehicle scores about the same in every frame: above this it is tracked, below it never.",
    )
    match_iou: float = Field(default=0.2, gt=0, lt=1, description="Least IoU to match a high box to a track.")
    low_match_iou: float = Field(
        default=0.5, gt=0, lt=1, description="Least IoU to match a low box to a track."
    )
    confirm_hits: int = Field(default=3, ge=1, le=30, description="Hits in a row before a track is reported.")
    lost_buffer_s: float = Field(
        default=1.0, ge=0, le=30, description="Seconds a lost track is kept for recovery before removal."
    )

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> TrackerSettings:
        if self.low_score > self.high_score:
            raise ValueError(f"low_score ({self.low_score}) must not exceed high_score ({self.high_score})")
        return self


#: A count line shorter than this (pixels) is a slip: coordinates given as fractions of the frame, say.
MIN_LINE_PX = 2.0
#: Four calibration points further apart than this (metres) are not in metres.
MAX_GROUND_SPAN_M = 2_000.0


class LineConfig(_Model):
    """A count line: crossings of the segment p1→p2 by a road user's ground point, by direction and class."""

    name: Slug = Field(description="Line name (a slug, unique in this camera).")
    p1: PixelPoint = Field(description="Start point [x, y] in pixels.")
    p2: PixelPoint = Field(description="End point [x, y] in pixels.")
    directions: tuple[Slug, Slug] = Field(
        description="[left_to_right, right_to_left] names of the crossings, seen walking from p1 to p2."
    )
    margin_px: float = Field(
        default=4.0,
        ge=0,
        le=200,
        description="A side counts only this far (pixels) from the line: hysteresis.",
    )
    margin_ratio: float = Field(
        default=0.15,
        ge=0,
        le=1,
        description="The margin is also at least this fraction of the road user's box height (scale-free).",
    )
    min_frames: int = Field(
        default=2,
        ge=1,
        le=60,
        description="Frames on the far side (beyond the margin) before a crossing counts.",
    )

    @field_validator("directions")
    @classmethod
    def _distinct_directions(cls, value: tuple[str, str]) -> tuple[str, str]:
        if value[0] == value[1]:
            raise ValueError(f"the two directions must differ, both are {value[0]!r}")
        return value

    @model_validator(mode="after")
    def _has_length(self) -> LineConfig:
        if self.p1 == self.p2:
            raise ValueError(f"p1 and p2 are the same point {list(self.p1)}: a line needs length")
        length = math.dist(self.p1, self.p2)
        if length < MIN_LINE_PX:  # 0-1 coordinates (a fraction of the frame) are the usual slip
            raise ValueError(f"the line is {length:.2g} px long: p1 and p2 are in pixels of the picture")
        return self


class ZoneConfig(_Model):
    """A zone: a simple polygon in pixels. Occupancy, dwell time and turning movements use it."""

    name: Slug = Field(description="Zone name (a slug, unique in this camera).")
    polygon: list[PixelPoint] = Field(
        min_length=3, max_length=64, description="Vertices [[x, y], ...] in pixels, in order, not closed."
    )

    @field_validator("polygon")
    @classmethod
    def _simple_polygon(cls, value: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if tuple(value[0]) == tuple(value[-1]):  # as GeoJSON writes a ring
            raise ValueError("the last point repeats the first: list each vertex once (a zone closes itself)")
        if three_collinear(value, every=True):
            raise ValueError("polygon has no area (its points are on one line)")
        if polygon_self_intersects(value):
            raise ValueError("polygon edges cross each other: list the vertices in order around the zone")
        if polygon_area(value) < 1.0:
            raise ValueError("polygon has no area (its points are on one line)")
        return value


class TurningConfig(_Model):
    """Turning movements: the first zone a road user is seen in, then the next different zone it reaches.

    Either ``zones`` (any of them can be an entry or an exit) or both ``entry_zones`` and ``exit_zones``.
    """

    zones: list[Slug] | None = Field(default=None, description="Zones that are both entries and exits.")
    entry_zones: list[Slug] | None = Field(default=None, description="Zones a movement can start in.")
    exit_zones: list[Slug] | None = Field(default=None, description="Zones a movement can end in.")
    min_frames: int = Field(default=2, ge=1, le=60, description="Frames inside before a zone visit counts.")

    @model_validator(mode="after")
    def _one_way_of_naming(self) -> TurningConfig:
        split = self.entry_zones is not None or self.exit_zones is not None
        if self.zones is not None and split:
            raise ValueError("give either zones or entry_zones + exit_zones, not both")
        if self.zones is None and not split:
            raise ValueError("give zones, or entry_zones and exit_zones")
        if self.zones is not None and len(set(self.zones)) < 2:
            raise ValueError("zones needs at least two different zones")
        if split and (not self.entry_zones or not self.exit_zones):
            raise ValueError("entry_zones and exit_zones must both be given and non-empty")
        return self

    @property
    def entries(self) -> list[str]:
        return list(self.zones if self.zones is not None else self.entry_zones or [])

    @property
    def exits(self) -> list[str]:
        return list(self.zones if self.zones is not None else self.exit_zones or [])


class SpeedCalibration(_Model):
    """Four image points and where they lie on the ground (metres, any flat local frame): a homography."""

    image_points: tuple[PixelPoint, PixelPoint, PixelPoint, PixelPoint] = Field(
        description="Four [x, y] pixel points on the road surface, no three on one line."
    )
    ground_points_m: tuple[
        tuple[Metres, Metres], tuple[Metres, Metres], tuple[Metres, Metres], tuple[Metres, Metres]
    ] = Field(description="The same four points on the ground, [x, y] in metres, in the same order.")
    window_s: float = Field(
        default=1.0, ge=0.2, le=10, description="Seconds of track history a speed is fitted over."
    )
    max_kmh: float = Field(
        default=200.0, gt=0, le=500, description="Speeds above this are measurement errors and are dropped."
    )

    @field_validator("image_points", "ground_points_m")
    @classmethod
    def _not_degenerate(cls, value: Sequence[tuple[float, float]]) -> Sequence[tuple[float, float]]:
        if three_collinear(value):
            raise ValueError("three of the four points lie on one line: pick four corners of an area")
        return value

    @field_validator("ground_points_m")
    @classmethod
    def _in_metres(cls, value: Sequence[tuple[float, float]]) -> Sequence[tuple[float, float]]:
        # A camera's calibrated area is metres to a few hundred metres across; millimetres (or
        # centimetres) make every speed thousands of km/h, each dropped as a measurement error, silently.
        span = max(math.dist(a, b) for a in value for b in value)
        if span > MAX_GROUND_SPAN_M:
            raise ValueError(
                f"the points are {span:,.0f} m apart: they are in metres (not millimetres or centimetres)"
            )
        return value


class CameraConfig(_Model):
    """Everything one camera's edge pipeline needs."""

    site: Slug = Field(description="Site slug (a junction or district grouping cameras).")
    camera: Slug = Field(description="Camera slug, unique within the site.")
    metadata: CameraMetadata = Field(default_factory=CameraMetadata, description="Descriptive facts.")
    source: SourceSettings = Field(description="Video source.")
    detector: DetectorSettings = Field(default_factory=DetectorSettings, description="Detector thresholds.")
    tracker: TrackerSettings = Field(default_factory=TrackerSettings, description="Tracker settings.")
    interval_seconds: int = Field(
        default=60,
        ge=1,
        le=86_400,
        description="Reporting interval in seconds (900 is the traffic standard).",
    )
    start_time: AwareDatetime | None = Field(
        default=None, description="Wall time of a file's first frame (ISO 8601 with zone). None: live clock."
    )
    lines: list[LineConfig] = Field(default_factory=list, max_length=64, description="Count lines.")
    zones: list[ZoneConfig] = Field(default_factory=list, max_length=64, description="Zones.")
    turning: TurningConfig | None = Field(default=None, description="Turning-movement counts between zones.")
    speed: SpeedCalibration | None = Field(default=None, description="Ground-plane calibration for speeds.")
    incidents: IncidentSettings = Field(
        default_factory=IncidentSettings,
        description="Incident detectors (none by default; docs/incidents.md).",
    )
    conflicts: list[ConflictSettings] = Field(
        default_factory=list,
        max_length=16,
        description="Traffic-conflict analysis, one per junction zone (none by default; docs/incidents.md).",
    )

    @model_validator(mode="after")
    def _cross_checks(self) -> CameraConfig:
        parts = _Parts(
            lines=list(enumerate(self.lines)),
            zones=list(enumerate(self.zones)),
            line_names=[(i, line.name) for i, line in enumerate(self.lines)],
            zone_names=[(i, zone.name) for i, zone in enumerate(self.zones)],
            turning=self.turning,
            frame_size=self.source.frame_size,
            speed=self.speed,
            incident_rules=self.incidents.rules(),
            conflicts=list(enumerate(self.conflicts)),
        )
        problems = parts.problems()
        if problems:
            raise ValidationError.from_exception_data(
                "CameraConfig",
                [
                    InitErrorDetails(type=PydanticCustomError("camera_config", message), loc=loc, input=value)
                    for loc, message, value in problems
                ],
            )
        return self


Problem = tuple[tuple[str | int, ...], str, object]


@dataclass
class _Parts:
    """What the cross-field rules look at: the items that are valid on their own, with their indexes.

    Built from a valid config, or from a broken file's raw data so that its cross-field problems are
    reported together with the others instead of after those are fixed.
    """

    lines: list[tuple[int, LineConfig]]
    zones: list[tuple[int, ZoneConfig]]
    line_names: list[tuple[int, str]]
    zone_names: list[tuple[int, str]]
    turning: TurningConfig | None
    frame_size: tuple[int, int] | None
    speed: SpeedCalibration | None
    incident_rules: list[tuple[str, int, ZoneRule]]
    conflicts: list[tuple[int, ConflictSettings]]

    @classmethod
    def from_raw(cls, data: dict[str, Any]) -> _Parts:
        def valid(model: type[_M], raw: object) -> _M | None:
            try:
                return model.model_validate(raw)
            except ValidationError:
                return None

        def items(key: str) -> list[tuple[int, object]]:
            raw = data.get(key)
            return list(enumerate(raw)) if isinstance(raw, list) else []

        def names(key: str) -> list[tuple[int, str]]:
            return [
                (i, x["name"])
                for i, x in items(key)
                if isinstance(x, dict) and isinstance(x.get("name"), str)
            ]

        source = valid(SourceSettings, data.get("source"))
        return cls(
            lines=[(i, line) for i, raw in items("lines") if (line := valid(LineConfig, raw)) is not None],
            zones=[(i, zone) for i, raw in items("zones") if (zone := valid(ZoneConfig, raw)) is not None],
            line_names=names("lines"),
            zone_names=names("zones"),
            turning=valid(TurningConfig, data["turning"]) if "turning" in data else None,
            frame_size=source.frame_size if source is not None else None,
            speed=valid(SpeedCalibration, data["speed"]) if "speed" in data else None,
            incident_rules=valid_rules(data.get("incidents")),
            conflicts=[
                (i, rule)
                for i, raw in items("conflicts")
                if (rule := valid(ConflictSettings, raw)) is not None
            ],
        )

    def problems(self) -> list[Problem]:
        found = _duplicate_names("lines", self.line_names) + _duplicate_names("zones", self.zone_names)
        if self.turning is not None:
            known = {name for _, name in self.zone_names}
            for key in ("zones", "entry_zones", "exit_zones"):
                for i, name in enumerate(getattr(self.turning, key) or []):
                    if name not in known:
                        found.append(
                            (("turning", key, i), f"no zone named {name!r} (zones: {sorted(known)})", name)
                        )
        found += self._incident_problems() + self._conflict_problems()
        if self.frame_size is not None:
            found += self._outside_frame(self.frame_size)
        return found

    def _incident_problems(self) -> list[Problem]:
        known = {name for _, name in self.zone_names}
        found: list[Problem] = []
        for kind, i, rule in self.incident_rules:
            if rule.zone not in known:
                found.append(
                    (
                        ("incidents", kind, i, "zone"),
                        f"no zone named {rule.zone!r} (zones: {sorted(known)})",
                        rule.zone,
                    )
                )
            if self.speed is None and needs_ground(kind, rule):
                found.append((("incidents", kind, i), "needs the [speed] ground-plane calibration", kind))
            if self.speed is None:
                # a value in metres or km/h given where there is no ground to measure it on was ignored,
                # silently, for the detector's pixel default
                for name in sorted(set(GROUND_FALLBACKS) & rule.model_fields_set):
                    message = f"is on the ground: give [speed], or {GROUND_FALLBACKS[name]} in pixels"
                    found.append((("incidents", kind, i, name), message, getattr(rule, name)))
        return found

    def _conflict_problems(self) -> list[Problem]:
        known = {name for _, name in self.zone_names}
        seen: dict[str, int] = {}
        found: list[Problem] = []
        for i, rule in self.conflicts:
            if rule.zone not in known:
                message = f"no zone named {rule.zone!r} (zones: {sorted(known)})"
                found.append((("conflicts", i, "zone"), message, rule.zone))
            elif rule.zone in seen:
                message = f"zone {rule.zone!r} already has conflict analysis in conflicts[{seen[rule.zone]}]"
                found.append((("conflicts", i, "zone"), message, rule.zone))
            seen.setdefault(rule.zone, i)
            if self.speed is None:
                message = "needs the [speed] ground-plane calibration (conflicts are measured in metres)"
                found.append((("conflicts", i), message, rule.zone))
        return found

    def _outside_frame(self, size: tuple[int, int]) -> list[Problem]:
        width, height = size
        found: list[Problem] = []

        def check(loc: tuple[str | int, ...], point: tuple[float, float]) -> None:
            if point[0] > width or point[1] > height:
                found.append((loc, f"point {list(point)} is outside the {width}x{height} frame", list(point)))

        for i, line in self.lines:
            check(("lines", i, "p1"), line.p1)
            check(("lines", i, "p2"), line.p2)
        for i, zone in self.zones:
            for j, vertex in enumerate(zone.polygon):
                check(("zones", i, "polygon", j), vertex)
        if self.speed is not None:
            for j, point in enumerate(self.speed.image_points):
                check(("speed", "image_points", j), point)
        for kind, i, rule in self.incident_rules:
            if isinstance(rule, QueueSettings):
                check(("incidents", kind, i, "head"), rule.head)
        return found


def _duplicate_names(section: str, names: list[tuple[int, str]]) -> list[Problem]:
    seen: dict[str, int] = {}
    found: list[Problem] = []
    for i, name in names:
        if name in seen:
            found.append(
                ((section, i, "name"), f"name {name!r} is already used by {section}[{seen[name]}]", name)
            )
        else:
            seen[name] = i
    return found


class CameraConfigError(ConfigError):
    """A camera config is invalid. ``problems`` holds one located, one-line message per problem;
    ``located`` the same problems as (dotted path, message) pairs, e.g. ``("lines[1].p2", "...")``."""

    def __init__(
        self, source: str, problems: list[str], located: list[tuple[str, str]] | None = None
    ) -> None:
        self.source = source
        self.problems = problems
        self.located = located or []
        head = f"{source}: {len(problems)} problem{'s' if len(problems) != 1 else ''} in camera config"
        super().__init__(
            "\n".join([head, *("  " + p for p in problems)]) if len(problems) > 1 else problems[0]
        )


#: The shortest reporting interval of a camera whose events reach a hub. Over a few seconds a line's
#: counts, and a speed event, are nearly one road user's passage with its time, which another camera's could
#: be joined to (one pedestrian crossing a quiet square at night, followed from camera to camera).
#: ``citytally analyze`` on a file kept on the edge may count over less.
SHORTEST_REPORTED_INTERVAL_S = 60


def load_reporting_camera_config(path: Path) -> CameraConfig:
    """:func:`load_camera_config` for a camera whose events go to a hub (``citytally edge``, the hub's
    registry): its reporting interval must be at least :data:`SHORTEST_REPORTED_INTERVAL_S`."""
    config = load_camera_config(path)
    if config.interval_seconds < SHORTEST_REPORTED_INTERVAL_S:
        lines = key_lines(read_config_text(path, "camera config"))
        message = (
            f"{config.interval_seconds} s is under a minute: a camera that reports to a hub counts over "
            f"{SHORTEST_REPORTED_INTERVAL_S} s or more (900 is the traffic standard), as over a few "
            "seconds a count is nearly one road user's passage and its time (`citytally analyze` on a file "
            "may use less)"
        )
        raise CameraConfigError(str(path), [located(str(path), lines, ("interval_seconds",), message)])
    return config


def load_camera_config(path: Path) -> CameraConfig:
    """Read and validate a camera config file; raise :class:`CameraConfigError` naming every problem."""
    try:
        text = read_config_text(path, "camera config")
    except ConfigError as exc:
        raise CameraConfigError(str(path), [str(exc)]) from None
    return parse_camera_config(text, source=str(path))


def parse_camera_config(text: str, source: str = "<camera config>") -> CameraConfig:
    """Validate camera config TOML text; ``source`` names it in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CameraConfigError(source, [f"{source}: not valid TOML: {exc}"]) from exc
    return validate_camera_data(data, source, key_lines=key_lines(text))


def validate_camera_data(
    data: dict[str, Any],
    source: str = "<camera config>",
    *,
    key_lines: dict[tuple[str | int, ...], int] | None = None,
) -> CameraConfig:
    """Validate an already parsed camera config (a TOML file's tables, or the hub's geometry editor's).

    Raises :class:`CameraConfigError` naming every problem, field rules and cross-field rules together;
    ``key_lines`` (TOML line numbers) puts a ``file:line`` in front of each message where known.
    """
    unprintable = _control_characters(data)
    try:
        config = CameraConfig.model_validate(data)
    except ValidationError as exc:
        errors = [(err["loc"], err["type"], err["msg"]) for err in exc.errors()]
        if not any(kind == "camera_config" for _, kind, _ in errors):
            # Field errors stop pydantic before the cross-field rules: run those on what is valid.
            reported = {loc for loc, _, _ in errors}
            cross = _Parts.from_raw(data).problems()
            errors += [(loc, "camera_config", msg) for loc, msg, _ in cross if loc not in reported]
    else:
        if not unprintable:
            return config
        errors = []
    reported = {loc for loc, _, _ in errors}
    errors += [problem for problem in unprintable if problem[0] not in reported]
    messages = [(loc, field_message(kind, msg)) for loc, kind, msg in errors]
    problems = [located(source, key_lines or {}, loc, msg) for loc, msg in messages]
    where = [(dotted(loc) or "(top level)", msg) for loc, msg in messages]
    raise CameraConfigError(source, problems, where) from None


def _control_characters(data: Any) -> list[tuple[tuple[str | int, ...], str, str]]:
    """A problem for each text of the config holding a control character other than tab or a line break.

    The register shows the config's texts to the public and the hub stores the config, where PostgreSQL
    cannot hold NUL: such a character is a typing accident (or a disguise), never meant."""
    found: list[tuple[tuple[str | int, ...], str, str]] = []
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), data)]
    while stack:  # no recursion: the geometry editor's documents come from the network
        loc, value = stack.pop()
        if isinstance(value, dict):
            stack.extend(((*loc, key), item) for key, item in value.items() if isinstance(key, str))
        elif isinstance(value, list):
            stack.extend(((*loc, index), item) for index, item in enumerate(value))
        elif isinstance(value, str):
            bad = next((c for c in value if unicodedata.category(c) == "Cc" and c not in "\t\n\r"), None)
            if bad is not None:
                message = f"holds the control character U+{ord(bad):04X}: write plain text"
                found.append((loc, "control_character", message))
    return sorted(found, key=lambda problem: [str(part) for part in problem[0]])
