"""People in headless Chromium: a manager invites a worker, the emailed link sets a password and
lands on the worker's home; a deactivated person's open page is refused on its next request."""

from __future__ import annotations

import re
from datetime import date

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import Invitation, Role, User
from portfolio.people import service as people_service
from tests.browser.conftest import assert_accessible, sign_in
from tests.conftest import body_of
from tests.factories import NEW_PASSWORD, PASSWORD, assign, make_user, tier

pytestmark = pytest.mark.browser


def test_manager_invites_a_worker_who_sets_a_password_from_the_email(page, browser, live_server, frameworks, smtp):
    make_user(Role.MANAGER, email="maya@example.org", name="Maya Manager")
    make_user(Role.SUPERVISOR, email="sam@example.org", name="Sam Supervisor")
    level = tier("link-worker", "link-worker")

    sign_in(page, "maya@example.org", PASSWORD)
    page.get_by_role("link", name="People", exact=True).click()
    page.wait_for_url("**/people/")
    expect(page.get_by_role("heading", level=1)).to_have_text("People")
    assert_accessible(page)

    page.get_by_role("button", name="Invite a person").click()
    page.wait_for_url("**/people/invite")
    assert_accessible(page)
    page.get_by_label("Full name").fill("Wendy Worker")
    page.get_by_label("Email address").fill("wendy@example.org")
    page.get_by_label("Worker", exact=True).check()
    page.get_by_label("Framework and tier (workers only)").select_option(str(level.id))
    page.get_by_label("Sam Supervisor (sam@example.org)").check()
    page.get_by_role("button", name="Send invitation").click()
    page.wait_for_url(re.compile(r".*/people/\d+$"))
    expect(page.locator("main")).to_contain_text("an email with the link is on its way to wendy@example.org")
    expect(page.locator("main")).to_contain_text("Sam Supervisor (sam@example.org)")

    [message] = smtp.to("wendy@example.org")
    link = re.search(r"https://portfolio\.example\.org(/invitation/\S+)", body_of(message)).group(1)
    db.session.rollback()  # a fresh snapshot: see what the server committed
    person = db.session.scalar(select(User).where(User.email == "wendy@example.org"))
    assert person.status == "invited"

    # Wendy opens the link in her own browser.
    context = browser.new_context(base_url=live_server, viewport={"width": 1100, "height": 900})
    try:
        wendy = context.new_page()
        wendy.goto(link)
        expect(wendy.get_by_role("heading", level=1)).to_have_text("Set your password")
        assert_accessible(wendy)
        wendy.get_by_label("Create a password").fill("short")
        wendy.get_by_label("Type the password again").fill("short")
        wendy.get_by_role("button", name="Set password and sign in").click()
        expect(wendy.locator(".nhsuk-error-summary")).to_contain_text("Password must be 12 characters or more")
        wendy.get_by_label("Create a password").fill(NEW_PASSWORD)
        wendy.get_by_label("Type the password again").fill(NEW_PASSWORD)
        wendy.get_by_role("button", name="Set password and sign in").click()
        wendy.wait_for_url(f"{live_server}/")
        expect(wendy.get_by_role("heading", level=1)).to_have_text("Hello, Wendy Worker")
        expect(wendy.get_by_role("link", name="My portfolio")).to_be_visible()
        # The link is used up.
        wendy.goto(link)
        expect(wendy.get_by_role("heading", level=1)).to_have_text("This invitation link does not work")
    finally:
        context.close()
    db.session.rollback()
    person = db.session.get(User, person.id)
    assert person.status == "active"
    assert db.session.scalar(select(Invitation.used_at).where(Invitation.user_id == person.id)) is not None


def test_a_deactivated_persons_open_page_is_refused_on_the_next_click(page, live_server, frameworks):
    manager = make_user(Role.MANAGER, email="maya@example.org", name="Maya Manager")
    worker = make_user(
        Role.WORKER, email="wendy@example.org", name="Wendy Worker", tier=tier("link-worker", "link-worker")
    )
    sign_in(page, "wendy@example.org", PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Wendy Worker")

    people_service.deactivate(manager, worker)

    page.get_by_role("link", name="My portfolio").click()
    page.wait_for_url("**/auth/sign-in**")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    page.goto("/portfolio/")
    page.wait_for_url("**/auth/sign-in**")
    # Signing in again is refused too.
    page.get_by_label("Email address").fill("wendy@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".nhsuk-error-summary")).to_contain_text("Enter a correct email address and password")


def test_people_search_updates_the_list_in_place(page, live_server, frameworks):
    make_user(Role.MANAGER, email="maya@example.org", name="Maya Manager")
    supervisor = make_user(Role.SUPERVISOR, email="sam@example.org", name="Sam Supervisor")
    worker = make_user(
        Role.WORKER, email="wendy@example.org", name="Wendy Worker", tier=tier("link-worker", "link-worker")
    )
    make_user(Role.WORKER, email="wendy.two@example.org", name="Wendy Worker", tier=tier("link-worker", "link-worker"))
    assign(supervisor, worker, starts_on=date(2026, 1, 1))
    sign_in(page, "maya@example.org", PASSWORD)
    page.goto("/people/")
    expect(page.locator("#people-count")).to_have_text("4 people")
    page.evaluate("window.notReloaded = true")

    page.get_by_label("Name or email").press_sequentially("wendy.two", delay=20)
    expect(page.locator("#people-count")).to_have_text("1 person matches your search")
    expect(page.locator("#people-list")).to_contain_text("wendy.two@example.org")
    assert page.evaluate("window.notReloaded") is True  # swapped in place
    assert "q=wendy.two" in page.url  # kept in the address

    page.get_by_label("Name or email").fill("")
    page.get_by_text("Filters", exact=True).click()  # the filters are in a details section, closed at first
    page.get_by_label("Role").select_option("supervisor")
    expect(page.locator("#people-count")).to_have_text("1 person matches your search")
    expect(page.locator("#people-list")).to_contain_text("Sam Supervisor")
    assert page.evaluate("window.notReloaded") is True
    assert_accessible(page)
