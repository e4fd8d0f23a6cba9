"""The published OpenAPI document is fit for generating clients: explicit, unique operationIds,
no spurious 422 answers, no leftover schemas, one component per shared enum, and text before JSON
where an answer has several media types (tests/test_generated_client.py generates one)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from etl_artifacts.api.meta_routes import merged_openapi_json
from etl_artifacts.api.openapi_doc import SCHEMA_REF, SHARED_ENUMS, json_first, operations, tidy

CAMEL_CASE = re.compile(r"^[a-z]+(?:[A-Z][a-z0-9]*)+$")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(merged_openapi_json())
    return doc


def _refs(node: Any) -> set[str]:
    text = json.dumps(node)
    return set(re.findall(r'"\$ref": "([^"]+)"', text))


def test_every_operation_has_an_explicit_unique_camel_case_operation_id(document):
    ids = [
        (f"{method.upper()} {path}", op.get("operationId", "")) for method, path, op in operations(document)
    ]

    # Powertools' generated ids look like search_runs_api_v1_dags__dag_id__runs_get: never camelCase.
    generated = [(route, op_id) for route, op_id in ids if not CAMEL_CASE.match(op_id)]
    assert not generated, f"set operation_id= on these routes: {generated}"
    names = [op_id for _, op_id in ids]
    assert len(names) == len(set(names)), f"duplicate operationIds: {sorted(names)}"
    assert {"searchRuns", "getRun", "getPhaseData", "getPhaseLogs", "listArtifacts"} <= set(names)


def test_operations_without_parameters_promise_no_422(document):
    for method, path, op in operations(document):
        if not op.get("parameters"):
            assert "422" not in op["responses"], f"{method.upper()} {path}"
    health = document["paths"]["/api/v1/health"]["get"]
    assert set(health["responses"]) == {"200"}


def test_every_422_is_our_validation_shape_and_no_schema_is_unused(document):
    schemas = document["components"]["schemas"]
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        assert name not in schemas
    # Every required property is defined (Powertools' ValidationError required an undefined msg).
    for name, schema in schemas.items():
        assert set(schema.get("required", [])) <= set(schema.get("properties", {})), name
    used: set[str] = set()
    pending = {ref[len(SCHEMA_REF) :] for ref in _refs(document["paths"])}
    while pending:
        name = pending.pop()
        used.add(name)
        pending |= {ref[len(SCHEMA_REF) :] for ref in _refs(schemas[name])} - used
    assert set(schemas) == used
    for method, path, op in operations(document):
        if "422" in op["responses"]:
            assert SCHEMA_REF + "ValidationErrorResponse" in _refs(op["responses"]["422"]), f"{method} {path}"


def test_ndjson_logs_have_their_own_media_type(document):
    logs = document["paths"]["/api/v1/dags/{dag_id}/runs/{date}/{run_id}/phases/{phase}/logs"]["get"]
    content = logs["responses"]["200"]["content"]

    assert content["application/json"]["schema"] == {"$ref": SCHEMA_REF + "ParquetPageResponse"}
    assert content["application/x-ndjson"]["schema"]["type"] == "string"
    assert content["application/vnd.apache.arrow.stream"]["schema"]["format"] == "binary"


def test_answers_with_several_media_types_do_not_list_json_first(document):
    # A generator that reads an answer with the first media type it knows must never pick JSON for
    # an answer that may be CSV, Arrow or NDJSON.
    pages = 0
    for method, path, op in operations(document):
        for status, response in op["responses"].items():
            media = list(response.get("content") or {})
            if len(media) > 1:
                assert media[0] != "application/json", f"{method.upper()} {path} {status}: {media}"
                pages += media[0] == "text/csv"
    assert pages >= 3  # data, errors and logs


def test_swagger_ui_gets_json_first(document):
    reordered = json.loads(json_first(json.dumps(document)))

    for _method, _path, op in operations(reordered):
        for response in op["responses"].values():
            media = list(response.get("content") or {})
            if "application/json" in media:
                assert media[0] == "application/json"
    assert reordered["components"] == document["components"]


def test_no_parameter_holds_an_inline_enum(document):
    schemas = document["components"]["schemas"]
    for method, path, op in operations(document):
        for param in op.get("parameters", []):
            assert '"enum"' not in json.dumps(param), f"{method.upper()} {path} {param['name']}"
            if param["name"] in SHARED_ENUMS:
                name = SHARED_ENUMS[param["name"]][0]
                assert SCHEMA_REF + name in _refs(param), f"{method.upper()} {path} {param['name']}"
                assert schemas[name]["type"] == "string" and schemas[name]["enum"]
    assert schemas["Phase"]["enum"] == ["extract", "transform", "load"]
    assert schemas["StatusFilter"]["enum"] == ["all", "success", "error", "running", "skipped"]


def test_tidy_refuses_two_enums_under_one_name():
    def op(values: list[str]) -> dict[str, Any]:
        return {"parameters": [{"name": "phase", "in": "path", "schema": {"type": "string", "enum": values}}]}

    doc = {"paths": {"/a": {"get": op(["extract"])}, "/b": {"get": op(["load"])}}}

    with pytest.raises(ValueError, match="Phase"):
        tidy(doc)


def test_tidy_rewrites_powertools_leftovers():
    doc = {
        "paths": {
            "/a": {"get": {"responses": {"200": {}, "422": {"$ref": SCHEMA_REF + "HTTPValidationError"}}}},
            "/b": {
                "get": {
                    "parameters": [{"name": "x", "in": "query"}],
                    "responses": {
                        "422": {"content": {"j": {"schema": {"$ref": SCHEMA_REF + "HTTPValidationError"}}}}
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "HTTPValidationError": {},
                "ResponseValidationError": {},
                "ValidationErrorResponse": {
                    "properties": {"detail": {"$ref": SCHEMA_REF + "ValidationErrorItem"}}
                },
                "ValidationErrorItem": {},
            }
        },
    }

    tidy(doc)

    assert doc["paths"]["/a"]["get"]["responses"] == {"200": {}}
    assert _refs(doc["paths"]["/b"]) == {SCHEMA_REF + "ValidationErrorResponse"}
    assert set(doc["components"]["schemas"]) == {"ValidationErrorResponse", "ValidationErrorItem"}


# -- what each family documents -----------------------------------------------------------------


def test_openapi_document_describes_the_runs_routes(document):
    search_op = document["paths"]["/api/v1/dags/{dag_id}/runs"]["get"]
    params = {p["name"]: p for p in search_op["parameters"]}
    assert params["date_from"]["required"] and params["date_to"]["required"]
    assert params["date_from"]["schema"]["format"] == "date"
    assert params["extract_status"]["schema"]["$ref"] == "#/components/schemas/StatusFilter"
    status_filter = document["components"]["schemas"]["StatusFilter"]
    assert status_filter["enum"] == ["all", "success", "error", "running", "skipped"]
    assert params["load_keyword"]["schema"]["anyOf"][0]["maxLength"] == 200
    assert (params["limit"]["schema"]["minimum"], params["limit"]["schema"]["maximum"]) == (1, 100)
    assert params["page"]["schema"]["minimum"] == 0
    assert search_op["security"] == [{"bearerAuth": []}]
    summary_op = document["paths"]["/api/v1/dags/{dag_id}/runs/{date}/{run_id}"]["get"]
    assert "404" in summary_op["responses"]
    schemas = document["components"]["schemas"]
    assert set(schemas["SearchRunsResponse"]["properties"]) == {"items", "page", "limit", "total", "has_more"}
    assert set(schemas["PhaseSummary"]["properties"]) == {
        "status",
        "message",
        "total",
        "attempt",
        "s3_data_path",
    }


def test_openapi_documents_the_artifacts_routes(document):
    presign = document["paths"]["/api/v1/dags/{dag_id}/runs/{date}/{run_id}/artifacts/{artifact_kind}"]["get"]
    params = {p["name"]: p for p in presign["parameters"]}
    assert {"attempt", "chunk", "expires_in", "artifact_kind"} <= set(params)
    assert params["attempt"]["schema"]["minimum"] == 1
    assert "/api/v1/dags/{dag_id}/runs/{date}/{run_id}/artifacts" in document["paths"]


def test_openapi_documents_paging_and_the_redirect(document):
    base = "/api/v1/dags/{dag_id}/runs/{date}/{run_id}/artifacts"
    listing = document["paths"][base]["get"]
    params = {p["name"]: p for p in listing["parameters"]}
    assert params["limit"]["schema"]["maximum"] == 1000
    assert params["limit"]["schema"]["default"] == 1000
    assert "cursor" in params
    schemas = document["components"]["schemas"]
    assert "next_cursor" in schemas["RunArtifactsResponse"]["properties"]
    redirect = document["paths"][base + "/{artifact_kind}/download"]["get"]
    assert "302" in redirect["responses"]
    assert "Location" in redirect["responses"]["302"]["headers"]
