"""The deployment's Ed25519 signing key, which signs the manifest of every JSONL audit export.

The private key lives in a file outside the database (``UNIONFLOW_SIGNING_KEY_FILE``, mode
0600), so that someone able to rewrite the tables cannot also sign a forged export. The public
keys are published: stored in ``signing_keys`` (never deleted, so exports signed before a key
was replaced still verify), shown on the about page and served by the API.
"""
from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.audit.system_log import append_system_event
from engine.base.db import Base, UTCDateTime
from engine.base.errors import Conflict, UnionflowError, ValidationFailed
from engine.org.units import Actor


class SigningKey(Base):
    """A published public key. ``retired_dt`` is set when a newer key replaced it."""

    __tablename__ = "signing_keys"

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    public_key: Mapped[str] = mapped_column(String(64))  # base64 of the 32 raw bytes
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime)
    retired_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SigningKeyMissing(UnionflowError):
    """No usable private key file: an admin must create one first."""


def key_id_of(raw_public: bytes) -> str:
    """The first 16 hex digits of the SHA-256 of the 32 raw public-key bytes."""
    return hashlib.sha256(raw_public).hexdigest()[:16]


def raw_public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class Signer:
    """The loaded private key, with the id of its public half."""

    private_key: Ed25519PrivateKey
    key_id: str

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.private_key.sign(message)).decode("ascii")


def load_signer(path: Path) -> Signer:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise SigningKeyMissing(
            f"没有审计导出签名密钥（{path}）：请管理员运行 `unionflow audit create-key`") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError:
        raise SigningKeyMissing(f"签名密钥文件 {path} 无法读取（不是 PEM 格式的私钥）") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyMissing(f"签名密钥文件 {path} 不是 Ed25519 私钥")
    return Signer(key, key_id_of(raw_public_bytes(key.public_key())))


def create_signing_key(session: Session, actor: Actor | None, path: Path, *, now: datetime,
                       replace: bool = False) -> SigningKey:
    """Make a new key pair: the private key into ``path`` (0600), the public key published.

    An existing key file is kept unless ``replace``; the key it held is then retired but
    stays published. The creation is an event of the system log.
    """
    path = Path(path)
    if path.exists() and not replace:
        raise Conflict(f"签名密钥文件 {path} 已存在；如需更换密钥，请加 --replace（旧公钥仍会公布，旧导出仍可验证）")
    private_key = Ed25519PrivateKey.generate()
    raw = raw_public_bytes(private_key.public_key())
    key = SigningKey(key_id=key_id_of(raw), public_key=base64.b64encode(raw).decode("ascii"), created_dt=now)
    session.execute(update(SigningKey).where(SigningKey.retired_dt.is_(None)).values(retired_dt=now))
    session.add(key)
    append_system_event(session, actor=actor, grant=None, action="create_signing_key", now=now,
                        details={"key_id": key.key_id, "public_key": key.public_key})
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    _write_private(path, pem)
    return key


def _write_private(path: Path, pem: bytes) -> None:
    """Write the key readable by its owner only, replacing any old file in one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def published_keys(session: Session) -> list[SigningKey]:
    """Every public key ever used, the current one first."""
    return list(session.scalars(select(SigningKey).order_by(SigningKey.retired_dt.is_not(None),
                                                            SigningKey.created_dt.desc())))


def current_signer(session: Session, path: Path) -> Signer:
    """The private key, refused unless its public half is the published current key: an
    export must be checkable against what the about page shows."""
    signer = load_signer(path)
    current = session.scalar(select(SigningKey).where(SigningKey.retired_dt.is_(None)))
    if current is None or current.key_id != signer.key_id:
        raise SigningKeyMissing(
            f"签名密钥文件 {path} 中的密钥（{signer.key_id}）不是本系统公布的当前公钥：请管理员运行 "
            "`unionflow audit create-key --replace`")
    return signer


# --- Public keys as files and text ------------------------------------------------------------------

def public_key_pem(public_key_b64: str) -> str:
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A public key given as PEM (SubjectPublicKeyInfo) or as base64 of the 32 raw bytes."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("not Ed25519")
            return key
        raw = base64.b64decode(text, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise ValidationFailed({"public_key": ["公钥应为 PEM 格式或 32 字节原始公钥的 base64"]}) from None


def signature_valid(public_key: Ed25519PublicKey, signature_b64: str, message: bytes) -> bool:
    try:
        public_key.verify(base64.b64decode(signature_b64, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True
