"""Read template.yaml: the functions, their handlers and the HttpApi routes, so that the local
gateway routes exactly what API Gateway will (no second route table to drift)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that accepts CloudFormation short tags (!Ref, !Sub, !If, ...) as plain values."""


def _cfn_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {f"Fn::{tag_suffix}" if tag_suffix != "Ref" else "Ref": value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str  # "module.attribute"
    environment: dict[str, Any]
    timeout_s: float = 3.0  # the function's Timeout (Lambda's default when the template has none)

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str  # API Gateway syntax: /api/v1/dags/{dag_id}/runs
    function: str
    authorized: bool

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class TemplateSpec:
    root: Path
    functions: dict[str, FunctionSpec]
    routes: list[RouteSpec]
    authorizer: str | None
    raw: dict[str, Any]


def _function_of(arn: Any, resources: dict[str, Any]) -> str | None:
    """The function an ARN value names: ``!GetAtt Fn.Arn``, or ``!Ref FnAlias<name>``, the alias
    SAM generates for a function's ``AutoPublishAlias``."""
    if not isinstance(arn, dict):
        return None
    target = arn.get("Fn::GetAtt")
    if isinstance(target, str):
        return target.split(".", 1)[0]
    if isinstance(target, list):
        return str(target[0])
    ref = arn.get("Ref")
    if isinstance(ref, str) and "Alias" in ref:
        function, _, alias = ref.rpartition("Alias")
        if resources.get(function, {}).get("Properties", {}).get("AutoPublishAlias") == alias:
            return function
    return None


def default_template_path() -> Path:
    """template.yaml at the repository root (this file lives in devstack/etl_artifacts_local)."""
    return Path(__file__).resolve().parents[2] / "template.yaml"


def load_template(path: Path | None = None) -> TemplateSpec:
    path = (path or default_template_path()).resolve()
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    resources: dict[str, Any] = raw.get("Resources", {})
    functions: dict[str, FunctionSpec] = {}
    routes: list[RouteSpec] = []
    authorizer: str | None = None

    for resource in resources.values():
        if resource.get("Type") == "AWS::Serverless::HttpApi":
            auth = resource.get("Properties", {}).get("Auth", {})
            default = auth.get("DefaultAuthorizer")
            arn = auth.get("Authorizers", {}).get(default, {}).get("FunctionArn", {})
            authorizer = _function_of(arn, resources)

    default_timeout = ((raw.get("Globals") or {}).get("Function") or {}).get("Timeout", 3)
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties", {})
        env = props.get("Environment", {}).get("Variables", {})
        timeout = props.get("Timeout", default_timeout)
        functions[logical_id] = FunctionSpec(
            logical_id,
            path.parent / props["CodeUri"],
            props["Handler"],
            env,
            float(timeout) if isinstance(timeout, int | float) else 3.0,
        )
        for event in (props.get("Events") or {}).values():
            if event.get("Type") != "HttpApi":
                continue
            ev = event.get("Properties", {})
            auth = (ev.get("Auth") or {}).get("Authorizer")
            routes.append(RouteSpec(ev["Method"].upper(), ev["Path"], logical_id, authorized=auth != "NONE"))
    return TemplateSpec(path.parent, functions, routes, authorizer, raw)
