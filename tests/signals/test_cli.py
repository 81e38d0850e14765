"""`citytally signals eval` end to end on a generated grid: its last line, its errors."""

from __future__ import annotations

import re
import subprocess
import sys
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
