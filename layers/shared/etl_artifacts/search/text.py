"""The searchable text of a row, defined once for the indexer and every search mode.

A row's ``_searchable`` text (CONTRACT §2) is its non-null values in schema order, each rendered
as in CONTRACT §4 "Values", joined by the unit separator ``\\x1f`` and lower-cased. A keyword
matches a row when its lower-cased form is a literal substring of that text.

Rendering rules (the text of one value; ``None`` = skipped like a null):

- strings: as stored; integers: decimal digits; booleans: ``true``/``false``;
- floats: Python's ``repr`` of the value as a float64 (what ``json.dumps`` writes), e.g. ``1.0``,
  ``0.1``, ``1e-05``, ``1e+16``; float32/float16 are widened first, so float32 ``0.1`` is
  ``0.10000000149011612`` exactly as the JSON page shows it; NaN and ±Inf are skipped;
- timestamps: ``datetime.isoformat()`` at microsecond precision (nanoseconds are truncated),
  e.g. ``2026-01-01T12:00:00`` or ``2026-01-01T13:00:00.120000+01:00`` for a zoned type;
- dates ``YYYY-MM-DD``; times ``HH:MM:SS[.ffffff]`` (``time.isoformat()``, microseconds);
- durations: seconds as a float (``timedelta.total_seconds()``), rendered like a float;
- decimals: ``str(Decimal)`` (the General Decimal Arithmetic to-scientific-string, which is also
  Arrow's decimal-to-string: ``1.50``, ``0E-10``);
- binary: standard base64;
- structs, maps, lists, unions and other types: compact JSON (``separators=(",", ":")``,
  ``ensure_ascii=False`` so non-ASCII text stays searchable) of the value rendered by these same
  rules; a map is an object whose keys are the rendered keys as strings.

Lower-casing is Arrow's ``utf8_lower`` (utf8proc's simple per-code-point mapping) applied to the
joined text, and to the keyword. It equals Python's ``str.lower()`` except for the few code points
whose full lower-case mapping has several code points (e.g. U+0130 ``İ`` becomes ``i``, not
``i̇``); both the index and every search mode use Arrow's mapping, so they always agree.

Everything is vectorised with pyarrow compute, one pass over the columns (never over rows); only
binary, nested and exotic columns render value by value, and floats only for the rare values whose
Arrow and Python spellings differ (exponent notation).
"""

from __future__ import annotations

import base64
import json
import math
import unicodedata
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

SEPARATOR = "\x1f"
SEARCHABLE_COLUMN = "_searchable"


# --------------------------------------------------------------------------- keyword


def has_control_characters(keyword: str) -> bool:
    """True when the keyword holds a control character (the route answers 422 for those)."""
    return any(unicodedata.category(ch) == "Cc" for ch in keyword)


def normalize_keyword(keyword: str) -> str:
    """The keyword as matched: lower-cased with the same mapping as the searchable text."""
    return str(pc.utf8_lower(pa.scalar(keyword, pa.string())).as_py())


def match(texts: pa.Array | pa.ChunkedArray, needle: str) -> pa.Array | pa.ChunkedArray:
    """Boolean mask: ``needle`` (already normalised) is a literal substring of each text."""
    return pc.fill_null(pc.match_substring(texts, pattern=needle), False)


# --------------------------------------------------------------------------- per value (fallback)


def json_value(value: Any) -> Any:
    """A Python value (from ``to_pylist``) rendered as a JSON-compatible value per CONTRACT §4."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {_key_text(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        # pyarrow renders a map as a list of (key, value) tuples: a JSON object per CONTRACT §4.
        if value and all(isinstance(item, tuple) and len(item) == 2 for item in value):
            return {_key_text(k): json_value(v) for k, v in value}
        return [json_value(v) for v in value]
    return str(value)


def _key_text(key: Any) -> str:
    rendered = json_value(key)
    return rendered if isinstance(rendered, str) else json.dumps(rendered, separators=(",", ":"))


def value_text(value: Any) -> str | None:
    """Text of one Python value in the searchable text (not lower-cased); ``None`` = skipped."""
    rendered = json_value(value)
    if rendered is None:
        return None
    if isinstance(rendered, str):
        return rendered
    if isinstance(rendered, bool):
        return "true" if rendered else "false"
    if isinstance(rendered, float):
        return repr(rendered)
    if isinstance(rendered, int):
        return str(rendered)
    return json.dumps(rendered, separators=(",", ":"), ensure_ascii=False)


def row_text(values: Iterable[Any]) -> str:
    """Reference (slow) definition of one row's searchable text; used by tests and tools."""
    joined = SEPARATOR.join(t for t in (value_text(v) for v in values) if t is not None)
    return str(pc.utf8_lower(pa.scalar(joined, pa.string())).as_py())


