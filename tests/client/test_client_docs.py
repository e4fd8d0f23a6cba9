"""docs/client.md's SDK snippet runs as written against the local stack."""

from __future__ import annotations

import re
from pathlib import Path

from phases_helpers import data_table, errors_table, logs_table, new_run, put_chunks, put_metadata
from runs_helpers import delete_dags, insert_run, phase

DOC = Path(__file__).resolve().parents[2] / "docs" / "client.md"


def test_the_sdk_snippet_runs(gateway_url, make_token, tmp_path, monkeypatch):
    # Given a run with a failed load, errors in extract attempt 2, transform data and load logs
    run = new_run()
    put_chunks(run, "errors", [errors_table(0, 2)], phase="extract", attempt=2)
    put_metadata(run, phase="extract", attempt=2)
    put_chunks(run, "data", [data_table(0, 4)], phase="transform")
    put_metadata(run, phase="transform", rows=4, chunks=1)
    put_chunks(run, "logs", [logs_table(["started", "done"])], phase="load", attempt=3)
    put_metadata(run, phase="load", attempt=3)
    insert_run("acme", run.dag_id, run.run_date, run.run_id, {"load": phase("error", attempt=3)})
    snippet = re.search(r"```python\n(.*?)```", DOC.read_text("utf-8"), re.S)
    assert snippet is not None
    monkeypatch.chdir(tmp_path)
    namespace = {"token": make_token("acme"), "dag_id": str(run.dag_id), "run_id": run.run_id}
    try:
        # When the snippet runs (its local URL is the dev stack's; the tests' gateway stands in)
        code = snippet.group(1).replace("http://127.0.0.1:3000", gateway_url)
        exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - the document's own code
    finally:
        delete_dags([run.dag_id])

    # Then each call answered what the document says
    assert [row["error_status"] for row in namespace["rows"]] == [422, 422]
    assert namespace["table"].column_names == ["id", "name"] and namespace["table"].num_rows == 4
    assert len(namespace["frame"]) == 4
    assert (
        namespace["report"].ok
        and (tmp_path / "run" / "extract" / "attempt=2" / "errors_000.parquet").exists()
    )
