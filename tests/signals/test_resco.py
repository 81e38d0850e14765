"""The RESCO benchmark's library part: where the scenarios are read from, and merging per-seed results."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from citytally.errors import SignalError
from citytally.signals.resco import RESCO_DIR_ENV, BenchCell, cell_line, merge_cells, resco_data_dir


def _cell(controller: str, delays: list[float], sumo: str = "SUMO 1.9.1", gridlocks: int = 0) -> BenchCell:
    return BenchCell("cologne1", controller, sumo, delays, gridlocks, decision_ms=0.1, wall_s=1.0)


def test_merge_keeps_the_cell_with_most_episodes() -> None:
    merged = merge_cells([_cell("citytally", [30.0, 31.0, 29.0]), _cell("citytally", [25.0])])
    assert [c.delays for c in merged] == [[30.0, 31.0, 29.0]]


def test_a_cell_is_one_line() -> None:
    line = cell_line(_cell("max-pressure", [30.0, 32.0], gridlocks=1))
    assert line == "SUMO 1.9.1 cologne1 max-pressure: 31.00 ± 1.41 s/veh (2 episodes, 1 gridlocked)"


@pytest.mark.parametrize(
    ("given", "env", "expected"),
    [
        ("given", "env", "given"),  # --data wins
        (None, "env", "env"),  # then $CITYTALLY_RESCO
        ("missing", None, SignalError),
        (None, "missing", SignalError),
    ],
)
def test_the_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str | None, env: str | None, expected: object
) -> None:
    for name in ("given", "env"):
        (tmp_path / name).mkdir()
    if env is None:
        monkeypatch.delenv(RESCO_DIR_ENV, raising=False)
    else:
        monkeypatch.setenv(RESCO_DIR_ENV, str(tmp_path / env))
    chosen = tmp_path / given if given else None
    if expected is SignalError:
        with pytest.raises(SignalError, match=r"no RESCO scenarios in .*missing: pass --data DIR or set"):
            resco_data_dir(chosen)
    else:
        assert resco_data_dir(chosen) == tmp_path / str(expected)


def test_the_default_folder_is_beside_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RESCO_DIR_ENV, raising=False)
    default = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "resco"
    if default.is_dir():  # a checkout beside the shared data
        assert resco_data_dir(None) == default
    else:
        with pytest.raises(SignalError, match=re.escape(f"no RESCO scenarios in {default}:")):
            resco_data_dir(None)


def test_bench_without_scenarios_is_one_line_and_status_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from citytally.cli import main; main()", "signals", "bench",
         "--data", str(tmp_path / "nowhere")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"citytally: error: no RESCO scenarios in {tmp_path / 'nowhere'}: pass --data DIR or set "
        f"${RESCO_DIR_ENV} to the folder holding cologne1, cologne3, ingolstadt1, ingolstadt7 and grid4x4"
    ]
