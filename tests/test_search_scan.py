"""Scan mode against moto's S3 server (pyarrow's own S3 client), compared with the reference."""

from __future__ import annotations

import pyarrow as pa
import pytest
from etl_artifacts.s3.artifact_store import artifact_store
from etl_artifacts.search import search_data
from search_helpers import new_run, reference_search, write_attempt

pytestmark = pytest.mark.usefixtures("base_env")


def _tables() -> list[pa.Table]:
    return [
        pa.table(
            {
                "id": list(range(10)),
                "name": [f"Row-{i}" for i in range(10)],
                "score": [i * 1.5 for i in range(10)],
            }
        ),
        pa.table(
            {
                "id": list(range(10, 15)),
                "name": ["needle", None, "x", "NEEDLE in caps", "y"],
                "score": [None, 2.0, 3.0, 4.0, float("nan")],
            }
        ),
    ]


def test_scan_counts_and_pages_across_chunks_and_row_groups() -> None:
    tables = _tables()
    attempt = write_attempt(new_run(), tables, row_group_size=3)
    result = search_data(artifact_store(), attempt, "row-", 2, 3)
    assert result.mode == "scan"
    assert result.total == 10
    assert result.refs == [(0, 2), (0, 3), (0, 4)]
    assert result.refs == reference_search(tables, "row-")[2:5]


def test_scan_matches_non_string_columns_and_is_case_insensitive() -> None:
    tables = _tables()
    attempt = write_attempt(new_run(), tables, row_group_size=4)
    assert search_data(artifact_store(), attempt, "NeEdLe", 0, 50).refs == [(1, 0), (1, 3)]
    # 13.5 only appears in the float column of row 9 of chunk 0.
    assert search_data(artifact_store(), attempt, "13.5", 0, 50).refs == [(0, 9)]
    # NaN is rendered as null, so it is never searchable text.
    assert search_data(artifact_store(), attempt, "nan", 0, 50).total == 0


def test_scan_without_matches_or_chunks() -> None:
    attempt = write_attempt(new_run(), _tables())
    assert search_data(artifact_store(), attempt, "zzz-no-such", 0, 50) == search_data(
        artifact_store(), attempt, "zzz-no-such", 0, 50
    )
    assert search_data(artifact_store(), attempt, "zzz-no-such", 0, 50).total == 0
    empty = write_attempt(new_run(), [])
    result = search_data(artifact_store(), empty, "a", 0, 10)
    assert (result.mode, result.total, result.refs) == ("scan", 0, [])


def test_offset_past_the_end_keeps_exact_total() -> None:
    attempt = write_attempt(new_run(), _tables(), row_group_size=2)
    result = search_data(artifact_store(), attempt, "row", 100, 10)
    assert (result.total, result.refs) == (10, [])
