"""How a case reads through the API: the schemas of the views engine.reading.case_views builds per
reader (what each reader may see is decided there, for the pages too).
"""
from __future__ import annotations

from marshmallow import fields

from api.fields import LastDay, LocalDateTime, MoneyString
from api.notices import ObjectionEntrySchema
from api.schemas import ApiSchema, FieldSchema
from engine.base.money import format_money
from engine.org.units import LEVEL_LABELS

# --- Schemas --------------------------------------------------------------------------------------

class UnitRefSchema(ApiSchema):
    id = fields.Integer()
    name = fields.String()
    level = fields.String()
    level_label = fields.Function(lambda unit: LEVEL_LABELS[unit.level])


class CaseSummarySchema(ApiSchema):
    id = fields.Integer()
    kind = fields.String()
    kind_label = fields.String()
    state = fields.String()
    state_label = fields.String()
    state_kind = fields.String(metadata={"description": "draft 填报 / review 审核 / notice 公示 / final 办结"})
    state_kind_label = fields.String()
    version = fields.Integer(metadata={"description": "操作时须带上的版本号（乐观锁）"})
    title = fields.String()
    origin_unit = fields.Nested(UnitRefSchema)
    round_id = fields.Integer(allow_none=True)
    created_at = LocalDateTime()
    updated_at = LocalDateTime()
    submitted_at = LocalDateTime(allow_none=True)
    closed_at = LocalDateTime(allow_none=True)


class TimelineEventSchema(ApiSchema):
    seq = fields.Integer()
    at = LocalDateTime()
    actor_name = fields.String(allow_none=True, metadata={"description": "办理人；评审投票对申报人不显示评委姓名"})
    actor_role = fields.String(allow_none=True)
    on_behalf_of = fields.String(allow_none=True, metadata={"description": "代理办理时，被代理人的姓名（代 某某）"})
    actor_role_label = fields.String(allow_none=True)
    unit_name = fields.String(allow_none=True)
    unit_level = fields.String(allow_none=True)
    unit_level_label = fields.String(allow_none=True)
    action = fields.String()
    action_label = fields.String()
    from_state = fields.String(allow_none=True)
    from_state_label = fields.String(allow_none=True)
    to_state = fields.String(allow_none=True)
    to_state_label = fields.String(allow_none=True)
    comment = fields.String(allow_none=True)
    comment_hidden = fields.Boolean(metadata={"description": "意见为内部意见，对您不显示（comment 为 null）"})
    changes = fields.Dict(allow_none=True, metadata={
        "description": "表单字段 → {before, after}；身份证号等个人信息按查看人权限遮蔽"})


class AvailableActionSchema(ApiSchema):
    trigger = fields.String()
    label = fields.String()
    dest = fields.String()
    comment_required = fields.Boolean()
    inputs = fields.List(fields.Nested(FieldSchema), metadata={"description": "执行时须填写的字段（inputs）"})


class HolderSchema(ApiSchema):
    id = fields.Integer(attribute="holder_id")
    name = fields.String(attribute="holder_name")


class PendingOpinionSchema(ApiSchema):
    user = fields.Function(lambda p: {"id": p.user_id, "name": p.name})
    unit_name = fields.String()
    asked_at = LocalDateTime(attribute="asked_dt")
    due_at = LocalDateTime(attribute="due_dt", allow_none=True)


class AwaitedBodySchema(ApiSchema):
    body = fields.String(metadata={"description": "部门代码（征求意见记录的部门字段取值）"})
    label = fields.String(metadata={"description": "部门名称"})
    due_at = LocalDateTime(attribute="due_dt", allow_none=True)


class OpinionsSchema(ApiSchema):
    pending = fields.List(fields.Nested(PendingOpinionSchema), metadata={"description": "尚未答复的征求意见；有时不能作出决定"})
    may_ask = fields.Boolean(metadata={"description": "您是当前环节的办理人，可以征求或撤回意见"})
    candidates = fields.Function(lambda view: [{"id": u, "name": n, "unit_id": unit_id, "unit_name": unit_name}
                                               for u, n, unit_id, unit_name in view.candidates],
                                 metadata={"description": "可以征求意见的人：本单位和上级单位的审核人"})
    asked_of_me = fields.Boolean(metadata={"description": "正在征求您的意见"})
    bodies = fields.List(fields.Nested(AwaitedBodySchema), metadata={
        "description": "流程要求征求意见、尚未收到回复的部门（仅对录入回复的一方列出）；录入其回复（征求意见记录）前不能作出决定"})


