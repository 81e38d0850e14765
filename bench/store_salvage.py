"""What finding and salvaging a damaged hub store costs: SQLite's ``quick_check`` (the hub runs it once at its
start) and ``citytally salvage``, against SQLite copying the same file itself (``VACUUM INTO``), in the
same run.

A store of ``--events`` line-count events (two cameras, written through the hub's writer with their
roll-ups), then, timed ``--repeats`` times each (median): ``VACUUM INTO`` a new file (the baseline: SQLite's
own copy, indexes rebuilt as salvage rebuilds them), ``PRAGMA quick_check`` of the whole file, salvage of the
intact file, and salvage of the file with ``--damaged`` pages of ``events`` overwritten (the pages holding
events spread evenly through it, found by their bytes), with the rows saved and lost.

    .venv/bin/python bench/store_salvage.py --events 500000
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness import REPO, Run

sys.path.insert(0, str(REPO / "src"))

from citytally.events import LineCountEvent  # noqa: E402
from citytally.hub.store import EventWriter, create_store_engine, migrate, sqlite_url  # noqa: E402
from citytally.hub.store.registry import sync_registry  # noqa: E402
from citytally.salvage import salvage  # noqa: E402

PAGE = 4096
COLUMNS = [
    ("case", "case"),
    ("file_mb", "file (MB)"),
    ("seconds", "time (s)", ".2f"),
    ("mb_per_s", "MB/s"),
    ("vs_vacuum", "÷ VACUUM INTO", ".2f"),
    ("events_saved", "events saved"),
    ("events_lost", "events lost"),
]


def build(path: Path, n: int) -> list[str]:
    """A store of ``n`` events; their ids (as in the JSON bodies), in the order written."""
    import uuid

    sys.path.insert(0, str(REPO / "tests"))
    from hub.conftest import make_camera

    engine = create_store_engine(sqlite_url(path))
    migrate(engine)
    sync_registry(engine, [make_camera("plaza", "cam-1"), make_camera("plaza", "cam-2")])
    writer = EventWriter(engine)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ids = []
    for first in range(0, n, 5000):
        batch = []
        for i in range(first, min(n, first + 5000)):
            at = start + timedelta(minutes=i // 2)
            event_id = uuid.uuid4()
            ids.append(str(event_id))
            counts = {"inbound": {"car": i % 5, "person": i % 3}, "outbound": {"bicycle": i % 2}}
            batch.append(
                LineCountEvent(
                    id=event_id,
                    site="plaza",
                    camera=f"cam-{i % 2 + 1}",
                    start=at,
                    end=at + timedelta(minutes=1),
                    line="north",
                    counts=counts,
                )
            )
        writer.write_events(batch)
    engine.dispose()
    return ids


def damage(path: Path, ids: list[str], pages: int) -> None:
    """Overwrite ``pages`` pages of ``events``, each the page holding one of ``pages`` ids spread evenly."""
    data = bytearray(path.read_bytes())
    for k in range(pages):
        at = data.index(ids[(2 * k + 1) * len(ids) // (2 * pages)].encode()) // PAGE
        for offset in range(PAGE * at + 8, PAGE * at + 3000):
            data[offset] = (offset * 7) % 256
    path.write_bytes(bytes(data))


def timed(action: Callable[[], object], repeats: int, clean: Callable[[], None]) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        clean()
        begin = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - begin)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--damaged", type=int, default=20, help="pages of events to overwrite")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    run = Run("store_salvage", "Finding and salvaging a damaged hub store", COLUMNS)
    run.notes.append(
        f"median of {args.repeats}; a store of {args.events:,} line-count events and their roll-ups"
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        store, copy = work / "hub.sqlite3", work / "copy.sqlite3"
        ids = build(store, args.events)
        mb = round(store.stat().st_size / 1e6, 1)

        def clean() -> None:
            copy.unlink(missing_ok=True)

        def vacuum() -> None:
            with sqlite3.connect(store) as db:
                db.execute("VACUUM INTO ?", (str(copy),))

        def check() -> list[str]:
            with sqlite3.connect(store) as db:
                return [row[0] for row in db.execute("PRAGMA quick_check")]

        base, _ = timed(vacuum, args.repeats, clean)
        cases: list[tuple[str, Callable[[], object]]] = [
            ("VACUUM INTO (SQLite's own copy)", vacuum),
            ("quick_check", check),
            ("salvage, intact file", lambda: salvage(store, copy)),
        ]
        for name, action in cases:
            seconds, result = (base, None) if action is vacuum else timed(action, args.repeats, clean)
            row = {"case": name, "file_mb": mb, "seconds": seconds, "mb_per_s": round(mb / seconds, 1)}
            row["vs_vacuum"] = seconds / base
            if isinstance(result, list) and result and hasattr(result[0], "saved"):
                events = next(t for t in result if t.name == "events")
                row |= {"events_saved": events.saved, "events_lost": events.lost_rows()}
            run.add(**row)
            print(json.dumps(row), flush=True)
        damaged = work / "damaged.sqlite3"
        shutil.copy(store, damaged)
        damage(damaged, ids, args.damaged)
        seconds, result = timed(lambda: salvage(damaged, copy), args.repeats, clean)
        events = next(t for t in result if t.name == "events")  # type: ignore[union-attr]
        row = {
            "case": f"salvage, {args.damaged} pages of events damaged",
            "file_mb": mb,
            "seconds": seconds,
            "mb_per_s": round(mb / seconds, 1),
            "vs_vacuum": seconds / base,
            "events_saved": events.saved,
            "events_lost": events.lost_rows(),
        }
        run.add(**row)
        print(json.dumps(row), flush=True)
    if not args.no_record:
        print(f"recorded {run.save()}")


if __name__ == "__main__":
    main()
