"""Files in a case's file fields: limits, permissions, audit, and the form's references to them."""
import pytest
from sqlalchemy import func, select

from engine.audit.chain import AuditEvent
from engine.base.errors import Conflict, InvalidAction, NotFound, PermissionDenied, ValidationFailed
from engine.cases.attachments import (
    Attachment, FileStore, FileTooLarge, UnsupportedFileType, attach_file, get_attachment,
)
from engine.cases.integrity import verify_audit_chain
from engine.operations.transitions import create_draft, submit_case, update_draft
from tests.conftest import NOW

FORM = {"award_type": "labour_medal", "nominee_name": "赵六", "employer": "A1a公司", "ownership": "public",
        "merits_summary": "带徒三十人"}
PDF = b"%PDF-1.4 test nomination form"


@pytest.fixture
def store(tmp_path):
    return FileStore(tmp_path / "files")


@pytest.fixture
def draft(session, world):
    case = create_draft(session, world.actor("applicant_A1a"), "basic_nomination", form=FORM, now=NOW)
    session.commit()
    return case


def attach(session, world, case, store, *, who="applicant_A1a", name="推荐表.pdf", data=PDF, field="attachments"):
    return attach_file(session, world.actor(who), case, field, filename=name, content_type="application/pdf",
                       data=data, store=store, expected_version=case.version, now=NOW)


def test_upload_lands_in_the_field_the_store_and_the_trail(session, world, draft, store):
    attachment = attach(session, world, draft, store)
    assert draft.form_data["attachments"] == [attachment.id]
    assert store.read(attachment.sha256) == PDF
    event = session.scalars(select(AuditEvent).where(AuditEvent.case_id == draft.id).order_by(AuditEvent.seq.desc())).first()
    assert event.action == "attach_file"
    assert event.details["sha256"] == attachment.sha256 and event.details["filename"] == "推荐表.pdf"
    assert verify_audit_chain(session, [draft.id]).ok


def test_removing_an_upload_from_the_field_and_submitting(session, world, draft, store):
    first = attach(session, world, draft, store)
    attach(session, world, draft, store, name="决议.jpg", data=b"\xff\xd8jpeg")
    update_draft(session, world.actor("applicant_A1a"), draft, {"attachments": [first.id]},
                 expected_version=draft.version, now=NOW)
    assert draft.form_data["attachments"] == [first.id]
    submit_case(session, world.actor("applicant_A1a"), draft, expected_version=draft.version, now=NOW)
    assert draft.state == "township_review"


def test_path_in_the_file_name_is_dropped(session, world, draft, store):
    assert attach(session, world, draft, store, name="../../etc/推荐表.pdf").filename == "推荐表.pdf"


@pytest.mark.parametrize(("name", "data", "error"), [
    ("表.exe", PDF, UnsupportedFileType),
    ("无扩展名", PDF, UnsupportedFileType),
    ("空.pdf", b"", ValidationFailed),
    ("大.pdf", b"x" * (10 * 1024 * 1024 + 1), FileTooLarge),
])
def test_bad_upload_is_refused_and_nothing_is_written(session, world, draft, store, name, data, error):
    version = draft.version
    with pytest.raises(error) as caught:
        attach(session, world, draft, store, name=name, data=data)
    assert list(caught.value.fields) == ["attachments"]
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Attachment)) == 0
    assert draft.version == version


def test_limit_on_the_number_of_files(session, world, draft, store, monkeypatch):
    for i in range(10):
        attach(session, world, draft, store, name=f"{i}.pdf", data=PDF + bytes([i]))
    with pytest.raises(ValidationFailed) as caught:
        attach(session, world, draft, store, name="11.pdf")
    assert caught.value.fields == {"attachments": ["最多上传 10 个附件"]}


def test_unknown_field_is_refused(session, world, draft, store):
    with pytest.raises(ValidationFailed) as caught:
        attach(session, world, draft, store, field="merits_summary")
    assert "field" in caught.value.fields


def test_only_the_applicant_uploads_and_only_to_a_draft(session, world, draft, store):
    with pytest.raises(NotFound):  # another unit's applicant does not even see the case
        attach(session, world, draft, store, who="applicant_A1b")
    session.rollback()
    with pytest.raises(PermissionDenied):  # the township reviewer sees it but does not edit drafts
        attach(session, world, draft, store, who="reviewer_A1")
    session.rollback()
    submit_case(session, world.actor("applicant_A1a"), draft, expected_version=draft.version, now=NOW)
    with pytest.raises(InvalidAction):
        attach(session, world, draft, store)


def test_stale_version_is_a_conflict(session, world, draft, store):
    with pytest.raises(Conflict):
        attach_file(session, world.actor("applicant_A1a"), draft, "attachments", filename="a.pdf",
                    content_type="application/pdf", data=PDF, store=store, expected_version=draft.version - 1, now=NOW)


def test_attachment_visible_only_to_those_who_see_the_case(session, world, draft, store):
    attachment = attach(session, world, draft, store)
    for allowed in ("applicant_A1a", "reviewer_A1", "reviewer_city", "auditor_A"):
        assert get_attachment(session, world.actor(allowed), attachment.id).id == attachment.id
    for denied in ("applicant_A1b", "reviewer_B", "reviewer_A2"):
        with pytest.raises(NotFound):
            get_attachment(session, world.actor(denied), attachment.id)
