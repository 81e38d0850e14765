"""Emergency-vehicle priority: the decision rules (unit) and the green wave in real SUMO (integration)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import ValidationError
from signal_scenarios import require_sumo

from citytally.signals.intersection import SignalTiming
from citytally.signals.priority import (
    Call,
    Preemption,
    PriorityConfig,
    lead_time_s,
    preemption_action,
    serving_phase,
    worst_transition_s,
)

# --- unit: which phase, how early, when released ------------------------------------------------------

# Links 0-2 come from one approach lane (right, straight, left); 3-5 from the opposite one.
PHASES = ["GGgGGg", "rrGrrG", "GGrrrr"]


@pytest.mark.parametrize(
    ("link", "lane_links", "current", "expected"),
    [
        (1, [0, 1, 2], None, 0),  # straight: the phase opening the whole approach
        (1, [0, 1, 2], 2, 0),  # ... even when another serving phase is on (the queue in front may turn)
        (2, [0, 1, 2], None, 0),  # a left turn: the approach phase beats the protected arrow alone
        (2, [2], None, 1),  # a left-turn-only lane: protected arrow (G) beats permissive (g)
        (5, [5], 1, 1),
        (4, [3, 4, 5], 2, 0),  # only phase 0 serves link 4
        (9, [9], None, None),  # no such link
    ],
)
def test_serving_phase(link: int, lane_links: list[int], current: int | None, expected: int | None) -> None:
    assert serving_phase(PHASES, link, lane_links, current) == expected


def test_serving_phase_prefers_the_green_already_shown() -> None:
    assert serving_phase(["GGr", "GGr", "rrG"], 0, [0, 1], current=1) == 1


@pytest.mark.parametrize(
    ("transition", "queued", "expected"),
    [(0.0, 0, 4.0), (8.0, 0, 12.0), (8.0, 5, 8.0 + 2.0 + 5 * 2.0 + 4.0), (0.0, 1, 8.0)],
)
def test_lead_time_covers_transition_queue_and_margin(
    transition: float, queued: int, expected: float
) -> None:
    assert lead_time_s(transition, queued, PriorityConfig()) == pytest.approx(expected)


UNIT_TIMING = SignalTiming(min_green_s=8.0, yellow_s=3.0, all_red_s=2.0, max_red_s=120.0)


@pytest.mark.parametrize(
    ("eta", "to_green", "queued", "expected"),
    [
        (60.0, 0.0, 0, "wait"),  # far away, even if its phase is green
        (22.0, 0.0, 0, "serve"),  # its phase is green: hold it as early as the worst case needs
        (22.0, 5.0, 0, "hold"),  # a switch for it takes 5 s: not yet, but no switch elsewhere either
        (9.0, 5.0, 0, "serve"),  # 5 s of clearance + 4 s margin: now
        (20.0, 5.0, 6, "serve"),  # six queued in front: 5 + 2 + 12 + 4 = 23 s ahead
        (40.0, 18.0, 10, "serve"),  # long queue, signal mid-transition elsewhere
        (40.0, 5.0, 0, "wait"),
    ],
)
def test_preemption_action(eta: float, to_green: float, queued: int, expected: str) -> None:
    assert worst_transition_s(UNIT_TIMING) == 18.0
    assert preemption_action(eta, to_green, queued, UNIT_TIMING, PriorityConfig()) == expected


@pytest.mark.parametrize(
    ("call", "passed"),
    [
        (None, True),  # left the signal's list: over the stop line (or arrived)
        (Call("ev", "J", 3, 40.0, 3.0), False),  # still approaching
        (Call("ev", "J", 3, 52.0, 4.0), False),  # a few metres of jitter
        (Call("ev", "J", 7, 300.0, 20.0), True),  # next crossing of the same cluster, another link
        (Call("ev", "J", 3, 400.0, 30.0), True),  # same link again, far away: a second crossing
    ],
)
def test_preemption_ends_once_the_vehicle_is_past(call: Call | None, passed: bool) -> None:
    held = Preemption("ev", link_index=3, phase=0, since_s=0.0, distance_m=50.0)
    assert held.passed(call) is passed


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({}, None),
        ({"margin_s": -1.0}, "margin_s"),
        ({"discharge_headway_s": 0.0}, "discharge_headway_s"),
        ({"max_hold_s": 5.0}, "max_hold_s"),
        ({"vehicle_class": ""}, "vehicle_class"),
        ({"lead": 3.0}, "lead"),
    ],
)
def test_config_bounds(fields: dict[str, object], error: str | None) -> None:
    if error is None:
        PriorityConfig.model_validate(fields)
        return
    with pytest.raises(ValidationError, match=error):
        PriorityConfig.model_validate(fields)


# --- integration: a corridor of five signals in real SUMO ----------------------------------------------

CORRIDOR = ("left1A1", "A1B1", "B1C1", "C1D1", "D1E1", "E1right1")
TIMING = {"min_green_s": 8.0, "yellow_s": 3.0, "all_red_s": 2.0, "max_red_s": 120.0}
END_S = 800.0
AMBULANCES = {"ev0": 100.0, "ev1": 260.0, "ev2": 430.0}


def _sumo_home() -> Path:
    return Path(require_sumo().SUMO_HOME)


@pytest.fixture(scope="module")
def corridor(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A 5×3 signalised grid, random background trips, and ambulances along its middle row."""
    home = _sumo_home()
    env = {**os.environ, "SUMO_HOME": str(home)}
    tmp = tmp_path_factory.mktemp("corridor")
    net, trips, routes = tmp / "grid.net.xml", tmp / "bg.trips.xml", tmp / "bg.rou.xml"
    subprocess.run(
        [str(home / "bin" / "netgenerate"), "--grid", "--grid.x-number", "5", "--grid.y-number", "3",
         "--grid.length", "200", "--grid.attach-length", "200", "--default-junction-type", "traffic_light",
         "--default.lanenumber", "1", "--no-turnarounds", "true", "--seed", "1", "-o", str(net)],
        check=True, capture_output=True, env=env,
    )  # fmt: skip
    subprocess.run(
        [sys.executable, str(home / "tools" / "randomTrips.py"), "-n", str(net), "-o", str(trips),
         "-r", str(routes), "-e", str(END_S - 100), "-p", "2.5", "--seed", "7", "--fringe-factor", "10",
         "--min-distance", "600", "--validate"],
        check=True, capture_output=True, env=env,
    )  # fmt: skip
    ambulances = tmp / "ambulances.rou.xml"
    vehicles = "\n".join(
        f'  <vehicle id="{vid}" type="ambulance" depart="{t}" departSpeed="max">'
        f'<route edges="{" ".join(CORRIDOR)}"/></vehicle>'
        for vid, t in AMBULANCES.items()
    )
    ambulances.write_text(
        '<routes>\n  <vType id="ambulance" vClass="emergency" speedFactor="1" speedDev="0"/>\n'
        f"{vehicles}\n</routes>\n"
    )
    return net, routes, ambulances


