"""Records kept on a case (home visits, background opinions, disbursements, result rows):
list them, add one, void one, or import a whole table of them from Excel or CSV.

Personal data in a record (ID numbers, fields marked sensitive) is shown in full only to the
case's reviewers, masked to everyone else, as on the case itself.
"""
from __future__ import annotations

from marshmallow import fields, validate

from api.attachments import MultipartBlueprint, UploadedFile
from api.fields import LocalDateTime
from api.schemas import ApiSchema, ErrorSchema
from engine.base.errors import ValidationFailed
from engine.base.tables import TableImportFailed, TableProblem
from engine.cases.permissions import get_case
from engine.cases.record_types import record_spec
from engine.cases.records import add_record, records_of, void_record
from engine.cases.results_import import import_table
from engine.reading.case_views import records_view
from web.auth import current_actor
from web.database import request_session, unit_of_work

blp = MultipartBlueprint("records", __name__, url_prefix="/api/v1", description="案件记录与成绩表导入")


# --- Schemas -----------------------------------------------------------------------------------------

class RecordQuerySchema(ApiSchema):
    type = fields.String(load_default=None, validate=validate.Length(min=1, max=63, error="应为 1 到 63 个字符"),
                         metadata={"description": "只看这一类记录，如 home_visit"})
    include_voided = fields.Boolean(load_default=False, metadata={"description": "是否包括已作废的记录"})


class NewRecordSchema(ApiSchema):
    record_fields = fields.Dict(keys=fields.String(), required=True, data_key="fields",
                                metadata={"description": "记录各项的值，项名见流程定义的 records"})


class RecordVoidSchema(ApiSchema):
    reason = fields.String(required=True, metadata={"description": "作废理由（500 字以内）"})


class RecordImportSchema(ApiSchema):
    version = fields.Integer(required=True, validate=validate.Range(min=1, error="应为正整数"),
                             metadata={"description": "调用方看到的案件版本；已被他人更新时返回 409"})
    replace = fields.Boolean(load_default=False,
                             metadata={"description": "true：先作废该类现有记录，再导入（更正后的整表替换原表）"})
    file = UploadedFile(required=True, metadata={"description": "Excel（.xlsx，读第一个工作表）或 CSV（UTF-8 或 GB18030），"
                                                                 "第一行为表头（列名为记录项的名称或标签）"})


class RecordSchema(ApiSchema):
    id = fields.Integer()
    type = fields.String()
    type_label = fields.String()
    record_fields = fields.Dict(data_key="fields", metadata={"description": "各项的值；身份证号等个人信息仅对案件的审核人完整显示"})
    author = fields.String()
    unit = fields.String(allow_none=True, metadata={"description": "登记人当时所代表的单位"})
    created_at = LocalDateTime()
    voided = fields.Boolean()
    voided_at = LocalDateTime(allow_none=True)
    void_reason = fields.String(allow_none=True)


class RecordListSchema(ApiSchema):
    records = fields.List(fields.Nested(RecordSchema))


class ChangedRecordSchema(RecordSchema):
    case_version = fields.Integer(metadata={"description": "登记或作废后案件的版本"})


class ImportResultSchema(ApiSchema):
    record_type = fields.String()
    filename = fields.String()
    sha256 = fields.String()
    count = fields.Integer(metadata={"description": "导入的记录条数"})
    record_ids = fields.List(fields.Integer())
    case_version = fields.Integer()


# --- Presenting records ------------------------------------------------------------------------------


def problem_key(problem: TableProblem) -> str:
    """Where a problem of an imported table is, as a ``fields`` key: "row 3.总成绩" (a cell: the
    row as Excel numbers it, header = 1, and the column's heading as written in the file),
    "row 3" (the row), "column 总成绩" (a column, e.g. a required one missing) or "file"."""
    if problem.row is not None and problem.column:
        return f"row {problem.row}.{problem.column}"
    if problem.row is not None:
        return f"row {problem.row}"
    if problem.column:
        return f"column {problem.column}"
    return "file"


