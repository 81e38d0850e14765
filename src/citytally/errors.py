"""The package's one exception hierarchy.

Every error a user can cause or meet (bad config, a broken video, an unreachable broker) is a subclass of
:class:`CitytallyError`, and its message says in one line what is wrong and where. A failure that repeats
until something outside is mended (a full disk, a database down) is said by a :class:`Spell`: when it
begins, once a minute while it lasts, and when it ends, not once per try.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

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
    "Spell",
    "Throttle",
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


class Spell:
    """A spell of one failure that repeats, logged as one line when it begins, one line every ``every_s``
    while it lasts (how long, how many tries) and one line when it ends.

    A loop that retries every second would otherwise write 3,600 lines an hour into an edge's or hub's log.
    """

    def __init__(
        self, log: logging.Logger, every_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.log = log
        self.every_s = every_s
        self.clock = clock
        self.since: float | None = None  # when the spell began (clock seconds); None while all is well
        self._said = 0.0
        self._tries = 0

    @property
    def active(self) -> bool:
        return self.since is not None

    def due(self) -> bool:
        """Whether the next :meth:`failed` would be said (to spare work only the line needs)."""
        return self.since is None or self.clock() - self._said >= self.every_s

    def failed(self, message: str, *args: object, level: int = logging.ERROR) -> None:
        """One more failure: said if it begins a spell, or ``every_s`` after the last line said."""
        now = self.clock()
        self._tries += 1
        if self.since is None:
            self.since, self._said, self._tries = now, now, 1
            self.log.log(level, message, *args)
        elif now - self._said >= self.every_s:
            self._said = now
            elapsed, tries = now - self.since, self._tries
            self.log.log(level, message + " (for %.0f s, %d times)", *args, elapsed, tries)

    def ended(self, message: str, *args: object) -> None:
        """Things work again: said (with how long it lasted) if a spell was on."""
        if self.since is None:
            return
        elapsed = self.clock() - self.since
        self.since = None
        self.log.warning(message + " (it lasted %.0f s)", *args, elapsed)


class Throttle:
    """At most one line every ``every_s`` of a failure with no end to say (one every request meets, while a
    database is out of reach): ``throttle.log(logger, message, *args)``."""

    def __init__(self, every_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s = every_s
        self.clock = clock
        self._said: float | None = None

    def log(self, logger: logging.Logger, message: str, *args: object, level: int = logging.ERROR) -> None:
        now = self.clock()
        if self._said is None or now - self._said >= self.every_s:
            self._said = now
            logger.log(level, message, *args)
