"""Importing a table as case records (engine.cases.results_import): all rows or none, every problem
reported by Excel row number and column heading. Driven with competition result rows."""
from __future__ import annotations

import csv
import io
import os
import random
import subprocess
import sys
import tracemalloc
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import Workbook
from stdnum.cn import ric

from engine.audit.chain import case_events
from engine.base.errors import Conflict, InvalidAction, PermissionDenied
from engine.base.tables import TableImportFailed, TableLimits, TableProblem
from engine.cases.records import records_of
from engine.cases.results_import import import_table
from engine.definitions.store import sync_definitions
from engine.operations.transitions import create_draft, perform_action
from engine.org.units import assign_role, create_user, load_actor
from tests.conftest import NOW

HEADER = ["工种", "组别", "名次", "姓名", "身份证号码", "工作单位", "所在基层工会", "理论成绩", "实操成绩", "总成绩",
          "技能等级", "本工种工作年限", "证书编号"]


def id_number(serial: int, *, female: bool = False) -> str:
    """A valid ID number (born 1990-01-01 in 110105); the 17th digit is odd for men."""
    body = f"11010519900101{serial % 50:02d}{2 * (serial % 5) + (0 if female else 1)}"
    return body + ric.calc_check_digit(body + "0")  # the digit passed last is ignored


def result_row(rank: int, name: str, *, trade="焊工", group="职工组", union="A1a公司工会", total=None, serial=None,
               grade="高级工", **changes) -> list:
    row = {"工种": trade, "组别": group, "名次": rank, "姓名": name, "身份证号码": id_number(serial or rank),
           "工作单位": union.replace("工会", ""), "所在基层工会": union, "理论成绩": "90", "实操成绩": "88.5",
           "总成绩": total or f"{100 - rank}.5", "技能等级": grade, "本工种工作年限": 8, "证书编号": f"HG-{rank:03d}"}
    row.update(changes)
    return [row[h] for h in HEADER]


