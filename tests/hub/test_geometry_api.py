"""The geometry editor's API against real stores: a camera's lines and zones read, validated, saved as
revisions with an audit entry, exported as TOML, kept in force across a restart, and the masked still."""

from __future__ import annotations

import base64
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from citytally.edge.config import validate_camera_data
from citytally.edge.privacy import write_png
from citytally.hub.access import ROLES, issue_token
from citytally.hub.access_tables import tokens_table
from citytally.hub.audit import read_entries, verify_chain
from citytally.hub.config import HubSettings
from citytally.hub.store import schema, sync_registry
from citytally.hub.web import create_app

from .conftest import make_camera

pytestmark = pytest.mark.integration

URL = "/cameras/plaza/cam-1/geometry"
FRAME = {"uri": "rtsp://user:secret@camera.invalid/stream", "frame_size": [640, 480]}
TURNING = {"zones": ["west", "east"]}
NEW_LINE = {"name": "south", "p1": [10, 400], "p2": [600, 420], "directions": ["up", "down"]}
NEW_ZONE = {"name": "kerb", "polygon": [[300, 300], [400, 300], [400, 380], [300, 380]]}


def camera() -> Any:
    return make_camera(source=FRAME, turning=TURNING)


Hub = tuple[TestClient, dict[str, dict[str, str]]]


def _client(engine: Engine, settings: Any) -> Iterator[Hub]:
    sync_registry(engine, [camera()])
    headers = {
        role: {"Authorization": f"Bearer {issue_token(engine, role, label=f'{role} on duty').secret}"}
        for role in ROLES
    }
    with TestClient(create_app(settings, engine)) as client:
        yield client, headers


@pytest.fixture
def hub(store_engine: Engine) -> Iterator[Hub]:
    yield from _client(store_engine, None)


@pytest.fixture
def sqlite_hub(sqlite_engine: Engine) -> Iterator[Hub]:
    yield from _client(sqlite_engine, None)


