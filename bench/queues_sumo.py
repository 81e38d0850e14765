"""The queue rule on SUMO-replayed trajectories, against SUMO's own queue measure: queue length and onsets.

Each run is the straight road of :mod:`citytally.edge.incidents.replay` with a traffic light 470 m along it
(red for ``red_s`` of every 90 s cycle, the rest green), ``--seconds`` long, at a flow and red time that
vary between runs (700-1,300 vehicles/h each way, 30-60 s of red: queues of about 20 to 80 m, the
heaviest past the green's capacity). The vehicles' trajectories go through the virtual camera (perspective
boxes standing on each vehicle's end nearer the camera, pixel jitter, missed detections), citytally's
tracker and the camera's queue rule with its default thresholds, on the eastbound lanes from 320 m before
the stop line to it.

The reference is SUMO's lane-area (E2) detectors over the same stretch of both lanes, with SUMO's defaults
(a vehicle halts below 1.39 m/s for 1 s; halting vehicles under 10 m apart are one jam): the longest jam
on either lane, each second.

- Queue length: each cycle's queue in the last second of its red (when every queued vehicle stands from
  the stop line back, so SUMO's jam and our queue measure the same thing), ours (that second's frames'
  median) against SUMO's, the first cycle (the road still filling) left out; the median and 90th percentile
  of the error's size, and the error's median (our bias). Later in the cycle they part: SUMO's jam is the
  standing vehicles' extent, which shrinks from the front at green, ours the back of the queue, which
  arrivals may still lengthen.
- Queue incidents: SUMO's queue, read with the rule's own thresholds (``onset_m`` for ``onset_s`` opens;
  it ends below ``clear_m``), gives the true queue incidents; a detected onset matches one (one to one) if
  it comes between 2 s before it would open and 10 s after it ends; time to detect is the onset's time less
  that opening time.

The same runs go through the rule twice: as configured (``regain_s`` 3 s: a queued vehicle the detector
misses stays in the queue) and with ``regain_s = 0`` (what a missed vehicle did before: it left the queue
for the frames it was missed), the baseline of the same run.

    nice -n 19 .venv/bin/python bench/queues_sumo.py [--runs 12] [--seconds 600] [--no-record]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from harness import RESULTS_DIR, Run

from citytally.edge.incidents.replay import (
    T0,
    Scenario,
    Score,
    at_end_of_red,
    camera_config,
    queue_truth,
    queue_truths,
    replay,
    score,
    simulate,
)
from citytally.events import IncidentEvent

COLUMNS = [
    ("rule", "queue rule"),
    ("cycles", "cycles"),
    ("median_err_m", "queue at the end of red: median error size (m)"),
    ("p90_err_m", "90th pct (m)"),
    ("bias_m", "median signed error (m)"),
    ("true", "true queue incidents"),
    ("tp", "TP"),
    ("fp", "FP"),
    ("fn", "FN"),
    ("f1", "F1"),
    ("mean_ttd_s", "mean time to detect (s)"),
]


def scenarios(runs: int, seconds: float) -> list[Scenario]:
    grid = [(flow, red) for red in (30.0, 45.0, 60.0) for flow in (700, 900, 1100, 1300)]
    return [
        Scenario(
            seed=100 + i, seconds=seconds, flow_veh_h=grid[i % len(grid)][0], red_s=grid[i % len(grid)][1]
        )
        for i in range(runs)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    # Created first: it takes the machine fingerprint and start time now.
    run = Run("queues_sumo", "The queue rule on SUMO-replayed trajectories against SUMO's queue", COLUMNS)
    configured = camera_config(queue=True)
    rule = configured.incidents.queue[0]
    baseline = configured.model_copy(
        update={
            "incidents": configured.incidents.model_copy(
                update={"queue": [rule.model_copy(update={"regain_s": 0.0})]}
            )
        }
    )
    variants = {f"regain_s {rule.regain_s:g} (as configured)": configured, "regain_s 0 (baseline)": baseline}
    errors: dict[str, list[float]] = {name: [] for name in variants}
    totals = {name: Score() for name in variants}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="citytally-queues-") as folder:
        for scenario in scenarios(args.runs, args.seconds):
            fcd = simulate(scenario, Path(folder))
            sumo_m = queue_truth(Path(folder), scenario)
            truth = queue_truths(sumo_m, rule)
            sumo_red = at_end_of_red(sumo_m, scenario)
            line = [f"seed {scenario.seed} {scenario.flow_veh_h} veh/h red {scenario.red_s:.0f} s:"]
            line.append(f"SUMO at the end of red {[round(m) for m in sumo_red]}")
            for name, config in variants.items():
                ours_m: dict[int, float] = {}
                events: list[IncidentEvent] = replay(fcd, config, scenario.seed, ours_m)
                ours_red = at_end_of_red(ours_m, scenario)
                errors[name] += [a - b for a, b in zip(ours_red, sumo_red, strict=True)]
                s = score(events, truth, "queue")
                total = totals[name]
                total.tp, total.fp, total.fn = total.tp + s.tp, total.fp + s.fp, total.fn + s.fn
                total.delays += s.delays
                onsets = [
                    round((e.end - T0).total_seconds())
                    for e in events
                    if e.incident == "queue" and e.phase == "onset"
                ]
                line.append(
                    f"{name.split(' (')[0]}: at the end of red {[round(m) for m in ours_red]} "
                    f"tp {s.tp} fp {s.fp} fn {s.fn} onsets {onsets} truth {[round(t.start) for t in truth]}"
                )
            print("\n  ".join(line), flush=True)
    print(f"{args.runs} runs of {args.seconds:.0f} s in {time.perf_counter() - started:.0f} s")
    for name in variants:
        err, s = errors[name], totals[name]
        row = {
            "rule": name,
            "cycles": len(err),
            "median_err_m": round(statistics.median(abs(e) for e in err), 1),
            "p90_err_m": round(float(np.percentile(np.abs(err), 90)), 1),
            "bias_m": round(statistics.median(err), 1),
            "true": s.tp + s.fn,
            "tp": s.tp,
            "fp": s.fp,
            "fn": s.fn,
            "f1": round(s.f1, 3),
            "mean_ttd_s": round(s.mean_delay_s, 1),
        }
        print("  ".join(f"{k}={v}" for k, v in row.items()))
        run.add(**row)
    run.notes.append(
        f"{args.runs} runs of {args.seconds:.0f} s, 700-1,300 veh/h each way, 30-60 s red in a 90 s cycle, "
        "default thresholds; SUMO's E2 detectors with their defaults as the reference"
    )
    if not args.no_record:
        print(f"recorded {run.save(args.results_dir)}")


if __name__ == "__main__":
    main()
