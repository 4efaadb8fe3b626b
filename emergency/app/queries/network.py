"""Queries on the territory: the register of important users for the staff's page."""

from __future__ import annotations

from collections.abc import Sequence

from emergency.app.context import Context
from emergency.core.unit_of_work import read_as
from emergency.network import important_users as register
from emergency.network.important_users import ImportantUser


def important_users(
    ctx: Context,
    *,
    grades: Sequence[str] = (),
    kinds: Sequence[str] = (),
    district_codes: Sequence[str] = (),
    search: str = "",
) -> tuple[ImportantUser, ...]:
    """The register, most critical grade first, filtered; staff only (it carries contacts)."""
    with read_as(ctx.db, ctx.actor, register.VIEW_ROLES) as session:
        return tuple(
            register.important_users(
                session, grades=grades, kinds=kinds, district_codes=district_codes, search=search
            )
        )
