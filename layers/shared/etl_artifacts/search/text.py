"""The searchable text of a row, defined once for the indexer and every search mode.

A row's ``_searchable`` text (docs/architecture.md) is its non-null values in schema order, each rendered
as on the JSON pages (docs/api.md "Values", ``etl_artifacts.parquet.render``) and turned into text
by ``render_value_text``, joined by the unit separator ``\\x1f`` and lower-cased. A keyword matches
a row when its lower-cased form is a literal substring of that text.

So the text of one value is exactly what the page shows for it:

- strings as stored; integers in decimal; booleans ``true``/``false``;
- floats as JSON writes them (Python ``repr``: ``1.0``, ``0.1``, ``1e-05``, ``1e+16``); float32
  and float16 first take the shortest text that round-trips at their own precision, as the page
  does (float32 ``0.1`` is ``0.1``); NaN and ±Inf are null, so skipped;
- timestamps ``datetime.isoformat()``-style: ``2026-11-20T10:15:30.123456+00:00`` (offset only
  when the type has a time zone; fraction omitted when zero, 6 digits, or 9 when a nanosecond
  value has sub-microsecond digits); dates ``YYYY-MM-DD``; times ``HH:MM:SS[.ffffff]``;
- durations in seconds: an integer for second-unit columns, else a float rendered like floats;
- decimals ``str(Decimal)`` (also Arrow's decimal text); binary as base64;
- structs, lists, maps and other types: compact JSON (``ensure_ascii=False``) of the rendered
  value.

Lower-casing is Arrow's ``utf8_lower`` (utf8proc's per-code-point mapping) applied to the joined
text and to the keyword. It equals Python's ``str.lower()`` except for the rare code points whose
full lower-case form has several code points (U+0130 ``İ`` becomes ``i``, not ``i̇``); the index
and every search mode use the same mapping, so they always agree.

Built with pyarrow compute, one pass over the columns (never a Python loop over rows). Only
binary, nested and exotic columns go value by value, through the page renderer itself; float
columns re-render in Python only the rare values whose Arrow and Python spellings differ
(exponent notation). ``tests/unit/test_search_text.py`` checks equality with the page renderer.
"""

from __future__ import annotations

import bisect
import re

import pyarrow as pa
import pyarrow.compute as pc

from etl_artifacts.deadline import check_deadline
from etl_artifacts.parquet.decoded import TEXT_COPIES, check_decoded, decoded_bytes
from etl_artifacts.parquet.render import duration_seconds, time_text, timestamp_text

SEPARATOR = "\x1f"
SEARCHABLE_COLUMN = "_searchable"


# --------------------------------------------------------------------------- keyword


def normalize_keyword(keyword: str) -> str:
    """The keyword as matched: lower-cased with the same mapping as the searchable text."""
    return str(pc.utf8_lower(pa.scalar(keyword, pa.string())).as_py())


def match(texts: pa.Array | pa.ChunkedArray, needle: str) -> pa.Array | pa.ChunkedArray:
    """Boolean mask: ``needle`` (already normalised) is a literal substring of each text."""
    return pc.fill_null(pc.match_substring(texts, pattern=needle), False)


#: Above this many matching rows in one array, Arrow's vectorised kernel beats the search loop.
_FIND_LOOP_MAX_HITS = 2_000


def match_positions(texts: pa.Array | pa.ChunkedArray, needle: str) -> pa.Array:
    """Positions (int64, ascending) of the texts that contain ``needle`` (already normalised).

    The same answer as ``pc.indices_nonzero(match(texts, needle))``, found faster for the usual
    case of few matches: ``re`` scans the UTF-8 value bytes of the whole array in place (about
    4 GB/s, ~6x Arrow's ``match_substring`` here) and each hit is mapped to its row through the
    offsets (a hit that spans two rows is skipped). Both are byte-level literal searches of
    UTF-8, so they agree exactly; with many hits the vectorised kernel is used instead.
    """
    if isinstance(texts, pa.ChunkedArray):
        parts, base = [], 0
        for chunk in texts.chunks:
            parts.append(pc.add(match_positions(chunk, needle), base))
            base += len(chunk)
        return pa.concat_arrays(parts).cast(pa.int64()) if parts else pa.array([], pa.int64())
    if texts.type != pa.string():
        texts = texts.cast(pa.string())
    hits = None if texts.null_count or not needle else _find_loop(texts, needle.encode("utf-8"))
    if hits is None:
        return pc.indices_nonzero(match(texts, needle)).cast(pa.int64())
    return pa.array(hits, pa.int64())


def _find_loop(texts: pa.Array, needle: bytes) -> list[int] | None:
    count = len(texts)
    if count == 0:
        return []
    offsets_array = pa.Array.from_buffers(
        pa.int32(), count + 1, [None, texts.buffers()[1]], offset=texts.offset
    )
    first, last = offsets_array[0].as_py(), offsets_array[-1].as_py()
    data = texts.buffers()[2]
    if data is None or last == first:
        return []
    view = memoryview(data)[first:last]  # zero-copy
    pattern = re.compile(re.escape(needle))
    found = pattern.search(view)
    if found is None:
        return []
    offsets = [offset - first for offset in offsets_array.to_pylist()]
    hits: list[int] = []
    while found is not None:
        position = found.start()
        row = bisect.bisect_right(offsets, position) - 1
        if position + len(needle) <= offsets[row + 1]:
            hits.append(row)
            if len(hits) > _FIND_LOOP_MAX_HITS:
                return None
            found = pattern.search(view, offsets[row + 1])  # one hit per row: go to the next row
        else:
            found = pattern.search(view, position + 1)
    return hits


