"""`citytally signals eval` end to end on a generated grid: its last line, its errors."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from signal_scenarios import GridScenario

pytestmark = [pytest.mark.integration, pytest.mark.sumo]

LAST_LINE = re.compile(r"^delay: (\d+\.\d{2}) ± (\d+\.\d{2}) s/veh over (\d+) seeds$")
SEED_LINE = re.compile(r"^seed (\d+): (\d+\.\d{2}) s/veh")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from citytally.cli import main; main()", "signals", "eval", *args],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("controller", [None, "max-pressure"])
def test_eval_ends_with_the_delay_line(sumo_grid: GridScenario, controller: str | None) -> None:
    extra = ["--controller", controller] if controller else []
    done = _cli(str(sumo_grid.sumocfg), "--begin", "0", "--end", "400", "--seeds", "2", *extra)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    match = LAST_LINE.match(lines[-1])
    assert match, lines[-1]
    per_seed = [float(m.group(2)) for line in lines if (m := SEED_LINE.match(line))]
    assert len(per_seed) == 2 and match.group(3) == "2"
    assert float(match.group(1)) == pytest.approx(sum(per_seed) / 2, abs=0.011)
    assert float(match.group(1)) > 0


def test_ctrl_c_ends_eval_with_the_mean_of_the_seeds_that_ended(sumo_grid: GridScenario) -> None:
    """An evaluation of many seeds stopped by Ctrl-C said "Aborted." and no mean at all: the seeds that
    ended are a result; it is the last line, for those seeds, and the exit status is 130."""
    import signal

    command = [sys.executable, "-c", "from citytally.cli import main; main()", "signals", "eval"]
    command += [str(sumo_grid.sumocfg), "--begin", "0", "--end", "400", "--seeds", "200"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    seen = []
    for line in process.stdout:  # two seeds ended: interrupt the third
        seen.append(line.strip())
        if len(seen) == 2:
            break
    process.send_signal(signal.SIGINT)
    rest, stderr = process.communicate(timeout=120)
    lines = seen + rest.strip().splitlines()
    assert process.returncode == 130, stderr
    per_seed = [float(m.group(2)) for line in lines if (m := SEED_LINE.match(line))]
    match = LAST_LINE.match(lines[-1])
    assert match and int(match.group(3)) == len(per_seed) >= 2, lines
    assert float(match.group(1)) == pytest.approx(sum(per_seed) / len(per_seed), abs=0.011)
    assert f"interrupted after {len(per_seed)} of 200 seeds" in stderr and "Traceback" not in stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.sumocfg", "--end", "100"], "no such SUMO configuration"),
        (["{cfg}", "--controller", "nope"], "unknown controller"),
        (["{cfg}", "--begin", "300", "--end", "200"], "must be after its begin"),
        (["{cfg}", "--begin", "-5", "--end", "100"], "must be 0 s or later"),  # was a pydantic traceback
        (["{cfg}", "--begin", "0", "--end", "0"], "must be after its begin"),
        (["{bad}"], "time/begin is not a number of seconds"),  # was a ValueError traceback
    ],
)
def test_eval_bad_input_is_one_line(
    sumo_grid: GridScenario, tmp_path: Path, args: list[str], message: str
) -> None:
    bad = tmp_path / "bad.sumocfg"
    bad.write_text('<configuration><time><begin value="x"/><end value="100"/></time></configuration>')
    done = _cli(*[a.format(cfg=sumo_grid.sumocfg, bad=bad) for a in args])
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def _scenario(folder: Path, grid: GridScenario, *, net: str | None = None, routes: str | None = None) -> Path:
    """A copy of ``grid``'s scenario in ``folder``, with its network or routes file replaced by text."""
    (folder / "n.net.xml").write_text(grid.net.read_text() if net is None else net)
    (folder / "r.rou.xml").write_text(grid.routes.read_text() if routes is None else routes)
    cfg = folder / "s.sumocfg"
    cfg.write_text(
        '<configuration><input><net-file value="n.net.xml"/><route-files value="r.rou.xml"/></input>'
        '<time><begin value="0"/><end value="400"/></time></configuration>'
    )
    return cfg


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ("net_cut", r"^citytally: error: SUMO could not start the simulation: .+ In file '\S*n\.net\.xml' "
                    r"At line/column \d+/\d+\.$"),
        ("net_missing", r"^citytally: error: SUMO could not start the simulation: File '\S*n\.net\.xml' is "
                        r"not accessible \(No such file or directory\)\.$"),
        ("routes_cut", r"^citytally: error: SUMO stopped at \d+ s: .+ In file '\S*r\.rou\.xml' "
                       r"At line/column \d+/\d+\.$"),
    ],
)  # fmt: skip
def test_what_sumo_cannot_read_is_one_line_in_its_own_words(
    sumo_grid: GridScenario, tmp_path: Path, broken: str, message: str
) -> None:
    """SUMO reads a network at the start and routes as the simulation goes: a route file cut short (a copy
    interrupted, a disk full) ended the run with a traceback of libsumo's FatalTraCIError well into it, and
    a broken network with the whole SUMO command line and "Process Error", SUMO's reason on a line of its
    own above."""
    net, routes = sumo_grid.net.read_text(), sumo_grid.routes.read_text()
    if broken == "net_cut":
        cfg = _scenario(tmp_path, sumo_grid, net=net[: len(net) // 2])
    elif broken == "routes_cut":  # cut past what SUMO reads ahead at the start (200 s of departures)
        cfg = _scenario(tmp_path, sumo_grid, routes=routes[: len(routes) * 3 // 4])
    else:
        cfg = _scenario(tmp_path, sumo_grid)
        (tmp_path / "n.net.xml").unlink()
    done = _cli(str(cfg), "--seeds", "1")
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and re.match(message, lines[0]), done.stderr[-2000:]


def test_eval_over_tcp_with_a_sumo_binary_gives_libsumos_delay(sumo_grid: GridScenario) -> None:
    """The same SUMO run as a binary over TraCI (on a port citytally chooses) and as libsumo: one result."""
    from citytally.sumo import find_sumo_binary

    args = (str(sumo_grid.sumocfg), "--begin", "0", "--end", "300", "--seeds", "1")
    over_tcp, in_process = _cli(*args, "--sumo-binary", str(find_sumo_binary())), _cli(*args)
    assert over_tcp.returncode == 0 and in_process.returncode == 0, over_tcp.stderr[-2000:]
    assert over_tcp.stdout.strip().splitlines()[-1] == in_process.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("tool", ["/bin/true", "netgenerate"])
def test_a_sumo_binary_that_is_not_sumo_is_said_at_once(sumo_grid: GridScenario, tool: str) -> None:
    """traci started a binary that exits at once again on a new port, 60 times: 39 s before one line."""
    from citytally.sumo import find_sumo_binary, sumo_home_for

    binary = tool if tool.startswith("/") else str(sumo_home_for(find_sumo_binary()) / "bin" / tool)
    started = time.monotonic()
    done = _cli(str(sumo_grid.sumocfg), "--sumo-binary", binary, "--end", "100")
    assert done.returncode == 2 and time.monotonic() - started < 20, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{binary} is not SUMO: its --version says" in lines[0], done.stderr[-2000:]


def test_a_controller_with_no_light_to_run_says_so(tmp_path: Path) -> None:
    """On a network without traffic lights a controller's delay was printed as its own, with no word that
    it had controlled nothing (the same figure as 'fixed')."""
    from citytally.sumo import find_sumo_binary, sumo_home_for

    netgenerate = sumo_home_for(find_sumo_binary()) / "bin" / "netgenerate"
    net = tmp_path / "plain.net.xml"
    subprocess.run([str(netgenerate), "--grid", "--grid.number", "2", "-o", str(net)], check=True,
                   capture_output=True)  # fmt: skip
    (tmp_path / "r.rou.xml").write_text(
        '<routes><flow id="f" begin="0" end="100" period="5" from="A0A1" to="A1B1"/></routes>\n'
    )
    cfg = tmp_path / "plain.sumocfg"
    cfg.write_text(
        '<configuration><input><net-file value="plain.net.xml"/><route-files value="r.rou.xml"/></input>'
        '<time><begin value="0"/><end value="200"/></time></configuration>'
    )
    done = _cli(str(cfg), "--controller", "citytally", "--seeds", "1")
    assert done.returncode == 0, done.stderr
    assert "citytally controls no traffic light (the network has none)" in done.stderr
    assert LAST_LINE.match(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--controllers", "fixed,foo"],
            "--controllers: unknown foo; known: fixed, max-pressure, greedy, citytally",
        ),
        (["--scenarios", "cologne1,colgne3"], "--scenarios: unknown colgne3; known: cologne1, cologne3, "),
        (["--versions", "1.9.1", "--sumo-191", "{missing}"], "--versions 1.9.1: no SUMO 1.9.1 at {missing}"),
        (["--json", "{tmp}"], "--json {tmp}: is a folder; name a file in it"),  # were tracebacks after a cell
        (["--json", "{missing}/cells.json"], "--json {missing}/cells.json: no folder {missing}"),
    ],
)
def test_bench_checks_every_name_before_it_runs_anything(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """A misspelt controller or scenario was found only when its cell came up (hours into the full grid),
    and ``--versions 1.9.1`` without that SUMO ran nothing and exited 0."""
    missing = str(tmp_path / "no-sumo")
    command = [sys.executable, "-c", "from citytally.cli import main; main()", "signals", "bench",
               "--data", str(tmp_path), "--scenarios", "cologne1", "--controllers", "fixed", "--seeds", "1",
               "--versions", "current", *(a.format(missing=missing, tmp=tmp_path) for a in args)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    said = message.format(missing=missing, tmp=tmp_path)
    assert done.stderr.strip().startswith(f"citytally: error: {said}"), done.stderr
    assert done.stdout == ""
