"""All signalised intersections of a simulation, their lane sensors, and the per-step control loop."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from citytally.errors import SignalError
from citytally.signals.intersection import Intersection, SignalTiming
from citytally.signals.sensors import LaneReading, LaneReadings, LaneSensors

__all__ = ["Controller", "SignalNetwork"]

log = logging.getLogger(__name__)

_VEHICLE_SPACE_M = 7.5  # a standing car and its gap: how many fit on a lane


class Controller(Protocol):
    """A signal policy: reads sensors and *requests* green phases; the intersections keep it safe."""

    name: str

    def decide(self, network: SignalNetwork, readings: LaneReadings) -> None:
        """Called once per simulation step, before the intersections update."""


class SignalNetwork:
    """Every traffic light of a simulation as an :class:`Intersection`, plus one sensor read per step."""

    def __init__(
        self,
        api: Any,
        timing: SignalTiming,
        *,
        tls_ids: Iterable[str] | None = None,
        extra_lanes: Iterable[str] = (),
        approach_m: float = 100.0,
    ) -> None:
        self.api = api
        self.timing = timing
        ids = list(tls_ids) if tls_ids is not None else list(api.trafficlight.getIDList())
        step = float(api.simulation.getDeltaT())
        self.intersections: dict[str, Intersection] = {}
        for tls in ids:
            try:
                self.intersections[tls] = Intersection(api, tls, timing, step_length=step)
            except SignalError as exc:
                if tls_ids is not None:
                    raise
                # A light this object cannot run safely (no green phase, say) keeps its own programme.
                log.warning("%s; it keeps running its own programme", exc)
        in_lanes = [lane for i in self for lane in i.in_lanes]
        self.approach_m = approach_m
        self.zones = _approach_zones(api, in_lanes, approach_m) if in_lanes else {}
        lanes = [lane for i in self for lane in (*i.in_lanes, *i.out_lanes, *i.box_lanes)]
        crossings = {i.links[link][1]: i.links[link][0] for i in self for link in i.crossings}
        self.sensors = LaneSensors(api, [*lanes, *extra_lanes], self.zones, approach_m, crossings)
        self._capacity = {
            lane: max(float(api.lane.getLength(lane)) / _VEHICLE_SPACE_M, 1.0)
            for i in self
            for lane in i.out_lanes
        }

    def __iter__(self) -> Iterator[Intersection]:
        return iter(self.intersections.values())

    def __len__(self) -> int:
        return len(self.intersections)

    def __getitem__(self, tls_id: str) -> Intersection:
        return self.intersections[tls_id]

    def approach(self, readings: LaneReadings, in_lane: str) -> LaneReading:
        """What the approach detector of ``in_lane`` reads: the last ``approach_m`` before its stop line.

        A long incoming lane is watched only over that stretch (vehicles further back are not yet
        approaching); a short one is extended upstream (through unsignalised junctions), so a queue that
        reaches back past it is still seen. Its ``passed`` is the stop-line count of the last step.
        """
        return readings.approach(in_lane)

    def room(self, readings: LaneReadings, out_lane: str) -> float:
        """Share of ``out_lane`` not taken by halted vehicles (0: a green into it moves nobody)."""
        capacity = self._capacity.get(out_lane)
        if capacity is None:
            return 1.0
        return max(0.0, 1.0 - readings[out_lane].halting / capacity)

    def control_step(self, controller: Controller | None) -> LaneReadings:
        """Read the sensors, let ``controller`` request phases, and apply them safely (before ``step``)."""
        readings = self.sensors.read()
        if controller is not None:
            controller.decide(self, readings)
        for intersection in self:
            intersection.update(readings)
        return readings


def _approach_zones(
    api: Any, in_lanes: list[str], reach_m: float
) -> dict[str, tuple[tuple[str, float], ...]]:
    """Each incoming lane and its upstream lanes within ``reach_m`` of its stop line (not signalised ones),
    each with the distance from that lane's end to the stop line."""
    signalised: set[str] = set()
    for tls in api.trafficlight.getIDList():
        signalised.update(str(lane) for lane in api.trafficlight.getControlledLanes(tls))
    feeders: dict[str, list[str]] = {}
    for lane in api.lane.getIDList():
        if str(lane).startswith(":") or lane in signalised:
            continue
        for link in api.lane.getLinks(lane):
            feeders.setdefault(str(link[0]), []).append(str(lane))
    lengths: dict[str, float] = {}

    def length(lane: str) -> float:
        if lane not in lengths:
            lengths[lane] = float(api.lane.getLength(lane))
        return lengths[lane]

    result: dict[str, tuple[tuple[str, float], ...]] = {}
    for start in dict.fromkeys(in_lanes):
        zone: dict[str, float] = {start: 0.0}
        frontier = [(start, length(start))]
        while frontier:
            lane, covered = frontier.pop()
            if covered >= reach_m:
                continue
            for feeder in feeders.get(lane, ()):
                if feeder not in zone:
                    zone[feeder] = covered
                    frontier.append((feeder, covered + length(feeder)))
        result[start] = tuple(zone.items())
    return result
