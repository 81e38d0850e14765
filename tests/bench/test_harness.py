"""The bench harness records where, when and on what code a figure was measured; render.py puts the
recorded tables into docs/benchmarks.md."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

CPUINFO = """\
processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC 9454 48-Core Processor
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512_vnni
processor\t: 1
model name\t: AMD EPYC 9454 48-Core Processor
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512_vnni
"""


@pytest.fixture()
def bench(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, ModuleType]:
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    return importlib.import_module("harness"), importlib.import_module("render")


@pytest.mark.parametrize(
    ("cpuinfo", "model", "flags"),
    [
        (CPUINFO, "AMD EPYC 9454 48-Core Processor", ["avx2", "fma", "avx512f", "avx512bw", "avx512_vnni"]),
        ("model name\t: Old CPU\nflags\t: sse2 avx\n", "Old CPU", []),
        ("model name\t: Laptop\nflags\t: avx2 fma avx_vnni\n", "Laptop", ["avx2", "fma", "avx_vnni"]),
    ],
)
def test_fingerprint_names_the_cpu_and_the_flags_that_matter(
    bench: tuple[ModuleType, ModuleType], cpuinfo: str, model: str, flags: list[str]
) -> None:
    harness, _ = bench
    found = harness.machine_fingerprint(cpuinfo)
    assert found["cpu_model"] == model
    assert found["flags"] == flags
    assert found["cores"] >= 1
    assert found["python"].count(".") == 2


def test_run_records_provenance_and_rows(bench: tuple[ModuleType, ModuleType], tmp_path: Path) -> None:
    harness, _ = bench
    argv = [str(REPO / "bench" / "edge_fps.py"), "--variants", "fp32,int8"]
    run = harness.Run("edge_fps", "title", [("variant", "variant"), ("fps", "frames/s")], argv=argv)
    run.add(variant="fp32", fps=27.4)
    run.add(variant="int8")
    path = run.save(tmp_path)
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert path == tmp_path / "edge_fps.json"
    assert saved["command"] == ".venv/bin/python bench/edge_fps.py --variants fp32,int8"
    assert saved["commit"] == harness.git_commit()[0] != "unknown"
    assert saved["started_utc"].endswith("Z") and saved["finished_utc"] >= saved["started_utc"]
    assert saved["machine"]["cpu_model"]
    assert saved["rows"] == [{"variant": "fp32", "fps": 27.4}, {"variant": "int8"}]
    assert str(REPO) not in saved["command"]  # no path of this machine in a record


@pytest.mark.parametrize(
    ("name", "columns", "row", "error"),
    [
        ("edge fps", [("a", "A")], {}, "letters, digits"),
        ("ok", [], {}, "not empty"),
        ("ok", [("a", "A"), ("a", "B")], {}, "unique"),
        ("ok", [("a", "A")], {"b": 1}, "not columns"),
    ],
)
def test_bad_runs_are_refused_with_a_reason(
    bench: tuple[ModuleType, ModuleType],
    name: str,
    columns: list[tuple[str, str]],
    row: dict[str, Any],
    error: str,
) -> None:
    harness, _ = bench
    with pytest.raises(ValueError, match=error):
        harness.Run(name, "t", columns, argv=["x"]).add(**row)


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (None, ""),
        (True, "yes"),
        (1234567, "1,234,567"),
        (27.4, "27.4"),
        (2.0, "2"),
        (0.125, "0.12"),
        ("a|b", "a\\|b"),
    ],
)
def test_cells(bench: tuple[ModuleType, ModuleType], value: object, cell: str) -> None:
    _, render = bench
    assert render.format_cell(value) == cell


@pytest.mark.parametrize(
    ("value", "spec", "cell"), [(0.956, ".3f", "0.956"), (1.0, ".3f", "1.000"), (7, ".1f", "7.0")]
)
def test_a_column_format_spec_wins(
    bench: tuple[ModuleType, ModuleType], value: float, spec: str, cell: str
) -> None:
    harness, render = bench
    assert render.format_cell(value, spec) == cell
    run = harness.Run("demo", "t", [("v", "V", spec)], argv=["bench/x.py"])
    run.add(v=value)
    assert f"| {cell} |" in render.render_result(run.to_json())


def test_render_fills_only_the_marked_block(bench: tuple[ModuleType, ModuleType], tmp_path: Path) -> None:
    harness, render = bench
    run = harness.Run("demo", "t", [("variant", "variant"), ("fps", "frames/s")], argv=["bench/x.py"])
    run.add(variant="fp32", fps=1234.5)
    run.notes.append("a note")
    run.save(tmp_path)
    page = tmp_path / "benchmarks.md"
    page.write_text(
        "# B\n\nkept\n<!-- bench:demo -->\nold table\n<!-- /bench:demo -->\nkept too\n", encoding="utf-8"
    )
    assert render.main(["--page", str(page), "--results-dir", str(tmp_path), "--check"]) == 1
    assert render.main(["--page", str(page), "--results-dir", str(tmp_path)]) == 0
    text = page.read_text(encoding="utf-8")
    assert "old table" not in text and text.startswith("# B\n\nkept\n") and text.endswith("kept too\n")
    assert "| fp32 | 1,234.5 |" in text and "- a note" in text and f"`{harness.git_commit()[0]}`" in text
    assert render.main(["--page", str(page), "--results-dir", str(tmp_path), "--check"]) == 0


@pytest.mark.parametrize(("load", "busy"), [(0.5, False), (2.0, False), (10.5, True)])
def test_a_busy_machine_is_called_so(bench: tuple[ModuleType, ModuleType], load: float, busy: bool) -> None:
    harness, render = bench
    run = harness.Run("demo", "t", [("a", "A")], argv=["bench/x.py"])
    run.machine = {**run.machine, "cores": 2, "load_average": load}
    assert ("read the ratios" in render.render_result(run.to_json())) is busy


def test_a_block_without_a_result_is_an_error(bench: tuple[ModuleType, ModuleType], tmp_path: Path) -> None:
    _, render = bench
    page = tmp_path / "benchmarks.md"
    page.write_text("<!-- bench:missing -->\n<!-- /bench:missing -->\n", encoding="utf-8")
    assert render.main(["--page", str(page), "--results-dir", str(tmp_path)]) == 2


def test_a_result_without_a_block_is_stale(bench: tuple[ModuleType, ModuleType], tmp_path: Path) -> None:
    # A recorded result whose section was lost from the page is caught, not silently unshown.
    _, render = bench
    (tmp_path / "shown.json").write_text((REPO / "bench" / "results" / "edge_fps.json").read_text())
    (tmp_path / "lost.json").write_text((REPO / "bench" / "results" / "edge_fps.json").read_text())
    page = tmp_path / "benchmarks.md"
    page.write_text("<!-- bench:shown -->\n<!-- /bench:shown -->\n", encoding="utf-8")
    assert render.main(["--page", str(page), "--results-dir", str(tmp_path)]) == 0
    assert render.main(["--check", "--page", str(page), "--results-dir", str(tmp_path)]) == 1
    (tmp_path / "lost.json").unlink()
    assert render.main(["--check", "--page", str(page), "--results-dir", str(tmp_path)]) == 0


def test_committed_page_matches_the_committed_results(bench: tuple[ModuleType, ModuleType]) -> None:
    _, render = bench
    assert render.main(["--check"]) == 0, "docs/benchmarks.md is stale: run python bench/render.py"
