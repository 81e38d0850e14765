"""Bounds on one transport message, checked before and while it is parsed: no message can stall ingest.

A message is refused as a whole (one dead letter, kind ``too_large``) when it is longer than ``max_bytes``
(checked before parsing), is an array of more than ``max_events`` elements, or nests deeper than
``max_depth`` (checked on the parsed document; the parser, orjson, has its own hard limit of 1,024 levels
and never recurses in Python, so a 1,000-deep array cannot raise ``RecursionError``). An event whose
interval lies outside a window around the time the message was received (``max_past`` before, ``max_future``
after) is refused with kind ``time_window``: a clock set to year 9999 would otherwise make its events the
"latest data" for ever.

The deepest valid message is an array of speed events: array, event, speeds, direction, class, stats: six
levels. Measured on this machine (bench/hub_ingest.py is the place for throughput): orjson parses a 1.6 MB
array of 200,000 small objects in about 0.1 s, so even the slow path stays cheap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

__all__ = ["MessageLimits", "MessageRefused", "json_depth"]

#: What a message over ``max_bytes`` keeps of itself in its dead letter (the reason gives the full size).
KEPT_BYTES = 64 * 1024


class MessageRefused(Exception):
    """One message refused as a whole: ``kind`` is its dead-letter kind, ``reason`` one line."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def json_depth(document: Any, stop: int) -> int:
    """How deeply ``document`` nests (a scalar is 0, ``[]`` is 1); counting stops just past ``stop``.

    Level by level, without recursion, so any depth the parser allowed is safe to measure.
    """
    depth = 0
    level = [document]
    while depth <= stop:
        children: list[Any] = []
        for item in level:
            if isinstance(item, dict):
                children.extend(item.values())
            elif isinstance(item, list):
                children.extend(item)
            else:
                continue
            children.append(None)  # an empty container still counts as a level
        if not children:
            return depth
        depth += 1
        level = children
    return depth


@dataclass(frozen=True, slots=True)
class MessageLimits:
    """Per-message bounds for :class:`~citytally.hub.store.EventWriter` (see the module docstring).

    ``max_past``/``max_future`` of ``None`` leave that side of the time window open.
    """

    max_bytes: int = 4 * 1024 * 1024
    max_events: int = 10_000
    max_depth: int = 16
    max_past: timedelta | None = None
    max_future: timedelta | None = None

    def __post_init__(self) -> None:
        if min(self.max_bytes, self.max_events, self.max_depth) < 1:
            raise ValueError(f"message limits must be at least 1: {self}")
        for window in (self.max_past, self.max_future):
            if window is not None and window < timedelta(0):
                raise ValueError(f"a time window cannot be negative: {self}")

    def check_size(self, payload: bytes) -> None:
        """Refuse a payload longer than ``max_bytes`` (before anything parses it)."""
        if len(payload) > self.max_bytes:
            raise MessageRefused(
                "too_large", f"the message has {len(payload)} bytes; the limit is {self.max_bytes}"
            )

    def may_hold_too_many(self, payload: bytes) -> bool:
        """False when ``payload`` surely holds at most ``max_events`` array elements (fewer commas)."""
        return payload.count(b",") >= self.max_events

    def parse(self, payload: bytes) -> Any:
        """Parse ``payload`` as JSON within the bounds, or raise :class:`MessageRefused`."""
        try:
            document = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            if "recursion" in str(exc) or "depth" in str(exc):
                raise MessageRefused(
                    "too_large", f"the message nests deeper than {self.max_depth} levels"
                ) from exc
            document = _lenient_loads(payload, exc)
        if isinstance(document, list) and len(document) > self.max_events:
            raise MessageRefused(
                "too_large", f"an array of {len(document)} elements; the limit is {self.max_events} events"
            )
        if json_depth(document, self.max_depth) > self.max_depth:
            raise MessageRefused("too_large", f"the message nests deeper than {self.max_depth} levels")
        return document

    def outside_window(self, start: datetime, end: datetime, received_at: datetime) -> str | None:
        """Why an event interval lies outside the window around ``received_at``, or ``None`` if inside."""
        if self.max_future is not None and end > received_at + self.max_future:
            return (
                f"the interval ends {end.isoformat()}, more than {_span(self.max_future)} after it was "
                f"received ({received_at.isoformat()}): is the edge's clock right?"
            )
        if self.max_past is not None and start < received_at - self.max_past:
            return (
                f"the interval starts {start.isoformat()}, more than {_span(self.max_past)} before it was "
                f"received ({received_at.isoformat()})"
            )
        return None


def _lenient_loads(payload: bytes, refusal: orjson.JSONDecodeError) -> Any:
    """Python's reader, for what orjson refuses but JSON writers emit (NaN, Infinity: the schema check then
    names them); its own failures, ``RecursionError`` and the 4,300-digit integer limit included, are
    answered with orjson's reason."""
    try:
        return json.loads(payload)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise MessageRefused("not_json", f"not JSON: {refusal}") from refusal


def _span(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    if seconds % 86400 == 0 and seconds:
        return f"{seconds // 86400} days"
    return f"{seconds} s"
