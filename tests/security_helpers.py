"""Spies and servers of the hardening suites (security, fuzz, faults): the functions the local
gateway invokes, a loopback JWKS server, the S3 keys boto3 and pyarrow actually request (and S3
faults), and the SQL the package runs. Their fixtures are in conftest.py; sample requests are in
``route_helpers``, tenant-marked runs in ``marked_runs``, the leak guard in ``plugins/leak_guard``.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# The one S3 proxy of the tests and the benchmarks; re-exported for the suites that import it here.
from etl_artifacts_local.s3_proxy import S3Proxy as S3Proxy
from etl_artifacts_local.s3_proxy import S3Request as S3Request

# -- functions reached ---------------------------------------------------------------------------------


class InvocationSpy:
    """Records the logical id of every function the local gateway invokes."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def wrap(self, invoke: Callable[..., Any]) -> Callable[..., Any]:
        def spy(spec: Any, event: dict[str, Any]) -> Any:
            with self._lock:
                self.calls.append(spec.logical_id)
            return invoke(spec, event)

        return spy

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()

    @property
    def functions(self) -> set[str]:
        with self._lock:
            return set(self.calls)


# -- JWT material -------------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(data: dict[str, Any]) -> str:
    return b64url(json.dumps(data, separators=(",", ":")).encode())


def raw_token(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    """A JWT assembled by hand (for tokens no library would sign)."""
    return f"{b64url_json(header)}.{b64url_json(payload)}.{b64url(signature)}"


class _LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True


def _serve_loopback(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """A threaded HTTP server on a free loopback port, serving in a daemon thread."""
    server = _LoopbackServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _shut_down(server: ThreadingHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


@dataclass
class JwksServer:
    """A JWKS document served from a loopback ``http.server`` thread."""

    keys: list[dict[str, Any]]
    hits: int = 0
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/.well-known/jwks.json"

    def start(self) -> JwksServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200 if self.path.endswith("/jwks.json") else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        self._server = _serve_loopback(Handler)
        return self

    def stop(self) -> None:
        _shut_down(self._server)
        self._server = None


# -- S3 keys actually requested, and S3 faults (the proxy: etl_artifacts_local.s3_proxy) ----------


def outside_prefix(targets: list[str], bucket: str, allowed_prefix: str) -> list[str]:
    """Requested targets that are not in ``bucket`` under ``allowed_prefix`` (or that try to climb)."""
    bad = []
    for target in targets:
        expected = f"{bucket}/{allowed_prefix}"
        segments = target.split("/")
        if not target.startswith(expected) or ".." in segments or "." in segments[1:] or "\x00" in target:
            bad.append(target)
    return bad


def clear_storage_caches() -> None:
    """Forget every warm-function cache of the package (the artifact store: footers, open S3
    handles, listings, match lists; the clients): a test that changes the S3 endpoint or breaks S3
    must not be answered from a warm cache."""
    from etl_artifacts.clients import reset_clients
    from etl_artifacts.config import get_settings
    from etl_artifacts.s3.artifact_store import reset_store

    get_settings.cache_clear()
    reset_clients()
    reset_store()


class SqlSpy:
    """Every statement the package ran through ``Database.run``, with its bound parameters."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self.statements.clear()

    def unscoped(self, company: str) -> list[str]:
        """Statements on etl.logs that do not filter by ``id_company`` bound to ``company``."""
        bad = []
        with self._lock:
            for sql, params in self.statements:
                if "etl.logs" not in sql:
                    continue
                if "id_company" not in sql or company not in [
                    v for v in params.values() if isinstance(v, str)
                ]:
                    bad.append(sql.split("\n", 1)[0][:60])
        return bad
