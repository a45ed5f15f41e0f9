"""Your account, changing your password, and resetting a forgotten one.

Every test asserts what the person sees (the page, the message next to the
field, the NHS.UK error summary, the email) and what the database holds.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from portfolio.account import service
from portfolio.auth import passwords
from portfolio.auth.tokens import digest
from portfolio.errors import FieldError
from portfolio.extensions import db
from portfolio.models import PasswordReset, PasswordResetRequest, Role, SignInAttempt, User
from tests.conftest import built_document, link_in, mail_server, wait_for_mail
from tests.factories import NEW_PASSWORD, OTHER_NEW_PASSWORD, a_link_for
from tests.pages import UNUSABLE, audit_rows, error_summary, field_error, is_signed_in, reload

from . import factories
from .conftest import AuthActions, Collector, body_of, csrf_token, post_sign_in
from .factories import make_user
from .pages import TOO_MANY

NEUTRAL = "If the address you entered belongs to an account, we have sent it a link to choose a new password."


# --- helpers ---------------------------------------------------------------


def resets(user: User | None = None) -> list[PasswordReset]:
    db.session.expire_all()
    query = select(PasswordReset).order_by(PasswordReset.id)
    if user is not None:
        query = query.where(PasswordReset.user_id == user.id)
    return list(db.session.scalars(query))


def main_text(page: str) -> str:
    """The words of the page's <main>, tags removed."""
    main = page.split("<main", 1)[1].split("</main>", 1)[0]
    return " ".join(re.sub(r"<[^>]+>", " ", main.split(">", 1)[1]).split())


def change(client, current: str, new: str, confirm: str | None = None, headers: dict | None = None):
    page = client.get("/account/password")
    data = {
        "csrf_token": csrf_token(page.text),
        "current_password": current,
        "new_password": new,
        "confirm_password": new if confirm is None else confirm,
    }
    return client.post("/account/password", data=data, headers=headers or {})


def ask_for_link(client, email: str, address: str | None = None):
    extra = {"environ_base": {"REMOTE_ADDR": address}} if address else {}
    page = client.get("/account/forgotten-password", **extra)
    return client.post(
        "/account/forgotten-password", data={"csrf_token": csrf_token(page.text), "email": email}, **extra
    )


def set_password_by_link(client, path: str, password: str, confirm: str | None = None):
    page = client.get(path)
    assert page.status_code == 200, page.text
    data = {
        "csrf_token": csrf_token(page.text),
        "password": password,
        "confirm_password": password if confirm is None else confirm,
    }
    return client.post(path, data=data)


@pytest.fixture
def maya(app):
    return make_user(Role.MANAGER, Role.SUPERVISOR, email="maya@example.org", name="Maya Manager")


# --- your account ------------------------------------------------------------


def test_the_account_page_shows_who_you_are_and_links_to_change_password(client, auth, maya):
    auth.login_as(maya)

    response = client.get("/account/")

    assert response.status_code == 200
    text = main_text(response.text)
    assert "Your account" in text
    assert "Name Maya Manager" in text and "Email address maya@example.org" in text
    assert "Roles Supervisor, Manager" in text
    assert 'href="/account/password">Change your password</a>' in response.text
    # The header's name is the way to the account page.
    header = response.text.split('class="nhsuk-header__account"', 1)[1].split("</nav>", 1)[0]
    assert re.search(r'<a class="nhsuk-header__account-link" href="/account/">.*?Maya Manager', header, re.S)


def test_the_account_page_needs_sign_in(client, maya):
    response = client.get("/account/")

    assert response.status_code == 302
    assert urlsplit(response.location).path == "/auth/sign-in"


# --- changing your password ------------------------------------------------------


