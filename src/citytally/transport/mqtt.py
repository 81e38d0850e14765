"""The MQTT broker both ends talk to: its settings and the paho client built from them.

The edge's outbox publishes with such a client and the hub's ingest subscribes with one; both read the
same :class:`MqttSettings` (the password only from ``$CITYTALLY_MQTT_PASSWORD``).
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import time
from pathlib import Path
from typing import Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BaseModel, ConfigDict, Field

from citytally.errors import Spell

__all__ = ["MQTT_PASSWORD_ENV", "LinkWatch", "MqttSettings", "build_mqtt_client", "connect_properties"]

MQTT_PASSWORD_ENV = "CITYTALLY_MQTT_PASSWORD"


class MqttSettings(BaseModel):
    """The broker edges publish to and the hub subscribes at (MQTT 5 or 3.1.1, QoS 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(default="127.0.0.1", min_length=1, max_length=253, description="Broker host name.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port (1883 plain, 8883 TLS).")
    topic_prefix: str = Field(
        default="citytally",
        pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$",
        max_length=200,
        description="First topic level(s); events go to <prefix>/<site>/<camera>/events.",
    )
    tls: bool = Field(default=False, description="Connect with TLS (verifying the broker's certificate).")
    ca_file: Path | None = Field(default=None, description="CA bundle for TLS (None: the system's).")
    username: str | None = Field(
        default=None, max_length=200, description=f"User name; the password comes from ${MQTT_PASSWORD_ENV}."
    )
    client_id: str = Field(
        default="citytally-hub",
        min_length=1,
        max_length=120,
        description="Hub client id. Keep it stable: the broker queues for it while the hub is away.",
    )
    protocol: Literal["5", "3.1.1"] = Field(
        default="5",
        description="MQTT version. 5 lets the hub ask for more messages in flight (receive maximum).",
    )
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="Keep-alive interval, seconds.")
    session_expiry_s: int = Field(
        default=7 * 86400,
        ge=0,
        le=2**32 - 1,
        description="How long the broker keeps the hub's session (and queues its messages) while it is away.",
    )
    receive_maximum: int = Field(
        default=20000,
        ge=1,
        le=65535,
        description="MQTT 5: unacknowledged messages the broker may send the hub at once (bounds a batch).",
    )

    def password(self) -> str | None:
        """The broker password, from the environment only."""
        return os.environ.get(MQTT_PASSWORD_ENV) or None


def build_mqtt_client(
    settings: MqttSettings, client_id: str, *, manual_ack: bool = False, persistent: bool = True
) -> mqtt.Client:
    """A paho client for ``settings``: protocol, TLS, user name and the environment's password.

    ``persistent`` asks MQTT 3.1.1 brokers to keep the session (MQTT 5 decides at connect time).
    """
    protocol = mqtt.MQTTv5 if settings.protocol == "5" else mqtt.MQTTv311
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        clean_session=None if protocol == mqtt.MQTTv5 else not persistent,
        manual_ack=manual_ack,
    )
    if settings.tls:
        client.tls_set(
            ca_certs=str(settings.ca_file) if settings.ca_file else None, tls_version=ssl.PROTOCOL_TLS_CLIENT
        )
    if settings.username:
        client.username_pw_set(settings.username, settings.password())
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


def connect_properties(settings: MqttSettings) -> Properties | None:
    """MQTT 5 CONNECT properties: keep the session while away; allow ``receive_maximum`` in flight."""
    if settings.protocol != "5":
        return None
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = settings.session_expiry_s
    properties.ReceiveMaximum = settings.receive_maximum
    return properties


