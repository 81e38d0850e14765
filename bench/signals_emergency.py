"""Emergency-vehicle priority: ambulance travel time and everyone else's delay, with and without pre-emption.

For each scenario (RESCO networks read in place from ``/work/shared/data/resco``, plus generated grids) and
each seed, the same ambulances (``vClass="emergency"`` without the bluelight device, so they stop at reds)
are injected along existing routes at several times, and three runs are compared:

* **free flow**: each ambulance alone in the empty network with every signal green;
* **no priority**: the normal controller;
* **priority**: the same controller wrapped in :class:`citytally.signals.priority.EmergencyPriority`.

Ambulance travel time is arrival minus scheduled departure (so a blocked insertion counts). Everyone
else's delay is RESCO's metric: mean ``timeLoss + departDelay`` over all other vehicles, unfinished ones
included, and vehicles that never departed add (episode end - scheduled departure).

    .venv/bin/python bench/signals_emergency.py --scenarios cologne3,ingolstadt7,grid4x4,grid5x3 --seeds 3
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESCO = Path(os.environ.get("CITYTALLY_RESCO", "/work/shared/data/resco"))
AMBULANCE_TYPE = (
    '<vType id="ambulance" vClass="emergency" guiShape="emergency" speedFactor="1.0" speedDev="0" '
    'color="1,1,1"/>'
)


def sumo_home() -> Path:
    """SUMO's data directory (binaries and tools) from the installed eclipse-sumo wheel."""
    import sumo

    return Path(sumo.SUMO_HOME)


# --- scenarios -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """A network, its background demand and the episode window."""

    name: str
    net: Path
    routes: tuple[Path, ...]
    begin: float
    end: float


def resco_scenario(name: str) -> Scenario:
    """Read a RESCO scenario's sumocfg in place (the files stay in the shared data folder)."""
    cfg_path = RESCO / name / f"{name}.sumocfg"
    root = ET.parse(cfg_path).getroot()

    def value(tag: str) -> str:
        node = root.find(f".//{tag}")
        if node is None:
            raise SystemExit(f"{cfg_path}: no <{tag}>")
        return str(node.get("value"))

    routes = tuple(cfg_path.parent / r for r in value("route-files").split(","))
    return Scenario(name, cfg_path.parent / value("net-file"), routes, float(value("begin")),
                    float(value("end")))


def generated_grid(workdir: Path, name: str, nx: int, ny: int, period: float, seed: int,
                   end: float = 3600.0) -> Scenario:
    """A signalised grid from netgenerate with random background trips (randomTrips.py)."""
    home = sumo_home()
    net = workdir / f"{name}.net.xml"
    subprocess.run(
        [str(home / "bin" / "netgenerate"), "--grid", "--grid.x-number", str(nx), "--grid.y-number", str(ny),
         "--grid.length", "200", "--grid.attach-length", "200", "--default-junction-type", "traffic_light",
         "--default.lanenumber", "1", "--no-turnarounds", "true", "--tls.yellow.time", "3",
         "-o", str(net)],
        check=True, capture_output=True, env={**os.environ, "SUMO_HOME": str(home)},
    )
    routes = workdir / f"{name}.rou.xml"
    subprocess.run(
        [sys.executable, str(home / "tools" / "randomTrips.py"), "-n", str(net),
         "-o", str(workdir / f"{name}.trips.xml"),
         "-r", str(routes), "-e", str(end), "-p", str(period), "--seed", str(seed), "--fringe-factor", "10",
         "--min-distance", "600", "--validate"],
        check=True, capture_output=True, env={**os.environ, "SUMO_HOME": str(home)},
    )
    return Scenario(name, net, (routes,), 0.0, end)


# --- ambulances ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ambulance:
    """One emergency call: a route through signals and a departure time."""

    vehicle_id: str
    edges: tuple[str, ...]
    depart: float
    signals: int


