"""The order files are handed to the xdist workers in (scheduling only: nothing is asserted).

``make test`` runs ``--dist loadfile --no-loadscope-reorder``: a file is one unit of work, given to
whichever worker asks next, in collection order. Without an order, a file that takes minutes may
start last and keep one worker busy long after the other one ran out of work. So the longest files
(per-file durations in docs/testing.md) are collected first, then every file holding a test marked
``slow``, then the rest, each file's tests kept in pytest's own order. A file missing from the list
only starts later than it could; nothing else changes.
"""

from __future__ import annotations

import pytest

# Longest first (docs/testing.md, "Where the time goes").
LONGEST_FILES = (
    "test_bench_smoke.py",
    "test_fuzz_schemathesis.py",
    "test_layer_build.py",
    "test_local_stack.py",
    "test_faults.py",
    "test_envelope_serve.py",
    "test_events_invoke.py",
    "test_artifacts.py",
    "test_artifacts_pages.py",
    "test_load.py",
    "test_cli_errors.py",
    "test_client_download.py",
    "test_docs_snippets.py",
    "test_security_inputs.py",
    "test_phases_pages.py",
)


@pytest.hookimpl(trylast=True)  # after pytest's own reordering by fixture scope, which it keeps
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: index for index, name in enumerate(LONGEST_FILES)}
    slow_files = {item.path for item in items if item.get_closest_marker("slow") is not None}

    def weight(item: pytest.Item) -> tuple[int, int]:
        if item.path.name in rank:
            return (0, rank[item.path.name])
        return (1, 0) if item.path in slow_files else (2, 0)

    items.sort(key=weight)  # stable: each file's tests keep their order
