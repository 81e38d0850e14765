"""Signal controllers. Each only reads lane sensors and requests phases; intersections keep them safe.

- ``fixed``: the network's own programme, run by SUMO itself (no requests at all).
- ``max-pressure``: RESCO's baseline: every 10 s the phase with the largest pressure.
- ``greedy``: RESCO's other baseline: every 10 s the phase with the most queued plus approaching vehicles.
- ``citytally``: our adaptive controller (see :class:`AdaptiveController`), deciding every second.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from citytally.errors import SignalError
from citytally.signals.intersection import GreenPhase, Intersection, SignalTiming, is_green
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
RESCO_TIMING = SignalTiming(
    min_green_s=5.0, yellow_s=3.0, all_red_s=0.0, max_box_clearance_s=0.0, max_red_s=120.0
)
RESCO_DECISION_S = 10.0


def phase_pressure(phase: GreenPhase, readings: LaneReadings) -> int:
    """Σ over the phase's movements of (queue on the incoming lane − queue on the outgoing lane)."""
    return sum(readings[src].halting - readings[dst].halting for src, dst in phase.movements)


class _EveryTenSeconds:
    """Shared cadence of the RESCO baselines: decide at the episode start and every 10 s after.

    They run under RESCO's timings unless given others (to compare them with citytally under its own).
    """

    def __init__(self, timing: SignalTiming = RESCO_TIMING) -> None:
        self.timing = timing
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
    saturation_flow_vps: float = Field(
        default=0.5,
        gt=0.0,
        le=2.0,
        description="Vehicles per second a fully served lane discharges at (1800 veh/h, the usual value).",
    )
    startup_lost_s: float = Field(
        default=2.0, ge=0.0, le=10.0, description="Green time lost while a standing queue starts to move."
    )
    approach_weight: float = Field(
        default=0.5,
        ge=0.0,
        le=2.0,
        description="Weight of a moving vehicle in a red phase's demand, relative to a halted one.",
    )
    flow_window_s: float = Field(
        default=3.0, ge=1.0, le=30.0, description="Window over which the green's stop-line flow is measured."
    )
    max_green_s: float = Field(
        default=90.0, ge=5.0, le=300.0, description="Green after which waiting demand elsewhere wins."
    )