def test_changing_the_password_ends_other_sessions_and_keeps_this_one(app, client, auth, maya, smtp):
    auth.login_as(maya)
    other_device = app.test_client()
    AuthActions(other_device).login_as(maya)
    assert is_signed_in(other_device)
    version = maya.session_version

    response = change(client, factories.PASSWORD, NEW_PASSWORD)

    assert response.status_code == 303 and response.location == "/account/"
    page = client.get("/account/")
    assert "Your password has been changed. You have been signed out on every other device." in page.text
    assert is_signed_in(client)
    assert not is_signed_in(other_device)
    user = reload(maya)
    assert user.session_version == version + 1
    assert passwords.verify_password(user.password_hash, NEW_PASSWORD)
    [entry] = audit_rows("password.changed")
    assert entry.actor_id == maya.id and entry.subject == f"user:{maya.id}"
    assert NEW_PASSWORD not in str(entry.details) and factories.PASSWORD not in str(entry.details)
    # A notice by email, without either password.
    wait_for_mail(smtp, 1)
    [message] = smtp.messages
    assert (message["To"], message["Subject"]) == ("maya@example.org", "Your password was changed")
    body = body_of(message)
    assert "every other session of your account was signed out" in body
    assert "https://portfolio.example.org/account/forgotten-password" in body
    assert NEW_PASSWORD not in body and factories.PASSWORD not in body


def test_the_new_password_signs_in_and_the_old_one_does_not(client, auth, maya):
    auth.login_as(maya)
    assert change(client, factories.PASSWORD, NEW_PASSWORD).status_code == 303
    client.post("/auth/sign-out", data={"csrf_token": auth.token("/")})

    assert post_sign_in(client, "maya@example.org", factories.PASSWORD).status_code == 422
    assert post_sign_in(client, "maya@example.org", NEW_PASSWORD).status_code == 303


def test_a_wrong_current_password_is_shown_next_to_it_and_counted(client, auth, maya):
    auth.login_as(maya)

    response = change(client, "not my password at all", NEW_PASSWORD)

    assert response.status_code == 422
    assert field_error(response.text, "current_password") == service.WRONG_CURRENT
    assert error_summary(response.text) == [("#current_password", service.WRONG_CURRENT)]
    assert "<title>Error: Change your password" in response.text
    assert reload(maya).password_hash == factories.PASSWORD_HASH
    [attempt] = db.session.scalars(select(SignInAttempt)).all()
    assert (attempt.email, attempt.address, attempt.succeeded) == ("maya@example.org", "127.0.0.1", False)
    assert audit_rows("password.changed") == []


def test_wrong_current_passwords_count_towards_the_sign_in_throttle(app, client, auth, maya):
    app.config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"] = 2
    auth.login_as(maya)
    for _ in range(2):
        assert change(client, "not my password at all", NEW_PASSWORD).status_code == 422

    # Now even the right current password is refused, and so is signing in from here.
    response = change(client, factories.PASSWORD, NEW_PASSWORD)
    assert response.status_code == 422
    assert field_error(response.text, "current_password") == (
        "Too many failed attempts with a wrong password. Wait 15 minutes, then try again"
    )
    assert reload(maya).password_hash == factories.PASSWORD_HASH
    elsewhere = app.test_client()
    refused = post_sign_in(elsewhere, "maya@example.org")
    assert refused.status_code == 422 and TOO_MANY in field_error(refused.text, "email")
    assert db.session.scalar(select(func.count(SignInAttempt.id)).where(SignInAttempt.succeeded.is_(False))) == 2


@pytest.mark.parametrize(
    "new, message",
    [
        ("short", "Password must be 12 characters or more"),
        (
            "password1234",
            "This is a very common password. Choose a less common password, for example three or four random words",
        ),
        ("Maya Manager 2026!!", "Password must not contain your name or email address"),
        ("maya@example.org+42", "Password must not contain your name or email address"),
        (factories.PASSWORD, service.SAME_PASSWORD),
    ],
)
def test_a_new_password_the_policy_refuses_says_why(client, auth, maya, new, message):
    auth.login_as(maya)
    version = maya.session_version

    response = change(client, factories.PASSWORD, new)

    assert response.status_code == 422
    assert field_error(response.text, "new_password") == message
    assert error_summary(response.text) == [("#new_password", message)]
    assert reload(maya).password_hash == factories.PASSWORD_HASH
    assert reload(maya).session_version == version


def test_the_policy_is_checked_by_the_service_too(app, maya):
    with pytest.raises(FieldError) as refused:
        service.change_password(maya, factories.PASSWORD, "password1234", "127.0.0.1")
    assert refused.value.field == "new_password"
    assert db.session.scalar(select(func.count(SignInAttempt.id))) == 0  # refused before any check of the current one


