"""``etl-artifacts download DAG_ID DATE RUN_ID --api URL``: the parser, the pool, the progress bar.

Pages of the listing are fetched one after the other and their files handed to a pool of
``--jobs`` threads as each page arrives, so the first bytes flow before a big run is fully listed.
One rich progress bar shows bytes, rate and ETA (its total grows as pages arrive). The summary goes
to stderr with the bar; stdout stays empty. Exit status: 0 when every selected file is verified,
1 when any is missing or wrong (or nothing matched), 2 when the API cannot be used (bad token,
unreachable, bad arguments).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

TOKEN_ENV = "ETL_ARTIFACTS_TOKEN"  # noqa: S105 - the variable's name, not a secret
PHASE_CHOICES = ("event", "extract", "transform", "load")
EXIT_OK, EXIT_INCOMPLETE, EXIT_UNUSABLE = 0, 1, 2

DESCRIPTION = (
    "Download every artifact of a run through the API, in parallel with a progress bar; verify each "
    "file's size and MD5 (where the ETag is a plain MD5); resume partial files; skip complete ones."
)
EPILOG = f"""\
The token comes from --token or ${TOKEN_ENV}. Files are written to DEST/<key> (e.g.
DEST/extract/attempt=1/data_000.parquet), first as <key>.part, renamed once their size and,
where the ETag is a plain MD5, their MD5 match. Run the command again to resume: verified files
are skipped, partial ones continued with a ranged GET. Only the API is contacted (and the
presigned URLs it hands out): no AWS credentials are needed.

exit status: 0 every selected file verified; 1 a file is missing or wrong, or nothing matched;
2 the API cannot be used (bad token, unreachable) or the arguments are invalid.

example:
  export {TOKEN_ENV}=...
  etl-artifacts download 3f2b8c1e-5d4a-4c7b-9e1f-0a2b3c4d5e6f 2026-11-20 \\
      'manual__2026-11-20T10:15:30.123456+00:00' --api http://127.0.0.1:3000/api/v1 --dest ./run
"""


def _positive(text: str) -> int:
    if not text.isdecimal() or int(text) < 1:
        raise argparse.ArgumentTypeError("must be a whole number >= 1")
    return int(text)


def _non_negative(text: str) -> int:
    if not text.isdecimal():
        raise argparse.ArgumentTypeError("must be a whole number >= 0")
    return int(text)


def _dag_id(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise argparse.ArgumentTypeError("must be a UUID") from None


def _date(text: str) -> str:
    try:
        if len(text) != 10:
            raise ValueError
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError("must be a date, YYYY-MM-DD") from None


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("dag_id", metavar="DAG_ID", type=_dag_id, help="the DAG id (UUID)")
    p.add_argument("date", metavar="DATE", type=_date, help="the run date, YYYY-MM-DD")
    p.add_argument("run_id", metavar="RUN_ID", help="the run id as the ETL wrote it (not percent-encoded)")
    p.add_argument(
        "--api", required=True, metavar="URL", help="the API root, e.g. http://127.0.0.1:3000/api/v1"
    )
    p.add_argument("--dest", default=".", metavar="DIR", help="where to write DIR/<key> (default: .)")
    p.add_argument("--phase", choices=PHASE_CHOICES, help="only this phase's files (default: all)")
    p.add_argument(
        "--attempt",
        type=_positive,
        metavar="N",
        help="only attempt N of each phase (event files, which have no attempt, are kept unless --phase "
        "excludes them)",
    )
    p.add_argument("--jobs", type=_positive, default=8, metavar="N", help="parallel downloads (default 8)")
    p.add_argument(
        "--retries",
        type=_non_negative,
        default=5,
        metavar="N",
        help="retries per file and per API request on network errors (default 5)",
    )
    p.add_argument("--token", help=f"bearer token (default: ${TOKEN_ENV}); never printed")
    p.add_argument("--quiet", action="store_true", help="no progress bar, only the summary")
    p.set_defaults(func=run)


def _selected(item: Any, phase: str | None, attempt: int | None) -> bool:
    if phase is not None and item.phase != phase:
        return False
    return attempt is None or item.attempt is None or item.attempt == attempt


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from etl_artifacts.downloader.api import ApiFailure, ArtifactsApi
    from etl_artifacts.downloader.transfer import Outcome, Transfer

    console = Console(stderr=True, soft_wrap=True)  # summary lines are never re-wrapped
    token = args.token or os.environ.get(TOKEN_ENV, "")
    if not token.strip():
        console.print(f"error: no token: pass --token or set {TOKEN_ENV}")
        return EXIT_UNUSABLE
    dest = Path(args.dest)
    api = ArtifactsApi(args.api, token.strip(), args.dag_id, args.date, args.run_id, retries=args.retries)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[files]}"),
        console=console,
        disable=args.quiet,
    )
    started = time.monotonic()
    futures: list[Future[Outcome]] = []
    listing_error: ApiFailure | None = None
    listed = 0
    with progress:
        task = progress.add_task("download", total=0, files="listing...")
        transfer = Transfer(
            api, dest, retries=args.retries, on_bytes=lambda n: progress.advance(task, n) if n else None
        )
        done = [0]

        def finished(_: Future[Outcome]) -> None:
            done[0] += 1
            progress.update(task, files=f"{done[0]}/{len(futures)} files")

        pool = ThreadPoolExecutor(max_workers=args.jobs, thread_name_prefix="download")
        total = 0
        try:
            try:
                for page in api.pages():
                    listed += len(page)
                    for item in page:
                        if not _selected(item, args.phase, args.attempt):
                            continue
                        total += item.size
                        progress.update(task, total=total)
                        future = pool.submit(transfer.fetch, item)
                        futures.append(future)
                        future.add_done_callback(finished)
            except ApiFailure as exc:
                listing_error = exc
            outcomes = [future.result() for future in futures]
        except KeyboardInterrupt:
            # Queued files are dropped; those in flight finish. A new run resumes from what is on disk.
            pool.shutdown(wait=False, cancel_futures=True)
            console.print("interrupted: run the command again to resume")
            raise
        pool.shutdown()
    return _summary(console, outcomes, listing_error, listed, time.monotonic() - started)


def _summary(console: Any, outcomes: list[Any], listing_error: Any, listed: int, elapsed: float) -> int:
    downloaded = [o for o in outcomes if o.status == "downloaded"]
    skipped = [o for o in outcomes if o.status == "skipped"]
    failed = [o for o in outcomes if o.status == "failed"]
    fetched = sum(o.fetched for o in outcomes)
    rate = f", {_size(fetched / elapsed)}/s" if elapsed > 0 and fetched else ""
    console.print(
        f"{len(downloaded) + len(skipped)} of {len(outcomes)} files verified "
        f"({len(downloaded)} downloaded, {len(skipped)} already complete), {len(failed)} failed; "
        f"{_size(fetched)} fetched in {elapsed:.1f} s{rate}"
    )
    for outcome in sorted(failed, key=lambda o: o.key):
        console.print(f"  failed: {outcome.key}: {outcome.reason}", markup=False, highlight=False)
    if listing_error is not None:
        console.print(f"error: listing the run's artifacts failed: {listing_error}", markup=False)
        if not outcomes:
            return EXIT_UNUSABLE
        console.print("  the listing is incomplete: files after that point were not downloaded")
        return EXIT_INCOMPLETE
    if not outcomes:
        what = "no artifacts in this run" if not listed else "no artifact matches --phase/--attempt"
        console.print(f"error: {what} (or the run is not visible to this token)")
        return EXIT_INCOMPLETE
    return EXIT_INCOMPLETE if failed else EXIT_OK
