"""UploadsFunction: artifacts tenants attach to a run (docs/uploads.md) -- create, complete, read
the record, its bytes or a download redirect, and list them across a DAG or the whole tenant.

Postgres (``etl.uploaded_artifacts``, and ``etl.logs`` to check the run) and S3 (``uploads/`` keys
only). Writes (POST) need the write scope, checked before routing (``lambda_entry(writes=True)``).
The logic lives in ``etl_artifacts.uploads.service``, imported inside the routes so that loading
this module (as the Meta function does to merge the OpenAPI document) imports neither boto3 nor
pg8000.
"""

from __future__ import annotations

import base64
from http import HTTPStatus
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query

from etl_artifacts.api.error_answers import configure
from etl_artifacts.api.openapi_text import BEARER_SECURITY, error_responses
from etl_artifacts.api.parameters import (
    API_PREFIX,
    RUN_PATH,
    DagIdPath,
    DecimalInt,
    HyphenatedUuid,
    PlainDate,
    RunDatePath,
    RunIdPath,
    check_run_id,
    presign_ttl,
)
from etl_artifacts.api.request_context import caller, run_ref, tenant
from etl_artifacts.config import Settings
from etl_artifacts.errors import ErrorResponse, InvalidDateRange, ValidationErrorResponse
from etl_artifacts.runs.models import date_range_is_valid
from etl_artifacts.s3.layout import RUN_ID_CHARS
from etl_artifacts.uploads.models import (
    ARTIFACT_TYPE_PATTERN,
    MAX_NAME_CHARS,
    ArtifactListResponse,
    ArtifactStatus,
    ArtifactView,
    CreateArtifactRequest,
    DownloadRedirect,
    Phase,
)

app = APIGatewayHttpResolver(enable_validation=True)
configure(app)


@app.exception_handler(UnicodeDecodeError)
def _body_not_utf8(_: UnicodeDecodeError) -> Response[Any]:
    # A JSON body that is not UTF-8: the validation shape, as for any other undecodable body.
    return Response(
        status_code=HTTPStatus.UNPROCESSABLE_ENTITY,
        content_type=content_types.APPLICATION_JSON,
        body={"detail": [{"loc": ["body"], "msg": "The body is not UTF-8 JSON", "type": "json_invalid"}]},
    )


TAGS = ["uploads"]
ARTIFACT_PATH = API_PREFIX + "/artifacts/<artifact_id>"
DOWNLOAD_DEFAULT_TTL = 60
DEFAULT_MAX_TTL = Settings.model_fields["presign_max_ttl"].default
LIST_DEFAULT_LIMIT = 50
LIST_MAX_LIMIT = 200
MAX_LIST_CURSOR_CHARS = 512

_EXAMPLE_RECORD: dict[str, Any] = {
    "artifact_id": "art_01JEXAMPLE0000000000000000",
    "dag_id": "3f2b8c1e-5d4a-4c7b-9e1f-0a2b3c4d5e6f",
    "date": "2026-11-20",
    "run_id": "manual__2026-11-20T10:15:30+00:00",
    "phase": "transform",
    "attempt": 1,
    "name": "quality-report.md",
    "artifact_type": "report",
    "content_type": "text/markdown",
    "size_bytes": 12,
    "sha256": "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447",
    "digest": "sha256:a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447",
    "status": "active",
    "is_primary_deliverable": False,
    "derived_from": ["transform/attempt=1/data_000.parquet"],
    "metadata": {"rows_checked": 1200},
    "created_at": "2026-11-20T10:30:00.123456+00:00",
    "created_by": "etl-bot",
    "expires_at": "2027-02-18T10:30:00.123456+00:00",
    "deleted_at": None,
    "restorable_until": None,
}

