"""The exceptions services raise, in one place so callers know what to catch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.exc import OperationalError


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


# The database could not be reached, or a lock wait ran out: nothing was stored, try again. Raised by
# the database driver, not by a service; named here so entry points (the HTTP routes answer 503) need
# not know the storage library.
DatabaseUnavailable = OperationalError


class AuthenticationFailed(EmergencyError):
    """Wrong user or password, or a locked or disabled account: deliberately not saying which."""


@dataclass(frozen=True)
class Problem:
    """One refused piece of input: where it is, which field or column, and why.

    Where is one of: `file` and `line` (the line an editor shows, the header being line 1; with
    `unit` "feature", the index of a GeoJSON feature counting from 0; no line: the whole file), or
    `index`, the item's place in a request (-1: the request as a whole). `subject` names what the
    row is about where that helps the reader (an account number, a device code). `field` is the
    field, CSV column or GeoJSON property, empty when the problem is the row itself.
    """

    reason: str
    field: str = ""
    file: str | None = None
    line: int | None = None
    unit: Literal["line", "feature"] = "line"
    index: int | None = None
    subject: str = ""

    @classmethod
    def in_file(
        cls, file: str, line: int | None, field: str, reason: str, unit: Literal["line", "feature"] = "line"
    ) -> Problem:
        return cls(reason, field, file, line, unit)

    @classmethod
    def in_item(cls, index: int, field: str, reason: str) -> Problem:
        return cls(reason, field, index=index)

    @classmethod
    def on_line(cls, line: int, subject: str, field: str, reason: str) -> Problem:
        """A problem with one line of an uploaded file, about `subject` (the file has no name here)."""
        return cls(reason, field, line=line, subject=subject)

    @classmethod
    def at_device(cls, device_code: str, reason: str) -> Problem:
        return cls(reason, subject=device_code)

    @property
    def message(self) -> str:
        """The field and the reason, as `InvalidInput` words them."""
        return f"{self.field}: {self.reason}" if self.field else self.reason

    def __str__(self) -> str:
        if self.file is None:
            return self.message
        where = self.file
        if self.line is not None:
            where += f":{self.line}" if self.unit == "line" else f": feature {self.line}"
        return f"{where}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        """The problem in an answer or a `--json` report: its item index or line, field, reason."""
        where: dict[str, Any] = {"index": self.index} if self.index is not None else {"line": self.line}
        return {**where, "field": self.field, "reason": self.reason}
