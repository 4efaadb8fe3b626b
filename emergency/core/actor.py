"""Who is acting: every service takes an `Actor` and checks its role before it does anything."""

from __future__ import annotations

from dataclasses import dataclass

from emergency.core.errors import PermissionDenied
from emergency.core.models import Role


@dataclass(frozen=True)
class Actor:
    """Who is acting: every service takes one and checks its role."""

    username: str
    role: str

    def require(self, *roles: Role | str) -> None:
        if self.role not in {str(r) for r in roles}:
            raise PermissionDenied(f"{self.username} ({self.role}) may not do this")


SYSTEM = Actor("system", "system")
CLI_ADMIN = Actor("cli", Role.ADMIN)
# Whoever uses the public pages and forms without logging in.
PUBLIC = Actor("public", "public")
