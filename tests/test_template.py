"""template.yaml is what deploys, and what the local gateway routes: these tests read it.

Routes must equal the resolvers' routes function by function (so a route cannot exist in code
but not at API Gateway, or the other way round), every CONTRACT §4 route is declared, IAM stays
least-privilege, and `sam validate --lint` passes.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from etl_artifacts.local.template import TemplateSpec, load_template

REPO_ROOT = Path(__file__).resolve().parents[1]
API_PACKAGE = REPO_ROOT / "layers" / "shared" / "etl_artifacts" / "api"
RUN = "/api/v1/dags/{dag_id}/runs/{date}/{run_id}"

# CONTRACT §4, route by route, with the function family that serves it.
CONTRACT_ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/health"): "MetaFunction",
    ("GET", "/api/v1/whoami"): "MetaFunction",
    ("GET", "/api/v1/openapi.json"): "MetaFunction",
    ("GET", "/api/v1/docs"): "MetaFunction",
    ("GET", "/api/v1/dags/{dag_id}/runs"): "RunsFunction",
    ("GET", RUN): "RunsFunction",
    ("GET", f"{RUN}/event"): "PhasesFunction",
    ("GET", f"{RUN}/phases/{{phase}}"): "PhasesFunction",
    ("GET", f"{RUN}/phases/{{phase}}/data"): "PhasesFunction",
    ("GET", f"{RUN}/phases/{{phase}}/errors"): "PhasesFunction",
    ("GET", f"{RUN}/phases/{{phase}}/logs"): "PhasesFunction",
    ("GET", f"{RUN}/artifacts"): "ArtifactsFunction",
    ("GET", f"{RUN}/artifacts/{{artifact_kind}}"): "ArtifactsFunction",
    ("GET", f"{RUN}/artifacts/{{artifact_kind}}/download"): "ArtifactsFunction",
}
PUBLIC_ROUTES = {("GET", "/api/v1/health"), ("GET", "/api/v1/openapi.json"), ("GET", "/api/v1/docs")}
API_FUNCTIONS = {"MetaFunction", "RunsFunction", "PhasesFunction", "ArtifactsFunction"}
S3_WRITE_ACTIONS = re.compile(
    r"^s3:(\*|Put.*|Delete.*|Restore.*|Replicate.*|AbortMultipartUpload|Create.*)$", re.I
)


@pytest.fixture(scope="module")
def spec() -> TemplateSpec:
    return load_template(REPO_ROOT / "template.yaml")


@pytest.fixture(scope="module")
def resources(spec: TemplateSpec) -> dict[str, Any]:
    return spec.raw["Resources"]


def _gateway_path(resolver_path: str) -> str:
    """Powertools' ``<name>`` placeholders in API Gateway's ``{name}`` syntax."""
    return re.sub(r"<(\w+)>", r"{\1}", resolver_path)


def _resolver_routes(app: Any) -> set[tuple[str, str]]:
    # Powertools keeps registered routes in these two lists (static and with path parameters).
    routes = [*app._static_routes, *app._dynamic_routes]
    return {(route.method.upper(), _gateway_path(route.path)) for route in routes}


def _handler_module(spec: TemplateSpec, logical_id: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    function = spec.functions[logical_id]
    monkeypatch.syspath_prepend(str(function.code_uri))
    return importlib.import_module(function.module)


def _getatt(value: Any) -> list[str]:
    """``!GetAtt A.B`` (short form, a string) and ``Fn::GetAtt: [A, B]`` alike, as [A, B]."""
    target = value["Fn::GetAtt"]
    return target.split(".", 1) if isinstance(target, str) else list(target)


def _template_routes(spec: TemplateSpec) -> dict[tuple[str, str], str]:
    return {(r.method, r.path): r.function for r in spec.routes}


# --- Routes --------------------------------------------------------------------------------------


def test_every_contract_route_is_declared_on_its_family(spec: TemplateSpec) -> None:
    # Given the template's HttpApi events / Then they are exactly CONTRACT §4, each on its family
    assert _template_routes(spec) == CONTRACT_ROUTES
    assert len(spec.routes) == len(CONTRACT_ROUTES), "a route is declared twice"


def test_template_routes_equal_each_functions_resolver_routes(
    spec: TemplateSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    template_routes = _template_routes(spec)
    for logical_id in sorted({function for function in template_routes.values()}):
        # When the function's own handler module is imported (as Lambda does)
        app = _handler_module(spec, logical_id, monkeypatch).app
        declared = {route for route, function in template_routes.items() if function == logical_id}
        # Then its resolver serves exactly the routes the template sends it
        assert _resolver_routes(app) == declared, logical_id


def test_every_routes_module_is_deployed(spec: TemplateSpec, monkeypatch: pytest.MonkeyPatch) -> None:
    # The union of all *_routes.py resolvers (what the merged OpenAPI document describes) is routed.
    union: set[tuple[str, str]] = set()
    for path in sorted(API_PACKAGE.glob("*_routes.py")):
        union |= _resolver_routes(importlib.import_module(f"etl_artifacts.api.{path.stem}").app)
    assert union == set(_template_routes(spec))


def test_no_catch_all_routes(spec: TemplateSpec, resources: dict[str, Any]) -> None:
    for route in spec.routes:
        assert "+}" not in route.path and "$default" not in route.path, route
        assert route.method == "GET", route
    for resource in resources.values():
        for event in (resource.get("Properties", {}).get("Events") or {}).values():
            if event.get("Type") == "HttpApi":
                assert {"Method", "Path"} <= set(event["Properties"]), "an HttpApi event without Method/Path"


def test_public_routes_are_exactly_health_openapi_docs(spec: TemplateSpec) -> None:
    public = {(r.method, r.path) for r in spec.routes if not r.authorized}
    assert public == PUBLIC_ROUTES


# --- HTTP API ------------------------------------------------------------------------------------


def test_http_api_uses_a_cached_lambda_request_authorizer(
    spec: TemplateSpec, resources: dict[str, Any]
) -> None:
    api = resources["HttpApi"]["Properties"]
    auth = api["Auth"]
    authorizer = auth["Authorizers"][auth["DefaultAuthorizer"]]
    assert spec.authorizer == "AuthorizerFunction"
    assert authorizer["AuthorizerPayloadFormatVersion"] == "2.0"
    assert authorizer["EnableSimpleResponses"] is True
    assert authorizer["Identity"]["Headers"] == ["Authorization"]
    cache = authorizer["Identity"]["ReauthorizeEvery"]
    assert cache == {"Ref": "AuthorizerCacheSeconds"}
    assert 0 < spec.raw["Parameters"]["AuthorizerCacheSeconds"]["Default"] <= 300


def test_http_api_cors_logging_and_throttling(resources: dict[str, Any]) -> None:
    api = resources["HttpApi"]["Properties"]
    assert api["CorsConfiguration"]["AllowOrigins"] == {"Ref": "AllowedOrigins"}
    assert {"X-Search-Mode", "X-Continuation-Token"} <= set(api["CorsConfiguration"]["ExposeHeaders"])
    log_group = _getatt(api["AccessLogSettings"]["DestinationArn"])[0]
    assert resources[log_group]["Type"] == "AWS::Logs::LogGroup"
    # Access logs never carry the query string or headers (tokens, tenant data).
    log_format = api["AccessLogSettings"]["Format"]
    assert "$context.requestId" in log_format
    assert "querystring" not in log_format.lower() and "header" not in log_format.lower()
    assert {"ThrottlingBurstLimit", "ThrottlingRateLimit"} <= set(api["DefaultRouteSettings"])


# --- Functions, layer, globals -------------------------------------------------------------------


def test_function_dirs_hold_only_their_handler_module(spec: TemplateSpec) -> None:
    # No requirements.txt: sam build must copy the handler and never pip-install per function.
    for function in spec.functions.values():
        files = {p.name for p in function.code_uri.iterdir() if p.name != "__pycache__"}
        assert files == {f"{function.module}.py"}, function.logical_id


def test_every_function_runs_python313_with_the_shared_layer(spec: TemplateSpec) -> None:
    globals_ = spec.raw["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.13"
    assert globals_["Architectures"] == [{"Ref": "Architecture"}]
    assert globals_["Layers"] == [{"Ref": "SharedLayer"}]
    assert spec.raw["Parameters"]["Architecture"]["Default"] == "arm64"
    for resource in spec.raw["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            assert "Runtime" not in resource["Properties"] and "Layers" not in resource["Properties"]


def test_shared_layer_is_built_by_its_makefile_for_the_architecture(resources: dict[str, Any]) -> None:
    layer = resources["SharedLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Metadata"]["BuildArchitecture"] == {"Ref": "Architecture"}
    assert layer["Properties"]["CompatibleArchitectures"] == [{"Ref": "Architecture"}]
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    makefile = (REPO_ROOT / layer["Properties"]["ContentUri"] / "Makefile").read_text()
    assert re.search(r"^build-SharedLayer:", makefile, re.M)


def test_globals_carry_every_powertools_setting(spec: TemplateSpec) -> None:
    variables = spec.raw["Globals"]["Function"]["Environment"]["Variables"]
    for name in (
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
        "POWERTOOLS_LOGGER_LOG_EVENT",
        "POWERTOOLS_LOGGER_SAMPLE_RATE",
        "POWERTOOLS_TRACER_CAPTURE_RESPONSE",
        "POWERTOOLS_TRACER_CAPTURE_ERROR",
        "POWERTOOLS_DEV",
    ):
        assert name in variables, name
    # Events and responses may hold tokens and tenant data: never logged or traced.
    assert variables["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"
    assert variables["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
    assert variables["POWERTOOLS_TRACER_CAPTURE_ERROR"] == "false"


def test_every_function_logs_to_its_own_group_with_retention(
    spec: TemplateSpec, resources: dict[str, Any]
) -> None:
    groups = set()
    for logical_id in spec.functions:
        group = resources[logical_id]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert resources[group]["Type"] == "AWS::Logs::LogGroup"
        assert resources[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        groups.add(group)
    assert len(groups) == len(spec.functions)


def test_secrets_reach_only_the_functions_that_use_them(spec: TemplateSpec) -> None:
    def env(logical_id: str) -> dict[str, Any]:
        return spec.functions[logical_id].environment

    assert "JWT_SECRET" in env("AuthorizerFunction") and "JWT_JWKS_URL" in env("AuthorizerFunction")
    # Continuation tokens are signed with a dedicated key, so the JWT key stays in the authorizer.
    assert "CURSOR_SECRET" in env("PhasesFunction")
    for logical_id in spec.functions:
        if logical_id != "AuthorizerFunction":
            assert "JWT_SECRET" not in env(logical_id), logical_id
    for logical_id in spec.functions:
        if logical_id != "RunsFunction":
            assert "DB_SECRET_ARN" not in env(logical_id), logical_id


# --- IAM -----------------------------------------------------------------------------------------


def _statements(document: Any) -> list[dict[str, Any]]:
    """IAM statements of a policy document, with Fn::If branches flattened (both may deploy)."""
    found: list[dict[str, Any]] = []

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if "Fn::If" in node:
                for branch in node["Fn::If"][1:]:
                    visit(branch)
            elif "Effect" in node and "Action" in node:
                found.append(node)
            else:
                for value in node.values():
                    visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(document)
    return found


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def _resource_texts(statement: dict[str, Any]) -> list[str]:
    resource = statement.get("Resource")
    items = resource if isinstance(resource, list) else [resource]
    texts = []
    for item in items:
        if isinstance(item, dict) and "Fn::Sub" in item:
            sub = item["Fn::Sub"]
            texts.append(sub if isinstance(sub, str) else sub[0])
        else:
            texts.append(str(item))
    return texts


def _function_statements(resources: dict[str, Any], logical_id: str) -> list[dict[str, Any]]:
    """The inline statements of a function plus those of the managed policies it references."""
    statements: list[dict[str, Any]] = []
    for policy in resources[logical_id]["Properties"].get("Policies") or []:
        if isinstance(policy, dict) and set(policy) == {"Ref"}:
            statements += _statements(resources[policy["Ref"]]["Properties"]["PolicyDocument"])
        else:
            statements += _statements(policy)
    return statements


def test_only_the_indexer_writes_and_only_index_files(resources: dict[str, Any]) -> None:
    functions = [name for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"]
    writes_by_function: dict[str, list[dict[str, Any]]] = {}
    for logical_id in functions:
        policies = resources[logical_id]["Properties"].get("Policies") or []
        # SAM's S3CrudPolicy / S3WritePolicy / S3FullAccessPolicy would grant writes on the whole bucket.
        assert not any(
            isinstance(p, dict) and re.match(r"S3(Crud|Write|FullAccess)Policy", next(iter(p), ""))
            for p in policies
        ), logical_id
        for statement in _function_statements(resources, logical_id):
            if statement["Effect"] == "Allow" and any(S3_WRITE_ACTIONS.match(a) for a in _actions(statement)):
                writes_by_function.setdefault(logical_id, []).append(statement)

    assert set(writes_by_function) == {"IndexerFunction"}
    for statement in writes_by_function["IndexerFunction"]:
        for resource in _resource_texts(statement):
            assert re.search(r"/attempt=\*/index(_\*)?\.parquet$", resource), resource


def test_artifact_reads_are_limited_to_the_prefix(resources: dict[str, Any]) -> None:
    document = resources["ArtifactsReadPolicy"]["Properties"]["PolicyDocument"]
    for statement in _statements(document):
        for action in _actions(statement):
            assert not action.endswith("*"), action
            if action == "s3:GetObject":
                assert _resource_texts(statement) == [
                    "arn:${AWS::Partition}:s3:::${ArtifactsBucketName}/${ArtifactsPrefix}*"
                ]
            if action == "s3:ListBucket":
                assert statement["Condition"]["StringLike"]["s3:prefix"] == {"Fn::Sub": "${ArtifactsPrefix}*"}
    readers = {
        name for name, r in resources.items()
        if {"Ref": "ArtifactsReadPolicy"} in (r.get("Properties", {}).get("Policies") or [])
    }  # fmt: skip
    # Meta, Runs and the authorizer never read S3 (storage routes never consult etl.logs, and back).
    assert readers == {"PhasesFunction", "ArtifactsFunction", "IndexerFunction"}


def test_no_statement_allows_everything(resources: dict[str, Any]) -> None:
    for logical_id, resource in resources.items():
        for statement in _statements(resource.get("Properties", {})):
            assert "*" not in _actions(statement), logical_id
            assert statement.get("Resource") != "*", logical_id


# --- Indexer pipeline ----------------------------------------------------------------------------


def test_indexer_queue_outlives_the_function_and_drains_to_a_dlq(resources: dict[str, Any]) -> None:
    indexer = resources["IndexerFunction"]["Properties"]
    queue = resources["IndexerQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * indexer["Timeout"]
    assert _getatt(queue["RedrivePolicy"]["deadLetterTargetArn"]) == ["IndexerDeadLetterQueue", "Arn"]
    assert 1 <= queue["RedrivePolicy"]["maxReceiveCount"] <= 10
    event = indexer["Events"]["MetadataCreated"]
    assert event["Type"] == "SQS"
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # The DLQ keeps a message longer than the queue would have.
    dlq = resources["IndexerDeadLetterQueue"]["Properties"]
    assert dlq["MessageRetentionPeriod"] > queue.get("MessageRetentionPeriod", 345600)


def test_metadata_created_rule_targets_the_queue(resources: dict[str, Any]) -> None:
    rule = resources["MetadataCreatedRule"]["Properties"]
    assert rule["EventPattern"]["source"] == ["aws.s3"]
    assert rule["EventPattern"]["detail-type"] == ["Object Created"]
    key_filter = rule["EventPattern"]["detail"]["object"]["key"][0]["wildcard"]["Fn::If"]
    assert all("attempt=*/metadata.parquet" in str(branch) for branch in key_filter[1:])
    assert _getatt(rule["Targets"][0]["Arn"]) == ["IndexerQueue", "Arn"]
    statement = resources["IndexerQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert _getatt(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == ["MetadataCreatedRule", "Arn"]


def test_outputs_give_the_api_url(spec: TemplateSpec) -> None:
    assert "execute-api" in spec.raw["Outputs"]["ApiUrl"]["Value"]["Fn::Sub"]


# --- Tooling -------------------------------------------------------------------------------------


def test_samconfig_has_default_dev_prod_with_lint_and_cached_parallel_builds() -> None:
    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text())
    assert {"default", "dev", "prod"} <= set(config)
    for env in ("default", "dev", "prod"):
        assert config[env]["validate"]["parameters"]["lint"] is True, env
        assert config[env]["build"]["parameters"]["cached"] is True, env
        assert config[env]["build"]["parameters"]["parallel"] is True, env
        assert "Stage=" in config[env]["deploy"]["parameters"]["parameter_overrides"], env
    assert "Stage=prod" in config["prod"]["deploy"]["parameters"]["parameter_overrides"]


def test_sam_validate_lint_passes() -> None:
    sam = Path(sys.executable).with_name("sam")
    if not sam.exists():
        pytest.skip("aws-sam-cli is not installed in this environment (make install)")
    result = subprocess.run(
        [str(sam), "validate", "--lint", "--region", "us-east-1", "--template-file", "template.yaml"],
        cwd=REPO_ROOT,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr
