"""The layout file, ``index_layout.parquet``: every data chunk's footer of a phase attempt in one
object, so a cold function reads a page in two round trips (docs/performance.md "The layout file").

Written by the indexer beside ``index.parquet`` from the chunks it downloaded (pinned to their
ETags): one row per data chunk, in chunk order, ``key`` string (the full S3 key), ``etag`` string
(without quotes), ``size`` int64 and ``footer`` binary, the chunk's last bytes exactly as stored
(the serialized ``FileMetaData``, its 4-byte length and ``PAR1``). Schema metadata:
``etl_artifacts.layout_format`` = ``"1"`` and ``etl_artifacts.sources`` (as in the index files).
Over ``LAYOUT_MAX_BYTES`` of footers it holds no rows: readers then take the usual path.

The first data page of an attempt a warm instance serves fetches the file alongside its LIST
(one round trip; ``store.layouts_fetched`` remembers the attempts fetched).
When every listed data chunk's key, ETag and size equal its record, each footer is parsed by the
same pyarrow code as a fetched one and kept in the footer cache (``store.footers.seed``): the page then
needs only its row group's range GET. A record that does not match (a chunk rewritten or added),
an absent, corrupt or over-size file: nothing is seeded, the footers are read as before, and the
answer is the same. The decoded-size checks (``parquet.decoded``) run on these footers exactly as
on fetched ones: the reads go through the same ``Footer``.
"""

from __future__ import annotations

import functools
import io
import json
import struct
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from etl_artifacts.observability import logger
from etl_artifacts.parquet.decoded import stored_bytes
from etl_artifacts.parquet.driver_errors import DRIVER_ERRORS
from etl_artifacts.s3.layout import RunRef, attempt_dir
from etl_artifacts.s3.listing import S3Object

if TYPE_CHECKING:
    from etl_artifacts.s3.artifact_store import ArtifactStore

LAYOUT_FILE = "index_layout.parquet"
FORMAT_KEY = b"etl_artifacts.layout_format"
FORMAT_VERSION = b"1"
SOURCES_KEY = b"etl_artifacts.sources"
LAYOUT_SCHEMA = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("etag", pa.string(), nullable=False),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("footer", pa.binary(), nullable=False),
    ]
)
#: Bytes of the file read at most, and of its footers once decompressed: parsed, they hold ~9x
#: that (72 MiB), within the footer cache's 128 MiB (``parquet.footer_cache``).
LAYOUT_MAX_BYTES = 8 * 1024 * 1024
_MAGIC = b"PAR1"


@dataclass(frozen=True)
class Record:
    """One data chunk as the indexer downloaded it."""

    etag: str
    size: int
    footer: bytes


# --------------------------------------------------------------------------- writing (indexer)


def footer_of(path: Path) -> bytes:
    """The footer bytes of the parquet file at ``path`` (``ValueError`` when it has none)."""
    with path.open("rb") as source:
        size = source.seek(0, io.SEEK_END)
        if size < 12:
            raise ValueError("not a parquet file")
        source.seek(size - 8)
        length, magic = struct.unpack("<i4s", source.read(8))
        if magic != _MAGIC or not 0 < length <= size - 12:
            raise ValueError("not a parquet file")
        source.seek(size - 8 - length)
        return source.read(length + 8)


def write_layout(path: Path, chunks: Sequence[tuple[S3Object, bytes]], sources_json: str) -> None:
    """Write the layout file of ``chunks`` (each data chunk and its footer, in chunk order)."""
    if sum(len(footer) for _, footer in chunks) > LAYOUT_MAX_BYTES:
        logger.info("data chunk footers too large for the layout file: written without them")
        chunks = []
    table = pa.Table.from_pydict(
        {
            "key": [obj.key for obj, _ in chunks],
            "etag": [obj.etag for obj, _ in chunks],
            "size": [obj.size for obj, _ in chunks],
            "footer": [footer for _, footer in chunks],
        },
        schema=LAYOUT_SCHEMA.with_metadata({FORMAT_KEY: FORMAT_VERSION, SOURCES_KEY: sources_json.encode()}),
    )
    pq.write_table(table, str(path), compression="zstd")


def layout_is_current(metadata: pq.FileMetaData, sources: list[dict[str, Any]]) -> bool:
    """True when this layout file footer is format 1 and was written for exactly ``sources``."""
    meta = metadata.schema.to_arrow_schema().metadata or {}
    if meta.get(FORMAT_KEY) != FORMAT_VERSION:
        return False
    try:
        return bool(json.loads(meta.get(SOURCES_KEY, b"null")) == sources)
    except ValueError:
        return False


# --------------------------------------------------------------------------- reading


def parse_layout(body: bytes) -> dict[str, Record] | None:
    """The records of a layout file by key; ``None`` when it is not a readable layout file of
    this format or its footers decompress to more than ``LAYOUT_MAX_BYTES``."""
    try:
        parquet = pq.ParquetFile(pa.BufferReader(body))
        metadata = parquet.metadata
        schema = parquet.schema_arrow
        if (schema.metadata or {}).get(FORMAT_KEY) != FORMAT_VERSION:
            return None
        if not schema.equals(LAYOUT_SCHEMA, check_metadata=False):
            return None
        if stored_bytes(metadata, range(metadata.num_row_groups), None) > LAYOUT_MAX_BYTES:
            return None
        columns = parquet.read().to_pydict()
    except DRIVER_ERRORS as exc:
        logger.warning(
            "layout file unreadable: footers read from the chunks", extra={"error_type": type(exc).__name__}
        )
        return None
    rows = zip(columns["key"], columns["etag"], columns["size"], columns["footer"], strict=True)
    return {key: Record(etag, size, footer) for key, etag, size, footer in rows}


