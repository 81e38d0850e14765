"""The geometry editor in Chromium against a real hub: an admin draws a line and a zone with the mouse over
the camera's masked still, saves, reloads and finds them; a bad shape and a taken name are refused with the
hub's message next to their fields; the keyboard alone can do the same; viewers get no editor."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, Route, expect

from citytally.edge.config import CameraConfig
from citytally.edge.privacy import write_png
from citytally.hub.access import issue_token
from citytally.hub.audit import read_entries
from citytally.hub.config import HubSettings
from citytally.hub.dashboard.server import DashboardServer, serve
from citytally.hub.store import create_store_engine, migrate, sqlite_url, sync_registry

from .conftest import camera_config

pytestmark = [pytest.mark.integration, pytest.mark.browser]

Shot = Callable[[Page, str], Path]
SITE = "demo-plaza"
FRAME = (768, 576)


def framed(camera: str) -> CameraConfig:
    """The demo plaza's camera with its frame size known (the editor checks points against it)."""
    base = camera_config(camera, 52.37, 4.89).model_dump()
    return CameraConfig.model_validate(base | {"source": {"uri": "/dev/null", "frame_size": list(FRAME)}})


def still_picture() -> np.ndarray[Any, np.dtype[np.uint8]]:
    """A plaza-like picture: paving, a path and two blocks already filled solid as the masker does."""
    image = np.full((FRAME[1], FRAME[0], 3), (120, 128, 132), np.uint8)
    cv2.rectangle(image, (0, 260), (767, 330), (90, 96, 100), -1)
    cv2.rectangle(image, (300, 200), (340, 300), (0, 0, 0), -1)
    cv2.rectangle(image, (520, 180), (555, 280), (0, 0, 0), -1)
    return image


@pytest.fixture(scope="module")
def editor_hub(
    tmp_path_factory: pytest.TempPathFactory, built_frontend: Path
) -> Iterator[tuple[DashboardServer, sa.Engine, dict[str, str]]]:
    folder = tmp_path_factory.mktemp("editor")
    engine = create_store_engine(sqlite_url(folder / "hub.sqlite3"))
    migrate(engine)
    sync_registry(engine, [framed("vtest"), camera_config("north-gate", 52.3704, 4.8892)])
    write_png(folder / "stills" / SITE / "vtest.png", still_picture())  # as `analyze --still` writes it
    secrets = {
        role: issue_token(engine, role, label=f"{role} at the desk").secret for role in ("admin", "viewer")
    }
    server = serve(HubSettings(stills_dir=Path("stills"), base_dir=folder), engine, build=False)
    yield server, engine, secrets
    server.stop()
    engine.dispose()


def open_editor(page: Page, server: DashboardServer, secret: str, camera: str = "vtest") -> None:
    page.goto(server.url)
    page.fill("input[name=token]", secret)
    page.click("form.login button[type=submit]")
    page.wait_for_selector("#nav:not([hidden])")
    page.goto(f"{server.base_url}/dashboard/#/camera/{SITE}/{camera}")
    page.click("#edit-geometry")
    page.wait_for_selector("#geometry-svg[data-revision]")


def to_screen(page: Page, x: float, y: float) -> list[float]:
    """Where image pixel (x, y) is in the viewport, wherever the page has put and scaled the picture."""
    page.locator("#geometry-svg").scroll_into_view_if_needed()
    at: list[float] = page.evaluate(
        """([x, y]) => {
            const svg = document.getElementById("geometry-svg");
            const p = svg.createSVGPoint();
            p.x = x;
            p.y = y;
            const q = p.matrixTransform(svg.getScreenCTM());
            return [q.x, q.y];
        }""",
        [x, y],
    )
    return at


def click_image(page: Page, x: float, y: float) -> None:
    """Click the picture at image pixel (x, y)."""
    page.mouse.click(*to_screen(page, x, y))


def coords(page: Page, loc: str) -> list[float]:
    return [float(page.locator(f"input[data-coord='{loc}:{axis}']").input_value()) for axis in (0, 1)]


