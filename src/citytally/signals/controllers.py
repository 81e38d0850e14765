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
        # The same detectors as every controller: short incoming lanes read with their upstream stretch.
        lanes = dict(readings.lanes)
        for intersection in network:
            for lane in intersection.in_lanes:
                lanes[lane] = network.approach(readings, lane)
        detected = LaneReadings(time=readings.time, lanes=lanes)
        for intersection in network:
            intersection.request(self.choose(intersection, detected))

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
        default=0.5, ge=0.0, le=2.0, description="Weight of a moving vehicle relative to a halted one."
    )
    hold_weight: float = Field(
        default=1.0,
        ge=0.0,
        le=100.0,
        description="Weight of the green's own halted queue when deciding to keep it (discharge value).",
    )
    switch_cost: float = Field(
        default=2.0, ge=0.0, le=50.0, description="Score lead another phase needs to end the current green."
    )
    max_green_s: float = Field(
        default=60.0, ge=5.0, le=300.0, description="Green after which waiting demand elsewhere wins."
    )
    wait_weight: float = Field(
        default=0.02, ge=0.0, le=1.0, description="Score added per halted vehicle per second of red wait."
    )


class AdaptiveController:
    """citytally's controller: queue service with a switching cost, deciding every second from lane counts.

    Per intersection and step, once the minimum green is served, every other phase gets a score: the
    halted vehicles it would serve (aged by their longest red wait) plus ``approach_weight`` per moving one,
    counted on each incoming lane in proportion to the share of the lane's links the phase turns green and to
    the room left on the exit lanes (no green into a jam). The current green is kept while that best score
    does not beat what the green still serves (``hold_weight`` per halted vehicle on its fully served lanes,
    ``approach_weight`` per moving one) by ``switch_cost`` (the lost time of amber and all-red), and ended
    after ``max_green_s`` if anyone waits. Lanes are read as ~100 m detectors would (short lanes extended
    upstream). Only counts are used, no vehicle identities or routes, and nothing is trained.
    """

    name = "citytally"

    def __init__(self, config: AdaptiveConfig | None = None) -> None:
        self.config = config or AdaptiveConfig()
        self.timing = self.config.timing
        self._phase_lanes: dict[tuple[str, int], list[tuple[str, float, tuple[str, ...]]]] = {}

    def decide(self, network: SignalNetwork, readings: LaneReadings) -> None:
        for intersection in network:
            if intersection.can_switch():
                approach = {lane: network.approach(readings, lane) for lane in intersection.in_lanes}
                room = {dst: network.room(readings, dst) for dst in intersection.out_lanes}
                intersection.request(self._choose(intersection, approach, room))

    def _lanes(
        self, intersection: Intersection, phase: GreenPhase
    ) -> list[tuple[str, float, tuple[str, ...]]]:
        """(incoming lane, share of its links green, outgoing lanes it feeds) for ``phase``, cached."""
        key = (intersection.id, phase.index)
        if key not in self._phase_lanes:
            shares = intersection.lane_shares(phase.index)
            self._phase_lanes[key] = [
                (lane, share, tuple(dst for src, dst in phase.movements if src == lane))
                for lane, share in shares.items()
            ]
        return self._phase_lanes[key]

    def _served(
        self,
        intersection: Intersection,
        phase: GreenPhase,
        approach: dict[str, LaneReading],
        room: dict[str, float],
    ) -> tuple[float, float, float]:
        """Halted and moving vehicles the phase can move (scaled by room downstream), and the halted
        vehicles on the lanes it serves fully."""
        halted = moving = full_queue = 0.0
        for lane, share, outs in self._lanes(intersection, phase):
            free = sum(room[dst] for dst in outs) / len(outs) if outs else 1.0
            reading = approach[lane]
            halted += share * free * reading.halting
            moving += share * free * reading.moving
            if share >= 1.0:
                full_queue += free * reading.halting
        return halted, moving, full_queue

    def _choose(
        self, intersection: Intersection, approach: dict[str, LaneReading], room: dict[str, float]
    ) -> int:
        cfg = self.config
        current = intersection.phases[intersection.current_phase]
        others = [p for p in intersection.phases if p.index != current.index]
        if not others:
            return current.index
        scores = {}
        for p in others:
            halted, moving, _ = self._served(intersection, p, approach, room)
            ageing = cfg.wait_weight * halted * intersection.longest_red_wait_s(p.index)
            scores[p.index] = halted + ageing + cfg.approach_weight * moving
        best = max(others, key=lambda p: (scores[p.index], -p.index))
        if scores[best.index] <= 0:
            return current.index
        if intersection.green_elapsed_s >= cfg.max_green_s:
            return best.index
        _, approaching, queue = self._served(intersection, current, approach, room)
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
