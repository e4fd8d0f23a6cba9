"""``etl-artifacts logs``: a phase attempt's log lines through the API, optionally following it.

The command reads the logs route as NDJSON and sends each response's ``X-Continuation-Token``
back (CONTRACT §4, §10). A running attempt (no ``metadata.parquet`` yet) always answers with a
token; with ``--follow`` the command polls with it every ``--interval`` seconds and prints only
the rows written since, until the attempt completes (the answer carries no token) or Ctrl-C.
Without ``--follow`` it prints what exists now and stops. While following, an attempt that has
not started yet (404 ``phase_not_found``) is waited for, and a few consecutive 5xx or network
failures are retried.

Standard library only (urllib): it runs wherever the package is installed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import quote, urlencode

NDJSON = "application/x-ndjson"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_RETRIES = 5  # consecutive failed polls tolerated while following (transient 5xx, network)


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("dag_id", metavar="DAG_ID", help="the run's DAG id (UUID)")
    p.add_argument("date", metavar="DATE", help="the run's date, YYYY-MM-DD")
    p.add_argument("run_id", metavar="RUN_ID", help="the run id as written (the command encodes it)")
    p.add_argument("phase", metavar="PHASE", choices=("extract", "transform", "load"), help="the phase")
    p.add_argument("--api", required=True, metavar="URL", help="API root, e.g. http://127.0.0.1:3000/api/v1")
    p.add_argument("--token", help="bearer token (default: the ETL_ARTIFACTS_TOKEN environment variable)")
    p.add_argument("--attempt", type=int, default=1, metavar="N", help="phase attempt (default 1)")
    p.add_argument("--level", choices=LEVELS, help="only lines at exactly this level")
    p.add_argument("--keyword", help="only lines whose message holds this text (case-insensitive)")
    p.add_argument(
        "--order", choices=("asc", "desc"), default="asc", help="asc: oldest first (default), desc: newest"
    )
    p.add_argument(
        "--follow",
        "-f",
        action="store_true",
        help="keep polling a running attempt for new lines until it completes (Ctrl-C stops)",
    )
    p.add_argument(
        "--interval",
        type=float,
        default=2.0,
        metavar="S",
        help="seconds between polls while following (default 2)",
    )
    p.add_argument("--json", action="store_true", help="print the rows as NDJSON, as the API sends them")
    p.set_defaults(func=run)


class ApiFailure(Exception):
    """An answer other than 200, or no answer; ``retryable`` for 5xx and network failures,
    ``not_started`` for 404 ``phase_not_found``."""

    def __init__(self, message: str, *, retryable: bool, not_started: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.not_started = not_started


@dataclass
class Answer:
    rows: list[dict[str, Any]]
    token: str | None


def logs_url(args: argparse.Namespace) -> str:
    run_id = quote(args.run_id, safe="")  # once, as CONTRACT §4 asks (`+` -> %2B, `:` -> %3A)
    path = f"/dags/{quote(args.dag_id, safe='')}/runs/{quote(args.date, safe='')}/{run_id}"
    return f"{args.api.rstrip('/')}{path}/phases/{args.phase}/logs"


def fetch(url: str, params: dict[str, Any], token: str, timeout: float = 60.0) -> Answer:
    query = urlencode({name: value for name, value in params.items() if value is not None})
    # The scheme is checked in run(): http(s) only, never file: or custom schemes.
    request = urllib.request.Request(  # noqa: S310
        f"{url}?{query}",
        headers={"Authorization": f"Bearer {token}", "Accept": NDJSON, "Accept-Encoding": "gzip"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            raw = response.read()
            if response.headers.get("Content-Encoding") == "gzip":
                raw = gzip.decompress(raw)
            next_token = response.headers.get("X-Continuation-Token")
    except urllib.error.HTTPError as exc:
        message, code = _describe(exc)
        raise ApiFailure(message, retryable=exc.code >= 500, not_started=code == "phase_not_found") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ApiFailure(f"cannot reach the API: {reason}", retryable=True) from None
    # Split at "\n" only: str.splitlines would also cut at U+2028, U+0085... inside messages.
    rows = [json.loads(line) for line in raw.decode("utf-8").split("\n") if line]
    return Answer(rows, next_token)


def _describe(exc: urllib.error.HTTPError) -> tuple[str, str | None]:
    """A line for a person, and the answer's error code."""
    try:
        raw = exc.read() or b"{}"
        if exc.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        body = json.loads(raw)
    except (ValueError, OSError, EOFError):
        body = {}
    detail = body.get("detail") if isinstance(body, dict) else None
    code = body.get("code") if isinstance(body, dict) else None
    if isinstance(detail, list):  # a validation error: say which parameters
        names = [".".join(str(part) for part in item.get("loc", [])[1:]) for item in detail]
        detail = "invalid " + ", ".join(names)
    text = f"HTTP {exc.code}" + (f" {code}" if code else "") + (f": {detail}" if detail else "")
    return text, code if isinstance(code, str) else None


