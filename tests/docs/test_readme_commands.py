"""What the README promises about its two commands, checked against the Makefile: `make demo` runs nothing
that needs root, and `make test` installs the test-only packages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NEEDS_ROOT = re.compile(r"\b(sudo|apt-get install|apt install|setup-system\.sh test|ensure-services\.sh)\b")


def parse_makefile(text: str) -> dict[str, tuple[list[str], list[str]]]:
    """target -> (prerequisites, recipe lines), variables in prerequisites expanded once."""
    variables = dict(re.findall(r"^([A-Z_]+)\s*:?=\s*(.*)$", text, flags=re.M))
    rules: dict[str, tuple[list[str], list[str]]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("\t") and current is not None:
            current.append(line.strip())
            continue
        match = re.match(r"^([^\s:#=][^:=]*):(?!=)\s*(.*)$", line)
        if match and not line.startswith("."):
            target = re.sub(r"\$\((\w+)\)", lambda m: variables.get(m.group(1), ""), match.group(1).strip())
            prereqs = [
                re.sub(r"\$\((\w+)\)", lambda m: variables.get(m.group(1), ""), p)
                for p in match.group(2).split()
            ]
            current = []
            rules[target] = (prereqs, current)
        elif not line.startswith("\t"):
            current = None
    for name, value in variables.items():  # expand variables used inside the recipes too
        for _, recipe in rules.values():
            recipe[:] = [r.replace(f"$({name})", value) for r in recipe]
    return rules


def recipe_of(rules: dict[str, tuple[list[str], list[str]]], target: str) -> list[str]:
    """Every recipe line `make TARGET` can run, prerequisites first."""
    seen: set[str] = set()
    lines: list[str] = []

    def walk(name: str) -> None:
        if name in seen or name not in rules:
            return
        seen.add(name)
        prereqs, recipe = rules[name]
        for p in prereqs:
            walk(p)
        lines.extend(recipe)

    walk(target)
    return lines


@pytest.fixture(scope="module")
def rules() -> dict[str, tuple[list[str], list[str]]]:
    return parse_makefile((REPO / "Makefile").read_text(encoding="utf-8"))


def test_make_demo_runs_nothing_that_needs_root(rules: dict[str, tuple[list[str], list[str]]]) -> None:
    demo = recipe_of(rules, "demo")
    assert any("citytally demo" in line for line in demo)
    assert [line for line in demo if NEEDS_ROOT.search(line)] == []


def test_make_test_installs_the_test_packages_and_starts_services(
    rules: dict[str, tuple[list[str], list[str]]],
) -> None:
    test = recipe_of(rules, "test")
    assert any("setup-system.sh test" in line for line in test)
    assert any("ensure-services.sh" in line for line in test)
    assert any(line.endswith("/pytest") or " pytest" in line for line in test)


def test_the_check_sees_a_root_step_in_a_prerequisite() -> None:
    text = "BIN := .venv/bin\nsetup:\n\tsudo apt-get install x\ndemo: setup\n\t$(BIN)/citytally demo\n"
    demo = recipe_of(parse_makefile(text), "demo")
    assert demo == ["sudo apt-get install x", ".venv/bin/citytally demo"]
    assert [line for line in demo if NEEDS_ROOT.search(line)] == ["sudo apt-get install x"]