def test_missing_and_mismatched_fields(client, auth, maya):
    auth.login_as(maya)

    empty = change(client, "", "", "")
    mismatch = change(client, factories.PASSWORD, NEW_PASSWORD, OTHER_NEW_PASSWORD)

    assert empty.status_code == 422
    assert error_summary(empty.text) == [
        ("#current_password", "Enter your current password"),
        ("#new_password", "Enter a new password"),
        ("#confirm_password", "Enter your new password again"),
    ]
    assert mismatch.status_code == 422
    assert field_error(mismatch.text, "confirm_password") == "The passwords do not match"
    assert reload(maya).password_hash == factories.PASSWORD_HASH
    assert db.session.scalar(select(func.count(SignInAttempt.id))) == 0


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_a_weak_new_password_is_said_with_a_mismatched_confirmation(client, auth, maya, headers):
    """Found by a new user: "short" then "short2" said only that they did not match; fixing that, she was told the
    password was too short. Every problem in one answer (the current password is checked once the rest is right)."""
    auth.login_as(maya)

    response = change(client, "wrong", "short", "short2", headers=headers)

    assert response.status_code == 422
    assert error_summary(response.text) == [
        ("#new_password", "Password must be 12 characters or more"),
        ("#confirm_password", "The passwords do not match"),
    ]
    same = change(client, factories.PASSWORD, factories.PASSWORD, "something else", headers=headers)
    assert field_error(same.text, "new_password") == service.SAME_PASSWORD
    assert reload(maya).password_hash == factories.PASSWORD_HASH
    assert db.session.scalar(select(func.count(SignInAttempt.id))) == 0  # the current one was not tried


def test_a_boosted_submission_gets_the_whole_page_with_its_errors(client, auth, maya):
    """The form is boosted by htmx: a 422 must come back as a page htmx swaps in (4xx swap per htmx-config)."""
    auth.login_as(maya)

    response = change(client, factories.PASSWORD, "short", headers={"HX-Request": "true", "HX-Boosted": "true"})

    assert response.status_code == 422
    assert "<html" in response.text and 'class="nhsuk-error-summary"' in response.text
    assert field_error(response.text, "new_password") == "Password must be 12 characters or more"
    assert "HX-Request" in response.headers["Vary"]


def test_changing_the_password_cancels_outstanding_reset_links(client, auth, maya):
    token = a_link_for(maya)
    auth.login_as(maya)

    assert change(client, factories.PASSWORD, NEW_PASSWORD).status_code == 303

    [reset] = resets(maya)
    assert reset.cancelled_at is not None and reset.used_at is None
    assert UNUSABLE in client.get(f"/account/reset-password/{token}").text


# --- forgotten password: asking for a link --------------------------------------------------


def test_the_sign_in_page_links_to_the_forgotten_password_page(client):
    page = client.get("/auth/sign-in")

    assert 'href="/account/forgotten-password">Forgotten your password?</a>' in page.text
    form = client.get("/account/forgotten-password")
    assert form.status_code == 200 and "Reset your password" in main_text(form.text)


def test_the_answer_is_the_same_for_known_unknown_and_deactivated_addresses(app, maya, smtp):
    make_user(email="gone@example.org", active=False)
    pages = {}
    for email in ("Maya@Example.org", "nobody@example.org", "gone@example.org"):
        client = app.test_client()
        response = ask_for_link(client, email)
        assert response.status_code == 303 and response.location == "/account/forgotten-password/sent"
        pages[email] = main_text(client.get(response.location).text)

    assert len(set(pages.values())) == 1
    assert NEUTRAL in pages["nobody@example.org"]
    # Every request is recorded (for the throttle); only the active account got a link.
    requested = db.session.scalars(select(PasswordResetRequest.email).order_by(PasswordResetRequest.id)).all()
    assert requested == ["maya@example.org", "nobody@example.org", "gone@example.org"]
    [reset] = resets()
    assert reset.user_id == maya.id
    wait_for_mail(smtp, 1)
    time.sleep(0.2)
    assert [m["To"] for m in smtp.messages] == ["maya@example.org"]


