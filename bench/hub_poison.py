"""What one poison message costs ingest: the issue's payloads through the hub's EventWriter, with 100 good
events in the same batch, against the 100 good events alone (the baseline, same run; medians of 3, the
unbounded rows once).

Payloads: arrays nested 1,000 deep (2 KB), an integer of 5,000 digits (5 KB), an array of 200,000 small
elements (0.6 MB), and, to price the bounds on a valid message, an array of 2,000 valid events (the array
pre-check parses it once more; the pre-check alone is timed too). Each poison row is also run with the
bounds lifted (``unbounded``: as the writer was before them, except that an exception no longer stops it),
which is what the 200,000-element array cost before. SQLite, or PostgreSQL with ``--database-url``.

    nice -n 19 .venv/bin/python bench/hub_poison.py [--database-url postgresql+psycopg://...]

The table, with the machine fingerprint, commit and time, goes to bench/results/hub_poison.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from harness import RESULTS_DIR, Run

from citytally.edge.config import CameraConfig
from citytally.hub.store import (
    EventWriter,
    MessageLimits,
    Received,
    create_store_engine,
    migrate,
    sqlite_url,
    sync_registry,
)
from citytally.hub.store.schema import metadata

TOPIC = "citytally/plaza/cam-1/events"
T0 = datetime(2026, 11, 23, 7, 45, tzinfo=UTC)
UNBOUNDED = MessageLimits(max_bytes=1 << 30, max_events=1 << 30, max_depth=1 << 20)


def event(index: int) -> dict[str, Any]:
    start = T0 + timedelta(minutes=index)
    return {
        "v": 1,
        "id": str(uuid.uuid4()),
        "site": "plaza",
        "camera": "cam-1",
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=1)).isoformat(),
        "type": "line_count",
        "line": "north",
        "counts": {"inbound": {"car": index % 7, "person": 1}},
    }


def payloads() -> dict[str, bytes]:
    valid = [json.dumps(event(i)).encode() for i in range(2000)]
    return {
        "nested 1,000 deep (2 KB)": b"[" * 1000 + b"]" * 1000,
        "integer of 5,000 digits (5 KB)": b"9" * 5000,
        "array of 200,000 elements (0.6 MB)": b"[" + b",".join([b"{}"] * 200_000) + b"]",
        "valid array of 2,000 events (0.3 MB)": b"[" + b",".join(valid) + b"]",
    }


def camera() -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "site": "plaza",
            "camera": "cam-1",
            "metadata": {
                "location": "bench",
                "lat": 52.5,
                "lon": 13.4,
                "purpose": "bench",
                "legal_basis": "public task",
                "retention_days": 365,
                "contact": "bench@example.org",
            },
            "source": {"uri": "bench.mp4"},
            "lines": [
                {"name": "north", "p1": [0, 100], "p2": [200, 100], "directions": ["inbound", "outbound"]}
            ],
        }
    )


def empty(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            if table.name not in ("cameras", "sites", "alembic_version"):
                connection.execute(table.delete())


def timed(
    engine: sa.Engine, limits: MessageLimits, poison: bytes | None, repeat: int = 3
) -> tuple[float, Any]:
    """Seconds to write [poison] + 100 good messages in one batch, and the result (median of ``repeat``)."""
    runs = []
    for _ in range(repeat):
        empty(engine)
        good = [Received(TOPIC, json.dumps(event(10_000 + i)).encode(), T0) for i in range(100)]
        batch = ([Received(TOPIC, poison, T0)] if poison is not None else []) + good
        writer = EventWriter(engine, limits=limits)
        started = time.perf_counter()
        result = writer.write_messages(batch)
        runs.append((time.perf_counter() - started, result))
    runs.sort(key=lambda run: run[0])
    return runs[len(runs) // 2]


def precheck_seconds(payload: bytes) -> float:
    """The array pre-check by itself (orjson parse, length and depth), median of 5."""
    limits = MessageLimits()
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        if limits.may_hold_too_many(payload):
            limits.parse(payload)
        runs.append(time.perf_counter() - started)
    return sorted(runs)[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="PostgreSQL URL (default: a temporary SQLite file)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_store_engine(args.database_url or sqlite_url(Path(tmp) / "bench.sqlite3"))
        migrate(engine)
        sync_registry(engine, [camera()])
        run = Run(
            "hub_poison",
            f"One poison message in a batch of 100 good events ({engine.dialect.name})",
            columns=[
                ("payload", "message in the batch"),
                ("limits", "limits"),
                ("ms", "batch ms"),
                ("ratio", "x 100 good alone"),
                ("stored", "stored"),
                ("dead", "dead letters"),
            ],
        )
        baseline, _ = timed(engine, MessageLimits(), None)
        run.add(
            payload="(none: 100 good events)",
            limits="default",
            ms=baseline * 1000,
            ratio=1.0,
            stored=100,
            dead=0,
        )
        for name, payload in payloads().items():
            for label, limits in (("default", MessageLimits()), ("unbounded", UNBOUNDED)):
                # the unbounded rows are the "before" reference: once is enough (one took 27 s)
                seconds, result = timed(engine, limits, payload, 3 if label == "default" else 1)
                run.add(
                    payload=name,
                    limits=label,
                    ms=seconds * 1000,
                    ratio=seconds / baseline,
                    stored=result.stored,
                    dead=result.dead.total(),
                )
                figures = f"{seconds * 1000:9.1f} ms {seconds / baseline:7.2f}x"
                print(f"{name:40s} {label:9s} {figures}  {dict(result.dead)}")
        check = payloads()["valid array of 2,000 events (0.3 MB)"]
        seconds = precheck_seconds(check)
        run.add(payload="pre-check alone of the 2,000-event array", limits="default", ms=seconds * 1000)
        print(f"pre-check alone: {seconds * 1000:.1f} ms")
        engine.dispose()
    run.save(args.results_dir)


if __name__ == "__main__":
    main()
