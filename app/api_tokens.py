"""Bearer tokens of the REST API: created and revoked by a supplier's admins, stored hashed.

A token is ``twin_`` followed by 43 URL-safe characters (256 random bits). It is shown once, when
it is created; the database keeps only its SHA-256 and its first characters (to tell tokens
apart in the portal). A token of ``read`` scope may read; ``write`` may read and write; ``admin``
may also change the catalogue (sites, assets, sensors). Every token belongs to one supplier and
sees only that supplier's estate.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.audit import record
from app.db.base import utcnow
from app.db.models import ApiToken, User

TOKEN_PREFIX = "twin_"
#: read < write < admin: each allows what the ones before it do; admin also changes the
#: catalogue (sites, assets, sensors).
SCOPES = ("read", "write", "admin")
SHOWN_CHARS = 12  # "twin_" and 7 more: enough to tell tokens apart, far too few to guess one
MAX_NAME = 100
# last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenError(ValueError):
    """A token request that cannot be carried out; ``str()`` says why."""


@dataclass(frozen=True)
class TokenIdentity:
    """Who a presented token speaks for."""

    id: int
    supplier_id: int
    name: str
    scope: str
    last_used_at: datetime | None

    def allows(self, scope: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(scope)


@dataclass(frozen=True)
class TokenSummary:
    id: int
    name: str
    scope: str
    prefix: str
    created_by: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(session: Session, *, supplier_id: int, actor_id: int | None, name: str,
                 scope: str, ip: str | None = None) -> tuple[TokenSummary, str]:
    """A new token for the supplier: its summary and the plain token, which is never stored."""
    name = " ".join((name or "").split())
    if not name:
        raise TokenError("Give the token a name that says which device or system uses it.")
    if len(name) > MAX_NAME:
        raise TokenError(f"A token name has at most {MAX_NAME} characters.")
    if scope not in SCOPES:
        raise TokenError(f"The scope must be one of {', '.join(SCOPES)}.")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(supplier_id=supplier_id, name=name, scope=scope, token_hash=digest(plain),
                   prefix=plain[:SHOWN_CHARS], created_by_id=actor_id)
    session.add(row)
    session.flush()
    record(session, "api_token.created", supplier_id=supplier_id, user_id=actor_id,
           entity="api_token", entity_id=row.id, new={"name": name, "scope": scope}, ip=ip)
    return _summary(row, None), plain


def revoke_token(session: Session, *, supplier_id: int, actor_id: int | None, token_id: int,
                 ip: str | None = None) -> bool:
    """Revoke one of the supplier's tokens at once. False if it was already revoked; a token of
    another supplier is :class:`TokenError`, worded as if it did not exist."""
    row = session.scalar(select(ApiToken).where(ApiToken.id == token_id,
                                                ApiToken.supplier_id == supplier_id))
    if row is None:
        raise TokenError("No such token.")
    if row.revoked_at is not None:
        return False
    row.revoked_at, row.revoked_by_id = utcnow(), actor_id
    record(session, "api_token.revoked", supplier_id=supplier_id, user_id=actor_id,
           entity="api_token", entity_id=row.id, old={"name": row.name, "scope": row.scope}, ip=ip)
    return True


def list_tokens(session: Session, supplier_id: int) -> list[TokenSummary]:
    rows = session.execute(
        select(ApiToken, User.email)
        .outerjoin(User, User.id == ApiToken.created_by_id)
        .where(ApiToken.supplier_id == supplier_id)
        .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id.desc())
    ).all()
    return [_summary(row, email) for row, email in rows]


def _summary(row: ApiToken, created_by: str | None) -> TokenSummary:
    return TokenSummary(row.id, row.name, row.scope, row.prefix, created_by, row.created_at,
                        row.last_used_at, row.revoked_at)


def identify(session: Session, presented: str | None) -> TokenIdentity | None:
    """The live token ``presented`` is, or None (unknown, malformed or revoked)."""
    if not presented or not presented.startswith(TOKEN_PREFIX) or len(presented) > 200:
        return None
    row = session.execute(
        select(ApiToken.id, ApiToken.supplier_id, ApiToken.name, ApiToken.scope,
               ApiToken.last_used_at)
        .where(ApiToken.token_hash == digest(presented), ApiToken.revoked_at.is_(None))
    ).first()
    return None if row is None else TokenIdentity(*row)


def touch(session: Session, identity: TokenIdentity, now: datetime | None = None) -> None:
    """Record that the token was used (at most once a minute, so reads stay reads)."""
    now = now or utcnow()
    if identity.last_used_at is not None and now - identity.last_used_at < LAST_USED_RESOLUTION:
        return
    session.execute(update(ApiToken).where(ApiToken.id == identity.id).values(last_used_at=now))
    session.commit()
