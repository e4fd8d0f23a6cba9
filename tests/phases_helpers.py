"""Helpers for the Phases tests: small parquet fixtures written to moto's S3 server under the
docs/architecture.md layout (each test its own run), URLs, and spies on what the reader fetches."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.fs as pafs
import pytest
from etl_artifacts.clients import s3_client
from etl_artifacts.config import get_settings
from etl_artifacts.parquet import chunkset
from etl_artifacts.s3.artifact_store import ArtifactStore, artifact_store, use_store
from etl_artifacts.s3.layout import RunRef, chunk_file, single_file
from etl_artifacts_local.etl_parquet import ERRORS_SCHEMA, LOGS_SCHEMA, METADATA_SCHEMA, parquet_bytes

UTC = dt.UTC
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def new_run(company: str = "acme") -> RunRef:
    # ':' and '+' exercise the once-percent-encoded run id of docs/api.md.
    return RunRef(
        company,
        uuid.uuid4(),
        dt.date(2026, 11, 20),
        f"manual__2026-11-20T10:15:30+00:00.{uuid.uuid4().hex[:8]}",
    )


def run_path(run: RunRef, suffix: str = "") -> str:
    return f"/api/v1/dags/{run.dag_id}/runs/{run.run_date.isoformat()}/{quote(run.run_id, safe='')}{suffix}"


def phase_path(run: RunRef, phase: str = "extract", suffix: str = "") -> str:
    return run_path(run, f"/phases/{phase}{suffix}")


def put_bytes(run: RunRef, relative_key: str, data: bytes) -> str:
    settings = get_settings()
    key = run.prefix(settings.artifacts_prefix) + relative_key
    s3_client().put_object(Bucket=settings.artifacts_bucket, Key=key, Body=data)
    return key


def put_table(run: RunRef, relative_key: str, table: pa.Table, row_group_size: int | None = None) -> int:
    """Write ``table`` as parquet at ``relative_key`` of ``run``; returns the object size."""
    data = parquet_bytes(table, row_group_size)
    put_bytes(run, relative_key, data)
    return len(data)


def put_chunks(
    run: RunRef,
    name: str,
    tables: list[pa.Table],
    *,
    phase: str = "extract",
    attempt: int = 1,
    row_group_size: int | None = None,
) -> list[int]:
    return [
        put_table(run, chunk_file(phase, attempt, name, number), table, row_group_size)
        for number, table in enumerate(tables)
    ]


def metadata_table(phase: str = "extract", attempt: int = 1, *, rows: int = 0, chunks: int = 0) -> pa.Table:
    return pa.Table.from_pydict(
        {
            "phase": [phase],
            "attempt": [attempt],
            "status": ["success"],
            "started_at": [dt.datetime(2026, 11, 20, 10, 15, 30, 123456, tzinfo=UTC)],
            "finished_at": [None],
            "row_count": [rows],
            "data_chunks": [chunks],
            "log_count": [0],
            "error_log_count": [0],
            "message": [None],
            "extra_column": ["passed through"],  # extra columns are passed through (docs/architecture.md)
        },
        schema=METADATA_SCHEMA.append(pa.field("extra_column", pa.string())),
    )


def put_metadata(run: RunRef, phase: str = "extract", attempt: int = 1, **kwargs: Any) -> None:
    put_table(run, single_file(phase, attempt, "metadata"), metadata_table(phase, attempt, **kwargs))


def data_table(start: int, count: int) -> pa.Table:
    ids = list(range(start, start + count))
    return pa.table({"id": pa.array(ids, pa.int64()), "name": [f"row-{i}" for i in ids]})


def logs_table(messages: list[str], levels: list[str] | None = None, start: int = 0) -> pa.Table:
    count = len(messages)
    base = dt.datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    return pa.Table.from_pydict(
        {
            "timestamp": [base + dt.timedelta(seconds=start + i) for i in range(count)],
            "level": levels or [LEVELS[(start + i) % len(LEVELS)] for i in range(count)],
            "logger": ["etl.extract"] * count,
            "message": messages,
        },
        schema=LOGS_SCHEMA,
    )


def errors_table(start: int, count: int) -> pa.Table:
    return pa.Table.from_pydict(
        {
            "error_type": [f"https://errors.example/{i}" for i in range(start, start + count)],
            "error_title": ["Bad row"] * count,
            "error_status": [422] * count,
            "error_detail": [f"row {i} is bad" for i in range(start, start + count)],
            "traceback": [None] * count,
            "occurred_at": [dt.datetime(2026, 11, 20, tzinfo=UTC)] * count,
            "row_ref": [str(i) for i in range(start, start + count)],
        },
        schema=ERRORS_SCHEMA,
    )


# ---------------------------------------------------------------------------------------------
# Spies
# ---------------------------------------------------------------------------------------------
@dataclass
class RowGroupSpy:
    calls: list[tuple[int | None, list[int], list[str] | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def groups(self) -> list[tuple[int | None, list[int]]]:
        return [(chunk, groups) for chunk, groups, _ in self.calls]

    def count(self) -> int:
        return sum(len(groups) for _, groups, _ in self.calls)


@contextmanager
def spy_row_groups(monkeypatch: pytest.MonkeyPatch) -> Iterator[RowGroupSpy]:
    """Record every ``chunkset.read_row_groups`` call: (chunk NNN, row groups, columns)."""
    spy = RowGroupSpy()
    real = chunkset.read_row_groups

    def recording(footer: Any, row_groups: Any, columns: Any = None) -> pa.Table:
        with spy.lock:
            spy.calls.append((footer.obj.chunk, list(row_groups), None if columns is None else list(columns)))
        return real(footer, row_groups, columns)

    with monkeypatch.context() as patch:
        patch.setattr(chunkset, "read_row_groups", recording)
        yield spy


class _CountingReader:
    """A file object over a pyarrow input file that counts the bytes actually fetched."""

    def __init__(self, inner: pa.NativeFile, counter: ByteCounter) -> None:
        self.inner = inner
        self.counter = counter
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        data = self.inner.read(size if size is not None and size >= 0 else None)
        self.counter.add(len(data))
        return bytes(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.inner.seek(offset, whence)

    def tell(self) -> int:
        return self.inner.tell()

    def size(self) -> int:
        return self.inner.size()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True


@dataclass
class ByteCounter:
    total: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, count: int) -> None:
        with self.lock:
            self.total += count

    def take(self) -> int:
        with self.lock:
            value, self.total = self.total, 0
        return value


class _CountingHandler(pafs.FileSystemHandler):
    """Delegates to the real S3 filesystem; input files count the bytes read through them."""

    def __init__(self, inner: pafs.FileSystem, counter: ByteCounter) -> None:
        self.inner = inner
        self.counter = counter

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _CountingHandler) and other.inner is self.inner

    def __ne__(self, other: object) -> bool:
        return not self == other

    def get_type_name(self) -> str:
        return "counting"

    def normalize_path(self, path: str) -> str:
        return path

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        return self.inner.get_file_info(paths)

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        return self.inner.get_file_info(selector)

    def open_input_file(self, path: str) -> pa.NativeFile:
        return pa.PythonFile(_CountingReader(self.inner.open_input_file(path), self.counter), mode="r")

    def open_input_stream(self, path: str) -> pa.NativeFile:
        return self.open_input_file(path)

    def _read_only(self, *_: Any, **__: Any) -> Any:
        raise OSError("read-only test filesystem")

    create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = _read_only
    delete_file = move = copy_file = open_output_stream = open_append_stream = _read_only


class CountingFileSystem:
    """The file system factory of a test's ``ArtifactStore``: real S3 reads, every byte counted."""

    def __init__(self, inner: pafs.FileSystem) -> None:
        self.counter = ByteCounter()
        self.fs = pafs.PyFileSystem(_CountingHandler(inner, self.counter))

    def __call__(self) -> pafs.FileSystem:
        return self.fs


def use_counting_store() -> CountingFileSystem:
    """Give this test a fresh ``ArtifactStore`` (cold caches) whose parquet reads are counted; the
    next test's settings and clients replace it."""
    counting = CountingFileSystem(artifact_store().filesystem)
    use_store(ArtifactStore(get_settings(), s3_client(), filesystem=counting))
    return counting


# -- a running attempt's logs (following them: the API's NDJSON and the client's ``logs``) -----------
def put_logs(
    run: RunRef, number: int, first: int, count: int, *, attempt: int = 1, row_group_size: int | None = None
) -> None:
    """``logs_NNN.parquet`` of extract holding ``line <first>`` .. ``line <first + count - 1>``."""
    messages = [f"line {i}" for i in range(first, first + count)]
    put_table(
        run, chunk_file("extract", attempt, "logs", number), logs_table(messages, start=first), row_group_size
    )


def expected_lines(first: int, stop: int) -> list[str]:
    return [f"line {i}" for i in range(first, stop)]


def running_attempt() -> RunRef:
    """An attempt that is still running: a data chunk and logs_000 (10 lines), no metadata."""
    run = new_run()
    put_chunks(run, "data", [data_table(0, 5)])
    put_logs(run, 0, 0, 10)
    return run
