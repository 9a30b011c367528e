"""The OpenAPI document in Chinese, and the page for people at /api/v1/docs.

The page is rendered on the server from the same document /api/v1/openapi.json serves, so
it cannot drift from it, and it loads no script from anywhere: it works on an intranet
without Internet access.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus

from apispec import BasePlugin
from flask import Blueprint, current_app, render_template

# flask-smorest describes responses by their English reason phrase ("OK", "Not Found").
RESPONSE_DESCRIPTIONS = {
    200: "成功",
    201: "已创建",
    202: "已受理",
    204: "成功，无返回内容",
    400: "请求格式不正确",
    401: "未登录，或令牌无效、已过期、已吊销",
    403: "没有权限",
    404: "不存在，或无权知道其存在",
    405: "此地址不支持该请求方法",
    409: "与当前状态冲突（如所见版本已过期）",
    413: "提交的内容过大",
    415: "不支持的内容类型",
    422: "提交的内容有误（各字段的提示在 fields 中）",
    429: "请求过于频繁，请稍后再试",
    500: "服务器内部错误",
    503: "暂时无法处理（如工作日历尚未覆盖该日期）",
}
DEFAULT_ERROR_DESCRIPTION = "出错时的统一格式：{\"error\": {\"code\", \"message\", \"fields\"}}，状态码见各接口说明"
_STATUS_OF_PHRASE = {status.phrase: status.value for status in HTTPStatus}
_SMOREST_DEFAULT_ERROR = "Default error response"

ERROR_SCHEMA_NAME = "Error"
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
JSON_TYPE_LABELS = {"string": "字符串", "integer": "整数", "number": "数字", "boolean": "布尔", "object": "对象",
                    "array": "列表", "null": "null"}
FORMAT_LABELS = {"date-time": "时间（ISO 8601，带时区偏移）", "date": "日期", "binary": "文件", "email": "电子邮箱"}


def chinese_description(description: str) -> str:
    if description == _SMOREST_DEFAULT_ERROR:
        return DEFAULT_ERROR_DESCRIPTION
    status = _STATUS_OF_PHRASE.get(description)
    return RESPONSE_DESCRIPTIONS.get(status, description)


class ChineseResponses(BasePlugin):
    """Response descriptions in Chinese, in the document's shared responses and in each operation."""

    def response_helper(self, response, **kwargs):
        if "description" in response:
            return {"description": chinese_description(response["description"])}
        return None

    def operation_helper(self, path=None, operations=None, **kwargs):
        for operation in (operations or {}).values():
            for response in operation.get("responses", {}).values():
                if isinstance(response, dict) and "description" in response:
                    response["description"] = chinese_description(response["description"])


# --- The page -------------------------------------------------------------------------------------

docs_page = Blueprint("api-docs-page", __name__, url_prefix="/api/v1", template_folder="templates")


@dataclass
class Row:
    """One field of a body, or one parameter."""

    name: str
    type: str
    required: bool
    notes: str
    ref: str | None = None  # the schema component the type names, linked on the page


@dataclass
class Content:
    media_type: str
    schema_name: str | None
    rows: list[Row]
    type: str  # when the body is not an object with fields (a file, a list)


@dataclass
class ResponseDoc:
    status: str
    description: str
    contents: list[Content]


@dataclass
class OperationDoc:
    method: str
    path: str
    summary: str
    description: str
    public: bool
    parameters: list[Row]
    body: list[Content]
    body_required: bool
    responses: list[ResponseDoc]

    @property
    def anchor(self) -> str:
        return f"{self.method}-{self.path}".replace("/", "-").replace("{", "").replace("}", "")


@dataclass
class TagDoc:
    name: str
    description: str
    operations: list[OperationDoc] = field(default_factory=list)


@dataclass
class SchemaDoc:
    name: str
    description: str
    rows: list[Row]


@docs_page.route("/docs")
def api_docs():
    """接口说明页：由 OpenAPI 文档生成，无需登录。"""
    spec = current_app.extensions["unionflow_api"].spec.to_dict()
    components = spec.get("components", {})
    return render_template(
        "docs.html",
        info=spec["info"],
        openapi_version=spec["openapi"],
        tags=operations_by_tag(spec),
        security_schemes=components.get("securitySchemes", {}),
        schemas=[SchemaDoc(name, schema.get("description", ""), object_rows(schema, spec))
                 for name, schema in components.get("schemas", {}).items()],
    )


