"""Traffic conflicts from camera-like tracks: SUMO's vehicles seen as a camera sees them, against SSM.

``bench/conflicts_ssm.py`` feeds citytally's conflict analysis the simulator's own states: front bumpers,
speeds and sizes, exact. A camera gives less: a ground point per detection (taken here as the vehicle's
centre), the class's typical size, speeds only from how the points move, and a point that jitters from frame
to frame. This bench runs the same SUMO cases (with SSM, the same thresholds and the same matching), turns
each vehicle's FCD into such a track, adds normal jitter of ``sigma`` metres per axis to every 0.1-s sample,
and measures the tracks raw and smoothed (:meth:`citytally.edge.safety.Trajectory.smoothed`, the edge's
``smooth_s``), against SSM's conflicts from the exact states. The first row of each case is the exact
trajectories, as ``conflicts_ssm.py`` measures them; the next two take away one thing at a time, without
jitter: centre points instead of front bumpers (SUMO's speeds and sizes kept), then speeds from the points.
Ours include the controlled approaches (a car drawing up behind a queue), as SSM does; the last two columns
split them from the conflicts the edge counts, which shows whether a camera's tracks still tell a planned
stop from a hard one.

    nice -n 19 .venv/bin/python bench/conflicts_camera.py [--cases grid,cologne1] [--seconds 300]
        [--sigmas 0,0.1,0.3] [--smooth 0,1,2] [--no-record]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from conflicts_ssm import (
    BUILDERS,
    DEFAULT_SIZE_M,
    IGNORE_PAIRS,
    THRESHOLDS,
    Agreement,
    compare,
    read_fcd,
    references,
    simulate,
    trajectories,
)

from citytally.edge.safety import Trajectory, find_conflicts


def camera_tracks(
    fcd: Path,
    sizes: dict[str, tuple[float, float]],
    sigma_m: float,
    seed: int,
    keep: tuple[str, ...] = (),
) -> tuple[list[str], list[Trajectory]]:
    """Each road user's centre point (a vehicle's front bumper moved back half its length along its heading),
    with normal jitter of ``sigma_m`` per axis; no speed, no size (the class's typical one), unless ``keep``
    names them ("speed": SUMO's own; "size": the vType's)."""
    found = read_fcd(fcd)
    rng = np.random.default_rng(seed)
    tracks = []
    for name, table in found.samples.items():
        xy = table[:, 1:3].copy()
        size = None
        if found.kinds[name] == "car":
            size = sizes.get(found.types[name], DEFAULT_SIZE_M)
            heading = np.radians(table[:, 4])
            xy -= size[0] / 2 * np.column_stack([np.sin(heading), np.cos(heading)])
        xy += rng.normal(0.0, sigma_m, xy.shape)
        speed = table[:, 3] if "speed" in keep else None
        size = size if "size" in keep else None
        tracks.append(Trajectory(table[:, 0], xy, found.kinds[name], speed, size_m=size))
    return list(found.samples), tracks


def _row(case: str, tracks: str, smoothing: str, got: Agreement) -> dict[str, object]:
    errors = got.ttc_errors
    return {
        "case": case,
        "tracks": tracks,
        "smoothing": smoothing,
        "ssm": got.reference,
        "ours": got.ours,
        "precision": round(got.precision, 3),
        "recall": round(got.recall, 3),
        "ttc_err": f"{float(np.median(errors)) if errors else float('nan'):.3f} ({len(errors)})",
        "controlled": got.controlled,
        "counted": got.ours - got.controlled,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", default="grid,cologne1")
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--period", type=float, default=1.2, help="seconds between inserted cars (generated)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--sigmas", default="0,0.1,0.3", help="jitter per axis (m), comma-separated")
    parser.add_argument("--smooth", default="0,1,2", help="smoothing windows (s), comma-separated; 0: raw")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    from harness import Run  # bench/harness.py, on sys.path when run as a script

    run = Run(
        "conflicts_camera",
        "conflicts from camera-like tracks (centre points, jitter, speeds from positions) vs SUMO's SSM",
        columns=[
            ("case", "case"),
            ("tracks", "tracks"),
            ("smoothing", "smoothing"),
            ("ssm", "SSM conflicts"),
            ("ours", "ours"),
            ("precision", "precision", ".3f"),
            ("recall", "recall", ".3f"),
            ("ttc_err", "median abs ΔminTTC s (n)"),
            ("controlled", "ours, controlled approaches"),
            ("counted", "ours, counted at the edge"),
        ],
    )
    for case in args.cases.split(","):
        label = f"{BUILDERS[case][0].format(period=args.period)}, {args.seconds:.0f} s"
        with tempfile.TemporaryDirectory(prefix="citytally-camera-") as tmp:
            sim = simulate(case, Path(tmp), args.seconds, args.period, args.seed)
            refs = references(sim.ssm, sim.collisions)
            ids, exact = trajectories(sim.fcd, sim.sizes)
            measured = find_conflicts(exact, THRESHOLDS, ignore_pairs=IGNORE_PAIRS)
            got = compare(ids, [t.kind for t in exact], measured, refs)
            rows = [_row(label, "exact (SUMO's states)", "–", got)]
            # What each of a camera's losses costs on its own, without jitter: the ground point at the centre,
            # then the speed from how the points move (the sizes stay SUMO's; the zero-jitter row below takes
            # the class's typical size too).
            steps = ((("speed", "size"), "centre points"), (("size",), "centre points, speeds from them"))
            for keep, what in steps:
                ids, tracks = camera_tracks(sim.fcd, sim.sizes, 0.0, args.seed, keep)
                ours = find_conflicts(tracks, THRESHOLDS, ignore_pairs=IGNORE_PAIRS)
                rows.append(_row(label, what, "raw", compare(ids, [t.kind for t in tracks], ours, refs)))
            for sigma in (float(v) for v in args.sigmas.split(",")):
                ids, raw = camera_tracks(sim.fcd, sim.sizes, sigma, args.seed)
                for window in (float(v) for v in args.smooth.split(",")):
                    tracks = [t.smoothed(window) for t in raw]
                    ours = find_conflicts(tracks, THRESHOLDS, ignore_pairs=IGNORE_PAIRS)
                    got = compare(ids, [t.kind for t in tracks], ours, refs)
                    smoothing = f"{window:g} s" if window > 0 else "raw"
                    rows.append(_row(label, f"camera-like, jitter {sigma:g} m", smoothing, got))
            for row in rows:
                run.add(**row)
                print(row, flush=True)
    if not args.no_record:
        run.save()


if __name__ == "__main__":
    main()
