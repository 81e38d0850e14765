"""Detector speed and agreement: fp32 NanoDet vs its reduced variants, measured in the same run.

Prints, for each model, ms/frame and frames/s at batch 1 and batch 4 on real vtest.avi frames and the
speed ratio against fp32 (the models take turns call by call, so machine load hits them alike); and how
closely its detections agree with fp32's (IoU >= 0.5 matched recall and precision, total person and
vehicle boxes) over frames spread across the video.

    .venv/bin/python bench/detector_speed.py [--threads 2] [--frames 80] [--repeat 3] [--models fp32 int8 ...]

Models: ``fp32`` and ``int8`` are the shipped files; ``fp32@320`` runs fp32 with a 320-pixel longer side;
any other name is taken as a path to a NanoDet ONNX file.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from citytally.edge.detections import Detections
from citytally.edge.detector import NanoDetDetector, nanodet_model_path
from citytally.edge.source import open_source


def _frames(video: Path, count: int) -> list[npt.NDArray[np.uint8]]:
    source = open_source(video)
    step = max(1, 795 // count)
    picked = [f.image for f in source if f.index % step == 0]
    return picked[:count]


def _detector(spec: str, threads: int) -> NanoDetDetector:
    if spec in ("fp32", "int8"):
        return NanoDetDetector(nanodet_model_path(spec), threads=threads)  # type: ignore[arg-type]
    if "@" in spec:
        name, size = spec.split("@")
        return NanoDetDetector(nanodet_model_path(name), threads=threads, input_size=int(size))  # type: ignore[arg-type]
    return NanoDetDetector(spec, threads=threads)


def _ms_per_frame(
    detectors: dict[str, NanoDetDetector], frames: list[npt.NDArray[np.uint8]], batch: int, repeat: int
) -> dict[str, tuple[float, float]]:
    """Wall and CPU ms per frame of each detector; the models take turns call by call.

    CPU time (all threads of this process) is the steadier figure on a shared machine: other people's
    processes stretch the wall time but not the work done.
    """
    for detector in detectors.values():
        detector(frames[:batch])  # warm up
    wall = dict.fromkeys(detectors, 0.0)
    cpu = dict.fromkeys(detectors, 0.0)
    calls = 0
    for _ in range(repeat):
        for start in range(0, len(frames) - batch + 1, batch):
            chunk = frames[start : start + batch]
            for spec, detector in detectors.items():
                started, started_cpu = time.perf_counter(), time.process_time()
                detector(chunk)
                wall[spec] += time.perf_counter() - started
                cpu[spec] += time.process_time() - started_cpu
            calls += 1
    per_frame = 1000 / (calls * batch)
    return {spec: (wall[spec] * per_frame, cpu[spec] * per_frame) for spec in detectors}


def _iou(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return np.asarray(inter / (area_a[:, None] + area_b[None, :] - inter), np.float32)


def _matched(reference: Detections, other: Detections) -> int:
    """Greedy one-to-one matches of the same class with IoU >= 0.5."""
    if not len(reference) or not len(other):
        return 0
    iou = _iou(reference.xyxy, other.xyxy)
    iou[reference.class_id[:, None] != other.class_id[None, :]] = 0
    matches = 0
    while iou.size and iou.max() >= 0.5:
        r, o = np.unravel_index(int(iou.argmax()), iou.shape)
        iou[r, :] = 0
        iou[:, o] = 0
        matches += 1
    return matches


def _agreement(reference: list[Detections], other: list[Detections]) -> tuple[float, float, int, int]:
    matched = sum(_matched(r, o) for r, o in zip(reference, other, strict=True))
    total_ref = sum(len(r) for r in reference)
    total_other = sum(len(o) for o in other)
    persons = sum(int((o.class_id == 0).sum()) for o in other)
    vehicles = total_other - persons
    return matched / max(total_ref, 1), matched / max(total_other, 1), persons, vehicles


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--video", type=Path, default=Path("~/.cache/citytally/vtest.avi").expanduser())
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--frames", type=int, default=80, help="frames spread over the video")
    parser.add_argument("--repeat", type=int, default=3, help="timing passes; the best is kept")
    parser.add_argument("--models", nargs="+", default=["fp32", "int8", "fp32@320"])
    args = parser.parse_args()
    frames = _frames(args.video, args.frames)
    print(f"{len(frames)} frames of {args.video.name}, {args.threads} threads, cpu count {os.cpu_count()}")
    specs = ["fp32", *[m for m in args.models if m != "fp32"]]
    detectors = {spec: _detector(spec, args.threads) for spec in specs}
    results = {spec: [d([f])[0] for f in frames] for spec, d in detectors.items()}
    header = f"{'model':<10} {'batch':>5} {'ms/frame':>9} {'frames/s':>9} {'x fp32':>7}"
    header += f" {'cpu ms':>7} {'x fp32':>7} {'recall':>7} {'precision':>9} {'persons':>8} {'vehicles':>8}"
    print(header)
    agreement = {spec: _agreement(results["fp32"], results[spec]) for spec in specs}
    for batch in (1, 4):
        timings = _ms_per_frame(detectors, frames, batch, args.repeat)
        base_wall, base_cpu = timings["fp32"]
        for spec, (ms, cpu_ms) in timings.items():
            recall, precision, persons, vehicles = agreement[spec]
            print(
                f"{spec:<10} {batch:>5} {ms:>9.1f} {1000 / ms:>9.1f} {base_wall / ms:>7.2f}"
                f" {cpu_ms:>7.1f} {base_cpu / cpu_ms:>7.2f}"
                f" {recall:>7.3f} {precision:>9.3f} {persons:>8} {vehicles:>8}"
            )


if __name__ == "__main__":
    main()
