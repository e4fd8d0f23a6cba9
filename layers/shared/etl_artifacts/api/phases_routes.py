"""PhasesFunction routes (placeholder until the phases family lands: every route answers 501)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from etl_artifacts.api.common import configure

app = APIGatewayHttpResolver(enable_validation=True)
configure(app)

from etl_artifacts.api.common import RUN_PATH  # noqa: E402
from etl_artifacts.errors import NotImplementedYet  # noqa: E402


@app.get(f"{RUN_PATH}/event", include_in_schema=False)
@app.get(f"{RUN_PATH}/phases/<phase>", include_in_schema=False)
@app.get(f"{RUN_PATH}/phases/<phase>/data", include_in_schema=False)
@app.get(f"{RUN_PATH}/phases/<phase>/errors", include_in_schema=False)
@app.get(f"{RUN_PATH}/phases/<phase>/logs", include_in_schema=False)
def not_implemented(**_: str) -> None:
    raise NotImplementedYet()
