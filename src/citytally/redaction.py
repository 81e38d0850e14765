"""Credentials out of logs and error messages: the one :func:`redact_url` every part of citytally uses.

A camera's stream URL and the hub's database and broker URLs may carry a user name, a password or a token
in the query; none of them may reach a log line, an error message or an event.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["MASK", "SECRET_QUERY_KEYS", "redact_url"]

#: What stands in for a hidden credential.
MASK = "***"
#: Query parameters whose values are hidden (compared case-insensitively).
SECRET_QUERY_KEYS = frozenset(
    {"password", "passwd", "pass", "pwd", "token", "access_token", "auth", "key", "apikey", "api_key",
     "secret", "signature", "sig", "credentials"}
)  # fmt: skip


def redact_url(url: object) -> str:
    """``url`` with any user name, password and secret-looking query values replaced by ``***``.

    ``url`` is a string or anything whose ``str`` is a URL (SQLAlchemy's ``URL`` already hides its password
    there). Plain paths come back unchanged, ``user:password@host`` without a scheme masked; text that
    cannot be split as a URL comes back as ``<unparseable URL>``. Safe to call on anything.
    """
    text = url if isinstance(url, str) else str(url)
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. an unclosed IPv6 bracket: it may still hold a password
        return "<unparseable URL>"
    if not parts.scheme or not parts.netloc:
        # "user:password@host" without a scheme is no URL to urlsplit, and still holds a password
        before, at, after = text.rpartition("@")
        if at and ":" in before and "/" not in before:
            return f"{MASK}@{after}"
        return text
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        masked = [(k, MASK if k.lower() in SECRET_QUERY_KEYS else v) for k, v in pairs]
        query = urlencode(masked, safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