def csv_file(rows: list[list], *, encoding: str = "utf-8-sig", header=HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_file(rows: list[list], header=HEADER) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def organiser(session, world):
    """The county A federation's person who reports competitions (applicant at county level)."""
    if "applicant_A" not in world.actors:
        user = create_user(session, username="applicant_A", display_name="applicant_A")
        assign_role(session, user, "applicant", world.unit("A"))
        world.actors["applicant_A"] = load_actor(session, user.id)
    return world.actor("applicant_A")


COMPETITION = {"competition_name": "2026年A区职工焊工技能竞赛", "competition_class": "class_one",
               "competition_level": "city", "organiser": "A区总工会", "approval_document_number": "A工发〔2026〕5号",
               "start_date": "2026-03-02", "end_date": "2026-03-03", "trades": "焊工、电工",
               "summary": "共32名职工参赛，决出各工种名次。"}


def competition(session, world, **form):
    return create_draft(session, organiser(session, world), "competition_results", form=COMPETITION | form, now=NOW)


def run_import(session, world, case, data, filename="成绩.csv", **kwargs):
    return import_table(session, organiser(session, world), case, "result", filename=filename, data=data,
                        expected_version=case.version, now=NOW, **kwargs)


def refused(session, world, case, data, filename="成绩.csv", **kwargs) -> set[tuple]:
    with pytest.raises(TableImportFailed) as caught:
        run_import(session, world, case, data, filename, **kwargs)
    assert records_of(session, case, "result") == []
    assert not [e for e in case_events(session, case.id) if e.action in ("record", "import_table")]
    return {(p.row, p.column, p.message) for p in caught.value.problems}


def places(problems: set[tuple]) -> set[tuple]:
    return {(row, column) for row, column, _ in problems}


# --- Every bad row reported, nothing imported --------------------------------------------------------

def test_every_bad_row_is_reported_by_row_and_column_and_nothing_is_imported(session, world):
    """Can one upload tell the user about every mistake in the file, row by row?"""
    case = competition(session, world)
    rows = [
        result_row(1, "张三"),
        result_row(2, ""),                                          # row 3: name missing
        result_row(3, "李四", **{"本工种工作年限": "五年"}),            # row 4: not a whole number
        result_row(4, "王五", **{"身份证号码": "110105199001010001"}),  # row 5: bad checksum
        result_row(5, "赵六", grade="特级工"),                         # row 6: not a choice
        result_row(1, "钱七", serial=6),                              # row 7: rank 1 again in 焊工·职工组
        result_row(6, "孙八", total="九十分"),                         # row 8: score not a number
        result_row(7, "周九", union="不存在公司工会"),                    # row 9: no such grassroots union
        result_row(8, "", **{"名次": "第八"}),                         # row 10: two problems in one row
    ]
    problems = refused(session, world, case, csv_file(rows))
    assert places(problems) == {
        (3, "姓名"), (4, "本工种工作年限"), (5, "身份证号码"), (6, "技能等级"), (10, "姓名"), (10, "名次"),
        (7, "工种、组别、名次"), (8, "总成绩"), (9, "所在基层工会"),
    }
    messages = {(row, column): message for row, column, message in problems}
    assert messages[(3, "姓名")] == "请填写「姓名」"
    assert messages[(4, "本工种工作年限")] == "请填写整数"
    assert messages[(5, "身份证号码")] == "身份证号码校验位不正确"
    assert messages[(6, "技能等级")].startswith("请从以下选项中选择：初级工")
    assert messages[(7, "工种、组别、名次")] == "与第2行的「工种」、「组别」、「名次」相同"
    assert "数字" in messages[(8, "总成绩")]
    assert "不存在公司工会" in messages[(9, "所在基层工会")]


def test_the_error_names_each_place_as_the_user_sees_it(session, world):
    case = competition(session, world)
    with pytest.raises(TableImportFailed) as caught:
        run_import(session, world, case, csv_file([result_row(1, ""), result_row(2, "李四", grade="特级工")]))
    err = caught.value
    assert err.fields["第2行「姓名」"] == ["请填写「姓名」"]
    assert list(err.fields) == ["第2行「姓名」", "第3行「技能等级」"]
    assert err.message == "导入失败：发现 2 处问题，未导入任何记录，请修改后重新导入"
    assert [p.as_dict() for p in err.problems][0] == {"row": 2, "column": "姓名", "message": "请填写「姓名」"}


def test_blank_lines_are_skipped_and_do_not_shift_row_numbers(session, world):
    case = competition(session, world)
    data = csv_file([result_row(1, "张三"), [""] * len(HEADER), result_row(2, "")])
    assert places(refused(session, world, case, data)) == {(4, "姓名")}


# --- The header ----------------------------------------------------------------------------------

def test_unknown_duplicate_and_missing_columns_are_reported_before_any_row(session, world):
    case = competition(session, world)
    header = ["工种", "名次", "名次", "姓名", "身份证号码", "工作单位", "所在基层工会", "奖金"]
    problems = refused(session, world, case, csv_file([["焊工", 1, 1, "", "x", "y", "z", "100"]], header=header))
    assert places(problems) == {(1, "名次"), (1, "奖金"), (None, "总成绩")}
    messages = {(row, column): message for row, column, message in problems}
    assert messages[(1, "奖金")].startswith("无法识别的列名；可用的列名：工种、组别、名次")
    assert messages[(None, "总成绩")] == "缺少必填列"


def test_a_title_row_instead_of_a_header_is_explained(session, world):
    case = competition(session, world)
    problems = refused(session, world, case, csv_file([HEADER, result_row(1, "张三")], header=["2026年焊工竞赛成绩表"]))
    [(row, column, message)] = problems
    assert (row, column) == (1, None)
    assert message.startswith("第一行应为表头（列名），未找到可识别的列名；表头应包括：工种、组别、名次、姓名")


def test_headings_match_by_label_or_name_ignoring_marks_and_bracket_width(session, world):
    case = competition(session, world)
    header = [f"{h} *" for h in HEADER[:-1]] + ["certificate_number"]
    result = run_import(session, world, case, csv_file([result_row(1, "张三")], header=header))
    assert result.records[0].data["certificate_number"] == "HG-001"


def test_content_in_a_column_without_heading_is_reported(session, world):
    case = competition(session, world)
    data = csv_file([result_row(1, "张三") + ["多余"]])
    assert places(refused(session, world, case, data)) == {(2, None)}


# --- The file ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("filename", "data", "message"), [
    ("成绩.txt", b"a,b", "只能导入Excel（.xlsx）或 CSV（.csv）文件"),
    ("成绩.xls", b"\xd0\xcf\x11\xe0", "不支持旧版 Excel（.xls）文件，请在 Excel 中“另存为”.xlsx 或 CSV 后再导入"),
    ("成绩.csv", b"", "文件是空的"),
    ("成绩.csv", "\n\n , \n".encode(), "文件中没有任何内容"),
    ("成绩.xlsx", b"not a workbook", "文件不是有效的 Excel（.xlsx）文件，请确认文件类型"),
    ("成绩.xlsx", b"PK\x03\x04broken", "Excel 文件已损坏或无法读取，请重新保存后再导入"),
    ("成绩.csv", ",".join(HEADER).encode("utf-8-sig"), "文件中只有表头，没有数据行"),
])
def test_file_level_problems(session, world, filename, data, message):
    case = competition(session, world)
    assert refused(session, world, case, data, filename) == {(None, None, message)}