def test_draw_a_line_and_a_zone_save_and_find_them_after_a_reload(
    page: Page, editor_hub: tuple[DashboardServer, sa.Engine, dict[str, str]], screenshot: Shot
) -> None:
    server, engine, secrets = editor_hub
    open_editor(page, server, secrets["admin"])
    assert page.locator("#geometry-svg image").count() == 1  # the masked still is the background
    expect(page.locator("#still-note")).to_have_text("The picture is the camera's masked still.")
    page.click("#add-line")
    click_image(page, 100, 450)
    click_image(page, 650, 470)
    page.fill("input[name=line-1-name]", "kerb")
    page.fill("input[name=line-1-dir-0]", "towards-kerb")
    page.fill("input[name=line-1-dir-1]", "from-kerb")
    page.click("#add-zone")
    for x, y in ((420, 380), (560, 380), (560, 520), (420, 520)):
        click_image(page, x, y)
    page.click("#finish-zone")
    page.fill("input[name=zone-3-name]", "bus-stop")
    screenshot(page, "geometry-editor-drawn")
    page.click("#save-geometry")
    expect(page.locator("#editor-status")).to_have_text("Saved as revision 2.")

    page.reload()
    page.wait_for_selector("#geometry-svg[data-revision='2']")
    assert page.locator("#line-list fieldset").evaluate_all("f => f.map(x => x.dataset.name)") == [
        "centre",
        "kerb",
    ]
    assert coords(page, "lines[1].p1") == pytest.approx([100, 450], abs=2)
    assert coords(page, "lines[1].p2") == pytest.approx([650, 470], abs=2)
    assert page.locator("input[name=line-1-dir-0]").input_value() == "towards-kerb"
    assert coords(page, "zones[3].polygon[2]") == pytest.approx([560, 520], abs=2)
    assert page.locator("#geometry-svg g.zone[data-name='bus-stop'] polygon").count() == 1
    expect(page.locator("#editor-about")).to_contain_text("saved in the dashboard by admin at the desk")
    expect(page.locator("#editor-about")).to_contain_text("Not in the camera's config file yet")
    screenshot(page, "geometry-editor-saved")
    with page.expect_download() as download:
        page.click("#download-toml")
    exported = tomllib.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert [line["name"] for line in exported["lines"]] == ["centre", "kerb"]
    assert exported["lines"][1]["directions"] == ["towards-kerb", "from-kerb"]
    assert exported["zones"][3]["name"] == "bus-stop" and len(exported["zones"][3]["polygon"]) == 4
    [entry] = [r for r in read_entries(engine, limit=1000) if r.entry.kind == "camera_geometry"]
    assert entry.entry.detail["label"] == "admin at the desk"
    assert entry.entry.detail["changes"]["lines"]["added"] == ["kerb"]
    assert entry.entry.detail["changes"]["zones"]["added"] == ["bus-stop"]


def test_dragging_a_point_moves_it_and_its_fields(
    page: Page, editor_hub: tuple[DashboardServer, sa.Engine, dict[str, str]], screenshot: Shot
) -> None:
    server, _, secrets = editor_hub
    open_editor(page, server, secrets["admin"])
    start = coords(page, "lines[0].p2")
    page.mouse.move(*to_screen(page, *start))
    page.mouse.down()
    for step in range(1, 6):  # a hand's drag: several moves
        page.mouse.move(
            *to_screen(page, start[0] + (600 - start[0]) * step / 5, start[1] + (300 - start[1]) * step / 5)
        )
    page.mouse.up()
    assert coords(page, "lines[0].p2") == pytest.approx([600, 300], abs=2)
    line = page.locator("#geometry-svg g.count-line").first.locator("line").first
    assert float(line.get_attribute("x2") or 0) == pytest.approx(600, abs=2)
    page.click("#save-geometry")
    expect(page.locator("#editor-status")).to_contain_text("Saved as revision")
    page.reload()
    page.wait_for_selector("#geometry-svg[data-revision]")
    assert coords(page, "lines[0].p2") == pytest.approx([600, 300], abs=2)
    screenshot(page, "geometry-editor-dragged")
    # and a line deleted is gone after saving
    page.click("#line-list fieldset[data-name='kerb'] button.delete")
    page.click("#save-geometry")
    expect(page.locator("#editor-status")).to_contain_text("Saved as revision")
    page.reload()
    page.wait_for_selector("#geometry-svg[data-revision]")
    assert page.locator("#line-list fieldset").evaluate_all("f => f.map(x => x.dataset.name)") == ["centre"]