@dataclass
class Trace:
    """What one run showed: every signal's state each second, and how the ambulances fared."""

    states: dict[str, list[str]] = field(default_factory=dict)
    arrivals: dict[str, float] = field(default_factory=dict)
    stops_at_red: dict[str, int] = field(default_factory=dict)
    preempted: dict[str, list[bool]] = field(default_factory=dict)
    plan_followed: list[bool] = field(default_factory=list)
    events: list[tuple[float, str, str, str]] = field(default_factory=list)


def _run(corridor: tuple[Path, Path, Path], *, priority: bool) -> Trace:
    from citytally.signals.intersection import SignalTiming
    from citytally.signals.network import SignalNetwork
    from citytally.signals.priority import EmergencyPriority, TimingPlanController
    from citytally.signals.sim import SumoConnection

    net, routes, ambulances = corridor
    conn = SumoConnection.start(
        ["-n", str(net), "-r", f"{routes},{ambulances}", "--end", str(END_S), "--seed", "3",
         "--time-to-teleport", "-1", "--no-step-log", "--no-warnings", "--duration-log.disable"]
    )  # fmt: skip
    trace = Trace()
    try:
        api = conn.api
        timing = SignalTiming.model_validate(TIMING)
        plan = TimingPlanController(timing)
        wrapper = EmergencyPriority(plan)
        policy = wrapper if priority else plan
        network = SignalNetwork(api, timing)
        for tls in network.intersections:
            trace.states[tls], trace.preempted[tls] = [], []
        while conn.time < END_S:
            readings = network.sensors.read()
            policy.decide(network, readings)
            _check_recovery(network, plan, readings.time, wrapper if priority else None, trace)
            for intersection in network:
                intersection.update(readings)
            conn.step()
            _observe(api, trace, wrapper if priority else None)
        trace.events = list(wrapper.events)
    finally:
        conn.close()
    return trace