def test_too_many_rows_are_refused_at_the_configured_limit(session, world):
    case = competition(session, world)
    rows = [result_row(rank, f"选手{rank}", serial=rank) for rank in range(1, 5)]
    assert refused(session, world, case, csv_file(rows), limits=TableLimits(max_rows=3)) == {
        (None, None, "数据超过 3 行（单次导入上限），请拆分后分批导入")}
    assert len(run_import(session, world, case, csv_file(rows), limits=TableLimits(max_rows=4)).records) == 4


def test_a_file_over_the_size_limit_is_refused(session, world):
    case = competition(session, world)
    data = csv_file([result_row(rank, f"选手{rank}", serial=rank) for rank in range(1, 20)])
    assert len(data) > 1024
    assert refused(session, world, case, data, limits=TableLimits(max_bytes=1024)) == {(None, None, "文件不能超过 1 KB")}


# --- Happy paths ---------------------------------------------------------------------------------

def test_csv_with_bom_imports_every_row_with_one_summary_event(session, world):
    case = competition(session, world)
    data = csv_file([result_row(1, "张三"), result_row(2, "李四", grade="技师"), result_row(1, "王五", trade="电工")])
    result = run_import(session, world, case, data)
    assert [r.data["participant_name"] for r in records_of(session, case, "result")] == ["张三", "李四", "王五"]
    first = result.records[0].data
    assert first == {"trade": "焊工", "group": "职工组", "rank": 1, "participant_name": "张三", "id_number": id_number(1),
                     "employer": "A1a公司", "grassroots_union": "A1a公司工会", "theory_score": "90.00",
                     "practical_score": "88.50", "total_score": "99.50", "skill_grade": "senior", "years_in_trade": 8,
                     "certificate_number": "HG-001"}
    events = case_events(session, case.id)
    assert [e.action for e in events].count("record") == 3
    summary = events[-1]
    assert summary.action == "import_table"
    assert summary.details["rows"] == 3 and summary.details["filename"] == "成绩.csv"
    assert summary.details["sha256"] == result.sha256 and len(result.sha256) == 64
    assert summary.details["record_ids"] == [r.id for r in result.records]


