"""The case page and what is done from it: actions, records, comments, downloads, jury votes.

Thin views over the engine, as the JSON API is: the page shows the case as the acting grant
may read it (engine.reading.case_views.case_view, which the API presents too: personal data
masked, internal comments hidden, juror names hidden) and offers exactly the actions the
engine would accept from it now.
A refused form answers 422 with the page and the messages next to the fields, after the
rollback: nothing was written.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from engine.base.db import utcnow
from engine.base.errors import ConditionFailed, Conflict, InvalidAction, NotFound, PermissionDenied, ValidationFailed
from engine.cases.attachments import attach_file, attachments_of, get_attachment
from engine.cases.case import Case
from engine.cases.copies import MAX_COPY_NOTE_LENGTH, mark_case_copy_read
from engine.cases.holders import CLAIM, RELEASE, TAKE_OVER, TRANSFER
from engine.cases.machines import AvailableAction, compiled, refused_actions
from engine.cases.permissions import can_view_case, first_grant, get_case, participant_grant, sees_internal_comments
from engine.cases.records import add_record, records_of
from engine.cases.tasks import overdue_task
from engine.definitions.spec import IDENTIFIER, RETURN_POINT, Definition, FieldSpec, RecordSpec, TransitionSpec
from engine.operations.copying import copy_case
from engine.operations.holding import claim_task, release_task, take_over_task, transfer_task
from engine.operations.opinions import ask_opinions, give_opinion, withdraw_opinion_request
from engine.operations.transitions import MAX_COMMENT_LENGTH, comment_on_case, perform_action
from engine.operations.urging import MAX_URGE_NOTE_LENGTH, urge_case, urge_grant, urge_of_stage, urged_this_work_day
from engine.org.units import Actor, Grant
from engine.procedures.juries import CHOICES, case_for_juror, cast_vote, juror_case_view, jury_duties, jury_progress_for
from engine.procedures.rounds import QuotaStatus, Round, draws_on_quota, quota_status
from engine.reading.amounts import granted_by
from engine.reading.approval_sheet import approval_sheet
from engine.reading.case_views import case_view, records_view
from pages.forms import chosen_files, read_form
from web.auth import current_actor, current_role, login_required, session_actor
from web.database import committing, request_session
from web.files import attachment_download, attachment_preview, file_store, read_upload
from web.i18n import money

bp = Blueprint("cases", __name__)

# The engine's vote choices (engine.procedures.juries.CHOICES), as the ballot shows them.
VOTE_LABELS = {"approve": _l("同意"), "reject": _l("不同意"), "abstain": _l("弃权")}
if VOTE_LABELS.keys() != CHOICES.keys():
    raise RuntimeError("a vote choice of engine.procedures.juries has no label on the ballot")


# --- What the page shows ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ActionForm:
    """One button of the page: the action the engine allows, the fields it asks for, and
    (forwarding within a quota) the places left to the unit it forwards for."""

    trigger: str
    label: str
    comment_required: bool
    inputs: tuple[FieldSpec, ...]
    quota: QuotaStatus | None
    quota_unit: str | None
    ends_case: bool = False  # its destination is a final state: nothing can be done after it
    sends_back: bool = False  # back to an earlier review level (退回重审): under 「退回到之前的环节…」

    @property
    def style(self) -> str:
        """The button's look: the case's ending (reject, withdraw) red, a return plain, going on primary."""
        if self.ends_case:
            return "danger"
        return "secondary" if self.danger else "primary"

    @property
    def order(self) -> int:
        return {"primary": 0, "secondary": 1, "danger": 2}[self.style]

    @property
    def danger(self) -> bool:
        """Definitions ask a reason for the decisions that go against the applicant (return, reject)."""
        return self.comment_required

    @property
    def confirm(self) -> str | None:
        """What the button asks before it goes (app.js, data-confirm): decisions against the
        applicant and whatever ends the case (撤回, 不予通过)."""
        if self.ends_case:
            return _("确定「%(action)s」？办理后本案即办结，不能撤销。", action=self.label)
        if self.danger:
            return _("确定「%(action)s」？", action=self.label)
        return None


@dataclass(frozen=True)
class BlockedAction:
    """An action the actor's grant would fire, refused now by a rule, with the rule's words."""

    trigger: str
    label: str
    reasons: list[str]
    quota: QuotaStatus | None
    quota_unit: str | None


@dataclass(frozen=True)
class RecordForm:
    spec: RecordSpec
    fields: tuple[FieldSpec, ...]

    @property
    def has_files(self) -> bool:
        return any(field.type == "file" for field in self.fields)


@dataclass
class Problems:
    """A refused form of the page: which one, its messages by field, and what was typed."""

    form: str  # "action:<trigger>", "record:<type>", "comment", "urge", "transfer", "copy"
    message: str | None = None
    fields: dict[str, list[str]] | None = None
    values: Any = None

    def errors_for(self, form: str) -> dict[str, list[str]]:
        return (self.fields or {}) if self.form == form else {}

    def values_for(self, form: str):
        return self.values if self.form == form and self.values is not None else {}


def render_case(session: Session, actor: Actor, case: Case, problems: Problems | None = None, status: int = 200):
    definition = case.definition
    now = utcnow()
    view = case_view(session, actor, case)
    # The panel's buttons: going on first, then returns, the case's ending last (stable within each).
    actions = sorted((_action_form(session, definition, case, action) for action in view["available_actions"]),
                     key=lambda action: action.order)
    attachments = attachments_of(session, actor, case)
    problems = problems or Problems("")
    page = render_template(
        "cases/case.html", case=case, view=view, definition=definition, state=definition.state(case.state),
        form_groups=_form_groups(definition, view["form"]), outcome_rows=_outcome_rows(definition, view["outcome"]),
        attachments=attachments, attachments_by_id={a.id: a for a in attachments},
        records=_record_groups(session, actor, case, definition),
        record_forms=_record_forms(actor, case, definition),
        actions=actions, blocked=_blocked_actions(session, actor, case, definition, now, view["available_actions"]),
        objections=view["objections"],
        amount=view["amount"], amount_reader="applicant" if current_role() == "applicant" else "reviewer",
        jury=jury_progress_for(session, actor, case),
        may_comment=participant_grant(actor, case) is not None,
        may_edit=_may_edit(actor, case, definition),
        internal_shown=sees_internal_comments(actor, case),
        overdue=view["due_at"] is not None and view["due_at"] < now and not definition.state(case.state).is_final,
        deadline=overdue_task(session, case.id, now), **_urging(session, actor, case, now),
        problems=problems, action_others=_messages_elsewhere(definition, problems, actions),
        max_comment=MAX_COMMENT_LENGTH, max_copy_note=MAX_COPY_NOTE_LENGTH,
        holding_labels={TRANSFER: TRANSFER_LABEL} | {change: label for change, (label, _op, _done)
                                                      in HOLDING_CHANGES.items()},
        choice_label=choice_label,
    )
    return page, status


def _urging(session: Session, actor: Actor, case: Case, now: datetime) -> dict:
    """The urge box: whether the actor may urge, whether the case was urged this working day
    already (the form would be refused), and the last urge of the current stage."""
    urge = urge_of_stage(session, case)
    return {"may_urge": urge_grant(session, actor, case) is not None, "last_urge": urge,
            "urged_today": urged_this_work_day(session, urge, now), "max_urge_note": MAX_URGE_NOTE_LENGTH}


def _messages_elsewhere(definition: Definition, problems: Problems, actions: list[ActionForm]) -> list[str]:
    """A refused action's messages that have no input of their own on the page (a submit
    refused for the form's missing fields; an action no longer offered), with their labels."""
    if not problems.form.startswith("action:"):
        return []
    trigger = problems.form.partition(":")[2]
    shown = next(({"comment", *(spec.name for spec in action.inputs)} for action in actions
                  if action.trigger == trigger), set())
    labels = {spec.name: spec.label for spec in definition.fields} | {"comment": _("办理意见")}
    return [f"{labels.get(name, name)}：{'；'.join(messages)}"
            for name, messages in (problems.fields or {}).items() if name not in shown]


