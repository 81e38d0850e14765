"""The mark a masked preview PNG carries, so that the hub shows only masked stills.

:func:`citytally.edge.privacy.write_png` (used only for frames the preview tap has already masked) puts a
``tEXt`` chunk ``citytally: masked preview`` after the header. The hub's geometry editor shows a camera's
still only if it carries the mark, so a raw frame grab copied into the stills folder by mistake is refused.
The mark guards against that mistake, not against someone forging it: anyone able to write the hub's
stills folder can already put any picture there.
"""

from __future__ import annotations

import struct
import zlib

__all__ = ["MASK_KEYWORD", "MASK_TEXT", "mark_masked", "masked_size"]

MASK_KEYWORD = b"citytally"
MASK_TEXT = b"masked preview"
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_HEADER_END = len(_SIGNATURE) + 8 + 13 + 4  # signature, IHDR length + type, its 13 bytes, its CRC


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def mark_masked(png: bytes) -> bytes:
    """``png`` with the masked-preview mark inserted after its header chunk."""
    if not png.startswith(_SIGNATURE) or png[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    return png[:_HEADER_END] + _chunk(b"tEXt", MASK_KEYWORD + b"\0" + MASK_TEXT) + png[_HEADER_END:]


def masked_size(png: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG carrying the masked-preview mark; ``None`` if it is no PNG or unmarked."""
    if not png.startswith(_SIGNATURE) or png[12:16] != b"IHDR" or len(png) < _HEADER_END:
        return None
    width, height = struct.unpack(">II", png[16:24])
    at = _HEADER_END
    while at + 8 <= len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind = png[at + 4 : at + 8]
        data = png[at + 8 : at + 8 + length]
        if kind == b"tEXt" and data == MASK_KEYWORD + b"\0" + MASK_TEXT:
            crc = png[at + 8 + length : at + 12 + length]
            return (width, height) if crc == struct.pack(">I", zlib.crc32(kind + data)) else None
        if kind in (b"IDAT", b"IEND"):
            return None  # the mark comes before the image data
        at += 12 + length
    return None
