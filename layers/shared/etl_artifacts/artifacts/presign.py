"""Presigned GET URLs for many keys of one bucket, signed by botocore's own SigV4 signer.

``client.generate_presigned_url`` runs the client's whole request pipeline for every call:
parameter events, the endpoint ruleset, serialization, the choice of signer, then the signature.
For GETs of one bucket everything but the object path (and our per-key
``response-content-disposition``) comes out the same, so the pipeline runs once per client and
bucket (kept in the ``ArtifactStore``'s ``presign_templates`` while warm), for a sentinel key: a
``before-sign`` hook captures the request botocore is about to sign (its URL, signing context and
signature version). Every key then reuses that URL with its own path, quoted as botocore's
serializer quotes S3 keys, and is signed by the auth instance botocore's ``RequestSigner`` hands out
for exactly those settings. No SigV4 is written here; a test checks that the URLs equal
``generate_presigned_url``'s byte for byte at a frozen clock.

Whenever the captured request is not the plain shape this relies on (extra headers, per-request
credentials such as S3 Express sessions), every key goes through ``generate_presigned_url``.
Nothing here logs a URL.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from etl_artifacts.artifacts.presign_credentials import signing_identity
from etl_artifacts.s3.artifact_store import ArtifactStore
from etl_artifacts.s3.layout import ArtifactRef, RunRef

_CONTENT_DISPOSITION_PARAM = "response-content-disposition"
_AMZ_DATE_RE = re.compile(r"[?&]X-Amz-Date=([0-9]{8}T[0-9]{6}Z)")
_UNSAFE_FILENAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_RUN_ID_IN_FILENAME = 120


@dataclass(frozen=True)
class SignedUrl:
    url: str
    signed_at: dt.datetime  # the X-Amz-Date the signature covers
    expires_in: int

    @property
    def expires_at(self) -> dt.datetime:
        return self.signed_at + dt.timedelta(seconds=self.expires_in)


def _filename_part(value: str) -> str:
    return _UNSAFE_FILENAME_CHARS.sub("-", value).strip("-.") or "x"


def download_filename(run: RunRef, ref: ArtifactRef) -> str:
    """A readable, header-safe download name: dag, date, run, kind, attempt, chunk.

    e.g. ``<dag>_2026-11-20_manual__2026-11-20T10-00-00-00-00_extract-data_attempt1_000.parquet``.
    Only ``[A-Za-z0-9._-]`` survive, so the name needs no quoting inside the header value.
    """
    stem = ref.key.rsplit("/", 1)[-1].removesuffix(".parquet")
    if ref.artifact_kind is not None:
        label = ref.artifact_kind
    else:  # e.g. index_trigrams.parquet: name it after its phase and file
        label = "-".join(part for part in (ref.phase, stem) if part)
    parts = [str(run.dag_id), run.run_date.isoformat(), run.run_id[:_MAX_RUN_ID_IN_FILENAME], label]
    if ref.attempt is not None:
        parts.append(f"attempt{ref.attempt}")
    if ref.chunk is not None:
        parts.append(f"{ref.chunk:03d}")
    return "_".join(_filename_part(part) for part in parts) + ".parquet"


def content_disposition(filename: str) -> str:
    return f'attachment; filename="{filename}"'


@lru_cache(maxsize=4)  # a memo of a pure function, not state: any process may share it
def _parse_amz_date(value: str) -> dt.datetime:
    # Cached: a batch signs within a few distinct seconds, and strptime is a tenth of a signature.
    return dt.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)


def signed_url(url: str, expires_in: int) -> SignedUrl:
    """A presigned URL with the signing time its signature covers."""
    return SignedUrl(url=url, signed_at=_signed_at(url), expires_in=expires_in)


def _signed_at(url: str) -> dt.datetime:
    match = _AMZ_DATE_RE.search(url)
    if match is None:  # not a SigV4 query signature: fall back to the local clock
        return dt.datetime.now(dt.UTC).replace(microsecond=0)
    return _parse_amz_date(match.group(1))


@dataclass(frozen=True)
class _RequestTemplate:
    """What botocore's pipeline decided for a GET of any key of one bucket, with one client."""

    prefix: str  # URL up to the quoted key
    suffix: str  # URL after it (empty for GetObject)
    signer: Any  # the client's botocore RequestSigner
    signing_name: str
    region_name: str
    signature_version: str