ArtifactIdPath = Annotated[
    str,
    Path(
        description=(
            "`art_` + a 26-character ULID. Another tenant's id, a malformed id and an unknown id are "
            "the same 404 `artifact_not_found`."
        ),
        examples=["art_01JEXAMPLE0000000000000000"],
    ),
]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="idempotency-key",
        # Documented; check_idempotency_key enforces it (with the validation shape).
        json_schema_extra={"pattern": "^[!-~]{1,255}$"},
        description=(
            "1..255 visible ASCII characters. The same key with the same body (and run) returns the same "
            "artifact, 201 again; with another body, 422 `idempotency_key_reused`."
        ),
    ),
]
BoolText = Literal["true", "false"]


def _with_422(description: str, *extra: tuple[int, str]) -> dict[int, Any]:
    responses = error_responses(
        (
            403,
            "`insufficient_scope`: the token lacks the write scope "
            '(`WWW-Authenticate: Bearer error="insufficient_scope"`)',
        ),
        *extra,
    )
    responses[422] = {
        "description": description,
        "content": {"application/json": {"model": ValidationErrorResponse | ErrorResponse}},
    }
    return responses


_CREATE_RESPONSES = _with_422(
    "Invalid fields (validation shape), or `checksum_mismatch` (inline bytes), `idempotency_key_reused`, "
    "`ttl_exceeds_limit` (ErrorResponse)",
    (404, "`run_not_found`: no such run in the run database for the caller's tenant"),
    (
        409,
        "`artifact_already_exists` (a non-deleted artifact of the run has this name), `run_artifact_limit`",
    ),
)
_CREATE_RESPONSES[201] = {
    "description": "Created (or the same request replayed with its Idempotency-Key); `Location` names it",
    "headers": {
        "Location": {"description": "`/api/v1/artifacts/{artifact_id}`", "schema": {"type": "string"}}
    },
    "content": {
        "application/json": {
            "model": ArtifactView,
            "examples": {
                "pending": {
                    "summary": "Declared only: PUT the bytes to `upload.url` with exactly `upload.headers`",
                    "value": {
                        **_EXAMPLE_RECORD,
                        "status": "pending",
                        "upload": {
                            "method": "PUT",
                            "url": "https://bucket.s3.amazonaws.com/...uploads/art_01JEXAMPLE...?X-Amz-Signature=...",
                            "headers": {
                                "Content-Type": "text/markdown",
                                "Content-Length": "12",
                                "x-amz-checksum-sha256": "qUiQTy8PR5uPgZdpSzAYSw0u0cHNKh7A+4XSmaGSpEc=",
                            },
                            "expires_at": "2026-11-20T10:45:00+00:00",
                        },
                    },
                },
                "inline": {
                    "summary": "Sent inline (`content` or `content_base64`): active at once",
                    "value": {
                        **_EXAMPLE_RECORD,
                        "url": "https://...",
                        "url_expires_at": "2026-11-20T10:35:00+00:00",
                    },
                },
            },
        }
    },
}
del _CREATE_RESPONSES[200]


