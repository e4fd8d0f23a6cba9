"""What every family's resolver shares: the single error mapping, the tenant from the
authorizer context, the run id check, request logging and the Lambda entry point, which passes
every answer through the one response path (``etl_artifacts.api.envelope``) and starts the
invocation's deadline (``etl_artifacts.deadline``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, unquote_plus

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, BeforeValidator, GetCoreSchemaHandler
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from etl_artifacts.api.envelope import begin_invocation, fit_result
from etl_artifacts.config import get_settings
from etl_artifacts.deadline import invocation_deadline
from etl_artifacts.errors import (
    ApiError,
    ConfigurationError,
    DeadlineExceeded,
    ErrorResponse,
    InsufficientScope,
    InternalError,
    NotFound,
    RateLimited,
    ThrottledResponse,
    TooLargeResponse,
    Unauthorized,
    ValidationErrorResponse,
)
from etl_artifacts.layout import RUN_ID_CHARS, RUN_ID_PATTERN, RUN_ID_RE, RunRef
from etl_artifacts.observability import get_tracer, logger, metrics, tracing_enabled
from etl_artifacts.ratelimit.tenant_gate import invocation_gate

API_PREFIX = "/api/v1"
RUN_PATH = API_PREFIX + "/dags/<dag_id>/runs/<date>/<run_id>"

# Strict input types shared by every route (docs/api.md). Pydantic's lax parsing would read
# ``1_0`` as 10, ``+1``/`` 1``/``1.0`` as 1, a datetime or a unix time as a date, and
# ``urn:uuid:...``, braces or 32 bare hex digits as a UUID: each value must be written exactly
# in its one form first, then pydantic parses it, so the 422 shape and the OpenAPI schema
# (integer, date, uuid) stay pydantic's.
MAX_INT32 = 2_147_483_647
_DIGITS = re.compile(r"[0-9]+")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
UUID_PATTERN = f"^{_UUID.pattern}$"


def _written_as(pattern: re.Pattern[str], error_type: str, message: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if isinstance(value, str) and not pattern.fullmatch(value):
            raise PydanticCustomError(error_type, message)
        return value

    return check


_check_digits = _written_as(
    _DIGITS, "int_parsing", "Input should be a valid integer written as plain decimal digits"
)


@dataclass(frozen=True)
class DecimalInt:
    """Annotation marker of an integer parameter: plain decimal digits, within ``ge``..``le``.

    ``Annotated[int, DecimalInt(ge=1, le=MAX_INT32), Query(description=...)]``. The bounds live
    here rather than in ``Query(ge=...)``: pydantic can only put a bound on an int schema, and
    documents one set on the digit check around it as a non-standard ``ge`` in OpenAPI.
    """

    ge: int | None = None
    le: int | None = None

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_before_validator_function(
            _check_digits, core_schema.int_schema(ge=self.ge, le=self.le)
        )


PlainDate = Annotated[
    dt.date, BeforeValidator(_written_as(_DATE, "date_parsing", "Input should be a valid date, YYYY-MM-DD"))
]
HyphenatedUuid = Annotated[
    uuid.UUID,
    BeforeValidator(
        _written_as(_UUID, "uuid_parsing", "Input should be a UUID in its 36-character hyphenated form")
    ),
]

DagIdPath = Annotated[
    HyphenatedUuid,
    Path(
        description="DAG id: a UUID, 36-character hyphenated form.",
        json_schema_extra={"pattern": UUID_PATTERN},
    ),
]
RunDatePath = Annotated[PlainDate, Path(description="Run date, YYYY-MM-DD.")]
RunIdPath = Annotated[
    str,
    Path(
        description=(
            "Run id, percent-encoded once by the client (`+` as `%2B`, `:` as `%3A`) and decoded by API "
            f"Gateway; it must match `{RUN_ID_PATTERN}` (a `%` left after that decoding is refused)."
        ),
        min_length=1,
        max_length=750,
        # Documented, not enforced here: check_run_id checks it with the API's error shape;
        # '.' and '..' are dot segments, never a run.
        json_schema_extra={"pattern": rf"^(?!\.{{1,2}}$)[{RUN_ID_CHARS}]{{1,250}}$"},
    ),
]

OPENAPI_TITLE = "ETL Run Artifacts API"
BEARER_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]
# A plain dict, validated when the document is built: importing Powertools' OpenAPI models at
# module level would add ~100 ms to every function's cold start.
SECURITY_SCHEMES: dict[str, Any] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "JWT carrying the tenant claim",
    }
}
ERROR_RESPONSES: dict[int, Any] = {
    401: {
        "description": "`unauthorized`: missing or invalid token; `WWW-Authenticate` says which rule failed",
        "headers": {
            "WWW-Authenticate": {
                "description": 'Bearer error="invalid_token", error_description="<the rule that failed>"',
                "schema": {"type": "string"},
            }
        },
        "content": {"application/json": {"model": ErrorResponse}},
    },
    422: {
        "description": "Invalid parameters",
        "content": {"application/json": {"model": ValidationErrorResponse}},
    },
    413: {
        "description": "`response_too_large`: the answer does not fit Lambda's 6 MB response payload "
        "even compressed; pages add `max_limit`, the largest `limit` that fits",
        "content": {"application/json": {"model": TooLargeResponse}},
    },
    429: {
        "description": "`rate_limited`: the tenant is over `RATE_LIMIT_RPS` / `RATE_LIMIT_BURST`; "
        "`too_many_scans`: `TENANT_MAX_SCANS` expensive requests of the tenant are running. Every tenant "
        "answer carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (Unix seconds)",
        "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
        "content": {"application/json": {"model": ThrottledResponse}},
    },
    502: {
        "description": "Storage or database failure",
        "content": {"application/json": {"model": ErrorResponse}},
    },
    503: {
        "description": "`deadline_exceeded`: the work could not finish before the function's timeout; "
        "retry after `Retry-After` seconds",
        "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
        "content": {"application/json": {"model": ErrorResponse}},
    },
}


def error_responses(*extra: tuple[int, str]) -> dict[int, Any]:
    """OpenAPI responses for a route: the common errors plus ``(status, description)`` pairs."""
    # 200 without content: Powertools fills it from the route's return annotation.
    responses: dict[int, Any] = {200: {"description": "Successful Response"}, **ERROR_RESPONSES}
    for status, description in extra:
        responses[status] = {
            "description": description,
            "content": {"application/json": {"model": ErrorResponse}},
        }
    return responses


def validation_error(loc: tuple[str | int, ...], msg: str, type_: str) -> RequestValidationError:
    """A 422 in the same shape as the ones parameter validation produces."""
    return RequestValidationError([{"loc": loc, "msg": msg, "type": type_}])


def presign_ttl(expires_in: int | None, default: int) -> int:
    """A presigned URL's lifetime: ``expires_in``, at most ``PRESIGN_MAX_TTL`` (configuration, so
    known only at request time), else ``default`` within that bound."""
    maximum = get_settings().presign_max_ttl
    if expires_in is not None and expires_in > maximum:
        raise validation_error(
            ("query", "expires_in"), f"Input should be less than or equal to {maximum}", "less_than_equal"
        )
    return expires_in or min(default, maximum)


def check_run_id(value: str) -> str:
    """The run id as API Gateway hands it over (decoded once, docs/limits.md), checked against the
    API's pattern. Never decoded again: a ``%`` still in it was encoded twice by the client."""
    # '.' and '..' match the pattern but are dot segments: as S3 keys they are rewritten by URL
    # normalisation (a presigned URL would name another key), so they are never a run.
    if not RUN_ID_RE.match(value) or value in (".", ".."):
        raise validation_error(
            ("path", "run_id"), f"String should match pattern '{RUN_ID_PATTERN}'", "string_pattern_mismatch"
        )
    return value


