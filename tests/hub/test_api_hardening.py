"""The API holds under hostile input and behind proxies: time-zone folders, spoofed forwarding headers,
lock-outs that spare valid tokens, security headers on every answer, documentation served locally."""

from __future__ import annotations

import http.server
import re
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import cv2
import httpx
import numpy as np
import pytest
import sqlalchemy as sa
from fastapi import Depends
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Route

from citytally.hub.access import AccessPolicy, issue_token, public
from citytally.hub.access_tables import audit_log_table, login_failures_table, tokens_table
from citytally.hub.api.middleware import MAX_BODY_BYTES
from citytally.hub.config import ApiSettings, HubSettings
from citytally.hub.dashboard.server import serve
from citytally.hub.dashboard.settings import DashboardSettings
from citytally.hub.store import create_store_engine, migrate, sqlite_url
from citytally.hub.web import create_app

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_store_engine(sqlite_url(tmp_path / "hub.sqlite3"))
    migrate(engine)
    yield engine
    engine.dispose()


def bearer(engine: sa.Engine, role: str = "viewer") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(engine, role).secret}"}


@pytest.mark.parametrize(
    ("tz", "status"),
    [
        ("Europe", 422),
        ("America/Argentina", 422),
        ("zone.tab", 422),
        ("../../../etc/passwd", 422),
        ("localtime", 422),  # the hub machine's own zone, by a link Debian's zoneinfo holds
        ("Europe/Amsterdam", 200),
        ("UTC", 200),
    ],
)
def test_a_time_zone_must_be_a_zone_not_a_folder_of_the_tz_database(
    engine: sa.Engine, tz: str, status: int
) -> None:
    with TestClient(create_app(None, engine), raise_server_exceptions=False) as client:
        answer = client.get("/dashboard/api/overview", params={"tz": tz}, headers=bearer(engine))
    assert answer.status_code == status
    if status == 422:
        message = answer.json()["error"]["message"]
        assert message.startswith(f"tz: unknown time zone {tz!r}") and "\n" not in message


# -- who is calling: the forwarding header counts only from a configured proxy ------------------------------


def audited_clients(engine: sa.Engine) -> list[str | None]:
    with engine.connect() as connection:
        query = sa.select(audit_log_table.c.client).order_by(audit_log_table.c.seq)
        return list(connection.execute(query).scalars())


@pytest.mark.parametrize(
    ("trusted", "forwarded", "client"),
    [
        ([], "203.0.113.9", "127.0.0.1"),  # the default: no one's forwarding header counts
        (["127.0.0.1"], "203.0.113.9", "203.0.113.9"),
        (["127.0.0.0/8"], "198.51.100.7, 203.0.113.9", "203.0.113.9"),  # the nearest hop not trusted
        (["127.0.0.1", "203.0.113.0/24"], "198.51.100.7, 203.0.113.9", "198.51.100.7"),
        (["10.0.0.1"], "203.0.113.9", "127.0.0.1"),  # the peer is not a configured proxy
        (["127.0.0.1"], "not-an-address", "127.0.0.1"),
        (["::1", "127.0.0.1"], "2001:db8::7", "2001:db8::7"),
    ],
)
def test_x_forwarded_for_counts_only_from_a_configured_proxy(
    engine: sa.Engine, trusted: list[str], forwarded: str, client: str
) -> None:
    settings = HubSettings(api=ApiSettings(trusted_proxies=trusted))
    server = serve(settings, engine, build=False)  # real uvicorn, as the hub command runs it
    try:
        answer = httpx.get(f"{server.base_url}/health", headers={"X-Forwarded-For": forwarded})
    finally:
        server.stop()
    assert answer.status_code == 200
    assert audited_clients(engine) == [client]


def test_a_trusted_proxy_must_be_an_address_or_network() -> None:
    with pytest.raises(ValueError, match="not an IP address or network"):
        ApiSettings(trusted_proxies=["proxy.example.org"])


# -- the lock-out throttles bad tokens, never good ones ---------------------------------------------------


