"""An edge whose disk is full or failing: the camera's analysis goes on, the events the outbox file refuses
are held in memory and saved when it takes them again, and whatever is lost is counted and said.

The full disk is real: a small tmpfs filled to the last block (where this user may mount one), and SQLite's
own SQLITE_FULL ("database or disk is full") from a page cap on the outbox's connection elsewhere.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine

from citytally.events import event_to_json
from citytally.hub.ingest import Ingest
from citytally.hub.metrics import HubMetrics
from citytally.hub.store import EventWriter, schema
from citytally.salvage import salvage
from citytally.transport.confirm import event_ids_in
from citytally.transport.outbox import Outbox
from hub.conftest import event_stream, free_port, mqtt_settings_for, wait_until
from transport.test_outbox import clear_retained

pytestmark = pytest.mark.integration


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs of its own, unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk has no block left."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def cap_pages(box: Outbox, capped: bool) -> None:
    """SQLite refuses to grow the outbox file past its pages now, with the error a full disk gives (or the
    cap is lifted). The page cap is per connection, so it is set on the outbox's own."""
    with box._lock:
        pages = box._db.execute("PRAGMA page_count").fetchone()[0]
        box._db.execute(f"PRAGMA max_page_count = {pages if capped else 1_073_741_823}")


def lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "citytally.transport.outbox" and text in r.getMessage()
    ]


