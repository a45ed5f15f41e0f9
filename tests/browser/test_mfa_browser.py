"""Multi-factor sign-in in headless Chromium: one-time codes typed from the page, passkeys on a virtual authenticator."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import Passkey, RecoveryCode, Role, TotpSecret
from tests.browser.conftest import PageErrors, assert_accessible, sign_in
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.browser


def type_password(page, email: str) -> None:
    page.goto("/auth/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def test_a_manager_sets_up_one_time_codes_then_signs_in_with_one(app, page):
    app.config["MFA_REQUIRED_ROLES"] = frozenset({"supervisor", "manager"})
    manager = make_user(Role.MANAGER, email="manager@example.org", name="Maya Manager")

    # The password alone lets a manager in only as far as setting up a second factor.
    type_password(page, "manager@example.org")
    page.wait_for_url("**/account/security")
    assert page.get_by_text("Your role needs a second way to sign in").is_visible()
    assert_accessible(page)
    page.goto("/frameworks/")
    page.wait_for_url("**/account/security")

    page.get_by_role("button", name="Set up an authenticator app").click()
    page.wait_for_url("**/account/security/totp")
    assert page.get_by_role("img", name=re.compile("QR code for your authenticator app")).is_visible()
    # The SVG loads under the CSP (an image from our own origin, no inline markup).
    page.wait_for_function(
        "() => { const img = document.querySelector('img.totp-qr'); return img.complete && img.naturalWidth > 0; }"
    )
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    assert_accessible(page)

    page.get_by_label("Code from your authenticator app").fill(
        "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
    )
    page.get_by_role("button", name="Turn on one-time codes").click()
    page.locator(".nhsuk-error-summary").get_by_text("The code is not correct").wait_for()
    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on one-time codes").click()
    page.get_by_role("heading", name="Your recovery codes").wait_for()
    codes = page.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    assert_accessible(page)
    page.get_by_role("link", name="Continue").click()
    page.wait_for_url(re.compile(r"/$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Hello, Maya Manager"
    assert db.session.scalar(select(TotpSecret.confirmed_at).where(TotpSecret.user_id == manager.id)) is not None

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/auth/sign-in?signed_out=1")
    type_password(page, "manager@example.org")
    page.wait_for_url("**/auth/second-step")
    assert page.get_by_role("heading", level=1).inner_text() == "Enter your code"
    assert_accessible(page)
    # The code used at set-up is spent: the next step's code (within the drift allowed) signs in.
    next_code = pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30))
    page.get_by_label("Code").fill(next_code)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Hello, Maya Manager"

    # A recovery code works once, typed as people type.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/auth/sign-in?signed_out=1")
    type_password(page, "manager@example.org")
    page.wait_for_url("**/auth/second-step")
    page.get_by_label("Code").fill(codes[0].lower())
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Hello, Maya Manager"
    db.session.commit()  # end the test's read transaction, to see what the server wrote
    assert db.session.scalar(select(db.func.count(RecoveryCode.id)).where(RecoveryCode.used_at.is_not(None))) == 1


@pytest.fixture
def localhost(app, live_server):
    """WebAuthn needs a domain (not an IP address) and a secure context: http://localhost is both."""
    url = live_server.replace("127.0.0.1", "localhost")
    app.config["PUBLIC_URL"] = url
    return url


def virtual_authenticator(context, page) -> None:
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )


def test_a_passkey_is_added_and_signs_in_with_and_without_a_password(app, browser, localhost):
    user = make_user(Role.WORKER, email="worker@example.org", name="Wendy Worker")
    context = browser.new_context(base_url=localhost, viewport={"width": 1100, "height": 900})
    page = context.new_page()
    errors = PageErrors()
    page.on("console", errors.record)
    page.on("pageerror", lambda exc: errors.messages.append(str(exc)))
    try:
        virtual_authenticator(context, page)
        sign_in(page, "worker@example.org", PASSWORD)
        page.get_by_role("link", name="Security").click()
        page.wait_for_url("**/account/security")
        assert page.get_by_text("You have no passkeys.").is_visible()

        add = page.get_by_role("button", name="Add a passkey")
        add.click()  # no name yet: the server's message appears by the button
        page.locator("[data-passkey-error]").get_by_text(
            "Enter a name for this passkey, for example ‘Work laptop’"
        ).wait_for()
        page.get_by_label("Name of this passkey").fill("Work laptop")
        add.click()
        page.get_by_text("Your passkey has been added.").wait_for()
        assert page.get_by_role("cell", name="Work laptop", exact=True).is_visible()
        assert_accessible(page)
        db.session.commit()
        key = db.session.scalar(select(Passkey).where(Passkey.user_id == user.id))
        assert key.name == "Work laptop"

        # Without a password: the browser offers the passkey it holds for this site.
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/auth/sign-in?signed_out=1")
        page.get_by_role("button", name="Sign in with a passkey").click()
        page.wait_for_url(re.compile(r"/$"))
        assert page.get_by_role("heading", level=1).inner_text() == "Hello, Wendy Worker"

        # After the password, the passkey is the second step.
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/auth/sign-in?signed_out=1")
        page.get_by_label("Email address").fill("worker@example.org")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_url("**/auth/second-step")
        assert_accessible(page)
        page.get_by_role("button", name="Use a passkey").click()
        page.wait_for_url(re.compile(r"/$"))
        assert page.get_by_role("heading", level=1).inner_text() == "Hello, Wendy Worker"
        db.session.commit()
        db.session.refresh(key)
        assert key.last_used_at is not None
    finally:
        context.close()
    assert errors.messages == [], f"the page logged errors: {errors.messages}"


def test_without_javascript_no_passkey_button_is_offered(app, browser, localhost):
    context = browser.new_context(base_url=localhost, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/auth/sign-in")
        assert page.get_by_role("button", name="Sign in", exact=True).is_visible()
        assert page.locator("[data-passkey='sign-in']").count() == 1
        assert not page.get_by_role("button", name="Sign in with a passkey").is_visible()
    finally:
        context.close()