def _background_routes(scenario: Scenario) -> Iterator[tuple[bool, tuple[str, ...]]]:
    """(False, edges) for route vehicles, (True, (from, to)) for trips."""
    for path in scenario.routes:
        for _, elem in ET.iterparse(path):
            if elem.tag == "vehicle":
                route = elem.find("route")
                if route is not None:
                    yield False, tuple(str(route.get("edges")).split())
            elif elem.tag == "trip":
                yield True, (str(elem.get("from")), str(elem.get("to")))
            if elem.tag in ("vehicle", "trip"):
                elem.clear()


def signals_on_route(net: Any, edges: tuple[str, ...]) -> int:
    """How many signal-controlled connections a route crosses."""
    count = 0
    for here, there in zip(edges, edges[1:], strict=False):
        conns = net.getEdge(here).getConnections(net.getEdge(there))
        if any(c.getTLSID() for c in conns):
            count += 1
    return count


def pick_ambulances(scenario: Scenario, count: int, seed: int) -> list[Ambulance]:
    """Existing routes through the most signals, departing spread over the episode (seeded)."""
    import sumolib

    net = sumolib.net.readNet(str(scenario.net), withInternal=False)
    seen: set[tuple[str, ...]] = set()
    candidates: list[tuple[int, tuple[str, ...]]] = []
    for is_trip, route in _background_routes(scenario):
        edges = route
        if is_trip:
            path, _ = net.getShortestPath(net.getEdge(route[0]), net.getEdge(route[1]), vClass="passenger")
            if not path:
                continue
            edges = tuple(e.getID() for e in path)
        if edges in seen:
            continue
        seen.add(edges)
        n = signals_on_route(net, edges)
        if n:
            candidates.append((n, edges))
    candidates.sort(key=lambda c: -c[0])
    best = candidates[0][0]
    pool = [c for c in candidates if c[0] >= max(1, best - 1)] or candidates
    rng = random.Random(seed)
    chosen = [pool[rng.randrange(len(pool))] for _ in range(count)]
    # Spread calls over the middle of the episode so each meets traffic but finishes before the end.
    span = scenario.end - scenario.begin
    times = [scenario.begin + span * (0.15 + 0.6 * i / max(1, count - 1)) + rng.uniform(-30, 30)
             for i in range(count)]
    return [Ambulance(f"ambulance_{i}", edges, round(t, 1), n) for i, ((n, edges), t) in
            enumerate(zip(chosen, times, strict=True))]


def write_ambulances(path: Path, ambulances: list[Ambulance]) -> Path:
    """A route file with the ambulance type and calls (vehicles sorted by departure, as SUMO wants)."""
    lines = ["<routes>", f"    {AMBULANCE_TYPE}"]
    for amb in sorted(ambulances, key=lambda a: a.depart):
        lines.append(f'    <vehicle id="{amb.vehicle_id}" type="ambulance" depart="{amb.depart}" '
                     f'departLane="best" departSpeed="max">')
        lines.append(f'        <route edges="{" ".join(amb.edges)}"/>')
        lines.append("    </vehicle>")
    lines.append("</routes>")
    path.write_text("\n".join(lines) + "\n")
    return path


# --- measurement -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One run: each ambulance's travel time and stops, and the other vehicles' RESCO delay."""

    ambulance_s: dict[str, float]
    ambulance_stops: dict[str, int]
    others_delay_s: float
    others: int
    wall_s: float
    sumo_version: str


def read_tripinfo(path: Path, scenario: Scenario, departs: dict[str, float],
                  ambulances: set[str]) -> tuple[dict[str, float], float, int]:
    """(ambulance travel times, RESCO mean delay of everyone else, how many others)."""
    amb: dict[str, float] = {}
    delays: dict[str, float] = {}
    for _, elem in ET.iterparse(path):
        if elem.tag != "tripinfo":
            continue
        vid = str(elem.get("id"))
        depart = float(elem.get("depart", "-1"))
        if vid in ambulances:
            # Arrival minus scheduled departure; an unfinished one counts up to the episode end.
            arrival = float(elem.get("arrival", "-1"))
            scheduled = depart - float(elem.get("departDelay", "0"))
            amb[vid] = (arrival if arrival >= 0 else scenario.end) - scheduled
        elif depart >= 0:
            delays[vid] = float(elem.get("timeLoss", "0")) + float(elem.get("departDelay", "0"))
        elem.clear()
    for vid, t in departs.items():
        if scenario.begin <= t < scenario.end and vid not in delays:
            delays[vid] = scenario.end - t
    return amb, (sum(delays.values()) / len(delays) if delays else 0.0), len(delays)


