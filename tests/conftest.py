"""Fixtures every test folder may use.

* ``browser`` — one headless Debian Chromium for the whole session, driven by Playwright's sync API.
  Playwright allows one sync instance per thread at a time, so every browser test shares this one instead of
  starting its own (a second ``sync_playwright()`` while this one lives fails with "Sync API inside the
  asyncio loop").
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = os.environ.get("CITYTALLY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