def choice_label(spec: FieldSpec, value) -> str:
    return dict(spec.choices).get(value, value) if spec.type == "choice" else value


def _form_groups(definition: Definition, form: dict) -> list[tuple[str | None, list[tuple[FieldSpec, Any]]]]:
    """The form's values in the definition's titled groups (one untitled group when it has none)."""
    return [(title, [(spec, form.get(spec.name)) for spec in specs]) for title, specs in definition.field_groups()]


def _outcome_rows(definition: Definition, outcome: dict) -> list[tuple[FieldSpec, Any]]:
    """What the transitions' inputs decided (decision number, amount...), by their labels."""
    specs = {spec.name: spec for transition in definition.transitions for spec in transition.inputs}
    return [(specs[name], value) for name, value in outcome.items() if name in specs and value not in (None, "")]


def _transition_spec(definition: Definition, case: Case, trigger: str) -> TransitionSpec:
    return compiled(definition).candidates(trigger, case.state)[0].spec


def _quota_for(session: Session, definition: Definition, case: Case, spec: TransitionSpec,
               grant: Grant | None) -> QuotaStatus | None:
    """The places left to the unit the actor forwards for (None: not a forward within a quota)."""
    if grant is None or case.round_id is None or not draws_on_quota(spec):
        return None
    category = case.form_data.get(definition.round_category_field)
    return quota_status(session, session.get(Round, case.round_id), grant.unit_id, category)


