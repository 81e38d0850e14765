"""Stopped-vehicle and wrong-way detection on SUMO trajectories replayed through a virtual camera.

One scenario with a breakdown and a wrong-way driver must give exactly those two incidents in time; the
same road without them must give none (bench/incidents_sumo.py runs the full version).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from citytally.edge.incidents.replay import Scenario, camera_config, replay, score, simulate, truths

pytestmark = [pytest.mark.integration, pytest.mark.sumo]


@pytest.mark.parametrize(
    ("scenario", "incidents"),
    [
        (Scenario(seed=3, seconds=130, breakdown_at=30, breakdown_s=40, wrong_way_at=80), 1),
        (Scenario(seed=4, seconds=130), 0),
    ],
)
def test_breakdown_and_wrong_way_found_in_time(tmp_path: Path, scenario: Scenario, incidents: int) -> None:
    fcd = simulate(scenario, tmp_path)
    truth = truths(fcd, scenario)
    assert len(truth) == 2 * incidents  # the scenario really has (or lacks) them in the watched zone
    events = replay(fcd, camera_config(), scenario.seed)
    for kind in ("stopped_vehicle", "wrong_way"):
        result = score(events, truth, kind)
        assert (result.tp, result.fp, result.fn) == (incidents, 0, 0), kind
        assert all(delay <= 10.0 for delay in result.delays), (kind, result.delays)
    assert not any("track" in key for event in events for key in event.details)
