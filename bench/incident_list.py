"""The operator's incident list and badge on a store that holds months of incident reports: before and after.

An edge reports an open incident every time its numbers change (at most every ``update_s``, 30 s by
default) and every 5 minutes while they do not: a crowd watched through an afternoon, or a camera knocked
for a week, leaves hundreds or thousands of rows of one incident. The dashboard asks for the list of
incidents (each one's latest row) and for the badge (how many wait for an acknowledgement) on every incident
event it hears and every few seconds besides.

For each store (SQLite, the embedded default; PostgreSQL) and each side (an earlier commit's code, and the
checked-out code), in a fresh process importing that side's ``src``: a new store migrated by that side's
code, ``--incidents`` incidents written through the ingest writer in batches of 500 reports, each reported
``--reports`` times (and, as the baseline, twice: an onset and a clearance), then the operator's list
(unacknowledged, 200), the whole list (200) and the badge, each timed ``--repeats`` times (median); and how
long the writer took per 1,000 reports (the price of noting each incident's latest row at ingest).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from counting_cost import export_src, run_side
from harness import REPO, Run

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

RUNNER = r"""
import json, sys, time, uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from citytally.events import IncidentEvent
from citytally.hub.store import EventWriter, create_store_engine, migrate
from citytally.hub.dashboard.incidents import list_incidents, summarise

url, incidents, reports, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
engine = create_store_engine(url)
migrate(engine)
writer = EventWriter(engine, accept_unknown_cameras=True)
begin = datetime.now(UTC) - timedelta(days=80)
batch, wrote = [], 0.0

def flush():
    global batch, wrote
    t = time.perf_counter()
    writer.write_events(batch)
    wrote += time.perf_counter() - t
    batch = []

for k in range(incidents):
    key, start = uuid.uuid4(), begin + timedelta(hours=k)
    for j in range(reports):
        # every tenth incident is still open; the rest cleared
        phase = "onset" if j == 0 else ("cleared" if j == reports - 1 and k % 10 else "update")
        batch.append(IncidentEvent(
            id=uuid.uuid4(), site="plaza", camera=f"cam-{k % 20}", start=start,
            end=start + timedelta(seconds=30 * j + 1), incident="crowd_density", zone="plaza",
            details={"persons_per_m2": j % 7}, incident_id=key, phase=phase,
        ))
        if len(batch) == 500:
            flush()
flush()

def timed(call):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2], result

list_s, listed = timed(lambda: list_incidents(engine, False, 200))
all_s, _ = timed(lambda: list_incidents(engine, True, 200))
badge_s, badge = timed(lambda: summarise(engine))
engine.dispose()
print(json.dumps({
    "list_s": list_s, "all_s": all_s, "badge_s": badge_s, "listed": len(listed), "badge": badge.open,
    "write_s": wrote,
}))
"""

COLUMNS = [
    ("store", "store"),
    ("reports", "reports per incident"),
    ("rows", "incident rows"),
    ("side", "code"),
    ("list_ms", "operator's list ms", ".1f"),
    ("all_ms", "whole list ms", ".1f"),
    ("badge_ms", "badge ms", ".1f"),
    ("vs_before", "list after / before", ".4f"),
    ("write_ms", "ingest ms per 1,000 reports", ".0f"),
    ("write_vs", "ingest after / before", ".2f"),
    ("badge", "badge count"),
]


def fresh_database() -> str:
    name = f"citytally_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return name


def drop_database(name: str) -> None:
    admin = sa.create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def one_side(src: Path, store: str, tmp: Path, incidents: int, reports: int, repeats: int) -> dict[str, Any]:
    if store == "sqlite":
        path = tmp / f"{uuid.uuid4().hex}.sqlite3"
        try:
            return run_side(src, RUNNER, f"sqlite:///{path}", str(incidents), str(reports), str(repeats))
        finally:
            path.unlink(missing_ok=True)
    name = fresh_database()
    try:
        url = f"{SERVER.rsplit('/', 1)[0]}/{name}"
        return run_side(src, RUNNER, url, str(incidents), str(reports), str(repeats))
    finally:
        drop_database(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--before", required=True, help="commit (or ref) of the code before the change")
    parser.add_argument("--incidents", type=int, default=200)
    parser.add_argument("--reports", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    run = Run("incident_list", "The operator's incident list and badge, before and after", COLUMNS)
    run.notes.append(
        f"{args.incidents} incidents (one in ten open), each reported as many times as said; median of"
        f" {args.repeats}; each side a fresh process and store"
    )
    with tempfile.TemporaryDirectory() as tmp:
        sides = {f"before ({args.before})": export_src(args.before, Path(tmp)), "after": REPO / "src"}
        for store in args.stores.split(","):
            for reports in (2, args.reports):
                before: dict[str, Any] | None = None
                for side, src in sides.items():
                    got = one_side(src, store, Path(tmp), args.incidents, reports, args.repeats)
                    before = before or got
                    row = {
                        "store": store,
                        "reports": reports,
                        "rows": args.incidents * reports,
                        "side": side,
                        "list_ms": 1000 * got["list_s"],
                        "all_ms": 1000 * got["all_s"],
                        "badge_ms": 1000 * got["badge_s"],
                        "vs_before": got["list_s"] / before["list_s"],
                        # the baseline's store is one batch: its write is mostly the first statement's set-up
                        "write_ms": 1e6 * got["write_s"] / (args.incidents * reports)
                        if reports > 2
                        else None,
                        "write_vs": got["write_s"] / before["write_s"] if reports > 2 else None,
                        "badge": got["badge"],
                    }
                    run.add(**row)
                    print(json.dumps(row), flush=True)
    if not args.no_record:
        print(f"recorded {run.save()}")


if __name__ == "__main__":
    main()
