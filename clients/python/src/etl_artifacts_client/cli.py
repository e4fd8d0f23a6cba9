"""``etl-artifacts``: the consumer commands, plus the commands other installed packages register.

Commands of other packages (the server's ``serve``, ``dev``, ``migrate``...) come from the entry
point group ``etl_artifacts.commands``: each entry is a function that adds its commands to the
sub-parsers given to it. A consumer's install has none of them.

Exit status, the same for every consumer command: 0 the work is done; 1 the work failed (not
found, a file missing or wrong, a seal that does not verify); 2 the command cannot be used as
given (usage, no or refused token, API unreachable). 130 after Ctrl-C. Errors are one line on
stderr that names the fix; never a traceback, a token or a presigned URL.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

from etl_artifacts_client._version import __version__
from etl_artifacts_client.errors import ApiError, ClientError, ConnectionFailed, MissingExtra

API_ENV = "ETL_ARTIFACTS_API"
TOKEN_ENV = "ETL_ARTIFACTS_TOKEN"  # noqa: S105 - the variable's name, not a secret
PLUGIN_GROUP = "etl_artifacts.commands"
EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE, EXIT_INTERRUPTED = 0, 1, 2, 130
PHASES = ("extract", "transform", "load")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class UsageError(Exception):
    """The command cannot run as given; ``str()`` names the fix."""


# -- argument types (argparse answers exit 2 with the message) ----------------------------------
def _dag_id(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            "must be a UUID, e.g. 3f2b8c1e-5d4a-4c7b-9e1f-0a2b3c4d5e6f"
        ) from None


def _date(text: str) -> str:
    try:
        if len(text) != 10:
            raise ValueError
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError("must be a date, YYYY-MM-DD") from None


def _run_id(text: str) -> str:
    from etl_artifacts_client.client import run_id_of

    try:
        return run_id_of(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> int:
    if not text.isdecimal() or int(text) < 1:
        raise argparse.ArgumentTypeError("must be a whole number >= 1")
    return int(text)


def _non_negative(text: str) -> int:
    if not text.isdecimal():
        raise argparse.ArgumentTypeError("must be a whole number >= 0")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError("must be a number of seconds > 0")
    return value


def _pair(text: str) -> tuple[str, str]:
    phase, sep, value = text.partition("=")
    if not sep or phase not in ("event", *PHASES) or not value:
        raise argparse.ArgumentTypeError(
            "must be PHASE=VALUE with PHASE one of event, extract, transform, load"
        )
    return phase, value


# -- the API connection -------------------------------------------------------------------------
def _connection_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--api", metavar="URL", help=f"the API root, e.g. http://127.0.0.1:3000/api/v1 (default: ${API_ENV})"
    )
    common.add_argument("--token", help=f"bearer token (default: ${TOKEN_ENV}); never printed")
    common.add_argument(
        "--retries",
        type=_non_negative,
        default=4,
        metavar="N",
        help="retries of a request (and of a file) on 429/503/network errors (default 4)",
    )
    return common


def _client(args: argparse.Namespace) -> Any:
    from etl_artifacts_client.client import Client

    api = args.api or os.environ.get(API_ENV, "")
    token = args.token or os.environ.get(TOKEN_ENV, "")
    if not api.strip():
        raise UsageError(
            f"no API URL: pass --api or set {API_ENV} (with `make dev` running: source .local/dev/env)"
        )
    if not token.strip():
        raise UsageError(
            f"no token: pass --token or set {TOKEN_ENV} (with `make dev` running: source .local/dev/env)"
        )
    try:
        return Client(api, token, retries=args.retries)
    except ValueError as exc:
        raise UsageError(f"{exc} (check --api / {API_ENV})") from None


def _describe(exc: BaseException) -> tuple[str, int]:
    """One line naming the fix, and the exit status."""
    if isinstance(exc, (UsageError, MissingExtra)):
        return str(exc), EXIT_UNUSABLE
    if isinstance(exc, ConnectionFailed):
        return f"{exc}: is the API running and --api / ${API_ENV} its root?", EXIT_UNUSABLE
    if isinstance(exc, ApiError):
        if exc.status == 401:
            return (
                f"the API refused the token (401: {exc.detail}): "
                f"get a fresh one and pass --token or set {TOKEN_ENV}",
                EXIT_UNUSABLE,
            )
        if exc.status == 403:
            return f"{exc} (use a token with the scope this needs, e.g. artifacts:write)", EXIT_UNUSABLE
        if exc.is_usage:
            return f"the API refused a parameter: {exc.detail}", EXIT_UNUSABLE
        if exc.status == 404 and exc.code in ("not_found", "http_error"):
            return (
                f"{exc} (is --api / ${API_ENV} the API root, e.g. http://127.0.0.1:3000/api/v1?)",
                EXIT_UNUSABLE,
            )
        return str(exc), EXIT_FAILED
    if isinstance(exc, ClientError):
        return str(exc), EXIT_FAILED
    return f"{type(exc).__name__}: {exc}", EXIT_FAILED


def _say(command: str, message: str) -> None:
    print(f"etl-artifacts {command}: {message}", file=sys.stderr, flush=True)


def _bar(quiet: bool, **options: Any) -> Any:
    """A progress bar on stderr (tqdm: light, thread-safe); none with --quiet."""
    from tqdm import tqdm

    return tqdm(disable=quiet, file=sys.stderr, dynamic_ncols=True, **options)


@contextmanager
def _stdout_pipe() -> Iterator[None]:
    """A reader that goes away (``| head``) ends the command quietly, as Unix tools do."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _attempt(client: Any, args: argparse.Namespace, phase: str) -> int:
    """``--attempt``, or the phase's latest attempt (what the run's summary says it is)."""
    if args.attempt is not None:
        return int(args.attempt)
    return int(client.latest_attempt(args.dag_id, args.date, args.run_id, phase))