def test_a_crossed_zone_and_a_taken_name_are_refused_next_to_their_fields(
    page: Page, editor_hub: tuple[DashboardServer, sa.Engine, dict[str, str]], screenshot: Shot
) -> None:
    server, _, secrets = editor_hub
    open_editor(page, server, secrets["admin"], camera="vtest")
    revision = page.get_attribute("#geometry-svg", "data-revision")
    zones = page.locator("#zone-list fieldset").count()
    page.click("#add-zone")
    for x, y in ((100, 100), (300, 300), (300, 100), (100, 300)):  # a bow tie: its edges cross
        click_image(page, x, y)
    page.keyboard.press("Enter")
    page.click("#type-line")  # a second line, named as the first
    page.fill("input[name=line-1-name]", "centre")
    page.click("#save-geometry")
    crossed = page.locator(f"#zone-list [data-loc='zones[{zones}].polygon'] > .field-error")
    expect(crossed).to_contain_text("polygon edges cross each other")
    taken = page.locator("#line-list [data-loc='lines[1].name'] > .field-error")
    expect(taken).to_contain_text("name 'centre' is already used by lines[0]")
    assert page.get_attribute("input[name=line-1-name]", "aria-invalid") == "true"
    expect(page.locator("#editor-errors")).to_contain_text("Not saved: the hub found 2 problems")
    screenshot(page, "geometry-editor-refused")
    page.click("#cancel-geometry")
    expect(page.locator("#editor-status")).to_have_text("Changes discarded: showing what is in force.")
    assert page.get_attribute("#geometry-svg", "data-revision") == revision
    expect(page.locator("#line-list .field-error:not([hidden])")).to_have_count(0)


def test_the_keyboard_alone_adds_a_line_and_the_blank_frame_is_explained(
    page: Page, editor_hub: tuple[DashboardServer, sa.Engine, dict[str, str]], screenshot: Shot
) -> None:
    server, _, secrets = editor_hub
    open_editor(page, server, secrets["admin"], camera="north-gate")
    assert page.locator("#geometry-svg image").count() == 0
    expect(page.locator("#still-note")).to_contain_text("No masked still of this camera")
    expect(page.locator("#still-note")).to_contain_text("has no frame_size")
    page.focus("#type-line")
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.name") == "line-1-name"
    page.keyboard.press("Control+A")
    page.keyboard.type("gate-exit")
    for loc, value in (("lines[1].p1:0", "20"), ("lines[1].p1:1", "600"), ("lines[1].p2:0", "700")):
        page.focus(f"input[data-coord='{loc}']")
        page.keyboard.press("Control+A")
        page.keyboard.type(value)
    assert page.get_attribute("#geometry-svg g.count-line[data-name='gate-exit'] line", "x1") == "20"
    page.focus("#save-geometry")
    page.keyboard.press("Enter")
    expect(page.locator("#editor-status")).to_have_text("Saved as revision 2.")
    assert coords(page, "lines[1].p1") == [20, 600]
    screenshot(page, "geometry-editor-keyboard")


def test_viewers_get_no_editor(
    page: Page, editor_hub: tuple[DashboardServer, sa.Engine, dict[str, str]]
) -> None:
    server, _, secrets = editor_hub
    page.goto(server.url)
    page.fill("input[name=token]", secrets["viewer"])
    page.click("form.login button[type=submit]")
    page.goto(f"{server.base_url}/dashboard/#/camera/{SITE}/vtest")
    page.wait_for_selector("#camera-total[data-total]")
    assert page.locator("#edit-geometry").count() == 0
    page.goto(f"{server.base_url}/dashboard/#/camera/{SITE}/vtest/geometry")
    expect(page.locator("#editor-refused")).to_contain_text("Only an admin token may change")
    assert page.locator("#geometry-svg").count() == 0


def test_a_second_press_of_save_while_the_first_is_on_its_way_saves_once(
    page: Page, editor_hub: tuple[DashboardServer, sa.Engine, dict[str, str]]
) -> None:
    server, _, secrets = editor_hub
    open_editor(page, server, secrets["admin"])
    before = int(page.locator("#geometry-svg").get_attribute("data-revision") or 0)
    start = coords(page, "lines[0].p2")
    page.fill("input[data-coord='lines[0].p2:0']", str(start[0] - 10))
    held: list[Route] = []
    saving = lambda url: "/geometry" in url  # noqa: E731
    page.route(
        saving, lambda route: held.append(route) if route.request.method == "PUT" else route.continue_()
    )
    page.click("#save-geometry")
    page.wait_for_function("() => document.querySelector('#editor-status').textContent === 'Saving…'")
    page.click("#save-geometry", force=True)  # pressed again: the first save has not been answered
    page.wait_for_timeout(500)
    for route in held[1:]:  # a second save, had one been sent, is answered first...
        route.continue_()
    page.wait_for_timeout(300)
    held[0].continue_()  # ...and the first, with the same revision, after it
    expect(page.locator("#editor-status")).to_have_text(f"Saved as revision {before + 1}.")
    page.wait_for_timeout(500)
    page.unroute(saving)
    assert "Not saved" not in page.inner_text("#editor-errors")
    assert len(held) == 1  # one save sent
    page.reload()
    page.wait_for_selector(f"#geometry-svg[data-revision='{before + 1}']")
    assert coords(page, "lines[0].p2")[0] == pytest.approx(start[0] - 10)
