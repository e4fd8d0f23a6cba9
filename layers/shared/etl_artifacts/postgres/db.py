"""Postgres access with pg8000: one connection per warm function (per thread locally), reused,
re-opened once when it turns out broken. Every driver failure becomes ``DatabaseError``; a
configuration that names no usable database stays ``ConfigurationError`` (500, like everywhere).

Connection settings come from DATABASE_URL or, in AWS, from the DB_SECRET_ARN secret (read with
Powertools Parameters, cached); DB_PROXY_ENDPOINT sends the connection to an RDS Proxy instead of
the secret's host. Every statement has a server-side statement timeout and a socket timeout, so a
slow or dead database answers 502 within a bound instead of hanging. Connected directly, the
timeout is a startup parameter (free). Through RDS Proxy a session-level setting would pin the
client to one database connection for good (no multiplexing), so each read runs in its own short
transaction with ``SET LOCAL statement_timeout``, which ends with the transaction and does not pin.

Postgres refusing a connection for lack of slots ("too many clients", SQLSTATE 53300) is
``DatabaseBusy``: 502 ``database_error`` with ``Retry-After``.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pg8000.native
from pg8000.exceptions import DatabaseError as DriverDatabaseError
from pg8000.exceptions import InterfaceError

from etl_artifacts.config import Settings, get_settings
from etl_artifacts.errors import ConfigurationError, DatabaseBusy, DatabaseError
from etl_artifacts.observability import logger

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
# too_many_connections (max_connections, a role's or database's CONNECTION LIMIT) and
# cannot_connect_now (starting up or shutting down): worth retrying in a moment.
_BUSY_SQLSTATES = frozenset({"53300", "57P03"})


@dataclass(frozen=True)
class ConnectionParams:
    user: str
    password: str | None
    database: str
    host: str | None = None
    port: int = 5432
    unix_sock: str | None = None
    via_proxy: bool = False

    @property
    def needs_tls(self) -> bool:
        return self.unix_sock is None and (self.host or "localhost") not in _LOCAL_HOSTS


def params_from_url(url: str) -> ConnectionParams:
    """``postgresql://user:pass@host:port/db`` or ``postgresql://user@/db?host=/socket/dir``."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigurationError("DATABASE_URL must be a postgresql:// URL")
    query = parse_qs(parts.query)
    port = parts.port or int(query.get("port", ["5432"])[0])
    database = unquote(parts.path.lstrip("/")) or "postgres"
    user = unquote(parts.username or "postgres")
    password = unquote(parts.password) if parts.password else None
    socket_dir = query.get("host", [None])[0]
    if socket_dir and socket_dir.startswith("/"):
        return ConnectionParams(
            user, password, database, unix_sock=f"{socket_dir.rstrip('/')}/.s.PGSQL.{port}"
        )
    return ConnectionParams(
        user, password, database, host=parts.hostname or socket_dir or "localhost", port=port
    )


def params_from_secret(secret: Mapping[str, Any]) -> ConnectionParams:
    """The RDS-managed secret shape: host/port/username/password/dbname."""
    return ConnectionParams(
        user=str(secret["username"]),
        password=str(secret.get("password") or "") or None,
        database=str(secret.get("dbname") or "postgres"),
        host=str(secret["host"]),
        port=int(secret.get("port") or 5432),
    )


def with_proxy(params: ConnectionParams, endpoint: str) -> ConnectionParams:
    """The same credentials and database, reached through the RDS Proxy at ``host[:port]``."""
    host, _, port = endpoint.strip().rpartition(":") if ":" in endpoint else (endpoint.strip(), "", "")
    if not host or (port and not port.isdigit()):
        raise ConfigurationError("DB_PROXY_ENDPOINT must be host or host:port")
    return replace(params, host=host, port=int(port) if port else params.port, unix_sock=None, via_proxy=True)


def connection_params(settings: Settings) -> ConnectionParams:
    if settings.database_url:
        params = params_from_url(settings.database_url)
    elif settings.db_secret_arn:
        from etl_artifacts.secret_values import secret_json

        params = params_from_secret(secret_json(settings.db_secret_arn))
    else:
        raise ConfigurationError("DATABASE_URL or DB_SECRET_ARN must be set")
    if settings.db_proxy_endpoint:
        params = with_proxy(params, settings.db_proxy_endpoint)
    return params


def connect(settings: Settings | None = None) -> pg8000.native.Connection:
    settings = settings or get_settings()
    params = connection_params(settings)
    ssl_context = ssl.create_default_context() if params.needs_tls else None
    # Through RDS Proxy, a session parameter would pin the connection: see Database.read.
    startup = {} if params.via_proxy else {"statement_timeout": str(settings.db_statement_timeout_ms)}
    return pg8000.native.Connection(
        user=params.user,
        password=params.password,
        database=params.database,
        host=params.host or "localhost",
        port=params.port,
        unix_sock=params.unix_sock,
        ssl_context=ssl_context,
        timeout=settings.db_connect_timeout_s + settings.db_statement_timeout_ms / 1000,
        application_name="etl-artifacts",
        startup_params=startup,
    )


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of the server error behind ``exc`` (itself, or what it was raised from or during)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DriverDatabaseError) and current.args and isinstance(current.args[0], dict):
            code = current.args[0].get("C")
            return str(code) if code is not None else None
        current = current.__cause__ or current.__context__
    return None


