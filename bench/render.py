"""Fill the recorded-result blocks of docs/benchmarks.md from bench/results/*.json.

A block is two HTML comments around generated text; everything between them is replaced:

    <!-- bench:edge_fps -->
    (generated: machine, date, commit, command, then the table)
    <!-- /bench:edge_fps -->

    python bench/render.py            # rewrite every block from its result
    python bench/render.py --check    # exit 1 if a block differs from its result, or a result has no
                                      # block (a test runs this)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from harness import RESULTS_DIR, load

__all__ = ["BLOCK", "format_cell", "render_result", "fill_blocks", "main"]

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "benchmarks.md"
BLOCK = re.compile(r"(<!-- bench:([A-Za-z0-9_-]+) -->\n)(.*?)(<!-- /bench:\2 -->)", re.DOTALL)


def format_cell(value: Any, spec: str = "") -> str:
    """One table cell: floats to at most two decimals with thousands separators, None empty; a column's
    format spec (e.g. ``.3f``), when it has one, formats its numbers instead."""
    if value is None:
        return ""
    if spec and isinstance(value, int | float) and not isinstance(value, bool):
        return format(value, spec)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        text = f"{value:,.2f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(value).replace("|", "\\|").replace("\n", " ")


def _provenance(result: dict[str, Any]) -> str:
    machine = result["machine"]
    flags = ", ".join(machine.get("flags") or []) or "none of AVX2/AVX-512/VNNI"
    when = result["started_utc"].replace("T", " ").replace("Z", " UTC")
    dirty = " plus uncommitted changes" if result.get("dirty") else ""
    load = machine.get("load_average")
    busy = (
        " (a busy machine: more runnable tasks than cores, so read the ratios, not the rates)"
        if isinstance(load, int | float) and load > machine["cores"]
        else ""
    )
    return (
        f"Recorded {when} at commit `{result['commit']}`{dirty}, on {machine['cpu_model']} "
        f"(family/model {machine.get('cpu_family_model', '?')}, {machine['cores']} cores; {flags}), "
        f"Python {machine['python']}, load average {load} at the start{busy}:\n\n"
        f"    {result['command']}\n"
    )


def render_result(result: dict[str, Any]) -> str:
    """The Markdown of one block: provenance, the table, then the notes."""
    columns = result["columns"]
    lines = [_provenance(result)]
    lines.append("| " + " | ".join(column[1] for column in columns) + " |")
    lines.append("|" + "---|" * len(columns))
    for row in result["rows"]:
        cells = (format_cell(row.get(column[0]), column[2] if len(column) > 2 else "") for column in columns)
        lines.append("| " + " | ".join(cells) + " |")
    if result.get("notes"):
        lines.append("")
        lines.extend(f"- {note}" for note in result["notes"])
    return "\n".join(lines) + "\n"


def fill_blocks(page: str, results_dir: Path = RESULTS_DIR) -> str:
    """The page with every block's body replaced by the render of its recorded result."""

    def fill(match: re.Match[str]) -> str:
        return match.group(1) + render_result(load(match.group(2), results_dir)) + match.group(4)

    return BLOCK.sub(fill, page)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--page", type=Path, default=PAGE)
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    try:
        current = args.page.read_text(encoding="utf-8")
        rendered = fill_blocks(current, args.results_dir)
    except (OSError, ValueError, KeyError) as exc:
        print(f"render: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if rendered != current:
            print(f"render: {args.page.name} is stale: run python bench/render.py", file=sys.stderr)
            return 1
        shown = {match.group(2) for match in BLOCK.finditer(current)}
        unshown = sorted(p.stem for p in args.results_dir.glob("*.json") if p.stem not in shown)
        if unshown:
            print(f"render: {args.page.name} has no block for {', '.join(unshown)}", file=sys.stderr)
            return 1
        return 0
    args.page.write_text(rendered, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
