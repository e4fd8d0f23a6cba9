"""``etl-artifacts sweep`` (``verify-manifest`` is the client's command: it needs no server code)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime


def _instant(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _sweep(args: argparse.Namespace) -> int:
    import logging

    from etl_artifacts.lifecycle.sweeper import sweep
    from etl_artifacts.observability import logger

    # stdout is the report alone (one JSON document); the sweep's log line goes to stderr.
    handler = logger.registered_handler
    previous = handler.setStream(sys.stderr) if isinstance(handler, logging.StreamHandler) else None
    try:
        report = sweep(args.now, dry_run=args.dry_run, batch=args.batch)
    finally:
        if previous is not None and isinstance(handler, logging.StreamHandler):
            handler.setStream(previous)
    print(json.dumps(report.as_dict(), indent=2))
    return 0 if not report.failures else 1


def configure_sweep_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--now",
        type=_instant,
        default=None,
        metavar="ISO-8601",
        help="judge expiry at this instant instead of the clock (e.g. 2027-01-01T00:00:00Z)",
    )
    p.add_argument("--dry-run", action="store_true", help="count what is due; remove and change nothing")
    p.add_argument("--batch", type=int, default=200, help="rows per transaction (default 200)")
    p.set_defaults(func=_sweep)
