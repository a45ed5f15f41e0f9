"""The everyday pages changed for issue 13 in headless Chromium, with axe-core: each role's home, a returned
item with "Change and resubmit", the links page as a summary list, the submit page with nothing linked, a
supervision note's state."""

from __future__ import annotations

import re
from datetime import date

import pytest
from playwright.sync_api import expect

from portfolio.evidence import service as evidence_service
from portfolio.extensions import db
from portfolio.models import DecisionOutcome, EvidenceKind, Role
from portfolio.review import service as review
from portfolio.review.service import CompetenceOutcome
from tests.browser.conftest import assert_accessible, sign_in
from tests.factories import (
    PASSWORD,
    assign,
    competence,
    make_user,
    promotion_request,
    submitted_item,
    supervision_note,
    tier,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def world(app, frameworks):
    """Wendy has an item waiting, one returned, a draft with nothing linked and a note for Sam to confirm."""
    wendy = make_user(
        Role.WORKER, email="worker@example.org", name="Wendy Worker", tier=tier("link-worker", "link-worker")
    )
    sam = make_user(Role.SUPERVISOR, email="supervisor@example.org", name="Sam Supervisor")
    make_user(Role.MANAGER, email="manager@example.org", name="Maya Manager")
    assign(sam, wendy, starts_on=date(2026, 1, 1))
    with app.test_request_context():
        submitted_item(wendy, "Walking group")
        back = submitted_item(wendy, "Cafe poster", ref="PS-LW-02")
        review.decide(
            sam,
            back,
            outcome=DecisionOutcome.RETURNED,
            comment="Add the dates of each session.",
            outcomes={back.evidence.links[0].competence_id: CompetenceOutcome(False, "Say how you listened.")},
        )
        bare = evidence_service.create_evidence(
            wendy,
            EvidenceKind.OTHER,
            evidence_service.EvidenceInput(title="Untagged leaflet", occurred_on=date(2026, 3, 1), description="A."),
        )
        evidence_service.link_competence(wendy, back.evidence, competence("PS-LW-03").id, "Ran it")
        note = supervision_note(wendy, sam)
        promotion_request(wendy)
        db.session.commit()
    return {"returned": back.evidence_id, "bare": bare.id, "note": note.id}


def test_the_workers_pages(page, world):
    sign_in(page, "worker@example.org", PASSWORD)
    expect(page.get_by_role("button", name="Add evidence")).to_be_visible()
    expect(page.locator("#next-tier")).to_contain_text("Link Worker Coach:")
    expect(page.locator(".waiting-items")).to_contain_text("Walking group: with Sam Supervisor")
    assert_accessible(page)

    page.get_by_role("link", name="Cafe poster").click()
    page.wait_for_url(re.compile(rf"/portfolio/{world['returned']}(#returned)?$"))
    box = page.locator("#returned")
    expect(box).to_contain_text("Add the dates of each session.")
    expect(box).to_contain_text("Say how you listened.")
    assert_accessible(page)
    box.get_by_role("button", name="Change and resubmit").click()
    page.wait_for_url(f"**/portfolio/{world['returned']}/edit")

    page.goto(f"/portfolio/{world['returned']}/links")
    linked = page.locator(".linked-competences")
    expect(linked.get_by_role("link", name=re.compile("^Change note"))).to_have_count(2)
    expect(linked.get_by_role("button", name=re.compile("^Remove"))).to_have_count(2)
    assert_accessible(page)
    linked.get_by_role("link", name=re.compile("^Change note")).first.click()
    expect(linked.get_by_role("textbox")).to_have_count(1)
    assert_accessible(page)

    page.goto(f"/portfolio/{world['bare']}/submit")
    expect(page.get_by_text("This item is not linked to any competence yet")).to_be_visible()
    expect(page.get_by_role("button", name="Send for review")).to_have_count(0)
    assert_accessible(page)

    page.goto(f"/portfolio/{world['note']}")
    expect(page.locator("#status")).to_have_text("Waiting for confirmation")
    assert_accessible(page)


def test_the_supervisors_and_the_managers_homes(page, world):
    sign_in(page, "supervisor@example.org", PASSWORD)
    expect(page.locator("#items-waiting")).to_contain_text("1 item waiting for your decision")
    expect(page.locator("#notes-waiting")).to_contain_text("1 supervision note to confirm")
    expect(page.locator(".to-recommend")).to_contain_text("Wendy Worker asked to become Link Worker Coach")
    assert_accessible(page)
    page.goto(f"/review/notes/{world['note']}")
    expect(page.locator("#note-state")).to_have_text("Waiting for confirmation")
    assert_accessible(page)

    page.context.clear_cookies()
    sign_in(page, "manager@example.org", PASSWORD)
    expect(page.locator("#promotions-waiting")).to_contain_text(
        "1 promotion request is waiting for a supervisor’s recommendation before you decide"
    )
    assert_accessible(page)
