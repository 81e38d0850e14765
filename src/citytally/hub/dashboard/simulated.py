"""A day of simulated multi-camera traffic for the demo, so that every dashboard panel has data.

SUMO runs RESCO's ``cologne3`` scenario: three signalised junctions of the real Cologne road network with
its TAPAS morning-peak demand (07:00–08:00, passenger cars only). A virtual camera at each junction records
every car that crosses it: the side it came from, the side it left by, and its speed there. That hour
becomes a day: each 15-minute interval of the last 24 hours takes the matching quarter of the simulated
hour, thinned to a typical weekday profile (quiet at night, peaks at 07–09 and 16–18). Queues (halted
cars on the approaches) give zone occupancy and, when long, congestion incidents.

Everything is labelled as simulated: the site is ``simulated-cologne`` and each camera's purpose and place
say so. Nothing here is about a person: the cars are SUMO's, and only sums per interval are stored.
"""

from __future__ import annotations

import math
import os
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from citytally.edge.config import CameraConfig
from citytally.errors import ConfigError, StoreError
from citytally.events import (
    Event,
    IncidentEvent,
    LineCountEvent,
    Movement,
    SpeedEvent,
    SpeedStats,
    TurningMovementEvent,
    ZoneOccupancyEvent,
)
from citytally.hub.dashboard.simulated_conflicts import (
    CONFLICT_ZONE,
    ZONE_CORNERS_M,
    ZoneHour,
    ZoneRecorder,
    drawing_plane,
    interval_conflict_event,
    measure_zone,
)

__all__ = [
    "SIMULATED_SITE",
    "default_resco_dir",
    "RESCO_DIR_ENV",
    "Passage",
    "SimulatedHour",
    "simulate_hour",
    "camera_configs",
    "day_of_events",
    "load_simulated_day",
]

RESCO_DIR_ENV = "CITYTALLY_RESCO"


def default_resco_dir() -> Path:
    """$CITYTALLY_RESCO, else ``shared/data/resco`` beside the checkout (or beside its parent, for a
    git worktree kept in a folder of worktrees)."""
    if os.environ.get(RESCO_DIR_ENV):
        return Path(os.environ[RESCO_DIR_ENV])
    repo = Path(__file__).resolve().parents[4]
    candidates = [up / "shared" / "data" / "resco" for up in (repo.parent, repo.parent.parent)]
    return next((c for c in candidates if c.is_dir()), candidates[0])


SIMULATED_SITE = "simulated-cologne"
PURPOSE = (
    "SIMULATED DATA for the demo, not a real camera: SUMO traffic on the real Cologne road network "
    "(RESCO cologne3, TAPAS demand 07:00-08:00, spread over a day with a typical weekday profile)"
)
#: Share of the simulated peak hour's traffic in each hour of the day (a typical urban weekday).
DAY_PROFILE = (
    0.06, 0.04, 0.03, 0.03, 0.05, 0.15, 0.45, 1.0, 0.9, 0.6, 0.55, 0.6,
    0.65, 0.6, 0.6, 0.7, 0.9, 0.95, 0.8, 0.55, 0.4, 0.3, 0.2, 0.12,
)  # fmt: skip
_SIDES = ("north", "east", "south", "west")
_HEADINGS = {"north": "northbound", "east": "eastbound", "south": "southbound", "west": "westbound"}
_OPPOSITE = {"north": "south", "east": "west", "south": "north", "west": "east"}
_INTERVAL = timedelta(minutes=15)
#: SUMO's time step (s). RESCO's scenarios step a second at a time; the virtual cameras sample the cars in
#: their conflict zones every step, and a camera sees a car many times as it crosses a junction. At 1 s a car
#: crossing the 20 m zone at 12 m/s was seen twice, its path a chord through its turn and prolonged straight
#: past the junction: conflicts that needed 50-180 m/s² of braking.
STEP_S = 0.25
#: Halted cars on a junction's approaches, averaged over an interval, from which it is reported congested.
CONGESTED_QUEUE = 6.0


