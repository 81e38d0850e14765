"""The RESCO table lands in its own section of the shared benchmarks page and nowhere else."""

from __future__ import annotations

from pathlib import Path

from citytally.signals.resco import SECTION, BenchCell, merge_cells, render_section, write_section


def _cell(controller: str, delays: list[float], sumo: str = "SUMO 1.9.1", gridlocks: int = 0) -> BenchCell:
    return BenchCell("cologne1", controller, sumo, delays, gridlocks, decision_ms=0.1, wall_s=1.0)


def test_table_shows_every_controller_beside_the_published_best() -> None:
    cells = [
        _cell("fixed", [56.0]),
        _cell("max-pressure", [30.0, 32.0], gridlocks=1),
        _cell("citytally", [20.0]),
    ]
    text = render_section(cells, "citytally signals bench", 2)
    row = next(line for line in text.splitlines() if line.startswith("| cologne1"))
    assert "31.00 ± 1.41 (2) ⚠1 gridlock" in row
    assert "**20.00 ± 0.00 (1)**" in row
    assert "26.05 (IDQN)" in row and "-23.2%" in row and "-35.5%" in row  # 20 / 31 - 1


def test_merge_keeps_the_cell_with_most_episodes() -> None:
    merged = merge_cells([_cell("citytally", [30.0, 31.0, 29.0]), _cell("citytally", [25.0])])
    assert [c.delays for c in merged] == [[30.0, 31.0, 29.0]]


def test_section_replaces_only_itself(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Benchmarks\n\n## Edge\n\nfast\n\n{SECTION}\n\nold table\n\n## Hub\n\nhub figures\n")
    write_section(doc, f"{SECTION}\n\nnew table\n")
    text = doc.read_text()
    assert "new table" in text and "old table" not in text
    assert "## Edge\n\nfast" in text and "## Hub\n\nhub figures" in text
    write_section(doc, f"{SECTION}\n\nnewer\n")
    assert doc.read_text().count(SECTION) == 1
