"""What the camera and hub config readers share: reading a TOML file's text, and saying where in it a
problem is (``file:line: key.path: message``), in words a person who edits the file reads.

tomllib keeps no line numbers, so :func:`key_lines` finds the line that defines each key with a light scan
of the text; :func:`line_of` gives a pydantic error location's line (the nearest enclosing key's).
"""

from __future__ import annotations

import re
from pathlib import Path

from citytally.errors import ConfigError

__all__ = ["read_config_text", "key_lines", "line_of", "located", "field_message", "dotted"]


def read_config_text(path: Path, what: str) -> str:
    """The file's text, UTF-8 (a byte-order mark some editors write dropped). :class:`ConfigError` in one
    line if it cannot be read; text in another encoding is said with its line and column, not a byte
    offset."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror or exc}") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = f"byte 0x{raw[exc.start]:02X} at column {column}"
        raise ConfigError(f"{path}:{line}: not UTF-8 ({byte}): save the file as UTF-8") from None


def field_message(kind: str, msg: str) -> str:
    """A pydantic error's message in a config's words."""
    if kind == "extra_forbidden":
        return "unknown field (check its spelling and section)"
    if kind == "missing":
        return "required field is missing"
    if kind == "string_pattern_mismatch":
        return "must be a slug: a-z, 0-9, '-' or '_', starting with a letter or digit, at most 63 long"
    return msg.removeprefix("Value error, ")


def dotted(loc: tuple[str | int, ...]) -> str:
    """``("lines", 0, "p1")`` → ``lines[0].p1``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\- \"]+?)\s*\]\s*(#.*)?$")
_ARRAY_TABLE = re.compile(r"^\s*\[\[\s*([A-Za-z0-9_.\- \"]+?)\s*\]\]\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-.\"]+)\s*=")


def key_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """Map each key's path (with array-of-table indexes) to the 1-based line that defines it."""
    found: dict[tuple[str | int, ...], int] = {}
    counters: dict[tuple[str | int, ...], int] = {}
    table: tuple[str | int, ...] = ()
    for number, raw in enumerate(text.splitlines(), start=1):
        if match := _ARRAY_TABLE.match(raw):
            name = _split_key(match.group(1))
            index = counters.get(name, -1) + 1
            counters[name] = index
            table = (*name, index)
            found.setdefault(table, number)
            found.setdefault(name, number)
        elif match := _TABLE.match(raw):
            table = _split_key(match.group(1))
            found.setdefault(table, number)
        elif match := _KEY.match(raw):
            found.setdefault((*table, *_split_key(match.group(1))), number)
    return found


def located(
    source: str, lines: dict[tuple[str | int, ...], int], loc: tuple[str | int, ...], message: str
) -> str:
    """``file:line: key.path: message`` (``file: ...`` where the line is not known)."""
    line = line_of(lines, loc)
    where = f"{source}:{line}" if line is not None else source
    return f"{where}: {dotted(loc) or '(top level)'}: {message}"


def _split_key(key: str) -> tuple[str, ...]:
    return tuple(part.strip().strip('"') for part in key.split("."))


def line_of(lines: dict[tuple[str | int, ...], int], loc: tuple[str | int, ...]) -> int | None:
    """The line of ``loc``, or of the nearest key enclosing it; None if none is known."""
    for end in range(len(loc), 0, -1):
        if (line := lines.get(tuple(loc[:end]))) is not None:
            return line
    return None
