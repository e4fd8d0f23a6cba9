"""docs/api.md is the API reference a clone carries: it must say what the code does. It is
rendered from the OpenAPI document, the error taxonomy, the settings and template.yaml by
`etl-artifacts docs`; this test fails when the committed file is stale."""

from __future__ import annotations

import difflib
import json

from conftest import REPO_ROOT
from etl_artifacts.api.meta_routes import merged_openapi_json
from etl_artifacts.api.openapi_doc import operations
from etl_artifacts_local.api_docs import REGENERATE, render
from etl_artifacts_local.cli import main

DOCS = REPO_ROOT / "docs" / "api.md"


def test_docs_api_md_is_what_the_code_renders():
    expected = render()
    committed = DOCS.read_text(encoding="utf-8") if DOCS.exists() else ""

    if committed != expected:
        diff = "".join(
            list(
                difflib.unified_diff(
                    committed.splitlines(keepends=True),
                    expected.splitlines(keepends=True),
                    "docs/api.md (committed)",
                    "docs/api.md (from the code)",
                )
            )[:60]
        )
        raise AssertionError(f"docs/api.md is stale: run `{REGENERATE}` and commit it.\n{diff}")


def test_docs_name_every_operation_parameter_and_error_code():
    from etl_artifacts import errors

    text = DOCS.read_text(encoding="utf-8")
    document = json.loads(merged_openapi_json())
    for method, path, op in operations(document):
        assert f"`{method.upper()} {path}`" in text
        assert f"### {op['operationId']}" in text
        for param in op.get("parameters", []):
            assert f"| `{param['name']}` | {param['in']} |" in text, (op["operationId"], param["name"])
    for name in document["components"]["schemas"]:
        assert f"### {name}" in text
    for cls in errors.ApiError.__subclasses__():
        assert f"| `{cls.code}` | {cls.status} |" in text


def test_docs_check_reports_a_stale_file(tmp_path, capsys):
    stale = tmp_path / "api.md"
    stale.write_text("# old\n", encoding="utf-8")

    assert main(["docs", "--check", "--output", str(stale)]) == 1
    assert REGENERATE in capsys.readouterr().err
    assert main(["docs", "--output", str(stale)]) == 0
    assert main(["docs", "--check", "--output", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == render()