def make_inner(name: str) -> Any:
    """A controller that runs through the safe signal objects (so it can be pre-empted)."""
    from citytally.signals.controllers import make_controller
    from citytally.signals.priority import TimingPlanController

    if name == "fixed":
        return TimingPlanController()
    return make_controller(name)


def run(scenario: Scenario, ambulance_file: Path, ambulances: list[Ambulance], seed: int, mode: str,
        controller: str, departs: dict[str, float], binary: Path | None) -> Outcome:
    """One episode; ``mode`` is ``free`` (ambulances alone, all green), ``none`` or ``priority``."""
    from citytally.signals.intersection import SignalTiming
    from citytally.signals.network import SignalNetwork
    from citytally.signals.priority import EmergencyPriority
    from citytally.signals.sim import SumoConnection

    started = time.perf_counter()
    ids = {a.vehicle_id for a in ambulances}
    with tempfile.TemporaryDirectory(prefix="citytally-ev-") as tmp:
        tripinfo = Path(tmp) / "tripinfo.xml"
        routes = [ambulance_file] if mode == "free" else [*scenario.routes, ambulance_file]
        args = ["-n", str(scenario.net), "-r", ",".join(map(str, routes)),
                "--begin", f"{scenario.begin:g}", "--end", f"{scenario.end:g}", "--seed", str(seed),
                "--tripinfo-output", str(tripinfo), "--tripinfo-output.write-unfinished",
                "--time-to-teleport", "-1", "--no-step-log", "--no-warnings", "--duration-log.disable"]
        conn = SumoConnection.start(args, binary=binary)
        try:
            version = conn.version()
            api = conn.api
            policy: Any = None
            network = None
            if mode == "free":
                for tls in api.trafficlight.getIDList():
                    size = len(api.trafficlight.getRedYellowGreenState(tls))
                    api.trafficlight.setRedYellowGreenState(tls, "G" * size)
            else:
                inner = make_inner(controller)
                timing = getattr(inner, "timing", None) or SignalTiming.model_validate({})
                network = SignalNetwork(api, timing)
                policy = EmergencyPriority(inner) if mode == "priority" else inner
            stops = {vid: 0 for vid in ids}
            moving: dict[str, bool] = {}
            while conn.time < scenario.end - 1e-6:
                if network is not None:
                    network.control_step(policy)
                conn.step()
                arrived = set(api.simulation.getArrivedIDList())
                for vid in list(moving) + [v for v in api.simulation.getDepartedIDList() if v in ids]:
                    if vid in arrived:
                        moving.pop(vid, None)
                        continue
                    now_moving = float(api.vehicle.getSpeed(vid)) >= 0.1
                    if moving.get(vid, True) and not now_moving:
                        stops[vid] += 1
                    moving[vid] = now_moving
        finally:
            conn.close()
        amb, others, n = read_tripinfo(tripinfo, scenario, departs, ids)
    return Outcome(amb, stops, others, n, time.perf_counter() - started, version)


# --- the benchmark ---------------------------------------------------------------------------------


def _scenario(name: str, workdir: Path, seed: int) -> Scenario:
    if name.startswith("grid") and "x" in name and name != "grid4x4":
        nx, ny = (int(v) for v in name[4:].split("x"))
        return generated_grid(workdir, name, nx, ny, period=2.0, seed=seed)
    return resco_scenario(name)


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.2f} ± {sd:.2f}"


