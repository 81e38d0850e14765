"""Traffic conflicts: citytally's surrogate safety measures against SUMO's SSM device on the same tracks.

Each case runs SUMO at 0.1 s steps with the SSM device on every vehicle (TTC < 3 s, PET < 2 s, DRAC > 3 m/s²,
range 50 m, extra time 5 s: SSM's defaults; its per-step timelines on), SUMO's collision check at junctions
too (reporting only: it does not change the run) and FCD output. The FCD (front-bumper positions and speeds of
vehicles, positions of pedestrians) goes through :func:`citytally.edge.safety.find_conflicts` with the same
thresholds and range. Cases:

* ``grid``: a generated 2×2 grid of priority junctions (120 m blocks), random trips from the fringe;
* ``pedestrians``: a generated priority junction with sidewalks and pedestrian crossings, cars and walkers;
* ``cologne1``, ``grid4x4``, ``cologne3``, ``ingolstadt1`` and ``ingolstadt7``: RESCO's signalised networks
  and demand (from ``$CITYTALLY_RESCO``, else ``../shared/data/resco``), the first ``--seconds`` of their
  episode (cologne3's three junctions are the demo's simulated day; the Ingolstadt networks were added last
  and no rule was made on them).

What is counted: a reference is an SSM encounter whose minTTC < 3 s or PET < 2 s (DRAC-only records are left
out; the two records SSM writes for one encounter, one per vehicle, are merged when their spans overlap; a
TTC of 0, SSM's "collision already happened", stands only where SUMO's own collision check, junctions
included, reports the pair's collision: elsewhere the record's lowest TTC is that of its other steps). One
of ours is a vehicle pair with min TTC < 3 s or PET < 2 s; it matches a reference of the same two vehicles
whose span (± 1 s) holds its time, one to one. Precision = matched ours / ours, recall = matched references /
references; the TTC and PET errors are over matched pairs where both have the measure. SUMO 1.28's SSM
device logs vehicles only, so our car–pedestrian conflicts are counted apart and not in precision; pairs of
pedestrians are not analysed. Ours include the controlled approaches (a car drawing up behind a queue, which
SSM counts and the edge does not: :func:`citytally.edge.safety.measure_encounters`); how many there were is
given apart. The TTC error is also given per relation our TTC was measured on (following,
crossing, merging). Aims (issue 15): precision and recall >= 95 %, median |ΔminTTC| and |ΔPET| <= 0.1 s.

    nice -n 19 .venv/bin/python bench/conflicts_ssm.py [--cases grid,pedestrians,cologne1,...]
        [--seconds 300] [--no-record]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from citytally.edge.safety import Conflict, Thresholds, Trajectory, find_conflicts
from citytally.signals.resco import SCENARIOS, resco_data_dir
from citytally.sumo import find_sumo_binary, sumo_home_for

THRESHOLDS = Thresholds(ttc_s=3.0, pet_s=2.0, range_m=50.0)
CASES = ("grid", "pedestrians", "cologne1", "grid4x4", "cologne3", "ingolstadt1", "ingolstadt7")
#: Walkers passing walkers are no traffic conflict (the edge's conflict monitor skips them by default too).
IGNORE_PAIRS = ("person-person",)


@dataclass(frozen=True)
class Reference:
    """One SSM conflict between two vehicles (unordered), its time span and its measures."""

    pair: frozenset[str]
    begin: float
    end: float
    min_ttc_s: float | None
    pet_s: float | None


@dataclass(frozen=True)
class Agreement:
    ours: int
    reference: int
    matched_ours: int
    matched_reference: int
    ttc_errors: list[float]
    pet_errors: list[float]
    with_pedestrians: int = 0
    controlled: int = 0  # of ours (vehicle pairs), the controlled approaches: the edge does not count them
    ttc_relations: tuple[str, ...] = ()  # the relation of each TTC error
    sumo_s: float = 0.0
    analysis_s: float = 0.0

    @property
    def precision(self) -> float:
        return self.matched_ours / self.ours if self.ours else 1.0

    @property
    def recall(self) -> float:
        return self.matched_reference / self.reference if self.reference else 1.0


@dataclass(frozen=True)
class Sumo:
    """The SUMO binary and its environment (SUMO_HOME for the tools)."""

    binary: Path
    home: Path
    env: dict[str, str]

    @classmethod
    def find(cls) -> Sumo:
        binary = find_sumo_binary()
        home = sumo_home_for(binary)
        return cls(binary, home, {**os.environ, "SUMO_HOME": str(home)})

    def tool(self, name: str, *args: str) -> None:
        run = [str(self.binary.parent / name), *args]
        subprocess.run(run, check=True, capture_output=True, env=self.env)

    def random_trips(self, folder: Path, *args: str) -> None:
        """randomTrips.py with ``args``, in ``folder`` (where it leaves its side files)."""
        tool = self.home / "tools" / "randomTrips.py"
        run = [sys.executable, str(tool), *args]
        subprocess.run(run, check=True, capture_output=True, env=self.env, cwd=folder)


def _grid(sumo: Sumo, folder: Path, seconds: float, period: float, seed: int) -> list[str]:
    net, trips = folder / "grid.net.xml", folder / "trips.xml"
    grid = ["--grid", "--grid.number", "2", "--grid.length", "120", "--grid.attach-length", "100"]
    sumo.tool("netgenerate", *grid, "--default-junction-type", "priority", "-o", str(net))
    demand = ["-e", str(seconds), "-p", str(period), "--fringe-factor", "100", "--seed", str(seed)]
    sumo.random_trips(folder, "-n", str(net), "-o", str(trips), *demand)
    return ["-n", str(net), "-r", str(trips)]


def _pedestrians(sumo: Sumo, folder: Path, seconds: float, period: float, seed: int) -> list[str]:
    net, cars, walks = folder / "junction.net.xml", folder / "cars.xml", folder / "walks.xml"
    junction = ["--grid", "--grid.x-number", "1", "--grid.y-number", "1", "--grid.attach-length", "120"]
    walkways = ["--sidewalks.guess", "--crossings.guess", "--default-junction-type", "priority"]
    sumo.tool("netgenerate", *junction, *walkways, "-o", str(net))
    fringe = ["-e", str(seconds), "--fringe-factor", "100"]
    sumo.random_trips(
        folder, "-n", str(net), "-o", str(cars), *fringe, "-p", str(period), "--seed", str(seed)
    )
    walkers = ["-p", str(period / 2), "--pedestrians", "--prefix", "p", "--seed", str(seed + 1)]
    sumo.random_trips(folder, "-n", str(net), "-o", str(walks), *fringe, *walkers)
    return ["-n", str(net), "-r", f"{cars},{walks}"]


def _resco(name: str) -> Callable[[Sumo, Path, float, float, int], list[str]]:
    def build(sumo: Sumo, folder: Path, seconds: float, period: float, seed: int) -> list[str]:
        config = resco_data_dir() / name / f"{name}.sumocfg"
        inputs = ET.parse(config).getroot().find("input")
        files = {e.tag: e.get("value", "") for e in (inputs if inputs is not None else [])}
        begin = SCENARIOS[name][0]
        net, routes = (str(config.parent / files[k]) for k in ("net-file", "route-files"))
        return [
            "-n",
            net,
            "-r",
            routes,
            "-b",
            str(begin),
            "-e",
            str(begin + seconds),
            "--time-to-teleport",
            "-1",
        ]

    return build


BUILDERS: dict[str, tuple[str, Callable[[Sumo, Path, float, float, int], list[str]]]] = {
    "grid": ("generated 2×2 priority grid, a car every {period} s", _grid),
    "pedestrians": (
        "generated priority junction with crossings, a car every {period} s and 2 walkers",
        _pedestrians,
    ),
    "cologne1": ("RESCO cologne1 (1 signal, TAPAS demand)", _resco("cologne1")),
    "grid4x4": ("RESCO grid4x4 (16 signals)", _resco("grid4x4")),
    "cologne3": ("RESCO cologne3 (3 signals, TAPAS demand; the demo's simulated day)", _resco("cologne3")),
    "ingolstadt1": ("RESCO ingolstadt1 (1 signal, InTAS demand)", _resco("ingolstadt1")),
    "ingolstadt7": ("RESCO ingolstadt7 (7 signals, InTAS demand)", _resco("ingolstadt7")),
}


@dataclass(frozen=True)
class Simulated:
    fcd: Path
    ssm: Path
    collisions: Path  # SUMO's own collision check, junctions included (it only reports: action "warn")
    sizes: dict[str, tuple[float, float]]
    cpu_s: float  # SUMO's CPU time (user + system)


def simulate(case: str, folder: Path, seconds: float, period: float, seed: int) -> Simulated:
    """Build the case and run SUMO with SSM and FCD: their files, the vehicle sizes, SUMO's CPU time."""
    sumo = Sumo.find()
    inputs = BUILDERS[case][1](sumo, folder, seconds, period, seed)
    routes = [Path(p) for p in inputs[inputs.index("-r") + 1].split(",")]
    run = [str(sumo.binary), *inputs]
    fcd, ssm, collisions = folder / "fcd.xml", folder / "ssm.xml", folder / "collisions.xml"
    run += ["--step-length", "0.1", "--seed", str(seed), "--device.ssm.probability", "1"]
    run += ["--device.ssm.measures", "TTC DRAC PET", "--device.ssm.range", str(THRESHOLDS.range_m)]
    run += [
        "--device.ssm.thresholds",
        f"{THRESHOLDS.ttc_s} 3.0 {THRESHOLDS.pet_s}",
        "--device.ssm.extratime",
        "5",
    ]
    run += ["--device.ssm.file", str(ssm), "--device.ssm.trajectories", "true"]
    run += ["--collision.check-junctions", "true", "--collision.action", "warn"]
    run += ["--collision-output", str(collisions), "--fcd-output", str(fcd), "--no-step-log", "--no-warnings"]
    # Positions, speeds and SSM's measures to 1e-6 (SUMO's default is 0.01): a minTTC of 2.9996 s written as
    # "3.00" fell outside the 3-s threshold while ours, from positions rounded to 1 cm, stayed inside it.
    run += ["--precision", "6"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(run, check=True, capture_output=True, env=sumo.env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return Simulated(fcd, ssm, collisions, vehicle_sizes(routes), cpu_s)


#: SUMO's default vehicle size (length, width), for vTypes that do not set theirs (passenger cars).
DEFAULT_SIZE_M = (5.0, 1.8)


def vehicle_sizes(routes: list[Path]) -> dict[str, tuple[float, float]]:
    """(length, width) per vType id in the route files (SUMO's default where a vType sets neither)."""
    sizes = {"DEFAULT_VEHTYPE": DEFAULT_SIZE_M}
    for path in routes:
        for vtype in ET.parse(path).getroot().iter("vType"):
            length = float(vtype.get("length", DEFAULT_SIZE_M[0]))
            sizes[vtype.get("id", "")] = (length, float(vtype.get("width", DEFAULT_SIZE_M[1])))
    return sizes


@dataclass(frozen=True)
class Fcd:
    """SUMO's FCD per road user: samples (time, x, y, speed, angle: degrees clockwise from north), whether it
    is a "car" (a vehicle) or a "person", and its vType id."""

    samples: dict[str, npt.NDArray[np.float64]]
    kinds: dict[str, str]
    types: dict[str, str]


def read_fcd(fcd: Path) -> Fcd:
    """The road users of an FCD file with two samples or more, in the order they first appear."""
    rows: dict[str, list[tuple[float, float, float, float, float]]] = defaultdict(list)
    kinds: dict[str, str] = {}
    types: dict[str, str] = {}
    for _, element in ET.iterparse(fcd):
        if element.tag != "timestep":
            continue
        t = float(element.get("time", "0"))
        for user in element:
            x, y, speed, angle = (float(user.get(k, "0")) for k in ("x", "y", "speed", "angle"))
            name = user.get("id", "")
            rows[name].append((t, x, y, speed, angle))
            kinds[name] = "car" if user.tag == "vehicle" else "person"
            types[name] = user.get("type", "")
        element.clear()
    samples = {name: np.array(found) for name, found in rows.items() if len(found) >= 2}
    return Fcd(samples, {n: kinds[n] for n in samples}, {n: types[n] for n in samples})


def trajectories(
    fcd: Path, sizes: dict[str, tuple[float, float]] | None = None
) -> tuple[list[str], list[Trajectory]]:
    """Per road user: vehicles' front-bumper positions (SUMO's position on its lane), speeds and sizes (by
    their vType in ``sizes``), pedestrians' positions as their centre."""
    found = read_fcd(fcd)
    tracks = []
    for name, table in found.samples.items():
        kind = found.kinds[name]
        anchor = "front" if kind == "car" else "centre"
        size = (sizes or {}).get(found.types[name], DEFAULT_SIZE_M) if kind == "car" else None
        tracks.append(Trajectory(table[:, 0], table[:, 1:3], kind, table[:, 3], anchor=anchor, size_m=size))
    return list(found.samples), tracks


def references(ssm: Path, collisions: Path | None = None) -> list[Reference]:
    """SSM's conflicts with minTTC or PET under the thresholds, one per unordered pair and encounter.

    Every vehicle carries the device, so SSM writes each encounter twice (once from each side), with spans
    that may start or end a little apart: records of the same pair whose spans overlap are one conflict.

    A TTC of 0 is SSM's "collision already happened": a gap along the lanes of 0 or less. Its lane
    arithmetic gives one where a car waits at a junction to join a lane (to U-turn into it, or to turn left)
    while another passes it there, the passing car's back still short of where the waiting car's lane joins,
    1.3 m or more beside it. Where SUMO's own collision check (``collisions``, junctions included) found no
    collision of the pair, those steps are not measures: the record's minTTC is the lowest of its other steps
    (from its ``--device.ssm.trajectories`` timeline).
    """
    collided = _collided(collisions) if collisions is not None else None
    spans: dict[frozenset[str], list[Reference]] = defaultdict(list)
    for _, conflict in ET.iterparse(ssm):
        if conflict.tag != "conflict":
            continue
        pair = frozenset((conflict.get("ego", ""), conflict.get("foe", "")))
        ttc, pet = _value(conflict.find("minTTC")), _value(conflict.find("PET"))
        if ttc == 0.0 and collided is not None and pair not in collided:
            ttc = _lowest_ttc_apart(conflict)
        begin, end = float(conflict.get("begin", "0")), float(conflict.get("end", "0"))
        conflict.clear()
        low_ttc = ttc is not None and ttc < THRESHOLDS.ttc_s
        if not low_ttc and not (pet is not None and pet < THRESHOLDS.pet_s):
            continue
        spans[pair].append(Reference(pair, begin, end, ttc if low_ttc else None, pet))
    return [merged for records in spans.values() for merged in _merge_overlapping(records)]


def _lowest_ttc_apart(conflict: ET.Element) -> float | None:
    """The record's lowest TTC over the steps at which SSM did not declare a collision; None if none."""
    span = conflict.find("TTCSpan")
    values = [float(v) for v in (span.get("values", "") if span is not None else "").split() if v != "NA"]
    apart = [v for v in values if v > 0.0]
    return min(apart) if apart else None


def _collided(collisions: Path) -> set[frozenset[str]]:
    """The vehicle pairs SUMO's collision check reported."""
    return {
        frozenset((c.get("collider", ""), c.get("victim", "")))
        for c in ET.parse(collisions).getroot().iter("collision")
    }


def _merge_overlapping(records: list[Reference]) -> list[Reference]:
    merged: list[Reference] = []
    for ref in sorted(records, key=lambda r: r.begin):
        last = merged[-1] if merged else None
        if last is None or ref.begin > last.end:
            merged.append(ref)
        else:
            ttc, pet = _lower(last.min_ttc_s, ref.min_ttc_s), _lower(last.pet_s, ref.pet_s)
            merged[-1] = Reference(last.pair, last.begin, max(last.end, ref.end), ttc, pet)
    return merged


def _lower(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _value(element: ET.Element | None) -> float | None:
    text = element.get("value", "NA") if element is not None else "NA"
    return None if text == "NA" else float(text)


def compare(
    ids: list[str], kinds: list[str], ours: list[Conflict], refs: list[Reference], slack_s: float = 1.0
) -> Agreement:
    """Match our vehicle pairs to SSM's by the pair and the time (one to one); measure the differences."""
    by_pair: dict[frozenset[str], list[Reference]] = defaultdict(list)
    for ref in refs:
        by_pair[ref.pair].append(ref)
    vehicles = [c for c in ours if kinds[c.pair[0]] == kinds[c.pair[1]] == "car"]
    with_pedestrian = sum(1 for c in ours if sorted(kinds[i] for i in c.pair) == ["car", "person"])
    used: set[int] = set()
    ttc_err, pet_err, relations = [], [], []
    for mine in vehicles:
        pair = frozenset((ids[mine.pair[0]], ids[mine.pair[1]]))
        options = [r for r in by_pair.get(pair, []) if id(r) not in used]
        hit = next((r for r in options if r.begin - slack_s <= mine.time_s <= r.end + slack_s), None)
        if hit is None:
            continue
        used.add(id(hit))
        if hit.min_ttc_s is not None and mine.min_ttc_s < THRESHOLDS.ttc_s:
            ttc_err.append(abs(mine.min_ttc_s - hit.min_ttc_s))
            relations.append(mine.relation)
        if hit.pet_s is not None and mine.pet_s is not None:
            pet_err.append(abs(mine.pet_s - hit.pet_s))
    found = Agreement(len(vehicles), len(refs), len(used), len(used), ttc_err, pet_err, with_pedestrian)
    controlled = sum(1 for c in vehicles if c.controlled)
    return dataclasses.replace(found, ttc_relations=tuple(relations), controlled=controlled)


def measure(case: str = "grid", seconds: float = 300.0, period: float = 1.2, seed: int = 15) -> Agreement:
    """One whole case in a scratch folder."""
    with tempfile.TemporaryDirectory(prefix="citytally-ssm-") as tmp:
        sim = simulate(case, Path(tmp), seconds, period, seed)
        ids, tracks = trajectories(sim.fcd, sim.sizes)
        started = time.process_time()
        ours = find_conflicts(tracks, THRESHOLDS, ignore_pairs=IGNORE_PAIRS)
        analysis_s = time.process_time() - started
        got = compare(ids, [t.kind for t in tracks], ours, references(sim.ssm, sim.collisions))
        return Agreement(**{**vars(got), "sumo_s": sim.cpu_s, "analysis_s": analysis_s})


def _median(values: list[float]) -> float:
    return float(np.median(values)) if values else float("nan")


def _by_relation(got: Agreement, relation: str) -> str:
    errors = [e for e, r in zip(got.ttc_errors, got.ttc_relations, strict=True) if r == relation]
    return f"{_median(errors):.2f} ({len(errors)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated: " + ", ".join(CASES))
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--period", type=float, default=1.2, help="seconds between inserted cars (generated)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    from harness import Run  # bench/harness.py, on sys.path when run as a script

    run = Run(
        "conflicts_ssm",
        "citytally's conflicts vs SUMO's SSM device on the same FCD trajectories",
        columns=[
            ("case", "case"),
            ("ssm", "SSM conflicts"),
            ("ours", "ours (vehicle pairs)"),
            ("precision", "precision", ".3f"),
            ("recall", "recall", ".3f"),
            ("ttc_err", "median abs ΔminTTC s (n)"),
            ("ttc_by", "of which following / crossing / merging"),
            ("pet_err", "median abs ΔPET s (n)"),
            ("peds", "ours, car–pedestrian"),
            ("controlled", "ours, controlled approaches"),
            ("cost", "analysis / SUMO CPU time"),
        ],
    )
    for case in args.cases.split(","):
        got = measure(case, args.seconds, args.period, args.seed)
        row = {
            "case": f"{BUILDERS[case][0].format(period=args.period)}, {args.seconds:.0f} s",
            "ssm": got.reference,
            "ours": got.ours,
            "precision": round(got.precision, 3),
            "recall": round(got.recall, 3),
            "ttc_err": f"{_median(got.ttc_errors):.3f} ({len(got.ttc_errors)})",
            "ttc_by": " / ".join(_by_relation(got, r) for r in ("following", "crossing", "merging")),
            "pet_err": f"{_median(got.pet_errors):.3f} ({len(got.pet_errors)})",
            "peds": got.with_pedestrians if case == "pedestrians" else "–",
            "controlled": f"{got.controlled} ({got.controlled / got.ours:.0%})" if got.ours else "0",
            "cost": f"{got.analysis_s / got.sumo_s:.2f}",
        }
        run.add(**row)
        print(row, flush=True)
    if not args.no_record:
        run.save()


if __name__ == "__main__":
    main()
