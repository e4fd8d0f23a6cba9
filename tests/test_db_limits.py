"""The database under Lambda's concurrency, against the real (embedded) Postgres.

- Postgres refusing a connection for lack of slots ("too many clients", SQLSTATE 53300) is 502
  ``database_error`` with ``Retry-After``, from the Runs function's own handler.
- Through an RDS Proxy (``DB_PROXY_ENDPOINT``) the statement timeout is set per transaction with
  ``SET LOCAL``: no session state is left behind that would pin the client to one database
  connection, and the timeout still cancels a slow query. The proxy's behaviour (pinning on a
  session ``SET``) is AWS's; what is checked here is that the session stays clean.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from etl_artifacts.config import get_settings
from etl_artifacts.errors import DatabaseError
from etl_artifacts.postgres.db import ConnectionParams, get_database, params_from_url, reset_database
from etl_artifacts_local.lambda_runtime import invoke
from etl_artifacts_local.services import EmbeddedPostgres
from etl_artifacts_local.template import load_template

REPO_ROOT = Path(__file__).resolve().parents[1]


def _with_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]  # empty for a socket URL (?host=/socket/dir)
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


def _search_event() -> dict[str, Any]:
    return json.loads((REPO_ROOT / "events" / "runs_search.json").read_text())


@pytest.fixture
def limited_role(base_env: dict[str, str], postgres: EmbeddedPostgres) -> str:
    """A login role allowed no connection at all: every connect is refused with SQLSTATE 53300."""
    role = f"limited_{time.monotonic_ns()}"
    get_database().run(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0')
    return role


def test_too_many_connections_is_502_database_error_with_retry_after(
    limited_role: str, postgres: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a database that has no connection slot left for the function
    monkeypatch.setenv("DATABASE_URL", _with_user(postgres.url, limited_role))
    get_settings.cache_clear()  # the fixture's connection read (and cached) the settings
    reset_database()
    try:
        # When a runs search arrives (the function's own handler, as Lambda calls it)
        spec = load_template(REPO_ROOT / "template.yaml").functions["RunsFunction"]
        result = invoke(spec, _search_event())
    finally:
        reset_database()
    # Then it is the API's database_error, and the client is told when to retry
    assert result["statusCode"] == 502
    body = json.loads(result["body"])
    assert body["code"] == "database_error" and body["status"] == 502
    headers = {key.lower(): value for key, value in result["headers"].items()}
    assert int(headers["retry-after"]) >= 1
    assert limited_role not in result["body"] and "53300" not in result["body"]


def _show_timeout(read: bool) -> str:
    database = get_database()
    rows, _ = (database.read if read else database.run)("SHOW statement_timeout")
    return str(rows[0][0])


def test_direct_connections_carry_the_timeout_as_a_startup_parameter(base_env: dict[str, str]) -> None:
    reset_database()
    assert _show_timeout(read=True) == "10s"
    assert _show_timeout(read=False) == "10s"


class _TcpForwarder(socketserver.ThreadingTCPServer):
    """A TCP endpoint that forwards each connection to the embedded Postgres: the stand-in for an
    RDS Proxy's endpoint (the function connects to it by host:port, as to the proxy)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, target: ConnectionParams) -> None:
        self.target = target
        self.connections = 0
        super().__init__(("127.0.0.1", 0), _Forward)

    def open_target(self) -> socket.socket:
        if self.target.unix_sock:
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.target.unix_sock)
            return upstream
        return socket.create_connection((self.target.host or "127.0.0.1", self.target.port))


class _Forward(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        assert isinstance(self.server, _TcpForwarder)
        self.server.connections += 1
        upstream = self.server.open_target()

        def pump(source: socket.socket, sink: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while data := source.recv(65536):
                    sink.sendall(data)
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

        back = threading.Thread(target=pump, args=(upstream, self.request), daemon=True)
        back.start()
        pump(self.request, upstream)
        back.join(timeout=30)
        upstream.close()


@pytest.fixture
def proxy(postgres: EmbeddedPostgres) -> Iterator[_TcpForwarder]:
    server = _TcpForwarder(params_from_url(postgres.url))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_through_a_proxy_the_timeout_is_per_transaction_and_the_session_stays_clean(
    base_env: dict[str, str], proxy: _TcpForwarder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the function configured for an RDS Proxy endpoint
    host, port = proxy.server_address[:2]
    monkeypatch.setenv("DB_PROXY_ENDPOINT", f"{host}:{port}")
    monkeypatch.setenv("DB_STATEMENT_TIMEOUT_MS", "200")
    from etl_artifacts.config import get_settings

    get_settings.cache_clear()
    reset_database()
    try:
        # Then a read runs with the timeout in force ...
        assert _show_timeout(read=True) == "200ms"
        # ... and leaves no session setting behind (nothing for the proxy to pin the session for)
        assert _show_timeout(read=False) == "0"
        # And the timeout cancels a slow query; the next read on the same connection works
        with pytest.raises(DatabaseError):
            get_database().read("SELECT pg_sleep(5)")
        assert get_database().read("SELECT 1 AS one")[0] == [[1]]
        assert _show_timeout(read=False) == "0"
        # Every statement went through the endpoint (a cancelled query's connection is replaced)
        assert proxy.connections >= 1
    finally:
        reset_database()