def test_an_address_locked_out_for_bad_tokens_is_still_served_with_a_valid_one(engine: sa.Engine) -> None:
    app = create_app(None, engine, access_policy=AccessPolicy(max_failures=3))
    stale = {"Authorization": "Bearer ct_" + "x" * 43}  # the forgotten tab behind the NAT
    good = bearer(engine)
    with TestClient(app, client=("192.0.2.10", 40000)) as client:
        assert [client.get("/cameras", headers=stale).status_code for _ in range(5)] == [401] * 3 + [429] * 2
        throttled = client.get("/cameras", headers=stale)
        assert throttled.status_code == 429 and throttled.headers["retry-after"] == "60"
        assert client.get("/cameras", headers=good).status_code == 200  # the operations room works on
        assert client.get("/cameras").status_code == 401
    with TestClient(app, client=("192.0.2.11", 40000)) as other:
        assert other.get("/cameras", headers=stale).status_code == 401  # per address
    with engine.connect() as connection:  # failures beyond the limit are refused, not stored
        counted = connection.execute(
            sa.select(sa.func.count()).select_from(login_failures_table)
        ).scalar_one()
    assert counted == 4


# -- headers and documentation -------------------------------------------------------------------------------

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


@pytest.mark.parametrize(
    "path", ["/health", "/docs", "/openapi.json", "/cameras", "/no-such-page", "/register", "/dashboard/"]
)
def test_every_answer_carries_the_security_headers(engine: sa.Engine, path: str) -> None:
    with TestClient(create_app(None, engine)) as client:
        answer = client.get(path)
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers.get(name) == value, (path, name)
    policy = answer.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy


def test_data_is_never_kept_in_the_browsers_disk_cache(engine: sa.Engine) -> None:
    """Authenticated answers had no Cache-Control: Chromium kept /incidents and the counts in its disk
    cache, where they outlived a sign-out on a shared control-room PC. The scripts and pages that may be
    cached keep their own."""
    viewer = {"Authorization": f"Bearer {issue_token(engine, 'operator').secret}"}
    with TestClient(create_app(None, engine)) as client:
        for path in (
            "/cameras",
            "/incidents",
            "/dashboard/api/cameras",
            "/counts.csv",
            "/ngsi-ld/TrafficFlowObserved",
        ):
            answer = client.get(path, headers=viewer)
            assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store", path
        assert client.get("/dashboard/").headers["cache-control"] == "no-cache"  # its own: checked each time


def test_an_answer_the_app_fails_on_carries_the_headers_too(engine: sa.Engine) -> None:
    app = create_app(None, engine)

    @app.get("/fails", dependencies=[Depends(public())])
    def fails() -> None:
        raise RuntimeError("a bug in a handler")

    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/fails")
    assert answer.status_code == 500 and answer.json()["error"]["status"] == 500
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers.get(name) == value, name


def test_the_docs_page_loads_nothing_from_another_host(engine: sa.Engine) -> None:
    with TestClient(create_app(None, engine)) as client:
        page = client.get("/docs")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        references = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert references and all("//" not in ref and ":" not in ref for ref in references), references
        for ref in references:
            asset = client.get(urljoin("http://testserver/docs", ref))
            assert asset.status_code == 200 and len(asset.content) > 10, ref
        assert client.get("/docs/assets/..%2Fopenapi.json").status_code == 404


