"""Emergency-vehicle episodes in SUMO: how long an ambulance takes in free flow, under a controller alone and
under the same controller wrapped in :class:`~citytally.signals.priority.EmergencyPriority`, and what that
costs everyone else (RESCO's delay metric). ``citytally signals emergency`` and
``bench/signals_emergency.py`` run them; the priority itself is in :mod:`citytally.signals.priority`.
"""

from __future__ import annotations

import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import escape

from citytally.errors import SignalError
from citytally.signals.evaluate import GridlockWatch
from citytally.signals.intersection import SignalTiming
from citytally.signals.metric import route_departures, route_files_of
from citytally.signals.network import Controller, SignalNetwork
from citytally.signals.priority import EmergencyPriority, TimingPlanController
from citytally.signals.sim import SumoConnection

__all__ = [
    "AMBULANCE_VTYPE",
    "AmbulanceCall",
    "EmergencyEpisode",
    "EpisodeMode",
    "emergency_comparison",
    "run_emergency_episode",
    "write_ambulance_routes",
]

AMBULANCE_VTYPE = (
    '<vType id="ambulance" vClass="emergency" guiShape="emergency" speedFactor="1" speedDev="0" '
    'color="1,1,1"/>'
)
"""Emergency class without the bluelight device, so it stops at red like everyone else (see the README)."""


@dataclass(frozen=True)
class AmbulanceCall:
    """One emergency trip: a route (edge ids) and when the call comes in."""

    vehicle_id: str
    edges: tuple[str, ...]
    depart: float


def write_ambulance_routes(path: Path, calls: Sequence[AmbulanceCall]) -> Path:
    """A SUMO route file with the ambulance type and ``calls`` (sorted by departure, as SUMO wants)."""
    lines = ["<routes>", f"    {AMBULANCE_VTYPE}"]
    for call in sorted(calls, key=lambda c: c.depart):
        lines.append(
            f'    <vehicle id="{escape(call.vehicle_id)}" type="ambulance" depart="{call.depart:g}" '
            f'departLane="best" departSpeed="max"><route edges="{escape(" ".join(call.edges))}"/></vehicle>'
        )
    lines.append("</routes>")
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass(frozen=True)
class EmergencyEpisode:
    """One episode: each ambulance's travel time (arrival − scheduled departure) and stops, and RESCO's
    mean delay (``timeLoss + departDelay``; never-departed vehicles count to the end) of everyone else."""

    travel_s: dict[str, float]
    stops: dict[str, int]
    others_delay_s: float
    others: int
    sumo_version: str
    wall_s: float
    gridlock_at: float | None = None
    """When the whole network locked up (no arrival for 300 s with vehicles on the road), if it did."""
    stuck: int = 0
    """Vehicles still on the road at the end that had stood still for 300 s or more (a local lock)."""
    insertion_s: dict[str, float] = field(default_factory=dict)
    """Part of each ambulance's travel time spent waiting to enter a full first edge."""
    arrived: frozenset[str] = frozenset()
    """The ambulances that reached the end of their route; another's ``travel_s`` runs to the episode end."""

    @property
    def locked(self) -> bool:
        """Whether the network, or part of it, locked up (its delay then says little about control)."""
        return self.gridlock_at is not None or self.stuck >= _LOCKED_VEHICLES


EpisodeMode = Literal["free", "normal", "priority"]
_STUCK_S = 300.0
_LOCKED_VEHICLES = 10


def run_emergency_episode(
    net: Path,
    background: Sequence[Path],
    calls: Sequence[AmbulanceCall],
    window: tuple[float, float],
    *,
    seed: int,
    mode: EpisodeMode,
    controller: Controller | None = None,
    binary: Path | None = None,
) -> EmergencyEpisode:
    """Run ``calls`` through the network: ``free`` (alone, every signal green), ``normal`` (``controller``
    as it is) or ``priority`` (``controller`` wrapped in :class:`EmergencyPriority`)."""
    if mode != "free" and controller is None:
        raise SignalError(f"a {mode!r} emergency episode needs a controller")
    started = time.perf_counter()
    ids = {c.vehicle_id for c in calls}
    begin, end = window
    with tempfile.TemporaryDirectory(prefix="citytally-ev-") as tmp:
        tripinfo = Path(tmp) / "tripinfo.xml"
        ambulances = write_ambulance_routes(Path(tmp) / "ambulances.rou.xml", calls)
        routes = [ambulances] if mode == "free" else [*background, ambulances]
        args = [
            "-n", str(net), "-r", ",".join(map(str, routes)), "--begin", f"{begin:g}", "--end", f"{end:g}",
            "--seed", str(seed), "--tripinfo-output", str(tripinfo), "--tripinfo-output.write-unfinished",
            "--time-to-teleport", "-1", "--no-step-log", "--no-warnings", "--duration-log.disable",
        ]  # fmt: skip
        conn = SumoConnection.start(args, binary=binary)
        try:
            version = conn.version()
            watch = GridlockWatch(window_s=300.0)
            stops = _drive(conn, ids, end, None if mode == "free" else controller, mode == "priority", watch)
        finally:
            conn.close()
        departs = {} if mode == "free" else route_departures(background)
        trips = _split_delays(tripinfo, ids, departs, window)
    return EmergencyEpisode(
        trips.travel_s, stops, trips.others_delay_s, trips.others, version, time.perf_counter() - started,
        watch.detected_at, trips.stuck, trips.insertion_s, frozenset(trips.arrived),
    )  # fmt: skip


