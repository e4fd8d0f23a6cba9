"""A local stand-in for API Gateway HTTP API (development only, not for production traffic).

Routes come from template.yaml. Each request becomes an HTTP API payload v2 event in the shape
AWS sends (path decoded once); the authorizer function runs first exactly as API Gateway runs it
(no Authorization header: 401 without calling anything; denied: 401), then the route's function:
in this process (tests), or in worker processes, one per concurrent invocation (``serve``, ``dev``);
a worker runs its function's init (import, SnapStart priming) before it takes a request.

As strict as AWS (docs/limits.md): with a ProcessInvoker (``serve``, ``dev``) a function runs in a
worker process killed at its template Timeout (the authorizer at 10 s at most); a result over
Lambda's 6 MB payload, a timeout, a crash or a dead worker is answered as API Gateway answers a
failed Lambda invocation: 500 ``{"message":"Internal Server Error"}``. The access log names the
method, route template, status and time only: never a query string (keywords, tokens), and a
request line the server cannot parse is answered in JSON that echoes nothing of it.

Refusals: where API Gateway answers a bare 401 (no Authorization header) or 403 (the authorizer
said no), this gateway answers a 401 ``ErrorResponse`` (docs/api.md) with ``WWW-Authenticate``
naming the rule that failed (the authorizer's ``context.error_description``; docs/security.md).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

from etl_artifacts.auth import MISSING, TOKEN_RULES
from etl_artifacts.errors import ApiError, Unauthorized
from etl_artifacts.errors import NotFound as RouteNotFound
from etl_artifacts.observability import logger
from etl_artifacts.payload import LAMBDA_PAYLOAD_MAX, payload_size
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from etl_artifacts_local.lambda_runtime import InvocationFailed, ProcessInvoker, invoke
from etl_artifacts_local.template import FunctionSpec, RouteSpec, TemplateSpec, load_template

# API Gateway waits 10 s at most for a Lambda authorizer.
AUTHORIZER_TIMEOUT_S = 10.0
# What an HTTP API answers when the Lambda invocation fails (function error, timeout, response
# payload too large, runtime exit): see docs/limits.md.
AWS_FAILED_INVOCATION = (500, '{"message":"Internal Server Error"}')
# A request whose event would pass Lambda's 6 MB invocation payload is never delivered.
AWS_REQUEST_TOO_LARGE = (413, '{"message":"Request Entity Too Large"}')
# WSGI environ keys the access log reads.
ROUTE_KEY = "etl_artifacts.route"


def _werkzeug_rule(path: str) -> str:
    return path.replace("{", "<").replace("}", ">")


# Bodies API Gateway hands over as text; anything else arrives base64-encoded (isBase64Encoded).
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")


def _event_body(raw: bytes, content_type: str | None) -> tuple[str, bool]:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media.startswith(_TEXT_TYPES) or media.endswith(("+json", "+xml")):
        try:
            return raw.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(raw).decode("ascii"), True


class FailedInvocation(Exception):
    """The function produced no usable result; the gateway answers as API Gateway would."""


class LocalGateway:
    """WSGI application: template routes -> authorizer -> function handler."""

    def __init__(
        self,
        template: TemplateSpec | None = None,
        template_path: Path | None = None,
        invoker: ProcessInvoker | None = None,
    ) -> None:
        self.template = template or load_template(template_path)
        # None: run in this process, one invocation at a time (tests can patch and spy on it);
        # a ProcessInvoker runs concurrent requests in separate worker processes (serve, dev).
        self.invoker = invoker
        self.url_map = Map(
            [Rule(_werkzeug_rule(r.path), methods=[r.method], endpoint=r) for r in self.template.routes],
            strict_slashes=False,
            merge_slashes=False,
        )

    def prestart(self) -> None:
        """Start one worker of every function the routes and the authorizer use: each runs its
        init (import, SnapStart priming) before it takes a request, as Lambda does."""
        if self.invoker is None:
            return
        names = {route.function for route in self.template.routes}
        if self.template.authorizer is not None:
            names.add(self.template.authorizer)
        self.invoker.prestart([self.template.functions[name] for name in sorted(names)])

    # -- event building -------------------------------------------------------------------
    @staticmethod
    def _headers(request: Request) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        return headers

    @staticmethod
    def _query(raw_query: str) -> dict[str, str] | None:
        params: dict[str, str] = {}
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            params[key] = f"{params[key]},{value}" if key in params else value
        return params or None

    def build_event(
        self,
        request: Request,
        route: RouteSpec,
        raw_path: str,
        path_params: dict[str, str],
        authorizer_context: dict[str, Any] | None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        raw_query = request.query_string.decode("latin-1")
        # API Gateway HTTP APIs route on the encoded path, then hand the function the path and
        # the path values decoded once (sources in docs/limits.md, "Event shape").
        decoded_path = unquote(raw_path)
        request_context: dict[str, Any] = {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": request.host,
            "domainPrefix": request.host.split(".")[0],
            "http": {
                "method": request.method,
                "path": decoded_path,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": request.remote_addr or "127.0.0.1",
                "userAgent": request.headers.get("User-Agent", ""),
            },
            "requestId": request_id or str(uuid.uuid4()),
            "routeKey": route.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        }
        if authorizer_context is not None:
            request_context["authorizer"] = {"lambda": authorizer_context}
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.route_key,
            "rawPath": decoded_path,
            "rawQueryString": raw_query,
            # API Gateway always adds X-Forwarded-Proto (https there; the local server speaks http).
            "headers": {"x-forwarded-proto": request.scheme, **self._headers(request)},
            "requestContext": request_context,
            "isBase64Encoded": False,
        }
        if query := self._query(raw_query):
            event["queryStringParameters"] = query
        if path_params:
            event["pathParameters"] = {k: unquote(v) for k, v in path_params.items()}
        cookies = request.headers.get("Cookie")
        if cookies:
            event["cookies"] = [c.strip() for c in cookies.split(";") if c.strip()]
        raw_body = request.get_data(cache=True)
        if raw_body:
            event["body"], event["isBase64Encoded"] = _event_body(
                raw_body, request.headers.get("Content-Type")
            )
        return event

    def _authorize(self, event: dict[str, Any]) -> dict[str, Any]:
        """Run the authorizer function; returns its context or raises Unauthorized."""
        authorization = event["headers"].get("authorization")
        if not authorization or self.template.authorizer is None:
            raise Unauthorized(MISSING)
        auth_event = {
            "version": "2.0",
            "type": "REQUEST",
            "routeArn": "arn:aws:execute-api:local:000000000000:local/$default/"
            + event["routeKey"].replace(" ", ""),
            "identitySource": [authorization],
            "routeKey": event["routeKey"],
            "rawPath": event["rawPath"],
            "rawQueryString": event["rawQueryString"],
            "headers": event["headers"],
            "queryStringParameters": event.get("queryStringParameters"),
            "pathParameters": event.get("pathParameters"),
            "requestContext": event["requestContext"],
        }
        spec = self.template.functions[self.template.authorizer]
        result = self._invoke(spec, auth_event, authorizer=True)
        context = result.get("context") if isinstance(result, dict) else None
        context = context if isinstance(context, dict) else {}
        if not isinstance(result, dict) or result.get("isAuthorized") is not True:
            rule = context.get("error_description")
            raise Unauthorized(rule if rule in TOKEN_RULES else None)
        return dict(context)

    def _invoke(self, spec: FunctionSpec, event: dict[str, Any], authorizer: bool = False) -> Any:
        try:
            if self.invoker is None:
                result = invoke(spec, event)
            else:
                timeout = self.invoker.timeout_for(spec)
                if authorizer:
                    timeout = min(timeout, AUTHORIZER_TIMEOUT_S)
                result = self.invoker(spec, event, timeout)
        except InvocationFailed as exc:
            raise self._failed(spec, exc.reason) from None
        except Exception as exc:
            # A crashing function: the type only, never the message.
            raise self._failed(spec, type(exc).__name__) from None
        if isinstance(result, dict) and payload_size(result) > LAMBDA_PAYLOAD_MAX:
            # Lambda refuses to return it: "Response payload size exceeded maximum allowed payload size".
            raise self._failed(spec, "payload_too_large")
        return result

    @staticmethod
    def _failed(spec: FunctionSpec, reason: str) -> FailedInvocation:
        logger.error("function failed", extra={"function": spec.logical_id, "error_type": reason})
        return FailedInvocation(reason)

    # -- WSGI -----------------------------------------------------------------------------
    @staticmethod
    def _error(exc: ApiError, request_id: str) -> Response:
        # Written as the functions write an ErrorResponse (compact JSON, the event's request id).
        body = json.dumps(exc.body(request_id), separators=(",", ":"))
        response = Response(body, status=exc.status, content_type="application/json")
        if isinstance(exc, Unauthorized):
            response.headers["WWW-Authenticate"] = exc.challenge
            response.headers["Cache-Control"] = "no-store"
        return response

    @staticmethod
    def _failed_invocation() -> Response:
        status, body = AWS_FAILED_INVOCATION
        response = Response(body, status=status, content_type="application/json")
        response.headers["apigw-requestid"] = str(uuid.uuid4())
        return response

    @staticmethod
    def _request_too_large() -> Response:
        status, body = AWS_REQUEST_TOO_LARGE
        response = Response(body, status=status, content_type="application/json")
        response.headers["apigw-requestid"] = str(uuid.uuid4())
        return response

    @staticmethod
    def _to_response(result: Any) -> Response:
        if not isinstance(result, dict) or "statusCode" not in result:
            return LocalGateway._failed_invocation()
        body = result.get("body") or ""
        payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
        response = Response(payload, status=int(result["statusCode"]))
        response.headers.pop("Content-Type", None)
        for name, value in (result.get("headers") or {}).items():
            response.headers[name] = str(value)
        for name, values in (result.get("multiValueHeaders") or {}).items():
            for value in values:
                response.headers.add(name, str(value))
        for cookie in result.get("cookies") or []:
            response.headers.add("Set-Cookie", cookie)
        return response

    def dispatch(self, request: Request) -> Response:
        # Routes match the raw (still percent-encoded) path, segment by segment, as at API Gateway.
        raw_uri = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path
        raw_path = raw_uri.split("?", 1)[0]
        adapter = self.url_map.bind_to_environ(request.environ)
        # One id per request: the authorizer's event, the function's and any error answer share it.
        request_id = str(uuid.uuid4())
        try:
            route, matched = adapter.match(raw_path, method=request.method)
        except Exception:  # NotFound, MethodNotAllowed, or a path werkzeug cannot match at all
            return self._error(RouteNotFound(), request_id)
        params = {str(name): str(value) for name, value in matched.items()}
        request.environ[ROUTE_KEY] = route.route_key
        try:
            context = None
            if route.authorized:
                auth_event = self.build_event(request, route, raw_path, params, None, request_id)
                context = self._authorize(auth_event)
            event = self.build_event(request, route, raw_path, params, context, request_id)
            if payload_size(event) > LAMBDA_PAYLOAD_MAX:
                # Lambda takes at most 6 MB of request payload either: API Gateway cannot invoke it.
                return self._request_too_large()
            return self._to_response(self._invoke(self.template.functions[route.function], event))
        except ApiError as exc:
            return self._error(exc, request_id)
        except FailedInvocation:
            return self._failed_invocation()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        started = time.perf_counter()
        response = self.dispatch(Request(environ))
        response.headers["X-Local-Gateway-Ms"] = f"{(time.perf_counter() - started) * 1000:.1f}"
        return response(environ, start_response)


class AccessLogHandler(WSGIRequestHandler):
    """werkzeug's request handler, logging method, route template, status and time only.

    The standard library's messages about a request it cannot parse quote the request line (and
    so its query string) in single or double quotes: they are neither logged nor sent back.
    """

    # Methods named in the access log; anything else on a request line is logged as "-".
    _METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

    def handle_one_request(self) -> None:
        self._started = time.perf_counter()
        super().handle_one_request()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        environ = getattr(self, "environ", None) or {}
        elapsed_ms = (time.perf_counter() - getattr(self, "_started", time.perf_counter())) * 1000
        method = getattr(self, "command", None)
        method = method if method in self._METHODS else "-"
        route = environ.get(ROUTE_KEY) or f"{method} (no route)"
        status = getattr(code, "value", code)
        self.log("info", "%s %s %.1f ms", route, status, elapsed_ms)

    def log_error(self, format: str, *args: Any) -> None:
        # The status only (send_error passes it first); never the message, which quotes the request.
        code = args[0] if args and isinstance(args[0], int) else None
        self.log("error", "%s", "request failed" if code is None else f"request failed: {int(code)}")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """A request the server cannot parse (request line, headers): JSON in API Gateway's shape,
        ``{"message": "Bad Request"}``, echoing nothing of the request."""
        status = HTTPStatus(code)
        self.log_error("code %d", int(status))
        body = json.dumps({"message": status.phrase}, separators=(",", ":")).encode()
        if self.request_version == "HTTP/0.9":
            # A line too malformed to name its version: still answer with a status line and headers.
            self.request_version = "HTTP/1.0"
        self.send_response(int(status), status.phrase)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(body)


def make_gateway_server(host: str, port: int, gateway: LocalGateway) -> BaseWSGIServer:
    """A threaded werkzeug server for the gateway, with the query-free access log."""
    return make_server(host, port, gateway, threaded=True, request_handler=AccessLogHandler)


def serve(
    host: str = "127.0.0.1",
    port: int = 3000,
    template_path: Path | None = None,
    instances: int = 4,
    timeout_s: float | None = None,
) -> None:
    import signal

    # SIGTERM (service managers, test harnesses) shuts down as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    invoker = ProcessInvoker(instances, timeout_s=timeout_s)
    gateway = LocalGateway(template_path=template_path, invoker=invoker)
    gateway.prestart()
    server = make_gateway_server(host, port, gateway)
    print(
        f"ETL Run Artifacts API (local development gateway) on http://{host}:{server.server_port}/api/v1",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        invoker.shutdown()
