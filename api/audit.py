"""Auditing over the API: a case's audit trail, exports of audit events, the system log, and
the public keys that exports are signed with.

A case's trail is for the case's reviewers and auditors. Anyone else who may see the case (its
applicant, an admin) is refused with 403; anyone who may not is told the case does not exist.
Personal data in the events (ID numbers, fields marked sensitive, in form changes, record data
and transition inputs) is masked unless the reader may see it in full
(engine.cases.permissions.sees_personal_data).

An export is a search of the events in the auditor's scope (engine.reading.audit_search's filters),
written out whole as JSON Lines (signed, verifiable offline), CSV or XLSX. Starting it is one
unit of work, committed before the first byte leaves, so the system log records every export
that is sent (engine.reading.audit_export); the file is then streamed from the database in batches.
"""
from __future__ import annotations

from datetime import date

from flask import Response, current_app, send_file
from marshmallow import fields, pre_dump, validate

from api.auth import public
from api.blueprint import Blueprint
from api.fields import LocalDateTime
from api.pagination import PageQuerySchema, page_schema
from api.schemas import ApiSchema, ErrorSchema, RowId
from engine.audit.signing import current_signer, public_key_pem, published_keys
from engine.audit.system_log import SYSTEM_EVENT_LABELS, SystemEvent, system_log_page
from engine.base.db import utcnow
from engine.reading.audit_export import (
    FORMAT_LABELS, FORMATS, MEDIA_TYPES, AuditExport, begin_audit_export, download_chunks, xlsx_file,
)
from engine.reading.audit_search import ACTOR_QUERY_MAX, FILTER_ARGS, AuditFilter, auditor_paths
from engine.reading.trail import readable_audit_trail
from web.auth import current_actor
from web.database import committing, request_session, streamed_body
from web.paging import encode_cursor, id_cursor

blp = Blueprint("audit", __name__, url_prefix="/api/v1", description="审计记录、审计导出、系统日志与签名公钥")


class EventActorSchema(ApiSchema):
    id = fields.Integer(allow_none=True, metadata={"description": "公众或系统操作时为空"})
    name = fields.String()


class EventUnitSchema(ApiSchema):
    id = fields.Integer()
    name = fields.String()


class AuditEventSchema(ApiSchema):
    seq = fields.Integer()
    at = LocalDateTime(attribute="occurred_dt")
    actor = fields.Nested(EventActorSchema, metadata={"description": "操作人"})
    role = fields.String(attribute="actor_role", allow_none=True)
    unit = fields.Nested(EventUnitSchema, allow_none=True, metadata={"description": "操作人以哪个单位的身份操作"})
    action = fields.String()
    from_state = fields.String(allow_none=True)
    to_state = fields.String(allow_none=True)
    comment = fields.String(allow_none=True)
    changes = fields.Dict(allow_none=True, metadata={"description": "表单字段 → {before, after}；个人信息按权限遮蔽"})
    details = fields.Dict(allow_none=True)
    prev_hash = fields.String()
    hash = fields.String(metadata={"description": "本事件的 SHA-256，覆盖除 id 外的全部内容与上一事件的散列"})


class AuditTrailSchema(ApiSchema):
    case_id = fields.Integer()
    events = fields.List(fields.Nested(AuditEventSchema))


@blp.route("/cases/<int:case_id>/audit-events")
@blp.response(200, AuditTrailSchema)
@blp.alt_response(403, schema=ErrorSchema, description="申报人等可见此案件但不可查看审计记录")
@blp.alt_response(404, schema=ErrorSchema, description="案件不存在或您无权查看")
def list_audit_events(case_id):
    """案件的审计记录（哈希链）：本案审核人与覆盖该案件的审计人员可查看。"""
    return {"case_id": case_id, "events": readable_audit_trail(request_session(), current_actor(), case_id)}


# --- Exports ---------------------------------------------------------------------------------------

class ExportQuerySchema(ApiSchema):
    """The export's format and the search's filters (those of the auditor's search page)."""

    format = fields.String(required=True, validate=validate.OneOf(FORMATS, error="导出格式应为以下之一：{choices}"),
                           metadata={"description": "；".join(f"{fmt}：{label}" for fmt, label in FORMAT_LABELS.items())})
    full_data = fields.Boolean(load_default=False, metadata={
        "description": "true：身份证号、银行卡号等个人信息不遮蔽（仅 JSON Lines 含这些内容）；须有“可查看完整个人信息”的审计人员权限，"
                       "且只导出这类授权覆盖的单位"})
    date_from = fields.Date(metadata={"description": "事件发生的本地日期，自（含）"})
    date_to = fields.Date(metadata={"description": "至（含），不早于 date_from"})
    kind = fields.String(metadata={"description": "业务种类，如 hardship_aid"})
    round = RowId(metadata={"description": "评选批次编号"})
    unit = RowId(metadata={"description": "只导出源自这一单位及其下级的案件；须在您的审计范围内"})
    actor = fields.String(metadata={"description": f"操作人姓名或用户名中的一段（至多 {ACTOR_QUERY_MAX} 个字）"})
    case_id = RowId(metadata={"description": "只导出这一案件的事件"})


BINARY = {"type": "string", "format": "binary"}
EXPORT_DESCRIPTION = (
    "导出文件本身（Content-Disposition: attachment）。jsonl：每行一个事件（含哈希链），最后一行为签名的清单"
    "（count、masked_count、first_hash、last_hash、key_id 与 Ed25519 签名）；csv：UTF-8 带 BOM，中文表头；"
    "xlsx：Excel 工作簿，中文表头")


