"""Progression in headless Chromium: from "what is missing for the next tier" to an approved promotion.

A Link Worker has met every Link Worker and Link Worker Coach competence but one, and two of the
three mandatory requirements are verified. They see what is missing and are refused promotion;
the manager verifies the DBS check, the worker evidences the last competence and their supervisor
signs it off; then the worker asks, the supervisor supports and the manager approves.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import (
    AuditEntry,
    Competence,
    CompetenceDecision,
    CompetenceGroup,
    Decision,
    DecisionOutcome,
    Evidence,
    EvidenceKind,
    EvidenceLink,
    EvidenceStatus,
    PromotionDecision,
    PromotionRecommendation,
    PromotionRequest,
    RequirementVerification,
    Role,
    Submission,
    Tier,
    TierChange,
    User,
)
from portfolio.progress import service as progress
from portfolio.review import service as review
from tests.browser.conftest import PageErrors, assert_accessible, chart_value, fill_date, sign_in
from tests.factories import (
    PASSWORD,
    SUPERVISED_SINCE,
    make_supervisor_of,
    make_user,
    make_worker,
    requirement,
    tier,
)
from tests.pages import count, long_date

pytestmark = pytest.mark.browser

LAST_REF = "EA-CP-03"  # a Link Worker Coach competence, the one left to meet
REASONS = "Wendy has shown every Link Worker Coach competence in supervision and in her portfolio."


@pytest.fixture
def other_page(browser, live_server):
    """Opens more browsers, each with its own cookies, failing the test on console errors like ``page``."""
    opened = []

    def open_page(who: str):
        context = browser.new_context(base_url=live_server, viewport={"width": 1100, "height": 900})
        page = context.new_page()
        errors = PageErrors()
        page.on("console", errors.record)
        page.on("pageerror", lambda exc: errors.messages.append(str(exc)))
        page.errors = errors  # type: ignore[attr-defined]
        opened.append((who, context, errors))
        return page

    yield open_page
    for _, context, _ in opened:
        context.close()
    logged = {who: errors.messages for who, _, errors in opened if errors.messages}
    assert logged == {}, f"pages logged errors: {logged}"


# --- Data --------------------------------------------------------------------------------


def _worker_supervisor_and_manager():
    """Wendy, Fatima supervising her for the last 90 days, and Mo, a manager."""
    worker = make_worker()
    supervisor = make_supervisor_of(worker, name="Fatima First", since=SUPERVISED_SINCE)
    return worker, supervisor, make_user(Role.MANAGER, email="manager@example.org", name="Mo Manager")


def _competences_up_to(worker: User, slug: str) -> list[Competence]:
    """Every current competence of the worker's framework, up to and including tier ``slug``."""
    target = tier("link-worker", slug)
    return list(
        db.session.scalars(
            select(Competence)
            .join(Tier, Tier.id == Competence.tier_id)
            .where(
                Competence.framework_id == worker.framework_id,
                Competence.retired_at.is_(None),
                Tier.position <= target.position,
            )
            .order_by(Competence.position)
        )
    )


def _area_of(competence: Competence) -> CompetenceGroup:
    group = competence.group
    while group.parent is not None:
        group = group.parent
    return group


def _accepted(worker: User, supervisor: User, competences: list[Competence]) -> None:
    """Signed-off evidence, accepted for ``competences`` as many times as each requires (direct rows)."""
    decided_at = datetime.now(UTC) - timedelta(days=7)
    rounds = max(c.required_count for c in competences)
    for number in range(rounds):
        chosen = [c for c in competences if c.required_count > number]
        evidence = Evidence(
            owner_id=worker.id,
            kind=EvidenceKind.OTHER,
            status=EvidenceStatus.SIGNED_OFF,
            title=f"Portfolio of practice, part {number + 1}",
            occurred_on=date.today() - timedelta(days=30),
            description="<p>Case studies and observed sessions.</p>",
            submitted_at=decided_at - timedelta(days=1),
        )
        evidence.links = [EvidenceLink(competence_id=c.id) for c in chosen]
        db.session.add(evidence)
        db.session.flush()
        digest = review.content_hash(evidence)
        submission = Submission(
            evidence_id=evidence.id, content_hash=digest, submitted_at=decided_at - timedelta(days=1)
        )
        db.session.add(submission)
        db.session.flush()
        decision = Decision(
            submission_id=submission.id,
            evidence_id=evidence.id,
            supervisor_id=supervisor.id,
            outcome=DecisionOutcome.SIGNED_OFF,
            content_hash=digest,
            decided_at=decided_at,
        )
        decision.outcomes = [CompetenceDecision(competence_id=c.id, accepted=True) for c in chosen]
        db.session.add(decision)
    db.session.commit()


