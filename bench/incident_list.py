"""The operator's incident list, its badge and the view-change marks on a store of months of incident reports.

An edge reports an open incident every time its numbers change (at most every ``update_s``, 30 s by
default) and every 5 minutes while they do not: a crowd watched through an afternoon, a camera knocked for a
week or blurred by every morning's fog leaves hundreds of rows of one incident. The dashboard asks for the
list of incidents (each one's latest row) and the badge (how many wait for an acknowledgement) on every
incident event it hears and every few seconds besides; the overview's camera list, every series of counts
and the weak-spots ranking read which cameras' views were changed (the view-change marks).

For each store (SQLite, the embedded default; PostgreSQL), each shape (``--shapes``: ``crowd:N:R``, N
incidents reported R times each, one in ten still open; ``fog:C:D:R``, C cameras' views blurred every morning
for D days, R reports each) and each side (an earlier commit's code, and the checked-out code), in a fresh
process importing that side's ``src``: a new store migrated by that side's code, the reports written through
the ingest writer in batches of 500, then the operator's list (unacknowledged, 200), the badge, the last
day's view-change marks of every camera and of one, each timed ``--repeats`` times (median); and how long
the writer took per 1,000 reports (the price of noting each incident's latest row at ingest).
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
from citytally.hub.queries import view_change_spans

url, shape, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
kind, *sizes = shape.split(":")
engine = create_store_engine(url)
migrate(engine)
writer = EventWriter(engine, accept_unknown_cameras=True)
now = datetime.now(UTC)
begin = now - timedelta(days=200)
batch, wrote, rows = [], 0.0, 0

def flush():
    global batch, wrote
    t = time.perf_counter()
    writer.write_events(batch)
    wrote += time.perf_counter() - t
    batch = []

def report(camera, start, incident, reports, still_open, **details):
    global rows
    key = uuid.uuid4()
    for j in range(reports):
        phase = "onset" if j == 0 else ("cleared" if j == reports - 1 and not still_open else "update")
        end = start + timedelta(seconds=30 * j + 1)
        batch.append(IncidentEvent(
            id=uuid.uuid4(), site="plaza", camera=camera, start=start, end=end, incident=incident,
            zone="plaza", details={k: j % 7 for k in details}, incident_id=key, phase=phase,
        ))
        rows += 1
        if len(batch) == 500:
            flush()

if kind == "crowd":  # incidents reported many times each; one in ten still open
    incidents, reports = int(sizes[0]), int(sizes[1])
    for k in range(incidents):
        start = begin + timedelta(hours=k)
        report(f"cam-{k % 20}", start, "crowd_density", reports, k % 10 == 0, persons_per_m2=1)
else:  # "fog": every camera's view blurred for a while every morning
    cameras, days, reports = int(sizes[0]), int(sizes[1]), int(sizes[2])
    for d in range(days):
        for c in range(cameras):
            start = now - timedelta(days=days - d) + timedelta(hours=5)
            report(f"cam-{c}", start, "view_changed", reports, False, sharpness=1)
flush()

def timed(call):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2], result

list_s, listed = timed(lambda: list_incidents(engine, False, 200))
badge_s, badge = timed(lambda: summarise(engine))
day = (now - timedelta(days=1), now, now)
marks_s, spans = timed(lambda: view_change_spans(engine, *day))
camera_s, _ = timed(lambda: view_change_spans(engine, *day, site="plaza", camera="cam-0"))
engine.dispose()
print(json.dumps({
    "list_s": list_s, "badge_s": badge_s, "marks_s": marks_s, "camera_s": camera_s, "rows": rows,
    "badge": badge.open, "spans": sum(len(v) for v in spans.values()), "write_s": wrote,
}))
"""

COLUMNS = [
    ("store", "store"),
    ("shape", "store holds"),
    ("rows", "incident rows"),
    ("side", "code"),
    ("list_ms", "operator's list ms", ".1f"),
    ("badge_ms", "badge ms", ".1f"),
    ("marks_ms", "view-change marks, every camera, ms", ".1f"),
    ("camera_ms", "one camera's marks ms", ".1f"),
    ("list_vs", "list after / before", ".4f"),
    ("marks_vs", "marks after / before", ".4f"),
    ("write_ms", "ingest ms per 1,000 reports", ".0f"),
    ("write_vs", "ingest after / before", ".2f"),
    ("answers", "badge, spans"),
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


def one_side(src: Path, store: str, tmp: Path, shape: str, repeats: int) -> dict[str, Any]:
    if store == "sqlite":
        path = tmp / f"{uuid.uuid4().hex}.sqlite3"
        try:
            return run_side(src, RUNNER, f"sqlite:///{path}", shape, str(repeats))
        finally:
            path.unlink(missing_ok=True)
    name = fresh_database()
    try:
        url = f"{SERVER.rsplit('/', 1)[0]}/{name}"
        return run_side(src, RUNNER, url, shape, str(repeats))
    finally:
        drop_database(name)


def describe(shape: str) -> str:
    kind, *sizes = shape.split(":")
    if kind == "crowd":
        return f"{sizes[0]} crowds, {sizes[1]} reports each"
    return f"{sizes[0]} cameras' views blurred every morning for {sizes[1]} days, {sizes[2]} reports each"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--before", required=True, help="commit (or ref) of the code before the change")
    parser.add_argument("--shapes", default="crowd:200:2,crowd:200:500,fog:20:180:60")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    run = Run("incident_list", "The operator's incident list, its badge and the view-change marks", COLUMNS)
    run.notes.append(
        f"median of {args.repeats}; each side a fresh process and store; crowds: one in ten still open;"
        " marks: the last day's, as the overview's camera list and a series of every camera read them"
    )
    reads = ("list_s", "badge_s", "marks_s", "camera_s")
    with tempfile.TemporaryDirectory() as tmp:
        sides = {f"before ({args.before})": export_src(args.before, Path(tmp)), "after": REPO / "src"}
        for store in args.stores.split(","):
            for shape in args.shapes.split(","):
                before: dict[str, Any] | None = None
                for side, src in sides.items():
                    got = one_side(src, store, Path(tmp), shape, args.repeats)
                    before = before or got
                    # a store written in one batch or two: its write is mostly the first statement's set-up
                    many = got["rows"] >= 10_000
                    row = {
                        "store": store,
                        "shape": describe(shape),
                        "rows": got["rows"],
                        "side": side,
                        **{k.replace("_s", "_ms"): 1000 * got[k] for k in reads},
                        "list_vs": got["list_s"] / before["list_s"],
                        "marks_vs": got["marks_s"] / before["marks_s"],
                        "write_ms": 1e6 * got["write_s"] / got["rows"] if many else None,
                        "write_vs": got["write_s"] / before["write_s"] if many else None,
                        "answers": f"{got['badge']}, {got['spans']}",
                    }
                    run.add(**row)
                    print(json.dumps(row), flush=True)
    if not args.no_record:
        print(f"recorded {run.save()}")


if __name__ == "__main__":
    main()
