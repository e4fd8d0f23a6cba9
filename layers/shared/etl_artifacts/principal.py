"""Who is calling: the authorizer's verdict, as the functions receive it. Pydantic only (cheap)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class Principal(BaseModel):
    id_company: str
    sub: str
    expires_at: datetime
    # The token's ``scope`` claim, split on spaces (RFC 9068); empty when it has none.
    scopes: tuple[str, ...] = ()

    def as_context(self) -> dict[str, str]:
        """Authorizer context (API Gateway passes string values to the functions); ``expires_at``
        written exactly as whoami writes it (pydantic's form: ``2026-11-20T10:00:00Z``); ``scopes``
        space-separated, as in the token."""
        expires_at = self.model_dump(mode="json", include={"expires_at"})["expires_at"]
        return {
            "id_company": self.id_company,
            "sub": self.sub,
            "expires_at": expires_at,
            "scopes": " ".join(self.scopes),
        }
