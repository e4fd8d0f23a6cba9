"""SealFunction: seal a run (KMS signs its manifest), read the manifest, publish the keys that
verify it. The only function allowed to sign with the key (docs/lifecycle.md)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from etl_artifacts.api.error_answers import configure
from etl_artifacts.api.openapi_text import BEARER_SECURITY, error_responses
from etl_artifacts.api.parameters import API_PREFIX, RUN_PATH, DagIdPath, RunDatePath, RunIdPath
from etl_artifacts.api.request_context import caller, run_ref
from etl_artifacts.lifecycle.models import ManifestKey, ManifestKeysResponse, RunSeal

app = APIGatewayHttpResolver(enable_validation=True)
configure(app)

TAGS = ["seal"]


@app.post(
    f"{RUN_PATH}/seal",
    summary="Seal a run (irreversible)",
    operation_id="sealRun",
    description="Lists every parquet object under the run and every active uploaded artifact into a "
    "manifest, signs its RFC 8785 canonical JSON with the KMS key (ECDSA_SHA_256) and keeps it. Sealing a "
    "sealed run answers the same seal. Afterwards the run's artifacts cannot be created, deleted or "
    "restored (409 `run_sealed`); reads, links and extend-ttl go on.",
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=error_responses((404, "`run_not_found`"), (403, "`insufficient_scope`")),
)
def seal_run(dag_id: DagIdPath, date: RunDatePath, run_id: RunIdPath) -> RunSeal:
    run = run_ref(app, dag_id, date, run_id)
    from etl_artifacts.lifecycle.seal import seal_run as seal

    return seal(run, caller(app).sub)


@app.get(
    f"{RUN_PATH}/manifest",
    summary="A sealed run's signed manifest",
    operation_id="getRunManifest",
    description="The RunSeal: verify it offline with a key of `/api/v1/manifest-keys` "
    "(`etl-artifacts verify-manifest FILE --key PEM`). 404 `run_not_sealed`.",
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=error_responses((404, "`run_not_sealed`")),
)
def get_manifest(dag_id: DagIdPath, date: RunDatePath, run_id: RunIdPath) -> RunSeal:
    run = run_ref(app, dag_id, date, run_id)
    from etl_artifacts.lifecycle.seal import get_manifest as manifest_of

    return manifest_of(run)


@app.get(
    f"{API_PREFIX}/manifest-keys",
    summary="The public keys that verify seals",
    operation_id="listManifestKeys",
    description="PEM public keys (ECDSA P-256) with their ids: the signing key first, then the keys of "
    "earlier seals. A seal's `signature.key_id` names its key.",
    tags=TAGS,
    security=BEARER_SECURITY,
    responses=error_responses(),
)
def manifest_keys() -> ManifestKeysResponse:
    from etl_artifacts.api.request_context import tenant
    from etl_artifacts.lifecycle.kms_signer import published_keys

    tenant(app)
    return ManifestKeysResponse(
        keys=[ManifestKey(key_id=k.key_id, public_key_pem=k.pem) for k in published_keys()]
    )
