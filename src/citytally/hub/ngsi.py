"""Counts as NGSI-LD entities of the FIWARE Smart Data Models (normalized form, ``application/ld+json``).

* **TrafficFlowObserved** — vehicles (every class but ``person``) crossing one count line in one direction
  during one roll-up bucket: ``intensity`` (vehicles in the bucket), ``averageVehicleSpeed`` (km/h, when
  speeds were measured), ``laneDirection`` (``forward`` for the line's first direction, ``backward`` for
  its second), ``vehicleType`` when one class was asked for.
* **CrowdFlowObserved** — persons crossing one line in one direction: ``peopleCount``,
  ``averageCrowdSpeed`` and ``direction`` when the camera names its directions ``inbound``/``outbound``.

Both carry the models' required ``id``, ``type`` and ``dateObserved`` (an ISO 8601 interval), plus
``dateObservedFrom``/``dateObservedTo``, ``refRoadSegment`` (a Relationship naming the count line, which
also satisfies TrafficFlowObserved's "refRoadSegment, location or address" rule), ``location`` (a GeoJSON
point, when the camera's position is registered), ``address`` and ``dataProvider``, and ``viewChanged``
(a boolean Property of citytally's own, outside the models): true where the camera's view was knocked,
turned, covered or out of focus during part of the bucket, so its numbers may be wrong (as ``view_changed``
in the REST series).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "NGSI_LD_CONTEXT",
    "NGSI_LD_MEDIA_TYPE",
    "VEHICLE_TYPES",
    "FlowKey",
    "traffic_flow_entities",
    "crowd_flow_entities",
]

NGSI_LD_MEDIA_TYPE = "application/ld+json"
NGSI_LD_CONTEXT: list[str] = [
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Transportation/master/context.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
]
#: citytally class → the model's ``vehicleType`` (its enum has no "truck": a lorry is one).
VEHICLE_TYPES: dict[str, str] = {
    "bicycle": "bicycle",
    "car": "car",
    "motorcycle": "motorcycle",
    "bus": "bus",
    "truck": "lorry",
}
_PROVIDER = "citytally"

#: (site, camera, line, direction, bucket start)
FlowKey = tuple[str, str, str, str, datetime]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def _date(moment: datetime) -> dict[str, Any]:
    return _prop({"@type": "DateTime", "@value": _iso(moment)})


def _duration(width: timedelta) -> str:
    """``width`` as an ISO 8601 duration (PT15M, PT1H, P1D)."""
    days, seconds = width.days, width.seconds
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    return "P" + (f"{days}D" if days else "") + (f"T{clock}" if clock else "")


def _common(
    kind: str, key: FlowKey, width: timedelta, camera: Mapping[str, Any] | None, variant: str | None = None
) -> dict[str, Any]:
    """The attributes both models share. The id names everything that makes the observation what it is:
    the line, the direction, the bucket's start *and width* and, where the numbers are of one vehicle type
    only, that type: an upsert into a context broker must never overwrite an hour's count with a quarter's,
    or all vehicles' with cars'."""
    site, cam, line, direction, bucket = key
    end = bucket + width
    stamp = bucket.astimezone(UTC).strftime("%Y%m%dT%H%MZ")
    observation = f"{stamp}:{_duration(width)}" + (f":{variant}" if variant else "")
    entity: dict[str, Any] = {
        "id": f"urn:ngsi-ld:{kind}:{_PROVIDER}:{site}:{cam}:{line}:{direction}:{observation}",
        "type": kind,
        "dateObserved": _prop(f"{_iso(bucket)}/{_iso(end)}"),
        "dateObservedFrom": _date(bucket),
        "dateObservedTo": _date(end),
        "refRoadSegment": {
            "type": "Relationship",
            "object": f"urn:ngsi-ld:RoadSegment:{_PROVIDER}:{site}:{cam}:{line}",
        },
        "dataProvider": _prop(_PROVIDER),
        "description": _prop(f"Count line {line} of camera {site}/{cam}, direction {direction}"),
    }
    if camera is not None:
        if camera.get("lat") is not None and camera.get("lon") is not None:
            point = {"type": "Point", "coordinates": [camera["lon"], camera["lat"]]}
            entity["location"] = {"type": "GeoProperty", "value": point}
        if camera.get("location"):
            entity["address"] = _prop({"streetAddress": camera["location"], "type": "PostalAddress"})
    return entity


def _sum_by_key(rows: Iterable[Mapping[str, Any]], classes: set[str], value: str) -> dict[FlowKey, float]:
    totals: dict[FlowKey, float] = {}
    for row in rows:
        if row["class"] in classes:
            key = (row["site"], row["camera"], row["line"], row["direction"], row["bucket"])
            totals[key] = totals.get(key, 0) + row[value]
    return totals


def _view_changed(rows: Iterable[Mapping[str, Any]], classes: set[str]) -> set[FlowKey]:
    """The keys of the rows marked ``view_changed`` (the camera's view changed in the bucket)."""
    return {
        (row["site"], row["camera"], row["line"], row["direction"], row["bucket"])
        for row in rows
        if row["class"] in classes and row.get("view_changed")
    }


def _mean_speeds(speeds: Iterable[Mapping[str, Any]], classes: set[str]) -> dict[FlowKey, float]:
    measured = _sum_by_key(speeds, classes, "n")
    summed = _sum_by_key(
        ({**row, "speed_sum": (row["mean_kmh"] or 0.0) * row["n"]} for row in speeds), classes, "speed_sum"
    )
    return {key: summed[key] / n for key, n in measured.items() if n}


def traffic_flow_entities(
    counts: Iterable[Mapping[str, Any]],
    speeds: Iterable[Mapping[str, Any]],
    *,
    width: timedelta,
    cameras: Mapping[tuple[str, str], Mapping[str, Any]],
    line_directions: Mapping[tuple[str, str, str], list[str]],
    vehicle_class: str | None = None,
) -> list[dict[str, Any]]:
    """TrafficFlowObserved entities from count (and speed) series rows, one per line/direction/bucket.

    ``cameras`` maps (site, camera) to its registry row (lat, lon, location); ``line_directions`` maps
    (site, camera, line) to the line's two direction names (first = forward).
    """
    classes = {vehicle_class} if vehicle_class else set(VEHICLE_TYPES)
    speed_rows, counts = list(speeds), list(counts)
    intensity = _sum_by_key(counts, classes, "count")
    changed = _view_changed(counts, classes)
    mean_speed = _mean_speeds(speed_rows, classes)
    entities = []
    for key in sorted(intensity):
        site, cam, line, direction, _ = key
        variant = VEHICLE_TYPES[vehicle_class] if vehicle_class else None
        entity = _common("TrafficFlowObserved", key, width, cameras.get((site, cam)), variant)
        entity["intensity"] = _prop(int(intensity[key]))
        entity["viewChanged"] = _prop(key in changed)
        if key in mean_speed:
            entity["averageVehicleSpeed"] = _prop(round(mean_speed[key], 2))
        names = line_directions.get((site, cam, line), [])
        if direction in names[:2]:
            entity["laneDirection"] = _prop("forward" if names.index(direction) == 0 else "backward")
        if vehicle_class:
            entity["vehicleType"] = _prop(VEHICLE_TYPES[vehicle_class])
        entity["@context"] = NGSI_LD_CONTEXT
        entities.append(entity)
    return entities


def crowd_flow_entities(
    counts: Iterable[Mapping[str, Any]],
    speeds: Iterable[Mapping[str, Any]],
    *,
    width: timedelta,
    cameras: Mapping[tuple[str, str], Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """CrowdFlowObserved entities: persons per line/direction/bucket."""
    counts = list(counts)
    people = _sum_by_key(counts, {"person"}, "count")
    changed = _view_changed(counts, {"person"})
    mean_speed = _mean_speeds(list(speeds), {"person"})
    entities = []
    for key in sorted(people):
        site, cam, _, direction, _ = key
        entity = _common("CrowdFlowObserved", key, width, cameras.get((site, cam)))
        entity["peopleCount"] = _prop(int(people[key]))
        entity["viewChanged"] = _prop(key in changed)
        if key in mean_speed:
            entity["averageCrowdSpeed"] = _prop(round(mean_speed[key], 2))
        if direction in ("inbound", "outbound"):
            entity["direction"] = _prop(direction)
        entity["@context"] = NGSI_LD_CONTEXT
        entities.append(entity)
    return entities