def _run_args(p: argparse.ArgumentParser, phase: bool = False) -> None:
    """A run's positionals; with ``phase``, the phase and its ``--attempt`` (default: the latest)."""
    p.add_argument("dag_id", metavar="DAG_ID", type=_dag_id, help="the DAG id (UUID)")
    p.add_argument("date", metavar="DATE", type=_date, help="the run date, YYYY-MM-DD")
    p.add_argument(
        "run_id",
        metavar="RUN_ID",
        type=_run_id,
        help="the run id as the ETL wrote it (a %%-encoded one is decoded)",
    )
    if phase:
        p.add_argument("phase", metavar="PHASE", choices=PHASES, help="extract, transform or load")
        p.add_argument(
            "--attempt", type=_positive, metavar="N", help="the attempt (default: the phase's latest)"
        )


# -- whoami -------------------------------------------------------------------------------------
def cmd_whoami(args: argparse.Namespace) -> int:
    me = _client(args).whoami()
    expires = me.expires_at.isoformat() if me.expires_at else None
    if args.json:
        print(json.dumps({"id_company": me.id_company, "sub": me.sub, "expires_at": expires}))
    else:
        print(f"tenant  {me.id_company}\nsubject {me.sub}\nexpires {expires or '-'}")
    return EXIT_OK


# -- runs ---------------------------------------------------------------------------------------
def cmd_runs(args: argparse.Namespace) -> int:
    span = dt.date.fromisoformat(args.date_to) - dt.date.fromisoformat(args.date_from)
    if not 0 <= span.days <= 366:
        raise UsageError("--from must be on or before --to, at most 366 days apart")
    client = _client(args)
    statuses = dict(args.status or [])
    shown = 0
    with _stdout_pipe():
        for run in client.runs(
            args.dag_id,
            args.date_from,
            args.date_to,
            statuses=statuses,
            keywords=dict(args.keyword or []),
            run_ids=args.run_ids.split(",") if args.run_ids else None,
        ):
            if args.failed and not run.failed_phases():
                continue
            if args.json:
                print(json.dumps(run.raw, ensure_ascii=False))
            else:
                phases = " ".join(
                    f"{name}:{summary.status}{'#' + str(summary.attempt) if summary.attempt else ''}"
                    for name, summary in run.phases.items()
                    if summary is not None
                )
                print(f"{run.date}  {run.run_id}  {phases}")
            shown += 1
            if args.max and shown >= args.max:
                break
    if not shown:
        _say("runs", "no run matches (or none is visible to this token)")
    return EXIT_OK