def format_row(row: dict[str, Any]) -> str:
    """One log row for a person: ``timestamp LEVEL logger: message`` (other columns appended)."""
    omitted = row.get("_omitted")
    if isinstance(omitted, dict) and len(row) == 1:  # a row too large for any response
        where = f"row {omitted.get('row')} of chunk {omitted.get('chunk')} of {omitted.get('artifact_kind')}"
        return f"[{where} omitted: {omitted.get('bytes')} bytes; download the chunk to read it]"
    known = ("timestamp", "level", "logger", "message")
    extra = {name: value for name, value in row.items() if name not in known}
    level, logger = row.get("level") or "", row.get("logger") or ""
    text = f"{row.get('timestamp', '')} {level:<8} {logger}: {row.get('message')}"
    return text + (" " + json.dumps(extra, ensure_ascii=False) if extra else "")


def stream(
    args: argparse.Namespace,
    token: str,
    out: TextIO,
    *,
    fetch_page: Callable[[str, dict[str, Any], str], Answer] = fetch,
    sleep: Callable[[float], None] | None = None,
) -> int:
    """Print every row, following continuation tokens; returns the exit status."""
    pause = sleep or time.sleep
    url = logs_url(args)
    params: dict[str, Any] = {
        "attempt": args.attempt,
        "level": args.level,
        "keyword": args.keyword,
        "order": None if args.order == "asc" else args.order,
    }
    continuation: str | None = None
    failures = 0
    waiting = False
    while True:
        try:
            answer = fetch_page(url, {**params, "continuation_token": continuation}, token)
        except ApiFailure as exc:
            if args.follow and exc.not_started and continuation is None:
                # Neither metadata nor data yet (CONTRACT §4's 404): the attempt may be starting.
                if not waiting:
                    print("etl-artifacts logs: the attempt has not started yet; waiting", file=sys.stderr)
                    waiting = True
                pause(args.interval)
                continue
            failures += 1
            if not (args.follow and exc.retryable and failures <= _RETRIES):
                print(f"etl-artifacts logs: {exc}", file=sys.stderr)
                return 1
            print(f"etl-artifacts logs: {exc}; retrying", file=sys.stderr)
            pause(args.interval)
            continue
        failures = 0
        for row in answer.rows:
            out.write((json.dumps(row, ensure_ascii=False) if args.json else format_row(row)) + "\n")
        out.flush()
        if answer.token is None:
            return 0  # every row sent and, when it was running, the attempt has completed
        continuation = answer.token
        if not answer.rows:
            # Caught up with a running attempt: wait for new lines, or stop when not following.
            if not args.follow:
                return 0
            pause(args.interval)


def run(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("ETL_ARTIFACTS_TOKEN")
    if not token:
        print("etl-artifacts logs: give --token or set ETL_ARTIFACTS_TOKEN", file=sys.stderr)
        return 2
    if not args.api.lower().startswith(("http://", "https://")):
        print("etl-artifacts logs: --api must be an http:// or https:// URL", file=sys.stderr)
        return 2
    if args.follow and args.order != "asc":
        print("etl-artifacts logs: --follow reads oldest first (--order asc)", file=sys.stderr)
        return 2
    if args.interval <= 0 or args.attempt < 1:
        print("etl-artifacts logs: --interval must be > 0 and --attempt >= 1", file=sys.stderr)
        return 2
    try:
        return stream(args, token, sys.stdout)
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
