"""What road sensors can measure per lane: vehicles present, vehicles halted, occupancy.

These are loop/area-detector quantities; no vehicle identity or route is ever read here, so any controller
built on :class:`LaneReadings` is one a city could run with ordinary detectors.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LaneReading", "LaneReadings", "LaneSensors"]

# TraCI variable ids (stable across SUMO versions, so no import of a backend's constants module is needed).
_VEHICLE_NUMBER = 0x10
_OCCUPANCY = 0x13
_HALTING_NUMBER = 0x14


@dataclass(frozen=True, slots=True)
class LaneReading:
    """One lane at one instant: vehicles on it, of those halted (< 0.1 m/s), and occupancy in percent."""

    vehicles: int = 0
    halting: int = 0
    occupancy: float = 0.0

    @property
    def moving(self) -> int:
        """Vehicles on the lane that are not halted (approaching or discharging)."""
        return max(self.vehicles - self.halting, 0)


_EMPTY = LaneReading()


@dataclass(frozen=True, slots=True)
class LaneReadings:
    """A snapshot of every watched lane; unknown lanes read as empty."""

    time: float
    lanes: dict[str, LaneReading] = field(default_factory=dict)

    def __getitem__(self, lane: str) -> LaneReading:
        return self.lanes.get(lane, _EMPTY)


class LaneSensors:
    """Reads every watched lane once per step through one TraCI subscription (one round trip over TCP)."""

    def __init__(self, api: Any, lanes: Iterable[str]) -> None:
        self._api = api
        self.lanes = tuple(dict.fromkeys(lanes))
        for lane in self.lanes:
            api.lane.subscribe(lane, (_VEHICLE_NUMBER, _HALTING_NUMBER, _OCCUPANCY))

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
        return LaneReadings(time=float(self._api.simulation.getTime()), lanes=lanes)