class LinkWatch:
    """Says when a client cannot reach its broker, and why: paho retries a failed connection without a
    word, so an edge booted before its network, or a hub given a wrong broker name, said nothing at all.

    One line when the failures begin (the name that does not resolve, the refusal, the timeout: found by
    resolving and opening a TCP connection to the broker once, only when a line is due), one a minute while
    they last, one when the client connects. :attr:`down_since` (monotonic seconds; None while connected)
    is for health checks.
    """

    def __init__(
        self, who: str, settings: MqttSettings, log: logging.Logger, client_id: str = "", shared: str = ""
    ) -> None:
        self.who, self.host, self.port = who, settings.host, settings.port
        self.down_since: float | None = time.monotonic()  # not connected yet
        self._spell = Spell(log)
        #: The client's id, and who shares it when the broker gives its session to another (see :meth:`lost`).
        self.client_id, self.shared = client_id, shared
        self._log = log
        self._taken = Spell(log)
        self._connected_at: float | None = None
        self._short = 0  # connections in a row the broker closed within _SHORT_S of making them

    def attach(self, client: mqtt.Client) -> None:
        client.on_connect_fail = self._failed

    def _failed(self, _client: mqtt.Client, _userdata: object) -> None:
        why = _why_unreachable(self.host, self.port) if self._spell.due() else ""
        self._spell.failed(
            "%s: cannot reach the broker %s:%d (%s); retrying with backoff up to 30 s",
            self.who,
            self.host,
            self.port,
            why,
        )

    def connected(self) -> None:
        self.down_since = None
        self._connected_at = time.monotonic()
        self._spell.ended("%s: reached the broker %s:%d", self.who, self.host, self.port)

    def lost(self, reason: object = None) -> bool:
        """The connection is gone (``reason``: paho's). True when it is said here, and the caller need not
        say it again: the broker gave this client's session to another client that connected with the same
        id (MQTT 5's reason "Session taken over"), or, where the broker closes the connection without a
        reason (Mosquitto 2.0), it closed five in a row within seconds of making them. Two clients with
        one id take the session from each other every second or two: each drop was a warning before; now
        one line a minute while it goes on says what is likely wrong."""
        now = time.monotonic()
        if self.down_since is None:
            self.down_since = now
        lasted = None if self._connected_at is None else now - self._connected_at
        self._connected_at = None
        if getattr(reason, "value", None) == _SESSION_TAKEN_OVER:
            self._taken.failed(
                "%s: the broker gave this client's session (client id %r) to another client that connected"
                " with that id: %s; reconnecting with backoff",
                self.who,
                self.client_id,
                self.shared or "two clients share the id",
            )
            return True
        if lasted is None or lasted >= _SHORT_S:
            self._short = 0
            if lasted is not None:
                self._taken = Spell(self._log)  # it held a while: a spell of short ones begins afresh
            return False
        self._short += 1
        if self._short < _SHORT_IN_A_ROW:
            return False
        self._taken.failed(
            "%s: the broker closes this client's connection within seconds of making it, %d times in a row"
            " (%s): most likely another client connects with the same client id %r: %s; else the broker"
            " refuses what it sends (a message over its max_packet_size) or restarts again and again;"
            " reconnecting with backoff",
            self.who,
            self._short,
            reason,
            self.client_id,
            self.shared or "two clients share the id",
        )
        return True


#: Who shares a hub's client id when the broker hands its session to another (LinkWatch's ``shared``).
HUBS_SHARING_AN_ID = "two hubs on one broker have the same [mqtt] client_id (hub.toml): give each its own"
#: MQTT 5's reason for a DISCONNECT the broker sends when another client connects with the same client id.
_SESSION_TAKEN_OVER = 0x8E
#: A connection the broker closes within this many seconds of making it is cut short; so many in a row are
#: said (see LinkWatch.lost): two clients with one id take the session from each other every second or two.
_SHORT_S = 5.0
_SHORT_IN_A_ROW = 5


def _why_unreachable(host: str, port: int) -> str:
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"{host} does not resolve: {exc.strerror or exc}"
    try:
        socket.create_connection((host, port), timeout=2.0).close()
    except OSError as exc:
        return exc.strerror or str(exc) or exc.__class__.__name__
    return "its TCP port answers, the MQTT connection failed: TLS, or not an MQTT broker"
