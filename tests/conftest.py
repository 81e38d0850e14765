"""Fixtures every test folder may use.

* ``browser`` — one headless Debian Chromium for the whole session, driven by Playwright's sync API.
  Playwright allows one sync instance per thread at a time, so every browser test shares this one instead of
  starting its own (a second ``sync_playwright()`` while this one lives fails with "Sync API inside the
  asyncio loop").
* ``vtest_path`` — OpenCV's sample video of a plaza, real footage for the edge, privacy and dashboard tests.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

_FETCH = Path(__file__).resolve().parents[1] / "scripts" / "fetch-vtest.sh"
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


@pytest.fixture(scope="session")
def vtest_path() -> Path:
    """OpenCV's ``vtest.avi`` (768x576, 795 frames, 10 fps, a plaza) via ``scripts/fetch-vtest.sh``.

    The script caches it in ``~/.cache/citytally`` (or ``$CITYTALLY_CACHE``). A test that needs real footage
    fails, rather than skips, when it cannot be had: skipping would hide that nothing was checked.
    """
    try:
        done = subprocess.run(["bash", str(_FETCH)], check=True, capture_output=True, text=True, timeout=300)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"cannot fetch vtest.avi with {_FETCH}: {exc}")
    path = Path(done.stdout.strip().splitlines()[-1])
    if not path.is_file() or path.stat().st_size == 0:
        pytest.fail(f"{_FETCH} printed {path}, which is not a non-empty file")
    return path
