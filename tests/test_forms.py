"""Case forms generated from definitions: per-field Chinese errors, stored values, all-or-nothing updates.

A small synthetic definition ("form_check") carries one field of every type; the honours
definition is used where real forms matter (create_draft / update_draft on a nomination).
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from engine.audit.chain import AuditEvent
from engine.base.errors import ValidationFailed
from engine.cases.case import Case
from engine.definitions.forms import clean_form_input, from_stored, to_stored
from engine.definitions.parse import parse_definition
from engine.definitions.spec import FIELD_TYPES
from engine.definitions.store import current_definition, sync_definitions
from engine.operations.transitions import create_draft, update_draft
from tests.conftest import NOW, SETTINGS

SYNTHETIC_YAML = """\
kind: form_check
label: 表单校验样例
origin_level: grassroots
title_field: name
states:
  - {id: draft, label: 草稿, kind: draft}
  - {id: township_review, label: 镇（街道）总工会审核, kind: review, waits_for: reviewer@township}
  - {id: approved, label: 已批准, kind: final}
transitions:
  - {trigger: submit, label: 提交, source: draft, dest: township_review, by: applicant@origin}
  - {trigger: approve, label: 审核通过, source: township_review, dest: approved, by: $assignee}
form:
  - {name: name, label: 姓名, type: text, max_length: 5, required: true}
  - {name: story, label: 经历, type: longtext, max_length: 10}
  - {name: family_size, label: 家庭人口, type: integer, min: 1, max: 10}
  - {name: score, label: 成绩, type: decimal, places: 1, min: 0, max: 100}
  - {name: amount, label: 补助金额, type: money, min: 0, max: 20000.00}
  - {name: visit_date, label: 走访日期, type: date, min: 2020-01-01, max: 2030-12-31}
  - {name: category, label: 困难类别, type: choice, choices: [{value: deep, label: 深度困难}, {value: relative, label: 相对困难}]}
  - {name: id_number, label: 身份证号码, type: id_number}
  - {name: phone, label: 联系电话, type: phone}
  - {name: documents, label: 证明材料, type: file, max_files: 2}
  - {name: checks, label: 声明事项, type: checklist,
     choices: [{value: arrears, label: 拖欠工资}, {value: accident, label: 安全事故}]}