@pytest.mark.browser
def test_swagger_ui_renders_offline_in_chromium(engine: sa.Engine, browser: Browser) -> None:

    server = serve(HubSettings(), engine, build=False)
    elsewhere: list[str] = []
    violations: list[str] = []

    def only_the_hub(route: Route) -> None:
        if route.request.url.startswith(server.base_url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    try:
        context = browser.new_context()
        page = context.new_page()
        page.route("**/*", only_the_hub)
        page.on("console", lambda m: violations.append(m.text) if "Content Security" in m.text else None)
        page.goto(f"{server.base_url}/docs")
        page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
        title = page.inner_text(".swagger-ui .info .title")
        operations = page.locator(".opblock").count()
        context.close()
    finally:
        server.stop()
    assert "citytally hub API" in title
    assert operations >= 10
    assert elsewhere == [] and violations == []


@pytest.mark.browser
def test_the_dashboard_runs_under_the_content_security_policy(engine: sa.Engine, browser: Browser) -> None:
    secret = issue_token(engine, "operator").secret
    server = serve(HubSettings(), engine, build=True)
    violations: list[str] = []
    try:
        context = browser.new_context()
        page = context.new_page()
        page.on("console", lambda m: violations.append(m.text) if "Content Security" in m.text else None)
        page.goto(server.login_url(secret))
        page.wait_for_selector("#overview-summary[data-total]", timeout=30_000)
        page.goto(f"{server.base_url}/register")
        page.wait_for_load_state("load")
        context.close()
    finally:
        server.stop()
    assert violations == []


@pytest.mark.browser
def test_a_configured_tile_server_is_allowed_to_serve_the_maps_images(
    engine: sa.Engine, browser: Browser
) -> None:
    """The policy allowed images from the hub only, so the tiles of a tile server an operator configured
    were refused and the map stayed blank. Its origin, and no other, may serve images now."""
    png = cv2.imencode(".png", np.full((256, 256, 3), 200, np.uint8))[1].tobytes()
    requested: list[str] = []

    class Tiles(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the handler's name is http.server's)
            requested.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(png)))
            self.end_headers()
            self.wfile.write(png)

        def log_message(self, *_: Any) -> None:
            pass

    tiles = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    threading.Thread(target=tiles.serve_forever, daemon=True).start()
    tile_url = f"http://127.0.0.1:{tiles.server_address[1]}/{{z}}/{{x}}/{{y}}.png"
    settings = HubSettings(dashboard=DashboardSettings(tile_url=tile_url, tile_attribution="test tiles"))
    server = serve(settings, engine, build=True)
    violations: list[str] = []
    try:
        policy = httpx.get(f"{server.base_url}/health").headers["content-security-policy"]
        context = browser.new_context()
        page = context.new_page()
        page.on("console", lambda m: violations.append(m.text) if "Content Security" in m.text else None)
        page.goto(server.login_url(issue_token(engine, "viewer").secret))
        page.wait_for_selector(".leaflet-tile-loaded", timeout=30_000)
        context.close()
    finally:
        server.stop()
        tiles.shutdown()
        tiles.server_close()
    assert f"img-src 'self' data: http://127.0.0.1:{tiles.server_address[1]};" in policy
    assert requested and violations == []


# -- the command line ----------------------------------------------------------------------------------------