@dataclass(frozen=True)
class Passage:
    """One car crossing a junction: when (seconds into the hour), from which side, to which, how fast."""

    second: float
    junction: str
    from_side: str
    to_side: str
    speed_kmh: float


@dataclass(frozen=True)
class SimulatedHour:
    """What the virtual cameras saw in the simulated hour."""

    passages: list[Passage]
    #: junction -> mean halted cars on its approaches, per minute of the hour (60 values)
    queues: dict[str, list[float]]
    #: junction -> (lat, lon)
    places: dict[str, tuple[float, float]]
    #: junction -> its conflict zone's cars and the conflicts measured between them
    zones: dict[str, ZoneHour]


def _side(api: Any, edge: str, end: bool) -> str:
    """The compass side of a junction an edge meets it from (``end``: the edge ends at the junction)."""
    shape = api.lane.getShape(f"{edge}_0")
    (x0, y0), (x1, y1) = (shape[-2], shape[-1]) if end else (shape[0], shape[1])
    heading = math.degrees(math.atan2(x1 - x0, y1 - y0)) % 360  # 0 = travelling north
    travelling = _SIDES[int(((heading + 45) % 360) // 90)]
    return _OPPOSITE[travelling] if end else travelling


def simulate_hour(resco_dir: Path, conflicts: bool = True) -> SimulatedHour:
    """Run SUMO on cologne3 for its hour and record every junction crossing and the cars in each conflict
    zone (libsumo, seconds); ``conflicts``: measure the conflicts between those cars (most of the time)."""
    import libsumo  # in-process SUMO: no binary to find, no port to open

    cfg = resco_dir / "cologne3" / "cologne3.sumocfg"
    if not cfg.is_file():
        raise ConfigError(
            f"{cfg}: no such SUMO scenario (the RESCO data is expected in ../shared/data/resco)"
        )
    try:
        libsumo.start(
            ["sumo", "-c", str(cfg), "--no-step-log", "--no-warnings", "--seed", "7"]
            + ["--step-length", str(STEP_S)]
        )
    except libsumo.TraCIException as exc:
        raise ConfigError(f"{cfg}: SUMO refused the scenario: {exc}") from exc
    try:
        return _record(libsumo, conflicts)
    finally:
        libsumo.close()


def _record(api: Any, conflicts: bool) -> SimulatedHour:
    """Step the running simulation through its hour, recording what each junction's camera would see."""
    begin = api.simulation.getTime()
    entries: dict[str, dict[str, str]] = {}  # junction -> incoming edge -> side
    exits: dict[str, dict[str, str]] = {}
    places: dict[str, tuple[float, float]] = {}
    centres: dict[str, tuple[float, float]] = {}
    for tls in api.trafficlight.getIDList():
        links = [link for group in api.trafficlight.getControlledLinks(tls) for link in group]
        name = f"junction-{len(places) + 1}"
        entries[name] = {api.lane.getEdgeID(i): _side(api, api.lane.getEdgeID(i), True) for i, _, _ in links}
        exits[name] = {api.lane.getEdgeID(o): _side(api, api.lane.getEdgeID(o), False) for _, o, _ in links}
        # a cluster's signal id names no junction: the junction is where its approaches end
        ends = [api.lane.getShape(i)[-1] for i, _, _ in links]
        centres[name] = (float(np.mean([e[0] for e in ends])), float(np.mean([e[1] for e in ends])))
        lon, lat = api.simulation.convertGeo(*centres[name])
        places[name] = (lat, lon)
    zones = ZoneRecorder(api, centres, STEP_S)
    approaching: dict[str, tuple[str, str]] = {}  # vehicle -> (junction, side it came from)
    passages: list[Passage] = []
    halted: dict[str, list[float]] = defaultdict(list)
    while api.simulation.getMinExpectedNumber() > 0 and api.simulation.getTime() < begin + 3600:
        api.simulationStep()
        second = api.simulation.getTime() - begin
        zones.step(second)
        for vehicle in api.simulation.getArrivedIDList():
            approaching.pop(vehicle, None)
        if abs(second - round(second)) > STEP_S / 2:
            continue  # the counts and queues are looked at once a second
        for junction, incoming in entries.items():
            queue = 0
            for edge, side in incoming.items():
                for vehicle in api.edge.getLastStepVehicleIDs(edge):
                    approaching[vehicle] = (junction, side)
                queue += api.edge.getLastStepHaltingNumber(edge)
            halted[junction].append(queue)
        for vehicle, (junction, side) in list(approaching.items()):
            road = api.vehicle.getRoadID(vehicle)
            if road in exits[junction]:
                speed = api.vehicle.getSpeed(vehicle) * 3.6
                passages.append(Passage(second, junction, side, exits[junction][road], speed))
                del approaching[vehicle]
    queues = {
        j: [float(np.mean(q[m * 60 : (m + 1) * 60] or [0])) for m in range(60)] for j, q in halted.items()
    }
    zone_hours = {j: measure_zone(p) if conflicts else ZoneHour(p, []) for j, p in zones.paths().items()}
    return SimulatedHour(passages, queues, places, zone_hours)


_SQUARE = ((0, 0), (100, 0), (100, 100), (0, 100))
#: The drawing's zones side by side, 100 px squares 200 px apart, then the junction (the conflict zone)
#: three times as large, so that its heat map's 5 m cells are 50 px.
_DRAWN_ZONES = {side: [[x + 200 * i, y] for x, y in _SQUARE] for i, side in enumerate(_SIDES)} | {
    CONFLICT_ZONE: [[800 + 3 * x, 3 * y] for x, y in _SQUARE]
}


def camera_configs(hour: SimulatedHour) -> list[CameraConfig]:
    """One virtual camera per junction, registered as simulated (purpose, place and site say so). Its
    ground plane puts the junction's conflict zone (a square of metres around it) on the drawn
    ``junction`` zone."""
    return [
        CameraConfig.model_validate(
            {
                "site": SIMULATED_SITE,
                "camera": junction,
                "metadata": {
                    "location": f"Cologne, {junction} (SIMULATED, SUMO)",
                    "lat": lat,
                    "lon": lon,
                    "purpose": PURPOSE,
                    "legal_basis": "None needed: simulated data, no camera exists",
                },
                "source": {"uri": "/dev/null"},
                # The two count lines cross the drawn junction, apart from the approach zones' labels.
                "lines": [
                    {
                        "name": "north-south",
                        "p1": [950, 0],
                        "p2": [950, 300],
                        "directions": ["northbound", "southbound"],
                    },
                    {
                        "name": "east-west",
                        "p1": [800, 150],
                        "p2": [1100, 150],
                        "directions": ["eastbound", "westbound"],
                    },
                ],
                "zones": [{"name": name, "polygon": polygon} for name, polygon in _DRAWN_ZONES.items()],
                "turning": {"zones": list(_SIDES)},
                "speed": {
                    "image_points": _DRAWN_ZONES[CONFLICT_ZONE],
                    "ground_points_m": ZONE_CORNERS_M,
                },
                "conflicts": [{"zone": CONFLICT_ZONE}],
            }
        )
        for junction, (lat, lon) in sorted(hour.places.items())
    ]


def _kept(passages: list[Passage], share: float) -> list[Passage]:
    """A deterministic, evenly spread ``share`` of the passages (the same ones every run)."""
    golden = 0.6180339887
    return [p for k, p in enumerate(passages) if (k * golden) % 1.0 < share]


def _interval_events(
    junction: str, start: datetime, passages: list[Passage], queue: float, share: float
) -> list[Event]:
    head: dict[str, Any] = {
        "site": SIMULATED_SITE,
        "camera": junction,
        "start": start,
        "end": start + _INTERVAL,
    }
    counts: dict[str, dict[str, dict[str, int]]] = {"north-south": {}, "east-west": {}}
    speeds: dict[tuple[str, str], list[float]] = defaultdict(list)
    moves: dict[tuple[str, str], int] = defaultdict(int)
    for p in passages:
        heading = _HEADINGS[_OPPOSITE[p.from_side]]
        line = "north-south" if heading in ("northbound", "southbound") else "east-west"
        by_class = counts[line].setdefault(heading, {})
        by_class["car"] = by_class.get("car", 0) + 1
        speeds[(line, heading)].append(p.speed_kmh)
        moves[(p.from_side, p.to_side)] += 1
    events: list[Event] = [
        LineCountEvent(id=uuid.uuid4(), line=line, counts=by_dir, **head)  # type: ignore[arg-type]
        for line, by_dir in counts.items()
    ]
    for line in counts:
        stats = {
            heading: {"car": SpeedStats.of(v, digits=1)}
            for (name, heading), v in sorted(speeds.items())
            if name == line
        }  # fmt: skip
        if stats:
            events.append(SpeedEvent(id=uuid.uuid4(), line=line, speeds=stats, **head))  # type: ignore[arg-type]
    movements = [
        Movement.model_validate({"from_zone": a, "to_zone": b, "class": "car", "count": n})
        for (a, b), n in sorted(moves.items())
    ]
    events.append(TurningMovementEvent(id=uuid.uuid4(), movements=movements, **head))
    present = round(queue * share, 3)
    mean = {"car": present} if present > 0 else {}
    peak = {"car": math.ceil(present)} if present > 0 else {}
    events.append(ZoneOccupancyEvent(id=uuid.uuid4(), zone="junction", mean=mean, peak=peak, **head))  # type: ignore[arg-type]
    if present >= CONGESTED_QUEUE:
        events.append(
            IncidentEvent(
                id=uuid.uuid4(),
                incident="congestion",
                zone="junction",
                severity="warning",
                details={"halted_cars_mean": present, "simulated": "yes"},
                **head,
            )
        )
    return events


def day_of_events(hour: SimulatedHour, end: datetime | None = None) -> list[Event]:
    """Events of every virtual camera for the 96 quarter-hours before ``end`` (default: now)."""
    end = end or datetime.now(UTC)
    end = end.replace(minute=end.minute - end.minute % 15, second=0, microsecond=0)
    by_quarter: dict[tuple[str, int], list[Passage]] = defaultdict(list)
    for p in hour.passages:
        by_quarter[(p.junction, min(3, int(p.second // 900)))].append(p)
    events: list[Event] = []
    plane = drawing_plane(_DRAWN_ZONES[CONFLICT_ZONE])
    for i in range(96):
        start = end - _INTERVAL * (96 - i)
        share = DAY_PROFILE[start.hour]
        quarter = start.minute // 15
        for junction in sorted(hour.places):
            passages = _kept(by_quarter[(junction, quarter)], share)
            queue = float(np.mean(hour.queues.get(junction, [0.0])[quarter * 15 : quarter * 15 + 15]))
            events += _interval_events(junction, start, passages, queue, share)
            if junction in hour.zones:
                head = {"id": uuid.uuid4(), "site": SIMULATED_SITE, "camera": junction}
                head |= {"start": start, "end": start + _INTERVAL}
                events.append(interval_conflict_event(head, hour.zones[junction], quarter, share, plane))
    return events


def load_simulated_day(engine: sa.Engine, resco_dir: Path | None = None) -> int:
    """Simulate, register the virtual cameras and store their day of events; returns how many were stored."""
    from citytally.hub.store import EventWriter, sync_registry

    hour = simulate_hour(resco_dir or default_resco_dir())
    sync_registry(engine, camera_configs(hour), {SIMULATED_SITE: {"name": "Cologne (SIMULATED with SUMO)"}})
    events = day_of_events(hour)
    result = EventWriter(engine).write_events(events)
    if result.stored != len(events):
        raise StoreError(f"stored {result.stored} of {len(events)} simulated events: {result}")
    return result.stored
