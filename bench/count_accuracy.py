"""Count accuracy on the annotated clips: counted against true crossings per line × direction × class.

    .venv/bin/python bench/count_accuracy.py                         # every clip, fp32 and int8
    .venv/bin/python bench/count_accuracy.py --clips market_street --variants int8
    .venv/bin/python bench/count_accuracy.py --clip vtest --summary OUT/summary.json   # score a finished run

Clips (ground truth and how it was made: tests/data/README.md):

* ``vtest``: OpenCV's vtest.avi, a pedestrian plaza, 45 crossings (fetched by scripts/fetch-vtest.sh);
* ``market_street``: 20 s of a 1906 street film from a moving cable car, 6 crossings: cyclists, a car,
  pedestrians (tests/data/market_street.mp4).

Variants: ``fp32`` and ``int8`` (the shipped NanoDet), ``fp32@N`` / ``int8@N`` (a detector input of N
pixels instead of 416), ``yolo:PATH`` (a YOLO export, as ``[detector] kind = "yolo"`` would run it); a
``+spin`` suffix before any ``@N`` (``int8+spin``) runs it with ``[detector] busy_wait = true``. Each
variant runs the whole pipeline over each clip in this one process, one after the other; speed is given as
frames/s and CPU ms per frame, and as a ratio to the first variant's CPU time on the same clip.
A cyclist is meant to count as one ``bicycle`` (or ``motorcycle``) and its rider
not also as a ``person``.

Per class, **count accuracy** = 1 − (sum over lines and directions of |counted − true|) / (true total):
over- and under-counts both cost, and do not cancel between lines or directions. A class with no true
crossing gets no accuracy; its counts are reported as extra. Aims (issue 17): ≥ 97 % for vehicles and
pedestrians, ≥ 95 % for cyclists. Records ``bench/results/count_accuracy.json`` through the harness.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"

Cell = tuple[str, str, str]  # line, direction, class
#: Classes grouped as the aims group them.
GROUPS = {
    "person": "pedestrians",
    "bicycle": "cyclists",
    "motorcycle": "cyclists",
    "car": "vehicles",
    "bus": "vehicles",
    "truck": "vehicles",
}
AIMS = {"pedestrians": 0.97, "vehicles": 0.97, "cyclists": 0.95}


@dataclass(frozen=True)
class Clip:
    """An annotated clip: its video, its camera config and its ground truth."""

    name: str
    video: Path
    config: Path
    truth: Path


CLIPS = {
    "vtest": Clip(
        "vtest",
        Path.home() / ".cache" / "citytally" / "vtest.avi",
        REPO / "examples" / "vtest.toml",
        DATA / "vtest_crossings.csv",
    ),
    "market_street": Clip(
        "market_street",
        DATA / "market_street.mp4",
        DATA / "market_street.toml",
        DATA / "market_street_crossings.csv",
    ),
}


def ground_truth(path: Path) -> Counter[Cell]:
    """True crossings per (line, direction, class) from a crossings CSV."""
    with path.open(newline="") as handle:
        return Counter((row["line"], row["direction"], row["class"]) for row in csv.DictReader(handle))


def counted_cells(lines: dict[str, dict[str, dict[str, int]]]) -> Counter[Cell]:
    """A run's ``totals.lines`` (line → direction → class → count) as a Counter of cells."""
    return Counter(
        {
            (line, direction, cls): n
            for line, by_direction in lines.items()
            for direction, by_class in by_direction.items()
            for cls, n in by_class.items()
            if n
        }
    )


def class_accuracy(truth: Counter[Cell], counted: Counter[Cell]) -> dict[str, tuple[int, int, float | None]]:
    """Per class: (true total, sum of absolute errors over its cells, accuracy or None without truth)."""
    result: dict[str, tuple[int, int, float | None]] = {}
    for cls in sorted({c for _, _, c in truth} | {c for _, _, c in counted}):
        cells = {k for k in truth | counted if k[2] == cls}
        true_total = sum(truth[k] for k in cells)
        errors = sum(abs(counted[k] - truth[k]) for k in cells)
        result[cls] = (true_total, errors, 1 - errors / true_total if true_total else None)
    return result


@dataclass(frozen=True)
class Speed:
    """How fast a run went: frames per second of wall time, and CPU milliseconds per frame (all threads of
    this process: the steadier figure on a shared machine, where others' load stretches wall time)."""

    fps: float
    cpu_ms: float


def run_pipeline(
    clip: Clip, variant: str, threads: int | None
) -> tuple[dict[str, dict[str, dict[str, int]]], Speed]:
    """Run the whole edge pipeline over a clip; its line totals and how fast it ran.

    ``variant``: ``fp32`` / ``int8`` (the shipped NanoDet), with ``@N`` for an N-pixel input, or
    ``yolo:PATH`` (``@N`` too) for a YOLO export chosen the way a camera config chooses it; ``+spin``
    after the name: ONNX Runtime's threads spin between batches (``[detector] busy_wait = true``).
    """
    from citytally.edge.config import load_camera_config
    from citytally.edge.pipeline import PipelineOptions, build_pipeline
    from citytally.transport.publisher import MemoryPublisher

    spec, _, size = variant.rpartition("@") if "@" in variant else (variant, "", "")
    config = load_camera_config(clip.config)
    if spec.endswith("+spin"):
        spec = spec.removesuffix("+spin")
        spinning = config.detector.model_copy(update={"busy_wait": True})
        config = config.model_copy(update={"detector": spinning})
    precision = spec
    if spec.startswith("yolo:"):
        detector = config.detector.model_copy(update={"kind": "yolo", "model": Path(spec[5:])})
        config = config.model_copy(update={"detector": detector})
        precision = "fp32"
    elif spec not in ("fp32", "int8"):
        raise SystemExit(f"variant {variant!r}: use fp32, int8, yolo:PATH, each optionally +spin and @N")
    options = PipelineOptions(
        progress=False,
        detector_variant="int8" if precision == "int8" else "fp32",
        input_size=int(size) if size else None,
        threads=threads,
    )
    pipeline = build_pipeline(config, MemoryPublisher(), options, clip.video)
    started, cpu_started = time.perf_counter(), time.process_time()
    result = pipeline.run()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if result.error is not None:
        raise SystemExit(f"{clip.name}: the run stopped early: {result.error}")
    frames = max(result.totals.frames, 1)
    return result.totals.lines, Speed(frames / elapsed if elapsed > 0 else 0.0, 1000 * cpu / frames)


