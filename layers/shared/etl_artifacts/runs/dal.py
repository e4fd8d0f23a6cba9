"""The runs family's only database access: one statement per request through ``db.get_database``
(pg8000, reused connection, statement timeout; driver failures already become ``DatabaseError``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from etl_artifacts.errors import RunNotFound
from etl_artifacts.postgres.db import get_database
from etl_artifacts.runs.models import PhaseSummary, RunPhases, RunSearch, SearchRunResult, SearchRunsResponse
from etl_artifacts.runs.query import get_run_statement, search_statement
from etl_artifacts.s3.layout import RUN_PHASES, RunRef


def _records(rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> list[dict[str, Any]]:
    """Rows by column name (the statements' ``SELECT`` names them)."""
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _result(record: Mapping[str, Any]) -> SearchRunResult:
    return SearchRunResult(
        dag_id=record["dag_id"],
        date=record["run_date"],
        run_id=record["run_id"],
        created_at=record["created_at"],
        updated_at=record["updated_at"],
        phases=RunPhases(**{phase: PhaseSummary.from_log(record[f"phase_{phase}"]) for phase in RUN_PHASES}),
    )


def search_runs_in_db(search: RunSearch) -> SearchRunsResponse:
    statement = search_statement(search)
    records = _records(*get_database().read(statement.sql, **statement.params))
    # The statement always yields at least one row (the total); a page past the end has one row
    # whose result columns are NULL.
    total = int(records[0]["total"]) if records else 0
    items = [_result(record) for record in records if record["run_id"] is not None]
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
    records = _records(*get_database().read(statement.sql, **statement.params))
    if not records:
        raise RunNotFound()
    return _result(records[0])
