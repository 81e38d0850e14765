"""Where an edge pipeline hands its events: the publisher interface and its simple implementations.

The edge's MQTT outbox (:mod:`citytally.transport.outbox`) implements the same :class:`Publisher`
protocol, so the pipeline never knows whether its events go to a file, to memory (tests) or to a durable
outbox in front of a broker.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Protocol, runtime_checkable

from citytally.errors import StoreError
from citytally.events import Event, event_to_json

__all__ = ["Publisher", "JsonlPublisher", "MemoryPublisher", "FanoutPublisher"]


@runtime_checkable
class Publisher(Protocol):
    """Takes events in order. ``publish`` must not lose an event once it has returned."""

    def publish(self, event: Event) -> None: ...

    def close(self) -> None: ...


class JsonlPublisher:
    """Appends each event as one JSON line, flushed at once, so a crash loses at most a partial line.

    A write the disk refuses (full, or over a size limit) is not raised into the pipeline: the line is
    cut back off, the file closed, and every event from then on counted in :attr:`lost`; :attr:`error`
    says what happened, for the run to report once it has stopped. The file holds whole lines only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = path.open("a", encoding="utf-8")
        self.error: StoreError | None = None
        self.lost = 0

    def publish(self, event: Event) -> None:
        if self._file is None:
            self.lost += 1
            return
        line = event_to_json(event) + "\n"
        whole: int | None = None  # the file's length before this line (each line is flushed at once)
        try:
            whole = os.fstat(self._file.fileno()).st_size
            self._file.write(line)
            self._file.flush()
        except OSError as exc:
            self.lost += 1
            self._fail(exc, whole)

    def _fail(self, exc: OSError, whole: int | None) -> None:
        self.error = StoreError(f"{self.path}: cannot write the events: {exc.strerror or exc}")
        file, self._file = self._file, None
        if file is None:
            return
        with contextlib.suppress(OSError):  # what was buffered is the line being cut off anyway
            file.close()
        if whole is not None:
            with contextlib.suppress(OSError):
                os.truncate(self.path, whole)  # no half line: the file ends with the last whole event

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError as exc:
                self._fail(exc, None)


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

    @property
    def error(self) -> StoreError | None:
        """The first refusal of a publisher that keeps one (a JSONL file whose disk is full)."""
        found = (getattr(publisher, "error", None) for publisher in self.publishers)
        return next((error for error in found if isinstance(error, StoreError)), None)