def print_cells(clip: str, variant: str, truth: Counter[Cell], counted: Counter[Cell]) -> None:
    print(f"\n{clip} · {variant}")
    print(f"  {'line':12s} {'direction':12s} {'class':10s} {'true':>4s} {'counted':>7s} {'error':>5s}")
    for line, direction, cls in sorted(truth | counted):
        t, c = truth[(line, direction, cls)], counted[(line, direction, cls)]
        print(f"  {line:12s} {direction:12s} {cls:10s} {t:4d} {c:7d} {c - t:+5d}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clips", default=",".join(CLIPS), help=f"comma-separated, of {sorted(CLIPS)}")
    parser.add_argument(
        "--variants", default="fp32,int8", help="comma-separated: fp32, int8, fp32@N, int8@N, int8+spin"
    )
    parser.add_argument("--threads", type=int, default=None, help="detector threads (default: all cores)")
    parser.add_argument("--vtest", type=Path, default=None, help="vtest.avi (default: the fetch script's)")
    parser.add_argument("--summary", type=Path, default=None, help="score this summary.json instead")
    parser.add_argument("--clip", default="vtest", help="the clip --summary was run on")
    parser.add_argument("--no-record", action="store_true", help="do not write bench/results/")
    args = parser.parse_args()

    if args.summary is not None:
        truth = ground_truth(CLIPS[args.clip].truth)
        counted = counted_cells(json.loads(args.summary.read_text())["lines"])
        print_cells(args.clip, str(args.summary), truth, counted)
        for cls, (t, err, acc) in class_accuracy(truth, counted).items():
            print(
                f"  {cls:10s} true {t:3d}  errors {err:3d}  accuracy {'-' if acc is None else f'{acc:.1%}'}"
            )
        return

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from harness import Run

    run = Run(
        "count_accuracy",
        "Count accuracy per class on the annotated clips",
        columns=[
            ("clip", "clip"),
            ("variant", "variant"),
            ("cls", "class"),
            ("true", "true crossings"),
            ("counted", "counted"),
            ("errors", "abs. errors"),
            ("accuracy", "accuracy %"),
            ("aim", "aim %"),
            ("fps", "frames/s"),
            ("cpu_ms", "CPU ms/frame"),
            ("x_first", "CPU x first variant"),
        ],
    )
    clips = [CLIPS[name] for name in args.clips.split(",")]
    for clip in clips:
        if clip.name == "vtest" and args.vtest is not None:
            clip = Clip(clip.name, args.vtest, clip.config, clip.truth)
        if not clip.video.is_file():
            print(f"{clip.name}: {clip.video} is missing (vtest: scripts/fetch-vtest.sh); skipped")
            continue
        truth = ground_truth(clip.truth)
        baseline: float | None = None
        for variant in args.variants.split(","):
            lines, speed = run_pipeline(clip, variant, args.threads)
            baseline = baseline or speed.cpu_ms
            counted = counted_cells(lines)
            shown_speed = f"{speed.fps:.1f} frames/s, {speed.cpu_ms:.1f} CPU ms/frame"
            print_cells(
                clip.name, f"{variant} ({shown_speed}, x{speed.cpu_ms / baseline:.2f})", truth, counted
            )
            for cls, (t, err, acc) in class_accuracy(truth, counted).items():
                aim = AIMS[GROUPS[cls]] if cls in GROUPS else None
                shown = "-" if acc is None else f"{acc:.1%}"
                met = "" if acc is None or aim is None else (" (aim met)" if acc >= aim else " (aim NOT met)")
                n = sum(v for k, v in counted.items() if k[2] == cls)
                print(f"  {cls:10s} true {t:3d}  counted {n:3d}  errors {err:3d}  accuracy {shown}{met}")
                run.add(
                    clip=clip.name,
                    variant=variant,
                    cls=cls,
                    true=t,
                    counted=n,
                    errors=err,
                    accuracy=None if acc is None else round(100 * acc, 1),
                    aim=None if aim is None else round(100 * aim),
                    fps=round(speed.fps, 1),
                    cpu_ms=round(speed.cpu_ms, 1),
                    x_first=round(speed.cpu_ms / baseline, 2),
                )
    run.notes.append(
        "accuracy = 1 - (sum over lines and directions of |counted - true|) / true total, per class; "
        "a class with no true crossing has no accuracy (its counts are all errors)"
    )
    if not args.no_record:
        print(f"\nrecorded {run.save()}")


if __name__ == "__main__":
    main()
