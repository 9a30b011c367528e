"""Reading an uploaded table (Excel .xlsx or CSV) as rows of cells, bounded before and while it is read.

An .xlsx is a zip of XML: its size alone bounds nothing, so every part is checked against
TableLimits (UNIONFLOW_IMPORT_* settings) before openpyxl sees it. Problems are reported by the
row number and column heading the user sees in Excel (the header is row 1)."""
from __future__ import annotations

import csv
import io
import os
import re
import time
import zipfile
import zlib
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from xml.parsers import expat

from openpyxl import load_workbook
from openpyxl.utils.cell import column_index_from_string, range_boundaries
from openpyxl.utils.exceptions import InvalidFileException

from engine.base.errors import ValidationFailed
from engine.base.sizes import file_size

SUPPORTED = "Excel（.xlsx）或 CSV（.csv）"

DATE_TEXT = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


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
        raise _file_problem(f"文件不能超过 {file_size(limits.max_bytes)}")
    budget = _Budget(limits.max_seconds)
    raw_rows = _xlsx_rows(data, limits, budget) if extension == "xlsx" else _csv_rows(data, limits, budget)
    rows = []
    for number, cells in raw_rows:
        budget.check()
        if all(blank_cell(cell) for cell in cells):
            continue  # blank lines (often trailing) are skipped, numbering is kept
        rows.append((number, list(cells)))
        if len(rows) > limits.max_rows + 1:  # + the header
            raise _file_problem(f"数据超过 {limits.max_rows} 行（单次导入上限），请拆分后分批导入")
    if not rows:
        raise _file_problem("文件中没有任何内容")
    return rows


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
        raise _file_problem(f"Excel 文件解压后共 {file_size(unzipped)}，超过上限 {file_size(limits.max_unzipped_bytes)}；"
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


SHOWN_IN_TEXT = 5


def blank_cell(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())
