"""RESCO's delay metric on a hand-written tripinfo and route file, and the gridlock watch."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from signal_scenarios import build_grid

from citytally.errors import SignalError
from citytally.signals.evaluate import GridlockWatch
from citytally.signals.metric import episode_delay, route_departures, route_files_of
from citytally.signals.sim import SumoConnection

ROUTES = """<routes>
  <vType id="car"/>
  <trip id="early" type="car" depart="50.00" from="a" to="b"/>
  <trip id="done" type="car" depart="100.00" from="a" to="b"/>
  <vehicle id="driving" type="car" depart="150.00"><route edges="a b"/></vehicle>
  <trip id="never" type="car" depart="3500.00" from="a" to="b"/>
  <trip id="listed_never" type="car" depart="3000.00" from="a" to="b"/>
  <trip id="after" type="car" depart="3600.00" from="a" to="b"/>
  <trip id="triggered" type="car" depart="triggered" from="a" to="b"/>
</routes>
"""

# "done" arrived; "driving" was still on the road at the end (write-unfinished); "listed_never" is written
# by newer SUMO versions with depart -1 although it never entered; "early" departed before the episode.
TRIPINFO = """<tripinfos>
  <tripinfo id="done" depart="103.00" departDelay="3.00" arrival="300.00" duration="197.00" timeLoss="20.50"/>
  <tripinfo id="driving" depart="150.00" departDelay="0.00" arrival="-1" duration="3450.00" timeLoss="40.00"/>
  <tripinfo id="listed_never" depart="-1.00" departDelay="600.00" arrival="-1" duration="-1" timeLoss="0"/>
  <personinfo id="walker" depart="10.00"/>
</tripinfos>
"""


def _write(tmp_path: Path) -> tuple[Path, Path]:
    routes, tripinfo = tmp_path / "r.rou.xml", tmp_path / "tripinfo.xml"
    routes.write_text(ROUTES, encoding="utf-8")
    tripinfo.write_text(TRIPINFO, encoding="utf-8")
    return routes, tripinfo


def test_delay_matches_the_hand_computed_value(tmp_path: Path) -> None:
    routes, tripinfo = _write(tmp_path)
    result = episode_delay(tripinfo, [routes], begin=100.0, end=3600.0)
    # done: 20.5 + 3; driving: 40 + 0; never: 3600 - 3500; listed_never: 3600 - 3000
    expected = (23.5 + 40.0 + 100.0 + 600.0) / 4
    assert result.mean_s == pytest.approx(expected)
    assert (result.vehicles, result.never_departed) == (4, 2)


@pytest.mark.parametrize(
    ("tripinfo_text", "error"),
    [
        (
            "<tripinfos><tripinfo id='x' depart='1' timeLoss='abc' departDelay='0'/></tripinfos>",
            "non-numeric",
        ),
        ("<tripinfos><tripinfo", "cannot read the tripinfo"),
        ("<tripinfos/>", "no vehicle took part"),
    ],
)
def test_bad_tripinfo_is_one_clear_error(tmp_path: Path, tripinfo_text: str, error: str) -> None:
    tripinfo = tmp_path / "t.xml"
    tripinfo.write_text(tripinfo_text, encoding="utf-8")
    with pytest.raises(SignalError, match=error):
        episode_delay(tripinfo, [], begin=0.0, end=10.0)


def test_route_files_are_read_from_the_config(tmp_path: Path) -> None:
    cfg = tmp_path / "s.sumocfg"
    cfg.write_text(
        '<configuration><input><net-file value="n.net.xml"/>'
        '<route-files value="a.rou.xml, b.rou.xml"/></input></configuration>',
        encoding="utf-8",
    )
    assert route_files_of(cfg) == [tmp_path / "a.rou.xml", tmp_path / "b.rou.xml"]


@pytest.mark.parametrize(
    ("steps", "detected"),
    [
        ([(0, 50)] * 400, 300.0),  # 400 s, nobody arrives, 50 on the road
        ([(0, 50)] * 200 + [(1, 50)] + [(0, 50)] * 200, None),  # an arrival resets the clock
        ([(0, 3)] * 400, None),  # an almost empty road is not gridlock
    ],
)
def test_gridlock_watch(steps: list[tuple[int, int]], detected: float | None) -> None:
    watch = GridlockWatch(window_s=300.0)
    for t, (arrived, vehicles) in enumerate(steps, start=1):
        watch.observe(float(t), arrived, vehicles)
    assert watch.detected_at == (None if detected is None else detected + 1.0)


@pytest.mark.parametrize(
    ("samples", "detected"),
    [
        ([(45, 50)] * 12, 300.0),  # 90 % standing for 330 s
        ([(45, 50)] * 6 + [(10, 50)] + [(45, 50)] * 6, None),  # traffic moved in between
        ([(5, 5)] * 12, None),  # a handful waiting is not gridlock
    ],
)
def test_gridlock_watch_on_standing_vehicles(samples: list[tuple[int, int]], detected: float | None) -> None:
    watch = GridlockWatch(window_s=300.0)
    for k, (halted, vehicles) in enumerate(samples):
        watch.observe_halted(30.0 * k, halted, vehicles)
    assert watch.detected_at == detected


FLOWS = """<routes>
  <flow id="every7" begin="0" end="200" period="7" from="a" to="b"/>
  <flow id="hourly" begin="10" end="250" vehsPerHour="900" from="a" to="b"/>
  <flow id="counted" begin="5" end="295" number="29" from="a" to="b"/>
  <flow id="capped" begin="3" period="11" number="9" from="a" to="b"/>