def _action_form(session: Session, definition: Definition, case: Case, action: AvailableAction) -> ActionForm:
    spec = _transition_spec(definition, case, action.trigger)
    ends_case = action.dest != RETURN_POINT and definition.state(action.dest).is_final
    return ActionForm(action.trigger, action.label, action.comment_required, tuple(action.inputs),
                      _quota_for(session, definition, case, spec, action.grant), action.grant.unit_name, ends_case,
                      sends_back=spec.send_back is not None)


def _blocked_actions(session: Session, actor: Actor, case: Case, definition: Definition, now: datetime,
                     available: list[AvailableAction]) -> list[BlockedAction]:
    """Actions the actor's grant may fire in this state but a rule refuses now, with the quota they draw on."""
    refused = refused_actions(session, actor, case, now, offered={action.trigger for action in available})
    return [BlockedAction(action.spec.trigger, action.spec.label, action.reasons,
                          _quota_for(session, definition, case, action.spec, action.grant), action.grant.unit_name)
            for action in refused]


def _record_groups(session: Session, actor: Actor, case: Case, definition: Definition) -> list[dict]:
    """The case's records by type, values masked as the actor may read them."""
    rows = records_view(session, actor, case, records_of(session, case))
    return [{"spec": spec, "rows": [row for row in rows if row["type"] == spec.type]} for spec in definition.records
            if any(row["type"] == spec.type for row in rows)]


def _record_forms(actor: Actor, case: Case, definition: Definition) -> list[RecordForm]:
    """The records the actor may add in this state."""
    forms = []
    for spec in definition.records:
        if case.state in spec.states and first_grant(actor, case, spec.by) is not None:
            forms.append(RecordForm(spec, spec.fields))
    return forms


def _may_edit(actor: Actor, case: Case, definition: Definition) -> bool:
    state = definition.state(case.state)
    if state.kind != "draft" or state.waits_for is None:
        return False
    return first_grant(actor, case, (state.waits_for,)) is not None


# --- The case page ----------------------------------------------------------------------------------

@bp.route("/cases/<int:case_id>")
@login_required
def case(case_id: int):
    session, actor = request_session(), current_actor()
    try:
        found = get_case(session, actor, case_id)
        with committing():  # opening a case copied to me reads its copy (「抄送我的」)
            mark_case_copy_read(session, actor, case_id, utcnow())
        return render_case(session, actor, found)
    except NotFound:
        # A juror from another unit reads the case put to his jury on the juror's page.
        case_for_juror(session, session_actor(), case_id)
        return redirect(url_for(".jury_case", case_id=case_id))


@bp.route("/cases/<int:case_id>/sheet")
@login_required
def sheet(case_id: int):
    """The approval sheet (审批表), laid out for A4: the browser prints it, the offices stamp it."""
    session, actor = request_session(), current_actor()
    read = approval_sheet(session, actor, get_case(session, actor, case_id))
    return render_template("cases/sheet.html", sheet=read, form_lines=sheet_lines(read["form_rows"]),
                           outcome_lines=sheet_lines(read["outcome_rows"]))


# Values printed across the whole width of the sheet's table; the others go two to a line.
WIDE_TYPES = ("longtext", "file")


def sheet_lines(rows: list[dict]) -> list[list[dict]]:
    """The sheet's table lines: short values two to a line, long texts and files on a line of their own."""
    lines: list[list[dict]] = []
    for row in rows:
        if row["type"] not in WIDE_TYPES and lines and len(lines[-1]) == 1 and lines[-1][0]["type"] not in WIDE_TYPES:
            lines[-1].append(row)
        else:
            lines.append([row])
    return lines


