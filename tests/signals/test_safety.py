"""The safety rules hold whatever a controller asks: checked on the states SUMO actually shows each step."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from signal_scenarios import GridScenario

from citytally.signals.controllers import make_controller
from citytally.signals.intersection import SignalTiming, is_green
from citytally.signals.network import Controller, SignalNetwork
from citytally.signals.sensors import LaneReadings
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


def all_red_violations(states: list[str], all_red: int) -> list[str]:
    """No link may turn green within ``all_red`` steps of the last amber shown on any link."""
    bad, last_amber = [], None
    for t, state in enumerate(states):
        if t > 0:
            started = [i for i, c in enumerate(state) if is_green(c) and not is_green(states[t - 1][i])]
            if started and last_amber is not None and t - last_amber <= all_red:
                bad.append(f"links {started} turned green {t - last_amber} step(s) after amber")
        if "y" in state:
            last_amber = t
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
            + all_red_violations(states, round(timing.all_red_s))
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
@pytest.mark.parametrize("name", ["max-pressure", "greedy", "citytally"])
@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=10_000))
def test_controllers_never_break_safety(sumo_grid: GridScenario, name: str, seed: int) -> None:
    controller = make_controller(name)
    assert controller is not None
    timing: SignalTiming = controller.timing  # type: ignore[attr-defined]
    trace = run_traced(sumo_grid, controller, timing, seed)
    assert_safe(trace, timing)
    switched = sum(
        1 for states in trace.states.values() for a, b in zip(states, states[1:], strict=False) if a != b
    )
    assert switched > 0  # the controller did drive the lights
