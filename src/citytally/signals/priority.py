"""Emergency-vehicle priority (signal pre-emption) that wraps any controller.

An emergency vehicle on call announces itself, as Opticom or V2I transponders do: its position, its route
(hence its next signals and the link it will use at each) and its speed. Nothing else about other road
users is read; the only other input is each signal's own state and its stop-line queue detector.

For every signal on the vehicle's route, pre-emption starts when the vehicle's earliest arrival is within
the time the signal needs to serve it: the safe transition (remaining minimum green, amber, all-red), the
time to discharge the queue standing in front of it, and a margin. The pre-empted signal is then asked for
the phase that serves the vehicle's next link, through the same safe signal object every controller uses,
so amber and all-red are never skipped. A green that already serves it is held as early as the worst case
needs; close to arrival no switch to a third phase may start. After the vehicle passes the stop line (or
when its approach has stalled under green, or after ``max_hold_s``) the controller's own request is put
back. Measurement episodes (free flow, the controller alone, the controller with priority) are in
:mod:`citytally.signals.emergency`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from citytally.signals.intersection import Intersection, SignalTiming, needs_clearance
from citytally.signals.network import Controller, SignalNetwork
from citytally.signals.sensors import LaneReadings

__all__ = [
    "Call",
    "EmergencyPriority",
    "Preemption",
    "PriorityConfig",
    "TimingPlanController",
    "lead_time_s",
    "preemption_action",
    "seconds_to_green",
    "serving_phase",
    "worst_transition_s",
]

_log = logging.getLogger(__name__)


class PriorityConfig(BaseModel):
    """How early to pre-empt and how long a pre-emption may hold a signal."""

    model_config = ConfigDict(extra="forbid")

    vehicle_class: str = Field(
        default="emergency",
        min_length=1,
        description="SUMO vClass of vehicles that announce themselves as on call.",
    )
    margin_s: float = Field(
        default=4.0,
        ge=0.0,
        le=60.0,
        description="Extra lead time on top of transition and queue clearance (s).",
    )
    startup_lost_s: float = Field(
        default=2.0,
        ge=0.0,
        le=10.0,
        description="Start-up lost time of a standing queue when it gets green (s).",
    )
    discharge_headway_s: float = Field(
        default=2.0,
        ge=0.5,
        le=10.0,
        description="Saturation headway: time per queued vehicle to cross the line (s).",
    )
    max_hold_s: float = Field(
        default=120.0,
        ge=10.0,
        le=600.0,
        description="Longest one vehicle may hold one signal before it is let go (s).",
    )
    stall_s: float = Field(
        default=30.0,
        ge=5.0,
        le=300.0,
        description="Let a held green go when the vehicle has not got closer for this long (s).",
    )
    min_speed_mps: float = Field(
        default=3.0,
        gt=0.0,
        le=20.0,
        description="Floor on the speed used for the arrival estimate (m/s).",
    )


@dataclass(frozen=True)
class Call:
    """One emergency vehicle approaching one signal, as the vehicle announces it."""

    vehicle_id: str
    tls_id: str
    link_index: int
    distance_m: float
    eta_s: float


@dataclass
class Preemption:
    """A signal held for one vehicle's crossing: the link it uses, the phase serving it, since when."""

    vehicle_id: str
    link_index: int
    phase: int
    since_s: float
    distance_m: float
    progress_s: float = 0.0
    """When the vehicle last got closer (a stalled approach is let go, see ``stall_s``)."""

    def passed(self, call: Call | None) -> bool:
        """Whether the vehicle's crossing is behind it, given its current call to this signal (if any).

        A route may cross one signal (a cluster of junctions) several times; the next call then names
        another link, or the same link from much further away.
        """
        if call is None or call.link_index != self.link_index:
            return True
        return call.distance_m > self.distance_m + 5.0


