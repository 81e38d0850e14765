"""RESCO's delay metric, reproduced exactly from SUMO's tripinfo output and the scenario's route files.

Average over vehicles of ``timeLoss + departDelay`` (tripinfo written with ``write-unfinished``, so vehicles
still driving at the episode end count with the delay they have so far); a vehicle in the route files that was
due to depart inside the episode but was never inserted adds ``episode end - scheduled departure``.
"""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from citytally.errors import SignalError

__all__ = ["DelayResult", "episode_delay", "route_departures", "route_files_of"]


@dataclass(frozen=True, slots=True)
class DelayResult:
    """Mean delay (s/vehicle) over ``vehicles`` of which ``never_departed`` were never inserted."""

    mean_s: float
    vehicles: int
    never_departed: int


def route_files_of(sumocfg: Path) -> list[Path]:
    """The route files a ``.sumocfg`` names, resolved against its folder."""
    try:
        root = ET.parse(sumocfg).getroot()
    except (OSError, ET.ParseError) as exc:
        raise SignalError(f"{sumocfg}: cannot read the SUMO configuration: {exc}") from exc
    node = root.find("./input/route-files")
    if node is None:
        node = root.find(".//route-files")
    if node is None or not node.get("value"):
        return []
    return [sumocfg.parent / name.strip() for name in str(node.get("value")).split(",") if name.strip()]


def route_departures(route_files: Iterable[Path]) -> dict[str, float]:
    """Scheduled departure time of every ``vehicle``/``trip`` with a numeric ``depart`` in the route files."""
    departures: dict[str, float] = {}
    for path in route_files:
        try:
            for _, elem in ET.iterparse(path, events=("end",)):
                if elem.tag in ("vehicle", "trip") and elem.get("id") is not None:
                    # "triggered", "now" ...: no scheduled time to be late against
                    with contextlib.suppress(ValueError):
                        departures[str(elem.get("id"))] = float(elem.get("depart", ""))
                elem.clear()
        except (OSError, ET.ParseError) as exc:
            raise SignalError(f"{path}: cannot read the route file: {exc}") from exc
    return departures


def _tripinfo_delays(tripinfo: Path) -> dict[str, float]:
    """Delay of every vehicle SUMO inserted: ``timeLoss + departDelay``."""
    delays: dict[str, float] = {}
    try:
        for _, elem in ET.iterparse(tripinfo, events=("end",)):
            if elem.tag == "tripinfo":
                vid = str(elem.get("id"))
                try:
                    if float(elem.get("depart", "-1")) >= 0:
                        delays[vid] = float(elem.get("timeLoss", "0")) + float(elem.get("departDelay", "0"))
                except ValueError as exc:
                    raise SignalError(f"{tripinfo}: vehicle {vid} has a non-numeric time: {exc}") from exc
            elem.clear()
    except (OSError, ET.ParseError) as exc:
        raise SignalError(f"{tripinfo}: cannot read the tripinfo output: {exc}") from exc
    return delays


def episode_delay(tripinfo: Path, route_files: Iterable[Path], begin: float, end: float) -> DelayResult:
    """RESCO's average delay of one episode ``[begin, end)`` in seconds per vehicle."""
    delays = _tripinfo_delays(tripinfo)
    never = 0
    for vid, depart in route_departures(route_files).items():
        if begin <= depart < end and vid not in delays:
            delays[vid] = end - depart
            never += 1
    if not delays:
        raise SignalError(f"{tripinfo}: no vehicle took part in the episode {begin:g}-{end:g} s")
    return DelayResult(mean_s=sum(delays.values()) / len(delays), vehicles=len(delays), never_departed=never)
