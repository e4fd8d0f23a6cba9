"""LifecycleFunction: soft delete, restore and extend-ttl of uploaded artifacts, and their share
links (create, list, revoke). The logic lives in ``etl_artifacts.lifecycle`` (docs/lifecycle.md).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from etl_artifacts.api.error_answers import configure
from etl_artifacts.api.openapi_text import BEARER_SECURITY, error_responses
from etl_artifacts.api.parameters import API_PREFIX
from etl_artifacts.api.request_context import caller, tenant
from etl_artifacts.errors import ErrorResponse, ValidationErrorResponse
from etl_artifacts.lifecycle.models import CreatedLink, CreateLinkRequest, ExtendTtlRequest, LinksResponse
from etl_artifacts.uploads.models import ArtifactRecord

app = APIGatewayHttpResolver(enable_validation=True)
configure(app)

TAGS = ["lifecycle"]
ARTIFACT_PATH = API_PREFIX + "/artifacts/<artifact_id>"

ArtifactIdPath = Annotated[
    str,
    Path(
        description="`art_` + a 26-character ULID. A malformed, unknown or another tenant's id is 404 "
        "`artifact_not_found`.",
    ),
]
LinkIdPath = Annotated[
    str, Path(description="The link's id (`lnk_...`); any other value is 404 `link_not_found`.")
]

_GONE = (
    (404, "`artifact_not_found`"),
    (410, "`artifact_deleted` (with `restorable_until`) or `artifact_expired`"),
    (403, "`insufficient_scope`: the token lacks the write scope"),
)


_EXTEND_RESPONSES: dict[int, Any] = error_responses(*_GONE)
_EXTEND_RESPONSES[422] = {
    "description": "Invalid parameters (validation shape), or `ttl_exceeds_limit` (ErrorResponse)",
    "content": {"application/json": {"model": ValidationErrorResponse | ErrorResponse}},
}


def api_root(app: APIGatewayHttpResolver) -> str:
    """``https://<host>/api/v1`` as the caller reached it (API Gateway sends ``X-Forwarded-Proto``):
    share link URLs start with it."""
    event = app.current_event
    host = event.request_context.domain_name or event.headers.get("host", "")
    scheme = event.headers.get("x-forwarded-proto", "https").split(",")[0].strip() or "https"
    return f"{scheme}://{host}{API_PREFIX}"


def _no_content() -> Response[None]:
    return Response(status_code=HTTPStatus.NO_CONTENT)


@app.delete(
    ARTIFACT_PATH,
    summary="Delete an uploaded artifact (soft, restorable)",
    operation_id="deleteUploadedArtifact",
    description="204; deleting again is 204 too. The artifact then answers 410 `artifact_deleted` with "
    "`restorable_until` (`ARTIFACT_RESTORE_DAYS`, 30 days), its share links stop at once, and after the "
    "window the sweeper removes its bytes. A sealed run's artifacts cannot be deleted (409 `run_sealed`).",
    tags=TAGS,
    security=BEARER_SECURITY,
    responses={
        204: {"description": "Deleted (or already deleted, or expired)"},
        **error_responses(*_GONE, (409, "`run_sealed`")),
    },
)
def delete_artifact(artifact_id: ArtifactIdPath) -> Response[None]:
    company = tenant(app)
    from etl_artifacts.lifecycle.artifact_states import delete_artifact as soft_delete

    soft_delete(company, artifact_id)
    return _no_content()


@app.post(
    ARTIFACT_PATH + "/restore",
    summary="Restore a deleted artifact",
    operation_id="restoreUploadedArtifact",
    description="200 the record, back in the state it was deleted from, while `restorable_until` is ahead; "
    "after it 410 `artifact_deleted`. An artifact that is not deleted is answered unchanged. 409 "
    "`run_sealed` on a sealed run, `artifact_already_exists` when its name was taken meanwhile.",
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=error_responses(
        *_GONE, (409, "`run_sealed`, `artifact_already_exists` or `run_artifact_limit`")
    ),
)
def restore_artifact(artifact_id: ArtifactIdPath) -> ArtifactRecord:
    company = tenant(app)
    from etl_artifacts.lifecycle.artifact_states import restore_artifact as restore

    return restore(company, artifact_id).record


@app.post(
    ARTIFACT_PATH + "/extend-ttl",
    summary="Extend an artifact's lifetime",
    operation_id="extendUploadedArtifactTtl",
    description="`expires_at` becomes max(current, now + `ttl_days`): never earlier. An artifact that never "
    "expires stays so. 422 `ttl_exceeds_limit` past `ARTIFACT_MAX_TTL_DAYS` (400). Allowed on sealed runs.",
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=_EXTEND_RESPONSES,
)
def extend_ttl(artifact_id: ArtifactIdPath, body: Annotated[ExtendTtlRequest, Body()]) -> ArtifactRecord:
    company = tenant(app)
    from etl_artifacts.lifecycle.artifact_states import extend_ttl as extend

    return extend(company, artifact_id, body.ttl_days).record


@app.post(
    ARTIFACT_PATH + "/links",
    summary="Create a share link",
    operation_id="createShareLink",
    description="201 a public link to an active artifact: `GET` on its `url` needs no token and redirects "
    "to a presigned GET valid 60 s. The token in the URL is shown once (only its hash is kept). "
    "`expires_in` seconds (default 7 days, at most 30), `max_downloads` uses (null: no limit). At most "
    "`LINK_MAX_ACTIVE` (1,000) live links per tenant: 409 `link_limit`. A pending artifact is 409 "
    "`upload_incomplete`.",
    tags=TAGS,
    security=BEARER_SECURITY,
    responses={
        201: {"description": "Created", "content": {"application/json": {"model": CreatedLink}}},
        **error_responses(*_GONE, (409, "`link_limit` or `upload_incomplete`")),
    },
)
def create_link(
    artifact_id: ArtifactIdPath, body: Annotated[CreateLinkRequest, Body()]
) -> Response[CreatedLink]:
    company = tenant(app)
    from etl_artifacts.lifecycle.links import create_link as create

    link = create(company, caller(app).sub, artifact_id, body, api_root(app))
    return Response(
        status_code=HTTPStatus.CREATED,
        content_type=content_types.APPLICATION_JSON,
        body=link,
    )


@app.get(
    ARTIFACT_PATH + "/links",
    summary="List an artifact's share links",
    operation_id="listShareLinks",
    description="Every link of the artifact, newest first, with its `status` "
    "(`active|expired|revoked|exhausted`) and use count; never a token.",
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=error_responses((404, "`artifact_not_found`")),
)
def list_links(artifact_id: ArtifactIdPath) -> LinksResponse:
    company = tenant(app)
    from etl_artifacts.lifecycle.links import list_links as links_of

    return links_of(company, artifact_id)


_REVOKE_RESPONSES: dict[int, Any] = {
    204: {"description": "Revoked (or already revoked)"},
    **error_responses((404, "`link_not_found`"), (403, "`insufficient_scope`")),
}


@app.delete(
    API_PREFIX + "/links/<link>",
    summary="Revoke a share link",
    operation_id="revokeShareLink",
    description="204: the link stops working at once; revoking again is 204. `link` is the link's id "
    "(`lnk_...`); an unknown or another tenant's id is 404 `link_not_found`.",
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=_REVOKE_RESPONSES,
)
def revoke_link(link: LinkIdPath) -> Response[None]:
    company = tenant(app)
    from etl_artifacts.lifecycle.links import revoke_link as revoke

    revoke(company, link)
    return _no_content()
