"""What the hub's checks of a recording's events cost: a batch of 20,000 line counts (four lines, 5,000
one-minute intervals each) through the hub's ``EventWriter``, with a recording's derived ids (each checked
against its event, then for overlaps with what is stored and with the rest of the batch) against the same
batch with a live stream's random ids (not checked; the baseline, same run). Each written twice to a fresh
store: first stored, then again (all duplicates: the recording analysed again). Medians of 3.
SQLite, or PostgreSQL with ``--database-url``.

    nice -n 19 .venv/bin/python bench/hub_recordings.py [--database-url postgresql+psycopg://...]

The table, with the machine fingerprint, commit and time, goes to bench/results/hub_recordings.json
(hub_recordings_postgresql.json).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness import RESULTS_DIR, Run

from citytally.events import EventIds, LineCountEvent
from citytally.hub.store import EventWriter, create_store_engine, migrate, sqlite_url
from citytally.hub.store.schema import metadata

T0 = datetime(2026, 6, 1, tzinfo=UTC)
LINES = ("north", "south", "east", "west")
MINUTES = 5000


def batch(recording: bool) -> list[LineCountEvent]:
    ids = EventIds("plaza", "cam-1", derived=recording)
    events = []
    for line in LINES:
        for minute in range(MINUTES):
            start, end = T0 + timedelta(minutes=minute), T0 + timedelta(minutes=minute + 1)
            events.append(
                LineCountEvent(
                    id=ids.interval("line_count", line, start, end),
                    site="plaza",
                    camera="cam-1",
                    start=start,
                    end=end,
                    line=line,
                    counts={"in": {"car": minute % 5}, "out": {"person": 1}},
                )
            )
    return events


def timed(url: str, events: list[LineCountEvent]) -> tuple[float, float]:
    """Seconds to store ``events`` in an empty store, then to write them again (duplicates)."""
    engine = create_store_engine(url)
    migrate(engine)
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())
    writer = EventWriter(engine, accept_unknown_cameras=True)
    began = time.perf_counter()
    first = writer.write_events(events)
    stored = time.perf_counter() - began
    began = time.perf_counter()
    again = writer.write_events(events)
    repeated = time.perf_counter() - began
    engine.dispose()
    assert first.stored == len(events) and again.duplicates == len(events) and not again.dead
    return stored, repeated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="PostgreSQL URL (default: a temporary SQLite file)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    live, recording = batch(False), batch(True)
    assert {e.id.version for e in live} == {4} and {e.id.version for e in recording} == {5}
    with tempfile.TemporaryDirectory() as tmp:
        times: dict[str, list[tuple[float, float]]] = {"live": [], "recording": []}
        for round_ in range(args.rounds):
            for name, events in (("live", live), ("recording", recording)):  # alternated: the same noise
                url = args.database_url or sqlite_url(Path(tmp) / f"{name}-{round_}.sqlite3")
                times[name].append(timed(url, events))
        dialect = "PostgreSQL" if args.database_url else "SQLite"
        run = Run(
            "hub_recordings_postgresql" if args.database_url else "hub_recordings",
            f"A batch of 20,000 line counts, a recording's (checked) against a live stream's ({dialect})",
            columns=[
                ("ids", "ids"),
                ("write", "write"),
                ("s", "s (median)"),
                ("ratio", "x live", ".2f"),
            ],
            notes=[f"median of {args.rounds}, live and recording alternated, each on a fresh store"],
        )
        for step, label in ((0, "stored"), (1, "again: all duplicates")):
            base = statistics.median(t[step] for t in times["live"])
            for name in ("live", "recording"):
                seconds = statistics.median(t[step] for t in times[name])
                kind = "live (random, not checked)" if name == "live" else "recording (derived, checked)"
                run.add(ids=kind, write=label, s=seconds, ratio=seconds / base)
                print(f"{kind:30s} {label:22s} {seconds:6.2f} s {seconds / base:5.2f}x")
    run.save(args.results_dir)


if __name__ == "__main__":
    main()
