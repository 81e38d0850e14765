"""Signed checkpoints of the audit chain's head, kept outside the database.

The hash chain (:mod:`citytally.hub.audit`) shows a row altered or deleted in the middle, but someone who
can write the database can delete the *newest* rows and set the head row back to the last kept one: the
shortened chain is still a valid chain. A checkpoint pins the head from outside: every
``interval_s`` seconds (and when the hub stops) the hub appends one line to a file — the head's seq and
hash, the time and an HMAC-SHA256 over them with a key from ``$CITYTALLY_AUDIT_KEY`` — and logs the same
line (so a log shipper can keep a copy elsewhere). The key is never in the database, so whoever rewrites
the database cannot forge a checkpoint; keep the file on storage the database's users cannot rewrite
(another machine, an append-only mount, a log server).

``citytally audit verify --checkpoints FILE`` checks every line's signature, then that each checkpointed
row still has the recorded hash and that the chain reaches at least the newest checkpoint. Rows newer than
the newest checkpoint are covered only by the chain itself: the interval is the window of exposure.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from citytally.errors import ConfigError, StoreError
from citytally.hub.access_tables import audit_head_table, audit_log_table

__all__ = [
    "AUDIT_KEY_ENV",
    "AuditSettings",
    "Checkpoint",
    "CheckpointReport",
    "AuditCheckpointer",
    "audit_key",
    "write_checkpoint",
    "read_checkpoints",
    "verify_checkpoints",
]

log = logging.getLogger(__name__)

AUDIT_KEY_ENV = "CITYTALLY_AUDIT_KEY"
_MIN_KEY_CHARS = 32


class AuditSettings(BaseModel):
    """Where and how often the hub checkpoints the audit chain's head (the key comes from the environment)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    checkpoint_file: Path | None = Field(
        default=None,
        description=f"Append signed checkpoints here (needs ${AUDIT_KEY_ENV}); None: no checkpoints.",
    )
    checkpoint_interval_s: float = Field(
        default=60.0,
        ge=1.0,
        le=86_400.0,
        description="Seconds between checkpoints (only when the head moved).",
    )


def audit_key() -> bytes:
    """The checkpoint key from ``$CITYTALLY_AUDIT_KEY``; :class:`ConfigError` if unset or too short."""
    key = os.environ.get(AUDIT_KEY_ENV, "")
    if len(key) < _MIN_KEY_CHARS:
        raise ConfigError(
            f"${AUDIT_KEY_ENV} must hold a secret of at least {_MIN_KEY_CHARS} characters to sign or check "
            "audit checkpoints (e.g. `openssl rand -hex 32`)"
        )
    return key.encode("utf-8")


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _mac(key: bytes, seq: int, digest: str, at: str) -> str:
    return hmac.new(
        key, f"citytally-audit-checkpoint:{seq}:{digest}:{at}".encode(), hashlib.sha256
    ).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    """The chain's head at one moment: the newest ``seq`` and its ``hash``, signed."""

    seq: int
    hash: str
    at: str
    mac: str

    def line(self) -> str:
        return json.dumps(
            {"seq": self.seq, "hash": self.hash, "at": self.at, "mac": self.mac}, separators=(",", ":")
        )


@dataclass(frozen=True)
class CheckpointReport:
    """Result of :func:`verify_checkpoints`: ``ok``, or the first problem and the seq it concerns."""

    ok: bool
    checkpoints: int
    newest_seq: int | None
    broken_at: int | None = None
    reason: str | None = None


def _head(engine: sa.Engine) -> tuple[int, str] | None:
    h = audit_head_table
    with engine.connect() as conn:
        row = conn.execute(sa.select(h.c.last_seq, h.c.last_hash).where(h.c.id == 1)).first()
    return None if row is None or int(row.last_seq) == 0 else (int(row.last_seq), str(row.last_hash))


def _last_line(path: Path) -> str | None:
    if not path.is_file():
        return None
    with path.open("rb") as file:
        lines = file.read().splitlines()
    return lines[-1].decode("utf-8", "replace") if lines else None


