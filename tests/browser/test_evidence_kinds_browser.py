"""Choosing a kind of evidence in Chromium: every registered kind is offered with its hint, and its own form and page follow."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portfolio.evidence import kinds
from portfolio.extensions import db
from portfolio.models import Evidence, EvidenceKind, FeedbackSource
from tests.browser.conftest import assert_accessible, evidence_id_from, fill_date, sign_in
from tests.factories import PASSWORD, days_ago, make_worker

pytestmark = pytest.mark.browser


def test_every_kind_is_offered_with_its_hint_and_feedback_gets_its_own_form_and_rows(page, frameworks):
    make_worker()
    sign_in(page, "worker@example.org", PASSWORD)
    page.goto("/portfolio/")
    page.get_by_role("button", name="Add evidence").click()  # a boosted link: htmx swaps the page in
    page.wait_for_url("**/portfolio/new")
    assert_accessible(page)
    for entry in kinds.KINDS.values():
        assert page.get_by_label(entry.label, exact=True).is_visible()
        assert page.get_by_text(entry.hint, exact=True).is_visible()

    entry = kinds.get(EvidenceKind.FEEDBACK)
    page.get_by_label(entry.label, exact=True).check()
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", level=1, name=entry.add_heading).wait_for()
    assert_accessible(page)
    page.get_by_label("Title").fill("Card from the housing team")
    fill_date(page, "Date of the event", days_ago(12))
    page.get_by_label("A partner agency").check()
    page.get_by_label("Their name or role").fill("Housing officer")
    page.get_by_label("The feedback").fill("Thank you for the joined-up referral.")
    page.get_by_role("button", name="Save as draft").click()

    page.wait_for_url(re.compile(r"/portfolio/\d+/links$"))
    evidence_id = evidence_id_from(page.url)
    assert page.get_by_text("Feedback saved as a draft").is_visible()
    page.goto(f"/portfolio/{evidence_id}")
    assert_accessible(page)
    assert page.get_by_text("A partner agency: Housing officer").is_visible()  # the row from feedback_show.html
    assert page.get_by_role("heading", name="Description").is_visible()
    assert page.get_by_text("Thank you for the joined-up referral.").is_visible()

    stored = db.session.scalar(select(Evidence).where(Evidence.id == evidence_id))
    assert (stored.kind, stored.feedback_source, stored.feedback_from) == (
        EvidenceKind.FEEDBACK,
        FeedbackSource.PARTNER_AGENCY,
        "Housing officer",
    )
    assert stored.description == "<p>Thank you for the joined-up referral.</p>"
