"""The benchmark data set of scenarios 1, 2 and 8: generated locally once (deterministic, cached
under ``.local/bench-data/``) and uploaded under a proper run prefix to the S3 server in use."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.stack import BENCH_BUCKET, services, shared_s3
from bench.timing import DEFAULT_DATA_DIR, BenchOptions, fmt_bytes, progress

if TYPE_CHECKING:
    import pyarrow as pa
    from etl_artifacts.s3.layout import RunRef

BENCH_COMPANY = "bench-co"
# Keywords of scenario 2. The generator's alphabet has no q, x or z, so these words occur only
# where the generator puts them: the needle in a handful of rows, the common word in 0.1% of
# rows spread evenly, the no-match word nowhere.
NEEDLE = "zephyrbolt7731"
COMMON_WORD = "quasar"
NO_MATCH = "xylophonic"
_ALPHABET = "abcdefghiklmnoprstuvwy"
_STATUSES = ("success", "pending", "failed", "refunded", "shipped")
_DATA_FORMAT_VERSION = 1


# -- the benchmark data set --------------------------------------------------------------------
@dataclass(frozen=True)
class DatasetSpec:
    rows: int
    chunks: int
    row_group_size: int
    seed: int = 7

    @classmethod
    def from_options(cls, options: BenchOptions) -> DatasetSpec:
        return cls(options.rows, options.chunks, options.row_group_size)

    @property
    def name(self) -> str:
        sizes = f"rows{self.rows}-chunks{self.chunks}-rg{self.row_group_size}"
        return f"{sizes}-s{self.seed}-v{_DATA_FORMAT_VERSION}"

    def chunk_bounds(self, chunk: int) -> tuple[int, int]:
        """[start, stop) row numbers of a chunk; chunks are as equal as the row count allows."""
        start = self.rows * chunk // self.chunks
        return start, self.rows * (chunk + 1) // self.chunks

    def needle_rows(self) -> list[int]:
        """At most 10 rows (7 at full size) holding the needle, spread over the attempt."""
        fractions = (0.05, 0.21, 0.38, 0.5, 0.66, 0.79, 0.93)
        return sorted({min(self.rows - 1, int(self.rows * f) + 17) for f in fractions})

    def common_rows(self) -> range:
        """0.1% of rows, evenly spread: every 1000th row."""
        return range(500, self.rows, 1000)


@dataclass(frozen=True)
class LocalDataset:
    spec: DatasetSpec
    directory: Path

    @property
    def data_files(self) -> list[Path]:
        return [self.directory / f"data_{chunk:03d}.parquet" for chunk in range(self.spec.chunks)]

    @property
    def metadata_file(self) -> Path:
        return self.directory / "metadata.parquet"

    @property
    def data_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.data_files)


def _words(rng: Any, count: int, low: int, high: int) -> list[str]:
    words: set[str] = set()
    while len(words) < count:
        words.add("".join(rng.choice(_ALPHABET) for _ in range(rng.randint(low, high))))
    return sorted(words)


def _random_indices(n: int, size: int, seed: int) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pc.multiply(pc.random(n, initializer=seed), size)
    return pc.cast(pc.floor(values), pa.int32())


def generate_chunk(spec: DatasetSpec, chunk: int) -> pa.Table:
    """One data chunk: 8 mixed columns, ~190 bytes per row once written (snappy)."""
    import random

    import pyarrow as pa
    import pyarrow.compute as pc

    start, stop = spec.chunk_bounds(chunk)
    n = stop - start
    rng = random.Random(spec.seed)
    vocabulary = _words(rng, 4000, 3, 10)
    first_names = [w.capitalize() for w in _words(rng, 60, 4, 8)]
    last_names = [w.capitalize() for w in _words(rng, 80, 5, 10)]
    base_seed = spec.seed * 1_000_003 + chunk * 101

    def pick(values: list[str], salt: int) -> pa.Array:
        return pa.array(values).take(_random_indices(n, len(values), base_seed + salt))

    ids = pa.array(range(start, stop), pa.int64())
    # 2.6 s apart with sub-second jitter, from 2026-11-01.
    jitter = pc.cast(pc.floor(pc.multiply(pc.random(n, initializer=base_seed + 1), 1_000_000)), pa.int64())
    created_us = pc.add(pc.add(pc.multiply(ids, 2_600_000), jitter), 1_793_491_200_000_000)
    created_at = pc.cast(created_us, pa.timestamp("us", tz="UTC"))
    order_date = pc.cast(pc.cast(pc.add(pc.divide(ids, 33_000), 20_393), pa.int32()), pa.date32())

    first, last = pick(first_names, 2), pick(last_names, 3)
    customer = pc.binary_join_element_wise(first, last, " ")
    number = pc.cast(_random_indices(n, 10_000, base_seed + 4), pa.string())
    domain = pc.cast(_random_indices(n, 50, base_seed + 5), pa.string())
    email = pc.utf8_lower(pc.binary_join_element_wise(first, ".", last, number, "@mail", domain, ".test", ""))
    amount = pc.round(pc.multiply(pc.random(n, initializer=base_seed + 6), 5000), 2)
    status = pick(list(_STATUSES), 7)

    # Free text of 21 words; the needle and the common word replace a word in their rows.
    word_count = 21
    special = {
        COMMON_WORD: [r - start for r in spec.common_rows() if start <= r < stop],
        NEEDLE: [r - start for r in spec.needle_rows() if start <= r < stop],
    }
    words_vocab = pa.array([*vocabulary, COMMON_WORD, NEEDLE])
    columns = []
    for position in range(word_count):
        indices = _random_indices(n, len(vocabulary), base_seed + 100 + position).to_pylist()
        if position == 5:
            for row_number in special[COMMON_WORD]:
                indices[row_number] = len(vocabulary)
        if position == 9:
            for row_number in special[NEEDLE]:
                indices[row_number] = len(vocabulary) + 1
        columns.append(words_vocab.take(pa.array(indices, pa.int32())))
    description = pc.binary_join_element_wise(*columns, " ")

    return pa.table(
        {
            "id": ids,
            "created_at": created_at,
            "order_date": order_date,
            "customer": customer,
            "email": email,
            "amount": amount,
            "status": status,
            "description": description,
        }
    )


def metadata_table(spec: DatasetSpec, phase: str = "extract", attempt: int = 1) -> pa.Table:
    """The attempt's metadata.parquet (docs/architecture.md schema, exactly one row)."""
    from datetime import UTC, datetime

    import pyarrow as pa
    from etl_artifacts_local.etl_parquet import METADATA_SCHEMA

    started = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    finished = datetime(2026, 11, 20, 10, 7, tzinfo=UTC)
    return pa.Table.from_pylist(
        [
            {
                "phase": phase,
                "attempt": attempt,
                "status": "success",
                "started_at": started,
                "finished_at": finished,
                "row_count": spec.rows,
                "data_chunks": spec.chunks,
                "log_count": 0,
                "error_log_count": 0,
                "message": "benchmark data",
            }
        ],
        schema=METADATA_SCHEMA,
    )