# -- data ---------------------------------------------------------------------------------------
def cmd_data(args: argparse.Namespace) -> int:
    import itertools

    output = Path(args.output) if args.output else None
    parquet = output is not None and output.suffix == ".parquet"
    if parquet:
        try:
            import pyarrow.parquet  # noqa: F401 - checked before any request
        except ImportError:
            raise MissingExtra(
                "writing parquet needs pyarrow: pip install 'etl-artifacts-client[pyarrow]'"
            ) from None
    client = _client(args)
    attempt = _attempt(client, args, args.phase)
    ref = (args.dag_id, args.date, args.run_id, args.phase, args.kind)
    options: dict[str, Any] = {"attempt": attempt, "keyword": args.keyword}
    if args.columns:
        options["columns"] = [name.strip() for name in args.columns.split(",") if name.strip()]
    pages = client.arrow_batches(*ref, **options) if parquet else client.rows(*ref, **options)
    # The first answer before any bar or file: a refused token or an unreachable API is one line.
    first = list(itertools.islice(pages, 1))
    items = itertools.chain(first, pages)
    if output is None:
        with _stdout_pipe():
            for row in items:
                print(json.dumps(row, ensure_ascii=False))
        return EXIT_OK
    part = output.with_name(output.name + ".part")
    bar = _bar(args.quiet, desc=f"{args.kind} of {args.phase} attempt {attempt}", unit=" rows")
    try:
        with bar:
            if parquet:
                rows = _write_parquet(items, part, bar.update)
            else:
                rows = _write_text(items, part, output.suffix, bar.update)
        os.replace(part, output)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    _say("data", f"{rows} rows written to {output}")
    return EXIT_OK


def _write_parquet(tables: Iterator[Any], part: Path, advance: Callable[[int], Any]) -> int:
    """Arrow pages appended to one parquet file: memory holds one page."""
    import pyarrow.parquet as pq

    writer = None
    rows = 0
    try:
        for table in tables:
            if writer is None:
                writer = pq.ParquetWriter(str(part), table.schema)
            writer.write_table(table.cast(writer.schema) if table.schema != writer.schema else table)
            rows += table.num_rows
            advance(table.num_rows)
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise ClientError("the API answered no page")
    return rows


def _write_text(
    items: Iterator[dict[str, Any]], part: Path, suffix: str, advance: Callable[[int], Any]
) -> int:
    """Rows as CSV (nested values as compact JSON) or NDJSON."""
    import csv

    rows = 0
    with part.open("w", encoding="utf-8", newline="") as handle:
        writer: Any = None
        for row in items:
            if suffix == ".csv":
                if writer is None:
                    writer = csv.DictWriter(handle, fieldnames=list(row), extrasaction="ignore")
                    writer.writeheader()
                writer.writerow(
                    {k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in row.items()}
                )
            else:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            rows += 1
            advance(1)
    return rows


# -- logs ---------------------------------------------------------------------------------------
def format_log(row: dict[str, Any]) -> str:
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


def cmd_logs(args: argparse.Namespace) -> int:
    if args.follow and args.order != "asc":
        raise UsageError("--follow reads oldest first: drop --order desc")
    client = _client(args)
    attempt = _attempt(client, args, args.phase)
    if args.attempt is None:
        _say("logs", f"{args.phase} attempt {attempt} (the latest; --attempt N for another)")
    rows = client.logs(
        args.dag_id,
        args.date,
        args.run_id,
        args.phase,
        attempt=attempt,
        level=args.level,
        keyword=args.keyword,
        order=None if args.order == "asc" else args.order,
        follow=args.follow,
        interval=args.interval,
        on_wait=lambda message: _say("logs", message),
    )
    with _stdout_pipe():
        for row in rows:
            print(json.dumps(row, ensure_ascii=False) if args.json else format_log(row), flush=args.follow)
    return EXIT_OK