def serving_phase(
    green_states: Sequence[str], link_index: int, lane_links: Iterable[int], current: int | None
) -> int | None:
    """The green phase that serves ``link_index``, or ``None`` if no phase does.

    The phase that also opens most of the other links from the vehicle's approach lane wins, so whoever
    queues in front of it can leave whichever way they turn (a protected turn arrow alone would leave it
    stuck behind straight-ahead traffic); then a protected green (``G``) beats a permissive one (``g``);
    then the phase that is already green (no transition at all).
    """
    others = [i for i in lane_links if i != link_index]
    best: tuple[int, int, int] | None = None
    best_phase: int | None = None
    for phase, state in enumerate(green_states):
        if link_index >= len(state) or state[link_index] not in "Gg":
            continue
        score = (
            sum(1 for i in others if i < len(state) and state[i] in "Gg"),
            int(state[link_index] == "G"),
            int(phase == current),
        )
        if best is None or score > best:
            best, best_phase = score, phase
    return best_phase


def lead_time_s(transition_s: float, queued: int, config: PriorityConfig) -> float:
    """How long before the vehicle's arrival a signal must be asked to turn green for it."""
    clearance = config.startup_lost_s + queued * config.discharge_headway_s if queued else 0.0
    return transition_s + clearance + config.margin_s


def worst_transition_s(timing: SignalTiming) -> float:
    """Longest wait for a phase once the controller heads elsewhere: clearance, minimum green, clearance."""
    clearance = timing.yellow_s + timing.all_red_s
    return clearance + timing.min_green_s + clearance


def preemption_action(
    eta_s: float, to_green_s: float, queued: int, timing: SignalTiming, config: PriorityConfig
) -> Literal["wait", "hold", "serve"]:
    """What a signal does for an approaching emergency vehicle this step.

    ``serve``: request the vehicle's phase now; when that phase is green already this is a green hold,
    started as early as the worst case needs (the controller could otherwise end it and lock it out for
    a whole cycle of amber, all-red and minimum green). ``hold``: not yet time to switch, but no switch
    to a third phase may start. ``wait``: the vehicle is too far away to matter.
    """
    if eta_s > lead_time_s(worst_transition_s(timing), queued, config):
        return "wait"
    if to_green_s == 0.0 or eta_s <= lead_time_s(to_green_s, queued, config):
        return "serve"
    return "hold"


def seconds_to_green(intersection: Intersection, phase: int) -> float:
    """Time until ``phase`` can be green through the safe transitions (0 if it is green now).

    Remaining minimum green, then amber and all-red when a link has to stop. During a running transition
    the object does not say how far it is, so the whole clearance is assumed (requests a little early).
    """
    timing = intersection.timing
    clearance = timing.yellow_s + timing.all_red_s
    current = intersection.current_phase
    if intersection.in_transition:
        return clearance if current == phase else clearance + timing.min_green_s + clearance
    if current == phase:
        return 0.0
    remaining = max(0.0, timing.min_green_s - intersection.green_elapsed_s)
    src, dst = intersection.phases[current].state, intersection.phases[phase].state
    return remaining + (clearance if needs_clearance(src, dst) else 0.0)


