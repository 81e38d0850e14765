"""What a motion-gating window costs: NanoDet time for windows of a vtest frame against the whole frame.

    .venv/bin/python bench/detector_window_cost.py [--threads 2] [--repeat 3] [--calls 20]

For each model (fp32, int8) and each window size (a share of the frame, centred), prints the network input
it becomes, ms per call of ``detect_windows`` (preparation, ONNX Runtime and decoding; best of ``--repeat``
passes of ``--calls`` calls), µs per 1,000 input pixels, and the time against the whole frame's in the same
pass (sizes take turns call by call, so machine load hits them alike). The table is recorded in
bench/results/detector_window_cost.json (``--no-record`` to skip) and rendered into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from harness import RESULTS_DIR, Run

from citytally.edge.detector import NanoDetDetector, Window, nanodet_model_path
from citytally.edge.source import open_source

SHARES = (1.0, 0.75, 0.5, 0.3, 0.15, 0.05)
COLUMNS = [
    ("model", "model"),
    ("share", "window (share of frame)"),
    ("input", "network input"),
    ("ms", "ms/call"),
    ("us_per_kpx", "µs per 1,000 input px"),
    ("vs_whole", "vs whole frame"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=Path("~/.cache/citytally/vtest.avi").expanduser())
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--no-record", action="store_true", help="do not write the result JSON")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    run = Run("detector_window_cost", "NanoDet time for a window of a vtest frame against the whole", COLUMNS)
    with open_source(args.video) as source:
        frame = next(f.image for f in source if f.index == 300)
    height, width = frame.shape[:2]
    windows: list[Window | None] = [None]
    for share in SHARES[1:]:
        side = share**0.5
        w, h = round(width * side), round(height * side)
        x, y = (width - w) // 2, (height - h) // 2
        windows.append((x, y, x + w, y + h))
    print(f"frame {width}x{height}, {args.threads} threads, load average {os.getloadavg()[0]:.1f}")
    print("model  window share  input      ms/call  µs per 1000 input px  vs whole frame")
    for variant in ("fp32", "int8"):
        detector = NanoDetDetector(nanodet_model_path(variant), threads=args.threads)  # type: ignore[arg-type]
        best = [float("inf")] * len(windows)
        for _ in range(args.repeat):
            spent = [0.0] * len(windows)
            for _ in range(args.calls):
                for i, window in enumerate(windows):
                    t0 = time.perf_counter()
                    detector.detect_windows([frame], [window])
                    spent[i] += time.perf_counter() - t0
            best = [min(b, s / args.calls) for b, s in zip(best, spent, strict=True)]
        for share, window, seconds in zip(SHARES, windows, best, strict=True):
            input_w, input_h = detector._input_shape(frame, window)
            per_kpx = 1e6 * seconds / (input_w * input_h / 1000)
            print(
                f"{variant:6s} {share:12.0%}  {input_w:3d}x{input_h:<3d}  {1000 * seconds:8.2f}  "
                f"{per_kpx:20.0f}  {seconds / best[0]:13.2f}"
            )
            run.add(
                model=variant,
                share="whole frame" if window is None else f"{share:.0%}",
                input=f"{input_w}×{input_h}",
                ms=round(1000 * seconds, 1),
                us_per_kpx=round(per_kpx),
                vs_whole=round(seconds / best[0], 2),
            )
    if not args.no_record:
        print(f"recorded {run.save(args.results_dir)}")


if __name__ == "__main__":
    main()
