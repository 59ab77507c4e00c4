"""Suppliers' staff accounts: creation, password checks, lockout after repeated failures."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from app.audit import record
from app.db.base import utcnow
from app.db.models import ROLES, Supplier, User
from app.plain_text import is_plain_text, shown

log = logging.getLogger(__name__)

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Checked against when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class AccountError(ValueError):
    """A request about an account that cannot be carried out; ``str()`` says why."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def create_user(
    session: Session,
    *,
    supplier_name: str,
    email: str,
    name: str,
    password: str,
    role: str = "viewer",
) -> User:
    """Create a user of an existing supplier. Raises :class:`AccountError` on bad input."""
    email = normalise_email(email)
    if not _EMAIL.match(email):
        raise AccountError(f"{email!r} is not an email address")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    supplier = session.scalar(select(Supplier).where(Supplier.name == supplier_name))
    if supplier is None:
        raise AccountError(f"no supplier named {supplier_name!r}")
    if session.scalar(select(func.count()).select_from(User).where(User.email == email)):
        raise AccountError(f"a user with email {email} already exists")
    user = User(
        supplier_id=supplier.id,
        email=email,
        name=name.strip() or email,
        password_hash=generate_password_hash(password),
        role=role,
    )
    session.add(user)
    session.flush()
    record(session, "user.created", supplier_id=supplier.id, entity="user", entity_id=user.id,
           new={"email": email, "role": role})
    return user


@dataclass(frozen=True)
class LoginOutcome:
    user: User | None
    locked: bool = False


def authenticate(session: Session, email: str, password: str, *, ip: str | None = None) -> LoginOutcome:
    """Check a login. Failures count towards a lockout; every outcome is audit-logged.

    The caller shows one generic message for any failure, so the outcome never tells an
    attacker whether the email exists.
    """
    now = utcnow()
    # An email no account can have (NUL, control characters: PostgreSQL would refuse the
    # query) is looked up nowhere; it fails like any unknown one.
    user = (session.scalar(select(User).where(User.email == normalise_email(email)))
            if is_plain_text(email) else None)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        record(session, "login.failed", entity="user",
               new={"email": shown(normalise_email(email))[:254]}, ip=ip)
        return LoginOutcome(None)
    if user.locked_until is not None and user.locked_until > now:
        record(session, "login.refused_locked", supplier_id=user.supplier_id, user_id=user.id, ip=ip)
        return LoginOutcome(None, locked=True)
    if not user.is_active or not check_password_hash(user.password_hash, password):
        user.failed_logins += 1
        record(session, "login.failed", supplier_id=user.supplier_id, user_id=user.id, ip=ip,
               new={"failed_logins": user.failed_logins})
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
            log.warning("account %s locked for %s after repeated failures", user.id, LOCKOUT)
            record(session, "login.locked", supplier_id=user.supplier_id, user_id=user.id, ip=ip,
                   new={"locked_until": user.locked_until.isoformat()})
        return LoginOutcome(None)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    record(session, "login.succeeded", supplier_id=user.supplier_id, user_id=user.id, ip=ip)
    return LoginOutcome(user)


@dataclass(frozen=True)
class UserSummary:
    id: int
    email: str
    name: str
    role: str
    is_active: bool
    last_login_at: datetime | None
    locked: bool


def list_users(session: Session, supplier_id: int) -> list[UserSummary]:
    """The supplier's staff, admins first."""
    now = utcnow()
    users = session.scalars(
        select(User).where(User.supplier_id == supplier_id).order_by(User.role, User.email)
    ).all()
    return [UserSummary(u.id, u.email, u.name, u.role, u.is_active, u.last_login_at,
                        u.locked_until is not None and u.locked_until > now) for u in users]


def update_user(
    session: Session, *, supplier_id: int, actor_id: int, user_id: int, role: str,
    is_active: bool, ip: str | None = None,
) -> User:
    """Change a user's role or active state (admins only; the caller checks the actor's role).

    Refuses to leave the supplier without an active admin, so nobody can lock everyone out.
    Reactivating also clears a lockout.
    """
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    user = session.scalar(select(User).where(User.id == user_id, User.supplier_id == supplier_id))
    if user is None:
        raise AccountError("no such user")
    admins_left = session.scalar(
        select(func.count()).select_from(User).where(
            User.supplier_id == supplier_id, User.role == "admin", User.is_active.is_(True),
            User.id != user_id,
        )
    )
    if not admins_left and (role != "admin" or not is_active):
        raise AccountError("at least one active admin must remain")
    old = {"role": user.role, "is_active": user.is_active}
    user.role, user.is_active = role, is_active
    if is_active:
        user.locked_until, user.failed_logins = None, 0
    record(session, "user.updated", supplier_id=supplier_id, user_id=actor_id, entity="user",
           entity_id=user.id, old=old, new={"role": role, "is_active": is_active}, ip=ip)
    return user


def set_billing_email(session: Session, *, supplier_id: int, actor_id: int, email: str | None,
                      ip: str | None = None) -> None:
    """Set (or clear) the supplier's billing contact, who is copied on cost summaries."""
    email = normalise_email(email or "") or None
    if email is not None and not _EMAIL.match(email):
        raise AccountError(f"{email!r} is not an email address")
    supplier = session.get(Supplier, supplier_id)
    if supplier is None:
        raise AccountError("no such supplier")
    record(session, "supplier.billing_email", supplier_id=supplier_id, user_id=actor_id,
           entity="supplier", entity_id=supplier_id, old={"billing_email": supplier.billing_email},
           new={"billing_email": email}, ip=ip)
    supplier.billing_email = email


def billing_email(session: Session, supplier_id: int) -> str | None:
    """The supplier's billing contact."""
    return session.scalar(select(Supplier.billing_email).where(Supplier.id == supplier_id))
