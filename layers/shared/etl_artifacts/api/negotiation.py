"""``Accept`` negotiation (RFC 9110 §12.5.1) between the media types a route can answer with.

Each offered type gets the quality of the most specific media range that matches it
(``type/subtype`` over ``type/*`` over ``*/*``); the best quality above 0 wins, ties going to
the route's order of preference. A range with an invalid q-value is ignored (it never selects
anything), and when nothing offered is acceptable the route's default (its first type) answers:
the API has no 406, and a JSON page is what a client without preferences gets.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# RFC 9110 qvalue: "0" ["." 0*3DIGIT] / "1" ["." 0*3("0")]
_QVALUE = re.compile(r"^(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)$")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def media_ranges(accept: str | None) -> list[tuple[str, str, float]]:
    """``(type, subtype, q)`` of each well-formed media range of an ``Accept`` value (lower-cased)."""
    ranges: list[tuple[str, str, float]] = []
    for part in (accept or "").split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        kind, slash, subtype = media.lower().partition("/")
        if not slash or not _TOKEN.match(kind) or not _TOKEN.match(subtype) or (kind == "*" != subtype):
            continue
        quality = 1.0
        valid = True
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                value = value.strip()
                valid = bool(_QVALUE.match(value))
                quality = float(value) if valid else 0.0
                break  # parameters after q are accept-extensions
        if valid:
            ranges.append((kind, subtype, quality))
    return ranges


def quality(media_type: str, ranges: Sequence[tuple[str, str, float]]) -> float:
    """The quality ``ranges`` give ``media_type`` (0 when no range matches)."""
    kind, _, subtype = media_type.lower().partition("/")
    best_specificity, best_quality = -1, 0.0
    for range_kind, range_subtype, q in ranges:
        if (range_kind, range_subtype) == (kind, subtype):
            specificity = 2
        elif range_kind == kind and range_subtype == "*":
            specificity = 1
        elif range_kind == "*":
            specificity = 0
        else:
            continue
        if specificity > best_specificity:
            best_specificity, best_quality = specificity, q
    return best_quality


def negotiate(accept: str | None, offered: Sequence[str]) -> str:
    """The type of ``offered`` to answer with (``offered[0]`` is the default and wins ties)."""
    if not accept or not accept.strip():
        return offered[0]
    ranges = media_ranges(accept)
    best, best_quality = offered[0], 0.0
    for media_type in offered:
        q = quality(media_type, ranges)
        if q > best_quality:
            best, best_quality = media_type, q
    return best
