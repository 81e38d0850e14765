"""Signal controllers. Each only reads lane sensors and requests phases; intersections keep them safe.

- ``fixed``: the network's own programme, run by SUMO itself (no requests at all).
- ``max-pressure``: RESCO's baseline: every 10 s the phase with the largest pressure.
- ``greedy``: RESCO's other baseline: every 10 s the phase with the most queued plus approaching vehicles.
- ``citytally``: our adaptive controller (see :class:`AdaptiveController`), deciding every second.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from citytally.errors import SignalError
from citytally.signals.intersection import GreenPhase, Intersection, SignalTiming
from citytally.signals.network import Controller, SignalNetwork
from citytally.signals.sensors import LaneReadings

__all__ = [
    "CONTROLLERS",
    "AdaptiveConfig",
    "AdaptiveController",
    "GreedyController",
    "MaxPressureController",
    "RESCO_TIMING",
    "make_controller",
    "phase_pressure",
]

# RESCO's controllers act every 10 s with 3 s of amber and no all-red; the baselines keep that.
RESCO_TIMING = SignalTiming(min_green_s=5.0, yellow_s=3.0, all_red_s=0.0, max_red_s=120.0)
RESCO_DECISION_S = 10.0


def phase_pressure(phase: GreenPhase, readings: LaneReadings) -> int:
    """Σ over the phase's movements of (queue on the incoming lane − queue on the outgoing lane)."""
    return sum(readings[src].halting - readings[dst].halting for src, dst in phase.movements)


class _EveryTenSeconds:
    """Shared cadence of the RESCO baselines: decide at the episode start and every 10 s after."""

    timing = RESCO_TIMING

    def __init__(self) -> None:
        self._next_decision: float | None = None

    def decide(self, network: SignalNetwork, readings: LaneReadings) -> None:
        if self._next_decision is not None and readings.time < self._next_decision - 1e-9:
            return
        self._next_decision = readings.time + RESCO_DECISION_S
        for intersection in network:
            intersection.request(self.choose(intersection, readings))

    def choose(self, intersection: Intersection, readings: LaneReadings) -> int:
        raise NotImplementedError


class MaxPressureController(_EveryTenSeconds):
    """Every 10 s, request the phase of largest pressure (ties: the current phase, then the lowest index)."""

    name = "max-pressure"

    def choose(self, intersection: Intersection, readings: LaneReadings) -> int:
        return _argmax(intersection, lambda p: float(phase_pressure(p, readings)))


class GreedyController(_EveryTenSeconds):
    """Every 10 s, request the phase with the most vehicles queued or approaching on its incoming lanes."""

    name = "greedy"

    def choose(self, intersection: Intersection, readings: LaneReadings) -> int:
        return _argmax(intersection, lambda p: float(sum(readings[lane].vehicles for lane in p.in_lanes)))


def _argmax(intersection: Intersection, score: Callable[[GreenPhase], float]) -> int:
    current = intersection.current_phase
    best = max(intersection.phases, key=lambda p: (score(p), p.index == current, -p.index))
    return best.index


class AdaptiveConfig(BaseModel):
    """Settings of citytally's adaptive controller; the same values are used on every scenario."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timing: SignalTiming = Field(default=SignalTiming(), description="Safety timings it runs under.")
    approach_weight: float = Field(
        default=0.5,
        ge=0.0,
        le=2.0,
        description="Weight of a moving (approaching) vehicle relative to a halted one.",
    )
    downstream_weight: float = Field(
        default=0.5,
        ge=0.0,
        le=2.0,
        description="Weight of halted vehicles on a phase's outgoing lanes (spillback).",
    )
    switch_cost: float = Field(
        default=2.0,
        ge=0.0,
        le=50.0,
        description="Demand lead (vehicles) another phase needs to justify a switch.",
    )
    max_green_s: float = Field(
        default=60.0,
        ge=5.0,
        le=300.0,
        description="Green after which any waiting demand elsewhere wins (max-out).",
    )
    wait_weight: float = Field(
        default=0.02,
        ge=0.0,
        le=1.0,
        description="Demand added per halted vehicle per second of its red wait.",
    )


class AdaptiveController:
    """citytally's controller: pressure with a switching cost, gap-out and max-out, deciding every second.

    Per intersection and step, once the minimum green is served: each phase's demand is its incoming
    vehicles (halted count 1, moving count ``approach_weight``) minus ``downstream_weight`` times halted
    vehicles on its outgoing lanes, plus an ageing term for long red waits. The current phase keeps the green
    while it still discharges and no other phase beats it by ``switch_cost`` (the vehicles the lost time of
    amber and all-red would cost); it gaps out at once when its own lanes are empty and maxes out after
    ``max_green_s``. Only lane counts are used, so ordinary detectors suffice; nothing is trained.
    """

    name = "citytally"

    def __init__(self, config: AdaptiveConfig | None = None) -> None:
        self.config = config or AdaptiveConfig()
        self.timing = self.config.timing

    def decide(self, network: SignalNetwork, readings: LaneReadings) -> None:
        for intersection in network:
            if intersection.can_switch():
                intersection.request(self._choose(intersection, readings))

    def _demand(self, intersection: Intersection, phase: GreenPhase, readings: LaneReadings) -> float:
        cfg = self.config
        incoming = sum(
            readings[lane].halting + cfg.approach_weight * readings[lane].moving for lane in phase.in_lanes
        )
        outgoing = sum(readings[dst].halting for dst in {dst for _, dst in phase.movements})
        halted = sum(readings[lane].halting for lane in phase.in_lanes)
        ageing = cfg.wait_weight * halted * intersection.longest_red_wait_s(phase.index)
        return incoming - cfg.downstream_weight * outgoing + ageing

    def _choose(self, intersection: Intersection, readings: LaneReadings) -> int:
        cfg = self.config
        current = intersection.phases[intersection.current_phase]
        demand = {p.index: self._demand(intersection, p, readings) for p in intersection.phases}
        others = [p for p in intersection.phases if p.index != current.index]
        if not others:
            return current.index
        best = max(others, key=lambda p: (demand[p.index], -p.index))
        own_vehicles = sum(readings[lane].vehicles for lane in current.in_lanes)
        if demand[best.index] <= 0:
            return current.index
        if own_vehicles == 0:  # gap-out: nobody left to serve here
            return best.index
        if intersection.green_elapsed_s >= cfg.max_green_s:
            return best.index
        if demand[best.index] > demand[current.index] + cfg.switch_cost:
            return best.index
        return current.index


CONTROLLERS: dict[str, Callable[[], Controller | None]] = {
    "fixed": lambda: None,
    "max-pressure": MaxPressureController,
    "greedy": GreedyController,
    "citytally": AdaptiveController,
}


def make_controller(name: str) -> Controller | None:
    """The controller called ``name`` (``None`` for ``fixed``: SUMO runs the programme)."""
    try:
        factory = CONTROLLERS[name]
    except KeyError:
        raise SignalError(f"unknown controller {name!r}; choose one of {', '.join(CONTROLLERS)}") from None
    return factory()
