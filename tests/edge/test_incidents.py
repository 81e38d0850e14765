"""Incident detectors on table-driven tracks: each fires on its positive case and stays quiet on the negative.

The camera: 1000x1000 px over a flat 100 m x 100 m square (10 px = 1 m), 10 frames a second.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from citytally.edge.config import CameraConfig, CameraConfigError, parse_camera_config
from citytally.edge.detections import Detections
from citytally.edge.incidents import IncidentEngine, fruin_level, queue_length_m, static
from citytally.edge.incidents.book import IncidentBook
from citytally.events import INCIDENT_ALIVE_S, EventIds, IncidentEvent, event_to_json, parse_event

PERSON, BICYCLE, CAR = 0, 1, 2
FPS = 10
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
Obj = tuple[int, float, float, int]  # track id, ground-point x, y (pixels), class id
Scene = Callable[[float], list[Obj]]

BASE = """
site = "test-site"
camera = "cam"
[source]
uri = "x.mp4"
frame_size = [1000, 1000]
[[zones]]
name = "road"
polygon = [[0, 400], [1000, 400], [1000, 600], [0, 600]]
[[zones]]
name = "square"
polygon = [[100, 100], [120, 100], [120, 120], [100, 120]]
[speed]
image_points = [[0, 0], [1000, 0], [1000, 1000], [0, 1000]]
ground_points_m = [[0, 0], [100, 0], [100, 100], [0, 100]]
"""


def camera(incidents: str) -> CameraConfig:
    return parse_camera_config(BASE + incidents, "test.toml")


def frame(objects: Iterable[Obj]) -> Detections:
    rows = list(objects)
    if not rows:
        return Detections.empty()
    arr = np.array(rows, dtype=np.float64)
    x, y = arr[:, 1], arr[:, 2]
    xyxy = np.stack([x - 10, y - 30, x + 10, y], axis=1).astype(np.float32)
    return Detections(
        xyxy, np.full(len(arr), 0.9, np.float32), arr[:, 3].astype(np.int64), arr[:, 0].astype(np.int64)
    )


def run(
    config: CameraConfig, scene: Scene, seconds: float, pictures: Callable[[float], np.ndarray] | None = None
) -> list[IncidentEvent]:
    engine = IncidentEngine(config)
    events: list[IncidentEvent] = []
    for k in range(int(seconds * FPS)):
        t = k / FPS
        if pictures is not None:
            engine.see(pictures(t))
        events += engine.update(frame(scene(t)), t, T0 + timedelta(seconds=t))
    events += engine.finish()
    for event in events:  # every event survives the wire
        assert parse_event(event_to_json(event)) == event
    return events


def onsets(events: list[IncidentEvent], kind: str) -> list[IncidentEvent]:
    return [e for e in events if e.incident == kind and e.phase == "onset"]


def seconds(at: datetime) -> float:
    return (at - T0).total_seconds()


# -- stopped vehicle -----------------------------------------------------------------------------------

STOPPED = '[[incidents.stopped_vehicle]]\nzone = "road"\nmin_stop_s = 5\n'


def drive_and_stop(stop_at: float | None, stop_for: float, gap: tuple[float, float] | None = None) -> Scene:
    """A car at 10 m/s along y = 500, standing still from ``stop_at`` for ``stop_for`` s, then going on.

    ``gap``: the detector misses it in (from, to), and the tracker gives it a new id afterwards.
    """

    def scene(t: float) -> list[Obj]:
        if gap is not None and gap[0] <= t < gap[1]:
            return []
        if stop_at is None or t < stop_at:
            x = 100 * t
        elif t < stop_at + stop_for:
            x = 100 * stop_at
        else:
            x = 100 * (t - stop_for)
        track = 2 if gap is not None and t >= gap[1] else 1
        return [(track, x, 500, CAR)] if x < 1000 else []

    return scene


@pytest.mark.parametrize(
    ("case", "scene", "fires"),
    [
        ("stops 20 s", drive_and_stop(3.0, 20.0), True),
        ("drives through", drive_and_stop(None, 0.0), False),
        ("stops 3 s only", drive_and_stop(3.0, 3.0), False),
        ("stops, lost 1.5 s, new track id", drive_and_stop(3.0, 20.0, gap=(5.0, 6.5)), True),
    ],
)
def test_stopped_vehicle(case: str, scene: Scene, fires: bool) -> None:
    events = run(camera(STOPPED), scene, 30)
    found = onsets(events, "stopped_vehicle")
    assert len(found) == (1 if fires else 0), case
    if fires:
        # The clock starts when it stops (also across the lost frames), so it fires 5-7 s after.
        assert 3.0 <= seconds(found[0].start) <= 4.0
        assert 8.0 <= seconds(found[0].end) <= 10.0
        cleared = [e for e in events if e.phase == "cleared" and e.incident_id == found[0].incident_id]
        assert len(cleared) == 1 and 22.5 <= seconds(cleared[0].end) <= 24.0
        assert not any("track" in k for k in found[0].details)


def test_an_incident_still_open_when_the_stream_ends_says_so() -> None:
    """A clearance at the end of the stream is the camera no longer watching, not the vehicle gone: its
    details say ``stream_ended``; one that ended while the camera watched does not."""
    drove_off = run(camera(STOPPED), drive_and_stop(3.0, 10.0), 30)
    still_there = run(camera(STOPPED), drive_and_stop(3.0, 100.0), 30)
    [ended] = [e for e in drove_off if e.phase == "cleared"]
    [cut] = [e for e in still_there if e.phase == "cleared"]
    assert "stream_ended" not in ended.details
    assert cut.details["stream_ended"] == 1 and 29.0 <= seconds(cut.end) <= 30.0
    assert all("stream_ended" not in e.details for e in still_there if e.phase != "cleared")


def test_a_vehicle_seen_standing_for_less_than_min_stop_s_is_no_stopped_vehicle() -> None:
    # A car stops at x = 300 at t = 3 s and is seen standing there for 2 s; then the detector loses it for
    # good (it is occluded, or drives off unseen). It was never seen standing for min_stop_s (5 s): no
    # incident, though its stop is held for regain_s in case it is found again.
    def stands_then_vanishes(t: float) -> list[Obj]:
        return drive_and_stop(3.0, 20.0)(t) if t < 5.0 else []

    assert onsets(run(camera(STOPPED), stands_then_vanishes, 20), "stopped_vehicle") == []

    # Found again standing at the same place after 3 s out of view, with the same id, and seen standing
    # until it drives off at t = 12 s: the stop, seen from t = 3.9 s (a second of standing still tells it),
    # goes on; the incident fires once it has been seen standing for 5 s (t = 8.9 s), starts at 3.9 s, and
    # is cleared at the last sight of it standing, with the time seen (not the regain_s held after that).
    def occluded_for_3_s(t: float) -> list[Obj]:
        return drive_and_stop(3.0, 9.0)(t) if not 5.0 <= t < 8.0 else []

    events = run(camera(STOPPED), occluded_for_3_s, 25)
    found = onsets(events, "stopped_vehicle")
    assert len(found) == 1 and 3.0 <= seconds(found[0].start) <= 4.0
    assert seconds(found[0].end) - seconds(found[0].start) == pytest.approx(5.0, abs=0.15)
    cleared = [e for e in events if e.phase == "cleared"]
    assert len(cleared) == 1 and 12.0 <= seconds(cleared[0].end) <= 13.0  # standing still, over a second
    assert cleared[0].details["stopped_s"] == round(seconds(cleared[0].end) - seconds(found[0].start))


def test_stopped_vehicle_ignores_classes_not_watched() -> None:
    def person_standing(t: float) -> list[Obj]:
        return [(1, 300, 500, PERSON)]

    assert onsets(run(camera(STOPPED), person_standing, 15), "stopped_vehicle") == []


def test_stopped_vehicle_without_calibration_uses_pixels() -> None:
    config = parse_camera_config(BASE.split("[speed]")[0] + STOPPED, "test.toml")
    assert len(onsets(run(config, drive_and_stop(3.0, 20.0), 30), "stopped_vehicle")) == 1
    assert onsets(run(config, drive_and_stop(None, 0.0), 30), "stopped_vehicle") == []


# -- wrong way -----------------------------------------------------------------------------------------

WRONG_WAY = '[[incidents.wrong_way]]\nzone = "road"\ndirection = [1, 0]\n'
WRONG_WAY_PATH = '[[incidents.wrong_way]]\nzone = "road"\npath = [[0, 500], [500, 450], [1000, 500]]\n'


def moving(vx: float, vy: float = 0.0, x0: float = 500, cls: int = CAR) -> Scene:
    return lambda t: [(1, x0 + vx * t, 500 + vy * t, cls)]


@pytest.mark.parametrize(
    ("case", "rule", "scene", "fires"),
    [
        ("against the direction", WRONG_WAY, moving(-80), True),
        ("with the direction", WRONG_WAY, moving(80, x0=0), False),
        ("standing", WRONG_WAY, moving(0), False),
        ("across the lane", WRONG_WAY, moving(0, vy=8, x0=500), False),
        ("against a path", WRONG_WAY_PATH, moving(-80), True),
        ("along a path", WRONG_WAY_PATH, moving(80, x0=0), False),
        ("a pedestrian against it", WRONG_WAY, moving(-15, cls=PERSON), False),
    ],
)
def test_wrong_way(case: str, rule: str, scene: Scene, fires: bool) -> None:
    events = run(camera(rule), scene, 6)
    found = onsets(events, "wrong_way")
    assert len(found) == (1 if fires else 0), case
    if fires:
        assert seconds(found[0].end) <= 2.5  # 15 m (min_distance_m) against the direction at 8 m/s
        assert found[0].severity == "critical"


@pytest.mark.parametrize(
    ("scene", "began"),
    [  # 5 m/s the right way, a U-turn at 10 s; standing 20 s, then 8 m/s the wrong way; wrong way all along
        (lambda t: [(1, 100 + 50 * t if t < 10 else 600 - 50 * (t - 10), 500, CAR)], 10.0),
        (lambda t: [(1, 800 if t < 20 else 800 - 80 * (t - 20), 500, CAR)], 20.0),
        (lambda t: [(1, 900 - 80 * t, 500, CAR)], 0.0),
    ],
)
def test_a_wrong_way_incident_starts_when_the_wrong_way_driving_did(scene: Scene, began: float) -> None:
    """Its start was when the vehicle was first seen: a car that U-turned after 10 s on the road, or drove
    off the wrong way after standing 20 s, was said to have been going the wrong way since 0 s."""
    (onset,) = onsets(run(camera(WRONG_WAY), scene, 26), "wrong_way")
    assert seconds(onset.start) == pytest.approx(began, abs=0.3)


def test_a_stream_that_was_away_clears_what_was_open_as_a_stream_end() -> None:
    """A live stream reconnected after a minute away (its clock runs on by the time away): a car standing
    all along was reported as having left when the stream went (cleared, with nothing to say the camera had
    not been watching), then as a new stop."""
    engine = IncidentEngine(camera(STOPPED))
    events: list[IncidentEvent] = []
    times = [k / FPS for k in range(15 * FPS)] + [75 + k / FPS for k in range(15 * FPS)]  # away 15-75 s
    for t in times:
        events += engine.update(frame([(1, 300, 500, CAR)]), t, T0 + timedelta(seconds=t))
    events += engine.finish()
    cleared = [e for e in events if e.phase == "cleared"]
    assert len(cleared) == 2 and all(e.details.get("stream_ended") == 1 for e in cleared)
    assert seconds(cleared[0].end) == pytest.approx(14.9)  # its last sighting before the stream went


def test_a_wrong_way_driver_missed_for_seconds_stays_one_incident() -> None:
    """A wrong-way car at 20 km/h, missed from 4 to 11.5 s and found again under a new track where it would
    be by then: still the same incident. Before, the new track had to cover min_distance_m (15 m, 2.7 s at
    this speed) again; with the miss that outlasted clear_s (10 s) and the one car made two incidents (a
    SUMO replay, bench/incidents_sumo.py, had one such)."""

    def scene(t: float) -> list[Obj]:
        if 4.0 <= t < 11.5:
            return []
        return [(1 if t < 4 else 2, 900 - 55.6 * t, 500, CAR)]

    events = run(camera(WRONG_WAY), scene, 15)
    assert [e.phase for e in events if e.incident == "wrong_way"] == ["onset", "cleared"]


def test_a_car_going_the_right_way_where_a_lost_wrong_way_driver_would_be_is_not_one() -> None:
    """The wrong-way car of the test above is lost for good at 4 s; a car going the right way passes
    where it would be: the incident clears clear_s after the wrong-way car was last seen, and no other."""

    def scene(t: float) -> list[Obj]:
        if t < 4.0:
            return [(1, 900 - 55.6 * t, 500, CAR)]
        return [(2, 200 + 55.6 * (t - 4), 500, CAR)] if t < 12 else []

    events = [e for e in run(camera(WRONG_WAY), scene, 16) if e.incident == "wrong_way"]
    assert [e.phase for e in events] == ["onset", "cleared"]
    assert seconds(events[1].end) == pytest.approx(3.9, abs=0.15)


@pytest.mark.parametrize(
    ("case", "scene", "detected_at"),
    [
        ("a car at 18 km/h", moving(-50, x0=900), 3.0),
        ("a cyclist at 11 km/h", moving(-30, x0=900, cls=BICYCLE), 5.0),
        ("a car at 6 km/h", moving(-16.7, x0=900), 9.0),
    ],
)
def test_slow_wrong_way_movement_counts_once_it_has_covered_min_distance(
    case: str, scene: Scene, detected_at: float
) -> None:
    # 15 m (min_distance_m) against the direction, however long it took (within the 10 s of a track's
    # history kept): a wrong-way driver on a city street, or a cyclist, is slower than the 27 km/h that
    # covering 15 m within window_s (2 s) took, which went unseen.
    found = onsets(run(camera(WRONG_WAY), scene, 12), "wrong_way")
    assert len(found) == 1, case
    assert seconds(found[0].end) == pytest.approx(detected_at, abs=0.15)
    assert found[0].details["moved_m"] == pytest.approx(15.0, abs=0.5)


# -- queue and congestion ------------------------------------------------------------------------------

QUEUE = (
    '[[zones]]\nname = "approach"\npolygon = [[450, 0], [550, 0], [550, 1000], [450, 1000]]\n'
    '[[incidents.queue]]\nzone = "approach"\nhead = [500, 1000]\nonset_s = 3\n'
)


def queue_scene(spacing_m: float, n: int, kmh: float, leave_at: float = 1e9) -> Scene:
    """``n`` cars from the head (y = 1000) back up the approach, ``spacing_m`` apart, at ``kmh``."""

    def scene(t: float) -> list[Obj]:
        if t >= leave_at:
            return []
        shift = kmh / 3.6 * 10 * t
        return [(k + 1, 500, (1000 - 5 - k * spacing_m * 10 - shift) % 1000, CAR) for k in range(n)]

    return scene


@pytest.mark.parametrize(
    ("case", "scene", "queue", "congestion"),
    [
        ("7 cars standing 6 m apart, then gone", queue_scene(6, 7, 0, leave_at=15), True, True),
        ("7 cars at 50 km/h", queue_scene(6, 7, 50), False, False),
        ("3 cars standing", queue_scene(6, 3, 0), False, False),
        ("4 standing 25 m apart (no chain)", queue_scene(25, 4, 0), False, True),
        ("7 cars crawling at 10 km/h", queue_scene(6, 7, 10), False, True),
    ],
)
def test_queue_and_congestion(case: str, scene: Scene, queue: bool, congestion: bool) -> None:
    events = run(camera(QUEUE), scene, 20)
    assert len(onsets(events, "queue")) == int(queue), case
    assert len(onsets(events, "congestion")) == int(congestion), case
    if queue:
        opened = onsets(events, "queue")[0]
        assert opened.details["queue_m"] == pytest.approx(36.0, abs=1.0)
        assert opened.details["queued"] == 7
        cleared = [e for e in events if e.incident == "queue" and e.phase == "cleared"]
        assert len(cleared) == 1 and 14.5 <= seconds(cleared[0].end) <= 15.0


def run_queue(scene: Scene, seconds: float) -> tuple[list[IncidentEvent], dict[int, float]]:
    """The queue rule's events over the scene, and its queue length (m) at each frame."""
    engine = IncidentEngine(camera(QUEUE))
    events: list[IncidentEvent] = []
    lengths = {}
    for k in range(int(seconds * FPS)):
        t = k / FPS
        events += engine.update(frame(scene(t)), t, T0 + timedelta(seconds=t))
        lengths[k] = engine.detectors[0].queue_m  # type: ignore[attr-defined]
    return events, lengths