def request_id(app: APIGatewayHttpResolver) -> str:
    try:
        return app.current_event.request_context.request_id or str(uuid.uuid4())
    except Exception:
        return str(uuid.uuid4())


def tenant(app: APIGatewayHttpResolver) -> str:
    """The caller's company, from the authorizer context only (never from the request)."""
    context = app.current_event.request_context.authorizer.get_lambda or {}
    company = context.get("id_company")
    if not isinstance(company, str) or not company:
        raise Unauthorized()
    return company


@dataclass(frozen=True)
class Caller:
    """Who calls, from the authorizer context: the tenant and the token's ``sub``."""

    id_company: str
    sub: str


def caller(app: APIGatewayHttpResolver) -> Caller:
    context = app.current_event.request_context.authorizer.get_lambda or {}
    sub = context.get("sub")
    return Caller(id_company=tenant(app), sub=sub if isinstance(sub, str) else "")


# Requests that change something: they need the write scope (see ``lambda_entry``).
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _missing_write_scope(event: dict[str, Any]) -> InsufficientScope | None:
    """A write whose token lacks ``JWT_WRITE_SCOPE`` (the authorizer passes the token's scopes)."""
    context = event.get("requestContext") or {}
    if str((context.get("http") or {}).get("method", "")).upper() not in WRITE_METHODS:
        return None
    scopes = str(((context.get("authorizer") or {}).get("lambda") or {}).get("scopes") or "").split(" ")
    scope = get_settings().jwt_write_scope
    return None if scope in scopes else InsufficientScope(scope)


