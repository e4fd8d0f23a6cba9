"""PhasesFunction: a run's event payload and its phase attempts' parquet as pages (docs/api.md).

Storage only (never ``etl.logs``). Parameters and their bounds are declared with annotations, so
validation and the OpenAPI document come from them. Each route calls one logic function of
``etl_artifacts.phases.service`` (which imports pyarrow), imported when the route runs: loading
this module (as the Meta function does to merge the OpenAPI document) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from etl_artifacts.api.envelope import advise_page, advise_too_large, ndjson_budget, negotiate
from etl_artifacts.api.error_answers import configure
from etl_artifacts.api.openapi_text import BEARER_SECURITY, error_responses
from etl_artifacts.api.parameters import (
    MAX_INT32,
    RUN_PATH,
    DagIdPath,
    DecimalInt,
    RunDatePath,
    RunIdPath,
    validation_error,
)
from etl_artifacts.api.request_context import run_ref
from etl_artifacts.errors import ErrorResponse, ValidationErrorResponse
from etl_artifacts.phases.models import (
    ARROW_MEDIA_TYPE,
    CSV_CONTENT_TYPE,
    CSV_MEDIA_TYPE,
    JSON_MEDIA_TYPE,
    NDJSON_MEDIA_TYPE,
    PAGE_MEDIA_TYPES,
    EventResponse,
    ParquetPageResponse,
)

if TYPE_CHECKING:
    from etl_artifacts.phases.pages import Page

app = APIGatewayHttpResolver(enable_validation=True)
configure(app)

TAGS = ["phases"]
NDJSON = NDJSON_MEDIA_TYPE
MAX_COLUMNS = 100

PhasePath = Annotated[
    Literal["extract", "transform", "load"], Path(description="Phase: `extract`, `transform` or `load`.")
]
AttemptQuery = Annotated[int, DecimalInt(ge=1, le=MAX_INT32), Query(description="Phase attempt, from 1.")]
PageQuery = Annotated[
    int,
    DecimalInt(ge=0, le=MAX_INT32),
    Query(description="Page number from 0; a page past the end is empty."),
]
LimitQuery = Annotated[int, DecimalInt(ge=1, le=1000), Query(description="Rows per page.")]
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
ColumnsQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=2048,
        # 1..MAX_COLUMNS names, none empty; each once is checked by _column_names.
        pattern=rf"^[^,]+(,[^,]+){{0,{MAX_COLUMNS - 1}}}$",
        description=(
            f"Comma-separated column names (1..{MAX_COLUMNS}, each once, exactly as in the data): the page "
            "holds only these, in this order, and only their column chunks are read. A name the attempt's "
            "data does not have is 422 `unknown_column`. A `keyword` still matches the whole row."
        ),
    ),
]
OrderQuery = Annotated[
    Literal["asc", "desc"],
    Query(description="`asc`: oldest row first (default); `desc`: newest row first (JSON pages and NDJSON)."),
]
CsvFormulasQuery = Annotated[
    Literal["escape", "raw"],
    Query(
        description=(
            "CSV only. `escape` (default): a text cell (a string, binary as base64) or column name that "
            "begins with `=`, `+`, `-`, `@`, TAB or CR is written with a leading `'`, so a spreadsheet "
            "shows it instead of running it as a formula (numbers, decimals and times are never changed); "
            "`raw`: every cell exactly as stored, for programs that read the CSV. Other formats ignore it."
        )
    ),
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
# Data, errors and logs pages answer by Accept (docs/api.md): JSON, CSV or an Arrow IPC stream.
# CSV comes first on purpose: openapi-python-client (0.29) reads every answer of a status with the
# first media type it knows; text never fails to decode, JSON would raise on a CSV or Arrow body.
# Swagger UI gets JSON first (openapi_doc.json_first), its default Accept.
_PAGE_CONTENT: dict[str, Any] = {
    CSV_MEDIA_TYPE: {
        "schema": {
            "type": "string",
            "description": "RFC 4180, a header row of column names, values as in the JSON page, null empty",
        }
    },
    JSON_MEDIA_TYPE: {"model": ParquetPageResponse},
    ARROW_MEDIA_TYPE: {
        "schema": {
            "type": "string",
            "format": "binary",
            "description": "An Arrow IPC stream of the page's rows with their parquet types",
        }
    },
}
_PAGE_HEADERS: dict[str, Any] = {
    "X-Total-Rows": {"description": "CSV and Arrow: the page's `total_rows`", "schema": {"type": "integer"}},
    "X-Has-More": {
        "description": "CSV and Arrow: the page's `has_more`",
        "schema": {"type": "string", "enum": ["true", "false"]},
    },
}
_FORMATS = "A page of rows: JSON (default), `text/csv` or `application/vnd.apache.arrow.stream` by `Accept`"
_ERRORS_RESPONSES = error_responses(_PHASE_404)
_ERRORS_RESPONSES[200] = {"description": _FORMATS, "content": _PAGE_CONTENT, "headers": _PAGE_HEADERS}
_DATA_RESPONSES = error_responses(_PHASE_404)
_DATA_RESPONSES[200] = {
    "description": _FORMATS,
    "content": _PAGE_CONTENT,
    "headers": {
        **_PAGE_HEADERS,
        "X-Search-Mode": {
            "description": "With `keyword` only: how the matches were found",
            "schema": {"type": "string", "enum": ["index", "scan", "trigram"]},
        },
    },
}
_DATA_RESPONSES[422] = {
    "description": "Invalid parameters (validation shape), or `unknown_column` (ErrorResponse)",
    "content": {"application/json": {"model": ValidationErrorResponse | ErrorResponse}},
}
_LOGS_RESPONSES = error_responses(_PHASE_404)
_LOGS_RESPONSES[200] = {
    "description": (
        f"{_FORMATS}; or with `Accept: application/x-ndjson` every matching row as one JSON object per "
        "line; when more rows remain, or the attempt is still running (no `metadata.parquet`, `order=asc`), "
        "the `X-Continuation-Token` header carries the cursor to send back as `continuation_token`. A row "
        'whose line alone exceeds the NDJSON budget is sent as `{"_omitted": {"reason": "row_too_large", '
        '"row": N, "bytes": B, "artifact_kind": "{phase}-logs", "chunk": C}}` (row N of chunk C, B bytes '
        "as one line: download the chunk for it) and the stream goes on"
    ),
    "content": {
        **_PAGE_CONTENT,
        NDJSON: {"schema": {"type": "string", "description": "One JSON object per line, a log row each"}},
    },
    "headers": {
        **_PAGE_HEADERS,
        "X-Continuation-Token": {
            "description": (
                "NDJSON only, when more rows remain or the attempt is running: send it back as "
                "`continuation_token` for the rows not yet sent (those written since, when following)"
            ),
            "schema": {"type": "string"},
        },
    },
}
_LOGS_RESPONSES[422] = {
    "description": "Invalid parameters (validation shape), or `invalid_continuation_token` (ErrorResponse)",
    "content": {"application/json": {"model": ValidationErrorResponse | ErrorResponse}},
}
_EVENT_RESPONSES = error_responses((404, "`artifact_not_found`: neither event file exists"))
_EVENT_TOO_LARGE = (
    "The run's event files are too large for one response: download the `event-queue-data` and "
    "`event-event` artifacts (GET .../artifacts/event-queue-data/download and "
    ".../artifacts/event-event/download)."
)


def _accept() -> str | None:
    return app.current_event.headers.get("accept")


def _page_answer(
    page: Page, media: str, headers: dict[str, str] | None = None, csv_formulas: str = "escape"
) -> Response[Any]:
    """``page`` rendered as ``media`` (one of PAGE_MEDIA_TYPES); ``csv_formulas`` as the query says."""
    headers = dict(headers or {})
    if media == JSON_MEDIA_TYPE:
        body = page.body().model_dump_json()
        return Response(status_code=200, content_type=JSON_MEDIA_TYPE, body=body, headers=headers)
    from etl_artifacts.parquet import page_formats

    headers["X-Total-Rows"] = str(page.total_rows)
    headers["X-Has-More"] = "true" if page.has_more else "false"
    if media == CSV_MEDIA_TYPE:
        text = page_formats.csv_text(page.table, escape_formulas=csv_formulas != "raw")
        return Response(status_code=200, content_type=CSV_CONTENT_TYPE, body=text, headers=headers)
    # bytes: Powertools sends them base64-encoded in the Lambda payload.
    stream = page_formats.arrow_stream(page.table)
    return Response(status_code=200, content_type=ARROW_MEDIA_TYPE, body=stream, headers=headers)


def _column_names(columns: str | None) -> list[str] | None:
    """``columns`` split at commas (the pattern has checked 1..MAX_COLUMNS non-empty names): each
    once, since a row cannot hold a name twice (else 422)."""
    if columns is None:
        return None
    names = columns.split(",")
    if len(set(names)) != len(names):
        raise validation_error(("query", "columns"), "columns must name each column once", "value_error")
    return names


@app.get(
    f"{RUN_PATH}/event",
    summary="The run's trigger message(s) and processed event",
    operation_id="getRunEvent",
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=_EVENT_RESPONSES,
)
def run_event(dag_id: DagIdPath, date: RunDatePath, run_id: RunIdPath) -> EventResponse:
    from etl_artifacts.phases import service

    advise_too_large(_EVENT_TOO_LARGE)
    return service.event(run_ref(app, dag_id, date, run_id))


@app.get(
    f"{RUN_PATH}/phases/<phase>",
    summary="A phase attempt's metadata.parquet (one row) as a page",
    operation_id="getPhaseMetadata",
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=_PAGE_RESPONSES,
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

    advise_page(f"{phase}-metadata")
    return service.metadata_page(run_ref(app, dag_id, date, run_id), phase, attempt, page=page, limit=limit)


@app.get(
    f"{RUN_PATH}/phases/<phase>/data",
    summary="A page of the attempt's data rows, optionally those matching a keyword",
    operation_id="getPhaseData",
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=_DATA_RESPONSES,
)
def phase_data(  # JSON, CSV or Arrow: the formats are in `responses`
    dag_id: DagIdPath,
    date: RunDatePath,
    run_id: RunIdPath,
    phase: PhasePath,
    attempt: AttemptQuery = 1,
    page: PageQuery = 0,
    limit: LimitQuery = 50,
    keyword: DataKeywordQuery = None,
    columns: ColumnsQuery = None,
    csv_formulas: CsvFormulasQuery = "escape",
):
    from etl_artifacts.phases import service

    advise_page(f"{phase}-data")
    run = run_ref(app, dag_id, date, run_id)
    names = _column_names(columns)
    media = negotiate(_accept(), PAGE_MEDIA_TYPES)
    result = service.data_page(run, phase, attempt, page=page, limit=limit, keyword=keyword, columns=names)
    headers = None if result.search_mode is None else {"X-Search-Mode": result.search_mode}
    return _page_answer(result.page, media, headers, csv_formulas)


@app.get(
    f"{RUN_PATH}/phases/<phase>/errors",
    summary="A page of the attempt's row/phase errors",
    operation_id="getPhaseErrors",
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=_ERRORS_RESPONSES,
)
def phase_errors(  # JSON, CSV or Arrow: the formats are in `responses`
    dag_id: DagIdPath,
    date: RunDatePath,
    run_id: RunIdPath,
    phase: PhasePath,
    attempt: AttemptQuery = 1,
    page: PageQuery = 0,
    limit: LimitQuery = 50,
    csv_formulas: CsvFormulasQuery = "escape",
):
    from etl_artifacts.phases import service

    advise_page(f"{phase}-errors")
    run = run_ref(app, dag_id, date, run_id)
    media = negotiate(_accept(), PAGE_MEDIA_TYPES)
    rows = service.errors_page(run, phase, attempt, page=page, limit=limit)
    return _page_answer(rows, media, csv_formulas=csv_formulas)


@app.get(
    f"{RUN_PATH}/phases/<phase>/logs",
    summary="The attempt's log lines: a page (JSON, CSV, Arrow), or NDJSON with continuation tokens",
    operation_id="getPhaseLogs",
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=_LOGS_RESPONSES,
)
def phase_logs(  # JSON, CSV, Arrow or NDJSON: the formats are in `responses`
    dag_id: DagIdPath,
    date: RunDatePath,
    run_id: RunIdPath,
    phase: PhasePath,
    attempt: AttemptQuery = 1,
    page: PageQuery = 0,
    limit: LimitQuery = 50,
    level: LevelQuery = None,
    keyword: LogKeywordQuery = None,
    order: OrderQuery = "asc",
    continuation_token: ContinuationQuery = None,
    csv_formulas: CsvFormulasQuery = "escape",
):
    from etl_artifacts.phases import service

    advise_page(f"{phase}-logs")
    run = run_ref(app, dag_id, date, run_id)
    media = negotiate(_accept(), (*PAGE_MEDIA_TYPES, NDJSON))
    # A continuation token only exists for NDJSON streams: presenting one continues the stream.
    if continuation_token is None and media != NDJSON:
        rows = service.logs_page(
            run, phase, attempt, page=page, limit=limit, level=level, keyword=keyword, order=order
        )
        return _page_answer(rows, media, csv_formulas=csv_formulas)
    result = service.logs_ndjson(
        run,
        phase,
        attempt,
        level=level,
        keyword=keyword,
        order=order,
        continuation_token=continuation_token,
        max_bytes=ndjson_budget(),
    )
    headers = {}
    if result.continuation_token is not None:
        headers["X-Continuation-Token"] = result.continuation_token
    return Response(status_code=200, content_type=NDJSON, body=result.text, headers=headers)
