"""The lifecycle's AWS services for the local stack, on moto's server (it serves every service on
one endpoint): an asymmetric KMS key that signs seals and an EventBridge bus for the events."""

from __future__ import annotations

import os

DEV_EVENT_BUS = "etl-artifacts-dev"
# moto's KMS does not implement MessageType=DIGEST (etl_artifacts.lifecycle.kms_signer): locally
# every manifest is sent as it is.
LOCAL_RAW_MAX_BYTES = str(64 * 1024 * 1024)


def configure_lifecycle_services(endpoint: str) -> dict[str, str]:
    """Create the signing key and the bus on ``endpoint`` and point the process at them; the
    variables set. ``MANIFEST_SIGNING_KEY_ID`` and ``EVENT_BUS_NAME`` already set are kept."""
    import boto3
    from etl_artifacts.clients import reset_clients
    from etl_artifacts.config import get_settings

    session = boto3.session.Session()
    kms = session.client("kms", endpoint_url=endpoint, region_name="us-east-1")
    events = session.client("events", endpoint_url=endpoint, region_name="us-east-1")

    variables = {
        "AWS_ENDPOINT_URL_KMS": endpoint,
        "AWS_ENDPOINT_URL_EVENTBRIDGE": endpoint,
        "MANIFEST_SIGN_RAW_MAX_BYTES": LOCAL_RAW_MAX_BYTES,
    }
    if not os.environ.get("MANIFEST_SIGNING_KEY_ID"):
        key = kms.create_key(
            KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY", Description="etl-artifacts dev: signs seals"
        )
        variables["MANIFEST_SIGNING_KEY_ID"] = key["KeyMetadata"]["KeyId"]
    if not os.environ.get("EVENT_BUS_NAME"):
        events.create_event_bus(Name=DEV_EVENT_BUS)
        variables["EVENT_BUS_NAME"] = DEV_EVENT_BUS
    os.environ.update(variables)
    get_settings.cache_clear()
    reset_clients()
    return variables
