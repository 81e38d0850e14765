"""Crowd density on vtest's plaza: persons in the zone by the pipeline against hand counts, and the density.

Runs the edge pipeline with ``examples/vtest-incidents.toml`` over vtest.avi and, at each hand-counted frame
of ``tests/data/vtest_plaza_persons.csv``, compares the persons the crowd-density rule sees in the ``plaza``
zone (confirmed tracks whose feet are inside) with the hand count, and prints the density (persons/m² over
the zone's ground area from the illustrative calibration, about 24 m²) and its Fruin walkway level.

    nice -n 19 .venv/bin/python bench/incidents_crowd_vtest.py [--video PATH]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from harness import RESULTS_DIR, Run

from citytally.edge.config import load_camera_config
from citytally.edge.detections import Detections
from citytally.edge.incidents import CrowdDensityDetector, IncidentEngine, fruin_level
from citytally.edge.pipeline import PipelineOptions, build_pipeline
from citytally.transport.publisher import MemoryPublisher

REPO = Path(__file__).resolve().parents[1]
COLUMNS = [
    ("frame", "frame"),
    ("hand", "persons (hand count)"),
    ("seen", "persons (pipeline)"),
    ("density", "persons/m² (hand)"),
    ("level", "Fruin walkway level"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--video", type=Path, default=Path.home() / ".cache" / "citytally" / "vtest.avi")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    # Created first: it takes the machine fingerprint and start time now.
    run = Run("incidents_crowd_vtest", "Persons in vtest's plaza zone: pipeline against hand counts", COLUMNS)
    with (REPO / "tests" / "data" / "vtest_plaza_persons.csv").open(encoding="utf-8") as handle:
        truth = {int(row["frame"]): int(row["persons"]) for row in csv.DictReader(handle)}
    config = load_camera_config(REPO / "examples" / "vtest-incidents.toml")
    pipeline = build_pipeline(config, MemoryPublisher(), PipelineOptions(progress=False), args.video)
    engine = next(d for d in pipeline.analytics.incident_detectors if isinstance(d, IncidentEngine))
    crowd = next(d for d in engine.detectors if isinstance(d, CrowdDensityDetector))
    seen: list[int] = []
    update = pipeline.analytics.update

    def counting_update(tracked: Detections, timestamp: float) -> object:
        result = update(tracked, timestamp)
        seen.append(crowd.persons)  # one entry per analysed frame: vtest is analysed frame by frame
        return result

    pipeline.analytics.update = counting_update  # type: ignore[method-assign]
    pipeline.run()
    for frame, persons in sorted(truth.items()):
        density = persons / crowd.area_m2
        row = {
            "frame": frame,
            "hand": persons,
            "seen": seen[frame] if frame < len(seen) else None,
            "density": round(density, 2),
            "level": fruin_level(density),
        }
        print("  ".join(f"{k}={v}" for k, v in row.items()))
        run.add(**row)
    run.notes.append(f"plaza zone ground area {crowd.area_m2:.1f} m² from the illustrative calibration")
    if not args.no_record:
        print(f"recorded {run.save(args.results_dir)}")


if __name__ == "__main__":
    main()
