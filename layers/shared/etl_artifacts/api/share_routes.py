"""LinksFunction: the public side of share links. ``GET /api/v1/links/{token}`` needs no token of
its own (no authorizer in front): it counts a use and redirects to a presigned GET valid 60 s.
Every refusal is the same 404 ``link_not_found`` (docs/lifecycle.md)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path

from etl_artifacts.api.envelope import never_store
from etl_artifacts.api.error_answers import configure
from etl_artifacts.api.openapi_text import error_responses
from etl_artifacts.api.parameters import API_PREFIX
from etl_artifacts.lifecycle.models import LinkRedirect

app = APIGatewayHttpResolver(enable_validation=True)
configure(app)


_RESPONSES: dict[int, Any] = {
    302: {
        "description": "Redirect (`Location`) to a presigned GET of the artifact, valid 60 s",
        "headers": {"Location": {"description": "Presigned GET URL", "schema": {"type": "string"}}},
        "content": {"application/json": {"model": LinkRedirect}},
    },
    **{s: v for s, v in error_responses((404, "`link_not_found`")).items() if s not in (200, 401)},
}


@app.get(
    API_PREFIX + "/links/<link>",
    summary="Follow a share link (no token needed)",
    operation_id="followShareLink",
    description="`link` is the token of the link's `url`. 302 to a presigned GET valid 60 s; each use "
    "counts against `max_downloads`. 404 `link_not_found` alike for unknown, expired, revoked and used-up "
    "links and for artifacts no longer active.",
    tags=["lifecycle"],
    security=[],
    responses=_RESPONSES,
)
def follow_link(
    link: Annotated[str, Path(description="The link's token; anything else is 404 `link_not_found`.")],
) -> Response[LinkRedirect]:
    from etl_artifacts.lifecycle.links import follow_link as follow

    redirect = follow(link)
    never_store()  # no tenant asked, but the answer holds a presigned URL
    return Response(
        status_code=HTTPStatus.FOUND,
        content_type=content_types.APPLICATION_JSON,
        body=redirect,
        headers={"Location": redirect.url, "Referrer-Policy": "no-referrer"},
    )