def ensure_dataset(spec: DatasetSpec, data_dir: Path = DEFAULT_DATA_DIR) -> LocalDataset:
    """The data set on local disk, generated once per spec (then reused from the cache)."""
    import pyarrow.parquet as pq

    dataset = LocalDataset(spec, data_dir / spec.name)
    if (dataset.directory / "COMPLETE").exists():
        return dataset
    progress(f"generating {spec.rows:,} rows in {spec.chunks} chunks into the data cache")
    staging = data_dir / f".{spec.name}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for chunk in range(spec.chunks):
        pq.write_table(
            generate_chunk(spec, chunk),
            staging / f"data_{chunk:03d}.parquet",
            row_group_size=spec.row_group_size,
        )
    pq.write_table(metadata_table(spec), staging / "metadata.parquet")
    (staging / "COMPLETE").write_text(json.dumps({"rows": spec.rows, "chunks": spec.chunks}))
    shutil.rmtree(dataset.directory, ignore_errors=True)
    staging.rename(dataset.directory)
    return dataset


# -- the uploaded run --------------------------------------------------------------------------
@dataclass(frozen=True)
class UploadedRun:
    """A data set uploaded under a run prefix (docs/architecture.md), built with etl_artifacts.s3.layout."""

    dataset: LocalDataset
    run: RunRef
    phase: str
    attempt: int
    bucket: str

    @property
    def attempt_prefix(self) -> str:
        from etl_artifacts.s3.layout import attempt_dir

        return self.run.prefix() + attempt_dir(self.phase, self.attempt)

    def data_key(self, chunk: int) -> str:
        from etl_artifacts.s3.layout import chunk_file

        return self.run.prefix() + chunk_file(self.phase, self.attempt, "data", chunk)

    @property
    def metadata_key(self) -> str:
        from etl_artifacts.s3.layout import single_file

        return self.run.prefix() + single_file(self.phase, self.attempt, "metadata")

    @property
    def data_glob(self) -> str:
        """``s3://`` glob of the data chunks, for DuckDB."""
        return f"s3://{self.bucket}/{self.attempt_prefix}data_*.parquet"


