"""What noting what was counted costs retention: a store of 20 cameras' line counts (four lines each, 600
one-minute intervals: 48,000 events) whose raw events all expire, pruned by ``run_retention`` as the hub
does it (batches of 10,000 rows), once as it is (each batch's intervals folded into ``counted_spans``
before they are deleted: ``store.counted.fold``) and once with the folding left out (the deletion alone:
the baseline, same run, alternated, each on a fresh store). Two stores: minutes that meet (a span per line)
and minutes a minute apart (each its own span: the most rows there can be). Medians of 3. SQLite, or
PostgreSQL with ``--database-url``.

    nice -n 19 .venv/bin/python bench/retention_spans.py [--database-url postgresql+psycopg://...]

The table, with the machine fingerprint, commit and time, goes to bench/results/retention_spans.json
(retention_spans_postgresql.json).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import sqlalchemy as sa
from harness import RESULTS_DIR, Run

from citytally.events import LineCountEvent, new_event_id
from citytally.hub import retention
from citytally.hub.config import RetentionSettings
from citytally.hub.store import EventWriter, create_store_engine, migrate, schema, sqlite_url
from citytally.hub.store.schema import metadata

T0 = datetime(2026, 6, 1, tzinfo=UTC)
CAMERAS = 20
LINES = ("north", "south", "east", "west")
MINUTES = 600
RAW_ONLY = RetentionSettings(
    raw_events_days=1, rollups_days=None, dead_letters_days=None, audit_log_days=None
)


def events(apart: bool) -> list[LineCountEvent]:
    """Every line's minutes; ``apart``: with a minute between each (a span each)."""
    step = 2 if apart else 1
    return [
        LineCountEvent(
            id=new_event_id(),
            site="plaza",
            camera=f"cam-{camera}",
            start=T0 + timedelta(minutes=minute),
            end=T0 + timedelta(minutes=minute + 1),
            line=line,
            counts={"in": {"car": minute % 5}, "out": {"person": 1}},
        )
        for camera in range(CAMERAS)
        for line in LINES
        for minute in range(0, MINUTES * step, step)
    ]


def timed(url: str, batch: list[LineCountEvent], fold: bool) -> tuple[float, int]:
    """Seconds ``run_retention`` takes to delete ``batch`` from a store holding it, and the spans noted."""
    engine = create_store_engine(url)
    migrate(engine)
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())
    writer = EventWriter(engine, accept_unknown_cameras=True)
    for at in range(0, len(batch), 5000):
        assert writer.write_events(batch[at : at + 5000]).stored == len(batch[at : at + 5000])
    leave_out = mock.patch.object(retention, "fold", lambda *_: None)
    with contextlib.nullcontext() if fold else leave_out:
        began = time.perf_counter()
        retention.run_retention(engine, RAW_ONLY, now=T0 + timedelta(days=2))
        seconds = time.perf_counter() - began
    with engine.connect() as connection:
        left = connection.execute(sa.select(sa.func.count()).select_from(schema.events)).scalar_one()
        spans = connection.execute(sa.select(sa.func.count()).select_from(schema.counted_spans)).scalar_one()
    engine.dispose()
    assert left == 0
    return seconds, int(spans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="PostgreSQL URL (default: a temporary SQLite file)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    dialect = "PostgreSQL" if args.database_url else "SQLite"
    run = Run(
        "retention_spans_postgresql" if args.database_url else "retention_spans",
        f"Retention of 48,000 expired line counts, with what they counted noted and without ({dialect})",
        columns=[
            ("store", "intervals"),
            ("run", "retention"),
            ("s", "s (median)"),
            ("spans", "spans noted"),
            ("ratio", "x without", ".2f"),
        ],
        notes=[f"median of {args.rounds}, with and without alternated, each on a fresh store"],
    )
    with tempfile.TemporaryDirectory() as tmp:
        for apart, store in ((False, "minutes that meet"), (True, "minutes a minute apart")):
            batch = events(apart)
            times: dict[bool, list[tuple[float, int]]] = {False: [], True: []}
            for round_ in range(args.rounds):
                for fold in (False, True):  # alternated: the same noise
                    url = args.database_url or sqlite_url(Path(tmp) / f"{apart}-{fold}-{round_}.sqlite3")
                    times[fold].append(timed(url, batch, fold))
            base = statistics.median(t[0] for t in times[False])
            for fold, label in ((False, "deletion alone (baseline)"), (True, "noting, then deletion")):
                seconds = statistics.median(t[0] for t in times[fold])
                spans = times[fold][-1][1]
                run.add(store=store, run=label, s=seconds, spans=spans, ratio=seconds / base)
                print(f"{store:24s} {label:28s} {seconds:6.2f} s {spans:6d} spans {seconds / base:5.2f}x")
    run.save(args.results_dir)


if __name__ == "__main__":
    main()
