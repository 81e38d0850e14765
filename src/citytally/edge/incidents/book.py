"""The life of an incident: onset, updates, clearance, as :class:`~citytally.events.IncidentEvent` objects.

A detector says, frame by frame, which of its incidents hold now (:meth:`IncidentBook.hold`); the book opens
an incident the first time (an ``onset`` event), reports a change of severity at once, a change of its
numbers at most every ``update_s`` and, while nothing changes, the incident again every
:data:`~citytally.events.INCIDENT_ALIVE_S` (``update`` events: a hub that hears nothing longer knows the edge
went away), and clears it once it has not held for ``clear_s`` (a ``cleared`` event whose ``end`` is the
last time it held). Keys name an incident inside the edge only
(a zone, or an internal counter): what leaves is a random ``incident_id`` (for a recording with a start
time, one derived from the camera, rule, kind, zone, start and how many the book had opened before:
:class:`~citytally.events.EventIds`).
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from citytally.events import INCIDENT_ALIVE_S, EventIds, IncidentEvent, IncidentType

__all__ = ["IncidentBook", "Severity"]

Severity = str
_MIN_SPAN = timedelta(milliseconds=1)
_ALIVE = timedelta(seconds=INCIDENT_ALIVE_S)
Details = dict[str, float | int | str]


@dataclass
class _Open:
    incident_id: uuid.UUID
    start: datetime
    last_held: datetime
    severity: str
    details: Details
    published: datetime
    published_details: Details = field(default_factory=dict)
    observed: datetime | None = None  # the latest observation behind it, if earlier than last_held


class IncidentBook:
    """Open incidents of one detector (one kind, one zone) and the events that report them."""

    def __init__(
        self,
        site: str,
        camera: str,
        incident: IncidentType,
        zone: str | None,
        clear_s: float,
        update_s: float,
        ids: EventIds | None = None,
    ) -> None:
        self.site, self.camera, self.incident, self.zone = site, camera, incident, zone
        self.clear = timedelta(seconds=clear_s)
        self.update = timedelta(seconds=update_s)
        self.ids = ids or EventIds(site, camera, derived=False)
        self._open: dict[Hashable, _Open] = {}
        self._opened = 0  # incidents opened so far (a recording's ids count them)

    def __len__(self) -> int:
        return len(self._open)

    def is_open(self, key: Hashable) -> bool:
        return key in self._open

    def hold(
        self,
        key: Hashable,
        at: datetime,
        started: datetime,
        severity: str,
        details: Mapping[str, float | int | str],
        changed_kind: bool = False,
        observed: datetime | None = None,
    ) -> list[IncidentEvent]:
        """The incident ``key`` holds at ``at`` (it began at ``started``): onset or update events, if due.

        ``changed_kind``: the incident changed in kind (e.g. a crowd's level of service), not just in its
        numbers: updated at once, like a change of severity. ``observed``: when the condition was last
        actually seen, if the detector holds it on beyond that (a vehicle lost from view): the clearance's
        ``end`` is then that time.
        """
        current = self._open.get(key)
        if current is None:
            start = min(started, at)
            incident_id = self.ids.make(
                "incident", self.incident, self.zone or "", str(self._opened), start.isoformat()
            )
            self._opened += 1
            current = _Open(incident_id, start, at, severity, dict(details), at)
            self._open[key] = current
            current.observed = observed
            current.published_details = dict(details)
            return [self._event(current, "onset", at)]
        current.last_held, current.details, current.observed = at, dict(details), observed
        escalated = severity != current.severity
        current.severity = severity
        changed = details != current.published_details
        quiet = at - current.published
        if escalated or changed_kind or (changed and quiet >= self.update) or quiet >= _ALIVE:
            current.published, current.published_details = at, dict(details)
            return [self._event(current, "update", at)]
        return []

    def sweep(self, at: datetime) -> list[IncidentEvent]:
        """Clear every incident that has not held for ``clear_s`` (call once per frame, after ``hold``)."""
        gone = [key for key, o in self._open.items() if at - o.last_held >= self.clear]
        return [self._clear(key) for key in gone]

    def close_all(self) -> list[IncidentEvent]:
        """End of stream: clear everything still open, at the last time it held, with ``stream_ended`` 1 in
        its details (the camera stopped watching; the condition may well go on)."""
        return [self._clear(key, stream_ended=True) for key in list(self._open)]

    def _clear(self, key: Hashable, stream_ended: bool = False) -> IncidentEvent:
        current = self._open.pop(key)
        if stream_ended:
            current.details = {**current.details, "stream_ended": 1}
        return self._event(current, "cleared", current.observed or current.last_held)

    def _event(self, current: _Open, phase: str, end: datetime) -> IncidentEvent:
        end = max(end, current.start + _MIN_SPAN)
        return IncidentEvent.model_validate(
            {
                "id": self.ids.incident_event(current.incident_id, phase, end),
                "site": self.site,
                "camera": self.camera,
                "start": current.start,
                "end": end,
                "incident": self.incident,
                "zone": self.zone,
                "severity": current.severity,
                "details": current.details,
                "incident_id": current.incident_id,
                "phase": phase,
            }
        )
