"""MetaFunction: health, whoami, the merged OpenAPI document and Swagger UI."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path as FsPath

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types

from etl_artifacts import __version__
from etl_artifacts.api.error_answers import configure
from etl_artifacts.api.openapi_text import (
    BEARER_SECURITY,
    OPENAPI_TITLE,
    SECURITY_SCHEMES,
    StatusResponse,
    error_responses,
)
from etl_artifacts.api.parameters import API_PREFIX
from etl_artifacts.api.request_context import tenant
from etl_artifacts.errors import Unauthorized
from etl_artifacts.principal import Principal

app = APIGatewayHttpResolver(enable_validation=True)
configure(app)


_merge_lock = threading.Lock()
_merged: list[str] = []  # the published document, built once


def merged_openapi_json() -> str:
    """The OpenAPI document of every family, merged by Powertools on first use and cached.

    Every family's resolver lives in a ``*_routes.py`` module beside this one; Powertools finds
    them by AST and loads them. Done on the first request, not at import, to keep cold starts short.
    ``openapi_doc.tidy`` then removes Powertools' leftover validation schemas.
    """
    with _merge_lock:
        if _merged:
            return _merged[0]
        if getattr(app, "_openapi_merge", None) is None:
            app.configure_openapi_merge(
                path=str(FsPath(__file__).parent),
                pattern="*_routes.py",
                title=OPENAPI_TITLE,
                version=__version__,
                description="Search ETL pipeline runs and read the parquet artifacts each run produced.",
                security_schemes=SECURITY_SCHEMES,
                on_conflict="first",
            )
        from etl_artifacts.api.openapi_doc import tidy_json

        _merged.append(tidy_json(app.get_openapi_merge_json_schema()))
        return _merged[0]


# Swagger UI parses every answer whose type contains "json" as one JSON document, so NDJSON logs
# showed "can't parse JSON": its responses are shown as the text lines they are instead.
_SWAGGER_NDJSON_AS_TEXT = """
(function () {
  var bundle = window.SwaggerUIBundle;
  window.SwaggerUIBundle = Object.assign(function (options) {
    options.responseInterceptor = function (response) {
      var type = (response.headers || {})["content-type"] || "";
      if (/^application\\/x-ndjson/i.test(type)) {
        response.headers["content-type"] = type.replace(/^application\\/x-ndjson/i, "text/plain");
      }
      return response;
    };
    return bundle(options);
  }, bundle);
})();
"""


@app.get(f"{API_PREFIX}/docs", include_in_schema=False)
def swagger_ui():  # a Response annotation breaks schema generation
    """Powertools' Swagger UI page and bundled assets around the merged document.

    Built on request rather than with ``app.enable_swagger()``, which imports Powertools' OpenAPI
    models at module load (~70 ms of this function's cold start) for a page few requests need.
    The page links its document as ``docs?format=json`` (as ``enable_swagger`` serves it): that
    answers the JSON document too.
    """
    if (app.current_event.query_string_parameters or {}).get("format") == "json":
        return openapi_document()
    from aws_lambda_powertools.event_handler.openapi import swagger_ui as assets
    from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html

    folder = FsPath(assets.__file__).parent
    from etl_artifacts.api.openapi_doc import json_first

    spec = json_first(merged_openapi_json()).replace("</", "<\\/")
    body = generate_swagger_html(
        spec,
        (folder / "swagger-ui-bundle.min.js").read_text(encoding="utf-8") + _SWAGGER_NDJSON_AS_TEXT,
        (folder / "swagger-ui.min.css").read_text(encoding="utf-8"),
        "",
        None,
    )
    return Response(status_code=200, content_type="text/html", body=body)


# The caller as the authorizer verified it, under its own name in the OpenAPI document (no
# docstring: it would become the schema's description).
class WhoAmIResponse(Principal):
    pass


@app.get(f"{API_PREFIX}/health", summary="Liveness check (no auth)", tags=["meta"], operation_id="getHealth")
def health() -> StatusResponse:
    return StatusResponse(status="ok")


@app.get(
    f"{API_PREFIX}/whoami",
    summary="The caller's tenant and token expiry",
    operation_id="getWhoAmI",
    tags=["meta"],
    security=BEARER_SECURITY,
    responses=error_responses(),
)
def whoami() -> WhoAmIResponse:
    context = app.current_event.request_context.authorizer.get_lambda or {}
    try:
        expires_at = datetime.fromisoformat(str(context.get("expires_at")))
    except ValueError as exc:
        raise Unauthorized() from exc
    return WhoAmIResponse(id_company=tenant(app), sub=str(context.get("sub") or ""), expires_at=expires_at)


@app.get(f"{API_PREFIX}/openapi.json", include_in_schema=False)
def openapi_document():  # a Response annotation breaks schema generation
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=merged_openapi_json(),
    )
