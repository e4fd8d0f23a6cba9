"""Client of the ETL Run Artifacts API: ``Client`` (the SDK) and the ``etl-artifacts`` commands."""

from etl_artifacts_client._version import __version__
from etl_artifacts_client.client import Client, read_seal, run_id_of
from etl_artifacts_client.download import DownloadReport, Outcome
from etl_artifacts_client.errors import (
    ApiError,
    ClientError,
    ConnectionFailed,
    ListingError,
    MissingExtra,
    UnexpectedResponse,
    UnsafeKey,
    VerificationError,
)
from etl_artifacts_client.models import Artifact, ArtifactRecord, Link, PhaseSummary, Run, RunSeal, WhoAmI

__all__ = [
    "ApiError",
    "Artifact",
    "ArtifactRecord",
    "Client",
    "ClientError",
    "ConnectionFailed",
    "DownloadReport",
    "Link",
    "ListingError",
    "MissingExtra",
    "Outcome",
    "PhaseSummary",
    "Run",
    "RunSeal",
    "UnexpectedResponse",
    "UnsafeKey",
    "VerificationError",
    "WhoAmI",
    "__version__",
    "read_seal",
    "run_id_of",
]
