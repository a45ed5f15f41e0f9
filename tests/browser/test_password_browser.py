"""Forgotten password in headless Chromium: ask for a link, open it from the email,
choose a new password, sign in with it; then change it from Your account.
The pages have no axe-core violations."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portfolio.auth import passwords
from portfolio.extensions import db
from portfolio.models import PasswordReset, Role, User
from tests.browser.conftest import assert_accessible, sign_in
from tests.conftest import link_in, wait_for_mail
from tests.factories import NEW_PASSWORD, OTHER_NEW_PASSWORD, PASSWORD, make_user

pytestmark = pytest.mark.browser

# Answers that hash a password (argon2id, slow on purpose) can take a while on a busy machine.
SLOW = 60_000


def test_forgotten_password_email_new_password_then_sign_in(page, smtp):
    maya = make_user(Role.MANAGER, email="maya@example.org", name="Maya Manager")

    page.goto("/auth/sign-in")
    page.get_by_role("link", name="Forgotten your password?").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Reset your password")
    assert_accessible(page)
    page.get_by_role("button", name="Send me a link").click()  # nothing typed yet
    expect(page.locator(".nhsuk-error-summary")).to_contain_text("Enter your email address", timeout=SLOW)
    expect(page.locator("#email-error")).to_contain_text("Enter your email address")
    page.get_by_label("Email address").fill("maya@example.org")
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email", timeout=SLOW)
    expect(page.locator("main")).to_contain_text("If the address you entered belongs to an account")

    wait_for_mail(smtp, 1)
    path = link_in(smtp.messages[0])
    page.goto(path)
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    assert_accessible(page)
    page.get_by_label("New password", exact=True).fill("password1234")
    page.get_by_label("Confirm your new password").fill("password1234")
    page.get_by_role("button", name="Set new password").click()
    expect(page.locator("#password-error")).to_contain_text("This is a very common password", timeout=SLOW)
    assert_accessible(page)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm your new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set new password").click()

    page.wait_for_url("**/auth/sign-in", timeout=SLOW)
    expect(page.locator(".nhsuk-notification-banner")).to_contain_text(
        "Your password has been changed. Sign in with your new password."
    )
    sign_in(page, "maya@example.org", NEW_PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Maya Manager")

    db.session.expire_all()
    assert passwords.verify_password(db.session.get(User, maya.id).password_hash, NEW_PASSWORD)
    assert db.session.query(PasswordReset).one().used_at is not None
    # The link is used up: opening it again says so.
    page.goto(path)
    expect(page.get_by_role("heading", level=1)).to_have_text("This link no longer works")
    # Chromium logs that 410 as a failed load; it is the answer we meant to give.
    expected = [m for m in page.errors.messages if "status of 410" in m]
    assert len(expected) == 1
    page.errors.messages.remove(expected[0])


def test_changing_the_password_from_your_account(page):
    maya = make_user(Role.MANAGER, email="maya@example.org", name="Maya Manager")
    sign_in(page, "maya@example.org", PASSWORD)

    page.locator(".nhsuk-header__account").get_by_role("link", name="Maya Manager").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    assert_accessible(page)
    page.get_by_role("link", name="Change your password").click()
    page.get_by_label("Current password").fill("not my password")
    page.get_by_label("New password", exact=True).fill(OTHER_NEW_PASSWORD)
    page.get_by_label("Confirm your new password").fill(OTHER_NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#current_password-error")).to_contain_text(
        "Your current password is not correct", timeout=SLOW
    )
    assert_accessible(page)
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(OTHER_NEW_PASSWORD)
    page.get_by_label("Confirm your new password").fill(OTHER_NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()

    expect(page).to_have_url(re.compile(r"/account/$"), timeout=SLOW)
    expect(page.locator(".nhsuk-notification-banner")).to_contain_text("You have been signed out on every other device")
    page.goto("/")  # still signed in here
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Maya Manager")
    db.session.expire_all()
    assert passwords.verify_password(db.session.get(User, maya.id).password_hash, OTHER_NEW_PASSWORD)
