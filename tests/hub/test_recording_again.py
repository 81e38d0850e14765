"""A recording analysed again is stored once.

Its events carry ids derived from what they report (``events.EventIds``): the same recording analysed again
as it was repeats them, and the hub drops the second run as duplicates; analysed with another interval,
frame rate or config, its intervals overlap those stored for the same line or zone and are refused
(``overlap``) rather than added; a run cut short keeps what it reported (the cut interval, reported whole
later, overlaps it). The same interval reported otherwise (another model) is an ``id_conflict``. A derived
id must be the one the event's camera, type, place and interval give, so no sender can take another
camera's ids before they come. A live stream's events are not held to this. Before, each run
sent new random ids and the hub added every run: a 6 s clip analysed five times counted 22 crossings where
3 went by. Once retention deleted a time's raw events, what they covered (``counted_spans``) still refuses
a recording's intervals and incidents over it: before, a survey analysed again after 90 days was added to
the roll-ups again. The store tests run on SQLite and PostgreSQL; the real-footage ones run vtest through
the pipeline into the embedded hub.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from citytally.edge.config import load_camera_config
from citytally.events import Event, IncidentEvent, event_to_json
from citytally.hub.config import RetentionSettings
from citytally.hub.retention import run_retention
from citytally.hub.store import EventWriter, Received, schema
from edge.test_intervals import PERSON, T0, camera, play, southbound
from hub.conftest import line_count_event

REPO = Path(__file__).resolve().parents[2]


def recording(frames: int = 1500, **overrides: Any) -> list[Event]:
    """What an edge reports of 150 s of a recording (three crossings) with a start time: derived ids."""
    from citytally.edge.analytics.intervals import CameraAnalytics
    from citytally.transport.publisher import MemoryPublisher

    publisher = MemoryPublisher()
    analytics = CameraAnalytics(camera(**overrides), publisher)
    play(analytics, frames, southbound(11, 200), southbound(12, 680, PERSON), southbound(13, 1230))
    analytics.finish()
    return publisher.events


def crossings(engine: Engine) -> tuple[int, int]:
    """Crossings in the raw events and in the hourly roll-up."""
    with engine.connect() as connection:
        query = sa.select(schema.events.c.body).where(schema.events.c.type == "line_count")
        bodies = [json.loads(b) if isinstance(b, str) else b for b in connection.execute(query).scalars()]
        table = schema.line_count_rollups
        rolled = connection.execute(sa.select(sa.func.sum(table.c.count)).where(table.c.period == "1h"))
        raw = sum(n for body in bodies for by_class in body["counts"].values() for n in by_class.values())
        return raw, int(rolled.scalar_one() or 0)


def raw_deleted(engine: Engine, now: datetime, batch_rows: int = 10_000) -> None:
    """Retention of the raw events only: everything stored before ``now`` goes, the roll-ups stay."""
    keep_rollups = RetentionSettings(
        raw_events_days=1, rollups_days=None, dead_letters_days=None, audit_log_days=None
    )
    run_retention(engine, keep_rollups, now=now + timedelta(days=1), batch_rows=batch_rows)
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(schema.events)).scalar_one() == 0


def counted_spans(engine: Engine) -> list[tuple[str, str, datetime, datetime]]:
    with engine.connect() as connection:
        table = schema.counted_spans
        query = sa.select(table.c.type, table.c.place, table.c.start, table.c.end).order_by(
            table.c.type, table.c.place, table.c.start
        )
        return [tuple(row) for row in connection.execute(query)]  # type: ignore[misc]


def dead_letters(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        query = sa.select(schema.dead_letters.c.kind, schema.dead_letters.c.reason)
        return [(kind, reason) for kind, reason in connection.execute(query)]


def test_the_same_recording_twice_is_stored_once(store_engine: Engine) -> None:
    writer = EventWriter(store_engine, accept_unknown_cameras=True)
    events = recording()
    assert writer.write_events(events).stored == len(events)
    again = writer.write_events(recording())
    assert (again.stored, again.duplicates, sum(again.dead.values())) == (0, len(events), 0)
    assert crossings(store_engine) == (3, 3)


def test_a_run_cut_short_then_a_whole_run_counts_each_crossing_once(store_engine: Engine) -> None:
    writer = EventWriter(store_engine, accept_unknown_cameras=True)
    writer.write_events(recording(900))  # stopped at 90 s: two crossings, the second interval cut short
    assert crossings(store_engine) == (2, 2)
    whole = writer.write_events(recording())
    # the first interval repeats; the whole second overlaps the cut one (which stays); the third is new
    assert whole.dead["overlap"] > 0 and set(whole.dead) == {"overlap"}
    assert crossings(store_engine) == (3, 3)


def test_a_recording_analysed_with_another_interval_adds_nothing(store_engine: Engine) -> None:
    writer = EventWriter(store_engine, accept_unknown_cameras=True)
    writer.write_events(recording())
    other = recording(interval_seconds=30)  # the same minutes cut otherwise: new ids where a start is new
    result = writer.write_events(other)
    # the last, 120-150 s, is the same interval with the same content: a duplicate
    assert result.stored == 0 and result.dead["overlap"] > 0 and set(result.dead) == {"overlap"}
    assert crossings(store_engine) == (3, 3)
    reasons = [reason for kind, reason in dead_letters(store_engine) if kind == "overlap"]
    assert all(" overlaps " in reason and "never adds to what is stored" in reason for reason in reasons)


def test_a_recording_fills_in_around_what_a_live_camera_reported(store_engine: Engine) -> None:
    """A live report (a random id) of 08:01-08:02 on the line: the recording's interval over that minute is
    refused, the minutes before and after it (touching, not overlapping) are stored; a live report that
    overlaps a stored one is not held to this (a live stream's intervals follow one another)."""
    writer = EventWriter(store_engine, accept_unknown_cameras=True)
    live = line_count_event(start=T0 + timedelta(seconds=60), minutes=1)
    live = live.model_copy(update={"line": "main", "counts": {"south": {"car": 5}, "north": {}}})
    assert writer.write_events([live]).stored == 1
    events = recording()
    result = writer.write_events(events)
    refused = [e for e in events if e.start == T0 + timedelta(seconds=60) and e.type == "line_count"]
    assert result.dead["overlap"] == len(refused) == 1
    assert result.stored == len(events) - 1
    assert crossings(store_engine) == (1 + 5 + 1, 7)
    again_live = live.model_copy(update={"id": uuid.uuid4()})
    assert writer.write_events([again_live]).stored == 1


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_real_footage_analysed_three_times_is_stored_once(vtest_path: Path, tmp_path: Path) -> None:
    """vtest.avi through the whole pipeline (decoder, detector, tracker, every incident rule of its example)
    into the embedded hub, three times: the second run is all duplicates; a third with 30 s intervals is
    refused (overlap) where it would have added. The store's counts are the first run's."""
    from citytally.edge.pipeline import PipelineOptions, analyze_video
    from citytally.hub.embedded import open_embedded_hub, store_subscriber
    from citytally.transport.bus import InProcessBus

    config = load_camera_config(REPO / "examples" / "vtest-incidents.toml")
    hub = open_embedded_hub(tmp_path / "hub.sqlite3", cameras=[config])
    options = PipelineOptions(target_fps=2, progress=False)

    def bus() -> InProcessBus:  # a run closes the bus it is given, as the demo's one run does
        carrier = InProcessBus()
        carrier.subscribe(store_subscriber(hub.writer, hub.totals))
        return carrier

    try:
        first = analyze_video(vtest_path, config, tmp_path / "one", options, also=bus())
        assert first.summary()["complete"] and hub.totals.stored == first.summary()["events"] > 0
        stored = hub.totals.stored
        counted = crossings(hub.engine)
        assert counted[0] == counted[1] > 0
        analyze_video(vtest_path, config, tmp_path / "two", options, also=bus())
        assert (hub.totals.stored, hub.totals.duplicates, sum(hub.totals.dead.values())) == (
            stored,
            stored,
            0,
        )
        thirty = config.model_copy(update={"interval_seconds": 30})
        analyze_video(vtest_path, thirty, tmp_path / "three", options, also=bus())
        assert hub.totals.dead["overlap"] > 0 and crossings(hub.engine) == counted
    finally:
        hub.close()


def test_real_footage_analysed_again_after_retention_adds_nothing(vtest_path: Path, tmp_path: Path) -> None:
    """vtest.avi with every incident rule of its example into the embedded hub; retention deletes the raw
    events (the roll-ups stay); the same recording again: every interval and incident refused as an
    overlap, the roll-ups (crossings and incidents) as they were."""
    from citytally.edge.pipeline import PipelineOptions, analyze_video
    from citytally.hub.embedded import open_embedded_hub, store_subscriber
    from citytally.transport.bus import InProcessBus

    config = load_camera_config(REPO / "examples" / "vtest-incidents.toml")
    hub = open_embedded_hub(tmp_path / "hub.sqlite3", cameras=[config])
    options = PipelineOptions(target_fps=2, progress=False)

    def incidents_rolled() -> int:
        with hub.engine.connect() as connection:
            table = schema.incident_rollups
            query = sa.select(sa.func.sum(table.c.count)).where(table.c.period == "1d")
            return int(connection.execute(query).scalar_one() or 0)

    def bus() -> InProcessBus:
        carrier = InProcessBus()
        carrier.subscribe(store_subscriber(hub.writer, hub.totals))
        return carrier

    try:
        first = analyze_video(vtest_path, config, tmp_path / "one", options, also=bus())
        counted, incidents = crossings(hub.engine)[1], incidents_rolled()
        assert counted > 0 and incidents > 0
        assert config.start_time is not None
        raw_deleted(hub.engine, now=config.start_time + timedelta(days=1))
        analyze_video(vtest_path, config, tmp_path / "two", options, also=bus())
        sent = [json.loads(line) for line in (tmp_path / "two" / "events.jsonl").read_text().splitlines()]
        reports = sum(event["type"] == "incident" for event in sent)
        assert reports > 0 and hub.totals.stored == first.summary()["events"] == len(sent)
        # the intervals overlap what was counted; the incident reports are the ones noted: duplicates
        assert hub.totals.dead == {"overlap": len(sent) - reports}
        assert hub.totals.duplicates == reports
        assert (crossings(hub.engine), incidents_rolled()) == ((0, counted), incidents)
    finally:
        hub.close()


def test_the_same_interval_reported_otherwise_is_an_id_conflict(store_engine: Engine) -> None:
    writer = EventWriter(store_engine, accept_unknown_cameras=True)
    events = recording()
    writer.write_events(events)
    (first,) = [e for e in events if e.type == "line_count" and e.start == T0]
    other = first.model_copy(update={"counts": {"south": {"car": 9}, "north": {}}})  # another model's
    result = writer.write_events([other])
    assert result.dead["id_conflict"] == 1 and crossings(store_engine) == (3, 3)
    reasons = [reason for kind, reason in dead_letters(store_engine) if kind == "id_conflict"]
    assert "a recording analysed again reports this otherwise" in reasons[0]


def test_no_sender_can_take_another_cameras_ids_before_they_come(store_engine: Engine) -> None:
    """A derived id is public arithmetic: an edge of another camera (or site) sent zeros under the ids
    plaza/cam-1's recording would derive, and that recording's counts were then refused. The hub checks
    a derived id against the event's own camera, type, place and interval."""
    writer = EventWriter(store_engine, accept_unknown_cameras=True)
    events = recording()
    forged = [
        e.model_copy(update={"camera": "rogue", "counts": {"south": {}, "north": {}}})
        for e in events
        if e.type == "line_count"
    ]
    result = writer.write_events(forged[1:])
    assert result.stored == 0 and result.dead["id_conflict"] == len(forged) - 1
    now = datetime.now(UTC)  # and as a message over the broker
    message = Received("citytally/plaza/rogue/events", event_to_json(forged[0]).encode(), now)
    assert writer.write_messages([message]).dead["id_conflict"] == 1
    assert writer.write_events(events).stored == len(events)
    assert crossings(store_engine) == (3, 3)


def test_files_of_one_camera_that_meet_within_seconds_are_both_stored(store_engine: Engine) -> None:
    """A camera's recording in files, each analysed with the start time its name gives (to the second):
    the first ran 0.4 s past 08:01, the second starts at 08:01:00. Its minute overlaps the first's 0.4 s
    and is stored, not refused for it (what counted in those 0.4 s may count twice, as before)."""
    writer = EventWriter(store_engine, accept_unknown_cameras=True)
    first = recording(604)  # 60.4 s: a sliver of 08:01:00-08:01:00.4
    assert writer.write_events(first).stored == len(first)
    second = recording(600, start_time=T0 + timedelta(seconds=60))  # the next file, from 08:01:00
    result = writer.write_events(second)
    assert result.stored == len(second) and not result.dead


def test_an_incident_report_cannot_carry_another_cameras_interval_id(store_engine: Engine) -> None:
    """The check of a derived id held for interval events only: an incident report from another camera
    under the id plaza/cam-1's recording would derive for its first minute was stored, and that minute
    refused. An incident report's derived id is worked out from its camera, incident id, phase and end."""
    writer = EventWriter(store_engine, accept_unknown_cameras=True)
    events = recording()
    (minute,) = [e for e in events if e.type == "line_count" and e.start == T0]
    forged = IncidentEvent.model_validate(
        {"id": minute.id, "site": "plaza", "camera": "rogue", "start": T0, "end": T0 + timedelta(seconds=5),
         "incident": "stopped_vehicle", "zone": "top", "incident_id": uuid.uuid4(), "phase": "onset"}
    )  # fmt: skip
    one_off = forged.model_copy(update={"incident_id": None, "phase": None})  # a report no id follows from
    result = writer.write_events([forged, one_off])
    assert result.stored == 0 and result.dead["id_conflict"] == 2
    assert writer.write_events(events).stored == len(events)


def test_a_recordings_event_sent_again_after_a_live_report_is_a_duplicate(store_engine: Engine) -> None:
    """Stored, then a live report of the same minute (a live edge's backlog, late), then the recording's
    event again (redelivered): a duplicate, not an overlap with the live report."""
    writer = EventWriter(store_engine, accept_unknown_cameras=True)
    events = recording()
    writer.write_events(events)
    live = line_count_event(start=T0, minutes=1).model_copy(update={"line": "main"})
    assert writer.write_events([live]).stored == 1
    again = writer.write_events(events)
    assert again.duplicates == len(events) and not again.dead


def test_a_long_report_stored_before_still_refuses_what_overlaps_it(store_engine: Engine) -> None:
    """A six-hour live report of the line (kept apart from the short ones, so that it does not make every
    lookup walk back six hours): the recording's minutes over it are refused, its turning table is not."""
    writer = EventWriter(store_engine, accept_unknown_cameras=True)
    long = line_count_event(start=T0 - timedelta(hours=3), minutes=360).model_copy(update={"line": "main"})
    assert writer.write_events([long]).stored == 1
    events = recording()
    result = writer.write_events(events)
    assert result.dead["overlap"] == len([e for e in events if e.type == "line_count"])


@pytest.mark.parametrize("store_engine", ["postgresql"], indirect=True)
def test_two_writers_storing_overlapping_recordings_at_once_store_one(store_engine: Engine) -> None:
    """Ingest's two writers on PostgreSQL store batches side by side: two runs of one recording 30 s
    apart, written at the same moment, were both stored (each checked what was committed before either
    had stored). A camera's recordings are checked and stored one transaction at a time."""
    import threading

    first = recording(6000)
    second = recording(6000, start_time=T0 + timedelta(seconds=30))
    ready = threading.Barrier(2)
    results = []

    def write(events: list[Event]) -> None:
        writer = EventWriter(store_engine, accept_unknown_cameras=True)
        ready.wait()
        results.append(writer.write_events(events))

    threads = [threading.Thread(target=write, args=(events,)) for events in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(r.stored for r in results) < len(first) + len(second)
    assert sorted(r.dead["overlap"] > 0 for r in results) == [False, True]


def test_a_recording_analysed_again_after_retention_deleted_its_events_adds_nothing(
    store_engine: Engine,
) -> None:
    """The raw events of the first analysis deleted (the roll-ups kept): the same recording again, and
    again with 30 s intervals, is refused as an overlap with what was counted; the roll-ups stay 3. Before,
    both were stored (nothing raw to be a duplicate of) and the roll-up counted 9."""
    writer = EventWriter(store_engine, accept_unknown_cameras=True)
    events = recording()
    writer.write_events(events)
    raw_deleted(store_engine, now=T0 + timedelta(days=1))
    assert crossings(store_engine) == (0, 3)
    again = writer.write_events(recording())
    assert (again.stored, again.duplicates, dict(again.dead)) == (0, 0, {"overlap": len(events)})
    other = writer.write_events(recording(interval_seconds=30))
    assert other.stored == 0 and set(other.dead) == {"overlap"}
    assert crossings(store_engine) == (0, 3)
    reasons = [reason for kind, reason in dead_letters(store_engine) if kind == "overlap"]
    assert all("counted (its events since deleted by retention)" in reason for reason in reasons)


def test_what_retention_deleted_is_noted_as_spans_that_a_recording_fills_in_around(
    store_engine: Engine,
) -> None:
    """Live reports of the line for 08:00-08:01 and 08:02-08:03 (a minute missed between), deleted one row
    per batch: one span each (those that meet merge, across batches), and the recording's minute in the
    gap is stored while those over the spans are refused. Roll-up retention takes the spans with it."""
    writer = EventWriter(store_engine, accept_unknown_cameras=True)
    live = [
        line_count_event(start=T0 + timedelta(seconds=s), minutes=1).model_copy(update={"line": "main"})
        for s in (0, 120)
    ]
    halves = [  # the first minute reported as two halves: they meet, one span
        line_count_event(start=T0 + timedelta(seconds=s), minutes=1).model_copy(
            update={"line": "main", "end": T0 + timedelta(seconds=s + 30)}
        )
        for s in (0, 30)
    ]
    assert writer.write_events([*halves, live[1]]).stored == 3
    raw_deleted(store_engine, now=T0 + timedelta(days=1), batch_rows=1)
    assert counted_spans(store_engine) == [
        ("line_count", "main", T0, T0 + timedelta(seconds=60)),
        ("line_count", "main", T0 + timedelta(seconds=120), T0 + timedelta(seconds=180)),
    ]
    events = [e for e in recording() if e.type == "line_count"]  # 0-60, 60-120, 120-150
    result = writer.write_events(events)
    assert (result.stored, dict(result.dead)) == (1, {"overlap": 2})
    assert crossings(store_engine)[0] == 1  # the crossing of 08:01-08:02, the only raw event now
    everything = RetentionSettings(
        raw_events_days=1, rollups_days=1, dead_letters_days=None, audit_log_days=None
    )
    run_retention(store_engine, everything, now=T0 + timedelta(days=3))
    assert counted_spans(store_engine) == []


def test_a_recordings_incident_reports_after_retention_are_duplicates(store_engine: Engine) -> None:
    """A recording's incident reports whose raw events retention deleted are noted by id: the same reports
    again are duplicates (the incident roll-up stays 1). An incident never reported is stored, also within
    a time whose intervals were counted: a recording's first analysis may be going on while retention
    deletes its first minutes (a survey from last year), and an onset is sent when the rule raises it,
    after the interval that holds its start."""
    from citytally.events import EventIds

    def incident(at: datetime, phase: str = "onset") -> IncidentEvent:
        ids = EventIds("plaza", "cam-1", derived=True)
        incident_id = ids.make("incident", "stopped_vehicle[0]", "top", at.isoformat())
        return IncidentEvent.model_validate(
            {"id": ids.incident_event(incident_id, phase, at + timedelta(seconds=5)), "site": "plaza",
             "camera": "cam-1", "start": at, "end": at + timedelta(seconds=5), "incident": "stopped_vehicle",
             "zone": "top", "incident_id": incident_id, "phase": phase}
        )  # fmt: skip

    def incidents_rolled() -> int:
        with store_engine.connect() as connection:
            table = schema.incident_rollups
            query = sa.select(sa.func.sum(table.c.count)).where(table.c.period == "1d")
            return int(connection.execute(query).scalar_one() or 0)

    writer = EventWriter(store_engine, accept_unknown_cameras=True)
    onset = incident(T0 + timedelta(seconds=40))
    writer.write_events([*recording(), onset])
    assert incidents_rolled() == 1
    raw_deleted(store_engine, now=T0 + timedelta(days=1))
    again = writer.write_events([onset])
    assert (again.stored, again.duplicates, dict(again.dead)) == (0, 1, {})
    new = incident(T0 + timedelta(seconds=70))  # never reported: within the counted minutes, stored
    assert writer.write_events([new]).stored == 1
    assert incidents_rolled() == 2


def test_a_runs_last_interval_cut_short_is_not_counted_again_after_retention(store_engine: Engine) -> None:
    """A 121 s recording's last interval is 1 s long (the run ended): within the 2 s an overlap is let
    through, it was stored again once its first analysis's events were deleted (roll-up 3 became 4). An
    interval that short lying within what was counted is an overlap."""
    writer = EventWriter(store_engine, accept_unknown_cameras=True)
    events = recording(1210)
    assert [e.end - e.start for e in events if e.type == "line_count"][-1] == timedelta(seconds=1)
    writer.write_events(events)
    rolled = crossings(store_engine)[1]
    raw_deleted(store_engine, now=T0 + timedelta(days=1))
    again = writer.write_events(recording(1210))
    assert (again.stored, dict(again.dead)) == (0, {"overlap": len(events)})
    assert crossings(store_engine) == (0, rolled)


def test_retention_deleting_a_recording_while_it_is_sent_again_does_not_count_it_twice(
    store_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer found the recording stored (duplicates), retention then deleted it and committed, and
    the writer's insert, finding nothing in its way, stored it again (roll-up 3 became 6). Retention now
    waits for a writer that is checking that camera's recording (PostgreSQL: the camera's lock; SQLite:
    the writer holds the write lock from its check to its commit)."""
    import threading

    writer = EventWriter(store_engine, accept_unknown_cameras=True)
    events = recording()
    writer.write_events(events)
    pruning: list[threading.Thread] = []
    checked = EventWriter._recordings_fill_in

    def check_then_prune(self: EventWriter, *args: Any) -> Any:
        kept = checked(self, *args)
        thread = threading.Thread(target=raw_deleted, args=(store_engine, T0 + timedelta(days=1)))
        thread.start()
        thread.join(1.5)  # it waits for this write (before, it was done by now)
        pruning.append(thread)
        return kept

    monkeypatch.setattr(EventWriter, "_recordings_fill_in", check_then_prune)
    again = writer.write_events(events)
    pruning[0].join(30)
    assert not pruning[0].is_alive() and again.duplicates == len(events) and not again.stored
    assert crossings(store_engine) == (0, 3)


def test_two_retention_runs_at_once_both_finish(store_engine: Engine) -> None:
    """Hubs that share a PostgreSQL store each run retention hourly, and `citytally retention run` may run
    beside a hub's: two at once noted the same spans and one failed on the table's key (and skipped the
    rest of its run). They take turns: the cameras' locks on PostgreSQL, the write lock on SQLite."""
    import threading

    writer = EventWriter(store_engine, accept_unknown_cameras=True)
    live = [
        line_count_event(camera=f"cam-{c}", start=T0 + timedelta(minutes=m), minutes=1)
        for c in range(3)
        for m in range(600)
    ]
    writer.write_events(live)
    failed: list[BaseException] = []

    def prune() -> None:
        try:
            raw_only = RetentionSettings(
                raw_events_days=1, rollups_days=None, dead_letters_days=None, audit_log_days=None
            )
            run_retention(store_engine, raw_only, now=T0 + timedelta(days=2), batch_rows=100)
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            failed.append(exc)

    threads = [threading.Thread(target=prune) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failed, failed
    assert (
        sorted(row[2:] for row in counted_spans(store_engine)) == [(T0, T0 + timedelta(minutes=600))] * 3
        or len(counted_spans(store_engine)) == 3
    )


def test_spans_are_cut_at_midnight_so_a_lookup_reads_a_few(store_engine: Engine) -> None:
    """Four hours of live minutes from 22:00 UTC, deleted a few rows a batch: two rows (a span is at most
    a day, cut at UTC midnight, so that the hub finds the spans over a recording by their start with an
    index, however long the camera has been counted); a recording's minute across midnight is refused."""
    evening = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)
    writer = EventWriter(store_engine, accept_unknown_cameras=True)
    live = [
        line_count_event(start=evening + timedelta(minutes=m), minutes=1).model_copy(update={"line": "main"})
        for m in range(240)
    ]
    writer.write_events(live)
    raw_deleted(store_engine, now=evening + timedelta(days=1), batch_rows=7)
    midnight = evening + timedelta(hours=2)
    assert counted_spans(store_engine) == [
        ("line_count", "main", evening, midnight),
        ("line_count", "main", midnight, midnight + timedelta(hours=2)),
    ]
    across = recording(600, start_time=midnight - timedelta(seconds=30))
    result = writer.write_events([e for e in across if e.type == "line_count"])
    assert result.stored == 0 and set(result.dead) == {"overlap"}
