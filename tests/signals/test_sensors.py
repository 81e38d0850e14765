"""Detectors: approach zones and stop-line counters agree with vehicle positions read straight from SUMO."""

from __future__ import annotations

import pytest
import sumolib
from signal_scenarios import GridScenario

from citytally.signals.controllers import make_controller
from citytally.signals.intersection import SignalTiming
from citytally.signals.network import SignalNetwork
from citytally.signals.sensors import LaneReading, LaneReadings
from citytally.signals.sim import SumoConnection

pytestmark = [pytest.mark.integration, pytest.mark.sumo]

REACH_M = 100.0
STEPS = 240


def _zone_lanes(net_file: str, stop_lane: str) -> list[tuple[str, float]]:
    """The stop-line lane and the unsignalised lanes feeding it, each with its end's distance to the stop
    line, read from the network file (two levels are enough for the generated grids)."""
    net = sumolib.net.readNet(net_file)
    lane = net.getLane(stop_lane)
    zone = [(stop_lane, 0.0)]
    for feeder in net.getEdges():
        for candidate in feeder.getLanes():
            for conn in candidate.getOutgoing():
                if conn.getToLane() is lane and not conn.getTLSID():
                    zone.append((candidate.getID(), lane.getLength()))
    return zone


def _expected(api: object, zone: list[tuple[str, float]]) -> tuple[int, int]:
    from typing import Any

    sumo: Any = api
    vehicles = halted = 0
    for lane, offset in zone:
        length = float(sumo.lane.getLength(lane))
        for vid in sumo.lane.getLastStepVehicleIDs(lane):
            if length - float(sumo.vehicle.getLanePosition(vid)) + offset <= REACH_M:
                vehicles += 1
                halted += float(sumo.vehicle.getSpeed(vid)) < 0.1
    return vehicles, halted


def test_approach_zones_and_stop_line_counts_match_vehicle_positions(turn_lane_grid: GridScenario) -> None:
    conn = SumoConnection.start(["-c", str(turn_lane_grid.sumocfg), "--no-step-log", "--no-warnings"])
    try:
        api = conn.api
        network = SignalNetwork(api, SignalTiming(), approach_m=REACH_M)
        stop_lanes = [lane for i in network for lane in i.in_lanes]
        zones = {lane: _zone_lanes(str(turn_lane_grid.net), lane) for lane in stop_lanes}
        assert any(len(z) > 1 for z in zones.values())  # some zones reach past a short turn lane
        controller = make_controller("citytally")
        passed = dict.fromkeys(stop_lanes, 0)
        crossed = dict.fromkeys(stop_lanes, 0)
        last_lane: dict[str, str] = {}
        compared = queued = 0
        for _ in range(STEPS):
            readings = network.control_step(controller)
            for lane in stop_lanes:
                reading = readings.approach(lane)
                assert (reading.vehicles, reading.halting) == _expected(api, zones[lane]), lane
                passed[lane] += reading.passed
                compared += 1
                queued += reading.halting
            conn.step()
            for vid in api.vehicle.getIDList():
                now = str(api.vehicle.getLaneID(vid))
                before = last_lane.get(vid)
                if before in crossed and now.rsplit("_", 1)[0] != str(before).rsplit("_", 1)[0]:
                    crossed[str(before)] += 1
                last_lane[vid] = now
        # The counts read before each step cover the step before it: the last step's are not read.
        final = network.sensors.read()
        for lane in stop_lanes:
            assert passed[lane] + final.approach(lane).passed == crossed[lane], lane
    finally:
        conn.close()
    assert compared == STEPS * len(stop_lanes) and queued > 0
    assert sum(crossed.values()) > 100


def test_readings_without_a_zone_fall_back_to_the_lane_detector() -> None:
    readings = LaneReadings(time=0.0, lanes={"a": LaneReading(vehicles=3, halting=1)})
    assert readings.approach("a") == LaneReading(vehicles=3, halting=1)
    assert readings.approach("unknown") == LaneReading()
    assert LaneReading(vehicles=3, halting=5).moving == 0
