"""A phase attempt's chunks of one kind (``data_*``, ``logs_*``, ...) read as one table.

``ChunkSet(store, objects)`` is shaped like ``pyarrow.parquet.ParquetDataset(paths, filesystem=...)``:
rows are numbered across the chunks in chunk order; the footers (cached while warm in the store,
``ArtifactStore.footers``) say where every
row group sits, so a read fetches only the row groups' column chunks it needs (coalesced range
GETs, no HEAD). Independent reads run together on the shared pool.

Driver failures (S3 errors, missing objects, corrupt parquet) become ``StorageError``; their text
(which names the bucket and key) is never logged or returned.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from etl_artifacts.parquet.decoded import PAGE_COPIES, check_decoded, decoded_bytes, stored_bytes
from etl_artifacts.parquet.driver_errors import DRIVER_ERRORS
from etl_artifacts.parquet.footer_cache import Footer
from etl_artifacts.parquet.paging import Ref, RowLayout, consecutive_runs, plan_take
from etl_artifacts.parquet.pool import map_concurrently
from etl_artifacts.s3.listing import S3Object
from etl_artifacts.storage_errors import storage_error

if TYPE_CHECKING:
    from etl_artifacts.s3.artifact_store import ArtifactStore


def read_row_groups(
    entry: Footer, row_groups: Sequence[int], columns: Sequence[str] | None = None
) -> pa.Table:
    """Exactly ``row_groups`` of ``entry``'s object (give them ascending), all columns or ``columns``.

    The one function that reads row data. Only those row groups' column chunks are fetched. Names
    in ``columns`` that the file lacks are skipped (absent from the result).

    Dictionary-encoded string columns come back as Arrow dictionaries (``parquet.decoded``): what
    they would decode to is checked against ``DECODE_MAX_BYTES`` before anything decodes them
    (``conform``, ``decoded.check_decoded``). ``TooExpensive`` when the uncompressed column chunks
    alone would pass it. (The deadline is checked by the loops that call it, not here: one read of
    a page is not refused while it may still finish in time.)
    """
    columns = _present(entry, columns)
    groups = list(row_groups)
    check_decoded(stored_bytes(entry.metadata, groups, columns))
    dictionaries = [name for name in entry.dictionary_columns if columns is None or name in columns]
    try:
        if not dictionaries and entry.opener is None:
            subset = entry.fragment.subset(row_group_ids=groups)
            return subset.to_table(columns=None if columns is None else list(columns), use_threads=True)
        # The entry's open file (one HEAD per warm entry, or a new file object per read of a
        # footer from the layout file) and its cached footer (no footer GET).
        parquet = pq.ParquetFile(
            entry.source(), metadata=entry.metadata, read_dictionary=dictionaries or None, pre_buffer=True
        )
        return parquet.read_row_groups(
            groups, columns=None if columns is None else list(columns), use_threads=True
        )
    except DRIVER_ERRORS as exc:
        raise storage_error(exc, "row_groups") from exc


def _present(entry: Footer, columns: Sequence[str] | None) -> list[str] | None:
    """``columns`` that ``entry``'s object has (``None``: all of them)."""
    if columns is None:
        return None
    names = set(entry.schema.names)
    return [name for name in columns if name in names]


def conform(table: pa.Table, schema: pa.Schema, copies: int = PAGE_COPIES) -> pa.Table:
    """``table`` with exactly ``schema``'s columns: missing ones null, types cast where needed
    (dictionaries decoded, once their decoded size, held ``copies`` times, is known to fit)."""
    check_decoded(decoded_bytes(table), copies)
    if table.schema.equals(schema, check_metadata=False):
        return table
    try:
        columns = []
        for field in schema:
            index = table.schema.get_field_index(field.name)
            if index < 0:
                columns.append(pa.nulls(table.num_rows, field.type))
                continue
            column = table.column(index)
            columns.append(column if column.type == field.type else column.cast(field.type))
        return pa.Table.from_arrays(columns, schema=schema)
    except DRIVER_ERRORS as exc:
        raise storage_error(exc, "conform") from exc


def concat(tables: Iterable[pa.Table], schema: pa.Schema) -> pa.Table:
    conformed = [conform(table, schema) for table in tables]
    if not conformed:
        return schema.empty_table()
    if len(conformed) == 1:
        return conformed[0]
    return pa.concat_tables(conformed)


