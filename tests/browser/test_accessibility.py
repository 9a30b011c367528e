"""The key pages checked by axe-core (vendored, tests/browser/vendor) at a phone's and a desktop's
width, as each of their readers sees them: no violation of impact serious or critical. A failure
names each page's violations, their impact and the first elements to fix."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from engine.base.db import utcnow
from engine.cases.tasks import Task
from tests.browser.conftest import id_number
from tests.browser.test_amounts import approved, claim
from tests.browser.test_page_polish import a_draft
from tests.browser.test_scenarios import act, follow, nomination_on_notice

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
FIRST_NODES = 3
VIEWPORTS = ["phone", "desktop"]


@pytest.fixture(scope="module")
def cases(live_db) -> dict[str, int]:
    """One case waiting for the city's review (the decision panel with several actions, records to
    add), one on public notice, with the township's and the county's opinions on its sheet, and a
    draft (marked 待我处理 in 我的申报); another at the city due tomorrow (marked 即将到期 in the inbox);
    two medical claims, one waiting for the county with the amount the rules will grant, one approved."""
    a_draft(live_db, "无障碍草稿")
    due_soon = live_db.nomination_at_city("无障碍将到期")
    with live_db.session() as session:
        session.execute(update(Task).where(Task.closed_dt.is_(None), Task.case_id == due_soon)
                        .values(due_dt=utcnow() + timedelta(days=1)))
    claim_approved = claim(live_db, "无障碍已批", id_number(950), "4000.00")
    approved(live_db, claim_approved)
    return {"claim": claim(live_db, "无障碍报销", id_number(951), "4000.00"), "claim_approved": claim_approved,
            "waiting": live_db.nomination_at_city("无障碍审核"), "noticed": nomination_on_notice(live_db, "无障碍公示")}


def refused_nomination(page) -> None:
    """An empty nomination submitted: every error at once, with the summary linking to the fields."""
    follow(page, page.get_by_role("button", name="提交推荐"))
    assert page.locator("[aria-invalid=true]").count() > 0


def refused_return(page) -> None:
    """退回修改 without the opinion it needs: the panel says why."""
    act(page, "退回修改")
    assert page.locator("#decision-comment[aria-invalid=true]").count() == 1


# Who reads which pages: None is a visitor who has not signed in. Each page: its path, an element
# it must show (the check is of the page meant, not of an error page), and optionally a refused
# step whose page is checked too.
PAGES = {
    None: {"sign-in": ("/login", "form input[name=password]"), "notices": ("/notices", "text=无障碍公示"),
           "notice": ("/notices/{noticed}", "textarea[name=content]")},
    "reviewer_city": {
        "home": ("/", "main"), "inbox": ("/inbox", ".due-soon"),
        "case-as-reviewer": ("/cases/{waiting}", "#decision-form button >> nth=2", refused_return),
        "sheet": ("/cases/{noticed}/sheet", ".sheet-levels"), "delegations": ("/delegations", "main form"),
        "notifications": ("/notifications", "main li"),
    },
    "reviewer_A": {"medical-as-reviewer": ("/cases/{claim}", "#amount")},
    "applicant_A1a": {
        "case-as-applicant": ("/cases/{waiting}", "text=无障碍审核"),
        "new-honours": ("/cases/new/honours", "form.case-form", refused_nomination),
        "my-cases": ("/my/cases", ".todo.tag"), "medical-as-applicant": ("/cases/{claim_approved}", "#amount"),
    },
}


def axe_violations(page) -> list[dict]:
    # Evaluated rather than added as a <script>: the pages' Content-Security-Policy (script-src
    # 'self') refuses inline scripts, and the check should see the page as served.
    page.evaluate(AXE.read_text(encoding="utf-8"))
    # axe passes over what is hidden: the forms folded in <details> (更多, 退回到…, the records) are checked open.
    page.evaluate("document.querySelectorAll('details').forEach(details => { details.open = true; })")
    return page.evaluate("axe.run(document, {resultTypes: ['violations']}).then(result => result.violations)")


def described(name: str, violations: list[dict]) -> list[str]:
    lines = []
    for violation in violations:
        targets = ", ".join(" ".join(node["target"]) for node in violation["nodes"][:FIRST_NODES])
        lines.append(f"{name}: {violation['id']} ({violation['impact']}, {len(violation['nodes'])} elements): "
                     f"{violation['help']} — {targets}")
    return lines


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("reader", list(PAGES), ids=lambda reader: reader or "visitor")
def test_the_key_pages_have_no_serious_accessibility_violation(browse, cases, reader, viewport):
    page = browse.anonymous(viewport) if reader is None else browse.signed_in(reader, viewport)
    found, blocking = [], []

    def check(name: str) -> None:
        browse.shot(page, name)
        violations = axe_violations(page)
        found.extend(described(name, violations))
        blocking.extend(described(name, [v for v in violations if v["impact"] in BLOCKING]))

    for name, (path, shown, *refused) in PAGES[reader].items():
        response = page.goto(path.format(**cases))
        assert response.ok, (path, response.status)
        assert page.locator(shown).first.is_visible(), (name, shown)
        check(name)
        for step in refused:
            page.goto(path.format(**cases))  # the check opened the folded parts: start again as served
            step(page)
            check(f"{name}-refused")
    print(f"\naxe, {reader or 'visitor'} at {viewport}:", *found or ["no violation"], sep="\n  ")
    assert not blocking, "\n".join(blocking)
