"""A local stand-in for API Gateway HTTP API (development only, not for production traffic).

Routes come from template.yaml. Each request becomes an HTTP API payload v2 event; the
authorizer function runs first exactly as API Gateway runs it (no Authorization header: 401
without calling anything; denied: 401), then the route's function handler runs: in this process
(tests), or in worker processes, one per concurrent invocation (``serve``, ``dev``).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from etl_artifacts.errors import ApiError, InternalError, Unauthorized
from etl_artifacts.errors import NotFound as RouteNotFound
from etl_artifacts.local.lambda_runtime import ProcessInvoker, invoke
from etl_artifacts.local.template import FunctionSpec, RouteSpec, TemplateSpec, load_template
from etl_artifacts.observability import logger


def _werkzeug_rule(path: str) -> str:
    return path.replace("{", "<").replace("}", ">")


class LocalGateway:
    """WSGI application: template routes -> authorizer -> function handler."""

    def __init__(
        self,
        template: TemplateSpec | None = None,
        template_path: Path | None = None,
        invoker: Callable[[FunctionSpec, dict[str, Any]], Any] | None = None,
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
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        raw_query = request.query_string.decode("latin-1")
        request_context: dict[str, Any] = {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": request.host,
            "domainPrefix": request.host.split(".")[0],
            "http": {
                "method": request.method,
                "path": raw_path,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": request.remote_addr or "127.0.0.1",
                "userAgent": request.headers.get("User-Agent", ""),
            },
            "requestId": str(uuid.uuid4()),
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
            "rawPath": raw_path,
            "rawQueryString": raw_query,
            "headers": self._headers(request),
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
        return event

    def _authorize(self, event: dict[str, Any]) -> dict[str, Any]:
        """Run the authorizer function; returns its context or raises Unauthorized."""
        authorization = event["headers"].get("authorization")
        if not authorization or self.template.authorizer is None:
            raise Unauthorized()
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
        result = self._invoke(self.template.functions[self.template.authorizer], auth_event)
        if not isinstance(result, dict) or result.get("isAuthorized") is not True:
            raise Unauthorized()
        return dict(result.get("context") or {})

    def _invoke(self, spec: FunctionSpec, event: dict[str, Any]) -> Any:
        return self.invoker(spec, event) if self.invoker is not None else invoke(spec, event)

    # -- WSGI -----------------------------------------------------------------------------
    @staticmethod
    def _error(exc: ApiError) -> Response:
        body = exc.body(str(uuid.uuid4()))
        return Response(json.dumps(body), status=exc.status, content_type="application/json")

    @staticmethod
    def _to_response(result: Any) -> Response:
        if not isinstance(result, dict) or "statusCode" not in result:
            return LocalGateway._error(InternalError())
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
        # The raw (still percent-encoded) path, as API Gateway's rawPath.
        raw_uri = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path
        raw_path = raw_uri.split("?", 1)[0]
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            route, matched = adapter.match(raw_path, method=request.method)
        except (NotFound, MethodNotAllowed):
            return self._error(RouteNotFound())
        except Exception:
            return self._error(RouteNotFound())
        params = {str(name): str(value) for name, value in matched.items()}
        try:
            context = None
            if route.authorized:
                context = self._authorize(self.build_event(request, route, raw_path, params, None))
            event = self.build_event(request, route, raw_path, params, context)
            return self._to_response(self._invoke(self.template.functions[route.function], event))
        except ApiError as exc:
            return self._error(exc)
        except Exception as exc:
            # A crashing function is API Gateway's 500; the type only, never the message.
            logger.error("function failed", extra={"error_type": type(exc).__name__})
            return self._error(InternalError())

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        started = time.perf_counter()
        response = self.dispatch(Request(environ))
        response.headers["X-Local-Gateway-Ms"] = f"{(time.perf_counter() - started) * 1000:.1f}"
        return response(environ, start_response)


def serve(
    host: str = "127.0.0.1", port: int = 3000, template_path: Path | None = None, instances: int = 4
) -> None:
    import signal

    from werkzeug.serving import make_server

    # SIGTERM (service managers, test harnesses) shuts down as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    invoker = ProcessInvoker(instances)
    server = make_server(
        host, port, LocalGateway(template_path=template_path, invoker=invoker), threaded=True
    )
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
