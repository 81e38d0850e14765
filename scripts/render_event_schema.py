"""Render docs/events.md and docs/event-schema.json from the pydantic models in ``citytally.events``.

The page's field tables, constraints and examples come from the models themselves, so the page cannot
drift from the code: ``tests/docs/test_event_schema_doc.py`` fails when the committed files differ from a
fresh render. After changing ``src/citytally/events.py`` run (from the repository root)::

    python scripts/render_event_schema.py          # rewrite both files
    python scripts/render_event_schema.py --check  # exit 1 if they are stale
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

from citytally.events import (
    DETAIL_KEYS,
    MAX_COUNT,
    MAX_DWELL_S,
    MAX_SPEED_KMH,
    ROAD_USER_CLASSES,
    SCHEMA_VERSION,
    SLUG_PATTERN,
    ConflictEvent,
    Event,
    IncidentEvent,
    IncidentType,
    LineCountEvent,
    SpeedEvent,
    TurningMovementEvent,
    ZoneOccupancyEvent,
    _AnyEvent,
    event_to_json,
    parse_event,
)

__all__ = ["render_page", "render_json_schema", "main"]

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "events.md"
SCHEMA_FILE = REPO / "docs" / "event-schema.json"

#: Fields every event has; shown once, not repeated per event type.
COMMON = ("v", "id", "type", "site", "camera", "start", "end")
#: Event types in the order the page shows them, each with the prose that explains what the models cannot.
EVENT_TYPES: tuple[tuple[type[Any], str], ...] = (
    (
        LineCountEvent,
        "`counts` is direction → class → crossings, with both directions always present (classes with no "
        "crossing are left out).",
    ),
    (
        SpeedEvent,
        "Speeds of the road users that crossed `line` in the interval, by direction and class: how many were "
        "measured (`n` ≥ 1), the mean and the 85th percentile (the design-speed figure), in km/h, and the "
        "road users binned by their own speed in 5 km/h bins (`histogram`): the hub sums the bins over any "
        "range for the distribution over road users and its V85, which per-interval percentiles cannot give. "
        "Events from edges before the histogram carry none and stay valid. Sent only for cameras with a "
        "`[speed]` calibration and only when at least one speed was measured.",
    ),
    (
        ZoneOccupancyEvent,
        "`mean` is the average number present over the interval's analysed frames, `peak` the most present "
        "at once, by class (absent classes are zero). `dwell` summarises the stays that ended in the "
        "interval.",
    ),
    (
        TurningMovementEvent,
        "One row per (entry zone, exit zone, class) with a count ≥ 1; an empty list when nobody turned.",
    ),
    (
        IncidentEvent,
        "Sent by the edge's incident detectors (`citytally.edge.incidents`, configured in the camera "
        "config's `[incidents]` table; see [incidents.md](incidents.md)) when an incident opens, when its "
        "severity or kind changes (at once) or its numbers change (at most every `update_s`), at least "
        "every 5 minutes while its condition holds (an `update` even when nothing changed, so that a hub "
        "can tell an incident that goes on from one whose edge went away: killed or powered off, it sends "
        "no clearance), and when it clears, `clear_s` (at most 10 minutes) after the condition stopped: so "
        "an open incident is never silent for 15 minutes, after which the hub calls it silent. The hub "
        "keeps the latest event of each `incident_id`.",
    ),
    (
        ConflictEvent,
        "Sent per interval for each junction zone with conflict analysis (the camera config's "
        "`[[conflicts]]`; see [incidents.md](incidents.md#traffic-conflicts)), also when nothing happened. "
        "A pair of road users is a conflict when its least time to collision (TTC) or its post-encroachment"
        " time (PET) is below the zone's thresholds, but for a controlled approach (a car drawing up behind"
        " a queue, braking in time and comfortably: [incidents.md](incidents.md#controlled-approaches)), "
        "which is not counted; it is counted in the interval in which the second of the two left the zone. "
        "`ttc` bins the conflicts that were on a collision course, `pet` those with a PET (not rear-end); "
        "each list's last bin is open-ended. `cells` counts conflicts per square ground cell of `cell_m` "
        "metres (the point midway between the two road users), with the cell centre in the camera picture "
        "for drawing. No pair, track or time finer than the interval is sent.",
    ),
)

#: Meanings of fields whose model gives no description (the schema itself is unchanged by these).
MEANINGS: dict[str, str] = {
    "type": "Selects the body (below).",
    "line": "Count line name, from the camera config.",
    "zone": "Zone name, from the camera config.",
    "mean_s": "Mean dwell time of those road users, seconds.",
    "max_s": "Longest dwell time, seconds.",
    "mean_kmh": "Mean speed, km/h.",
    "from_zone": "Entry zone.",
    "to_zone": "Exit zone.",
    "class": "Road-user class.",
    "count": "Road users that made this movement in the interval.",
    "incident": "What was observed.",
    "severity": "How urgent it is for an operator.",
    "details": "Numbers or short texts that describe the incident (never about an individual).",
    "dwell": "class → statistics of the stays that ended in the interval.",
    "movements": "One entry per (entry zone, exit zone, class).",
}


_START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
_END = datetime(2026, 11, 23, 8, 1, tzinfo=UTC)
_COMMON_EXAMPLE: dict[str, Any] = {
    "v": SCHEMA_VERSION,
    "id": str(uuid.UUID(int=0x2B0C)),
    "site": "demo-plaza",
    "camera": "vtest",
    "start": _START.isoformat(),
    "end": _END.isoformat(),
}
#: One example body per event type; each is validated by ``parse_event`` before it is printed.
EXAMPLES: dict[str, dict[str, Any]] = {
    "line_count": {"line": "path-east", "counts": {"westbound": {"person": 4}, "eastbound": {}}},
    "speed": {
        "line": "main",
        "speeds": {
            "northbound": {
                "car": {
                    "n": 12,
                    "mean_kmh": 41.3,
                    "p85_kmh": 48.9,
                    "histogram": [0, 0, 0, 0, 0, 0, 1, 3, 4, 3, 1],
                }
            }
        },
    },
    "zone_occupancy": {
        "zone": "plaza",
        "mean": {"person": 2.35},
        "peak": {"person": 6},
        "dwell": {"person": {"n": 9, "mean_s": 14.2, "max_s": 41.0}},
    },
    "turning_movement": {
        "movements": [{"from_zone": "north", "to_zone": "east", "class": "car", "count": 7}]
    },
    "incident": {
        "incident": "stopped_vehicle",
        "zone": "plaza",
        "severity": "warning",
        "details": {"stopped_s": 95, "min_stop_s": 5.0},
        "incident_id": str(uuid.UUID(int=0x1D)),
        "phase": "update",
    },
    "conflict": {
        "zone": "junction",
        "road_users": {"car": 212, "bicycle": 31, "person": 58},
        "conflicts": [
            {"type": "crossing", "severity": "serious", "classes": "car-person", "count": 1},
            {"type": "rear_end", "severity": "moderate", "classes": "car-car", "count": 2},
        ],
        "ttc": {"edges_s": [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0], "counts": [0, 0, 0, 1, 1, 0, 0]},
        "pet": {"edges_s": [0.0, 0.5, 1.0, 1.5, 2.0], "counts": [0, 1, 0, 0, 0]},
        "cell_m": 5.0,
        "cells": [
            {"x_m": 10.0, "y_m": 5.0, "image_x": 412.3, "image_y": 388.0, "count": 2},
            {"x_m": 15.0, "y_m": 5.0, "image_x": 468.9, "image_y": 380.6, "count": 1},
        ],
    },
}

INTRO = f"""\
# Event schema, version {SCHEMA_VERSION}

