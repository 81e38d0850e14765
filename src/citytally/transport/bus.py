"""The in-process bus: the demo's transport, when edge and hub run in one process and no broker is wanted.

It is a :class:`citytally.transport.publisher.Publisher`: ``publish`` hands the event to every subscriber
in order and returns once they all have it; the embedded hub subscribes its store writer
(:mod:`citytally.hub.embedded`), so a returned ``publish`` means the event is committed (the Publisher
promise: nothing lost once returned).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from citytally.events import Event

__all__ = ["InProcessBus", "Subscriber"]

Subscriber = Callable[[Event], None]


class InProcessBus:
    """Synchronous fan-out of events to subscribers; safe to publish from several threads."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self._closed = False

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call ``subscriber(event)`` for every event published from now on."""
        with self._lock:
            self._subscribers.append(subscriber)

    def publish(self, event: Event) -> None:
        """Hand ``event`` to each subscriber in subscription order; a subscriber's error propagates."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the in-process bus is closed")
            subscribers = list(self._subscribers)
            for subscriber in subscribers:
                subscriber(event)

    def close(self) -> None:
        with self._lock:
            self._closed = True
