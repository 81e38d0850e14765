"""The edge end to end on a live camera: ``citytally edge`` reads a real RTSP stream (GStreamer's server,
basic authentication), publishes through its outbox and the broker to a real hub ingest, and stops on
Ctrl-C with everything confirmed; the camera's password appears nowhere in the edge's output."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from citytally.edge.config import load_camera_config
from citytally.hub.ingest import Ingest
from citytally.hub.store import EventWriter, schema, sync_registry
from edge.test_source_rtsp import PASSWORD, SYSTEM_PYTHON, _RtspCamera
from hub.conftest import mqtt_settings_for, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

CONFIG = """
site = "rtsp-site"
camera = "live-1"
interval_seconds = 60

[metadata]
location = "test camera"
lat = 52.52
lon = 13.405
purpose = "traffic planning"
legal_basis = "public task"
retention_days = 30
contact = "traffic@example.org"

[source]
uri = "rtsp://camera.invalid/cam"

[[lines]]
name = "middle"
p1 = [0, 120]
p2 = [320, 120]
directions = ["down", "up"]
"""


@pytest.fixture
def camera() -> Iterator[_RtspCamera]:
    if not Path(SYSTEM_PYTHON).exists():
        pytest.fail(f"{SYSTEM_PYTHON} is missing: the RTSP test camera runs on Debian's Python")
    running = _RtspCamera()
    yield running
    running.kill()


def test_citytally_edge_on_a_live_rtsp_camera_reaches_the_hub(
    camera: _RtspCamera, sqlite_engine: Engine, mqtt_prefix: str, tmp_path: Path
) -> None:
    config = tmp_path / "live.toml"
    config.write_text(CONFIG)
    sync_registry(sqlite_engine, [load_camera_config(config)])
    ingest = Ingest(EventWriter(sqlite_engine, topic_prefix=mqtt_prefix), mqtt_settings_for(mqtt_prefix))
    ingest.start()
    command = [
        sys.executable,
        "-c",
        "from citytally.cli import main; main()",
        "edge",
        "--config",
        str(config),
    ]
    command += ["--video", camera.url(), "--fps", "2", "--outbox", str(tmp_path / "outbox.sqlite3")]
    command += ["--topic-prefix", mqtt_prefix]
    edge = None
    try:
        assert ingest.wait_connected(10)
        edge = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        # counting the live stream by then (it opens in a second or two; an open gives up after 10 s);
        # Ctrl-C flushes the open minute: a line-count event
        time.sleep(12)
        assert edge.poll() is None, edge.communicate()[0][-3000:]
        edge.send_signal(signal.SIGINT)
        output = edge.communicate(timeout=60)[0]
        wait_until(lambda: ingest.totals.stored >= 1, 30, "events from the camera")
    finally:
        if edge is not None and edge.poll() is None:
            edge.kill()
        ingest.stop()
    assert edge.returncode == 130, output[-3000:]
    assert " 0 still queued" in output, output[-3000:]
    assert PASSWORD not in output
    with sqlite_engine.connect() as conn:
        rows = conn.execute(
            sa.select(schema.events.c.site, schema.events.c.camera, schema.events.c.type)
        ).all()
    assert set(rows) >= {("rtsp-site", "live-1", "line_count")}