# -- download -----------------------------------------------------------------------------------
def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def cmd_download(args: argparse.Namespace) -> int:
    import itertools
    import threading
    import time

    from etl_artifacts_client.download import Outcome, RunDownload

    client = _client(args)
    pages = client.artifact_pages(args.dag_id, args.date, args.run_id)
    # The first page before any bar: a bad token or an unreachable API prints one line, no bar.
    first = next(pages)
    started = time.monotonic()
    bar = _bar(args.quiet, desc="download", total=0, unit="B", unit_scale=True, unit_divisor=1000)
    lock = threading.Lock()
    counts = {"selected": 0, "verified": 0}

    def files() -> None:
        bar.set_postfix_str(f"{counts['verified']}/{counts['selected']} files", refresh=False)
        bar.refresh()

    def selected(artifact: Any) -> None:
        with lock:
            counts["selected"] += 1
            bar.total += artifact.size_bytes
            files()

    def done(outcome: Outcome) -> None:
        with lock:
            if outcome.status in ("downloaded", "skipped"):
                counts["verified"] += 1  # the bar counts files verified on disk, nothing else
            files()

    def advance(n: int) -> None:
        if n:
            with lock:
                bar.update(n)

    def select(artifact: Any) -> bool:
        if args.phase is not None and artifact.phase != args.phase:
            return False
        return args.attempt is None or artifact.attempt is None or artifact.attempt == args.attempt

    job = RunDownload(
        client,
        args.dag_id,
        args.date,
        args.run_id,
        Path(args.dest),
        jobs=args.jobs,
        retries=args.retries,
        select=select,
        on_selected=selected,
        on_bytes=advance,
        on_done=done,
        uploads=not args.no_uploads,
    )
    try:
        with bar:
            report = job.run(itertools.chain([first], pages))
    except KeyboardInterrupt:
        report = job.report
        partial = len(report.of("stopped"))
        kept = f", {partial} partial (.part) kept" if partial else ""
        _say(
            "download",
            f"interrupted: {report.verified} of {report.selected} files verified on disk{kept}; "
            "run the command again to resume",
        )
        return EXIT_INTERRUPTED
    return _download_summary(report, time.monotonic() - started)


def _download_summary(report: Any, elapsed: float) -> int:
    downloaded, skipped, failed = report.of("downloaded"), report.of("skipped"), report.of("failed")
    fetched = sum(o.fetched for o in report.outcomes)
    rate = f", {_size(fetched / elapsed)}/s" if elapsed > 0 and fetched else ""
    if report.selected:
        _say(
            "download",
            f"{report.verified} of {report.selected} files verified "
            f"({len(downloaded)} downloaded, {len(skipped)} already complete), {len(failed)} failed; "
            f"{_size(fetched)} fetched in {elapsed:.1f} s{rate}",
        )
    for outcome in sorted(failed, key=lambda o: o.key):
        print(f"  failed: {outcome.key}: {outcome.reason}", file=sys.stderr)
    if report.listing_error is not None:
        message, status = _describe(report.listing_error)
        _say("download", f"listing the run's artifacts failed: {message}")
        if report.selected:
            _say("download", "the listing is incomplete: files after that point were not downloaded")
            return EXIT_FAILED
        return status
    if not report.selected:
        what = "no artifacts in this run" if not report.listed else "no artifact matches --phase/--attempt"
        _say("download", f"{what} (or the run is not visible to this token)")
        return EXIT_FAILED
    return EXIT_OK if report.ok else EXIT_FAILED


