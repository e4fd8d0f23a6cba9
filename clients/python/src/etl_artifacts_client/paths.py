"""Keys from the API become local paths only when they cannot land outside the destination.

The same rules on every OS, so a listing that is refused on Windows is refused on Linux too: no
absolute key (``/x``, ``\\x``), no backslash, no drive or stream (any ``:``, e.g. ``D:x.parquet``,
drive-relative on Windows), no empty, ``.`` or ``..`` segment, no control character, no segment
that Windows reserves (``CON``, ``NUL``, ``COM1``...) or silently changes (a trailing dot or space).
"""

from __future__ import annotations

import re
from pathlib import Path

from etl_artifacts_client.errors import UnsafeKey

_RESERVED = re.compile(r"\A(CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])(\..*)?\Z", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_key(key: str) -> list[str]:
    """The key's segments, or ``UnsafeKey`` naming the rule it breaks (never the key itself)."""
    if not key:
        raise UnsafeKey("an empty key")
    if key.startswith("/"):
        raise UnsafeKey("an absolute key")
    if "\\" in key:
        raise UnsafeKey("a key with a backslash")
    if ":" in key:
        raise UnsafeKey("a key with a drive or stream (':')")
    if _CONTROL.search(key):
        raise UnsafeKey("a key with a control character")
    segments = key.split("/")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise UnsafeKey("a key with an empty, '.' or '..' segment")
        if segment.endswith((".", " ")) or _RESERVED.match(segment):
            raise UnsafeKey("a key with a segment Windows reserves or renames")
    return segments


def local_path(dest: Path, key: str) -> Path:
    """``dest/<key>`` for a key that passes ``check_key``."""
    return dest.joinpath(*check_key(key))
