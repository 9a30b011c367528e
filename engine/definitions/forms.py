"""Case forms: a marshmallow schema generated from a definition's fields, with Chinese messages.

Stored form data is JSON: money as a string with two decimals, dates as ISO strings,
files as lists of attachment ids.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate
from stdnum.cn import ric
from stdnum.exceptions import InvalidChecksum, InvalidComponent
from stdnum.exceptions import ValidationError as StdnumError

from engine.base.config import LOCAL_TZ
from engine.base.errors import ValidationFailed
from engine.base.inputs import DATE_CEILING, DATE_FLOOR, UNSTORABLE, text_problem
from engine.definitions.spec import CHECKLIST_ANSWERS, CHECKLIST_NOTE_LENGTH, SEX_CHOICES, TODAY, Definition, FieldSpec

CENT = Decimal("0.01")
# A storage bound, not a domain figure: 14 digits with cents fit every database column type.
MONEY_CEILING = Decimal("1000000000000")
MOBILE = re.compile(r"^1[3-9]\d{9}$")
LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}(-\d{1,6})?$")

BASE_MESSAGES = {
    "required": "此项为必填项",
    "null": "此项不能为空",
    "invalid": "格式不正确",
    "type": "格式不正确",
}


def has_unstorable_characters(text: str) -> bool:
    """NUL (PostgreSQL refuses it) or a lone UTF-16 surrogate (no UTF-8 encoding exists)."""
    return UNSTORABLE.search(text) is not None


class PlainText(fields.String):
    """Text as people type it (engine.base.inputs.text_problem): no control or bidi-override
    characters; newlines and tabs only where ``multiline`` (comments, objections, longtext)."""

    def __init__(self, *, multiline: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.multiline = multiline

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        problem = text_problem(text, multiline=self.multiline)
        if problem:
            raise ValidationError(problem)
        return text


class IDNumber(fields.String):
    """居民身份证号码: 18 characters, valid birth date and checksum (python-stdnum)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip().upper()
        try:
            return ric.validate(text)
        except InvalidChecksum:
            raise ValidationError("身份证号码校验位不正确") from None
        except InvalidComponent:
            raise ValidationError("身份证号码中的出生日期或地区码无效") from None
        except StdnumError:
            raise ValidationError("身份证号码应为18位（最后一位可为X）") from None


