"""Building the dashboard when the demo starts uses the npm packages setup installed: it never runs
`npm install` (which reaches the registry), and says what to run instead."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from citytally.errors import ConfigError
from citytally.hub.dashboard.server import FRONTEND_DIR, build_frontend


def test_a_build_that_would_need_npm_install_at_run_time_says_to_run_setup(tmp_path: Path) -> None:
    frontend = tmp_path / "frontend"
    frontend.mkdir()
    for name in ("package.json", "package-lock.json", "index.html", "vite.config.js"):
        shutil.copy(FRONTEND_DIR / name, frontend / name)
    shutil.copytree(FRONTEND_DIR / "src", frontend / "src")
    for path in frontend.rglob("*"):
        os.utime(path)  # newer than the build there: to be built
    with pytest.raises(ConfigError, match=r"run `make setup`"):
        build_frontend(frontend=frontend, install=False)
    assert not (frontend / "node_modules").exists()  # npm was not run
