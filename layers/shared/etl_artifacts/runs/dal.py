"""The runs family's only database access: one statement per request through ``db.get_database``
(pg8000, reused connection, statement timeout; driver failures already become ``DatabaseError``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from etl_artifacts.db import get_database
from etl_artifacts.errors import RunNotFound
from etl_artifacts.layout import RunRef
from etl_artifacts.runs.models import PhaseSummary, RunPhases, RunSearch, SearchRunResult, SearchRunsResponse
from etl_artifacts.runs.query import get_run_statement, search_statement


def _result(row: Sequence[Any]) -> SearchRunResult:
    dag_id, run_date, run_id, created_at, updated_at, event, extract, transform, load = row
    return SearchRunResult(
        dag_id=dag_id,
        date=run_date,
        run_id=run_id,
        created_at=created_at,
        updated_at=updated_at,
        phases=RunPhases(
            event=PhaseSummary.from_log(event),
            extract=PhaseSummary.from_log(extract),
            transform=PhaseSummary.from_log(transform),
            load=PhaseSummary.from_log(load),
        ),
    )


def search_runs_in_db(search: RunSearch) -> SearchRunsResponse:
    statement = search_statement(search)
    rows, _ = get_database().read(statement.sql, **statement.params)
    # The statement always yields at least one row (the total); a page past the end has one row
    # whose result columns are NULL.
    total = int(rows[0][0]) if rows else 0
    items = [_result(row[1:]) for row in rows if row[3] is not None]
    offset = search.page * search.limit
    return SearchRunsResponse(
        items=items,
        page=search.page,
        limit=search.limit,
        total=total,
        has_more=offset + len(items) < total,
    )


def get_run_from_db(ref: RunRef) -> SearchRunResult:
    """One run of the caller's tenant; another tenant's run is exactly as absent as a missing one."""
    statement = get_run_statement(ref.id_company, ref.dag_id, ref.run_date, ref.run_id)
    rows, _ = get_database().read(statement.sql, **statement.params)
    if not rows:
        raise RunNotFound()
    return _result(rows[0])
