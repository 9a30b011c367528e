"""Configured figures by area and period: thresholds, standards, scheme formulas, feed rules.

Union rules change by city and by year (the minimum living standard, a scheme's cap), so
no figure lives in code. A parameter set is a named, validated document of values for an
org unit's subtree, valid over a date range; a rule asks for the set that applies to a
case's unit on a date, and the nearest unit up the chain wins. Each kind's rule module
registers the schema of the sets it reads, so a bad figure is refused when entered.
Stored sets are never edited: a change is a new set from a new date.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime

from marshmallow import Schema, ValidationError
from sqlalchemy import Date, ForeignKey, String, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.base.db import Base, JSONDocument, UTCDateTime, utcnow
from engine.base.errors import ConditionFailed, NotFound, PermissionDenied, ValidationFailed
from engine.base.inputs import check_dates, text_problem
from engine.org.units import Actor, OrgUnit, path_ids, subtree_clause


@dataclass(frozen=True)
class ParameterKind:
    name: str
    label: str
    schema: type[Schema]


_kinds: dict[str, ParameterKind] = {}


def register_parameters(name: str, label: str, schema: type[Schema]) -> None:
    """Declare a parameter set name (e.g. "hardship_aid.standards") and its schema."""
    _kinds[name] = ParameterKind(name, label, schema)


def parameter_kinds() -> list[ParameterKind]:
    """Every registered parameter set kind, by name."""
    return sorted(_kinds.values(), key=lambda kind: kind.name)


def parameter_kind(name: str) -> ParameterKind:
    try:
        return _kinds[name]
    except KeyError:
        raise NotFound(f"未知的参数类别「{name}」") from None


def schema_errors(prefix: str, messages: dict) -> dict[str, list[str]]:
    """marshmallow's nested messages as {"prefix.a.b": ["…"]}: every field named by its full path."""
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        name = f"{prefix}.{key}"
        if isinstance(value, dict):
            flat |= schema_errors(name, value)
        else:
            flat.setdefault(name, []).extend(map(str, value if isinstance(value, list) else [value]))
    return flat


def storable_document(field: str, document) -> None:
    """Refuse a JSON document (settings, values) holding text no field may hold (a NUL, a lone
    surrogate, a control or bidi-override character), in a key or a value, at any depth."""
    def unstorable(node) -> bool:
        if isinstance(node, str):
            return text_problem(node, multiline=True) is not None
        if isinstance(node, dict):
            return any(unstorable(key) or unstorable(value) for key, value in node.items())
        if isinstance(node, list):
            return any(unstorable(item) for item in node)
        return False

    if unstorable(document):
        raise ValidationFailed({field: ["不能包含无法保存的字符或控制字符"]})


def in_reach(actor: Actor, unit_path: str) -> bool:
    """The unit is in the chain above one of the actor's units or in the subtree below one:
    the org units whose rounds and figures the actor may read."""
    return any(unit_path.startswith(g.unit_path) or g.unit_path.startswith(unit_path) for g in actor.grants)


def existing_unit(session: Session, unit_id: int, field: str = "unit_id") -> OrgUnit:
    """The org unit an input names; an unknown id is a mistake in that field."""
    unit = session.get(OrgUnit, unit_id)
    if unit is None:
        raise ValidationFailed({field: ["单位不存在"]})
    return unit


def reach_clause(actor: Actor):
    """``in_reach`` as SQL on OrgUnit (join it to the rows to read): an id list for the chains above,
    a path range per grant for the subtrees below."""
    above = {unit_id for g in actor.grants for unit_id in path_ids(g.unit_path)}
    return or_(OrgUnit.id.in_(above), *(subtree_clause(OrgUnit.path, g.unit_path) for g in actor.grants))


class ParameterSet(Base):
    __tablename__ = "parameter_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    values: Mapped[dict] = mapped_column(JSONDocument)
    # SHA-256 of the canonical values: cited in audit events with the id.
    content_hash: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def citation(self) -> dict:
        """How an audit event names the figures it used."""
        return {"parameter_set": self.id, "name": self.name, "hash": self.content_hash[:16],
                "valid_from": self.valid_from.isoformat()}