def edited(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    """The geometry in force with a line and a zone added, as the editor would send it."""
    now = client.get(URL, headers=headers).json()
    return {
        "revision": now["revision"],
        "lines": [*now["lines"], NEW_LINE],
        "zones": [*now["zones"], NEW_ZONE],
    }


def revisions(engine: Engine) -> list[tuple[int, str, str]]:
    g = schema.geometry_revisions
    with engine.connect() as conn:
        rows = conn.execute(sa.select(g.c.revision, g.c.origin, g.c.actor_label).order_by(g.c.revision))
        return [(r.revision, r.origin, r.actor_label) for r in rows]


def geometry_entries(engine: Engine) -> list[Any]:
    return [r for r in read_entries(engine, limit=1000) if r.entry.kind == "camera_geometry"]


def test_the_editor_opens_on_the_config_files_geometry(hub: Hub) -> None:
    client, headers = hub
    answer = client.get(URL, headers=headers["admin"])
    assert answer.status_code == 200
    body = answer.json()
    assert [line["name"] for line in body["lines"]] == ["north"]
    assert body["lines"][0]["p1"] == [0, 100] and body["lines"][0]["directions"] == ["inbound", "outbound"]
    assert [zone["name"] for zone in body["zones"]] == ["west", "east"]
    assert (body["revision"], body["origin"], body["saved_by"]) == (1, "file", "config file")
    assert body["in_config_file"] is True
    assert body["frame_size"] == [640, 480]
    assert body["still"] is None and "no stills folder" in body["still_note"]
    assert "secret" not in answer.text and "rtsp" not in answer.text


def test_a_saved_geometry_is_a_revision_in_the_registry_with_an_audit_entry(
    hub: Hub, store_engine: Engine
) -> None:
    client, headers = hub
    answer = client.put(URL, json=edited(client, headers["admin"]), headers=headers["admin"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["revision"], body["origin"], body["saved_by"]) == (2, "dashboard", "admin on duty")
    assert body["in_config_file"] is False
    assert [line["name"] for line in body["lines"]] == ["north", "south"]
    assert body["lines"][1]["p2"] == [600, 420] and body["lines"][1]["margin_px"] == 4.0
    assert [zone["name"] for zone in body["zones"]] == ["west", "east", "kerb"]
    # the registry every other page reads has it too
    public = client.get("/cameras/plaza/cam-1", headers=headers["viewer"]).json()
    assert sorted(line["name"] for line in public["lines"]) == ["north", "south"]
    assert sorted(zone["name"] for zone in public["zones"]) == ["east", "kerb", "west"]
    assert revisions(store_engine) == [(1, "file", ""), (2, "dashboard", "admin on duty")]
    [entry] = geometry_entries(store_engine)
    assert entry.entry.actor != "anonymous" and entry.entry.role == "admin"
    assert entry.entry.detail["label"] == "admin on duty" and entry.entry.detail["revision"] == 2
    assert entry.entry.detail["changes"] == {
        "lines": {"added": ["south"], "removed": [], "changed": []},
        "zones": {"added": ["kerb"], "removed": [], "changed": []},
    }
    assert verify_chain(store_engine).ok


def test_moving_and_deleting_are_named_in_the_audit_entry(sqlite_hub: Hub, sqlite_engine: Engine) -> None:
    client, headers = sqlite_hub
    now = client.get(URL, headers=headers["admin"]).json()
    moved = dict(now["lines"][0], p2=[300, 120])
    body = {"revision": 1, "lines": [moved], "zones": now["zones"][:2] + [NEW_ZONE]}
    assert client.put(URL, json=body, headers=headers["admin"]).status_code == 200
    body = {"revision": 2, "lines": [], "zones": now["zones"]}
    assert client.put(URL, json=body, headers=headers["admin"]).status_code == 200
    changes = [e.entry.detail["changes"] for e in geometry_entries(sqlite_engine)]
    assert changes == [
        {
            "lines": {"added": [], "removed": [], "changed": ["north"]},
            "zones": {"added": ["kerb"], "removed": [], "changed": []},
        },
        {
            "lines": {"added": [], "removed": ["north"], "changed": []},
            "zones": {"added": [], "removed": ["kerb"], "changed": []},
        },
    ]


def _bad(case: str) -> dict[str, Any]:
    line = {"name": "north", "p1": [0, 100], "p2": [200, 100], "directions": ["inbound", "outbound"]}
    west = {"name": "west", "polygon": [[0, 0], [50, 0], [50, 50], [0, 50]]}
    east = {"name": "east", "polygon": [[100, 0], [150, 0], [150, 50], [100, 50]]}
    cases: dict[str, dict[str, Any]] = {
        "no length": {"lines": [line, dict(NEW_LINE, p2=[10, 400])], "zones": [west, east]},
        "crossed edges": {
            "lines": [line],
            "zones": [west, dict(east, polygon=[[100, 0], [150, 50], [150, 0], [100, 50]])],
        },
        "same name": {"lines": [line, dict(NEW_LINE, name="north")], "zones": [west, east]},
        "outside": {"lines": [dict(line, p2=[700, 100])], "zones": [west, east]},
        "turning zone gone": {"lines": [line], "zones": [west]},
        "not a slug": {"lines": [dict(line, name="North Gate")], "zones": [west, east]},
        "same directions": {"lines": [dict(line, directions=["in", "in"])], "zones": [west, east]},
        "two points": {"lines": [line], "zones": [west, dict(east, polygon=[[100, 0], [150, 0]])]},
        "unknown field": {"lines": [dict(line, colour="red")], "zones": [west, east]},
    }
    return cases[case]


@pytest.mark.parametrize(
    ("case", "loc", "message"),
    [
        ("no length", "lines[1]", "a line needs length"),
        ("crossed edges", "zones[1].polygon", "edges cross each other"),
        ("same name", "lines[1].name", "already used by lines[0]"),
        ("outside", "lines[0].p2", "outside the 640x480 frame"),
        ("turning zone gone", "turning.zones[1]", "no zone named 'east'"),
        ("not a slug", "lines[0].name", "must be a slug"),
        ("same directions", "lines[0].directions", "the two directions must differ"),
        ("two points", "zones[1].polygon", "at least 3 items"),
        ("unknown field", "lines[0].colour", "unknown field"),
    ],
)
def test_a_bad_geometry_is_refused_with_located_problems(
    sqlite_hub: Hub, sqlite_engine: Engine, case: str, loc: str, message: str
) -> None:
    client, headers = sqlite_hub
    answer = client.put(URL, json=_bad(case), headers=headers["admin"])
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert [d["loc"] for d in error["details"]] == [loc]
    assert message in error["details"][0]["msg"]
    assert error["message"] == f"{loc}: {error['details'][0]['msg']}"
    assert revisions(sqlite_engine) == [(1, "file", "")] and geometry_entries(sqlite_engine) == []
    lines = client.get(URL, headers=headers["admin"]).json()["lines"]
    assert [line["name"] for line in lines] == ["north"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [({"zones": []}, "lines"), ({"lines": [], "zones": [], "revision": 0}, "revision"), ([], "body")],
)
def test_a_malformed_body_is_refused_in_the_same_form(sqlite_hub: Hub, body: Any, loc: str) -> None:
    client, headers = sqlite_hub
    answer = client.put(URL, json=body, headers=headers["admin"])
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert [d["loc"] for d in error["details"]] == [loc] and error["message"].startswith(f"{loc}: ")


def test_the_body_is_documented_with_the_camera_tomls_models(sqlite_hub: Hub) -> None:
    client, _ = sqlite_hub
    put = client.get("/openapi.json").json()["paths"]["/cameras/{site}/{camera}/geometry"]["put"]
    schema = put["requestBody"]["content"]["application/json"]["schema"]
    line = schema["properties"]["lines"]["items"]
    assert set(line["required"]) == {"name", "p1", "p2", "directions"} and "$ref" not in str(schema)


def test_every_problem_is_reported_at_once(sqlite_hub: Hub) -> None:
    client, headers = sqlite_hub
    body = {"lines": [dict(NEW_LINE, p1=[900, 10], name="A")], "zones": []}
    error = client.put(URL, json=body, headers=headers["admin"]).json()["error"]
    locs = sorted(d["loc"] for d in error["details"])
    assert locs == ["lines[0].name", "turning.zones[0]", "turning.zones[1]"]
    assert error["message"].startswith("3 problems; the first: ")


@pytest.mark.parametrize("role", [None, "viewer", "operator", "auditor"])
def test_only_admins_read_save_or_export_geometry(
    sqlite_hub: Hub, sqlite_engine: Engine, role: str | None
) -> None:
    client, headers = sqlite_hub
    body = edited(client, headers["admin"])
    who = headers[role] if role else {}
    expected = 401 if role is None else 403
    assert client.get(URL, headers=who).status_code == expected
    assert client.get(URL + ".toml", headers=who).status_code == expected
    assert client.put(URL, json=body, headers=who).status_code == expected
    assert revisions(sqlite_engine) == [(1, "file", "")]


def test_a_save_over_an_older_revision_is_a_conflict(sqlite_hub: Hub, sqlite_engine: Engine) -> None:
    client, headers = sqlite_hub
    body = edited(client, headers["admin"])
    assert client.put(URL, json=body, headers=headers["admin"]).status_code == 200
    again = client.put(URL, json=dict(body, lines=body["lines"][:1]), headers=headers["admin"])
    assert again.status_code == 409
    assert "revision 2 was saved meanwhile" in again.json()["error"]["message"]
    assert [r[0] for r in revisions(sqlite_engine)] == [1, 2]


def test_saving_what_is_in_force_stores_nothing(sqlite_hub: Hub, sqlite_engine: Engine) -> None:
    client, headers = sqlite_hub
    now = client.get(URL, headers=headers["admin"]).json()
    body = {"revision": 1, "lines": now["lines"], "zones": now["zones"]}
    assert client.put(URL, json=body, headers=headers["admin"]).json()["revision"] == 1
    assert revisions(sqlite_engine) == [(1, "file", "")] and geometry_entries(sqlite_engine) == []


def test_the_toml_export_is_what_the_camera_file_needs(sqlite_hub: Hub) -> None:
    client, headers = sqlite_hub
    client.put(URL, json=edited(client, headers["admin"]), headers=headers["admin"])
    answer = client.get(URL + ".toml", headers=headers["admin"])
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/toml")
    text = answer.text
    assert text.startswith("# Lines and zones of camera plaza/cam-1\n# revision 2, saved ")
    assert "margin_px" not in text  # defaults are left out, so the file stays readable
    tables = tomllib.loads(text)
    assert tables["lines"][1] == NEW_LINE and tables["zones"][2] == NEW_ZONE
    # pasted into the camera's file in place of its own tables, it validates as the saved geometry
    data = camera().model_dump() | tables
    saved = validate_camera_data(data)
    assert [line.name for line in saved.lines] == ["north", "south"]
    assert saved.zones[2].polygon == [(300, 300), (400, 300), (400, 380), (300, 380)]


def test_a_token_label_cannot_write_toml_into_the_export(sqlite_engine: Engine) -> None:
    """A label with line breaks (stored before the hub refused them) is written into the export's comment:
    it must not end the comment and add a [source] of its own to the camera file."""
    sync_registry(sqlite_engine, [camera()])
    label = 'ops\n[source]\nuri = "rtsp://attacker.example/x"\n#'
    issued = issue_token(sqlite_engine, "admin", label="ops")
    with sqlite_engine.begin() as conn:
        conn.execute(tokens_table.update().where(tokens_table.c.id == issued.id).values(label=label))
    secret = issued.secret
    with TestClient(create_app(None, sqlite_engine)) as client:
        admin = {"Authorization": f"Bearer {secret}"}
        assert client.put(URL, json=edited(client, admin), headers=admin).status_code == 200
        text = client.get(URL + ".toml", headers=admin).text
    assert "source" not in tomllib.loads(text)
    assert "ops [source] uri" in text.splitlines()[1]  # the label, on the comment's own line


def test_a_restart_keeps_the_saved_revision_until_the_file_changes(hub: Hub, store_engine: Engine) -> None:
    client, headers = hub
    client.put(URL, json=edited(client, headers["admin"]), headers=headers["admin"])
    sync_registry(store_engine, [camera()])  # the hub restarts; its camera file is as it was
    body = client.get(URL, headers=headers["admin"]).json()
    assert body["revision"] == 2 and [line["name"] for line in body["lines"]] == ["north", "south"]
    # the operator pastes the export into the file: the file now holds it, recorded as such
    exported = tomllib.loads(client.get(URL + ".toml", headers=headers["admin"]).text)
    sync_registry(store_engine, [make_camera(source=FRAME, turning=TURNING, **exported)])
    body = client.get(URL, headers=headers["admin"]).json()
    assert (body["revision"], body["origin"], body["in_config_file"]) == (3, "file", True)
    assert [line["name"] for line in body["lines"]] == ["north", "south"]
    # someone edits the file by hand: the file's geometry wins
    sync_registry(store_engine, [make_camera(source=FRAME, turning=TURNING, lines=[])])
    body = client.get(URL, headers=headers["admin"]).json()
    assert (body["revision"], body["origin"], body["lines"]) == (4, "file", [])
    assert [r[1] for r in revisions(store_engine)] == ["file", "dashboard", "file", "file"]


def test_the_masked_still_is_served_and_an_unmarked_picture_is_not(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    stills = tmp_path / "stills" / "plaza"
    stills.mkdir(parents=True)
    frame = np.full((480, 640, 3), 90, np.uint8)
    write_png(stills / "cam-1.png", frame)  # as `citytally analyze --still` writes it
    settings = HubSettings(stills_dir=Path("stills"), base_dir=tmp_path)
    for client, headers in _client(sqlite_engine, settings):
        body = client.get(URL, headers=headers["admin"]).json()
        assert body["still"]["width"] == 640 and body["still"]["height"] == 480 and body["still_note"] == ""
        prefix = "data:image/png;base64,"
        assert body["still"]["image"].startswith(prefix)
        png = base64.b64decode(body["still"]["image"][len(prefix) :])
        assert png == (stills / "cam-1.png").read_bytes()
        # a raw frame grab put there by mistake (no mark) is not shown
        cv2.imwrite(str(stills / "cam-1.png"), frame)
        body = client.get(URL, headers=headers["admin"]).json()
        assert body["still"] is None and "lacks the mark" in body["still_note"]
        (stills / "cam-1.png").unlink()
        body = client.get(URL, headers=headers["admin"]).json()
        assert body["still"] is None and "citytally analyze --still" in body["still_note"]
        assert body["frame_size"] == [640, 480]


def test_an_unknown_camera_is_404(sqlite_hub: Hub) -> None:
    client, headers = sqlite_hub
    assert client.get("/cameras/plaza/cam-9/geometry", headers=headers["admin"]).status_code == 404
    body = {"lines": [], "zones": []}
    assert client.put("/cameras/plaza/cam-9/geometry", json=body, headers=headers["admin"]).status_code == 404
