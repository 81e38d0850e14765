"""SUMO scenarios with a breakdown or a wrong-way driver, replayed through a virtual camera into detectors.

A straight road (two lanes each way, 600 m, 50 km/h) carries random traffic both ways. A scenario may add a
breakdown (a vehicle on the eastbound carriageway held at speed 0 by TraCI for a while, then released) and a
wrong-way driver (a vehicle moved by TraCI along an eastbound lane towards the west). SUMO writes the
vehicles' trajectories (FCD); a virtual camera (a homography from the ground to a 1280x720 picture, looking
along the road) turns each vehicle into a box whose size follows the perspective, with pixel jitter and
missed detections (single frames and whole seconds). The boxes go through citytally's tracker and the
camera's :class:`~citytally.edge.incidents.IncidentEngine`, exactly as on a camera. The scenario knows when
each incident really happened: that is the ground truth the detected onsets are scored against.
"""

from __future__ import annotations

import os
import random
import subprocess
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt

from citytally.edge.analytics.speed import GroundPlane
from citytally.edge.config import CameraConfig, parse_camera_config
from citytally.edge.detections import Detections
from citytally.edge.incidents.engine import IncidentEngine
from citytally.edge.tracker import MotionTracker
from citytally.errors import SignalError
from citytally.events import ROAD_USER_CLASSES, IncidentEvent

__all__ = ["Scenario", "Truth", "Score", "simulate", "replay", "score", "camera_config", "STEP_S"]

STEP_S = 0.1  # SUMO's step and the virtual camera's frame period (10 fps)
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
_CAR = ROAD_USER_CLASSES.index("car")
#: Ground (SUMO metres) → picture: the near end of the watched stretch at the bottom, the far end at the top.
_GROUND = [(100.0, -12.0), (500.0, -12.0), (500.0, 12.0), (100.0, 12.0)]
_IMAGE = [(1180.0, 710.0), (840.0, 60.0), (440.0, 60.0), (100.0, 710.0)]
#: The watched stretch of the eastbound carriageway, and what the camera sees of the road (SUMO x, metres).
_ZONE_X = (150.0, 450.0)
_VIEW = (90.0, 510.0)

# netconvert lays E's lanes at y = -1.6 (E_0) and 1.6 (E_1), W's at 4.8 and 8.0. G is the wrong-way
# driver's own one-lane road, laid over E_1 but running west: SUMO's traffic on E neither sees nor brakes
# for it, as a camera's would not in time.
_NODES = """<nodes>
  <node id="A" x="0" y="0"/>
  <node id="B" x="600" y="0"/>
  <node id="GA" x="0" y="-3.2"/>
  <node id="GB" x="600" y="-3.2"/>
</nodes>"""
_EDGES = """<edges>
  <edge id="E" from="A" to="B" numLanes="2" speed="13.89"/>
  <edge id="W" from="B" to="A" numLanes="2" speed="13.89"/>
  <edge id="G" from="GB" to="GA" numLanes="1" speed="13.89"/>
</edges>"""


@dataclass(frozen=True)
class Scenario:
    """One simulated run; times are seconds from its start."""

    seed: int
    seconds: float = 240.0
    flow_veh_h: int = 900
    breakdown_at: float | None = None
    breakdown_s: float = 60.0
    wrong_way_at: float | None = None
    #: The wrong-way driver's top speed (km/h); None: the road's limit, 50.
    wrong_way_kmh: float | None = None


@dataclass(frozen=True)
class Truth:
    """An incident that really happened in the watched zone: kind, start and end (seconds)."""

    incident: str
    start: float
    end: float


