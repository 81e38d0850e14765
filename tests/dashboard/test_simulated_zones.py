"""The demo's virtual cameras: where they put a simulated car in a junction's conflict zone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from citytally.hub.dashboard.simulated_conflicts import ZONE_HALF_M, ZoneRecorder
from citytally.signals.generate import generate_grid

pytestmark = [pytest.mark.integration, pytest.mark.sumo]

STEP_S = 0.25


def test_a_car_in_the_zone_is_seen_at_the_centre_of_its_own_body(tmp_path: Path) -> None:
    # SUMO reports a vehicle's front bumper; a camera sees the middle of its body. The middle is half the
    # vehicle's own length behind the front: RESCO's Cologne cars are 4.3 m long, a bus 12 m.
    try:
        import libsumo
    except ImportError as exc:  # fail, never skip: a skip would hide that nothing was checked
        pytest.fail(f"SUMO is not installed (pip install -e '.[signals]' installs it): {exc}")

    city = generate_grid(
        tmp_path, "zones", grid=("--grid.number", "2", "--grid.length", "100"), end=1, period=1, seed=1
    )
    routes = tmp_path / "sized.rou.xml"
    routes.write_text(
        '<routes><vType id="compact" length="4.3"/><vType id="bus" vClass="bus" length="12"/>'
        '<route id="through" edges="A0A1"/>'
        '<vehicle id="compact" type="compact" route="through" depart="0" departSpeed="max"/>'
        '<vehicle id="bus" type="bus" route="through" depart="6" departSpeed="max"/></routes>',
        encoding="utf-8",
    )
    libsumo.start(["sumo", "-n", str(city.net), "-r", str(routes), "--step-length", str(STEP_S)])
    try:
        x0, y0 = libsumo.junction.getPosition("A0")[:2]
        cx, cy = x0, y0 + 60.0  # the zone lies on the straight road from A0 north to A1
        recorder = ZoneRecorder(libsumo, {"road": (cx, cy)}, STEP_S)
        truth: dict[tuple[str, float], tuple[float, float]] = {}
        while libsumo.simulation.getMinExpectedNumber() > 0:
            libsumo.simulationStep()
            second = libsumo.simulation.getTime()
            recorder.step(second)
            for vehicle in libsumo.vehicle.getIDList():
                middle = libsumo.vehicle.getLanePosition(vehicle) - libsumo.vehicle.getLength(vehicle) / 2
                if middle > 0:  # its middle on the road: SUMO's point of the road there
                    x, y = libsumo.simulation.convert2D("A0A1", middle, 0)
                    truth[vehicle, second] = (x - cx, y - cy)
        seen = recorder.paths()["road"]
    finally:
        libsumo.close()
    assert len(seen) == 2
    for path in seen:
        vehicle = "compact" if path.entered < 6 else "bus"
        t, xy = path.trajectory.t, path.trajectory.xy
        assert np.all(np.abs(xy) < ZONE_HALF_M)
        expected = np.array([truth[vehicle, float(s)] for s in t])
        assert np.max(np.hypot(*(xy - expected).T)) < 0.01, vehicle
