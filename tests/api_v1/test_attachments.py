"""Attachments over the API: multipart upload with the field's limits (413/415/422), the
request size cap, version conflicts, and downloads only for those who may see the case."""
from __future__ import annotations

import io
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from engine.audit.chain import AuditEvent
from engine.cases.attachments import Attachment
from engine.operations.transitions import create_draft, submit_case
from tests.api_v1.conftest import error_of
from tests.conftest import NOW

FORM = {"award_type": "labour_medal", "nominee_name": "赵六", "employer": "A1a公司", "ownership": "public",
        "merits_summary": "带徒三十人"}
PDF = b"%PDF-1.4 test nomination form"
MB = 1024 * 1024


@pytest.fixture
def draft(session, world):
    case = create_draft(session, world.actor("applicant_A1a"), "basic_nomination", form=FORM, now=NOW)
    session.commit()
    return case


def upload(client, case, *, field="attachments", version=None, name="推荐表.pdf", data=PDF, **extra):
    form = {"field": field, "version": str(case.version if version is None else version),
            "file": (io.BytesIO(data), name), **extra}
    return client.post(f"cases/{case.id}/attachments", data=form, content_type="multipart/form-data")


def uploaded(client, case, **kwargs) -> dict:
    response = upload(client, case, **kwargs)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def attachment_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Attachment))


def assert_nothing_written(session, case, version, app):
    session.expire_all()
    assert attachment_count(session) == 0
    assert session.get(type(case), case.id).version == version
    assert not any(e.action == "attach_file" for e in session.scalars(select(AuditEvent).where(
        AuditEvent.case_id == case.id)))
    store = app.extensions["unionflow"].settings.attachments_dir
    assert not store.exists() or not any(path.is_file() for path in store.rglob("*"))


# --- Upload -----------------------------------------------------------------------------------------

def test_upload_lands_in_the_field_and_answers_its_metadata(api, session, draft):
    """Can the applicant upload a file into the form's file field, and see the new version?"""
    version = draft.version
    body = uploaded(api("applicant_A1a"), draft)
    assert body["field"] == "attachments" and body["filename"] == "推荐表.pdf"
    assert body["content_type"] == "application/pdf" and body["size_bytes"] == len(PDF)
    assert len(body["sha256"]) == 64 and body["uploaded_at"].endswith("+08:00")
    assert body["case_version"] == version + 1
    session.expire_all()
    assert session.get(type(draft), draft.id).form_data["attachments"] == [body["id"]]


def test_the_type_comes_from_the_extension_not_from_the_client(api, draft):
    form = {"field": "attachments", "version": str(draft.version),
            "file": (io.BytesIO(b"\xff\xd8jpeg"), "照片.JPG", "text/html")}
    response = api("applicant_A1a").post(f"cases/{draft.id}/attachments", data=form, content_type="multipart/form-data")
    assert response.status_code == 201
    assert response.get_json()["content_type"] == "image/jpeg"


def test_a_file_over_the_fields_limit_is_413_naming_the_limit(api, session, draft, app):
    version = draft.version
    response = upload(api("applicant_A1a"), draft, name="大.pdf", data=b"x" * (10 * MB + 1))
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "payload_too_large"
    assert error["message"] == "文件不能超过 10 MB"
    assert error["fields"] == {"attachments": ["文件不能超过 10 MB"]}
    assert_nothing_written(session, draft, version, app)


def test_a_body_over_the_request_cap_is_413_before_it_is_read(api, session, draft, app):
    app.config["MAX_CONTENT_LENGTH"] = 4096
    version = draft.version
    response = upload(api("applicant_A1a"), draft, data=b"%PDF" + b"x" * 8192)
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "payload_too_large"
    assert error["message"] == "请求内容过大，单次上传不能超过 4 KB"
    assert_nothing_written(session, draft, version, app)


def test_the_request_cap_defaults_above_the_largest_file_a_definition_may_allow(app):
    assert app.config["MAX_CONTENT_LENGTH"] == 110 * MB


@pytest.mark.parametrize("name", ["程序.exe", "无扩展名", "表.html"])
def test_a_type_the_field_does_not_accept_is_415_naming_the_allowed_types(api, session, draft, app, name):
    version = draft.version
    response = upload(api("applicant_A1a"), draft, name=name)
    assert response.status_code == 415
    error = error_of(response)
    assert error["code"] == "unsupported_media_type"
    assert "pdf、jpg" in error["message"] and "pdf、jpg" in error["fields"]["attachments"][0]
    assert_nothing_written(session, draft, version, app)


def test_a_body_that_is_not_multipart_is_415(api, session, draft, app):
    version = draft.version
    response = api("applicant_A1a").post(f"cases/{draft.id}/attachments",
                                         json={"field": "attachments", "version": version})
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"
    assert_nothing_written(session, draft, version, app)


def pdf_part(name="a.pdf", data=PDF):
    return lambda: (io.BytesIO(data), name)  # a fresh stream per request: the client closes it


@pytest.mark.parametrize(("parts", "field", "message"), [
    ({"field": "attachments", "version": "1"}, "file", "此项为必填项"),
    ({"version": "1", "file": pdf_part()}, "field", "此项为必填项"),
    ({"field": "attachments", "file": pdf_part()}, "version", "此项为必填项"),
    ({"field": "attachments", "version": "第一版", "file": pdf_part()}, "version", "应为整数"),
    ({"field": "attachments", "version": "1", "file": "不是文件"}, "file", "应为上传的文件"),
    ({"field": "attachments", "version": "1", "file": pdf_part("", b"")}, "file", "请选择要上传的文件"),
    ({"field": "attachments", "version": "1", "file": pdf_part(), "colour": "red"}, "colour", "不认识的字段"),
])
def test_missing_or_bad_parts_are_422_with_field_messages(api, session, draft, app, parts, field, message):
    form = {name: part() if callable(part) else part for name, part in parts.items()}
    version = draft.version
    response = api("applicant_A1a").post(f"cases/{draft.id}/attachments", data=form,
                                         content_type="multipart/form-data")
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "validation_failed"
    assert message in error["fields"][field]
    assert_nothing_written(session, draft, version, app)


