"""Concrete sample requests for every route of template.yaml (security and fuzz suites)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

SAMPLE_DAG = "7d0c2a9e-3b1f-4e7a-9c55-2f8e1d6b4a10"
SAMPLE_DATE = "2026-03-14"
SAMPLE_RUN_ID = "scheduled__2026-03-14T00:00:00+00:00"


def encode_run_id(run_id: str) -> str:
    """Percent-encode a run id exactly once, as docs/api.md asks clients to."""
    return quote(run_id, safe="")


def sample_path(
    template_path: str,
    *,
    dag_id: str = SAMPLE_DAG,
    date: str = SAMPLE_DATE,
    run_id: str = SAMPLE_RUN_ID,
    phase: str = "extract",
    artifact_kind: str = "extract-data",
    encoded_run_id: str | None = None,
) -> str:
    """A concrete request path for a template route (with the query a search needs)."""
    path = (
        template_path.replace("{dag_id}", dag_id)
        .replace("{date}", date)
        .replace("{run_id}", encoded_run_id if encoded_run_id is not None else encode_run_id(run_id))
        .replace("{phase}", phase)
        .replace("{artifact_kind}", artifact_kind)
    )
    if template_path.endswith("/runs"):
        path += "?date_from=2026-01-01&date_to=2026-12-31"
    return path


@dataclass(frozen=True)
class Route:
    route_key: str
    path: str  # API Gateway syntax
    function: str
    authorized: bool

    @property
    def method(self) -> str:
        return self.route_key.split(" ", 1)[0]

    @property
    def is_run_scoped(self) -> bool:
        return "{run_id}" in self.path


def template_routes() -> list[Route]:
    from etl_artifacts_local.template import load_template

    return [Route(r.route_key, r.path, r.function, r.authorized) for r in load_template().routes]


def authorized_routes() -> list[Route]:
    return [r for r in template_routes() if r.authorized]