class HoldingSchema(ApiSchema):
    holder = fields.Function(lambda holding: HolderSchema().dump(holding) if holding.holder_id else None,
                             metadata={"description": "认领了当前待办的人；null 表示由单位办理（尚未认领）"})
    offered = fields.List(fields.String(), metadata={
        "description": "您现在可以做的：claim（认领）；release（释放）和 transfer（转交）；或 take_over（接手）；不能时为空"})
    colleagues = fields.Function(lambda holding: [{"id": user_id, "name": name} for user_id, name in holding.colleagues],
                                 metadata={"description": "可以转交给的同事（同一单位、同一角色）；不能转交时为空"})


class SentBackSchema(ApiSchema):
    state = fields.String(metadata={"description": "退回本案的审核环节；本环节审核通过后直接送回该环节"})
    state_label = fields.String()
    reason = fields.String(allow_none=True, metadata={"description": "退回重审的理由"})


class CopiedPersonSchema(ApiSchema):
    id = fields.Integer(attribute="user_id")
    name = fields.String()
    copied_by = fields.String(attribute="copied_by_name", allow_none=True, metadata={
        "description": "抄送人；null 表示按流程定义自动抄送"})
    copied_at = LocalDateTime(attribute="copied_dt")
    read = fields.Boolean()


class CopyCandidateSchema(ApiSchema):
    id = fields.Function(lambda candidate: candidate[0])
    name = fields.Function(lambda candidate: candidate[1])


class RouteStepSchema(ApiSchema):
    state = fields.String()
    label = fields.String()
    kind = fields.String(metadata={"description": "draft / review / notice / final"})
    party = fields.String(allow_none=True, metadata={"description": "该环节由谁办理（如「县（区）总工会审核人」）"})
    unit_name = fields.String(allow_none=True, metadata={"description": "办理单位"})
    holder_name = fields.String(allow_none=True, metadata={"description": "当前环节：认领或受托办理的人；null 表示由单位办理"})
    due_at = LocalDateTime(attribute="due_dt", allow_none=True, metadata={"description": "当前环节的办理期限"})
    last_day = LastDay(attribute="due_dt", allow_none=True, metadata={"description": "当前环节的最迟办理日"})
    working_days = fields.Integer(allow_none=True, metadata={"description": "后续环节：办理时限（工作日）"})
    deadline_by_rule = fields.Boolean(metadata={"description": "后续环节：期限按规则计算（如批次截止、出院后期限）"})


class RouteSchema(ApiSchema):
    current = fields.Nested(RouteStepSchema, metadata={"description": "当前环节、办理人和期限"})
    ahead = fields.List(fields.Nested(RouteStepSchema), metadata={
        "description": "各环节均通过时，案件还将经过的环节（按流程定义），含办理单位和时限"})


class AmountFigureSchema(ApiSchema):
    label = fields.String()
    value = fields.Function(lambda figure: str(figure.value), metadata={
        "description": "取值：金额为两位小数的字符串（如 \"4000.00\"），其他为文字（如 \"50%\"）"})
    is_money = fields.Boolean(metadata={"description": "取值是否为金额（元）"})
    text = fields.Function(lambda figure: format_money(figure.value) if figure.is_money else str(figure.value),
                           metadata={"description": "显示用文字，金额如 \"4,000.00 元\""})


class ParametersCitationSchema(ApiSchema):
    parameter_set = fields.Integer(metadata={"description": "参数编号（GET /parameters/{name}/versions）"})
    name = fields.String()
    hash = fields.String(metadata={"description": "参数内容校验码（前 16 位）"})
    valid_from = fields.String(metadata={"description": "施行日期 YYYY-MM-DD"})


