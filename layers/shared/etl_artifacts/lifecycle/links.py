"""Share links: a public URL that redirects to a 60-second presigned GET of one artifact.

The token is 256 random bits (``secrets.token_urlsafe(32)``), shown once; only its SHA-256 is
stored. A use is counted by one ``UPDATE ... RETURNING`` that also checks every condition (not
revoked, not expired, uses left, artifact active and not expired): two uses of a one-download link
at once give exactly one redirect, since the second waits for the first's row lock and re-checks.
Every refusal is the same 404 ``link_not_found``. A tenant holds at most ``LINK_MAX_ACTIVE`` live
links (counted under a per-tenant lock, so concurrent creates cannot pass it).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from etl_artifacts.config import get_settings
from etl_artifacts.errors import ArtifactNotFound, LinkLimit, LinkNotFound, UploadIncomplete
from etl_artifacts.lifecycle import outbox
from etl_artifacts.lifecycle.artifact_states import raise_if_gone
from etl_artifacts.lifecycle.models import (
    CreatedLink,
    CreateLinkRequest,
    LinkRecord,
    LinkRedirect,
    LinksResponse,
)
from etl_artifacts.postgres.db import get_database
from etl_artifacts.postgres.migrations import UPLOADS_TABLE
from etl_artifacts.uploads.dal import UploadRecords, select_artifact
from etl_artifacts.uploads.ids import is_artifact_id, new_artifact_id

LINK_ID_PREFIX = "lnk_"
# token_urlsafe(32): 43 characters of the URL-safe base64 alphabet.
TOKEN_RE = re.compile(r"\A[A-Za-z0-9_-]{43}\Z")
LINK_ID_RE = re.compile(r"\Alnk_[0-7][0-9A-HJKMNP-TV-Z]{25}\Z")
REDIRECT_TTL_S = 60
_TENANT_LOCK_SEED = 0x6C696E6B  # keeps these advisory lock keys apart from others


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii")).digest()


def _new_link_id() -> str:
    return LINK_ID_PREFIX + new_artifact_id()[len("art_") :]


def _status(row: dict[str, Any], now: datetime) -> str:
    if row["revoked_at"] is not None:
        return "revoked"
    if row["expires_at"] <= now:
        return "expired"
    if row["max_downloads"] is not None and row["downloads"] >= row["max_downloads"]:
        return "exhausted"
    return "active"


def create_link(
    id_company: str, sub: str, artifact_id: str, request: CreateLinkRequest, api_root: str
) -> CreatedLink:
    """A new link to an active artifact (201); the URL holds the token, which is not kept."""
    if not is_artifact_id(artifact_id):
        raise ArtifactNotFound()
    db = get_database()
    now = datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    link_id = _new_link_id()
    expires_at = now + timedelta(seconds=request.expires_in)
    with db.transaction():
        # FOR SHARE: a delete (FOR UPDATE) waits for this link, then revokes it with the others.
        stored = select_artifact(db.run, id_company, "artifact_id", artifact_id, "FOR SHARE")
        if stored is None:
            raise ArtifactNotFound()
        raise_if_gone(stored, now)
        if stored.record.status != "active":
            raise UploadIncomplete()
        db.run(
            "SELECT pg_advisory_xact_lock(hashtextextended(CAST(:company AS text), :seed))",
            company=id_company,
            seed=_TENANT_LOCK_SEED,
        )
        live, _ = db.run(
            """SELECT count(*) FROM etl.artifact_links
               WHERE id_company = :company AND revoked_at IS NULL AND expires_at > :now
                 AND (max_downloads IS NULL OR downloads < max_downloads)""",
            company=id_company,
            now=now,
        )
        if int(live[0][0]) >= get_settings().link_max_active:
            raise LinkLimit()
        db.run(
            """INSERT INTO etl.artifact_links
                 (link_id, id_company, artifact_id, token_sha256, expires_at, max_downloads,
                  created_at, created_by)
               VALUES (:link_id, :company, :artifact_id, :token_sha256, :expires_at, :max_downloads,
                       :now, :sub)""",
            link_id=link_id,
            company=id_company,
            artifact_id=artifact_id,
            token_sha256=token_hash(token),
            expires_at=expires_at,
            max_downloads=request.max_downloads,
            now=now,
            sub=sub,
        )
        event = outbox.record_event(
            db, id_company, "link.created", {"link_id": link_id, "artifact_id": artifact_id}
        )
    outbox.publish_soon([event])
    return CreatedLink(
        link_id=link_id,
        url=f"{api_root}/links/{token}",
        expires_at=expires_at,
        max_downloads=request.max_downloads,
        downloads=0,
    )


def list_links(id_company: str, artifact_id: str) -> LinksResponse:
    """The artifact's links, newest first, without tokens (404 for an artifact the tenant lacks)."""
    if not is_artifact_id(artifact_id) or UploadRecords().get(id_company, artifact_id) is None:
        raise ArtifactNotFound()
    rows, columns = get_database().read(
        """SELECT link_id, artifact_id, expires_at, max_downloads, downloads, created_at, created_by,
                  revoked_at
           FROM etl.artifact_links WHERE id_company = :company AND artifact_id = :artifact_id
           ORDER BY created_at DESC, link_id DESC""",
        company=id_company,
        artifact_id=artifact_id,
    )
    now = datetime.now(UTC)
    items = []
    for row in rows:
        values = dict(zip(columns, row, strict=True))
        items.append(LinkRecord(**values, status=_status(values, now)))
    return LinksResponse(items=items)


def revoke_link(id_company: str, link_id: str) -> None:
    """Stop a link at once (idempotent); another tenant's or an unknown id is 404 ``link_not_found``."""
    if not LINK_ID_RE.match(link_id):
        raise LinkNotFound()
    rows, _ = get_database().read(
        """UPDATE etl.artifact_links SET revoked_at = coalesce(revoked_at, now())
           WHERE id_company = :company AND link_id = :link_id RETURNING 1""",
        company=id_company,
        link_id=link_id,
    )
    if not rows:
        raise LinkNotFound()


def use_link(token: str) -> tuple[str, str, str]:
    """Count one use of the link; its artifact's (tenant, S3 key, name), or 404 ``link_not_found``."""
    if not TOKEN_RE.match(token):
        raise LinkNotFound()
    rows, _ = get_database().read(
        f"""UPDATE etl.artifact_links AS l SET downloads = l.downloads + 1
            FROM {UPLOADS_TABLE} AS a
            WHERE l.token_sha256 = :token_sha256 AND l.revoked_at IS NULL AND l.expires_at > now()
              AND (l.max_downloads IS NULL OR l.downloads < l.max_downloads)
              AND a.id_company = l.id_company AND a.artifact_id = l.artifact_id
              AND a.status = 'active' AND (a.expires_at IS NULL OR a.expires_at > now())
            RETURNING a.id_company, a.s3_key, a.name""",  # noqa: S608 - constants only
        token_sha256=token_hash(token),
    )
    if not rows:
        raise LinkNotFound()
    company, key, name = rows[0]
    return str(company), str(key), str(name)


def follow_link(token: str) -> LinkRedirect:
    """One use of the link counted, and a presigned GET of its artifact valid ``REDIRECT_TTL_S``."""
    from etl_artifacts.artifacts.presign import tenant_presigner
    from etl_artifacts.s3.artifact_store import artifact_store

    company, key, name = use_link(token)
    store = artifact_store()
    presigner = tenant_presigner(store, f"{store.prefix}{company}/", REDIRECT_TTL_S)
    signed = presigner.presign(key, name)
    return LinkRedirect(url=signed.url, expires_at=signed.expires_at.isoformat())