def write_checkpoint(
    engine: sa.Engine, path: Path, key: bytes, now: datetime | None = None
) -> Checkpoint | None:
    """Append a checkpoint of the current head to ``path`` (fsync'd) and log it; ``None`` if nothing new.

    Nothing is written when the log is empty or the head has not moved since the file's last line.
    """
    head = _head(engine)
    if head is None:
        return None
    last = _last_line(path)
    if last is not None:
        try:
            if int(json.loads(last)["seq"]) == head[0]:
                return None
        except (ValueError, KeyError, TypeError):
            pass  # a damaged last line: append a fresh checkpoint; verification reports the damage
    at = _iso(now or datetime.now(UTC))
    checkpoint = Checkpoint(seq=head[0], hash=head[1], at=at, mac=_mac(key, head[0], head[1], at))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("a", encoding="utf-8") as file:
            file.write(checkpoint.line() + "\n")
            file.flush()
            os.fsync(file.fileno())
    except OSError as exc:
        raise StoreError(f"{path}: cannot append an audit checkpoint: {exc.strerror}") from exc
    log.info("audit checkpoint %s", checkpoint.line())
    return checkpoint


def read_checkpoints(path: Path, key: bytes) -> list[Checkpoint]:
    """Every checkpoint in ``path``, oldest first; :class:`StoreError` naming the first bad line."""
    if not path.is_file():
        raise StoreError(f"{path}: no such checkpoint file")
    found: list[Checkpoint] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: not a checkpoint file ({exc.__class__.__name__}: {exc})") from None
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
            checkpoint = Checkpoint(
                seq=int(data["seq"]), hash=str(data["hash"]), at=str(data["at"]), mac=str(data["mac"])
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"{path}:{number}: not a checkpoint line ({exc.__class__.__name__})") from None
        if not hmac.compare_digest(checkpoint.mac, _mac(key, checkpoint.seq, checkpoint.hash, checkpoint.at)):
            raise StoreError(
                f"{path}:{number}: the signature does not match (forged, altered or another key)"
            )
        if found and checkpoint.seq < found[-1].seq:
            raise StoreError(f"{path}:{number}: seq {checkpoint.seq} is older than the line before it")
        found.append(checkpoint)
    return found


def verify_checkpoints(engine: sa.Engine, checkpoints: list[Checkpoint]) -> CheckpointReport:
    """Check the stored chain against signed checkpoints: each kept row has its recorded hash, and the
    chain reaches the newest checkpoint (rows deleted from the end and the head set back are found here)."""
    if not checkpoints:
        return CheckpointReport(True, 0, None)
    log_t = audit_log_table
    with engine.connect() as conn:
        first = conn.execute(sa.select(sa.func.min(log_t.c.seq))).scalar()
        last = conn.execute(sa.select(sa.func.max(log_t.c.seq))).scalar()
        newest = checkpoints[-1]
        if last is None or int(last) < newest.seq:
            ends = "no rows" if last is None else f"row {last}"
            reason = (
                f"the chain ends at {ends} but a checkpoint of {newest.at} recorded row {newest.seq}: "
                "the newest rows were deleted"
            )
            return CheckpointReport(False, len(checkpoints), newest.seq, newest.seq, reason)
        for checkpoint in checkpoints:
            if first is not None and checkpoint.seq < int(first):
                continue  # pruned by retention; verify_chain checks the anchor that covers it
            stored = conn.execute(sa.select(log_t.c.hash).where(log_t.c.seq == checkpoint.seq)).scalar()
            if stored != checkpoint.hash:
                what = "is missing" if stored is None else "has another hash than it recorded"
                reason = f"row {checkpoint.seq}, checkpointed at {checkpoint.at}, {what}"
                return CheckpointReport(False, len(checkpoints), newest.seq, checkpoint.seq, reason)
    return CheckpointReport(True, len(checkpoints), newest.seq)


class AuditCheckpointer:
    """Writes a checkpoint every ``interval_s`` in a background thread, and a last one on :meth:`stop`."""

    def __init__(self, engine: sa.Engine, path: Path, key: bytes, interval_s: float = 60.0) -> None:
        self.engine = engine
        self.path = path
        self.key = key
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="citytally-audit-checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        self._checkpoint()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._checkpoint()

    def _checkpoint(self) -> None:
        try:
            write_checkpoint(self.engine, self.path, self.key)
        except (StoreError, sa.exc.SQLAlchemyError) as exc:
            log.error("audit checkpoint not written: %s", exc)
