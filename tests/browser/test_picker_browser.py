"""Linking in bulk in headless Chromium: every competence of a tier with "Link all shown", and an existing item
linked from the competence map (issue 13)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import EvidenceLink
from tests.browser.conftest import assert_accessible, settled, sign_in
from tests.factories import PASSWORD, competence, competences, link_draft, make_worker

pytestmark = pytest.mark.browser


def _linked(evidence_id: int) -> list[int]:
    db.session.commit()  # see what the server wrote
    return sorted(db.session.scalars(select(EvidenceLink.competence_id).where(EvidenceLink.evidence_id == evidence_id)))


def test_linking_an_item_to_every_competence_of_a_tier_takes_under_ten_interactions(page, frameworks):
    """Issue 13's target: from the item's page, open the picker, choose the tier, then "Link all shown" per ten."""
    worker = make_worker()
    item = link_draft(worker, [], "A year of community work")
    tier = competences("link-worker", "link-worker")  # the worker's own tier, the largest
    assert len(tier) > 20
    sign_in(page, "worker@example.org", PASSWORD)
    page.goto(f"/portfolio/{item.id}")
    interactions = 0

    page.get_by_role("button", name="Link competences").click()  # a link that looks like a button
    interactions += 1
    page.get_by_role("heading", level=1, name="Link competences").wait_for()
    settled(page)
    page.get_by_label("Tier").select_option(label="Link Worker")
    interactions += 1
    count = page.locator("#picker-count")
    expect(count).to_have_text(re.compile(rf"^{len(tier)} competences to link, showing 1 to 10 "))
    assert_accessible(page)

    link_all = page.get_by_role("button", name=re.compile("^Link all shown"))
    while link_all.count():
        already = len(_linked(item.id))
        link_all.click()
        interactions += 1
        now = already + min(10, len(tier) - already)
        expect(count).to_have_text(re.compile(rf"\b{now} (competences here are )?linked already"))
    expect(count).to_have_text(re.compile(rf"^All {len(tier)} competences here are linked already"))
    expect(page.get_by_role("heading", name=f"Linked competences ({len(tier)})")).to_be_visible()
    assert_accessible(page)

    assert interactions < 10, interactions
    assert _linked(item.id) == sorted(c.id for c in tier)
    assert "tier=" in page.url  # the filter kept in the address, so reloading shows the same results


def test_an_existing_item_is_linked_from_the_competence_map(page, frameworks):
    worker = make_worker()
    item = link_draft(worker, [], "Group session notes")
    target = competence("PS-LW-05")
    sign_in(page, "worker@example.org", PASSWORD)
    page.goto("/portfolio/map")
    page.get_by_role("link", name=target.statement, exact=True).click()
    page.get_by_role("button", name="Link an existing item").click()  # beside "Add evidence for this"
    page.get_by_role("heading", level=1, name="Link an existing item").wait_for()
    expect(page.locator("#linkable-status")).to_have_text("1 item can be linked")
    assert_accessible(page)

    page.get_by_role("button", name=re.compile(r"^Link this item\W+Group session notes$")).click()
    expect(page.get_by_role("alert", name="Success")).to_contain_text("Linked “Group session notes” to this competence")
    expect(page.locator("#linkable-status")).to_have_text("No items can be linked")
    assert_accessible(page)
    assert _linked(item.id) == [target.id]
