"""The exceptions services raise, in one place so callers know what to catch."""

from __future__ import annotations


class EmergencyError(Exception):
    """Base of every error a service raises on purpose."""


class PermissionDenied(EmergencyError):
    """The acting user's role may not do this."""


class NotFound(EmergencyError):
    """The thing asked for does not exist."""


class Conflict(EmergencyError):
    """Someone changed the row first; the caller should reload and decide again."""


class InvalidInput(EmergencyError):
    """Input that was refused, with where and why, so a user can fix it."""

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


class AuthenticationFailed(EmergencyError):
    """Wrong user or password, or a locked or disabled account: deliberately not saying which."""
