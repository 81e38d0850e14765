"""All signalised intersections of a simulation, their lane sensors, and the per-step control loop."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from citytally.signals.intersection import Intersection, SignalTiming
from citytally.signals.sensors import LaneReadings, LaneSensors

__all__ = ["Controller", "SignalNetwork"]


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
    ) -> None:
        self.api = api
        self.timing = timing
        ids = list(tls_ids) if tls_ids is not None else list(api.trafficlight.getIDList())
        step = float(api.simulation.getDeltaT())
        self.intersections: dict[str, Intersection] = {
            tls: Intersection(api, tls, timing, step_length=step) for tls in ids
        }
        lanes = [lane for i in self for lane in (*i.in_lanes, *i.out_lanes)]
        self.sensors = LaneSensors(api, [*lanes, *extra_lanes])

    def __iter__(self) -> Iterator[Intersection]:
        return iter(self.intersections.values())

    def __len__(self) -> int:
        return len(self.intersections)

    def __getitem__(self, tls_id: str) -> Intersection:
        return self.intersections[tls_id]

    def control_step(self, controller: Controller | None) -> LaneReadings:
        """Read the sensors, let ``controller`` request phases, and apply them safely (before ``step``)."""
        readings = self.sensors.read()
        if controller is not None:
            controller.decide(self, readings)
        for intersection in self:
            intersection.update(readings)
        return readings
