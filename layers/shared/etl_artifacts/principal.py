"""Who is calling: the authorizer's verdict, as the functions receive it. Pydantic only (cheap)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class Principal(BaseModel):
    id_company: str
    sub: str
    expires_at: datetime

    def as_context(self) -> dict[str, str]:
        """Authorizer context (API Gateway passes string values to the functions)."""
        return {"id_company": self.id_company, "sub": self.sub, "expires_at": self.expires_at.isoformat()}
