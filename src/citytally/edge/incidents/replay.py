"""SUMO scenarios with a breakdown or a wrong-way driver, replayed through a virtual camera into detectors.

A straight road (two lanes each way, 600 m, 50 km/h) carries random traffic both ways. A scenario may add a
breakdown (a vehicle on the eastbound carriageway held at speed 0 by TraCI for a while, then released) and a
wrong-way driver (a vehicle moved by TraCI along an eastbound lane towards the west). SUMO writes the
vehicles' trajectories (FCD); a virtual camera (a homography from the ground to a 1280x720 picture, looking
along the road) turns each vehicle into a box whose size follows the perspective, with pixel jitter and
missed detections (single frames and whole seconds). The boxes go through citytally's tracker and the
camera's :class:`~citytally.edge.incidents.IncidentEngine`, exactly as on a camera. The scenario knows when
each incident really happened: that is the ground truth the detected onsets are scored against.

A signalled scenario puts a traffic light 470 m along the road (both directions, red for ``red_s`` of
every cycle); the camera watches the eastbound queue with the queue rule, and SUMO's own lane-area (E2)
detectors over the same stretch measure the queue each second (:func:`queue_truth`), the reference for
the rule's queue length and its onsets (:func:`queue_truths`), and the vehicles on the stretch and their
mean speed (:func:`zone_truth`), the reference for its congestion (:func:`congestion_truths`).
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
from citytally.edge.incident_config import QueueSettings
from citytally.edge.incidents.engine import IncidentEngine
from citytally.edge.incidents.flow import QueueDetector
from citytally.edge.tracker import MotionTracker
from citytally.errors import SignalError
from citytally.events import ROAD_USER_CLASSES, IncidentEvent

__all__ = [
    "Scenario",
    "Truth",
    "Score",
    "simulate",
    "replay",
    "score",
    "score_onsets",
    "camera_config",
    "queue_truth",
    "zone_truth",
    "congestion_truths",
    "STEP_S",
]

STEP_S = 0.1  # SUMO's step and the virtual camera's frame period (10 fps)
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
_CAR = ROAD_USER_CLASSES.index("car")
_LENGTH_M = 4.5  # every vehicle's length (the routes' vTypes)
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
# The signalled road: the same road (and lanes) with a traffic light at S for both directions; E and W end
# at it, EX and WX go on.
_STOP_X = 470.0
_SIGNAL_NODES = f"""<nodes>
  <node id="A" x="0" y="0"/>
  <node id="S" x="{_STOP_X:.0f}" y="0" type="traffic_light"/>
  <node id="B" x="600" y="0"/>
  <node id="GA" x="0" y="-3.2"/>
  <node id="GB" x="600" y="-3.2"/>
</nodes>"""
_SIGNAL_EDGES = """<edges>
  <edge id="E" from="A" to="S" numLanes="2" speed="13.89"/>
  <edge id="EX" from="S" to="B" numLanes="2" speed="13.89"/>
  <edge id="WX" from="B" to="S" numLanes="2" speed="13.89"/>
  <edge id="W" from="S" to="A" numLanes="2" speed="13.89"/>
  <edge id="G" from="GB" to="GA" numLanes="1" speed="13.89"/>
</edges>"""
#: The signalled road's queue zone: the eastbound lanes from the watched stretch's start to the stop line.
_QUEUE_X = (_ZONE_X[0], _STOP_X)


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
    #: A traffic light at x = 470 (both directions): red for this long in every ``cycle_s``, the rest green
    #: (3 s of it amber). None: no light.
    red_s: float | None = None
    cycle_s: float = 90.0

    @property
    def signalled(self) -> bool:
        return self.red_s is not None


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
    #: Each detected onset matched, with the true incident it matched.
    matched: list[tuple[float, Truth]] = field(default_factory=list)

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

    def row(self) -> dict[str, int | float]:
        """The counts and scores as a bench table's columns: true, tp, fp, fn, precision, recall, f1."""
        return {
            "true": self.tp + self.fn,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
            "f1": round(self.f1, 3),
        }


def _sumo_home() -> Path:
    from citytally.sumo import find_sumo_binary, sumo_home_for

    return sumo_home_for(find_sumo_binary())


