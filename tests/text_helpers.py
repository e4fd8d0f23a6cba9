"""Random text for the payload-budget tests, drawn fast: a page of 1,000 rows x 9 KB is 9 M
characters, which ``random.choices`` draws one Python call at a time (seconds per page)."""

from __future__ import annotations

import random


def random_text(rnd: random.Random, size: int, alphabet: str) -> str:
    """``size`` characters of the ASCII ``alphabet``, from ``rnd`` (so a seed gives the same text)."""
    table = bytes(ord(alphabet[byte % len(alphabet)]) for byte in range(256))
    return rnd.randbytes(size).translate(table).decode("ascii")
