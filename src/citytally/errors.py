"""The package's one exception hierarchy.

Every error a user can cause or meet (bad config, a broken video, an unreachable broker) is a subclass of
:class:`CitytallyError`, and its message says in one line what is wrong and where.
"""

from __future__ import annotations

__all__ = [
    "CitytallyError",
    "ConfigError",
    "SourceError",
    "DetectorError",
    "SchemaError",
    "TransportError",
    "StoreError",
    "AuthError",
    "SignalError",
    "PrivacyError",
]


class CitytallyError(Exception):
    """Base class of every error citytally raises on purpose."""


class ConfigError(CitytallyError):
    """A configuration file or value is invalid; the message names the file and the field."""


class SourceError(CitytallyError):
    """A video source cannot be opened or read (missing, corrupt, truncated, unreachable)."""


class DetectorError(CitytallyError):
    """A detector model cannot be loaded or does not have the expected layout."""


class SchemaError(CitytallyError):
    """An event or message does not match the documented schema."""


class TransportError(CitytallyError):
    """The message bus (MQTT broker) cannot be reached or refused a message."""


class StoreError(CitytallyError):
    """The database cannot be reached or refused a write."""


class AuthError(CitytallyError):
    """A token is missing, unknown, expired or lacks the role an action needs."""


class SignalError(CitytallyError):
    """A traffic-signal controller or simulation cannot run as asked."""


class PrivacyError(CitytallyError):
    """An action would cross citytally's privacy boundary and was refused."""
