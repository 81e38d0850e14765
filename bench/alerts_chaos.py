"""Alert fault table: incident alerts stored, received by a traffic centre, lost and duplicated when a part
of the alert path fails mid-stream, with two hubs relaying in turn.

    .venv/bin/python bench/alerts_chaos.py [--events 300] [--rate 20] [--faults all|NAME,...] [--no-record]

Real processes on 127.0.0.1, as ``bench/chaos.py`` runs them: a private Mosquitto from
``examples/mosquitto.conf`` and ``examples/mosquitto.acl``, two ``citytally hub --no-api`` processes
(``hub-a`` starts first and relays, ``hub-b`` stands by; both ingest) on one fresh PostgreSQL database, an
edge process publishing incident onsets through its durable outbox at ``--rate`` events/s, and a
subscriber logged in as ``traffic-centre`` (it may only read alerts) with a persistent session, QoS 1. One
fault per run, about 40 % into the stream:

  none          nothing fails
  holder-stop   stop the relaying hub (SIGTERM: it hands its lease back); start it again 2 s later
  holder-kill   kill -9 the relaying hub; start it again 2 s later (it takes its own lease back)
  holder-lost   kill -9 the relaying hub for good: the other takes over once the lease (15 s) has run out
  broker-kill   kill -9 the broker while both hubs are connected; start it again 2 s later
  skewed-hub    as holder-lost, with hub-b's clock 20 s ahead (``faketime``; skipped where it is not
                installed: Debian's ``faketime`` package)

"alerts due" is every incident event stored; "lost" is stored and never received; "duplicated" is received
more than once (a subscriber tells by the event's ``id``); "seconds to settle" runs from the fault's end to
the last alert due.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from chaos import PASSWORD, SITE, Broker, Edge, Hub, fault_arguments, fresh_database, stored_ids, until
from harness import Run

from citytally.events import IncidentEvent
from citytally.hub.alerts import alert_subscription
from citytally.hub.store import create_store_engine

FAULTS = ("none", "holder-stop", "holder-kill", "holder-lost", "broker-kill", "skewed-hub")
COLUMNS = [
    ("fault", "fault"),
    ("due", "alerts due"),
    ("received", "received"),
    ("lost", "lost"),
    ("duplicated", "duplicated"),
    ("seconds", "seconds to settle"),
]


def make_incidents(n: int) -> list[IncidentEvent]:
    start = datetime.now(UTC) - timedelta(minutes=5)
    return [
        IncidentEvent(
            id=uuid.uuid4(),
            site=SITE,
            camera=f"cam-{i % 3 + 1}",
            start=start + timedelta(seconds=i),
            end=start + timedelta(seconds=i + 1),
            incident="wrong_way",
            zone="west",
            severity="critical",
            details={"road_users": 1},
            incident_id=uuid.uuid4(),
            phase="onset",
        )
        for i in range(n)
    ]


class Subscriber:
    """A traffic centre: every alert's id, in the order received (persistent session, QoS 1)."""

    def __init__(self, port: int, prefix: str) -> None:
        self.ids: list[str] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"{prefix}-traffic-centre",
            protocol=mqtt.MQTTv5,
        )
        self.client.username_pw_set("traffic-centre", PASSWORD)
        self.client.reconnect_delay_set(0.2, 1)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe(alert_subscription(prefix), qos=1)
        properties = mqtt.Properties(mqtt.PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", port, clean_start=False, properties=properties)
        self.client.loop_start()

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.ids.append(json.loads(message.payload)["id"])

    def received(self) -> list[str]:
        with self._lock:
            return list(self.ids)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def run_fault(fault: str, folder: Path, n: int, rate: float, settle: float) -> dict[str, object]:
    """One fault, start to settled; returns the table row."""
    with fresh_database("citytally_alerts") as (_admin, _name, url):
        return _run_fault(fault, folder, n, rate, settle, url)


def _run_fault(fault: str, folder: Path, n: int, rate: float, settle: float, url: str) -> dict[str, object]:
    prefix = f"alerts-{uuid.uuid4().hex[:8]}"
    broker = Broker(folder / "broker", example_config=True, prefix=prefix)
    hubs: list[Hub] = []
    edge, subscriber = None, None
    try:
        broker.start()
        subscriber = listener = Subscriber(broker.port, prefix)
        ahead = ("faketime", "-f", "+20s") if fault == "skewed-hub" else ()
        holder = Hub(folder, url, broker.port, prefix, "hub-a")
        holder.start()  # migrates the store, takes the relay
        standby = Hub(folder, url, broker.port, prefix, "hub-b", wrap=ahead)
        standby.start()
        hubs = [holder, standby]
        edge = Edge(folder, broker.port, prefix, "hub", rate)
        edge.start(make_incidents(n), drain_s=settle)
        time.sleep(n / rate * 0.4)
        if fault == "holder-stop":
            holder.stop()
            time.sleep(2)
            holder.start()
        elif fault == "holder-kill":
            holder.kill()
            time.sleep(2)
            holder.start()
        elif fault in ("holder-lost", "skewed-hub"):
            holder.kill()
        elif fault == "broker-kill":
            broker.kill()
            time.sleep(2)
            broker.start()
        began = time.monotonic()
        engine = create_store_engine(url)

        def settled() -> bool:
            due = stored_ids(engine)
            return len(due) >= n and due <= set(listener.received())

        until(settled, settle, "every stored incident to reach the subscriber")
        seconds = time.monotonic() - began
        edge.wait(settle)
        time.sleep(2)  # a late copy would arrive by now
        due = stored_ids(engine)
        engine.dispose()
        got = Counter(listener.received())
        return {
            "fault": fault,
            "due": len(due),
            "received": len(set(got) & due),
            "lost": len(due - set(got)),
            "duplicated": sum(count - 1 for count in got.values()),
            "seconds": round(seconds, 1),
        }
    finally:
        if subscriber is not None:
            subscriber.close()
        if edge is not None:
            edge.kill()
        for hub in hubs:
            hub.kill()
        broker.kill()


def main() -> None:
    args, faults = fault_arguments(__doc__ or "", FAULTS, events=300, rate=20.0, what="Incident events")
    if "skewed-hub" in faults and shutil.which("faketime") is None:
        print("skewed-hub: skipped, faketime is not installed (Debian package faketime)", flush=True)
        faults = tuple(f for f in faults if f != "skewed-hub")
    run = Run("alerts_chaos", "Alert fault table: alerts due, received, lost, duplicated", columns=COLUMNS)
    print(f"{'fault':14s} {'due':>5s} {'received':>8s} {'lost':>5s} {'dup':>5s}  settle", flush=True)
    for fault in faults:
        with tempfile.TemporaryDirectory(prefix="citytally-alerts-") as folder:
            row = run_fault(fault, Path(folder), args.events, args.rate, args.settle)
        run.add(**row)
        print(
            f"{fault:14s} {row['due']:>5} {row['received']:>8} {row['lost']:>5} {row['duplicated']:>5} "
            f"{row['seconds']:>6} s",
            flush=True,
        )
    run.notes.append(
        f"{args.events} incident onsets per fault at {args.rate:.0f}/s; two hubs on one PostgreSQL store, "
        "both ingesting, one relaying; Mosquitto from examples/mosquitto.conf and examples/mosquitto.acl; "
        "the subscriber logged in as traffic-centre (persistent session, QoS 1)."
    )
    if not args.no_record:
        print(f"recorded in {run.save()}")


if __name__ == "__main__":
    main()