def test_a_full_disk_holds_the_events_until_it_has_room_and_the_hub_gets_them_all(
    small_disk: Path,
    sqlite_engine: Engine,
    make_registry: Callable[..., Any],
    mqtt_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before, the first event the full disk refused raised out of the pipeline: the edge stopped, and the
    interval it was counting was lost. While it holds events in memory, its status tells the hub how many
    (at risk should the edge stop), so the hub's /metrics shows it per camera; before, only the edge's own
    /metrics did."""
    caplog.set_level(logging.INFO, logger="citytally.transport.outbox")
    make_registry(sqlite_engine, ("plaza", "cam-1"), ("plaza", "cam-2"))
    settings = mqtt_settings_for(mqtt_prefix)
    hub = HubMetrics()
    ingest = Ingest(EventWriter(sqlite_engine, topic_prefix=mqtt_prefix), settings, metrics=hub)
    registry = CollectorRegistry()
    box = Outbox(small_disk / "outbox.sqlite3", settings, registry=registry, status_every_s=0.1)

    def held_at_hub() -> float:
        found = (
            hub.registry.get_sample_value("citytally_edge_outbox_held_events", {"site": "plaza", "camera": c})
            for c in ("cam-1", "cam-2")
        )
        return sum(value or 0.0 for value in found)

    events = event_stream(90, cameras=2)
    ingest.start()
    box.start()
    try:
        assert ingest.wait_connected(10) and box.wait_connected(10)
        for event in events[:10]:
            box.publish(event)
        filler = fill(small_disk)
        for event in events[10:80]:  # one by one, as the pipeline publishes: none raises
            box.publish(event)
        assert box.held > 0
        assert registry.get_sample_value("citytally_outbox_held_events") == box.held
        assert box.depth >= box.held
        refused = lines(caplog, "cannot write to")
        assert len(refused) == 1 and "database or disk is full" in refused[0]
        wait_until(lambda: held_at_hub() == box.held, 10, "the hub told how many events are held")
        filler.unlink()
        for event in events[80:]:
            box.publish(event)
        wait_until(lambda: box.held == 0, 10, "the held events written once the disk had room")
        wait_until(lambda: ingest.totals.stored >= 90, 30, "90 events stored")
        assert box.wait_drained(30)
        wait_until(lambda: held_at_hub() == 0, 10, "the hub told none are held any more")
    finally:
        box.close()
        ingest.stop()
        clear_retained([f"{mqtt_prefix}/plaza/{camera}/status" for camera in ("cam-1", "cam-2")])
    assert len(lines(caplog, "takes events again")) == 1
    assert box.lost == 0 and registry.get_sample_value("citytally_outbox_dropped_events_total") == 0
    with sqlite_engine.connect() as connection:
        stored = connection.execute(
            sa.select(schema.events.c.id, schema.events.c.camera, schema.events.c.start)
        ).all()
    assert sorted(row.id for row in stored) == sorted(event.id for event in events)


def test_a_backlog_on_a_full_disk_still_reaches_the_hub(
    small_disk: Path,
    sqlite_engine: Engine,
    make_registry: Callable[..., Any],
    mqtt_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A long outage's backlog filled the edge's disk; the link comes back. The hub confirms the first
    events sent, and the file refuses to delete them (a deletion needs room too). Before, that stopped the
    sender: nothing more went out while the disk was full, so the backlog never reached the hub. Now what the
    file holds goes out all the same, and the deletions wait for room."""
    caplog.set_level(logging.INFO, logger="citytally.transport.outbox")
    make_registry(sqlite_engine, ("plaza", "cam-1"))
    settings = mqtt_settings_for(mqtt_prefix)
    ingest = Ingest(EventWriter(sqlite_engine, topic_prefix=mqtt_prefix), settings)
    # 20 events in flight at most: the backlog takes many rounds of sending and confirming
    box = Outbox(small_disk / "outbox.sqlite3", settings, window=1, max_events_per_message=1)
    events = event_stream(800, cameras=1)
    box.publish_many(events)  # queued while the link is down
    filler = fill(small_disk)
    ingest.start()
    try:
        assert ingest.wait_connected(10)
        box.start()
        wait_until(lambda: ingest.totals.stored >= 800, 30, "the whole backlog stored while the disk is full")
        assert lines(caplog, "database or disk is full"), "the deletions were refused"
        assert box.depth > 0, "still on disk: the file could not delete them"
        filler.unlink()
        assert box.wait_drained(30), "deleted once the disk has room"
    finally:
        box.close()
        ingest.stop()
    assert box.lost == 0


def test_past_the_hold_the_oldest_events_are_dropped_counted_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="citytally.transport.outbox")
    events = event_stream(40, cameras=1)
    size = max(len(event_to_json(event).encode()) for event in events)
    registry = CollectorRegistry()
    box = Outbox(
        tmp_path / "outbox.sqlite3",
        mqtt_settings_for("unused", port=free_port()),
        registry=registry,
        hold_bytes=10 * size,
    )
    cap_pages(box, capped=True)
    try:
        for event in events:
            box.publish(event)
        on_disk = box.depth - box.held
        assert box.held == 10, "the hold keeps what fits"
        assert box.lost == 40 - on_disk - 10
        assert registry.get_sample_value("citytally_outbox_dropped_events_total") == box.lost
        assert len(lines(caplog, "cannot write to")) == 1
        assert len(lines(caplog, "the oldest held events are dropped")) == 1, "one line, not one per event"
        cap_pages(box, capped=False)
        box.publish(events[-1])  # written at the next try: the hold, then this one
        assert box.held == 0
    finally:
        box.close()
    assert lines(caplog, "no more held events dropped (")
    with sqlite3.connect(tmp_path / "outbox.sqlite3") as db:
        kept = [row[0] for row in db.execute("SELECT event_id FROM outbox ORDER BY seq")]
    ids = [str(event.id) for event in events]
    assert kept == ids[:on_disk] + ids[-10:] + ids[-1:], "the newest are kept, in order"


