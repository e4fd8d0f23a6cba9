"""template.yaml is what deploys, and what the local gateway routes: these tests read it.

Routes must equal the resolvers' routes function by function (so a route cannot exist in code
but not at API Gateway, or the other way round), every docs/api.md route is declared, IAM stays
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
from etl_artifacts_local.template import TemplateSpec, load_template

REPO_ROOT = Path(__file__).resolve().parents[1]
API_PACKAGE = REPO_ROOT / "layers" / "shared" / "etl_artifacts" / "api"
RUN = "/api/v1/dags/{dag_id}/runs/{date}/{run_id}"

# docs/api.md, route by route, with the function family that serves it.
DOCUMENTED_ROUTES: dict[tuple[str, str], str] = {
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
    # Uploaded artifacts (docs/uploads.md).
    ("POST", f"{RUN}/artifacts"): "UploadsFunction",
    ("POST", "/api/v1/artifacts/{artifact_id}/complete"): "UploadsFunction",
    ("GET", "/api/v1/artifacts/{artifact_id}"): "UploadsFunction",
    ("GET", "/api/v1/artifacts/{artifact_id}/content"): "UploadsFunction",
    ("GET", "/api/v1/artifacts/{artifact_id}/download"): "UploadsFunction",
    ("GET", "/api/v1/dags/{dag_id}/artifacts"): "UploadsFunction",
    ("GET", "/api/v1/artifacts"): "UploadsFunction",
    # The artifact lifecycle (docs/lifecycle.md).
    ("DELETE", "/api/v1/artifacts/{artifact_id}"): "LifecycleFunction",
    ("POST", "/api/v1/artifacts/{artifact_id}/restore"): "LifecycleFunction",
    ("POST", "/api/v1/artifacts/{artifact_id}/extend-ttl"): "LifecycleFunction",
    ("POST", "/api/v1/artifacts/{artifact_id}/links"): "LifecycleFunction",
    ("GET", "/api/v1/artifacts/{artifact_id}/links"): "LifecycleFunction",
    ("DELETE", "/api/v1/links/{link}"): "LifecycleFunction",
    ("GET", "/api/v1/links/{link}"): "LinksFunction",
    ("POST", f"{RUN}/seal"): "SealFunction",
    ("GET", f"{RUN}/manifest"): "SealFunction",
    ("GET", "/api/v1/manifest-keys"): "SealFunction",
}
PUBLIC_ROUTES = {
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/docs"),
    # A share link is the credential itself.
    ("GET", "/api/v1/links/{link}"),
}
# Functions that reach the database (DB_SECRET_ARN): the runs search and the artifact lifecycle.
DATABASE_FUNCTIONS = {
    "RunsFunction",
    "UploadsFunction",
    "LifecycleFunction",
    "LinksFunction",
    "SealFunction",
    "SweeperFunction",
}
API_FUNCTIONS = {"MetaFunction", "RunsFunction", "PhasesFunction", "ArtifactsFunction", "UploadsFunction"}
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


def test_every_documented_route_is_declared_on_its_family(spec: TemplateSpec) -> None:
    # Given the template's HttpApi events / Then they are exactly docs/api.md, each on its family
    assert _template_routes(spec) == DOCUMENTED_ROUTES
    assert len(spec.routes) == len(DOCUMENTED_ROUTES), "a route is declared twice"


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
        # No ANY: reads are GET, writes POST or DELETE.
        assert route.method in ("GET", "POST", "DELETE"), route
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


SNAPSTART_FUNCTIONS = {
    "AuthorizerFunction",
    "MetaFunction",
    "RunsFunction",
    "PhasesFunction",
    "ArtifactsFunction",
    "UploadsFunction",
    "LifecycleFunction",
    "LinksFunction",
    "SealFunction",
}


def test_api_functions_start_from_snapstart_versions_behind_the_live_alias(spec: TemplateSpec) -> None:
    # docs/performance.md: every function API Gateway calls; the indexer (SQS-fed, 2 GB of /tmp,
    # which SnapStart does not support) and the sweeper (a schedule, nobody waits on it) stay off.
    with_snapstart = {
        logical_id
        for logical_id, resource in spec.raw["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function" and "SnapStart" in resource["Properties"]
    }
    assert with_snapstart == SNAPSTART_FUNCTIONS
    for logical_id in SNAPSTART_FUNCTIONS:
        props = spec.raw["Resources"][logical_id]["Properties"]
        assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
        assert props["AutoPublishAlias"] == "live"
        assert props.get("EphemeralStorage", {"Size": 512})["Size"] <= 512
        assert "ProvisionedConcurrencyConfig" not in props


def test_the_authorizer_is_called_through_its_alias(spec: TemplateSpec, resources: dict[str, Any]) -> None:
    authorizer = resources["HttpApi"]["Properties"]["Auth"]["Authorizers"]["JwtLambdaAuthorizer"]
    assert authorizer["FunctionArn"] == {"Ref": "AuthorizerFunctionAliaslive"}
    assert spec.authorizer == "AuthorizerFunction"


INTEGRATION = re.compile(r"functions/\$\{(\w+)\}/invocations")


def test_every_route_and_invoke_permission_targets_the_snapstart_alias(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What `sam deploy` deploys: the template through SAM's own transform (the code URIs stand in
    # for the uploaded packages). An integration with the bare function would run $LATEST, which
    # never starts from a snapshot.
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # the transform asks for one; any will do
    template = yaml_parse((REPO_ROOT / "template.yaml").read_text())
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if key in properties:
                properties[key] = "s3://packages/code.zip"
    resources = transform(template, {}, NoManagedPolicies())["Resources"]
    integrations = [
        operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
        for item in resources["HttpApi"]["Properties"]["Body"]["paths"].values()
        for operation in item.values()
    ]
    assert integrations
    targets = {match.group(1) for uri in integrations if (match := INTEGRATION.search(uri))}
    assert len(targets) > 1 and all(INTEGRATION.search(uri) for uri in integrations)
    assert targets == {f"{name}Aliaslive" for name in SNAPSTART_FUNCTIONS - {"AuthorizerFunction"}}
    permissions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
    api_permissions = [p for p in permissions if p["Principal"] == "apigateway.amazonaws.com"]
    assert api_permissions
    assert {p["FunctionName"]["Ref"] for p in api_permissions} == {
        f"{name}Aliaslive" for name in SNAPSTART_FUNCTIONS
    }


def test_every_snapstart_handler_registers_its_priming(spec: TemplateSpec) -> None:
    for logical_id in SNAPSTART_FUNCTIONS:
        source = (spec.functions[logical_id].code_uri / f"{spec.functions[logical_id].module}.py").read_text()
        assert "snapstart.enable(" in source, logical_id


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

    # ARNs only: each function reads its secret at run time (etl_artifacts/secret_values.py).
    assert env("AuthorizerFunction")["JWT_SECRET_ARN"] == {"Ref": "JwtSecretArn"}
    assert "JWT_JWKS_URL" in env("AuthorizerFunction")
    # Continuation tokens and cursors are signed with a dedicated key, so the JWT key stays in the authorizer.
    for logical_id in ("PhasesFunction", "ArtifactsFunction", "UploadsFunction"):
        assert env(logical_id)["CURSOR_SECRET_ARN"] == {"Ref": "CursorSecret"}, logical_id
    for logical_id in spec.functions:
        assert not {"JWT_SECRET", "CURSOR_SECRET"} & set(env(logical_id)), logical_id
        if logical_id != "AuthorizerFunction":
            assert "JWT_SECRET_ARN" not in env(logical_id), logical_id
        if logical_id not in DATABASE_FUNCTIONS:
            assert "DB_SECRET_ARN" not in env(logical_id), logical_id


def test_no_secret_value_is_resolved_into_a_function_environment(spec: TemplateSpec) -> None:
    # A {{resolve:secretsmanager}} value is stored in the function configuration in clear text,
    # readable with lambda:GetFunctionConfiguration, and frozen until the next deploy.
    assert "resolve:secretsmanager" not in (REPO_ROOT / "template.yaml").read_text()
    globals_env = spec.raw["Globals"]["Function"]["Environment"]["Variables"]
    for logical_id, function in spec.functions.items():
        assert "resolve:" not in repr({**globals_env, **function.environment}), logical_id


def _secret_grants(resources: dict[str, Any], logical_id: str) -> list[Any]:
    """SecretArn of every AWSSecretsManagerGetSecretValuePolicy of a function (Fn::If branches included)."""
    found: list[Any] = []

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if "AWSSecretsManagerGetSecretValuePolicy" in node:
                found.append(node["AWSSecretsManagerGetSecretValuePolicy"]["SecretArn"])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(resources[logical_id]["Properties"].get("Policies") or [])
    return found


def test_each_function_may_read_exactly_the_secrets_it_is_given(
    spec: TemplateSpec, resources: dict[str, Any]
) -> None:
    for logical_id, function in spec.functions.items():
        given = [value for name, value in function.environment.items() if name.endswith("_SECRET_ARN")]
        assert sorted(map(repr, _secret_grants(resources, logical_id))) == sorted(map(repr, given)), (
            logical_id
        )
        for statement in _function_statements(resources, logical_id):
            assert not any(a.startswith("secretsmanager:") for a in _actions(statement)), logical_id


def _reserved(resources: dict[str, Any], logical_id: str) -> Any:
    return resources[logical_id]["Properties"].get("ReservedConcurrentExecutions")


def test_runs_authorizer_and_phases_have_reserved_concurrency_parameters(
    spec: TemplateSpec, resources: dict[str, Any]
) -> None:
    parameters = spec.raw["Parameters"]
    for logical_id, parameter in (
        ("RunsFunction", "RunsMaxConcurrency"),
        ("AuthorizerFunction", "AuthorizerReservedConcurrency"),
        ("PhasesFunction", "PhasesMaxConcurrency"),
        ("UploadsFunction", "UploadsMaxConcurrency"),
    ):
        # 0 means "no reservation" (a reservation of 0 would throttle every call).
        condition, value, otherwise = _reserved(resources, logical_id)["Fn::If"]
        assert value == {"Ref": parameter} and otherwise == {"Ref": "AWS::NoValue"}, logical_id
        assert spec.raw["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, 0]}]}
        assert parameters[parameter]["Type"] == "Number" and parameters[parameter]["Default"] > 0
    # One pg8000 connection per Runs instance: the default stays well under RDS's ~400 connections.
    assert parameters["RunsMaxConcurrency"]["Default"] <= 100
    assert parameters["AuthorizerReservedConcurrency"]["Default"] <= 20


def test_runs_can_connect_through_an_rds_proxy(spec: TemplateSpec, resources: dict[str, Any]) -> None:
    assert spec.functions["RunsFunction"].environment["DB_PROXY_ENDPOINT"] == {"Ref": "DbProxyEndpoint"}
    assert spec.raw["Parameters"]["DbProxyEndpoint"]["Default"] == ""
    # With a VpcConfig SAM attaches AWSLambdaVPCAccessExecutionRole itself: no second copy.
    assert "VPCAccessPolicy" not in repr(resources["RunsFunction"]["Properties"]["Policies"])


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

    assert set(writes_by_function) == {"IndexerFunction", "UploadsFunction", "SweeperFunction"}
    for statement in writes_by_function["IndexerFunction"]:
        for resource in _resource_texts(statement):
            assert re.search(r"/attempt=\*/index(_\*)?\.parquet$", resource), resource
    # Uploaded artifacts' bytes live at {run prefix}uploads/{artifact_id}: never the writer's parquet.
    for statement in writes_by_function["UploadsFunction"]:
        assert _resource_texts(statement) == [
            "arn:${AWS::Partition}:s3:::${ArtifactsBucketName}/${ArtifactsPrefix}*/uploads/*"
        ]
        assert set(_actions(statement)) <= {"s3:PutObject", "s3:GetObject", "s3:DeleteObject"}
    # The sweeper only removes uploaded artifacts' objects.
    for statement in writes_by_function["SweeperFunction"]:
        assert _actions(statement) == ["s3:DeleteObject"]
        for resource in _resource_texts(statement):
            assert resource.endswith("/uploads/art_*"), resource


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
    # The Seal function lists a run's parquet objects for the manifest.
    assert readers == {"PhasesFunction", "ArtifactsFunction", "IndexerFunction", "SealFunction"}


def test_no_statement_allows_everything(resources: dict[str, Any]) -> None:
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::KMS::Key":
            continue  # in a key policy, Resource "*" is the key itself
        for statement in _statements(resource.get("Properties", {})):
            assert "*" not in _actions(statement), logical_id
            assert statement.get("Resource") != "*", logical_id


# --- Indexer pipeline ----------------------------------------------------------------------------


def test_indexer_queue_outlives_the_function_and_drains_to_a_dlq(resources: dict[str, Any]) -> None:
    indexer = resources["IndexerFunction"]["Properties"]
    queue = resources["IndexerQueue"]["Properties"]
    # AWS's guidance for SQS event sources: visibility >= 6x the function's timeout.
    assert queue["VisibilityTimeout"] >= 6 * indexer["Timeout"]
    assert _getatt(queue["RedrivePolicy"]["deadLetterTargetArn"]) == ["IndexerDeadLetterQueue", "Arn"]
    assert 5 <= queue["RedrivePolicy"]["maxReceiveCount"] <= 10
    event = indexer["Events"]["MetadataCreated"]
    assert event["Type"] == "SQS"
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # One message per invocation: a timeout fails (and retries) only that attempt.
    assert event["Properties"]["BatchSize"] == 1
    assert event["Properties"]["ScalingConfig"]["MaximumConcurrency"] <= 10
    # The DLQ keeps a message longer than the queue would have.
    dlq = resources["IndexerDeadLetterQueue"]["Properties"]
    assert dlq["MessageRetentionPeriod"] > queue.get("MessageRetentionPeriod", 345600)


def test_indexer_timeout_covers_the_largest_attempt_at_the_benchmarked_rate(
    resources: dict[str, Any],
) -> None:
    indexer = resources["IndexerFunction"]["Properties"]
    # /tmp (EphemeralStorage) holds ~15M rows' index; the bench indexes >= 130k rows/s (bench/README.md).
    rows, rows_per_s = 15_000_000, 130_000
    assert indexer["EphemeralStorage"]["Size"] >= 2048
    assert rows / rows_per_s < indexer["Timeout"] <= 900


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


def test_events_the_rule_cannot_deliver_land_in_a_dlq_it_may_write(resources: dict[str, Any]) -> None:
    target = resources["MetadataCreatedRule"]["Properties"]["Targets"][0]
    dlq = _getatt(target["DeadLetterConfig"]["Arn"])
    assert dlq == ["IndexerDeadLetterQueue", "Arn"]
    policies = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::SQS::QueuePolicy"]
    allowed = [
        p for p in policies
        if {"Ref": dlq[0]} in p["Queues"]
        and any(s["Principal"] == {"Service": "events.amazonaws.com"} and s["Action"] == "sqs:SendMessage"
                for s in p["PolicyDocument"]["Statement"])
    ]  # fmt: skip
    assert allowed, "EventBridge may not send to the rule's DLQ"


# --- Alarms --------------------------------------------------------------------------------------


def _alarms(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def _alarm_metrics(alarm: dict[str, Any]) -> set[tuple[str, str]]:
    """(namespace, metric name) pairs an alarm watches, directly or through metric math."""
    if "MetricName" in alarm:
        return {(alarm["Namespace"], alarm["MetricName"])}
    return {
        (query["MetricStat"]["Metric"]["Namespace"], query["MetricStat"]["Metric"]["MetricName"])
        for query in alarm["Metrics"]
        if "MetricStat" in query
    }


def test_every_alarm_notifies_the_alarm_topic(spec: TemplateSpec, resources: dict[str, Any]) -> None:
    topic = {"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}
    assert spec.raw["Conditions"]["CreateAlarmTopic"] == {"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}
    assert resources["AlarmTopic"]["Condition"] == "CreateAlarmTopic"
    alarms = _alarms(resources)
    assert alarms
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [topic], name
        assert alarm["TreatMissingData"] == "notBreaching", name


def test_alarms_cover_errors_throttles_api_and_the_indexer_queues(resources: dict[str, Any]) -> None:
    alarms = _alarms(resources)
    watched = set().union(*(_alarm_metrics(alarm) for alarm in alarms.values()))
    assert {
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "Duration"),
        ("AWS/ApiGateway", "5xx"),
        ("AWS/ApiGateway", "Latency"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
    } <= watched
    functions = {name for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    for metric in ("Errors", "Throttles"):
        covered = {
            query["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"]
            for alarm in alarms.values()
            for query in alarm.get("Metrics", [])
            if query.get("MetricStat", {}).get("Metric", {}).get("MetricName") == metric
        }
        assert covered == functions, metric
    latency = next(a for a in alarms.values() if a.get("MetricName") == "Latency")
    assert latency["ExtendedStatistic"] == "p99"
    queues = {
        _getatt(a["Dimensions"][0]["Value"])[0] for a in alarms.values() if a.get("Namespace") == "AWS/SQS"
    }
    assert queues == {"IndexerQueue", "IndexerDeadLetterQueue"}


def test_runs_duration_alarm_fires_before_the_timeout(spec: TemplateSpec, resources: dict[str, Any]) -> None:
    timeout_ms = 1000 * resources["RunsFunction"]["Properties"].get(
        "Timeout", spec.raw["Globals"]["Function"]["Timeout"]
    )
    alarm = next(a for a in _alarms(resources).values() if a.get("MetricName") == "Duration")
    assert alarm["Dimensions"][0]["Value"] == {"Ref": "RunsFunction"}
    assert alarm["Statistic"] == "Maximum"
    assert 0.5 * timeout_ms <= alarm["Threshold"] < timeout_ms


# --- Rules (parameter guards) --------------------------------------------------------------------


def _evaluate(node: Any, values: dict[str, Any]) -> Any:
    """The rule functions this template uses, as CloudFormation evaluates them."""
    if isinstance(node, dict):
        ((name, args),) = node.items()
        if name == "Ref":
            return values[args]
        args = [_evaluate(arg, values) for arg in args]
        if name == "Fn::Equals":
            return args[0] == args[1]
        if name == "Fn::Not":
            return not args[0]
        if name == "Fn::Or":
            return any(args)
        if name == "Fn::And":
            return all(args)
        if name == "Fn::EachMemberEquals":
            return all(member == args[1] for member in args[0])
        if name == "Fn::Contains":
            return args[1] in args[0]
        raise AssertionError(f"rule function {name} not modelled")
    return node


def _refusals(spec: TemplateSpec, **overrides: Any) -> list[str]:
    values: dict[str, Any] = {}
    for name, parameter in spec.raw["Parameters"].items():
        default = parameter.get("Default", "")
        values[name] = str(default).split(",") if parameter["Type"] == "CommaDelimitedList" else default
    values.update(ArtifactsBucketName="bucket", AllowedOrigins=["https://app.example"])
    values.update(DbSecretArn="arn:aws:secretsmanager:eu-west-1:1:secret:db", JwtSecretArn="arn:jwt")
    values.update(overrides)
    refused = []
    for rule in spec.raw["Rules"].values():
        if "RuleCondition" in rule and not _evaluate(rule["RuleCondition"], values):
            continue
        refused += [a["AssertDescription"] for a in rule["Assertions"] if not _evaluate(a["Assert"], values)]
    return refused


def test_rules_refuse_a_missing_database_secret_and_half_a_vpc(spec: TemplateSpec) -> None:
    assert _refusals(spec) == []
    assert _refusals(spec, SubnetIds=["subnet-1", "subnet-2"], SecurityGroupIds=["sg-1"]) == []
    assert any("DbSecretArn" in text for text in _refusals(spec, DbSecretArn=""))
    assert any("SecurityGroupIds" in text for text in _refusals(spec, SubnetIds=["subnet-1"]))
    assert any("SubnetIds" in text for text in _refusals(spec, SecurityGroupIds=["sg-1"]))
    assert any("VPC" in text for text in _refusals(spec, DbProxyEndpoint="proxy.example:5432"))
    assert any("JwtSecretArn" in text for text in _refusals(spec, JwtSecretArn=""))


def test_cors_origins_come_from_each_environment(spec: TemplateSpec) -> None:
    # No default: every environment names its origins, and prod may not say "*".
    assert "Default" not in spec.raw["Parameters"]["AllowedOrigins"]
    assert _refusals(spec, Stage="prod", AllowedOrigins=["*"])
    assert _refusals(spec, Stage="dev", AllowedOrigins=["*"]) == []
    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text())
    for env in ("default", "dev", "prod"):
        overrides = config[env]["deploy"]["parameters"]["parameter_overrides"]
        origins = re.search(r"(?:^| )AllowedOrigins=(\S+)", overrides)
        assert origins and "*" not in origins.group(1), env


# --- Presigning ----------------------------------------------------------------------------------


def test_presigned_urls_are_signed_by_a_get_only_role_the_artifacts_function_assumes(
    spec: TemplateSpec, resources: dict[str, Any]
) -> None:
    # The artifacts and uploads functions, and the public share link redirect.
    signers = ("ArtifactsFunction", "UploadsFunction", "LinksFunction")
    for logical_id in signers:
        assert _getatt(spec.functions[logical_id].environment["PRESIGN_ROLE_ARN"]) == ["PresignRole", "Arn"]
    role = resources["PresignRole"]["Properties"]
    # Assumed from the function's own session (role chaining): one hour at most.
    assert role["MaxSessionDuration"] == 3600
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert [_getatt(principal) for principal in trust["Principal"]["AWS"]] == [
        [f"{logical_id}Role", "Arn"] for logical_id in signers
    ]
    actions = {a for st in _statements(role["Policies"]) for a in _actions(st)}
    assert actions <= {"s3:GetObject", "kms:Decrypt"}
    assume = resources["ArtifactsAssumePresignRole"]["Properties"]
    assert assume["Roles"] == [{"Ref": f"{logical_id}Role"} for logical_id in signers]
    (statement,) = assume["PolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRole"
    assert _getatt(statement["Resource"]) == ["PresignRole", "Arn"]


# --- S3 retries within the deadline --------------------------------------------------------------


def test_one_s3_call_with_every_retry_fits_inside_each_s3_functions_timeout(
    spec: TemplateSpec, resources: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from etl_artifacts.clients import s3_call_budget_s
    from etl_artifacts.config import Settings

    settings = Settings.model_validate({})
    assert settings.s3_max_attempts >= 3
    readers = {"PhasesFunction", "ArtifactsFunction", "UploadsFunction"}
    for logical_id in readers:
        timeout = resources[logical_id]["Properties"].get(
            "Timeout", spec.raw["Globals"]["Function"]["Timeout"]
        )
        # The routes answer 503 deadline_exceeded at least one second before the Timeout.
        assert s3_call_budget_s(settings) <= timeout - 1, logical_id


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


def test_make_lint_runs_cfn_lint_and_checkov_besides_sam_validate() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    lint = re.search(r"^lint:.*\n((?:\t.*\n|\s*@?#.*\n)+)", makefile, re.M)
    assert lint is not None
    recipe = lint.group(1)
    for tool in ("sam validate --lint", "cfn-lint template.yaml", "$(CHECKOV) --file template.yaml"):
        assert tool in recipe, tool


def test_cfn_lint_passes() -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    if not cfn_lint.exists():
        pytest.skip("cfn-lint is not installed in this environment (make install)")
    result = subprocess.run(
        [str(cfn_lint), "template.yaml"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_passes_with_every_skip_explained() -> None:
    # Each skip in the template carries its reason (Metadata.checkov.skip[].comment).
    text = (REPO_ROOT / "template.yaml").read_text()
    skips = re.findall(r"- id: (CKV_\w+)\n\s+comment: \"([^\"]+)\"", text)
    assert skips and all(len(reason) > 20 for _, reason in skips)
    assert text.count("- id: CKV_") == len(skips)
    checkov = REPO_ROOT / ".local" / "tools" / "checkov" / "bin" / "checkov"
    if not checkov.exists():
        pytest.skip("checkov is installed by `make lint` (in .local/tools/checkov)")
    result = subprocess.run(
        [str(checkov), "--file", "template.yaml", "--framework", "cloudformation", "--quiet", "--compact",
         "--skip-download"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


# --- Artifact lifecycle --------------------------------------------------------------------------


def test_only_the_seal_function_may_sign_with_the_manifest_key(
    spec: TemplateSpec, resources: dict[str, Any]
) -> None:
    key = resources["ManifestSigningKey"]["Properties"]
    assert (key["KeySpec"], key["KeyUsage"]) == ("ECC_NIST_P256", "SIGN_VERIFY")
    statements = key["KeyPolicy"]["Statement"]
    allowed_to_sign = [
        st
        for st in statements
        if st["Effect"] == "Allow" and any(a in ("kms:Sign", "kms:*") for a in _actions(st))
    ]
    assert [_getatt(st["Principal"]["AWS"]) for st in allowed_to_sign] == [["SealFunctionRole", "Arn"]]
    [deny] = [st for st in statements if st["Effect"] == "Deny"]
    assert _actions(deny) == ["kms:Sign"]
    assert _getatt(deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]) == ["SealFunctionRole", "Arn"]
    # No other function is granted kms:Sign by IAM either (a key given by ARN goes to Seal only).
    for logical_id in spec.functions:
        signs = any("kms:Sign" in _actions(st) for st in _function_statements(resources, logical_id))
        assert signs == (logical_id == "SealFunction"), logical_id
    env = spec.functions["SealFunction"].environment["MANIFEST_SIGNING_KEY_ID"]
    assert env["Fn::If"][0] == "CreateSigningKey"


def test_the_sweeper_runs_hourly_and_the_outbox_is_drained_each_minute(resources: dict[str, Any]) -> None:
    events = resources["SweeperFunction"]["Properties"]["Events"]
    schedules = {
        e["Properties"]["ScheduleExpression"]: e for e in events.values() if e["Type"] == "ScheduleV2"
    }
    assert set(schedules) == {"rate(1 hour)", "rate(1 minute)"}
    assert '"publish-events"' in schedules["rate(1 minute)"]["Properties"]["Input"]
