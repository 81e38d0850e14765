"""Per-track state that forgets: each analyser keeps a little state per track id, bounded in time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["TrackStates"]

S = TypeVar("S")


class TrackStates(Generic[S]):
    """Track id → state, dropping tracks not seen for ``forget_after_s`` seconds of stream time.

    ``forget_after_s`` must exceed the tracker's lost buffer, so a track that is recovered after an
    occlusion still finds its state here.
    """

    def __init__(self, factory: Callable[[], S], forget_after_s: float) -> None:
        self._factory = factory
        self._forget_after_s = forget_after_s
        self._states: dict[int, S] = {}
        self._last_seen: dict[int, float] = {}

    def get(self, track_id: int, timestamp: float) -> S:
        """The track's state (new if unknown), marked as seen at ``timestamp``."""
        state = self._states.get(track_id)
        if state is None:
            state = self._states[track_id] = self._factory()
        self._last_seen[track_id] = timestamp
        return state

    def peek(self, track_id: int) -> S | None:
        """The track's state, or ``None``; does not mark it as seen."""
        return self._states.get(track_id)

    def expire(self, timestamp: float) -> list[tuple[int, S, float]]:
        """Remove and return (id, state, last seen) of every track unseen for longer than the limit."""
        stale = [tid for tid, seen in self._last_seen.items() if timestamp - seen > self._forget_after_s]
        return [(tid, self._states.pop(tid), self._last_seen.pop(tid)) for tid in stale]

    def drain(self) -> list[tuple[int, S, float]]:
        """Remove and return every track (end of stream)."""
        out = [(tid, state, self._last_seen[tid]) for tid, state in self._states.items()]
        self._states.clear()
        self._last_seen.clear()
        return out

    def __len__(self) -> int:
        return len(self._states)

    def __iter__(self) -> Iterator[int]:
        return iter(self._states)
