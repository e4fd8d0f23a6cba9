"""Helpers of the artifacts tests: runs written to moto's S3 server with the layout module,
paths of the artifacts routes, and reading the parameters of a presigned URL."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, urlsplit

from etl_artifacts.clients import s3_client
from etl_artifacts.config import get_settings
from etl_artifacts.s3.layout import EVENT_KINDS, PHASES, RunRef, chunk_file, single_file

# A run id with every character the API allows that needs care in a URL.
SPECIAL_RUN_ID = "manual__2026-11-20T10:00:00+00:00.v~1"
RUN_DATE = dt.date(2026, 11, 20)

# Every kind of docs/api.md and the relative key it names at attempt 1, chunk 0.
ALL_KINDS: dict[str, str] = {
    **EVENT_KINDS,
    **{
        f"{phase}-{name}": chunk_file(phase, 1, name, 0)
        for phase in PHASES
        for name in ("data", "logs", "errors")
    },
    **{f"{phase}-{name}": single_file(phase, 1, name) for phase in PHASES for name in ("metadata", "index")},
}


def fake_parquet(label: str, size: int = 64) -> bytes:
    """Bytes that differ per object (their content is never parsed by the artifacts routes)."""
    seed = hashlib.sha256(label.encode()).digest()
    body = (seed * (size // len(seed) + 1))[:size]
    return b"PAR1" + body + b"PAR1"


@dataclass
class StoredRun:
    run: RunRef
    objects: dict[str, bytes] = field(default_factory=dict)  # relative key -> body

    @property
    def prefix(self) -> str:
        return self.run.prefix(get_settings().artifacts_prefix)

    def path(self, suffix: str = "/artifacts") -> str:
        """Route path with the run id percent-encoded exactly once, as clients must."""
        run = self.run
        return (
            f"/api/v1/dags/{run.dag_id}/runs/{run.run_date.isoformat()}/{quote(run.run_id, safe='')}{suffix}"
        )

    def put(self, relative_key: str, body: bytes | None = None) -> bytes:
        data = fake_parquet(self.prefix + relative_key) if body is None else body
        s3_client().put_object(
            Bucket=get_settings().artifacts_bucket, Key=self.prefix + relative_key, Body=data
        )
        self.objects[relative_key] = data
        return data

    def put_many(self, relative_keys: list[str], workers: int = 16) -> None:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(self.put, relative_keys))


def new_run(company: str = "acme", run_id: str = SPECIAL_RUN_ID) -> StoredRun:
    """A run of its own (fresh dag id), so tests sharing the session bucket never see each other."""
    return StoredRun(RunRef(company, uuid.uuid4(), RUN_DATE, run_id))


def query_params(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def amz_date(url: str) -> dt.datetime:
    return dt.datetime.strptime(query_params(url)["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)


def parse_iso(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()
