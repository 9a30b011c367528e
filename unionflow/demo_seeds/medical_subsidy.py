"""Demo healthcare subsidy claims: the city's two schemes (住院医疗互助 by ratio, 重大疾病互助
by tiers over an illness list) and claims in every state of workflows/medical_subsidy.yaml,
among them a late claim with its explanation and a member whose second claim is cut to what
is left of the yearly cap.

Everything goes through the engine's operations on a clock that runs up to the demo's "now".
Every claim carries its four required documents: one small PDF per document (written once
into the deployment's attachment store, files are kept by their hash), so that a reviewer
can preview them on the case page.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session
from stdnum.cn import ric

from engine.base.config import LOCAL_TZ
from engine.cases.attachments import attach_file
from engine.cases.tasks import due_of
from engine.operations.transitions import create_draft, perform_action
from engine.org.units import SYSTEM_ACTOR
from engine.procedures.parameters import set_parameters
from unionflow.demo_seeds import DemoWorld

# The figures published by one city (domain.md §3), as the demo city's configuration.
SCHEMES = {"schemes": {
    "mutual_aid": {
        "label": "职工住院医疗互助", "formula": "ratio", "eligible_parts": ["self_paid_in_catalogue"],
        "deductible": "800.00", "ratio": "0.5", "cap": "50000.00", "filing_working_days": 30, "lapse_months": 24,
    },
    "critical_illness": {
        "label": "职工重大疾病互助", "formula": "tiers",
        "eligible_parts": ["self_paid_in_catalogue", "self_paid_out_of_catalogue"],
        "tiers": [{"threshold": t, "payout": p} for t, p in (
            ("10000.00", "1500.00"), ("20000.00", "3000.00"), ("50000.00", "5000.00"), ("100000.00", "10000.00"),
            ("200000.00", "20000.00"), ("300000.00", "30000.00"), ("500000.00", "50000.00"))],
        "cap": "50000.00",
        "illnesses": [{"code": code, "label": label} for code, label in (
            ("ZJ01", "恶性肿瘤"), ("ZJ02", "慢性肾功能衰竭（尿毒症期）"), ("ZJ03", "急性心肌梗塞"), ("ZJ04", "脑中风后遗症"),
            ("ZJ05", "重大器官移植术"), ("ZJ06", "冠状动脉搭桥术"), ("ZJ07", "终末期肺病"), ("ZJ08", "再生障碍性贫血"))],
        "filing_working_days": 30, "lapse_months": 24,
    },
}}
REVIEWER = {"dongcheng": "reviewer_dongcheng", "xicheng": "reviewer_xicheng"}
# Whose two claims must fall in one cycle (the calendar year) for the cap to bite.
CAPPED_MEMBER = "秦大勇"
COST_PARTS = ("pooled_insurance_paid", "critical_illness_insurance_paid", "self_paid_in_catalogue",
              "self_paid_out_of_catalogue")

# (applicant, county, patient, birth date + sequence for the ID number, days from discharge back
#  to "now", form figures, steps). A step is (trigger, comment); the applicant submits and
#  resubmits, the county reviewer does the rest.
CLAIMS = (
    ("applicant_jixie", "dongcheng", "李建国", "19860312031", 12,
     dict(scheme="mutual_aid", diagnosis="腰椎间盘突出症", self_paid_in_catalogue="6400.00"), ()),
    ("applicant_weisheng", "dongcheng", "周淑芬", "19870705042", 30,
     dict(scheme="mutual_aid", diagnosis="胆囊结石伴胆囊炎", self_paid_in_catalogue="9800.00"),
     (("submit", None),)),
    ("applicant_shipin", "dongcheng", "蒋志明", "19840921013", 110,
     dict(scheme="critical_illness", diagnosis="右肺腺癌", illness_code="ZJ01", self_paid_in_catalogue="26000.00",
          self_paid_out_of_catalogue="9000.00", late_explanation="出院后即转入肿瘤医院继续放疗，家属无法及时办理"),
     (("submit", None),)),
    ("applicant_xiaoxue", "dongcheng", "沈佳怡", "19900214024", 40,
     dict(scheme="mutual_aid", diagnosis="甲状腺乳头状癌术后", self_paid_in_catalogue="12500.00"),
     (("submit", None), ("return", "费用明细清单缺少第2页，请补充后重新提交"))),
    ("applicant_wuliu", "xicheng", "杨国栋", "19851103015", 45,
     dict(scheme="critical_illness", diagnosis="急性前壁心肌梗死", illness_code="ZJ03",
          self_paid_in_catalogue="38000.00", self_paid_out_of_catalogue="14000.00"),
     (("submit", None), ("approve", "材料齐全，同意补助"))),
    ("applicant_shangchang", "xicheng", "朱红梅", "19850618026", 60,
     dict(scheme="mutual_aid", diagnosis="子宫肌瘤", self_paid_in_catalogue="7300.00"),
     (("submit", None), ("approve", None), ("disburse", None))),
    # One member, two claims in one year: the second is cut to what is left of the 50,000 cap.
    ("applicant_fangzhi", "xicheng", "秦大勇", "19840427017", 75,
     dict(scheme="mutual_aid", diagnosis="冠状动脉粥样硬化性心脏病，支架植入术", total_cost="160000.00",
          pooled_insurance_paid="72000.00", self_paid_in_catalogue="84800.00"),
     (("submit", None), ("approve", None), ("disburse", None))),
    ("applicant_fangzhi", "xicheng", "秦大勇", "19840427017", 35,
     dict(scheme="mutual_aid", diagnosis="支架术后复查，心功能不全", self_paid_in_catalogue="30800.00"),
     (("submit", None), ("approve", "本年度互助金剩余额度按上限核减"))),
    ("applicant_weishengyuan", "xicheng", "许文华", "19930830028", 28,
     dict(scheme="mutual_aid", diagnosis="急性胃肠炎", total_cost="2300.00", pooled_insurance_paid="1600.00",
          self_paid_in_catalogue="600.00", self_paid_out_of_catalogue="100.00"),
     (("submit", None), ("reject", "目录内个人自付 600.00 元未超过起付线 800.00 元，按规定不予补助"))),
    ("applicant_lianhe", "dongcheng", "韩晓军", "19881209019", 20,
     dict(scheme="mutual_aid", diagnosis="左胫骨骨折", self_paid_in_catalogue="5200.00"),
     (("submit", None), ("withdraw", "已由工伤保险报销，撤回申请"))),
    # A draft left past the 30-working-day filing window: the system marks it as needing the explanation.
    ("applicant_jixie", "dongcheng", "高翠兰", "19890622048", 70,
     dict(scheme="mutual_aid", diagnosis="膝关节置换术", self_paid_in_catalogue="15600.00"),
     (("filing_overdue", None),)),
)


def seed(session: Session, demo: DemoWorld) -> int:
    today = demo.now.astimezone(LOCAL_TZ).date()
    set_parameters(session, None, "medical_subsidy.schemes", unit=demo.units["city"],
                   valid_from=date(today.year - 2, 1, 1), values=SCHEMES)
    for number, claim in enumerate(CLAIMS, start=1):
        _seed_claim(session, demo, number, *claim)
    session.flush()
    return len(CLAIMS)


def _seed_claim(session: Session, demo: DemoWorld, number: int, applicant: str, county: str,
                patient: str, birth_and_sequence: str, days_ago: int, figures: dict, steps: tuple) -> None:
    discharge = _discharge_day(demo.now, patient, days_ago)
    # Filed ten days after discharge; a late claim twenty days before "now"; then a day per step.
    filed = datetime.combine(discharge + timedelta(days=10), demo.now.astimezone(LOCAL_TZ).timetz())
    clock = demo.now - timedelta(days=20) if "late_explanation" in figures else filed.astimezone(demo.now.tzinfo)
    applicant_actor = demo.actors[applicant]
    case = create_draft(session, applicant_actor, "medical_subsidy",
                        form=_form(patient, birth_and_sequence, discharge, figures), now=clock)
    for field, title in DOCUMENTS:
        attach_file(session, applicant_actor, case, field, filename=f"{title}.pdf", content_type="application/pdf",
                    data=demo_pdf(f"Demo document: {field.replace('_', ' ')}"), store=demo.store,
                    expected_version=case.version, now=clock)
    for trigger, comment in steps:
        if trigger == "filing_overdue":  # the deadline scan's own step, when the window closes
            perform_action(session, SYSTEM_ACTOR, case, trigger, expected_version=case.version,
                           comment="期限届满，系统自动处理", now=due_of(session, case))
            continue
        clock += timedelta(days=1)
        actor = applicant_actor if trigger in ("submit", "resubmit", "withdraw") else demo.actors[REVIEWER[county]]
        inputs = {"paid_on": clock.astimezone(LOCAL_TZ).date().isoformat(),
                  "payment_reference": f"YLHZ-{clock.year}-{number:04d}"} if trigger == "disburse" else None
        perform_action(session, actor, case, trigger, expected_version=case.version, comment=comment,
                       inputs=inputs, now=clock)


# The documents a claim needs (workflows/medical_subsidy.yaml), by field, with their file names.
DOCUMENTS = (("discharge_summary", "出院小结"), ("diagnosis_certificate", "诊断证明书"),
             ("settlement_sheet", "医保结算单"), ("itemised_bill", "费用明细清单"))


def demo_pdf(text: str) -> bytes:
    """A one-page A5 PDF saying ``text`` (ASCII, in a standard font: nothing to embed)."""
    stream = f"BT /F1 16 Tf 40 520 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 420 595] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _discharge_day(now: datetime, patient: str, days_ago: int) -> date:
    day = (now - timedelta(days=days_ago)).astimezone(LOCAL_TZ).date()
    if patient == CAPPED_MEMBER:  # both claims in the cycle of the later one, whatever "now" is
        day = max(day, date((now - timedelta(days=35)).astimezone(LOCAL_TZ).year, 1, 1))
    return day


def _form(patient: str, birth_and_sequence: str, discharge: date, figures: dict) -> dict:
    base = "320602" + birth_and_sequence
    self_paid = sum(Decimal(figures.get(k, "0")) for k in ("self_paid_in_catalogue", "self_paid_out_of_catalogue"))
    form = {
        "patient_name": patient, "id_number": base + ric.calc_check_digit(base + "0"),  # it ignores the last digit
        "admission_date": (discharge - timedelta(days=9)).isoformat(), "discharge_date": discharge.isoformat(),
        "hospital_name": "示范市第一人民医院", "hospital_grade": "tertiary",
        "pooled_insurance_paid": str((self_paid * Decimal("1.5")).quantize(Decimal("0.01"))),
        "critical_illness_insurance_paid": "0.00", "self_paid_out_of_catalogue": "0.00",
        "bank_account": f"62220202001{birth_and_sequence[-8:]}",
    } | figures
    form.setdefault("total_cost", str(sum(Decimal(form[k]) for k in COST_PARTS)))
    return form