def _capture_template(client: Any, bucket: str) -> _RequestTemplate | None:
    """Run ``generate_presigned_url`` once for a sentinel key and keep the request it signs.

    ``None`` when that request is not the plain SigV4 query shape this module relies on.
    """
    sentinel = f"etl-artifacts-presign-{uuid.uuid4().hex}"  # quotes to itself
    captured: dict[str, Any] = {}

    def capture(
        request: Any,
        signing_name: str,
        region_name: str,
        signature_version: Any,
        request_signer: Any,
        **_: Any,
    ) -> None:
        if sentinel in request.url and not captured:
            captured.update(
                url=request.url,
                headers=dict(request.headers),
                signing_name=signing_name,
                region_name=region_name,
                signature_version=signature_version,
                signer=request_signer,
                signing=dict(request.context.get("signing") or {}),
            )

    events = client.meta.events
    event_name = "before-sign.s3.GetObject"
    unique_id = f"etl-artifacts-presign-{sentinel}"
    events.register(event_name, capture, unique_id=unique_id)
    try:
        client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": sentinel}, ExpiresIn=60)
    finally:
        events.unregister(event_name, unique_id=unique_id)

    url: str = captured.get("url", "")
    signing: dict[str, Any] = captured.get("signing", {})
    if (
        url.count(sentinel) != 1
        or captured.get("headers")
        or not isinstance(captured.get("signature_version"), str)
        or signing.get("request_credentials") is not None
        or signing.get("identity_cache") is not None
    ):
        return None
    prefix, suffix = url.split(sentinel)
    # The region and signing name RequestSigner.sign() would use for this request.
    return _RequestTemplate(
        prefix=prefix,
        suffix=suffix,
        signer=captured["signer"],
        signing_name=signing.get("signing_name") or captured["signing_name"],
        region_name=signing.get("region") or captured["region_name"],
        signature_version=captured["signature_version"],
    )


def _template(store: ArtifactStore | None, client: Any, bucket: str) -> _RequestTemplate | None:
    """The template of ``client`` and ``bucket``: captured once per warm store (per client, weakly: a
    role session's client goes with it); registering hooks on a client other threads use is kept
    to that once, under the store's lock. Without a store (one-off presigners), captured anew."""
    if store is None:
        return _capture_template(client, bucket)
    with store.presign_lock:
        per_client = store.presign_templates.setdefault(client, {})
        if bucket not in per_client:
            per_client[bucket] = _capture_template(client, bucket)
        template: _RequestTemplate | None = per_client[bucket]
        return template


def tenant_presigner(store: ArtifactStore, tenant_prefix: str, expires_in: int) -> GetObjectPresigner:
    """The presigner for one request's objects under ``tenant_prefix`` in the store's bucket: signed
    with credentials scoped to that prefix when a presign role is configured, and valid for
    ``expires_in`` seconds or until those credentials expire, whichever is first (see
    presign_credentials.py)."""
    bucket = store.bucket
    identity = signing_identity(store, bucket, tenant_prefix, expires_in)
    return GetObjectPresigner(identity.client, bucket, identity.lifetime(expires_in), store=store)


class GetObjectPresigner:
    """Presigns ``GetObject`` URLs of one bucket, all valid for ``expires_in`` seconds.

    Credentials are frozen when the presigner is made (one per request): a refreshed role
    session is picked up by the next request.
    """

    def __init__(
        self, client: Any, bucket: str, expires_in: int, *, store: ArtifactStore | None = None
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._store = store
        self.expires_in = expires_in
        self._template: _RequestTemplate | None = None
        self._auth: Any = None
        self._prepare()

    @property
    def fast(self) -> bool:
        """True when keys are signed from the prepared request (False: the per-key fallback)."""
        return self._auth is not None

    def _prepare(self) -> None:
        template = _template(self._store, self._client, self._bucket)
        if template is None:
            return  # presign key by key
        # The auth instance RequestSigner.sign() would pick, with its current credentials.
        self._auth = template.signer.get_auth_instance(
            signing_name=template.signing_name,
            region_name=template.region_name,
            signature_version=template.signature_version,
            expires=self.expires_in,
        )
        self._template = template

    def presign(self, key: str, filename: str) -> SignedUrl:
        """A GET URL for ``key`` (full S3 key) that downloads as ``filename``."""
        disposition = content_disposition(filename)
        if self._auth is None or self._template is None:
            url = self._client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self._bucket, "Key": key, "ResponseContentDisposition": disposition},
                ExpiresIn=self.expires_in,
            )
        else:
            from botocore.awsrequest import AWSRequest
            from botocore.utils import percent_encode

            template = self._template
            # Greedy ``{Key+}`` label: botocore's rest-xml serializer quotes it exactly so.
            request = AWSRequest(
                method="GET",
                url=f"{template.prefix}{percent_encode(key, safe='/~')}{template.suffix}",
                params={_CONTENT_DISPOSITION_PARAM: disposition},
            )
            self._auth.add_auth(request)
            url = request.url
        return SignedUrl(url=url, signed_at=_signed_at(url), expires_in=self.expires_in)
