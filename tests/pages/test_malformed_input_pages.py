"""Pages given ids no integer column holds (in the query, the path, a form field) answer as for
any unknown id, never with a database error: on PostgreSQL such a number fails the query."""
from __future__ import annotations

import pytest

from engine.base.db import MAX_ROW_ID

TOO_LARGE = str(MAX_ROW_ID + 1)
HUGE = "99999999999"


@pytest.mark.parametrize("who, url", [
    ("reviewer_A1", f"/inbox?unit={HUGE}"),
    ("reviewer_A1", f"/inbox?round={HUGE}"),
    ("reviewer_A1", "/inbox?unit=²"),
    ("applicant_A1a", f"/my/cases?after={TOO_LARGE}"),
    ("applicant_A1a", "/my/cases?after=²"),
    ("applicant_A1a", f"/notifications?before={TOO_LARGE}"),
    ("applicant_A1a", "/notifications?before=²"),
    ("auditor_city", f"/audit/log?before={TOO_LARGE}"),
    ("auditor_city", "/audit/log?before=²"),
    ("admin", f"/admin/users?after={TOO_LARGE}"),
])
def test_a_page_given_an_id_beyond_the_columns_still_answers(pages, who, url):
    response = pages(who).get(url)
    assert response.status_code in (200, 422), (url, response.status_code)


@pytest.mark.parametrize("query", [f"unit={HUGE}", f"case_id={HUGE}", f"round={HUGE}", "unit=²"])
def test_the_audit_search_refuses_an_id_beyond_the_columns_on_its_field(pages, query):
    response = pages("auditor_city").get(f"/audit?{query}")
    assert response.status_code == 422


@pytest.mark.parametrize("url", [f"/cases/{HUGE}", f"/cases/{TOO_LARGE}/edit", f"/notices/{HUGE}",
                                 f"/admin/users/{HUGE}", f"/admin/rounds/{HUGE}", f"/notifications/{HUGE}"])
def test_an_id_in_a_page_path_beyond_the_columns_is_not_found(pages, url):
    who = "admin" if url.startswith("/admin") else "applicant_A1a"
    assert pages(who).get(url).status_code == 404


@pytest.mark.parametrize("round_id", [TOO_LARGE, "9999999999", "²"])
def test_a_new_case_with_a_round_beyond_the_columns_is_refused_on_its_field(pages, round_id):
    response = pages("applicant_A1a").submit("/cases/new/basic_nomination", {"round_id": round_id,
                                                                             "nominee_name": "孙八"})
    assert response.status_code == 422


@pytest.mark.parametrize("attachment_id", [TOO_LARGE, HUGE, "²"])
def test_a_kept_attachment_id_beyond_the_columns_is_refused_on_its_field(pages, attachment_id):
    response = pages("applicant_A1a").submit("/cases/new/basic_nomination", {"attachments": attachment_id,
                                                                             "nominee_name": "孙八"})
    assert response.status_code == 422
    assert "附件不存在或不属于此案件" in response.get_data(as_text=True) or "附件编号不正确" in response.get_data(as_text=True)


def test_a_round_whose_settings_nest_past_the_bound_is_refused_on_the_field(pages):
    """The admin page reads a round's settings as JSON: 1,000 levels are bad input, not a 500."""
    deep = '{"a":' * 1000 + "1" + "}" * 1000
    response = pages("admin").submit("/admin/rounds", {"kind": "honours", "title": "第一批", "settings": deep})
    assert response.status_code == 422
    assert "不是有效的 JSON" in response.get_data(as_text=True)


def test_a_unit_name_with_a_bidi_override_is_refused_on_its_field(pages, world):
    response = pages("admin").submit("/admin/units", {"name": "新\u202e工会", "level": "grassroots", "kind": "union",
                                                      "parent_id": str(world.unit("A1").id)})
    assert response.status_code == 422
    assert "不能包含控制字符" in response.get_data(as_text=True)


def test_a_case_form_with_an_escape_sequence_is_refused_on_its_field(pages):
    response = pages("applicant_A1a").submit("/cases/new/basic_nomination", {"nominee_name": "张\x1b[31m三"})
    assert response.status_code == 422
    assert "不能包含控制字符" in response.get_data(as_text=True)


def test_a_birth_date_of_9999_is_refused_on_the_page(pages):
    response = pages("applicant_A1a").submit("/cases/new/basic_nomination", {"nominee_name": "张三",
                                                                             "birth_date": "9999-12-31"})
    assert response.status_code == 422
    assert "应在 1940-01-01 至 今天 之间" in response.get_data(as_text=True)


def test_a_parameter_set_from_the_year_9999_is_refused_on_the_page(pages, world):
    response = pages("admin").submit("/admin/parameters/hardship_aid.standards/new",
                                     {"unit_id": str(world.unit("city").id), "valid_from": "9999-12-31"})
    assert response.status_code == 422
    assert "日期应在 1900-01-01 至 2099-12-31 之间" in response.get_data(as_text=True)
