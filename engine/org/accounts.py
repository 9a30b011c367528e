"""Signing in: passwords (argon2), browser sessions, and personal API tokens for scripts.

A password must be hard to guess (zxcvbn: not a common password, not the username or
name, not a keyboard walk or a repeat), checked in ``set_password``, the one place every
password is set through.

Browser sessions are signed cookies, not stored rows: each carries the person's session
generation from when it began, and ``end_sessions`` moves the generation on, which ends
every session begun before (signing out, a password set or reset, deactivation).

A token is shown once, when created, and stored only as its SHA-256: it is 32 random
bytes, so a fast hash is enough (argon2's slowness protects guessable passwords, and
would cost every API call). The token carries its own id so a lookup needs no scan.
A new password revokes the person's tokens too: a reset answers a lost or taken-over
account, and a token made by whoever held it must not outlive it (admins have no other way
to revoke someone's tokens).
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

from engine.base.db import Base, UTCDateTime, utcnow
from engine.base.errors import NotFound, ValidationFailed
from engine.base.inputs import check_text, parse_row_id
from engine.org.units import Actor, User, load_actor

TOKEN_PREFIX = "uf"
MAX_TOKENS_PER_USER = 20
MAX_TOKEN_NAME_LENGTH = 100
# Recording each use would write on every read; once a minute tells enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
# zxcvbn's scale: 3 is "safely unguessable" (about 10^8 guesses and more); 2 and below fall
# to a list of common passwords, a name with a year, or a keyboard walk.
MIN_PASSWORD_SCORE = 3
# zxcvbn refuses longer input (its matching is quadratic); the first 72 characters being
# hard to guess is enough for the whole to be.
ZXCVBN_MAX_LENGTH = 72

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


def password_problem(password: str, *, personal: tuple[str | None, ...] = ()) -> str | None:
    """Why a password may not be used (a Chinese sentence), or None when it may.

    ``personal``: the person's username, name and email, which a password must not be built on.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"密码至少 {MIN_PASSWORD_LENGTH} 位"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"密码不能超过 {MAX_PASSWORD_LENGTH} 个字符"
    personal_words = [word.strip() for word in personal if word and word.strip()]
    lowered = password.lower()
    if any(len(word) >= 3 and word.lower() in lowered for word in personal_words):
        return "密码不能包含用户名、姓名或邮箱"
    # Imported when a password is set, not with the models: its word lists hold 12 MiB that every
    # worker, export and CLI process would otherwise carry without setting a single password.
    from zxcvbn import zxcvbn

    result = zxcvbn(password[:ZXCVBN_MAX_LENGTH], user_inputs=personal_words, max_length=ZXCVBN_MAX_LENGTH)
    if result["score"] >= MIN_PASSWORD_SCORE:
        return None
    return "密码太容易被猜到" + _weakness(result["feedback"]["warning"]) + \
        "。请换一个更长、不常见的密码，例如几个不相关的词加上数字"


def _weakness(warning: str) -> str:
    """zxcvbn's reason, in the words the person reads (its own are English)."""
    warning = warning.lower()
    for marker, reason in (
        ("common", "：这是常用密码"), ("repeat", "：重复的字符或词很容易猜到"),
        ("sequence", "：顺序的字符（如 abc、123）很容易猜到"), ("keyboard", "：键盘上相邻的键很容易猜到"),
        ("straight rows", "：键盘上相邻的键很容易猜到"), ("date", "：日期和年份很容易猜到"),
        ("year", "：日期和年份很容易猜到"), ("name", "：姓名很容易猜到"),
    ):
        if marker in warning:
            return reason
    return ""


def set_password(session: Session, user: User, password: str) -> None:
    """Give the person a new password: it must be hard to guess. Setting it ends every browser
    session of theirs and revokes their API tokens (a reset answers a lost or taken-over account)."""
    problem = password_problem(password, personal=(user.username, user.display_name, user.email))
    if problem:
        raise ValidationFailed({"password": [problem]})
    user.password_hash = hash_password(password)
    session.flush()
    end_sessions(session, user)
    revoke_all_api_tokens(session, user.id)


def end_sessions(session: Session, user: User) -> None:
    """End every browser session of the person, on every device: the cookies are signed, not
    stored, so each carries the generation it began in and this moves the generation on.

    An UPDATE of the column, not a read-modify-write: two sign-outs at once both count.
    """
    user.session_generation = User.session_generation + 1
    session.flush()


def sign_out_everywhere(session: Session, actor: Actor) -> None:
    """Signing out: a session copied from this browser (or left open on another) ends too."""
    user = session.get(User, actor.user_id)
    if user is not None:
        end_sessions(session, user)


def session_generation(session: Session, user_id: int) -> int:
    """The generation a session beginning now carries. The person's row was read by signing in
    (the identity map answers); a generation just moved on is read again, being expired."""
    return session.get(User, user_id).session_generation


def actor_for_session(session: Session, user_id: int, generation: int | None) -> Actor | None:
    """The person a browser session stands for, or None when the account is gone or deactivated,
    or the session was ended since it began (its generation is an old one)."""
    if not isinstance(generation, int):
        return None
    try:
        actor = load_actor(session, user_id)
    except NotFound:  # deactivated since signing in
        return None
    # load_actor read the row: this is the identity map, not another query.
    if session.get(User, user_id).session_generation != generation:
        return None
    return actor


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


def revoke_all_api_tokens(session: Session, user_id: int, *, now: datetime | None = None) -> None:
    """Revoke every token of the person (their password was reset)."""
    now = now or utcnow()
    for token in session.scalars(select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_dt.is_(None))):
        token.revoked_dt = now
    session.flush()


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
