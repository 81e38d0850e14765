"""Emergency-vehicle priority: ambulance travel time and everyone else's delay, with and without pre-emption.

For each scenario (RESCO networks read in place from ``$CITYTALLY_RESCO``, plus generated grids) and
each seed, the same ambulances (``vClass="emergency"`` without the bluelight device, so they stop at reds)
are injected along existing routes at several times, and three runs are compared:

* **free flow**: each ambulance alone in the empty network with every signal green;
* **no priority**: the normal controller;
* **priority**: the same controller wrapped in :class:`citytally.signals.priority.EmergencyPriority`.

Ambulance travel time is arrival minus scheduled departure (so a blocked insertion counts). A run where
part of the network locks up (10+ vehicles left standing 300 s or more) is flagged GRIDLOCK. Everyone
else's delay is RESCO's metric: mean ``timeLoss + departDelay`` over all other vehicles, unfinished ones
included, and vehicles that never departed add (episode end - scheduled departure).

    .venv/bin/python bench/signals_emergency.py --scenarios cologne3,ingolstadt7,grid4x4,grid5x3 --seeds 3
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citytally.signals.generate import generate_grid

# The RESCO scenarios, read in place (never copied): $CITYTALLY_RESCO, else ../shared/data/resco beside the
# repository.
RESCO = Path(
    os.environ.get("CITYTALLY_RESCO") or Path(__file__).resolve().parents[2] / "shared" / "data" / "resco"
)


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
    return Scenario(
        name, cfg_path.parent / value("net-file"), routes, float(value("begin")), float(value("end"))
    )


def generated_grid(
    workdir: Path, name: str, nx: int, ny: int, period: float, seed: int, end: float = 3600.0
) -> Scenario:
    """A signalised grid from netgenerate with random background trips (randomTrips.py)."""
    city = generate_grid(
        workdir, name,
        grid=("--grid.x-number", str(nx), "--grid.y-number", str(ny), "--grid.length", "200",
              "--grid.attach-length", "200", "--default.lanenumber", "1", "--tls.yellow.time", "3"),
        end=end, period=period, seed=seed, trips=("--fringe-factor", "10", "--min-distance", "600"),
        net_seed=0,
    )  # fmt: skip
    return Scenario(name, city.net, (city.routes,), city.begin, city.end)


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


def _plausible(net: Any, edges: tuple[str, ...]) -> bool:
    """No edge twice and no U-turn: an ambulance takes a direct route (some Cologne routes loop)."""
    if len(set(edges)) < len(edges):
        return False
    return all(
        net.getEdge(there).getToNode() != net.getEdge(here).getFromNode()
        for here, there in zip(edges, edges[1:], strict=False)
    )


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
        if edges in seen or not _plausible(net, edges):
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
    times = [
        scenario.begin + span * (0.15 + 0.6 * i / max(1, count - 1)) + rng.uniform(-30, 30)
        for i in range(count)
    ]
    return [
        Ambulance(f"ambulance_{i}", edges, round(t, 1), n)
        for i, ((n, edges), t) in enumerate(zip(chosen, times, strict=True))
    ]


# --- the benchmark ---------------------------------------------------------------------------------


def make_inner(name: str) -> Any:
    """A controller that runs through the safe signal objects (so it can be pre-empted)."""
    from citytally.signals.controllers import make_controller
    from citytally.signals.priority import TimingPlanController

    if name == "fixed":
        return TimingPlanController()
    return make_controller(name)


def _scenario(name: str, workdir: Path, seed: int) -> Scenario:
    if name.startswith("grid") and "x" in name and name != "grid4x4":
        nx, ny = (int(v) for v in name[4:].split("x"))
        return generated_grid(workdir, f"{name}_{seed}", nx, ny, period=2.0, seed=seed)
    return resco_scenario(name)


def _mean_sd(values: list[float], digits: int = 2) -> str:
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.{digits}f} ± {sd:.{digits}f}"


def bench(
    names: list[str], controllers: list[str], seeds: int, count: int, binary: Path | None
) -> list[dict[str, Any]]:
    """Every scenario × seed × controller; prints one line per run and returns the raw records."""
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="citytally-evbench-") as tmp:
        for name in names:
            for seed in range(seeds):
                scenario = _scenario(name, Path(tmp), seed)
                records.extend(_seed(scenario, name, seed, controllers, count, binary))
    return records


def _seed(
    scenario: Scenario, name: str, seed: int, controllers: list[str], count: int, binary: Path | None
) -> list[dict[str, Any]]:
    """Free flow once, then every controller without and with priority, all on one seed."""
    from citytally.signals.emergency import AmbulanceCall, run_emergency_episode

    ambulances = pick_ambulances(scenario, count, seed)
    calls = [AmbulanceCall(a.vehicle_id, a.edges, a.depart) for a in ambulances]
    window = (scenario.begin, scenario.end)
    runs: list[tuple[str, Any]] = [("-", "free")] + [
        (c, m) for c in controllers for m in ("normal", "priority")
    ]
    free: dict[str, float] = {}
    records = []
    for controller, mode in runs:
        inner = None if mode == "free" else make_inner(controller)
        out = run_emergency_episode(
            scenario.net,
            scenario.routes,
            calls,
            window,
            seed=seed,
            mode=mode,
            controller=inner,
            binary=binary,
        )
        if mode == "free":
            free = out.travel_s
            continue
        records.append(
            {
                "scenario": name, "seed": seed, "controller": controller, "mode": mode, "free_s": free,
                "ambulance_s": out.travel_s, "stops": out.stops, "others_delay_s": out.others_delay_s,
                "others": out.others, "gridlock_at": out.gridlock_at, "stuck": out.stuck,
                "locked": out.locked, "insertion_s": out.insertion_s, "wall_s": out.wall_s,
                "sumo": out.sumo_version, "signals": {a.vehicle_id: a.signals for a in ambulances},
            }
        )  # fmt: skip
        ratio = statistics.fmean(out.travel_s[v] / free[v] for v in out.travel_s if free.get(v))
        lock = f" GRIDLOCK at {out.gridlock_at or 0:.0f} ({out.stuck} stuck)" if out.locked else ""
        print(
            f"{name} seed={seed} {controller:12s} {mode:8s} ambulance/free={ratio:.2f} "
            f"stops={sum(out.stops.values())} others={out.others_delay_s:.2f} s/veh ({out.others}) "
            f"wall={out.wall_s:.1f}s{lock}",
            flush=True,
        )
    return records


RUN_LINE = re.compile(
    r"^(?P<scenario>\S+) seed=(?P<seed>\d+) (?P<controller>\S+)\s+(?P<mode>normal|priority)\s+"
    r"ambulance/free=(?P<ratio>[\d.]+) stops=(?P<stops>\d+) others=(?P<others>[\d.]+) s/veh"
    r".*?(?P<lock> GRIDLOCK.*)?$"
)


def runs_from_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-run rows (what each printed line says) from the raw records."""
    rows = []
    for r in records:
        free = r["free_s"]
        ratios = [t / free[v] for v, t in r["ambulance_s"].items() if free.get(v)]
        rows.append(
            {
                "scenario": r["scenario"], "seed": r["seed"], "controller": r["controller"],
                "mode": r["mode"], "ratio": statistics.fmean(ratios), "stops": sum(r["stops"].values()),
                "others": r["others_delay_s"], "gridlock": r["locked"],
            }
        )  # fmt: skip
    return rows