def import_refused(err: TableImportFailed) -> ValidationFailed:
    keyed: dict[str, list[str]] = {}
    for problem in err.problems:
        keyed.setdefault(problem_key(problem), []).append(problem.message)
    return ValidationFailed(keyed, err.message)


# --- Views -------------------------------------------------------------------------------------------

@blp.route("/cases/<int:case_id>/records", methods=["GET"])
@blp.arguments(RecordQuerySchema, location="query")
@blp.response(200, RecordListSchema)
def list_records(query, case_id):
    """案件的记录（走访、征求意见、发放、竞赛成绩等），按登记先后排列。"""
    session, actor = request_session(), current_actor()
    case = get_case(session, actor, case_id)
    if query["type"] is not None:
        record_spec(case.definition, query["type"])  # unknown type → 422
    records = records_of(session, case, query["type"], include_voided=query["include_voided"])
    return {"records": records_view(session, actor, case, records)}


@blp.route("/cases/<int:case_id>/records/<record_type>", methods=["POST"])
@blp.arguments(NewRecordSchema)
@blp.response(201, ChangedRecordSchema)
@blp.alt_response(403, schema=ErrorSchema, description="调用方不是可以登记此类记录的一方")
@blp.alt_response(409, schema=ErrorSchema, description="案件当前环节不能登记此类记录")
@unit_of_work
def create_record(data, case_id, record_type):
    """登记一条记录；各项按流程定义校验，有误时返回 422 并指出各项。"""
    session, actor = request_session(), current_actor()
    case = get_case(session, actor, case_id)
    record = add_record(session, actor, case, record_type, data["record_fields"])
    [result] = records_view(session, actor, case, [record])
    return result


@blp.route("/cases/<int:case_id>/records/<int:record_id>/void", methods=["POST"])
@blp.arguments(RecordVoidSchema)
@blp.response(200, ChangedRecordSchema)
@blp.alt_response(403, schema=ErrorSchema, description="调用方不是可以登记此类记录的一方")
@blp.alt_response(409, schema=ErrorSchema, description="案件当前环节不能变更此类记录")
@unit_of_work
def void_a_record(data, case_id, record_id):
    """作废一条登记有误的记录（保留并标明作废理由）。"""
    session, actor = request_session(), current_actor()
    case = get_case(session, actor, case_id)
    record = void_record(session, actor, case, record_id, data["reason"])
    [result] = records_view(session, actor, case, [record])
    return result


@blp.route("/cases/<int:case_id>/records/<record_type>/import", methods=["POST"])
@blp.arguments(RecordImportSchema, location="multipart")
@blp.response(201, ImportResultSchema)
@blp.alt_response(409, schema=ErrorSchema, description="案件版本已变，或当前环节不能登记此类记录")
@blp.alt_response(422, schema=ErrorSchema, description="表格有误：fields 的键为「row 行号.列名」「row 行号」「column 列名」"
                                                        "或「file」，逐条列出问题，未导入任何记录；文件超出导入上限"
                                                        "（大小、行数、列数、单元格数、解压后大小、压缩比、读取时间，"
                                                        "见 UNIONFLOW_IMPORT_*）时在「file」下指明所超上限，读取之前即拒绝")


@unit_of_work
def import_records(upload, case_id, record_type):
    """从 Excel 或 CSV 表格导入一类记录：整表无误才导入，否则逐行逐列报告问题、一条也不导入。"""
    session, actor = request_session(), current_actor()
    case = get_case(session, actor, case_id)
    try:
        result = import_table(session, actor, case, record_type, filename=upload["file"].filename,
                              data=upload["file"].read(), expected_version=upload["version"],
                              replace=upload["replace"])
    except TableImportFailed as err:
        raise import_refused(err) from err
    return {"record_type": record_type, "filename": result.filename, "sha256": result.sha256,
            "count": len(result.records), "record_ids": [r.id for r in result.records], "case_version": case.version}
