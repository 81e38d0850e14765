"""What road sensors can measure per lane: vehicles present, vehicles halted, occupancy, stop-line counts.

Three kinds of detector are emulated, each reporting counts only:

- a **lane detector** on every watched lane (vehicles on it, of those halted, occupancy), as SUMO reports;
- an **approach detector** per incoming lane: a lane-area detector (an induction-loop chain, radar or a
  camera zone) covering the last ``approach_m`` metres before the stop line, reaching onto the lanes
  upstream when the incoming lane is shorter than that: vehicles in the zone and, of those, halted ones;
- a **stop-line counter** per incoming lane: vehicles that crossed the stop line during the last step;
- a **pedestrian push-button** per signalled crossing: persons standing at its kerb, waiting to cross.

SUMO has no zone or counter that can be added while it runs, so the approach detector and the stop-line
counter are computed from the positions and speeds of the vehicles on the watched lanes, and the push-button
from the persons standing on the walking area before a crossing whose next step is onto it. Vehicle and
person ids are used only inside this module, to tell one step's positions from the next; what leaves it
(and what any controller sees) is the counts above, as a city's own detectors would give them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["HALTING_SPEED_MPS", "LaneReading", "LaneReadings", "LaneSensors"]

# TraCI variable ids (stable across SUMO versions, so no import of a backend's constants module is needed).
_VEHICLE_NUMBER = 0x10
_VEHICLE_IDS = 0x12
_OCCUPANCY = 0x13
_HALTING_NUMBER = 0x14
_SPEED = 0x40
_LANE_ID = 0x51
_LANE_POSITION = 0x56

HALTING_SPEED_MPS = 0.1
"""A vehicle slower than this is halted (SUMO's own threshold for its halting counts)."""


@dataclass(frozen=True, slots=True)
class LaneReading:
    """One lane (or one approach zone) at one instant.

    ``vehicles`` on it, of those ``halting`` (< 0.1 m/s), ``occupancy`` in percent, and ``passed``: vehicles
    that crossed its stop line during the last step (0 where no stop-line counter is fitted).
    """

    vehicles: int = 0
    halting: int = 0
    occupancy: float = 0.0
    passed: int = 0

    @property
    def moving(self) -> int:
        """Vehicles on the lane that are not halted (approaching or discharging)."""
        return max(self.vehicles - self.halting, 0)


_EMPTY = LaneReading()


@dataclass(frozen=True, slots=True)
class LaneReadings:
    """A snapshot of every watched lane and every approach detector; unknown lanes read as empty."""

    time: float
    lanes: dict[str, LaneReading] = field(default_factory=dict)
    approaches: dict[str, LaneReading] = field(default_factory=dict)
    crossings: dict[str, int] = field(default_factory=dict)
    """Crossing lane → persons waiting at its kerb to walk onto it (its push-button)."""

    def __getitem__(self, lane: str) -> LaneReading:
        return self.lanes.get(lane, _EMPTY)

    def waiting_to_cross(self, crossing_lane: str) -> int:
        """Persons standing at the kerb of ``crossing_lane``, waiting to walk onto it."""
        return self.crossings.get(crossing_lane, 0)

    def approach(self, lane: str) -> LaneReading:
        """What the approach detector of stop-line lane ``lane`` reads (its lane detector if it has none)."""
        found = self.approaches.get(lane)
        return found if found is not None else self[lane]


class LaneSensors:
    """Reads every watched lane once per step through TraCI subscriptions (one round trip over TCP).

    ``approaches`` maps each stop-line lane to the lanes its approach detector covers, each with the
    distance from that lane's end to the stop line (0 for the stop-line lane itself); ``crossings`` each
    signalled crossing lane to the walking-area lane its pedestrians wait on.
    """

    def __init__(
        self,
        api: Any,
        lanes: Iterable[str],
        approaches: Mapping[str, Sequence[tuple[str, float]]] | None = None,
        approach_m: float = 100.0,
        crossings: Mapping[str, str] | None = None,
    ) -> None:
        self._api = api
        self._crossings = dict(crossings or {})
        # walking-area edge → {crossing edge: crossing lane}; a lane id is its edge's id, "_", its index
        self._kerbs: dict[str, dict[str, str]] = {}
        for crossing, walk in self._crossings.items():
            self._kerbs.setdefault(walk.rsplit("_", 1)[0], {})[crossing.rsplit("_", 1)[0]] = crossing
        self._zones = {lane: tuple(zone) for lane, zone in (approaches or {}).items()}
        self._reach = approach_m
        zone_lanes = {lane for zone in self._zones.values() for lane, _ in zone}
        self.lanes = tuple(dict.fromkeys([*lanes, *zone_lanes]))
        self._length = {lane: float(api.lane.getLength(lane)) for lane in zone_lanes}
        self._edge = {lane: str(api.lane.getEdgeID(lane)) for lane in self._zones}
        for lane in self.lanes:
            variables = (_VEHICLE_NUMBER, _HALTING_NUMBER, _OCCUPANCY)
            api.lane.subscribe(lane, (*variables, _VEHICLE_IDS) if lane in zone_lanes else variables)
        self._at_stop_line: dict[str, tuple[str, ...]] = {lane: () for lane in self._zones}

    def read(self) -> LaneReadings:
        """The readings SUMO reports after its last step."""
        results: dict[str, dict[int, Any]] = self._api.lane.getAllSubscriptionResults()
        lanes = {
            lane: LaneReading(
                vehicles=int(values.get(_VEHICLE_NUMBER, 0)),
                halting=int(values.get(_HALTING_NUMBER, 0)),
                occupancy=float(values.get(_OCCUPANCY, 0.0)),
            )
            for lane, values in results.items()
        }
        approaches = self._read_approaches(results) if self._zones else {}
        return LaneReadings(
            time=float(self._api.simulation.getTime()),
            lanes=lanes,
            approaches=approaches,
            crossings=self._read_crossings() if self._kerbs else {},
        )

    def _read_crossings(self) -> dict[str, int]:
        """Persons standing (slower than a halt) on each walking area whose next edge is a crossing."""
        waiting = dict.fromkeys(self._crossings, 0)
        person = self._api.person
        for walk, crossings in self._kerbs.items():
            for pid in self._api.edge.getLastStepPersonIDs(walk):
                if float(person.getSpeed(pid)) >= HALTING_SPEED_MPS:
                    continue
                lane = crossings.get(str(person.getNextEdge(pid)))
                if lane is not None:
                    waiting[lane] += 1
        return waiting

    def _read_approaches(self, results: dict[str, dict[int, Any]]) -> dict[str, LaneReading]:
        on_lane = {lane: tuple(results.get(lane, {}).get(_VEHICLE_IDS, ())) for lane in self._length}
        vehicles: dict[str, dict[int, Any]] = self._api.vehicle.getAllSubscriptionResults()
        # A vehicle is watched from the step it first enters a zone lane until it leaves the simulation.
        new = {vid for ids in on_lane.values() for vid in ids if vid not in vehicles}
        for vid in new:
            self._api.vehicle.subscribe(vid, (_LANE_ID, _LANE_POSITION, _SPEED))
        if new:
            vehicles = self._api.vehicle.getAllSubscriptionResults()
        readings = {}
        for stop_lane, zone in self._zones.items():
            count = halted = 0
            for lane, offset in zone:
                for vid in on_lane[lane]:
                    state = vehicles.get(vid)
                    if state is None:
                        continue
                    if self._length[lane] - float(state[_LANE_POSITION]) + offset <= self._reach:
                        count += 1
                        halted += float(state[_SPEED]) < HALTING_SPEED_MPS
            passed = self._crossed(stop_lane, on_lane[stop_lane], vehicles)
            occupancy = float(results.get(stop_lane, {}).get(_OCCUPANCY, 0.0))
            readings[stop_lane] = LaneReading(count, halted, occupancy, passed)
        return readings

    def _crossed(self, stop_lane: str, now: tuple[str, ...], vehicles: dict[str, dict[int, Any]]) -> int:
        """Vehicles that were on ``stop_lane`` one step ago and are now past its stop line."""
        before, self._at_stop_line[stop_lane] = self._at_stop_line[stop_lane], now
        if not before:
            return 0
        edge = self._edge[stop_lane]
        # Past the stop line means on any other edge (inside the junction or beyond it); a lane change to a
        # neighbouring lane of the same edge, or leaving the simulation on the lane, is no crossing.
        return sum(
            1
            for vid in set(before).difference(now)
            if vid in vehicles and str(vehicles[vid][_LANE_ID]).rsplit("_", 1)[0] != edge
        )