class Phone(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip().replace(" ", "")
        if not (MOBILE.match(text) or LANDLINE.match(text)):
            raise ValidationError("请填写11位手机号或带区号的固定电话")
        return text


class Checklist(fields.Field):
    """One yes/no answer per item, each with an optional note: ``{item: {"answer": "no", "note": "…"}}``.

    Items left unanswered are left out (a draft may be half done); whether every item the case
    must answer is answered is checked before it leaves its draft (``missing_in``)."""

    def __init__(self, items: tuple[tuple[str, str], ...], **kwargs):
        super().__init__(**kwargs)
        self.items = dict(items)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("格式不正确")
        answers = dict(CHECKLIST_ANSWERS)
        problems, cleaned = [], {}
        for item, entry in value.items():
            label = self.items.get(item)
            if label is None:
                problems.append(f"没有此项：{item}")
                continue
            entry = entry if isinstance(entry, dict) else {"answer": entry}
            answer, note = entry.get("answer"), entry.get("note")
            note = note.strip() if isinstance(note, str) else note
            if answer in (None, "") and not note:
                continue
            if answer not in answers:
                problems.append(f"「{label}」：请选择{'或'.join(answers.values())}")
            if note not in (None, ""):
                problem = text_problem(note, multiline=True) if isinstance(note, str) else "说明格式不正确"
                if not problem and len(note) > CHECKLIST_NOTE_LENGTH:
                    problem = f"说明不能超过 {CHECKLIST_NOTE_LENGTH} 个字"
                if problem:
                    problems.append(f"「{label}」：{problem}")
            cleaned[item] = {"answer": answer} | ({"note": note} if note else {})
        if problems:
            raise ValidationError(problems)
        ordered = {item: cleaned[item] for item in self.items if item in cleaned}
        return ordered or None


class WholeNumber(fields.Integer):
    """An integer from JSON or a form string; 5.5 is refused rather than truncated to 5."""

    def _validated(self, value):
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class Money(fields.Field):
    """Decimal yuan with at most two decimal places; never a float."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, (bool, float)):
            raise ValidationError("金额请以字符串或整数提交，例如 \"1234.50\"")
        try:
            amount = Decimal(str(value).strip().replace(",", ""))
        except InvalidOperation:
            raise ValidationError("请填写金额，例如 1234.50") from None
        if not amount.is_finite():
            raise ValidationError("请填写金额，例如 1234.50")
        if abs(amount) >= MONEY_CEILING:
            raise ValidationError("金额过大")
        if amount != amount.quantize(CENT):
            raise ValidationError("金额最多保留两位小数")
        return amount.quantize(CENT)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(Decimal(value).quantize(CENT))


class DecimalNumber(fields.Field):
    """A number with at most ``places`` decimals (a score, a rate); never a float."""

    def __init__(self, places: int, **kwargs):
        super().__init__(**kwargs)
        self.places = places

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, (bool, float)):
            raise ValidationError("数字请以字符串或整数提交，例如 \"85.5\"")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValidationError("请填写数字，例如 85.5") from None
        if not number.is_finite() or abs(number) >= MONEY_CEILING:
            raise ValidationError("请填写数字，例如 85.5")
        step = Decimal(1).scaleb(-self.places)
        if number != number.quantize(step):
            raise ValidationError(f"最多保留 {self.places} 位小数" if self.places else "请填写整数")
        return number.quantize(step)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(Decimal(value).quantize(Decimal(1).scaleb(-self.places)))


class DateRange(validate.Validator):
    """A date field's range: the definition's bounds (``today`` read when the value is checked,
    in the deployment's time zone), else DATE_FLOOR and DATE_CEILING: no date a union's work
    can mean lies outside them, and 9999-12-31 is a typing slip, not a birth date."""

    def __init__(self, low: date | str | None, high: date | str | None):
        self.low, self.high = low, high

    def __call__(self, value: date) -> date:
        low, high = (None if bound is None else resolved_bound(bound) for bound in (self.low, self.high))
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValidationError(_range_message(self.low, self.high))
        if not DATE_FLOOR <= value <= DATE_CEILING:
            raise ValidationError(f"应在 {DATE_FLOOR} 至 {DATE_CEILING} 之间")
        return value


def resolved_bound(bound):
    """A field's min or max as a value: ``today`` (date fields) is the deployment's date now."""
    return datetime.now(LOCAL_TZ).date() if bound == TODAY else bound


def _range_message(low, high, unit: str = "") -> str:
    low, high = ("今天" if bound == TODAY else bound for bound in (low, high))
    if low is not None and high is not None:
        return f"应在 {low}{unit} 至 {high}{unit} 之间"
    if low is not None:
        return f"不能小于 {low}{unit}"
    return f"不能大于 {high}{unit}"


def _field_for(spec: FieldSpec) -> fields.Field:
    options = {"allow_none": True, "error_messages": dict(BASE_MESSAGES), "metadata": {"label": spec.label}}
    ranged = spec.min is not None or spec.max is not None
    if spec.type in ("text", "longtext"):
        return PlainText(
            multiline=spec.type == "longtext", validate=validate.Length(max=spec.max_length, error=f"不能超过 {spec.max_length} 个字"), **options
        )
    if spec.type == "integer":
        options["error_messages"]["invalid"] = "请填写整数"
        limits = [validate.Range(min=spec.min, max=spec.max, error=_range_message(spec.min, spec.max))] if ranged else []
        return WholeNumber(strict=False, validate=limits, **options)
    if spec.type == "decimal":
        limits = [validate.Range(min=spec.min, max=spec.max, error=_range_message(spec.min, spec.max))] if ranged else []
        return DecimalNumber(spec.places, validate=limits, **options)
    if spec.type == "money":
        limits = [validate.Range(min=spec.min, max=spec.max, error=_range_message(spec.min, spec.max, " 元"))] if ranged else []
        return Money(validate=limits, **options)
    if spec.type == "date":
        options["error_messages"]["invalid"] = "请按 年-月-日 填写日期，例如 2026-05-01"
        return fields.Date(validate=DateRange(spec.min, spec.max), **options)
    if spec.type == "choice":
        values = [value for value, _ in spec.choices]
        # marshmallow str.format()s the message: braces in a label must not be read as placeholders.
        labels = "、".join(label for _, label in spec.choices).replace("{", "{{").replace("}", "}}")
        return fields.String(validate=validate.OneOf(values, error=f"请从以下选项中选择：{labels}"), **options)
    if spec.type == "id_number":
        return IDNumber(**options)
    if spec.type == "phone":
        return Phone(**options)
    if spec.type == "checklist":
        return Checklist(spec.choices, **options)
    if spec.type == "file":
        options["error_messages"]["invalid"] = "附件格式不正确"
        return fields.List(
            fields.Integer(strict=True, error_messages={"invalid": "附件编号不正确"}),
            validate=validate.Length(max=spec.max_files, error=f"最多上传 {spec.max_files} 个附件"),
            **options,
        )
    raise AssertionError(f"unhandled field type {spec.type}")  # definitions.FIELD_TYPES is exhaustive


class _FormSchema(Schema):
    error_messages = {"unknown": "表单中没有此项"}

    class Meta:
        unknown = RAISE

    @pre_load
    def _blank_means_empty(self, data, **kwargs):
        # An emptied input arrives as "" (or whitespace): it clears the field.
        if not isinstance(data, dict):
            return data
        return {k: None if isinstance(v, str) and not v.strip() else v for k, v in data.items()}


@lru_cache(maxsize=512)
def fields_schema(specs: tuple[FieldSpec, ...], name: str = "form") -> Schema:
    """A schema for any list of fields: a case form, a transition's inputs, a record."""
    declared = {spec.name: _field_for(spec) for spec in specs}
    return _FormSchema.from_dict(declared, name=name)()


def form_schema(definition: Definition) -> Schema:
    return fields_schema(definition.fields, f"{definition.kind}_form")


def clean_form_input(definition: Definition, data: object, stored: dict | None = None) -> dict:
    """Validate a (partial) form submission over the ``stored`` form; return python values; raise
    per-field errors, among them the fields that disagree with the ID number they derive from."""
    try:
        values = clean_fields(definition.fields, data, partial=True)
    except ValidationFailed as refused:
        valid = refused.valid if isinstance(refused, _Refused) else {}
        disagreeing = derived_disagreements(definition.fields, _patched(definition.fields, stored, valid))
        raise ValidationFailed(disagreeing | refused.fields) from None
    values = _rederived(definition.fields, stored or {}, values)
    disagreeing = derived_disagreements(definition.fields, _patched(definition.fields, stored, values))
    if disagreeing:
        raise ValidationFailed(disagreeing)
    return values


def _rederived(specs: tuple[FieldSpec, ...], stored: dict, values: dict) -> dict:
    """A corrected ID number takes its derived fields along: one the patch leaves as it was (absent,
    or posted back unchanged by a form) that the old number gave is cleared, and filled in again
    from the new one (``with_derived``)."""
    cleared = {}
    for spec, expected in _derived(specs, stored):
        source = spec.derived_from
        unchanged = spec.name not in values or str(values[spec.name]) == stored.get(spec.name)
        if source in values and values[source] != stored[source] and unchanged and stored.get(spec.name) == expected:
            cleared[spec.name] = None
    return {**values, **cleared} if cleared else values


def _patched(specs: tuple[FieldSpec, ...], stored: dict | None, values: dict) -> dict:
    """The stored form as ``values`` (a patch: an empty value clears its field) would leave it."""
    patched = dict(stored or {})
    for name, value in fields_schema(specs).dump(values).items():
        if value in (None, "", []):
            patched.pop(name, None)
        else:
            patched[name] = value
    return patched


class _Refused(ValidationFailed):
    """A refusal that keeps the values that passed (to check what they imply as well)."""

    def __init__(self, fields: dict[str, list[str]], valid: dict):
        super().__init__(fields)
        self.valid = valid


# --- What an ID number says -----------------------------------------------------------------------

def id_facts(id_number: str) -> dict[str, str]:
    """The birth date (ISO) and sex ("male", "female") a valid 居民身份证号码 encodes: the 17th
    digit is odd for men and even for women (GB 11643)."""
    number = ric.compact(id_number)
    return {"date": ric.get_birth_date(number).isoformat(), "choice": SEX_CHOICES[int(number[16]) % 2 == 0]}


def _derived(specs: tuple[FieldSpec, ...], stored: dict):
    """(field, the value its ID number gives) for each derived field whose ID number is filled in."""
    for spec in specs:
        if spec.derived_from and stored.get(spec.derived_from):
            try:
                facts = id_facts(stored[spec.derived_from])
            except (StdnumError, ValueError):
                continue  # the ID number's own message says what is wrong
            yield spec, facts[spec.type]


def derived_disagreements(specs: tuple[FieldSpec, ...], stored: dict) -> dict[str, list[str]]:
    """Derived fields typed in that disagree with their ID number, as per-field errors."""
    errors = {}
    for spec, expected in _derived(specs, stored):
        typed = stored.get(spec.name)
        if typed not in (None, "") and str(typed) != expected:
            shown = dict(spec.choices).get(expected, expected)
            errors[spec.name] = [f"与身份证号码不一致（按身份证号码应为 {shown}）"]
    return errors


def with_derived(specs: tuple[FieldSpec, ...], stored: dict) -> dict:
    """``stored`` with its empty derived fields filled in from their ID number."""
    filled = {spec.name: expected for spec, expected in _derived(specs, stored) if stored.get(spec.name) in (None, "")}
    return {**stored, **filled} if filled else stored


def clean_fields(specs: tuple[FieldSpec, ...], data: object, *, partial: bool = False) -> dict:
    """Validate values for ``specs``; unless ``partial``, every required field must be filled."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValidationFailed({"_form": ["表单数据格式不正确"]})
    try:
        values = fields_schema(specs).load(data, partial=True)
    except ValidationError as err:
        errors = _flat_messages(err.normalized_messages())
        valid = err.valid_data if isinstance(err.valid_data, dict) else {}
        if not partial:  # all at once: the empty required fields too, not in a second round
            errors = missing_in(specs, dump_fields(specs, valid)) | errors
        raise _Refused(errors, valid) from None
    if not partial:
        missing = missing_in(specs, dump_fields(specs, values))
        if missing:
            raise ValidationFailed(missing)
    return values


def dump_fields(specs: tuple[FieldSpec, ...], values: dict) -> dict:
    """Python values → JSON-safe stored values, empty ones left out."""
    dumped = fields_schema(specs).dump(values)
    return {name: value for name, value in dumped.items() if value not in (None, "", [])}


def _flat_messages(messages: dict) -> dict[str, list[str]]:
    out = {}
    for name, value in messages.items():
        if isinstance(value, dict):  # list fields report per item
            out[name] = [m for item in value.values() for m in (item if isinstance(item, list) else [str(item)])]
        else:
            out[name] = list(value)
    return out


def to_stored(definition: Definition, values: dict) -> dict:
    """Python values → JSON-safe stored form data."""
    return form_schema(definition).dump(values)


def from_stored(definition: Definition, stored: dict) -> dict:
    return form_schema(definition).load(stored, partial=True)


def missing_required(definition: Definition, stored: dict,
                     listed: dict[str, tuple[tuple[str, str], ...]] | None = None) -> dict[str, list[str]]:
    """Required fields left empty, as per-field errors (checked before a case leaves its draft).
    ``listed``: per checklist field, the items this case must answer (default: all of them)."""
    return missing_in(definition.fields, stored, listed)


def missing_in(specs: tuple[FieldSpec, ...], stored: dict,
               listed: dict[str, tuple[tuple[str, str], ...]] | None = None) -> dict[str, list[str]]:
    missing = {}
    for spec in specs:
        if not spec.required:
            continue
        if spec.type == "checklist":
            items = (listed or {}).get(spec.name, spec.choices)
            answered = stored.get(spec.name) or {}
            unanswered = [label for item, label in items if item not in answered]
            if unanswered:
                missing[spec.name] = [f"请逐项声明：{'、'.join(unanswered)}"]
        elif stored.get(spec.name) in (None, "", []):
            missing[spec.name] = [f"请上传「{spec.label}」" if spec.type == "file" else f"请填写「{spec.label}」"]
    return missing


def mask_id_number(value: str | None) -> str | None:
    """3206**********123X: region and last four kept, as union notices print them."""
    if not value:
        return value
    return value[:4] + "*" * (len(value) - 8) + value[-4:] if len(value) > 8 else "*" * len(value)


def mask_account(value: str | None) -> str | None:
    """A bank account with only its last four digits shown."""
    if not value:
        return value
    return "*" * max(len(value) - 4, 0) + value[-4:]


def masked_changes(specs: tuple[FieldSpec, ...], changes: dict) -> dict:
    """An audit event's ``{name: {"before", "after"}}`` with personal data masked on both sides
    (``changes`` itself when no personal field changed: it is never modified)."""
    personal = [spec for spec in specs if spec.name in changes and spec.is_personal]
    if not personal:
        return changes
    masked = dict(changes)
    for spec in personal:
        change = changes[spec.name]
        masked[spec.name] = {**change, "before": _masked_value(spec, change.get("before")),
                             "after": _masked_value(spec, change.get("after"))}
    return masked


def masked_personal_data(specs: tuple[FieldSpec, ...], values: dict) -> dict:
    """``values`` with ID numbers and fields marked ``sensitive`` masked, for people who may not
    see them in full (see permissions.sees_personal_data); ``values`` itself (never modified)
    when it holds none."""
    masked = values
    for spec in specs:
        value = values.get(spec.name)
        if isinstance(value, str) and spec.is_personal:
            if masked is values:
                masked = dict(values)
            masked[spec.name] = _masked_value(spec, value)
    return masked


def _masked_value(spec: FieldSpec, value):
    if not isinstance(value, str):
        return value
    return mask_id_number(value) if spec.type == "id_number" else mask_account(value)