def test_the_hub_hears_how_many_events_an_edge_dropped_also_at_its_stop(
    small_disk: Path, sqlite_engine: Engine, make_registry: Callable[..., Any], mqtt_prefix: str
) -> None:
    """An edge whose disk is full and whose memory hold is full drops the oldest events; what it holds when
    it stops is lost too. Its status says how many per camera, the last one (retained) after the loss at
    the stop, so the hub's /metrics shows every camera's losses; before, only the edge's log and its own
    /metrics did, and the last status went out before the loss at the stop."""
    make_registry(sqlite_engine, ("plaza", "cam-1"), ("plaza", "cam-2"))
    settings = mqtt_settings_for(mqtt_prefix)
    hub = HubMetrics()
    ingest = Ingest(EventWriter(sqlite_engine, topic_prefix=mqtt_prefix), settings, metrics=hub)
    events = event_stream(40, cameras=2)
    size = max(len(event_to_json(event).encode()) for event in events)
    box = Outbox(small_disk / "outbox.sqlite3", settings, hold_bytes=6 * size, status_every_s=0.1)
    box.drain_timeout_s = 0.5  # the disk stays full: what is held at the stop is lost

    def dropped_at_hub() -> float:
        found = (
            hub.registry.get_sample_value(
                "citytally_edge_outbox_dropped_events", {"site": "plaza", "camera": c}
            )
            for c in ("cam-1", "cam-2")
        )
        return sum(value or 0.0 for value in found)

    ingest.start()
    try:
        assert ingest.wait_connected(10)
        box.start()
        assert box.wait_connected(10)
        filler = fill(small_disk)
        for event in events:
            box.publish(event)
        dropped = box.lost
        assert dropped > 0 and box.held > 0
        wait_until(lambda: dropped_at_hub() == dropped, 10, "the hub told the drops")
        box.close()
        assert box.lost > dropped, "what was held at the stop is lost"
        wait_until(lambda: dropped_at_hub() == box.lost, 10, "the last status, after the loss at the stop")
        filler.unlink()
    finally:
        box.close()
        ingest.stop()
        clear_retained([f"{mqtt_prefix}/plaza/{camera}/status" for camera in ("cam-1", "cam-2")])


def test_events_held_when_the_edge_stops_are_counted_as_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="citytally.transport.outbox")
    box = Outbox(tmp_path / "outbox.sqlite3", mqtt_settings_for("unused", port=free_port()))
    box.publish_many(event_stream(3))
    cap_pages(box, capped=True)
    for event in event_stream(30):
        box.publish(event)
    held = box.held
    assert held > 0
    box.close()
    assert box.lost == held
    assert lines(caplog, f"{held} events held in memory are lost")


def damage(path: Path, page: int) -> None:
    """Overwrite most of one 4 KiB page of the file with a pattern, as a failing card's block would."""
    data = bytearray(path.read_bytes())
    for offset in range(4096 * page, 4096 * page + 2000):
        data[offset] = (offset * 7) % 256
    path.write_bytes(bytes(data))


