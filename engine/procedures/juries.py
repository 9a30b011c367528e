"""Juries (评审委员会): members vote approve / reject / abstain on each case of a round.

A jury belongs to a round. Its members vote once per case while the case waits in a
state whose way out depends on the jury (a transition citing ``jury_approves`` or
``jury_rejects``). The outcome rule is configured per jury: a quorum of members voting
and a pass fraction of those present (e.g. two thirds). Every vote is an audit event.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint, and_, func, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.audit.chain import AuditEvent, append_event
from engine.base.db import Base, UTCDateTime, utcnow
from engine.base.errors import InvalidAction, NotFound, PermissionDenied, ValidationFailed
from engine.base.inputs import check_text
from engine.cases.case import Case, conflict_on_stale
from engine.cases.permissions import covers, require_visible, sees_internal_comments
from engine.cases.records import records_of
from engine.cases.rule_context import RuleContext
from engine.definitions.forms import masked_personal_data
from engine.definitions.rules import action, rule
from engine.definitions.spec import Definition
from engine.definitions.store import definition_by_hash
from engine.org.units import Actor, Grant, OrgUnit, User
from engine.procedures.rounds import Round

CHOICES = {"approve": "同意", "reject": "不同意", "abstain": "弃权"}
JURY_RULES = ("jury_approves", "jury_rejects")


class Jury(Base):
    __tablename__ = "juries"
    __table_args__ = (
        CheckConstraint("pass_numerator > 0 AND pass_numerator <= pass_denominator", name="pass_fraction"),
        CheckConstraint("quorum_numerator >= 0 AND quorum_numerator <= quorum_denominator", name="quorum_fraction"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    # Passed when approvals ≥ pass_numerator/pass_denominator of the members present (voting).
    pass_numerator: Mapped[int] = mapped_column(Integer)
    pass_denominator: Mapped[int] = mapped_column(Integer)
    # The vote counts once at least quorum_numerator/quorum_denominator of the members voted.
    quorum_numerator: Mapped[int] = mapped_column(Integer)
    quorum_denominator: Mapped[int] = mapped_column(Integer)
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JuryMember(Base):
    __tablename__ = "jury_members"
    __table_args__ = (UniqueConstraint("jury_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    jury_id: Mapped[int] = mapped_column(ForeignKey("juries.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class JuryVote(Base):
    __tablename__ = "jury_votes"
    # A member votes once per case: the constraint holds even for two clicks at once.
    __table_args__ = (UniqueConstraint("jury_id", "case_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    jury_id: Mapped[int] = mapped_column(ForeignKey("juries.id", ondelete="RESTRICT"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="RESTRICT"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    choice: Mapped[str] = mapped_column(String(10))
    cast_dt: Mapped[datetime] = mapped_column(UTCDateTime)


def form_jury(
    session: Session, actor: Actor | None, round_: Round, *, title: str, member_ids: list[int],
    pass_fraction: tuple[int, int] = (2, 3), quorum: tuple[int, int] = (2, 3),
) -> Jury:
    """Set up the round's jury (reviewers or admins of the round's unit; None for seeding)."""
    unit = session.get(OrgUnit, round_.unit_id)
    if actor is not None and not any(g.role in ("reviewer", "admin") and g.unit_id == unit.id for g in actor.grants):
        raise PermissionDenied(f"只有「{unit.name}」的审核人或管理员可以组建评审委员会")
    check_text({"title": title})
    errors = {}
    members = list(dict.fromkeys(member_ids))
    if not members:
        errors["member_ids"] = ["请至少选择一名评委"]
    elif len(session.scalars(select(User.id).where(User.id.in_(members), User.is_active.is_(True))).all()) != len(members):
        errors["member_ids"] = ["评委中有不存在或已停用的用户"]
    num, den = pass_fraction
    if not (0 < num <= den):
        errors["pass_fraction"] = ["通过比例应在0到1之间，例如 2/3"]
    qnum, qden = quorum
    if not (0 <= qnum <= qden and qden > 0):
        errors["quorum"] = ["到会比例应在0到1之间"]
    if session.scalar(select(Jury.id).where(Jury.round_id == round_.id)):
        errors["round_id"] = ["本批次已组建评审委员会"]
    if errors:
        raise ValidationFailed(errors)
    jury = Jury(round_id=round_.id, title=title, pass_numerator=num, pass_denominator=den,
                quorum_numerator=qnum, quorum_denominator=qden)
    session.add(jury)
    session.flush()
    session.add_all(JuryMember(jury_id=jury.id, user_id=user_id) for user_id in members)
    session.flush()
    return jury


def jury_for(session: Session, case: Case) -> Jury | None:
    return session.scalar(select(Jury).where(Jury.round_id == case.round_id)) if case.round_id else None


def jury_members(session: Session, jury: Jury) -> list[User]:
    """The people who sit on the jury, in the order they were registered as users."""
    return list(session.scalars(select(User).join(JuryMember, JuryMember.user_id == User.id)
                                .where(JuryMember.jury_id == jury.id).order_by(User.id)))


def round_jury(session: Session, round_id: int) -> tuple[Jury | None, list[User]]:
    """The round's jury, if it has been formed, and its members (no visibility check: the caller
    has found the round with ``get_round``)."""
    jury = session.scalar(select(Jury).where(Jury.round_id == round_id))
    return jury, jury_members(session, jury) if jury else []


def is_member(session: Session, jury: Jury, user_id: int | None) -> bool:
    return user_id is not None and session.scalar(
        select(JuryMember.id).where(JuryMember.jury_id == jury.id, JuryMember.user_id == user_id)) is not None


def juror_grant(session: Session, jury: Jury) -> Grant:
    """What a member votes as: a juror of the round's organising unit. Jurors come from any
    unit and hold no role assignment for it, so the trail names the jury's unit, not theirs."""
    unit = session.get(OrgUnit, session.get(Round, jury.round_id).unit_id)
    return Grant("juror", unit.id, unit.level, unit.path, unit.name)


