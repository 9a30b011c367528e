"""The approval sheet (审批表) of a case: what union offices print, sign and stamp.

It reads as the case page does for the same reader, from the same rules: the form with personal
data masked unless the reader reviews the case (``case_views.form_as_read``), and the steps as
``trail.case_timeline`` lets this reader read them (internal comments hidden from applicants, a
deputy's step 「代 某某」). Of the steps, the sheet keeps the decisions taken at each level — every
transition out of a review or notice state, in order — and, under each, the opinions asked of
others there (加签) before it was decided. While the case waits at a level, that level closes the
list, undecided, with the opinions already given.

Few statements whatever the case's length: the trail and its units' levels (two), the origin unit,
and the names of the files the form holds (one, when it holds any).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.base.db import utcnow
from engine.cases.attachments import Attachment
from engine.cases.case import Case
from engine.cases.opinions import GIVE
from engine.definitions.spec import Definition, FieldSpec
from engine.org.units import Actor
from engine.reading.case_views import case_summary, form_as_read, outcome_as_read, outcome_fields
from engine.reading.trail import case_timeline

# States whose transitions are a level's decision; drafts are the applicant's own (submitting is in the header).
DECIDING_KINDS = ("review", "notice")


def approval_sheet(session: Session, actor: Actor, case: Case, now: datetime | None = None) -> dict:
    """The sheet of ``case`` as ``actor``, who may see it, may print it."""
    definition = case.definition
    form = form_as_read(actor, case)
    outcome = outcome_as_read(actor, case)
    specs = {spec.name: spec for spec in outcome_fields(definition)}
    outcome_specs = [specs[name] for name, value in outcome.items() if name in specs and value not in (None, "")]
    files = _file_names(session, case, [form.get(spec.name) for spec in definition.fields if spec.type == "file"])
    return case_summary(session, case) | {
        "form_rows": [_row(spec, form.get(spec.name), files) for spec in definition.fields],
        "outcome_rows": [_row(spec, outcome[spec.name], files) for spec in outcome_specs],
        "levels": _levels(definition, case, case_timeline(session, actor, case)),
        "printed_at": now or utcnow(),
    }


def _row(spec: FieldSpec, value, files: dict[int, str]) -> dict:
    return {"name": spec.name, "label": spec.label, "type": spec.type, "value": value,
            "text": _text(spec, value, files)}


def _text(spec: FieldSpec, value, files: dict[int, str]) -> str | None:
    """The value as the sheet prints it: a choice by its label, files by their names."""
    if value is None or value == "" or value == []:
        return None
    if spec.type == "choice":
        return dict(spec.choices).get(value, value)
    if spec.type == "file":
        return "、".join(files.get(attachment_id, "") for attachment_id in value if attachment_id in files) or None
    return str(value)


def _file_names(session: Session, case: Case, values: list) -> dict[int, str]:
    """The names of the files the form's file fields hold, in one statement (none without files)."""
    ids = [attachment_id for value in values if isinstance(value, list) for attachment_id in value
           if isinstance(attachment_id, int)]
    if not ids:
        return {}
    return dict(session.execute(select(Attachment.id, Attachment.filename)
                                .where(Attachment.case_id == case.id, Attachment.id.in_(ids))).all())


def _levels(definition: Definition, case: Case, timeline: list[dict]) -> list[dict]:
    """Each level's decision in order, with the opinions given there before it; the level the case
    waits at last, undecided."""
    levels: list[dict] = []
    consulted: list[dict] = []
    for entry in timeline:
        if entry["action"] == GIVE:
            consulted.append(_opinion(entry))
        elif entry["from_state"] is not None and definition.state(entry["from_state"]).kind in DECIDING_KINDS:
            levels.append(_decision(entry, consulted))
            consulted = []
    state = definition.state(case.state)
    if state.kind in DECIDING_KINDS:
        levels.append(_undecided(state.id, state.label, consulted))
    return levels


def _decision(entry: dict, consulted: list[dict]) -> dict:
    return {
        "seq": entry["seq"], "at": entry["at"], "state": entry["from_state"], "state_label": entry["from_state_label"],
        "action": entry["action"], "action_label": entry["action_label"], "to_state": entry["to_state"],
        "to_state_label": entry["to_state_label"],
        "opinion": entry["comment"], "opinion_hidden": entry["comment_hidden"],
        "signer": entry["actor_name"], "on_behalf_of": entry["on_behalf_of"], "unit_name": entry["unit_name"],
        "unit_level": entry["unit_level"], "unit_level_label": entry["unit_level_label"],
        # The engine's own steps (a notice period ending), recorded with no role, are neither signed nor stamped.
        "decided": True, "by_system": entry["actor_role"] is None, "consulted": consulted,
    }


def _undecided(state: str, state_label: str, consulted: list[dict]) -> dict:
    """The level the case waits at: its blocks stay blank, to be filled in (or printed again) once decided."""
    blank = dict.fromkeys(("seq", "at", "action", "action_label", "to_state", "to_state_label", "opinion", "signer",
                           "on_behalf_of", "unit_name", "unit_level", "unit_level_label"))
    return blank | {"state": state, "state_label": state_label, "opinion_hidden": False, "decided": False,
                    "by_system": False, "consulted": consulted}


def _opinion(entry: dict) -> dict:
    return {"seq": entry["seq"], "at": entry["at"], "signer": entry["actor_name"],
            "on_behalf_of": entry["on_behalf_of"], "unit_name": entry["unit_name"],
            "unit_level_label": entry["unit_level_label"], "opinion": entry["comment"], "opinion_hidden": entry["comment_hidden"]}