<!-- Generated by scripts/render_event_schema.py from src/citytally/events.py. Do not edit by hand:
     change the models (or the prose in the script) and re-run the script. -->

An edge pipeline tells the hub only aggregates: per reporting interval, per line or zone, counts by
direction and class, occupancy, dwell and speed statistics, turning-movement counts, incidents, and traffic
conflicts counted by type, severity and classes. No event
carries an image, a track id or a road user's path, or anything that names one; where one road user (or
one pair) alone passed a line or zone in an interval, or alone makes an incident or a conflict, the numbers
(a speed statistic with `n` 1, a dwell time, a conflict's cell, an incident's `longest_s`) are its own. The
schema is `citytally.events`; every model
refuses fields it does not name (`extra="forbid"`), so nothing can ride along. The same schema as JSON
Schema: [event-schema.json](event-schema.json).

**Wire format.** One UTF-8 JSON object per event. MQTT topic `citytally/<site>/<camera>/events`
(`citytally.events.event_topic`). `citytally.events.parse_event` validates one event and says in one line
what is wrong; `event_to_json` writes the wire form.

Classes: {", ".join(f"`{c}`" for c in ROAD_USER_CLASSES)}. Site, camera, line, zone and direction names are
slugs (`{SLUG_PATTERN}`) from the camera config.

**Bounds.** Every number is finite, and all but a conflict cell's position in the picture and the
histograms' bin edges are bounded (the tables give each bound): a count, a peak, a bin or a
movement of one event holds at most {MAX_COUNT:,} road users, a speed is at most
{MAX_SPEED_KMH:,.0f} km/h and a dwell at most {MAX_DWELL_S / 86400:.0f} days. No camera sees more and no
road user is faster, so a number beyond is an edge's bug (or a forgery), and the hub refuses the event,
naming the field, before it can overflow the sums that the rest of its day is added to.

