"""What a seeded run goes through (its scenario: each phase's attempts and statuses), the seed's
options and what it reports."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from etl_artifacts.s3.layout import RunRef
from pydantic import BaseModel, ConfigDict, Field

# The run every walkthrough points at (docs/getting-started.md, `etl-artifacts dev`, events/*.json): the first
# company's "retried" run on the first DAG, on the last seeded date.
DEMO_COMPANY = "acme"
DEMO_DAG_ID = uuid.UUID("3f2b8c1e-5d4a-4c7b-9e1f-0a2b3c4d5e6f")
DEFAULT_END_DATE = dt.date(2026, 11, 20)
DEMO_RUN_TIME = dt.time(10, 15, 30, 123456)

COMPANY_NAMES = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka")


# --- scenarios --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PhaseScript:
    """How one phase goes: the status of each attempt (the last one is the phase's status)."""

    attempts: tuple[str, ...] = ()
    skipped: bool = False
    empty: bool = False  # the last attempt produced no rows

    @property
    def status(self) -> str:
        return "skipped" if self.skipped else self.attempts[-1]


@dataclass(frozen=True)
class Scenario:
    name: str
    event: str  # success | error | running | skipped
    phases: dict[str, PhaseScript]  # phases absent from the dict are not present in etl.logs yet
    weight: int
    manual: bool = False


_OK = PhaseScript(("success",))
_SKIP = PhaseScript(skipped=True)
SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "retried", "success", {"extract": _OK, "transform": PhaseScript(("error", "success")), "load": _OK}, 8
    ),
    Scenario("success", "success", {"extract": _OK, "transform": _OK, "load": _OK}, 55),
    Scenario(
        "extract_failed",
        "success",
        {"extract": PhaseScript(("error",)), "transform": _SKIP, "load": _SKIP},
        6,
    ),
    Scenario(
        "load_failed", "success", {"extract": _OK, "transform": _OK, "load": PhaseScript(("error",))}, 6
    ),
    Scenario(
        "transform_failed",
        "success",
        {"extract": _OK, "transform": PhaseScript(("error",)), "load": _SKIP},
        4,
    ),
    Scenario(
        "load_running", "success", {"extract": _OK, "transform": _OK, "load": PhaseScript(("running",))}, 3
    ),
    Scenario("transform_running", "success", {"extract": _OK, "transform": PhaseScript(("running",))}, 5),
    Scenario("extract_running", "success", {"extract": PhaseScript(("running",))}, 3),
    Scenario("event_failed", "error", {"extract": _SKIP, "transform": _SKIP, "load": _SKIP}, 4),
    Scenario("event_running", "running", {}, 2),
    Scenario("manual_no_event", "skipped", {"extract": _OK, "transform": _OK, "load": _OK}, 6, manual=True),
    Scenario(
        "nothing_to_load",
        "success",
        {"extract": _OK, "transform": PhaseScript(("success",), empty=True), "load": _SKIP},
        3,
    ),
)
SCENARIOS_BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}


# --- options and results ----------------------------------------------------------------------
class SeedOptions(BaseModel):
    """Size and shape of the demo data set."""

    model_config = ConfigDict(frozen=True)

    companies: int = Field(default=3, ge=1, le=len(COMPANY_NAMES) * 100)
    dags: int = Field(default=2, ge=1, le=100)
    runs: int = Field(default=12, ge=1, le=100_000)  # per company
    rows: int = Field(default=500, ge=0, le=10_000_000)  # output rows of a phase (about)
    days: int = Field(default=14, ge=1, le=3650)
    end_date: dt.date = DEFAULT_END_DATE
    chunk_rows: int = Field(default=200, ge=1)
    row_group_rows: int = Field(default=50, ge=1)
    seed: int = 42
    workers: int = Field(default=4, ge=1, le=64)


class SeededAttempt(BaseModel):
    phase: str
    attempt: int
    status: str
    rows: int
    data_chunks: int
    complete: bool  # metadata.parquet written


class SeededRun(BaseModel):
    id_company: str
    dag_id: uuid.UUID
    date: dt.date
    run_id: str
    scenario: str
    phases: dict[str, str]  # phase -> status, as in etl.logs
    attempts: list[SeededAttempt]
    metadata_keys: list[str]  # full S3 keys of the metadata.parquet written
    objects: int

    @property
    def ref(self) -> RunRef:
        return RunRef(self.id_company, self.dag_id, self.date, self.run_id)


class SeedResult(BaseModel):
    companies: list[str]
    dag_ids: list[uuid.UUID]
    date_from: dt.date
    date_to: dt.date
    runs: list[SeededRun]

    @property
    def objects(self) -> int:
        return sum(run.objects for run in self.runs)

    def example(self) -> SeededRun:
        """The walkthrough run: the first company's first run (a retried, fully loaded run)."""
        return self.runs[0]