class AmountSchema(ApiSchema):
    stage = fields.String(metadata={"description": "preview：批准前按规则计算、批准后将核定的金额（仅对可以批准的审核人）；"
                                                   "granted：已核定；cancelled：核定后发放前已撤销"})
    amount = MoneyString(allow_none=True, metadata={"description": "金额（元，两位小数）；按规则不能核定时为 null，见 refusal"})
    amount_text = fields.Function(lambda amount: format_money(amount.amount) if amount.amount is not None else None,
                                  metadata={"description": "显示用金额，如 \"1,600.00 元\""})
    title = fields.String(metadata={"description": "补助金额、帮扶金额等"})
    formula = fields.String(metadata={"description": "计算方式（文字）"})
    worked = fields.String(metadata={"description": "代入数字的计算过程"})
    figures = fields.List(fields.Nested(AmountFigureSchema), metadata={"description": "代入计算的各项数字"})
    scheme = fields.String(metadata={"description": "适用的项目或标准"})
    parameters = fields.Nested(ParametersCitationSchema, allow_none=True, metadata={"description": "所用参数"})
    rule = fields.String(metadata={"description": "计算规则（流程动作）名称"})
    rule_version = fields.String(metadata={"description": "计算规则版本"})
    cap = MoneyString(allow_none=True, metadata={"description": "本人（本户）本周期（年度）上限"})
    period = fields.String(allow_none=True, metadata={"description": "上限所属周期或年度，如 \"2026\""})
    used_before = MoneyString(allow_none=True, metadata={"description": "本次之前本周期已核定"})
    left_after = MoneyString(allow_none=True, metadata={"description": "本次核定之后本周期剩余"})
    computed = MoneyString(allow_none=True, metadata={"description": "按规则计算的金额（按上限核减或审核调低之前）"})
    capped = fields.Boolean(metadata={"description": "因本周期剩余额度不足而核减"})
    lowered_reason = fields.String(allow_none=True, metadata={"description": "审核人调低金额的理由；未调低为 null"})
    refusal = fields.String(allow_none=True, metadata={"description": "按规则不能核定金额的原因（批准将被拒绝）；否则为 null"})


class CaseViewSchema(CaseSummarySchema):
    linked_case_id = fields.Integer(allow_none=True)
    link_relation = fields.String(allow_none=True)
    form = fields.Dict(metadata={"description": "表单字段值：金额为两位小数的字符串，日期为 YYYY-MM-DD，附件为编号列表"})
    outcome = fields.Dict(metadata={"description": "办理结果：核定金额、决定文号等"})
    due_at = LocalDateTime(allow_none=True, metadata={"description": "当前环节的办理期限"})
    last_day = LastDay(attribute="due_at", allow_none=True, metadata={
        "description": "最迟办理日（本地日期）：due_at 为零点时是其前一天"})
    calendar_missing_year = fields.Integer(allow_none=True, metadata={
        "description": "当前环节有期限、但工作日历缺少该年度而无法计算时，缺少的年份；否则为 null"})
    waits_for = fields.String(allow_none=True, metadata={"description": "当前环节等待谁办理"})
    holding = fields.Nested(HoldingSchema, allow_none=True, metadata={
        "description": "当前待办由谁办理，以及您可否认领、释放或接手；案件不在审核中时为 null"})
    opinions = fields.Nested(OpinionsSchema, metadata={"description": "加签：征求中的意见，以及您可否征求、撤回或答复"})
    revision_round = fields.Integer()
    return_reason = fields.String(allow_none=True, metadata={"description": "退回修改时的退回理由"})
    sent_back = fields.Nested(SentBackSchema, allow_none=True, metadata={
        "description": "上级环节退回本级重新审核（退回重审）、尚未送回时：由哪个环节退回及理由；否则为 null"})
    timeline = fields.List(fields.Nested(TimelineEventSchema))
    route = fields.Nested(RouteSchema, metadata={"description": "办理流程：当前环节与其后的环节（已办的见 timeline）"})
    objections = fields.List(fields.Nested(ObjectionEntrySchema), allow_none=True, metadata={
        "description": "异议（同 GET /cases/{id}/objections）：推荐（申报）单位看得到内容和日期，看不到异议人；"
                       "该业务不受理异议或您无权查看时为 null"})
    available_actions = fields.List(fields.Nested(AvailableActionSchema), metadata={
        "description": "您现在可以执行的操作；审计人员为空"})
    amount = fields.Nested(AmountSchema, allow_none=True, metadata={
        "description": "核定金额及其计算方式（医疗互助、困难帮扶等）：已核定的，对能查看本案的人显示；"
                       "尚未核定时，仅对现在可以批准的审核人显示批准将核定的金额（stage 为 preview）；其他情况为 null"})
    copies = fields.List(fields.Nested(CopiedPersonSchema), allow_none=True, metadata={
        "description": "已抄送的人员（抄送）；仅对本案件的审核人显示，其他人为 null"})
    copy_candidates = fields.List(fields.Nested(CopyCandidateSchema), allow_none=True, metadata={
        "description": "可以抄送给的人员（POST /cases/{id}/copy 的 user_ids）；您不能抄送时为 null"})