@app.post(
    f"{RUN_PATH}/artifacts",
    summary="Attach an artifact to a run",
    operation_id="createUploadedArtifact",
    description=(
        "Records a file of the caller's own (a report, screenshot, PDF, export) for a run that exists in the "
        "run database. Small files (at most 4 MiB) go inline in `content` (UTF-8 text) or `content_base64` "
        "and are active at once. Otherwise the answer is `pending` and carries `upload`: a presigned PUT "
        "whose signed headers are the length, the type and the SHA-256, so S3 itself refuses other bytes; "
        "then call `complete`. Needs the write scope."
    ),
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=_CREATE_RESPONSES,
)
def create_artifact(
    dag_id: DagIdPath,
    date: RunDatePath,
    run_id: RunIdPath,
    body: Annotated[
        CreateArtifactRequest,
        Body(
            examples=[
                {
                    "name": "quality-report.md",
                    "artifact_type": "report",
                    "content_type": "text/markdown",
                    "size_bytes": 12,
                    "sha256": "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447",
                    "phase": "transform",
                    "attempt": 1,
                    "content": "hello world\n",
                }
            ]
        ),
    ],
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response[ArtifactView]:
    run = run_ref(app, dag_id, date, run_id)
    who = caller(app)
    from etl_artifacts.uploads.service import check_idempotency_key, create_artifact

    created = create_artifact(who.id_company, who.sub, run, body, check_idempotency_key(idempotency_key))
    return Response(
        status_code=HTTPStatus.CREATED,
        content_type=content_types.APPLICATION_JSON,
        body=created.view,
        headers={"Location": f"{API_PREFIX}/artifacts/{created.view.artifact_id}"},
    )


_NOT_FOUND = (404, "`artifact_not_found`: no such artifact for the caller's tenant (malformed ids included)")
_GONE = (410, "`artifact_deleted` (with `restorable_until`) or `artifact_expired`")


@app.post(
    f"{ARTIFACT_PATH}/complete",
    summary="Complete an upload",
    operation_id="completeUploadedArtifact",
    description=(
        "Asks S3 for the uploaded object (HEAD with checksum mode): when its size and SHA-256 equal the "
        "record's, the artifact becomes active and every read and list shows it at once. A missing object "
        "is 409 `upload_incomplete`; another size or SHA-256 (or none held by S3) is 422 "
        "`checksum_mismatch`: the object is removed, the artifact stays pending (GET it for a fresh upload). "
        "Completing an active artifact returns it unchanged. Needs the write scope."
    ),
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=_with_422(
        "`checksum_mismatch` (ErrorResponse)",
        _NOT_FOUND,
        (409, "`upload_incomplete`: nothing uploaded yet"),
        _GONE,
    ),
)
def complete_artifact(artifact_id: ArtifactIdPath) -> Response[ArtifactView]:
    company = tenant(app)
    from etl_artifacts.uploads.service import complete_artifact

    return _json(complete_artifact(company, artifact_id))


@app.get(
    ARTIFACT_PATH,
    summary="Get an uploaded artifact",
    operation_id="getUploadedArtifact",
    description=(
        "The record; when active, with a presigned GET `url` (valid `PRESIGN_DEFAULT_TTL` seconds, "
        "`url_expires_at`); while pending, with a fresh `upload`."
    ),
    tags=TAGS,
    security=BEARER_SECURITY,
    responses={
        **error_responses(_NOT_FOUND, _GONE),
        200: {
            "description": "The record",
            "content": {
                "application/json": {
                    "model": ArtifactView,
                    "examples": {
                        "active": {
                            "value": {
                                **_EXAMPLE_RECORD,
                                "url": "https://...",
                                "url_expires_at": "2026-11-20T10:35:00+00:00",
                            }
                        }
                    },
                }
            },
        },
    },
)
def get_artifact(artifact_id: ArtifactIdPath) -> Response[ArtifactView]:
    company = tenant(app)
    from etl_artifacts.uploads.service import get_artifact

    return _json(get_artifact(company, artifact_id))


@app.get(
    f"{ARTIFACT_PATH}/content",
    summary="An uploaded artifact's bytes",
    operation_id="getUploadedArtifactContent",
    description=(
        "The bytes, with the recorded `Content-Type` and `Repr-Digest: sha-256=:<base64>:` (RFC 9530), when "
        "they fit one Lambda response (about 4.5 MB); larger files are 413 `response_too_large`: use "
        "`/download`. A pending artifact is 409 `upload_incomplete`."
    ),
    tags=TAGS,
    security=BEARER_SECURITY,
    responses={
        **error_responses(_NOT_FOUND, (409, "`upload_incomplete`: still pending"), _GONE),
        200: {
            "description": "The bytes, with the recorded `Content-Type` (declared as octet-stream: any type)",
            "headers": {
                "Repr-Digest": {"description": "`sha-256=:<base64>:`", "schema": {"type": "string"}},
            },
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        },
    },
)
def get_artifact_content(artifact_id: ArtifactIdPath):  # bytes of any type: see `responses`
    company = tenant(app)
    from etl_artifacts.uploads.service import artifact_content

    record, data = artifact_content(company, artifact_id, f"{API_PREFIX}/artifacts/{artifact_id}")
    digest = base64.b64encode(bytes.fromhex(record.sha256)).decode("ascii")
    return Response(
        status_code=HTTPStatus.OK,
        content_type=record.content_type,
        body=data,
        headers={"Repr-Digest": f"sha-256=:{digest}:"},
    )


@app.get(
    f"{ARTIFACT_PATH}/download",
    summary="Download an uploaded artifact (302 to a fresh presigned URL)",
    operation_id="downloadUploadedArtifact",
    description=(
        "302 to a presigned GET valid `expires_in` seconds (default 60): S3 answers with "
        "`Content-Disposition: attachment` and the artifact's name, and the recorded `Content-Type`."
    ),
    tags=TAGS,
    security=BEARER_SECURITY,
    responses={
        **{
            k: v
            for k, v in error_responses(
                _NOT_FOUND, (409, "`upload_incomplete`: still pending"), _GONE
            ).items()
            if k != 200
        },
        302: {
            "description": "Redirect to a freshly presigned GET URL (`Location`), `Cache-Control: no-store`",
            "headers": {"Location": {"description": "Presigned GET URL", "schema": {"type": "string"}}},
            "content": {"application/json": {"model": DownloadRedirect}},
        },
    },
)
def download_artifact(
    artifact_id: ArtifactIdPath,
    expires_in: Annotated[
        Annotated[int, DecimalInt(ge=1)] | None,
        Query(
            description="URL lifetime in seconds, 1..`PRESIGN_MAX_TTL` (3600 unless configured); default 60.",
            json_schema_extra={"maximum": DEFAULT_MAX_TTL},
        ),
    ] = None,
) -> Response[DownloadRedirect]:
    company = tenant(app)
    ttl = presign_ttl(expires_in, DOWNLOAD_DEFAULT_TTL)
    from etl_artifacts.uploads.service import download_url

    redirect = download_url(company, artifact_id, ttl)
    return Response(
        status_code=HTTPStatus.FOUND,
        content_type=content_types.APPLICATION_JSON,
        body=redirect,
        headers={"Location": redirect.url},
    )


_LIST_RESPONSES = error_responses()
_LIST_RESPONSES[422] = {
    "description": (
        "Invalid parameters (validation shape), or `invalid_date_range`, `invalid_cursor` (ErrorResponse)"
    ),
    "content": {"application/json": {"model": ValidationErrorResponse | ErrorResponse}},
}
_LIST_RESPONSES[200] = {
    "description": "One page, newest first",
    "content": {
        "application/json": {
            "model": ArtifactListResponse,
            "examples": {"page": {"value": {"items": [_EXAMPLE_RECORD], "next_cursor": "eyJ2Ijox...Zm9v"}}},
        }
    },
}
_LIST_DESCRIPTION = (
    "Uploaded artifacts across runs, newest first (`created_at` DESC, `artifact_id` DESC), a page at a time: "
    "while `next_cursor` is not null, send it back as `cursor` with the same filters (another tenant's or "
    "other filters' cursor is 422 `invalid_cursor`). `status` defaults to `active`. `include_urls=true` adds "
    "each active item's presigned `url`. A page's cost depends only on the caller's own artifacts."
)


def _list(
    dag_id: Any,
    filters: dict[str, Any],
) -> Response[ArtifactListResponse]:
    company = tenant(app)
    date_from, date_to = filters["date_from"], filters["date_to"]
    if date_from is not None and date_to is not None and not date_range_is_valid(date_from, date_to):
        raise InvalidDateRange()
    run_id = filters["run_id"]
    if run_id is not None:
        check_run_id(run_id)
    from etl_artifacts.uploads.dal import ListQuery
    from etl_artifacts.uploads.service import list_artifacts

    primary = filters["is_primary_deliverable"]
    query = ListQuery(
        id_company=company,
        status=filters["status"],
        dag_id=dag_id,
        date_from=date_from,
        date_to=date_to,
        run_date=filters["date"],
        run_id=run_id,
        phase=filters["phase"],
        artifact_type=filters["artifact_type"],
        is_primary_deliverable=None if primary is None else primary == "true",
        name_prefix=filters["name_prefix"],
        limit=filters["limit"],
    )
    page = list_artifacts(query, filters["cursor"], filters["include_urls"] == "true")
    return _json(page)


DateFromQuery = Annotated[PlainDate | None, Query(description="First run date, inclusive (YYYY-MM-DD).")]
DateToQuery = Annotated[
    PlainDate | None, Query(description="Last run date, inclusive, at most 366 days after `date_from`.")
]
DateQuery = Annotated[PlainDate | None, Query(description="Runs of this date (with `run_id`: one run).")]
RunIdQuery = Annotated[
    str | None,
    Query(
        description="Runs with this id (with `date`: one run).",
        json_schema_extra={"pattern": rf"^(?!\.{{1,2}}$)[{RUN_ID_CHARS}]{{1,250}}$"},
    ),
]
PhaseQuery = Annotated[Phase | None, Query(description="Only artifacts attached to this phase.")]
TypeQuery = Annotated[
    str | None, Query(pattern=ARTIFACT_TYPE_PATTERN, description="Only this `artifact_type`.")
]
StatusQuery = Annotated[ArtifactStatus, Query(description="Default `active`.")]
PrimaryQuery = Annotated[BoolText | None, Query(description="`true` or `false`.")]
NamePrefixQuery = Annotated[
    str | None,
    Query(min_length=1, max_length=MAX_NAME_CHARS, description="Names starting with this (literal)."),
]
LimitQuery = Annotated[
    int,
    DecimalInt(ge=1, le=LIST_MAX_LIMIT),
    Query(description=f"1..{LIST_MAX_LIMIT} (default {LIST_DEFAULT_LIMIT})."),
]
CursorQuery = Annotated[
    str | None,
    Query(min_length=1, max_length=MAX_LIST_CURSOR_CHARS, description="The previous page's `next_cursor`."),
]
IncludeUrlsQuery = Annotated[BoolText, Query(description="`true` adds each active item's presigned `url`.")]


@app.get(
    f"{API_PREFIX}/dags/<dag_id>/artifacts",
    summary="List a DAG's uploaded artifacts across runs",
    operation_id="listDagUploadedArtifacts",
    description=_LIST_DESCRIPTION,
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=_LIST_RESPONSES,
)
def list_dag_artifacts(
    dag_id: DagIdPath,
    date_from: DateFromQuery = None,
    date_to: DateToQuery = None,
    date: DateQuery = None,
    run_id: RunIdQuery = None,
    phase: PhaseQuery = None,
    artifact_type: TypeQuery = None,
    status: StatusQuery = "active",
    is_primary_deliverable: PrimaryQuery = None,
    name_prefix: NamePrefixQuery = None,
    limit: LimitQuery = LIST_DEFAULT_LIMIT,
    cursor: CursorQuery = None,
    include_urls: IncludeUrlsQuery = "false",
) -> Response[ArtifactListResponse]:
    return _list(dag_id, dict(locals()))


@app.get(
    f"{API_PREFIX}/artifacts",
    summary="List the tenant's uploaded artifacts across every DAG",
    operation_id="listUploadedArtifacts",
    description=_LIST_DESCRIPTION + " `dag_id` narrows it to one DAG.",
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=_LIST_RESPONSES,
)
def list_tenant_artifacts(
    dag_id: Annotated[HyphenatedUuid | None, Query(description="Only this DAG.")] = None,
    date_from: DateFromQuery = None,
    date_to: DateToQuery = None,
    date: DateQuery = None,
    run_id: RunIdQuery = None,
    phase: PhaseQuery = None,
    artifact_type: TypeQuery = None,
    status: StatusQuery = "active",
    is_primary_deliverable: PrimaryQuery = None,
    name_prefix: NamePrefixQuery = None,
    limit: LimitQuery = LIST_DEFAULT_LIMIT,
    cursor: CursorQuery = None,
    include_urls: IncludeUrlsQuery = "false",
) -> Response[ArtifactListResponse]:
    return _list(dag_id, dict(locals()))


def _json(body: Any) -> Response[Any]:
    return Response(status_code=HTTPStatus.OK, content_type=content_types.APPLICATION_JSON, body=body)
