"""Fault table: events sent, stored, lost and duplicated when a part of the pipeline crashes mid-stream.

    .venv/bin/python bench/chaos.py [--events 600] [--rate 100] [--faults all|NAME,...] [--no-record]

Real processes on 127.0.0.1 only: a private Mosquitto configured from ``examples/mosquitto.conf`` (its
paths moved to a temporary folder, a generated password file), ``citytally hub --no-api`` on a fresh
PostgreSQL database per fault (``$CITYTALLY_TEST_DATABASE_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``; the hub logs in to the broker with a user name and
``$CITYTALLY_MQTT_PASSWORD``), and an edge process that publishes line-count events through the durable
outbox at ``--rate`` events/s, logging each id once ``publish`` has returned. One fault per run, about 40 %
into the stream:

  none                 the baseline: nothing crashes
  broker-kill-hub-up   kill -9 the broker while the hub is connected; restart it 2 s later
  broker-kill-hub-down stop the hub first; the edge publishes everything; kill -9 the broker, restart it,
                       start the hub
  hub-kill             kill -9 the hub; restart it 2 s later
  db-cut               terminate the hub's database connections (pg_terminate_backend), three times, 1 s apart
  edge-kill            kill -9 the edge; restart it on the same outbox with the events it had not published
  broker-kill-hub-down-puback  as broker-kill-hub-down, with the old outbox that trusts the broker's PUBACK
                       and Mosquitto's default autosave (30 min): the baseline that shows what is at stake

"sent" is every event whose ``publish`` returned (logged, or found in the outbox after an edge crash);
"lost" is sent and not stored; "duplicated" is stored more than once (rows minus distinct ids) plus any
difference between the 15-minute roll-ups and the sums of the raw events (a counted duplicate). The edge
re-sends unconfirmed events after 3 s here (30 s by default) to keep the run short. The whole run takes a
few minutes; each fault gives up after ``--settle`` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from harness import Run
from sqlalchemy.engine import make_url

from citytally.events import Event, LineCountEvent, event_to_json
from citytally.hub.store import create_store_engine, schema

REPO = Path(__file__).resolve().parents[1]
SERVER_URL = os.environ.get(
    "CITYTALLY_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
FAULTS = (
    "none",
    "broker-kill-hub-up",
    "broker-kill-hub-down",
    "hub-kill",
    "db-cut",
    "edge-kill",
    "broker-kill-hub-down-puback",
)
PASSWORD = "chaos-" + uuid.uuid4().hex[:12]
COLUMNS = [
    ("fault", "fault"),
    ("sent", "events sent"),
    ("stored", "stored"),
    ("lost", "lost"),
    ("duplicated", "duplicated"),
    ("rollups_ok", "roll-ups = raw"),
    ("seconds", "seconds to settle"),
]

#: The edge: publish events from a JSON-lines file through the outbox, logging each id after publish returns.
SITE = "chaos"  # the events' site, and the edge's user name on the broker

EDGE = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from citytally.events import parse_event
    from citytally.transport.mqtt import MqttSettings
    from citytally.transport.outbox import Outbox
    outbox, events, sent_log, port, prefix, confirm, rate = sys.argv[1:8]
    settings = MqttSettings(port=int(port), topic_prefix=prefix, username="chaos")  # its site
    box = Outbox(Path(outbox), settings, client_id=prefix + "-edge", confirm=confirm, resend_after_s=3.0,
                 max_events_per_message=20, drain_timeout_s=float(sys.argv[8]))
    box.start()
    pause = 1.0 / float(rate)
    with open(sent_log, "a") as log:
        for line in Path(events).read_text().splitlines():
            event = parse_event(json.loads(line))
            box.publish(event)
            log.write(str(event.id) + "\\n")
            log.flush()
            time.sleep(pause)
    box.close()
    print("edge: done, %d left in the outbox" % box.depth, flush=True)
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Broker:
    """Mosquitto from examples/mosquitto.conf (or Mosquitto's defaults plus persistence), on a free port."""

    def __init__(self, folder: Path, example_config: bool, prefix: str) -> None:
        self.folder, self.port = folder, free_port()
        folder.mkdir(parents=True, exist_ok=True)
        passwd = folder / "passwd"
        passwd.touch()
        for user in ("hub", SITE, "traffic-centre"):  # the edge logs in as its site (examples/mosquitto.acl)
            subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, PASSWORD], check=True)
        if example_config:
            acl = folder / "acl"  # the example ACL, for this run's topic prefix
            acl.write_text(
                (REPO / "examples" / "mosquitto.acl").read_text().replace("citytally/", f"{prefix}/")
            )
            text = (REPO / "examples" / "mosquitto.conf").read_text()
            text = text.replace("/var/lib/mosquitto/", f"{folder}/").replace(
                "/etc/mosquitto/passwd", str(passwd)
            )
            text = text.replace("/etc/mosquitto/acl", str(acl))
            text = text.replace("listener 1883 127.0.0.1", f"listener {self.port} 127.0.0.1")
        else:  # the settings the README used to give: persistence, Mosquitto's default autosave (30 min)
            text = (
                f"listener {self.port} 127.0.0.1\npersistence true\npersistence_location {folder}/\n"
                f"max_queued_messages 0\nallow_anonymous false\npassword_file {passwd}\n"
            )
        user = "root" if os.geteuid() == 0 else os.environ.get("USER", "nobody")
        (folder / "mosquitto.conf").write_text(
            text + f"\nuser {user}\nlog_dest file {folder}/mosquitto.log\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = subprocess.Popen([binary, "-c", str(self.folder / "mosquitto.conf")])
        until(lambda: _listening(self.port), 10, "mosquitto to listen")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def until(predicate: Callable[[], bool], timeout: float, what: str) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            print(f"  (gave up waiting for {what} after {timeout:.0f} s)", flush=True)
            return False
        time.sleep(0.1)
    return True


class Hub:
    """``citytally hub --no-api`` as a child process; ``name`` tells hubs side by side apart (their MQTT
    client ids), ``wrap`` goes before the command (``faketime -f +20s``: a hub whose clock is off)."""

    def __init__(
        self, folder: Path, url: str, port: int, prefix: str, name: str = "hub", wrap: tuple[str, ...] = ()
    ) -> None:
        config = folder / f"{name}.toml"
        config.write_text(
            f'[mqtt]\nport = {port}\ntopic_prefix = "{prefix}"\nclient_id = "{prefix}-{name}"\n'
            'username = "hub"\nsession_expiry_s = 3600\n\n'
            "[ingest]\nbatch_wait_ms = 20\naccept_unknown_cameras = true\n"
        )
        self.command = [*wrap, sys.executable, "-c", "from citytally.cli import main; main()", "hub"]
        self.command += ["--no-api", "--config", str(config)]
        self.env = dict(os.environ, CITYTALLY_DATABASE_URL=url, CITYTALLY_MQTT_PASSWORD=PASSWORD)
        if wrap:
            self.env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"  # timeouts and leases run on the real clock
        self.log = folder / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        before = self.log.read_text().count("ingest: subscribed") if self.log.exists() else 0
        with self.log.open("ab") as log:
            # A process group of its own: a signal reaches the hub under a wrapper too (faketime runs it as
            # its child), and no hub outlives the bench.
            self.process = subprocess.Popen(
                self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        until(lambda: self.log.read_text().count("ingest: subscribed") > before, 60, "the hub to subscribe")

    def kill(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(30)
            self.process = None


class Edge:
    """The edge process; ``sent_ids`` are the events whose publish returned."""

    def __init__(self, folder: Path, port: int, prefix: str, confirm: str, rate: float) -> None:
        self.folder, self.port, self.prefix, self.confirm, self.rate = folder, port, prefix, confirm, rate
        self.outbox, self.sent_log = folder / "outbox.sqlite3", folder / "sent.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, events: Sequence[Event], drain_s: float) -> None:
        batch = self.folder / f"events-{time.monotonic_ns()}.jsonl"
        batch.write_text("".join(event_to_json(e) + "\n" for e in events))
        args = [str(self.outbox), str(batch), str(self.sent_log), str(self.port), self.prefix, self.confirm]
        env = dict(os.environ, CITYTALLY_MQTT_PASSWORD=PASSWORD)
        with (self.folder / "edge.log").open("ab") as log:
            command = [sys.executable, "-c", EDGE, *args, str(self.rate), str(drain_s)]
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def wait(self, timeout: float) -> None:
        if self.process is not None:
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None

    def logged(self) -> set[str]:
        return set(self.sent_log.read_text().split()) if self.sent_log.exists() else set()

    def queued(self) -> set[str]:
        import sqlite3

        if not self.outbox.exists():
            return set()
        with sqlite3.connect(self.outbox) as db:
            return {row[0] for row in db.execute("SELECT event_id FROM outbox") if row[0]}


def make_events(n: int) -> list[LineCountEvent]:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    return [
        LineCountEvent(
            id=uuid.uuid4(),
            site=SITE,
            camera=f"cam-{i % 3 + 1}",
            start=start + timedelta(seconds=10 * i),
            end=start + timedelta(seconds=10 * i + 10),
            line="north",
            counts={"inbound": {"car": i % 5 + 1, "person": i % 3}},
        )
        for i in range(n)
    ]


def stored(engine: sa.Engine) -> tuple[list[str], bool]:
    """Stored event ids (one per row) and whether the 15-minute roll-ups equal the raw events' sums."""
    with engine.connect() as conn:
        ids = [str(row[0]) for row in conn.execute(sa.select(schema.events.c.id))]
        bodies = [
            row[0] if isinstance(row[0], dict) else json.loads(row[0])
            for row in conn.execute(sa.select(schema.events.c.body))
        ]
        rolled = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(schema.line_count_rollups.c.count), 0)).where(
                schema.line_count_rollups.c.period == "15m"
            )
        ).scalar_one()
    raw = sum(n for body in bodies for per in body.get("counts", {}).values() for n in per.values())
    return ids, int(rolled) == raw


