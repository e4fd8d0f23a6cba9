"""Configuration from the environment (docs/operations.md), validated once and read lazily.

Nothing here runs at import time: functions call ``get_settings()`` inside a request, so tests
can change the environment and call ``get_settings.cache_clear()`` instead of reloading modules.
"""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from etl_artifacts.errors import ConfigurationError


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    artifacts_bucket: str = Field(default="", alias="ARTIFACTS_BUCKET")
    artifacts_prefix: str = Field(default="", alias="ARTIFACTS_PREFIX")
    aws_endpoint_url_s3: str | None = Field(default=None, alias="AWS_ENDPOINT_URL_S3")
    aws_region: str = Field(default="us-east-1", alias="AWS_REGION")
    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    db_secret_arn: str | None = Field(default=None, alias="DB_SECRET_ARN")
    # RDS Proxy endpoint (host or host:port): connect there with the DB secret's credentials.
    db_proxy_endpoint: str | None = Field(default=None, alias="DB_PROXY_ENDPOINT")
    db_connect_timeout_s: float = Field(default=5.0, alias="DB_CONNECT_TIMEOUT_S", gt=0)
    db_statement_timeout_ms: int = Field(default=10_000, alias="DB_STATEMENT_TIMEOUT_MS", gt=0)
    jwt_secret: str | None = Field(default=None, alias="JWT_SECRET")
    # In AWS: the Secrets Manager secret holding the HS256 key, read at run time (secret_values.py).
    jwt_secret_arn: str | None = Field(default=None, alias="JWT_SECRET_ARN")
    jwt_jwks_url: str | None = Field(default=None, alias="JWT_JWKS_URL")
    jwt_issuer: str | None = Field(default=None, alias="JWT_ISSUER")
    jwt_audience: str | None = Field(default=None, alias="JWT_AUDIENCE")
    jwt_company_claim: str = Field(default="id_company", alias="JWT_COMPANY_CLAIM")
    jwt_leeway_s: int = Field(default=30, alias="JWT_LEEWAY_S", ge=0)
    # A token whose exp is further ahead than this is refused (a leaked long-lived token).
    jwt_max_lifetime_s: int = Field(default=86_400, alias="JWT_MAX_LIFETIME_S", ge=1)
    presign_default_ttl: int = Field(default=300, alias="PRESIGN_DEFAULT_TTL", ge=1)
    presign_max_ttl: int = Field(default=3600, alias="PRESIGN_MAX_TTL", ge=1)
    ndjson_max_bytes: int = Field(default=5_000_000, alias="NDJSON_MAX_BYTES", ge=1)
    # S3 timeouts (seconds) for both boto3 and pyarrow: a slow S3 becomes a 502, never a hang.
    # Worst case per S3 call: attempts x (connect + request) plus the retry backoff, which must stay
    # inside the function's Timeout (tests/test_template.py checks it against template.yaml).
    s3_connect_timeout_s: float = Field(default=2.0, alias="S3_CONNECT_TIMEOUT_S", gt=0)
    s3_request_timeout_s: float = Field(default=5.0, alias="S3_REQUEST_TIMEOUT_S", gt=0)
    s3_max_attempts: int = Field(default=3, alias="S3_MAX_ATTEMPTS", ge=1, le=10)
    # Indexer queue: a keyword search that runs out of time queues an index build there (docs/limits.md).
    index_queue_url: str | None = Field(default=None, alias="INDEX_QUEUE_URL")
    # A build queued for an attempt is not queued again for this many seconds (docs/limits.md).
    index_queue_dedup_s: int = Field(default=300, alias="INDEX_QUEUE_DEDUP_S", ge=0)
    # Decoded bytes a read may hold, counting the copies made of them (docs/limits.md).
    decode_max_bytes: int = Field(default=512 * 1024 * 1024, alias="DECODE_MAX_BYTES", ge=1)
    # Key for HMAC-signed continuation tokens; falls back to JWT_SECRET when unset.
    cursor_secret: str | None = Field(default=None, alias="CURSOR_SECRET")
    # In AWS: the Secrets Manager secret holding that key, read at run time.
    cursor_secret_arn: str | None = Field(default=None, alias="CURSOR_SECRET_ARN")
    # In AWS: the role whose sessions sign presigned URLs (artifacts/presign_credentials.py).
    presign_role_arn: str | None = Field(default=None, alias="PRESIGN_ROLE_ARN")
    # Uploaded artifacts (docs/uploads.md).
    jwt_write_scope: str = Field(default="artifacts:write", alias="JWT_WRITE_SCOPE", min_length=1)
    upload_url_ttl: int = Field(default=900, alias="UPLOAD_URL_TTL", ge=1, le=604_800)
    upload_max_bytes: int = Field(default=5 * 1024**3, alias="UPLOAD_MAX_BYTES", ge=0, le=5 * 1024**3)
    run_max_artifacts: int = Field(default=1000, alias="RUN_MAX_ARTIFACTS", ge=1)
    artifact_default_ttl_days: int = Field(default=90, alias="ARTIFACT_DEFAULT_TTL_DAYS", ge=1)
    artifact_max_ttl_days: int = Field(default=400, alias="ARTIFACT_MAX_TTL_DAYS", ge=1)
    # Per-tenant limits (docs/limits.md): the DynamoDB table of counters and scan leases; off when unset.
    rate_limit_table: str | None = Field(default=None, alias="RATE_LIMIT_TABLE")
    rate_limit_rps: float = Field(default=100.0, alias="RATE_LIMIT_RPS", gt=0)
    rate_limit_burst: int = Field(default=200, alias="RATE_LIMIT_BURST", ge=1)
    tenant_max_scans: int = Field(default=4, alias="TENANT_MAX_SCANS", ge=1, le=100)
    # Connect and read timeout of each DynamoDB call: past it the limiter fails open.
    rate_limit_timeout_s: float = Field(default=0.5, alias="RATE_LIMIT_TIMEOUT_S", gt=0, le=10)
    # The artifact lifecycle (docs/lifecycle.md): restore window, signing key, events.
    artifact_restore_days: int = Field(default=30, alias="ARTIFACT_RESTORE_DAYS", ge=0)
    manifest_signing_key_id: str | None = Field(default=None, alias="MANIFEST_SIGNING_KEY_ID")
    # Keys that signed earlier seals (comma-separated): still published so old manifests verify.
    manifest_previous_key_ids: str | None = Field(default=None, alias="MANIFEST_PREVIOUS_KEY_IDS")
    event_bus_name: str | None = Field(default=None, alias="EVENT_BUS_NAME")
    # Share links a tenant may hold at once (not revoked, expired or used up).
    link_max_active: int = Field(default=1000, alias="LINK_MAX_ACTIVE", ge=1)

    @field_validator(
        "aws_endpoint_url_s3",
        "database_url",
        "db_secret_arn",
        "db_proxy_endpoint",
        "jwt_secret",
        "jwt_secret_arn",
        "jwt_jwks_url",
        "jwt_issuer",
        "jwt_audience",
        "cursor_secret",
        "index_queue_url",
        "cursor_secret_arn",
        "presign_role_arn",
        "rate_limit_table",
        "manifest_signing_key_id",
        "manifest_previous_key_ids",
        "event_bus_name",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        # SAM passes unset parameters as empty strings.
        return None if value == "" else value

    @field_validator("artifacts_prefix")
    @classmethod
    def _prefix_ends_with_slash(cls, value: str) -> str:
        if value and not value.endswith("/"):
            raise ValueError("ARTIFACTS_PREFIX must end with '/' when set")
        return value

    @model_validator(mode="after")
    def _ttl_bounds(self) -> Settings:
        if self.presign_default_ttl > self.presign_max_ttl:
            raise ValueError("PRESIGN_DEFAULT_TTL must not exceed PRESIGN_MAX_TTL")
        if self.artifact_default_ttl_days > self.artifact_max_ttl_days:
            raise ValueError("ARTIFACT_DEFAULT_TTL_DAYS must not exceed ARTIFACT_MAX_TTL_DAYS")
        return self

    @property
    def has_jwt_secret(self) -> bool:
        return bool(self.jwt_secret or self.jwt_secret_arn)

    def jwt_key(self) -> str:
        """The HS256 key: ``JWT_SECRET``, else the ``JWT_SECRET_ARN`` secret (cached; never logged)."""
        if self.jwt_secret:
            return self.jwt_secret
        if self.jwt_secret_arn:
            # Not a cycle (secret_values imports errors, not config): deferred so that importing
            # config stays free of Powertools and botocore until a secret ARN is read.
            from etl_artifacts.secret_values import secret_string

            return secret_string(self.jwt_secret_arn)
        raise ConfigurationError("JWT_SECRET or JWT_SECRET_ARN must be set for HS256 tokens")

    @property
    def hmac_key(self) -> bytes:
        """Key that signs continuation tokens (never logged).

        A secret only: a JWKS URL or a bucket name is public and would let anyone forge cursors.
        """
        if self.cursor_secret:
            secret = self.cursor_secret
        elif self.cursor_secret_arn:
            from etl_artifacts.secret_values import secret_string

            secret = secret_string(self.cursor_secret_arn)
        elif self.has_jwt_secret:
            secret = self.jwt_key()
        else:
            raise ConfigurationError(
                "CURSOR_SECRET (or CURSOR_SECRET_ARN, JWT_SECRET) must be set to sign continuation tokens"
            )
        return ("etl-artifacts-cursor:" + secret).encode()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings.model_validate(dict(os.environ))
    except ValidationError as exc:
        # Only the names of the bad variables, never their values (they may be secrets).
        names = ", ".join(str(err["loc"][0]) for err in exc.errors() if err.get("loc"))
        raise ConfigurationError(f"invalid configuration: {names or 'environment'}") from None


def require_bucket(settings: Settings) -> str:
    if not settings.artifacts_bucket:
        raise ConfigurationError("ARTIFACTS_BUCKET is not set")
    return settings.artifacts_bucket