class ChunkSet:
    """Chunks read as one table of rows numbered across them in order."""

    def __init__(self, store: ArtifactStore, objects: Sequence[S3Object]) -> None:
        self.store = store
        self.objects: tuple[S3Object, ...] = tuple(objects)

    @cached_property
    def footers(self) -> list[Footer]:
        """Every chunk's footer (the store's cache); the uncached ones are read concurrently."""
        return self.store.footers.get_many(self.objects)

    @property
    def metadata(self) -> list[pq.FileMetaData]:
        return [entry.metadata for entry in self.footers]

    @cached_property
    def layout(self) -> RowLayout:
        return RowLayout.of([entry.row_counts for entry in self.footers])

    @property
    def total_rows(self) -> int:
        return self.layout.total_rows

    @cached_property
    def schema(self) -> pa.Schema:
        """One schema for rows from every chunk (types widened where chunks differ)."""
        schemas = [entry.schema for entry in self.footers]
        if not schemas:
            return pa.schema([])
        first = schemas[0]
        if all(schema.equals(first, check_metadata=False) for schema in schemas[1:]):
            return first
        try:
            return pa.unify_schemas(schemas, promote_options="permissive")
        except DRIVER_ERRORS as exc:
            raise storage_error(exc, "schema") from exc

    def read_row_groups(
        self, index: int, row_groups: Sequence[int], columns: Sequence[str] | None = None
    ) -> pa.Table:
        """Row groups of the ``index``-th chunk (``read_row_groups`` of that object)."""
        return read_row_groups(self.footers[index], row_groups, columns)

    def projected_schema(self, columns: Sequence[str] | None = None) -> pa.Schema:
        """The unified schema, or only ``columns`` of it in that order (``KeyError`` for a name
        that no chunk has)."""
        schema = self.schema
        if columns is None:
            return schema
        return pa.schema([schema.field(schema.get_field_index(name)) for name in columns]).with_metadata(
            schema.metadata
        )

    def read_range(self, start: int, stop: int, columns: Sequence[str] | None = None) -> pa.Table:
        """Rows ``[start, stop)``, in the chunks' unified schema (only ``columns``, in that order,
        when given: only their column chunks are fetched): one read per chunk (its consecutive
        row groups), chunks concurrently."""
        layout, schema = self.layout, self.projected_schema(columns)

        def read(plan: tuple[int, list[int], int, int]) -> pa.Table:
            index, groups, skip, count = plan
            # The groups are read whole: keep the window's part of the first and last one.
            return self.read_row_groups(index, groups, columns).slice(skip, count)

        return concat(map_concurrently(read, layout.reads_for(start, stop)), schema)

    def take(self, refs: Sequence[Ref], columns: Sequence[str] | None = None) -> pa.Table:
        """The rows named by ``refs`` (``(chunk NNN, row within that chunk)``), in that order.

        Only the row groups holding them are read (one read per run of neighbouring row groups,
        all at once), and of them only ``columns`` when given. ``ValueError`` for a chunk that is
        not in the set or a row past its end.
        """
        schema = self.projected_schema(columns)
        if not refs:
            return schema.empty_table()
        by_chunk = {obj.chunk: index for index, obj in enumerate(self.objects)}
        wanted: dict[int, list[int]] = {}
        for chunk, row in refs:
            if chunk not in by_chunk:
                raise ValueError("ref names a chunk that is not listed")
            wanted.setdefault(chunk, []).append(row)
        chunks = sorted(wanted)
        footers = self.footers
        plans = [plan_take(footers[by_chunk[chunk]].row_counts, wanted[chunk]) for chunk in chunks]
        # What a chunk's row groups hold together is bounded as if they were one read. Each run of
        # consecutive row groups is then read on its own (one coalesced range request), all runs at
        # once: pyarrow fetches row groups apart in one file one after another, a round trip each.
        for chunk, (groups, _) in zip(chunks, plans, strict=True):
            entry = footers[by_chunk[chunk]]
            check_decoded(stored_bytes(entry.metadata, groups, _present(entry, columns)))
        runs = [
            [(by_chunk[chunk], run) for run in consecutive_runs(groups)]
            for chunk, (groups, _) in zip(chunks, plans, strict=True)
        ]
        reads = [read for chunk_runs in runs for read in chunk_runs]
        read = iter(map_concurrently(lambda item: self.read_row_groups(item[0], item[1], columns), reads))
        # Only the wanted rows of each chunk are kept before anything decodes them (conform).
        parts: list[pa.Table] = []
        where: dict[Ref, int] = {}
        for chunk, chunk_runs, (_, positions) in zip(chunks, runs, plans, strict=True):
            table = pa.concat_tables([next(read) for _ in chunk_runs])
            rows = sorted(positions)
            for row in rows:
                where[(chunk, row)] = len(where)
            parts.append(table.take(pa.array([positions[row] for row in rows], pa.int64())))
        indices = [where[ref] for ref in refs]
        combined = concat(parts, schema)
        try:
            return combined.take(pa.array(indices, type=pa.int64()))
        except DRIVER_ERRORS as exc:
            raise storage_error(exc, "take") from exc
