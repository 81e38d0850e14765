"""End-to-end confirmation: the hub tells each edge which events it stored; nothing rests on the broker.

A broker's PUBACK only says the broker has the message. If the broker then dies before it has saved it
(Mosquitto saves every ``autosave_interval``; a ``kill -9`` loses the rest), or loses the hub's session, an
edge that deleted its copy at PUBACK has lost the event. So the edge's outbox keeps every event until the
*hub* confirms it:

* **Receipts.** After each batch is committed (stored, already stored, or dead-lettered: durably handled
  either way), the hub publishes on ``<prefix>/<site>/<camera>/ack`` the ids of that camera's events in the
  batch, at QoS 1: ``{"v": 1, "ids": ["…", …]}`` (at most :data:`MAX_IDS_PER_RECEIPT` ids a message). The
  outbox subscribes to the ack topic of each camera it serves and deletes the events named.
* **Presence.** The hub keeps a retained message on ``<prefix>/hub/presence``: ``{"v": 1, "online": true,
  "since": …}`` while connected, ``{"online": false}`` as its will (the broker publishes it when the hub
  dies) and when it stops. An outbox re-sends unconfirmed events only while the hub is online, once it has
  been online for the re-send timeout (so a hub draining its queue after a restart is not flooded with
  copies), and backs off while nothing is confirmed.
* **Exactly once.** Re-sent events are duplicates only for the hub's store, which inserts by event id
  (``ON CONFLICT DO NOTHING``) and confirms duplicates too, so an edge that missed a receipt (it was
  offline) gets another one after its re-send.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = [
    "MAX_IDS_PER_RECEIPT",
    "Receipt",
    "HubPresence",
    "ack_topic",
    "presence_topic",
    "online",
    "offline",
    "event_ids_in",
    "receipts_for",
    "ResendPlanner",
]

#: Ids per receipt message: 2,000 UUIDs are about 80 KB of JSON.
MAX_IDS_PER_RECEIPT = 2000

# The top-level "id" of each event in a message (one event or an array). The hub has parsed and stored the
# batch already; this only finds the ids again to confirm them, without a second full parse. A nested
# "id" key matching too would only confirm an id no edge holds.
_ID = re.compile(
    rb'"id"\s*:\s*"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"'
)


class Receipt(BaseModel):
    """The hub's confirmation of stored events of one camera."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = Field(default=1, ge=1, le=1, description="Receipt message version.")
    ids: list[str] = Field(max_length=MAX_IDS_PER_RECEIPT, description="Event ids the hub has stored.")


class HubPresence(BaseModel):
    """Whether the hub is connected (retained; the broker publishes the offline one if the hub dies)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = Field(default=1, ge=1, le=1, description="Presence message version.")
    online: bool = Field(description="True while the hub is connected and subscribed.")
    since: AwareDatetime | None = Field(default=None, description="When it connected (online only).")


def ack_topic(events_topic: str) -> str:
    """The receipt topic of the camera whose events go to ``events_topic`` (``…/events`` → ``…/ack``)."""
    base, _, last = events_topic.rpartition("/")
    if last != "events" or not base:
        raise ValueError(f"{events_topic!r} is not an events topic")
    return f"{base}/ack"


def presence_topic(prefix: str) -> str:
    """Where the hub's retained presence lives."""
    return f"{prefix}/hub/presence"


def online(since: datetime) -> bytes:
    """The presence payload of a hub connected since ``since``."""
    return HubPresence(online=True, since=since).model_dump_json().encode()


def offline() -> bytes:
    """The presence payload of a hub that is gone."""
    return HubPresence(online=False).model_dump_json().encode()


def event_ids_in(payload: bytes) -> list[str]:
    """The event ids in one message's payload (lower case)."""
    return [match.decode("ascii").lower() for match in _ID.findall(payload)]


def receipts_for(messages: Iterable[tuple[str, bytes]]) -> Iterator[tuple[str, bytes]]:
    """``(ack topic, receipt payload)`` for a committed batch of ``(events topic, payload)`` messages."""
    by_topic: dict[str, list[str]] = {}
    for topic, payload in messages:
        try:
            target = ack_topic(topic)
        except ValueError:
            continue
        by_topic.setdefault(target, []).extend(event_ids_in(payload))
    for target, ids in by_topic.items():
        for start in range(0, len(ids), MAX_IDS_PER_RECEIPT):
            chunk = ids[start : start + MAX_IDS_PER_RECEIPT]
            yield target, json.dumps({"v": 1, "ids": chunk}, separators=(",", ":")).encode()


class ResendPlanner:
    """When an outbox re-sends what the hub has not confirmed (pure bookkeeping; the outbox sends).

    The outbox tells it how far it has handed rows to the broker (:meth:`handed`), what the hub's presence
    says (:meth:`presence`) and when a receipt arrives (:meth:`confirmed`). :meth:`start_sweep` then says
    whether to re-send, now, every row up to some seq: the rows first handed over at least ``resend_after_s``
    ago. Never while the hub is known to be offline; not before the hub has been online ``resend_after_s``
    (it may still be draining its queue); and sweeps that confirm nothing back off (×2, up to ×64).
    """

    def __init__(self, resend_after_s: float) -> None:
        if resend_after_s <= 0:
            raise ValueError("resend_after_s must be positive")
        self.resend_after_s = resend_after_s
        self.hub_online: bool | None = (
            None  # None: no presence seen yet (an old hub, or a broker that lost it)
        )
        self._online_since: float | None = None
        self._since_value: datetime | None = None
        self._marks: list[tuple[float, int]] = []
        self._due = 0.0
        self._backoff = 0

    def handed(self, now: float, last_seq: int) -> None:
        """Rows up to ``last_seq`` have now been handed to the broker at least once."""
        if not self._marks or self._marks[-1][1] != last_seq:
            self._marks.append((now, last_seq))

    def presence(self, now: float, message: HubPresence) -> None:
        if message.online and (self.hub_online is not True or message.since != self._since_value):
            self._online_since = now
        self.hub_online, self._since_value = message.online, message.since

    def confirmed(self) -> None:
        """A receipt arrived: the hub is working, so the next sweep need not wait longer than usual."""
        self._backoff = 0

    def start_sweep(self, now: float, oldest_seq: int | None) -> int | None:
        """The seq up to which to re-send now, or None. ``oldest_seq``: the oldest row still queued."""
        if oldest_seq is None or self.hub_online is False or now < self._due:
            return None
        if self._online_since is not None and now - self._online_since < self.resend_after_s:
            return None
        cutoff = now - self.resend_after_s
        old = [mark for mark in self._marks if mark[0] <= cutoff]
        if not old:
            return None
        self._marks = [old[-1]] + [mark for mark in self._marks if mark[0] > cutoff]
        upto = old[-1][1]
        if oldest_seq > upto:
            return None
        self._due = now + self.resend_after_s * 2**self._backoff
        self._backoff = min(self._backoff + 1, 6)
        return upto