class EmergencyPriority:
    """Wraps any controller: while an emergency vehicle approaches, its signals serve it, then recover.

    Every step the wrapped controller decides as usual. For each signal a pre-emption holds, its request
    is then replaced by the phase serving the vehicle; the controller's own request is kept aside and put
    back once the vehicle has passed, so normal control resumes where it would have been. The signal
    objects still enforce minimum green, amber, all-red and the red-time bound throughout.
    """

    def __init__(self, inner: Controller, config: PriorityConfig | None = None) -> None:
        self.inner = inner
        self.name = f"{inner.name}+priority"
        self.config = config or PriorityConfig()
        self._vehicles: set[str] = set()
        self._active: dict[str, Preemption] = {}
        # (vehicle, signal, link) crossings that ran out of hold time: never pre-empt for them again.
        self._expired: set[tuple[str, str, int]] = set()
        # Crossings let go because the approach stalled, with the distance the vehicle was stuck at.
        self._stalls: dict[tuple[str, str, int], float] = {}
        self._inner_requests: dict[str, int | None] = {}
        self._overridden: set[str] = set()
        self._lane_links: dict[str, dict[int, tuple[str, list[int]]]] = {}
        self.events: list[tuple[float, str, str, str]] = []
        """(time, signal, vehicle, "preempt" | "release" | "stall" | "expire"), in order."""

    @property
    def active(self) -> Mapping[str, Preemption]:
        """Signals held right now, by traffic-light id."""
        return dict(self._active)

    def decide(self, network: SignalNetwork, readings: LaneReadings) -> None:
        """Let the wrapped controller request phases, then override them on pre-empted signals."""
        for tls_id in self._overridden | set(self._active):
            kept = self._inner_requests.get(tls_id)
            if kept is not None:
                network[tls_id].request(kept)
        self._overridden = set()
        self.inner.decide(network, readings)
        self._inner_requests = {ix.id: ix.requested_phase for ix in network}
        self._track_vehicles(network.api)
        calls = self._calls(network)
        self._release(readings.time, calls, network)
        self._start(readings.time, calls, network, readings)
        for tls_id, held in self._active.items():
            network[tls_id].request(held.phase)

    def _track_vehicles(self, api: Any) -> None:
        for vid in api.simulation.getDepartedIDList():
            # The simulated stand-in for the vehicle's own announcement (transponder on, vehicle on call).
            if api.vehicle.getVehicleClass(vid) == self.config.vehicle_class:
                self._vehicles.add(vid)
        for vid in api.simulation.getArrivedIDList():
            self._vehicles.discard(vid)

    def _calls(self, network: SignalNetwork) -> dict[str, list[Call]]:
        """Each managed signal's approaching emergency vehicles, nearest arrival first."""
        vehicle = network.api.vehicle
        calls: dict[str, list[Call]] = {}
        for vid in sorted(self._vehicles):
            # Earliest possible arrival: a slowed vehicle is served early rather than late.
            speed = max(float(vehicle.getAllowedSpeed(vid)), self.config.min_speed_mps)
            seen: set[str] = set()
            for tls_id, link_index, distance, _state in vehicle.getNextTLS(vid):
                # Only the next crossing of each signal counts (a route may cross a cluster twice).
                if tls_id not in network.intersections or tls_id in seen:
                    continue
                seen.add(tls_id)
                call = Call(vid, tls_id, int(link_index), float(distance), float(distance) / speed)
                calls.setdefault(tls_id, []).append(call)
        for waiting in calls.values():
            waiting.sort(key=lambda c: c.eta_s)
        return calls

    def _release(self, now: float, calls: Mapping[str, list[Call]], network: SignalNetwork) -> None:
        for tls_id, held in list(self._active.items()):
            call = next((c for c in calls.get(tls_id, ()) if c.vehicle_id == held.vehicle_id), None)
            if held.passed(call):
                self._end(now, tls_id, network, "release")
                continue
            if call is not None:
                if call.distance_m < held.distance_m - 1.0:
                    held.progress_s, held.distance_m = now, call.distance_m
                if self._stalled(now, held, network[tls_id]):
                    # Its approach does not move although it has green (blocked downstream): holding the
                    # green only starves the other approaches. Let go until the vehicle moves again.
                    self._stalls[(held.vehicle_id, tls_id, held.link_index)] = call.distance_m
                    self._end(now, tls_id, network, "stall")
                    continue
            if now - held.since_s > self.config.max_hold_s:
                self._expired.add((held.vehicle_id, tls_id, held.link_index))
                self._end(now, tls_id, network, "expire")
                _log.warning(
                    "pre-emption of %s for %s ended after %.0f s", tls_id, held.vehicle_id, now - held.since_s
                )

    def _stalled(self, now: float, held: Preemption, intersection: Intersection) -> bool:
        serving = not intersection.in_transition and intersection.current_phase == held.phase
        return serving and now - max(held.progress_s, held.since_s) > self.config.stall_s

    def _end(self, now: float, tls_id: str, network: SignalNetwork, why: str) -> None:
        held = self._active.pop(tls_id)
        kept = self._inner_requests.get(tls_id)
        if kept is not None:
            network[tls_id].request(kept)
        self.events.append((now, tls_id, held.vehicle_id, why))

    def _start(
        self, now: float, calls: Mapping[str, list[Call]], network: SignalNetwork, readings: LaneReadings
    ) -> None:
        for tls_id, waiting in calls.items():
            if tls_id in self._active:
                continue
            intersection = network[tls_id]
            for call in waiting:
                crossing = (call.vehicle_id, tls_id, call.link_index)
                if crossing in self._expired:
                    continue
                if crossing in self._stalls:
                    if call.distance_m > self._stalls[crossing] - 10.0:
                        continue
                    del self._stalls[crossing]
                lane, lane_links = self._links(network.api, tls_id).get(call.link_index, ("", []))
                current = None if intersection.in_transition else intersection.current_phase
                states = [p.state for p in intersection.phases]
                phase = serving_phase(states, call.link_index, lane_links, current)
                if phase is None:
                    continue
                queued = readings[lane].halting if lane else 0
                to_green = seconds_to_green(intersection, phase)
                action = preemption_action(call.eta_s, to_green, queued, intersection.timing, self.config)
                if action == "serve":
                    self._active[tls_id] = Preemption(
                        call.vehicle_id, call.link_index, phase, now, call.distance_m, now
                    )
                    self.events.append((now, tls_id, call.vehicle_id, "preempt"))
                elif (
                    action == "hold"
                    and current is not None
                    and intersection.requested_phase
                    not in (
                        current,
                        phase,
                    )
                ):
                    # Too early to switch for the vehicle, but a switch elsewhere now would lock its phase
                    # out for a whole minimum green: keep the green shown (or let the controller pick ours).
                    intersection.request(current)
                    self._overridden.add(tls_id)
                # The nearest vehicle decides; a later one waits until this one has passed.
                break

    def _links(self, api: Any, tls_id: str) -> dict[int, tuple[str, list[int]]]:
        """Link index -> (incoming lane, every link from that lane), from the signal's own wiring."""
        if tls_id not in self._lane_links:
            by_lane: dict[str, list[int]] = {}
            incoming: dict[int, str] = {}
            for index, links in enumerate(api.trafficlight.getControlledLinks(tls_id)):
                if links:
                    incoming[index] = str(links[0][0])
                    by_lane.setdefault(incoming[index], []).append(index)
            self._lane_links[tls_id] = {i: (lane, by_lane[lane]) for i, lane in incoming.items()}
        return self._lane_links[tls_id]