def bench(names: list[str], controllers: list[str], seeds: int, count: int,
          binary: Path | None) -> list[dict[str, Any]]:
    """Every scenario × seed × controller; prints one line per run and returns the raw records."""
    from citytally.signals.metric import route_departures

    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="citytally-evbench-") as tmp:
        workdir = Path(tmp)
        for name in names:
            for seed in range(seeds):
                scenario = _scenario(name, workdir, seed)
                ambulances = pick_ambulances(scenario, count, seed)
                amb_file = write_ambulances(workdir / f"{name}.{seed}.ambulances.rou.xml", ambulances)
                departs = route_departures(scenario.routes)
                free = run(scenario, amb_file, ambulances, seed, "free", "-", departs, binary)
                for controller in controllers:
                    for mode in ("none", "priority"):
                        out = run(scenario, amb_file, ambulances, seed, mode, controller, departs, binary)
                        rec = {"scenario": name, "seed": seed, "controller": controller, "mode": mode,
                               "free_s": free.ambulance_s, "ambulance_s": out.ambulance_s,
                               "stops": out.ambulance_stops, "others_delay_s": out.others_delay_s,
                               "others": out.others, "wall_s": out.wall_s, "sumo": out.sumo_version,
                               "signals": {a.vehicle_id: a.signals for a in ambulances}}
                        records.append(rec)
                        ratios = [out.ambulance_s[v] / free.ambulance_s[v] for v in out.ambulance_s
                                  if free.ambulance_s.get(v)]
                        print(f"{name} seed={seed} {controller:12s} {mode:8s} ambulance/free="
                              f"{statistics.fmean(ratios):.2f} stops={sum(out.ambulance_stops.values())} "
                              f"others={out.others_delay_s:.2f} s/veh ({out.others}) wall={out.wall_s:.1f}s",
                              flush=True)
    return records


def summarise(records: list[dict[str, Any]]) -> list[str]:
    """One markdown table row per scenario × controller."""
    rows = ["| scenario | controller | ambulances | free flow (s) | no priority (s) | priority (s) | "
            "priority / free | stops no-prio → prio | others' delay no-prio → prio (s/veh) | extra delay |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    keys = sorted({(r["scenario"], r["controller"]) for r in records}, key=lambda k: (k[0], k[1]))
    for scen, ctl in keys:
        runs = [r for r in records if (r["scenario"], r["controller"]) == (scen, ctl)]
        none = {r["seed"]: r for r in runs if r["mode"] == "none"}
        prio = {r["seed"]: r for r in runs if r["mode"] == "priority"}
        free_t, none_t, prio_t, ratio, extra = [], [], [], [], []
        stops_none, stops_prio = 0, 0
        for seed, rn in none.items():
            rp = prio[seed]
            for vid, free in rn["free_s"].items():
                if vid in rn["ambulance_s"] and vid in rp["ambulance_s"]:
                    free_t.append(free)
                    none_t.append(rn["ambulance_s"][vid])
                    prio_t.append(rp["ambulance_s"][vid])
                    ratio.append(rp["ambulance_s"][vid] / free)
            stops_none += sum(rn["stops"].values())
            stops_prio += sum(rp["stops"].values())
            extra.append(100.0 * (rp["others_delay_s"] / rn["others_delay_s"] - 1.0))
        others_none = [r["others_delay_s"] for r in none.values()]
        others_prio = [r["others_delay_s"] for r in prio.values()]
        rows.append(f"| {scen} | {ctl} | {len(ratio)} | {_mean_sd(free_t)} | {_mean_sd(none_t)} | "
                    f"{_mean_sd(prio_t)} | {_mean_sd(ratio)} | {stops_none} → {stops_prio} | "
                    f"{_mean_sd(others_none)} → {_mean_sd(others_prio)} | {_mean_sd(extra)} % |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenarios", default="cologne3,ingolstadt7,grid4x4,grid5x3")
    parser.add_argument("--controllers", default="fixed,max-pressure,citytally")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--ambulances", type=int, default=3, help="ambulance calls per episode")
    parser.add_argument("--sumo-binary", type=Path, default=None, help="an older SUMO to run over TCP")
    parser.add_argument("--json", type=Path, default=None, help="write the raw records here")
    args = parser.parse_args()
    records = bench(args.scenarios.split(","), args.controllers.split(","), args.seeds, args.ambulances,
                    args.sumo_binary)
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))
    print(f"SUMO {records[0]['sumo'] if records else '?'}")
    for row in summarise(records):
        print(row)


if __name__ == "__main__":
    main()
