"""Every HTTP request: who is really calling (behind a trusted proxy), security headers on every answer,
and an audit entry and a measurement for each, refused and failed ones included.

Order, outermost first: :class:`SecurityHeadersMiddleware`, :class:`ClientAddressMiddleware`,
:class:`AuditMiddleware` (so the audit log and the failed-login throttle see the client address the
forwarding rules chose, and even an answer the audit middleware itself fails on carries the headers),
:class:`BodyLimitMiddleware` (a refused body is audited like any other request).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
import sqlalchemy as sa
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from citytally.errors import Throttle
from citytally.hub.access import Principal
from citytally.hub.audit import AuditEntry, append_entry
from citytally.hub.metrics import HubMetrics

__all__ = [
    "AuditMiddleware",
    "BodyLimitMiddleware",
    "MAX_BODY_BYTES",
    "ClientAddressMiddleware",
    "SecurityHeadersMiddleware",
    "CONTENT_SECURITY_POLICY",
    "SECURITY_HEADERS",
    "content_security_policy",
    "origin_of",
]

log = logging.getLogger(__name__)

#: The methods measured by name; any other (a client may send any token) is measured as ``OTHER``, so made-up
#: methods cannot add label sets without end.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: The audit log's method column holds this many characters; a longer method is cut there.
_AUDIT_METHOD_CHARS = 16
#: The audit log keeps this many characters of a request's path and of its query string (a longer one is
#: cut there and marked), so a client cannot write a row of any length it likes.
_AUDIT_TEXT_CHARS = 2000
#: The longest request body the hub reads. Its largest legitimate body, a camera's geometry, is a few kB.
MAX_BODY_BYTES = 1024 * 1024
#: How long a request waits for its audit entry to be written. A database that hangs (stopped, a lock held)
#: would otherwise hold every request, ``/health`` included, for as long as it hangs; after this the entry
#: counts as not written (a success is refused with 503, an error answer goes out).
AUDIT_WAIT_S = 5.0

_REFUSAL = "the audit log cannot be written, so nothing is served; try again later"


class _AuditRefused(Exception):
    """Raised into the app when its answer was replaced by a 503: stop producing it (a stream would not)."""


class AuditMiddleware:
    """Writes one audit entry per HTTP request *before* its answer leaves (who, what, when, status).

    "Who" is the token id and role the access dependency left on the request state, or ``anonymous``;
    the secret is never seen here. The entry is written when the app starts its response, so a successful
    answer whose entry cannot be written is replaced by a 503 and never reaches the client: no read goes
    unaudited. (A change the handler already made, e.g. a token created, stays made; the 503 says its
    entry is missing.) Error answers (4xx/5xx) disclose nothing and still go out, counted in
    ``citytally_audit_write_failures``. A request that raises is recorded with status 500. A stream
    (``text/event-stream``) gets a second entry when it closes, with how long it was open.
    """

    def __init__(self, app: ASGIApp, engine: sa.Engine, metrics: HubMetrics) -> None:
        self.app = app
        self.engine = engine
        self.metrics = metrics
        self._audit_failing = Throttle()  # a database outage fails every request: a line a minute

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})
        status = 500
        started = time.perf_counter()
        opened: int | None = None  # the seq of the entry written at response start
        answered = False
        stream = False

        async def audit_then_send(message: Message) -> None:
            nonlocal status, opened, answered, stream
            if message["type"] == "http.response.start":
                status, answered = int(message["status"]), True
                stream = _is_event_stream(message)
                opened = await self._record_within(scope, status, None)
                if opened is None and status < 400:
                    await _answer(send, 503, _REFUSAL, retry_after_s=5)
                    status = 503
                    raise _AuditRefused
            await send(message)

        try:
            await self.app(scope, receive, audit_then_send)
        except _AuditRefused:
            pass
        finally:
            self._measure(scope, status, None if stream else time.perf_counter() - started)
            # shielded: a stream ends by cancellation when the server stops, and its closing entry must
            # still be written
            with anyio.CancelScope(shield=True):
                if not answered:
                    await self._record_within(scope, status, None)
                elif stream and opened is not None:
                    closed = {"stream": "closed", "opened_seq": opened, "seconds": _seconds(started)}
                    await self._record_within(scope, status, closed)

    def _measure(self, scope: Scope, status: int, seconds: float | None) -> None:
        """Count the request; time it unless ``seconds`` is None (a live stream: its hours open are no
        request's latency, and would stretch the histogram's top bucket)."""
        route = getattr(scope.get("route"), "path", "unmatched")
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        self.metrics.api_requests.labels(method, route, str(status)).inc()
        if seconds is not None:
            self.metrics.api_latency.labels(route).observe(seconds)

    async def _record_within(self, scope: Scope, status: int, detail: dict[str, Any] | None) -> int | None:
        """:meth:`_record` in a worker thread, given up after :data:`AUDIT_WAIT_S` (then ``None``). The
        thread goes on waiting for the database; should it answer later, the entry is written then."""
        with anyio.move_on_after(AUDIT_WAIT_S):
            return await anyio.to_thread.run_sync(self._record, scope, status, detail, abandon_on_cancel=True)
        self.metrics.audit_failures.inc()
        self._audit_failing.log(log, "audit: cannot record %s %s: the database did not answer within %g s",
                  scope["method"][:_AUDIT_METHOD_CHARS], _cut(scope["path"]), AUDIT_WAIT_S)  # fmt: skip
        return None

    def _record(self, scope: Scope, status: int, detail: dict[str, Any] | None) -> int | None:
        """Append the request's entry; its seq, or ``None`` (logged and counted) if it cannot be written."""
        principal: Any = scope["state"].get("principal")
        client = scope.get("client")
        entry = AuditEntry(
            kind="request" if detail is None else "stream_closed",
            actor=principal.token_id if isinstance(principal, Principal) else "anonymous",
            role=principal.role if isinstance(principal, Principal) else None,
            method=scope["method"][:_AUDIT_METHOD_CHARS],
            # the path is percent-decoded: a %00 sent is a NUL here, which PostgreSQL's text cannot hold
            path=_cut(scope["path"].replace("\x00", "%00")),
            query=_cut(scope.get("query_string", b"").decode("latin-1")),
            status=status,
            client=client[0] if client else None,
            detail=detail or {},
        )
        try:
            return append_entry(self.engine, entry).seq
        except sa.exc.SQLAlchemyError as exc:
            self.metrics.audit_failures.inc()
            self._audit_failing.log(
                log, "audit: cannot record %s %s: %s", entry.method, entry.path, exc.__class__.__name__
            )
            return None