def _add_evidence_name(statement: str) -> re.Pattern:
    """The link's name ends with the statement in a visually hidden span (Chromium puts a space before its colon)."""
    return re.compile(rf"^Add evidence for this\s*: {re.escape(statement)}$")


def _error_summary_links_work(page) -> None:
    """Each link in the error summary points at an element on the page."""
    links = page.locator(".nhsuk-error-summary a")
    assert links.count() > 0
    for href in [links.nth(i).get_attribute("href") for i in range(links.count())]:
        assert href.startswith("#") and page.locator(href).count() == 1, href


# --- The journey ---------------------------------------------------------------------------


def test_from_missing_for_the_next_tier_to_an_approved_promotion(page, other_page, frameworks):
    worker, supervisor, manager = _worker_supervisor_and_manager()
    required = _competences_up_to(worker, "link-worker-coach")
    last = next(c for c in required if c.ref == LAST_REF)
    assert last.tier.slug == "link-worker-coach"
    area = _area_of(last)
    _accepted(worker, supervisor, [c for c in required if c.id != last.id])
    verified_on = date.today() - timedelta(days=20)
    for ref in ("REQ-DRIVING", "REQ-HOME-VISITS"):
        progress.verify_requirement(
            manager, worker, requirement(worker, ref), verified_on=verified_on, expires_on=None, note="Seen"
        )
    dbs = requirement(worker, "REQ-DBS")
    worker_id, dbs_id, dbs_statement, last_id, last_statement, area_name = (
        worker.id,
        dbs.id,
        dbs.statement,
        last.id,
        last.statement,
        area.name,
    )
    lw_total = len([c for c in required if c.tier.slug == "link-worker"])
    coach_total = len(required) - lw_total
    db.session.commit()

    # --- The worker: not ready yet, and what is missing.
    sign_in(page, "worker@example.org", PASSWORD)
    page.get_by_role("link", name="My progress").first.click()
    page.wait_for_url("**/progress/")
    expect(page.get_by_role("heading", level=1)).to_have_text("My progress")
    readiness = page.locator(".readiness")
    expect(readiness).to_contain_text("Next tier: Link Worker Coach")
    expect(readiness.locator(".nhsuk-tag")).to_have_text("Not ready yet")
    expect(readiness).to_contain_text("1 competence to meet, 1 requirement to have verified.")
    chart = page.get_by_role("figure", name="Competences met, by tier")
    expect(chart).to_have_count(1)
    expect(chart_value(chart, "Link Worker")).to_have_text(f"{lw_total} of {lw_total} met")
    expect(chart_value(chart, "Link Worker Coach")).to_have_text(f"{coach_total - 1} of {coach_total} met")
    expect(page.locator("table.requirements-table")).to_contain_text("Not verified")
    assert_accessible(page)

    page.get_by_role("link", name="See what is missing for Link Worker Coach").click()
    page.wait_for_url("**/progress/missing")
    expect(page.get_by_role("heading", level=1)).to_have_text("What is missing for Link Worker Coach")
    expect(page.locator("#maincontent")).to_contain_text(
        "1 competence of Link Worker Coach and the tiers before it is not met yet."
    )
    items = page.locator(".missing-item")
    expect(items).to_have_count(1)
    expect(items).to_contain_text(last_statement)
    expect(items).to_contain_text("Link Worker Coach · Not started")
    expect(page.get_by_role("heading", level=2, name=f"{area_name} (1)")).to_be_visible()
    # The competence is listed under its area's heading.
    under_area = page.get_by_role("heading", level=2, name=f"{area_name} (1)").locator("xpath=following-sibling::ul[1]")
    expect(under_area.locator(".missing-item")).to_have_count(1)
    expect(under_area).to_contain_text(last_statement)
    add_link = items.get_by_role("link", name=_add_evidence_name(last_statement))
    expect(add_link).to_be_visible()
    expect(page.get_by_role("heading", name="Requirements to verify")).to_be_visible()
    expect(page.locator("#maincontent")).to_contain_text(f"{dbs_statement} (not verified)")
    assert_accessible(page)

    # Not ready: no request button; what is left instead, each a link to act on, and nothing is written.
    page.get_by_role("link", name="My progress").first.click()
    page.wait_for_url("**/progress/")
    expect(page.get_by_role("button", name=re.compile("Request promotion"))).to_have_count(0)
    left = page.locator(".promotion-left")
    expect(left).to_contain_text("1 competence to meet and 1 requirement to have verified")
    expect(left.locator(".competences-left").get_by_role("link", name=last_statement)).to_have_count(1)
    left.locator(".requirements-left").get_by_role("link", name=dbs_statement).click()
    expect(page.locator("tr:target")).to_contain_text(dbs_statement)
    assert_accessible(page)
    db.session.commit()  # end this test's snapshot: see what the server wrote
    assert count(PromotionRequest) == 0
    assert db.session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("promotion.%"))).all() == []

    # --- The manager verifies the DBS check, after a date in the future is refused.
    boss = other_page("manager")
    sign_in(boss, "manager@example.org", PASSWORD)
    boss.get_by_role("link", name="Workers").first.click()
    boss.wait_for_url("**/progress/team")
    row = boss.locator("#team-table tbody tr", has_text="Wendy Worker")
    expect(row).to_contain_text(f"{len(required) - 1} of {len(required)} for Link Worker Coach")
    expect(row).to_contain_text("Not yet")
    assert_accessible(boss)
    row.get_by_role("link", name="Wendy Worker").click()
    boss.wait_for_url(f"**/progress/workers/{worker_id}")
    expect(boss.get_by_role("heading", level=1)).to_have_text("Progress of Wendy Worker")
    expect(boss.get_by_role("button", name=re.compile("Request promotion"))).to_have_count(0)
    assert_accessible(boss)
    boss.get_by_role("link", name=f"Verify {dbs_statement}").click()
    boss.wait_for_url(re.compile(rf"/progress/workers/{worker_id}/requirements/{dbs_id}\?key=[\w-]{{43}}$"))
    expect(boss.get_by_role("heading", level=1)).to_have_text("Verify a requirement")
    expect(boss.locator("#maincontent")).to_contain_text("This is renewed every 36 months")
    assert_accessible(boss)

    fill_date(boss, "Date verified", date.today() + timedelta(days=3))
    boss.get_by_label("Note (optional)").fill("DBS certificate 001234567890")
    boss.get_by_role("button", name="Save verification").click()
    expect(boss.locator(".nhsuk-error-summary")).to_contain_text("The date verified must be today or in the past")
    expect(boss).to_have_title(re.compile(r"^Error: Verify a requirement"))
    _error_summary_links_work(boss)
    assert_accessible(boss)
    db.session.commit()
    assert count(RequirementVerification) == 2

    dbs_on = date.today() - timedelta(days=2)
    fill_date(boss, "Date verified", dbs_on)
    boss.get_by_role("button", name="Save verification").click()
    boss.wait_for_url(re.compile(rf"/progress/workers/{worker_id}(#requirements)?$"))
    expect(boss.get_by_role("alert", name="Success")).to_contain_text(f"Verified: {dbs_statement}")
    dbs_row = boss.locator("table.requirements-table tr", has_text=dbs_statement)
    expect(dbs_row).to_contain_text("Verified")
    expect(dbs_row).to_contain_text(
        f"by Mo Manager on {long_date(dbs_on)}; renew by {long_date(progress.add_months(dbs_on, 36))}"
    )
    assert_accessible(boss)

    # --- The worker evidences the last competence from "Add evidence for this" and submits it.
    page.goto("/progress/missing")
    expect(page.get_by_role("heading", name="Requirements to verify")).to_have_count(0)
    page.locator(".missing-item").get_by_role("link", name=_add_evidence_name(last_statement)).click()
    page.wait_for_url(f"**/portfolio/new?competence={last_id}")
    assert_accessible(page)
    page.get_by_label("Other evidence", exact=True).check()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(rf"/portfolio/new/other\?competence={last_id}&key=[\w-]{{43}}$"))
    expect(page.get_by_text(f"This evidence will be linked to: {last_statement}")).to_be_visible()
    page.get_by_label("Title").fill("Finding a way into the housing service")
    fill_date(page, "Date of the event", date.today() - timedelta(days=10))
    page.get_by_label("Description").fill(
        "Three referrals were refused; I kept going until the service agreed a route in."
    )
    assert_accessible(page)
    page.get_by_role("button", name="Save as draft").click()
    page.wait_for_url(re.compile(r"/portfolio/\d+/links$"))
    evidence_id = int(re.search(r"/portfolio/(\d+)/links", page.url).group(1))
    expect(page.get_by_role("heading", name="Linked competences (1)")).to_be_visible()
    expect(page.locator(".linked-competence")).to_contain_text(last_statement)
    page.get_by_role("button", name="Done").click()
    page.wait_for_url(re.compile(rf"/portfolio/{evidence_id}$"))
    page.get_by_role("button", name="Submit for review").click()
    page.wait_for_url(f"**/portfolio/{evidence_id}/submit")
    page.get_by_role("button", name="Send for review").click()
    page.wait_for_url(re.compile(rf"/portfolio/{evidence_id}$"))
    expect(page.get_by_role("alert", name="Success")).to_contain_text("Submitted for review")

    # On the missing page it now shows as in progress, with the item.
    page.goto("/progress/missing")
    item = page.locator(".missing-item")
    expect(item).to_contain_text("Link Worker Coach · In progress")
    expect(item.get_by_role("link", name="Finding a way into the housing service")).to_be_visible()
    assert_accessible(page)

    # --- The supervisor signs it off.
    lead = other_page("supervisor")
    sign_in(lead, "supervisor@example.org", PASSWORD)
    # Click once the page's scripts have loaded: in a CI-like run under load, a click made straight after
    # signing in once sent no request at all.
    lead.wait_for_load_state("networkidle")
    lead.get_by_role("link", name="Reviews (1)").first.click()
    lead.wait_for_url("**/review/")
    lead.get_by_role("link", name="Finding a way into the housing service").click()
    lead.wait_for_url(re.compile(r"/review/\d+$"))
    expect(lead.get_by_role("heading", level=1)).to_have_text("Finding a way into the housing service")
    assert_accessible(lead)
    lead.get_by_role("group", name=last_statement).get_by_label("Accepted", exact=True).check()
    lead.get_by_role("button", name="Sign off", exact=True).click()
    lead.wait_for_url("**/review/")
    expect(lead.get_by_role("alert", name="Success")).to_contain_text(
        "Signed off: Finding a way into the housing service"
    )
    assert_accessible(lead)

    # --- The worker is ready: nothing is missing any more; they reload their progress and ask.
    page.goto("/progress/missing")
    expect(page.locator("#maincontent")).to_contain_text("Nothing: you are ready for Link Worker Coach.")
    expect(page.locator(".missing-item")).to_have_count(0)
    assert_accessible(page)
    page.get_by_role("link", name="Request your promotion").click()
    page.wait_for_url(re.compile(r"/progress/(#promotion)?$"))
    page.reload()
    readiness = page.locator(".readiness")
    expect(readiness.locator(".nhsuk-tag")).to_have_text("Ready")
    expect(readiness).to_contain_text("Every competence is met and every requirement is verified and in date.")
    expect(chart_value(page.locator("figure.progress-chart"), "Link Worker Coach")).to_have_text(
        f"{coach_total} of {coach_total} met"
    )
    assert_accessible(page)
    page.get_by_role("button", name="Request promotion to Link Worker Coach").click()
    expect(page.get_by_role("alert", name="Success")).to_contain_text(
        "Promotion requested: your supervisors have been asked for their recommendation"
    )
    expect(page.locator("#maincontent")).to_contain_text(
        f"You asked to become Link Worker Coach on {long_date(date.today())}."
    )
    expect(page.get_by_text("Waiting for a supervisor’s recommendation.")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Request promotion"))).to_have_count(0)
    assert_accessible(page)
    db.session.commit()
    assert count(PromotionRequest) == 1

    # --- The supervisor supports it (after saving with nothing chosen is refused).
    lead.goto("/notifications/")
    lead.get_by_role(
        "button", name="Wendy Worker asked to become Link Worker Coach: your recommendation is needed"
    ).click()
    lead.wait_for_url(f"**/progress/workers/{worker_id}")
    expect(lead.get_by_role("heading", level=1)).to_have_text("Progress of Wendy Worker")
    expect(lead.get_by_role("button", name="Save decision")).to_have_count(0)  # managers only
    assert_accessible(lead)
    lead.get_by_role("button", name="Save recommendation").click()
    expect(lead.locator(".nhsuk-error-summary")).to_contain_text("Choose whether you support the request")
    expect(lead).to_have_title(re.compile(r"^Error: Progress of Wendy Worker"))
    # The address bar stays on her page (the form's own address answers no GET): a reload shows the page again.
    expect(lead).to_have_url(re.compile(rf"/progress/workers/{worker_id}$"))
    _error_summary_links_work(lead)
    assert_accessible(lead)
    lead.get_by_label("Yes, I support it").check()
    lead.get_by_label("Your reasons").fill(REASONS)
    lead.get_by_role("button", name="Save recommendation").click()
    expect(lead.get_by_role("alert", name="Success")).to_contain_text("Recommendation recorded")
    expect(lead.locator("#maincontent")).to_contain_text(f"Recommended by Fatima First: {REASONS}")
    expect(lead.get_by_role("button", name="Save recommendation")).to_have_count(0)
    assert_accessible(lead)
    db.session.commit()
    assert [(r.supervisor_id, r.supports) for r in db.session.scalars(select(PromotionRecommendation))] == [
        (supervisor.id, True)
    ]
    db.session.commit()

    # --- The manager approves with an effective date.
    effective_on = date.today()
    boss.goto("/notifications/")
    boss.get_by_role("button", name="Fatima First supports Wendy Worker’s promotion request").click()
    boss.wait_for_url(f"**/progress/workers/{worker_id}")
    expect(boss.locator("#maincontent")).to_contain_text(f"Recommended by Fatima First: {REASONS}")
    assert_accessible(boss)
    boss.get_by_role("button", name="Save decision").click()  # nothing chosen: refused, and the page keeps its address
    expect(boss.locator(".nhsuk-error-summary")).to_contain_text("Choose whether to approve or decline the request")
    expect(boss).to_have_url(re.compile(rf"/progress/workers/{worker_id}$"))
    boss.reload()
    expect(boss.get_by_role("heading", level=1)).to_have_text("Progress of Wendy Worker")
    boss.get_by_label("Approve the promotion").check()
    fill_date(boss, "Date the new tier takes effect (if approved)", effective_on)
    boss.get_by_role("button", name="Save decision").click()
    expect(boss.get_by_role("alert", name="Success")).to_contain_text("Promotion approved for Wendy Worker")
    expect(boss.locator("#maincontent")).to_contain_text("Current tier: Link Worker Coach")
    assert_accessible(boss)

    # --- The worker sees the new tier, its history and the notice.
    page.goto("/progress/")
    expect(page.locator("#maincontent")).to_contain_text("Current tier: Link Worker Coach")
    expect(page.locator(".readiness")).to_contain_text("Next tier: Psychosocial Link Worker")
    expect(page.get_by_role("heading", name="Tier history")).to_be_visible()
    expect(page.locator("#maincontent")).to_contain_text(
        f"Link Worker Coach from {long_date(effective_on)} (was Link Worker)"
    )
    expect(page.get_by_text("No promotion request is open.")).to_have_count(0)  # the form for the next tier instead
    assert_accessible(page)
    page.goto("/notifications/")
    expect(page.get_by_role("button", name="Your request to become Link Worker Coach was approved")).to_be_visible()
    assert_accessible(page)

    db.session.commit()
    promoted = db.session.get(User, worker_id)
    assert promoted.tier.slug == "link-worker-coach"
    decisions = db.session.scalars(select(PromotionDecision)).all()
    assert [(d.approved, d.effective_on, d.manager_id) for d in decisions] == [(True, effective_on, manager.id)]
    assert db.session.scalars(
        select(AuditEntry.action).where(AuditEntry.action.like("promotion.%")).order_by(AuditEntry.seq)
    ).all() == [
        "promotion.requested",
        "promotion.recommended",
        "promotion.approved",
    ]
    changes = db.session.scalars(select(TierChange)).all()
    assert [(c.worker_id, c.from_tier.slug, c.to_tier.slug, c.effective_on, c.decision_id) for c in changes] == [
        (worker_id, "link-worker", "link-worker-coach", effective_on, decisions[0].id)
    ]
    db.session.commit()
