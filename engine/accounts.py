"""Signing in: passwords (argon2) and personal API tokens for scripts.

A token is shown once, when created, and stored only as its SHA-256: it is 32 random
bytes, so a fast hash is enough (argon2's slowness protects guessable passwords, and
would cost every API call). The token carries its own id so a lookup needs no scan.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.db import Base, UTCDateTime, utcnow
from engine.errors import NotFound, ValidationFailed
from engine.inputs import check_text, parse_row_id
from engine.org import Actor, User, load_actor

TOKEN_PREFIX = "uf"
MAX_TOKENS_PER_USER = 20
MAX_TOKEN_NAME_LENGTH = 100
# Recording each use would write on every read; once a minute tells enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so a wrong name and a wrong password take
    the same time and cannot be told apart. Made on first use: hashing takes argon2's 64 MiB,
    which every process importing the models (CLI, workers, exports) would otherwise peak at."""
    return _hasher.hash(secrets.token_hex(16))


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(MAX_TOKEN_NAME_LENGTH))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def is_usable(self, now: datetime) -> bool:
        return self.revoked_dt is None and (self.expires_dt is None or now < self.expires_dt)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def set_password(session: Session, user: User, password: str) -> None:
    if len(password) < 8:
        raise ValidationFailed({"password": ["密码至少 8 位"]})
    user.password_hash = hash_password(password)
    session.flush()


def authenticate(session: Session, username: str, password: str) -> Actor | None:
    """The actor whose username and password these are, or None (which of the two was wrong is not said)."""
    user = session.scalar(select(User).where(User.username == username, User.is_active.is_(True)))
    stored = user.password_hash if user is not None and user.password_hash else _dummy_hash()
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.password_hash:
        return None
    if _hasher.check_needs_rehash(stored):
        user.password_hash = hash_password(password)
        session.flush()
    return load_actor(session, user.id)


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def create_api_token(
    session: Session, actor: Actor, name: str, *, expires_in_days: int | None = None, now: datetime | None = None,
) -> tuple[ApiToken, str]:
    """A new token for the actor, and its plaintext, which is never available again."""
    now = now or utcnow()
    name = (name or "").strip()
    if not name:
        raise ValidationFailed({"name": ["请为令牌命名，便于日后识别和吊销"]})
    if len(name) > MAX_TOKEN_NAME_LENGTH:
        raise ValidationFailed({"name": [f"名称不能超过 {MAX_TOKEN_NAME_LENGTH} 个字"]})
    check_text({"name": name})
    if len(list_api_tokens(session, actor, now=now)) >= MAX_TOKENS_PER_USER:
        raise ValidationFailed({"name": [f"每人最多 {MAX_TOKENS_PER_USER} 个有效令牌，请先吊销不用的令牌"]})
    secret = secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=actor.user_id, name=name, secret_hash=_secret_hash(secret), created_dt=now,
        expires_dt=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(token)
    session.flush()
    return token, f"{TOKEN_PREFIX}_{token.id}_{secret}"


def list_api_tokens(session: Session, actor: Actor, *, now: datetime | None = None) -> list[ApiToken]:
    """The actor's tokens that still work, newest first."""
    now = now or utcnow()
    tokens = session.scalars(
        select(ApiToken).where(ApiToken.user_id == actor.user_id, ApiToken.revoked_dt.is_(None))
        .order_by(ApiToken.id.desc())
    )
    return [token for token in tokens if token.is_usable(now)]


def revoke_api_token(session: Session, actor: Actor, token_id: int, *, now: datetime | None = None) -> ApiToken:
    """Revoke one of the actor's own tokens; another person's token is reported as missing."""
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != actor.user_id or token.revoked_dt is not None:
        raise NotFound("令牌不存在或已吊销")
    token.revoked_dt = now or utcnow()
    session.flush()
    return token


def actor_for_token(session: Session, presented: str, *, now: datetime | None = None) -> Actor | None:
    """The actor a presented token stands for, or None when it is malformed, unknown, revoked or expired."""
    now = now or utcnow()
    prefix, _, rest = presented.partition("_")
    token_id, _, secret = rest.partition("_")
    token_id = parse_row_id(token_id)
    if prefix != TOKEN_PREFIX or token_id is None or not secret.isascii():
        return None
    token = session.get(ApiToken, token_id)
    if token is None or not hmac.compare_digest(token.secret_hash, _secret_hash(secret)) or not token.is_usable(now):
        return None
    try:
        actor = load_actor(session, token.user_id)
    except NotFound:  # the person was deactivated: their tokens die with the account
        return None
    if token.last_used_dt is None or now - token.last_used_dt >= LAST_USED_RESOLUTION:
        token.last_used_dt = now
        session.flush()
    return actor
