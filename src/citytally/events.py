"""The event schema, version 1: what an edge pipeline tells the hub.

Events are aggregates over one reporting interval of one camera. They carry no image, no track id and no
attribute of any person or vehicle: only counts, occupancies, speeds summarised over many road users, and
incidents. ``extra="forbid"`` on every model keeps it that way: a field the schema does not name is refused.

Wire format: one JSON object per event (UTF-8), with ``"v": 1`` and a ``"type"`` that selects the body.
MQTT topic: ``citytally/<site>/<camera>/events`` (see :func:`event_topic`).
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from citytally.errors import SchemaError

__all__ = [
    "DETAIL_KEYS",
    "SCHEMA_VERSION",
    "SPEED_BIN_KMH",
    "SPEED_BINS",
    "MAX_COUNT",
    "MAX_SPEED_KMH",
    "MAX_DWELL_S",
    "LONGEST_INTERVAL",
    "ROAD_USER_CLASSES",
    "RoadUserClass",
    "IncidentType",
    "IncidentPhase",
    "INCIDENT_ALIVE_S",
    "LineCountEvent",
    "SpeedEvent",
    "ZoneOccupancyEvent",
    "DwellStats",
    "SpeedStats",
    "Movement",
    "TurningMovementEvent",
    "IncidentEvent",
    "ConflictType",
    "ConflictSeverity",
    "ConflictCount",
    "ConflictHistogram",
    "ConflictCell",
    "ConflictEvent",
    "CLASS_PAIR_PATTERN",
    "Event",
    "parse_event",
    "event_to_json",
    "event_topic",
    "new_event_id",
    "EventIds",
    "derived_event_id",
    "event_place",
    "SLUG_PATTERN",
]

SCHEMA_VERSION = 1
#: Width of a speed histogram's bins (km/h) and how many bins it may have (the last one is open-ended).
SPEED_BIN_KMH = 5
SPEED_BINS = 64

#: The road-user classes citytally detects, in a fixed order (index = class id everywhere in the package).
ROAD_USER_CLASSES: tuple[str, ...] = ("person", "bicycle", "car", "motorcycle", "bus", "truck")
RoadUserClass = Literal["person", "bicycle", "car", "motorcycle", "bus", "truck"]
IncidentType = Literal[
    "stopped_vehicle",
    "wrong_way",
    "congestion",
    "crowd_density",
    "pedestrian_on_roadway",
    "queue",
    "left_object",
    "view_changed",
]
#: Where an incident is in its life: ``onset`` (it began; it is open), ``update`` (still open, its numbers
#: or severity changed, or it is reported again), ``cleared`` (it ended at ``end``). No phase: a one-off
#: report of a closed incident.
IncidentPhase = Literal["onset", "update", "cleared"]
#: An edge reports an open incident at least this often (an ``update`` even when nothing changed), so that
#: a hub can tell an incident that goes on from one whose edge went away (killed, powered off) without
#: clearing it.
INCIDENT_ALIVE_S = 300

ConflictType = Literal["rear_end", "crossing", "lane_change"]
#: Band on the lower of a conflict's TTC and PET: serious < 1 s, moderate < 2 s, slight otherwise.
ConflictSeverity = Literal["serious", "moderate", "slight"]
_CLASS = "(" + "|".join(ROAD_USER_CLASSES) + ")"
#: The two classes of a conflict's road users, alphabetical, joined by ``-`` (``car-person``).
CLASS_PAIR_PATTERN = f"^{_CLASS}-{_CLASS}$"

#: Site, camera, line and zone names: lower-case slugs, safe in MQTT topics, URLs and file names.
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]
#: The most road users one number of one event may hold (a count, a peak, a bin of a histogram), the most
#: km/h a speed may be and the most seconds a stay in a zone may last. No camera sees ten million road users
#: of one class in one interval (at most a day; 100 a second all day is 8.6 million), no road user is faster,
#: an edge reports a longer stay as this long, and sums of any day's events stay far inside the store's
#: 64-bit integers and floats.
MAX_COUNT, MAX_SPEED_KMH, MAX_DWELL_S = 10_000_000, 1000.0, 366 * 86400.0
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
PositiveCount = Annotated[int, Field(ge=1, le=MAX_COUNT)]
Kmh = Annotated[float, Field(ge=0, le=MAX_SPEED_KMH, allow_inf_nan=False)]
Seconds = Annotated[float, Field(ge=0, le=MAX_DWELL_S, allow_inf_nan=False)]
MAX_DETAILS, MAX_DETAIL_TEXT, MAX_DETAIL_NUMBER = 32, 40, 1e15


def _bounded_detail(value: float | int | str) -> float | int | str:
    if isinstance(value, str):
        if len(value) > MAX_DETAIL_TEXT:
            raise ValueError(f"a text of {len(value)} characters; at most {MAX_DETAIL_TEXT}")
        if not value.isprintable():
            raise ValueError(f"{value!r} holds a character that does not print; words are printable text")
    elif not math.isfinite(value) or abs(value) > MAX_DETAIL_NUMBER:
        raise ValueError(f"{float(value):g} is beyond ±{MAX_DETAIL_NUMBER:g}")
    return value


#: Every name an incident's details may use, and what it holds. The vocabulary is closed: a track id, a
#: position or a time of one road user cannot ride along under a name of its own (``subject``, ``tid``),
#: which a pattern for names alone would let through. A new detail is added here, with its meaning.
DETAIL_KEYS: Mapping[str, str] = {
    "vehicles": "vehicles standing (stopped_vehicle) or present (queue, congestion) in the zone",
    "stopped_s": "longest a vehicle has stood, s",
    "min_stop_s": "the zone's threshold for a stop, s",
    "angle_deg": "angle between the movement and the zone's expected direction reversed, degrees",
    "moved_px": "how far the wrong-way movement went, pixels",
    "moved_m": "how far the wrong-way movement went, m (calibrated cameras)",
    "road_users": "road users moving the wrong way",
    "queue_m": "queue length from the head, m",
    "queued": "vehicles in the queue",
    "mean_kmh": "mean speed of the vehicles in the zone towards its head, km/h",
    "persons": "persons in the zone",
    "cyclists": "cyclists and motorcyclists on the carriageway",
    "longest_s": "longest anyone has been on the carriageway, s",
    "persons_per_m2": "crowd density, persons per m2",
    "level": "Fruin level of service, A to F",
    "area_m2": "the zone's area on the ground, m2",
    "flow_collapse": "1 where the density is at or over the level at which flow collapses",
    "regions": "static foreground regions (left objects)",
    "area_px": "their area, pixels",
    "static_s": "how long they have stood, s",
    "change": "how the view changed: moved, lost or blurred",
    "shift_px": "how far the view moved, pixels",
    "match": "how well the view matches the learned one, 0 to 1",
    "sharpness": "the view's sharpness relative to the learned one",
    "stream_ended": "1: cleared because the stream ended (the condition may go on)",
    "halted_cars_mean": "mean halted cars in the zone (the simulated day)",
    "simulated": "yes: an incident of the simulated day, not of a camera",
}


def _known_detail(name: str) -> str:
    if name not in DETAIL_KEYS:
        raise ValueError(f"{name!r} is not a detail name; the names are those of docs/events.md")
    return name


#: An incident's details: a few numbers and short words about the place, bounded (no free text, no blob).
DetailKey = Annotated[
    str,
    Field(pattern=r"^[a-z][a-z0-9_]{0,39}$"),
    AfterValidator(_known_detail),
    WithJsonSchema({"type": "string", "enum": list(DETAIL_KEYS)}),
]
DetailValue = Annotated[
    float | int | str,
    AfterValidator(_bounded_detail),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": -MAX_DETAIL_NUMBER, "maximum": MAX_DETAIL_NUMBER},
                {"type": "string", "maxLength": MAX_DETAIL_TEXT},
            ]
        }
    ),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _in_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # year 1 east of Greenwich, year 9999 west of it
        raise ValueError("the time in UTC falls outside the calendar") from None


#: A time with its zone, held and written in UTC (read at any offset).
UtcTime = Annotated[AwareDatetime, AfterValidator(_in_utc)]


#: The longest reporting interval (``interval_seconds`` at most 86,400); an incident may last longer.
LONGEST_INTERVAL = timedelta(days=1)


class _EventBase(_Model):
    v: Literal[1] = Field(default=1, description="Schema version.")
    id: uuid.UUID = Field(
        description="Unique per event; the hub stores each id once (idempotent ingest). Random for a live"
        " stream; derived from the camera, type, place and interval for a recording with a `start_time`"
        " (see Ids)."
    )
    site: Slug = Field(description="Site (a group of cameras, e.g. a junction or a district).")
    camera: Slug = Field(description="Camera within the site.")
    start: UtcTime = Field(description="Interval start, inclusive (timezone-aware, UTC on the wire).")
    end: UtcTime = Field(
        description="Interval end, exclusive. A reporting interval is at most a day long (an incident's"
        " may be longer)."
    )

    @model_validator(mode="after")
    def _interval_is_forward(self) -> _EventBase:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end.isoformat()}) must be after start ({self.start.isoformat()})")
        if getattr(self, "type", None) != "incident" and self.end - self.start > LONGEST_INTERVAL:
            raise ValueError(
                f"the interval from {self.start.isoformat()} to {self.end.isoformat()} is longer than a day:"
                " no edge reports one (interval_seconds is at most 86400)"
            )
        return self


class LineCountEvent(_EventBase):
    """Crossings of one count line in one interval, by direction and class."""

    type: Literal["line_count"] = "line_count"
    line: Slug
    counts: dict[Slug, dict[RoadUserClass, Count]] = Field(
        description="direction name → class → crossings. Directions are named in the camera config."
    )


class SpeedStats(_Model):
    n: PositiveCount = Field(description="Road users whose speed was measured.")
    mean_kmh: Kmh
    p85_kmh: Kmh = Field(description="85th-percentile speed (the design speed).")
    histogram: list[Count] | None = Field(
        default=None,
        min_length=1,
        max_length=SPEED_BINS,
        description=f"Road users per {SPEED_BIN_KMH} km/h bin of their own speed: item k counts speeds from "
        f"{SPEED_BIN_KMH}·k up to {SPEED_BIN_KMH}·(k+1) km/h, the last item also everything faster; no "
        "trailing zeros; sums to n. Sums over intervals give the distribution over road users (and its "
        "percentiles) for any range. Absent from events of edges that predate it.",
    )

    @model_validator(mode="after")
    def _histogram_counts_n(self) -> SpeedStats:
        if self.histogram is None:
            return self
        if sum(self.histogram) != self.n:
            raise ValueError(f"histogram holds {sum(self.histogram)} road users, n is {self.n}")
        if self.histogram[-1] == 0:
            raise ValueError("histogram ends in an empty bin: leave trailing zeros out")
        return self

    @classmethod
    def of(cls, speeds_kmh: Sequence[float], digits: int = 2) -> SpeedStats:
        """n, mean, 85th percentile and the histogram of one interval's road users' speeds (non-empty)."""
        if not speeds_kmh:
            raise ValueError("no speeds to summarise")
        ordered = sorted(float(v) for v in speeds_kmh)
        # numpy's default ("linear") percentile, without importing numpy into the schema module.
        at = 0.85 * (len(ordered) - 1)
        low = int(at)
        p85 = ordered[low] + (ordered[min(low + 1, len(ordered) - 1)] - ordered[low]) * (at - low)
        bins = [0] * SPEED_BINS
        for v in ordered:
            bins[min(SPEED_BINS - 1, max(0, int(v // SPEED_BIN_KMH)))] += 1
        while bins[-1] == 0:
            bins.pop()
        mean = sum(ordered) / len(ordered)
        return cls(n=len(ordered), mean_kmh=round(mean, digits), p85_kmh=round(p85, digits), histogram=bins)


class SpeedEvent(_EventBase):
    """Speeds of road users crossing one line in one interval, summarised per direction and class."""

    type: Literal["speed"] = "speed"
    line: Slug
    speeds: dict[Slug, dict[RoadUserClass, SpeedStats]] = Field(description="direction → class → stats")


class DwellStats(_Model):
    n: PositiveCount = Field(description="Road users that left the zone in the interval.")
    mean_s: Seconds
    max_s: Seconds


class ZoneOccupancyEvent(_EventBase):
    """How many road users were in one zone during one interval."""

    type: Literal["zone_occupancy"] = "zone_occupancy"
    zone: Slug
    mean: dict[RoadUserClass, Annotated[float, Field(ge=0, le=MAX_COUNT, allow_inf_nan=False)]] = Field(
        description="class → mean number present over the analysed frames of the interval (an edge sends "
        "every class it detects, 0 where none was there: a mean over several intervals then counts them)"
    )
    peak: dict[RoadUserClass, Count] = Field(description="class → largest number present at once")
    dwell: dict[RoadUserClass, DwellStats] = Field(default_factory=dict)


class Movement(_Model):
    from_zone: Slug
    to_zone: Slug
    cls: RoadUserClass = Field(alias="class")
    count: PositiveCount

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TurningMovementEvent(_EventBase):
    """The turning-movement count: road users from each entry zone to each exit zone."""

    type: Literal["turning_movement"] = "turning_movement"
    movements: list[Movement]


def _details_schema(schema: dict[str, Any]) -> None:
    """``details`` in JSON Schema: each name of :data:`DETAIL_KEYS` with its meaning, no other."""
    value = schema.pop("additionalProperties")
    schema.pop("propertyNames", None)
    schema["properties"] = {name: {**value, "description": meaning} for name, meaning in DETAIL_KEYS.items()}
    schema["additionalProperties"] = False


class IncidentEvent(_EventBase):
    """Something an operator should look at, about a place (a zone or line), never about a person.

    ``start`` is when it began. An edge reports an incident's life as events that share ``incident_id``:
    the ``onset`` (open; ``end`` is the time of the observation that opened it), any ``update`` (still open;
    ``end`` is the time of the latest observation) and the ``cleared`` one, its last (``end`` is when it
    ended: when the condition was last seen, which may be before an update's ``end``). An event without
    ``phase`` is a one-off report: ``start``/``end`` bracket when it was observed.
    """

    type: Literal["incident"] = "incident"
    incident: IncidentType = Field(description="What was observed.")
    zone: Slug | None = Field(default=None, description="The zone it happened in, if any.")
    line: Slug | None = Field(default=None, description="The line it happened at, if any.")
    severity: Literal["info", "warning", "critical"] = Field(default="warning", description="How urgent.")
    details: dict[DetailKey, DetailValue] = Field(
        default_factory=dict,
        max_length=MAX_DETAILS,
        description=(
            "Numbers (at most 1e15 either way) or short printable words (at most 40 characters) that describe"
            " the incident, at most 32, each under a name of the closed list DETAIL_KEYS (never about an"
            " individual)."
        ),
        json_schema_extra=_details_schema,
    )
    incident_id: uuid.UUID | None = Field(
        default=None,
        description="Random id shared by the onset, updates and clearance of one incident (not a track id);"
        " derived for a recording with a `start_time` (see Ids).",
    )
    phase: IncidentPhase | None = Field(
        default=None, description="onset, update or cleared; none for a one-off report of a closed incident."
    )

    @model_validator(mode="after")
    def _phase_needs_id(self) -> IncidentEvent:
        if (self.phase is None) != (self.incident_id is None):
            raise ValueError("incident_id and phase go together: give both or neither")
        return self

    @property
    def is_open(self) -> bool:
        """Whether the incident was still going on at ``end``."""
        return self.phase in ("onset", "update")


class ConflictCount(_Model):
    type: ConflictType = Field(
        description="rear_end, crossing or lane_change: SSAM's rule on the angle between headings."
    )
    severity: ConflictSeverity = Field(description="serious: TTC or PET < 1 s; moderate: < 2 s; else slight.")
    classes: Annotated[str, Field(pattern=CLASS_PAIR_PATTERN)] = Field(
        description="The two road users' classes, alphabetical, joined by '-' (e.g. car-person)."
    )
    count: PositiveCount = Field(description="Conflicts of this type, severity and classes.")

    @model_validator(mode="after")
    def _alphabetical(self) -> ConflictCount:
        first, second = self.classes.split("-")
        if first > second:
            raise ValueError(f"classes {self.classes!r} must be alphabetical: {second}-{first}")
        return self


class ConflictHistogram(_Model):
    edges_s: list[Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(
        min_length=1, max_length=64, description="Lower edge of each bin (s), increasing; the last is open."
    )
    counts: list[Count] = Field(max_length=64, description="Conflicts per bin.")

    @model_validator(mode="after")
    def _matching(self) -> ConflictHistogram:
        if len(self.counts) != len(self.edges_s):
            raise ValueError(f"{len(self.counts)} counts for {len(self.edges_s)} bins")
        if any(b <= a for a, b in zip(self.edges_s, self.edges_s[1:], strict=False)):
            raise ValueError("edges_s must increase")
        return self


class ConflictCell(_Model):
    x_m: float = Field(ge=-1_000_000, le=1_000_000, description="Cell's low x on the ground (m).")
    y_m: float = Field(ge=-1_000_000, le=1_000_000, description="Cell's low y on the ground (m).")
    image_x: float | None = Field(
        default=None,
        allow_inf_nan=False,
        description="Cell centre in the camera picture (pixels), for drawing; None if unseen.",
    )
    image_y: float | None = Field(
        default=None, allow_inf_nan=False, description="Cell centre in the camera picture (pixels)."
    )
    count: PositiveCount = Field(description="Conflicts located in this cell.")


class ConflictEvent(_EventBase):
    """Traffic conflicts between road users in one junction zone in one interval, aggregated.

    Counts by type, severity band and the pair's classes, TTC and PET histograms, the road users that
    entered the zone (the denominator of a conflict rate) and a coarse grid of where conflicts happened on
    the ground. Never a pair, a track or a time finer than the interval.
    """

    type: Literal["conflict"] = "conflict"
    zone: Slug
    road_users: dict[RoadUserClass, Count] = Field(
        description="class → road users that entered the zone in the interval (the rate's denominator)"
    )
    conflicts: list[ConflictCount] = Field(
        max_length=512, description="One row per (type, severity, classes) with a count ≥ 1."
    )
    ttc: ConflictHistogram = Field(description="Least TTC of the conflicts on a collision course.")
    pet: ConflictHistogram = Field(description="PET of the conflicts with one (not rear-end).")
    cell_m: float = Field(gt=0, le=100, description="Side of the square ground cells of `cells` (m).")
    cells: list[ConflictCell] = Field(max_length=4096, description="Where the conflicts were, per cell.")

    @model_validator(mode="after")
    def _totals(self) -> ConflictEvent:
        held = {
            "cells": sum(c.count for c in self.cells),
            "ttc": sum(self.ttc.counts),
            "pet": sum(self.pet.counts),
        }
        for name, n in held.items():
            if n > self.total:
                raise ValueError(f"{name} holds {n} conflicts, more than the {self.total} counted")
        return self

    @property
    def total(self) -> int:
        """All conflicts of the interval."""
        return sum(c.count for c in self.conflicts)


Event = Annotated[
    LineCountEvent | SpeedEvent | ZoneOccupancyEvent | TurningMovementEvent | IncidentEvent | ConflictEvent,
    Field(discriminator="type"),
]


class _AnyEvent(RootModel[Event]):
    """Parses any event type, selected by its ``type`` field."""


def parse_event(raw: bytes | str | dict[str, Any]) -> Event:
    """Parse and validate one event; raise :class:`SchemaError` with a one-line reason."""
    try:
        data = json.loads(raw) if isinstance(raw, bytes | str) else raw
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SchemaError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SchemaError(f"an event must be a JSON object, got {type(data).__name__}")
    if data.get("v") != SCHEMA_VERSION:
        raise SchemaError(f"unsupported schema version {data.get('v')!r} (this hub reads v={SCHEMA_VERSION})")
    try:
        return _AnyEvent.model_validate(data).root
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "event"
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise SchemaError(f"{where}: {first['msg']}{more}") from exc


def event_to_json(event: Event) -> str:
    """Serialise an event to its wire form (compact JSON, aliases, UTC times)."""
    return event.model_dump_json(by_alias=True)


def event_topic(site: str, camera: str, prefix: str = "citytally") -> str:
    """The MQTT topic an edge publishes a camera's events on."""
    for name, value in (("site", site), ("camera", camera)):
        if not re.match(SLUG_PATTERN, value):
            raise SchemaError(f"{name} {value!r} is not a slug ({SLUG_PATTERN})")
    return f"{prefix}/{site}/{camera}/events"


def new_event_id() -> uuid.UUID:
    """A fresh random event id (uuid4): it says nothing about the camera, time or content."""
    return uuid.uuid4()


#: The namespace of the ids derived for a recording with a start time (uuid5; fixed: changing it would make
#: a recording analysed again after an upgrade count twice).
_RECORDING_IDS = uuid.UUID("386248af-28f7-4a40-a169-10d019b69d44")


class EventIds:
    """Where one run's event (and incident) ids come from.

    A live stream's are random (:func:`new_event_id`): each moment of it is seen once. A recording with a
    start time (``derived``) is stamped the same each time it is analysed, and its ids are derived (uuid5)
    from what each event reports of itself anyway (camera, type, place, interval) and, for an incident,
    its rule and a counter within the run: the same recording analysed again (after a crash, or twice by
    mistake) sends the same ids, so the hub stores it once; a report that now differs under a known id
    (another model or frame rate) the hub refuses (``id_conflict``) rather than adding it to the first, as
    it refuses an interval that overlaps another (``overlap``). Nothing is in such an id that the event
    does not say, and a report's can be checked against it (:func:`derived_event_id`).
    """

    def __init__(self, site: str, camera: str, derived: bool, scope: str = "") -> None:
        self.site, self.camera, self.derived, self.scope = site, camera, derived, scope

    @classmethod
    def of_run(cls, site: str, camera: str, start_time: datetime | None) -> EventIds:
        """A camera's ids for one run: derived when its config gives the recording's start time."""
        return cls(site, camera, derived=start_time is not None)

    def scoped(self, scope: str) -> EventIds:
        """These ids for one part of the run (an incident rule: ``stopped_vehicle[1]``), whose counters
        would otherwise name the same ids as another's."""
        return EventIds(self.site, self.camera, self.derived, scope)

    def make(self, *parts: str) -> uuid.UUID:
        """A random id; for a recording, the one ``parts`` (with the site, camera and scope) name."""
        if not self.derived:
            return new_event_id()
        return uuid.uuid5(_RECORDING_IDS, "\x1f".join((self.site, self.camera, self.scope, *parts)))

    def interval(self, kind: str, place: str, start: datetime, end: datetime) -> uuid.UUID:
        """The id of one interval's report of a line, zone or turning table (``place`` empty)."""
        return self.make(kind, place, _instant(start), _instant(end))

    def incident_event(self, incident_id: uuid.UUID, phase: str, end: datetime) -> uuid.UUID:
        """The id of one report of an incident (no incident has two of one phase ending at one moment);
        not scoped, so that a hub can work it out from the event."""
        return EventIds(self.site, self.camera, self.derived).make(
            "incident_event", str(incident_id), phase, _instant(end)
        )


def derived_event_id(event: Event) -> uuid.UUID | None:
    """The id a recording's edge gives this event, worked out from the event (None: none can be, an
    incident report without an incident id and phase): a hub checks a derived id against it, so that no
    sender can take the id of another camera's report before it comes."""
    ids = EventIds(event.site, event.camera, derived=True)
    if isinstance(event, IncidentEvent):
        if event.incident_id is None or event.phase is None:
            return None
        return ids.incident_event(event.incident_id, event.phase, event.end)
    return ids.interval(event.type, event_place(event), event.start, event.end)


def event_place(event: Event) -> str:
    """The line or zone an event reports (a turning table's, the camera's: empty)."""
    return str(getattr(event, "line", None) or getattr(event, "zone", None) or "")


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