def export_filter(query: dict) -> AuditFilter:
    """The parsed query as the engine's filter; the engine checks what the schema cannot (an
    end before the start, an actor text too long, then the kind, unit and round that exist)."""
    return AuditFilter.from_args({name: query[name].isoformat() if isinstance(query[name], date) else str(query[name])
                                  for name in FILTER_ARGS if name in query})


@blp.route("/audit/exports")
@blp.arguments(ExportQuerySchema, location="query")
@blp.response(200, BINARY, content_type=MEDIA_TYPES["jsonl"], description=EXPORT_DESCRIPTION)
@blp.doc(responses={200: {"content": {MEDIA_TYPES[fmt].split(";")[0]: {"schema": BINARY} for fmt in ("csv", "xlsx")}}})
@blp.alt_response(403, schema=ErrorSchema, description="不是审计人员；或要求完整个人信息但没有这一权限")
@blp.alt_response(422, schema=ErrorSchema, description="导出格式或查询条件有误（fields 指明哪一项）")
@blp.alt_response(503, schema=ErrorSchema, description="尚无审计导出签名密钥（仅 jsonl）：请管理员创建")
def export_audit_events(query):
    """导出审计记录（审计人员）：按查询条件导出本人审计范围内的全部事件；每次导出记入系统日志。"""
    session, actor = request_session(), current_actor()
    settings = current_app.extensions["unionflow"].settings
    flt = export_filter(query)
    auditor_paths(actor)  # a non-auditor is refused before anything is said about the signing key
    signer = current_signer(session, settings.signing_key_file) if query["format"] == "jsonl" else None
    with committing():  # recorded in the system log before the first byte leaves
        export = begin_audit_export(session, actor, flt, fmt=query["format"], full_data=query["full_data"],
                                    now=utcnow(), tz=settings.timezone, signer=signer)
    return export_response(export)


def export_response(export: AuditExport) -> Response:
    if export.format == "xlsx":
        # The workbook is written whole before it is sent.
        response = send_file(xlsx_file(request_session(), export), mimetype=MEDIA_TYPES["xlsx"], as_attachment=True,
                             download_name=export.filename, max_age=0)
    else:
        chunks = streamed_body(lambda session: download_chunks(session, export))
        response = Response(chunks, content_type=MEDIA_TYPES[export.format], headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"'})
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# --- The system log --------------------------------------------------------------------------------

class SystemEventSchema(ApiSchema):
    seq = fields.Integer()
    action = fields.String(metadata={"description": "、".join(SYSTEM_EVENT_LABELS)})
    label = fields.String(metadata={"description": "事件的中文名称"})
    actor = fields.Nested(EventActorSchema, metadata={"description": "操作人；命令行操作时 id 为空"})
    role = fields.String(allow_none=True)
    unit = fields.Nested(EventUnitSchema, allow_none=True, metadata={"description": "操作人以哪个单位的身份操作；命令行操作时为空"})
    details = fields.Dict(allow_none=True, metadata={
        "description": "导出：export_id、format、filters、full_data、rows（jsonl 另有签名的 key_id）；创建密钥：key_id、public_key"})
    at = LocalDateTime()
    prev_hash = fields.String()
    hash = fields.String(metadata={"description": "本事件的 SHA-256，覆盖除 id 外的全部内容与上一事件的散列"})

    @pre_dump
    def from_row(self, event: SystemEvent, **kwargs) -> dict:
        unit = None if event.actor_unit_id is None else {"id": event.actor_unit_id, "name": event.actor_unit_name}
        return {
            "seq": event.seq, "action": event.action, "label": SYSTEM_EVENT_LABELS.get(event.action, event.action),
            "actor": {"id": event.actor_id, "name": event.actor_name}, "role": event.actor_role, "unit": unit,
            "details": event.details, "at": event.occurred_dt, "prev_hash": event.prev_hash, "hash": event.hash,
        }


@blp.route("/audit/log")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_schema(SystemEventSchema, "SystemEventPage"))
@blp.alt_response(403, schema=ErrorSchema, description="不是审计人员")
def list_system_events(query):
    """系统日志（审计人员）：本人审计范围内的导出等操作及命令行操作，新的在前，按序号分页。"""
    paths = auditor_paths(current_actor())
    before = id_cursor(query["cursor"])
    found = system_log_page(request_session(), paths, before_seq=before, limit=query["limit"])
    return {"items": found.events,
            "next_cursor": encode_cursor([found.next_before]) if found.next_before is not None else None}


# --- Public keys -----------------------------------------------------------------------------------

class PublicKeySchema(ApiSchema):
    key_id = fields.String(metadata={"description": "公钥（32 字节原始值）SHA-256 的前 16 位十六进制，与导出清单的 key_id 对应"})
    public_key = fields.String(metadata={"description": "Ed25519 公钥 32 字节原始值的 base64"})
    pem = fields.Function(lambda key: public_key_pem(key.public_key), metadata={
        "type": "string", "description": "同一公钥的 PEM（SubjectPublicKeyInfo）"})
    created_at = LocalDateTime(attribute="created_dt")
    retired_at = LocalDateTime(attribute="retired_dt", allow_none=True, metadata={"description": "仍在使用时为 null"})
    current = fields.Function(lambda key: key.retired_dt is None, metadata={
        "type": "boolean", "description": "是否为当前用于签名的公钥"})


class PublicKeyListSchema(ApiSchema):
    keys = fields.List(fields.Nested(PublicKeySchema))


@blp.route("/audit/public-keys")
@public
@blp.response(200, PublicKeyListSchema)
def list_public_keys():
    """审计导出签名公钥（公开）：当前公钥在前；已更换的旧公钥仍公布，旧导出仍可验证。"""
    return {"keys": published_keys(request_session())}