def fetch_layout(s3: Any, bucket: str, key: str) -> dict[str, Record] | None:
    """The layout file at ``key`` read with one GET of at most ``LAYOUT_MAX_BYTES``; ``None`` when
    it is absent, larger, unreadable or S3 fails (an optimisation never fails an answer)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{LAYOUT_MAX_BYTES - 1}")
        body = response["Body"]
        try:
            total = _object_size(response)
            if total > LAYOUT_MAX_BYTES:
                logger.info("layout file over its size bound: footers read from the chunks")
                return None
            data = body.read(LAYOUT_MAX_BYTES + 1)
        finally:
            body.close()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
            logger.warning("layout file not fetched", extra={"error_type": type(exc).__name__})
        return None
    except BotoCoreError as exc:
        logger.warning("layout file not fetched", extra={"error_type": type(exc).__name__})
        return None
    return parse_layout(data) if len(data) <= LAYOUT_MAX_BYTES else None


def _object_size(response: dict[str, Any]) -> int:
    """The whole object's size: after the ``/`` of Content-Range for a range answer."""
    content_range = str(response.get("ContentRange") or "")
    if "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        if total.isdigit():
            return int(total)
    return int(response.get("ContentLength") or 0)


class _StoredChunk(io.RawIOBase):
    """A data chunk as a file of known size: its footer from the layout file, the other bytes by
    one ranged GET (pinned to the listed ETag) per read.

    pyarrow's S3 filesystem can open an object of known size without a HEAD only inside its
    dataset scanner; a file object for ``ParquetFileFormat.make_fragment`` keeps reads (and the
    dictionary reads of ``Footer.source``) at one request each. The first read is the parquet
    reader's, for the footer: the file's last 64 KiB, of which it decodes the footer only, so the
    bytes before the footer read as zeros then, never fetched.
    """

    def __init__(self, s3: Any, bucket: str, obj: S3Object, footer: bytes) -> None:
        super().__init__()
        self._s3 = s3
        self._bucket, self._key, self._etag = bucket, obj.key, obj.etag
        self._size = obj.size
        self._footer = footer
        self._footer_start = obj.size - len(footer)
        self._position = 0
        self._footer_read = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        start = self._position
        stop = self._size if size is None or size < 0 else min(self._size, start + size)
        if stop <= start:
            return b""
        self._position = stop
        first, self._footer_read = not self._footer_read, True
        if start >= self._footer_start:
            return self._footer[start - self._footer_start : stop - self._footer_start]
        if first and stop == self._size:
            return bytes(self._footer_start - start) + self._footer
        return self._get(start, stop)

    def _get(self, start: int, stop: int) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._s3.get_object(
                Bucket=self._bucket,
                Key=self._key,
                Range=f"bytes={start}-{stop - 1}",
                IfMatch=f'"{self._etag}"',
            )
            data: bytes = response["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            # The text names the bucket and key: the caller logs the type only (driver_errors).
            raise OSError("data chunk read failed") from exc
        if len(data) != stop - start:
            raise OSError("data chunk read short")
        return data


def seed_footers(store: ArtifactStore, objects: Sequence[S3Object], records: dict[str, Record]) -> bool:
    """Keep the footers of ``objects`` from ``records`` in the footer cache when every one of them
    matches its record (key, ETag, size) and parses; else keep none (``False``)."""
    if not objects:
        return False
    for obj in objects:
        record = records.get(obj.key)
        if (
            record is None
            or (record.etag, record.size) != (obj.etag, obj.size)
            or len(record.footer) > obj.size
        ):
            return False
    footers = store.footers
    try:
        footers.seed(
            [
                (obj, functools.partial(_StoredChunk, store.s3, store.bucket, obj, records[obj.key].footer))
                for obj in objects
            ]
        )
    except DRIVER_ERRORS as exc:
        logger.warning(
            "layout file footer unreadable: footers read from the chunks",
            extra={"error_type": type(exc).__name__},
        )
        return False
    return True


class PendingLayout:
    """The layout file of one attempt, being fetched alongside its LIST (or not fetched at all)."""

    def __init__(self, store: ArtifactStore, fetched: Future[dict[str, Record] | None] | None) -> None:
        self._store = store
        self._fetched = fetched
        self._done = False
        self._lock = threading.Lock()

    def seed(self, data: Sequence[S3Object]) -> bool:
        """Seed the footers of the listed ``data`` chunks from the file, once (idempotent)."""
        with self._lock:
            if self._fetched is None or self._done:
                return False
            self._done = True
            records = self._fetched.result()
        return records is not None and seed_footers(self._store, data, records)


def prefetch(store: ArtifactStore, run: RunRef, phase: str, attempt: int) -> PendingLayout:
    """Start fetching the attempt's layout file (on the shared pool) unless this store did
    already (``store.layouts_fetched``): once it has, the attempt's footers are cached, from the
    file or from the chunks."""
    from etl_artifacts.parquet.pool import submit

    prefix = run.prefix(store.prefix) + attempt_dir(phase, attempt)
    if not store.layouts_fetched.put_unless(prefix, True, keep=lambda _: True):
        return PendingLayout(store, None)
    return PendingLayout(store, submit(fetch_layout, store.s3, store.bucket, prefix + LAYOUT_FILE))
