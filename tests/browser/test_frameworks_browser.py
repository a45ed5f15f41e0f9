"""Journeys through the framework pages in headless Chromium."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import Competence, Role, Section
from tests.browser.conftest import assert_accessible, sign_in
from tests.factories import PASSWORD, make_user, tier

pytestmark = pytest.mark.browser


def test_sign_in_open_a_framework_and_find_no_accessibility_violations(page, frameworks):
    make_user(Role.WORKER, email="worker@example.org", name="Wendy Worker", tier=tier("link-worker", "link-worker"))
    db.session.commit()
    sign_in(page, "worker@example.org", PASSWORD)
    assert page.get_by_role("heading", level=1).inner_text() == "Hello, Wendy Worker"
    assert_accessible(page)

    page.get_by_role("link", name="Frameworks").first.click()
    page.get_by_role("link", name="Link Worker Competency Framework").click()
    page.wait_for_url(re.compile(r"/frameworks/\d+$"))
    assert page.title() == "Link Worker Competency Framework – Evidence portfolio"
    assert page.get_by_text("Be able to deliver interventions with group settings").is_visible()
    assert page.get_by_role("heading", name="Mandatory Requirements").is_visible()
    assert_accessible(page)

    page.goto(f"/frameworks/{frameworks['sfh-senior-engagement-worker'].id}")
    assert page.get_by_role("heading", name="Role Specific Competences").is_visible()
    assert_accessible(page)


def test_search_filters_statements_as_you_type(page, frameworks):
    make_user(Role.WORKER, email="worker@example.org", tier=tier("link-worker", "link-worker"))
    db.session.commit()
    sign_in(page, "worker@example.org", PASSWORD)
    framework = frameworks["link-worker"]
    page.goto(f"/frameworks/{framework.id}")
    page.evaluate("window.notReloaded = true")

    page.get_by_label("Find a competence").press_sequentially("safeguard", delay=20)
    summary = page.locator("#search-summary")
    summary.wait_for()
    assert "1 competence matches “safeguard”" in summary.inner_text()
    assert page.get_by_text("Demonstrate an understanding of safeguarding vulnerable adults").is_visible()
    assert page.get_by_text("Manage complex conversations").count() == 0
    assert page.evaluate("window.notReloaded") is True  # swapped in place, no reload
    assert "q=safeguard" in page.url  # kept in the address for the back button and links
    assert_accessible(page)


def test_manager_adds_a_locality_competence_after_fixing_an_error(page, frameworks):
    make_user(Role.MANAGER, email="manager@example.org")
    db.session.commit()
    sign_in(page, "manager@example.org", PASSWORD)
    framework = frameworks["sfh-senior-engagement-worker"]
    page.goto(f"/frameworks/{framework.id}")
    page.get_by_role("button", name="Add a locality-specific competence").click()
    page.wait_for_url("**/locality/new")

    page.get_by_label("Underpinning principle").fill("1. Communication")
    page.get_by_label("Reference function").fill("Communicate effectively")
    page.get_by_role("button", name="Save competence").click()
    error = page.locator("#statement-error")
    error.wait_for()
    assert "Enter the competence statement" in error.inner_text()
    assert page.get_by_role("alert").get_by_text("There is a problem").is_visible()
    assert page.get_by_label("Underpinning principle").input_value() == "1. Communication"
    assert_accessible(page)

    page.get_by_label("Competence statement").fill("Use British Sign Language interpreters appropriately")
    page.get_by_role("button", name="Save competence").click()
    page.get_by_text("Locality-specific competence added").wait_for()
    assert (
        page.locator("section[aria-labelledby=locality-specific]")
        .get_by_text("Use British Sign Language interpreters appropriately")
        .is_visible()
    )
    # At the section that holds it, as with JavaScript off: found by a helper, who landed at the top of a long page.
    page.wait_for_url(re.compile(rf"/frameworks/{framework.id}#locality-specific$"))
    expect(page.locator("#locality-specific")).to_be_in_viewport()
    db.session.commit()
    saved = db.session.scalars(select(Competence).where(Competence.section == Section.LOCALITY_SPECIFIC)).all()
    assert [c.statement for c in saved] == ["Use British Sign Language interpreters appropriately"]
