"""RunsFunction routes (placeholder until the runs family lands: every route answers 501)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from etl_artifacts.api.common import configure

app = APIGatewayHttpResolver(enable_validation=True)
configure(app)

from etl_artifacts.api.common import API_PREFIX  # noqa: E402
from etl_artifacts.errors import NotImplementedYet  # noqa: E402


@app.get(f"{API_PREFIX}/dags/<dag_id>/runs", include_in_schema=False)
@app.get(f"{API_PREFIX}/dags/<dag_id>/runs/<date>/<run_id>", include_in_schema=False)
def not_implemented(**_: str) -> None:
    raise NotImplementedYet()
