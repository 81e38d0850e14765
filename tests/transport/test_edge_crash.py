"""An edge killed (SIGKILL) in the middle of writing to its outbox: the SQLite file (WAL, fsync'd) comes
back intact, holds every event whose ``publish`` had returned, and a restarted edge delivers them all to a
real hub exactly once."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from citytally.events import event_to_json
from citytally.hub.ingest import Ingest
from citytally.hub.store import EventWriter, schema
from citytally.transport.outbox import Outbox
from hub.conftest import event_stream, free_port, mqtt_settings_for

pytestmark = pytest.mark.integration

#: The edge: publish events one by one (no broker reachable, so they all stay queued), logging each id
#: only after publish has returned.
EDGE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from citytally.events import parse_event
    from citytally.transport.mqtt import MqttSettings
    from citytally.transport.outbox import Outbox
    box = Outbox(Path(sys.argv[1]), MqttSettings(port=int(sys.argv[3]), topic_prefix=sys.argv[4]))
    with open(sys.argv[2] + ".log", "a") as log:
        for line in Path(sys.argv[2]).read_text().splitlines():
            event = parse_event(json.loads(line))
            box.publish(event)
            log.write(str(event.id) + "\\n")
            log.flush()
    """
)


def test_an_edge_killed_mid_write_loses_nothing_it_had_published(
    tmp_path: Path, sqlite_engine: Engine, make_registry: Callable[..., Any], mqtt_prefix: str
) -> None:
    events = event_stream(3000, cameras=2)
    feed = tmp_path / "events.jsonl"
    feed.write_text("".join(event_to_json(e) + "\n" for e in events))
    outbox = tmp_path / "outbox.sqlite3"
    edge = subprocess.Popen(
        [sys.executable, "-c", EDGE, str(outbox), str(feed), str(free_port()), mqtt_prefix]
    )
    log = Path(str(feed) + ".log")
    deadline = time.monotonic() + 120
    while not (log.exists() and log.read_text().count("\n") >= 200):  # well into the stream
        assert edge.poll() is None and time.monotonic() < deadline, "the edge did not get going"
        time.sleep(0.02)
    edge.send_signal(signal.SIGKILL)
    edge.wait(10)
    published = set(log.read_text().split())
    assert 200 <= len(published) < len(events), "killed mid-stream"

    with sqlite3.connect(outbox) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        queued = {row[0] for row in db.execute("SELECT event_id FROM outbox")}
    assert published <= queued and len(queued) - len(published) <= 1  # at most the one being logged

    make_registry(sqlite_engine, ("plaza", "cam-1"), ("plaza", "cam-2"))
    settings = mqtt_settings_for(mqtt_prefix)
    ingest = Ingest(EventWriter(sqlite_engine, topic_prefix=mqtt_prefix), settings)
    ingest.start()
    box = Outbox(outbox, settings)  # the restarted edge, on the same file
    try:
        assert ingest.wait_connected(10)
        box.start()
        assert box.wait_drained(60), f"{box.depth} events not confirmed"
    finally:
        box.close()
        ingest.stop()
    with sqlite_engine.connect() as conn:
        stored = [str(row[0]) for row in conn.execute(sa.select(schema.events.c.id))]
    assert len(stored) == len(set(stored)) and set(stored) == queued
