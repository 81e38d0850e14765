"""Where PostgreSQL spends an ingest batch: EXPLAIN ANALYZE of the one statement that stores it.

    .venv/bin/python bench/hub_ingest_explain.py [--events 5000] [--batches 2]

Creates a scratch database (dropped afterwards), stages ``--events`` generated line-count events (those of
bench/hub_ingest.py) exactly as the writer does, and runs the store statement under ``EXPLAIN (ANALYZE)`` for
each of ``--batches`` batches; prints the last plan's insert and roll-up nodes with their rows and times
(times include the nodes below them, so the roll-up's own upsert is its time minus its input's).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hub_ingest  # noqa: E402  (the sibling bench: same events, same scratch database)

from citytally.hub.store import bulk  # noqa: E402
from citytally.hub.store.writer import canonical_json  # noqa: E402

WANTED = (
    "CTE ", "Insert on", "Tuples Inserted", "Conflicting Tuples", "GroupAggregate", "Sort ", "Execution",
)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--batches", type=int, default=2)
    args = parser.parse_args()
    url, drop = hub_ingest.fresh_database()
    try:
        engine = hub_ingest.store(url)
        events = hub_ingest.make_events(args.events * args.batches)
        documents = [(datetime.now(UTC), canonical_json(event)) for event in events]
        plan: list[str] = []
        for k in range(args.batches):
            batch = documents[k * args.events : (k + 1) * args.events]
            with engine.begin() as connection, bulk._raw(connection).cursor() as cursor:
                cursor.execute(
                    f"{bulk._SESSION}; CREATE TEMP TABLE IF NOT EXISTS {bulk._STAGING}"
                    " (received_at timestamptz NOT NULL, body jsonb NOT NULL) ON COMMIT DELETE ROWS"
                )
                with cursor.copy(f"COPY {bulk._STAGING} (received_at, body) FROM STDIN") as copy:
                    copy.write(b"".join(bulk._copy_line(at, document) for at, document in batch))
                started = time.perf_counter()
                cursor.execute("EXPLAIN (ANALYZE, TIMING ON) " + bulk._postgresql_statement())
                plan = [row[0] for row in cursor.fetchall()]
                print(f"batch {k}: {len(batch)} events, {1000 * (time.perf_counter() - started):.0f} ms")
        for line in plan:
            spent = re.search(r"actual time=[\d.]+\.\.([\d.]+)", line)
            if any(word in line for word in WANTED) and (spent is None or float(spent[1]) >= 1.0):
                print(line[:150])
    finally:
        drop()


if __name__ == "__main__":
    main()
