"""Every key of the TOML examples in the docs is a field of the config model it documents, so an example
cannot keep a renamed or removed setting (and a wrong key fails here, not in a user's hub)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
from pydantic import BaseModel

from citytally.edge.config import CameraConfig
from citytally.hub.config import HubSettings

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = [
    ("docs/camera-config.md", CameraConfig),
    ("docs/hub.md", HubSettings),
    ("docs/dashboard.md", HubSettings),
]


def _models_in(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model an annotation holds, and whether it is the value type of a dict (``dict[str, Model]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    for arg in get_args(annotation):
        model, in_dict = _models_in(arg)
        if model is not None:
            return model, in_dict or get_origin(annotation) is dict
    return None, False


def unknown_keys(data: dict[str, Any], model: type[BaseModel], where: str = "") -> list[str]:
    """Dotted paths of the keys in ``data`` that ``model`` (recursively) has no field for."""
    fields = dict(model.model_fields) | {f.alias: f for f in model.model_fields.values() if f.alias}
    found: list[str] = []
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            found.append(f"{where}{key}")
            continue
        inner, in_dict = _models_in(field.annotation)
        if inner is None:
            continue
        if in_dict and isinstance(value, dict):
            nested = [(f"{where}{key}.{name}.", item) for name, item in value.items()]
        else:
            nested = [(f"{where}{key}.", item) for item in (value if isinstance(value, list) else [value])]
        for prefix, item in nested:
            if isinstance(item, dict):
                found += unknown_keys(item, inner, prefix)
    return found


def _toml_blocks(page: str) -> list[str]:
    return re.findall(r"```toml\n(.*?)```", (REPO / page).read_text(encoding="utf-8"), flags=re.DOTALL)


@pytest.mark.parametrize(("page", "model"), EXAMPLES)
def test_example_keys_are_model_fields(page: str, model: type[BaseModel]) -> None:
    blocks = _toml_blocks(page)
    assert blocks, f"{page} has no TOML example"
    for block in blocks:
        assert unknown_keys(tomllib.loads(block), model) == [], f"{page}: keys the config does not have"


@pytest.mark.parametrize(
    ("toml", "unknown"),
    [
        ('site = "a"\n[tracker]\nhigh_score = 0.5\n', []),
        ('site = "a"\ncolour = "red"\n', ["colour"]),
        ("[tracker]\nhigh_scor = 0.5\n", ["tracker.high_scor"]),
        ('[[lines]]\nname = "a"\nwidth = 3\n', ["lines.width"]),
    ],
)
def test_the_check_finds_a_misspelt_key(toml: str, unknown: list[str]) -> None:
    assert unknown_keys(tomllib.loads(toml), CameraConfig) == unknown


def test_the_check_walks_into_dict_valued_tables() -> None:
    assert unknown_keys(tomllib.loads('[sites.plaza]\nname = "P"\nnmae = "x"\n'), HubSettings) == [
        "sites.plaza.nmae"
    ]