def test_token_list_escapes_control_characters_in_labels(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from citytally.cli import app as cli_app

    label = "ops\x1b[2J\x1b]0;owned\x07\r\nroom\u202e"
    token = issue_token(engine, "viewer", label="ops")
    with engine.begin() as conn:  # a label stored before the hub refused control characters
        conn.execute(tokens_table.update().where(tokens_table.c.id == token.id).values(label=label))
    monkeypatch.setenv("CITYTALLY_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    listed = CliRunner().invoke(cli_app, ["token", "list"])
    assert listed.exit_code == 0, listed.output
    [line] = [row for row in listed.stdout.splitlines() if token.id in row]
    assert line.endswith(r"ops\x1b[2J\x1b]0;owned\x07\r\nroom\u202e")
    assert not any(ord(c) < 32 or c == "\u202e" for c in listed.stdout.replace("\n", ""))


def test_made_up_methods_and_nul_paths_are_audited_and_measured(store_engine: sa.Engine) -> None:
    """A client may send any token as the method (uvicorn's h11 passes it on): each one was a label set of
    its own (1,000 requests: 178 kB more /metrics), and on PostgreSQL one longer than the audit log's
    column, or a path with %00 in it, made the audit write fail: an unrecorded request and a false alarm
    anyone could raise."""
    app = create_app(None, store_engine)
    with TestClient(app) as client:
        for i in range(50):
            assert client.request(f"MADEUP{i}{'X' * 30}", "/health").status_code == 405
        assert client.get("/health").status_code == 200
        assert client.get("/health%00x").status_code == 404  # decoded, a NUL in the path
    registry = app.state.metrics.registry
    measured = {
        sample.labels["method"]
        for family in registry.collect()
        if family.name == "citytally_api_requests"
        for sample in family.samples
    }
    assert measured == {"GET", "OTHER"}
    assert registry.get_sample_value("citytally_audit_write_failures_total") == 0
    with store_engine.connect() as connection:
        methods = connection.execute(sa.select(audit_log_table.c.method)).scalars().all()
        paths = connection.execute(sa.select(audit_log_table.c.path)).scalars().all()
    assert len(methods) == 52 and "GET" in methods and "/health%00x" in paths
    assert {m for m in methods if m != "GET"} == {f"MADEUP{i}{'X' * 30}"[:16] for i in range(50)}


def test_a_nul_in_a_camera_path_or_a_token_label_is_refused(store_engine: sa.Engine) -> None:
    """PostgreSQL's text cannot hold NUL (SQLite's can): a %00 in a dashboard camera path, or a NUL in a new
    token's label, was a 500 there. Both are refused with what is wrong, on either store."""
    app = create_app(None, store_engine)
    with TestClient(app) as client:
        headers = bearer(store_engine, "admin")
        for suffix in ("", "/counts", "/tmc", "/tmc.csv", "/occupancy", "/turning", "/speeds"):
            for place in ("pla%00za/cam-1", "plaza/cam%00-1"):
                answer = client.get(f"/dashboard/api/cameras/{place}{suffix}", headers=headers)
                assert answer.status_code == 422, (place, suffix, answer.text)
        for label in ("ops\x00room", "ops\n[source]\nuri = 'rtsp://elsewhere/x'", "ops\rroom"):
            answer = client.post("/tokens", headers=headers, json={"role": "viewer", "label": label})
            assert answer.status_code == 422, label
            assert "a label is one line of text" in answer.text


def test_a_dashboard_export_covers_no_longer_than_the_apis_series(
    store_engine: sa.Engine, make_registry: Callable[..., Any]
) -> None:
    """A viewer asked for 400 days of 15-minute rows in one CSV (about 13 times the API's 31 days, all
    built in memory): refused as the API's series are, with what to do instead."""
    make_registry(store_engine, ("plaza", "cam-1"))
    app = create_app(None, store_engine)
    end = datetime.now(UTC)
    with TestClient(app) as client:
        headers = bearer(store_engine, "viewer")
        url = "/dashboard/api/cameras/plaza/cam-1/counts.csv"
        for bucket, days, status in (("15m", 399, 422), ("15m", 31, 200), ("1h", 366, 200), ("1h", 399, 422)):
            window = {"start": (end - timedelta(days=days)).isoformat(), "end": end.isoformat()}
            answer = client.get(url, params={"bucket": bucket, **window}, headers=headers)
            assert answer.status_code == status, (bucket, days, answer.text)
        assert (
            "a 15m export covers at most 31 days"
            in client.get(
                url,
                params={"bucket": "15m", "start": (end - timedelta(days=40)).isoformat()},
                headers=headers,
            ).text
        )


# -- a request body is bounded before anything reads it; the audit log's rows are bounded too -------------


def big_body() -> bytes:
    return b"[" + b"1," * (MAX_BODY_BYTES // 2) + b"1]"  # valid JSON, just over the bound


def test_a_body_over_the_bound_is_refused_before_the_token_check(engine: sa.Engine) -> None:
    """FastAPI parses a body before the route's dependencies run: without the bound anyone could have the
    hub hold and parse a body of any length, then be told 401."""
    admin = bearer(engine, "admin")
    json_type = {"Content-Type": "application/json"}
    chunks = [big_body()[i : i + 65536] for i in range(0, len(big_body()), 65536)]
    with TestClient(create_app(None, engine), raise_server_exceptions=False) as client:
        declared = client.post("/tokens", content=big_body(), headers=json_type)
        chunked = client.put("/cameras/plaza/cam-1/geometry", content=iter(chunks), headers=admin | json_type)
        small = client.post("/tokens", json={"role": "viewer", "label": "x" * 200}, headers=admin)
    for answer in (declared, chunked):
        assert answer.status_code == 413, answer.text
        assert answer.json()["error"]["message"].startswith("request body too long")
        assert "\n" not in answer.json()["error"]["message"]
    assert small.status_code == 201
    with engine.connect() as connection:
        query = sa.select(audit_log_table.c.path, audit_log_table.c.status).order_by(audit_log_table.c.seq)
        audited = connection.execute(query).all()
    assert audited[:2] == [("/tokens", 413), ("/cameras/plaza/cam-1/geometry", 413)]


def test_a_declared_length_over_the_bound_is_answered_without_waiting_for_the_body(engine: sa.Engine) -> None:
    """On the real server: a client that announces 200 MB is answered at once, the body never read."""
    server = serve(HubSettings(), engine, build=False)
    try:
        host, port = server.base_url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(
                b"POST /tokens HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
                b"Content-Length: 209715200\r\n\r\n[1,"
            )
            answer = sock.recv(4096)
    finally:
        server.stop()
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]


def test_the_audit_log_keeps_a_bounded_part_of_a_long_query(engine: sa.Engine) -> None:
    with TestClient(create_app(None, engine), raise_server_exceptions=False) as client:
        assert client.get("/cameras", params={"q": "x" * 60_000}).status_code == 401
    with engine.connect() as connection:
        [query] = connection.execute(sa.select(audit_log_table.c.query)).scalars().all()
    assert len(query) <= 2000 and query.startswith("q=xxx") and query.endswith("(60002 characters in all)")
