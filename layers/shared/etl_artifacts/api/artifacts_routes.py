"""ArtifactsFunction: list a run's parquet artifacts with presigned URLs, presign one (docs/api.md),
redirect to a fresh presigned URL of one (docs/api.md).

Storage only (S3 through boto3, never ``etl.logs``, never pyarrow). The logic lives in
``etl_artifacts.artifacts.service``, imported inside the routes so that loading this module (as
the Meta function does to merge the OpenAPI document) imports neither boto3 nor botocore.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from etl_artifacts.api.error_answers import configure
from etl_artifacts.api.openapi_text import BEARER_SECURITY, error_responses
from etl_artifacts.api.parameters import (
    MAX_INT32,
    RUN_PATH,
    DagIdPath,
    DecimalInt,
    RunDatePath,
    RunIdPath,
    presign_ttl,
)
from etl_artifacts.api.request_context import run_ref
from etl_artifacts.artifacts.listing_cursor import MAX_CURSOR_CHARS
from etl_artifacts.artifacts.models import (
    DEFAULT_LIST_LIMIT,
    PresignedUrlResponse,
    RunArtifactsResponse,
)
from etl_artifacts.config import Settings, get_settings
from etl_artifacts.errors import ErrorResponse, UnknownArtifactKind, ValidationErrorResponse
from etl_artifacts.s3.layout import (
    CHUNKED_NAMES,
    EVENT_KINDS,
    PHASES,
    SINGLE_NAMES,
    is_artifact_kind,
)

app = APIGatewayHttpResolver(enable_validation=True)
configure(app)

TAGS = ["artifacts"]
DOWNLOAD_DEFAULT_TTL = 60  # docs/api.md: the redirect's URL is used at once
DEFAULT_MAX_TTL = Settings.model_fields["presign_max_ttl"].default
ARTIFACT_KINDS = [*EVENT_KINDS, *(f"{p}-{n}" for p in PHASES for n in (*CHUNKED_NAMES, *SINGLE_NAMES))]

_PRESIGN_RESPONSES: dict[int, Any] = error_responses((404, "`artifact_not_found`: no such object in the run"))
_PRESIGN_RESPONSES[422] = {
    "description": "Invalid parameters (validation shape), or `unknown_artifact_kind` (ErrorResponse)",
    "content": {"application/json": {"model": ValidationErrorResponse | ErrorResponse}},
}

ArtifactKindPath = Annotated[
    str,
    Path(
        description=(
            "`{phase}-{name}` with phase `extract|transform|load` and name "
            "`data|logs|errors|metadata|index`, or `event-queue-data`, `event-event`. "
            "Anything else is 422 `unknown_artifact_kind`."
        ),
        # Documented as an enum, checked by the route: an unknown kind is the API's
        # `unknown_artifact_kind`, not a parameter validation error.
        json_schema_extra={"enum": ARTIFACT_KINDS},
    ),
]


_LIST_RESPONSES: dict[int, Any] = error_responses()
_LIST_RESPONSES[422] = {
    "description": "Invalid parameters (validation shape), or `invalid_cursor` (ErrorResponse)",
    "content": {"application/json": {"model": ValidationErrorResponse | ErrorResponse}},
}

# The phases' bounds: an attempt or chunk beyond int32 is a 422, not an absent object.
ArtifactAttemptQuery = Annotated[
    int, DecimalInt(ge=1, le=MAX_INT32), Query(description="Phase attempt, from 1.")
]
ArtifactChunkQuery = Annotated[
    int, DecimalInt(ge=0, le=MAX_INT32), Query(description="Chunk number (`NNN`) of data/logs/errors kinds.")
]
ExpiresInSeconds = Annotated[int, DecimalInt(ge=1)] | None


def _expires_in_query(default: str) -> Any:
    return Query(
        description=(
            f"URL lifetime in seconds, 1..`PRESIGN_MAX_TTL` (3600 unless configured); default {default}."
        ),
        # The bound is configuration (checked per request); the document states the default.
        json_schema_extra={"maximum": DEFAULT_MAX_TTL},
    )


@app.get(
    f"{RUN_PATH}/artifacts",
    summary="List a run's artifacts with presigned download URLs, a page at a time",
    operation_id="listArtifacts",
    description=(
        "The `.parquet` objects of the run (all phases, all attempts), sorted by key, each with a presigned "
        "GET URL valid for `PRESIGN_DEFAULT_TTL` seconds. One page holds at most `limit` objects; while "
        "`next_cursor` is not null, send it back as `cursor` (with the same `limit`) for the next page. A "
        "run without objects, or another tenant's run, is an empty list. A URL also stops working when the "
        "credentials that signed it expire."
    ),
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=_LIST_RESPONSES,
)
def list_artifacts(
    dag_id: DagIdPath,
    date: RunDatePath,
    run_id: RunIdPath,
    limit: Annotated[
        int,
        DecimalInt(ge=1, le=DEFAULT_LIST_LIMIT),
        Query(description="Objects per page, 1..1000 (default 1000)."),
    ] = DEFAULT_LIST_LIMIT,
    cursor: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_CURSOR_CHARS,
            description="The previous page's `next_cursor` (opaque); 422 `invalid_cursor` when it was "
            "made for another tenant, run or `limit`.",
        ),
    ] = None,
) -> RunArtifactsResponse:
    run = run_ref(app, dag_id, date, run_id)
    from etl_artifacts.artifacts.service import list_run_artifacts

    return list_run_artifacts(run, limit, cursor)


def _presigned(
    run_args: tuple[Any, Any, str],
    artifact_kind: str,
    attempt: int,
    chunk: int,
    expires_in: int | None,
    default: int,
) -> PresignedUrlResponse:
    """What presigning and the download redirect share: checks in the API's order, then sign."""
    run = run_ref(app, *run_args)
    if not is_artifact_kind(artifact_kind):
        raise UnknownArtifactKind()
    ttl = presign_ttl(expires_in, default)
    from etl_artifacts.artifacts.service import presign_run_artifact

    return presign_run_artifact(run, artifact_kind, attempt, chunk, ttl)


