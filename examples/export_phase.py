"""Export a phase attempt's data to one parquet file with the SDK, keeping the parquet types.

    export ETL_ARTIFACTS_API=http://127.0.0.1:3000/api/v1 ETL_ARTIFACTS_TOKEN=...
    python examples/export_phase.py DAG_ID 2026-11-20 RUN_ID transform --output transform.parquet

Pages are read through the Arrow format and appended to the file one at a time (memory stays at
one page). Needs the pyarrow extra: pip install './clients/python[pyarrow]'
"""

from __future__ import annotations

import argparse
import os

import pyarrow.parquet as pq
from etl_artifacts_client import Client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dag_id")
    parser.add_argument("date")
    parser.add_argument("run_id")
    parser.add_argument("phase", choices=("extract", "transform", "load"))
    parser.add_argument("--attempt", type=int, help="default: the phase's latest")
    parser.add_argument("--columns", help="comma-separated column names (default: all)")
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)

    with Client(os.environ["ETL_ARTIFACTS_API"], os.environ["ETL_ARTIFACTS_TOKEN"]) as client:
        ref = (args.dag_id, args.date, args.run_id, args.phase)
        attempt = args.attempt or client.latest_attempt(*ref)
        columns = args.columns.split(",") if args.columns else None
        writer = None
        rows = 0
        for table in client.arrow_batches(*ref, attempt=attempt, columns=columns):
            if writer is None:
                writer = pq.ParquetWriter(args.output, table.schema)
            writer.write_table(table)
            rows += table.num_rows
        if writer is not None:
            writer.close()
    print(f"{rows} rows of {args.phase} attempt {attempt} written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