def stored_ids(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return {str(row[0]) for row in conn.execute(sa.select(schema.events.c.id))}


def cut_connections(engine: sa.Engine, database: str) -> None:
    with engine.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :db AND pid <> pg_backend_pid()"
            ),
            {"db": database},
        )
        conn.commit()


@contextmanager
def fresh_database(stem: str) -> Iterator[tuple[sa.Engine, str, str]]:
    """A new PostgreSQL database for one fault: (an admin engine, its name, its URL); dropped afterwards."""
    name = f"{stem}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin, name, make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def fault_arguments(
    doc: str, faults: Sequence[str], events: int, rate: float, what: str = "Events"
) -> tuple[argparse.Namespace, tuple[str, ...]]:
    """The fault tables' command line: the parsed arguments and the faults asked for."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--events", type=int, default=events, help=f"{what} per fault.")
    parser.add_argument("--rate", type=float, default=rate, help="Events per second the edge publishes.")
    parser.add_argument("--faults", default="all", help=f"Comma-separated, of: {', '.join(faults)}.")
    parser.add_argument("--settle", type=float, default=60.0, help="Seconds each fault may take to settle.")
    parser.add_argument("--no-record", action="store_true", help="Print only; do not write bench/results.")
    args = parser.parse_args()
    chosen = tuple(faults) if args.faults == "all" else tuple(args.faults.split(","))
    unknown = set(chosen) - set(faults)
    if unknown:
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}")
    return args, chosen


def run_fault(fault: str, folder: Path, n: int, rate: float, settle: float) -> dict[str, object]:
    """One fault, start to settled; returns the table row."""
    with fresh_database("citytally_chaos") as (admin, name, url):
        return _run_fault(fault, folder, n, rate, settle, admin, name, url)


def _run_fault(
    fault: str, folder: Path, n: int, rate: float, settle: float, admin: sa.Engine, name: str, url: str
) -> dict[str, object]:
    prefix = f"chaos-{uuid.uuid4().hex[:8]}"
    broker = Broker(folder / "broker", example_config=not fault.endswith("-puback"), prefix=prefix)
    hub, edge = None, None
    try:
        broker.start()
        hub = Hub(folder, url, broker.port, prefix)
        hub.start()  # migrates the store and creates the hub's session on the broker
        edge = Edge(folder, broker.port, prefix, "broker" if fault.endswith("-puback") else "hub", rate)
        events = make_events(n)
        stream_s = n / rate
        hub_down = fault.startswith("broker-kill-hub-down")
        if hub_down:
            hub.stop()
        edge.start(events, drain_s=settle)
        time.sleep(stream_s * 0.4)
        if fault == "broker-kill-hub-up":
            broker.kill()
            time.sleep(2)
            broker.start()
        elif fault == "hub-kill":
            hub.kill()
            time.sleep(2)
            hub.start()
        elif fault == "db-cut":
            for _ in range(3):
                cut_connections(admin, name)
                time.sleep(1)
        elif fault == "edge-kill":
            edge.kill()
            sent_before = edge.logged() | edge.queued()
            edge.start([e for e in events if str(e.id) not in sent_before], drain_s=settle)
        if hub_down:  # everything published and handed to the broker, nothing confirmed yet
            until(lambda: len(edge.logged()) >= n, stream_s * 3 + 10, "the edge to publish everything")
            time.sleep(2)
            broker.kill()
            broker.start()
            hub.start()
        began = time.monotonic()
        engine = create_store_engine(url)
        sent = edge.logged() | edge.queued()
        wait_s = 15.0 if fault.endswith("-puback") else settle  # the baseline never settles: bound it

        def settled() -> bool:
            expected = edge.logged() | sent
            return len(expected) >= n and expected <= stored_ids(engine)

        until(settled, wait_s, "every sent event stored")
        seconds = time.monotonic() - began
        edge.wait(settle)
        sent = edge.logged() | sent
        ids, rollups_ok = stored(engine)
        engine.dispose()
        kept = set(ids)
        return {
            "fault": fault,
            "sent": len(sent),
            "stored": len(kept & sent),
            "lost": len(sent - kept),
            "duplicated": len(ids) - len(kept) + (0 if rollups_ok else 1),
            "rollups_ok": "yes" if rollups_ok else "NO",
            "seconds": round(seconds, 1),
        }
    finally:
        if edge is not None:
            edge.kill()
        if hub is not None:
            hub.kill()
        broker.kill()


def main() -> None:
    args, faults = fault_arguments(__doc__ or "", FAULTS, events=600, rate=100.0)
    run = Run("chaos", "Fault table: events sent, stored, lost, duplicated", columns=COLUMNS)
    print(f"{'fault':30s} {'sent':>6s} {'stored':>6s} {'lost':>6s} {'dup':>5s} roll-ups  settle", flush=True)
    for fault in faults:
        with tempfile.TemporaryDirectory(prefix="citytally-chaos-") as folder:
            row = run_fault(fault, Path(folder), args.events, args.rate, args.settle)
        run.add(**row)
        print(
            f"{fault:30s} {row['sent']:>6} {row['stored']:>6} {row['lost']:>6} {row['duplicated']:>5} "
            f"{row['rollups_ok']:>8s} {row['seconds']:>6} s",
            flush=True,
        )
    run.notes.append(
        f"{args.events} line-count events per fault at {args.rate:.0f}/s; PostgreSQL store; Mosquitto from "
        "examples/mosquitto.conf (the -puback row: Mosquitto's default autosave and an outbox that deletes "
        "at the broker's PUBACK); edge re-sends unconfirmed events after 3 s."
    )
    if not args.no_record:
        print(f"recorded in {run.save()}")


if __name__ == "__main__":
    main()