def test_the_email_carries_a_single_use_link_valid_for_30_minutes(app, client, maya, smtp):
    before = datetime.now(UTC)
    ask_for_link(client, "maya@example.org")
    wait_for_mail(smtp, 1)

    [message] = smtp.messages
    assert message["Subject"] == "Reset your password"
    assert "open this link within 30 minutes" in body_of(message) and "It works once" in body_of(message)
    path = link_in(message)
    token = path.rsplit("/", 1)[1]
    [reset] = resets(maya)
    assert reset.token_digest == digest(token) and token not in reset.token_digest  # only the digest is kept
    lifetime = service._utc(reset.expires_at) - before
    assert timedelta(minutes=29) < lifetime <= timedelta(minutes=30, seconds=5)


def test_the_answer_does_not_wait_for_the_mail_server(app, client, maya, task_queue):
    """The email is queued, and sent by the consumer: the time taken does not reveal that the account exists."""
    with mail_server(app, Collector()) as handler:
        token = csrf_token(client.get("/account/forgotten-password").text)
        response = client.post("/account/forgotten-password", data={"csrf_token": token, "email": "maya@example.org"})
        assert response.status_code == 303
        assert handler.messages == []
        assert task_queue.pending() == 1

        task_queue.run_all()
        [message] = handler.messages
        assert message["To"] == "maya@example.org"
        assert task_queue.pending() == 0


def test_a_double_submission_sends_one_link(client, maya, smtp):
    ask_for_link(client, "maya@example.org")
    ask_for_link(client, "maya@example.org")

    assert len(resets(maya)) == 1
    wait_for_mail(smtp, 1)
    time.sleep(0.2)
    assert len(smtp.messages) == 1
    assert db.session.scalar(select(func.count(PasswordResetRequest.id))) == 2


def test_a_new_link_replaces_the_older_one(client, maya, smtp):
    ask_for_link(client, "maya@example.org")
    wait_for_mail(smtp, 1)
    first = link_in(smtp.messages[0])
    # Two minutes later (no longer a double submission), another request.
    db.session.execute(PasswordReset.__table__.update().values(created_at=datetime.now(UTC) - timedelta(minutes=2)))
    db.session.commit()
    ask_for_link(client, "maya@example.org")
    wait_for_mail(smtp, 2)
    second = link_in(smtp.messages[1])

    old, new = resets(maya)
    assert old.cancelled_at is not None and new.cancelled_at is None
    stale = client.get(first)
    assert stale.status_code == 410 and UNUSABLE in main_text(stale.text)
    assert client.get(second).status_code == 200


def test_too_many_requests_for_one_email_wait_whether_or_not_it_has_an_account(app, maya):
    for email in ("maya@example.org", "nobody@example.org"):
        client = app.test_client()
        for _ in range(3):
            assert ask_for_link(client, email).status_code == 303
        response = ask_for_link(client, email)
        assert response.status_code == 422
        message = "Too many requests for a reset link. Wait 15 minutes, then try again"
        assert field_error(response.text, "email") == message
        assert error_summary(response.text) == [("#email", message)]
    assert db.session.scalar(select(func.count(PasswordResetRequest.id))) == 6  # refused ones are not recorded
    assert len(resets(maya)) == 1  # the double-submission rule kept it to one link


def test_too_many_requests_from_one_address(app, client, maya):
    app.config["PASSWORD_RESET_MAX_PER_ADDRESS"] = 2
    assert ask_for_link(client, "a@example.org", address="10.0.0.9").status_code == 303
    assert ask_for_link(client, "b@example.org", address="10.0.0.9").status_code == 303

    refused = ask_for_link(client, "maya@example.org", address="10.0.0.9")
    elsewhere = ask_for_link(client, "maya@example.org", address="10.0.0.10")

    assert refused.status_code == 422 and "Too many requests for a reset link" in field_error(refused.text, "email")
    assert elsewhere.status_code == 303
    [reset] = resets(maya)
    assert (
        db.session.scalar(select(func.count(PasswordResetRequest.id)).where(PasswordResetRequest.address == "10.0.0.9"))
        == 2
    )


