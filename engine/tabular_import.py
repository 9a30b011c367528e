"""Importing a table (Excel .xlsx or CSV) as records of a case: all rows or none.

Union offices keep ranked lists, rosters and payment sheets in Excel. An import reads the
file's first sheet, matches the header row to the record type's field labels (or names),
validates every row exactly as a record added by hand (engine.forms.clean_fields), and
reports every problem at once, by the row number and column heading the user sees in
Excel (the header is row 1). Only a file without a single problem is written: each row
through engine.records.add_record (its own audit event), plus one ``import_table`` event
naming the file by its SHA-256 and the records it produced, all in one savepoint.

A kind may register extra checks for a record type (``register_row_check``), e.g. that a
named unit exists; they run on rows that passed field validation and report the same way.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import time
import zipfile
import zlib
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import date, datetime
from decimal import Decimal
from pathlib import PurePath
from typing import Callable
from xml.parsers import expat

from openpyxl.utils.cell import column_index_from_string, range_boundaries
from sqlalchemy.orm import Session

from engine.audit import append_event
from engine.cases import Case, check_version, require_visible
from engine.db import utcnow
from engine.definitions import FieldSpec, RecordSpec, definition_by_hash
from engine.errors import ValidationFailed
from engine.forms import clean_fields, dump_fields, missing_in
from engine.org import Actor, Grant
from engine.records import CaseRecord, add_record, record_grant, record_spec, records_of, void_record

# Excel keeps 15 significant digits: an 18-digit ID number typed into a number cell loses its tail.
EXCEL_DIGITS = 15
SHOWN_IN_TEXT = 5
SUPPORTED = "Excel（.xlsx）或 CSV（.csv）"
DATE_TEXT = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_IGNORED_IN_HEADINGS = re.compile(r"[\s*＊:：]")


# --- Problems --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TableProblem:
    """One thing wrong with the file: at a row (Excel's numbering, header = 1) and a column
    (its heading as written in the file), or with the file as a whole (both None)."""

    row: int | None
    column: str | None
    message: str

    @property
    def place(self) -> str:
        if self.row is not None and self.column:
            return f"第{self.row}行「{self.column}」"
        if self.row is not None:
            return f"第{self.row}行"
        if self.column:
            return f"「{self.column}」列"
        return "文件"

    def __str__(self) -> str:
        return f"{self.place}：{self.message}"

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "message": self.message}


def _order(problem: TableProblem) -> tuple:
    return (problem.row is not None, problem.row or 0)


class TableImportFailed(ValidationFailed):
    """The file was refused; nothing was imported. ``problems`` lists every problem found,
    file-level ones first, then by row; ``fields`` maps "第3行「名次」" to its messages."""

    def __init__(self, problems: list[TableProblem]):
        self.problems = sorted(problems, key=_order)
        fields: dict[str, list[str]] = {}
        for problem in self.problems:
            fields.setdefault(problem.place, []).append(problem.message)
        super().__init__(fields, f"导入失败：发现 {len(self.problems)} 处问题，未导入任何记录，请修改后重新导入")

    def __str__(self) -> str:
        # A file can hold thousands of problems: logs and tracebacks get the first few.
        shown = "；".join(str(problem) for problem in self.problems[:SHOWN_IN_TEXT])
        more = f"；等共 {len(self.problems)} 处" if len(self.problems) > SHOWN_IN_TEXT else ""
        return f"{self.message}（{shown}{more}）"


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
    definition = definition_by_hash(session, case.definition_hash)
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

# A part of an .xlsx this small says nothing by its compression ratio (a short XML part of
# repeated tags compresses 50 times); a larger one, inflated by more than the ratio, is built to.
RATIO_FROM_BYTES = 1024 * 1024
# An .xlsx of one sheet has about a dozen parts; ten thousand are not a spreadsheet.
MAX_XLSX_PARTS = 1000
# XML elements of the parts other than sheets and shared strings, together (_PartsScan).
OTHER_PARTS_ELEMENTS = 50_000


@dataclass(frozen=True)
class TableLimits:
    """What reading one uploaded table may cost, checked before and while it is read. An .xlsx
    is a zip of XML: 300 KB of it can unpack to gigabytes, or write one cell reference that
    makes openpyxl fill a million blank rows, so the file's size alone bounds nothing.
    Technical bounds, not domain figures; each is an ``UNIONFLOW_IMPORT_<NAME>`` setting."""

    max_bytes: int = 10 * 1024 * 1024            # the file as uploaded
    max_rows: int = 1000                         # data rows (not blank), the header aside
    max_sheet_rows: int = 10_000                 # rows read, blank ones included (.xlsx: the last row number)
    max_columns: int = 200                       # columns of a row
    max_cells: int = 200_000                     # cells written in the sheet (CSV: fields)
    max_unzipped_bytes: int = 50 * 1024 * 1024   # .xlsx: all its parts, uncompressed
    max_compression_ratio: int = 100             # .xlsx: uncompressed / compressed, of a part over 1 MB
    max_line_chars: int = 100_000                # CSV: one line
    max_seconds: float = 30                      # reading the file and checking its rows

    @classmethod
    def from_env(cls) -> "TableLimits":
        values = {}
        for limit in dataclass_fields(cls):
            variable = f"UNIONFLOW_IMPORT_{limit.name.upper()}"
            raw = os.environ.get(variable)
            if raw is None or not raw.strip():
                continue
            try:
                value = (float if limit.type == "float" else int)(raw)
            except ValueError:
                value = 0
            if not value > 0:
                raise ValueError(f"{variable} must be a positive number, not {raw!r}")
            values[limit.name] = value
        return cls(**values)


class _Budget:
    """The time a file may take to read (``max_seconds``), checked per chunk and per row."""

    def __init__(self, seconds: float):
        self.seconds, self.ends = seconds, time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.ends:
            raise _file_problem(f"读取表格超过 {self.seconds:g} 秒（单次导入上限），请删除多余的内容或拆分后分批导入")


# --- Reading the file ------------------------------------------------------------------------------

def read_table(filename: str, data: bytes, limits: TableLimits) -> list[tuple[int, list]]:
    """(Excel row number, cell values) of every row that is not blank, header included.

    Raises TableImportFailed naming the limit a file goes over: what an .xlsx declares (its
    parts' sizes and ratios, its dimension) is checked before openpyxl reads it, and its sheet's
    rows and cells are counted by a streaming pass that builds nothing; CSV lines, rows and
    cells are counted as they are read; the whole read has a time budget.
    """
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension == "xls":
        raise _file_problem("不支持旧版 Excel（.xls）文件，请在 Excel 中“另存为”.xlsx 或 CSV 后再导入")
    if extension not in ("xlsx", "csv"):
        raise _file_problem(f"只能导入{SUPPORTED}文件")
    if not data:
        raise _file_problem("文件是空的")
    if len(data) > limits.max_bytes:
        raise _file_problem(f"文件不能超过 {_size_label(limits.max_bytes)}")
    budget = _Budget(limits.max_seconds)
    raw_rows = _xlsx_rows(data, limits, budget) if extension == "xlsx" else _csv_rows(data, limits, budget)
    rows = []
    for number, cells in raw_rows:
        budget.check()
        if all(_blank(cell) for cell in cells):
            continue  # blank lines (often trailing) are skipped, numbering is kept
        rows.append((number, list(cells)))
        if len(rows) > limits.max_rows + 1:  # + the header
            raise _file_problem(f"数据超过 {limits.max_rows} 行（单次导入上限），请拆分后分批导入")
    if not rows:
        raise _file_problem("文件中没有任何内容")
    return rows


def _size_label(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.3g} MB"
    return f"{max(size // 1024, 1)} KB"


def _file_problem(message: str) -> TableImportFailed:
    return TableImportFailed([TableProblem(None, None, message)])


def _too_many_rows(limits: TableLimits) -> TableImportFailed:
    return _file_problem(f"表格超过 {limits.max_sheet_rows} 行（含空行，单次导入上限），请删除多余的行或拆分后分批导入")


def _too_many_columns(limits: TableLimits) -> TableImportFailed:
    return _file_problem(f"表格超过 {limits.max_columns} 列（单次导入上限），请删除多余的列后再导入")


def _too_many_cells(limits: TableLimits) -> TableImportFailed:
    return _file_problem(f"表格超过 {limits.max_cells} 个单元格（单次导入上限），请删除多余的内容或拆分后分批导入")


_CORRUPT_XLSX = "Excel 文件已损坏或无法读取，请重新保存后再导入"
# What openpyxl and the zip and XML readers raise on a damaged or hand-made file.
_UNREADABLE = (zipfile.BadZipFile, KeyError, ValueError, TypeError, AttributeError, IndexError, SyntaxError,
               OSError, EOFError, OverflowError, NotImplementedError, RuntimeError, zlib.error, expat.ExpatError)


def _xlsx_rows(data: bytes, limits: TableLimits, budget: _Budget):
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    if not data.startswith(b"PK"):
        raise _file_problem("文件不是有效的 Excel（.xlsx）文件，请确认文件类型")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise _file_problem(_CORRUPT_XLSX) from err
    with archive:
        _check_parts(archive, limits)
        try:
            # Before openpyxl parses anything: it builds every element of a part it reads (and,
            # finding a sheet's size, of every sheet), so what each part writes is counted first.
            extents = _scan_parts(archive, limits, budget)
            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except (InvalidFileException, *_UNREADABLE) as err:
            raise _file_problem(_CORRUPT_XLSX) from err
        try:
            if not workbook.worksheets or workbook.worksheets[0]._worksheet_path not in extents:
                raise _file_problem(_CORRUPT_XLSX)
            sheet = workbook.worksheets[0]  # the first sheet holds the table
            last_row, last_column = extents[sheet._worksheet_path]
            if not last_row or not last_column:
                return
            # Bounded by what the sheet writes, not by the dimension it declares: openpyxl pads
            # every row to the declared width and fills in the rows missing up to the last.
            try:
                rows = sheet.iter_rows(min_row=1, max_row=last_row, max_col=last_column, values_only=True)
                yield from enumerate(rows, start=1)
            except (InvalidFileException, *_UNREADABLE) as err:
                raise _file_problem(_CORRUPT_XLSX) from err
        finally:
            workbook.close()


def _check_parts(archive: zipfile.ZipFile, limits: TableLimits) -> None:
    """The zip's own account of its parts, before any is unpacked. A part cannot unpack to more
    than its declared size: zipfile stops there (and then fails the part's checksum)."""
    parts = archive.infolist()
    if len(parts) > MAX_XLSX_PARTS:
        raise _file_problem(f"Excel 文件内含 {len(parts)} 个部件，超过上限 {MAX_XLSX_PARTS} 个；请在 Excel 中重新保存后再导入")
    for part in parts:
        if part.file_size > RATIO_FROM_BYTES and part.file_size > limits.max_compression_ratio * max(part.compress_size, 1):
            ratio = part.file_size // max(part.compress_size, 1)
            raise _file_problem(f"Excel 文件中的「{part.filename[:80]}」解压后是压缩时的 {ratio} 倍，超过上限 "
                                f"{limits.max_compression_ratio} 倍；文件可能经过特殊构造，请在 Excel 中重新保存后再导入")
    unzipped = sum(part.file_size for part in parts)
    if unzipped > limits.max_unzipped_bytes:
        raise _file_problem(f"Excel 文件解压后共 {_size_label(unzipped)}，超过上限 {_size_label(limits.max_unzipped_bytes)}；"
                            "请删除图片、多余的工作表等内容或拆分后分批导入")


def _scan_parts(archive: zipfile.ZipFile, limits: TableLimits, budget: _Budget) -> dict[str, tuple[int, int]]:
    """One pass of expat over every XML part, keeping nothing but counts, stopped at the first
    limit passed: the elements of all parts together, and in each worksheet the rows, columns
    and cells, numbered as openpyxl numbers them. Returns each worksheet's last row and column."""
    scan = _PartsScan(limits)
    for part in archive.infolist():
        scan.begin_part()
        parser = expat.ParserCreate(namespace_separator="}")
        parser.StartElementHandler = scan.start
        try:
            with archive.open(part) as stream:
                while chunk := stream.read(64 * 1024):
                    budget.check()
                    parser.Parse(chunk, False)
                parser.Parse(b"", True)
        except expat.ExpatError:
            # Not XML (an image), or broken where openpyxl's parser, expat too (no lxml here),
            # stops as well: what came before the error was counted.
            continue
        if scan.is_sheet:
            scan.extents[part.filename] = (scan.last_row, scan.last_column)
    return scan.extents


class _PartsScan:
    def __init__(self, limits: TableLimits):
        self.limits, self.extents = limits, {}
        # Sheets and shared strings grow with the cells: each takes an element or a few (value,
        # inline string, formula, rich-text run), a row one more. Every other part (styles, theme,
        # relations, drawings) is a few thousand elements in a workbook saved from Excel, and
        # openpyxl makes an object of each style it finds, read-only or not (100,000: 100 MB).
        self.budgets = {"cells": 4 * limits.max_cells + limits.max_sheet_rows + 10_000, "other": OTHER_PARTS_ELEMENTS}
        self.counts = {"cells": 0, "other": 0}
        self.cells = 0
        self.begin_part()

    def begin_part(self) -> None:
        self.is_sheet, self.root_seen, self.budget = False, False, "other"
        self.row = self.column = self.last_row = self.last_column = 0

    def start(self, name: str, attributes: dict) -> None:
        tag = name.rpartition("}")[2]
        if not self.root_seen:
            self.root_seen, self.is_sheet = True, tag == "worksheet"
            self.budget = "cells" if tag in ("worksheet", "sst") else "other"
        self.counts[self.budget] += 1
        if self.counts[self.budget] > self.budgets[self.budget]:
            raise _file_problem(f"Excel 文件内容过于复杂（{'表格和文字' if self.budget == 'cells' else '格式、主题等'}"
                                f"超过 {self.budgets[self.budget]} 个元素，单次导入上限），请删除多余的内容、格式或工作表后再导入")
        if not self.is_sheet:
            return
        if tag == "c":
            reference = attributes.get("r")
            self.column = column_index_from_string(reference.rstrip("0123456789")) if reference else self.column + 1
            self.cells += 1
            if self.column > self.limits.max_columns:
                raise _too_many_columns(self.limits)
            if self.cells > self.limits.max_cells:
                raise _too_many_cells(self.limits)
            self.last_row, self.last_column = max(self.last_row, self.row), max(self.last_column, self.column)
        elif tag == "row":
            reference = attributes.get("r")
            self.row, self.column = (_row_number(reference) if reference else self.row + 1), 0
            if self.row > self.limits.max_sheet_rows:
                raise _too_many_rows(self.limits)
        elif tag == "dimension":
            self._declared(attributes.get("ref", ""))

    def _declared(self, reference: str) -> None:
        """A dimension beyond the limits is refused before a row is read: Excel writes the range
        the sheet uses, and a file claiming a million rows was not saved from a table."""
        try:
            _, _, last_column, last_row = range_boundaries(reference.upper())
        except (ValueError, TypeError):
            return  # openpyxl ignores a dimension it cannot read; so do the limits
        if (last_row or 0) > self.limits.max_sheet_rows or (last_column or 0) > self.limits.max_columns:
            raise _file_problem(f"表格声明的范围 {reference[:40]} 超过上限（{self.limits.max_sheet_rows} 行、"
                                f"{self.limits.max_columns} 列），请删除多余的行和列并重新保存后再导入")


def _row_number(reference: str) -> int:
    number = float(reference)  # openpyxl accepts "3.0"
    if not number.is_integer():
        raise ValueError(f"{reference!r} is not a row number")
    return int(number)


def _csv_rows(data: bytes, limits: TableLimits, budget: _Budget):
    text = _decode(data)
    if "\x00" in text:
        raise _file_problem("CSV 文件中含有无法识别的字符，请确认文件类型")
    reader = csv.reader(_csv_lines(text, limits, budget))
    cells = 0
    try:
        for number, row in enumerate(reader, start=1):
            if number > limits.max_sheet_rows:
                raise _too_many_rows(limits)
            if len(row) > limits.max_columns:
                raise _too_many_columns(limits)
            cells += len(row)
            if cells > limits.max_cells:
                raise _too_many_cells(limits)
            yield number, row
    except csv.Error as err:
        if "field larger than field limit" in str(err):  # a quoted cell spanning many short lines
            raise _file_problem(f"CSV 文件第 {reader.line_num} 行附近有单元格超过 {csv.field_size_limit()} 个字符"
                                "（单元格上限），请检查引号是否成对") from err
        raise _file_problem(f"CSV 文件格式有误：{err}") from err


def _csv_lines(text: str, limits: TableLimits, budget: _Budget):
    """The file's lines (with their endings, as csv wants them), none longer than the limit."""
    for number, line in enumerate(io.StringIO(text, newline=""), start=1):
        if len(line) > limits.max_line_chars + 2:  # + "\r\n"
            raise _file_problem(f"CSV 文件第 {number} 行超过 {limits.max_line_chars} 个字符（单行上限），请检查文件内容")
        if number % 1000 == 0:
            budget.check()
        yield line


def _decode(data: bytes) -> str:
    """UTF-8 (with or without the BOM Excel writes), else GB18030 as Chinese Excel saves CSV."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise _file_problem("无法识别 CSV 文件的编码，请另存为“CSV UTF-8”格式后再导入") from None


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


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
        if _blank(cell):
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
                 if not _blank(cell) and (i >= len(cells) or _blank(cells[i]))]
        if stray:
            where = "、".join(_column_letter(i) for i in stray)
            problems.append(TableProblem(row_number, None, f"第 {where} 列有内容，但该列没有可识别的列名"))
    return {i: (columns[i], headings[i]) for i in columns}, problems


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

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
    if _blank(cell):
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
