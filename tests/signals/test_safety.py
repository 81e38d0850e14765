"""The safety rules hold whatever a controller asks: checked on the states SUMO actually shows each step.

Which links conflict (so need the all-red between them) is worked out here on its own, from the network
file's geometry, and not taken from the implementation being checked.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from signal_scenarios import GridScenario

from citytally.signals.controllers import AdaptiveConfig, GreedyController, make_controller
from citytally.signals.intersection import Intersection, SignalTiming, is_green
from citytally.signals.network import Controller, SignalNetwork
from citytally.signals.sensors import LaneReading, LaneReadings
from citytally.signals.sim import SumoConnection

STRICT = SignalTiming(min_green_s=5.0, yellow_s=3.0, all_red_s=2.0, max_red_s=40.0)
STEPS = 300


@dataclass
class Trace:
    """Per traffic light: the state shown in each step, halted vehicles on each link's lane after it."""

    states: dict[str, list[str]] = field(default_factory=dict)
    halting: dict[str, list[list[int]]] = field(default_factory=dict)
    served: dict[str, set[int]] = field(default_factory=dict)
    """Links green in some green phase of the light's own programme."""
    conflicts: dict[str, list[set[int]]] = field(default_factory=dict)
    """Per link, the links whose paths cross or merge with its path (from the network file)."""


def reference_conflicts(net_file: Path) -> dict[str, list[set[int]]]:
    """Per traffic light and link: links from another lane whose path crosses it or ends in its exit lane.

    Paths are the centre lines of the links' internal lanes in the network file, sampled every 0.25 m;
    two paths cross where their samples come within 0.5 m.
    """
    import sumolib

    net = sumolib.net.readNet(str(net_file), withInternal=True)
    result: dict[str, list[set[int]]] = {}
    for tls in net.getTrafficLights():
        paths: dict[int, tuple[str, str, np.ndarray]] = {}
        for conn in tls.getConnections():
            in_lane, out_lane, index = conn
            via = next((c.getViaLaneID() for c in in_lane.getOutgoing() if c.getToLane() == out_lane), "")
            shape = np.array(net.getLane(via).getShape(), dtype=float) if via else np.zeros((0, 2))
            paths[index] = (in_lane.getID(), out_lane.getID(), _sample(shape))
        links = max(paths) + 1
        found: list[set[int]] = [set() for _ in range(links)]
        for i, (in_i, out_i, pts_i) in paths.items():
            for j, (in_j, out_j, pts_j) in paths.items():
                if i == j or in_i == in_j:
                    continue
                gap = np.min(np.linalg.norm(pts_i[:, None, :] - pts_j[None, :, :], axis=2))
                if out_i == out_j or gap < 0.5:
                    found[i].add(j)
        result[tls.getID()] = found
    return result


def _sample(shape: np.ndarray, step: float = 0.25) -> np.ndarray:
    points = [shape[0]]
    for a, b in zip(shape, shape[1:], strict=False):
        n = max(int(np.linalg.norm(b - a) / step), 1)
        points += [a + (b - a) * k / n for k in range(1, n + 1)]
    return np.array(points)


def amber_violations(states: list[str], yellow: int) -> list[str]:
    """Every green→non-green change must show exactly ``yellow`` steps of amber, then red."""
    bad = []
    for link in range(len(states[0])):
        seq = [s[link] for s in states]
        t = 1
        while t < len(seq):
            if is_green(seq[t - 1]) and not is_green(seq[t]):
                run = 0
                while t + run < len(seq) and seq[t + run] == "y":
                    run += 1
                ended = t + run < len(seq)
                if run == 0 or (ended and (run != yellow or is_green(seq[t + run]))):
                    bad.append(
                        f"link {link} at step {t}: amber {run} step(s) then {seq[t + run : t + run + 1]}"
                    )
                t += max(run, 1)
            else:
                if seq[t] == "y" and not (is_green(seq[t - 1]) or seq[t - 1] == "y"):
                    bad.append(f"link {link} at step {t}: amber after red")
                t += 1
    return bad