@bp.route("/cases/<int:case_id>/decide", methods=["POST"])
@login_required
def decide(case_id: int):
    """The decision panel: the button pressed names the transition (``trigger``)."""
    trigger = request.form.get("trigger", "")
    if not IDENTIFIER.match(trigger):
        flash(_("请选择要办理的操作"), "error")
        return redirect(url_for(".case", case_id=case_id, _anchor="actions"))
    return act(case_id, trigger)


@bp.route("/cases/<int:case_id>/actions/<trigger>", methods=["POST"])
@login_required
def act(case_id: int, trigger: str):
    """Fire one transition with the version the page showed, the comment and the inputs."""
    actor = current_actor()
    form_name = f"action:{trigger}"
    version = request.form.get("version", type=int) or 0
    try:
        with committing() as session:
            case = get_case(session, actor, case_id)
            definition = case.definition
            candidates = compiled(definition).candidates(trigger, case.state)
            specs = candidates[0].spec.inputs if candidates else ()
            inputs = read_form(specs, request.form, prefix=_prefix(form_name)) if specs else None
            event = perform_action(session, actor, case, trigger, expected_version=version,
                                   comment=request.form.get("comment"), inputs=inputs)
    except Conflict as err:
        flash(err.message, "error")
        return redirect(url_for(".case", case_id=case_id))
    except ValidationFailed as err:
        return _refused(case_id, Problems(form_name, err.message, err.fields, request.form))
    except ConditionFailed as err:
        return _refused(case_id, Problems(form_name, err.message, {}, request.form))
    granted = granted_by(event)
    if granted is not None:
        flash(_("已批准，核定金额 %(amount)s", amount=money(granted)), "success")
    else:
        flash(_("已办理：%(action)s", action=event.details.get("label", trigger)), "success")
    if current_role() == "reviewer" and "inbox.inbox" in current_app.view_functions:
        return redirect(url_for("inbox.inbox"))
    return redirect(url_for(".case", case_id=case_id))


# Who holds the waiting task: the button's label, the operation, and what the page says after it.
HOLDING_CHANGES = {
    CLAIM: (_l("认领"), claim_task, _l("已认领，该案件在「我的待办」中")),
    RELEASE: (_l("释放"), release_task, _l("已释放，交回本单位办理")),
    TAKE_OVER: (_l("接手"), take_over_task, _l("已接手，原认领人已收到通知")),
}
# Transfer has a form of its own (the colleague and the reason): its button says this.
TRANSFER_LABEL = _l("转交")


@bp.route("/cases/<int:case_id>/holding/<change>", methods=["POST"])
@login_required
def change_holder(case_id: int, change: str):
    """Claim, release or take over the case's waiting task, at the version the page showed."""
    if change not in HOLDING_CHANGES:
        raise NotFound(_("没有这项操作"))
    _label, operation, done = HOLDING_CHANGES[change]
    actor = current_actor()
    try:
        with committing() as session:
            operation(session, actor, get_case(session, actor, case_id),
                      expected_version=request.form.get("version", type=int) or 0)
    except (Conflict, InvalidAction) as err:  # someone else claimed it meanwhile, or the case moved on
        flash(err.message, "error")
        return redirect(url_for(".case", case_id=case_id))
    flash(str(done), "success")
    return redirect(url_for(".case", case_id=case_id))


@bp.route("/cases/<int:case_id>/transfer", methods=["POST"])
@login_required
def transfer(case_id: int):
    """Hand the task one holds to a colleague, with the reason; the colleague is told."""
    actor = current_actor()
    try:
        with committing() as session:
            transfer_task(session, actor, get_case(session, actor, case_id),
                          to_user_id=request.form.get("to_user_id", type=int), reason=request.form.get("reason"),
                          expected_version=request.form.get("version", type=int) or 0)
    except ValidationFailed as err:
        return _refused(case_id, Problems("transfer", err.message, err.fields, request.form))
    except (Conflict, InvalidAction) as err:
        flash(err.message, "error")
        return redirect(url_for(".case", case_id=case_id))
    flash(_("已转交，接收人已收到通知"), "success")
    return redirect(url_for(".case", case_id=case_id))


