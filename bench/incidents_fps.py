"""Edge frame rate with every detector on (incident rules and conflicts), against counting alone.

Runs the whole edge pipeline (decode → NanoDet → tracker → analytics → events) over two clips, each with an
"all detectors" config (all the incident rules and a ``[[conflicts]]`` junction zone on, besides its lines,
zones and speeds) and "counting": the same config with its incident rules and conflict zones taken out, so
the camera counts what it counted (lines, zones, speeds) and detects nothing. A third setup, the clip's own
counting config with its rules taken out ("own counting config": fewer zones, no speeds on Market Street),
is shown for comparison. The setups alternate ``--rounds`` times in one process so all see the same machine
load, each round starting with the next setup (the first run after the other clip's is slower):

* vtest.avi (pedestrian plaza): ``examples/vtest-incidents.toml``; own counting config
  ``examples/vtest.toml``;
* tests/data/market_street.mp4 (a street with cars, cyclists, pedestrians and a cable car):
  ``examples/market-street-incidents.toml``; own counting config ``tests/data/market_street.toml``.

Prints frames/s per run (wall clock) and frames per CPU-second of the process (less sensitive to other load
on a shared machine), the analytics stage's ms/frame, the median over rounds of each round's ratio to counting
(aim, issue 15: within 10 %), how many road-user pairs the conflict analysis measured
(:func:`citytally.edge.safety.measure_encounters` calls) and the time they took (wall clock, per frame of the
clip), and the incidents and conflicts raised.

    flock /tmp/citytally-bench.lock .venv/bin/python bench/incidents_fps.py [--rounds 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import RESULTS_DIR, Run

from citytally.edge import safety
from citytally.edge.config import load_camera_config
from citytally.edge.pipeline import PipelineOptions, build_pipeline
from citytally.events import ConflictEvent, IncidentEvent
from citytally.transport.publisher import MemoryPublisher

REPO = Path(__file__).resolve().parents[1]
#: clip -> (video, {setup: (config, detectors taken out)}); the first setup is the baseline.
CLIPS: dict[str, tuple[Path, dict[str, tuple[str, bool]]]] = {
    "vtest": (
        Path.home() / ".cache" / "citytally" / "vtest.avi",
        {
            "counting": ("examples/vtest-incidents.toml", True),
            "all detectors": ("examples/vtest-incidents.toml", False),
            "own counting config": ("examples/vtest.toml", True),
        },
    ),
    "market_street": (
        REPO / "tests" / "data" / "market_street.mp4",
        {
            "counting": ("examples/market-street-incidents.toml", True),
            "all detectors": ("examples/market-street-incidents.toml", False),
            "own counting config": ("tests/data/market_street.toml", True),
        },
    ),
}
COLUMNS = [
    ("clip", "clip"),
    ("setup", "setup"),
    ("fps", "frames/s (median)"),
    ("runs", "runs"),
    ("analytics_ms", "analytics ms/frame"),
    ("ratio", "x counting (median of rounds)"),
    ("cpu_fps", "frames per CPU-second"),
    ("cpu_ratio", "x counting (CPU, median of rounds)"),
    ("pairs", "pairs measured"),
    ("pair_ms", "pair analysis ms/frame"),
]


@dataclass
class Measured:
    fps: float
    cpu_fps: float
    analytics_ms: float
    pairs: int
    pair_ms: float
    found: Counter[str]


@contextmanager
def counting_pairs() -> Iterator[list[float]]:
    """Count the calls of safety.measure_encounters (``find_conflicts`` makes one per road-user pair it
    analyses) and their wall seconds."""
    original: Callable[..., Any] = safety.measure_encounters
    tally = [0.0, 0.0]

    def counted(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            tally[0] += 1
            tally[1] += time.perf_counter() - start

    safety.measure_encounters = counted
    try:
        yield tally
    finally:
        safety.measure_encounters = original


def run_once(config_path: Path, video: Path, options: PipelineOptions, counting: bool) -> Measured:
    """One pass of the clip; ``counting``: with the config's incident rules and conflict zones taken out
    (its lines, zones and speeds kept; ``examples/vtest.toml`` has the demo's stopped-vehicle rule)."""
    config = load_camera_config(config_path)
    if counting:
        config = config.model_copy(update={"incidents": type(config.incidents)(), "conflicts": []})
    sink = MemoryPublisher()
    with counting_pairs() as pairs:
        cpu = time.process_time()
        result = build_pipeline(config, sink, options, video).run()
        cpu = time.process_time() - cpu
    t = result.times
    frames = max(t.frames, 1)
    found: Counter[str] = Counter(
        e.incident for e in sink.events if isinstance(e, IncidentEvent) and e.phase in ("onset", None)
    )
    for e in sink.events:
        if isinstance(e, ConflictEvent):
            for c in e.conflicts:
                found[f"conflict {c.type} {c.classes}"] += c.count
    return Measured(
        t.frames / result.wall_seconds,
        t.frames / cpu,
        1000 * t.analytics / frames,
        int(pairs[0]),
        1000 * pairs[1] / frames,
        found,
    )


def _rows(clip: str, runs: dict[str, list[Measured]]) -> list[dict[str, Any]]:
    """One row per setup: medians over the rounds, and the median over the rounds of its ratio to the
    clip's first (baseline) setup in the same round."""
    base = next(iter(runs.values()))
    rows = []
    for setup, measured in runs.items():
        fps = statistics.median(m.fps for m in measured)
        cpu_fps = statistics.median(m.cpu_fps for m in measured)
        # Ratios within a round (the setups ran back to back, under about the same load), then their median.
        ratio = statistics.median(m.fps / b.fps for m, b in zip(measured, base, strict=True))
        cpu_ratio = statistics.median(m.cpu_fps / b.cpu_fps for m, b in zip(measured, base, strict=True))
        rows.append(
            {
                "clip": clip,
                "setup": setup,
                "fps": round(fps, 1),
                "runs": len(measured),
                "analytics_ms": round(statistics.median(m.analytics_ms for m in measured), 2),
                "ratio": f"{ratio:.3f}",
                "cpu_fps": round(cpu_fps, 1),
                "cpu_ratio": f"{cpu_ratio:.3f}",
                "pairs": measured[0].pairs,
                "pair_ms": round(statistics.median(m.pair_ms for m in measured), 2),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--vtest", type=Path, default=CLIPS["vtest"][0], help="path of vtest.avi")
    parser.add_argument("--clips", nargs="+", choices=sorted(CLIPS), default=list(CLIPS))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--variant", choices=("int8", "fp32"), default="int8", help="NanoDet variant")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    # Created first: it takes the machine fingerprint and start time now.
    run = Run(
        "incidents_fps",
        "Edge frames per second with all detectors on (incident rules, conflicts), against counting alone",
        COLUMNS,
    )
    options = PipelineOptions(progress=False, threads=args.threads, detector_variant=args.variant)
    runs = {clip: {setup: [] for setup in CLIPS[clip][1]} for clip in args.clips}
    for round_ in range(args.rounds):
        for clip in args.clips:
            video = args.vtest if clip == "vtest" else CLIPS[clip][0]
            setups = list(CLIPS[clip][1].items())
            # Each round starts with the next setup: the first run after another clip is slower (by up to
            # 6 % here), which in a fixed order would always fall on the baseline.
            k = round_ % len(setups)
            for setup, (path, counting) in setups[k:] + setups[:k]:
                m = run_once(REPO / path, video, options, counting)
                runs[clip][setup].append(m)
                print(
                    f"round {round_ + 1} {clip:13s} {setup:19s} {m.fps:6.1f} frames/s  "
                    f"{m.cpu_fps:6.1f} frames/CPU-s  analytics {m.analytics_ms:5.2f} ms/frame  "
                    f"pairs {m.pairs} ({m.pair_ms:.2f} ms/frame)",
                    flush=True,
                )
    for clip, by_setup in runs.items():
        for row in _rows(clip, by_setup):
            print("  ".join(f"{k}={v}" for k, v in row.items()))
            run.add(**row)
        found = by_setup["all detectors"][0].found
        note = ", ".join(f"{k} {v}" for k, v in sorted(found.items())) or "none"
        print(f"{clip}: incident onsets and conflicts with all detectors on: {note}")
        run.notes.append(f"{clip}, all detectors on: incident onsets and conflicts: {note}")
    run.notes.append(f"NanoDet {args.variant}; threads {args.threads or 'default'}")
    if not args.no_record:
        print(f"recorded {run.save(args.results_dir)}")


if __name__ == "__main__":
    main()
