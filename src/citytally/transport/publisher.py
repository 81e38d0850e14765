"""Where an edge pipeline hands its events: the publisher interface and its simple implementations.

The edge's MQTT outbox (:mod:`citytally.transport.outbox`) implements the same :class:`Publisher`
protocol, so the pipeline never knows whether its events go to a file, to memory (tests) or to a durable
outbox in front of a broker.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Protocol, runtime_checkable

from citytally.events import Event, event_to_json

__all__ = ["Publisher", "JsonlPublisher", "MemoryPublisher", "FanoutPublisher"]


@runtime_checkable
class Publisher(Protocol):
    """Takes events in order. ``publish`` must not lose an event once it has returned."""

    def publish(self, event: Event) -> None: ...

    def close(self) -> None: ...


class JsonlPublisher:
    """Appends each event as one JSON line, flushed at once, so a crash loses at most a partial line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("a", encoding="utf-8")

    def publish(self, event: Event) -> None:
        self._file.write(event_to_json(event) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class MemoryPublisher:
    """Keeps events in a list: for tests and for the in-process demo bus."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, event: Event) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass


class FanoutPublisher:
    """Hands every event to several publishers in turn (e.g. a JSONL file and the outbox)."""

    def __init__(self, *publishers: Publisher) -> None:
        self.publishers = publishers

    def publish(self, event: Event) -> None:
        for publisher in self.publishers:
            publisher.publish(event)

    def close(self) -> None:
        for publisher in reversed(self.publishers):
            publisher.close()
