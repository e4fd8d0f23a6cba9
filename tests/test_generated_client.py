"""A client generated from the published OpenAPI document with openapi-python-client (the pinned dev
dependency) imports, shares its enums, parses JSON answers into its models and hands back every other
media type (CSV, Arrow, NDJSON) without failing, against the local gateway (real JWT, moto's S3 server
over HTTP, embedded Postgres) and the demo run."""

from __future__ import annotations

import datetime as dt
import enum
import importlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

PACKAGE = "etl_artifacts_generated_client"
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from etl_artifacts.api.meta_routes import merged_openapi_json

    root = tmp_path_factory.mktemp("generated")
    document = root / "openapi.json"
    document.write_text(merged_openapi_json(), encoding="utf-8")
    proc = subprocess.run(
        [
            str(VENV_BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(document),
            "--output-path",
            str(root / PACKAGE),
            "--meta",
            "none",
        ],
        cwd=root,
        # The generator formats its output with ruff, found on PATH.
        env={**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # Every operation and schema was understood: no "Warning(s) encountered", nothing skipped.
    assert "Warning" not in proc.stdout + proc.stderr, proc.stdout[-3000:] + proc.stderr[-3000:]
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def demo_run(base_env: dict[str, str]) -> Any:
    from etl_artifacts.s3.layout import RunRef
    from etl_artifacts_local.seed import demo_run_id, seed_run
    from etl_artifacts_local.seed_scenarios import DEMO_COMPANY, DEMO_DAG_ID

    date = dt.date(2026, 11, 20)
    return seed_run(RunRef(DEMO_COMPANY, DEMO_DAG_ID, date, demo_run_id(date)))


@pytest.fixture
def client(generated: Any, gateway_url: str, make_token: Any, demo_run: Any) -> Any:
    return generated.AuthenticatedClient(
        base_url=gateway_url, token=make_token(demo_run.id_company), raise_on_unexpected_status=True
    )


def _module(generated: Any, name: str) -> Any:
    return importlib.import_module(f"{generated.__name__}.{name}")


def test_enums_are_shared_components(generated):
    models = _module(generated, "models")

    enums = {name for name in dir(models) if isinstance(getattr(models, name), enum.EnumMeta)}

    # One class per idea, none per operation (GetPhaseDataPhase, SearchRunsEventStatus...).
    assert enums == {
        "Phase",
        "StatusFilter",
        "ArtifactKind",
        "LogLevel",
        "LogsOrder",
        "CsvFormulas",
        "ArtifactStatus",  # an uploaded artifact's status: the list filter and the record's field
        "Flag",
        "LinkRecordStatus",  # a share link's own states
    }


def test_a_json_route_is_parsed_into_models(generated, client, demo_run):
    search_runs = _module(generated, "api.runs.search_runs")
    models = _module(generated, "models")

    page = search_runs.sync(
        demo_run.dag_id,
        client=client,
        date_from=demo_run.date,
        date_to=demo_run.date,
        extract_status=models.StatusFilter.ALL,
    )

    assert isinstance(page, models.SearchRunsResponse)
    assert [item.run_id for item in page.items] == [demo_run.run_id]


def test_a_json_page_is_text_the_models_parse(generated, client, demo_run):
    get_phase_data = _module(generated, "api.phases.get_phase_data")
    models = _module(generated, "models")

    answer = get_phase_data.sync_detailed(
        demo_run.dag_id, demo_run.date, demo_run.run_id, models.Phase.EXTRACT, client=client, limit=3
    )

    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/json")
    page = models.ParquetPageResponse.from_dict(json.loads(answer.parsed))
    assert len(page.rows) == 3 and page.total_rows > 3


@pytest.mark.parametrize(
    ("operation", "accept"),
    [
        ("get_phase_data", "text/csv"),
        ("get_phase_data", "application/vnd.apache.arrow.stream"),
        ("get_phase_errors", "text/csv"),
        ("get_phase_errors", "application/vnd.apache.arrow.stream"),
        ("get_phase_logs", "text/csv"),
        ("get_phase_logs", "application/vnd.apache.arrow.stream"),
        ("get_phase_logs", "application/x-ndjson"),
    ],
)
def test_every_other_media_type_comes_back_unparsed(generated, client, demo_run, operation, accept):
    endpoint = _module(generated, f"api.phases.{operation}")
    models = _module(generated, "models")

    answer = endpoint.sync_detailed(
        demo_run.dag_id,
        demo_run.date,
        demo_run.run_id,
        models.Phase.EXTRACT,
        client=client.with_headers({"Accept": accept}),
    )

    assert answer.status_code == 200
    assert answer.headers["content-type"].split(";")[0] == accept
    if accept == "text/csv":
        assert answer.parsed.splitlines()[0]  # a header row of column names
        assert answer.headers["x-total-rows"].isdigit()
    elif accept == "application/x-ndjson":
        rows = [json.loads(line) for line in answer.parsed.splitlines()]
        assert rows and {"timestamp", "level", "message"} <= set(rows[0])
    else:
        table = pa.ipc.open_stream(io.BytesIO(answer.content)).read_all()
        assert table.num_rows > 0 and answer.headers["x-has-more"] in ("true", "false")


def test_errors_are_parsed_whatever_was_asked(generated, client, demo_run):
    get_phase_data = _module(generated, "api.phases.get_phase_data")
    models = _module(generated, "models")

    answer = get_phase_data.sync_detailed(
        demo_run.dag_id,
        demo_run.date,
        demo_run.run_id,
        models.Phase.EXTRACT,
        client=client.with_headers({"Accept": "text/csv"}),
        attempt=99,
    )

    assert answer.status_code == 404
    assert isinstance(answer.parsed, models.ErrorResponse) and answer.parsed.code == "phase_not_found"
