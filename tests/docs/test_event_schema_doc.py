"""docs/events.md and docs/event-schema.json are rendered from ``citytally.events``; they must match it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from citytally.errors import SchemaError
from citytally.events import parse_event

REPO = Path(__file__).resolve().parents[2]


def _renderer() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "render_event_schema", REPO / "scripts" / "render_event_schema.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("committed", "render"),
    [("docs/events.md", "render_page"), ("docs/event-schema.json", "render_json_schema")],
)
def test_committed_page_is_the_render_of_the_models(committed: str, render: str) -> None:
    fresh = getattr(_renderer(), render)()
    on_disk = (REPO / committed).read_text(encoding="utf-8")
    assert on_disk == fresh, f"{committed} is stale: run python scripts/render_event_schema.py"


def test_page_names_every_field_of_every_event_type() -> None:
    page = (REPO / "docs" / "events.md").read_text(encoding="utf-8")
    schema = json.loads((REPO / "docs" / "event-schema.json").read_text(encoding="utf-8"))
    for name, definition in schema["$defs"].items():
        for field in definition["properties"]:
            assert f"| `{field}` |" in page, f"{name}.{field} is not on the page"


def test_every_example_on_the_page_parses() -> None:
    page = (REPO / "docs" / "events.md").read_text(encoding="utf-8")
    examples = [block.split("```", 1)[0].strip() for block in page.split("```json")[1:]]
    assert len(examples) == 6
    types = {parse_event(example).type for example in examples}
    assert types == {"line_count", "speed", "zone_occupancy", "turning_movement", "incident", "conflict"}


def test_check_mode_flags_a_stale_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    renderer = _renderer()
    stale = tmp_path / "events.md"
    stale.write_text("# an old page\n", encoding="utf-8")
    monkeypatch.setattr(renderer, "PAGE", stale)
    monkeypatch.setattr(renderer, "SCHEMA_FILE", tmp_path / "event-schema.json")
    monkeypatch.setattr(renderer, "REPO", tmp_path)
    assert renderer.main(["--check"]) == 1
    assert renderer.main([]) == 0
    assert renderer.main(["--check"]) == 0
    assert stale.read_text(encoding="utf-8") == renderer.render_page()


def test_the_schema_requires_what_the_hub_refuses_without() -> None:
    """`v` has a default in Python, but the hub refuses an event without it: the page and the JSON Schema
    say it is required, so a validator that accepts an event is not contradicted by the hub."""
    page = (REPO / "docs" / "events.md").read_text(encoding="utf-8")
    schema = json.loads((REPO / "docs" / "event-schema.json").read_text(encoding="utf-8"))
    example = json.loads(page.split("```json")[1].split("```", 1)[0])
    del example["v"]
    with pytest.raises(SchemaError, match="schema version"):
        parse_event(example)
    events = [d for d in schema["$defs"].values() if "v" in d.get("properties", {})]
    assert len(events) == 6 and all("v" in d["required"] for d in events)
    assert "| `v` | `1` | yes |" in page
