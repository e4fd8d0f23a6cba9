"""The searchable text (vectorised) equals the definition built value by value from the page
renderer (``etl_artifacts.parquet.render``), for every column type. Pure unit tests, no I/O."""

from __future__ import annotations

import datetime as dt
import decimal

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from etl_artifacts.search.text import (
    match,
    match_positions,
    normalize_keyword,
    searchable_text,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from search_helpers import KINDS, column_of_kind, reference_table_texts, tables


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
        holder.append(column_of_kind(data.draw, kind, 5))

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


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.text(alphabet="ab\x1fé-", max_size=6), max_size=40),
    needle=st.text(alphabet="ab\x1fé-", min_size=1, max_size=3),
    cut=st.integers(0, 5),
    split=st.integers(0, 40),
)
def test_match_positions_equal_the_arrow_kernel(values: list[str], needle: str, cut: int, split: int) -> None:
    array = pa.array(values, pa.string()).slice(min(cut, len(values)))  # a non-zero offset too
    expected = pc.indices_nonzero(match(array, needle)).to_pylist()
    assert match_positions(array, needle).to_pylist() == expected
    split = min(split, len(array))
    chunked = pa.chunked_array([array.slice(0, split), array.slice(split)], pa.string())
    assert match_positions(chunked, needle).to_pylist() == expected


def test_matching_rows_with_many_hits_uses_the_kernel() -> None:
    array = pa.array(["xaax"] * 5000 + ["b"] + ["aa"] * 3)
    assert match_positions(array, "aa").to_pylist() == [*range(5000), 5001, 5002, 5003]
    assert match_positions(pa.array(["a", None, "ba"]), "a").to_pylist() == [0, 2]
