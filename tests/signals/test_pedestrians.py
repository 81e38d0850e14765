"""Pedestrians at signalled crossings: served within the red bound, and given time to clear a crossing.

A junction of a generated grid with sidewalks and signalled crossings carries cars east–west only, and a
person every 20 s walking north–south across it. The crossing lengths and every person's waiting time
come from SUMO (the network file and its persons), not from the code under test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from signal_scenarios import require_sumo

from citytally.signals.controllers import GreedyController, make_controller
from citytally.signals.generate import generate_grid
from citytally.signals.intersection import WALKING_SPEED_MPS, SignalTiming, is_green
from citytally.signals.network import Controller, SignalNetwork
from citytally.signals.sim import SumoConnection

pytestmark = [pytest.mark.integration, pytest.mark.sumo]

EPISODE_S = 600
TIMING = SignalTiming()


@pytest.fixture(scope="module")
def crossing_junction(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_sumo()
    folder = tmp_path_factory.mktemp("pedestrians")
    grid = ("--grid.number", "3", "--grid.length", "150", "--sidewalks.guess", "--crossings.guess")
    city = generate_grid(folder, "walk", grid=grid, end=EPISODE_S, period=1000.0, seed=1)
    lines = ["<routes>", '  <route id="ew" edges="A1B1 B1C1"/>', '  <route id="we" edges="C1B1 B1A1"/>']
    for t in range(0, EPISODE_S - 100, 4):  # a steady stream both ways along the east–west street,
        lines.append(f'  <vehicle id="ew{t}" route="ew" depart="{t}"/>')
        if t % 20 == 0:  # and a person crossing it at B1 every 20 s (in departure order, as SUMO wants)
            lines.append(f'  <person id="p{t}" depart="{t}.2"><walk edges="B0B1 B1B2"/></person>')
        lines.append(f'  <vehicle id="we{t}" route="we" depart="{t}.5"/>')
    routes = folder / "walk.rou.xml"
    routes.write_text("\n".join([*lines, "</routes>"]) + "\n")
    sumocfg = folder / "walk.sumocfg"
    sumocfg.write_text(
        f'<configuration><input><net-file value="{city.net.name}"/><route-files value="{routes.name}"/>'
        f'</input><time><begin value="0"/><end value="{EPISODE_S}"/></time></configuration>\n'
    )
    return sumocfg


def _crossing_lengths(net_file: Path) -> dict[str, float]:
    """Each crossing lane of B1 and its length, read from the network file."""
    import sumolib

    net = sumolib.net.readNet(str(net_file), withInternal=True, withPedestrianConnections=True)
    return {
        lane.getID(): lane.getLength()
        for edge in net.getEdges(withInternal=True)
        if edge.getFunction() == "crossing" and edge.getID().startswith(":B1_")
        for lane in edge.getLanes()
    }


@pytest.mark.parametrize("name", ["citytally", "greedy"])
def test_a_person_at_a_crossing_waits_no_longer_than_the_red_bound_and_gets_time_to_cross(
    crossing_junction: Path, name: str
) -> None:
    """The red bound counted halted vehicles only: a crossing's walking area carries none, so a person
    waiting to cross a street nobody drove across waited for good (683 s at the end of a 900 s run), and a
    phase opening only crossings was worth nothing to the controller."""
    controller: Controller | None = make_controller(name) if name != "greedy" else GreedyController(TIMING)
    lengths = _crossing_lengths(crossing_junction.parent / "walk.net.xml")
    assert len(lengths) == 4
    conn = SumoConnection.start(["-c", str(crossing_junction), "--no-step-log", "--no-warnings"])
    try:
        api = conn.api
        network = SignalNetwork(api, TIMING)
        links = [
            entries[0][:2] if entries else ("", "") for entries in api.trafficlight.getControlledLinks("B1")
        ]
        crossing_links = {i: lengths[dst] for i, (_, dst) in enumerate(links) if dst in lengths}
        assert len(crossing_links) == 4
        longest_wait, crossed = 0.0, 0
        green_ended: dict[int, float] = {}  # crossing link → when its green ended
        shown = api.trafficlight.getRedYellowGreenState("B1")
        while conn.time < EPISODE_S:
            network.control_step(controller)
            conn.step()
            state = api.trafficlight.getRedYellowGreenState("B1")
            for link in crossing_links:
                if is_green(shown[link]) and not is_green(state[link]):
                    green_ended[link] = conn.time
            for link, (a, b) in enumerate(zip(shown, state, strict=True)):
                if link in crossing_links or not is_green(b) or is_green(a):
                    continue
                for crossing, ended in green_ended.items():  # a vehicle green starts: crossings clear?
                    if not is_green(state[crossing]):
                        cleared = conn.time - ended
                        assert cleared >= crossing_links[crossing] / WALKING_SPEED_MPS - 1e-6, (
                            conn.time,
                            link,
                        )
            shown = state
            for person in api.person.getIDList():
                longest_wait = max(longest_wait, float(api.person.getWaitingTime(person)))
            crossed += int(api.simulation.getArrivedPersonNumber())
        assert longest_wait <= TIMING.max_red_s, longest_wait
        assert crossed >= 16  # everyone who set off 300 s (their walk and a wait) before the end arrived
    finally:
        conn.close()
