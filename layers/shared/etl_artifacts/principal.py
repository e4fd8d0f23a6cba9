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
        """Authorizer context (API Gateway passes string values to the functions): ``scopes`` is
        space-separated, as in the token."""
        return {
            "id_company": self.id_company,
            "sub": self.sub,
            "expires_at": self.expires_at.isoformat(),
            "scopes": " ".join(self.scopes),
        }
