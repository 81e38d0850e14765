"""MQTT with TLS and a password against a real Mosquitto: a self-signed CA and server certificate made
with openssl, a password file made with mosquitto_passwd; events go edge → broker → hub and are confirmed,
and a wrong password, a wrong CA or plain MQTT get nowhere."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from citytally.hub.ingest import Ingest
from citytally.hub.store import EventWriter, schema
from citytally.transport.mqtt import MQTT_PASSWORD_ENV, MqttSettings
from citytally.transport.outbox import Outbox
from hub.conftest import event_stream, free_port, wait_until

pytestmark = pytest.mark.integration

PASSWORD = "s3cret-for-this-test"


@dataclass
class TlsBroker:
    port: int
    ca: Path
    other_ca: Path
    log: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certificates(folder: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 signed by it, and an unrelated second CA."""
    for ca in ("ca", "other-ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.crt",
                 "-days", "2", "-subj", f"/CN=citytally test {ca}", cwd=folder)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=127.0.0.1", cwd=folder)  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName = IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.crt", "-days", "2", "-extfile", "san.ext", cwd=folder)  # fmt: skip


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    folder = tmp_path_factory.mktemp("tls-broker")
    make_certificates(folder)
    passwd = folder / "passwd"
    passwd.touch()
    for user in ("hub", "edge"):
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, PASSWORD], check=True, timeout=30)
    port = free_port()
    (folder / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\ncafile {folder}/ca.crt\ncertfile {folder}/server.crt\n"
        f"keyfile {folder}/server.key\nallow_anonymous false\npassword_file {passwd}\n"
        f"log_dest file {folder}/mosquitto.log\nuser root\n"
    )
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    process = subprocess.Popen([binary, "-c", str(folder / "mosquitto.conf")])
    log = folder / "mosquitto.log"
    wait_until(lambda: log.exists() and "running" in log.read_text(), 10, "mosquitto with TLS to start")
    yield TlsBroker(port, folder / "ca.crt", folder / "other-ca.crt", log)
    process.terminate()
    process.wait(10)


def settings(broker: TlsBroker, prefix: str, user: str, **changes: Any) -> MqttSettings:
    values: dict[str, Any] = {
        "port": broker.port,
        "topic_prefix": prefix,
        "tls": True,
        "ca_file": broker.ca,
        "username": user,
        "client_id": f"{prefix}-{user}",
        "session_expiry_s": 300,
    }
    return MqttSettings(**(values | changes))


def test_events_travel_over_tls_with_passwords_and_are_confirmed(
    tls_broker: TlsBroker,
    sqlite_engine: Engine,
    make_registry: Callable[..., Any],
    mqtt_prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(MQTT_PASSWORD_ENV, PASSWORD)
    make_registry(sqlite_engine, ("plaza", "cam-1"), ("plaza", "cam-2"))
    ingest = Ingest(
        EventWriter(sqlite_engine, topic_prefix=mqtt_prefix), settings(tls_broker, mqtt_prefix, "hub")
    )
    box = Outbox(tmp_path / "outbox.sqlite3", settings(tls_broker, mqtt_prefix, "edge"))
    events = event_stream(40)
    ingest.start()
    try:
        assert ingest.wait_connected(15), "the hub did not get in over TLS"
        box.start()
        box.publish_many(events)
        assert box.wait_drained(30), f"{box.depth} events not confirmed"
    finally:
        box.close()
        ingest.stop()
    with sqlite_engine.connect() as conn:
        stored = {row[0] for row in conn.execute(sa.select(schema.events.c.id))}
    assert stored == {event.id for event in events}


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"username": "edge", "password": "wrong"}, "a wrong password"),
        pytest.param(
            {"ca_file": "other"},
            "a certificate from another CA",
            # paho leaves the socket of a failed TLS handshake for the garbage collector (its bug, not ours)
            marks=pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
        ),
        ({"tls": False}, "plain MQTT on the TLS port"),
        ({"username": None}, "no user name"),
    ],
)
def test_the_broker_lets_nobody_in_without_the_right_password_and_certificate(
    tls_broker: TlsBroker,
    mqtt_prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    change: dict[str, Any],
    why: str,
) -> None:
    monkeypatch.setenv(MQTT_PASSWORD_ENV, change.pop("password", PASSWORD))
    if change.get("ca_file") == "other":
        change["ca_file"] = tls_broker.other_ca
    box = Outbox(
        tmp_path / "outbox.sqlite3", settings(tls_broker, mqtt_prefix, "edge", **change), drain_timeout_s=0.2
    )
    box.publish_many(event_stream(3))
    box.start()
    try:
        assert not box.wait_connected(4), f"connected with {why}"
    finally:
        box.close()
    assert box.depth == 3, "nothing may leave the outbox"
