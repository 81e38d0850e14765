"""Tokens and roles on real stores: hashed storage, revocation, expiry, first admin, failed-login throttle."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from citytally.errors import AuthError
from citytally.hub.access import (
    ROLES,
    AccessPolicy,
    Principal,
    authenticate,
    ensure_first_admin,
    issue_token,
    list_tokens,
    recent_login_failures,
    record_login_failure,
    require_role,
    revoke_token,
)
from citytally.hub.access_tables import login_failures_table, tokens_table
from citytally.hub.audit import read_entries
from citytally.hub.web import create_app

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("role", "required", "allowed"),
    [
        ("viewer", "viewer", True),
        ("viewer", "operator", False),
        ("viewer", "auditor", False),
        ("operator", "viewer", True),
        ("operator", "operator", True),
        ("operator", "admin", False),
        ("admin", "operator", True),
        ("admin", "admin", True),
        ("admin", "auditor", False),
        ("auditor", "auditor", True),
        ("auditor", "viewer", False),
    ],
)
def test_role_grants(role: str, required: str, allowed: bool) -> None:
    assert Principal("t", role).may(required) is allowed  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: require_role("root"), "unknown role 'root'"),  # type: ignore[arg-type]
        (lambda: AccessPolicy(max_failures=0), "max_failures >= 1"),
    ],
)
def test_bad_access_setup_is_refused(call: object, message: str) -> None:
    with pytest.raises(AuthError, match=message):
        call()  # type: ignore[operator]


@pytest.mark.integration
def test_only_the_hash_is_stored_and_the_token_authenticates(store_engine: Engine) -> None:
    issued = issue_token(store_engine, "operator", label="night shift")
    assert issued.secret.startswith("ct_") and len(issued.secret) >= 43
    with store_engine.connect() as conn:
        row = conn.execute(sa.select(tokens_table)).one()
    assert row.token_hash == hashlib.sha256(issued.secret.encode()).hexdigest()
    assert issued.secret not in " ".join(str(v) for v in row)
    assert authenticate(store_engine, issued.secret) == Principal(issued.id, "operator")
    assert authenticate(store_engine, issued.secret + "x") is None
    assert authenticate(store_engine, "not-a-token") is None


@pytest.mark.integration
def test_revoked_and_expired_tokens_stop_working(store_engine: Engine) -> None:
    revoked = issue_token(store_engine, "viewer")
    assert revoke_token(store_engine, revoked.id) is True
    assert revoke_token(store_engine, revoked.id) is False
    assert authenticate(store_engine, revoked.secret) is None
    expiring = issue_token(store_engine, "viewer", expires_at=NOW + timedelta(hours=1), now=NOW)
    assert authenticate(store_engine, expiring.secret, now=NOW + timedelta(minutes=59)) is not None
    assert authenticate(store_engine, expiring.secret, now=NOW + timedelta(hours=1)) is None
    states = {t.id: (t.revoked_at is not None, t.expires_at) for t in list_tokens(store_engine)}
    assert states == {revoked.id: (True, None), expiring.id: (False, NOW + timedelta(hours=1))}


@pytest.mark.integration
@pytest.mark.parametrize(
    ("role", "expires", "message"),
    [("boss", None, "unknown role"), ("viewer", NOW - timedelta(seconds=1), "not in the future")],
)
def test_bad_tokens_are_refused(
    store_engine: Engine, role: str, expires: datetime | None, message: str
) -> None:
    with pytest.raises(AuthError, match=message):
        issue_token(store_engine, role, expires_at=expires, now=NOW)


@pytest.mark.integration
def test_first_admin_is_created_once(store_engine: Engine) -> None:
    first = ensure_first_admin(store_engine)
    assert first is not None and first.role == "admin"
    assert ensure_first_admin(store_engine) is None
    assert [t.role for t in list_tokens(store_engine)] == ["admin"]


@pytest.mark.integration
def test_failed_logins_are_throttled_per_address_and_logged(
    store_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    good = {"Authorization": f"Bearer {issue_token(store_engine, 'viewer').secret}"}
    bad = {"Authorization": "Bearer ct_guessing"}
    app = create_app(
        None, store_engine, access_policy=AccessPolicy(max_failures=3, window=timedelta(minutes=1))
    )
    with caplog.at_level(logging.WARNING, logger="citytally.hub.access"), TestClient(app) as client:
        statuses = [client.get("/cameras", headers=bad).status_code for _ in range(4)]
        served = client.get("/cameras", headers=good)  # a valid token is never locked out
        other = TestClient(app, client=("10.9.8.7", 50000)).get("/cameras", headers=bad)
    assert statuses == [401, 401, 401, 429]
    assert served.status_code == 200
    assert other.status_code == 401  # another address is not affected
    assert sum("failed login from testclient" in r.getMessage() for r in caplog.records) == 3
    assert recent_login_failures(store_engine, "testclient", timedelta(minutes=1)) == 3
    with store_engine.connect() as conn:
        assert "ct_guessing" not in str(conn.execute(sa.select(login_failures_table)).all())
    audited = [(e.entry.status, e.entry.actor) for e in read_entries(store_engine, limit=100)]
    assert audited == [(401, "anonymous")] * 3 + [
        (429, "anonymous"),
        (200, audited[4][1]),
        (401, "anonymous"),
    ]
    assert audited[4][1] != "anonymous"


@pytest.mark.integration
def test_throttle_forgets_after_the_window(store_engine: Engine) -> None:
    for minute in range(10):
        record_login_failure(store_engine, "10.0.0.1", now=NOW + timedelta(seconds=6 * minute))
    window = timedelta(minutes=1)
    assert recent_login_failures(store_engine, "10.0.0.1", window, now=NOW + timedelta(seconds=59)) == 10
    assert recent_login_failures(store_engine, "10.0.0.1", window, now=NOW + timedelta(seconds=121)) == 0
    assert recent_login_failures(store_engine, "10.0.0.2", window, now=NOW + timedelta(seconds=59)) == 0


def test_roles_are_the_four_documented() -> None:
    assert ROLES == ("viewer", "operator", "admin", "auditor")


@pytest.mark.integration
def test_token_cli_creates_lists_and_revokes(store_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from citytally.cli import app as cli_app

    monkeypatch.setenv("CITYTALLY_DATABASE_URL", store_engine.url.render_as_string(hide_password=False))
    runner = CliRunner()
    created = runner.invoke(
        cli_app, ["token", "create", "--role", "auditor", "--label", "audit office", "--expires-days", "30"]
    )
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    principal = authenticate(store_engine, secret)
    assert principal is not None and principal.role == "auditor"
    listed = runner.invoke(cli_app, ["token", "list"])
    assert principal.token_id in listed.output and "active" in listed.output and secret not in listed.output
    assert runner.invoke(cli_app, ["token", "revoke", principal.token_id]).exit_code == 0
    assert authenticate(store_engine, secret) is None
    assert runner.invoke(cli_app, ["token", "revoke", principal.token_id]).exit_code != 0
    made, revoked = (dict(e.entry.detail) for e in read_entries(store_engine) if e.entry.kind == "token")
    # what the API's entries name: the token, its role, and its expiry when made (docs/api.md)
    assert made["action"] == "create" and made["role"] == "auditor" and made["token_id"] == principal.token_id
    assert datetime.fromisoformat(made["expires_at"]) > datetime.now(UTC) + timedelta(days=29)
    assert revoked == {"action": "revoke", "token_id": principal.token_id, "role": "auditor"}
