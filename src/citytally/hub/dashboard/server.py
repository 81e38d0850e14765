"""Build the front end and run a hub app with the dashboard on a local port (demo, tests, benchmarks)."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import uvicorn

from citytally.errors import ConfigError

__all__ = ["FRONTEND_DIR", "build_frontend", "serve", "DashboardServer"]

log = logging.getLogger(__name__)

#: The front-end sources (in a source checkout; an installed wheel carries the built files instead).
FRONTEND_DIR = Path(__file__).resolve().parents[4] / "frontend"
_STATIC = Path(__file__).with_name("static")


def _newest_source(frontend: Path) -> float:
    files = [
        frontend / "index.html",
        frontend / "package-lock.json",
        frontend / "vite.config.js",
        *(frontend / "src").rglob("*"),
    ]
    return max((f.stat().st_mtime for f in files if f.is_file()), default=0.0)


def build_frontend(force: bool = False, frontend: Path = FRONTEND_DIR, install: bool = True) -> Path:
    """Install the front end's npm packages and build it into the hub's static folder, if out of date.

    Returns the static folder. Raises :class:`ConfigError` when npm is missing or the build fails, and,
    with ``install`` false (at run time: nothing may reach the network then), when the packages would
    have to be installed first.
    """
    index = _STATIC / "index.html"
    if not frontend.is_dir():
        if index.is_file():
            return _STATIC
        raise ConfigError(f"no built dashboard in {_STATIC} and no front-end sources in {frontend}")
    if not force and index.is_file() and index.stat().st_mtime >= _newest_source(frontend):
        return _STATIC
    npm = shutil.which("npm")
    if npm is None:
        raise ConfigError(
            "building the dashboard needs npm (Node.js 20 or newer); install Debian's nodejs/npm"
        )
    # `npm install` keeps the lock file's versions (the committed lock holds every platform's optional
    # packages, so it is not rewritten). Not `npm ci`: it would delete a node_modules that already matches.
    steps = [[npm, "install", "--no-audit", "--no-fund"], [npm, "run", "build"]]
    installed = frontend / "node_modules" / ".package-lock.json"
    lock = frontend / "package-lock.json"
    if not force and installed.is_file() and installed.stat().st_mtime >= lock.stat().st_mtime:
        steps = steps[1:]  # node_modules already matches the lock file
    elif not install:
        raise ConfigError(
            f"the dashboard in {frontend} is to be built, and its npm packages are missing or older than "
            "package-lock.json: run `make setup` (which installs them; citytally fetches nothing as it runs)"
        )
    for step in steps:
        done = subprocess.run(step, cwd=frontend, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ConfigError(f"dashboard build step `{' '.join(step[1:])}` in {frontend} failed: {tail[0]}")
    return _STATIC


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class DashboardServer:
    """A hub app served by uvicorn in a background thread; ``url`` is the dashboard's address."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        from citytally.hub.web import SERVER_OPTIONS

        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
            **SERVER_OPTIONS,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="citytally-dashboard", daemon=True)
        self.base_url = f"http://{host}:{port}"
        self.url = f"{self.base_url}/dashboard/"

    def login_url(self, secret: str) -> str:
        """The dashboard's address that logs in with ``secret`` (in the fragment, which browsers never send
        to a server; the page keeps it in the tab and removes it from the address bar). For the demo."""
        return f"{self.url}#token={secret}"

    def start(self, timeout_s: float = 15.0) -> DashboardServer:
        """Start serving and wait until the port answers."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"the dashboard server did not start on {self.base_url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop serving (open live streams are closed after a second)."""
        self._server.should_exit = True
        self._thread.join(timeout=10)


def serve(
    settings: Any,
    engine: sa.Engine,
    host: str = "127.0.0.1",
    port: int | None = None,
    build: bool = True,
    **app_options: Any,
) -> DashboardServer:
    """Build the front end if needed (from the npm packages setup installed: nothing is fetched now) and serve
    the hub app (API + dashboard) on ``host:port``.

    ``port=None`` picks a free one; ``app_options`` go to :func:`~citytally.hub.web.create_app` (e.g.
    ``metrics``). Returns the running server; print ``server.url`` for the user, ``server.stop()`` at the end.
    """
    from citytally.hub.web import create_app

    if build:
        build_frontend(install=False)  # run time: a build from the packages there, no npm install
    app = create_app(settings, engine, **app_options)
    return DashboardServer(app, host, port or free_port(host)).start()