# --------------------------------------------------------------------------- vectorised columns


def _per_value(array: pa.Array) -> pa.Array:
    return pa.array([value_text(v) for v in array.to_pylist(maps_as_pydicts="lossy")], pa.string())


def _float_text(values: pa.Array) -> pa.Array:
    """float64 values as Python ``repr`` spells them; non-finite values become null."""
    values = pc.if_else(pc.is_finite(values), values, pa.scalar(None, pa.float64()))
    text = pc.cast(values, pa.string())
    magnitude = pc.abs(values)
    # Arrow and Python agree on the shortest digits; they disagree on when to use exponent
    # notation, and Arrow omits the ".0" of whole numbers. Exponent cases are re-rendered.
    odd = pc.or_(
        pc.match_substring(text, "e"),
        pc.or_(
            pc.greater_equal(magnitude, 1e16), pc.and_(pc.less(magnitude, 1e-4), pc.not_equal(magnitude, 0))
        ),
    )
    odd = pc.fill_null(odd, False)
    text = pc.if_else(pc.match_substring(text, "."), text, pc.binary_join_element_wise(text, ".0", ""))
    if pc.any(odd).as_py():
        fixed = pa.array([repr(v) for v in pc.filter(values, odd).to_pylist()], pa.string())
        text = pc.replace_with_mask(text, odd, fixed)
    return text


def _strip_zero_micros(text: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(text, pattern=r"\.000000($|[+-])", replacement=r"\1")


def column_text(array: pa.Array) -> pa.Array | None:
    """One column's values rendered as text (nulls stay null); ``None`` when never searchable."""
    typ = array.type
    if pa.types.is_dictionary(typ):
        return column_text(array.dictionary_decode())
    if pa.types.is_null(typ):
        return None
    if pa.types.is_string(typ):
        return array
    if pa.types.is_large_string(typ) or pa.types.is_string_view(typ):
        return pc.cast(array, pa.string())
    if pa.types.is_boolean(typ) or pa.types.is_integer(typ) or pa.types.is_date(typ):
        return pc.cast(array, pa.string())
    if pa.types.is_floating(typ):
        return _float_text(pc.cast(array, pa.float64()))
    if pa.types.is_decimal(typ):
        return pc.cast(array, pa.string())
    if pa.types.is_timestamp(typ):
        micros = pc.cast(array, pa.timestamp("us", typ.tz), safe=False)
        if typ.tz is None:
            return _strip_zero_micros(pc.strftime(micros, format="%Y-%m-%dT%H:%M:%S"))
        text = _strip_zero_micros(pc.strftime(micros, format="%Y-%m-%dT%H:%M:%S%z"))
        return pc.replace_substring_regex(text, pattern=r"([+-][0-9]{2})([0-9]{2})$", replacement=r"\1:\2")
    if pa.types.is_time(typ):
        return _strip_zero_micros(pc.cast(pc.cast(array, pa.time64("us"), safe=False), pa.string()))
    if pa.types.is_duration(typ):
        micros = pc.cast(pc.cast(array, pa.duration("us"), safe=False), pa.int64())
        return _float_text(pc.divide(pc.cast(micros, pa.float64()), 1_000_000.0))
    return _per_value(array)


def searchable_text(batch: pa.RecordBatch | pa.Table) -> pa.Array:
    """The lower-cased ``_searchable`` text of every row of ``batch`` (a ``string`` array)."""
    if isinstance(batch, pa.Table):
        batch = _table_to_batch(batch)
    columns = [text for text in (column_text(col) for col in batch.columns) if text is not None]
    if not columns:
        return pa.array([""] * batch.num_rows, pa.string())
    joined = pc.binary_join_element_wise(*columns, SEPARATOR, null_handling="skip")
    return pc.utf8_lower(joined)


def _table_to_batch(table: pa.Table) -> pa.RecordBatch:
    arrays = [
        pa.concat_arrays(col.chunks) if col.num_chunks else pa.array([], col.type) for col in table.columns
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=table.schema)
