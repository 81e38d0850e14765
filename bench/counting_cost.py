"""What counting road users rather than boxes costs: the edge pipeline before and after, in one run.

    flock /tmp/citytally-bench.lock .venv/bin/python bench/counting_cost.py --before REF [--rounds 2]
                                                               [--clips vtest,market_street] [--int8]

``REF`` is a commit without the change (e.g. the one before riders were joined, the class vote was
score-weighted and the detection-quality figures were kept); its ``src/`` is exported to a temporary folder
with ``git archive``. Each round runs the whole pipeline (fp32 NanoDet on every frame, or with ``--int8``
the int8 one, each side its own shipped file; the clip's camera config) over each clip once with the code
of ``REF`` and once with the checked-out code, alternating, each in a fresh Python process, so both sides
share the machine's load. Reported per clip and side: the median
frames/s over the rounds, the ratio after/before (the figure to trust), the track+analytics milliseconds per
frame, and the counts by line, direction and class (the same before and after on a clip without cyclists).
Records ``bench/results/counting_cost.json`` through the harness.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path
from typing import Any

from harness import Run

REPO = Path(__file__).resolve().parents[1]
CLIPS = {
    "vtest": (Path.home() / ".cache" / "citytally" / "vtest.avi", REPO / "examples" / "vtest.toml"),
    "market_street": (
        REPO / "tests" / "data" / "market_street.mp4",
        REPO / "tests" / "data" / "market_street.toml",
    ),
}
COLUMNS = [
    ("clip", "clip"),
    ("side", "code"),
    ("fps", "frames/s (median)"),
    ("vs_before", "speed vs before"),
    ("track_ms", "track ms/frame"),
    ("analytics_ms", "analytics ms/frame"),
    ("counts", "counts (line direction class)"),
]
# Runs inside a fresh interpreter with PYTHONPATH set to one side's src/: one pass, figures as JSON.
RUNNER = """
import json, sys, time
from pathlib import Path
from citytally.edge.config import load_camera_config
from citytally.edge.pipeline import PipelineOptions, build_pipeline
try:
    from citytally.transport.publisher import MemoryPublisher
except ImportError:
    from citytally.publish import MemoryPublisher
video, config, variant = sys.argv[1], sys.argv[2], sys.argv[3]
options = PipelineOptions(progress=False, detector_variant=variant)
result = build_pipeline(load_camera_config(Path(config)), MemoryPublisher(), options, video).run()
counts = {f"{line} {d} {cls}": n for line, ds in result.totals.lines.items() for d, by in ds.items()
          for cls, n in by.items()}
print(json.dumps({"frames": result.frames, "wall": result.wall_seconds, "track": result.times.track,
                  "analytics": result.times.analytics, "counts": counts}))
"""


def export_src(ref: str, into: Path) -> Path:
    """``REF``'s ``src/`` tree, unpacked under ``into``."""
    archive = subprocess.run(["git", "archive", ref, "src"], cwd=REPO, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def run_side(src: Path, runner: str, *args: str) -> dict[str, Any]:
    """``runner`` in a fresh interpreter importing citytally from ``src``: its last output line, as JSON."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(
        [sys.executable, "-c", runner, *args], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def one_pass(src: Path, video: Path, config: Path, variant: str) -> dict[str, Any]:
    return run_side(src, RUNNER, str(video), str(config), variant)


def summarise(clip: str, side: str, results: list[dict[str, Any]], baseline: float | None) -> dict[str, Any]:
    """One table row from a side's passes over a clip (medians over the rounds)."""
    frames = float(results[0]["frames"])
    fps = statistics.median(r["frames"] / r["wall"] for r in results)
    counts: dict[str, int] = results[0]["counts"]
    return {
        "clip": clip,
        "side": side,
        "fps": round(fps, 2),
        "vs_before": round(fps / (baseline or fps), 3),
        "track_ms": round(1000 * statistics.median(r["track"] for r in results) / frames, 2),
        "analytics_ms": round(1000 * statistics.median(r["analytics"] for r in results) / frames, 2),
        "counts": ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--before", required=True, help="commit (or ref) of the code before the change")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--int8", action="store_true", help="the int8 NanoDet (default: fp32)")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    variant = "int8" if args.int8 else "fp32"
    run = Run("counting_cost", "Counting road users, not boxes: pipeline speed before and after", COLUMNS)
    with tempfile.TemporaryDirectory() as tmp:
        sides = {f"before ({args.before})": export_src(args.before, Path(tmp)), "after": REPO / "src"}
        for clip in args.clips.split(","):
            video, config = CLIPS[clip]
            passes: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
            for _ in range(args.rounds):
                for side, src in sides.items():
                    passes[side].append(one_pass(src, video, config, variant))
            baseline = None
            for side, results in passes.items():
                row = summarise(clip, side, results, baseline)
                baseline = baseline or row["fps"]
                run.add(**row)
                print(json.dumps(row), flush=True)
    run.notes.append(
        f"{args.rounds} rounds, sides alternating, each pass a fresh process; "
        f"{variant} NanoDet on every frame"
    )
    if not args.no_record:
        run.save()


if __name__ == "__main__":
    main()
