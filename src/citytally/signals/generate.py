"""Signalised grid cities built with SUMO's own tools, for tests and benchmarks that must not use RESCO's.

    city = generate_grid(folder, "city", grid=("--grid.number", "5"), end=3600, period=1.0, seed=7)
    city.sumocfg        # a .sumocfg over the generated network and routes, episode [begin, end)

``netgenerate --grid`` lays out the network (every junction a traffic light, no U-turns); ``randomTrips.py``
draws trips departing every ``period`` seconds until ``trips_end`` (default: ``end``) and routes them with
``--validate``, so only trips that can reach their destination remain. Both come with the ``eclipse-sumo``
package whose ``sumo`` binary :func:`citytally.sumo.find_sumo_binary` finds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from citytally.errors import SignalError
from citytally.sumo import find_sumo_binary, sumo_home_for

__all__ = ["GeneratedCity", "generate_grid"]


@dataclass(frozen=True)
class GeneratedCity:
    """The files of a generated city and its episode window (seconds of simulated time)."""

    sumocfg: Path
    net: Path
    routes: Path
    begin: float
    end: float


def generate_grid(
    folder: Path,
    name: str,
    *,
    grid: Sequence[str],
    end: float,
    period: float,
    seed: int,
    trips: Sequence[str] = (),
    trips_end: float | None = None,
    net_seed: int | None = None,
) -> GeneratedCity:
    """Build ``folder/name.net.xml`` (unless it exists), this seed's routes and a .sumocfg over both.

    ``grid`` holds netgenerate's options for the grid's shape and its signals (``--grid.number``,
    ``--default.lanenumber``, ``--tls.left-green.time`` ...); ``trips`` holds further randomTrips options
    (``--fringe-factor``, ``--min-distance`` ...). ``net_seed`` seeds netgenerate (default: ``seed``); the
    network is reused when it exists, so several seeds' routes can share one network.
    """
    home = sumo_home_for(find_sumo_binary())
    env = {**os.environ, "SUMO_HOME": str(home)}
    folder.mkdir(parents=True, exist_ok=True)
    net = folder / f"{name}.net.xml"
    routes = folder / f"{name}-{seed}.rou.xml"
    if not net.exists():
        _run(
            [str(home / "bin" / "netgenerate"), "--grid", *grid, "--default-junction-type", "traffic_light",
             "--no-turnarounds", "--seed", str(seed if net_seed is None else net_seed), "-o", str(net)],
            env, folder,
        )  # fmt: skip
    _run(
        [sys.executable, str(home / "tools" / "randomTrips.py"), "-n", str(net),
         "-e", f"{end if trips_end is None else trips_end:g}", "-p", f"{period:g}", "--seed", str(seed),
         *trips, "-o", str(folder / f"{name}-{seed}.trips.xml"), "-r", str(routes), "--validate"],
        env, folder,  # --validate writes a scratch routes.rou.xml to the working directory: the folder
    )  # fmt: skip
    sumocfg = folder / f"{name}-{seed}.sumocfg"
    sumocfg.write_text(
        f'<configuration><input><net-file value="{net.name}"/><route-files value="{routes.name}"/></input>'
        f'<time><begin value="0"/><end value="{end:g}"/></time></configuration>\n',
        encoding="utf-8",
    )
    return GeneratedCity(sumocfg=sumocfg, net=net, routes=routes, begin=0.0, end=end)


def _run(command: list[str], env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise SignalError(f"{Path(command[1] if command[0] == sys.executable else command[0]).name}: {last}")
