"""Attach a report to a run and share it with someone who has no token.

    export ETL_ARTIFACTS_API=http://127.0.0.1:3000/api/v1 ETL_ARTIFACTS_TOKEN=...   # scope artifacts:write
    python examples/upload_and_share.py DAG_ID 2026-11-20 RUN_ID quality-report.md --days 3

Uploads the file (its SHA-256 is checked by the storage itself), then prints a link that works
without a token until it expires. Needs only the client: pip install ./clients/python
"""

from __future__ import annotations

import argparse
import os

from etl_artifacts_client import Client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dag_id")
    parser.add_argument("date")
    parser.add_argument("run_id")
    parser.add_argument("file")
    parser.add_argument("--days", type=int, default=7, help="how long the link works (default 7 days)")
    parser.add_argument("--max-downloads", type=int, help="stop the link after N downloads")
    args = parser.parse_args(argv)

    with Client(os.environ["ETL_ARTIFACTS_API"], os.environ["ETL_ARTIFACTS_TOKEN"]) as client:
        record = client.upload(args.dag_id, args.date, args.run_id, args.file, artifact_type="report")
        print(f"uploaded {record.name} as {record.artifact_id} ({record.size_bytes} bytes)")
        link = client.share(
            record.artifact_id, expires_in=args.days * 86400, max_downloads=args.max_downloads
        )
        print(f"share this link (shown once): {link.url}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
