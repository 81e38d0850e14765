"""``citytally hub`` as its own process, API included: it migrates the store, prints the first admin token
once, serves the API, stores (and confirms) what an edge publishes, writes audit checkpoints, and stops
cleanly on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from citytally.transport.outbox import Outbox

from .conftest import PrivateBroker, event_stream, free_port, mqtt_settings_for, wait_until
from .test_end_to_end import CAMERA_TOML

pytestmark = pytest.mark.integration


def _start_hub(
    tmp_path: Path, private_broker: PrivateBroker, mqtt_prefix: str
) -> tuple[subprocess.Popen[bytes], int]:
    """``citytally hub`` with its API on a free port, audit checkpoints every second, logging to hub.log."""
    for camera in ("cam-1", "cam-2"):
        (tmp_path / f"{camera}.toml").write_text(CAMERA_TOML.format(camera=camera))
    port = free_port()
    (tmp_path / "hub.toml").write_text(
        'cameras = ["cam-1.toml", "cam-2.toml"]\n\n'
        f'[mqtt]\nport = {private_broker.port}\ntopic_prefix = "{mqtt_prefix}"\n'
        f'client_id = "{mqtt_prefix}-hub"\n\n'
        f"[api]\nport = {port}\n\n"
        '[audit]\ncheckpoint_file = "checkpoints.log"\ncheckpoint_interval_s = 1\n'
    )
    env = dict(
        os.environ,
        CITYTALLY_DATABASE_URL=f"sqlite:///{tmp_path / 'hub.sqlite3'}",
        CITYTALLY_AUDIT_KEY="x" * 40,
    )
    command = [sys.executable, "-c", "from citytally.cli import main; main()", "hub", "--config", "hub.toml"]
    with (tmp_path / "hub.log").open("wb") as out:
        hub = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    return hub, port


def test_the_hub_command_serves_its_api_and_stores_what_edges_send(
    tmp_path: Path, private_broker: PrivateBroker, mqtt_prefix: str
) -> None:
    hub, port = _start_hub(tmp_path, private_broker, mqtt_prefix)
    log = tmp_path / "hub.log"
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{base}/health"), 60, "the hub's API")
        secret = re.search(r"^\s+(ct_\S+)$", log.read_text(), re.MULTILINE)
        assert secret is not None, log.read_text()
        admin = {"Authorization": f"Bearer {secret.group(1)}"}
        assert httpx.get(f"{base}/cameras", headers=admin).json()[0]["camera"] == "cam-1"
        box = Outbox(
            tmp_path / "outbox.sqlite3", mqtt_settings_for(mqtt_prefix, private_broker.port, "edge-1")
        )
        events = event_stream(50)
        box.start()
        box.publish_many(events)
        assert box.wait_drained(30), f"{box.depth} events not confirmed by the hub process"
        box.close()
        day = {"interval": "1d", "start": "2026-11-23T00:00:00Z", "end": "2026-11-25T00:00:00Z"}
        counts = httpx.get(f"{base}/counts", params=day, headers=admin)
        assert counts.status_code == 200, counts.text
        published = sum(n for e in events for per in e.counts.values() for n in per.values())
        assert sum(point["count"] for point in counts.json()["points"]) == published
        wait_until(lambda: (tmp_path / "checkpoints.log").exists(), 10, "an audit checkpoint")
        metrics = httpx.get(f"{base}/metrics", headers=admin).text  # the only hub: it relays the alerts
        assert re.search(r"^citytally_alerts_relaying 1\.0$", metrics, re.MULTILINE), metrics
    finally:
        hub.send_signal(signal.SIGTERM)
        code = hub.wait(30)
    assert code == 0, log.read_text()[-2000:]
    assert "hub: stopped" in log.read_text()


def test_a_hub_stopped_while_it_still_starts_stops_cleanly(
    tmp_path: Path, private_broker: PrivateBroker, mqtt_prefix: str
) -> None:
    """A service manager's SIGTERM right after ingest subscribes, while the API is still being built, goes
    through the orderly shutdown (ingest stopped, what was received stored) instead of killing the hub."""
    hub, _ = _start_hub(tmp_path, private_broker, mqtt_prefix)
    log = tmp_path / "hub.log"
    try:
        wait_until(lambda: "ingest: subscribed" in log.read_text(), 60, "the hub to subscribe")
        serving = "Uvicorn running" in log.read_text()
    finally:
        hub.send_signal(signal.SIGTERM)
        code = hub.wait(30)
    assert not serving, "the API was up before the stop; the test did not stop the hub while it started"
    assert code == 0, log.read_text()[-2000:]
    assert "hub: stopped" in log.read_text()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
