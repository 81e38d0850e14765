"""The edge's analytics stage alone, every incident rule and a conflict zone on, before and after a change.

    flock /tmp/citytally-bench.lock .venv/bin/python bench/analytics_cost.py --before REF [--rounds 5]
                                                                [--clips vtest,market_street]

``bench/incidents_fps.py`` gives the frame rate with every detector on as a ratio to counting alone; how much
the analytics weigh in that ratio depends on how fast the machine runs the detector (int8 NanoDet: 90-125
frames/s on an Intel Xeon with VNNI, about 20 on an AMD EPYC without AVX-512). This bench leaves the detector
out. Each clip of ``incidents_fps`` is decoded, detected and tracked once (the checked-out code, int8 NanoDet,
its "all detectors" config); then every frame's tracked boxes are replayed through the analytics stage
(``CameraAnalytics`` with the ``IncidentEngine``; the left-object rule's pictures decoded again, outside the
timing) of the code of ``REF`` (its ``src/`` exported with ``git archive``) and of the checked-out code,
alternating, each pass a fresh process, for the counting config and the all-detectors config. Reported per
clip, setup and side: the analytics stage's milliseconds per frame (median over the rounds), after / before
(the figure to trust), and the incident onsets and conflicts raised (the same on both sides unless the change
meant to alter them). Records ``bench/results/analytics_cost.json`` through the harness.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from counting_cost import export_src, run_side
from harness import Run
from incidents_fps import CLIPS

from citytally.edge.config import load_camera_config
from citytally.edge.pipeline import PipelineOptions, build_pipeline
from citytally.transport.publisher import MemoryPublisher

REPO = Path(__file__).resolve().parents[1]
#: The setups of incidents_fps compared here: the all-detectors config, and the same with its rules and
#: conflict zones taken out.
SETUPS = ("counting", "all detectors")
COLUMNS = [
    ("clip", "clip"),
    ("setup", "setup"),
    ("side", "code"),
    ("frames", "frames"),
    ("analytics_ms", "analytics ms/frame (median)"),
    ("vs_before", "after / before"),
    ("raised", "incident onsets and conflicts"),
]
# Runs inside a fresh interpreter with PYTHONPATH set to one side's src/: one pass, figures as JSON.
RUNNER = """
import json, sys, time
from collections import Counter
from pathlib import Path
import numpy as np
from citytally.edge.analytics.intervals import CameraAnalytics
from citytally.edge.config import load_camera_config
from citytally.edge.detections import Detections
from citytally.edge.incidents import IncidentEngine
from citytally.edge.source import open_inputs
from citytally.events import ConflictEvent, IncidentEvent
from citytally.transport.publisher import MemoryPublisher
video, config, boxes, counting = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[5]
target_fps = float(sys.argv[4])
rec = np.load(boxes)
cuts = np.cumsum(rec["n"])[:-1]
columns = (np.split(rec[k], cuts) for k in ("xyxy", "scores", "cls", "tid"))
frames = [Detections(*cols) for cols in zip(*columns)]
cfg = load_camera_config(Path(config))
if counting == "counting":  # counting alone: the config's incident rules and conflict zones taken out
    cfg = cfg.model_copy(update={"incidents": type(cfg.incidents)(), "conflicts": []})
engine = IncidentEngine(cfg)
publisher = MemoryPublisher()
analytics = CameraAnalytics(cfg, publisher, incident_detectors=[engine] if engine else [])
seers = [engine] if engine and engine.needs_pictures else []
source = open_inputs([video], target_fps or None) if seers else None
pictures = iter(source) if source is not None else None
spent = 0.0
for tracked, ts in zip(frames, rec["ts"].tolist()):
    image = next(pictures).image if pictures is not None else None
    t0 = time.perf_counter()
    for seer in seers:
        seer.see(image)
    analytics.update(tracked, ts)
    spent += time.perf_counter() - t0
t0 = time.perf_counter()
analytics.finish()
spent += time.perf_counter() - t0
if source is not None:
    source.close()
raised = Counter()
for e in publisher.events:
    if isinstance(e, IncidentEvent) and e.phase == "onset":
        raised[e.incident] += 1
    elif isinstance(e, ConflictEvent):
        for c in e.conflicts:
            raised[f"conflict {c.type} {c.classes}"] += c.count
print(json.dumps({"frames": len(frames), "seconds": spent, "raised": dict(raised)}))
"""


def record_boxes(clip: str, into: Path) -> tuple[Path, float]:
    """Decode, detect and track the clip once with its all-detectors config; every analysed frame's tracked
    boxes and time to an .npz. Returns the file and the frame rate the source was read at (0: native)."""
    video, configs = CLIPS[clip]
    config = load_camera_config(REPO / configs["all detectors"][0])
    options = PipelineOptions(progress=False, detector_variant="int8")
    pipeline = build_pipeline(config, MemoryPublisher(), options, video)
    seen: list[tuple[Any, float]] = []
    update = pipeline.analytics.update

    def keep(tracked: Any, timestamp: float) -> Any:
        seen.append((tracked, timestamp))
        return update(tracked, timestamp)

    pipeline.analytics.update = keep  # type: ignore[method-assign]
    pipeline.run()
    path = into / f"{clip}.npz"
    np.savez(
        path,
        n=np.array([len(t) for t, _ in seen]),
        xyxy=np.concatenate([t.xyxy for t, _ in seen]),
        scores=np.concatenate([t.scores for t, _ in seen]),
        cls=np.concatenate([t.class_id for t, _ in seen]),
        tid=np.concatenate([t.track_id for t, _ in seen]),
        ts=np.array([ts for _, ts in seen]),
    )
    return path, float(config.source.target_fps or 0.0)


def one_pass(
    src: Path, video: Path, config: Path, boxes: Path, target_fps: float, setup: str
) -> dict[str, Any]:
    return run_side(src, RUNNER, str(video), str(config), str(boxes), str(target_fps), setup)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--before", required=True, help="commit (or ref) of the code before the change")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    run = Run("analytics_cost", "The analytics stage alone, every detector on: before and after", COLUMNS)
    with tempfile.TemporaryDirectory() as tmp:
        sides = {f"before ({args.before})": export_src(args.before, Path(tmp)), "after": REPO / "src"}
        for clip in args.clips.split(","):
            video, configs = CLIPS[clip]
            boxes, target_fps = record_boxes(clip, Path(tmp))
            for setup, (config, counting) in configs.items():
                if setup not in SETUPS:
                    continue
                passes: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
                for _ in range(args.rounds):
                    for side, src in sides.items():
                        strip = "counting" if counting else setup  # rules and conflict zones taken out
                        passes[side].append(one_pass(src, video, REPO / config, boxes, target_fps, strip))
                baseline = None
                for side, results in passes.items():
                    ms = statistics.median(1000 * r["seconds"] / r["frames"] for r in results)
                    baseline = baseline or ms
                    raised = results[0]["raised"]
                    row = {
                        "clip": clip,
                        "setup": setup,
                        "side": side,
                        "frames": results[0]["frames"],
                        "analytics_ms": round(ms, 3),
                        "vs_before": round(ms / baseline, 3),
                        "raised": ", ".join(f"{k} {v}" for k, v in sorted(raised.items())) or "none",
                    }
                    run.add(**row)
                    print(json.dumps(row), flush=True)
    run.notes.append(
        f"{args.rounds} rounds, sides alternating, each pass a fresh process replaying the same tracked "
        "boxes (int8 NanoDet, checked-out tracker); the left-object rule's pictures decoded, not timed"
    )
    if not args.no_record:
        run.save()


if __name__ == "__main__":
    main()