def runs_from_log(path: Path) -> list[dict[str, Any]]:
    """Per-run rows parsed back from the lines this script printed (to merge several invocations)."""
    rows = []
    for line in path.read_text().splitlines():
        m = RUN_LINE.match(line.strip())
        if m:
            rows.append(
                {
                    "scenario": m["scenario"], "seed": int(m["seed"]), "controller": m["controller"],
                    "mode": m["mode"], "ratio": float(m["ratio"]), "stops": int(m["stops"]),
                    "others": float(m["others"]), "gridlock": bool(m["lock"]),
                }
            )  # fmt: skip
    return rows


def summarise(runs: list[dict[str, Any]]) -> list[str]:
    """One markdown row per scenario × controller, over the seeds where neither run locked up.

    Ambulance travel time is relative to free flow (the same route alone, every signal green): per seed
    the mean over its ambulances, then mean ± sd over seeds. Other traffic's extra delay is paired per
    seed (same seed, same ambulances). Locked runs are only counted in the last column.
    """
    rows = [
        "| scenario | controller | seeds used | ambulance / free flow: no priority | with priority "
        "| ambulance stops: no priority → priority | others' delay (s/veh): no priority → priority "
        "| extra delay for others | gridlocked runs (no prio, prio) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for scen, ctl in sorted({(r["scenario"], r["controller"]) for r in runs}):
        cell = [r for r in runs if (r["scenario"], r["controller"]) == (scen, ctl)]
        normal = {r["seed"]: r for r in cell if r["mode"] == "normal"}
        prio = {r["seed"]: r for r in cell if r["mode"] == "priority"}
        seeds = sorted(set(normal) & set(prio))
        if not seeds:
            continue
        ok = [s for s in seeds if not normal[s]["gridlock"] and not prio[s]["gridlock"]]
        extra = [100.0 * (prio[s]["others"] / normal[s]["others"] - 1.0) for s in ok]
        others_n = _mean_sd([normal[s]["others"] for s in ok], 1)
        others_p = _mean_sd([prio[s]["others"] for s in ok], 1)
        rows.append(
            f"| {scen} | {ctl} | {len(ok)} of {len(seeds)} | {_mean_sd([normal[s]['ratio'] for s in ok])} "
            f"| {_mean_sd([prio[s]['ratio'] for s in ok])} "
            f"| {sum(normal[s]['stops'] for s in ok)} → {sum(prio[s]['stops'] for s in ok)} "
            f"| {others_n} → {others_p} "
            f"| {_mean_sd(extra, 1)} % | {sum(normal[s]['gridlock'] for s in seeds)}, "
            f"{sum(prio[s]['gridlock'] for s in seeds)} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--scenarios", default="cologne3,ingolstadt7,grid4x4,grid5x3")
    parser.add_argument("--controllers", default="fixed,max-pressure,citytally")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--ambulances", type=int, default=3, help="ambulance calls per episode")
    parser.add_argument("--sumo-binary", type=Path, default=None, help="an older SUMO to run over TCP")
    parser.add_argument("--json", type=Path, default=None, help="write the raw records here")
    parser.add_argument(
        "--from-log",
        type=Path,
        nargs="+",
        default=None,
        help="only tabulate the run lines of earlier outputs",
    )
    args = parser.parse_args()
    if args.from_log:
        runs = [row for path in args.from_log for row in runs_from_log(path)]
    else:
        records = bench(
            args.scenarios.split(","),
            args.controllers.split(","),
            args.seeds,
            args.ambulances,
            args.sumo_binary,
        )
        if args.json:
            args.json.write_text(json.dumps(records, indent=1))
        print(records[0]["sumo"] if records else "no runs")
        runs = runs_from_records(records)
    for row in summarise(runs):
        print(row)


if __name__ == "__main__":
    main()