def test_a_damaged_outbox_is_set_aside_whole_and_the_camera_goes_on(
    tmp_path: Path, mqtt_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Before, `citytally edge` on a damaged outbox (a failing SD card, a power cut on a disk that lies about
    its writes) stopped with "cannot open the outbox" and the camera counted nothing until someone came."""
    caplog.set_level(logging.INFO, logger="citytally.transport.outbox")
    path = tmp_path / "outbox.sqlite3"
    box = Outbox(path, mqtt_settings_for(mqtt_prefix, port=free_port()))
    box.publish_many(event_stream(300))
    box.close()
    damage(path, page=3)
    original = path.read_bytes()

    box = Outbox(path, mqtt_settings_for(mqtt_prefix, port=free_port()))
    try:
        assert box.depth == 0, "a new, empty outbox"
        box.publish_many(event_stream(5))
        assert box.depth == 5
    finally:
        box.close()
    [aside] = list(tmp_path.glob("outbox.sqlite3.damaged-*[0-9]Z"))
    assert aside.read_bytes() == original, "the damaged file is kept as it was, for recovery by hand"
    [said] = lines(caplog, "is damaged")
    assert "\n" not in said and aside.name in said and f"citytally salvage {aside.name}" in said
    # what still reads of it, saved to a new file, is an outbox holding those events to send (the damaged
    # page is one of the index's, which is built anew: every event is saved)
    [outcome] = [t for t in salvage(aside, tmp_path / "saved.sqlite3") if t.name == "outbox"]
    assert (outcome.saved, outcome.lost) == (300, [])
    saved = Outbox(tmp_path / "saved.sqlite3", mqtt_settings_for(mqtt_prefix, port=free_port()))
    try:
        assert saved.depth == outcome.saved
    finally:
        saved.close()


def test_a_file_that_is_no_outbox_is_refused_and_left_alone(tmp_path: Path) -> None:
    """A path named by mistake (the camera's config, say) is not renamed: the edge stops, saying why."""
    from citytally.errors import StoreError

    config = tmp_path / "cam.toml"
    config.write_text('site = "plaza"\ncamera = "cam-1"\n' * 200)
    with pytest.raises(StoreError, match=r"cam\.toml: cannot open the outbox: file is not a database"):
        Outbox(config, mqtt_settings_for("unused", port=free_port()))
    assert config.read_text().startswith('site = "plaza"')
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cam.toml"]


def test_an_outbox_damaged_while_the_edge_runs_is_set_aside_and_what_still_reads_goes_out(
    tmp_path: Path, mqtt_prefix: str, mqtt_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Before, the sender met the damaged page and stopped sending anything ("retrying every second" for
    ever), new events were held in memory until lost, and closing the outbox raised. Now the file is set
    aside, the events that still read go on in a new file at the same path, and only those on the damaged
    pages are lost, counted and said. Which events were on them is read from the file's bytes."""
    caplog.set_level(logging.INFO, logger="citytally.transport.outbox")
    received: list[str] = []
    mqtt_client.on_message = lambda _c, _u, message: received.extend(event_ids_in(message.payload))
    mqtt_client.subscribe(f"{mqtt_prefix}/+/+/events", qos=1)
    path = tmp_path / "outbox.sqlite3"
    settings = mqtt_settings_for(mqtt_prefix, client_id=f"{mqtt_prefix}-edge")
    registry = CollectorRegistry()
    box = Outbox(path, settings, confirm="broker", status_every_s=0, registry=registry)
    events = event_stream(15_000)
    later = event_stream(20, site="later")
    try:
        box.publish_many(events)
        with sqlite3.connect(path) as db:  # into the file itself, past the outbox's own page cache
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        data = bytearray(path.read_bytes())
        pages = range(300, 340)
        # an event's row holds its JSON ("id":"..."); the index on event_id holds the bare id, and is rebuilt
        where = {str(e.id): data.index(f'"id":"{e.id}"'.encode()) // 4096 for e in events}
        on_them = {event_id for event_id, page in where.items() if page in pages}
        for page in pages:
            for offset in range(4096 * page + 8, 4096 * page + 3000):
                data[offset] = (offset * 7) % 256
        with path.open("r+b") as file:
            file.write(bytes(data))
        box.start()
        wait_until(lambda: box.depth == 0, 60, "the events that still read to go out")
        box.publish_many(later)  # the camera goes on: new events go out after them
        wait_until(lambda: box.depth == 0, 30, "the new events to go out")
        wait_until(lambda: len(set(received)) == 15_020 - len(on_them), 30, "the broker to deliver them")
    finally:
        box.close()
    assert 300 < len(on_them) < 500
    assert set(received) == {str(e.id) for e in [*events, *later]} - on_them
    assert box.lost == len(on_them) == registry.get_sample_value("citytally_outbox_dropped_events_total")
    [said] = lines(caplog, "turned out damaged while the edge ran")
    assert f"{len(on_them)} lost on the damaged pages" in said and "the camera goes on" in said
    [aside] = list(tmp_path.glob("outbox.sqlite3.damaged-*[0-9]Z"))
    assert aside.read_bytes()[: 4096 * 300] == bytes(data[: 4096 * 300])  # kept as it was
