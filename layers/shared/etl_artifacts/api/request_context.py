"""Who calls and which run: the tenant and the token's ``sub`` from the authorizer context only
(never from the request), and the run a path names."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from etl_artifacts.api.parameters import check_run_id
from etl_artifacts.errors import Unauthorized
from etl_artifacts.s3.layout import RunRef


def request_id(app: APIGatewayHttpResolver) -> str:
    try:
        return app.current_event.request_context.request_id or str(uuid.uuid4())
    except Exception:
        return str(uuid.uuid4())


def tenant(app: APIGatewayHttpResolver) -> str:
    """The caller's company, from the authorizer context only (never from the request)."""
    context = app.current_event.request_context.authorizer.get_lambda or {}
    company = context.get("id_company")
    if not isinstance(company, str) or not company:
        raise Unauthorized()
    return company


@dataclass(frozen=True)
class Caller:
    """Who calls, from the authorizer context: the tenant and the token's ``sub``."""

    id_company: str
    sub: str


def caller(app: APIGatewayHttpResolver) -> Caller:
    context = app.current_event.request_context.authorizer.get_lambda or {}
    sub = context.get("sub")
    return Caller(id_company=tenant(app), sub=sub if isinstance(sub, str) else "")


def run_ref(app: APIGatewayHttpResolver, dag_id: uuid.UUID, date: dt.date, run_id: str) -> RunRef:
    return RunRef(id_company=tenant(app), dag_id=dag_id, run_date=date, run_id=check_run_id(run_id))
