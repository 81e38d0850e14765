"""The hub's disk fills up (its embedded SQLite store on a small tmpfs): nothing is lost, and it says why.

Real parts: a tmpfs of 8 MB mounted for the test (needs root, as CI has; skipped where ``mount`` is
refused), SQLite's own "database or disk is full", ``citytally hub`` as a child process, a private
Mosquitto, and an edge outbox that keeps every event until the hub confirms it. While the disk is full
the hub acknowledges nothing and says why in one line, and its API serves no unaudited read; once space
is freed every event is stored exactly once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from citytally.hub.access import issue_token
from citytally.hub.audit import read_entries
from citytally.hub.store import schema
from citytally.hub.store.engine import create_store_engine, sqlite_url
from citytally.hub.store.migrate import migrate
from citytally.hub.web import create_app
from citytally.transport.outbox import Outbox

from .conftest import PrivateBroker, event_stream, mqtt_settings_for, wait_until
from .test_end_to_end import CAMERA_TOML, HubProcess, stored_ids

pytestmark = pytest.mark.integration


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MB tmpfs, unmounted at the end."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path, leave: int) -> Path:
    """A file taking all but ``leave`` bytes of the file system's free space."""
    stats = os.statvfs(directory)
    filler = directory / "filler"
    with filler.open("wb") as out:
        out.truncate(0)
        out.write(b"\xff" * (stats.f_bavail * stats.f_frsize - leave))
    return filler


def test_a_full_disk_loses_no_event_and_serves_no_unaudited_read(
    small_disk: Path, tmp_path: Path, mqtt_prefix: str, private_broker: PrivateBroker
) -> None:
    engine = create_store_engine(sqlite_url(small_disk / "hub.sqlite3"))
    migrate(engine)
    viewer = {"Authorization": f"Bearer {issue_token(engine, 'viewer').secret}"}
    cameras = []
    for camera in ("cam-1", "cam-2"):
        (tmp_path / f"{camera}.toml").write_text(CAMERA_TOML.format(camera=camera))
        cameras.append(f"{camera}.toml")
    config = tmp_path / "hub.toml"
    config.write_text(
        f"cameras = {cameras!r}\n\n"
        f'[mqtt]\nport = {private_broker.port}\ntopic_prefix = "{mqtt_prefix}"\n'
        f'client_id = "{mqtt_prefix}-hub"\nsession_expiry_s = 600\n\n'
        "[ingest]\nbatch_wait_ms = 20\nretry_max_s = 2\n"
    )
    env = dict(os.environ, CITYTALLY_DATABASE_URL=engine.url.render_as_string(hide_password=False))
    hub = HubProcess(config, env, tmp_path / "hub.log")
    hub.start()
    filler = fill(small_disk, leave=100_000)
    settings = mqtt_settings_for(mqtt_prefix, port=private_broker.port, client_id=f"{mqtt_prefix}-edge")
    registry = CollectorRegistry()
    box = Outbox(
        tmp_path / "outbox.sqlite3",
        settings,
        max_events_per_message=20,
        confirm="hub",
        resend_after_s=2.0,
        registry=registry,
    )
    events = event_stream(3000)
    try:
        box.start()
        box.publish_many(events)
        wait_until(lambda: "database or disk is full" in hub.log.read_text(), 30, "the hub to say so")
        time.sleep(3)  # a few retries
        assert hub.process is not None and hub.process.poll() is None
        assert box.depth == len(events)  # nothing confirmed while nothing is stored
        assert len(stored_ids(engine)) < len(events)
        warning = next(x for x in hub.log.read_text().splitlines() if "database or disk is full" in x)
        assert "hub.sqlite3" in warning and "nothing acknowledged" in warning
        # a read is served only with its audit entry: SQLite may still have room for the entry in the pages
        # the failed batch took (its write-ahead log), else the read is refused
        with TestClient(create_app(None, engine)) as client:
            answer = client.get("/cameras", headers=viewer)
        if answer.status_code == 200:
            last = read_entries(engine, limit=1000)[-1].entry
            assert (last.path, last.status) == ("/cameras", 200)
        else:
            assert answer.status_code == 503 and "the audit log cannot be written" in answer.text
        filler.unlink()
        assert box.wait_drained(60), f"{box.depth} events never confirmed after the disk was freed"
        assert hub.stop() == 0
    finally:
        box.close()
        hub.kill()
    ids = stored_ids(engine)
    assert len(ids) == len(set(ids)) and set(ids) == {event.id for event in events}
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.dead_letters)).scalar() == 0
    with TestClient(create_app(None, engine)) as client:
        assert client.get("/cameras", headers=viewer).status_code == 200
    engine.dispose()