def is_voting(session: Session, case: Case) -> bool:
    """The case waits on its jury: a transition out of its state cites a jury rule."""
    return case.state in _voting_states(session, case.definition_hash)


def cast_vote(session: Session, actor: Actor, case: Case, choice: str, *, now: datetime | None = None) -> JuryVote:
    """One member's vote on one case; a second vote by the same member is refused."""
    now = now or utcnow()
    jury = jury_for(session, case)
    if jury is None or not is_member(session, jury, actor.user_id):
        require_visible(actor, case)  # a non-member outside the subtree learns nothing about the case
        raise PermissionDenied("您不是本批次评审委员会成员")
    if choice not in CHOICES:
        raise ValidationFailed({"choice": ["请选择同意、不同意或弃权"]})
    if not is_voting(session, case):
        raise InvalidAction("该推荐当前不在评审表决阶段")
    if session.scalar(select(JuryVote.id).where(JuryVote.jury_id == jury.id, JuryVote.case_id == case.id,
                                                JuryVote.user_id == actor.user_id)):
        raise ValidationFailed({"choice": ["您已对该推荐投过票，每位评委只能投一次"]})
    with conflict_on_stale(case):
        vote = JuryVote(jury_id=jury.id, case_id=case.id, user_id=actor.user_id, choice=choice, cast_dt=now)
        session.add(vote)
        case.updated_dt = now
        append_event(session, case, actor=actor, grant=juror_grant(session, jury), action="vote", now=now,
                     details={"jury_id": jury.id, "choice": choice, "label": CHOICES[choice]})
        session.flush()
    return vote


