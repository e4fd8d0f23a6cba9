"""SQL of the runs family, built from constants only: every value is a bound parameter.

A keyword filter is ``(log->'<phase>')::text`` ILIKE the literal pattern (the API's meaning),
plus, for keywords of at least ``KEYWORD_KEY_CHARS`` characters, the containment of the keyword's
tenant-keyed windows in exactly the expression of the GIN indexes of ``migrations``: the planner
answers it from the caller's own posting lists, and ILIKE rechecks each candidate row. Phase
names come from ``layout.RUN_PHASES`` (code constants), never from the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from etl_artifacts.postgres.migrations import (
    KEYWORD_KEY_CHARS,
    KEYWORD_KEYS_FUNCTION,
    keyword_keys_expression,
)
from etl_artifacts.runs.models import RunSearch
from etl_artifacts.s3.layout import RUN_PHASES

# Postgres OFFSET is a bigint; any page beyond this is simply past the end.
MAX_OFFSET = 2**62

# Phase objects without their inline ``data`` rows (searched in SQL, never sent back); a value
# that is not a JSON object (malformed row) is read as an absent phase instead of failing.
_PHASE_COLUMNS = ",\n       ".join(
    f"CASE WHEN jsonb_typeof(l.log->'{p}') = 'object' THEN (l.log->'{p}') - 'data' END AS phase_{p}"
    for p in RUN_PHASES
)
_SELECT_RESULT = f"l.dag_id, l.run_date, l.run_id, l.created_at, l.updated_at,\n       {_PHASE_COLUMNS}"

ORDER_BY = 'run_date DESC, run_id COLLATE "C" DESC'

GET_RUN_SQL = f"""SELECT {_SELECT_RESULT}
FROM etl.logs AS l
WHERE l.id_company = :id_company AND l.dag_id = :dag_id AND l.run_date = :run_date AND l.run_id = :run_id"""  # noqa: S608 - constants only


@dataclass(frozen=True)
class Statement:
    sql: str
    params: dict[str, Any]


def like_pattern(keyword: str) -> str:
    """A case-insensitive LITERAL substring pattern: ``\\``, ``%`` and ``_`` match themselves
    (backslash is LIKE's default escape character)."""
    escaped = keyword.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_conditions(search: RunSearch) -> tuple[list[str], dict[str, Any]]:
    """The WHERE conditions and their parameters; the tenant condition always comes first."""
    conditions = [
        "id_company = :id_company",
        "dag_id = :dag_id",
        "run_date BETWEEN :date_from AND :date_to",
    ]
    params: dict[str, Any] = {
        "id_company": search.id_company,
        "dag_id": search.dag_id,
        "date_from": search.date_from,
        "date_to": search.date_to,
    }
    for phase in RUN_PHASES:
        status = search.statuses.get(phase)
        if status is not None and status != "all":
            # An absent phase yields NULL here, so it matches no status (only "all").
            conditions.append(f"log->'{phase}'->>'status' = :{phase}_status")
            params[f"{phase}_status"] = status
        keyword = search.keywords.get(phase)
        if keyword is not None:
            conditions.append(f"(log->'{phase}')::text ILIKE :{phase}_keyword")
            params[f"{phase}_keyword"] = like_pattern(keyword)
            if len(keyword) >= KEYWORD_KEY_CHARS:
                # Shorter keywords have no window: the (tenant, DAG, date) btree serves them.
                conditions.append(
                    f"{keyword_keys_expression(phase)}"
                    f" @> {KEYWORD_KEYS_FUNCTION}(CAST(:id_company AS text), CAST(:dag_id AS uuid),"
                    f" CAST(:{phase}_keyword_text AS text))"
                )
                params[f"{phase}_keyword_text"] = keyword
    if search.run_ids:
        conditions.append("run_id = ANY(CAST(:run_ids AS text[]))")
        params["run_ids"] = list(search.run_ids)
    return conditions, params


def search_statement(search: RunSearch) -> Statement:
    """One round trip for the page and the total.

    ``matched`` holds only the sort keys, so without keyword/status filters it is an index-only
    scan of the (tenant, dag, date, run_id) btree; the total is counted from it and only the page's
    rows are joined back (by the table's unique key) for their columns. The LEFT JOINs keep one row
    carrying the total even when the page is past the end (its result columns are then NULL).
    """
    conditions, params = search_conditions(search)
    where = "\n    AND ".join(conditions)
    params["limit"] = search.limit
    params["offset"] = min(search.page * search.limit, MAX_OFFSET)
    sql = f"""WITH matched AS (
  SELECT run_date, run_id
  FROM etl.logs
  WHERE {where}
), page AS (
  SELECT run_date, run_id FROM matched
  ORDER BY {ORDER_BY}
  LIMIT :limit OFFSET :offset
)
SELECT counted.total, {_SELECT_RESULT}
FROM (SELECT count(*) AS total FROM matched) AS counted
LEFT JOIN page ON true
LEFT JOIN etl.logs AS l
  ON l.id_company = :id_company AND l.dag_id = :dag_id
 AND l.run_date = page.run_date AND l.run_id = page.run_id
ORDER BY page.run_date DESC, page.run_id COLLATE "C" DESC"""  # noqa: S608 - constants only; values are bound
    return Statement(sql, params)


def get_run_statement(id_company: str, dag_id: Any, run_date: Any, run_id: str) -> Statement:
    return Statement(
        GET_RUN_SQL, {"id_company": id_company, "dag_id": dag_id, "run_date": run_date, "run_id": run_id}
    )
