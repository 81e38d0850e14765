"""How sure the detector is of the road users that really cross: scores near each hand-checked crossing.

    .venv/bin/python bench/crossing_scores.py --clips market_street --variants fp32,fp32@640,int8

A track starts only from a box scoring at least ``[tracker] new_track_score`` (0.5 by default), so a road
user the detector scores lower is never counted, whatever the counter does. For each true crossing of an
annotated clip (tests/data/*_crossings.csv), every 2nd frame within ±6 frames of it is searched with each
detector variant; the best score of a box of the crossing's class group (person; bicycle or motorcycle;
car, bus, truck or motorcycle) whose ground point lies near the line point where it crossed is taken per
frame, and the crossing's score is the median over those frames. Printed per crossing and as the mean per
class, beside the clip's ``new_track_score``; recorded as ``bench/results/crossing_scores.json``.

This is the measurement to make on a camera whose counts come out low (a steep view, unusual vehicles,
grainy video): if its road users score below the track thresholds, lower them for that camera; if they
score low at every input size, the model is the limit, not its input or thresholds.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from count_accuracy import CLIPS  # noqa: E402
from harness import Run  # noqa: E402

from citytally.edge.config import load_camera_config  # noqa: E402
from citytally.edge.detector import NanoDetDetector, nanodet_model_path  # noqa: E402
from citytally.edge.source import open_source  # noqa: E402
from citytally.events import ROAD_USER_CLASSES  # noqa: E402

Image = npt.NDArray[np.uint8]
GROUPS = {
    "person": {"person"},
    "bicycle": {"bicycle", "motorcycle"},
    "motorcycle": {"bicycle", "motorcycle"},
    "car": {"car", "bus", "truck", "motorcycle"},
    "bus": {"car", "bus", "truck"},
    "truck": {"car", "bus", "truck"},
}
WINDOW = range(-6, 7, 2)


def _detector(variant: str, threads: int) -> NanoDetDetector:
    precision, _, size = variant.partition("@")
    if precision not in ("fp32", "int8"):
        raise SystemExit(f"variant {variant!r}: use fp32, int8, fp32@N or int8@N")
    return NanoDetDetector(
        nanodet_model_path(precision),  # type: ignore[arg-type]
        threads=threads,
        input_size=int(size) if size else None,
        score_thresholds=dict.fromkeys(ROAD_USER_CLASSES, 0.05),
    )


def _frames(video: Path, wanted: set[int]) -> dict[int, Image]:
    source = open_source(str(video))
    try:
        return {f.index: f.image for f in source if f.index in wanted}
    finally:
        source.close()


def _line_point(config_path: Path, line: str) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    config = load_camera_config(config_path)
    found = next(item for item in config.lines if item.name == line)
    return np.array(found.p1, np.float32), np.array(found.p2, np.float32)


def _distance_to_segment(
    points: npt.NDArray[np.float32], p1: npt.NDArray[np.float32], p2: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    d = p2 - p1
    t = np.clip(((points - p1) @ d) / float(d @ d), 0.0, 1.0)
    return np.asarray(np.linalg.norm(points - (p1 + t[:, None] * d), axis=1), np.float32)


def crossing_score(
    detector: NanoDetDetector,
    image: Image,
    cls: str,
    segment: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]],
) -> float:
    """Best score of a box of ``cls``'s group whose ground point is near the line (0 if none)."""
    (found,) = detector([image])
    if not len(found):
        return 0.0
    names = np.array(ROAD_USER_CLASSES)[found.class_id]
    ground = np.stack([(found.xyxy[:, 0] + found.xyxy[:, 2]) / 2, found.xyxy[:, 3]], axis=1)
    height = found.xyxy[:, 3] - found.xyxy[:, 1]
    near = _distance_to_segment(ground, *segment) <= np.maximum(20.0, 0.6 * height)
    keep = np.isin(names, sorted(GROUPS[cls])) & near
    return float(found.scores[keep].max()) if keep.any() else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clips", default="market_street", help=f"comma-separated, of {sorted(CLIPS)}")
    parser.add_argument("--variants", default="fp32,fp32@640,int8")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    run = Run(
        "crossing_scores",
        "Detector scores of the road users that cross, against the track threshold",
        columns=[
            ("clip", "clip"),
            ("variant", "variant"),
            ("cls", "class"),
            ("crossings", "crossings"),
            ("mean", "mean score"),
            ("low", "lowest"),
            ("below", "below new_track_score"),
            ("threshold", "new_track_score"),
        ],
    )
    for name in args.clips.split(","):
        clip = CLIPS[name]
        if not clip.video.is_file():
            print(f"{name}: {clip.video} is missing; skipped")
            continue
        with clip.truth.open(newline="") as handle:
            truth = list(csv.DictReader(handle))
        threshold = load_camera_config(clip.config).tracker.new_track_score
        images = _frames(clip.video, {int(r["frame"]) + k for r in truth for k in WINDOW})
        for variant in args.variants.split(","):
            detector = _detector(variant, args.threads)
            by_class: dict[str, list[float]] = {}
            print(f"\n{name} · {variant} (new_track_score {threshold})")
            for row in truth:
                segment = _line_point(clip.config, row["line"])
                frames = [int(row["frame"]) + k for k in WINDOW if int(row["frame"]) + k in images]
                scores = [crossing_score(detector, images[f], row["class"], segment) for f in frames]
                score = statistics.median(scores) if scores else 0.0
                by_class.setdefault(row["class"], []).append(score)
                print(
                    f"  frame {row['frame']:>4s} {row['line']:10s} {row['direction']:10s} "
                    f"{row['class']:8s} {score:.2f}"
                )
            for cls, scores in sorted(by_class.items()):
                below = sum(s < threshold for s in scores)
                print(
                    f"  {cls:8s} mean {np.mean(scores):.2f}  lowest {min(scores):.2f}  "
                    f"below threshold {below}/{len(scores)}"
                )
                run.add(
                    clip=name,
                    variant=variant,
                    cls=cls,
                    crossings=len(scores),
                    mean=round(float(np.mean(scores)), 2),
                    low=round(min(scores), 2),
                    below=below,
                    threshold=threshold,
                )
    if not args.no_record:
        print(f"\nrecorded {run.save()}")


if __name__ == "__main__":
    main()