def _cut(text: str) -> str:
    if len(text) <= _AUDIT_TEXT_CHARS:
        return text
    return f"{text[: _AUDIT_TEXT_CHARS - 40]}... ({len(text)} characters in all)"


class BodyLimitMiddleware:
    """Refuses a request body over ``max_bytes`` with 413, before anything reads it.

    FastAPI reads and parses a route's body before its dependencies run, the token check among them, so
    without this anyone could make the hub hold and parse a body of any length (hundreds of MB, blocking
    every other request meanwhile) and only then be told 401. A declared ``Content-Length`` over the bound
    is answered at once, unread; a body sent without one (chunked) is counted as it arrives and refused
    when it passes the bound.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _message(self, length: int | None) -> str:
        got = f"{length:,} bytes" if length is not None else "more"
        return f"request body too long: {got}; the hub reads at most {self.max_bytes:,}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = [value for name, value in scope["headers"] if name == b"content-length"]
        if declared:
            text = bytes(declared[-1]).decode("latin-1").strip()
            length = int(text) if text.isdigit() and len(text) < 20 else None
            if length is None or length > self.max_bytes:
                await _answer(send, 413, self._message(length))
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise StarletteHTTPException(413, self._message(None))
            return message

        await self.app(scope, counted, send)


async def _answer(send: Send, status: int, message: str, retry_after_s: int | None = None) -> None:
    """Answer with the API's error body, from a middleware (before any route runs)."""
    body = json.dumps({"error": {"status": status, "message": message, "details": []}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry_after_s is not None:
        headers.append((b"retry-after", str(retry_after_s).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _is_event_stream(start: Message) -> bool:
    for name, value in start.get("headers", []):
        if name.lower() == b"content-type":
            return bytes(value).startswith(b"text/event-stream")
    return False


def _seconds(started: float) -> float:
    return round(time.perf_counter() - started, 3)


_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


class ClientAddressMiddleware:
    """Sets the request's client address from ``X-Forwarded-For`` only when the connecting peer is one of
    ``trusted_proxies`` (addresses or networks; none by default, so the header is ignored).

    The header is read from the right: each proxy appends the address it received from, so the nearest
    entry that is not itself a trusted proxy is the client; entries left of it are whatever the client
    claimed and never count. An entry that is not an address ends the walk at the last trusted hop. The
    server in front of this app (uvicorn) must not rewrite the client itself: the hub runs it with
    ``proxy_headers=False`` (see :data:`citytally.hub.web.SERVER_OPTIONS`).
    """

    def __init__(self, app: ASGIApp, trusted_proxies: Iterable[str] = ()) -> None:
        self.app = app
        self.trusted: tuple[_Network, ...] = tuple(
            ipaddress.ip_network(entry, strict=False) for entry in trusted_proxies
        )

    def _trusted(self, text: str) -> bool:
        address = _address(text)
        return address is not None and any(address in network for network in self.trusted)

    def client_for(self, peer: str, forwarded: Sequence[str]) -> str:
        """The client address for a connection from ``peer`` carrying ``forwarded`` (hops, left to right)."""
        client = peer
        for hop in reversed(forwarded):
            if not self._trusted(client) or _address(hop) is None:
                break
            client = str(_address(hop))
        return client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.trusted and scope.get("client"):
            hops = [
                hop
                for name, value in scope["headers"]
                if name == b"x-forwarded-for"
                for hop in value.decode("latin-1").split(",")
            ]
            peer, port = scope["client"]
            client = self.client_for(peer, hops[-20:])  # a long chain is no longer anyone's real route
            if client != peer:
                scope = dict(scope, client=(client, 0))
        await self.app(scope, receive, send)


#: For the dashboard, the public register and Swagger UI at /docs (served from the hub, see :mod:`.docs`):
#: scripts only from the hub, never inline. Inline styles are allowed: none of those pages needs them today
#: (a Chromium test finds no violation with ``style-src 'self'``), but a style attribute in new markup
#: should not blank a page, and styles cannot run code. Nothing may frame the hub.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

#: Sent with every answer (an answer that already sets one keeps its own). ``Cache-Control: no-store``: an
#: answer holding data (counts, incidents) is never kept in the browser's disk cache, where it outlived a
#: sign-out on a shared control-room PC; the scripts, styles and pages that may be cached say so themselves.
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("Cache-Control", "no-store"),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)
_ENCODED_HEADERS = [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS]


def content_security_policy(image_origins: Sequence[str] = ()) -> str:
    """:data:`CONTENT_SECURITY_POLICY`, with ``image_origins`` (``https://tiles.example.org``) allowed to
    serve images: the tile server an operator configured for the map, whose tiles are ``<img>`` elements."""
    if not image_origins:
        return CONTENT_SECURITY_POLICY
    images = " ".join(("'self'", "data:", *image_origins))
    return CONTENT_SECURITY_POLICY.replace("img-src 'self' data:", f"img-src {images}")


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL (a tile URL's placeholders are in its path)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class SecurityHeadersMiddleware:
    """Adds :data:`SECURITY_HEADERS` to every HTTP answer, error answers included (``policy``: the content
    security policy to send, :data:`CONTENT_SECURITY_POLICY` by default).

    An exception that escapes the app before it has answered is answered here (500, the API's error body,
    with the headers) and raised on, so the server still logs it.
    """

    def __init__(self, app: ASGIApp, policy: str = CONTENT_SECURITY_POLICY) -> None:
        self.app = app
        self._headers = [
            (name, policy.encode() if name == b"content-security-policy" else value)
            for name, value in _ENCODED_HEADERS
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in self._headers if name not in present]
                message = dict(message, headers=[*message.get("headers", []), *extra])
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if not started:
                body = b'{"error":{"status":500,"message":"internal error","details":[]}}'
                await send_with_headers(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", b"%d" % len(body)),
                        ],
                    }
                )
                await send_with_headers({"type": "http.response.body", "body": body})
            raise
