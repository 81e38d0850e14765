"""Delivery: compressed assets, no public source map, a login page without the chart and map libraries,
and no content-security-policy violation while the dashboard is used."""

from __future__ import annotations

import gzip
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page

from citytally.hub.dashboard.server import DashboardServer

pytestmark = [pytest.mark.integration, pytest.mark.browser]

Login = Callable[[Page, DashboardServer, str], None]


def fetch(url: str, accept_encoding: str | None) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body as sent) of a GET; error statuses are returned, not raised."""
    request = urllib.request.Request(url)
    if accept_encoding is not None:
        request.add_header("Accept-Encoding", accept_encoding)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as refused:
        with refused:
            return refused.code, {k.lower(): v for k, v in refused.headers.items()}, refused.read()


def test_assets_are_sent_compressed_when_the_browser_accepts_it(
    hub_server: DashboardServer, built_frontend: Path
) -> None:
    assets = built_frontend / "assets"
    scripts = sorted(p for p in assets.iterdir() if p.suffix in (".js", ".css"))
    assert scripts
    for script in scripts:
        url = f"{hub_server.url}assets/{script.name}"
        original = script.read_bytes()
        _, plain_headers, plain = fetch(url, None)
        assert plain == original and "content-encoding" not in plain_headers
        _, headers, body = fetch(url, "gzip, deflate")
        assert headers["content-encoding"] == "gzip" and gzip.decompress(body) == original
        _, headers, body = fetch(url, "gzip, deflate, br")
        assert headers["content-encoding"] == "br" and body == (assets / f"{script.name}.br").read_bytes()
        assert headers["vary"] == "Accept-Encoding"
        assert headers["content-type"].startswith(("text/javascript", "application/javascript", "text/css"))
        if len(original) > 4096:
            assert len(body) < len(original) / 2, script.name
        _, headers, body = fetch(url, "br;q=0, gzip")
        assert headers["content-encoding"] == "gzip"


def test_there_is_no_public_source_map(hub_server: DashboardServer, built_frontend: Path) -> None:
    assets = built_frontend / "assets"
    assert not list(assets.glob("*.map"))
    for script in assets.glob("*.js"):
        assert "sourceMappingURL" not in script.read_text(encoding="utf-8"), script.name
        assert fetch(f"{hub_server.url}assets/{script.name}.map", None)[0] == 404
        # the compressed forms only through Accept-Encoding, under the script's own name and type
        assert fetch(f"{hub_server.url}assets/{script.name}.br", None)[0] == 404


def test_the_login_page_does_not_load_the_chart_or_map_library(
    page: Page, hub_server: DashboardServer, tokens: dict[str, str], login: Login
) -> None:
    loaded: list[str] = []
    page.on("request", lambda request: loaded.append(request.url.rsplit("/", 1)[-1]))
    page.goto(hub_server.url)
    page.wait_for_selector("form.login")
    page.wait_for_load_state("networkidle")
    at_login = list(loaded)
    assert not [name for name in at_login if name.startswith(("charts-", "overview-", "camera-"))], at_login
    assert page.evaluate("() => typeof window.L") == "undefined"  # Leaflet sets window.L when it loads
    login(page, hub_server, tokens["viewer"])
    page.wait_for_selector("#overview-summary[data-total]")
    after = loaded[len(at_login) :]
    assert any(name.startswith("charts-") for name in after) and any(n.startswith("overview-") for n in after)


def test_the_dashboard_runs_under_the_hubs_content_security_policy(
    page: Page, hub_server: DashboardServer, tokens: dict[str, str], login: Login
) -> None:
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text))
    response = page.goto(hub_server.url)
    assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
    login(page, hub_server, tokens["operator"])
    page.wait_for_selector("#overview-summary[data-total]")
    page.goto(f"{hub_server.url}#/camera/demo-plaza/vtest")
    page.wait_for_selector("#camera-total[data-total]")
    page.goto(f"{hub_server.url}#/incidents")
    page.wait_for_selector("#incident-rows tr")
    for public in ("/register", "/pia"):
        page.goto(f"{hub_server.base_url}{public}")
    assert [text for text in console if "Content Security Policy" in text] == []
