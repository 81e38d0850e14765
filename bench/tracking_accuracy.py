"""Tracker and count-line accuracy on real footage, against hand-checked crossings, and their cost.

Runs the shipped detector once over every frame of vtest.avi, then the tracker and the count lines of the
camera config over those detections in several variants (the shipped defaults, and baselines), in the same
run. For each variant it prints the counts per line and direction next to the ground truth
(``tests/data/vtest_crossings.csv``), the total absolute count error, and how many crossings match a
ground-truth crossing of the same line and direction within ±5 frames (one to one): recall and precision.
Then ms/frame of detector, tracker and all analytics, and the tracker's and analytics' share of the
detector's time (a ratio measured in the same run).

    .venv/bin/python bench/tracking_accuracy.py [--video PATH] [--config examples/vtest.toml] [--threads 2]

The table is recorded in bench/results/tracking_accuracy.json (``--no-record`` to skip) and rendered into
docs/benchmarks.md by ``python bench/render.py``.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from harness import RESULTS_DIR, Run

from citytally.edge.analytics import CameraAnalytics, LineCounter
from citytally.edge.config import CameraConfig, load_camera_config
from citytally.edge.detections import Detections
from citytally.edge.detector import NanoDetDetector, nanodet_model_path
from citytally.edge.source import open_source
from citytally.edge.tracker import MotionTracker
from citytally.events import ROAD_USER_CLASSES
from citytally.transport.publisher import MemoryPublisher

REPO = Path(__file__).resolve().parents[1]
TOLERANCE_FRAMES = 5

Crossing = tuple[int, str, str]  # frame, line, direction
COLUMNS = [
    ("variant", "variant"),
    ("counts", "counts per line and direction"),
    ("error", "count error (sum over lines and directions)"),
    ("matched", f"matched within ±{TOLERANCE_FRAMES} frames"),
    ("recall", "recall", ".3f"),
    ("precision", "precision", ".3f"),
    ("tracks", "confirmed tracks"),
]


def _detect(video: Path, config: CameraConfig, threads: int) -> tuple[list[tuple[float, Detections]], float]:
    detector = NanoDetDetector(
        config.detector.model or nanodet_model_path("fp32"),
        score_thresholds=dict.fromkeys(ROAD_USER_CLASSES, max(config.detector.score_threshold, 0.01)),
        threads=threads,
        nms_iou=config.detector.nms_iou,
    )
    frames: list[tuple[float, Detections]] = []
    spent = 0.0
    for frame in open_source(str(video)):
        started = time.perf_counter()
        (found,) = detector([frame.image])
        spent += time.perf_counter() - started
        frames.append((frame.pts_seconds, found))
    return frames, spent / len(frames)


def _count(config: CameraConfig, frames: list[tuple[float, Detections]]) -> tuple[list[Crossing], int]:
    tracker = MotionTracker(config.tracker)
    lines = [LineCounter(line, config.tracker.lost_buffer_s + 1.0) for line in config.lines]
    found: list[Crossing] = []
    ids: set[int] = set()
    for index, (pts, detections) in enumerate(frames):
        tracked = tracker.update(detections, pts)
        ids.update(tracked.track_id.tolist())
        found += [(index, c.line, c.direction) for line in lines for c in line.update(tracked, pts)]
    return found, len(ids)


def _matched(found: list[Crossing], truth: list[Crossing]) -> int:
    """Greedy one-to-one matching of crossings on the same line and direction within the tolerance."""
    unused = list(truth)
    hits = 0
    for frame, line, direction in sorted(found):
        candidates = [
            t for t in unused if t[1:] == (line, direction) and abs(t[0] - frame) <= TOLERANCE_FRAMES
        ]
        if candidates:
            unused.remove(min(candidates, key=lambda t: abs(t[0] - frame)))
            hits += 1
    return hits


def _variants(config: CameraConfig) -> dict[str, CameraConfig]:
    def lines(**update: Any) -> CameraConfig:
        return config.model_copy(update={"lines": [line.model_copy(update=update) for line in config.lines]})

    return {
        "shipped defaults": config,
        "band 4 px fixed (no margin_ratio)": lines(margin_ratio=0.0),
        "no hysteresis (band 0, 1 frame)": lines(margin_px=0.0, margin_ratio=0.0, min_frames=1),
        "tracker: confirm after 1 hit": config.model_copy(
            update={"tracker": config.tracker.model_copy(update={"confirm_hits": 1})}
        ),
    }


def _per_line(counts: Counter[tuple[str, str]], keys: list[tuple[str, str]]) -> str:
    """``path-east: eastbound 15, westbound 18; path-west: ...`` for a table cell."""
    per_line: dict[str, list[str]] = {}
    for line, direction in keys:
        per_line.setdefault(line, []).append(f"{direction} {counts[line, direction]}")
    return "; ".join(f"{line}: {', '.join(parts)}" for line, parts in per_line.items())


def _analytics_ms(config: CameraConfig, frames: list[tuple[float, Detections]]) -> tuple[float, float]:
    tracker = MotionTracker(config.tracker)
    analytics = CameraAnalytics(config, MemoryPublisher())
    track_s = analytics_s = 0.0
    for pts, detections in frames:
        started = time.perf_counter()
        tracked = tracker.update(detections, pts)
        middle = time.perf_counter()
        analytics.update(tracked, pts)
        track_s += middle - started
        analytics_s += time.perf_counter() - middle
    analytics.finish()
    return track_s / len(frames) * 1000, analytics_s / len(frames) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=None, help="default: scripts/fetch-vtest.sh")
    parser.add_argument("--config", type=Path, default=REPO / "examples" / "vtest.toml")
    parser.add_argument("--truth", type=Path, default=REPO / "tests" / "data" / "vtest_crossings.csv")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-record", action="store_true", help="do not write the result JSON")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    run = Run(
        "tracking_accuracy",
        "Tracker and count-line accuracy on vtest, against hand-checked crossings",
        COLUMNS,
    )
    video = args.video or Path(
        subprocess.run(
            ["bash", str(REPO / "scripts" / "fetch-vtest.sh")], check=True, capture_output=True, text=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    config = load_camera_config(args.config)
    with args.truth.open(encoding="utf-8") as file:
        truth = [(int(r["frame"]), r["line"], r["direction"]) for r in csv.DictReader(file)]
    truth_counts = Counter(t[1:] for t in truth)

    run.add(variant="ground truth", counts=_per_line(truth_counts, sorted(truth_counts)), tracks=None)
    frames, detect_s = _detect(video, config, args.threads)
    print(
        f"{video.name}: {len(frames)} frames, {sum(len(d) for _, d in frames) / len(frames):.1f} boxes/frame"
    )
    for name, variant in _variants(config).items():
        found, tracks = _count(variant, frames)
        counts = Counter(f[1:] for f in found)
        keys = sorted(set(counts) | set(truth_counts))
        error = sum(abs(counts[k] - truth_counts[k]) for k in keys)
        hits = _matched(found, truth)
        print(f"\n{name}: {tracks} confirmed tracks, count error {error}")
        for line, direction in keys:
            want, got = truth_counts[line, direction], counts[line, direction]
            print(f"  {line:<12} {direction:<10} truth {want:>3}  counted {got:>3}")
        recall, precision = hits / max(len(truth), 1), hits / max(len(found), 1)
        within = f"within ±{TOLERANCE_FRAMES} frames"
        print(f"  matched {within}: {hits}/{len(truth)} (recall {recall:.3f}, precision {precision:.3f})")
        run.add(
            variant=name,
            counts=_per_line(counts, keys),
            error=error,
            matched=f"{hits}/{len(truth)}",
            recall=round(recall, 3),
            precision=round(precision, 3),
            tracks=tracks,
        )

    track_ms, analytics_ms = _analytics_ms(config, frames)
    detect_ms = detect_s * 1000
    print(
        f"\ndetector {detect_ms:.1f} ms/frame, tracker {track_ms:.2f}, analytics {analytics_ms:.2f} ms/frame"
    )
    print(
        f"tracker / detector {track_ms / detect_ms:.3f}, analytics / detector {analytics_ms / detect_ms:.3f}"
    )
    run.notes.append(
        f"Cost, same run: detector {detect_ms:.1f} ms/frame, tracker {track_ms:.2f}, all analytics "
        f"{analytics_ms:.2f}: tracker / detector {track_ms / detect_ms:.3f}, analytics / detector "
        f"{analytics_ms / detect_ms:.3f}."
    )
    if not args.no_record:
        print(f"recorded {run.save(args.results_dir)}")


if __name__ == "__main__":
    main()