def _network(folder: Path, signalled: bool) -> Path:
    name = "signal" if signalled else "road"
    net = folder / f"{name}.net.xml"
    if net.is_file():
        return net
    (folder / f"{name}.nod.xml").write_text(_SIGNAL_NODES if signalled else _NODES, encoding="utf-8")
    (folder / f"{name}.edg.xml").write_text(_SIGNAL_EDGES if signalled else _EDGES, encoding="utf-8")
    home = _sumo_home()
    done = subprocess.run(
        [str(home / "bin" / "netconvert"), "-n", f"{name}.nod.xml", "-e", f"{name}.edg.xml", "-o", net.name,
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
  <route id="east" edges="{"E EX" if scenario.signalled else "E"}"/>
  <route id="west" edges="{"WX W" if scenario.signalled else "W"}"/>
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
    """Run the scenario in SUMO (libsumo); return its FCD file. A signalled scenario also writes SUMO's own
    queue measure next to it (:func:`queue_truth`)."""
    import libsumo as sumo

    folder.mkdir(parents=True, exist_ok=True)
    net, routes = _network(folder, scenario.signalled), _routes(folder, scenario)
    fcd = folder / f"fcd-{scenario.seed}.xml"
    extra: list[str] = []
    if scenario.signalled:
        extra = ["-a", str(_lane_area_detectors(folder, scenario))]
    sumo.start(
        ["sumo", "-n", str(net), "-r", str(routes), "--step-length", str(STEP_S),
         "--seed", str(scenario.seed), "--fcd-output", str(fcd), "--no-step-log", "true",
         "--no-warnings", "true", "--end", str(scenario.seconds), *extra]
    )  # fmt: skip
    try:
        _drive(sumo, scenario)
    finally:
        sumo.close()
    return fcd


def _lane_area_detectors(folder: Path, scenario: Scenario) -> Path:
    """SUMO lane-area (E2) detectors over the queue zone's two lanes, writing every second (SUMO's defaults:
    halting below 1.39 m/s for 1 s; halting vehicles less than 10 m apart form one jam)."""
    lo, hi = _QUEUE_X
    out = f"e2-{scenario.seed}.xml"
    path = folder / f"e2-{scenario.seed}.add.xml"
    lanes = "\n".join(
        f'  <laneAreaDetector id="queue_{i}" lane="E_{i}" pos="{lo:.1f}" endPos="{hi - 0.01:.2f}" period="1"'
        f' file="{out}"/>'
        for i in (0, 1)
    )
    path.write_text(f"<additional>\n{lanes}\n</additional>\n", encoding="utf-8")
    return path


def queue_truth(folder: Path, scenario: Scenario) -> dict[int, float]:
    """SUMO's own queue on the approach, per second: the longest jam (m) its lane-area detectors measured
    on either lane in that second."""
    longest: dict[int, float] = defaultdict(float)
    for _, element in ET.iterparse(folder / f"e2-{scenario.seed}.xml", events=("end",)):
        if element.tag == "interval":
            second = round(float(element.get("begin", 0)))
            longest[second] = max(longest[second], float(element.get("maxJamLengthInMeters", 0)))
            element.clear()
    return dict(longest)


def queue_truths(sumo_m: dict[int, float], rule: QueueSettings | None = None) -> list[Truth]:
    """The queue incidents SUMO's queue gives under the rule's thresholds: open once at least ``onset_m``
    for ``onset_s`` (the truth's start is the opening), ended when under ``clear_m``."""
    rule = rule or QueueSettings(zone="eastbound", head=(0.0, 0.0))
    found: list[Truth] = []
    since: int | None = None
    opened: float | None = None
    for second in sorted(sumo_m):
        metres = sumo_m[second]
        if opened is not None:
            if metres < rule.clear_m:
                found.append(Truth("queue", opened, second))
                opened, since = None, None
            continue
        since = (since if since is not None else second) if metres >= rule.onset_m else None
        if since is not None and second - since >= rule.onset_s:
            opened = since + rule.onset_s
    if opened is not None:
        found.append(Truth("queue", opened, max(sumo_m)))
    return found


def zone_truth(folder: Path, scenario: Scenario) -> dict[int, tuple[float, float | None]]:
    """SUMO's vehicles on the queue zone per second (its lane-area detectors' mean number, both lanes) and
    their mean speed in km/h (over the vehicle-seconds sampled; None with no vehicle)."""
    number: dict[int, float] = defaultdict(float)
    sampled: dict[int, float] = defaultdict(float)
    distance: dict[int, float] = defaultdict(float)
    for _, element in ET.iterparse(folder / f"e2-{scenario.seed}.xml", events=("end",)):
        if element.tag == "interval":
            second = round(float(element.get("begin", 0)))
            seconds = float(element.get("sampledSeconds", 0))
            number[second] += float(element.get("meanVehicleNumber", 0))
            if seconds > 0:
                sampled[second] += seconds
                distance[second] += seconds * float(element.get("meanSpeed", 0))
            element.clear()
    return {
        second: (n, distance[second] / sampled[second] * 3.6 if sampled[second] > 0 else None)
        for second, n in number.items()
    }


def congestion_truths(
    series: dict[int, tuple[float, float | None]], rule: QueueSettings | None = None
) -> list[Truth]:
    """The congestion SUMO's zone gives under the rule's thresholds: at least ``congested_vehicles`` at a
    mean speed of at most ``congested_kmh``, for ``onset_s``, opens (the truth's start); ``clear_s`` without
    (under ``congested_vehicles`` or over ``clear_kmh``) ends it (the truth's end: the first second
    without)."""
    rule = rule or QueueSettings(zone="eastbound", head=(0.0, 0.0))
    found: list[Truth] = []
    since: int | None = None  # congested since
    without: int | None = None  # not congested since (while open)
    opened: float | None = None
    for second in sorted(series):
        vehicles, kmh = series[second]
        limit = rule.congested_kmh if opened is None else rule.holds_kmh
        congested = kmh is not None and vehicles >= rule.congested_vehicles and kmh <= limit
        if opened is not None:
            without = None if congested else (without if without is not None else second)
            if without is not None and second - without >= rule.clear_s:
                found.append(Truth("congestion", opened, without))
                opened, since, without = None, None, None
            continue
        since = (since if since is not None else second) if congested else None
        if since is not None and second - since >= rule.onset_s:
            opened = since + rule.onset_s
    if opened is not None:
        found.append(Truth("congestion", opened, without if without is not None else max(series)))
    return found


def at_end_of_red(series: dict[int, float], scenario: Scenario) -> list[float]:
    """Each cycle's queue in the last second of its red, when every queued vehicle stands from the stop
    line back (the first cycle, the road still filling, left out)."""
    if scenario.red_s is None:
        raise ValueError(f"scenario {scenario.seed} has no traffic light")
    cycles = int(scenario.seconds // scenario.cycle_s)
    return [series.get(int(c * scenario.cycle_s + scenario.red_s) - 1, 0.0) for c in range(1, cycles)]


def _drive(sumo: object, scenario: Scenario) -> None:
    """Step the simulation, causing the breakdown (TraCI holds a vehicle at speed 0, then lets it go)."""
    api: object = sumo
    vehicle, simulation = api.vehicle, api.simulation  # type: ignore[attr-defined]
    broken: str | None = None
    light = ""
    while simulation.getTime() < scenario.seconds:
        t = simulation.getTime()
        if scenario.red_s is not None:
            # Every link of S shows one colour: red first in each cycle, then green ending in 3 s of amber.
            into = t % scenario.cycle_s
            state = "r" if into < scenario.red_s else "y" if into >= scenario.cycle_s - 3 else "G"
            if state != light:
                light = state
                api.trafficlight.setRedYellowGreenState("S", state * 4)  # type: ignore[attr-defined]
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


def _fcd(path: Path) -> Iterator[tuple[float, list[tuple[str, float, float, float, float]]]]:
    """(time, [(vehicle id, x, y, speed, angle)]) per step of a SUMO FCD file: (x, y) is the middle of the
    vehicle's front, the angle its heading in degrees clockwise from north."""
    for _, element in ET.iterparse(path, events=("end",)):
        if element.tag != "timestep":
            continue
        rows = [
            (v.get("id", ""), float(v.get("x", 0)), float(v.get("y", 0)), float(v.get("speed", 0)),
             float(v.get("angle", 0)))
            for v in element.findall("vehicle")
        ]  # fmt: skip
        yield float(element.get("time", 0)), rows
        element.clear()


def truths(path: Path, scenario: Scenario) -> list[Truth]:
    """The scenario's incidents inside the watched zone, from its own trajectories."""
    standing: list[float] = []
    wrong: list[float] = []
    lo, hi = _ZONE_X
    for t, rows in _fcd(path):
        for vid, x, y, speed, _ in rows:
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


def camera_config(queue: bool = False) -> CameraConfig:
    """The virtual camera: its calibration, the eastbound zone and its incident rules (defaults). With
    ``queue``, the signalled road's camera: a queue rule on the eastbound lanes up to the stop line."""
    to_image = _ground_to_image()
    lo, hi = _ZONE_X
    corners = _project(to_image, np.array([(lo, -3.3), (hi, -3.3), (hi, 3.1), (lo, 3.1)]))
    path = _project(to_image, np.array([(lo - 20, 0.0), (hi + 20, 0.0)]))
    rules = f"""[[incidents.stopped_vehicle]]
zone = "eastbound"
[[incidents.wrong_way]]
zone = "eastbound"
path = {_points(path)}"""
    if queue:
        lo, hi = _QUEUE_X
        corners = _project(to_image, np.array([(lo, -3.3), (hi, -3.3), (hi, 3.1), (lo, 3.1)]))
        head = _project(to_image, np.array([(hi, 0.0)]))[0]
        rules = f"""[[incidents.queue]]
zone = "eastbound"
head = [{head[0]:.1f}, {head[1]:.1f}]"""

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
polygon = {_points(corners)}
[speed]
image_points = {_points(np.array(_IMAGE))}
ground_points_m = {_points(np.array(_GROUND))}
{rules}
"""
    return parse_camera_config(text, "sumo-camera")


def _points(a: npt.NDArray[np.float64]) -> str:
    return "[" + ", ".join(f"[{x:.1f}, {y:.1f}]" for x, y in a) + "]"


def _project(matrix: npt.NDArray[np.float64], ground: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    h = np.hstack([ground, np.ones((len(ground), 1))]) @ matrix.T
    out: npt.NDArray[np.float64] = h[:, :2] / h[:, 2:3]
    return out


def _boxes(
    to_image: npt.NDArray[np.float64],
    rows: list[tuple[str, float, float, float, float]],
    rng: random.Random,
    lost: dict[str, float],
    t: float,
) -> Detections:
    """The frame's detections: each vehicle's box, jittered; some missed (a frame, or a second or two).

    A box stands on the vehicle's end nearer the camera (which looks east from the road's west end): the
    rear of a vehicle driving east, the front of one driving west, as a detector's box's bottom edge does.
    """
    keep = []
    for vid, front_x, y, _, angle in rows:
        if not _VIEW[0] <= front_x <= _VIEW[1]:
            continue
        x = min(front_x, front_x - _LENGTH_M * np.sin(np.radians(angle)))
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


def replay(
    fcd: Path,
    config: CameraConfig,
    seed: int,
    queue_m: dict[int, float] | None = None,
    zone: dict[int, tuple[float, float | None]] | None = None,
) -> list[IncidentEvent]:
    """Feed the trajectories through the virtual camera, the tracker and the incident engine. Given
    ``queue_m``, fill it with the queue rule's queue (m) in each second (the median of its frames); given
    ``zone``, with its vehicles and their mean speed (km/h) in each second (medians of its frames), as
    :func:`zone_truth` gives SUMO's."""
    to_image = _ground_to_image()
    rng = random.Random(seed)
    tracker = MotionTracker(config.tracker)
    engine = IncidentEngine(config)
    queues = [d for d in engine.detectors if isinstance(d, QueueDetector)]
    lost: dict[str, float] = defaultdict(float)
    events: list[IncidentEvent] = []
    measured: dict[int, list[float]] = defaultdict(list)
    state: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for t, rows in _fcd(fcd):
        tracked = tracker.update(_boxes(to_image, rows, rng, lost, t), t)
        events += engine.update(tracked, t, T0 + timedelta(seconds=t))
        if queues:
            second = int(t + 1e-6)
            measured[second].append(queues[0].queue_m)
            kmh = queues[0].mean_kmh
            state[second].append((queues[0].vehicles, np.nan if kmh is None else kmh))
    if queue_m is not None:
        queue_m.update({second: float(np.median(frames)) for second, frames in measured.items()})
    if zone is not None:
        for second, frames in state.items():
            a = np.array(frames)
            kmh = a[~np.isnan(a[:, 1]), 1]
            zone[second] = (float(np.median(a[:, 0])), float(np.median(kmh)) if len(kmh) else None)
    return events + list(engine.finish())


def score(
    events: list[IncidentEvent], found: list[Truth], kind: str, late_s: float = 10.0, early_s: float = 2.0
) -> Score:
    """Onsets of ``kind`` matched one to one with true incidents: an onset counts if it comes between
    ``early_s`` before the incident's start (a box's ground point and SUMO's vehicle front differ by a car
    length) and ``late_s`` after its end; each true incident matches at most one onset."""
    onsets = [(e.end - T0).total_seconds() for e in events if e.incident == kind and e.phase == "onset"]
    return score_onsets(onsets, found, kind, late_s, early_s)


def score_onsets(
    onsets: list[float], found: list[Truth], kind: str, late_s: float = 10.0, early_s: float = 2.0
) -> Score:
    """:func:`score` of onsets given as seconds from the run's start."""
    result = Score()
    onsets = sorted(onsets)
    unmatched = [truth for truth in found if truth.incident == kind]
    for at in onsets:
        match = next((t for t in unmatched if t.start - early_s <= at <= t.end + late_s), None)
        if match is None:
            result.fp += 1
        else:
            unmatched.remove(match)
            result.tp += 1
            result.delays.append(at - match.start)
            result.matched.append((at, match))
    result.fn = len(unmatched)
    return result