def _drive(
    conn: SumoConnection,
    ids: set[str],
    end: float,
    controller: Controller | None,
    priority: bool,
    watch: GridlockWatch,
) -> dict[str, int]:
    """Step to ``end``; returns how often each ambulance came to a standstill."""
    api = conn.api
    network: SignalNetwork | None = None
    policy: Controller | None = controller
    if controller is None:
        for tls in api.trafficlight.getIDList():
            api.trafficlight.setRedYellowGreenState(
                tls, "G" * len(api.trafficlight.getRedYellowGreenState(tls))
            )
    else:
        timing = getattr(controller, "timing", None) or SignalTiming.model_validate({})
        network = SignalNetwork(api, timing)
        policy = EmergencyPriority(controller) if priority else controller
    stops = dict.fromkeys(ids, 0)
    moving: dict[str, bool] = {}
    while conn.time < end - 1e-6:
        if network is not None:
            network.control_step(policy)
        conn.step()
        arrived = set(api.simulation.getArrivedIDList())
        watch.observe(conn.time, len(arrived), int(api.vehicle.getIDCount()))
        for vid in [*moving, *(v for v in api.simulation.getDepartedIDList() if v in ids)]:
            if vid in arrived:
                moving.pop(vid, None)
                continue
            now_moving = float(api.vehicle.getSpeed(vid)) >= 0.1
            if moving.get(vid, True) and not now_moving:
                stops[vid] += 1
            moving[vid] = now_moving
    return stops


@dataclass(frozen=True)
class _Trips:
    travel_s: dict[str, float]
    insertion_s: dict[str, float]
    others_delay_s: float
    others: int
    stuck: int
    arrived: set[str]


def _split_delays(
    tripinfo: Path, ids: set[str], departs: Mapping[str, float], window: tuple[float, float]
) -> _Trips:
    """Ambulance times, everyone else's mean delay, and how many are stuck, from the tripinfo output."""
    begin, end = window
    travel: dict[str, float] = {}
    insertion: dict[str, float] = {}
    delays: dict[str, float] = {}
    arrived: set[str] = set()
    stuck = 0
    for _, elem in ET.iterparse(tripinfo):
        if elem.tag != "tripinfo":
            continue
        vid, depart = str(elem.get("id")), float(elem.get("depart", "-1"))
        arrival = float(elem.get("arrival", "-1"))
        if vid in ids:
            insertion[vid] = float(elem.get("departDelay", "0"))
            travel[vid] = (arrival if arrival >= 0 else end) - (depart - insertion[vid])
            if arrival >= 0:
                arrived.add(vid)
        elif depart >= 0:
            delays[vid] = float(elem.get("timeLoss", "0")) + float(elem.get("departDelay", "0"))
            stuck += int(arrival < 0 and float(elem.get("waitingTime", "0")) >= _STUCK_S)
        elem.clear()
    for vid, scheduled in departs.items():
        if begin <= scheduled < end and vid not in delays:
            delays[vid] = end - scheduled
    mean = sum(delays.values()) / len(delays) if delays else 0.0
    return _Trips(travel, insertion, mean, len(delays), stuck, arrived)


def emergency_comparison(
    sumocfg: Path,
    route: tuple[str, ...],
    window: tuple[float, float],
    *,
    depart: float | None,
    controller: str,
    seed: int,
    binary: Path | None,
) -> list[str]:
    """One ambulance on a scenario: free flow, ``controller`` alone, and wrapped in priority (CLI lines)."""
    from citytally.signals.controllers import make_controller

    try:
        net_node = ET.parse(sumocfg).getroot().find(".//net-file")
    except (OSError, ET.ParseError) as exc:
        raise SignalError(f"{sumocfg}: cannot read the SUMO configuration: {exc}") from exc
    if net_node is None or not net_node.get("value"):
        raise SignalError(f"{sumocfg}: no net-file")
    if not route:
        raise SignalError("--route: give the ambulance's edges, space-separated")
    begin, end = window
    call = AmbulanceCall("ambulance", route, begin + 600.0 if depart is None else depart)
    if not begin <= call.depart < end:
        raise SignalError(f"--depart {call.depart:g} is outside the episode {begin:g}-{end:g} s")
    net = sumocfg.parent / str(net_node.get("value"))
    background = route_files_of(sumocfg)

    def inner() -> Controller:
        made = TimingPlanController() if controller == "fixed" else make_controller(controller)
        if made is None:
            raise SignalError(f"controller {controller!r} cannot be pre-empted")
        return made

    lines = []
    free_s = None
    modes: tuple[EpisodeMode, ...] = ("free", "normal", "priority")
    for mode in modes:
        run = run_emergency_episode(
            net, background, [call], window, seed=seed, mode=mode,
            controller=None if mode == "free" else inner(), binary=binary,
        )  # fmt: skip
        took = run.travel_s.get(call.vehicle_id, end - call.depart)
        there = call.vehicle_id in run.arrived
        if mode == "free" and not there:
            raise SignalError(
                f"the ambulance does not reach the end of its route before the episode ends at {end:g} s, "
                f"even in free flow: give an earlier --depart"
            )
        free_s = took if mode == "free" else free_s
        at_least = "" if there else "≥ "  # still on its way when the episode ended
        others = "" if mode == "free" else f", others {run.others_delay_s:.2f} s/veh"
        others += " (the network locked up: this delay says little about control)" if run.locked else ""
        others += "" if there else " (still on its way when the episode ended)"
        lines.append(f"{mode}: ambulance {at_least}{took:.0f} s, {run.stops[call.vehicle_id]} stops{others}")
    ratio = took / (free_s or float("nan"))
    lines.append(f"ambulance with priority: {at_least}{ratio:.2f} × free flow ({run.sumo_version})")
    return lines
