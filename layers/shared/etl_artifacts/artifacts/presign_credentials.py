"""Credentials for presigned URLs: known expiry, one tenant's objects only.

A presigned URL stops working when the credentials that signed it expire, whatever its
``X-Amz-Expires`` says. The function role's own credentials are refreshed by Lambda at times
we do not see, so a URL signed with them may die long before its ``expires_at``. With
``PRESIGN_ROLE_ARN`` set (in AWS), URLs are signed with an ``AssumeRole`` session of that role
instead: its expiry is in the answer, and its session policy allows ``s3:GetObject`` under the
caller's tenant prefix only, so even a bug cannot presign another tenant's object (defence in
depth: the role itself allows the whole artifacts prefix).

Sessions are cached per tenant (in the ``ArtifactStore``, ``signing_sessions``) and reused while
they outlive the requested lifetime by a margin; the URL's lifetime is capped at the session's
remaining life, so the reported ``expires_at`` is the true one. Without ``PRESIGN_ROLE_ARN``
(locally) the function's client signs and the requested lifetime is reported as it is. Nothing here
logs a credential or a tenant's prefix.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from etl_artifacts.clients import s3_client_with_credentials, sts_client
from etl_artifacts.s3.artifact_store import ArtifactStore

# A role session assumed with a role session (Lambda's) is "role chaining": one hour at most.
SESSION_DURATION_S = 3600
# A cached session is reused only if it outlives the URL by this much (clock skew, request time).
REUSE_MARGIN_S = 60


@dataclass(frozen=True)
class SigningIdentity:
    """An S3 client to sign with, and when its credentials expire (None: not known, local)."""

    client: Any
    expires_at: dt.datetime | None = None

    def lifetime(self, requested_s: int, now: dt.datetime | None = None) -> int:
        """``requested_s``, capped at what is left of the credentials (at least one second)."""
        if self.expires_at is None:
            return requested_s
        now = now or dt.datetime.now(dt.UTC)
        left = int((self.expires_at - now).total_seconds())
        return max(1, min(requested_s, left))


def _policy_literal(text: str) -> str:
    """``text`` as a literal inside an IAM resource ARN: ``*``, ``?`` and ``$`` are not wildcards
    or policy variables there once written as ``${*}``, ``${?}`` and ``${$}``."""
    return "".join("${" + char + "}" if char in "*?$" else char for char in text)


def tenant_session_policy(partition: str, bucket: str, tenant_prefix: str) -> str:
    """Session policy: GetObject under exactly ``tenant_prefix`` (``{ARTIFACTS_PREFIX}{id_company}/``)."""
    resource = f"arn:{partition}:s3:::{bucket}/{_policy_literal(tenant_prefix)}*"
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": resource}],
    }
    return json.dumps(document, separators=(",", ":"))


def _partition(region: str) -> str:
    import boto3

    return boto3.session.Session().get_partition_for_region(region)


def _session_name(tenant_prefix: str) -> str:
    # [\w+=,.@-]{2,64}: a digest, not the tenant id (which may hold any character).
    return "presign-" + hashlib.sha256(tenant_prefix.encode()).hexdigest()[:32]


def _assume(store: ArtifactStore, role_arn: str, bucket: str, tenant_prefix: str) -> SigningIdentity:
    settings = store.settings
    answer = sts_client().assume_role(
        RoleArn=role_arn,
        RoleSessionName=_session_name(tenant_prefix),
        Policy=tenant_session_policy(_partition(settings.aws_region), bucket, tenant_prefix),
        DurationSeconds=SESSION_DURATION_S,
    )
    credentials = answer["Credentials"]
    expiration = credentials["Expiration"]
    if expiration.tzinfo is None:
        expiration = expiration.replace(tzinfo=dt.UTC)
    client = s3_client_with_credentials(
        credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
    )
    return SigningIdentity(client=client, expires_at=expiration)


def signing_identity(
    store: ArtifactStore, bucket: str, tenant_prefix: str, expires_in: int
) -> SigningIdentity:
    """What signs URLs of objects in ``bucket`` under ``tenant_prefix`` that should live
    ``expires_in`` seconds: the store's client, or a role session kept in ``store.signing_sessions``
    (per tenant, the latest; least recently written dropped first)."""
    role_arn = store.settings.presign_role_arn
    if not role_arn:
        return SigningIdentity(client=store.s3)
    key = (role_arn, bucket, tenant_prefix)
    needed_until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=expires_in + REUSE_MARGIN_S)
    identity: SigningIdentity | None = store.signing_sessions.get(key)
    if identity is None or identity.expires_at is None or identity.expires_at < needed_until:
        identity = _assume(store, role_arn, bucket, tenant_prefix)
        store.signing_sessions.put(key, identity)
    return identity