@dataclass
class Score:
    """Detected onsets against the truth, for one kind of incident."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    delays: list[float] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def mean_delay_s(self) -> float:
        return float(np.mean(self.delays)) if self.delays else float("nan")


def _sumo_home() -> Path:
    from citytally.sumo import find_sumo_binary, sumo_home_for

    return sumo_home_for(find_sumo_binary())


def _network(folder: Path) -> Path:
    net = folder / "road.net.xml"
    if net.is_file():
        return net
    (folder / "road.nod.xml").write_text(_NODES, encoding="utf-8")
    (folder / "road.edg.xml").write_text(_EDGES, encoding="utf-8")
    home = _sumo_home()
    done = subprocess.run(
        [str(home / "bin" / "netconvert"), "-n", "road.nod.xml", "-e", "road.edg.xml", "-o", net.name,
         "--no-turnarounds", "true"],
        cwd=folder, capture_output=True, text=True, env={**os.environ, "SUMO_HOME": str(home)}, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SignalError(f"netconvert failed: {done.stderr.strip()[-300:]}")
    return net


def _routes(folder: Path, scenario: Scenario) -> Path:
    routes = folder / f"routes-{scenario.seed}.rou.xml"
    top = "" if scenario.wrong_way_kmh is None else f' maxSpeed="{scenario.wrong_way_kmh / 3.6:.3f}"'
    wrong = (
        f'  <vType id="wrongcar" length="4.5" width="1.8" sigma="0.5"{top}/>\n'
        f'  <vehicle id="wrong" type="wrongcar" route="ghost" depart="{scenario.wrong_way_at}"'
        ' departSpeed="max"/>\n'
        if scenario.wrong_way_at is not None
        else ""
    )
    routes.write_text(
        f"""<routes>
  <vType id="car" length="4.5" width="1.8" sigma="0.5"/>
  <route id="east" edges="E"/>
  <route id="west" edges="W"/>
  <route id="ghost" edges="G"/>
  <flow id="fe" type="car" route="east" begin="0" end="{scenario.seconds}" vehsPerHour="{scenario.flow_veh_h}"
        departLane="best" departSpeed="max"/>
  <flow id="fw" type="car" route="west" begin="0" end="{scenario.seconds}" vehsPerHour="{scenario.flow_veh_h}"
        departLane="best" departSpeed="max"/>
{wrong}</routes>""",
        encoding="utf-8",
    )
    return routes


def simulate(scenario: Scenario, folder: Path) -> Path:
    """Run the scenario in SUMO (libsumo); return its FCD file."""
    import libsumo as sumo

    folder.mkdir(parents=True, exist_ok=True)
    net, routes = _network(folder), _routes(folder, scenario)
    fcd = folder / f"fcd-{scenario.seed}.xml"
    sumo.start(
        ["sumo", "-n", str(net), "-r", str(routes), "--step-length", str(STEP_S),
         "--seed", str(scenario.seed), "--fcd-output", str(fcd), "--no-step-log", "true",
         "--no-warnings", "true", "--end", str(scenario.seconds)]
    )  # fmt: skip
    try:
        _drive(sumo, scenario)
    finally:
        sumo.close()
    return fcd


def _drive(sumo: object, scenario: Scenario) -> None:
    """Step the simulation, causing the breakdown (TraCI holds a vehicle at speed 0, then lets it go)."""
    api: object = sumo
    vehicle, simulation = api.vehicle, api.simulation  # type: ignore[attr-defined]
    broken: str | None = None
    while simulation.getTime() < scenario.seconds:
        t = simulation.getTime()
        if scenario.breakdown_at is not None and broken is None and t >= scenario.breakdown_at:
            candidates = [v for v in vehicle.getIDList() if vehicle.getRoadID(v) == "E"]
            inside = [v for v in candidates if 200 <= vehicle.getPosition(v)[0] <= 380]
            if inside:
                broken = inside[0]
                vehicle.setSpeed(broken, 0.0)
        released = scenario.breakdown_at is not None and t >= scenario.breakdown_at + scenario.breakdown_s
        if broken is not None and released and broken in vehicle.getIDList():
            vehicle.setSpeed(broken, -1)
        api.simulationStep()  # type: ignore[attr-defined]


def _fcd(path: Path) -> Iterator[tuple[float, list[tuple[str, float, float, float]]]]:
    """(time, [(vehicle id, x, y, speed)]) per step of a SUMO FCD file."""
    for _, element in ET.iterparse(path, events=("end",)):
        if element.tag != "timestep":
            continue
        rows = [
            (v.get("id", ""), float(v.get("x", 0)), float(v.get("y", 0)), float(v.get("speed", 0)))
            for v in element.findall("vehicle")
        ]
        yield float(element.get("time", 0)), rows
        element.clear()


def truths(path: Path, scenario: Scenario) -> list[Truth]:
    """The scenario's incidents inside the watched zone, from its own trajectories."""
    standing: list[float] = []
    wrong: list[float] = []
    lo, hi = _ZONE_X
    for t, rows in _fcd(path):
        for vid, x, y, speed in rows:
            in_zone = lo <= x <= hi and -3.2 <= y <= 3.2
            if vid == "wrong" and in_zone:
                wrong.append(t)
            elif (
                scenario.breakdown_at is not None
                and scenario.breakdown_at <= t < scenario.breakdown_at + scenario.breakdown_s
                and in_zone
                and speed < 0.1
            ):
                standing.append(t)
    found = []
    if standing:
        found.append(Truth("stopped_vehicle", min(standing), scenario.breakdown_at + scenario.breakdown_s))  # type: ignore[operator]
    if wrong:
        found.append(Truth("wrong_way", min(wrong), max(wrong)))
    return found


def _ground_to_image() -> npt.NDArray[np.float64]:
    return np.linalg.inv(GroundPlane(_IMAGE, _GROUND).matrix).astype(np.float64)