def all_red_violations(states: list[str], all_red: int, conflicts: list[set[int]] | None = None) -> list[str]:
    """No link may turn green within ``all_red`` steps of the last amber shown on a link it conflicts with.

    Without ``conflicts`` every link conflicts with every other one.
    """
    links = len(states[0])
    foes = conflicts or [set(range(links)) - {i} for i in range(links)]
    bad: list[str] = []
    last_amber: list[int | None] = [None] * links
    for t, state in enumerate(states):
        if t > 0:
            for i, c in enumerate(state):
                if not is_green(c) or is_green(states[t - 1][i]):
                    continue
                close = [j for j in foes[i] if (a := last_amber[j]) is not None and t - a <= all_red]
                if close:
                    bad.append(f"link {i} turned green at step {t} too soon after amber on links {close}")
        for i, c in enumerate(state):
            if c == "y":
                last_amber[i] = t
    return bad


def min_green_violations(states: list[str], min_green: int) -> list[str]:
    """Every green that starts (and ends) inside the trace lasts at least ``min_green`` steps."""
    bad = []
    for link in range(len(states[0])):
        start = None
        for t in range(1, len(states)):
            was, now = is_green(states[t - 1][link]), is_green(states[t][link])
            if now and not was:
                start = t
            elif was and not now and start is not None:
                if t - start < min_green:
                    bad.append(f"link {link}: green for {t - start} step(s) from step {start}")
                start = None
    return bad


def max_red_violations(
    states: list[str], halting: list[list[int]], served: set[int], max_red: int
) -> list[str]:
    """No served link with a halted vehicle on its lane stays non-green for more than ``max_red`` steps."""
    bad = []
    for link in sorted(served):
        run = 0
        for t, state in enumerate(states):
            run = run + 1 if state[link] in "ryu" and halting[t][link] > 0 else 0
            if run > max_red:
                bad.append(f"link {link}: {run} steps at red with a vehicle waiting (step {t})")
                break
    return bad


class RandomRequests:
    """Asks for a random phase (or its favourite) at every intersection every step."""

    name = "random"

    def __init__(self, rng: random.Random, favourite_share: float) -> None:
        self.rng, self.favourite_share = rng, favourite_share

    def decide(self, network: SignalNetwork, readings: LaneReadings) -> None:
        for intersection in network:
            if self.rng.random() < self.favourite_share:
                intersection.request(0)  # starves every other approach unless the bound steps in
            else:
                intersection.request(self.rng.randrange(len(intersection.phases)))


def run_traced(scenario: GridScenario, controller: Controller, timing: SignalTiming, seed: int) -> Trace:
    conn = SumoConnection.start(
        ["-c", str(scenario.sumocfg), "--seed", str(seed), "--no-step-log", "--no-warnings",
         "--time-to-teleport", "-1"]
    )  # fmt: skip
    trace = Trace()
    try:
        network = SignalNetwork(conn.api, timing)
        links = {i.id: [lane for lane, _ in i.links] for i in network}
        for i in network:
            trace.served[i.id] = {k for p in i.phases for k, c in enumerate(p.state) if is_green(c)}
        trace.conflicts = reference_conflicts(scenario.net)
        for _ in range(STEPS):
            network.control_step(controller)
            conn.step()
            for tls, lanes in links.items():
                trace.states.setdefault(tls, []).append(conn.api.trafficlight.getRedYellowGreenState(tls))
                trace.halting.setdefault(tls, []).append(
                    [conn.api.lane.getLastStepHaltingNumber(lane) if lane else 0 for lane in lanes]
                )
    finally:
        conn.close()
    return trace


def assert_safe(trace: Trace, timing: SignalTiming) -> None:
    problems = []
    for tls, states in trace.states.items():
        found = (
            amber_violations(states, round(timing.yellow_s))
            + all_red_violations(states, round(timing.all_red_s), trace.conflicts[tls])
            + min_green_violations(states, round(timing.min_green_s))
            + max_red_violations(states, trace.halting[tls], trace.served[tls], round(timing.max_red_s))
        )
        problems += [f"{tls}: {p}" for p in found]
    assert not problems, "\n".join(problems[:20])


# --- the checkers catch what they claim to catch -------------------------------------------------------


