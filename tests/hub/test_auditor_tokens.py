"""Separation of duties: admins cannot mint auditor tokens over the API; only the command line on the hub
machine can, and both the refusal and the creation are audited."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from citytally.cli import app as cli_app
from citytally.hub.access import authenticate, issue_token, list_tokens
from citytally.hub.audit import read_entries
from citytally.hub.web import create_app

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("role", "status"),
    [("viewer", 201), ("operator", 201), ("admin", 201), ("auditor", 403)],
)
def test_admins_create_every_role_but_auditor_over_the_api(
    sqlite_engine: Engine, role: str, status: int
) -> None:
    admin = issue_token(sqlite_engine, "admin")
    with TestClient(create_app(None, sqlite_engine)) as client:
        answer = client.post(
            "/tokens", json={"role": role}, headers={"Authorization": f"Bearer {admin.secret}"}
        )
    assert answer.status_code == status, answer.text
    roles = sorted(t.role for t in list_tokens(sqlite_engine))
    assert roles == sorted(["admin", role] if status == 201 else ["admin"])
    if status == 403:
        assert "citytally token create --role auditor" in answer.json()["error"]["message"]
    last = read_entries(sqlite_engine, limit=1000)[-1].entry
    assert (last.method, last.path, last.status) == ("POST", "/tokens", status)


def test_an_auditor_token_cannot_create_tokens_either(sqlite_engine: Engine) -> None:
    auditor = issue_token(sqlite_engine, "auditor")
    with TestClient(create_app(None, sqlite_engine)) as client:
        answer = client.post(
            "/tokens", json={"role": "auditor"}, headers={"Authorization": f"Bearer {auditor.secret}"}
        )
    assert answer.status_code == 403


def test_the_command_line_creates_auditors(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYTALLY_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    created = CliRunner().invoke(cli_app, ["token", "create", "--role", "auditor", "--label", "audit office"])
    assert created.exit_code == 0, created.output
    principal = authenticate(sqlite_engine, created.stdout.strip().splitlines()[-1])
    assert principal is not None and principal.role == "auditor"
    created_entry = [e.entry for e in read_entries(sqlite_engine) if e.entry.kind == "token"][-1]
    assert (created_entry.actor, dict(created_entry.detail)["role"]) == ("cli", "auditor")
