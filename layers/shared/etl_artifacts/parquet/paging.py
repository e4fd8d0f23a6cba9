"""Paging arithmetic over row counts, pure (no I/O, no pyarrow): unit-tested on its own.

Rows are numbered across chunks in chunk order, and inside a chunk across its row groups. The
readers (``chunkset``, the search modes, the logs filters) take their numbers from here:

- ``newest_first``: the ascending window holding a page counted from the end (``order=desc``);
- ``group_starts``: the first row of each row group inside its chunk;
- ``RowLayout``: where each (chunk, row group) starts among the rows numbered across chunks,
  and which row groups cover a window ``[start, stop)``;
- ``plan_take``: which row groups of one chunk hold given rows, and where each row lands;
- ``consecutive_runs``: row groups cut into runs of neighbours (one coalesced read each);
- ``row_group_batches``: consecutive row groups cut at a decoded-byte and a row budget (one
  coalesced read each);
- ``PageCollector``: counts matches in order and keeps the refs of one page.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

#: ``(chunk NNN, row within that chunk)``: the address of one row (``index.parquet``'s chunk/row).
Ref = tuple[int, int]


def page_window(page: int, limit: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of page ``page`` (from 0) of ``limit`` rows."""
    return page * limit, page * limit + limit


def has_more(page: int, limit: int, total_rows: int) -> bool:
    return (page + 1) * limit < total_rows


def newest_first(start: int, stop: int, total_rows: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` counted from the last row (``order=desc``) as the window of rows
    counted from the first: read that window, then reverse it."""
    return max(total_rows - stop, 0), max(total_rows - start, 0)


def group_starts(row_counts: Sequence[int]) -> list[int]:
    """The first row of each row group inside its chunk: ``[0, n0, n0 + n1, ...]``."""
    starts: list[int] = []
    position = 0
    for rows in row_counts:
        starts.append(position)
        position += rows
    return starts


@dataclass(frozen=True)
class RowLayout:
    """Row-group boundaries of a list of chunks, from their row counts only."""

    # (chunk index, row group, num_rows) of every non-empty row group, in order, and its first row.
    spans: tuple[tuple[int, int, int], ...]
    starts: tuple[int, ...]
    total_rows: int

    @classmethod
    def of(cls, row_counts: Sequence[Sequence[int]]) -> RowLayout:
        """``row_counts[i][g]``: rows of row group ``g`` of chunk ``i``."""
        spans: list[tuple[int, int, int]] = []
        starts: list[int] = []
        position = 0
        for index, counts in enumerate(row_counts):
            for group, rows in enumerate(counts):
                if rows <= 0:
                    continue
                starts.append(position)
                spans.append((index, group, rows))
                position += rows
        return cls(tuple(spans), tuple(starts), position)

    def row_groups_for(self, start: int, stop: int) -> list[tuple[int, int, int, int]]:
        """``(chunk index, row group, first row in group, rows)`` covering ``[start, stop)``."""
        stop = min(stop, self.total_rows)
        if start >= stop:
            return []
        out: list[tuple[int, int, int, int]] = []
        index = bisect.bisect_right(self.starts, start) - 1
        while index < len(self.spans) and self.starts[index] < stop:
            chunk, group, rows = self.spans[index]
            group_start = self.starts[index]
            first = max(start, group_start) - group_start
            last = min(stop, group_start + rows) - group_start
            out.append((chunk, group, first, last - first))
            index += 1
        return out

    def reads_for(self, start: int, stop: int) -> list[tuple[int, list[int], int, int]]:
        """One read per chunk for ``[start, stop)``: ``(chunk index, its row groups, rows to skip
        at the start of what they hold, rows to keep)``, in chunk order."""
        plans: dict[int, list[tuple[int, int, int]]] = {}
        for chunk, group, first, count in self.row_groups_for(start, stop):
            plans.setdefault(chunk, []).append((group, first, count))
        return [
            (chunk, [group for group, _, _ in groups], groups[0][1], sum(count for _, _, count in groups))
            for chunk, groups in sorted(plans.items())
        ]


def plan_take(row_counts: Sequence[int], rows: Iterable[int]) -> tuple[list[int], dict[int, int]]:
    """For ``rows`` of one chunk: the row groups holding them (ascending), and the position of
    each row in the table those row groups make when read together. ``ValueError`` for a row
    past the end of the chunk."""
    starts = group_starts(row_counts)
    total = sum(row_counts)
    wanted = set(rows)
    groups: set[int] = set()
    for row in wanted:
        if not 0 <= row < total:
            raise ValueError("ref names a row past the end of its chunk")
        groups.add(bisect.bisect_right(starts, row) - 1)
    ordered = sorted(groups)
    # Row r sits at (r - start of its group) + rows of the groups read before it.
    offsets: dict[int, int] = {}
    read_before = 0
    for group in ordered:
        offsets[group] = read_before - starts[group]
        read_before += row_counts[group]
    return ordered, {row: row + offsets[bisect.bisect_right(starts, row) - 1] for row in wanted}


def consecutive_runs(groups: Sequence[int]) -> list[list[int]]:
    """``groups`` (ascending) cut where one does not follow the previous: ``[1, 2, 5]`` ->
    ``[[1, 2], [5]]``."""
    runs: list[list[int]] = []
    for group in groups:
        if runs and runs[-1][-1] + 1 == group:
            runs[-1].append(group)
        else:
            runs.append([group])
    return runs


def row_group_batches(
    group_bytes: Sequence[int],
    groups: Sequence[int],
    budget: int,
    group_rows: Sequence[int] | None = None,
    max_rows: int | None = None,
) -> list[list[int]]:
    """Consecutive runs of ``groups`` (ascending) cut at ``budget`` bytes and ``max_rows`` rows
    each; ``group_bytes[g]`` is the uncompressed size of row group ``g`` (what reading it holds:
    a compressed size says nothing of the work), ``group_rows[g]`` its rows."""
    batches: list[list[int]] = []
    size = rows = 0
    for group in groups:
        more_rows = group_rows[group] if group_rows is not None else 0
        fits = size + group_bytes[group] <= budget and (max_rows is None or rows + more_rows <= max_rows)
        if batches and batches[-1][-1] == group - 1 and fits:
            batches[-1].append(group)
            size += group_bytes[group]
            rows += more_rows
        else:
            batches.append([group])
            size, rows = group_bytes[group], more_rows
    return batches


@dataclass
class PageCollector:
    """Counts matches in order and keeps the refs of the window ``[offset, offset + limit)``."""

    offset: int
    limit: int
    total: int = 0
    refs: list[Ref] = field(default_factory=list)

    def add(self, count: int, refs_between: Callable[[int, int], list[Ref]]) -> None:
        """``count`` more matches; ``refs_between(a, b)`` gives the refs of the a-th..b-th of them."""
        start, end = self.total, self.total + count
        low, high = max(self.offset, start), min(self.offset + self.limit, end)
        if low < high:
            self.refs.extend(refs_between(low - start, high - start))
        self.total = end