def test_csv_without_bom_and_csv_saved_by_chinese_excel(session, world):
    case = competition(session, world)
    run_import(session, world, case, csv_file([result_row(1, "张三")], encoding="utf-8"))
    run_import(session, world, case, csv_file([result_row(2, "李四")], encoding="gb18030"))
    assert [r.data["participant_name"] for r in records_of(session, case, "result")] == ["张三", "李四"]


def test_xlsx_with_numeric_and_date_cells(session, world):
    case = competition(session, world)
    rows = [result_row(1, "张三", total=92.5, **{"理论成绩": 90, "实操成绩": 93.75, "证书编号": 20260001}),
            result_row(2, "李四", total="91", grade="technician", **{"名次": 2.0})]
    result = run_import(session, world, case, xlsx_file(rows), filename="竞赛成绩.XLSX")
    first, second = (r.data for r in result.records)
    assert (first["total_score"], first["theory_score"], first["practical_score"]) == ("92.50", "90.00", "93.75")
    assert first["certificate_number"] == "20260001"
    assert (second["rank"], second["skill_grade"]) == (2, "technician")


def test_an_id_number_excel_turned_into_a_number_is_explained(session, world):
    case = competition(session, world)
    rows = [result_row(1, "张三", **{"身份证号码": 110105199001010011})]
    [(row, column, message)] = refused(session, world, case, xlsx_file(rows), "成绩.xlsx")
    assert (row, column) == (2, "身份证号码") and "文本" in message


# --- Who, when, and against what is already there -----------------------------------------------------

def test_rows_already_on_the_case_are_reported_and_the_new_file_is_not_imported(session, world):
    case = competition(session, world)
    run_import(session, world, case, csv_file([result_row(1, "张三")]))
    with pytest.raises(TableImportFailed) as caught:
        run_import(session, world, case, csv_file([result_row(2, "李四"), result_row(1, "王五", serial=9)]))
    problems = {(p.row, p.column) for p in caught.value.problems}
    assert problems == {(3, "工种")}
    assert caught.value.problems[0].message == "已有「工种」、「组别」、「名次」相同的「竞赛成绩」"
    assert [r.data["participant_name"] for r in records_of(session, case, "result")] == ["张三"]


def test_a_corrected_file_replaces_the_rows_imported_before(session, world):
    case = competition(session, world)
    first = run_import(session, world, case, csv_file([result_row(1, "张三"), result_row(2, "李四")]))
    second = run_import(session, world, case, csv_file([result_row(1, "李四"), result_row(2, "张三")]), replace=True)
    current = records_of(session, case, "result")
    assert [(r.data["rank"], r.data["participant_name"]) for r in current] == [(1, "李四"), (2, "张三")]
    voided = [r for r in records_of(session, case, "result", include_voided=True) if r.voided_dt]
    assert {r.id for r in voided} == {r.id for r in first.records}
    assert all(r.void_reason == "由导入文件「成绩.csv」替换" for r in voided)
    summary = [e for e in case_events(session, case.id) if e.action == "import_table"][-1]
    assert summary.details["replaced_record_ids"] == [r.id for r in first.records]
    assert summary.details["record_ids"] == [r.id for r in second.records]


def test_only_the_organiser_imports_and_only_while_the_report_is_a_draft(session, world):
    case = competition(session, world)
    data = csv_file([result_row(1, "张三")])
    with pytest.raises(PermissionDenied):
        import_table(session, world.actor("reviewer_A"), case, "result", filename="a.csv", data=data,
                     expected_version=case.version, now=NOW)
    run_import(session, world, case, data)
    perform_action(session, organiser(session, world), case, "submit", expected_version=case.version, now=NOW)
    with pytest.raises(InvalidAction, match="现在不能登记「竞赛成绩」"):
        run_import(session, world, case, csv_file([result_row(2, "李四")]))


