"""Find a DAG's failed runs and read their errors.

    export ETL_ARTIFACTS_API=http://127.0.0.1:3000/api/v1 ETL_ARTIFACTS_TOKEN=...
    python examples/failed_runs.py DAG_ID --from 2026-11-01 --to 2026-11-20

For every run with a phase in error (newest first), prints the phase, its latest attempt and the
first errors of that attempt. Needs only the client: pip install ./clients/python
"""

from __future__ import annotations

import argparse
import itertools
import os

from etl_artifacts_client import ApiError, Client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dag_id")
    parser.add_argument("--from", dest="date_from", required=True)
    parser.add_argument("--to", dest="date_to", required=True)
    parser.add_argument("--errors", type=int, default=3, help="errors shown per failed phase (default 3)")
    args = parser.parse_args(argv)

    with Client(os.environ["ETL_ARTIFACTS_API"], os.environ["ETL_ARTIFACTS_TOKEN"]) as client:
        for run in client.runs(args.dag_id, args.date_from, args.date_to):
            for phase in run.failed_phases():
                summary = run.phases[phase]
                attempt = summary.attempt if summary and summary.attempt else 1
                print(
                    f"{run.date} {run.run_id} {phase} attempt {attempt}: {summary.message if summary else ''}"
                )
                if phase == "event":
                    continue  # the event has no errors files
                try:
                    errors = client.rows(
                        args.dag_id,
                        run.date,
                        run.run_id,
                        phase,
                        "errors",
                        attempt=attempt,
                        page_size=args.errors,
                    )
                    for error in itertools.islice(errors, args.errors):
                        print(f"    {error['error_type']} ({error['error_status']}): {error['error_detail']}")
                except ApiError as exc:
                    print(f"    errors not readable: {exc.code}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
