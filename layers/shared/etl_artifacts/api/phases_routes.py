"""PhasesFunction: a run's event payload and its phase attempts' parquet as pages (CONTRACT §4).

Storage only (never ``etl.logs``). Parameters and their bounds are declared with annotations, so
validation and the OpenAPI document come from them. Each route calls one logic function of
``etl_artifacts.phases.service`` (which imports pyarrow), imported when the route runs: loading
this module (as the Meta function does to merge the OpenAPI document) stays cheap.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from etl_artifacts.api.common import (
    BEARER_SECURITY,
    RUN_PATH,
    DagIdPath,
    RunDatePath,
    RunIdPath,
    configure,
    error_responses,
    run_ref,
)
from etl_artifacts.config import get_settings
from etl_artifacts.errors import ErrorResponse, ValidationErrorResponse
from etl_artifacts.phases.models import EventResponse, ParquetPageResponse

app = APIGatewayHttpResolver(enable_validation=True)
configure(app)

TAGS = ["phases"]
NDJSON = "application/x-ndjson"
MAX_INT32 = 2_147_483_647

PhasePath = Annotated[
    Literal["extract", "transform", "load"], Path(description="Phase: `extract`, `transform` or `load`.")
]
AttemptQuery = Annotated[int, Query(ge=1, le=MAX_INT32, description="Phase attempt, from 1.")]
PageQuery = Annotated[
    int,
    Query(ge=0, le=MAX_INT32, description="Page number from 0; a page past the end is empty."),
]
LimitQuery = Annotated[int, Query(ge=1, le=1000, description="Rows per page.")]
DataKeywordQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=200,
        # The searchable text joins values with \x1f: control characters can never be a literal match.
        pattern=r"^[^\x00-\x1f\x7f-\x9f]+$",
        description=(
            "Case-insensitive literal substring of the row's searchable text (every value as rendered); "
            "control characters are refused. The `X-Search-Mode` header says how it was found."
        ),
    ),
]
LevelQuery = Annotated[
    Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] | None,
    Query(description="Only rows at exactly this level."),
]
LogKeywordQuery = Annotated[
    str | None,
    Query(min_length=1, max_length=200, description="Case-insensitive literal substring of `message`."),
]
ContinuationQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=2048,
        description=(
            "`X-Continuation-Token` of the previous NDJSON response, sent with the same filters; "
            "a request carrying one continues that NDJSON stream."
        ),
    ),
]

_PHASE_404 = (404, "`phase_not_found`: the phase attempt does not exist")
_PAGE_RESPONSES = error_responses(_PHASE_404)
_DATA_RESPONSES = error_responses(_PHASE_404)
_DATA_RESPONSES[200] = {
    "description": "A page of rows",
    "headers": {
        "X-Search-Mode": {
            "description": "With `keyword` only: how the matches were found",
            "schema": {"type": "string", "enum": ["index", "scan", "trigram"]},
        }
    },
}
_LOGS_RESPONSES = error_responses(_PHASE_404)
_LOGS_RESPONSES[200] = {
    "description": (
        "A JSON page, or with `Accept: application/x-ndjson` every matching row as one JSON object per "
        "line; when more rows remain the `X-Continuation-Token` header carries the cursor to send back "
        "as `continuation_token`"
    ),
    "content": {
        "application/json": {"model": ParquetPageResponse},
        NDJSON: {"schema": {"type": "string"}},
    },
    "headers": {
        "X-Continuation-Token": {
            "description": "NDJSON only, when more rows remain: send it back as `continuation_token`",
            "schema": {"type": "string"},
        }
    },
}
_LOGS_RESPONSES[422] = {
    "description": "Invalid parameters (validation shape), or `invalid_continuation_token` (ErrorResponse)",
    "content": {"application/json": {"model": ValidationErrorResponse | ErrorResponse}},
}
_EVENT_RESPONSES = error_responses((404, "`artifact_not_found`: neither event file exists"))


def _json(model: Any, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=model, headers=headers)


def _wants_ndjson(accept: str | None) -> bool:
    for part in (accept or "").split(","):
        media, *params = (piece.strip().lower() for piece in part.split(";"))
        if media == NDJSON:
            return not any(
                param.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for param in params
            )
    return False


@app.get(
    f"{RUN_PATH}/event",
    summary="The run's trigger message(s) and processed event",
    operation_id="getRunEvent",
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=_EVENT_RESPONSES,
    compress=True,
)
def run_event(dag_id: DagIdPath, date: RunDatePath, run_id: RunIdPath) -> EventResponse:
    from etl_artifacts.phases import service

    return service.event(run_ref(app, dag_id, date, run_id))


@app.get(
    f"{RUN_PATH}/phases/<phase>",
    summary="A phase attempt's metadata.parquet (one row) as a page",
    operation_id="getPhaseMetadata",
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=_PAGE_RESPONSES,
    compress=True,
)
def phase_metadata(
    dag_id: DagIdPath,
    date: RunDatePath,
    run_id: RunIdPath,
    phase: PhasePath,
    attempt: AttemptQuery = 1,
    page: PageQuery = 0,
    limit: LimitQuery = 50,
) -> ParquetPageResponse:
    from etl_artifacts.phases import service

    return service.metadata_page(run_ref(app, dag_id, date, run_id), phase, attempt, page=page, limit=limit)


@app.get(
    f"{RUN_PATH}/phases/<phase>/data",
    summary="A page of the attempt's data rows, optionally those matching a keyword",
    operation_id="getPhaseData",
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=_DATA_RESPONSES,
    compress=True,
)
def phase_data(
    dag_id: DagIdPath,
    date: RunDatePath,
    run_id: RunIdPath,
    phase: PhasePath,
    attempt: AttemptQuery = 1,
    page: PageQuery = 0,
    limit: LimitQuery = 50,
    keyword: DataKeywordQuery = None,
) -> Response[ParquetPageResponse]:
    from etl_artifacts.phases import service

    run = run_ref(app, dag_id, date, run_id)
    result = service.data_page(run, phase, attempt, page=page, limit=limit, keyword=keyword)
    return _json(result.body, None if result.search_mode is None else {"X-Search-Mode": result.search_mode})


@app.get(
    f"{RUN_PATH}/phases/<phase>/errors",
    summary="A page of the attempt's row/phase errors",
    operation_id="getPhaseErrors",
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=_PAGE_RESPONSES,
    compress=True,
)
def phase_errors(
    dag_id: DagIdPath,
    date: RunDatePath,
    run_id: RunIdPath,
    phase: PhasePath,
    attempt: AttemptQuery = 1,
    page: PageQuery = 0,
    limit: LimitQuery = 50,
) -> ParquetPageResponse:
    from etl_artifacts.phases import service

    return service.errors_page(run_ref(app, dag_id, date, run_id), phase, attempt, page=page, limit=limit)


@app.get(
    f"{RUN_PATH}/phases/<phase>/logs",
    summary="The attempt's log lines: a JSON page, or NDJSON with continuation tokens",
    operation_id="getPhaseLogs",
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=_LOGS_RESPONSES,
    compress=True,
)
def phase_logs(  # type: ignore[no-untyped-def]  # JSON or NDJSON: a Response annotation breaks the schema
    dag_id: DagIdPath,
    date: RunDatePath,
    run_id: RunIdPath,
    phase: PhasePath,
    attempt: AttemptQuery = 1,
    page: PageQuery = 0,
    limit: LimitQuery = 50,
    level: LevelQuery = None,
    keyword: LogKeywordQuery = None,
    continuation_token: ContinuationQuery = None,
):
    from etl_artifacts.phases import service

    run = run_ref(app, dag_id, date, run_id)
    # A continuation token only exists for NDJSON streams: presenting one continues the stream.
    if continuation_token is None and not _wants_ndjson(app.current_event.headers.get("accept")):
        body = service.logs_page(run, phase, attempt, page=page, limit=limit, level=level, keyword=keyword)
        return Response(
            status_code=200, content_type=content_types.APPLICATION_JSON, body=body.model_dump_json()
        )
    result = service.logs_ndjson(
        run,
        phase,
        attempt,
        level=level,
        keyword=keyword,
        continuation_token=continuation_token,
        max_bytes=get_settings().ndjson_max_bytes,
    )
    headers = {} if result.continuation_token is None else {"X-Continuation-Token": result.continuation_token}
    return Response(status_code=200, content_type=NDJSON, body=result.text, headers=headers)