def set_parameters(
    session: Session, actor: Actor | None, name: str, *, unit: OrgUnit, valid_from: date,
    values: dict, valid_to: date | None = None,
) -> ParameterSet:
    """Store a new parameter set (admins of ``unit`` or above; ``actor`` None for seeding)."""
    if actor is not None and not any(g.role == "admin" and unit.path.startswith(g.unit_path) for g in actor.grants):
        raise PermissionDenied("只有本级或上级管理员可以设置参数")
    kind = parameter_kind(name)
    storable_document("values", values)
    check_dates({"valid_from": valid_from, "valid_to": valid_to})
    if valid_to is not None and valid_to < valid_from:
        raise ValidationFailed({"valid_to": ["结束日期不能早于开始日期"]})
    try:
        loaded = kind.schema().load(values)
    except ValidationError as err:
        raise ValidationFailed(schema_errors("values", err.normalized_messages())) from None
    stored = kind.schema().dump(loaded)
    digest = hashlib.sha256(json.dumps(stored, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    row = ParameterSet(name=name, unit_id=unit.id, valid_from=valid_from, valid_to=valid_to, values=stored,
                       content_hash=digest, created_by_id=actor.user_id if actor else None)
    session.add(row)
    session.flush()
    return row


def parameters_for(session: Session, name: str, unit_path: str, on: date) -> ParameterSet | None:
    """The set named ``name`` in force on ``on`` for the unit at ``unit_path``: the nearest unit
    up the chain that has one, and there the one that started last."""
    ancestors = path_ids(unit_path)
    rows = session.scalars(
        select(ParameterSet).where(
            ParameterSet.name == name, ParameterSet.unit_id.in_(ancestors), ParameterSet.valid_from <= on,
            or_(ParameterSet.valid_to.is_(None), ParameterSet.valid_to >= on),
        )
    ).all()
    if not rows:
        return None
    depth = {unit_id: i for i, unit_id in enumerate(ancestors)}
    return max(rows, key=lambda row: (depth[row.unit_id], row.valid_from, row.id))


def require_parameters(session: Session, name: str, unit_path: str, on: date) -> tuple[ParameterSet, dict]:
    """Like parameters_for, but a missing set refuses the transition with a clear message.
    Returns the row (for its citation) and the values loaded through the schema."""
    row = parameters_for(session, name, unit_path, on)
    kind = parameter_kind(name)
    if row is None:
        raise ConditionFailed(f"尚未配置{on.year}年适用的「{kind.label}」，请联系管理员",
                              [f"缺少参数：{kind.label}"])
    return row, kind.schema().load(row.values)


def _readable_unit(session: Session, actor: Actor, unit_id: int) -> OrgUnit:
    unit = session.get(OrgUnit, unit_id)
    if unit is None or not in_reach(actor, unit.path):
        raise NotFound("单位不存在或不在您的范围内")
    return unit


def parameters_in_force(session: Session, actor: Actor, name: str, unit_id: int, on: date) -> ParameterSet:
    """The set a rule would use for ``unit_id`` on ``on``, for a reader whose units reach that unit."""
    kind = parameter_kind(name)
    unit = _readable_unit(session, actor, unit_id)
    row = parameters_for(session, name, unit.path, on)
    if row is None:
        raise NotFound(f"「{unit.name}」在 {on.isoformat()} 没有适用的「{kind.label}」")
    return row


def parameter_versions(session: Session, actor: Actor, name: str) -> list[ParameterSet]:
    """Every stored set of ``name`` at a unit the actor's units reach (up their chain, down their
    subtree), newest first."""
    parameter_kind(name)
    if not actor.grants:
        return []
    return list(session.scalars(
        select(ParameterSet).join(OrgUnit, OrgUnit.id == ParameterSet.unit_id)
        .where(ParameterSet.name == name, reach_clause(actor))
        .order_by(ParameterSet.valid_from.desc(), ParameterSet.id.desc())
    ))