def camera_config() -> CameraConfig:
    """The virtual camera: its calibration, the eastbound zone and its incident rules (defaults)."""
    to_image = _ground_to_image()
    lo, hi = _ZONE_X
    corners = _project(to_image, np.array([(lo, -3.3), (hi, -3.3), (hi, 3.1), (lo, 3.1)]))
    path = _project(to_image, np.array([(lo - 20, 0.0), (hi + 20, 0.0)]))

    def pts(a: npt.NDArray[np.float64]) -> str:
        return "[" + ", ".join(f"[{x:.1f}, {y:.1f}]" for x, y in a) + "]"

    text = f"""
site = "sumo"
camera = "road"
[source]
uri = "sumo"
frame_size = [1280, 720]
[tracker]
lost_buffer_s = 1.0
[[zones]]
name = "eastbound"
polygon = {pts(corners)}
[speed]
image_points = {pts(np.array(_IMAGE))}
ground_points_m = {pts(np.array(_GROUND))}
[[incidents.stopped_vehicle]]
zone = "eastbound"
[[incidents.wrong_way]]
zone = "eastbound"
path = {pts(path)}
"""
    return parse_camera_config(text, "sumo-camera")


def _project(matrix: npt.NDArray[np.float64], ground: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    h = np.hstack([ground, np.ones((len(ground), 1))]) @ matrix.T
    out: npt.NDArray[np.float64] = h[:, :2] / h[:, 2:3]
    return out


def _boxes(
    to_image: npt.NDArray[np.float64],
    rows: list[tuple[str, float, float, float]],
    rng: random.Random,
    lost: dict[str, float],
    t: float,
) -> Detections:
    """The frame's detections: each vehicle's box, jittered; some missed (a frame, or a second or two)."""
    keep = []
    for vid, x, y, _ in rows:
        if not _VIEW[0] <= x <= _VIEW[1]:
            continue
        if lost.get(vid, -1.0) > t:
            continue
        if rng.random() < 0.004:  # now and then the detector loses a vehicle for 0.5-2 s
            lost[vid] = t + rng.uniform(0.5, 2.0)
            continue
        if rng.random() < 0.05:
            continue
        keep.append((x, y))
    if not keep:
        return Detections.empty()
    ground = np.array(keep)
    bottom = _project(to_image, ground)
    side = _project(to_image, ground + (0.0, 0.9))
    width = np.maximum(2 * np.hypot(*(side - bottom).T), 4.0)
    # Box jitter grows with the box (a detector's error is a share of the object's size).
    jitter = (
        np.array([[rng.gauss(0, 1) for _ in range(4)] for _ in keep]) * np.maximum(0.5, 0.03 * width)[:, None]
    )
    xyxy = (
        np.stack(
            [bottom[:, 0] - width / 2, bottom[:, 1] - 0.8 * width, bottom[:, 0] + width / 2, bottom[:, 1]],
            axis=1,
        )
        + jitter
    )
    inside = (xyxy[:, 2] > 0) & (xyxy[:, 0] < 1280) & (xyxy[:, 3] > 0) & (xyxy[:, 1] < 720)
    xyxy = np.clip(xyxy[inside], 0, [1279, 719, 1279, 719])
    n = len(xyxy)
    scores = np.array([0.5 + 0.45 * rng.random() for _ in range(n)], np.float32)
    return Detections(xyxy.astype(np.float32), scores, np.full(n, _CAR, np.int64))


def replay(fcd: Path, config: CameraConfig, seed: int) -> list[IncidentEvent]:
    """Feed the trajectories through the virtual camera, the tracker and the incident engine."""
    to_image = _ground_to_image()
    rng = random.Random(seed)
    tracker = MotionTracker(config.tracker)
    engine = IncidentEngine(config)
    lost: dict[str, float] = defaultdict(float)
    events: list[IncidentEvent] = []
    for t, rows in _fcd(fcd):
        tracked = tracker.update(_boxes(to_image, rows, rng, lost, t), t)
        events += engine.update(tracked, t, T0 + timedelta(seconds=t))
    return events + list(engine.finish())


def score(
    events: list[IncidentEvent], found: list[Truth], kind: str, late_s: float = 10.0, early_s: float = 2.0
) -> Score:
    """Onsets of ``kind`` matched one to one with true incidents: an onset counts if it comes between
    ``early_s`` before the incident's start (a box's ground point and SUMO's vehicle front differ by a car
    length) and ``late_s`` after its end; each true incident matches at most one onset."""
    result = Score()
    onsets = sorted((e.end - T0).total_seconds() for e in events if e.incident == kind and e.phase == "onset")
    unmatched = [truth for truth in found if truth.incident == kind]
    for at in onsets:
        match = next((t for t in unmatched if t.start - early_s <= at <= t.end + late_s), None)
        if match is None:
            result.fp += 1
        else:
            unmatched.remove(match)
            result.tp += 1
            result.delays.append(at - match.start)
    result.fn = len(unmatched)
    return result
