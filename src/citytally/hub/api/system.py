"""``/health`` (anyone) and ``/metrics`` (operators): is the hub alive, and how is ingest doing."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from citytally.hub.access import Principal, public, require_role
from citytally.hub.api.deps import EngineDep
from citytally.hub.api.errors import ERROR_RESPONSES
from citytally.hub.metrics import HubMetrics, IngestProgress, ingest_lag_seconds
from citytally.hub.store.damage import Damage, damage

__all__ = ["router", "Health"]

router = APIRouter(tags=["system"], responses=ERROR_RESPONSES)


class Health(BaseModel):
    status: Literal["ok", "degraded", "stalled"] = Field(
        description="'degraded' when the database cannot be reached or is damaged, or the broker has not "
        "been for 30 s (no event can arrive); 'stalled' when messages have waited longer than "
        "ingest.stall_after_s with no batch stored."
    )
    database: Literal["ok", "unreachable", "not_answering", "damaged"] = Field(
        description="'unreachable' when it refuses or fails the read; 'not_answering' when the read has "
        "waited over 3 s (a database that hangs: stopped, or a lock held on the events); 'damaged' once the "
        "store has said a page or its file is damaged (SQLite's 'database disk image is malformed'): what "
        "still reads and writes goes on; recover the store."
    )
    database_problem: str | None = Field(
        None, description="What the store said of the damage, and when it was first seen; null if none."
    )
    ingest_lag_s: float | None = Field(
        None, description="Seconds since the newest event was received; null if none has arrived."
    )
    ingest_stalled_s: float = Field(
        0.0, description="Seconds messages have waited with no batch stored (0 while idle or advancing)."
    )
    ingest_waiting: int = Field(0, description="Messages received by this hub's ingest, not yet stored.")
    broker_session: Literal["present", "new", "missing"] | None = Field(
        None,
        description="Whether the broker still had the hub's session at the last connection: 'new' at a new "
        "hub's first connection to the broker, 'missing' when the broker lost it (edges re-send what the "
        "hub has not confirmed). Null before ingest has connected, or when ingest runs in another process.",
    )
    broker: Literal["connected", "disconnected"] | None = Field(
        None,
        description="Whether this hub's ingest is connected (and subscribed) to the broker now; null when "
        "ingest runs in another process.",
    )
    broker_down_s: float | None = Field(
        None, description="Seconds since ingest lost the broker, or since it began to try; null if connected."
    )


@router.get(
    "/health",
    response_model=Health,
    dependencies=[Depends(public())],
    responses={503: {"model": Health, "description": "Database or broker out of reach, or ingest stalled."}},
)
async def health(request: Request, engine: EngineDep) -> JSONResponse:
    """Liveness and readiness: the database answers, ingest advances, and how far behind it is."""
    hub_metrics: HubMetrics = request.app.state.metrics
    progress: IngestProgress = hub_metrics.ingest_progress
    stalled_s, waiting = progress.stalled_seconds(), progress.waiting
    link = hub_metrics.broker_link
    down = link.down_since if link is not None else None
    down_s = None if down is None else round(time.monotonic() - down, 1)
    broker: dict[str, Any] = {
        "broker_session": hub_metrics.broker_session,
        "broker": None if link is None else ("connected" if down_s is None else "disconnected"),
        "broker_down_s": down_s,
    }
    try:
        lag = await _probe(request, engine).lag()
    except (sa.exc.SQLAlchemyError, TimeoutError) as exc:
        damaged = damage(engine)  # the read met the damage, or the database is out of reach
        stalled = stalled_s >= progress.stall_after_s
        reach: Literal["unreachable", "not_answering"] = (
            "not_answering" if isinstance(exc, TimeoutError) else "unreachable"
        )
        body = Health(
            status="stalled" if stalled else "degraded",
            database=reach if damaged is None else "damaged",
            database_problem=None if damaged is None else _problem(damaged),
            ingest_lag_s=None,
            ingest_stalled_s=stalled_s,
            ingest_waiting=waiting,
            **broker,
        )
        return JSONResponse(body.model_dump(), status_code=503)
    stalled = stalled_s >= progress.stall_after_s
    cut_off = down_s is not None and down_s >= hub_metrics.broker_grace_s
    damaged = damage(engine)
    body = Health(
        status="stalled" if stalled else "degraded" if cut_off or damaged else "ok",
        database="ok" if damaged is None else "damaged",
        database_problem=None if damaged is None else _problem(damaged),
        ingest_lag_s=lag,
        ingest_stalled_s=stalled_s,
        ingest_waiting=waiting,
        **broker,
    )
    return JSONResponse(body.model_dump(), status_code=503 if stalled or cut_off or damaged else 200)


class _LagProbe:
    """The ingest lag read for ``/health`` with a bound on the wait. One read at a time: while a read the
    database does not answer is still waiting (in its worker thread, which cannot be called back), later
    health checks wait on it, up to :data:`HEALTH_WAIT_S` each, and start no other."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._pending: Future[float | None] | None = None

    async def lag(self) -> float | None:
        """Seconds since the newest event arrived; :class:`TimeoutError` when the database did not answer
        within :data:`HEALTH_WAIT_S`, its own error when it failed. Awaited on the event loop, its read in
        a thread of its own: with the API's worker threads all held by a hung database, it still answers."""
        with self._lock:
            if self._pending is None or self._pending.done():
                self._pending = Future()
                # a daemon thread: one the database never answers must not hold the hub's exit
                threading.Thread(target=self._read, args=(self._pending,), daemon=True).start()
            pending = self._pending
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(pending)), HEALTH_WAIT_S)
        except TimeoutError:
            raise TimeoutError(f"no answer within {HEALTH_WAIT_S:g} s") from None

    def _read(self, pending: Future[float | None]) -> None:
        try:
            pending.set_result(ingest_lag_seconds(self.engine))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting health check
            pending.set_exception(exc)


HEALTH_WAIT_S = 3.0
_probes_lock = threading.Lock()


def _probe(request: Request, engine: sa.Engine) -> _LagProbe:
    with _probes_lock:
        probe: _LagProbe | None = getattr(request.app.state, "lag_probe", None)
        if probe is None or probe.engine is not engine:
            probe = request.app.state.lag_probe = _LagProbe(engine)
        return probe


def _problem(damaged: Damage) -> str:
    return f"{damaged.problem} (since {damaged.noticed:%Y-%m-%dT%H:%M:%SZ})"


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format."}},
)
def metrics(request: Request, _who: Annotated[Principal, Depends(require_role("operator"))]) -> Response:
    """Prometheus metrics: ingest rate, lag, dead letters, API requests and latency."""
    hub_metrics: HubMetrics = request.app.state.metrics
    return Response(generate_latest(hub_metrics.registry), media_type=CONTENT_TYPE_LATEST)