BENCH_RUN_ID = "manual__2026-11-20T10:00:00+00:00"
WARMUP_ATTEMPT = 2  # a small attempt beside the measured one (attempt 1)
BENCH_DAG_ID = uuid.UUID("5a4c3b2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d")


def bench_run_ref() -> RunRef:
    from etl_artifacts.s3.layout import RunRef

    return RunRef(BENCH_COMPANY, BENCH_DAG_ID, date(2026, 11, 20), BENCH_RUN_ID)


def uploaded_run(options: BenchOptions) -> UploadedRun:
    """The scenario 1/2 run in moto (data cached locally, uploaded once per runner process)."""
    spec = DatasetSpec.from_options(options)
    uploads = services().uploads
    if spec.name not in uploads:
        dataset = ensure_dataset(spec, options.data_dir)
        shared_s3()
        from etl_artifacts.clients import s3_client

        uploads[spec.name] = upload_run(dataset, s3_client(), BENCH_BUCKET, "moto")
    return uploads[spec.name]  # type: ignore[no-any-return]


def upload_run(dataset: LocalDataset, client: Any, bucket: str, where: str) -> UploadedRun:
    """Upload the data chunks, then metadata.parquet (written last, as the ETL writer does: it
    marks the attempt complete), then the small warm-up attempt, with ``client`` (boto3)."""
    uploaded = UploadedRun(dataset, bench_run_ref(), "extract", 1, bucket)
    progress(f"uploading {fmt_bytes(dataset.data_bytes)} of parquet to {where}")
    for chunk, path in enumerate(dataset.data_files):
        with path.open("rb") as body:
            client.put_object(Bucket=bucket, Key=uploaded.data_key(chunk), Body=body)
    with dataset.metadata_file.open("rb") as body:
        client.put_object(Bucket=bucket, Key=uploaded.metadata_key, Body=body)
    _upload_warmup_attempt(client, uploaded)
    return uploaded


def _upload_warmup_attempt(client: Any, uploaded: UploadedRun) -> None:
    """A small second attempt of the same run: a process that served it has done every first-request
    set-up (lazy imports, clients) without caching any footer of the measured attempt."""
    from etl_artifacts.s3.layout import chunk_file, single_file
    from etl_artifacts_local.etl_parquet import parquet_bytes

    spec = DatasetSpec(rows=100, chunks=1, row_group_size=100)
    prefix = uploaded.run.prefix()
    for key, table in (
        (chunk_file(uploaded.phase, WARMUP_ATTEMPT, "data", 0), generate_chunk(spec, 0)),
        (
            single_file(uploaded.phase, WARMUP_ATTEMPT, "metadata"),
            metadata_table(spec, attempt=WARMUP_ATTEMPT),
        ),
    ):
        client.put_object(Bucket=uploaded.bucket, Key=prefix + key, Body=parquet_bytes(table))