def _refusal(event: dict[str, Any], exc: ApiError) -> dict[str, Any]:
    """An error answer made before routing, in the shape the exception handlers give."""
    request = str((event.get("requestContext") or {}).get("requestId") or uuid.uuid4())
    return {
        "statusCode": exc.status,
        "headers": {"Content-Type": content_types.APPLICATION_JSON, **exc.headers()},
        "body": json.dumps(exc.body(request), separators=(",", ":")),
        "isBase64Encoded": False,
    }


def run_ref(app: APIGatewayHttpResolver, dag_id: uuid.UUID, date: dt.date, run_id: str) -> RunRef:
    return RunRef(id_company=tenant(app), dag_id=dag_id, run_date=date, run_id=check_run_id(run_id))


def _json_error(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers
    )


def configure(app: APIGatewayHttpResolver) -> APIGatewayHttpResolver:
    """Install the one error mapping, request logging and OpenAPI settings on a family's resolver."""
    from etl_artifacts import __version__

    app.configure_openapi(title=OPENAPI_TITLE, version=__version__, security_schemes=SECURITY_SCHEMES)

    @app.exception_handler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        # A deadline's or a limit's Retry-After depends on the moment; the others' is fixed per class.
        retry = exc.retry_after if isinstance(exc, DeadlineExceeded | RateLimited) else exc.retry_after_s
        headers = {"Retry-After": str(retry)} if retry else {}
        if isinstance(exc, Unauthorized):
            headers["WWW-Authenticate"] = exc.challenge
        headers.update(exc.headers())
        return _json_error(exc.status, exc.body(request_id(app)), headers or None)

    @app.exception_handler(RequestValidationError)
    def _validation_error(exc: RequestValidationError) -> Response:
        # FastAPI's shape; the offending input is never echoed back.
        items = [
            {
                "loc": list(err.get("loc", ())),
                "msg": str(err.get("msg", "Invalid value")),
                "type": str(err.get("type", "value_error")),
            }
            for err in exc.errors()
        ]
        return _json_error(422, {"detail": items})

    @app.exception_handler(UnicodeDecodeError)
    def _body_not_utf8(_: UnicodeDecodeError) -> Response:
        # A JSON body that is not UTF-8: Powertools turns only JSONDecodeError into a validation error.
        return _json_error(
            422, {"detail": [{"loc": ["body"], "msg": "JSON decode error", "type": "json_invalid"}]}
        )

    @app.not_found
    def _not_found(_: NotFoundError) -> Response:
        return _json_error(404, NotFound().body(request_id(app)))

    @app.exception_handler(ConfigurationError)
    def _configuration_error(exc: ConfigurationError) -> Response:
        logger.error("configuration error", extra={"error": str(exc)})
        return _json_error(500, InternalError().body(request_id(app)))

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        # Type only: messages and tracebacks may carry SQL, keys or URLs.
        logger.error("unhandled error", extra={"error_type": type(exc).__name__})
        return _json_error(500, InternalError().body(request_id(app)))

    return app


def _log_request(event: dict[str, Any], status: int, started: float) -> None:
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    # Method, route template and status only: no query string, headers or tokens.
    logger.info(
        "request",
        extra={
            "method": ((event.get("requestContext") or {}).get("http") or {}).get("method"),
            "route": event.get("routeKey"),
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "id_company": (authorizer.get("lambda") or {}).get("id_company"),
        },
    )
    # No per-route dimensions: one metric series each keeps CloudWatch cost flat.
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    if status >= 500:
        metrics.add_metric(name="ServerErrors", unit=MetricUnit.Count, value=1)


def _error_result(app: APIGatewayHttpResolver) -> Callable[[ApiError], dict[str, Any]]:
    """Renders an error decided after the route ran (413 by the envelope, 429 by the limiter)."""

    def render(exc: ApiError) -> dict[str, Any]:
        headers = {"Content-Type": content_types.APPLICATION_JSON, "Cache-Control": "no-store"}
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(exc.retry_after)
        return {
            "statusCode": exc.status,
            "headers": headers,
            "body": json.dumps(exc.body(request_id(app)), separators=(",", ":")),
            "isBase64Encoded": False,
        }

    return render


# Characters a path value keeps when re-encoded for routing: those of the API's patterns.
_ROUTING_SAFE = "-._~:+"


