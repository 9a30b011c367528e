"""The reviewer's inbox: cases waiting at their unit and level, filtered and paged by due date,
with a batch action on the chosen rows.

The list is ``engine.cases.inbox.inbox_page`` (one query for the rows) plus a bounded number of
queries per page, never one per row: the rows' versions and definition versions in one
query, and the engine's available actions for one case per (definition version, state) on
the page, which is what the batch select offers. Each chosen case is then acted on alone
by ``perform_batch_action``, so a stale or refused case fails by itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from werkzeug.exceptions import UnprocessableEntity

from engine.base.config import LOCAL_TZ
from engine.base.db import MAX_ROW_ID, utcnow
from engine.base.errors import CalendarNotCovered, ConditionFailed, UnionflowError, ValidationFailed
from engine.base.inputs import parse_row_id, text_problem
from engine.calendar.working_days import WorkingCalendar, due_after, working_calendar
from engine.cases.case import case_versions
from engine.cases.inbox import (
    DEFAULT_DUE_SOON_WORKING_DAYS, BatchChoice, DoneEntry, InboxEntry, InboxFilter, batch_choices, done_page,
    inbox_counts, inbox_page, inbox_titles, waiting_count,
)
from engine.cases.opinions import asked_count, asked_of
from engine.cases.tasks import missing_calendar_year
from engine.definitions.spec import Definition, StateSpec
from engine.definitions.store import definition_by_hash, list_kinds
from engine.operations.transitions import BatchOutcome, perform_batch_action, preview_batch_action
from engine.org.units import Actor
from engine.procedures.rounds import Round, visible_rounds
from web.auth import active_grant, current_actor, role_required, session_actor
from web.database import committing, request_session
from web.localtime import last_day, local_day
from web.paging import done_cursor_key, done_key_of, encode_cursor, inbox_cursor_key, inbox_key_of

bp = Blueprint("inbox", __name__)

PAGE_SIZE = 50
ROLE = "reviewer"
# The query arg ``due`` → the engine's due filter.
DUE_CHOICES = {"soon": "due_soon", "overdue": "overdue"}
# Beyond this the row just says "overdue": counting is a walk over calendar days.
MAX_COUNTED_OVERDUE_DAYS = 3660
MAX_SEARCH_LENGTH = 100
# The query args the inbox's links carry on (the next page, select all).
FILTER_ARGS = ("q", "kind", "round", "state", "unit", "due", "mine")


# --- Reading the filters --------------------------------------------------------------------------

@dataclass(frozen=True)
class FilterChoices:
    """What the filter form offers the reviewer (and what the query args are checked against)."""

    kinds: list[Definition]
    rounds: list[Round]
    units: list[tuple[int, str]]

    def states(self, kind: str | None) -> list[tuple[Definition, list[StateSpec]]]:
        """Per kind, the states that wait for a reviewer (only the chosen kind's, if one is chosen)."""
        return [(definition, [state for state in definition.states
                              if state.waits_for is not None and state.waits_for.role == ROLE])
                for definition in self.kinds if kind is None or definition.kind == kind]


def _choices(session: Session, actor: Actor, kind: str | None) -> FilterChoices:
    units = sorted({(grant.unit_id, grant.unit_name) for grant in actor.grants_for(ROLE)})
    kinds = list_kinds(session)
    known_kind = kind if any(definition.kind == kind for definition in kinds) else None
    return FilterChoices(kinds, visible_rounds(session, actor, known_kind), units)


def _read_filters(args, choices: FilterChoices) -> tuple[InboxFilter, dict[str, list[str]]]:
    """The query args as an engine filter, and the messages for those that are not valid."""
    errors: dict[str, list[str]] = {}
    kind = args.get("kind") or None
    if kind is not None and not any(definition.kind == kind for definition in choices.kinds):
        errors["kind"] = [_("没有这种业务类型")]
        kind = None
    state = args.get("state") or None
    if state is not None and not any(spec.id == state for _definition, states in choices.states(kind)
                                     for spec in states):
        errors["state"] = [_("所选业务没有这个审核环节")]
        state = None
    round_id = _positive_int(args.get("round"))
    if args.get("round") and round_id not in {round_.id for round_ in choices.rounds}:
        errors["round"] = [_("评选批次不存在或不在您的范围内")]
        round_id = None
    unit_id = _positive_int(args.get("unit"))
    if args.get("unit") and unit_id is None:
        errors["unit"] = [_("单位无效")]
    due = args.get("due") or "any"
    if due != "any" and due not in DUE_CHOICES:
        errors["due"] = [_("到期筛选只能是“即将到期”或“已逾期”")]
        due = "any"
    mine = args.get("mine") or None
    if mine not in (None, "1"):
        errors["mine"] = [_("“我的待办”筛选无效")]
    search = _search(args, errors)
    wanted = InboxFilter(role=ROLE, kind=kind, round_id=round_id, state=state, unit_id=unit_id,
                         due=DUE_CHOICES.get(due, "any"), mine=mine == "1", search=search)
    return wanted, errors


def _search(args, errors: dict[str, list[str]]) -> str | None:
    """The ``q`` of the inbox and of 「我已办」: a case number or words of the title."""
    search = (args.get("q") or "").strip() or None
    if search is not None and (len(search) > MAX_SEARCH_LENGTH or text_problem(search)):
        errors["q"] = [_("请输入不超过 %(max)s 个字的案件编号或标题", max=MAX_SEARCH_LENGTH)]
        return None
    return search


def _positive_int(value: str | None) -> int | None:
    return parse_row_id(value)


def _after(cursor: str | None) -> tuple[datetime | None, int] | None:
    """The sort key a "下一页" link carries; ValidationFailed on ``after`` if it is not one we made."""
    try:
        key = inbox_cursor_key(cursor)
    except (ValidationFailed, UnprocessableEntity):
        key = False
    # A case id beyond what the column holds would fail in the database, not here.
    if key is False or (key is not None and not 0 <= key[1] <= MAX_ROW_ID):
        raise ValidationFailed({"after": [_("分页参数无效，请从第一页重新查看")]})
    return key


# --- The rows -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Deadline:
    """A due time as the ``deadline`` macro of macros.html shows it: the ``datetime`` of its
    ``<time>`` (web.localtime.local_day, ``last=True``) and its text (web.localtime.last_day)."""

    day: str
    text: str


@dataclass(frozen=True)
class InboxRow:
    """One waiting case as the inbox shows it, its dates already formatted (the template formats
    nothing per row)."""

    entry: InboxEntry
    version: int
    state: StateSpec
    received_day: date
    received: str  # received_day as the page shows it (ISO)
    deadline: Deadline | None  # None: no due time
    missing_year: int | None  # the year the working-day calendar lacks to work the deadline out
    due_soon: bool
    overdue_days: int | None  # working days late, when the calendar knows

    @property
    def case_id(self) -> int:
        return self.entry.case_id


def _rows(session: Session, entries: list[InboxEntry], now: datetime) -> tuple[list[InboxRow], dict[int, str]]:
    """The page's rows with their versions, in one query; and each row's definition version."""
    pinned = case_versions(session, [entry.case_id for entry in entries])
    calendar = working_calendar(session)
    soon_until = due_after(session, now, DEFAULT_DUE_SOON_WORKING_DAYS)
    # Worked out once per due time, not per row: the rows of a page often share one (deadlines
    # end at midnight), and the overdue count walks the calendar.
    deadlines = {due: Deadline(local_day(due, last=True), last_day(due))
                 for due in {entry.due_dt for entry in entries if entry.due_dt is not None}}
    late = {due: _working_days_late(calendar, due, now) for due in {entry.due_dt for entry in entries if entry.overdue}}
    rows, hashes = [], {}
    for entry in entries:
        version, definition_hash = pinned[entry.case_id]
        hashes[entry.case_id] = definition_hash
        due, state = entry.due_dt, definition_by_hash(session, definition_hash).state(entry.state)
        received_day = entry.entered_dt.astimezone(LOCAL_TZ).date()
        rows.append(InboxRow(
            entry=entry, version=version, state=state, received_day=received_day, received=received_day.isoformat(),
            deadline=deadlines[due] if due is not None else None,
            missing_year=missing_calendar_year(session, entry.case_id) if due is None and state.has_deadline else None,
            due_soon=bool(due and not entry.overdue and soon_until and due < soon_until),
            overdue_days=late[due] if entry.overdue else None,
        ))
    return rows, hashes


@dataclass(frozen=True)
class RowTexts:
    """The texts a row shows with its own value, translated once per page rather than once per row
    (each gettext looks the request's translations up again; a page has 50 rows). As the
    template's ``_()`` gives them: Markup, so the translation is kept and the value escaped when
    the template formats it (``texts.pick % {"title": …}``)."""

    pick: Markup  # the row's checkbox label
    overdue_days: Markup
    held_by: Markup  # a task a colleague claimed
    stand_in: Markup  # a task of someone the reader stands in for (engine.org.delegations)

    @classmethod
    def translated(cls) -> RowTexts:
        # flask_babel's gettext without variables returns the translation unformatted.
        return cls(pick=Markup(_("选择「%(title)s」")), overdue_days=Markup(_("已逾期 %(n)s 个工作日")),
                   held_by=Markup(_("由%(name)s办理")), stand_in=Markup(_("代%(name)s办理")))


def _working_days_late(calendar: WorkingCalendar, due: datetime, now: datetime) -> int | None:
    """Working days from the day the deadline passed to today, both counted."""
    first, today = due.astimezone(LOCAL_TZ).date(), now.astimezone(LOCAL_TZ).date()
    span = (today - first).days + 1
    if span > MAX_COUNTED_OVERDUE_DAYS:
        return None
    try:
        return calendar.working_days_between(first - timedelta(days=1), today)
    except CalendarNotCovered:
        return None


def _batch_choices(session: Session, actor: Actor, rows: list[InboxRow], hashes: dict[int, str],
                   now: datetime) -> list[BatchChoice]:
    """What the batch select offers: the engine's choices for the page's (definition version, state) groups."""
    return batch_choices(session, actor, {row.case_id: (hashes[row.case_id], row.entry.state) for row in rows}, now)


# --- The header's count ---------------------------------------------------------------------------

@bp.app_context_processor
def open_tasks() -> dict:
    """How many cases wait at the unit a reviewer acts for, and opinions asked of him (the 待办
    badge), once per request; None for anyone acting in another role."""
    if "open_tasks" not in g:
        g.open_tasks = _open_tasks_of_signed_in()
    return {"open_tasks": g.open_tasks}


def _open_tasks_of_signed_in() -> int | None:
    actor = session_actor() if request.endpoint != "static" else None
    grant = active_grant(actor) if actor is not None else None
    if grant is None or grant.role != ROLE:
        return None
    try:
        session = request_session()
        return waiting_count(session, ROLE, grant.unit_id) + asked_count(session, actor)
    except SQLAlchemyError:
        return None  # the page being drawn is the error page of a failed transaction: it must still render


# --- The inbox page -------------------------------------------------------------------------------

@bp.route("/inbox")
@role_required(ROLE)
def inbox():
    session, actor, now = request_session(), current_actor(), utcnow()
    args = request.args
    choices = _choices(session, actor, args.get("kind") or None)
    wanted, errors = _read_filters(args, choices)
    entries: list[InboxEntry] = []
    if not errors:
        try:
            entries = inbox_page(session, actor, wanted, after=_after(args.get("after") or None),
                                 limit=PAGE_SIZE + 1, now=now)
        except ValidationFailed as err:  # a unit that is not the reviewer's, a bad page link
            errors = {"unit" if name == "unit_id" else name: messages for name, messages in err.fields.items()}
    more = len(entries) > PAGE_SIZE
    entries = entries[:PAGE_SIZE]
    rows, hashes = _rows(session, entries, now) if entries else ([], {})
    filters = {name: args[name].strip() for name in FILTER_ARGS if args.get(name, "").strip()}
    counts = inbox_counts(session, actor, ROLE, now=now)
    asked = asked_of(session, actor)
    g.open_tasks = sum(count.waiting for count in counts) + len(asked)  # the header's badge, without counting twice
    # The stages of the chosen kind, else of the kinds that have cases waiting.
    waiting_kinds = {count.kind for count in counts}
    state_groups = [(definition, states) for definition, states in choices.states(wanted.kind)
                    if states and (wanted.kind or definition.kind in waiting_kinds)]
    page = render_template(
        "inbox/inbox.html", rows=rows, texts=RowTexts.translated(), me=actor.user_id,
        standing_in={stand_in.principal_id for stand_in in actor.stands_in}, asked=asked,
        choices=choices, filters=filters,
        errors=errors, counts=counts, state_groups=state_groups,
        batch_choices=_batch_choices(session, actor, rows, hashes, now),
        next_url=url_for("inbox.inbox", **filters, after=encode_cursor(inbox_key_of(entries[-1]))) if more else None,
        first_url=url_for("inbox.inbox", **filters) if args.get("after") else None,
        # 「全选本页」 without script: the same page again, every box ticked.
        select_all=args.get("select") == "all",
        select_all_url=url_for("inbox.inbox", **filters, after=args.get("after") or None, select="all"),
    )
    return page, 422 if errors else 200


# --- Batch action ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class BatchResultRow:
    """One case of a batch, as its preview or its results show it."""

    case_id: int
    title: str | None
    ok: bool
    state_label: str | None = None  # where the case went (would go)
    reason: str | None = None
    amount: Decimal | None = None  # the money granted (that would be); the page formats it (money filter)


@bp.route("/inbox/done")
@role_required(ROLE)
def done():
    """「我已办」: the tasks the reviewer closed, latest first, found by case number or title words."""
    session, actor = request_session(), current_actor()
    errors: dict[str, list[str]] = {}
    search = _search(request.args, errors)
    entries: list[DoneEntry] = []
    if not errors:
        try:
            entries = done_page(session, actor, search=search, after=done_cursor_key(request.args.get("after")),
                                limit=PAGE_SIZE + 1)
        except (ValidationFailed, UnprocessableEntity):
            errors["q"] = [_("分页参数无效，请从第一页重新查看")]
    more = len(entries) > PAGE_SIZE
    entries = entries[:PAGE_SIZE]
    next_url = url_for(".done", q=search, after=encode_cursor(done_key_of(entries[-1]))) if more else None
    return render_template("inbox/done.html", entries=entries, search=search, errors=errors,
                           next_url=next_url), 422 if errors else 200


@bp.route("/inbox/batch", methods=["POST"])
@role_required(ROLE)
def batch():
    """The batch in two steps. First each chosen case is checked by acting on it with nothing
    kept (engine preview_batch_action): which would be refused and why, where the others would
    go and the money they would be granted, and a button to confirm. Confirmed, the cases that
    passed are acted on one by one, each at the version the inbox showed."""
    form = request.form
    back = _inbox_url(form.get("back"))
    raw_ids = form.getlist("case_id")
    case_ids = [_positive_int(value) for value in raw_ids]
    trigger = (form.get("trigger") or "").strip()
    if not raw_ids:
        flash(_("请先勾选要办理的案件"), "error")
        return redirect(back)
    if None in case_ids:
        flash(_("所选案件无效，请刷新待办后重试"), "error")
        return redirect(back)
    if not trigger:
        flash(_("请选择要执行的操作"), "error")
        return redirect(back)
    # A missing version cannot match the case's: the engine reports that case as changed meanwhile.
    refs = [(case_id, _positive_int(form.get(f"version_{case_id}")) or 0) for case_id in case_ids]
    session, actor, comment = request_session(), current_actor(), form.get("comment")
    try:
        if form.get("confirmed") != "1":
            return _confirm_page(session, actor, refs, trigger, comment, back)
        with committing():
            outcomes = perform_batch_action(session, actor, refs, trigger, comment=comment)
            results = _results(session, actor, outcomes)
    except ValidationFailed as err:  # the list itself: too many, a case twice
        flash("；".join(message for messages in err.fields.values() for message in messages) or err.message, "error")
        return redirect(back)
    done = sum(result.ok for result in results)
    return render_template("inbox/batch_result.html", results=results, done=done, failed=len(results) - done,
                           back=back, has_amounts=any(result.amount is not None for result in results))


def _confirm_page(session: Session, actor: Actor, refs: list[tuple[int, int]], trigger: str, comment: str | None,
                  back: str):
    outcomes = preview_batch_action(session, actor, refs, trigger, comment=comment)
    checked = _results(session, actor, outcomes)
    labels = list(dict.fromkeys(outcome.label for outcome in outcomes if outcome.ok))
    passing = [(case_id, version) for (case_id, version), result in zip(refs, checked) if result.ok]
    return render_template("inbox/batch_confirm.html", results=checked, passing=passing, trigger=trigger,
                           action_label=" / ".join(labels), comment=comment or "", back=back,
                           refused=len(checked) - len(passing),
                           has_amounts=any(result.amount is not None for result in checked))


def _results(session: Session, actor: Actor, outcomes: list[BatchOutcome]) -> list[BatchResultRow]:
    """One line per case; titles of refused cases come from the reviewer's own open tasks only,
    so a case they may not see stays unnamed."""
    titles = inbox_titles(session, actor, [outcome.case_id for outcome in outcomes if not outcome.ok], ROLE)
    results = []
    for outcome in outcomes:
        if outcome.ok:
            case = outcome.case
            state = case.definition.state(outcome.to_state)
            results.append(BatchResultRow(case.id, case.title, True, state_label=state.label,
                                          amount=outcome.granted))
        else:
            results.append(BatchResultRow(outcome.case_id, titles.get(outcome.case_id), False,
                                          reason=reason_of(outcome.error)))
    return results


def reason_of(err: UnionflowError) -> str:
    """An engine refusal as one Chinese sentence: the message, with a rule's reasons or the
    field messages when there are any."""
    if isinstance(err, ConditionFailed) and err.reasons:
        # The engine's message is often the reasons joined already: each is said once.
        unsaid = [reason for reason in err.reasons if reason not in err.message]
        return f"{err.message}：{'；'.join(unsaid)}" if unsaid else err.message
    if isinstance(err, ValidationFailed):
        messages = [message for messages in err.fields.values() for message in messages]
        return "；".join(messages) if messages else err.message
    return err.message


def _inbox_url(back: str | None) -> str:
    """Where "返回待办" leads: the inbox page (with its filters) the form was on, nothing else."""
    if back and (back == "/inbox" or back.startswith("/inbox?")) and "\\" not in back:
        return back
    return url_for("inbox.inbox")
