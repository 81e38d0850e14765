"""Builders of small SUMO scenarios generated in the test run (netgenerate + randomTrips), not RESCO's."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class GridScenario:
    """A generated signalised grid: its .sumocfg and the episode window."""

    sumocfg: Path
    net: Path
    routes: Path
    begin: float
    end: float


def _sumo_home() -> Path:
    sumo = pytest.importorskip("sumo")
    return Path(sumo.__file__).parent


def build_grid(
    folder: Path,
    *,
    size: int = 3,
    end: float = 400.0,
    period: float = 1.5,
    seed: int = 3,
    length: float = 150.0,
    net_options: Sequence[str] = (),
) -> GridScenario:
    """A ``size``×``size`` grid of traffic lights with random trips departing in ``[0, end)``.

    ``net_options`` go to ``netgenerate`` as they are (turn lanes, left-turn phases ...).
    """
    home = _sumo_home()
    env = {**os.environ, "SUMO_HOME": str(home)}
    folder.mkdir(parents=True, exist_ok=True)
    net, routes, cfg = folder / "grid.net.xml", folder / "grid.rou.xml", folder / "grid.sumocfg"
    subprocess.run(
        [
            str(home / "bin" / "netgenerate"), "--grid", "--grid.number", str(size),
            "--grid.length", f"{length:g}", "--default-junction-type", "traffic_light",
            "--no-turnarounds", "--seed", str(seed), *net_options, "-o", str(net),
        ],
        check=True, capture_output=True, env=env,
    )  # fmt: skip
    subprocess.run(
        [
            sys.executable, str(home / "tools" / "randomTrips.py"), "-n", str(net), "-e", f"{end:g}",
            "-p", f"{period:g}", "--seed", str(seed), "-o", str(routes), "--validate",
        ],
        # --validate leaves an intermediate routes.rou.xml in the working directory: keep it in the folder
        check=True, capture_output=True, env=env, cwd=folder,
    )  # fmt: skip
    cfg.write_text(
        "<configuration><input>"
        f'<net-file value="{net.name}"/><route-files value="{routes.name}"/>'
        f'</input><time><begin value="0"/><end value="{end:g}"/></time></configuration>\n',
        encoding="utf-8",
    )
    return GridScenario(sumocfg=cfg, net=net, routes=routes, begin=0.0, end=end)
