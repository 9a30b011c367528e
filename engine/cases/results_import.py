"""Importing a table (Excel .xlsx or CSV) as records of a case: all rows or none.

Union offices keep ranked lists, rosters and payment sheets in Excel. An import reads the
file's first sheet, matches the header row to the record type's field labels (or names),
validates every row exactly as a record added by hand (engine.definitions.forms.clean_fields), and
reports every problem at once, by the row number and column heading the user sees in
Excel (the header is row 1). Only a file without a single problem is written: each row
through engine.cases.records.add_record (its own audit event), plus one ``import_table`` event
naming the file by its SHA-256 and the records it produced, all in one savepoint.

A kind may register extra checks for a record type (``register_row_check``), e.g. that a
named unit exists; they run on rows that passed field validation and report the same way.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import PurePath
from typing import Callable

from openpyxl.utils import get_column_letter
from sqlalchemy.orm import Session

from engine.audit.chain import append_event
from engine.base.db import utcnow
from engine.base.errors import ValidationFailed
from engine.base.tables import DATE_TEXT, TableImportFailed, TableLimits, TableProblem, blank_cell, read_table
from engine.cases.case import Case, check_version
from engine.cases.permissions import require_visible
from engine.cases.record_types import record_grant, record_spec
from engine.cases.records import CaseRecord, add_record, records_of, void_record
from engine.definitions.forms import clean_fields, dump_fields, missing_in
from engine.definitions.spec import FieldSpec, RecordSpec
from engine.org.units import Actor, Grant

# Excel keeps 15 significant digits: an 18-digit ID number typed into a number cell loses its tail.
EXCEL_DIGITS = 15
_IGNORED_IN_HEADINGS = re.compile(r"[\s*＊:：]")


# --- Problems --------------------------------------------------------------------------------------


# --- Rows handed to kind-specific checks ------------------------------------------------------------

@dataclass(frozen=True)
class ImportedRow:
    """A row that passed field validation: its Excel row number, its python values by field
    name, and the file's heading for each field (to name the column in a problem)."""

    number: int
    values: dict
    headings: dict[str, str]

    def problem(self, field_name: str, message: str) -> TableProblem:
        return TableProblem(self.number, self.headings.get(field_name, field_name), message)


RowCheck = Callable[[Session, Case, list[ImportedRow]], list[TableProblem]]
_row_checks: dict[tuple[str, str], RowCheck] = {}


def register_row_check(kind: str, record_type: str, check: RowCheck) -> None:
    """Add a kind's own checks on imported rows of ``record_type`` (cross-row, lookups)."""
    _row_checks[(kind, record_type)] = check


@dataclass(frozen=True)
class ImportResult:
    records: list[CaseRecord]
    filename: str
    sha256: str


# --- The operation ---------------------------------------------------------------------------------

def import_table(
    session: Session, actor: Actor, case: Case, record_type: str, *, filename: str, data: bytes,
    expected_version: int, limits: TableLimits | None = None, replace: bool = False, now: datetime | None = None,
) -> ImportResult:
    """Import every row of the file as a ``record_type`` record of the case, or none of them.

    With ``replace`` the case's current records of that type are voided first, in the same
    transaction: a corrected file after a return takes the place of the old one.

    Raises TableImportFailed listing every problem (file, header, each bad row and column).
    ``limits`` bound what reading the file may cost (default: UNIONFLOW_IMPORT_* settings).
    """
    now = now or utcnow()
    require_visible(actor, case)
    check_version(case, expected_version)
    definition = case.definition
    spec = record_spec(definition, record_type)
    grant = record_grant(actor, case, definition, spec)
    name = PurePath((filename or "").replace("\\", "/")).name.strip()[-255:] or "未命名文件"
    rows = read_table(name, data, limits or TableLimits.from_env())
    columns, problems = _match_header(spec, rows)
    if problems:
        raise TableImportFailed(problems)
    imported, problems = _validate_rows(spec, rows[1:], columns)
    check = _row_checks.get((case.kind, record_type))
    if check is not None and imported:
        problems += check(session, case, imported)
    if problems:
        raise TableImportFailed(problems)
    if not imported:
        raise TableImportFailed([TableProblem(None, None, "文件中只有表头，没有数据行")])
    digest = hashlib.sha256(data).hexdigest()
    written = _write(session, actor, grant, case, spec, imported, name, digest, now, replace=replace)
    return ImportResult(written, name, digest)


