"""ArtifactsFunction: list a run's parquet artifacts with presigned URLs, presign one (CONTRACT §4).

Storage only (S3 through boto3, never ``etl.logs``, never pyarrow). The logic lives in
``etl_artifacts.artifacts.service``, imported inside the routes so that loading this module (as
the Meta function does to merge the OpenAPI document) imports neither boto3 nor botocore.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from etl_artifacts.api.common import configure

app = APIGatewayHttpResolver(enable_validation=True)
configure(app)

from etl_artifacts.api.common import (  # noqa: E402
    BEARER_SECURITY,
    RUN_PATH,
    DagIdPath,
    RunDatePath,
    RunIdPath,
    error_responses,
    run_ref,
    validation_error,
)
from etl_artifacts.artifacts.models import PresignedUrlResponse, RunArtifactsResponse  # noqa: E402
from etl_artifacts.config import Settings, get_settings  # noqa: E402
from etl_artifacts.errors import ErrorResponse, UnknownArtifactKind, ValidationErrorResponse  # noqa: E402
from etl_artifacts.layout import (  # noqa: E402
    CHUNKED_NAMES,
    EVENT_KINDS,
    PHASES,
    SINGLE_NAMES,
    is_artifact_kind,
)

TAGS = ["artifacts"]
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
        # Documented as an enum, checked by the route: an unknown kind is the contract's
        # `unknown_artifact_kind`, not a parameter validation error.
        json_schema_extra={"enum": ARTIFACT_KINDS},
    ),
]


@app.get(
    f"{RUN_PATH}/artifacts",
    summary="List a run's artifacts with presigned download URLs",
    operation_id="listArtifacts",
    description=(
        "Every `.parquet` object of the run (all phases, all attempts), sorted by key, each with a presigned "
        "GET URL valid for `PRESIGN_DEFAULT_TTL` seconds. A run without objects, or another tenant's run, "
        "is an empty list. A URL also stops working when the credentials that signed it expire."
    ),
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=error_responses(),
)
def list_artifacts(dag_id: DagIdPath, date: RunDatePath, run_id: RunIdPath) -> RunArtifactsResponse:
    run = run_ref(app, dag_id, date, run_id)
    from etl_artifacts.artifacts.service import list_run_artifacts

    return list_run_artifacts(run)


@app.get(
    f"{RUN_PATH}/artifacts/<artifact_kind>",
    summary="Presign one artifact",
    operation_id="presignArtifact",
    description=(
        "A presigned GET URL for one artifact after a HEAD request confirms it exists. `attempt` is "
        "ignored for event kinds and `chunk` for kinds that are not chunked (`data|logs|errors`). The "
        "URL downloads as an attachment with a readable file name."
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
    attempt: Annotated[int, Query(ge=1, description="Phase attempt, from 1.")] = 1,
    chunk: Annotated[int, Query(ge=0, description="Chunk number (`NNN`) of data/logs/errors kinds.")] = 0,
    expires_in: Annotated[
        int | None,
        Query(
            ge=1,
            description=(
                "URL lifetime in seconds, 1..`PRESIGN_MAX_TTL` (3600 unless configured); "
                "default `PRESIGN_DEFAULT_TTL` (300 unless configured)."
            ),
            # The bound is configuration (checked per request); the document states the default.
            json_schema_extra={"maximum": DEFAULT_MAX_TTL},
        ),
    ] = None,
) -> PresignedUrlResponse:
    run = run_ref(app, dag_id, date, run_id)
    if not is_artifact_kind(artifact_kind):
        raise UnknownArtifactKind()
    settings = get_settings()
    # The upper bound is configuration, known only at request time.
    if expires_in is not None and expires_in > settings.presign_max_ttl:
        raise validation_error(
            ("query", "expires_in"),
            f"Input should be less than or equal to {settings.presign_max_ttl}",
            "less_than_equal",
        )
    from etl_artifacts.artifacts.service import presign_run_artifact

    return presign_run_artifact(
        run, artifact_kind, attempt, chunk, expires_in or settings.presign_default_ttl
    )