</routes>
"""


def test_flows_are_scheduled_as_sumo_names_and_spaces_them(tmp_path: Path) -> None:
    """Vehicles of ``flow`` elements were not read at all: a city's demand written as flows lost every
    vehicle SUMO never inserted from the delay (and the count of those never inserted said 0)."""
    routes = tmp_path / "f.rou.xml"
    routes.write_text(FLOWS, encoding="utf-8")
    due = route_departures([routes], until=100.0)
    assert [due[f"every7.{n}"] for n in range(3)] == [0.0, 7.0, 14.0] and "every7.15" not in due  # 105 s
    assert [due[f"hourly.{n}"] for n in range(3)] == [10.0, 14.0, 18.0]  # 3600 / 900 = 4 s apart
    assert due["counted.1"] == pytest.approx(15.0)  # (295 - 5) / 29 = 10 s apart
    assert due["capped.8"] == 91.0 and "capped.9" not in due  # number bounds a flow without an end
    assert len(due) == 15 + 23 + 10 + 9


@pytest.mark.integration
@pytest.mark.sumo
def test_a_flow_too_dense_to_insert_counts_its_vehicles_never_inserted(tmp_path: Path) -> None:
    """On a real SUMO run: a flow of one vehicle every 0.5 s onto one lane cannot all be inserted. Every
    vehicle SUMO inserted has the id and scheduled time the schedule gives (its depart less its delay), and
    the ones it never inserted count with the time left in the episode."""
    city = build_grid(tmp_path, size=3, end=200.0, period=1000.0)
    routes = tmp_path / "dense.rou.xml"
    routes.write_text(
        '<routes><flow id="dense" begin="0" end="200" period="0.5" from="A1B1" to="B1C1"/></routes>\n'
    )
    sumocfg = tmp_path / "dense.sumocfg"
    sumocfg.write_text(
        f'<configuration><input><net-file value="{city.net.name}"/><route-files value="dense.rou.xml"/>'
        '</input><time><begin value="0"/><end value="200"/></time></configuration>\n'
    )
    tripinfo = tmp_path / "tripinfo.xml"
    conn = SumoConnection.start(
        ["-c", str(sumocfg), "--no-step-log", "--tripinfo-output", str(tripinfo),
         "--tripinfo-output.write-unfinished"]
    )  # fmt: skip
    try:
        while conn.time < 200:
            conn.step()
    finally:
        conn.close()
    inserted = {
        e.get("id"): float(e.get("depart", "-1")) - float(e.get("departDelay", "0"))
        for e in ET.parse(tripinfo).getroot()
        if e.tag == "tripinfo" and float(e.get("depart", "-1")) >= 0
    }
    due = route_departures([routes], until=200.0)
    assert len(due) == 400 and 50 < len(inserted) < 300
    assert all(due[vid] == pytest.approx(scheduled, abs=0.5) for vid, scheduled in inserted.items())
    result = episode_delay(tripinfo, [routes], begin=0.0, end=200.0)
    assert (result.vehicles, result.never_departed) == (400, 400 - len(inserted))
