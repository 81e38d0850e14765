"""Fixtures for the transport tests: the hub tests' real Mosquitto, stores and registry builders.

The outbox's tests follow events all the way into a hub store, so they reuse the hub's fixtures.
"""

from __future__ import annotations

from hub.conftest import (
    make_registry,
    mqtt_client,
    mqtt_prefix,
    pg_engine,
    pg_url,
    private_broker,
    sqlite_engine,
)

__all__ = [
    "make_registry",
    "mqtt_client",
    "mqtt_prefix",
    "pg_engine",
    "pg_url",
    "private_broker",
    "sqlite_engine",
]
