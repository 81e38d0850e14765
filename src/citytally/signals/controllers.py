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
from citytally.signals.sensors import LaneReading, LaneReadings

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
        default=0.3, ge=0.0, le=2.0, description="Weight of a moving vehicle relative to a halted one."
    )
    downstream_weight: float = Field(
        default=0.5, ge=0.0, le=2.0, description="Weight of halted vehicles on a phase's outgoing lanes."
    )
    switch_cost: float = Field(
        default=1.0, ge=0.0, le=50.0, description="Score lead another phase needs to end a discharged green."
    )
    max_green_s: float = Field(
        default=45.0,
        ge=5.0,
        le=300.0,
        description="Green after which waiting demand elsewhere wins (max-out).",
    )
    wait_weight: float = Field(
        default=0.02, ge=0.0, le=1.0, description="Score added per halted vehicle per second of red wait."
    )
    hold_weight: float = Field(
        default=1.0,
        ge=0.0,
        le=100.0,
        description="Weight of the green's own halted queue when deciding to keep it (discharge value).",
    )


class AdaptiveController:
    """citytally's controller: actuated queue service with pressure-like choice, deciding every second.

    Per intersection and step, once the minimum green is served: the green is held while its own
    priority (``G``) lanes still have a halted queue (the queue is discharging), up to ``max_green_s`` when
    another phase waits (max-out). When the queue is gone (gap-out), it ends the green if another phase's
    score beats what still approaches on the green's lanes by ``switch_cost``. A phase's score is its halted
    vehicles, aged by their longest red wait, plus ``approach_weight`` per moving vehicle, minus
    ``downstream_weight`` per halted vehicle on its outgoing lanes (no green into a jam). Only lane counts
    are used, so ordinary detectors suffice, and nothing is trained.
    """

    name = "citytally"

    def __init__(self, config: AdaptiveConfig | None = None) -> None:
        self.config = config or AdaptiveConfig()
        self.timing = self.config.timing
        self._lane_shares: dict[tuple[str, int], dict[str, float]] = {}

    def decide(self, network: SignalNetwork, readings: LaneReadings) -> None:
        for intersection in network:
            if intersection.can_switch():
                approach = {lane: network.approach(readings, lane) for lane in intersection.in_lanes}
                intersection.request(self._choose(intersection, approach, readings))

    def _score(
        self,
        intersection: Intersection,
        phase: GreenPhase,
        approach: dict[str, LaneReading],
        readings: LaneReadings,
    ) -> float:
        cfg = self.config
        shares = self._shares(intersection, phase.index)
        halted = sum(share * approach[lane].halting for lane, share in shares.items())
        moving = sum(share * approach[lane].moving for lane, share in shares.items())
        outgoing = sum(readings[dst].halting for dst in {dst for _, dst in phase.movements})
        ageing = cfg.wait_weight * halted * intersection.longest_red_wait_s(phase.index)
        return halted + ageing + cfg.approach_weight * moving - cfg.downstream_weight * outgoing

    def _shares(self, intersection: Intersection, phase: int) -> dict[str, float]:
        key = (intersection.id, phase)
        if key not in self._lane_shares:
            self._lane_shares[key] = intersection.lane_shares(phase)
        return self._lane_shares[key]

    def _choose(
        self, intersection: Intersection, approach: dict[str, LaneReading], readings: LaneReadings
    ) -> int:
        cfg = self.config
        current = intersection.phases[intersection.current_phase]
        others = [p for p in intersection.phases if p.index != current.index]
        if not others:
            return current.index
        scores = {p.index: self._score(intersection, p, approach, readings) for p in others}
        best = max(others, key=lambda p: (scores[p.index], -p.index))
        if scores[best.index] <= 0:
            return current.index
        if intersection.green_elapsed_s >= cfg.max_green_s:
            return best.index
        own = self._shares(intersection, current.index)
        queue = sum(readings[lane].halting for lane, share in own.items() if share >= 1.0)
        approaching = sum(share * approach[lane].moving for lane, share in own.items())
        keep = cfg.hold_weight * queue + cfg.approach_weight * approaching
        if scores[best.index] > keep + cfg.switch_cost:
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
