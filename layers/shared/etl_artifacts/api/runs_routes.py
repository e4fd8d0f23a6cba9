"""RunsFunction: search a DAG's runs and read one run's summary (docs/api.md), from ``etl.logs``.

Parameters are declared with annotations (validation and the OpenAPI document come from them);
each route calls one logic function of ``etl_artifacts.runs.service`` (which reads through
``runs.dal``), imported inside the route so that loading this module (as the Meta function does to
merge the OpenAPI document) never imports the database driver.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Query

from etl_artifacts.api.error_answers import configure
from etl_artifacts.api.openapi_text import BEARER_SECURITY, error_responses
from etl_artifacts.api.parameters import (
    API_PREFIX,
    RUN_PATH,
    DagIdPath,
    DecimalInt,
    PlainDate,
    RunDatePath,
    RunIdPath,
    validation_error,
)
from etl_artifacts.api.request_context import run_ref, tenant
from etl_artifacts.errors import ErrorResponse, ValidationErrorResponse
from etl_artifacts.runs.models import (
    MAX_KEYWORD_CHARS,
    MAX_LIMIT,
    MAX_RANGE_DAYS,
    MAX_RUN_IDS,
    SearchRunResult,
    SearchRunsResponse,
    StatusFilter,
    parse_run_ids,
)
from etl_artifacts.s3.layout import RUN_ID_CHARS, RUN_ID_PATTERN

app = APIGatewayHttpResolver(enable_validation=True)
configure(app)

TAGS = ["runs"]
_ENTRY = f"[{RUN_ID_CHARS}]{{1,250}}"
RUN_IDS_SCHEMA_PATTERN = rf"^(?:{_ENTRY})?(?:,(?:{_ENTRY})?){{0,{MAX_RUN_IDS - 1}}}$"


def _status(phase: str) -> Any:
    return Query(
        description=f"`all`, or the status the `{phase}` phase must have (a run without it never matches)."
    )


def _keyword(phase: str) -> Any:
    return Query(
        description=(
            f"Case-insensitive literal substring of the `{phase}` phase's JSON text (`%`, `_`, `\\` match "
            "themselves)."
        ),
        min_length=1,
        max_length=MAX_KEYWORD_CHARS,
        # NUL cannot occur in Postgres text: refuse it as a parameter error, not a database error.
        pattern=r"^[^\x00]+$",
    )


def _run_ids(raw: str | None) -> tuple[str, ...]:
    """The ``run_ids`` allowlist (see ``parse_run_ids``), or a 422 in the validation shape."""
    try:
        return parse_run_ids(raw)
    except ValueError as exc:
        raise validation_error(("query", "run_ids"), str(exc), "value_error") from None


_SEARCH_RESPONSES = error_responses()
_SEARCH_RESPONSES[422] = {
    "description": (
        "Invalid parameters (validation shape), or `invalid_date_range` (ErrorResponse) when "
        f"date_from > date_to or the range spans more than {MAX_RANGE_DAYS} days"
    ),
    "content": {"application/json": {"model": ValidationErrorResponse | ErrorResponse}},
}


@app.get(
    f"{API_PREFIX}/dags/<dag_id>/runs",
    summary="Search a DAG's runs",
    operation_id="searchRuns",
    description=(
        "Runs of the caller's tenant for one DAG in an inclusive date range, filtered by phase status, "
        "phase keyword and a run_id allowlist; newest first (run_date DESC, then run_id DESC in byte order)."
    ),
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=_SEARCH_RESPONSES,
)
def search_runs(
    dag_id: DagIdPath,
    date_from: Annotated[PlainDate, Query(description="First run date, inclusive (YYYY-MM-DD).")],
    date_to: Annotated[
        PlainDate,
        Query(description=f"Last run date, inclusive (YYYY-MM-DD), at most {MAX_RANGE_DAYS} days after."),
    ],
    event_status: Annotated[StatusFilter, _status("event")] = "all",
    extract_status: Annotated[StatusFilter, _status("extract")] = "all",
    transform_status: Annotated[StatusFilter, _status("transform")] = "all",
    load_status: Annotated[StatusFilter, _status("load")] = "all",
    event_keyword: Annotated[str | None, _keyword("event")] = None,
    extract_keyword: Annotated[str | None, _keyword("extract")] = None,
    transform_keyword: Annotated[str | None, _keyword("transform")] = None,
    load_keyword: Annotated[str | None, _keyword("load")] = None,
    run_ids: Annotated[
        str | None,
        Query(
            description=(
                "Comma-separated allowlist of run ids (entries trimmed, empty ones ignored; "
                f"at most {MAX_RUN_IDS}, each matching `{RUN_ID_PATTERN}`)."
            ),
            # Documented shape (parse_run_ids enforces it, with its own message).
            json_schema_extra={"pattern": RUN_IDS_SCHEMA_PATTERN},
        ),
    ] = None,
    page: Annotated[int, DecimalInt(ge=0), Query(description="Page number, from 0.")] = 0,
    limit: Annotated[int, DecimalInt(ge=1, le=MAX_LIMIT), Query(description="Runs per page.")] = 20,
) -> SearchRunsResponse:
    company = tenant(app)
    allowlist = _run_ids(run_ids)
    from etl_artifacts.runs import service

    return service.search_runs(
        company,
        dag_id,
        date_from,
        date_to,
        statuses={
            "event": event_status,
            "extract": extract_status,
            "transform": transform_status,
            "load": load_status,
        },
        keywords={
            "event": event_keyword,
            "extract": extract_keyword,
            "transform": transform_keyword,
            "load": load_keyword,
        },
        run_ids=allowlist,
        page=page,
        limit=limit,
    )


@app.get(
    RUN_PATH,
    summary="One run's summary",
    operation_id="getRun",
    description="The run's phase summaries (status, message, total, attempt, s3_data_path), no inline data.",
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=error_responses((404, "`run_not_found`: no such run for the caller's tenant")),
)
def get_run(dag_id: DagIdPath, date: RunDatePath, run_id: RunIdPath) -> SearchRunResult:
    run = run_ref(app, dag_id, date, run_id)
    from etl_artifacts.runs import service

    return service.get_run(run)