# --- The approval sheet (审批表) ---------------------------------------------------------------------

class SheetRowSchema(ApiSchema):
    name = fields.String()
    label = fields.String()
    type = fields.String()
    value = fields.Raw(allow_none=True, metadata={"description": "字段值，格式同案件的 form；身份证号等按您的权限遮蔽"})
    text = fields.String(allow_none=True, metadata={"description": "打印时的文字：选项为其名称，附件为文件名；未填为 null"})


class SheetOpinionSchema(ApiSchema):
    at = LocalDateTime()
    signer = fields.String(metadata={"description": "答复意见的人"})
    on_behalf_of = fields.String(allow_none=True, metadata={"description": "代理答复时，被代理人的姓名（代 某某）"})
    unit_name = fields.String(allow_none=True)
    unit_level_label = fields.String(allow_none=True)
    opinion = fields.String(allow_none=True)
    opinion_hidden = fields.Boolean(metadata={"description": "意见为内部意见，对您不显示（opinion 为 null）"})


class SheetLevelSchema(ApiSchema):
    state = fields.String(metadata={"description": "作出决定的环节"})
    state_label = fields.String()
    decided = fields.Boolean(metadata={"description": "false：案件正在此环节等待办理，决定各项为 null"})
    by_system = fields.Boolean(metadata={"description": "由系统办理（如公示期满），无签名和盖章"})
    action = fields.String(allow_none=True)
    action_label = fields.String(allow_none=True, metadata={"description": "所作的决定（操作名称）"})
    to_state = fields.String(allow_none=True)
    to_state_label = fields.String(allow_none=True)
    opinion = fields.String(allow_none=True, metadata={"description": "办理意见"})
    opinion_hidden = fields.Boolean(metadata={"description": "意见为内部意见，对您不显示（opinion 为 null）"})
    signer = fields.String(allow_none=True, metadata={"description": "办理人"})
    on_behalf_of = fields.String(allow_none=True, metadata={"description": "代理办理时，被代理人的姓名（代 某某）"})
    unit_name = fields.String(allow_none=True)
    unit_level = fields.String(allow_none=True)
    unit_level_label = fields.String(allow_none=True)
    at = LocalDateTime(allow_none=True, metadata={"description": "办理时间"})
    consulted = fields.List(fields.Nested(SheetOpinionSchema), metadata={
        "description": "本环节决定前征求并答复的意见（加签）"})


class ApprovalSheetSchema(CaseSummarySchema):
    form_rows = fields.List(fields.Nested(SheetRowSchema), metadata={"description": "表单各项，按业务定义的顺序"})
    outcome_rows = fields.List(fields.Nested(SheetRowSchema), metadata={"description": "办理结果：核定金额、决定文号等"})
    levels = fields.List(fields.Nested(SheetLevelSchema), metadata={
        "description": "各审核环节的决定，按办理先后；案件正在审核或公示时，最后一项为当前环节（decided 为 false）"})
    printed_at = LocalDateTime(metadata={"description": "生成时间（打印日期）"})
