"""The searchable text (vectorised) equals the definition built value by value from the page
renderer (``etl_artifacts.parquet.render``), for every column type. Pure unit tests, no I/O."""

from __future__ import annotations

import datetime as dt
import decimal

import pyarrow as pa
import pytest
from etl_artifacts.search.text import (
    has_control_characters,
    match,
    normalize_keyword,
    searchable_text,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from search_helpers import reference_table_texts

SECONDS_RANGE = (-2_000_000_000, 7_000_000_000)  # 1906 .. 2191


def _ticks(unit: str) -> st.SearchStrategy[int]:
    per = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[unit]
    return st.integers(SECONDS_RANGE[0] * per, SECONDS_RANGE[1] * per)


def _column(draw: st.DrawFn, kind: str, n: int) -> pa.Array:
    def values(strategy: st.SearchStrategy) -> list:
        return draw(st.lists(st.none() | strategy, min_size=n, max_size=n))

    if kind == "int64":
        return pa.array(values(st.integers(-(2**63), 2**63 - 1)), pa.int64())
    if kind == "uint8":
        return pa.array(values(st.integers(0, 255)), pa.uint8())
    if kind == "float64":
        return pa.array(values(st.floats()), pa.float64())
    if kind == "float32":
        return pa.array(values(st.floats(width=32)), pa.float32())
    if kind == "string":
        return pa.array(values(st.text(max_size=12)), pa.string())
    if kind == "large_string":
        return pa.array(values(st.text(alphabet="aBc-É ", max_size=6)), pa.large_string())
    if kind == "bool":
        return pa.array(values(st.booleans()), pa.bool_())
    if kind.startswith("timestamp"):
        _, unit, tz = kind.split("|")
        return pa.array(values(_ticks(unit)), pa.int64()).cast(pa.timestamp(unit, tz or None))
    if kind == "date32":
        return pa.array(values(st.integers(-20_000, 80_000)), pa.int32()).cast(pa.date32())
    if kind.startswith("time"):
        _, unit = kind.split(":")
        per = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[unit]
        raw = values(st.integers(0, 86_400 * per - 1))
        if unit in ("s", "ms"):
            return pa.array(raw, pa.int32()).cast(pa.time32(unit))
        return pa.array(raw, pa.int64()).cast(pa.time64(unit))
    if kind.startswith("duration"):
        _, unit = kind.split(":")
        return pa.array(values(st.integers(-(10**15), 10**15)), pa.int64()).cast(pa.duration(unit))
    if kind == "decimal":
        return pa.array(
            values(st.decimals(min_value=-(10**6), max_value=10**6, places=3)), pa.decimal128(10, 3)
        )
    if kind == "binary":
        return pa.array(values(st.binary(max_size=8)), pa.binary())
    if kind == "list":
        return pa.array(values(st.lists(st.none() | st.floats(), max_size=3)), pa.list_(pa.float64()))
    if kind == "struct":
        struct = st.fixed_dictionaries(
            {"a": st.none() | st.text(max_size=4), "b": st.none() | st.integers(0, 9)}
        )
        return pa.array(values(struct), pa.struct([("a", pa.string()), ("b", pa.int32())]))
    if kind == "map":
        entries = st.lists(
            st.tuples(st.text(alphabet="kK", min_size=1, max_size=2), st.none() | st.integers(0, 9)),
            max_size=2,
            unique_by=lambda e: e[0],
        )
        return pa.array(values(entries), pa.map_(pa.string(), pa.int64()))
    if kind == "dictionary":
        return pa.array(values(st.sampled_from(["Red", "GREEN", "blüe"])), pa.string()).dictionary_encode()
    if kind == "null":
        return pa.nulls(n)
    raise AssertionError(kind)


KINDS = [
    "int64",
    "uint8",
    "float64",
    "float32",
    "string",
    "large_string",
    "bool",
    "timestamp|us|",
    "timestamp|ns|",
    "timestamp|ms|UTC",
    "timestamp|us|Europe/Paris",
    "timestamp|s|+05:30",
    "date32",
    "time:s",
    "time:ms",
    "time:us",
    "time:ns",
    "duration:s",
    "duration:ms",
    "duration:ns",
    "decimal",
    "binary",
    "list",
    "struct",
    "map",
    "dictionary",
    "null",
]


@st.composite
def tables(draw: st.DrawFn) -> pa.Table:
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=6))
    n = draw(st.integers(0, 8))
    return pa.table({f"c{i}": _column(draw, kind, n) for i, kind in enumerate(kinds)})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_vectorised_text_equals_the_page_renderer_definition(table: pa.Table) -> None:
    assert searchable_text(table).to_pylist() == reference_table_texts(table)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_alone(kind: str) -> None:
    table = pa.table({"only": _column_fixed(kind)})
    assert searchable_text(table).to_pylist() == reference_table_texts(table)


def _column_fixed(kind: str) -> pa.Array:
    @given(st.data())
    @settings(max_examples=1, deadline=None, database=None)
    def draw(data: st.DataObject) -> None:
        holder.append(_column(data.draw, kind, 5))

    holder: list[pa.Array] = []
    draw()
    return holder[0]


def test_a_mixed_row_reads_as_documented() -> None:
    table = pa.table(
        {
            "id": pa.array([7], pa.int64()),
            "name": ["Ada LOVELACE"],
            "score": pa.array([2.0], pa.float64()),
            "ratio": pa.array([0.1], pa.float32()),
            "missing": pa.array([None], pa.string()),
            "nan": pa.array([float("nan")], pa.float64()),
            "at": pa.array(
                [dt.datetime(2026, 11, 20, 10, 15, 30, 120000, tzinfo=dt.UTC)], pa.timestamp("us", "UTC")
            ),
            "day": pa.array([dt.date(2026, 11, 20)]),
            "took": pa.array([dt.timedelta(seconds=90)], pa.duration("s")),
            "price": pa.array([decimal.Decimal("12.30")], pa.decimal128(6, 2)),
            "raw": pa.array([b"\x00\xff"]),
            "tags": pa.array([["a", "B"]]),
            "ok": [True],
        }
    )
    assert searchable_text(table).to_pylist() == [
        "\x1f".join(
            [
                "7",
                "ada lovelace",
                "2.0",
                "0.1",
                "2026-11-20t10:15:30.120000+00:00",
                "2026-11-20",
                "90",
                "12.30",
                "ap8=",
                '["a","b"]',
                "true",
            ]
        )
    ]


def test_rows_without_values_have_empty_text() -> None:
    table = pa.table({"a": pa.array([None, None], pa.string()), "b": pa.nulls(2)})
    assert searchable_text(table).to_pylist() == ["", ""]
    assert searchable_text(pa.table({})).to_pylist() == []


def test_keyword_matching_is_literal_and_case_insensitive() -> None:
    texts = pa.array(["100%_done", "100 done", None, "a.b"])
    assert match(texts, normalize_keyword("%_D")).to_pylist() == [True, False, False, False]
    assert match(texts, normalize_keyword(".")).to_pylist() == [False, False, False, True]
    assert match(texts, normalize_keyword("a*")).to_pylist() == [False, False, False, False]


def test_control_characters_are_detected() -> None:
    assert has_control_characters("a\x1fb")
    assert has_control_characters("line\nbreak")
    assert not has_control_characters("plain text é 漢字")