def operations_by_tag(spec: dict) -> list[TagDoc]:
    tags = {tag["name"]: TagDoc(tag["name"], tag.get("description") or "") for tag in spec.get("tags", [])}
    for path, item in spec["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                operation = _operation_doc(spec, path, method, item[method], item.get("parameters", []))
                for tag in item[method].get("tags") or ["其他"]:
                    tags.setdefault(tag, TagDoc(tag, "")).operations.append(operation)
    return [tag for tag in tags.values() if tag.operations]


def _operation_doc(spec: dict, path: str, method: str, operation: dict, path_parameters: list) -> OperationDoc:
    body = operation.get("requestBody") or {}
    return OperationDoc(
        method=method.upper(),
        path=path,
        summary=operation.get("summary", ""),
        description=operation.get("description", ""),
        public=operation.get("security", spec.get("security")) == [],
        parameters=[_parameter_row(spec, resolve(spec, parameter))
                    for parameter in [*path_parameters, *operation.get("parameters", [])]],
        body=_contents(spec, resolve(spec, body).get("content", {})),
        body_required=bool(body.get("required")),
        responses=[ResponseDoc(status, resolved.get("description", ""), _contents(spec, resolved.get("content", {})))
                   for status, response in operation.get("responses", {}).items()
                   for resolved in [resolve(spec, response)]],
    )


def _parameter_row(spec: dict, parameter: dict) -> Row:
    schema = parameter.get("schema", {})
    where = {"path": "路径", "query": "查询串", "header": "请求头", "cookie": "Cookie"}.get(parameter["in"], parameter["in"])
    notes = "；".join(filter(None, [f"位于{where}", parameter.get("description", ""), constraints(schema)]))
    return Row(parameter["name"], type_label(schema), bool(parameter.get("required")), notes, referenced_name(schema))


def _contents(spec: dict, content: dict) -> list[Content]:
    docs = []
    for media_type, media in content.items():
        schema = media.get("schema", {})
        name = referenced_name(schema)
        # The error format is the same everywhere: a link to it says enough.
        rows = [] if name == ERROR_SCHEMA_NAME else object_rows(schema, spec)
        docs.append(Content(media_type, name, rows, type_label(schema)))
    return docs


def object_rows(schema: dict, spec: dict) -> list[Row]:
    """The fields of an object schema (a reference is followed one level)."""
    schema = resolve(spec, schema)
    required = set(schema.get("required", []))
    return [Row(name, type_label(prop), name in required, constraints(prop), referenced_name(prop))
            for name, prop in schema.get("properties", {}).items()]


def resolve(spec: dict, node: dict) -> dict:
    """Follow a local ``$ref`` ("#/components/…") to what it names."""
    while isinstance(node, dict) and "$ref" in node:
        target = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def referenced_name(schema: dict) -> str | None:
    """The schema component a property is, holds a list of, or may be (nullable)."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    inner = [schema["items"]] if isinstance(schema.get("items"), dict) else []
    for option in [*inner, *schema.get("anyOf", []), *schema.get("oneOf", [])]:
        name = referenced_name(option)
        if name:
            return name
    return None


def type_label(schema: dict) -> str:
    """How a value's type reads on the page: "字符串", "列表<Party>", "整数 | null"."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            return " | ".join(type_label(option) for option in schema[combinator])
    types = schema.get("type")
    if types is None:
        return "任意"
    labels = []
    for name in [types] if isinstance(types, str) else types:
        label = JSON_TYPE_LABELS.get(name, name)
        if name == "array":
            label = f"{label}<{type_label(schema.get('items', {}))}>"
        elif name == "string" and schema.get("format") in FORMAT_LABELS:
            label = FORMAT_LABELS[schema["format"]]
        labels.append(label)
    return " | ".join(labels)


def constraints(schema: dict) -> str:
    """A property's description and its limits, in words."""
    parts = [schema.get("description", "")]
    if "enum" in schema:
        parts.append("可选值：" + "、".join(str(value) for value in schema["enum"] if value is not None))
    for key, words in (("minimum", "最小 {}"), ("maximum", "最大 {}"), ("minLength", "至少 {} 个字符"),
                       ("maxLength", "至多 {} 个字符"), ("minItems", "至少 {} 项"), ("maxItems", "至多 {} 项"),
                       ("pattern", "格式 {}"), ("default", "默认 {}")):
        if key in schema:
            parts.append(words.format(schema[key]))
    if schema.get("readOnly"):
        parts.append("只在响应中出现")
    if schema.get("writeOnly"):
        parts.append("只用于提交，不会返回")
    return "；".join(part for part in parts if part != "")