@pytest.mark.parametrize(
    ("states", "checker", "expected_bad"),
    [
        (["Gr", "Gr", "yr", "yr", "yr", "rr", "rG"], lambda s: amber_violations(s, 3), False),
        (["Gr", "Gr", "rG", "rG"], lambda s: amber_violations(s, 3), True),  # amber skipped
        (["Gr", "yr", "rr", "rG"], lambda s: amber_violations(s, 3), True),  # amber too short
        (["Gr", "yr", "yr", "yr", "rr", "rr", "rG"], lambda s: all_red_violations(s, 2), False),
        (["Gr", "yr", "yr", "yr", "rG"], lambda s: all_red_violations(s, 2), True),  # no all-red
        (["Gr", "yr", "yr", "yr", "rG"], lambda s: all_red_violations(s, 2, [set(), set()]), False),
        (["Grr", "yrr", "yrr", "yrr", "rrG"], lambda s: all_red_violations(s, 2, [{2}, set(), {0}]), True),
        (["Grr", "yrr", "yrr", "yrr", "rGr"], lambda s: all_red_violations(s, 2, [{2}, set(), {0}]), False),
        (["rr", "Gr", "Gr", "yr"], lambda s: min_green_violations(s, 5), True),
        (["rr", "Gr", "Gr", "Gr", "Gr", "Gr", "yr"], lambda s: min_green_violations(s, 5), False),
    ],
)
def test_checkers_catch_violations(states: list[str], checker, expected_bad: bool) -> None:  # type: ignore[no-untyped-def]
    assert bool(checker(states)) is expected_bad


def test_max_red_checker_counts_only_waiting_time() -> None:
    states = ["Gr"] * 6
    assert max_red_violations(states, [[0, 1]] * 6, {0}, 4) == []  # no phase serves link 1
    assert max_red_violations(states, [[0, 1]] * 6, {0, 1}, 4)
    assert not max_red_violations(states, [[0, 0]] * 6, {0, 1}, 4)  # nobody waiting


# --- the real thing ------------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.sumo
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(min_value=0, max_value=10_000),
    request_seed=st.integers(min_value=0, max_value=2**32 - 1),
    favourite_share=st.sampled_from([0.0, 0.5, 0.95, 1.0]),
)
def test_random_requests_never_break_safety(
    sumo_grid: GridScenario, seed: int, request_seed: int, favourite_share: float
) -> None:
    requests = RandomRequests(random.Random(request_seed), favourite_share)
    trace = run_traced(sumo_grid, requests, STRICT, seed)
    assert_safe(trace, STRICT)


@pytest.mark.integration
@pytest.mark.sumo
@pytest.mark.parametrize("name", ["max-pressure", "greedy", "citytally", "greedy@citytally-timing"])
@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=10_000))
def test_controllers_never_break_safety(sumo_grid: GridScenario, name: str, seed: int) -> None:
    # A baseline can run under citytally's timings (all-red, box clearance) for a like-for-like comparison.
    if name == "greedy@citytally-timing":
        controller: Controller | None = GreedyController(AdaptiveConfig().timing)
    else:
        controller = make_controller(name)
    assert controller is not None
    timing: SignalTiming = controller.timing  # type: ignore[attr-defined]
    assert timing.all_red_s > 0 or name != "greedy@citytally-timing"  # the all-red is there to be kept
    trace = run_traced(sumo_grid, controller, timing, seed)
    assert_safe(trace, timing)
    switched = sum(
        1 for states in trace.states.values() for a, b in zip(states, states[1:], strict=False) if a != b
    )
    assert switched > 0  # the controller did drive the lights


# --- the all-red is kept exactly where paths conflict ---------------------------------------------------


@pytest.mark.integration
@pytest.mark.sumo
def test_every_crossing_or_merging_pair_counts_as_conflicting(sumo_grid: GridScenario) -> None:
    reference = reference_conflicts(sumo_grid.net)
    conn = SumoConnection.start(["-c", str(sumo_grid.sumocfg), "--no-step-log", "--no-warnings"])
    try:
        network = SignalNetwork(conn.api, STRICT)
        checked = 0
        for intersection in network:
            for link, foes in enumerate(reference[intersection.id]):
                assert foes <= intersection.conflicts[link], (intersection.id, link)
                checked += len(foes)
    finally:
        conn.close()
    assert checked > 20  # the grid's four-arm junctions have crossing paths


def _hold(conn: SumoConnection, light: Intersection, network: SignalNetwork) -> None:
    """Let the green shown run its minimum."""
    for _ in range(round(STRICT.min_green_s)):
        light.update(network.sensors.read())
        conn.step()


