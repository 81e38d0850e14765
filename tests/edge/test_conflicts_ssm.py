"""bench/conflicts_ssm.py on one-minute SUMO runs: citytally's conflicts against SUMO's SSM device."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration, pytest.mark.sumo]


@pytest.fixture()
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    return importlib.import_module("conflicts_ssm")


def test_conflicts_agree_with_ssm_on_a_priority_grid(bench: ModuleType) -> None:
    got = bench.measure("grid", seconds=60.0, period=1.2, seed=15)
    assert got.reference >= 10 and got.ours >= 10  # SUMO produced conflicts and we found some
    # Floors under today's figures on this run, not issue 15's aims (0.95): see docs/benchmarks.md for what
    # the remaining disagreement is.
    assert got.recall >= 0.85 and got.precision >= 0.8
    assert len(got.ttc_errors) >= 10 and float(np.median(got.ttc_errors)) <= 0.1


def test_pedestrians_conflict_with_cars_where_ssm_sees_only_vehicles(
    bench: ModuleType, tmp_path: Path
) -> None:
    sim = bench.simulate("pedestrians", tmp_path, 60.0, 1.2, 15)
    ids, tracks = bench.trajectories(sim.fcd, sim.sizes)
    walkers = {name for name, track in zip(ids, tracks, strict=True) if track.kind == "person"}
    refs = bench.references(sim.ssm)
    assert walkers and refs
    assert not any(ref.pair & walkers for ref in refs)  # SUMO 1.28's SSM device logs vehicles only
    ours = bench.find_conflicts(tracks, bench.THRESHOLDS, ignore_pairs=bench.IGNORE_PAIRS)
    got = bench.compare(ids, [t.kind for t in tracks], ours, refs)
    assert got.with_pedestrians > 0  # walkers on the crossings in front of turning cars
    assert got.recall >= 0.85