def _write(session: Session, actor: Actor, grant: Grant, case: Case, spec: RecordSpec, rows: list[ImportedRow],
           filename: str, digest: str, now: datetime, *, replace: bool) -> list[CaseRecord]:
    """All records or none: a row refused now (the same values as a record already on the
    case) is reported like any other bad row, and the savepoint drops what was written."""
    records, problems = [], []
    with session.begin_nested():
        replaced = [r.id for r in records_of(session, case, spec.type)] if replace else []
        for record_id in replaced:
            void_record(session, actor, case, record_id, f"由导入文件「{filename}」替换", now=now)
        for row in rows:
            try:
                # The stored form of the values: exactly what a person adding the record would send.
                data = dump_fields(spec.fields, row.values)
                records.append(add_record(session, actor, case, spec.type, data, now=now))
            except ValidationFailed as err:
                problems += [row.problem(name, message) for name, messages in err.fields.items() for message in messages]
        if problems:
            raise TableImportFailed(problems)
        append_event(session, case, actor=actor, grant=grant, action="import_table", now=now,
                     details={"record_type": spec.type, "label": spec.label, "filename": filename,
                              "sha256": digest, "rows": len(records), "record_ids": [r.id for r in records],
                              "replaced_record_ids": replaced})
        session.flush()
    return records


# --- What reading a file may cost --------------------------------------------------------------------


# --- Reading the file ------------------------------------------------------------------------------


# --- Header ----------------------------------------------------------------------------------------

def _normalise_heading(value) -> str:
    """"理论成绩 *" and "理论成绩：" name the same column; full-width brackets are half-width."""
    text = str(value).replace("（", "(").replace("）", ")")
    return _IGNORED_IN_HEADINGS.sub("", text).lower()


def _match_header(spec: RecordSpec, rows: list[tuple[int, list]]
                  ) -> tuple[dict[int, tuple[FieldSpec, str]], list[TableProblem]]:
    """Column index → (field, heading as written), from the first non-blank row."""
    number, cells = rows[0]
    importable = [f for f in spec.fields if f.type != "file"]
    lookup = {}
    for field in importable:
        lookup[_normalise_heading(field.name)] = field
        lookup[_normalise_heading(field.label)] = field
    columns: dict[int, FieldSpec] = {}
    headings: dict[int, str] = {}
    problems = []
    expected = "、".join(f.label for f in importable)
    for index, cell in enumerate(cells):
        if blank_cell(cell):
            continue
        heading = str(cell).strip()
        field = lookup.get(_normalise_heading(heading))
        if field is None:
            problems.append(TableProblem(number, heading, f"无法识别的列名；可用的列名：{expected}"))
        elif field in columns.values():
            problems.append(TableProblem(number, heading, f"与另一列重复，都对应「{field.label}」"))
        else:
            columns[index] = field
            headings[index] = heading
    if not columns:
        return {}, [TableProblem(number, None, f"第一行应为表头（列名），未找到可识别的列名；表头应包括：{expected}")]
    present = set(columns.values())
    for field in spec.fields:
        if field.required and field not in present:
            reason = "须上传附件，不能通过表格导入" if field.type == "file" else "缺少必填列"
            problems.append(TableProblem(None, field.label, reason))
    for row_number, row_cells in rows[1:]:
        # Columns under an unknown heading are reported once, above; these have none at all.
        stray = [i for i, cell in enumerate(row_cells)
                 if not blank_cell(cell) and (i >= len(cells) or blank_cell(cells[i]))]
        if stray:
            where = "、".join(_column_letter(i) for i in stray)
            problems.append(TableProblem(row_number, None, f"第 {where} 列有内容，但该列没有可识别的列名"))
    return {i: (columns[i], headings[i]) for i in columns}, problems


def _column_letter(index: int) -> str:
    return get_column_letter(index + 1)


# --- Rows ------------------------------------------------------------------------------------------

