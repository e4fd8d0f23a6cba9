"""The server commands of ``etl-artifacts`` (serve, dev, migrate, seed, token, index, invoke, docs;
listed in docs/getting-started.md).

The console script belongs to the client package (``clients/python``, docs/client.md), which finds
these commands through the ``etl_artifacts.commands`` entry point (``add_commands``); the consumer
commands such as ``download`` and ``logs`` live there."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from etl_artifacts_local.cli_errors import (
    CommandError,
    one_line_errors,
    require_environment,
    require_s3_credentials,
)
from etl_artifacts_local.dev_tokens import issue_token


@one_line_errors
def _cmd_serve(args: argparse.Namespace) -> int:
    from etl_artifacts.config import get_settings

    from etl_artifacts_local.gateway import serve

    settings = get_settings()
    # Without a key every token would be answered 401, silently: refuse to start instead.
    if not (settings.has_jwt_secret or settings.jwt_jwks_url):
        require_environment(("JWT_SECRET", "JWT_JWKS_URL"))

    serve(
        args.host,
        args.port,
        Path(args.template) if args.template else None,
        instances=args.instances,
        timeout_s=args.timeout,
    )
    return 0


@one_line_errors
def _cmd_migrate(args: argparse.Namespace) -> int:
    from etl_artifacts.config import get_settings
    from etl_artifacts.postgres.db import get_database
    from etl_artifacts.postgres.migrations import migrate

    require_environment(("DATABASE_URL", "DB_SECRET_ARN"))
    # Index builds on a large table outlast the API's per-statement bound; migrate gets its own.
    os.environ["DB_STATEMENT_TIMEOUT_MS"] = str(args.statement_timeout * 1000)
    get_settings.cache_clear()
    applied = migrate(get_database(), progress=lambda msg: print(msg, flush=True))
    print(f"migrations applied: {applied}" if applied else "schema is up to date")
    return 0


@one_line_errors
def _cmd_token(args: argparse.Namespace) -> int:
    from etl_artifacts.config import get_settings

    longest = get_settings().jwt_max_lifetime_s
    if not 1 <= args.ttl <= longest:
        # The API refuses a token that lives longer than JWT_MAX_LIFETIME_S; one already expired is useless.
        raise CommandError(f"--ttl must be 1..{longest} seconds (the API refuses longer: JWT_MAX_LIFETIME_S)")
    print(issue_token(args.company, args.sub, args.ttl, args.scope))
    return 0


# What each function cannot answer without, locally (in AWS the template provides it): any one
# variable of a group will do. Checked before invoking, so a fresh shell hears what is missing
# instead of getting a 502 back.
_INVOKE_NEEDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "RunsFunction": (("DATABASE_URL", "DB_SECRET_ARN"),),
    "PhasesFunction": (("ARTIFACTS_BUCKET",), ("CURSOR_SECRET", "JWT_SECRET")),
    "ArtifactsFunction": (("ARTIFACTS_BUCKET",),),
    "UploadsFunction": (
        ("DATABASE_URL", "DB_SECRET_ARN"),
        ("ARTIFACTS_BUCKET",),
        ("CURSOR_SECRET", "JWT_SECRET"),
    ),
    "IndexerFunction": (("ARTIFACTS_BUCKET",),),
    "AuthorizerFunction": (("JWT_SECRET", "JWT_JWKS_URL"),),
    "LifecycleFunction": (("DATABASE_URL", "DB_SECRET_ARN"),),
    "LinksFunction": (("DATABASE_URL", "DB_SECRET_ARN"), ("ARTIFACTS_BUCKET",)),
    "SealFunction": (("DATABASE_URL", "DB_SECRET_ARN"), ("ARTIFACTS_BUCKET",)),
    "SweeperFunction": (("DATABASE_URL", "DB_SECRET_ARN"), ("ARTIFACTS_BUCKET",)),
}


def missing_configuration(function: str) -> list[str]:
    """The variable groups FUNCTION needs of which none is set ("A or B" each)."""
    return [
        " or ".join(group)
        for group in _INVOKE_NEEDS.get(function, ())
        if not any(os.environ.get(name) for name in group)
    ]


@one_line_errors
def _cmd_invoke(args: argparse.Namespace) -> int:
    import contextlib

    from etl_artifacts_local.lambda_runtime import invoke
    from etl_artifacts_local.template import load_template

    template = load_template(Path(args.template) if args.template else None)
    if args.function not in template.functions:
        known = ", ".join(sorted(template.functions))
        raise CommandError(f"unknown function {args.function}; one of: {known}")
    event = _read_event(Path(args.event))
    missing = missing_configuration(args.function)
    if missing:
        raise CommandError(
            f"{args.function} needs {'; '.join(missing)} in the environment. With `etl-artifacts dev` "
            "running, `source .local/dev/env` in this shell sets them all."
        )
    # Like `sam local invoke`: only the result on stdout, as one JSON document; the function's log
    # lines and its CloudWatch metrics (EMF, which Powertools prints to stdout) go to stderr.
    from etl_artifacts.observability import logger

    handler = logger.registered_handler
    previous = handler.setStream(sys.stderr) if isinstance(handler, logging.StreamHandler) else None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            result = invoke(template.functions[args.function], event)
    finally:
        if previous is not None and isinstance(handler, logging.StreamHandler):
            handler.setStream(previous)
    print(json.dumps(result, indent=2, default=str))
    return 0


def _read_event(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CommandError(f"no event file {path}: pick one of events/*.json (`ls events`)") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CommandError(f"cannot read the event file {path}: {exc}") from None


@one_line_errors
def _cmd_index(args: argparse.Namespace) -> int:
    from etl_artifacts_local.index_cli import run

    require_s3_credentials()
    return run(args)


def _add_seed_options(p: argparse.ArgumentParser, *, runs: int = 12, companies: int = 3) -> None:
    # Defaults mirror etl_artifacts_local.seed.SeedOptions (a test keeps them equal); that module
    # imports pyarrow, which this parser must not pay for on every command.
    p.add_argument("--companies", type=int, default=companies, help=f"tenants (default {companies})")
    p.add_argument("--dags", type=int, default=2, help="DAG ids shared by the tenants (default 2)")
    p.add_argument("--runs", type=int, default=runs, help=f"runs per tenant (default {runs})")
    p.add_argument("--rows", type=int, default=500, help="output rows of a phase, about (default 500)")
    p.add_argument("--days", type=int, default=14, help="spread runs over this many days (default 14)")
    p.add_argument("--end-date", default="2026-11-20", help="last run date, YYYY-MM-DD (default 2026-11-20)")
    p.add_argument("--chunk-rows", type=int, default=200, help="rows per data_NNN chunk (default 200)")
    p.add_argument("--row-group-rows", type=int, default=50, help="rows per parquet row group (default 50)")
    p.add_argument("--seed", type=int, default=42, help="random seed: same seed, same data (default 42)")
    p.add_argument("--workers", type=int, default=4, help="threads writing objects (default 4)")


def _seed_options(args: argparse.Namespace) -> Any:
    from etl_artifacts_local.seed_scenarios import SeedOptions

    return SeedOptions(
        companies=args.companies,
        dags=args.dags,
        runs=args.runs,
        rows=args.rows,
        days=args.days,
        end_date=args.end_date,
        chunk_rows=args.chunk_rows,
        row_group_rows=args.row_group_rows,
        seed=args.seed,
        workers=args.workers,
    )


@one_line_errors
def _cmd_seed(args: argparse.Namespace) -> int:
    from etl_artifacts.config import get_settings
    from pydantic import ValidationError

    from etl_artifacts_local.seed import seed

    try:
        options = _seed_options(args)
    except ValidationError as exc:
        names = ", ".join("--" + str(e["loc"][0]).replace("_", "-") for e in exc.errors() if e.get("loc"))
        raise CommandError(f"invalid option(s): {names}") from None
    # All before the first object is written: a run must not land in S3 without its etl.logs row.
    require_environment(("ARTIFACTS_BUCKET",), ("DATABASE_URL", "DB_SECRET_ARN"))
    require_s3_credentials()
    from etl_artifacts.postgres.db import get_database

    get_database().read("SELECT 1")
    if args.create_bucket:
        from etl_artifacts.config import require_bucket

        from etl_artifacts_local.services import create_bucket

        create_bucket(require_bucket(get_settings()))
    progress = None if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    result = seed(options, progress=progress)
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        example = result.example()
        print(
            f"seeded {len(result.runs)} runs ({result.objects} objects) for {', '.join(result.companies)}; "
            f"dates {result.date_from}..{result.date_to}"
        )
        print(
            f"example: company {example.id_company} dag {example.dag_id} date {example.date} "
            f"run {example.run_id}"
        )
    return 0


def _cmd_dev(args: argparse.Namespace) -> int:
    from etl_artifacts_local.dev import run_dev

    data_dir = Path(args.data_dir) if args.data_dir else None
    return run_dev(
        args.host,
        args.port,
        data_dir=data_dir,
        fresh=args.fresh,
        s3_port=args.s3_port,
        seed_options=_seed_options(args),
        company=args.company,
    )


def build_parser() -> argparse.ArgumentParser:
    """The server commands alone (``python -m etl_artifacts_local.cli``; the tests)."""
    parser = argparse.ArgumentParser(
        prog="etl-artifacts",
        description="ETL Run Artifacts API: local stack, migrations, demo data, tokens, indexer and invoke.",
    )
    from etl_artifacts import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_commands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    return parser


def add_commands(sub: Any) -> None:
    """Add the server commands to ``sub``: the ``etl_artifacts.commands`` entry point through which
    the client's ``etl-artifacts`` offers them beside its consumer commands."""
    os.environ.setdefault("POWERTOOLS_DEV", "false")
    p = sub.add_parser(
        "serve",
        help="run the API locally (development server)",
        description="Run the API locally: routes read from template.yaml, the authorizer in front "
        "of every protected route, functions in-process. A development server, not for "
        "production traffic. Configured from the environment (docs/api.md, Configuration): it "
        "refuses to start without JWT_SECRET or JWT_JWKS_URL.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=3000, help="port (default 3000)")
    p.add_argument("--template", help="template.yaml to read routes from (default: the repository's)")
    p.add_argument(
        "--instances",
        type=int,
        default=4,
        metavar="N",
        help="worker processes per function, like Lambda instances: concurrent requests run in parallel, "
        "each worker's first request is a cold start (default 4)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="S",
        help="kill every function after S seconds (the authorizer after at most 10), as Lambda would at "
        "its Timeout; default: each function's Timeout from the template",
    )
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser(
        "migrate",
        help="create/upgrade etl.logs, extensions and indexes in DATABASE_URL",
        description="Create or upgrade the schema, extensions and indexes in DATABASE_URL "
        "(idempotent; applied steps are recorded in etl.schema_migrations).",
    )
    p.add_argument(
        "--statement-timeout",
        type=int,
        default=3600,
        metavar="SECONDS",
        help="per-statement limit for migration steps such as index builds (default 3600)",
    )
    p.set_defaults(func=_cmd_migrate)

    p = sub.add_parser(
        "token",
        help="print an HS256 JWT signed with JWT_SECRET",
        description="Print an HS256 JWT signed with JWT_SECRET (adds JWT_ISSUER/JWT_AUDIENCE when set).",
    )
    p.add_argument("--company", required=True, help="tenant id (the JWT_COMPANY_CLAIM claim)")
    p.add_argument("--sub", default="local-user", help="subject claim (default local-user)")
    p.add_argument(
        "--ttl",
        type=int,
        default=3600,
        help="lifetime in seconds (default 3600; the API refuses more than JWT_MAX_LIFETIME_S: 86400)",
    )
    p.add_argument(
        "--scope",
        help='the scope claim (space-separated), e.g. "artifacts:write" to upload (JWT_WRITE_SCOPE)',
    )
    p.set_defaults(func=_cmd_token)

    p = sub.add_parser(
        "invoke",
        help="run one function's handler on an event file (like sam local invoke)",
        description="Run FUNCTION_LOGICAL_ID's handler in-process on an event file, like "
        "'sam local invoke' without Docker. Only the result goes to stdout, as one JSON document; "
        "log lines and metrics go to stderr. Configured from the environment: with `etl-artifacts "
        "dev` running, `source .local/dev/env` first.",
    )
    p.add_argument("function", metavar="FUNCTION_LOGICAL_ID", help="e.g. MetaFunction")
    p.add_argument("-e", "--event", required=True, help="event JSON file (e.g. events/meta_health.json)")
    p.add_argument("--template", help="template.yaml (default: the repository's)")
    p.set_defaults(func=_cmd_invoke)

    p = sub.add_parser(
        "seed",
        help="write demo runs (S3 + etl.logs)",
        description="Write deterministic demo runs in the layout the API reads: parquet "
        "artifacts to ARTIFACTS_BUCKET and one etl.logs row per run "
        "(DATABASE_URL, migrated). The same options rewrite the same runs.",
    )
    _add_seed_options(p)
    p.add_argument("--create-bucket", action="store_true", help="create ARTIFACTS_BUCKET first if missing")
    p.add_argument("--json", action="store_true", help="print what was written as JSON (tenants, DAGs, runs)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=_cmd_seed)
    p = sub.add_parser(
        "dev",
        help="embedded Postgres + local S3 + migrate + seed + serve on :3000",
        description="The local stack in one command (development only): an embedded "
        "Postgres (data under .local/ in the repository), LocalStack's S3 (strict on "
        "presigned uploads, installed by `make strict-s3`), "
        "migrations, demo data, then the API on HOST:PORT. Prints a token and "
        "example curl lines; Ctrl-C stops everything. One stack per data directory: a second "
        "`dev` on a data directory in use is refused before it touches anything.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=3000, help="port (default 3000)")
    p.add_argument("--fresh", action="store_true", help="delete the local Postgres data first")
    p.add_argument("--data-dir", help="where Postgres keeps its data (default .local/dev in the repository)")
    p.add_argument("--s3-port", type=int, default=0, help="port of the local S3 server (default: a free one)")
    p.add_argument("--company", help="tenant of the printed token (default: the first seeded company)")
    _add_seed_options(p)
    p.set_defaults(func=_cmd_dev)
    p = sub.add_parser(
        "index",
        help="build index.parquet (+ index_trigrams.parquet) for phase attempts",
        description="Build index.parquet and index_trigrams.parquet for one phase "
        "attempt (S3_URI of its metadata.parquet), or for every attempt under "
        "--all PREFIX.",
    )
    from etl_artifacts_local.index_cli import configure_parser

    configure_parser(p)
    p.set_defaults(func=_cmd_index)
    p = sub.add_parser(
        "docs",
        help="write docs/api.md, the API reference, from the OpenAPI document and the code",
        description="Render docs/api.md from the OpenAPI document, the error taxonomy, the settings "
        "and template.yaml (a test fails when the committed file is stale). --check only compares.",
    )
    from etl_artifacts_local.api_docs import configure_parser as configure_docs_parser

    configure_docs_parser(p)
    from etl_artifacts.lifecycle import commands as lifecycle_commands

    p = sub.add_parser(
        "sweep",
        help="run the scheduled sweeper once (expired, deleted and abandoned uploads)",
        description="What the scheduled sweeper does, once: remove the objects of expired artifacts, of "
        "deletions past their restore window and of pending uploads older than 24 h; then send queued "
        "events. Never touches the writer's parquet. Prints a JSON report.",
    )
    lifecycle_commands.configure_sweep_parser(p)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