"""
SYNTHETIC = parse_definition(SYNTHETIC_YAML, "form_check.yaml")
HONOURS = parse_definition((SETTINGS.workflows_dir / "honours.yaml").read_text(encoding="utf-8"), "honours.yaml")
HONOURS_FORM = {"award_type": "labour_medal", "nominee_name": "张三", "employer": "A1a公司", "ownership": "public",
                "merits_summary": "十年扎根一线"}

VALID_ID = "11010519491231002X"
VALID_ID_ALL_DIGITS = "320583199003071239"
WRONG_CHECKSUM = "320583199003071238"
BAD_BIRTH_DATE = "110105194913310021"  # month 13; the check digit is right for these 17 digits
DATE_FORMAT = "请按 年-月-日 填写日期，例如 2026-05-01"


def test_synthetic_definition_covers_every_field_type():
    assert {spec.type for spec in SYNTHETIC.fields} == set(FIELD_TYPES)


def errors_for(definition, data: dict) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as caught:
        clean_form_input(definition, data)
    return caught.value.fields


@pytest.mark.parametrize(("field", "value", "message"), [
    ("name", "张三李四王五", "不能超过 5 个字"),
    ("name", 12345, "格式不正确"),
    ("story", "一" * 11, "不能超过 10 个字"),
    ("family_size", "三", "请填写整数"),
    ("family_size", "5.5", "请填写整数"),
    ("family_size", 5.5, "请填写整数"),
    ("family_size", True, "请填写整数"),
    ("family_size", [3], "请填写整数"),
    ("family_size", 0, "应在 1 至 10 之间"),
    ("family_size", "11", "应在 1 至 10 之间"),
    ("score", "85.55", "最多保留 1 位小数"),
    ("score", 85.5, '数字请以字符串或整数提交，例如 "85.5"'),
    ("score", "八十五", "请填写数字，例如 85.5"),
    ("score", "-0.1", "应在 0 至 100 之间"),
    ("score", "100.1", "应在 0 至 100 之间"),
    ("amount", "1.234", "金额最多保留两位小数"),
    ("amount", 12.5, '金额请以字符串或整数提交，例如 "1234.50"'),
    ("amount", True, '金额请以字符串或整数提交，例如 "1234.50"'),
    ("amount", "一百元", "请填写金额，例如 1234.50"),
    ("amount", "NaN", "请填写金额，例如 1234.50"),
    ("amount", "1e30", "金额过大"),
    ("amount", "Infinity", "请填写金额，例如 1234.50"),
    ("amount", [100], "请填写金额，例如 1234.50"),
    ("amount", "-0.01", "应在 0.00 元 至 20000.00 元 之间"),
    ("amount", "20000.01", "应在 0.00 元 至 20000.00 元 之间"),
    ("visit_date", "2026-02-30", DATE_FORMAT),
    ("visit_date", "2026/05/01", DATE_FORMAT),
    ("visit_date", "2026-05-01T08:00:00", DATE_FORMAT),
    ("visit_date", 20260501, DATE_FORMAT),
    ("visit_date", "2019-12-31", "应在 2020-01-01 至 2030-12-31 之间"),
    ("visit_date", "2031-01-01", "应在 2020-01-01 至 2030-12-31 之间"),
    ("category", "poor", "请从以下选项中选择：深度困难、相对困难"),
    ("category", "深度困难", "请从以下选项中选择：深度困难、相对困难"),
    ("id_number", WRONG_CHECKSUM, "身份证号码校验位不正确"),
    ("id_number", BAD_BIRTH_DATE, "身份证号码中的出生日期或地区码无效"),
    ("id_number", VALID_ID[:-1], "身份证号码应为18位（最后一位可为X）"),
    ("id_number", VALID_ID + "1", "身份证号码应为18位（最后一位可为X）"),
    ("id_number", "320583900307123", "身份证号码应为18位（最后一位可为X）"),  # old 15-digit number
    ("phone", "12345", "请填写11位手机号或带区号的固定电话"),
    ("phone", "1381234567", "请填写11位手机号或带区号的固定电话"),
    ("phone", "23812345678", "请填写11位手机号或带区号的固定电话"),
    ("phone", "12345678", "请填写11位手机号或带区号的固定电话"),  # a landline needs its area code
    ("documents", [1, "two"], "附件编号不正确"),
    ("documents", "1", "附件格式不正确"),
    ("documents", [1, 2, 3], "最多上传 2 个附件"),
    ("nickname", "小张", "表单中没有此项"),
    ("checks", "no", "格式不正确"),
    ("checks", {"strike": {"answer": "no"}}, "没有此项：strike"),
    ("checks", {"arrears": {"answer": "maybe"}}, "「拖欠工资」：请选择否或是"),
    ("checks", {"arrears": {"note": "说明了却没选"}}, "「拖欠工资」：请选择否或是"),
    ("checks", {"arrears": {"answer": "no", "note": "长" * 501}}, "「拖欠工资」：说明不能超过 500 个字"),
    ("checks", {"arrears": {"answer": "no", "note": "a\x00b"}}, "「拖欠工资」：不能包含无法保存的字符"),
])
def test_bad_value_gets_a_chinese_message_on_its_field(field, value, message):
    assert errors_for(SYNTHETIC, {field: value}) == {field: [message]}


@pytest.mark.parametrize(("field", "value", "cleaned", "stored"), [
    ("name", "张三", "张三", "张三"),
    ("family_size", 4, 4, 4),
    ("family_size", "4", 4, 4),
    ("family_size", 4.0, 4, 4),
    ("score", "85.5", Decimal("85.5"), "85.5"),
    ("score", 100, Decimal("100.0"), "100.0"),
    ("amount", "1234.5", Decimal("1234.50"), "1234.50"),
    ("amount", "1,234.50", Decimal("1234.50"), "1234.50"),
    ("amount", 800, Decimal("800.00"), "800.00"),
    ("amount", "0", Decimal("0.00"), "0.00"),
    ("amount", "20000", Decimal("20000.00"), "20000.00"),
    ("visit_date", "2026-05-01", date(2026, 5, 1), "2026-05-01"),
    ("category", "deep", "deep", "deep"),
    ("id_number", VALID_ID, VALID_ID, VALID_ID),
    ("id_number", VALID_ID.lower(), VALID_ID, VALID_ID),
    ("id_number", VALID_ID_ALL_DIGITS, VALID_ID_ALL_DIGITS, VALID_ID_ALL_DIGITS),
    ("phone", "13812345678", "13812345678", "13812345678"),
    ("phone", "138 1234 5678", "13812345678", "13812345678"),
    ("phone", "010-12345678", "010-12345678", "010-12345678"),
    ("phone", "0512-6789012", "0512-6789012", "0512-6789012"),
    ("phone", "051267890123", "051267890123", "051267890123"),
    ("phone", "0512-67890123-801", "0512-67890123-801", "0512-67890123-801"),
    # A checklist keeps the definition's order, drops unanswered items and empty notes.
    ("checks", {"accident": {"answer": "yes", "note": " 2025 年一起 "}, "arrears": {"answer": "no", "note": ""}},
     {"arrears": {"answer": "no"}, "accident": {"answer": "yes", "note": "2025 年一起"}},
     {"arrears": {"answer": "no"}, "accident": {"answer": "yes", "note": "2025 年一起"}}),
    ("checks", {"arrears": {"answer": ""}}, None, None),
])
def test_good_value_is_cleaned_and_stored_in_json_form(field, value, cleaned, stored):
    values = clean_form_input(SYNTHETIC, {field: value})
    assert values == {field: cleaned}
    assert to_stored(SYNTHETIC, values) == {field: stored}
    assert from_stored(SYNTHETIC, {field: stored}) == {field: cleaned}


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_input_means_empty(blank):
    assert clean_form_input(SYNTHETIC, {"name": blank, "amount": blank, "id_number": blank}) == {
        "name": None, "amount": None, "id_number": None,
    }


def test_money_is_stored_as_a_two_decimal_string_never_a_float():
    stored = to_stored(SYNTHETIC, clean_form_input(SYNTHETIC, {"amount": "99.9"}))
    assert stored["amount"] == "99.90"
    assert isinstance(stored["amount"], str)


def test_several_errors_are_reported_together():
    fields = errors_for(SYNTHETIC, {
        "name": "张三李四王五", "family_size": "多", "amount": "1.001", "id_number": WRONG_CHECKSUM,
        "phone": "110", "nickname": "小张", "category": "deep",
    })
    assert set(fields) == {"name", "family_size", "amount", "id_number", "phone", "nickname"}


def test_choice_labels_with_braces_appear_verbatim_in_the_message():
    definition = parse_definition(SYNTHETIC_YAML.replace("label: 相对困难}", 'label: "相对困难{乙类}"}'), "braces.yaml")
    assert errors_for(definition, {"category": "poor"}) == {"category": ["请从以下选项中选择：深度困难、相对困难{乙类}"]}


def test_form_that_is_not_a_mapping_is_refused():
    with pytest.raises(ValidationFailed) as caught:
        clean_form_input(SYNTHETIC, ["name", "张三"])
    assert caught.value.fields == {"_form": ["表单数据格式不正确"]}


def test_honours_form_errors_name_each_field():
    fields = errors_for(HONOURS, {
        "award_type": "nobel_prize", "birth_date": "1939-12-31", "id_number": BAD_BIRTH_DATE, "phone": "0000",
        "merits_summary": "事" * 501,
    })
    assert fields["award_type"][0].startswith("请从以下选项中选择：五一劳动奖章")
    assert fields["birth_date"] == ["应在 1940-01-01 至 今天 之间"]
    assert fields["id_number"] == ["身份证号码中的出生日期或地区码无效"]
    assert fields["phone"] == ["请填写11位手机号或带区号的固定电话"]
    assert fields["merits_summary"] == ["不能超过 500 个字"]


# --- Through the operations -----------------------------------------------------------------------

@pytest.fixture
def form_check(session, tmp_path):
    """The synthetic kind, stored as a definition version for this test only."""
    (tmp_path / "form_check.yaml").write_text(SYNTHETIC_YAML, encoding="utf-8")
    sync_definitions(session, tmp_path)
    return current_definition(session, "form_check")


GOOD_SYNTHETIC = {
    "name": "王芳", "story": "下岗再就业", "family_size": "3", "amount": "1640.5", "visit_date": "2026-03-06",
    "category": "relative", "id_number": VALID_ID.lower(), "phone": "0512-6789012",
}


def audit_count(session, case) -> int:
    return session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.case_id == case.id))


def reloaded(session, case) -> Case:
    session.expire_all()
    return session.get(Case, case.id)


def test_draft_stores_json_values_that_survive_the_database(session, world, form_check):
    case = create_draft(session, world.actor("applicant_A1a"), "form_check", form=GOOD_SYNTHETIC, now=NOW)
    session.commit()
    case = reloaded(session, case)
    assert case.form_data == {
        "name": "王芳", "story": "下岗再就业", "family_size": 3, "amount": "1640.50", "visit_date": "2026-03-06",
        "category": "relative", "id_number": VALID_ID, "phone": "0512-6789012",
    }
    assert not [value for value in case.form_data.values() if isinstance(value, float)]
    assert case.title == "王芳"


def test_create_draft_with_bad_fields_reports_them_all_and_creates_nothing(session, world, form_check):
    cases_before = session.scalar(select(func.count()).select_from(Case))
    with pytest.raises(ValidationFailed) as caught:
        create_draft(session, world.actor("applicant_A1a"), "form_check", now=NOW,
                     form={**GOOD_SYNTHETIC, "amount": 1640.5, "phone": "5551234", "category": "poor"})
    assert set(caught.value.fields) == {"amount", "phone", "category"}
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Case)) == cases_before


def test_empty_string_clears_a_field(session, world, form_check):
    applicant = world.actor("applicant_A1a")
    case = create_draft(session, applicant, "form_check", form=GOOD_SYNTHETIC, now=NOW)
    update_draft(session, applicant, case, {"phone": "", "amount": ""}, expected_version=case.version, now=NOW)
    assert "phone" not in case.form_data and "amount" not in case.form_data
    latest = select(AuditEvent).where(AuditEvent.case_id == case.id).order_by(AuditEvent.seq.desc())
    event = session.scalars(latest).first()
    assert event.action == "update_form"
    assert event.changes == {
        "amount": {"before": "1640.50", "after": None},
        "phone": {"before": "0512-6789012", "after": None},
    }


def test_lowercase_x_is_stored_uppercase_on_a_nomination(session, world):
    applicant = world.actor("applicant_A1a")
    case = create_draft(session, applicant, "basic_nomination", form=HONOURS_FORM, now=NOW)
    update_draft(session, applicant, case, {"id_number": VALID_ID.lower(), "phone": "138 1234 5678"},
                 expected_version=case.version, now=NOW)
    session.commit()
    case = reloaded(session, case)
    assert case.form_data["id_number"] == VALID_ID
    assert case.form_data["phone"] == "13812345678"


def test_unknown_field_is_refused_by_update_draft(session, world):
    applicant = world.actor("applicant_A1a")
    case = create_draft(session, applicant, "basic_nomination", form=HONOURS_FORM, now=NOW)
    with pytest.raises(ValidationFailed) as caught:
        update_draft(session, applicant, case, {"salary": "5000"}, expected_version=case.version, now=NOW)
    assert caught.value.fields == {"salary": ["表单中没有此项"]}


@pytest.mark.parametrize(("operation", "message"), [
    ("create", "请先保存草稿，再上传附件"),
    ("update", "附件不存在或不属于此案件"),
])
def test_file_ids_must_be_uploads_of_the_case(session, world, form_check, operation, message):
    """A file field only takes files uploaded into it (engine.cases.attachments.attach_file)."""
    applicant = world.actor("applicant_A1a")
    with pytest.raises(ValidationFailed) as caught:
        if operation == "create":
            create_draft(session, applicant, "form_check", form={**GOOD_SYNTHETIC, "documents": [7]}, now=NOW)
        else:
            case = create_draft(session, applicant, "form_check", form=GOOD_SYNTHETIC, now=NOW)
            update_draft(session, applicant, case, {"documents": [7]}, expected_version=case.version, now=NOW)
    assert caught.value.fields == {"documents": [message]}


@pytest.mark.parametrize("bad", [
    {"family_size": 99},          # a per-field error
    {"documents": [7]},           # refused after the values themselves were clean
    {"nickname": "小王"},          # an unknown field
], ids=["out_of_range", "file_ids", "unknown_field"])
def test_failed_update_writes_nothing(session, world, form_check, bad):
    applicant = world.actor("applicant_A1a")
    case = create_draft(session, applicant, "form_check", form=GOOD_SYNTHETIC, now=NOW)
    session.commit()
    version, form_data, title, events = case.version, dict(case.form_data), case.title, audit_count(session, case)

    with pytest.raises(ValidationFailed) as caught:
        # A valid change rides along with the bad one: it must not be applied either.
        update_draft(session, applicant, case, {"name": "李娜", "amount": "2000", **bad},
                     expected_version=case.version, now=NOW)
    assert set(caught.value.fields) == set(bad)
    session.rollback()

    case = reloaded(session, case)
    assert (case.version, case.form_data, case.title) == (version, form_data, title)
    assert audit_count(session, case) == events


def test_successful_update_bumps_version_and_logs_once(session, world, form_check):
    """The counterpart of the test above, so that its "nothing changed" can fail."""
    applicant = world.actor("applicant_A1a")
    case = create_draft(session, applicant, "form_check", form=GOOD_SYNTHETIC, now=NOW)
    session.commit()
    version, events = case.version, audit_count(session, case)
    update_draft(session, applicant, case, {"name": "李娜", "amount": "2000"}, expected_version=version, now=NOW)
    session.commit()
    case = reloaded(session, case)
    assert case.version == version + 1
    assert (case.form_data["name"], case.form_data["amount"], case.title) == ("李娜", "2000.00", "李娜")
    assert audit_count(session, case) == events + 1


@pytest.mark.parametrize("bad", ["零\x00字节", "孤立\ud800代理"])
def test_text_no_database_can_store_is_refused_with_a_message(bad):
    """NUL (PostgreSQL) and lone surrogates (any UTF-8 store) must not reach the database."""
    assert errors_for(HONOURS, {"nominee_name": bad}) == {"nominee_name": ["不能包含无法保存的字符"]}


@pytest.mark.parametrize("bad", ["意见\x00", "意见\udfff"])
def test_comment_no_database_can_store_is_refused(session, world, bad):
    from engine.operations.transitions import comment_on_case

    case = create_draft(session, world.actor("applicant_A1a"), "basic_nomination", form=HONOURS_FORM, now=NOW)
    with pytest.raises(ValidationFailed) as err:
        comment_on_case(session, world.actor("applicant_A1a"), case, bad, now=NOW)
    assert err.value.fields == {"comment": ["不能包含无法保存的字符"]}


def test_id_numbers_and_accounts_are_masked_as_union_notices_print_them():
    from engine.definitions.forms import mask_account, mask_id_number

    assert mask_id_number("32060219900101123X") == "3206**********123X"
    assert mask_account("6222020200112233445") == "***************3445"
    assert mask_id_number(None) is None and mask_account("") == ""
