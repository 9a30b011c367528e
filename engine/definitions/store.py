"""Definition versions in the database, keyed by content hash, and the per-process cache of parsed ones."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import ForeignKey, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.base.db import Base, UTCDateTime, utcnow
from engine.base.errors import DefinitionError, NotFound
from engine.definitions.parse import parse_definition
from engine.definitions.spec import Definition


class DefinitionVersion(Base):
    """One immutable version of a definition; cases are pinned to the version they started on."""

    __tablename__ = "definition_versions"

    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(63), index=True)
    label: Mapped[str] = mapped_column(String(200))
    source_name: Mapped[str] = mapped_column(String(255))
    source_text: Mapped[str] = mapped_column(Text)
    loaded_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WorkflowKind(Base):
    """A kind of case and the version new cases of that kind start on."""

    __tablename__ = "workflow_kinds"

    kind: Mapped[str] = mapped_column(String(63), primary_key=True)
    current_hash: Mapped[str] = mapped_column(ForeignKey("definition_versions.content_hash"))
    updated_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


@dataclass(frozen=True)
class SyncResult:
    kind: str
    content_hash: str
    is_new_version: bool


def read_definition_files(directory: Path) -> list[tuple[Path, Definition]]:
    """Parse every *.yaml in ``directory``; collect every file's problems before failing."""
    parsed, failures = [], []
    for path in sorted(directory.glob("*.yaml")):
        try:
            parsed.append((path, parse_definition(path.read_text(encoding="utf-8"), path.name)))
        except DefinitionError as err:
            failures.append(err)
    if failures:
        raise DefinitionError(
            ", ".join(f.path for f in failures), [f"{f.path}: {p}" for f in failures for p in f.problems]
        )
    files_by_kind: dict[str, list[str]] = {}
    for path, definition in parsed:
        files_by_kind.setdefault(definition.kind, []).append(path.name)
    clashes = {kind: names for kind, names in files_by_kind.items() if len(names) > 1}
    if clashes:
        raise DefinitionError(
            ", ".join(name for names in clashes.values() for name in names),
            [f'{name}: kind: "{kind}" is already declared by {names[0]}'
             for kind, names in clashes.items() for name in names[1:]],
        )
    return parsed


def sync_definitions(session: Session, directory: Path) -> list[SyncResult]:
    """Store each file's current version; running cases keep the version they started on."""
    results = []
    for path, definition in read_definition_files(directory):
        is_new = session.get(DefinitionVersion, definition.content_hash) is None
        if is_new:
            session.add(DefinitionVersion(
                content_hash=definition.content_hash, kind=definition.kind, label=definition.label,
                source_name=path.name, source_text=definition.source_text,
            ))
            session.flush()
        kind_row = session.get(WorkflowKind, definition.kind)
        if kind_row is None:
            session.add(WorkflowKind(kind=definition.kind, current_hash=definition.content_hash))
        elif kind_row.current_hash != definition.content_hash:
            kind_row.current_hash = definition.content_hash
        _cache_put(definition)
        results.append(SyncResult(definition.kind, definition.content_hash, is_new))
    session.flush()
    return results

_cache_lock = threading.Lock()


def _cache_put(definition: Definition) -> None:
    with _cache_lock:
        _cache.setdefault(definition.content_hash, definition)


def definition_by_hash(session: Session, content_hash: str) -> Definition:
    """The (immutable) definition version a case is pinned to, parsed once per process."""
    definition = _cache.get(content_hash)
    if definition is None:
        row = session.get(DefinitionVersion, content_hash)
        if row is None:
            raise NotFound("流程定义版本不存在")
        definition = parse_definition(row.source_text, row.source_name, enforce_policy=False)
        if definition.content_hash != content_hash:
            raise DefinitionError(row.source_name, [f"stored text does not match its version {content_hash[:12]}"])
        _cache_put(definition)
    return definition


def current_definition(session: Session, kind: str) -> Definition:
    current_hash = session.scalar(select(WorkflowKind.current_hash).where(WorkflowKind.kind == kind))
    if current_hash is None:
        raise NotFound(f"未知的业务类型「{kind}」")
    return definition_by_hash(session, current_hash)


def list_kinds(session: Session) -> list[Definition]:
    hashes = session.scalars(select(WorkflowKind.current_hash).order_by(WorkflowKind.kind))
    return [definition_by_hash(session, h) for h in hashes]


_cache: dict[str, Definition] = {}
