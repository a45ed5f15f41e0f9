"""The whole of a new supervisor's first day in Chromium: invited by a manager, the emailed
link sets a password, the role's second factor is set up from a code computed here, then
signing out and in again takes the password and a code."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import Role, TotpSecret, User
from tests.browser.conftest import assert_accessible
from tests.conftest import body_of
from tests.factories import NEW_PASSWORD, PASSWORD, give_totp, make_user

pytestmark = pytest.mark.browser


def test_invited_supervisor_sets_a_password_and_a_one_time_code_then_signs_in_with_both(
    app, page, browser, live_server, frameworks, smtp
):
    app.config["MFA_REQUIRED_ROLES"] = frozenset({"supervisor", "manager"})
    manager = make_user(Role.MANAGER, email="maya@example.org", name="Maya Manager")
    manager_secret = give_totp(manager)

    # The manager signs in with password and code, and invites Sam.
    page.goto("/auth/sign-in")
    page.get_by_label("Email address").fill("maya@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/auth/second-step")
    page.get_by_label("Code").fill(pyotp.TOTP(manager_secret).now())
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/$"))
    page.get_by_role("link", name="People", exact=True).click()
    page.wait_for_url("**/people/")
    page.get_by_role("button", name="Invite a person").click()
    page.wait_for_url("**/people/invite")
    page.get_by_label("Full name").fill("Sam Supervisor")
    page.get_by_label("Email address").fill("sam@example.org")
    page.get_by_label("Supervisor", exact=True).check()
    page.get_by_role("button", name="Send invitation").click()
    page.wait_for_url(re.compile(r".*/people/\d+$"))
    expect(page.locator("main")).to_contain_text("an email with the link is on its way to sam@example.org")

    [message] = smtp.to("sam@example.org")
    link = re.search(r"https?://[^/\s]+(/invitation/\S+)", body_of(message)).group(1)

    context = browser.new_context(base_url=live_server, viewport={"width": 1100, "height": 900})
    try:
        sam = context.new_page()
        sam.goto(link)
        expect(sam.get_by_role("heading", level=1)).to_have_text("Set your password")
        sam.get_by_label("Create a password").fill(NEW_PASSWORD)
        sam.get_by_label("Type the password again").fill(NEW_PASSWORD)
        sam.get_by_role("button", name="Set password and sign in").click()

        # A supervisor needs a second factor: held at set-up until there is one.
        sam.wait_for_url("**/account/security")
        expect(sam.get_by_text("Your role needs a second way to sign in")).to_be_visible()
        sam.goto("/review/")
        sam.wait_for_url("**/account/security")
        sam.get_by_role("button", name="Set up an authenticator app").click()
        sam.wait_for_url("**/account/security/totp")
        secret = sam.locator("#totp-secret").inner_text().replace(" ", "")
        sam.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).now())
        sam.get_by_role("button", name="Turn on one-time codes").click()
        sam.get_by_role("heading", name="Your recovery codes").wait_for()
        assert sam.locator("#recovery-codes code").count() == 10
        assert_accessible(sam)
        sam.get_by_role("link", name="Continue").click()
        sam.wait_for_url(re.compile(r"/$"))
        expect(sam.get_by_role("heading", level=1)).to_have_text("Hello, Sam Supervisor")

        # Out, and in again: the password, then the next code (the set-up one is spent).
        sam.get_by_role("button", name="Sign out").click()
        sam.wait_for_url("**/auth/sign-in?signed_out=1")
        sam.get_by_label("Email address").fill("sam@example.org")
        sam.get_by_label("Password").fill(NEW_PASSWORD)
        sam.get_by_role("button", name="Sign in", exact=True).click()
        sam.wait_for_url("**/auth/second-step")
        expect(sam.get_by_role("heading", level=1)).to_have_text("Enter your code")
        sam.get_by_label("Code").fill(pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30)))
        sam.get_by_role("button", name="Continue").click()
        sam.wait_for_url(re.compile(r"/$"))
        expect(sam.get_by_role("heading", level=1)).to_have_text("Hello, Sam Supervisor")
        expect(sam.get_by_role("link", name="Reviews")).to_be_visible()
    finally:
        context.close()

    db.session.rollback()  # a fresh snapshot: see what the server committed
    sam_row = db.session.scalar(select(User).where(User.email == "sam@example.org"))
    assert sam_row.status == "active" and sam_row.last_signed_in_at is not None
    assert db.session.scalar(select(TotpSecret.confirmed_at).where(TotpSecret.user_id == sam_row.id)) is not None
