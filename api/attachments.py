"""Attachments of a case: upload into a file field (multipart/form-data), list, download.

Uploads are refused early when the request body is over the app's ``MAX_CONTENT_LENGTH``
(413 before the body is read), then by the field's own limits in the engine (413 over
``max_size_mb``, 415 outside ``accept``). Downloads are for those who may see the case.
"""
from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import ValidationError, fields, validate
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import CombinedMultiDict, FileStorage
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from api.blueprint import Blueprint, JSONOnceParser
from api.fields import LocalDateTime
from api.schemas import ApiSchema, ErrorSchema
from engine.cases.attachments import attach_file, attachments_of, get_attachment
from engine.cases.permissions import get_case
from web.auth import current_actor
from web.database import request_session, unit_of_work
from web.errors import request_too_large_message
from web.files import attachment_download, configure_request_size, file_store, read_upload

MULTIPART = "multipart/form-data"


# --- multipart/form-data: form fields and files read as one location --------------------------------


class MultipartParser(JSONOnceParser):
    """webargs reading a multipart body's form fields and files together, so one schema
    validates (and the OpenAPI document shows) the whole upload."""

    __location_map__ = {**JSONOnceParser.__location_map__, "multipart": "load_multipart"}

    def load_multipart(self, req, schema):
        if req.mimetype != MULTIPART:
            raise UnsupportedMediaType(description=f"请以 {MULTIPART} 格式提交（文件放在 file 字段）")
        try:
            return MultiDictProxy(CombinedMultiDict([req.files, req.form]), schema)
        except RequestEntityTooLarge:
            raise RequestEntityTooLarge(description=str(request_too_large_message())) from None


class MultipartBlueprint(Blueprint):
    """A blueprint whose views may take ``location="multipart"`` arguments."""

    ARGUMENTS_PARSER = MultipartParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {**Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING, "multipart": MULTIPART}


class UploadedFile(Upload):
    """A file part of the upload (a plain text value or an empty file input is not a file)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, FileStorage):
            raise ValidationError("应为上传的文件")
        if not value.filename:
            raise ValidationError("请选择要上传的文件")
        return value


# --- Schemas -----------------------------------------------------------------------------------------

blp = MultipartBlueprint("attachments", __name__, url_prefix="/api/v1", description="附件：上传、列表与下载")
blp.record_once(lambda state: configure_request_size(state.app))


class AttachmentUploadSchema(ApiSchema):
    field = fields.String(required=True, validate=validate.Length(min=1, max=127, error="应为 1 到 127 个字符"),
                          metadata={"description": "表单的附件项名称，如 attachments；登记记录用的附件写「记录类型.附件项」，"
                                                   "如 home_visit.attachments"})
    version = fields.Integer(required=True, validate=validate.Range(min=1, error="应为正整数"),
                             metadata={"description": "调用方看到的案件版本；已被他人更新时返回 409"})
    file = UploadedFile(required=True, metadata={"description": "文件本身；大小与类型以该附件项的限制为准"})


class AttachmentSchema(ApiSchema):
    id = fields.Integer()
    field = fields.String(attribute="field_name")
    filename = fields.String()
    content_type = fields.String()
    size_bytes = fields.Integer()
    sha256 = fields.String()
    uploaded_at = LocalDateTime(attribute="uploaded_dt")


class UploadedAttachmentSchema(AttachmentSchema):
    case_version = fields.Integer(metadata={"description": "上传后案件的版本，下一次修改时提交"})


class AttachmentListSchema(ApiSchema):
    attachments = fields.List(fields.Nested(AttachmentSchema))


# --- Views -------------------------------------------------------------------------------------------


@blp.route("/cases/<int:case_id>/attachments", methods=["POST"])
@blp.arguments(AttachmentUploadSchema, location="multipart")
@blp.response(201, UploadedAttachmentSchema)
@blp.alt_response(409, schema=ErrorSchema, description="案件版本已变，或案件已不是草稿")
@blp.alt_response(413, schema=ErrorSchema, description="文件超过该附件项的大小上限，或请求超过总上限")
@blp.alt_response(415, schema=ErrorSchema, description="文件类型不在该附件项允许的范围内，或请求不是 multipart/form-data")
@unit_of_work
def upload_attachment(upload, case_id):
    """上传附件：只有当前可修改草稿的一方可以上传（multipart/form-data）。"""
    session, actor = request_session(), current_actor()
    case = get_case(session, actor, case_id)
    filename, content_type, data = read_upload(upload["file"])
    attachment = attach_file(session, actor, case, upload["field"], filename=filename, content_type=content_type,
                             data=data, store=file_store(), expected_version=upload["version"])
    attachment.case_version = case.version  # not a column: the version after this upload
    return attachment


@blp.route("/cases/<int:case_id>/attachments", methods=["GET"])
@blp.response(200, AttachmentListSchema)
def list_attachments(case_id):
    """案件的全部附件（含登记记录用的附件），按上传先后排列。"""
    session, actor = request_session(), current_actor()
    return {"attachments": attachments_of(session, actor, get_case(session, actor, case_id))}


@blp.route("/cases/<int:case_id>/attachments/<int:attachment_id>", methods=["GET"])
@blp.response(200, {"type": "string", "format": "binary"}, content_type="*/*",
              description="文件本身，以附件形式下载；Content-Type 为按文件扩展名确定的类型")


def download_attachment(case_id, attachment_id):
    """下载附件：能查看该案件的人才能下载。"""
    return attachment_download(get_attachment(request_session(), current_actor(), attachment_id, case_id=case_id))
