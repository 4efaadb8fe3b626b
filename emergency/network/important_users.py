"""The register of important power users: who they are, their grade, backup power and contacts.

An important user is a customer account with a grade (special, grade 1, grade 2, temporary) or a
residential life-support customer. Managers register accounts, edit them and import a register as
CSV; every change is audited and bumps the territory revision (the network model caches
important users below each device). Contacts are staff-only: the list refuses anyone else.

A CSV import is all or nothing: every row is checked first, and if any row is bad nothing is
stored and each bad row is reported with its line and reason.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.db import Database
from emergency.core.errors import Conflict, InvalidInput, NotFound
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
class RowProblem:
    line: int  # in the file, the header being line 1
    account_no: str
    reason: str


@dataclass(frozen=True)
class ImportResult:
    stored: int  # rows written; 0 whenever there is a problem
    problems: tuple[RowProblem, ...] = field(default_factory=tuple)


def _is_important(grade: str, kind: str) -> bool:
    return grade != ImportanceGrade.NONE or kind == CustomerKind.LIFE_SUPPORT


def list_important_users(
    session: Session,
    actor: Actor,
    *,
    grades: Sequence[str] = (),
    kinds: Sequence[str] = (),
    district_codes: Sequence[str] = (),
    search: str = "",
) -> list[ImportantUser]:
    """The register, most critical grade first, filtered; staff only (it carries contacts)."""
    actor.require(*VIEW_ROLES)
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
    db: Database, clock: Clock, actor: Actor, account_no: str, data: ImportantUserInput
) -> int:
    """Put a customer account on the register. Returns the customer id."""
    actor.require(*EDIT_ROLES)
    clean = validated(data)
    if not _is_important(clean.grade, clean.kind):
        raise InvalidInput("choose a grade (or the life-support kind) to register a user", field="grade")
    with db.write() as session:
        customer = session.scalar(select(Customer).where(Customer.account_no == account_no.strip()))
        if customer is None:
            raise NotFound(f"no customer with account {account_no.strip()!r}")
        if _is_important(str(customer.importance), str(customer.kind)):
            raise Conflict(f"account {customer.account_no} is already on the register: edit it instead")
        _change(session, clock, actor, customer, clean, "important_user.register")
        bump_territory_revision(session, clock, actor.username)
        return customer.id


def update_important_user(
    db: Database,
    clock: Clock,
    actor: Actor,
    customer_id: int,
    data: ImportantUserInput,
    *,
    expected_version: int,
) -> None:
    """Change a registered user's grade, kind, backup or contacts. Grade "none" with a kind other
    than life support takes the user off the register. Refused (Conflict) if someone changed it first."""
    actor.require(*EDIT_ROLES)
    clean = validated(data)
    try:
        with db.write() as session:
            customer = session.get(Customer, customer_id)
            if customer is None:
                raise NotFound(f"no customer {customer_id}")
            if customer.version != expected_version:
                raise Conflict("someone changed this user first: reload and try again")
            _change(session, clock, actor, customer, clean, "important_user.update")
            bump_territory_revision(session, clock, actor.username)
    except StaleDataError as error:
        raise Conflict("someone changed this user first: reload and try again") from error


def _number(text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a number", field="backup_hours") from None


def import_csv(db: Database, clock: Clock, actor: Actor, content: bytes) -> ImportResult:
    """Register or update important users from a CSV with the columns of `CSV_COLUMNS` (UTF-8,
    a header row first). All or nothing: with any bad row nothing is stored."""
    actor.require(*EDIT_ROLES)
    if len(content) > MAX_CSV_BYTES:
        raise InvalidInput(f"the file is larger than {MAX_CSV_BYTES // 1000:,} KB", field="file")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the file is not UTF-8 text", field="file") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise InvalidInput(f"missing column(s): {', '.join(missing)}", field="file")
    reader.fieldnames = header
    problems: list[RowProblem] = []
    parsed: list[tuple[int, str, ImportantUserInput]] = []
    seen: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        if len(parsed) + len(problems) >= MAX_CSV_ROWS:
            raise InvalidInput(f"more than {MAX_CSV_ROWS:,} rows", field="file")
        account = (record.get("account_no") or "").strip()
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
                    grade=record.get("grade") or "",
                    kind=record.get("kind") or "",
                    backup_hours=_number(record.get("backup_hours") or ""),
                    contact_name=record.get("contact_name"),
                    contact_phone=record.get("contact_phone"),
                )
            )
            if not _is_important(clean.grade, clean.kind):
                raise InvalidInput("grade none is only for life-support customers", field="grade")
            parsed.append((line, account, clean))
        except InvalidInput as error:
            problems.append(RowProblem(line, account, str(error)))
    with db.write() as session:
        customers = {}
        accounts = [account for _, account, _ in parsed]
        for start in range(0, len(accounts), 900):
            for customer in session.scalars(
                select(Customer).where(Customer.account_no.in_(accounts[start : start + 900]))
            ):
                customers[customer.account_no] = customer
        for line, account, _ in parsed:
            if account not in customers:
                problems.append(
                    RowProblem(line, account, f"account_no: no customer with account {account!r}")
                )
        if problems:
            problems.sort(key=lambda p: p.line)
            # The transaction writes nothing: no row was changed before the check.
            return ImportResult(0, tuple(problems))
        for _, account, clean in parsed:
            customer = customers[account]
            _change(session, clock, actor, customer, clean, "important_user.import")
        if parsed:
            bump_territory_revision(session, clock, actor.username)
    return ImportResult(len(parsed), ())
