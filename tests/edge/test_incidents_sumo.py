"""Stopped-vehicle and wrong-way detection on SUMO trajectories replayed through a virtual camera.

One scenario with a breakdown and a wrong-way driver must give exactly those two incidents in time; the
same road without them must give none (bench/incidents_sumo.py runs the full version).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from citytally.edge.incidents.replay import (
    Scenario,
    at_end_of_red,
    camera_config,
    queue_truth,
    queue_truths,
    replay,
    score,
    simulate,
    truths,
)

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


def test_queues_at_a_red_light_found_and_measured_against_sumos_own_queue(tmp_path: Path) -> None:
    """A traffic light holds the eastbound traffic 60 s in every 90 s: SUMO's lane-area detectors measure
    the queue each second (the reference); the queue rule, on the virtual camera's boxes with their misses,
    must open once for every queue SUMO's measure gives under its thresholds, and measure each cycle's
    queue at the end of red within a car or so of SUMO's (bench/queues_sumo.py runs the full version)."""
    scenario = Scenario(seed=108, seconds=400, flow_veh_h=700, red_s=60)
    fcd = simulate(scenario, tmp_path)
    sumo_m = queue_truth(tmp_path, scenario)
    truth = queue_truths(sumo_m)
    assert len(truth) >= 3  # the scenario really queues past onset_m every cycle
    ours_m: dict[int, float] = {}
    events = replay(fcd, camera_config(queue=True), scenario.seed, ours_m)
    result = score(events, truth, "queue")
    assert (result.tp, result.fp, result.fn) == (len(truth), 0, 0), result
    for ours, theirs in zip(at_end_of_red(ours_m, scenario), at_end_of_red(sumo_m, scenario), strict=True):
        assert abs(ours - theirs) <= 10.0, (ours, theirs)