class TimingPlanController:
    """The network's own fixed-time plan, requested through the safe signal objects so it can be pre-empted.

    Each green phase gets its programme duration plus the amber and all-red that follow it; the phase to
    request is read off that cycle by the clock, so after a pre-emption the plan picks up its cycle again.
    (``fixed`` in :mod:`citytally.signals.controllers` lets SUMO run the programme itself, which cannot be
    pre-empted safely.)
    """

    name = "fixed-plan"

    def __init__(self, timing: SignalTiming | None = None) -> None:
        self.timing = timing or SignalTiming.model_validate({})
        self._plans: dict[str, list[tuple[float, int]]] = {}

    def decide(self, network: SignalNetwork, readings: LaneReadings) -> None:
        for intersection in network:
            if intersection.id not in self._plans:
                self._plans[intersection.id] = self._plan(network.api, intersection)
            intersection.request(self.planned_phase(intersection.id, readings.time))

    def planned_phase(self, tls_id: str, now: float) -> int:
        """The green phase the plan has at ``now`` (after the first :meth:`decide`)."""
        plan = self._plans[tls_id]
        at = now % plan[-1][0]
        return next(phase for end, phase in plan if at < end)

    def _plan(self, api: Any, intersection: Intersection) -> list[tuple[float, int]]:
        """(end of slot within the cycle, green phase) for each green phase in programme order."""
        durations: dict[str, float] = {}
        for logic in api.trafficlight.getAllProgramLogics(intersection.id):
            if logic.programID != "online":
                for phase in logic.phases:
                    durations.setdefault(str(phase.state), float(phase.duration))
                break
        clearance = self.timing.yellow_s + self.timing.all_red_s
        plan: list[tuple[float, int]] = []
        end = 0.0
        for phase in intersection.phases:
            green = max(durations.get(phase.state, 30.0), self.timing.min_green_s)
            end += green + clearance
            plan.append((end, phase.index))
        return plan