def _check_recovery(network: object, plan: object, now: float, wrapper: object, trace: Trace) -> None:
    """Every signal not held for an ambulance carries exactly the normal controller's request."""
    from citytally.signals.network import SignalNetwork
    from citytally.signals.priority import EmergencyPriority, TimingPlanController

    assert isinstance(network, SignalNetwork) and isinstance(plan, TimingPlanController)
    held = wrapper.active if isinstance(wrapper, EmergencyPriority) else {}
    for intersection in network:
        if intersection.id not in held:
            expected = plan.planned_phase(intersection.id, now)
            trace.plan_followed.append(intersection.requested_phase == expected)


def _observe(api: object, trace: Trace, wrapper: object) -> None:
    from typing import Any

    sumo: Any = api
    now = float(sumo.simulation.getTime())
    held = getattr(wrapper, "active", {}) if wrapper is not None else {}
    for tls, states in trace.states.items():
        states.append(str(sumo.trafficlight.getRedYellowGreenState(tls)))
        trace.preempted[tls].append(tls in held)
    for vid in sumo.simulation.getArrivedIDList():
        if vid in AMBULANCES:
            trace.arrivals[vid] = now
    for vid in AMBULANCES:
        if vid in sumo.vehicle.getIDList() and float(sumo.vehicle.getSpeed(vid)) < 0.1:
            upcoming = sumo.vehicle.getNextTLS(vid)
            if upcoming and upcoming[0][2] < 30.0 and upcoming[0][3] in "rRyY":
                trace.stops_at_red[vid] = trace.stops_at_red.get(vid, 0) + 1


@pytest.fixture(scope="module")
def runs(corridor: tuple[Path, Path, Path]) -> Iterator[tuple[Trace, Trace]]:
    yield _run(corridor, priority=False), _run(corridor, priority=True)


@pytest.mark.integration
@pytest.mark.sumo
def test_ambulance_gets_its_green_wave(runs: tuple[Trace, Trace]) -> None:
    without, with_priority = runs
    # Without priority the ambulances wait at red on this corridor; with it they never do.
    assert sum(without.stops_at_red.values()) >= 2, without.stops_at_red
    assert with_priority.stops_at_red == {}, with_priority.events
    assert set(with_priority.arrivals) == set(AMBULANCES)
    for vid, depart in AMBULANCES.items():
        took = with_priority.arrivals[vid] - depart
        assert took < without.arrivals[vid] - depart, vid
        # Five signals and 1.2 km at 13.9 m/s: about 90 s if every light is green.
        assert took < 110.0, (vid, took)


def _safety_violations(states: list[str], timing: dict[str, float]) -> list[str]:
    """Amber after every green, all-red before any new green, minimum green: checked on SUMO's states."""
    problems: list[str] = []
    links = len(states[0])
    green_since: list[int | None] = [None] * links
    amber_since: list[int] = [0] * links
    last_amber = -1_000
    for t in range(1, len(states)):
        prev, now = states[t - 1], states[t]
        for i in range(links):
            was, is_ = prev[i], now[i]
            if was in "Gg" and is_ not in "Gg":
                if is_ != "y":
                    problems.append(f"t={t} link {i}: {was}->{is_} without amber")
                since = green_since[i]
                if since is not None and t - since < timing["min_green_s"]:
                    problems.append(f"t={t} link {i}: green for {t - since} s only")
            if was == "y" and is_ != "y":
                if t - amber_since[i] < timing["yellow_s"]:
                    problems.append(f"t={t} link {i}: amber for {t - amber_since[i]} s only")
                if is_ in "Gg":
                    problems.append(f"t={t} link {i}: amber straight back to green")
            if is_ == "y" and was != "y":
                amber_since[i] = t
            if is_ in "Gg" and was not in "Gg":
                green_since[i] = t
                if t - last_amber <= timing["all_red_s"]:
                    problems.append(f"t={t} link {i}: green {t - last_amber - 1} s after amber (all-red cut)")
        if "y" in now:
            last_amber = t
    return problems


