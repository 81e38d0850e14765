"""Controllers on real SUMO intersections: max-pressure picks the phase of largest pressure."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from signal_scenarios import GridScenario

from citytally.errors import SignalError
from citytally.signals.controllers import (
    AdaptiveController,
    MaxPressureController,
    make_controller,
    phase_pressure,
)
from citytally.signals.intersection import Intersection, SignalTiming
from citytally.signals.network import SignalNetwork
from citytally.signals.sensors import LaneReading, LaneReadings
from citytally.signals.sim import SumoConnection

pytestmark = [pytest.mark.integration, pytest.mark.sumo]


@pytest.fixture()
def centre(sumo_grid: GridScenario) -> Iterator[tuple[SumoConnection, SignalNetwork, Intersection]]:
    conn = SumoConnection.start(["-c", str(sumo_grid.sumocfg), "--no-step-log", "--no-warnings"])
    try:
        network = SignalNetwork(conn.api, SignalTiming())
        yield conn, network, network["B1"]  # the four-arm junction in the middle of the 3×3 grid
    finally:
        conn.close()


def _readings(queues: dict[str, int]) -> LaneReadings:
    return LaneReadings(
        time=0.0, lanes={lane: LaneReading(vehicles=n, halting=n) for lane, n in queues.items()}
    )


def test_max_pressure_weighs_queues_against_the_lanes_they_feed(
    centre: tuple[SumoConnection, SignalNetwork, Intersection],
) -> None:
    _, _, light = centre
    first, second = light.phases[0], light.phases[1]
    queues = {lane: 4 for lane in first.in_lanes} | {lane: 3 for lane in second.in_lanes}
    readings = _readings(queues)
    p1, p2 = phase_pressure(first, readings), phase_pressure(second, readings)
    assert p1 == sum(queues.get(s, 0) for s, _ in first.movements)  # exits empty: pressure = queues
    # Without jammed exits the longer queues win ...
    assert p1 > p2 and MaxPressureController().choose(light, readings) == first.index
    # ... jam an exit the first phase feeds more often than the second, until the second must win.
    exits = {d for _, d in first.movements}
    fed = {
        x: (sum(d == x for _, d in first.movements), sum(d == x for _, d in second.movements)) for x in exits
    }
    exit_lane = max(exits, key=lambda x: fed[x][0] - fed[x][1])
    c1, c2 = fed[exit_lane]
    assert c1 > c2
    jam = (p1 - p2) // (c1 - c2) + 1
    jammed = _readings(queues | {exit_lane: jam})
    assert phase_pressure(first, jammed) == p1 - c1 * jam
    assert phase_pressure(second, jammed) == p2 - c2 * jam
    assert MaxPressureController().choose(light, jammed) == second.index


def test_max_pressure_agrees_with_pressures_read_straight_from_sumo(
    centre: tuple[SumoConnection, SignalNetwork, Intersection],
) -> None:
    conn, network, light = centre
    controller = MaxPressureController()
    checked = 0
    for _ in range(240):
        readings = network.control_step(controller)
        conn.step()
        if int(conn.time) % 20 == 0:
            halting = conn.api.lane.getLastStepHaltingNumber
            pressures = [sum(halting(s) - halting(d) for s, d in p.movements) for p in light.phases]
            chosen = controller.choose(light, network.sensors.read())
            assert pressures[chosen] == max(pressures)
            checked += 1
    assert checked >= 10 and readings.time > 0


def test_adaptive_controller_leaves_an_empty_junction_alone(
    centre: tuple[SumoConnection, SignalNetwork, Intersection],
) -> None:
    _, network, light = centre
    controller = AdaptiveController()
    controller.decide(network, _readings({}))
    assert light.requested_phase in (None, light.current_phase)


@pytest.mark.parametrize(
    ("name", "error"), [("fixed", None), ("citytally", None), ("nope", "unknown controller")]
)
def test_controller_names(name: str, error: str | None) -> None:
    if error is None:
        controller = make_controller(name)
        assert (controller is None) == (name == "fixed")
    else:
        with pytest.raises(SignalError, match=error):
            make_controller(name)


# --- citytally's own controller on a four-phase junction (protected left turns) ------------------------


@pytest.fixture()
def four_phase(
    turn_lane_grid: GridScenario,
) -> Iterator[tuple[SignalNetwork, Intersection, AdaptiveController]]:
    conn = SumoConnection.start(["-c", str(turn_lane_grid.sumocfg), "--no-step-log", "--no-warnings"])
    try:
        controller = AdaptiveController()
        network = SignalNetwork(conn.api, controller.timing, tls_ids=["B1"])
        light = network["B1"]
        assert len(light.phases) == 4  # two through phases, each followed by its protected left turns
        yield network, light, controller
    finally:
        conn.close()


def _zones(lanes: dict[str, LaneReading]) -> LaneReadings:
    return LaneReadings(time=0.0, approaches=lanes)


def _green(light: Intersection, phase: int, seconds: float) -> None:
    """Show ``phase`` and let it run ``seconds`` of green (no simulation step needed)."""
    light.request(phase)
    while light.in_transition or light.current_phase != phase:
        light.update(_zones({}))
    for _ in range(round(seconds)):
        light.update(_zones({}))


def _only_in(light: Intersection, phase: int) -> list[str]:
    """Incoming lanes that ``phase`` serves and no other phase does."""
    return [lane for lane in light.phases[phase].in_lanes if light.phases_serving(lane) == (phase,)]


def test_citytally_skips_phases_nobody_waits_for(
    four_phase: tuple[SignalNetwork, Intersection, AdaptiveController],
) -> None:
    network, light, controller = four_phase
    _green(light, 0, 10)
    controller.decide(network, _zones({}))
    assert light.requested_phase in (None, 0)  # nobody anywhere: keep what is shown
    through = [lane for lane in light.phases[2].in_lanes if 3 not in light.phases_serving(lane)]
    assert through
    controller.decide(network, _zones({lane: LaneReading(vehicles=3, halting=3) for lane in through}))
    assert light.requested_phase == 2  # straight past the empty left-turn phase 1


@pytest.mark.parametrize(
    ("current_lanes", "keeps"),
    [
        (LaneReading(vehicles=4, halting=2, passed=1), True),  # its queue still discharging
        (LaneReading(vehicles=5, halting=0, passed=0), True),  # a gap now, but a platoon arriving
        (LaneReading(vehicles=0, halting=0, passed=0), False),  # gap-out: nothing left to serve
    ],
)
def test_citytally_holds_a_green_while_it_moves_vehicles(
    four_phase: tuple[SignalNetwork, Intersection, AdaptiveController],
    current_lanes: LaneReading,
    keeps: bool,
) -> None:
    network, light, controller = four_phase
    _green(light, 2, 10)
    waiting = {lane: LaneReading(vehicles=2, halting=2) for lane in _only_in(light, 0)}
    served = {lane: current_lanes for lane in _only_in(light, 2)}
    assert waiting and served
    for _ in range(round(controller.config.flow_window_s)):
        controller.decide(network, _zones(waiting | served))
    assert light.requested_phase == (2 if keeps else 0)


def _lanes_by_signal(light: Intersection, phase: int) -> tuple[list[str], list[str]]:
    """Incoming lanes of ``phase`` whose green links are all permissive (``g``), and those with a ``G``."""
    signals: dict[str, set[str]] = {}
    for i, (lane, _) in enumerate(light.links):
        if lane and light.phases[phase].serves(i):
            signals.setdefault(lane, set()).add(light.phases[phase].state[i])
    yielding = [lane for lane, s in signals.items() if s == {"g"}]
    return yielding, [lane for lane, s in signals.items() if "G" in s]


@pytest.mark.parametrize("creeping_on", ["yielding", "priority"])
def test_citytally_does_not_hold_a_green_for_vehicles_creeping_behind_a_yielding_head(
    four_phase: tuple[SignalNetwork, Intersection, AdaptiveController], creeping_on: str
) -> None:
    """A queue on a left turn that waits for gaps, with vehicles still rolling up behind it, is no platoon
    arriving: the green is not held for it (here the protected arrow or the waiting street comes next).
    The same reading on a lane with right of way is a platoon, and keeps the green."""
    network, light, controller = four_phase
    phase = next(p.index for p in light.phases if _lanes_by_signal(light, p.index)[0])
    yielding, priority = _lanes_by_signal(light, phase)
    lane = (yielding if creeping_on == "yielding" else priority)[0]
    other = next(p.index for p in light.phases if set(p.in_lanes).isdisjoint(light.phases[phase].in_lanes))
    _green(light, phase, 10)
    waiting = {w: LaneReading(vehicles=2, halting=2) for w in _only_in(light, other)}
    assert waiting
    creeping = {lane: LaneReading(vehicles=8, halting=2, passed=0)}
    for _ in range(round(controller.config.flow_window_s)):
        controller.decide(network, _zones(waiting | creeping))
    held = light.requested_phase == phase
    assert held == (creeping_on == "priority")
