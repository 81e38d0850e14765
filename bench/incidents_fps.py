"""Edge frame rate with every incident rule on, against counting alone, on vtest.avi (the same run).

Runs the whole edge pipeline (decode → NanoDet → tracker → analytics → events) over all of vtest.avi with
``examples/vtest.toml`` (counting: two lines, a zone, speeds) and with ``examples/vtest-incidents.toml``
(the same plus all six incident rules: stopped vehicle, wrong way, queue, pedestrians on the carriageway,
crowd density, left object), alternating ``--rounds`` times so both see the same machine load. Prints
frames/s per run (wall clock) and frames per CPU-second of the process (less sensitive to other load on a
shared machine), the analytics stage's ms/frame, the ratios of the medians (aim, issue 15: within 10 %),
and the incidents the rules raised on vtest.

    flock /tmp/citytally-bench.lock .venv/bin/python bench/incidents_fps.py [--rounds 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from pathlib import Path

from harness import RESULTS_DIR, Run

from citytally.edge.config import load_camera_config
from citytally.edge.pipeline import PipelineOptions, build_pipeline
from citytally.events import IncidentEvent
from citytally.transport.publisher import MemoryPublisher

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {"counting": "examples/vtest.toml", "all incidents": "examples/vtest-incidents.toml"}
COLUMNS = [
    ("setup", "setup"),
    ("fps", "frames/s (median)"),
    ("runs", "runs"),
    ("analytics_ms", "analytics ms/frame"),
    ("ratio", "x counting"),
    ("cpu_fps", "frames per CPU-second"),
    ("cpu_ratio", "x counting (CPU)"),
]


def run_once(config_path: Path, video: Path, threads: int | None) -> tuple[float, float, float, Counter[str]]:
    config = load_camera_config(config_path)
    sink = MemoryPublisher()
    cpu = time.process_time()
    result = build_pipeline(config, sink, PipelineOptions(progress=False, threads=threads), video).run()
    cpu = time.process_time() - cpu
    t = result.times
    onsets = Counter(
        e.incident for e in sink.events if isinstance(e, IncidentEvent) and e.phase in ("onset", None)
    )
    return t.frames / result.wall_seconds, t.frames / cpu, 1000 * t.analytics / max(t.frames, 1), onsets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--video", type=Path, default=Path.home() / ".cache" / "citytally" / "vtest.avi")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    # Created first: it takes the machine fingerprint and start time now.
    run = Run(
        "incidents_fps", "Edge frames per second with all incident rules on, against counting alone", COLUMNS
    )
    fps: dict[str, list[float]] = {name: [] for name in CONFIGS}
    cpu_fps: dict[str, list[float]] = {name: [] for name in CONFIGS}
    analytics: dict[str, list[float]] = {name: [] for name in CONFIGS}
    found: Counter[str] = Counter()
    for round_ in range(args.rounds):
        for name, path in CONFIGS.items():
            rate, cpu_rate, ms, onsets = run_once(REPO / path, args.video, args.threads)
            fps[name].append(rate)
            cpu_fps[name].append(cpu_rate)
            analytics[name].append(ms)
            if name == "all incidents" and round_ == 0:
                found = onsets
            print(
                f"round {round_ + 1} {name:14s} {rate:6.1f} frames/s  {cpu_rate:6.1f} frames/CPU-s  "
                f"analytics {ms:5.2f} ms/frame",
                flush=True,
            )
    base = statistics.median(fps["counting"])
    cpu_base = statistics.median(cpu_fps["counting"])
    for name in CONFIGS:
        median = statistics.median(fps[name])
        row = {
            "setup": name,
            "fps": round(median, 1),
            "runs": len(fps[name]),
            "analytics_ms": round(statistics.median(analytics[name]), 2),
            "ratio": f"{median / base:.3f}",
            "cpu_fps": round(statistics.median(cpu_fps[name]), 1),
            "cpu_ratio": f"{statistics.median(cpu_fps[name]) / cpu_base:.3f}",
        }
        print("  ".join(f"{k}={v}" for k, v in row.items()))
        run.add(**row)
    note = ", ".join(f"{k} {v}" for k, v in sorted(found.items())) or "none"
    print(f"incidents raised on vtest (onsets): {note}")
    run.notes.append(f"incident onsets on vtest with all rules on: {note}")
    if not args.no_record:
        print(f"recorded {run.save(args.results_dir)}")


if __name__ == "__main__":
    main()