@pytest.mark.parametrize(
    ("states", "problem"),
    [
        (["Gr"] * 10 + ["yr"] * 3 + ["rr"] * 2 + ["rG"] * 10, None),
        (["Gr"] * 10 + ["rG"] * 10, "without amber"),
        (["Gr"] * 10 + ["yr"] * 2 + ["rr"] * 2 + ["rG"] * 10, "amber for 2 s"),
        (["Gr"] * 10 + ["yr"] * 3 + ["rr"] * 1 + ["rG"] * 10, "all-red cut"),
        (["rr"] + ["Gr"] * 4 + ["yr"] * 3 + ["rr"] * 2 + ["rG"] * 10, "green for 4 s"),
    ],
)
def test_the_safety_check_itself_catches_violations(states: list[str], problem: str | None) -> None:
    found = _safety_violations(states, TIMING)
    if problem is None:
        assert found == []
    else:
        assert any(problem in p for p in found), found


@pytest.mark.integration
@pytest.mark.sumo
def test_preemption_keeps_amber_all_red_and_min_green(runs: tuple[Trace, Trace]) -> None:
    _, with_priority = runs
    assert sum(1 for e in with_priority.events if e[3] == "preempt") >= 6
    switched_for_ambulance = 0
    for tls, states in with_priority.states.items():
        assert _safety_violations(states, TIMING) == [], tls
        held = with_priority.preempted[tls]
        switched_for_ambulance += sum(1 for s, h in zip(states, held, strict=True) if h and "y" in s)
    # Not vacuous: pre-emption did cut into the plan, through amber.
    assert switched_for_ambulance > 0


@pytest.mark.integration
@pytest.mark.sumo
def test_signals_recover_normal_control_after_the_ambulance(runs: tuple[Trace, Trace]) -> None:
    without, with_priority = runs
    # Every signal not held carried the normal controller's own request, also right after each release.
    assert with_priority.plan_followed and all(with_priority.plan_followed)
    assert all(not held[-1] for held in with_priority.preempted.values())
    releases = [e for e in with_priority.events if e[3] == "release"]
    assert len(releases) == sum(1 for e in with_priority.events if e[3] == "preempt")
    # Two cycles after the last release, every light shows what it shows without any ambulance.
    settle = int(max(e[0] for e in releases)) + 2 * 94
    assert settle < END_S - 30
    for tls, states in with_priority.states.items():
        assert states[settle:] == without.states[tls][settle:], tls


def _emergency_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from citytally.cli import main; main()", "signals", "emergency", *args],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _sumocfg(corridor: tuple[Path, Path, Path]) -> Path:
    net, routes, _ = corridor
    cfg = net.parent / "corridor.sumocfg"
    cfg.write_text(
        f'<configuration><input><net-file value="{net.name}"/><route-files value="{routes.name}"/></input>'
        f'<time><begin value="0"/><end value="{END_S:g}"/></time></configuration>\n'
    )
    return cfg


@pytest.mark.integration
@pytest.mark.sumo
def test_emergency_command_compares_free_flow_normal_and_priority(corridor: tuple[Path, Path, Path]) -> None:
    cfg = _sumocfg(corridor)
    done = _emergency_cli(str(cfg), "--route", " ".join(CORRIDOR), "--depart", "100", "--controller", "fixed")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == ["free", "normal", "priority"]
    assert "0 stops" in lines[2]
    ratio = float(lines[-1].split(": ")[1].split(" ")[0])
    assert 0.95 < ratio < 1.2, lines


@pytest.mark.integration
@pytest.mark.sumo
def test_emergency_command_rejects_a_departure_outside_the_episode(corridor: tuple[Path, Path, Path]) -> None:
    cfg = _sumocfg(corridor)
    done = _emergency_cli(str(cfg), "--route", " ".join(CORRIDOR), "--depart", "5000")
    assert done.returncode == 2
    assert done.stderr.strip() == f"citytally: error: --depart 5000 is outside the episode 0-{END_S:g} s"


@pytest.mark.integration
@pytest.mark.sumo
def test_an_ambulance_the_episode_ends_before_it_arrives_is_not_reported_as_arrived(
    corridor: tuple[Path, Path, Path],
) -> None:
    """An ambulance still on its way when the episode ended was reported with the time it had driven so far
    as its travel time (and a departure in the last second as "nan s"), and the comparison as 1.00."""
    cfg = _sumocfg(corridor)
    for depart in (END_S - 5, END_S - 1):
        done = _emergency_cli(str(cfg), "--route", " ".join(CORRIDOR), "--depart", f"{depart:g}")
        assert done.returncode == 2, done.stdout
        assert done.stderr.strip() == (
            f"citytally: error: the ambulance does not reach the end of its route before the episode ends at "
            f"{END_S:g} s, even in free flow: give an earlier --depart"
        )
        assert "nan" not in done.stdout