def test_a_stale_version_is_refused(session, world):
    case = competition(session, world)
    with pytest.raises(Conflict):
        import_table(session, organiser(session, world), case, "result", filename="a.csv",
                     data=csv_file([result_row(1, "张三")]), expected_version=case.version + 1, now=NOW)


def test_problem_places_read_naturally():
    assert str(TableProblem(3, "名次", "请填写整数")) == "第3行「名次」：请填写整数"
    assert str(TableProblem(3, None, "x")) == "第3行：x"
    assert str(TableProblem(None, "总成绩", "缺少必填列")) == "「总成绩」列：缺少必填列"
    assert str(TableProblem(None, None, "文件是空的")) == "文件：文件是空的"


# --- Any record type: money, dates, phones -----------------------------------------------------------

PROBE = """
kind: table_probe
label: 表格导入测试
origin_level: grassroots
title_field: title
states:
  - {id: draft, label: 草稿, kind: draft}
  - {id: done, label: 完成, kind: final}
transitions:
  - {trigger: finish, label: 完成, source: draft, dest: done, by: applicant@origin}
form:
  - {name: title, label: 标题, type: text}
records:
  - type: payment
    label: 发放记录
    by: applicant@origin
    states: [draft]
    fields:
      - {name: payee, label: 姓名, type: text, required: true}
      - {name: amount, label: 金额, type: money, required: true, min: 0}
      - {name: paid_on, label: 发放日期, type: date, required: true}
      - {name: phone, label: 联系电话, type: phone}
      - {name: receipt, label: 回单, type: file}
"""


@pytest.fixture
def probe(session, world, tmp_path):
    (tmp_path / "table_probe.yaml").write_text(PROBE, encoding="utf-8")
    sync_definitions(session, tmp_path)
    return create_draft(session, world.actor("applicant_A1a"), "table_probe", form={"title": "发放"}, now=NOW)


def probe_import(session, world, case, data, filename="发放.xlsx"):
    return import_table(session, world.actor("applicant_A1a"), case, "payment", filename=filename, data=data,
                        expected_version=case.version, now=NOW)


def test_money_dates_and_phones_from_excel_cells(session, world, probe):
    header = ["姓名", "金额", "发放日期", "联系电话"]
    rows = [["张三", 1234.5, datetime(2026, 5, 1), 13800138000], ["李四", "800", "2026/5/2", None],
            ["王五", 100, "2026年5月3日", "010-12345678"]]
    result = probe_import(session, world, probe, xlsx_file(rows, header=header))
    assert [r.data for r in result.records] == [
        {"payee": "张三", "amount": "1234.50", "paid_on": "2026-05-01", "phone": "13800138000"},
        {"payee": "李四", "amount": "800.00", "paid_on": "2026-05-02"},
        {"payee": "王五", "amount": "100.00", "paid_on": "2026-05-03", "phone": "010-12345678"},
    ]


def test_bad_money_dates_and_phones_are_reported(session, world, probe):
    header = ["姓名", "金额", "发放日期", "联系电话"]
    rows = [["张三", "12.345", "2026/2/30", "12345"], ["李四", "-1", "明天", None]]
    with pytest.raises(TableImportFailed) as caught:
        probe_import(session, world, probe, xlsx_file(rows, header=header))
    assert {(p.row, p.column, p.message) for p in caught.value.problems} == {
        (2, "金额", "金额最多保留两位小数"), (2, "发放日期", "日期不存在"), (2, "联系电话", "请填写11位手机号或带区号的固定电话"),
        (3, "金额", "不能小于 0.00 元"), (3, "发放日期", "请按 年-月-日 填写日期，例如 2026-05-01"),
    }
    assert records_of(session, probe, "payment") == []


# --- What reading a file may cost: bombs built here, small on disk ---------------------------------

SHEET = "xl/worksheets/sheet1.xml"
SPREADSHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
MiB = 1024 * 1024


