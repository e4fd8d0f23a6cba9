"""One logic function per Runs route (docs/api.md): the route parses and checks the parameters'
shapes, calls one of these once, and returns its model; these apply the API's rules and read
through ``runs.dal`` (one statement each)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping

from etl_artifacts.errors import InvalidDateRange
from etl_artifacts.runs import dal
from etl_artifacts.runs.models import (
    RunSearch,
    SearchRunResult,
    SearchRunsResponse,
    date_range_is_valid,
    phase_filters,
)
from etl_artifacts.s3.layout import RunRef


def search_runs(
    id_company: str,
    dag_id: uuid.UUID,
    date_from: dt.date,
    date_to: dt.date,
    *,
    statuses: Mapping[str, str],
    keywords: Mapping[str, str | None],
    run_ids: tuple[str, ...],
    page: int,
    limit: int,
) -> SearchRunsResponse:
    """A page of the tenant's runs of ``dag_id``; ``statuses`` and ``keywords`` by phase (``all``
    and ``None`` constrain nothing)."""
    if not date_range_is_valid(date_from, date_to):
        raise InvalidDateRange()
    search = RunSearch(
        id_company=id_company,
        dag_id=dag_id,
        date_from=date_from,
        date_to=date_to,
        statuses=phase_filters(statuses, skip="all"),
        keywords=phase_filters(keywords),
        run_ids=run_ids,
        page=page,
        limit=limit,
    )
    return dal.search_runs_in_db(search)


def get_run(run: RunRef) -> SearchRunResult:
    """One run of the caller's tenant (another tenant's run is as absent as a missing one)."""
    return dal.get_run_from_db(run)
