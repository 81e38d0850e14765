"""One redaction of credentials in URLs, for stream, database and broker URLs alike."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from citytally.redaction import redact_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://admin:hunter2@10.0.0.5:554/stream1", "rtsp://***@10.0.0.5:554/stream1"),
        ("rtsp://admin@cam.local/live", "rtsp://***@cam.local/live"),
        ("rtsp://cam.local/live", "rtsp://cam.local/live"),
        ("http://u:p%40ss@host/x.mjpg?res=hd", "http://***@host/x.mjpg?res=hd"),
        ("https://host/live.ts?token=abc123&res=hd", "https://host/live.ts?token=***&res=hd"),
        ("http://host/s?user=bob&password=pw&Key=k1", "http://host/s?user=bob&password=***&Key=***"),
        ("rtsp://a:b@[fe80::1]:554/s", "rtsp://***@[fe80::1]:554/s"),
        ("/var/video/plaza.avi", "/var/video/plaza.avi"),
        ("relative/file.mp4", "relative/file.mp4"),
        ("", ""),
        ("rtsp://a:b@[fe80::1/s", "<unparseable URL>"),  # the unclosed bracket must not leak the password
        (make_url("postgresql+psycopg://hub:hunter2@db/citytally"), "postgresql+psycopg://***@db/citytally"),
        # no scheme: no URL to split, and still a password (a database URL written without its scheme)
        ("hub:S3cretPW-xyz@127.0.0.1", "***@127.0.0.1"),
        ("/var/video/cam@1/plaza.avi", "/var/video/cam@1/plaza.avi"),  # a path with "@" stays as it is
        ("plaza@noon.mp4", "plaza@noon.mp4"),
        ("postgresql://hub:S3c@tPW@db/citytally", "postgresql://***@db/citytally"),
    ],
)
def test_redact_url(url: object, expected: str) -> None:
    assert redact_url(url) == expected