@dataclass(frozen=True)
class Tally:
    members: int
    approve: int
    reject: int
    abstain: int
    rule: str
    quorum_met: bool
    passed: bool

    @property
    def present(self) -> int:
        return self.approve + self.reject + self.abstain

    def figures(self) -> dict:
        return {"members": self.members, "present": self.present, "approve": self.approve, "reject": self.reject,
                "abstain": self.abstain, "rule": self.rule, "quorum_met": self.quorum_met, "passed": self.passed}


def tally(session: Session, case: Case) -> Tally | None:
    jury = jury_for(session, case)
    if jury is None:
        return None
    members = session.scalar(select(func.count(JuryMember.id)).where(JuryMember.jury_id == jury.id))
    counts = dict(session.execute(select(JuryVote.choice, func.count(JuryVote.id)).where(
        JuryVote.jury_id == jury.id, JuryVote.case_id == case.id).group_by(JuryVote.choice)).all())
    approve, reject, abstain = (counts.get(c, 0) for c in ("approve", "reject", "abstain"))
    present = approve + reject + abstain
    quorum_met = present > 0 and present * jury.quorum_denominator >= jury.quorum_numerator * members
    passed = quorum_met and approve * jury.pass_denominator >= jury.pass_numerator * present
    rule_text = (f"到会评委不少于全体的 {jury.quorum_numerator}/{jury.quorum_denominator}，"
                 f"同意票不少于到会评委的 {jury.pass_numerator}/{jury.pass_denominator}")
    return Tally(members, approve, reject, abstain, rule_text, quorum_met, passed)


# --- What members and reviewers read --------------------------------------------------------------

@dataclass(frozen=True)
class JuryView:
    """A case's jury as one reader sees it: who sits on it and how many voted, never who voted
    how. The tally is there only for the case's reviewers (see ``may_see_tally``)."""

    jury: Jury
    members: list[User]
    votes_cast: int
    voting_open: bool
    voted_by_me: bool
    tally: Tally | None


def may_see_tally(session: Session, actor: Actor, case: Case, jury: Jury) -> bool:
    """The case's reviewers see the running count; a reviewer who also sits on the jury only once
    the vote is over, so no member votes knowing how the others voted."""
    if not any(g.role == "reviewer" and covers(g, case) for g in actor.grants):
        return False
    return not (is_member(session, jury, actor.user_id) and is_voting(session, case))