**Intervals.** Intervals are aligned to the clock: with `interval_seconds = 900` they run 08:00–08:15,
08:15–08:30, ... on the *stream's* clock (a file's `start_time` plus the frame's timestamp; for a live
stream the wall clock at its first frame plus the frame timestamps, which after a reconnect go on by as
long as the stream was away, measured on the monotonic clock: an outage is a break, and what follows it is
stamped when it happened; a live frame is never stamped later than the wall clock when it came, so the
seconds a camera sends at once when it is connected to pull the stamps back to now rather than into the
future; and when the system clock is set, by NTP on a box that booted without the time or by hand, the
stamps move with it from that frame on: the step is seen as a change of the wall clock against the
monotonic clock, which processing that falls behind does not make. An edge whose clock reads before 2026
when its stream starts says so in one line and holds what it makes until the clock is set; then it sends it
at the time it happened: every stamp taken before 2026 moves by the step that set the clock (so those
intervals begin and end where the unset clock's minutes did, moved, not on the set clock's boundaries). At
most 50,000 events are held; the oldest beyond that, and what a stream that ends before the clock is set
held, go out as they were stamped (said in one line; the hub refuses them as too old). A clock that is
wrong but reads after 2026 (a box that restores the time it was switched off at boot) cannot be told from
a right one: what is stamped before NTP corrects it keeps that time. A file without `start_time` is
stamped from the wall clock at its start at its own pace). An interval is reported when the first
frame after it arrives, and the last one, partial, at the end of the stream (its `end` is the last frame's
time plus one frame period). Events say only what was watched: the first interval of a stream, and the first
after a break in it (no frame for over 2 s and 10 frame periods), start at their first frame instead of the
aligned boundary; the interval before a break ends with its last frame; an interval with no frame at all is
not reported. Within a reported interval, every line, zone and the turning table get an event even when
nothing happened, so a zero is a measured zero, not missing data.

**Ids.** A live stream's event and incident ids are random (uuid4). A recording with a `start_time` is
stamped the same each time it is analysed, and its ids are derived from what each event says anyway (uuid5
of site, camera, type, line or zone, start and end; an incident's id from its rule, zone, start and how
many that rule opened before it in the run, and each report of it from that id, its phase and end): the
same recording analysed again, after a crash or twice by mistake, repeats them, and the hub stores it once.
A hub refuses a derived id that is not the one the event itself gives, and a recording's interval that
overlaps another report
of the same line or zone by more than 2 s (analysed again with another interval or config, or over a time
its camera already reported live): a recording fills in what is missing and never adds to what is stored
([hub.md](hub.md), "A recording analysed again", with its limits).

