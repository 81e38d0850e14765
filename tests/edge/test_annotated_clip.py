"""End to end on an annotated street clip: counts per line × direction × class against the hand-made truth.

``tests/data/market_street.mp4`` (20 s of a 1906 street film, cyclists, a car, pedestrians) with its camera
config and its ground truth (how it was made: ``tests/data/README.md``). The same comparison, per class and
with accuracy figures, is ``bench/count_accuracy.py``.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from citytally.edge.config import load_camera_config
from citytally.edge.pipeline import PipelineOptions, build_pipeline
from citytally.transport.publisher import MemoryPublisher

DATA = Path(__file__).resolve().parents[1] / "data"
Cell = tuple[str, str, str]

#: Largest |counted - true| allowed per class, summed over the clip's lines and directions: what the shipped
#: int8 detector, the tracker and the rider association reach today on this clip (docs/benchmarks.md,
#: "Edge: count accuracy on the annotated clips"): both cyclist crossings count once as bicycles and the
#: car once, but the second man carrying the bar is hidden by that car as he crosses, and is missed. The
#: aims (97 % / 95 %) would allow 0 on 6 crossings.
TOLERANCE = {"person": 1, "bicycle": 0, "car": 0}


def _truth() -> Counter[Cell]:
    with (DATA / "market_street_crossings.csv").open(newline="") as handle:
        return Counter((r["line"], r["direction"], r["class"]) for r in csv.DictReader(handle))


@pytest.mark.integration
def test_market_street_counts_match_the_hand_made_truth() -> None:
    config = load_camera_config(DATA / "market_street.toml")
    options = PipelineOptions(progress=False, detector_variant="int8", threads=2)
    result = build_pipeline(config, MemoryPublisher(), options, DATA / "market_street.mp4").run()
    assert result.error is None
    assert result.totals.frames == 600
    counted = Counter(
        {
            (line, direction, cls): n
            for line, by_direction in result.totals.lines.items()
            for direction, by_class in by_direction.items()
            for cls, n in by_class.items()
        }
    )
    truth = _truth()
    assert sum(truth.values()) == 6
    errors = Counter[str]()
    for cell in truth | counted:
        errors[cell[2]] += abs(counted[cell] - truth[cell])
    # Every class with a true crossing is counted, and nothing is counted as a class the clip lacks
    # (no bus, truck or motorcycle crosses the line).
    assert {cls for cls, _ in errors.items()} <= set(TOLERANCE), dict(counted)
    for cls, allowed in TOLERANCE.items():
        assert errors[cls] <= allowed, (
            f"{cls}: {errors[cls]} errors (allowed {allowed}); counted {dict(counted)}"
        )