def test_time_outside_the_window_does_not_count(app, client, maya):
    old = datetime.now(UTC) - app.config["SIGN_IN_WINDOW"] - timedelta(minutes=1)
    db.session.add_all([PasswordResetRequest(email="maya@example.org", address="127.0.0.1", at=old) for _ in range(3)])
    db.session.commit()

    assert ask_for_link(client, "maya@example.org").status_code == 303
    assert len(resets(maya)) == 1


@pytest.mark.parametrize(
    "email, message",
    [
        ("", "Enter your email address"),
        ("maya at example", "Enter an email address in the correct format, like name@example.org"),
    ],
)
def test_a_missing_or_malformed_email_is_shown_next_to_the_field(client, maya, email, message):
    response = ask_for_link(client, email)

    assert response.status_code == 422
    assert field_error(response.text, "email") == message
    assert error_summary(response.text) == [("#email", message)]
    assert db.session.scalar(select(func.count(PasswordResetRequest.id))) == 0


# --- forgotten password: using the link --------------------------------------------------------


def test_the_link_sets_a_new_password_ends_every_session_and_asks_to_sign_in(app, client, maya, smtp):
    signed_in_elsewhere = app.test_client()
    AuthActions(signed_in_elsewhere).login_as(maya)
    version = maya.session_version
    ask_for_link(client, "maya@example.org")
    wait_for_mail(smtp, 1)
    path = link_in(smtp.messages[0])

    form = client.get(path)
    assert "Choose a new password" in main_text(form.text)
    response = set_password_by_link(client, path, NEW_PASSWORD)

    assert response.status_code == 303 and response.location == "/auth/sign-in"
    page = client.get("/auth/sign-in")
    assert "Your password has been changed. Sign in with your new password." in page.text
    assert not is_signed_in(signed_in_elsewhere)
    user = reload(maya)
    assert passwords.verify_password(user.password_hash, NEW_PASSWORD)
    assert user.session_version == version + 1
    [reset] = resets(maya)
    assert reset.used_at is not None
    [entry] = audit_rows("password.reset")
    assert entry.actor_id == maya.id and entry.details == {"reset_id": reset.id}
    wait_for_mail(smtp, 2)
    assert smtp.messages[1]["Subject"] == "Your password was changed"
    assert post_sign_in(client, "maya@example.org", NEW_PASSWORD).status_code == 303


def test_a_used_link_cannot_be_used_again(client, maya):
    token = a_link_for(maya)
    path = f"/account/reset-password/{token}"
    page = client.get(path)
    assert set_password_by_link(client, path, NEW_PASSWORD).status_code == 303

    again = client.post(
        path,
        data={
            "csrf_token": csrf_token(page.text),
            "password": OTHER_NEW_PASSWORD,
            "confirm_password": OTHER_NEW_PASSWORD,
        },
    )

    assert again.status_code == 410 and UNUSABLE in main_text(again.text)
    assert 'href="/account/forgotten-password">Ask for a new link</a>' in again.text
    assert passwords.verify_password(reload(maya).password_hash, NEW_PASSWORD)
    assert len(audit_rows("password.reset")) == 1


