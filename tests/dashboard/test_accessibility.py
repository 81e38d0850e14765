"""WCAG 2.1 AA on every page, checked by axe-core (the npm package, run inside the real page): no serious
or critical violation on the login form, the overview, a camera, its geometry editor, the incidents, the weak
spots, the register and the PIA, at desktop and phone widths and in dark mode."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from citytally.hub.dashboard.server import FRONTEND_DIR, DashboardServer

pytestmark = [pytest.mark.integration, pytest.mark.browser]

Login = Callable[[Page, DashboardServer, str], None]
Shot = Callable[[Page, str], Path]
SITE = "demo-plaza"
#: (name, path after the host, token role or None, selector that says the page has drawn its data)
PAGES = [
    ("login", "/dashboard/", None, "form.login"),
    ("overview", "/dashboard/#/", "viewer", "#overview-summary[data-total]"),
    ("camera", f"/dashboard/#/camera/{SITE}/vtest", "viewer", "#camera-total[data-total]"),
    ("incidents", "/dashboard/#/incidents", "operator", "#incident-rows tr"),
    ("geometry", f"/dashboard/#/camera/{SITE}/vtest/geometry", "admin", "#geometry-svg[data-revision]"),
    ("weak-spots", "/dashboard/#/weak-spots", "viewer", "#heat-drawing svg circle"),
    ("register", "/register", None, "h1"),
    ("pia", "/pia", None, "h1"),
]
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_violations(page: Page, built_frontend: Path) -> list[dict[str, Any]]:
    """Run axe-core in the page (through the debugging protocol, so a content security policy does not
    block it) and return its serious and critical WCAG 2.1 A/AA violations."""
    source = (FRONTEND_DIR / "node_modules" / "axe-core" / "axe.min.js").read_text(encoding="utf-8")
    page.evaluate(source)
    result = page.evaluate("tags => axe.run(document, { runOnly: { type: 'tag', values: tags } })", WCAG_AA)
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"][:5]],
        }
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("width", [1440, 390])
@pytest.mark.parametrize(("name", "path", "role", "ready"), PAGES, ids=[p[0] for p in PAGES])
def test_every_page_meets_wcag_21_aa(
    page: Page,
    hub_server: DashboardServer,
    tokens: dict[str, str],
    login: Login,
    built_frontend: Path,
    screenshot: Shot,
    name: str,
    path: str,
    role: str | None,
    ready: str,
    width: int,
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    if role is not None:
        login(page, hub_server, tokens[role])
    page.goto(f"{hub_server.base_url}{path}")
    page.wait_for_selector(ready)
    page.wait_for_timeout(200)  # let the charts draw
    assert axe_violations(page, built_frontend) == []
    assert page.locator("h1").count() >= 1
    assert page.locator("meta[name=viewport]").count() == 1
    screenshot(page, f"a11y-{name}-{width}")


@pytest.mark.parametrize(
    ("name", "path", "role", "ready"),
    [p for p in PAGES if p[1].startswith("/dashboard/#/")],
    ids=[p[0] for p in PAGES if p[1].startswith("/dashboard/#/")],
)
def test_dark_mode_meets_wcag_21_aa(
    page: Page,
    hub_server: DashboardServer,
    tokens: dict[str, str],
    login: Login,
    built_frontend: Path,
    screenshot: Shot,
    name: str,
    path: str,
    role: str,
    ready: str,
) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    login(page, hub_server, tokens[role])
    page.goto(f"{hub_server.base_url}{path}")
    page.click("#theme-toggle")
    assert page.get_attribute("html", "data-theme") == "dark"
    page.wait_for_selector(ready)
    page.wait_for_timeout(200)
    assert axe_violations(page, built_frontend) == []
    screenshot(page, f"dark-{name}")


def test_the_skip_link_is_first_and_leads_to_the_content(
    page: Page, hub_server: DashboardServer, tokens: dict[str, str], login: Login
) -> None:
    login(page, hub_server, tokens["viewer"])
    page.reload()  # as a user opening the dashboard finds it (the token is kept in the tab)
    page.wait_for_selector("#overview-summary[data-total]")
    page.keyboard.press("Tab")
    focused = page.evaluate("() => [document.activeElement.className, document.activeElement.textContent]")
    assert focused == ["skip", "Skip to the main content"]
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "app"
    # a camera is reachable by keyboard: tab until a camera link has focus, then open it
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.matches('#camera-list a')"):
            break
    else:
        pytest.fail("no camera link reached by keyboard")
    page.keyboard.press("Enter")
    page.wait_for_selector("#camera-total[data-total]")


def test_a_wall_screen_has_no_controls(
    page: Page, hub_server: DashboardServer, tokens: dict[str, str], login: Login
) -> None:
    """``?kiosk=1`` is for a screen nobody touches: no range, download or sign-out to click, and (it was
    left) no dark-mode button either; ``?theme=`` picks the colours."""
    login(page, hub_server, tokens["viewer"])
    page.goto(f"{hub_server.url}?kiosk=1&theme=dark#/")
    page.wait_for_selector("#overview-summary[data-total]")
    for control in ("#logout", "#theme-toggle", ".range"):
        assert not page.locator(control).first.is_visible(), control
    assert page.get_attribute("html", "data-theme") == "dark"