class AdaptiveController:
    """citytally's controller: keep a green while it moves vehicles faster than a switch would.

    Decides every second, per intersection, from detector counts only (approach zones of ~100 m and
    stop-line counters; see :mod:`citytally.signals.sensors`); nothing is trained.

    - **What the green is worth now:** once its queue has had time to start, the vehicles that crossed
      the stop line on its lanes per second over the last ``flow_window_s`` (the measured discharge, so a
      lane whose head is blocked or yielding counts for nothing), or the rate at which the vehicles moving
      in its approach zones will reach the stop line, whichever is larger: a platoon still arriving keeps
      the green, a gap ends it (as actuated control's gap-out does). In its first seconds: the saturation
      flow of its queued lanes plus those arrivals. A lane the green only lets through gaps (permissive
      ``g`` links, such as left turns across oncoming traffic) adds no arrivals while a queue stands on
      it: its moving vehicles are creeping up behind a head that waits, and would hold the green for as
      long as the queue lasts while almost nobody crosses.
    - **What another phase is worth:** the vehicles it would serve, ``n`` (halted ones, plus
      ``approach_weight`` per moving one, each lane weighted by the share of its links the phase opens and
      by the room left on its exit lanes, plus each person waiting at a crossing it opens), per second of
      the time it takes to serve them:
      ``n / (lost + n / s)``, where ``lost`` is the amber and all-red this particular switch needs plus the
      start-up loss, and ``s`` the phase's saturation flow. That is Smith's rule for ordering jobs to
      minimise total waiting: a phase with no demand is worth nothing and is skipped, a switch that needs no
      all-red costs less, and a phase serving many lanes beats one serving a few.
    - The green ends when another phase is worth more than it, or after ``max_green_s`` if anyone waits.
    """

    name = "citytally"

    def __init__(self, config: AdaptiveConfig | None = None) -> None:
        self.config = config or AdaptiveConfig()
        self.timing = self.config.timing
        self._phase_lanes: dict[tuple[str, int], list[_PhaseLane]] = {}
        self._zone_s: dict[str, float] = {}
        self._crossed: dict[str, list[int]] = {}

    def decide(self, network: SignalNetwork, readings: LaneReadings) -> None:
        window = max(1, round(self.config.flow_window_s))
        for intersection in network:
            current = intersection.phases[intersection.current_phase]
            recent = self._crossed.setdefault(intersection.id, [])
            recent.append(sum(readings.approach(lane).passed for lane in current.in_lanes))
            del recent[:-window]
            if intersection.can_switch():
                approach = {lane: readings.approach(lane) for lane in intersection.in_lanes}
                room = {dst: network.room(readings, dst) for dst in intersection.out_lanes}
                waiting = {link: readings.waiting_to_cross(intersection.links[link][1])
                           for link in intersection.crossings}  # fmt: skip
                intersection.request(self._choose(network, intersection, approach, room, waiting))

    def _lanes(self, intersection: Intersection, phase: GreenPhase) -> list[_PhaseLane]:
        """The incoming lanes ``phase`` serves and how (see :class:`_PhaseLane`), cached."""
        key = (intersection.id, phase.index)
        if key not in self._phase_lanes:
            shares = intersection.lane_shares(phase.index)
            signals = [(src, phase.state[i]) for i, (src, _) in enumerate(intersection.links) if src]
            self._phase_lanes[key] = [
                _PhaseLane(
                    lane=lane,
                    share=share,
                    outs=tuple(dst for src, dst in phase.movements if src == lane),
                    yields=all(s != "G" for src, s in signals if src == lane),
                )
                for lane, share in shares.items()
            ]
        return self._phase_lanes[key]

    def _zone_time_s(self, network: SignalNetwork, lane: str) -> float:
        """Seconds a vehicle at the speed limit takes to cross ``lane``'s approach zone."""
        if lane not in self._zone_s:
            speed = max(float(network.api.lane.getMaxSpeed(lane)), 1.0)
            self._zone_s[lane] = max(network.approach_m / speed, 1.0)
        return self._zone_s[lane]

    def _served(
        self,
        network: SignalNetwork,
        intersection: Intersection,
        phase: GreenPhase,
        approach: dict[str, LaneReading],
        room: dict[str, float],
        waiting: dict[int, int] | None = None,
    ) -> _Demand:
        demand = _Demand()
        # A person at a crossing's kerb is demand as a halted vehicle is (its walking area's capacity is
        # counted with the lanes below); nobody else asks for a phase that only opens crossings.
        for link, persons in (waiting or {}).items():
            if is_green(phase.state[link]):
                demand.halted += persons
        for served in self._lanes(intersection, phase):
            outs = served.outs
            free = sum(room[dst] for dst in outs) / len(outs) if outs else 1.0
            reading = approach[served.lane]
            weight = served.share * free
            demand.halted += weight * reading.halting
            demand.moving += weight * reading.moving
            # Behind a head that waits for a gap in oncoming traffic, moving vehicles are creeping up to
            # the queue, not arriving at the stop line: only the measured discharge tells what it moves.
            if not (served.yields and reading.halting):
                demand.arrivals_vps += weight * reading.moving / self._zone_time_s(network, served.lane)
            demand.capacity_vps += served.share * self.config.saturation_flow_vps
            if reading.halting:
                demand.queued_vps += weight * self.config.saturation_flow_vps
        return demand

    def _green_worth_vps(
        self,
        network: SignalNetwork,
        intersection: Intersection,
        approach: dict[str, LaneReading],
        room: dict[str, float],
    ) -> float:
        cfg = self.config
        current = intersection.phases[intersection.current_phase]
        demand = self._served(network, intersection, current, approach, room)
        if intersection.green_elapsed_s < cfg.startup_lost_s + cfg.flow_window_s:
            return demand.queued_vps + demand.arrivals_vps
        recent = self._crossed.get(intersection.id, [])
        measured = sum(recent) / len(recent) if recent else 0.0
        return max(measured, demand.arrivals_vps)

    def _choose(
        self,
        network: SignalNetwork,
        intersection: Intersection,
        approach: dict[str, LaneReading],
        room: dict[str, float],
        waiting: dict[int, int],
    ) -> int:
        cfg = self.config
        current = intersection.current_phase
        best, best_worth = current, 0.0
        for phase in intersection.phases:
            if phase.index == current:
                continue
            demand = self._served(network, intersection, phase, approach, room, waiting)
            n = demand.halted + cfg.approach_weight * demand.moving
            if n <= 0 or demand.capacity_vps <= 0:
                continue
            lost = intersection.transition_s(phase.index) + cfg.startup_lost_s
            worth = n / (lost + n / demand.capacity_vps)
            if worth > best_worth:
                best, best_worth = phase.index, worth
        if best == current:
            return current
        if intersection.green_elapsed_s >= cfg.max_green_s:
            return best
        if best_worth > self._green_worth_vps(network, intersection, approach, room):
            return best
        return current


@dataclass(frozen=True, slots=True)
class _PhaseLane:
    """One incoming lane a phase serves."""

    lane: str
    share: float
    """Share of the lane's links that are green in the phase."""
    outs: tuple[str, ...]
    """Outgoing lanes its green links lead into."""
    yields: bool
    """Every green link of the lane is permissive (``g``): its head goes only through gaps in a conflicting
    stream that has right of way (a left turn across oncoming traffic, say)."""


@dataclass(slots=True)
class _Demand:
    """What one phase would serve: weighted halted and moving vehicles, and flows in vehicles/second."""

    halted: float = 0.0
    moving: float = 0.0
    arrivals_vps: float = 0.0
    """Rate at which the moving vehicles in its approach zones reach the stop line."""
    queued_vps: float = 0.0
    """Saturation flow of its lanes with a standing queue."""
    capacity_vps: float = 0.0
    """Saturation flow of all its lanes."""


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