def routing_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event Powertools routes: the route API Gateway chose, with its decoded path values.

    API Gateway decodes the path once (docs/limits.md): ``rawPath`` holds ``a/b`` for ``a%2Fb``, which
    no route template matches. So the function routes what API Gateway routed -- its ``routeKey``
    filled with ``pathParameters`` -- each value re-encoded only where it leaves the API's
    characters. Nothing is ever decoded here: a value holding ``%`` or any other stray character
    reaches its check as ``%XX`` and is a 422, never a second decoding.
    """
    route_key = event.get("routeKey") or ""
    params = event.get("pathParameters") or {}
    _, _, template = route_key.partition(" ")
    if not params or not template.startswith("/"):
        return event
    path = template
    for name, value in params.items():
        path = path.replace("{" + name + "}", quote(str(value), safe=_ROUTING_SAFE))
    return {**event, "rawPath": path}


class QueryNotUtf8(ValueError):
    """A query name or value whose percent-decoded bytes are not UTF-8 (``name`` None when the
    name itself is not)."""

    def __init__(self, name: str | None) -> None:
        super().__init__("query string is not UTF-8")
        self.name = name


def query_parameters(raw_query: str) -> dict[str, str]:
    """``rawQueryString`` decoded once, strictly: ``+`` is a space, ``%XX`` a byte, and the bytes of
    every name and value must be UTF-8 (else QueryNotUtf8: ``%FF`` or an encoded surrogate such
    as ``%ED%A0%80`` never becomes U+FFFD). A name given twice has its values joined by commas,
    as API Gateway joins them."""
    params: dict[str, str] = {}
    for piece in raw_query.split("&"):
        if not piece:
            continue
        raw_name, _, raw_value = piece.partition("=")
        try:
            name = unquote_plus(raw_name, errors="strict")
        except UnicodeDecodeError:
            raise QueryNotUtf8(None) from None
        try:
            value = unquote_plus(raw_value, errors="strict")
        except UnicodeDecodeError:
            raise QueryNotUtf8(name) from None
        params[name] = f"{params[name]},{value}" if name in params else value
    return params


def strict_query(event: dict[str, Any]) -> dict[str, Any]:
    """The event with ``queryStringParameters`` decoded from ``rawQueryString`` by
    :func:`query_parameters`: how API Gateway decodes bytes that are not UTF-8 is not documented,
    so the functions read the query as the client encoded it (``rawQueryString`` stays encoded)."""
    if "rawQueryString" not in event:
        return event
    params = query_parameters(str(event.get("rawQueryString") or ""))
    strict = {key: value for key, value in event.items() if key != "queryStringParameters"}
    if params:
        strict["queryStringParameters"] = params
    return strict


def _not_utf8(exc: QueryNotUtf8) -> dict[str, Any]:
    # pydantic's own error for bytes that are not a string; the value is never echoed.
    loc = ["query"] if exc.name is None else ["query", exc.name]
    item = {
        "loc": loc,
        "msg": "Input should be a valid string, unable to parse raw data as a unicode string",
        "type": "string_unicode",
    }
    return {
        "statusCode": 422,
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "body": json.dumps({"detail": [item]}, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def lambda_entry(
    app: APIGatewayHttpResolver, *, writes: bool = False
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda handler of a family: Powertools logging context, metrics and tracing around resolve,
    the invocation's deadline, the tenant's limits, and the one response path every answer takes.

    With ``writes``, a write request (``WRITE_METHODS``) whose token lacks the write scope is
    answered 403 ``insufficient_scope`` before routing: authorization comes before validation, as
    at API Gateway, so a bad parameter never answers before the missing scope does.
    """

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        started = time.perf_counter()
        begin_invocation()
        render = _error_result(app)
        # The tenant's count runs beside the route's own storage calls (docs/limits.md).
        with invocation_deadline(context), invocation_gate(event) as gate:
            refused = gate.refused() if gate is not None else None
            missing_scope = _missing_write_scope(event) if writes and refused is None else None
            if refused is not None:
                result = render(refused)
            elif missing_scope is not None:
                result = fit_result(event, _refusal(event, missing_scope), render)
            else:
                try:
                    routed = routing_event(strict_query(event))
                except QueryNotUtf8 as exc:
                    answer = _not_utf8(exc)
                else:
                    answer = _traced(app)(routed, context)
                result = fit_result(event, answer, render)
            if gate is not None:
                result = gate.finish(result, render)
        _log_request(event, int(result.get("statusCode", 500)), started)
        return result

    return handler


_TRACED: dict[int, Callable[..., Any]] = {}


def _traced(app: APIGatewayHttpResolver) -> Callable[..., Any]:
    # Built on the first invocation, not at import: creating the Tracer costs cold-start time.
    if id(app) not in _TRACED:
        _TRACED[id(app)] = (
            get_tracer().capture_lambda_handler(app.resolve) if tracing_enabled() else app.resolve
        )
    return _TRACED[id(app)]


class StatusResponse(BaseModel):
    status: str