@bp.route("/cases/<int:case_id>/opinions/ask", methods=["POST"])
@login_required
def ask_opinions_page(case_id: int):
    """加签: ask the chosen people for their opinion before deciding."""
    actor = current_actor()
    try:
        with committing() as session:
            ask_opinions(session, actor, get_case(session, actor, case_id),
                         user_ids=[int(v) for v in request.form.getlist("user_id") if v.isdigit()],
                         note=request.form.get("note"), expected_version=request.form.get("version", type=int) or 0)
    except ValidationFailed as err:
        return _refused(case_id, Problems("ask_opinions", err.message, err.fields, request.form))
    except (Conflict, InvalidAction, PermissionDenied) as err:
        flash(err.message, "error")
        return redirect(url_for(".case", case_id=case_id))
    flash(_("已征求意见，对方已收到通知；全部答复或撤回前不能作出决定"), "success")
    return redirect(url_for(".case", case_id=case_id, _anchor="opinions"))


@bp.route("/cases/<int:case_id>/opinions", methods=["POST"])
@login_required
def give_opinion_page(case_id: int):
    actor = current_actor()
    try:
        with committing() as session:
            give_opinion(session, actor, get_case(session, actor, case_id), opinion=request.form.get("opinion"))
    except ValidationFailed as err:
        return _refused(case_id, Problems("give_opinion", err.message, err.fields, request.form))
    except InvalidAction as err:
        flash(err.message, "error")
        return redirect(url_for(".case", case_id=case_id))
    flash(_("意见已答复，征求人已收到通知"), "success")
    return redirect(url_for(".case", case_id=case_id, _anchor="opinions"))


@bp.route("/cases/<int:case_id>/opinions/withdraw", methods=["POST"])
@login_required
def withdraw_opinions_page(case_id: int):
    actor = current_actor()
    try:
        with committing() as session:
            withdraw_opinion_request(session, actor, get_case(session, actor, case_id),
                                     expected_version=request.form.get("version", type=int) or 0)
    except (Conflict, InvalidAction, PermissionDenied) as err:
        flash(err.message, "error")
    else:
        flash(_("已撤回尚未答复的征求意见"), "success")
    return redirect(url_for(".case", case_id=case_id))


@bp.route("/cases/<int:case_id>/copy", methods=["POST"])
@login_required
def copy(case_id: int):
    """Copy the case to the people picked, with the note; they are told."""
    actor = current_actor()
    user_ids = [int(value) for value in request.form.getlist("user_ids") if value.isdigit()]
    try:
        with committing() as session:
            copy_case(session, actor, get_case(session, actor, case_id), user_ids=user_ids,
                      note=request.form.get("note"), expected_version=request.form.get("version", type=int) or 0)
    except ValidationFailed as err:
        return _refused(case_id, Problems("copy", err.message, err.fields, request.form))
    except (Conflict, InvalidAction) as err:
        flash(err.message, "error")
        return redirect(url_for(".case", case_id=case_id))
    flash(_("已抄送，被抄送人已收到通知"), "success")
    return redirect(url_for(".case", case_id=case_id, _anchor="copies"))


@bp.route("/cases/<int:case_id>/records/<record_type>", methods=["POST"], endpoint="add_record")
@login_required
def add_case_record(case_id: int, record_type: str):
    """Add a record; files picked in its file fields are uploaded first, in the same unit of work."""
    actor = current_actor()
    form_name = f"record:{record_type}"
    prefix = _prefix(form_name)
    try:
        with committing() as session:
            case = get_case(session, actor, case_id)
            definition = case.definition
            try:
                spec = definition.record(record_type)
            except KeyError:
                raise NotFound(_("此业务没有这类记录")) from None
            values = read_form([field for field in spec.fields if field.type != "file"], request.form, prefix=prefix)
            for name, uploads in chosen_files(spec.fields, request.files, prefix=prefix).items():
                values[name] = [_upload(session, actor, case, f"{record_type}.{name}", upload).id
                                for upload in uploads]
            record = add_record(session, actor, case, record_type, values)
    except ValidationFailed as err:
        return _refused(case_id, Problems(form_name, err.message, _by_record_field(record_type, err.fields),
                                          request.form))
    flash(_("已登记：%(record)s", record=spec.label), "success")
    return redirect(url_for(".case", case_id=case_id, _anchor=f"record-{record.id}"))


def _upload(session: Session, actor: Actor, case: Case, field: str, upload: FileStorage):
    filename, content_type, data = read_upload(upload)
    return attach_file(session, actor, case, field, filename=filename, content_type=content_type, data=data,
                       store=file_store(), expected_version=case.version)