def standing_queue(missed: Callable[[int, float], bool], renamed: dict[int, tuple[float, int]]) -> Scene:
    """7 cars standing 6 m apart from the head (their back ends 0.5-36.5 m from it); car ``k`` is missed
    when ``missed(k, t)``; ``renamed[k] = (t, id)``: from ``t`` the tracker follows car ``k`` as ``id``."""
    standing = queue_scene(6, 7, 0)

    def scene(t: float) -> list[Obj]:
        cars = []
        for tid, x, y, cls in standing(t):
            if missed(tid, t):
                continue
            since, new_id = renamed.get(tid, (1e9, tid))
            cars.append((new_id if t >= since else tid, x, y, cls))
        return cars

    return scene


def test_a_queue_whose_last_cars_the_detector_misses_now_and_then_still_opens_in_time() -> None:
    """The last two cars (30.5 and 36.5 m back) missed one frame in seven: without them the queue is
    24.5 m, short of onset_m (30). A queued car the detector misses stays where it stood for regain_s, so
    the queue opens onset_s (3 s) after it is seen standing (its speeds take 0.5 s), 36 m long with its 7
    cars. Before, each miss started
    the onset clock again: no queue in 20 s (a SUMO replay found 37 of 51 queues, bench/queues_sumo.py)."""
    scene = standing_queue(lambda k, t: k >= 6 and round(t * FPS) % 7 == 3, {})
    events = run(camera(QUEUE), scene, 20)
    opened = onsets(events, "queue")
    assert len(opened) == 1
    assert seconds(opened[0].end) == pytest.approx(3.5, abs=0.15)
    assert (opened[0].details["queue_m"], opened[0].details["queued"]) == (pytest.approx(36.0, abs=1.0), 7)


