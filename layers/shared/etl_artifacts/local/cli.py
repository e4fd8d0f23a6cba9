"""``etl-artifacts``: the project's command line (CONTRACT §7)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def _cmd_serve(args: argparse.Namespace) -> int:
    from etl_artifacts.local.gateway import serve

    serve(args.host, args.port, Path(args.template) if args.template else None)
    return 0


def _cmd_migrate(args: argparse.Namespace) -> int:
    from etl_artifacts.db import get_database
    from etl_artifacts.migrations import migrate

    applied = migrate(get_database(), progress=lambda msg: print(msg, flush=True))
    print(f"migrations applied: {applied}" if applied else "schema is up to date")
    return 0


def _cmd_token(args: argparse.Namespace) -> int:
    import jwt

    from etl_artifacts.config import get_settings

    settings = get_settings()
    if not settings.jwt_secret:
        print("JWT_SECRET is not set", file=sys.stderr)
        return 2
    now = int(time.time())
    claims: dict[str, Any] = {settings.jwt_company_claim: args.company, "sub": args.sub, "iat": now,
                              "nbf": now, "exp": now + args.ttl}
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    print(jwt.encode(claims, settings.jwt_secret, algorithm="HS256"))
    return 0


def _cmd_invoke(args: argparse.Namespace) -> int:
    from etl_artifacts.local.lambda_runtime import invoke
    from etl_artifacts.local.template import load_template

    template = load_template(Path(args.template) if args.template else None)
    if args.function not in template.functions:
        print(f"unknown function {args.function}; one of: {', '.join(sorted(template.functions))}",
              file=sys.stderr)
        return 2
    event = json.loads(Path(args.event).read_text(encoding="utf-8")) if args.event else {}
    result = invoke(template.functions[args.function], event)
    print(json.dumps(result, indent=2, default=str))
    return 0


def _not_yet(name: str) -> Any:
    def run(_: argparse.Namespace) -> int:
        print(f"'{name}' is not implemented yet", file=sys.stderr)
        return 3

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="etl-artifacts",
        description="ETL Run Artifacts API: local stack, migrations, demo data, tokens, indexer and invoke.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", help="run the API locally (development server)",
                       description="Run the API locally: routes read from template.yaml, the authorizer in front "
                                   "of every protected route, functions in-process. A development server, not for "
                                   "production traffic. Configured from the environment (CONTRACT §6).")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=3000, help="port (default 3000)")
    p.add_argument("--template", help="template.yaml to read routes from (default: the repository's)")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("migrate", help="create/upgrade etl.logs, extensions and indexes in DATABASE_URL",
                       description="Create or upgrade the schema, extensions and indexes in DATABASE_URL "
                                   "(idempotent; applied steps are recorded in etl.schema_migrations).")
    p.set_defaults(func=_cmd_migrate)

    p = sub.add_parser("token", help="print an HS256 JWT signed with JWT_SECRET",
                       description="Print an HS256 JWT signed with JWT_SECRET (adds JWT_ISSUER/JWT_AUDIENCE when set).")
    p.add_argument("--company", required=True, help="tenant id (the JWT_COMPANY_CLAIM claim)")
    p.add_argument("--sub", default="local-user", help="subject claim (default local-user)")
    p.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    p.set_defaults(func=_cmd_token)

    p = sub.add_parser("invoke", help="run one function's handler on an event file (like sam local invoke)",
                       description="Run FUNCTION_LOGICAL_ID's handler in-process on an event file, like "
                                   "'sam local invoke' without Docker; prints the result as JSON.")
    p.add_argument("function", metavar="FUNCTION_LOGICAL_ID", help="e.g. MetaFunction")
    p.add_argument("-e", "--event", help="event JSON file (e.g. events/meta_health.json)")
    p.add_argument("--template", help="template.yaml (default: the repository's)")
    p.set_defaults(func=_cmd_invoke)

    p = sub.add_parser("seed", help="write demo runs (S3 + etl.logs)")
    p.set_defaults(func=_not_yet("seed"))
    p = sub.add_parser("dev", help="embedded Postgres + local S3 + migrate + seed + serve on :3000")
    p.set_defaults(func=_not_yet("dev"))
    p = sub.add_parser("index", help="build index.parquet for a phase attempt")
    p.set_defaults(func=_not_yet("index"))
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("POWERTOOLS_DEV", "false")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