def _validate_rows(spec: RecordSpec, rows: list[tuple[int, list]], columns: dict[int, tuple[FieldSpec, str]]
                   ) -> tuple[list[ImportedRow], list[TableProblem]]:
    headings = {field.name: heading for field, heading in columns.values()}
    imported, problems, first_with_key = [], [], {}
    for number, cells in rows:
        raw, row_problems = {}, []
        for index, (field, heading) in columns.items():
            cell = cells[index] if index < len(cells) else None
            try:
                raw[field.name] = _cell_value(field, cell)
            except ValueError as err:
                row_problems.append(TableProblem(number, heading, str(err)))
                raw[field.name] = None
        failed = {p.column for p in row_problems}
        values, errors = _clean_row(spec, raw)
        row_problems += [TableProblem(number, headings[name], message)
                         for name, messages in errors.items() if headings[name] not in failed
                         for message in messages]
        if row_problems:
            problems += row_problems
            continue
        row = ImportedRow(number, values, headings)
        duplicate = _duplicate_of(spec, values, number, first_with_key)
        if duplicate:
            problems.append(TableProblem(number, "、".join(headings.get(n, spec.field(n).label) for n in spec.unique_by),
                                         duplicate))
            continue
        imported.append(row)
    return imported, problems


def _clean_row(spec: RecordSpec, raw: dict) -> tuple[dict | None, dict[str, list[str]]]:
    """The row's python values, or every problem of the row: bad values and, beside them,
    required values left empty (clean_fields alone reports the latter only once the rest is valid)."""
    try:
        return clean_fields(spec.fields, raw), {}
    except ValidationFailed as err:
        errors = dict(err.fields)
    for name, messages in missing_in(spec.fields, raw).items():
        errors.setdefault(name, messages)
    return None, errors


def _duplicate_of(spec: RecordSpec, values: dict, number: int, first_with_key: dict) -> str | None:
    if not spec.unique_by:
        return None
    stored = dump_fields(spec.fields, values)
    key = tuple(str(stored.get(name)) for name in spec.unique_by)
    if key in first_with_key:
        labels = "、".join(f"「{spec.field(name).label}」" for name in spec.unique_by)
        return f"与第{first_with_key[key]}行的{labels}相同"
    first_with_key[key] = number
    return None


def _cell_value(field: FieldSpec, cell):
    """What a cell holds, as the form field expects it (the same input a person would type)."""
    if blank_cell(cell):
        return None
    if isinstance(cell, str):
        cell = cell.strip()
    if field.type == "choice":
        return _choice_value(field, cell)
    if field.type == "date":
        return _date_value(cell)
    if field.type in ("money", "decimal") and isinstance(cell, (int, float)) and not isinstance(cell, bool):
        return str(Decimal(repr(cell)))  # Money refuses floats; the cell's shortest decimal form is what was typed
    if field.type in ("text", "longtext", "id_number", "phone"):
        return _text_value(field, cell)
    return cell


def _choice_value(field: FieldSpec, cell) -> str:
    """A choice by its label (as people type it) or by its stored value."""
    text = str(int(cell)) if isinstance(cell, float) and cell.is_integer() else str(cell)
    wanted = _normalise_heading(text)
    for value, label in field.choices:
        if wanted in (_normalise_heading(value), _normalise_heading(label)):
            return value
    return text  # not a choice: the form's own message lists the choices


def _date_value(cell) -> str:
    if isinstance(cell, datetime):
        return cell.date().isoformat()
    if isinstance(cell, date):
        return cell.isoformat()
    match = DATE_TEXT.match(str(cell))
    if match:
        try:
            return date(*(int(part) for part in match.groups())).isoformat()
        except ValueError:
            raise ValueError("日期不存在") from None
    return str(cell)


def _text_value(field: FieldSpec, cell) -> str:
    if isinstance(cell, bool):
        return str(cell)
    if isinstance(cell, int):
        if field.type == "id_number" and len(str(cell)) > EXCEL_DIGITS:
            raise ValueError("身份证号码被 Excel 存成了数字，末几位已丢失；请将该列设为“文本”格式后重新填写")
        return str(cell)
    if isinstance(cell, float):
        if field.type == "id_number" and cell >= 10 ** EXCEL_DIGITS:
            raise ValueError("身份证号码被 Excel 存成了数字，末几位已丢失；请将该列设为“文本”格式后重新填写")
        return str(int(cell)) if cell.is_integer() else repr(cell)
    if isinstance(cell, datetime):
        return cell.date().isoformat() if cell.time() == datetime.min.time() else cell.isoformat(sep=" ")
    if isinstance(cell, date):
        return cell.isoformat()
    return str(cell)


# A limit set to something not a positive number stops the process at its start (the web app,
# the CLI and the worker import this module), not the first upload with a 500.
TableLimits.from_env()