def test_a_car_refound_under_a_new_track_id_is_one_car_and_a_car_gone_leaves_the_queue() -> None:
    """The last car, missed 0.5-1.5 s, comes back as track 99 where it stood: one car, not two (7 queued
    at the onset). Cars 6 and 7 gone for good at 8 s: the queue keeps them regain_s (3 s), then is 24.5 m."""
    scene = standing_queue(lambda k, t: (k == 7 and 0.5 <= t < 1.5) or (k >= 6 and t >= 8), {7: (1.5, 99)})
    events, lengths = run_queue(scene, 12)
    assert [e.details["queued"] for e in onsets(events, "queue")] == [7]
    assert lengths[7 * FPS] == pytest.approx(36.0, abs=1.0)
    assert lengths[int(10.5 * FPS)] == pytest.approx(36.0, abs=1.0)  # 2.5 s after they went: kept
    assert lengths[int(11.5 * FPS)] == pytest.approx(24.0, abs=1.0)  # 3.5 s: gone


def discharging_queue(green_at: float) -> Scene:
    """7 cars standing 6 m apart from the head; at ``green_at`` the first moves off (2 m/s²) and each
    after it 1.5 s after the one ahead, as a queue discharges at a green light; past the head they go."""

    def scene(t: float) -> list[Obj]:
        cars = []
        for k in range(7):
            moving = max(0.0, t - green_at - 1.5 * k)
            y = 995 - 60 * k + 10 * moving**2  # 10 px a metre; 2 m/s²: a t² / 2 = t² metres
            if y < 1000:
                cars.append((k + 1, 500, y, CAR))
        return cars

    return scene


def test_a_queue_goes_on_while_its_front_drives_off_and_clears_when_its_back_does() -> None:
    """The light turns green at 10 s: at 16.5 s the first four cars are on their way and the last three
    still stand 24.5-36.5 m back. The queue is still 36 m long (its back has not moved) and one incident;
    it clears once its last car drives off (from 19 s). Before, the queue had to start with a standing car
    within max_gap_m (20 m) of the head: it fell to 0 m with the fourth car moving and cleared at 15.9 s
    while three cars still stood; an approach past its capacity, whose queue never clears, raised a new
    incident every cycle."""
    events, lengths = run_queue(discharging_queue(green_at=10.0), 30)
    queue = [e for e in events if e.incident == "queue"]
    assert [e.phase for e in queue if e.phase != "update"] == ["onset", "cleared"]
    assert lengths[int(16.5 * FPS)] == pytest.approx(36.0, abs=1.0)
    assert 19.0 <= seconds(queue[-1].end) <= 21.0


