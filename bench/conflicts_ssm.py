"""Traffic conflicts: citytally's surrogate safety measures against SUMO's SSM device on one set of tracks.

A generated 2×2 grid of priority junctions (120 m blocks, 100 m approaches) gets random trips from its
fringe; SUMO runs it at 0.1 s steps with the SSM device on every vehicle (TTC < 3 s, PET < 2 s) and FCD
output. The FCD's front-bumper positions become disc centres (half a 5 m length back along the heading) and go
through :func:`citytally.edge.safety.find_conflicts` with the same thresholds. A reference conflict is an SSM
record whose minTTC < 3 s or PET < 2 s (DRAC-only records are left out); it matches one of ours with the same
two vehicles whose time lies within the record's [begin - 1 s, end + 1 s]. Aims (issue 15): precision and
recall >= 95 %, median |ΔminTTC| and |ΔPET| <= 0.1 s.

    nice -n 19 .venv/bin/python bench/conflicts_ssm.py [--seconds 300] [--period 1.2] [--no-record]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from citytally.edge.safety import Conflict, Thresholds, Trajectory, find_conflicts
from citytally.sumo import find_sumo_binary, sumo_home_for

THRESHOLDS = Thresholds(ttc_s=3.0, pet_s=2.0)


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

    @property
    def precision(self) -> float:
        return self.matched_ours / self.ours if self.ours else 1.0

    @property
    def recall(self) -> float:
        return self.matched_reference / self.reference if self.reference else 1.0


def simulate(folder: Path, seconds: float, period: float, seed: int) -> tuple[Path, Path]:
    """Build the network and trips, run SUMO with SSM and FCD; the FCD and SSM files."""
    sumo = find_sumo_binary()
    home = sumo_home_for(sumo)
    env = {**os.environ, "SUMO_HOME": str(home)}
    net, trips = folder / "grid.net.xml", folder / "trips.xml"
    fcd, ssm = folder / "fcd.xml", folder / "ssm.xml"
    run = [str(sumo.parent / "netgenerate"), "--grid", "--grid.number", "2", "--grid.length", "120"]
    run += ["--grid.attach-length", "100", "--default-junction-type", "priority", "-o", str(net)]
    subprocess.run(run, check=True, capture_output=True, env=env)
    tool = home / "tools" / "randomTrips.py"
    run = [sys.executable, str(tool), "-n", str(net), "-o", str(trips), "-e", str(seconds)]
    run += ["-p", str(period), "--fringe-factor", "100", "--seed", str(seed)]
    run += ["--route-file", str(folder / "routes.rou.xml")]
    subprocess.run(run, check=True, capture_output=True, env=env)
    run = [str(sumo), "-n", str(net), "-r", str(trips), "--step-length", "0.1", "--seed", str(seed)]
    run += ["--device.ssm.probability", "1", "--device.ssm.measures", "TTC DRAC PET"]
    run += ["--device.ssm.thresholds", f"{THRESHOLDS.ttc_s} 3.0 {THRESHOLDS.pet_s}"]
    run += ["--device.ssm.file", str(ssm), "--fcd-output", str(fcd), "--no-step-log", "--no-warnings"]
    subprocess.run(run, check=True, capture_output=True, env=env)
    return fcd, ssm


def trajectories(fcd: Path) -> tuple[list[str], list[Trajectory]]:
    """Per vehicle: its front-bumper positions (SUMO's position on its lane) and speeds over time."""
    rows: dict[str, list[tuple[float, float, float, float]]] = defaultdict(list)
    for _, element in ET.iterparse(fcd):
        if element.tag != "timestep":
            continue
        t = float(element.get("time", "0"))
        for vehicle in element.iter("vehicle"):
            x, y, speed = (float(vehicle.get(k, "0")) for k in ("x", "y", "speed"))
            rows[vehicle.get("id", "")].append((t, x, y, speed))
        element.clear()
    ids = [vid for vid, samples in rows.items() if len(samples) >= 2]
    tracks = []
    for v in ids:
        table = np.array(rows[v])
        tracks.append(Trajectory(table[:, 0], table[:, 1:3], "car", table[:, 3], anchor="front"))
    return ids, tracks


def references(ssm: Path) -> list[Reference]:
    """SSM's conflicts with minTTC or PET under the thresholds, one per unordered pair and encounter.

    Every vehicle carries the device, so SSM writes each encounter twice (once from each side), with spans
    that may start or end a little apart: records of the same pair whose spans overlap are one conflict.
    """
    spans: dict[frozenset[str], list[Reference]] = defaultdict(list)
    for conflict in ET.parse(ssm).getroot().iter("conflict"):
        ttc, pet = _value(conflict.find("minTTC")), _value(conflict.find("PET"))
        low_ttc = ttc is not None and ttc < THRESHOLDS.ttc_s
        if not low_ttc and not (pet is not None and pet < THRESHOLDS.pet_s):
            continue
        pair = frozenset((conflict.get("ego", ""), conflict.get("foe", "")))
        begin, end = float(conflict.get("begin", "0")), float(conflict.get("end", "0"))
        spans[pair].append(Reference(pair, begin, end, ttc if low_ttc else None, pet))
    return [merged for records in spans.values() for merged in _merge_overlapping(records)]


def _merge_overlapping(records: list[Reference]) -> list[Reference]:
    merged: list[Reference] = []
    for ref in sorted(records, key=lambda r: r.begin):
        last = merged[-1] if merged else None
        if last is None or ref.begin > last.end:
            merged.append(ref)
            continue
        merged[-1] = Reference(
            last.pair,
            last.begin,
            max(last.end, ref.end),
            _lower(last.min_ttc_s, ref.min_ttc_s),
            _lower(last.pet_s, ref.pet_s),
        )
    return merged


def _lower(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _value(element: ET.Element | None) -> float | None:
    text = element.get("value", "NA") if element is not None else "NA"
    return None if text == "NA" else float(text)


def compare(ids: list[str], ours: list[Conflict], refs: list[Reference], slack_s: float = 1.0) -> Agreement:
    """Match ours to SSM's by the pair and the time (one to one); count and measure the differences."""
    by_pair: dict[frozenset[str], list[Reference]] = defaultdict(list)
    for ref in refs:
        by_pair[ref.pair].append(ref)
    used: set[int] = set()
    matched, ttc_err, pet_err = 0, [], []
    for mine in ours:
        pair = frozenset((ids[mine.pair[0]], ids[mine.pair[1]]))
        options = [r for r in by_pair.get(pair, []) if id(r) not in used]
        hit = next((r for r in options if r.begin - slack_s <= mine.time_s <= r.end + slack_s), None)
        if hit is None:
            continue
        used.add(id(hit))
        matched += 1
        if hit.min_ttc_s is not None and np.isfinite(mine.min_ttc_s):
            ttc_err.append(abs(mine.min_ttc_s - hit.min_ttc_s))
        if hit.pet_s is not None and mine.pet_s is not None:
            pet_err.append(abs(mine.pet_s - hit.pet_s))
    return Agreement(len(ours), len(refs), matched, len(used), ttc_err, pet_err)


def measure(seconds: float, period: float, seed: int) -> Agreement:
    """One whole run in a scratch folder."""
    with tempfile.TemporaryDirectory(prefix="citytally-ssm-") as tmp:
        fcd, ssm = simulate(Path(tmp), seconds, period, seed)
        ids, tracks = trajectories(fcd)
        return compare(ids, find_conflicts(tracks, THRESHOLDS), references(ssm))


def _median(values: list[float]) -> float:
    return float(np.median(values)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--period", type=float, default=1.2, help="seconds between inserted vehicles")
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
            ("ours", "ours"),
            ("precision", "precision"),
            ("recall", "recall"),
            ("ttc_err", "median abs ΔminTTC s (n)"),
            ("pet_err", "median abs ΔPET s (n)"),
        ],
    )
    got = measure(args.seconds, args.period, args.seed)
    row = {
        "case": f"2×2 priority grid, {args.seconds:.0f} s, a vehicle every {args.period} s",
        "ssm": got.reference,
        "ours": got.ours,
        "precision": round(got.precision, 3),
        "recall": round(got.recall, 3),
        "ttc_err": f"{_median(got.ttc_errors):.2f} ({len(got.ttc_errors)})",
        "pet_err": f"{_median(got.pet_errors):.2f} ({len(got.pet_errors)})",
    }
    run.add(**row)
    print(row)
    if not args.no_record:
        run.save()


if __name__ == "__main__":
    main()
