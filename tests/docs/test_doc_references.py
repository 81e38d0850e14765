"""Every file and every ``citytally.*`` name the docs point at exists, so the docs cannot silently drift
when code moves. Looks at README.md and docs/**/*.md (the log of past benchmark runs is history: skipped)."""

from __future__ import annotations

import importlib
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = sorted(
    p for p in [REPO / "README.md", *(REPO / "docs").rglob("*.md")] if p.name != "benchmarks-log.md"
)
#: A repository path in backticks or a Markdown link: src/..., tests/..., bench/... and so on.
PATH = re.compile(
    r"[`(]((?:src|tests|bench|scripts|examples|docs|frontend)/[A-Za-z0-9_./-]*[A-Za-z0-9_/])[`)#]"
)
#: A dotted name in backticks: `citytally.hub.store.migrate` or `citytally.edge.config.load_camera_config`.
NAME = re.compile(r"`(citytally(?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
LINK = re.compile(r"\]\((?!https?:|#|mailto:)([^)#\s]+)")


def _pages_with(pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    found = {
        (str(page.relative_to(REPO)), m) for page in PAGES for m in pattern.findall(page.read_text("utf-8"))
    }
    return sorted(found)


@pytest.mark.parametrize(("page", "path"), _pages_with(PATH))
def test_referenced_file_exists(page: str, path: str) -> None:
    if not (REPO / path).exists():
        ignored = subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", path], check=False)
        # a build output (git-ignored) may be absent in a fresh clone
        assert ignored.returncode == 0, f"{page} names {path}, which does not exist"


@pytest.mark.parametrize(("page", "target"), _pages_with(LINK))
def test_relative_link_resolves(page: str, target: str) -> None:
    assert ((REPO / page).parent / target).exists(), f"{page} links to {target}, which does not exist"


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


@pytest.mark.parametrize(("page", "name"), _pages_with(NAME))
def test_named_python_object_exists(page: str, name: str) -> None:
    try:
        _resolve(name)
    except (ModuleNotFoundError, AttributeError) as exc:
        pytest.fail(f"{page} names {name}, which does not exist ({exc})")