def jittered_approach(kmh: float, jitter_m: float, seed: int = 15) -> Scene:
    """7 cars driving towards the head at ``kmh``, 8 m apart, each ground point jittered by a normal
    ``jitter_m`` each frame along and across the road (a detector's boxes at the far end of an approach)."""
    noise = np.random.default_rng(seed).normal(0.0, jitter_m * 10, (30 * FPS, 7, 2))

    def scene(t: float) -> list[Obj]:
        k, ahead = round(t * FPS), kmh / 3.6 * 10 * t
        return [(n + 1, 500 + noise[k, n, 0], 300 - n * 80 + ahead + noise[k, n, 1], CAR) for n in range(7)]

    return scene


APPROACH = (
    '[[zones]]\nname = "approach"\npolygon = [[300, 0], [700, 0], [700, 1000], [300, 1000]]\n'
    '[[incidents.queue]]\nzone = "approach"\nhead = [500, 1000]\n'
)


@pytest.mark.parametrize(("kmh", "congested"), [(12.0, True), (25.0, False)])
def test_congestion_reads_the_speed_along_the_approach_not_the_jitter(kmh: float, congested: bool) -> None:
    """Cars at 12 km/h, seen with 2.5 m of jitter, are congestion (15 km/h), and the zone's mean speed
    says 12; cars at 25 km/h are not. Before, the mean was of each car's size of speed, which the jitter
    adds to whichever way it goes (15.5 km/h on average here, over the threshold in about half the frames;
    a standing car's a few km/h): no congestion for 20 s; on SUMO's congested approaches the mean came out
    3 km/h over SUMO's and congestion was found late or not at all."""
    engine = IncidentEngine(camera(APPROACH))
    scene, events, means = jittered_approach(kmh, 2.5), [], []
    for k in range(20 * FPS):
        events += engine.update(frame(scene(k / FPS)), k / FPS, T0 + timedelta(seconds=k / FPS))
        means.append(engine.detectors[0].mean_kmh)  # type: ignore[attr-defined]
    found = onsets(events, "congestion")
    assert len(found) == int(congested)
    # Over 2-8 s, before the first car comes within a few metres of the head, where its jitter across the
    # road turns its way to the head (the mean is of the speed towards the head).
    assert np.mean(means[2 * FPS : 8 * FPS]) == pytest.approx(kmh, abs=1.0)
    if congested:
        assert seconds(found[0].end) <= 7.0


def test_congestion_wavering_about_its_threshold_is_one_incident() -> None:
    """Traffic crawling at 4 km/h for 8 s, then 9 km/h for 5 s, and again (congested_kmh 6): one
    congestion, held up to 11 km/h (``clear_kmh``, by default congested_kmh + 5). Before, it cleared each
    time the mean went over 6 km/h for clear_s and opened again: a new incident every 13 s."""

    def distance_m(t: float) -> float:
        cycles, into = divmod(t, 13.0)
        return (cycles * (8 * 4 + 5 * 9) + min(into, 8) * 4 + max(into - 8, 0) * 9) / 3.6

    def scene(t: float) -> list[Obj]:
        return [(n + 1, 500, 500 - n * 70 + 10 * distance_m(t), CAR) for n in range(7)]

    config = APPROACH.replace("head = [500, 1000]\n", "head = [500, 1000]\ncongested_kmh = 6\n")
    congestion = [e for e in run(camera(config), scene, 38) if e.incident == "congestion"]
    assert [e.phase for e in congestion if e.phase != "update"] == ["onset", "cleared"]
    assert congestion[-1].details.get("stream_ended") == 1


def test_queue_length_chains_from_the_head() -> None:
    head = np.array([0.0, 0.0])
    points = np.array([[0, 5.0], [0, 12.0], [0, 40.0], [0, 18.0]])
    assert queue_length_m(head, points, max_gap_m=10) == (18.0, 3)
    assert queue_length_m(head, points[2:3], max_gap_m=10) == (0.0, 0)
    # Moving points link the chain but do not count: the queue's back is its farthest queued point.
    moving = np.array([False, True, True, False])
    assert queue_length_m(head, points, max_gap_m=10, queued=~moving) == (18.0, 2)
    assert queue_length_m(head, points, max_gap_m=10, queued=np.array([False, False, True, True])) == (
        18.0,
        1,
    )
    assert queue_length_m(head, points, max_gap_m=25, queued=np.array([False, False, True, True])) == (
        40.0,
        2,
    )


# -- pedestrians and cyclists on the carriageway --------------------------------------------------------

ON_ROAD = '[[incidents.pedestrian_on_roadway]]\nzone = "road"\nmin_duration_s = 2\n'


@pytest.mark.parametrize(
    ("case", "scene", "fires"),
    [
        ("person standing on the road", lambda t: [(1, 300, 500, PERSON)], True),
        ("cyclist riding along the road", lambda t: [(1, 10 + 40 * t, 500, BICYCLE)], True),
        ("person crossing in 1 s", lambda t: [(1, 300, 350 + 300 * t, PERSON)], False),
        ("person on the pavement", lambda t: [(1, 300, 300, PERSON)], False),
        ("car on the road", lambda t: [(1, 300, 500, CAR)], False),
    ],
)
def test_pedestrian_on_roadway(case: str, scene: Scene, fires: bool) -> None:
    found = onsets(run(camera(ON_ROAD), scene, 6), "pedestrian_on_roadway")
    assert len(found) == int(fires), case
    if fires:
        assert 2.0 <= seconds(found[0].end) <= 2.2
        assert found[0].zone == "road"


def test_a_pedestrian_waiting_at_the_kerb_is_not_on_the_roadway() -> None:
    # A pedestrian waits 30 s at the road's edge (y = 400 px), 0.3 m back from it, its ground point jittering
    # by 0.3 m (standard deviation, seeded), which puts it over the edge in one frame in twelve: never on the
    # carriageway (it was, twice in 30 s). 0.3 m out on the road instead, the jitter puts it on
    # the pavement in about a sixth of the frames: on the carriageway from its first sighting, one incident.
    jitter = np.random.default_rng(1).normal(0, 3.0, 301)

    def waiting(y: float) -> Scene:
        return lambda t: [(1, 300, y + float(jitter[round(t * FPS)]), PERSON)]

    assert onsets(run(camera(ON_ROAD), waiting(397.0), 30), "pedestrian_on_roadway") == []
    events = run(camera(ON_ROAD), waiting(403.0), 30)
    found = onsets(events, "pedestrian_on_roadway")
    assert len(found) == 1 and seconds(found[0].start) == 0.0 and 2.0 <= seconds(found[0].end) <= 2.2
    cleared = [e for e in events if e.phase == "cleared"]
    assert len(cleared) == 1 and seconds(cleared[0].end) > 29.5