@pytest.mark.parametrize(("field", "message"), [
    ("merits_summary", "表单中没有附件项「merits_summary」"),
    ("no_such_field", "表单中没有附件项「no_such_field」"),
])
def test_a_field_that_takes_no_files_is_422(api, session, draft, app, field, message):
    response = upload(api("applicant_A1a"), draft, field=field)
    assert response.status_code == 422
    assert error_of(response)["fields"] == {"field": [message]}
    assert_nothing_written(session, draft, draft.version, app)


def test_an_empty_file_is_422(api, session, draft, app):
    response = upload(api("applicant_A1a"), draft, data=b"")
    assert response.status_code == 422
    assert error_of(response)["fields"] == {"attachments": ["文件为空"]}


def test_a_stale_version_is_409_with_the_current_version(api, session, draft, app):
    version = draft.version
    response = upload(api("applicant_A1a"), draft, version=version - 1 if version > 1 else version + 5)
    assert response.status_code == 409
    assert error_of(response)["current_version"] == version
    assert_nothing_written(session, draft, version, app)


def test_only_the_drafts_editor_uploads(api, session, world, draft, app):
    """Can anyone but the applicant of the draft's unit put a file into it?"""
    version = draft.version
    assert upload(api("applicant_A1b"), draft).status_code == 404  # another unit: the case does not exist for them
    assert upload(api("applicant_B1a"), draft).status_code == 404
    denied = upload(api("reviewer_A1"), draft)  # sees the case, does not edit drafts
    assert denied.status_code == 403 and error_of(denied)["code"] == "permission_denied"
    assert upload(api("auditor_city"), draft).status_code == 403
    assert_nothing_written(session, draft, version, app)
    submit_case(session, world.actor("applicant_A1a"), draft, expected_version=version, now=NOW)
    session.commit()
    submitted = upload(api("applicant_A1a"), draft)
    assert submitted.status_code == 409 and error_of(submitted)["code"] == "invalid_action"


def test_an_unknown_case_is_404(api):
    response = api("applicant_A1a").post("cases/999999/attachments", data={
        "field": "attachments", "version": "1", "file": (io.BytesIO(PDF), "a.pdf")}, content_type="multipart/form-data")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


# --- List and download -------------------------------------------------------------------------------

def test_the_case_lists_its_attachments(api, draft):
    applicant = api("applicant_A1a")
    first = uploaded(applicant, draft)
    second = uploaded(applicant, draft, version=first["case_version"], name="决议.png", data=b"\x89PNG")
    listed = applicant.get(f"cases/{draft.id}/attachments").get_json()["attachments"]
    assert [a["id"] for a in listed] == [first["id"], second["id"]]
    assert listed[1] == {k: v for k, v in second.items() if k != "case_version"}
    assert api("reviewer_B").get(f"cases/{draft.id}/attachments").status_code == 404


@pytest.mark.parametrize("who", ["applicant_A1a", "reviewer_A1a", "reviewer_A1", "reviewer_A", "reviewer_city",
                                 "auditor_city", "auditor_A"])
def test_those_who_see_the_case_download_the_bytes(api, draft, who):
    body = uploaded(api("applicant_A1a"), draft)
    response = api(who).get(f"cases/{draft.id}/attachments/{body['id']}")
    assert response.status_code == 200
    assert response.data == PDF
    assert response.mimetype == "application/pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote('推荐表.pdf')}" in disposition


@pytest.mark.parametrize("who", ["applicant_A1b", "applicant_B1a", "reviewer_A2", "reviewer_B1", "reviewer_B"])
def test_others_get_404_for_the_file(api, draft, who):
    body = uploaded(api("applicant_A1a"), draft)
    response = api(who).get(f"cases/{draft.id}/attachments/{body['id']}")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    assert PDF not in response.data


def test_an_attachment_of_another_case_is_404_under_this_cases_url(api, session, world, draft):
    other = create_draft(session, world.actor("applicant_A1a"), "basic_nomination", form=FORM, now=NOW)
    session.commit()
    body = uploaded(api("applicant_A1a"), draft)
    assert api("applicant_A1a").get(f"cases/{other.id}/attachments/{body['id']}").status_code == 404
    assert api("applicant_A1a").get(f"cases/{draft.id}/attachments/{body['id'] + 1000}").status_code == 404


def test_a_record_type_the_kind_does_not_keep_is_422(api, session, draft, app):
    """Record file fields are named "record_type.field" (see test_records); basic_nomination keeps none."""
    response = upload(api("applicant_A1a"), draft, field="home_visit.attachments")
    assert response.status_code == 422
    assert error_of(response)["fields"] == {"record_type": ["「基础推荐流程（测试用）」没有此类记录"]}
    assert_nothing_written(session, draft, draft.version, app)


def test_upload_and_download_are_in_the_openapi_document(api):
    spec = api().get("openapi.json").get_json()
    post = spec["paths"]["/api/v1/cases/{case_id}/attachments"]["post"]
    assert "multipart/form-data" in post["requestBody"]["content"]
    assert {"201", "413", "415", "422", "409"} <= set(post["responses"])
    download = spec["paths"]["/api/v1/cases/{case_id}/attachments/{attachment_id}"]["get"]
    assert download["responses"]["200"]["content"]["*/*"]["schema"]["format"] == "binary"