def _shown_after_request(
    conn: SumoConnection, light: Intersection, network: SignalNetwork, phase: int
) -> list[str]:
    """The states SUMO shows from requesting ``phase`` until it is green."""
    light.request(phase)
    shown = []
    while True:
        light.update(network.sensors.read())
        conn.step()
        shown.append(str(conn.api.trafficlight.getRedYellowGreenState(light.id)))
        if not light.in_transition and light.current_phase == phase:
            return shown


@pytest.mark.integration
@pytest.mark.sumo
def test_all_red_is_skipped_only_where_no_starting_link_conflicts(sumo_grid: GridScenario) -> None:
    reference = reference_conflicts(sumo_grid.net)["B1"]
    conn = SumoConnection.start(["-c", str(sumo_grid.sumocfg), "--no-step-log", "--no-warnings"])
    try:
        api = conn.api
        links = [entries[0][0] if entries else "" for entries in api.trafficlight.getControlledLinks("B1")]
        timing = STRICT.model_copy(update={"max_box_clearance_s": 0.0})  # exact all-red lengths here
        probe = SignalNetwork(api, timing, tls_ids=["B1"])["B1"]
        # One link to end, one that shares no conflict with it, one whose path crosses or merges with it.
        ending, free, crossing = next(
            (e, s, c)
            for e in range(len(links))
            for s in range(len(links))
            for c in sorted(reference[e])
            if links[s] != links[e] and s not in probe.conflicts[e] and s not in reference[e]
        )
        states = [
            "".join("G" if k == i else "r" for k in range(len(links))) for i in (ending, free, crossing)
        ]
        logic = api.trafficlight.Logic("probe", 0, 0, [api.trafficlight.Phase(30, st) for st in states])
        api.trafficlight.setProgramLogic("B1", logic)
        api.trafficlight.setProgram("B1", "probe")
        network = SignalNetwork(api, timing, tls_ids=["B1"])
        light = network["B1"]
        _hold(conn, light, network)
        amber = round(STRICT.yellow_s)
        to_free = _shown_after_request(conn, light, network, 1)
        assert [s[ending] for s in to_free] == ["y"] * amber + ["r"]
        assert is_green(to_free[amber][free])  # straight after the amber: nothing to keep apart
        _hold(conn, light, network)
        back = _shown_after_request(conn, light, network, 0)
        assert len(back) == amber + 1  # and back again, the same
        _hold(conn, light, network)
        to_crossing = _shown_after_request(conn, light, network, 2)
        all_red = round(STRICT.all_red_s)
        assert [s[ending] for s in to_crossing] == ["y"] * amber + ["r"] * (all_red + 1)
        assert [is_green(s[crossing]) for s in to_crossing] == [False] * (amber + all_red) + [True]
    finally:
        conn.close()


@pytest.mark.integration
@pytest.mark.sumo
@pytest.mark.parametrize("stuck", [False, True])
def test_all_red_waits_while_a_vehicle_stands_in_the_junction_on_a_crossing_path(
    sumo_grid: GridScenario, stuck: bool
) -> None:
    conn = SumoConnection.start(["-c", str(sumo_grid.sumocfg), "--no-step-log", "--no-warnings"])
    try:
        network = SignalNetwork(conn.api, STRICT, tls_ids=["B1"])
        light = network["B1"]
        target = 1 - light.current_phase
        src, dst = light.phases[light.current_phase].state, light.phases[target].state
        starting = [
            i for i, (a, b) in enumerate(zip(src, dst, strict=True)) if is_green(b) and not is_green(a)
        ]
        # A vehicle halted inside the box on a path that the next green crosses (and that stays red).
        blocker = next(c for s in starting for c in sorted(light.conflicts[s]) if not is_green(dst[c]))
        box = (
            {lane: LaneReading(vehicles=1, halting=1) for lane in light.link_paths[blocker]} if stuck else {}
        )
        readings = LaneReadings(time=0.0, lanes=box)
        for _ in range(round(STRICT.min_green_s)):
            light.update(readings)
        light.request(target)
        shown = []
        while light.in_transition or light.current_phase != target:
            light.update(readings)
            shown.append(light.shown_state)
        red = sum(1 for state in shown if "y" not in state and not any(is_green(c) for c in state))
        extra = round(STRICT.max_box_clearance_s) if stuck else 0
        assert red == round(STRICT.all_red_s) + extra
    finally:
        conn.close()
