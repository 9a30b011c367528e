"""Attachments on the case page: PDFs and images shown in place for those who may see the case,
everything else (HTML and SVG above all) only ever downloaded."""
from __future__ import annotations

import pytest

from engine.base.errors import ValidationFailed
from engine.cases.attachments import FileStore, attach_file
from tests.api_v1.test_cases import act, nominate
from tests.conftest import NOW
from tests.pages.conftest import text_of

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16
PDF = b"%PDF-1.4 test"


@pytest.fixture
def nominated_with(session, world, tmp_path):
    """A submitted honours nomination holding the given files: nominated_with((name, bytes), ...)."""
    def make(*files):
        case = nominate(session, world)
        ids = []
        for filename, data in files:
            attachment = attach_file(session, world.actor("applicant_A1a"), case, "attachments", filename=filename,
                                     content_type="application/octet-stream", data=data,
                                     store=FileStore(tmp_path / "attachments"), expected_version=case.version, now=NOW)
            ids.append(attachment.id)
        act(session, world, case, ("applicant_A1a", "submit"))
        return case, ids
    return make


@pytest.mark.parametrize(("filename", "data", "content_type"), [
    ("推荐表.pdf", PDF, "application/pdf"),
    ("现场照片.png", PNG, "image/png"),
    ("证书.JPG", JPEG, "image/jpeg"),
])
def test_a_pdf_or_an_image_is_sent_inline_with_its_type_and_a_closed_policy(pages, nominated_with, filename, data,
                                                                             content_type):
    case, [attachment_id] = nominated_with((filename, data))
    response = pages("reviewer_A1").get(f"/cases/{case.id}/attachments/{attachment_id}/preview")
    assert response.status_code == 200 and response.data == data
    assert response.mimetype == content_type
    assert response.headers["Content-Disposition"].startswith("inline")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "sandbox" in policy and "frame-ancestors 'self'" in policy
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"


def test_the_case_page_offers_a_preview_for_pdfs_and_images_only(pages, nominated_with):
    case, (pdf, png, docx) = nominated_with(("推荐表.pdf", PDF), ("照片.png", PNG), ("决议.docx", b"PK\x03\x04"))
    page = text_of(pages("reviewer_A1").get(f"/cases/{case.id}"))
    assert f'<iframe src="/cases/{case.id}/attachments/{pdf}/preview" title="推荐表.pdf" loading="lazy">' in page
    assert f'<img src="/cases/{case.id}/attachments/{png}/preview" alt="照片.png" loading="lazy">' in page
    assert f"/attachments/{docx}/preview" not in page
    assert page.count("<details class=\"preview\">") == 2
    # The page's own policy lets it frame its own previews (default-src 'self'), and nothing else.
    policy = pages("reviewer_A1").get(f"/cases/{case.id}").headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-src" not in policy and "child-src" not in policy


@pytest.mark.parametrize(("filename", "data"), [
    ("决议.docx", b"PK\x03\x04"),
    ("伪装.png", b"<html><script>alert(1)</script></html>"),  # bytes that are not what the name says
    ("伪装.pdf", b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>"),
])
def test_other_files_and_files_that_are_not_what_their_name_says_are_never_shown_in_place(pages, nominated_with,
                                                                                         filename, data):
    case, [attachment_id] = nominated_with((filename, data))
    client = pages("reviewer_A1")
    response = client.get(f"/cases/{case.id}/attachments/{attachment_id}/preview")
    assert response.status_code == 404 and data not in response.data
    assert client.get(f"/cases/{case.id}/attachments/{attachment_id}").status_code == 200  # still downloadable


def test_html_and_svg_uploads_are_refused_before_any_preview(pages, session, world, tmp_path):
    """Does an HTML or SVG file ever reach the store? The definitions' default types keep both out."""
    case = nominate(session, world)
    for filename, data in (("page.html", b"<html></html>"), ("logo.svg", b"<svg/>")):
        with pytest.raises(ValidationFailed):
            attach_file(session, world.actor("applicant_A1a"), case, "attachments", filename=filename,
                        content_type="text/html", data=data, store=FileStore(tmp_path / "attachments"),
                        expected_version=case.version, now=NOW)


def test_a_preview_is_404_for_whoever_may_not_see_the_case(pages, nominated_with):
    case, [attachment_id] = nominated_with(("推荐表.pdf", PDF))
    url = f"/cases/{case.id}/attachments/{attachment_id}/preview"
    for who in ("applicant_A1a", "reviewer_A1", "auditor_city"):
        assert pages(who).get(url).status_code == 200, who
    for who in ("reviewer_B", "applicant_A1b"):
        response = pages(who).get(url)
        assert response.status_code == 404 and PDF not in response.data, who
    other, _ = nominated_with()
    assert pages("applicant_A1a").get(f"/cases/{other.id}/attachments/{attachment_id}/preview").status_code == 404


def test_a_file_in_the_form_values_shows_its_size_as_the_attachments_list_does(pages, nominated_with):
    """The form's values and the records' tables list files through one macro, with the one size format."""
    case, [attachment_id] = nominated_with(("推荐表.pdf", PDF + b"x" * (1536 - len(PDF))))
    page = text_of(pages("reviewer_A1").get(f"/cases/{case.id}"))
    values, listed = page.split('id="attachments-heading"')
    link = f'href="/cases/{case.id}/attachments/{attachment_id}">推荐表.pdf</a>'
    for part in (values, listed):
        assert link in part and "1.5 KB" in part.split(link)[1][:200]