def test_an_expired_link_shows_a_clear_page(client, maya):
    token = a_link_for(maya, minutes_left=30)
    path = f"/account/reset-password/{token}"
    page = client.get(path)
    assert page.status_code == 200
    # Time passes: the row's expiry is now behind us.
    db.session.execute(PasswordReset.__table__.update().values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    db.session.commit()

    shown = client.get(path)
    posted = client.post(
        path, data={"csrf_token": csrf_token(page.text), "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    )

    for response in (shown, posted):
        assert response.status_code == 410
        assert "A link to reset your password works once, for 30 minutes" in main_text(response.text)
    assert reload(maya).password_hash == factories.PASSWORD_HASH
    assert resets(maya)[0].used_at is None


def test_an_unknown_link_and_a_deactivated_account_show_the_same_page(client, maya):
    gone = make_user(email="gone@example.org")
    token = a_link_for(gone)
    gone.active = False
    db.session.commit()

    for path in ("/account/reset-password/not-a-real-token", f"/account/reset-password/{token}"):
        response = client.get(path)
        assert response.status_code == 410 and UNUSABLE in main_text(response.text)


def test_a_weak_or_mismatched_new_password_leaves_the_link_usable(client, maya):
    token = a_link_for(maya)
    path = f"/account/reset-password/{token}"

    weak = set_password_by_link(client, path, "password1234")
    mismatch = set_password_by_link(client, path, NEW_PASSWORD, OTHER_NEW_PASSWORD)
    empty = set_password_by_link(client, path, "", "")

    assert weak.status_code == 422
    assert field_error(weak.text, "password").startswith("This is a very common password")
    assert error_summary(weak.text)[0][0] == "#password"
    assert (
        mismatch.status_code == 422 and field_error(mismatch.text, "confirm_password") == "The passwords do not match"
    )
    weak_mismatch = set_password_by_link(client, path, "password1234", "password12345")
    assert weak_mismatch.status_code == 422 and [field for field, _ in error_summary(weak_mismatch.text)] == [
        "#password",
        "#confirm_password",
    ]
    assert field_error(weak_mismatch.text, "password").startswith("This is a very common password")
    assert empty.status_code == 422 and error_summary(empty.text) == [
        ("#password", "Enter a new password"),
        ("#confirm_password", "Enter your new password again"),
    ]
    assert resets(maya)[0].used_at is None
    assert reload(maya).password_hash == factories.PASSWORD_HASH
    assert set_password_by_link(client, path, NEW_PASSWORD).status_code == 303


def test_the_service_refuses_a_link_used_in_the_meantime(app, maya):
    token = a_link_for(maya)
    service.reset_password(token, NEW_PASSWORD)

    with pytest.raises(service.ResetLinkUnusable):
        service.reset_password(token, OTHER_NEW_PASSWORD)
    assert passwords.verify_password(reload(maya).password_hash, NEW_PASSWORD)


def test_changing_the_password_renews_this_devices_remember_me_cookie_only(app, client, maya):
    assert post_sign_in(client, "maya@example.org", remember=True).status_code == 303
    old_cookie = client.get_cookie("remember_token").value

    assert change(client, factories.PASSWORD, NEW_PASSWORD).status_code == 303

    new_cookie = client.get_cookie("remember_token").value
    assert new_cookie != old_cookie
    for cookie, signed_in in ((old_cookie, False), (new_cookie, True)):
        browser = app.test_client()  # no session: only the remember-me cookie speaks for it
        browser.set_cookie("remember_token", cookie)
        assert is_signed_in(browser) is signed_in


def test_the_data_export_lists_reset_links_without_their_digests(client, auth, frameworks):
    import io
    import json
    import zipfile

    worker = make_user(email="wendy@example.org", tier=factories.tier("link-worker", "link-worker"))
    other = make_user(email="other@example.org", tier=factories.tier("link-worker", "link-worker"))
    a_link_for(worker)
    a_link_for(other)
    auth.login_as(worker)

    archive = built_document(client, auth, "/progress/export.zip")

    text = zipfile.ZipFile(io.BytesIO(archive)).read("portfolio.json").decode()
    [reset] = json.loads(text)["password_resets"]  # only the worker's own
    assert set(reset) == {"created_at", "expires_at", "used_at", "cancelled_at"}
    assert reset["used_at"] is None and reset["cancelled_at"] is None
    [mine] = resets(worker)
    assert mine.token_digest not in text


@pytest.mark.parametrize("environment", ["development", "production"])
def test_without_smtp_only_development_writes_the_reset_link_to_the_log(app, client, maya, caplog, environment):
    """`make run` has no mail server: in development the email is logged, so that a reset can be tried; anywhere
    else the link never reaches a log (it is as good as the password)."""
    app.config["PORTFOLIO_ENV"] = environment
    with caplog.at_level(logging.WARNING, logger="portfolio.account.service"):
        ask_for_link(client, "maya@example.org")
    [reset] = resets(maya)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "portfolio.account.service")
    links = re.findall(r"http\S+/account/reset-password/(\S+)", logged)
    if environment == "development":
        assert "the email to maya@example.org" in logged and len(links) == 1
        assert digest(links[0]) == reset.token_digest  # the link that works
        assert (
            set_password_by_link(
                client, urlsplit(re.search(r"http\S+", logged).group(0)).path, NEW_PASSWORD
            ).status_code
            == 303
        )
    else:
        assert links == [] and "no SMTP server is configured to send it" in logged