class Database:
    """A reusable connection per thread (Lambda runs one request at a time per instance;
    the local server runs requests in threads)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _connection(self) -> pg8000.native.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            settings = get_settings()
            conn = connect(settings)
            self._local.conn = conn
            # Through a proxy the statement timeout is set per transaction (SET LOCAL), not per session.
            self._local.local_timeout_ms = (
                settings.db_statement_timeout_ms if settings.db_proxy_endpoint else None
            )
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            # The connection is already broken; closing it is best effort.
            with contextlib.suppress(Exception):
                conn.close()

    def read(self, sql: str, **params: Any) -> tuple[list[list[Any]], list[str]]:
        """Run one parameterised query in its own transaction; returns (rows, column names).

        What the API's routes use. Through RDS Proxy the transaction carries the statement timeout
        (``SET LOCAL``, sent with ``BEGIN`` in one round trip) and gives the database connection
        back to the proxy's pool at ``COMMIT``. Connected directly it is a plain ``run``.
        """
        return self.execute(sql, params, own_transaction=True)

    def run(self, sql: str, **params: Any) -> tuple[list[list[Any]], list[str]]:
        """Run one parameterised statement in the session as it is (migrations, explicit transactions)."""
        return self.execute(sql, params, own_transaction=False)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the ``run`` statements inside the block in one transaction (committed at its end,
        rolled back on any exception). A connection that breaks inside it fails the transaction:
        nothing is retried on a fresh connection halfway through. Through RDS Proxy the statement
        timeout is set for the transaction (``SET LOCAL``), as ``read`` does."""
        self.run("BEGIN")
        self._local.in_transaction = True
        try:
            timeout_ms = getattr(self._local, "local_timeout_ms", None)
            if timeout_ms is not None:
                self.run(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
            yield
            self.run("COMMIT")
        except BaseException:
            self._rollback_quietly()
            raise
        finally:
            self._local.in_transaction = False

    def _statement(
        self, conn: pg8000.native.Connection, sql: str, params: dict[str, Any], own_transaction: bool
    ) -> tuple[list[list[Any]], list[str]]:
        timeout_ms = getattr(self._local, "local_timeout_ms", None) if own_transaction else None
        if timeout_ms is None:
            rows = conn.run(sql, **params)
            return list(rows or []), [col["name"] for col in (conn.columns or [])]
        conn.run(f"BEGIN; SET LOCAL statement_timeout = {int(timeout_ms)}")
        rows = conn.run(sql, **params)
        columns = [col["name"] for col in (conn.columns or [])]
        conn.run("COMMIT")
        return list(rows or []), columns

    def execute(
        self, sql: str, params: dict[str, Any], *, own_transaction: bool
    ) -> tuple[list[list[Any]], list[str]]:
        """The one door every statement passes (``read`` with ``own_transaction``, ``run`` without).

        A broken connection (server restarted, idle socket dropped) is re-opened and the
        statement retried once; a query error is not retried.
        """
        for attempt in (1, 2):
            try:
                conn = self._connection()
                return self._statement(conn, sql, params, own_transaction)
            except (InterfaceError, OSError) as exc:
                self._drop()
                if _sqlstate(exc) in _BUSY_SQLSTATES:
                    # Refused at connect ("too many clients"): pg8000 reports the closed socket
                    # of the refusal, the server's FATAL error is in the exception's context.
                    logger.warning("database busy", extra={"sqlstate": _sqlstate(exc)})
                    raise DatabaseBusy() from exc
                in_transaction = getattr(self._local, "in_transaction", False)
                if attempt == 2 or in_transaction:
                    logger.error("database unreachable", extra={"error_type": type(exc).__name__})
                    raise DatabaseError() from exc
            except DriverDatabaseError as exc:
                # The server answered with an error (timeout, bad state): log the SQLSTATE only.
                code = _sqlstate(exc)
                if code in _BUSY_SQLSTATES:
                    logger.warning("database busy", extra={"sqlstate": code})
                    self._drop()
                    raise DatabaseBusy() from exc
                logger.error("database query failed", extra={"sqlstate": code})
                if code is None or str(code).startswith(("08", "57")):
                    self._drop()  # connection-level failure: start fresh next time
                else:
                    self._rollback_quietly()
                raise DatabaseError() from exc
        raise DatabaseError()  # pragma: no cover - the loop always returns or raises

    def _rollback_quietly(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            return
        try:
            conn.run("ROLLBACK")
        except Exception:
            self._drop()

    def close(self) -> None:
        self._drop()


_database: Database | None = None
_database_lock = threading.Lock()


def get_database() -> Database:
    global _database
    with _database_lock:
        if _database is None:
            _database = Database()
        return _database


def reset_database() -> None:
    global _database
    with _database_lock:
        if _database is not None:
            _database.close()
        _database = None