def test_a_pedestrian_on_the_road_stays_one_across_the_trackers_new_ids() -> None:
    """A pedestrian standing on the road for 10 s whose track the tracker gives a new id every 1.5 s (missed
    for 0.3 s between) is on it since the first: one incident, from 0 s. One who is lost on the road, and
    another found on it 40 m away 0.1 s later, are two people on the road for 1.5 s each, not one for 3 s."""

    def renamed(t: float) -> list[Obj]:
        if t >= 10 or t % 1.5 >= 1.2:
            return []
        return [(1 + int(t // 1.5), 300 + 2 * (t % 1.5), 500, PERSON)]

    events = run(camera(ON_ROAD), renamed, 14)
    found = onsets(events, "pedestrian_on_roadway")
    assert len(found) == 1 and seconds(found[0].start) == 0.0 and 2.0 <= seconds(found[0].end) <= 2.3
    assert found[0].details["persons"] == 1

    def one_then_another(t: float) -> list[Obj]:
        if t < 1.5:
            return [(1, 300, 420, PERSON)]
        if 1.6 <= t < 3.1:
            return [(2, 700, 420, PERSON)]
        return [(2, 700, 380, PERSON)] if t >= 3.1 else []

    assert onsets(run(camera(ON_ROAD), one_then_another, 6), "pedestrian_on_roadway") == []


# -- crowd density --------------------------------------------------------------------------------------

CROWD = '[[incidents.crowd_density]]\nzone = "square"\nwindow_s = 1\nmin_duration_s = 1\n'


def crowd(n: int) -> Scene:
    """``n`` people standing in the 2 m x 2 m square (4 m²)."""
    grid = [(101 + (k % 6) * 3.3, 101 + (k // 6) * 3.3) for k in range(n)]
    return lambda t: [(k + 1, x, y, PERSON) for k, (x, y) in enumerate(grid)]


@pytest.mark.parametrize(
    ("n", "fires", "level", "severity", "collapse"),
    [
        (1, False, "A", None, 0),  # 0.25 persons/m²
        (6, False, "E", None, 0),  # 1.5: level E, below the alert level F
        (10, True, "F", "warning", 0),  # 2.5 persons/m²
        (17, True, "F", "critical", 0),  # 4.25: crush risk
        (21, True, "F", "critical", 1),  # 5.25: flow collapse
    ],
)
def test_crowd_density(n: int, fires: bool, level: str, severity: str | None, collapse: int) -> None:
    config = camera(CROWD.replace("window_s", 'alert_level = "F"\nwindow_s'))
    found = onsets(run(config, crowd(n), 4), "crowd_density")
    assert len(found) == int(fires)
    if fires:
        assert found[0].details["level"] == level
        assert found[0].details["area_m2"] == pytest.approx(4.0)
        assert found[0].details["persons_per_m2"] == pytest.approx(n / 4, abs=0.01)
        assert found[0].severity == severity
        assert found[0].details["flow_collapse"] == collapse


@pytest.mark.parametrize("persons", [16, 9])  # 4.0 persons/m²: the crush line; 2.25: the walkway E/F line
def test_a_crowd_at_a_threshold_does_not_flap(persons: int) -> None:
    """A crowd hovering at a threshold, its count one person up or down from frame to frame as detectors
    give it, was escalated to critical and back 159 times in ten minutes at the crush line (each one an
    alarm to acknowledge), or changed level 292 times at the walkway's E/F line."""
    noise = np.random.default_rng(1).integers(-1, 2, 600 * FPS + 1)

    def hovering(t: float) -> list[Obj]:
        return crowd(persons + int(noise[round(t * FPS)]))(t)

    events = [e for e in run(camera('[[incidents.crowd_density]]\nzone = "square"\n'), hovering, 600)]
    severities = [e.severity for e in events]
    escalations = sum(
        1 for a, b in zip(severities, severities[1:], strict=False) if (a, b) == ("warning", "critical")
    )
    levels = [e.details["level"] for e in events]
    assert escalations <= 1 and sum(1 for a, b in zip(levels, levels[1:], strict=False) if a != b) <= 1
    assert len(onsets(events, "crowd_density")) == 1
    assert len(events) <= 2 + 600 // 30  # onset, clearance, an update each update_s (30 s) at most


def test_a_crowd_that_thins_goes_down_once_clear_of_the_threshold() -> None:
    """The hysteresis only holds a level while the density stays near its threshold: a crowd that thins
    out well below it is graded down (and the incident cleared) as before."""

    def thinning(t: float) -> list[Obj]:
        return crowd(18 if t < 20 else 14 if t < 40 else 2)(t)  # 4.5, then 3.5, then 0.5 persons/m²

    events = [e for e in run(camera(CROWD), thinning, 60) if e.incident == "crowd_density"]
    assert [e.severity for e in events if e.phase != "cleared"][:1] == ["critical"]
    assert "warning" in [e.severity for e in events if e.phase == "update"]  # 3.5 is clear of 4 - 0.25
    assert events[-1].phase == "cleared" and seconds(events[-1].end) < 45


@pytest.mark.parametrize(
    ("density", "walkway", "queuing"),
    [(0.2, "A", "A"), (0.5, "C", "A"), (1.0, "D", "B"), (1.5, "E", "C"), (3.0, "F", "D"), (6.0, "F", "F")],
)
def test_fruin_levels(density: float, walkway: str, queuing: str) -> None:
    assert fruin_level(density, "walkway") == walkway
    assert fruin_level(density, "queuing") == queuing


# -- object left standing --------------------------------------------------------------------------------

LEFT = (
    '[[incidents.left_object]]\nzone = "road"\nmin_static_s = 4\nunattended_s = 2\nmin_area_px = 300\n'
    "scale = 0.5\n"
)


Light = Callable[[float, np.ndarray], np.ndarray]
_YY, _XX = np.mgrid[0:1000, 0:1000]


def pool(x: float, y: float) -> np.ndarray:
    """A street lamp's soft pool of light round (x, y): 60 grey levels at its middle, fading over ~100 px."""
    return 60 * np.exp(-(((_XX - x) / 250.0) ** 2 + ((_YY - y) / 120.0) ** 2))[..., None]


POOL, POOL_ON_BOX = pool(500, 500), pool(320, 480)


def picture(
    box_from: float | None, moving_box: bool = False, light: Light | None = None
) -> Callable[[float], np.ndarray]:
    """Grey noisy road; from ``box_from`` s a bright 40x40 px box stands at (300, 480) (or moves along);
    ``light`` changes the whole picture at time t (a cloud, the camera's exposure, a lamp)."""
    rng = np.random.default_rng(7)
    noise = [np.clip(100 + rng.normal(0, 4, (1000, 1000, 3)), 0, 255).astype(np.uint8) for _ in range(3)]

    def draw(t: float) -> np.ndarray:
        image = noise[round(t * FPS) % 3].copy()
        if box_from is not None and t >= box_from:
            x = 300 + (60 * (t - box_from) if moving_box else 0)
            image[460:500, int(x) : int(x) + 40] = 220
        if light is not None:
            image = np.clip(light(t, image.astype(np.float32)), 0, 255).astype(np.uint8)
        return image

    return draw


def left_objects(
    scene: Scene, seconds: float, pictures: Callable[[float], np.ndarray]
) -> list[IncidentEvent]:
    """The left-object events of :data:`LEFT`'s rule over ``seconds`` of ``scene`` and ``pictures``."""
    return [e for e in run(camera(LEFT), scene, seconds, pictures) if e.incident == "left_object"]


def picture_until(box_from: float, box_until: float) -> Callable[[float], np.ndarray]:
    """:func:`picture` with the box taken away at ``box_until``."""
    with_box, without = picture(box_from), picture(None)
    return lambda t: with_box(t) if t < box_until else without(t)


def brighter(t: float, image: np.ndarray) -> np.ndarray:
    return image * 1.4 if t >= 2 else image  # the camera's exposure steps up (or the sun comes out)


def dusk(t: float, image: np.ndarray) -> np.ndarray:
    return image * max(0.4, 1 - t / 15)  # the light falls to 40 % in 9 s


def lamp(t: float, image: np.ndarray) -> np.ndarray:
    return image + POOL if t >= 2 else image


def lamp_on_box(t: float, image: np.ndarray) -> np.ndarray:
    return image + POOL_ON_BOX if t >= 2 else image


@pytest.mark.parametrize(
    ("case", "pictures", "scene", "fires"),
    [
        ("box left at 2 s", picture(2.0), lambda t: [], True),
        ("nothing left", picture(None), lambda t: [], False),
        ("box moving along", picture(2.0, moving_box=True), lambda t: [], False),
        ("box with a person next to it", picture(2.0), lambda t: [(1, 360, 500, PERSON)], False),
        # A change of light is no object, whatever it does to the grey levels of the zone.
        ("the light steps up 40 %", picture(None, light=brighter), lambda t: [], False),
        ("dusk", picture(None, light=dusk), lambda t: [], False),
        ("a lamp lights a pool", picture(None, light=lamp), lambda t: [], False),
        ("box left as the light steps up", picture(2.0, light=brighter), lambda t: [], True),
        ("box left at dusk", picture(2.0, light=dusk), lambda t: [], True),
        ("box left in a lamp's pool", picture(2.0, light=lamp_on_box), lambda t: [], True),
    ],
)
def test_left_object(case: str, pictures: Callable[[float], np.ndarray], scene: Scene, fires: bool) -> None:
    found = onsets(run(camera(LEFT), scene, 10, pictures), "left_object")
    assert len(found) == int(fires), case
    if fires:
        # Static once the fast background has taken it in (about 3 s), then 4 s to count.
        assert 6.0 <= seconds(found[0].end) <= 9.5
        assert found[0].details["area_px"] == pytest.approx(1600, rel=0.3)


def test_a_left_object_stays_one_incident_while_people_pass_it() -> None:
    # A box left at 2 s is an incident from about 8 s; at 10 s a person walks up to it, waits beside it
    # (10 px below) from 12 s to 15 s and walks on. That does not make the box attended again: one
    # incident, open until the stream ends (before, it was cleared 3 s after the person came near and
    # opened again once they had gone: two alerts for one box).
    def scene(t: float) -> list[Obj]:
        x = 200 + 80 * min(t - 10, 2) + 80 * max(t - 15, 0)
        return [(1, x, 540, PERSON)] if 10 <= t < 18 else []

    events = left_objects(scene, 26, picture(2.0))
    assert len(onsets(events, "left_object")) == 1
    assert [e.details.get("stream_ended") for e in events if e.phase == "cleared"] == [1]
    # Someone who takes it away ends it: the box goes at 14 s.
    events = left_objects(scene, 20, picture_until(2.0, 14.0))
    cleared = [e for e in events if e.phase == "cleared"]
    assert len(onsets(events, "left_object")) == 1 and len(cleared) == 1
    assert 13.5 <= seconds(cleared[0].end) <= 14.5 and "stream_ended" not in cleared[0].details


def test_a_road_user_who_passes_between_two_looks_attends_a_left_object() -> None:
    # The rule looks at the picture every check_s (here 2 s: at 0, 2, 4 ... s) but notes every frame who
    # comes near: someone who stops by the box for 0.3 s in the middle of every 2 s, never at a look,
    # attends it all the same (no incident); a rule that noted road users only at its looks would see the
    # box always alone and raise one from about 8 s. The same box with nobody by it raises one.
    config = camera(LEFT + "check_s = 2\n")

    def scene(t: float) -> list[Obj]:
        return [(1 + int(t // 2), 360, 500, PERSON)] if 0.8 <= t % 2 < 1.1 else []

    assert onsets(run(config, scene, 16, picture(2.0)), "left_object") == []
    found = onsets(run(config, lambda t: [], 16, picture(2.0)), "left_object")
    assert len(found) == 1 and 6.0 <= seconds(found[0].end) <= 10.5


def paved_road(box_from: float, shift: Callable[[float], int]) -> Callable[[float], np.ndarray]:
    """A paved road of 20-px slabs (60-160 grey levels) seen by a camera whose view is ``shift(t)`` px to
    the right; from ``box_from`` s a bright 40x40 px box stands at (300, 460)."""
    rng = np.random.default_rng(3)
    slabs = np.kron(rng.integers(60, 160, (60, 60)), np.ones((20, 20)))[..., None].repeat(3, axis=2)
    noise = [rng.normal(0, 4, (1000, 1000, 3)) for _ in range(3)]

    def draw(t: float) -> np.ndarray:
        x = shift(t)
        image = slabs[:1000, x : x + 1000] + noise[round(t * FPS) % 3]
        if t >= box_from:
            image[460:500, 300:340] = 230
        return np.clip(image, 0, 255).astype(np.uint8)

    return draw


def test_a_camera_that_turns_is_no_left_object(caplog: pytest.LogCaptureFixture) -> None:
    # At 2 s the camera turns, and the picture moves 30 px to the left: over half the zone differs from its
    # background, static once the fast one has taken it in. That is a new view, not an object: learned
    # again, with a warning. A box left at 8 s still is one.
    def pictures(box_from: float) -> Callable[[float], np.ndarray]:
        return paved_road(box_from, lambda t: 30 if t >= 2 else 0)

    with caplog.at_level("WARNING", logger="citytally.edge.incidents.static"):
        assert onsets(run(camera(LEFT), lambda t: [], 14, pictures(99.0)), "left_object") == []
    assert "test-site/cam: left_object in zone 'road'" in caplog.text
    assert "the camera moved); its background is learned again" in caplog.text
    events = left_objects(lambda t: [], 20, pictures(8.0))
    found = onsets(events, "left_object")
    assert len(found) == 1 and 12.0 <= seconds(found[0].end) <= 15.5
    # The box is static sooner over light slabs than over dark ones: it grows to its full size.
    assert events[-1].details["area_px"] == pytest.approx(1600, rel=0.3)


def test_the_road_a_long_parked_car_leaves_behind_is_no_left_object() -> None:
    # A car (a bright 20x30 px patch, detected and tracked there) parks at (320, 500) from t = 1 s to 61 s;
    # with min_static_s = 4 the slow background takes in a standing picture over 80 s, so a minute of car
    # would have made the bare road it leaves behind a "new static region", unattended once it has gone: a
    # left object (a ghost). The background learns only where no road user stands: no incident. The car
    # itself, tracked, never is one. A bag put down at the same place at t = 70 s (nobody near) still is.
    rng = np.random.default_rng(7)
    noise = [np.clip(100 + rng.normal(0, 4, (1000, 1000, 3)), 0, 255).astype(np.uint8) for _ in range(3)]
    parked = (1.0, 61.0)

    def pictures(t: float) -> np.ndarray:
        image = noise[round(t * FPS) % 3].copy()
        if parked[0] <= t < parked[1] or t >= 70.0:
            image[470:500, 310:330] = 220
        return image

    def scene(t: float) -> list[Obj]:
        return [(1, 320, 500, CAR)] if parked[0] <= t < parked[1] else []

    assert onsets(run(camera(LEFT), scene, 69, pictures), "left_object") == []
    found = onsets(run(camera(LEFT), scene, 85, pictures), "left_object")
    assert len(found) == 1 and seconds(found[0].start) >= 70.0 and seconds(found[0].end) <= 80.0
    # Parked there already when the stream starts, and gone at t = 30 s: the place is learned once free.
    parked = (0.0, 30.0)
    assert onsets(run(camera(LEFT), scene, 45, pictures), "left_object") == []


# -- lifecycle and config ------------------------------------------------------------------------------


def test_open_incident_updates_and_clears_with_one_id() -> None:
    config = camera(STOPPED.replace("min_stop_s = 5", "min_stop_s = 2") + "[incidents]\nupdate_s = 5\n")
    events = [e for e in run(config, drive_and_stop(1.0, 15.0), 25) if e.incident == "stopped_vehicle"]
    phases = [e.phase for e in events]
    assert phases[0] == "onset" and phases[-1] == "cleared"
    assert set(phases[1:-1]) == {"update"} and len(phases) >= 4  # every 5 s while its numbers change
    assert len({e.incident_id for e in events}) == 1
    assert all(e.start == events[0].start for e in events)
    assert [e.is_open for e in events] == [True] * (len(events) - 1) + [False]
    assert 15.5 <= seconds(events[-1].end) <= 17.0  # when it was last seen standing


def test_an_open_incident_that_does_not_change_is_reported_every_five_minutes() -> None:
    """A covered lens or a car standing for an hour: nothing changes, yet the hub must hear that it goes on
    (an edge killed or powered off sends no clearance, and its incident would stay open for good)."""
    book = IncidentBook("test-site", "cam", "view_changed", "road", clear_s=10, update_s=60)
    events = []
    for k in range(1, 12 * 60 + 1):  # held once a second for twelve minutes, the same numbers throughout
        at = T0 + timedelta(seconds=k)
        events += book.hold("zone", at, T0, "warning", {"change": "lost", "match": 0.1})
    events += book.sweep(T0 + timedelta(minutes=12, seconds=30))
    assert [(e.phase, seconds(e.end)) for e in events] == [
        ("onset", 1),
        ("update", 1 + INCIDENT_ALIVE_S),
        ("update", 1 + 2 * INCIDENT_ALIVE_S),
        ("cleared", 720),
    ]
    assert INCIDENT_ALIVE_S == 300


def test_two_rules_of_one_kind_on_one_zone_give_their_incidents_their_own_ids() -> None:
    """A warning after 2 s and another rule's critical after 4 s on one zone: in a recording both incidents
    had the same derived ids, and the hub refused the second rule's as the first's reported otherwise."""
    rules = '[[incidents.stopped_vehicle]]\nzone = "road"\nmin_stop_s = 2\n'
    rules += '[[incidents.stopped_vehicle]]\nzone = "road"\nmin_stop_s = 4\nseverity = "critical"\n'
    config = parse_camera_config("start_time = 2026-11-23T08:00:00Z\n" + BASE + rules, "test.toml")
    events = run(config, lambda t: [(1, 500.0, 500.0, CAR)], 10)  # a car standing in the zone for 10 s
    onsets = [e for e in events if e.phase == "onset"]
    assert len(onsets) == 2 and len({e.incident_id for e in onsets}) == 2
    assert len({e.id for e in events}) == len(events) and {e.id.version for e in events} == {5}


def test_a_recordings_incidents_keep_their_ids_when_it_is_analysed_again() -> None:
    """A recording's incident and event ids are derived (the same on every run, so the hub stores each
    once); two incidents that open in one frame still get two; a live stream's are random."""

    def run(derived: bool) -> list[IncidentEvent]:
        ids = EventIds("test-site", "cam", derived=derived)
        book = IncidentBook("test-site", "cam", "pedestrian_on_roadway", "road", 2, 60, ids)
        events = []
        for k in range(1, 30):
            at = T0 + timedelta(seconds=k)
            for key in ("a", "b") if k < 20 else ("a",):  # two walkers step in together; one leaves first
                events += book.hold(key, at, T0, "warning", {"longest_s": float(k)})
            events += book.sweep(at)
        return events + book.close_all()

    first, again = run(True), run(True)
    assert first == again and {e.id.version for e in first} == {5}
    assert len({e.incident_id for e in first}) == 2 and len({e.id for e in first}) == len(first)
    live = run(False), run(False)
    assert not {e.incident_id for e in live[0]} & {e.incident_id for e in live[1]}


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            '[[incidents.stopped_vehicle]]\nzone = "nowhere"\n',
            "test.toml:17: incidents.stopped_vehicle[0].zone: no zone named 'nowhere'",
        ),
        ('[[incidents.wrong_way]]\nzone = "road"\n', "incidents.wrong_way[0]: give either direction"),
        ('[[incidents.wrong_way]]\nzone = "road"\ndirection = [0, 0]\n', "direction [0, 0] has no direction"),
        (  # TOML has nan and inf: no direction at all
            '[[incidents.wrong_way]]\nzone = "road"\ndirection = [nan, 1]\n',
            "test.toml:18: incidents.wrong_way[0].direction[0]: Input should be a finite number",
        ),
        (
            '[[incidents.wrong_way]]\nzone = "road"\ndirection = [-inf, 0]\n',
            "direction[0]: Input should be a finite",
        ),
        (
            '[[incidents.queue]]\nzone = "road"\nhead = [1, 2]\nonset_m = 5\n',
            "clear_m (15.0) must not exceed onset_m",
        ),
        (
            '[[incidents.queue]]\nzone = "road"\nhead = [1200, 2]\n',
            "incidents.queue[0].head: point [1200.0, 2.0] is outside",
        ),
        (
            '[[incidents.queue]]\nzone = "road"\nhead = [1, 2]\ncongested_kmh = 25\nclear_kmh = 20\n',
            "clear_kmh (20.0) must not be under congested_kmh (25.0)",
        ),
        (
            '[[incidents.queue]]\nzone = "road"\nhead = [1, 2]\nregain_s = 90\n',
            "test.toml:19: incidents.queue[0].regain_s: Input should be less than or equal to 60",
        ),
        ('[[incidents.crowd_density]]\nzone = "road"\nalert_level = "G"\n', "alert_level: Input should be"),
        # settings that could never fire, or fired on nothing, were accepted without a word
        (
            f"{STOPPED}classes = []\n",
            "incidents.stopped_vehicle[0].classes: Tuple should have at least 1 item",
        ),
        (
            f'{STOPPED}classes = ["person"]\n',
            "incidents.stopped_vehicle[0].classes[0]: Input should be 'car',",
        ),
        (
            '[[incidents.pedestrian_on_roadway]]\nzone = "road"\nclasses = ["car"]\n',
            "incidents.pedestrian_on_roadway[0].classes[0]: Input should be 'person' or 'bicycle'",
        ),
        (  # level A is an empty zone's: it opened an incident on nobody
            '[[incidents.crowd_density]]\nzone = "road"\nalert_level = "A"\n',
            "incidents.crowd_density[0].alert_level: Input should be 'B', 'C', 'D', 'E' or 'F'",
        ),
        (  # not "should be less than or equal to 3600"
            '[[incidents.stopped_vehicle]]\nzone = "road"\nmin_stop_s = nan\n',
            "min_stop_s: Input should be a finite number",
        ),
        (
            '[[incidents.stopped_vehicle]]\nzone = "road"\nmin_stop = 5\n',
            "test.toml:18: incidents.stopped_vehicle[0].min_stop: unknown field",
        ),
        (
            '[[incidents.stopped_vehicle]]\nzone = "road"\nmin_stop_s = -1\n',
            "min_stop_s: Input should be greater than or equal to 0.5",
        ),
        (
            '[[incidents.view_changed]]\nzone = "everywhere"\n',
            "test.toml:17: incidents.view_changed[0].zone: no zone named 'everywhere'",
        ),
        (
            '[[incidents.view_changed]]\nzone = "road"\nmin_match = 1.5\n',
            "test.toml:18: incidents.view_changed[0].min_match: Input should be less than or equal to 1",
        ),
    ],
)
def test_config_errors_are_located(toml: str, message: str) -> None:
    with pytest.raises(CameraConfigError) as caught:
        camera(toml)
    assert message in str(caught.value)


def test_ground_rules_need_the_calibration() -> None:
    text = BASE.split("[speed]")[0] + '[[incidents.queue]]\nzone = "road"\nhead = [1, 2]\n'
    with pytest.raises(
        CameraConfigError, match=r"incidents\.queue\[0\]: needs the \[speed\] ground-plane calibration"
    ):
        parse_camera_config(text, "test.toml")
    crowd_with_area = BASE.split("[speed]")[0] + '[[incidents.crowd_density]]\nzone = "road"\narea_m2 = 40\n'
    assert parse_camera_config(crowd_with_area).incidents.crowd_density[0].area_m2 == 40


@pytest.mark.parametrize(
    ("rule", "field", "instead"),
    [
        (f"{WRONG_WAY}min_distance_m = 100\n", "min_distance_m", "min_distance_px"),
        (f"{STOPPED}max_speed_kmh = 2\n", "max_speed_kmh", "max_speed_px_s"),
        (f"{STOPPED}leave_m = 5\n", "leave_m", "leave_px"),
    ],
)
def test_a_ground_setting_without_the_calibration_is_refused_not_ignored(
    rule: str, field: str, instead: str
) -> None:
    """Without [speed] a setting in metres or km/h was accepted and ignored: with min_distance_m = 100 a
    wrong-way driver was still reported after the 30 px default."""
    with pytest.raises(
        CameraConfigError, match=rf"\[0\]\.{field}: is on the ground: give \[speed\], or {instead}"
    ):
        parse_camera_config(BASE.split("[speed]")[0] + rule, "test.toml")
    assert parse_camera_config(BASE + rule, "test.toml")  # with the calibration it is what it says


def test_a_camera_on_a_preset_tour_warns_once_in_ten_minutes(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A camera that moves between two presets every 6 s learns each view again, and nothing is left; the
    # warning is one line per ten minutes of the stream, not one per move (thousands a day on the edge).
    tour = paved_road(99.0, lambda t: 30 * (int(t // 6) % 2))
    with caplog.at_level("WARNING", logger="citytally.edge.incidents.static"):
        assert onsets(run(camera(LEFT), lambda t: [], 40, tour), "left_object") == []
    learned = [r.getMessage() for r in caplog.records if "learned again" in r.getMessage()]
    assert len(learned) == 1 and learned[0].endswith("learned again"), learned
    # With a shorter quiet time the next line says how often the view changed since the last one.
    monkeypatch.setattr(static, "_VIEW_WARNING_EVERY_S", 10.0)
    caplog.clear()
    with caplog.at_level("WARNING", logger="citytally.edge.incidents.static"):
        run(camera(LEFT), lambda t: [], 40, tour)
    learned = [r.getMessage() for r in caplog.records if "learned again" in r.getMessage()]
    assert len(learned) >= 2 and "changes of view since the last warning" in learned[-1], learned


def test_a_left_object_hidden_by_people_standing_over_it_stays_one_incident() -> None:
    # A box left at 2 s is an incident from about 8 s. From 10 s to 16 s a group stands over it: their boxes
    # cover all of it, so the rule cannot see it. Hidden is not taken away: one incident, open to the end
    # (before, it was cleared 3 s into the occlusion and opened again once they had gone: two alerts).
    def group(t: float) -> list[Obj]:
        over = [(1, 310, 500, PERSON), (2, 330, 500, PERSON), (3, 310, 470, PERSON), (4, 330, 470, PERSON)]
        return over if 10 <= t < 16 else []

    events = left_objects(group, 24, picture(2.0))
    assert len(onsets(events, "left_object")) == 1
    assert [e.details.get("stream_ended") for e in events if e.phase == "cleared"] == [1]
    # Taken away while hidden (gone when they leave at 16 s): cleared once, ending when it was last seen.
    events = left_objects(group, 24, picture_until(2.0, 13.0))
    cleared = [e for e in events if e.phase == "cleared"]
    assert len(onsets(events, "left_object")) == 1 and len(cleared) == 1
    assert "stream_ended" not in cleared[0].details
    assert 9.5 <= seconds(cleared[0].end) <= 10.5


#: A street lamp with a sharp cut-off: 40 % more light inside an ellipse round (400, 500), none outside.
HARD_POOL = np.where(((_XX - 400) / 160.0) ** 2 + ((_YY - 500) / 70.0) ** 2 <= 1, 1.4, 1.0)[..., None]


@pytest.mark.parametrize(
    ("case", "box_from", "fires"),
    [
        ("a lamp with a sharp cut-off comes on", 99.0, False),
        ("a box left as it comes on, in its light", 2.0, True),
    ],
)
def test_a_hard_edged_pool_of_light_is_no_left_object(case: str, box_from: float, fires: bool) -> None:
    # Over a textured road (paving slabs) the pool keeps the road's pattern, only brighter: a change of
    # light, though its edge is a step. A box in it hides the pattern: an object.
    road = paved_road(box_from, lambda t: 0)

    def pictures(t: float) -> np.ndarray:
        image = road(t).astype(np.float32)
        if t >= 2:
            image = image * HARD_POOL
            if t >= box_from:
                image[460:500, 300:340] = 230  # the box is lit too, but shows none of the road
        return np.clip(image, 0, 255).astype(np.uint8)

    events = left_objects(lambda t: [], 12, pictures)
    found = onsets(events, "left_object")
    assert len(found) == int(fires), case
    if fires:
        assert 6.0 <= seconds(found[0].end) <= 10.0
        # The quarter of the box over the brightest slab looks like that slab lit: three quarters are seen.
        assert max(e.details["area_px"] for e in events) == pytest.approx(1600, rel=0.3)