# --------------------------------------------------------------------------- columns


#: Values rendered one by one per slice: bounds the Python objects alive at once, and the time
#: between two deadline checks (millions of nested values take tens of seconds).
PER_VALUE_SLICE = 4_096


def _per_value(array: pa.Array) -> pa.Array:
    """Value by value through the page renderer (binary, nested and exotic types)."""
    from etl_artifacts.parquet.render import render_array, render_value_text

    parts = []
    for start in range(0, len(array), PER_VALUE_SLICE):
        check_deadline()
        values = render_array(array.slice(start, PER_VALUE_SLICE))
        parts.append(pa.array([render_value_text(value) for value in values], pa.string()))
    return pa.concat_arrays(parts) if parts else pa.array([], pa.string())


def _float_text(numbers: pa.Array) -> pa.Array:
    """Floats as JSON writes them (``repr`` of the float64 parsed from Arrow's shortest text)."""
    numbers = pc.if_else(pc.is_finite(numbers), numbers, pa.scalar(None, numbers.type))
    text = pc.cast(numbers, pa.string())
    magnitude = pc.abs(pc.cast(numbers, pa.float64()))
    # Arrow and Python agree on the shortest digits, not on when to use exponent notation, and
    # Arrow drops the ".0" of whole numbers: re-render the exponent cases, append the ".0".
    exponent = pc.or_(
        pc.match_substring(text, "e"),
        pc.or_(
            pc.greater_equal(magnitude, 1e16),
            pc.and_(pc.less(magnitude, 1e-4), pc.not_equal(magnitude, 0)),
        ),
    )
    exponent = pc.fill_null(exponent, False)
    text = pc.if_else(pc.match_substring(text, "."), text, pc.binary_join_element_wise(text, ".0", ""))
    if pc.any(exponent).as_py():
        odd = pc.filter(pc.cast(numbers, pa.string()), exponent).to_pylist()
        text = pc.replace_with_mask(text, exponent, pa.array([repr(float(s)) for s in odd], pa.string()))
    return text


def _timestamp_text(array: pa.Array) -> pa.Array:
    try:
        return timestamp_text(array)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _per_value(array)  # a zone Arrow does not know: the page renderer's own fallback


def _duration_text(array: pa.Array) -> pa.Array:
    seconds = duration_seconds(array)
    return pc.cast(seconds, pa.string()) if array.type.unit == "s" else _float_text(seconds)


def column_text(array: pa.Array) -> pa.Array | None:
    """One column's values as searchable text (nulls stay null); ``None`` when never searchable."""
    typ = array.type
    types = pa.types
    if types.is_null(typ) or len(array) == array.null_count:
        return None
    if types.is_dictionary(typ):
        # The text of each distinct value once, then spread by the indices.
        text = column_text(array.dictionary)
        return None if text is None else pc.take(text, array.indices)
    if isinstance(typ, pa.ExtensionType):
        return column_text(array.storage)
    if types.is_run_end_encoded(typ):
        return column_text(pc.run_end_decode(array))
    if types.is_string(typ):
        return array
    if types.is_large_string(typ) or types.is_string_view(typ):
        return pc.cast(array, pa.string())
    if types.is_boolean(typ) or types.is_integer(typ) or types.is_decimal(typ):
        return pc.cast(array, pa.string())
    if types.is_floating(typ):
        return _float_text(array)
    if types.is_timestamp(typ):
        return _timestamp_text(array)
    if types.is_date(typ):
        return pc.strftime(array, format="%Y-%m-%d")
    if types.is_time(typ):
        return time_text(array)
    if types.is_duration(typ):
        return _duration_text(array)
    return _per_value(array)


def searchable_text(batch: pa.RecordBatch | pa.Table) -> pa.Array:
    """The lower-cased ``_searchable`` text of every row of ``batch`` (a ``string`` array)."""
    if isinstance(batch, pa.Table):
        batch = _table_to_batch(batch)
    # The text is about as large as the decoded values; checked before any of it is made.
    check_decoded(decoded_bytes(batch), TEXT_COPIES)
    columns = [text for text in (column_text(col) for col in batch.columns) if text is not None]
    if not columns:
        return pa.repeat(pa.scalar("", pa.string()), batch.num_rows)
    if len(columns) == 1:
        return pc.utf8_lower(pc.fill_null(columns[0], ""))
    # pyarrow 26 drops (!) the rows whose inputs are all null from binary_join_element_wise with
    # null_handling="skip". A trailing all-"" column keeps every row; it adds exactly one trailing
    # separator to rows that have values, cut off again below.
    anchor = pa.repeat(pa.scalar("", pa.string()), batch.num_rows)
    joined = pc.binary_join_element_wise(*columns, anchor, SEPARATOR, null_handling="skip")
    return pc.utf8_lower(pc.utf8_slice_codeunits(joined, 0, -1))


def _table_to_batch(table: pa.Table) -> pa.RecordBatch:
    arrays = [
        pa.concat_arrays(col.chunks) if col.num_chunks else pa.array([], col.type) for col in table.columns
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=table.schema)
