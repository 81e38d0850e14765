"""Edge pipeline speed on vtest.avi: frames per second end to end, per stage, per variant, with counts.

    .venv/bin/python bench/edge_fps.py [--video PATH] [--config examples/vtest.toml] [--out DIR]
                                       [--variants decode,fp32,gated,int8,int8-352,every2] [--threads N]

Variants, each a full pass over the video in this one process (so they share the machine's load):
  decode  decoding alone (PyAV, BGR conversion): the ceiling for everything else
  fp32    detection on every frame with the fp32 NanoDet (the reference)
  gated   fp32 with motion gating (detection only in the part of each frame that moved; none if nothing did)
  int8    detection on every frame with the int8 NanoDet (if shipped)
  gated-int8  both
  int8-352    int8 with a 352-pixel input (longer side) instead of 416
  gated-int8-352  motion gating and int8 at 352
  every2  fp32 on every 2nd frame, the tracker bridging the gaps

For each: frames/s, real-time factor (video seconds per wall second), seconds per frame in each stage, and
the count per line and direction compared with the fp32 run (the largest relative difference).

The table, with the machine fingerprint, commit and time, is recorded in bench/results/edge_fps.json
(``--no-record`` to skip) and rendered into docs/benchmarks.md by ``python bench/render.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from harness import RESULTS_DIR, Run

from citytally.edge.config import load_camera_config
from citytally.edge.detector import nanodet_model_path
from citytally.edge.pipeline import PipelineOptions, RunResult, build_pipeline, write_summary
from citytally.edge.source import open_source
from citytally.transport.publisher import MemoryPublisher

REPO = Path(__file__).resolve().parents[1]
COLUMNS = [
    ("variant", "variant"),
    ("detected", "frames detected"),
    ("searched", "pixels searched"),
    ("fps", "frames/s"),
    ("x_camera", "x 25 fps"),
    ("vs_fp32", "speed vs fp32"),
    ("decode_ms", "decode ms/frame"),
    ("detect_ms", "detect ms/frame"),
    ("track_ms", "track ms/frame"),
    ("counts_vs_fp32", "counts vs fp32 (worst line and direction)"),
]
CAMERA_FPS = 25.0
"""Frame rate of the camera the aims are stated for (real time, and twice real time, at 25 fps)."""
VARIANTS = {
    "fp32": PipelineOptions(progress=False),
    "gated": PipelineOptions(progress=False, motion_gating=True),
    "int8": PipelineOptions(progress=False, detector_variant="int8"),
    "gated-int8": PipelineOptions(progress=False, motion_gating=True, detector_variant="int8"),
    "int8-352": PipelineOptions(progress=False, detector_variant="int8", input_size=352),
    "gated-int8-352": PipelineOptions(
        progress=False, motion_gating=True, detector_variant="int8", input_size=352
    ),
    "every2": PipelineOptions(progress=False, detect_every=2),
}


def decode_only(video: Path) -> tuple[int, float]:
    start = time.perf_counter()
    with open_source(video) as source:
        frames = sum(1 for _ in source)
    return frames, time.perf_counter() - start


def counts(result: RunResult) -> dict[str, int]:
    return {
        f"{line}/{direction}": sum(by_class.values())
        for line, by_direction in result.totals.lines.items()
        for direction, by_class in by_direction.items()
    }


def worst_difference(counted: dict[str, int], reference: dict[str, int]) -> tuple[float, int]:
    """Largest relative and absolute difference over lines and directions."""
    relative = max(abs(counted[k] - n) / max(n, 1) for k, n in reference.items())
    absolute = max(abs(counted[k] - n) for k, n in reference.items())
    return relative, absolute


def run_variant(
    name: str, video: Path, config_path: Path, threads: int | None, out: Path | None
) -> RunResult:
    config = load_camera_config(config_path)
    base = VARIANTS[name]
    options = PipelineOptions(
        progress=False,
        motion_gating=base.motion_gating,
        detect_every=base.detect_every,
        detector_variant=base.detector_variant,
        input_size=base.input_size,
        threads=threads,
    )
    result = build_pipeline(config, MemoryPublisher(), options, video).run()
    if out is not None:
        (out / name).mkdir(parents=True, exist_ok=True)
        write_summary(out / name / "summary.json", result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=Path.home() / ".cache" / "citytally" / "vtest.avi")
    parser.add_argument("--config", type=Path, default=REPO / "examples" / "vtest.toml")
    parser.add_argument("--out", type=Path, default=None, help="write each variant's summary.json here")
    parser.add_argument("--variants", default="decode,fp32,gated,int8,int8-352,gated-int8,every2")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: all)")
    parser.add_argument("--no-record", action="store_true", help="do not write bench/results/edge_fps.json")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    wanted = args.variants.split(",")
    run = Run("edge_fps", "Edge pipeline on vtest.avi: frames per second per variant", COLUMNS)
    print(f"video {args.video}, {os.cpu_count()} CPUs visible, load average {os.getloadavg()[0]:.1f}")

    if "decode" in wanted:
        frames, seconds = decode_only(args.video)
        print(f"decode   {frames / seconds:7.1f} frames/s  ({frames} frames in {seconds:.1f} s)")
        run.add(variant="decode only", fps=round(frames / seconds, 1), x_camera=_ratio(frames / seconds))
    header = (
        "variant         frames/s  x 25 fps  x source  detected  searched  "
        "decode  gate  detect  track  analytics (ms/frame)"
    )
    print(header)
    measured: list[tuple[str, float, dict[str, int], dict[str, object]]] = []
    for name in [v for v in wanted if v in VARIANTS]:
        if "int8" in name and not nanodet_model_path("int8").is_file():
            print("int8     (no int8 model shipped: skipped)")
            continue
        result = run_variant(name, args.video, args.config, args.threads, args.out)
        t = result.times
        per = {
            k: 1000 * getattr(t, k) / max(t.frames, 1)
            for k in ("decode", "gate", "detect", "track", "analytics")
        }
        fps = t.frames / result.wall_seconds
        # Share of the pixels of all frames that went through the detector (motion gating searches windows).
        searched = (t.window_share if VARIANTS[name].motion_gating else t.detected_frames) / max(t.frames, 1)
        # Against the yardstick, a 25 fps camera, and against the file's own rate (vtest: 10 fps).
        realtime = result.video_seconds / result.wall_seconds
        print(
            f"{name:14s} {fps:9.1f} {fps / CAMERA_FPS:8.2f}x {realtime:8.2f}x {t.detected_frames:9d} "
            f"{searched:8.0%} "
            f"{per['decode']:7.1f} {per['gate']:5.1f} {per['detect']:7.1f} {per['track']:6.1f} "
            f"{per['analytics']:9.1f}"
        )
        row: dict[str, object] = {
            "variant": name,
            "detected": t.detected_frames,
            "searched": f"{searched:.0%}",
            "fps": round(fps, 1),
            "x_camera": _ratio(fps),
            "decode_ms": round(per["decode"], 1),
            "detect_ms": round(per["detect"], 1),
            "track_ms": round(per["track"], 1),
        }
        measured.append((name, fps, counts(result), row))
    _compare_with_fp32(measured)
    for *_, row in measured:
        run.add(**row)
    if not args.no_record:
        print(f"recorded {run.save(args.results_dir)}")


def _ratio(fps: float) -> str:
    return f"{fps / CAMERA_FPS:.2f}x"


def _compare_with_fp32(measured: list[tuple[str, float, dict[str, int], dict[str, object]]]) -> None:
    """Print each variant's speed and worst count difference against fp32, and put both in its row."""
    reference = next(((fps, c) for name, fps, c, _ in measured if name == "fp32"), None)
    if reference is None:
        return
    base_fps, base_counts = reference
    print("\ncounts per line/direction, and each variant against fp32:")
    for name, fps, counted, row in measured:
        relative, absolute = worst_difference(counted, base_counts)
        print(
            f"{name:14s} speed {fps / base_fps:4.2f}x fp32; worst count difference "
            f"{100 * relative:5.1f} % ({absolute} crossings)  {json.dumps(counted)}"
        )
        row["vs_fp32"] = round(fps / base_fps, 2)
        if name == "fp32":
            row["counts_vs_fp32"] = "reference"
        elif absolute == 0:
            row["counts_vs_fp32"] = "identical"
        else:
            row["counts_vs_fp32"] = f"{100 * relative:.1f} % ({absolute} crossings)"


if __name__ == "__main__":
    main()
