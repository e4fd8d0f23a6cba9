"""The Runs family's pure logic (no I/O): keyword patterns, the run_ids list, phase summaries and
the bound search statement. The same rules over HTTP against Postgres: tests/test_runs.py."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from etl_artifacts.runs.models import PhaseSummary, RunSearch, parse_run_ids
from etl_artifacts.runs.query import like_pattern, search_statement

DAG = uuid.uuid4()


@pytest.mark.parametrize(
    ("keyword", "pattern"),
    [
        ("abc", "%abc%"),
        ("50%", "%50\\%%"),
        ("a_b", "%a\\_b%"),
        ("c:\\t", "%c:\\\\t%"),
        ("\\%_", "%\\\\\\%\\_%"),
    ],
)
def test_like_pattern_escapes_wildcards(keyword, pattern):
    assert like_pattern(keyword) == pattern


def test_parse_run_ids():
    assert parse_run_ids(None) == ()
    assert parse_run_ids(" a , b,,a, ") == ("a", "b")
    assert parse_run_ids(",,") == ()
    with pytest.raises(ValueError):
        parse_run_ids("a,b c")
    with pytest.raises(ValueError):
        parse_run_ids(",".join(str(i) for i in range(101)))


def test_phase_summary_from_log_is_tolerant():
    assert PhaseSummary.from_log(None) is None
    assert PhaseSummary.from_log([1]) is None
    summary = PhaseSummary.from_log(
        {"status": "success", "total": 5, "attempt": 2, "message": "m", "extra": 1}
    )
    assert summary is not None
    assert summary.model_dump() == {
        "status": "success",
        "message": "m",
        "total": 5,
        "attempt": 2,
        "s3_data_path": None,
    }


def test_search_statement_binds_every_value():
    search = RunSearch(
        id_company="x' OR '1'='1",
        dag_id=DAG,
        date_from=dt.date(2026, 1, 1),
        date_to=dt.date(2026, 1, 2),
        statuses={"load": "error"},
        keywords={"extract": "'; DROP TABLE etl.logs; --"},
        run_ids=("a",),
    )
    statement = search_statement(search)
    assert "DROP" not in statement.sql and "OR '1'" not in statement.sql
    assert "(log->'extract')::text ILIKE :extract_keyword" in statement.sql
    assert statement.params["id_company"] == "x' OR '1'='1"