# -- upload, share, seal, verify-manifest -------------------------------------------------------
def cmd_upload(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{args.file}: no such file")
    metadata = None
    if args.metadata:
        try:
            metadata = json.loads(args.metadata)
        except ValueError:
            raise UsageError("--metadata must be a JSON object") from None
    client = _client(args)
    client.whoami()  # a refused token or an unreachable API: one line, before any bar
    bar = _bar(
        args.quiet, desc="upload", total=path.stat().st_size, unit="B", unit_scale=True, unit_divisor=1000
    )
    with bar:
        record = client.upload(
            args.dag_id,
            args.date,
            args.run_id,
            path,
            name=args.name,
            artifact_type=args.type,
            content_type=args.content_type,
            phase=args.phase,
            attempt=args.attempt,
            is_primary_deliverable=args.primary,
            metadata=metadata,
            ttl_days=args.ttl_days,
            on_bytes=bar.update,
        )
    print(json.dumps(record.raw, ensure_ascii=False) if args.json else record.artifact_id)
    _say("upload", f"{record.name}: {record.status}, {record.size_bytes} bytes, sha256 {record.sha256}")
    return EXIT_OK


def cmd_share(args: argparse.Namespace) -> int:
    link = _client(args).share(args.artifact_id, expires_in=args.expires_in, max_downloads=args.max_downloads)
    if args.json:
        print(json.dumps(link.raw, ensure_ascii=False))
    else:
        print(link.url)
        expires = link.expires_at.isoformat() if link.expires_at else "-"
        limit = f", at most {link.max_downloads} downloads" if link.max_downloads else ""
        _say("share", f"link {link.link_id}, valid until {expires}{limit}; the URL is shown only this once")
    return EXIT_OK


def cmd_seal(args: argparse.Namespace) -> int:
    seal = _client(args).seal(args.dag_id, args.date, args.run_id)
    text = json.dumps(seal.raw, ensure_ascii=False, indent=2)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    _say("seal", f"sealed by key {seal.key_id} at {seal.manifest.get('sealed_at', '?')}")
    return EXIT_OK


def cmd_verify_manifest(args: argparse.Namespace) -> int:
    from etl_artifacts_client.client import read_seal
    from etl_artifacts_client.manifest import verify

    try:
        seal = read_seal(sys.stdin if args.file == "-" else Path(args.file))
    except OSError as exc:
        raise UsageError(f"{args.file}: {exc.strerror}") from None
    if args.public_key:
        try:
            pem = Path(args.public_key).read_text("ascii")
        except OSError as exc:
            raise UsageError(f"{args.public_key}: {exc.strerror}") from None
        keys = {seal.key_id: pem}
    else:
        keys = _client(args).manifest_keys()
    key_id = verify(seal, keys)
    manifest = seal.manifest
    _say(
        "verify-manifest",
        f"OK: run {manifest.get('dag_id')} {manifest.get('date')} {manifest.get('run_id')} "
        f"sealed at {manifest.get('sealed_at')}, signature verified with key {key_id}",
    )
    return EXIT_OK


# -- the parser ---------------------------------------------------------------------------------
def _consumer_commands(sub: Any) -> None:
    common = _connection_options()
    raw = argparse.RawDescriptionHelpFormatter

    p = sub.add_parser("whoami", parents=[common], help="the tenant and subject of the token")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_whoami)

    p = sub.add_parser(
        "runs",
        parents=[common],
        help="search a DAG's runs between two dates",
        description="Search a DAG's runs (newest first), following pages.",
    )
    p.add_argument("dag_id", metavar="DAG_ID", type=_dag_id, help="the DAG id (UUID)")
    p.add_argument(
        "--from", dest="date_from", required=True, type=_date, metavar="DATE", help="first date, YYYY-MM-DD"
    )
    p.add_argument(
        "--to", dest="date_to", required=True, type=_date, metavar="DATE", help="last date, YYYY-MM-DD"
    )
    p.add_argument(
        "--status", action="append", type=_pair, metavar="PHASE=STATUS", help="e.g. load=error (repeatable)"
    )
    p.add_argument(
        "--keyword",
        action="append",
        type=_pair,
        metavar="PHASE=TEXT",
        help="literal text in a phase's summary",
    )
    p.add_argument("--failed", action="store_true", help="only runs with a phase in error")
    p.add_argument("--run-ids", metavar="A,B", help="only these run ids")
    p.add_argument("--max", type=_positive, metavar="N", help="stop after N runs")
    p.add_argument("--json", action="store_true", help="one JSON object per run (NDJSON)")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser(
        "data",
        parents=[common],
        help="a phase attempt's data (or errors/logs) as NDJSON, CSV or parquet",
        description="Every row of a phase attempt's data, errors or logs. Without --output: NDJSON on "
        "stdout. --output FILE.parquet keeps the parquet types (read through the Arrow format; needs "
        "the pyarrow extra); .csv and .ndjson need nothing more.",
    )
    _run_args(p, phase=True)
    p.add_argument(
        "--kind", choices=("data", "errors", "logs"), default="data", help="what to read (default data)"
    )
    p.add_argument("--keyword", help="only rows holding this text (case-insensitive, literal)")
    p.add_argument("--columns", metavar="A,B", help="only these columns (data)")
    p.add_argument(
        "--output", "-o", metavar="FILE", help="write FILE (.parquet, .csv or .ndjson) instead of stdout"
    )
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser(
        "logs",
        parents=[common],
        help="a phase attempt's log lines; --follow a running one",
        description="Print a phase attempt's log lines (NDJSON with continuation tokens). The attempt "
        "defaults to the phase's latest. With --follow, poll a running attempt and print the lines "
        "written since, until it completes or Ctrl-C; what it waits for is said on stderr.",
    )
    _run_args(p, phase=True)
    p.add_argument("--level", choices=LEVELS, help="only lines at exactly this level")
    p.add_argument("--keyword", help="only lines whose message holds this text (case-insensitive)")
    p.add_argument(
        "--order", choices=("asc", "desc"), default="asc", help="asc: oldest first (default), desc: newest"
    )
    p.add_argument(
        "--follow", "-f", action="store_true", help="keep polling a running attempt until it completes"
    )
    p.add_argument(
        "--interval", type=_seconds, default=2.0, metavar="S", help="seconds between polls (default 2)"
    )
    p.add_argument("--json", action="store_true", help="print the rows as NDJSON, as the API sends them")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser(
        "download",
        parents=[common],
        formatter_class=raw,
        help="download every artifact of a run, verified and resumable",
        description="Download every artifact of a run through the API, in parallel with a progress bar:\n"
        "its parquet objects (size and, where the ETag is a plain MD5, MD5 verified) and the files\n"
        "attached to it (to DEST/uploads/<artifact id>/<name>, SHA-256 verified). Partial files are\n"
        "resumed, complete ones skipped.",
        epilog=f"""\
Files are written to DEST/<key> (e.g. DEST/extract/attempt=1/data_000.parquet), first as
<key>.part, renamed once verified. Run the command again to resume. Keys that could land outside
DEST (absolute, '..', backslashes, drives such as D:x.parquet) are refused on every OS, and a file
is never read past its listed size + 1 byte. Only the API and the presigned URLs it hands out are
contacted: no AWS credentials are needed.

exit status: 0 every selected file verified; 1 a file is missing or wrong, or nothing matched;
2 usage, a refused token or an unreachable API; 130 interrupted (run again to resume).

example:
  export {API_ENV}=http://127.0.0.1:3000/api/v1 {TOKEN_ENV}=...
  etl-artifacts download 3f2b8c1e-5d4a-4c7b-9e1f-0a2b3c4d5e6f 2026-11-20 \\
      'manual__2026-11-20T10:15:30.123456+00:00' --dest ./run
""",
    )
    _run_args(p)
    p.add_argument("--dest", default=".", metavar="DIR", help="where to write DIR/<key> (default: .)")
    p.add_argument("--phase", choices=("event", *PHASES), help="only this phase's files (default: all)")
    p.add_argument(
        "--attempt", type=_positive, metavar="N", help="only attempt N of each phase (event files are kept)"
    )
    p.add_argument("--jobs", type=_positive, default=8, metavar="N", help="parallel downloads (default 8)")
    p.add_argument(
        "--no-uploads", action="store_true", help="only the parquet objects, not the files tenants attached"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar, only the summary")
    p.set_defaults(func=cmd_download)

    p = sub.add_parser(
        "upload",
        parents=[common],
        help="attach a file to a run (SHA-256 checked by the storage)",
        description="Attach FILE to a run: its SHA-256 is computed while reading it, the API hands out "
        "a presigned PUT signed with the size, type and SHA-256 (small files go inline), then the "
        "upload is completed. Prints the artifact id. Needs a token with the artifacts:write scope.",
    )
    _run_args(p)
    p.add_argument("file", metavar="FILE", help="the file to upload")
    p.add_argument("--name", help="the artifact's name (default: the file's name)")
    p.add_argument("--type", default="file", help="artifact type, e.g. report (default file)")
    p.add_argument("--content-type", help="media type (default: guessed from the name)")
    p.add_argument("--phase", choices=PHASES, help="the phase it belongs to")
    p.add_argument("--attempt", type=_positive, metavar="N", help="the attempt it belongs to")
    p.add_argument("--primary", action="store_true", help="a primary deliverable (never expires by default)")
    p.add_argument("--ttl-days", type=_positive, metavar="N", help="expire after N days")
    p.add_argument("--metadata", metavar="JSON", help="a JSON object stored with it")
    p.add_argument("--json", action="store_true", help="print the whole record as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_upload)

    p = sub.add_parser("share", parents=[common], help="a link to an uploaded artifact that needs no token")
    p.add_argument("artifact_id", metavar="ARTIFACT_ID", help="art_...")
    p.add_argument(
        "--expires-in", type=_positive, metavar="S", help="seconds (default 7 days, at most 30 days)"
    )
    p.add_argument("--max-downloads", type=_positive, metavar="N", help="stop working after N downloads")
    p.add_argument("--json", action="store_true", help="print the link as JSON")
    p.set_defaults(func=cmd_share)

    p = sub.add_parser(
        "seal",
        parents=[common],
        help="seal a run (irreversible) and print its signed manifest",
        description="Seal a run: afterwards it takes no new, deleted or restored artifacts. Prints the "
        "signed manifest (RunSeal JSON); keep it to verify the run later with verify-manifest.",
    )
    _run_args(p)
    p.add_argument("--output", "-o", metavar="FILE", help="write the seal to FILE instead of stdout")
    p.set_defaults(func=cmd_seal)

    p = sub.add_parser(
        "verify-manifest",
        parents=[common],
        help="verify a sealed manifest's signature (offline with --key)",
        description="Verify a RunSeal JSON file (from `seal` or GET .../manifest): the ECDSA P-256 "
        "signature over the manifest's RFC 8785 canonical JSON. With --key it runs offline; "
        "otherwise the keys come from the API. Needs the verify extra.",
    )
    p.add_argument("file", metavar="FILE", help="the RunSeal JSON ('-' for stdin)")
    p.add_argument(
        "--key", "--public-key", dest="public_key", metavar="PEM", help="the PEM public key file (offline)"
    )
    p.set_defaults(func=cmd_verify_manifest)


class _PluginCommands:
    """The sub-parsers as a plugin sees them: a command name the client (or an earlier plugin)
    already has stays theirs, and the plugin's parser for it is left detached, never reachable."""

    def __init__(self, sub: Any) -> None:
        self._sub = sub
        self._taken = set(sub.choices)

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if name in self._taken:
            return argparse.ArgumentParser(prog=f"etl-artifacts {name}", add_help=False)
        self._taken.add(name)
        parser: argparse.ArgumentParser = self._sub.add_parser(name, **kwargs)
        return parser

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sub, name)


def _plugins() -> list[Any]:
    from importlib.metadata import entry_points

    found = entry_points()
    if hasattr(found, "select"):
        return list(found.select(group=PLUGIN_GROUP))
    return list(found.get(PLUGIN_GROUP, []))  # Python 3.9


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="etl-artifacts",
        description="The ETL Run Artifacts API from the command line: search runs, read a phase's data and "
        f"logs, download a run, attach and share files, seal and verify. The API and token come from "
        f"--api/--token or ${API_ENV}/${TOKEN_ENV}.",
        epilog="exit status: 0 ok; 1 the work failed; 2 usage, a refused token or an unreachable API; "
        "130 interrupted.",
    )
    versions = [f"etl-artifacts-client {__version__}"]
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _consumer_commands(sub)
    for plugin in _plugins():
        try:
            plugin.load()(_PluginCommands(sub))
        except Exception as exc:  # a broken plugin must not take the consumer commands down
            _say(plugin.name, f"commands not available ({type(exc).__name__}: {exc})")
            continue
        dist = getattr(plugin, "dist", None)
        if dist is not None:
            versions.append(f"{dist.name} {dist.version}")
    parser.add_argument("--version", action="version", version=", ".join(dict.fromkeys(versions)))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except (UsageError, ClientError) as exc:
        message, status = _describe(exc)
        _say(args.command, message)
        return status


if __name__ == "__main__":
    sys.exit(main())
