"""Separation of duties in Chromium: a worker-manager filters the Workers page in place and never sees themself."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import Evidence, Role, Submission, User
from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, assign, make_user, submitted_item, tier

pytestmark = pytest.mark.browser


def test_a_worker_manager_filters_the_workers_page_without_ever_seeing_themself(page, frameworks):
    mel = make_user(
        Role.WORKER, Role.MANAGER, email="mel@example.org", name="Mel Both", tier=tier("link-worker", "link-worker")
    )
    olly = make_user(Role.WORKER, name="Olly Other", tier=tier("link-worker", "link-worker"))
    quiet = make_user(Role.WORKER, name="Quinn Quiet", tier=tier("link-worker", "link-worker"))
    sam = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    for worker in (mel, olly, quiet):
        assign(sam, worker)
    submitted_item(mel, "My own walking group")
    submitted_item(olly, "Olly's walking group")
    db.session.commit()

    sign_in(page, "mel@example.org", PASSWORD)
    page.goto("/progress/team")
    table = page.locator("#team-table")
    expect(table).to_contain_text("Olly Other")
    expect(table).to_contain_text("Quinn Quiet")
    expect(table).not_to_contain_text("Mel Both")

    # htmx swaps the table in place (the address follows) and Mel's own waiting item still does not show.
    page.get_by_text("Filters", exact=True).click()  # the filters are in a details section, closed at first
    page.get_by_label("Show").select_option("waiting")
    page.wait_for_url("**/progress/team?*only=waiting*")
    expect(page.locator("#team-status")).to_have_text("1 worker matches “With items waiting for review”")
    expect(table).to_contain_text("Olly Other")
    expect(table).not_to_contain_text("Quinn Quiet")
    expect(table).not_to_contain_text("Mel Both")

    # Two items are waiting in the database; the one left out is Mel's own.
    waiting = db.session.scalars(
        select(User.name).join(Evidence, Evidence.owner_id == User.id).join(Submission).order_by(User.name)
    ).all()
    assert waiting == ["Mel Both", "Olly Other"]
