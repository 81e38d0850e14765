"""Shared fixtures for the edge tests: real footage, fetched once and cached outside git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[2]
_FETCH = _REPO / "scripts" / "fetch-vtest.sh"


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