def _by_record_field(record_type: str, fields: dict[str, list[str]]) -> dict[str, list[str]]:
    """An upload's messages name the field "type.name" (or "filename"); the form shows them by name."""
    return {name.removeprefix(f"{record_type}."): messages for name, messages in fields.items()}


@bp.route("/cases/<int:case_id>/comments", methods=["POST"])
@login_required
def comment(case_id: int):
    actor = current_actor()
    try:
        with committing() as session:
            comment_on_case(session, actor, get_case(session, actor, case_id), request.form.get("comment", ""))
    except ValidationFailed as err:
        return _refused(case_id, Problems("comment", err.message, err.fields, request.form))
    flash(_("意见已发表"), "success")
    return redirect(url_for(".case", case_id=case_id, _anchor="timeline"))


@bp.route("/cases/<int:case_id>/urge", methods=["POST"])
@login_required
def urge(case_id: int):
    """Urge the case's reviewers (the applicant, or a reviewer above them); once per working day."""
    actor = current_actor()
    try:
        with committing() as session:
            result = urge_case(session, actor, get_case(session, actor, case_id), note=request.form.get("note"))
    except ValidationFailed as err:
        return _refused(case_id, Problems("urge", err.message, err.fields, request.form))
    except (Conflict, InvalidAction) as err:  # already urged today; no longer under review
        flash(err.message, "error")
        return _refused(case_id, Problems("urge", values=request.form), 409)
    flash(_("已催办，已通知 %(count)s 位审核人", count=result.notified), "success")
    return redirect(url_for(".case", case_id=case_id))


@bp.route("/cases/<int:case_id>/attachments/<int:attachment_id>")
@login_required
def download(case_id: int, attachment_id: int):
    """A file of a case, for those who may see the case (as the API's download)."""
    return attachment_download(get_attachment(request_session(), current_actor(), attachment_id, case_id=case_id))


@bp.route("/cases/<int:case_id>/attachments/<int:attachment_id>/preview")
@login_required
def preview(case_id: int, attachment_id: int):
    """A PDF or image of a case shown in the page, for those who may download it."""
    return attachment_preview(get_attachment(request_session(), current_actor(), attachment_id, case_id=case_id))


def _prefix(form_name: str) -> str:
    return form_name.replace(":", "-") + "-"


def _refused(case_id: int, problems: Problems, status: int = 422):
    """The page again with the refused form's messages (the block rolled back: nothing written)."""
    session, actor = request_session(), current_actor()
    return render_case(session, actor, get_case(session, actor, case_id), problems, status)


# --- Jury votes ---------------------------------------------------------------------------------------

@bp.route("/jury", endpoint="jury_duties")
@login_required
def jury_duties_page():
    return _duties_page()


def _duties_page(errors: dict[int, list[str]] | None = None, status: int = 200):
    """Jurors vote as themselves, whatever grant the header shows: all their grants count."""
    session, person = request_session(), session_actor()
    duties = [{
        "duty": duty, "kind_label": duty.case.definition.label,
        "state": duty.case.definition.state(duty.case.state),
        # Jurors who may open the case itself go to it; the others read it as put to the jury.
        "href": url_for(".case" if can_view_case(person, duty.case) else ".jury_case", case_id=duty.case.id),
    } for duty in jury_duties(session, person)]
    return render_template("cases/jury.html", duties=duties, choices=VOTE_LABELS, errors=errors or {}), status


@bp.route("/jury/cases/<int:case_id>", endpoint="jury_case")
@login_required
def jury_case_page(case_id: int):
    """A case put to the juror's jury, read-only and masked, with the ballot while the vote runs."""
    session, person = request_session(), session_actor()
    view = juror_case_view(session, person, case_id)
    return render_template("cases/jury_case.html", view=view, state=view.definition.state(view.case.state),
                           choices=VOTE_LABELS, choice_label=choice_label)


@bp.route("/cases/<int:case_id>/vote", methods=["POST"])
@login_required
def vote(case_id: int):
    person = session_actor()
    try:
        with committing() as session:
            case = session.get(Case, case_id)
            if case is None:
                raise NotFound("案件不存在或您无权查看")
            cast_vote(session, person, case, request.form.get("choice", ""))
    except ValidationFailed as err:
        return _duties_page({case_id: [m for messages in err.fields.values() for m in messages]}, 422)
    flash(_("已投票：%(title)s", title=case.title), "success")
    return redirect(url_for(".jury_duties"))
