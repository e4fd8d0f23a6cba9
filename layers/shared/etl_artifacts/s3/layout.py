"""The S3 key layout of docs/architecture.md, in one place: keys are built and parsed only here.

Run prefix: ``{ARTIFACTS_PREFIX}{id_company}/{dag_id}/{date}/{run_id}/``. Keys relative to it:
``event/queue_data.parquet``, ``event/event.parquet`` and
``{phase}/attempt={n}/{metadata|index|data_NNN|logs_NNN|errors_NNN}.parquet``.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date

PHASES: tuple[str, ...] = ("extract", "transform", "load")
RUN_PHASES: tuple[str, ...] = ("event", *PHASES)
CHUNKED_NAMES: tuple[str, ...] = ("data", "logs", "errors")
SINGLE_NAMES: tuple[str, ...] = ("metadata", "index")
EVENT_KINDS: dict[str, str] = {
    "event-queue-data": "event/queue_data.parquet",
    "event-event": "event/event.parquet",
}
RUN_ID_CHARS = "A-Za-z0-9._:+~-"  # a regex character class body
RUN_ID_PATTERN = rf"^[{RUN_ID_CHARS}]{{1,250}}$"
# \A...\Z, not the pattern's ^...$: '$' also matches before a trailing newline ("run\n").
RUN_ID_RE = re.compile(rf"\A[{RUN_ID_CHARS}]{{1,250}}\Z")

_PHASE_FILE_RE = re.compile(
    r"^(?P<phase>extract|transform|load)/attempt=(?P<attempt>[1-9][0-9]*)/"
    r"(?:(?P<chunked>data|logs|errors)_(?P<chunk>[0-9]{3,})|(?P<single>metadata|index)|(?P<other>[^/]+))\.parquet$"
)
_KIND_RE = re.compile(r"^(?P<phase>extract|transform|load)-(?P<name>data|logs|errors|metadata|index)$")


@dataclass(frozen=True)
class RunRef:
    """One run of one tenant: everything that locates its prefix."""

    id_company: str
    dag_id: uuid.UUID
    run_date: date
    run_id: str

    def prefix(self, artifacts_prefix: str = "") -> str:
        return f"{artifacts_prefix}{self.id_company}/{self.dag_id}/{self.run_date.isoformat()}/{self.run_id}/"


@dataclass(frozen=True)
class ArtifactRef:
    """What a key under a run prefix is (docs/api.md ArtifactItem fields)."""

    key: str
    artifact_kind: str | None
    phase: str | None
    attempt: int | None
    chunk: int | None


def attempt_dir(phase: str, attempt: int) -> str:
    return f"{phase}/attempt={attempt}/"


def chunk_file(phase: str, attempt: int, name: str, chunk: int) -> str:
    return f"{attempt_dir(phase, attempt)}{name}_{chunk:03d}.parquet"


def single_file(phase: str, attempt: int, name: str) -> str:
    return f"{attempt_dir(phase, attempt)}{name}.parquet"


def parse_relative_key(key: str) -> ArtifactRef | None:
    """Classify a key relative to a run prefix; ``None`` for anything that is not parquet."""
    return parquet_artifact(key) if key.endswith(".parquet") else None


def parquet_artifact(key: str) -> ArtifactRef:
    """What the ``.parquet`` key ``key`` (relative to a run prefix) is."""
    for kind, event_key in EVENT_KINDS.items():
        if key == event_key:
            return ArtifactRef(key=key, artifact_kind=kind, phase="event", attempt=None, chunk=None)
    match = _PHASE_FILE_RE.match(key)
    if match is None:
        phase = key.split("/", 1)[0] if "/" in key else None
        return ArtifactRef(key=key, artifact_kind=None, phase=phase, attempt=None, chunk=None)
    phase, attempt = match["phase"], int(match["attempt"])
    if match["chunked"]:
        return ArtifactRef(key, f"{phase}-{match['chunked']}", phase, attempt, int(match["chunk"]))
    if match["single"]:
        return ArtifactRef(key, f"{phase}-{match['single']}", phase, attempt, None)
    # e.g. index_trigrams.parquet: listed, but no kind maps to it.
    return ArtifactRef(key, None, phase, attempt, None)


def parse_chunk_name(filename: str, name: str) -> int | None:
    """``data_007.parquet`` -> 7 for name ``data``; ``None`` when the file is not such a chunk."""
    match = re.fullmatch(rf"{re.escape(name)}_([0-9]{{3,}})\.parquet", filename)
    return int(match.group(1)) if match else None


def is_artifact_kind(kind: str) -> bool:
    return kind in EVENT_KINDS or _KIND_RE.match(kind) is not None


def key_for_kind(kind: str, attempt: int, chunk: int) -> str:
    """Relative key of an artifact kind; raises ``ValueError`` for an unknown kind."""
    if kind in EVENT_KINDS:
        return EVENT_KINDS[kind]
    match = _KIND_RE.match(kind)
    if match is None:
        raise ValueError("unknown artifact kind")
    phase, name = match["phase"], match["name"]
    if name in CHUNKED_NAMES:
        return chunk_file(phase, attempt, name, chunk)
    return single_file(phase, attempt, name)


@dataclass(frozen=True)
class AttemptLocation:
    """A phase attempt found from a full object key (used by the indexer)."""

    artifacts_prefix: str  # ARTIFACTS_PREFIX the key was found under
    run: RunRef
    phase: str
    attempt: int

    @property
    def prefix(self) -> str:
        return self.run.prefix(self.artifacts_prefix) + attempt_dir(self.phase, self.attempt)


_METADATA_KEY_RE = re.compile(
    r"^(?P<company>[^/]+)/(?P<dag>[0-9a-fA-F-]{36})/(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})/(?P<run>[^/]+)/"
    r"(?P<phase>extract|transform|load)/attempt=(?P<attempt>[1-9][0-9]*)/metadata\.parquet$"
)


def parse_metadata_key(key: str, artifacts_prefix: str = "") -> AttemptLocation | None:
    """Validate a full ``…/attempt=N/metadata.parquet`` key against the layout.

    ``None`` when the key is not exactly a tenant run's metadata file (never index outside one).
    """
    if not key.startswith(artifacts_prefix):
        return None
    match = _METADATA_KEY_RE.match(key[len(artifacts_prefix) :])
    if match is None or not RUN_ID_RE.match(match["run"]):
        return None
    try:
        dag_id = uuid.UUID(match["dag"])
        run_date = date.fromisoformat(match["date"])
    except ValueError:
        return None
    if str(dag_id) != match["dag"].lower():
        return None
    run = RunRef(match["company"], dag_id, run_date, match["run"])
    return AttemptLocation(artifacts_prefix, run, match["phase"], int(match["attempt"]))
