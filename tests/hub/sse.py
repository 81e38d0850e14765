"""A small Server-Sent Events client over real HTTP, for tests of the live stream."""

from __future__ import annotations

import queue
import threading
import time

import httpx
import pytest

__all__ = ["SseClient"]


class SseClient:
    """Reads one SSE stream in a thread; frames (dicts of field → value) arrive on ``frames``."""

    def __init__(self, url: str, secret: str, last_event_id: str | None = None) -> None:
        self.frames: queue.Queue[dict[str, str] | None] = queue.Queue()
        self.status: int | None = None
        self.error: httpx.TransportError | None = None
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(url, secret, last_event_id), daemon=True)
        self._thread.start()
        assert self._opened.wait(10), "the stream did not open"
        if self.status == 200:
            # the stream's first frame comes after its starting point is set: events stored from now on
            # are the stream's news (the 200 itself is sent before that)
            first = self.frames.get(timeout=20)
            assert first is not None and "retry" in first, first

    def _read(self, url: str, secret: str, last_event_id: str | None) -> None:
        headers = {"Authorization": f"Bearer {secret}", "Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        try:
            with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(30.0)) as answer:
                self.status = answer.status_code
                self._opened.set()
                frame: dict[str, str] = {}
                for line in answer.iter_lines():
                    if not line:
                        if frame:
                            self.frames.put(frame)
                        frame = {}
                    elif not line.startswith(":"):
                        name, _, value = line.partition(":")
                        frame[name] = value.strip()
        except httpx.TransportError as exc:  # the server went away mid-stream: closed, less politely
            self.error = exc
        finally:
            self._opened.set()
            self.frames.put(None)  # the stream is closed

    def until_closed(self, timeout: float) -> list[dict[str, str]]:
        """Every frame up to the end of the stream; fails if it is still open after ``timeout`` s."""
        got: list[dict[str, str]] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                frame = self.frames.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                pytest.fail(f"the stream is still open after {timeout} s; frames so far: {got}")
            if frame is None:
                return got
            got.append(frame)

    def next_event(self, timeout: float) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self.frames.get(timeout=max(deadline - time.monotonic(), 0.01))
            assert frame is not None, "the stream closed"
            if "event" in frame:
                return frame
        pytest.fail("no event arrived")
