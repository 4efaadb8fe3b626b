"""The register of important power users: who they are, their grade, backup power and contacts.

An important user is a customer account with a grade (special, grade 1, grade 2, temporary) or a
residential life-support customer. Managers register accounts, edit them and import a register as
CSV; every change is audited and bumps the territory revision (the network model caches
important users below each device). Contacts are staff-only: the register query
(`emergency.app.queries.network`) refuses anyone else.

A CSV import is all or nothing: every row is checked first, and if any row is bad nothing is
stored and each bad row is reported with its line and reason.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.csv_input import CsvReader
from emergency.core.errors import Conflict, InvalidInput, NotFound, Problem
from emergency.core.models import Customer, CustomerKind, District, ImportanceGrade, Role
from emergency.core.settings import bump_territory_revision

VIEW_ROLES = (Role.DISPATCHER, Role.MANAGER, Role.ADMIN)
EDIT_ROLES = (Role.MANAGER, Role.ADMIN)
CSV_COLUMNS = ("account_no", "grade", "kind", "backup_hours", "contact_name", "contact_phone")
MAX_CSV_BYTES = 1_000_000  # about 10,000 rows: more than any utility's register
MAX_CSV_ROWS = 10_000
MAX_BACKUP_HOURS = 720.0  # a month: anything longer is a typing error
PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{3,30}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_ERRORS_SHOWN = 50
CHANGED_FIRST = "someone changed this user first: reload and try again"


@dataclass(frozen=True)
class ImportantUser:
    customer_id: int
    version: int
    account_no: str
    name: str
    grade: str  # an ImportanceGrade value
    kind: str
    backup_hours: float | None
    contact_name: str | None
    contact_phone: str | None
    district_code: str
    address: str | None


@dataclass(frozen=True)
class ImportantUserInput:
    grade: str
    kind: str
    backup_hours: float | None
    contact_name: str | None
    contact_phone: str | None


@dataclass(frozen=True)
class ImportResult:
    stored: int  # rows written; 0 whenever there is a problem
    problems: tuple[Problem, ...] = field(default_factory=tuple)  # each on a line, about an account


def _is_important(grade: str, kind: str) -> bool:
    return grade != ImportanceGrade.NONE or kind == CustomerKind.LIFE_SUPPORT


def important_users(
    session: Session,
    *,
    grades: Sequence[str] = (),
    kinds: Sequence[str] = (),
    district_codes: Sequence[str] = (),
    search: str = "",
) -> list[ImportantUser]:
    """The register, most critical grade first, filtered (staff only: it carries contacts)."""
    query = (
        select(Customer, District.code)
        .join(District, District.id == Customer.district_id)
        .where(or_(Customer.importance != ImportanceGrade.NONE, Customer.kind == CustomerKind.LIFE_SUPPORT))
    )
    if grades:
        query = query.where(Customer.importance.in_(list(grades)))
    if kinds:
        query = query.where(Customer.kind.in_(list(kinds)))
    if district_codes:
        query = query.where(District.code.in_(list(district_codes)))
    if search.strip():
        # Escaped so a user's % or _ matches itself, not any text.
        needle = (
            "%" + search.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        query = query.where(
            or_(
                func.lower(Customer.name).like(needle, escape="\\"),
                Customer.account_no.like(needle, escape="\\"),
            )
        )
    order = {g.value: i for i, g in enumerate(ImportanceGrade)}
    users = [
        ImportantUser(
            customer_id=c.id,
            version=c.version,
            account_no=c.account_no,
            name=c.name,
            grade=str(c.importance),
            kind=str(c.kind),
            backup_hours=c.backup_hours,
            contact_name=c.contact_name,
            contact_phone=c.contact_phone,
            district_code=code,
            address=c.address,
        )
        for c, code in session.execute(query)
    ]
    users.sort(key=lambda u: (order.get(u.grade, len(order)), u.account_no))
    return users


def validated(data: ImportantUserInput) -> ImportantUserInput:
    """The input cleaned, or InvalidInput naming the field."""
    grade = data.grade.strip().lower()
    if grade not in {g.value for g in ImportanceGrade}:
        raise InvalidInput(f"unknown grade {data.grade!r}", field="grade")
    kind = data.kind.strip().lower()
    if kind not in {k.value for k in CustomerKind}:
        raise InvalidInput(f"unknown kind {data.kind!r}", field="kind")
    hours = data.backup_hours
    if hours is not None and (not math.isfinite(hours) or not 0 <= hours <= MAX_BACKUP_HOURS):
        raise InvalidInput(f"must be between 0 and {MAX_BACKUP_HOURS:.0f} hours", field="backup_hours")
    name = (data.contact_name or "").strip() or None
    if name is not None and len(name) > 120:
        raise InvalidInput("must be at most 120 characters", field="contact_name")
    if name is not None and CONTROL.search(name):
        # A NUL byte is an error in PostgreSQL; the others break SMS, logs and terminals.
        raise InvalidInput("contains control characters", field="contact_name")
    phone = (data.contact_phone or "").strip() or None
    if phone is not None and not PHONE.match(phone):
        raise InvalidInput("is not a phone number", field="contact_phone")
    return ImportantUserInput(grade, kind, hours, name, phone)


def _masked(phone: str | None) -> str | None:
    """The audit keeps that a contact number changed, not the number itself (personal data)."""
    return None if phone is None else "…" + phone[-4:]


def _audited(customer: Customer) -> dict[str, object]:
    return {
        "grade": str(customer.importance),
        "kind": str(customer.kind),
        "backup_hours": customer.backup_hours,
        "contact_name": customer.contact_name,
        "contact_phone": _masked(customer.contact_phone),
    }


def _apply(customer: Customer, data: ImportantUserInput) -> None:
    customer.importance = ImportanceGrade(data.grade)
    customer.kind = CustomerKind(data.kind)
    customer.backup_hours = data.backup_hours
    customer.contact_name = data.contact_name
    customer.contact_phone = data.contact_phone


def _change(
    session: Session, clock: Clock, actor: Actor, customer: Customer, clean: ImportantUserInput, action: str
) -> None:
    """Apply validated fields to one customer and audit the change with its before and after."""
    before = _audited(customer)
    _apply(customer, clean)
    session.flush()
    audit.record(
        session, clock, actor, action, "customer", customer.id, before=before, after=_audited(customer)
    )


def register_important_user(
    session: Session, clock: Clock, actor: Actor, account_no: str, data: ImportantUserInput
) -> int:
    """Put a customer account on the register. Returns the customer id."""
    clean = validated(data)
    if not _is_important(clean.grade, clean.kind):
        raise InvalidInput("choose a grade (or the life-support kind) to register a user", field="grade")
    customer = session.scalar(select(Customer).where(Customer.account_no == account_no.strip()))
    if customer is None:
        raise NotFound(f"no customer with account {account_no.strip()!r}")
    if _is_important(str(customer.importance), str(customer.kind)):
        raise Conflict(f"account {customer.account_no} is already on the register: edit it instead")
    _change(session, clock, actor, customer, clean, "important_user.register")
    bump_territory_revision(session, clock, actor.username)
    return customer.id


def update_important_user(
    session: Session,
    clock: Clock,
    actor: Actor,
    customer_id: int,
    data: ImportantUserInput,
    *,
    expected_version: int,
) -> None:
    """Change a registered user's grade, kind, backup or contacts. Grade "none" with a kind other
    than life support takes the user off the register. Refused (Conflict) if someone changed it
    first; the caller turns a StaleDataError at the flush into the same Conflict (`CHANGED_FIRST`)."""
    clean = validated(data)
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"no customer {customer_id}")
    if customer.version != expected_version:
        raise Conflict(CHANGED_FIRST)
    _change(session, clock, actor, customer, clean, "important_user.update")
    bump_territory_revision(session, clock, actor.username)


def _number(text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a number", field="backup_hours") from None


@dataclass(frozen=True)
class RegisterRows:
    """A register CSV read and checked row by row; nothing compared with the database yet."""

    rows: tuple[tuple[int, str, ImportantUserInput], ...]  # (line, account, clean input)
    problems: tuple[Problem, ...]


def read_register_csv(content: bytes) -> RegisterRows:
    """Check a CSV with the columns of `CSV_COLUMNS` (UTF-8, a header row first), row by row.

    Raises InvalidInput when the file as a whole cannot be used (too large, not UTF-8, a missing
    column, too many rows).
    """
    if len(content) > MAX_CSV_BYTES:
        raise InvalidInput(f"the file is larger than {MAX_CSV_BYTES // 1000:,} KB", field="file")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the file is not UTF-8 text", field="file") from None
    records = iter(CsvReader(io.StringIO(text)))
    first = next(records, None)
    header = [h.strip() for h in (first.values if first is not None else [])]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise InvalidInput(f"missing column(s): {', '.join(missing)}", field="file")
    problems: list[Problem] = []
    parsed: list[tuple[int, str, ImportantUserInput]] = []
    seen: dict[str, int] = {}
    for record in records:
        if not record.values:
            continue  # an empty line
        line = record.end
        if len(parsed) + len(problems) >= MAX_CSV_ROWS:
            raise InvalidInput(f"more than {MAX_CSV_ROWS:,} rows", field="file")
        # A short row lacks its last columns; a long one's extra values have no column.
        values: dict[str, str | None] = dict.fromkeys(header)
        values.update(zip(header, record.values, strict=False))
        account = (values.get("account_no") or "").strip()
        try:
            if not account:
                raise InvalidInput("is empty", field="account_no")
            if CONTROL.search(account):
                raise InvalidInput("contains control characters", field="account_no")
            if account in seen:
                raise InvalidInput(f"repeats line {seen[account]}", field="account_no")
            seen[account] = line
            clean = validated(
                ImportantUserInput(
                    grade=values.get("grade") or "",
                    kind=values.get("kind") or "",
                    backup_hours=_number(values.get("backup_hours") or ""),
                    contact_name=values.get("contact_name"),
                    contact_phone=values.get("contact_phone"),
                )
            )
            if not _is_important(clean.grade, clean.kind):
                raise InvalidInput("grade none is only for life-support customers", field="grade")
            parsed.append((line, account, clean))
        except InvalidInput as error:
            problems.append(Problem.on_line(line, account, error.field or "", error.reason))
    return RegisterRows(tuple(parsed), tuple(problems))


def import_register(session: Session, clock: Clock, actor: Actor, read: RegisterRows) -> ImportResult:
    """Register or update the users of a checked CSV. All or nothing: with any bad row, or an
    account that is no customer, nothing is stored and every problem is returned."""
    problems = list(read.problems)
    customers = {}
    accounts = [account for _, account, _ in read.rows]
    for start in range(0, len(accounts), 900):
        for customer in session.scalars(
            select(Customer).where(Customer.account_no.in_(accounts[start : start + 900]))
        ):
            customers[customer.account_no] = customer
    for line, account, _ in read.rows:
        if account not in customers:
            problems.append(
                Problem.on_line(line, account, "account_no", f"no customer with account {account!r}")
            )
    if problems:
        problems.sort(key=lambda p: p.line or 0)
        # Nothing is written: no row was changed before the check.
        return ImportResult(0, tuple(problems))
    for _, account, clean in read.rows:
        _change(session, clock, actor, customers[account], clean, "important_user.import")
    if read.rows:
        bump_territory_revision(session, clock, actor.username)
    return ImportResult(len(read.rows), ())
