"""RESCO's delay metric, from SUMO's tripinfo output and the scenario's route files.

Average over vehicles of ``timeLoss + departDelay`` (tripinfo written with ``write-unfinished``, so vehicles
still driving at the episode end count with the delay they have so far); a vehicle in the route files that was
due to depart inside the episode but was never inserted adds ``episode end - scheduled departure``.

Vehicles due to depart are those of every ``vehicle`` and ``trip`` with a time of departure and of every
``flow`` with evenly spaced departures (``period``, ``vehsPerHour`` or ``number``), each named as SUMO names
them (``<flow id>.<n>``). A flow departing at random (``probability``, ``period="exp(...)"``) has no schedule
to be late against: its vehicles that were never inserted cannot be counted, and a warning says so. RESCO's
own reader (``readXML.py``) counts vehicles never inserted only among ``vehicle`` elements scheduled after
the last one inserted; where SUMO inserts every vehicle (every published scenario but a gridlock) the two
agree.
"""

from __future__ import annotations

import contextlib
import logging
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from citytally.errors import SignalError

__all__ = ["DelayResult", "episode_delay", "route_departures", "route_files_of"]

log = logging.getLogger(__name__)

_DAY_S = 86_400.0  # a flow without an end departs for a day (SUMO's default)


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


def route_departures(route_files: Iterable[Path], until: float = _DAY_S) -> dict[str, float]:
    """Scheduled departure time of every vehicle of the route files due before ``until``: each ``vehicle``
    and ``trip`` with a numeric ``depart``, and each vehicle of a ``flow`` with evenly spaced departures."""
    departures: dict[str, float] = {}
    for path in route_files:
        try:
            for _, elem in ET.iterparse(path, events=("end",)):
                if elem.tag in ("vehicle", "trip") and elem.get("id") is not None:
                    # "triggered", "now" ...: no scheduled time to be late against
                    with contextlib.suppress(ValueError):
                        departures[str(elem.get("id"))] = float(elem.get("depart", ""))
                elif elem.tag == "flow" and elem.get("id") is not None:
                    departures.update(_flow_departures(path, elem, until))
                elem.clear()
        except (OSError, ET.ParseError) as exc:
            raise SignalError(f"{path}: cannot read the route file: {exc}") from exc
    return departures


def _flow_departures(path: Path, flow: ET.Element, until: float) -> dict[str, float]:
    """The vehicles of one ``flow`` due before ``until`` and their departures, as SUMO spaces them."""
    fid = str(flow.get("id"))
    period, per_hour, number = flow.get("period"), flow.get("vehsPerHour"), flow.get("number")
    try:
        begin = float(flow.get("begin", "0"))
        end = float(flow.get("end", _DAY_S)) if number is None or flow.get("end") is not None else math.inf
        if flow.get("probability") is not None or (period or "").startswith("exp("):
            log.warning("%s: flow %s departs at random: those never inserted are not counted", path, fid)
            return {}
        if period is not None:
            step = float(period)
        elif per_hour is not None:
            step = 3600.0 / float(per_hour)
        elif number is not None and math.isfinite(end):
            step = (end - begin) / int(number)
        else:
            raise ValueError("no period, vehsPerHour or number with an end")
        count = int(number) if number is not None else math.inf
    except (ValueError, ZeroDivisionError) as exc:
        raise SignalError(f"{path}: flow {fid}: cannot tell its departures: {exc}") from exc
    if not step > 0:
        raise SignalError(f"{path}: flow {fid}: its vehicles are not spaced in time (step {step:g} s)")
    found: dict[str, float] = {}
    index = 0
    while index < count:
        depart = begin + index * step
        if depart >= min(end, until):
            break
        found[f"{fid}.{index}"] = depart
        index += 1
    return found


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
    for vid, depart in route_departures(route_files, until=end).items():
        if begin <= depart < end and vid not in delays:
            delays[vid] = end - depart
            never += 1
    if not delays:
        raise SignalError(f"{tripinfo}: no vehicle took part in the episode {begin:g}-{end:g} s")
    return DelayResult(mean_s=sum(delays.values()) / len(delays), vehicles=len(delays), never_departed=never)
