"""docs/getting-started.md, "Reading artifacts", runs as written: its Python snippets against the
local gateway (real JWT, moto's S3 server over HTTP) and the demo run they name, DuckDB loading
httpfs offline."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from conftest import REPO_ROOT

SECTION_RE = re.compile(r"^## Reading artifacts\n(.*?)^## ", re.S | re.M)
PYTHON_RE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
GUIDE = REPO_ROOT / "docs" / "getting-started.md"


def snippets() -> list[str]:
    section = SECTION_RE.search(GUIDE.read_text(encoding="utf-8"))
    assert section is not None, f"{GUIDE.name} has no 'Reading artifacts' section"
    return PYTHON_RE.findall(section.group(1))


@pytest.fixture
def demo_run(base_env: dict[str, str]) -> Any:
    from etl_artifacts.s3.layout import RunRef
    from etl_artifacts_local.seed import demo_run_id, seed_run
    from etl_artifacts_local.seed_scenarios import DEMO_COMPANY, DEMO_DAG_ID

    date = dt.date(2026, 11, 20)
    return seed_run(RunRef(DEMO_COMPANY, DEMO_DAG_ID, date, demo_run_id(date)))


def test_guide_snippets_read_the_demo_run(gateway_url, make_token, demo_run, monkeypatch):
    reading, offline = snippets()
    monkeypatch.setenv("API", f"{gateway_url}/api/v1")
    monkeypatch.setenv("TOKEN", make_token(demo_run.id_company))
    monkeypatch.setenv("DAG", str(demo_run.dag_id))
    assert demo_run.run_id in reading

    # Given DuckDB set up offline as the guide says
    setup: dict[str, Any] = {}
    exec(compile(offline, "guide offline DuckDB", "exec"), setup)  # noqa: S102 - the guide's own code

    # When the reading snippet runs (its duckdb.connect() gives that connection)
    import duckdb

    monkeypatch.setattr(duckdb, "connect", lambda *a, **k: setup["con"])
    namespace: dict[str, Any] = {}
    exec(compile(reading, "guide reading", "exec"), namespace)  # noqa: S102

    # Then pyarrow, pandas and DuckDB read the same rows of the run's extract data
    assert namespace["urls"], "the demo run has extract data chunks"
    assert namespace["rows"] == namespace["table"].num_rows > 0