@app.get(
    f"{RUN_PATH}/artifacts/<artifact_kind>",
    summary="Presign one artifact",
    operation_id="presignArtifact",
    description=(
        "A presigned GET URL for one artifact after a HEAD request confirms it exists. `attempt` is "
        "ignored for event kinds and `chunk` for kinds that are not chunked (`data|logs|errors`). The "
        "URL downloads as an attachment with a readable file name. Presigned URLs are GET-only: a "
        "HEAD request on one is refused by S3."
    ),
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=_PRESIGN_RESPONSES,
)
def presign_artifact(
    dag_id: DagIdPath,
    date: RunDatePath,
    run_id: RunIdPath,
    artifact_kind: ArtifactKindPath,
    attempt: ArtifactAttemptQuery = 1,
    chunk: ArtifactChunkQuery = 0,
    expires_in: Annotated[
        ExpiresInSeconds, _expires_in_query("`PRESIGN_DEFAULT_TTL` (300 unless configured)")
    ] = None,
) -> PresignedUrlResponse:
    settings = get_settings()
    return _presigned(
        (dag_id, date, run_id), artifact_kind, attempt, chunk, expires_in, settings.presign_default_ttl
    )


_DOWNLOAD_RESPONSES: dict[int, Any] = {
    302: {
        "description": (
            "Redirect to a freshly presigned GET URL (`Location`), sent with `Cache-Control: no-store`; "
            "the body is the same PresignedUrlResponse the presign route answers"
        ),
        "headers": {
            "Location": {"description": "Presigned GET URL of the artifact", "schema": {"type": "string"}},
            "Cache-Control": {"description": "`no-store`", "schema": {"type": "string"}},
        },
        "content": {"application/json": {"model": PresignedUrlResponse}},
    },
    **{status: value for status, value in _PRESIGN_RESPONSES.items() if status != 200},
}


@app.get(
    f"{RUN_PATH}/artifacts/<artifact_kind>/download",
    summary="Download one artifact (302 to a fresh presigned URL)",
    operation_id="downloadArtifact",
    description=(
        "A link that keeps working: every request presigns anew (after a HEAD confirms the object exists) "
        "and answers 302 to that URL, valid `expires_in` seconds (default 60). `curl -LO -H "
        "'Authorization: Bearer ...'` or a client that follows redirects then downloads the file, as an "
        "attachment with a readable file name. Parameters and errors as for presigning. The presigned URL "
        "is GET-only."
    ),
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=_DOWNLOAD_RESPONSES,
)
def download_artifact(
    dag_id: DagIdPath,
    date: RunDatePath,
    run_id: RunIdPath,
    artifact_kind: ArtifactKindPath,
    attempt: ArtifactAttemptQuery = 1,
    chunk: ArtifactChunkQuery = 0,
    expires_in: Annotated[ExpiresInSeconds, _expires_in_query(f"{DOWNLOAD_DEFAULT_TTL}")] = None,
) -> Response[PresignedUrlResponse]:
    presigned = _presigned(
        (dag_id, date, run_id), artifact_kind, attempt, chunk, expires_in, DOWNLOAD_DEFAULT_TTL
    )
    return Response(
        status_code=HTTPStatus.FOUND,
        content_type=content_types.APPLICATION_JSON,
        body=presigned,
        headers={"Location": presigned.url},
    )