def jury_of_case(session: Session, actor: Actor, case_id: int) -> JuryView:
    """The jury that votes on the case, for those who may see the case and for its members."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound("案件不存在或您无权查看")
    jury = jury_for(session, case)
    if jury is None or not is_member(session, jury, actor.user_id):
        require_visible(actor, case)
    if jury is None:
        raise NotFound("该案件所属批次尚未组建评审委员会")
    members = jury_members(session, jury)
    votes = session.scalars(select(JuryVote.user_id).where(JuryVote.jury_id == jury.id,
                                                           JuryVote.case_id == case.id)).all()
    shown = tally(session, case) if may_see_tally(session, actor, case, jury) else None
    return JuryView(jury, members, len(votes), is_voting(session, case), actor.user_id in votes, shown)


def jury_progress_for(session: Session, actor: Actor, case: Case) -> JuryView | None:
    """The jury's progress on the case page, shown to the case's reviewers and auditors only
    (never who voted how); None for anyone else, or when the case has no jury."""
    if jury_for(session, case) is None or not sees_internal_comments(actor, case):
        return None
    return jury_of_case(session, actor, case.id)


def case_for_juror(session: Session, actor: Actor, case_id: int) -> Case:
    """A case put to a jury the actor sits on (voting now, or voted on before), whatever unit
    the juror comes from: jurors are drawn from other districts and read the cases they vote
    on without any grant over them. Any other case is missing, as for ``get_case``."""
    case = session.get(Case, case_id)
    jury = jury_for(session, case) if case is not None else None
    if jury is None or not is_member(session, jury, actor.user_id) or not _put_to_jury(session, case):
        raise NotFound("案件不存在或您无权查看")
    return case


def _put_to_jury(session: Session, case: Case) -> bool:
    states = _voting_states(session, case.definition_hash)
    return case.state in states or session.scalar(select(AuditEvent.id).where(
        AuditEvent.case_id == case.id, AuditEvent.to_state.in_(states)).limit(1)) is not None


@dataclass(frozen=True)
class JurorCase:
    """What a juror reads of a case put to the jury: read-only, and personal data masked as for
    anyone without full access (an auditor, the applicant): ID numbers and the fields the
    definition marks sensitive. Files and the trail are not part of it."""

    case: Case
    definition: Definition
    form: dict
    records: list[dict]
    jury: JuryView


def juror_case_view(session: Session, actor: Actor, case_id: int) -> JurorCase:
    case = case_for_juror(session, actor, case_id)
    definition = case.definition
    masked = masked_personal_data(definition.fields, case.form_data)
    form = {spec.name: masked.get(spec.name) for spec in definition.fields if spec.type != "file"}
    records = [{"id": record.id, "type": record.record_type, "type_label": definition.record(record.record_type).label,
                "record_fields": masked_personal_data(definition.record(record.record_type).fields, record.data),
                "author": record.author_name, "unit": record.unit_name, "created_at": record.created_dt}
               for record in records_of(session, case)]
    return JurorCase(case, definition, form, records, jury_of_case(session, actor, case.id))


@dataclass(frozen=True)
class JuryDuty:
    case: Case
    round_id: int
    voted: bool


def jury_duties(session: Session, actor: Actor) -> list[JuryDuty]:
    """Cases waiting on a jury the actor sits on, whether or not they voted yet, oldest first."""
    if actor.user_id is None:
        return []
    rounds = session.scalars(select(Jury.round_id).join(JuryMember, JuryMember.jury_id == Jury.id)
                             .where(JuryMember.user_id == actor.user_id)).all()
    if not rounds:
        return []
    hashes = session.scalars(select(Case.definition_hash).where(Case.round_id.in_(rounds)).distinct()).all()
    waiting = [and_(Case.definition_hash == h, Case.state.in_(_voting_states(session, h))) for h in hashes]
    cases = session.scalars(select(Case).where(Case.round_id.in_(rounds), or_(*waiting)).order_by(Case.id)).all() \
        if waiting else []
    voted = set(session.scalars(select(JuryVote.case_id).where(
        JuryVote.user_id == actor.user_id, JuryVote.case_id.in_([case.id for case in cases]))))
    return [JuryDuty(case, case.round_id, case.id in voted) for case in cases]


def _voting_states(session: Session, definition_hash: str) -> list[str]:
    definition = definition_by_hash(session, definition_hash)
    return sorted({source for t in definition.transitions if set(t.conditions) & set(JURY_RULES)
                   for source in t.sources})


def _tally_problem(ctx: RuleContext) -> tuple[Tally | None, str | None]:
    result = tally(ctx.session, ctx.case)
    if result is None:
        return None, "本批次尚未组建评审委员会"
    if not result.quorum_met:
        return result, f"已投票 {result.present} 人，共 {result.members} 名评委，未达到表决人数"
    return result, None


@rule("jury_approves")
def jury_approves(ctx: RuleContext) -> str | None:
    result, problem = _tally_problem(ctx)
    if problem:
        return problem
    return None if result.passed else f"同意 {result.approve} 票，未达到通过票数（{result.rule}）"


@rule("jury_rejects")
def jury_rejects(ctx: RuleContext) -> str | None:
    result, problem = _tally_problem(ctx)
    if problem:
        return problem
    return "表决已通过" if result.passed else None


@action("record_tally")
def record_tally(ctx: RuleContext) -> dict:
    """Write the vote count the decision rests on into the case's outcome and the audit event."""
    figures = tally(ctx.session, ctx.case).figures()
    ctx.case.record_outcome(jury=figures)
    return figures