**Changing the schema.** Within version {SCHEMA_VERSION} only additive changes (a new optional field, a new
event type), and the hub is upgraded before the edges that send them: a hub refuses, one event at a time and
with a reason, any field or type it does not know. Anything else is version {SCHEMA_VERSION + 1}, which hubs
refuse until they know it. After changing the models, re-run `python scripts/render_event_schema.py`.
"""


def render_json_schema() -> str:
    """The JSON Schema of one event (any type), as the committed ``docs/event-schema.json``."""
    schema = _AnyEvent.model_json_schema(by_alias=True)
    for definition in schema["$defs"].values():  # `v` has a default in Python, not on the wire
        if "v" in definition.get("properties", {}):
            definition["required"] = sorted({*definition.get("required", ()), "v"})
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def _type_of(prop: dict[str, Any]) -> str:
    """A short human reading of one JSON-Schema property."""
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "const" in prop:
        return f"`{json.dumps(prop['const'])}`"
    if "enum" in prop:
        return "one of " + ", ".join(f"`{v}`" for v in prop["enum"])
    if "anyOf" in prop:
        return " or ".join(_type_of(p) for p in prop["anyOf"])
    kind = prop.get("type")
    if kind == "array":
        return f"list of {_type_of(prop['items'])}"
    if kind == "object":
        return _object_type(prop)
    if kind == "string":
        if prop.get("pattern") == SLUG_PATTERN:
            return "slug"
        text = {"uuid": "UUID", "date-time": "date-time with zone"}.get(prop.get("format", ""), "string")
        return f"{text} of at most {prop['maxLength']} characters" if "maxLength" in prop else text
    if kind == "null":
        return "null"
    text = {"integer": "integer", "number": "number"}.get(str(kind), str(kind))
    if "minimum" in prop and "maximum" in prop:
        return f"{text} from {_number(prop['minimum'])} to {_number(prop['maximum'])}"
    if "exclusiveMinimum" in prop:
        text += f" > {_number(prop['exclusiveMinimum'])}"
    elif "minimum" in prop:
        text += f" ≥ {prop['minimum']}"
    if "maximum" in prop:
        text += f"{',' if ' ' in text else ''} ≤ {_number(prop['maximum'])}"
    return text


def _number(value: float) -> str:
    """A bound as a person reads it: whole numbers below a billion in full (``1,000,000``), others short."""
    if float(value).is_integer() and abs(value) < 1e9:
        return f"{int(value):,}"
    return f"{value:g}"


def _object_type(prop: dict[str, Any]) -> str:
    if prop.get("additionalProperties") is False and "properties" in prop:  # a closed set of names
        most = f"at most {prop['maxProperties']}: " if "maxProperties" in prop else ""
        first = next(iter(prop["properties"].values()))
        return f"{most}a [detail name](#incident-details) → {_type_of(first)}"
    if "patternProperties" in prop:
        ((pattern, value),) = prop["patternProperties"].items()
        key = "slug" if pattern == SLUG_PATTERN else f"name (`{pattern}`)"
        most = f"at most {prop['maxProperties']}: " if "maxProperties" in prop else ""
        return f"{most}{key} → {_type_of(value)}"
    key = "class" if prop.get("propertyNames", {}).get("enum") == list(ROAD_USER_CLASSES) else "string"
    return f"{key} → {_type_of(prop.get('additionalProperties', {}))}"


def _table(definition: dict[str, Any], skip: tuple[str, ...] = ()) -> list[str]:
    required = set(definition.get("required", ()))
    rows = ["| field | type | required | meaning |", "|---|---|---|---|"]
    for name, prop in definition["properties"].items():
        if name in skip:
            continue
        rows.append(
            "| "
            + " | ".join(
                (f"`{name}`", _type_cell(name, prop), _need(name, prop, required), _meaning(name, prop))
            )
            + " |"
        )
    return rows


def _type_cell(name: str, prop: dict[str, Any]) -> str:
    return "string" if name == "type" else _type_of(prop)


def _need(name: str, prop: dict[str, Any], required: set[str]) -> str:
    if name in required or name in ("type", "v"):  # parse_event refuses an event without `v`
        return "yes"
    if "default" in prop:
        return f"no (default `{json.dumps(prop['default'])}`)"
    return "no (default `{}`)" if prop.get("type") == "object" else "no"


def _meaning(name: str, prop: dict[str, Any]) -> str:
    return str(prop.get("description") or MEANINGS.get(name, "")).replace("|", "\\|")


def _example(type_name: str) -> str:
    raw = {**_COMMON_EXAMPLE, "type": type_name, **EXAMPLES[type_name]}
    event: Event = parse_event(raw)  # an example the schema refuses must fail the render, not reach the page
    return json.dumps(json.loads(event_to_json(event)), ensure_ascii=False)


def render_page() -> str:
    """The Markdown of ``docs/events.md``."""
    defs = _AnyEvent.model_json_schema(by_alias=True)["$defs"]
    out = [INTRO, "## Fields every event has", ""]
    out += _table(
        defs[LineCountEvent.__name__],
        skip=tuple(f for f in defs["LineCountEvent"]["properties"] if f not in COMMON),
    )
    out += [
        "",
        "`type` selects the body: "
        + ", ".join(f"`{m.model_fields['type'].default}`" for m, _ in EVENT_TYPES)
        + ".",
        "",
    ]
    for model, prose in EVENT_TYPES:
        type_name = model.model_fields["type"].default
        out += [f"## `{type_name}`", "", inspect.cleandoc(model.__doc__ or "").replace("``", "`"), ""]
        out += _table(defs[model.__name__], skip=COMMON)
        out += ["", prose, "", "```json", _example(type_name), "```", ""]
    out += ["## Nested objects", ""]
    for name in sorted(n for n in defs if not n.endswith("Event")):
        out += [f"### {name}", ""] + _table(defs[name]) + [""]
    incidents = ", ".join(f"`{t}`" for t in get_args(IncidentType))
    out += [f"Incident types: {incidents}.", ""]
    out += [
        "## Incident details",
        "",
        "The names an incident's `details` may use (no other: nothing about one road user can ride along "
        "under a name of its own):",
        "",
        "| name | holds |",
        "|---|---|",
        *(f"| `{name}` | {meaning} |" for name, meaning in DETAIL_KEYS.items()),
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Write (``--check``: compare) the page and the JSON Schema; 1 when ``--check`` finds them stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    wanted = {PAGE: render_page(), SCHEMA_FILE: render_json_schema()}
    if args.check:
        stale = [p for p, text in wanted.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
        for path in stale:
            print(
                f"{path.relative_to(REPO)} is stale: run python scripts/render_event_schema.py",
                file=sys.stderr,
            )
        return 1 if stale else 0
    for path, text in wanted.items():
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
