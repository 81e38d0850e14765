"""Count accuracy on vtest.avi: the pipeline's crossings per line and direction against the ground truth.

    .venv/bin/python bench/count_accuracy.py [--video PATH] [--config examples/vtest.toml] [--int8]
    .venv/bin/python bench/count_accuracy.py --summary OUT/summary.json     # score a finished run

Ground truth: tests/data/vtest_crossings.csv (45 crossings checked by eye; tests/data/README.md says how).
Prints, per line and direction, the true count, the pipeline's count, the error and the relative error,
then the totals (sum of absolute errors over all lines and directions).
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GROUND_TRUTH = REPO / "tests" / "data" / "vtest_crossings.csv"


def ground_truth(path: Path = GROUND_TRUTH) -> Counter[tuple[str, str]]:
    with path.open(newline="") as handle:
        return Counter((row["line"], row["direction"]) for row in csv.DictReader(handle))


def run_pipeline(video: Path, config: Path, int8: bool) -> dict[str, dict[str, dict[str, int]]]:
    from citytally.edge.config import load_camera_config
    from citytally.edge.pipeline import PipelineOptions, build_pipeline
    from citytally.transport.publisher import MemoryPublisher

    options = PipelineOptions(progress=False, detector_variant="int8" if int8 else "fp32")
    result = build_pipeline(load_camera_config(config), MemoryPublisher(), options, video).run()
    if result.error is not None:
        raise SystemExit(f"the run stopped early: {result.error}")
    return result.totals.lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=Path.home() / ".cache" / "citytally" / "vtest.avi")
    parser.add_argument("--config", type=Path, default=REPO / "examples" / "vtest.toml")
    parser.add_argument(
        "--summary", type=Path, default=None, help="score this summary.json instead of running"
    )
    parser.add_argument("--int8", action="store_true", help="run with the int8 detector")
    args = parser.parse_args()
    if args.summary is not None:
        lines = json.loads(args.summary.read_text())["lines"]
        print(f"scoring {args.summary}")
    else:
        lines = run_pipeline(args.video, args.config, args.int8)
    truth = ground_truth()
    print(f"{'line':10s} {'direction':10s} {'truth':>5s} {'counted':>7s} {'error':>5s} {'relative':>8s}")
    total_true = total_abs = 0
    for (line, direction), expected in sorted(truth.items()):
        counted = sum(lines.get(line, {}).get(direction, {}).values())
        error = counted - expected
        total_true += expected
        total_abs += abs(error)
        print(
            f"{line:10s} {direction:10s} {expected:5d} {counted:7d} {error:+5d} "
            f"{100 * error / expected:+7.1f}%"
        )
    print(
        f"all crossings: {total_true} true, sum of absolute errors {total_abs} "
        f"({100 * total_abs / total_true:.1f} %)"
    )


if __name__ == "__main__":
    main()