def xlsx_with(parts: dict) -> bytes:
    """A workbook saved by openpyxl with some parts replaced: each by bytes, or by a function
    writing the part in pieces (a bomb is never held whole in the test's memory either)."""
    base = zipfile.ZipFile(io.BytesIO(xlsx_file([result_row(1, "张三")])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for info in base.infolist():
            if info.filename not in parts:
                bomb.writestr(info.filename, base.read(info.filename))
        for name, content in parts.items():
            with bomb.open(name, "w", force_zip64=True) as part:
                if isinstance(content, bytes):
                    part.write(content)
                else:
                    content(part)
    return out.getvalue()


def sheet_of(rows_xml, dimension: str | None = None):
    """A sheet part: ``rows_xml`` yields the <row> elements' text, in pieces."""
    def write(part):
        part.write(f'<worksheet xmlns="{SPREADSHEET_NS}">'.encode())
        if dimension:
            part.write(f'<dimension ref="{dimension}"/>'.encode())
        part.write(b"<sheetData>")
        for piece in rows_xml():
            part.write(piece)
        part.write(b"</sheetData></worksheet>")
    return write


def header_row() -> bytes:
    cells = "".join(f'<c t="inlineStr"><is><t>{heading}</t></is></c>' for heading in HEADER)
    return f'<row r="1">{cells}</row>'.encode()


def one_row_of_cells(count: int, cell: bytes):
    def rows():
        yield header_row() + b'<row r="2">'
        for _ in range(count // 100_000):
            yield cell * 100_000
        yield b"</row>"
    return rows


def three_million_cells() -> bytes:
    return xlsx_with({SHEET: sheet_of(one_row_of_cells(3_000_000, b"<c/>"))})


def a_300_mb_shared_string() -> bytes:
    def write(part):
        part.write(f'<sst xmlns="{SPREADSHEET_NS}" count="1" uniqueCount="1"><si><t>'.encode())
        for _ in range(300):
            part.write(b"A" * MiB)
        part.write(b"</t></si></sst>")
    return xlsx_with({"xl/sharedStrings.xml": write})


def far_last_row(last: int = 1_500_000) -> bytes:
    """A header, then one cell 1.5 million rows down: openpyxl fills the blank rows between."""
    def rows():
        yield header_row()
        yield f'<row r="{last}"><c r="A{last}" t="inlineStr"><is><t>焊工</t></is></c></row>'.encode()
    return xlsx_with({SHEET: sheet_of(rows)})


def peak_memory_of(work) -> int:
    """The most Python allocated while ``work`` ran, in bytes (openpyxl builds in Python)."""
    tracemalloc.start()
    try:
        work()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


def refused_quickly(session, world, data: bytes, limits: TableLimits | None = None) -> set[tuple]:
    case = competition(session, world)
    problems = {}
    peak = peak_memory_of(lambda: problems.update(
        found=refused(session, world, case, data, "成绩.xlsx", limits=limits)))
    assert peak < 64 * MiB, f"reading the refused file peaked at {peak // MiB} MiB"
    return problems["found"]


def test_a_row_of_three_million_cells_is_refused_before_it_is_read(session, world):
    data = three_million_cells()
    assert len(data) < 400 * 1024
    ratio = "Excel 文件中的「xl/worksheets/sheet1.xml」解压后是压缩时的"
    [(row, column, message)] = refused_quickly(session, world, data)
    assert (row, column) == (None, None) and message.startswith(ratio) and "超过上限 100 倍" in message
    # Were its ratio allowed, the sheet's own count stops it at the first cell past the limits.
    assert refused_quickly(session, world, data, TableLimits(max_compression_ratio=10 ** 6)) == {
        (None, None, "表格超过 200 列（单次导入上限），请删除多余的列后再导入")}
    same_cell = xlsx_with({SHEET: sheet_of(one_row_of_cells(300_000, b'<c r="A2"/>'))})
    assert refused_quickly(session, world, same_cell, TableLimits(max_compression_ratio=10 ** 6)) == {
        (None, None, "表格超过 200000 个单元格（单次导入上限），请删除多余的内容或拆分后分批导入")}


def test_a_shared_string_of_300_mb_is_refused_before_it_is_unpacked(session, world):
    data = a_300_mb_shared_string()
    assert len(data) < 2 * MiB
    [(_, _, message)] = refused_quickly(session, world, data)
    assert message.startswith("Excel 文件中的「xl/sharedStrings.xml」解压后是压缩时的") and "超过上限 100 倍" in message
    # A ratio within bounds does not let it through: all parts unpacked stay under 50 MB.
    assert refused_quickly(session, world, data, TableLimits(max_compression_ratio=10 ** 6)) == {
        (None, None, "Excel 文件解压后共 300 MB，超过上限 50 MB；请删除图片、多余的工作表等内容或拆分后分批导入")}


def test_a_million_and_a_half_blank_rows_are_refused_before_they_are_filled_in(session, world):
    assert refused_quickly(session, world, far_last_row()) == {
        (None, None, "表格超过 10000 行（含空行，单次导入上限），请删除多余的行或拆分后分批导入")}
    # As many <row/> without numbers (refused for its ratio, were that allowed): counted, stopped at the limit.
    unnumbered = xlsx_with({SHEET: sheet_of(lambda: [header_row(), b"<row/>" * 1_500_000])})
    assert refused_quickly(session, world, unnumbered, TableLimits(max_compression_ratio=10 ** 6)) == {
        (None, None, "表格超过 10000 行（含空行，单次导入上限），请删除多余的行或拆分后分批导入")}


def test_a_declared_dimension_beyond_the_limits_is_refused_before_any_row(session, world):
    declared = xlsx_with({SHEET: sheet_of(lambda: [header_row()], dimension="A1:XFD1048576")})
    assert refused_quickly(session, world, declared) == {
        (None, None, "表格声明的范围 A1:XFD1048576 超过上限（10000 行、200 列），请删除多余的行和列并重新保存后再导入")}


def test_a_sheet_within_the_limits_imports_as_before(session, world):
    """The limits count what openpyxl reads: a sheet at them imports (the header is row 1)."""
    case = competition(session, world)
    data = xlsx_file([result_row(rank, f"选手{rank}", serial=rank) for rank in range(1, 4)])
    cells = 4 * len(HEADER)
    limits = TableLimits(max_sheet_rows=4, max_columns=len(HEADER), max_cells=cells)
    assert len(run_import(session, world, case, data, "成绩.xlsx", limits=limits).records) == 3
    case = competition(session, world)
    assert refused(session, world, case, data, "成绩.xlsx", limits=TableLimits(max_cells=cells - 1)) == {
        (None, None, f"表格超过 {cells - 1} 个单元格（单次导入上限），请删除多余的内容或拆分后分批导入")}
    assert refused(session, world, case, data, "成绩.xlsx", limits=TableLimits(max_sheet_rows=3)) == {
        (None, None, "表格声明的范围 A1:M4 超过上限（3 行、200 列），请删除多余的行和列并重新保存后再导入")}


def test_reading_has_a_time_budget(session, world):
    case = competition(session, world)
    for data, filename in ((xlsx_file([result_row(1, "张三")]), "成绩.xlsx"), (csv_file([result_row(1, "张三")]), "成绩.csv")):
        assert refused(session, world, case, data, filename, limits=TableLimits(max_seconds=1e-9)) == {
            (None, None, "读取表格超过 1e-09 秒（单次导入上限），请删除多余的内容或拆分后分批导入")}


@pytest.mark.parametrize(("data", "limits", "message"), [
    (("姓名\n" + "\n" * 20_000).encode(), TableLimits(),
     "表格超过 10000 行（含空行，单次导入上限），请删除多余的行或拆分后分批导入"),
    (("姓名" + "," * 300 + "\n").encode(), TableLimits(),
     "表格超过 200 列（单次导入上限），请删除多余的列后再导入"),
    (("姓名\n" + "张三," * 40_000 + "\n").encode(), TableLimits(),
     "CSV 文件第 2 行超过 100000 个字符（单行上限），请检查文件内容"),
    (("姓名,工种\n" + "张三,焊工\n" * 10).encode(), TableLimits(max_cells=20),
     "表格超过 20 个单元格（单次导入上限），请删除多余的内容或拆分后分批导入"),
    (('姓名\n"' + "张三\n" * 50_000 + '"\n').encode(), TableLimits(),
     "CSV 文件第 43692 行附近有单元格超过 131072 个字符（单元格上限），请检查引号是否成对"),
], ids=["blank lines", "columns", "line length", "cells", "a cell over many lines"])
def test_csv_rows_cells_and_lines_are_bounded(session, world, data, limits, message):
    case = competition(session, world)
    assert refused(session, world, case, data, limits=limits) == {(None, None, message)}


def test_limits_come_from_the_environment(session, world, monkeypatch):
    monkeypatch.setenv("UNIONFLOW_IMPORT_MAX_COLUMNS", "5")
    monkeypatch.setenv("UNIONFLOW_IMPORT_MAX_SECONDS", "2.5")
    assert (TableLimits.from_env().max_columns, TableLimits.from_env().max_seconds) == (5, 2.5)
    case = competition(session, world)
    assert refused(session, world, case, csv_file([result_row(1, "张三")])) == {
        (None, None, "表格超过 5 列（单次导入上限），请删除多余的列后再导入")}
    monkeypatch.setenv("UNIONFLOW_IMPORT_MAX_CELLS", "many")
    with pytest.raises(ValueError, match="UNIONFLOW_IMPORT_MAX_CELLS must be a positive number"):
        TableLimits.from_env()


def test_a_sheet_in_utf16_is_counted_like_any_other(session, world):
    """Parts are not told apart by their first bytes: a sheet in UTF-16 is XML to openpyxl too."""
    def rows():
        yield header_row()
        yield b'<row r="1500000"><c r="A1500000"/></row>'

    def utf16(part):
        text = io.BytesIO()
        sheet_of(rows)(text)
        part.write(text.getvalue().decode().encode("utf-16"))

    assert refused_quickly(session, world, xlsx_with({SHEET: utf16})) == {
        (None, None, "表格超过 10000 行（含空行，单次导入上限），请删除多余的行或拆分后分批导入")}


def test_styles_of_a_hundred_thousand_formats_are_refused_before_openpyxl_makes_them(session, world):
    """openpyxl makes an object of every cell format, read-only or not: 100 MB for 100,000."""
    chance = random.Random(16)
    formats = "".join(f'<xf numFmtId="{chance.randint(0, 160)}" fontId="0" fillId="0" borderId="0" xfId="0"/>'
                      for _ in range(100_000))
    styles = (f'<styleSheet xmlns="{SPREADSHEET_NS}"><cellXfs count="100000">{formats}</cellXfs></styleSheet>')
    assert refused_quickly(session, world, xlsx_with({"xl/styles.xml": styles.encode()})) == {
        (None, None, "Excel 文件内容过于复杂（格式、主题等超过 50000 个元素，单次导入上限），请删除多余的内容、格式或工作表后再导入")}


def test_a_bad_limit_setting_stops_the_process_at_start():
    environment = {**os.environ, "UNIONFLOW_IMPORT_MAX_ROWS": "1千"}
    started = subprocess.run([sys.executable, "-c", "import engine.cases.results_import"], env=environment,
                             capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    assert started.returncode == 1
    assert "ValueError: UNIONFLOW_IMPORT_MAX_ROWS must be a positive number, not '1千'" in started.stderr
