"""Signing in and out: credentials, throttling, session identity, timeouts, CSRF, rehashing.

Every test asserts what the person sees (the message next to the field in the
NHS.UK ``nhsuk-error-message`` markup, the ``nhsuk-error-summary``) and what the
database holds afterwards.
"""

from __future__ import annotations

import re
import sys
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from argon2 import PasswordHasher
from itsdangerous.timed import TimestampSigner
from sqlalchemy import func, select

from portfolio.auth import sessions as sessions_module
from portfolio.extensions import db
from portfolio.models import Role, SignInAttempt, User
from tests.conftest import post_sign_in
from tests.pages import TOO_MANY, error_summary, field_error, is_signed_in, reload

from . import factories
from .conftest import AuthActions, csrf_token
from .factories import make_user

WRONG_DETAILS = "Enter a correct email address and password"
OTHER_ADDRESS = "10.0.0.2"


# --- helpers ---------------------------------------------------------------


def attempts(**match) -> list[SignInAttempt]:
    db.session.expire_all()
    query = select(SignInAttempt).order_by(SignInAttempt.id)
    for column, value in match.items():
        query = query.where(getattr(SignInAttempt, column) == value)
    return list(db.session.scalars(query))


@pytest.fixture
def maya(app):
    return make_user(Role.MANAGER, email="maya@example.org", name="Maya Manager")


# --- signing in ------------------------------------------------------------


def test_sign_in_sends_you_home_and_greets_you(client, maya):
    response = post_sign_in(client, "maya@example.org")

    assert response.status_code == 303
    assert urlsplit(response.location).path == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "Hello, Maya Manager" in home.text
    [attempt] = attempts()
    assert attempt.succeeded is True
    assert attempt.email == "maya@example.org"
    assert reload(maya).last_signed_in_at is not None


def test_each_session_loads_its_own_person_with_the_statement_built_once(app, maya):
    # The user loader's statement is built once per process and bound per request: two people signed in
    # side by side must each see themselves, in whichever order their requests come.
    wren = make_user(Role.WORKER, email="wren@example.org", name="Wren Worker")
    maya_client, wren_client = app.test_client(), app.test_client()
    AuthActions(maya_client).login_as(maya)
    AuthActions(wren_client).login_as(wren)

    for client, name, other in [(maya_client, "Maya Manager", "Wren Worker"), (wren_client, "Wren Worker", "Maya")]:
        page = client.get("/account/")
        assert page.status_code == 200
        assert name in page.text
        assert other not in page.text
    assert "Hello, Maya Manager" in maya_client.get("/").text
    assert sessions_module._signed_in_user_query(True) is sessions_module._signed_in_user_query(True)


def test_email_is_case_insensitive_and_trimmed(client, maya):
    response = post_sign_in(client, "  Maya@Example.ORG  ")

    assert response.status_code == 303
    assert "Hello, Maya Manager" in client.get("/").text
    [attempt] = attempts()
    assert attempt.email == "maya@example.org"


def test_next_is_honoured_for_a_local_path(client, maya):
    response = post_sign_in(client, "maya@example.org", next_url="/frameworks/")

    assert response.status_code == 303
    assert response.location == "/frameworks/"
    assert client.get("/frameworks/").status_code == 200


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example",
        "/\\evil",
        "/\\/evil.example",
        "https:/evil.example",
        "javascript:alert(1)",
    ],
)
def test_next_to_another_site_sends_you_home(client, maya, target):
    response = post_sign_in(client, "maya@example.org", next_url=target)

    assert response.status_code == 303
    location = urlsplit(response.location)
    assert not location.netloc
    assert location.path == "/"
    assert "evil" not in response.location


def test_signed_in_user_visiting_sign_in_goes_home(client, maya):
    post_sign_in(client, "maya@example.org")

    response = client.get("/auth/sign-in")

    assert response.status_code == 302
    assert urlsplit(response.location).path == "/"


@pytest.mark.parametrize("case", ["wrong password", "unknown email"])
def test_wrong_details_give_one_message_next_to_the_email(client, maya, case):
    email, password = (
        ("maya@example.org", "not the right password")
        if case == "wrong password"
        else ("nobody@example.org", factories.PASSWORD)
    )

    response = post_sign_in(client, email, password)

    assert response.status_code == 422
    assert field_error(response.text, "email") == WRONG_DETAILS
    assert field_error(response.text, "password") is None
    assert error_summary(response.text) == [("#email", WRONG_DETAILS)]
    assert "<title>Error: Sign in" in response.text
    # What was typed stays in the email field; the password never comes back.
    assert f'value="{email}"' in response.text
    assert password not in response.text
    [attempt] = attempts()
    assert attempt.succeeded is False
    assert attempt.email == email
    assert not is_signed_in(client)


def test_wrong_password_and_unknown_email_pages_are_the_same(client, maya):
    def main(page: str) -> str:
        body = page[page.index("<main") : page.index("</main>")]
        body = re.sub(r'name="csrf_token" type="hidden" value="[^"]+"', "", body)
        return body.replace("maya@example.org", "EMAIL").replace("nobody@example.org", "EMAIL")

    wrong_password = post_sign_in(client, "maya@example.org", "not the right password")
    unknown_email = post_sign_in(client, "nobody@example.org", "not the right password")

    assert wrong_password.status_code == unknown_email.status_code == 422
    assert main(wrong_password.text) == main(unknown_email.text)


def test_empty_fields_are_named(client, maya):
    response = post_sign_in(client, "", "")

    assert response.status_code == 422
    assert field_error(response.text, "email") == "Enter your email address"
    assert field_error(response.text, "password") == "Enter your password"
    assert error_summary(response.text) == [
        ("#email", "Enter your email address"),
        ("#password", "Enter your password"),
    ]
    assert attempts() == []  # nothing was checked, nothing to throttle


def test_a_disabled_user_cannot_sign_in(client, app):
    make_user(email="gone@example.org", active=False)

    response = post_sign_in(client, "gone@example.org")

    assert response.status_code == 422
    assert field_error(response.text, "email") == WRONG_DETAILS
    [attempt] = attempts()
    assert attempt.succeeded is False
    assert not is_signed_in(client)


def test_disabling_a_user_ends_their_session(client, maya):
    post_sign_in(client, "maya@example.org")
    assert is_signed_in(client)

    db.session.execute(User.__table__.update().where(User.id == maya.id).values(active=False))
    db.session.commit()

    assert not is_signed_in(client)


# --- throttling ------------------------------------------------------------


def fail(client, email: str, times: int, address: str | None = None) -> None:
    for _ in range(times):
        response = post_sign_in(client, email, "not the right password", address=address)
        assert response.status_code == 422
        assert field_error(response.text, "email") == WRONG_DETAILS


def test_too_many_failures_refuse_even_the_right_password(client, app, maya):
    limit = app.config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"]
    fail(client, "maya@example.org", limit)

    response = post_sign_in(client, "maya@example.org")

    assert response.status_code == 422
    message = field_error(response.text, "email")
    assert message is not None and message.startswith(TOO_MANY)
    minutes = int(app.config["SIGN_IN_WINDOW"].total_seconds() // 60)
    assert f"Wait {minutes} minutes" in message
    assert [text for _, text in error_summary(response.text)] == [message]
    assert not is_signed_in(client)
    assert len(attempts(succeeded=False)) == limit
    assert attempts(succeeded=True) == []


def test_changing_the_case_of_the_email_does_not_dodge_the_limit(client, app, maya):
    limit = app.config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"]
    for number in range(limit):
        variant = "maya@example.org" if number % 2 else " MAYA@example.org"
        post_sign_in(client, variant, "not the right password")

    response = post_sign_in(client, "Maya@Example.org")

    assert field_error(response.text, "email").startswith(TOO_MANY)


def test_the_real_user_elsewhere_is_not_locked_out(client, app, maya):
    limit = app.config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"]
    fail(client, "maya@example.org", limit)  # an attacker at 127.0.0.1

    response = post_sign_in(client, "maya@example.org", address=OTHER_ADDRESS)

    assert response.status_code == 303
    assert "Hello, Maya Manager" in client.get("/", environ_base={"REMOTE_ADDR": OTHER_ADDRESS}).text
    [success] = attempts(succeeded=True)
    assert success.address == OTHER_ADDRESS


def test_per_address_limit_blocks_every_account_from_that_address(client, app, maya):
    app.config["SIGN_IN_MAX_FAILURES_PER_ADDRESS"] = 3
    for number in range(3):
        fail(client, f"guess{number}@example.org", 1)

    blocked = post_sign_in(client, "maya@example.org")

    assert blocked.status_code == 422
    assert field_error(blocked.text, "email").startswith(TOO_MANY)
    assert attempts(succeeded=True) == []

    elsewhere = post_sign_in(client, "maya@example.org", address=OTHER_ADDRESS)
    assert elsewhere.status_code == 303


def test_failures_older_than_the_window_do_not_count(client, app, maya):
    limit = app.config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"]
    window = app.config["SIGN_IN_WINDOW"]
    now = datetime.now(UTC)
    db.session.add_all(
        SignInAttempt(
            email="maya@example.org", address="127.0.0.1", succeeded=False, at=now - window - timedelta(minutes=1)
        )
        for _ in range(limit)
    )
    db.session.commit()

    assert post_sign_in(client, "maya@example.org").status_code == 303


def test_failures_inside_the_window_do_count(client, app, maya):
    limit = app.config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"]
    window = app.config["SIGN_IN_WINDOW"]
    now = datetime.now(UTC)
    db.session.add_all(
        SignInAttempt(
            email="maya@example.org", address="127.0.0.1", succeeded=False, at=now - window + timedelta(minutes=1)
        )
        for _ in range(limit)
    )
    db.session.commit()

    response = post_sign_in(client, "maya@example.org")

    assert response.status_code == 422
    assert field_error(response.text, "email").startswith(TOO_MANY)


# --- session identity ------------------------------------------------------


def test_sign_in_starts_a_new_session(client, maya):
    client.get("/auth/sign-in")
    with client.session_transaction() as session:
        session["planted"] = "x"
        token_before = session.get("csrf_token")
    assert token_before

    assert post_sign_in(client, "maya@example.org").status_code == 303

    with client.session_transaction() as session:
        assert "planted" not in session
        assert session.get("csrf_token") != token_before
        assert session["_user_id"].split(":")[:2] == [str(maya.id), str(reload(maya).session_version)]


# --- signing out -----------------------------------------------------------


def test_sign_out_by_get_is_refused(client, maya):
    post_sign_in(client, "maya@example.org")

    response = client.get("/auth/sign-out")

    assert response.status_code == 405
    assert "This page cannot be opened again" in response.text
    assert is_signed_in(client)


def test_sign_out_needs_the_csrf_token(client, maya):
    post_sign_in(client, "maya@example.org")
    version = reload(maya).session_version

    response = client.post("/auth/sign-out")

    assert response.status_code == 400
    assert "Your form has expired" in response.text
    assert is_signed_in(client)
    assert reload(maya).session_version == version


def test_sign_out_ends_every_session_of_the_user(app, client, maya):
    post_sign_in(client, "maya@example.org")
    other_device = app.test_client()
    post_sign_in(other_device, "maya@example.org")
    assert is_signed_in(other_device)
    version = reload(maya).session_version

    response = AuthActions(client).sign_out()

    assert response.status_code == 303
    assert urlsplit(response.location).path == "/auth/sign-in"
    page = client.get(response.location)
    assert "You have signed out on every device." in page.text
    assert not is_signed_in(client)
    assert not is_signed_in(other_device)
    assert reload(maya).session_version == version + 1


def test_remember_me_keeps_you_signed_in_until_you_sign_out(app, client, maya):
    response = post_sign_in(client, "maya@example.org", remember=True)
    assert response.status_code == 303
    remember = client.get_cookie("remember_token")
    assert remember is not None
    assert remember.http_only
    assert remember.same_site == "Lax"

    # The session cookie is gone (idle timeout, browser closed): the remember-me cookie restores it.
    client.delete_cookie("session")
    assert is_signed_in(client)
    stolen_value = remember.value

    response = AuthActions(client).sign_out()

    assert response.status_code == 303
    cleared = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("remember_token=")]
    assert cleared, "the sign-out response does not clear the remember-me cookie"
    assert "Expires=Thu, 01 Jan 1970" in cleared[0] or "Max-Age=0" in cleared[0]
    assert client.get_cookie("remember_token") is None
    assert not is_signed_in(client)

    # A copy of the old remember-me cookie (another device, or stolen) no longer works.
    replay = app.test_client()
    replay.set_cookie("remember_token", stolen_value)
    assert not is_signed_in(replay)


# --- timeouts --------------------------------------------------------------


def _cookie_header(response, name: str) -> str:
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{name}=")]
    return header


def test_idle_timeout_is_set_on_the_session_cookie(app, client, maya):
    response = post_sign_in(client, "maya@example.org")

    with client.session_transaction() as session:
        assert session.permanent
    cookie = client.get_cookie("session")
    assert cookie.expires is not None
    lifetime = app.config["PERMANENT_SESSION_LIFETIME"]
    expected = datetime.now(UTC) + lifetime
    assert abs((cookie.expires - expected).total_seconds()) < 60
    header = _cookie_header(response, "session")
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header


def _session_signed_ago(app, client, seconds_ago: int) -> str:
    """The client's session data in a cookie whose signature is ``seconds_ago`` old."""
    with client.session_transaction() as session:
        data = dict(session)
    serializer = app.session_interface.get_signing_serializer(app)
    original = TimestampSigner.get_timestamp
    TimestampSigner.get_timestamp = lambda self: int(time.time()) - seconds_ago
    try:
        return serializer.dumps(data)
    finally:
        TimestampSigner.get_timestamp = original


def test_an_idle_session_is_refused_by_the_server(app, client, maya):
    """The cookie's own expiry is up to the browser: the server checks the signature's age too."""
    post_sign_in(client, "maya@example.org")
    idle = int(app.config["PERMANENT_SESSION_LIFETIME"].total_seconds())

    client.set_cookie("session", _session_signed_ago(app, client, idle - 60))
    assert is_signed_in(client)

    client.set_cookie("session", _session_signed_ago(app, client, idle + 60))
    assert not is_signed_in(client)


def _session_cookies_set(response) -> list[str]:
    return [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]


def test_the_session_cookie_is_signed_again_once_a_minute_not_on_every_page(app, client, maya):
    """The idle timeout runs from the cookie's signature. Within a minute of it a page leaves the cookie as it is;
    after a minute a page signs it again, and the idle timeout starts over from then."""
    post_sign_in(client, "maya@example.org")
    client.get("/")  # shows (and so takes out of the session) what sign-in flashed
    serializer = app.session_interface.get_signing_serializer(app)
    signed_at = serializer.loads(client.get_cookie("session").value, return_timestamp=True)[1]

    response = client.get("/")
    assert response.status_code == 200
    assert _session_cookies_set(response) == []
    assert serializer.loads(client.get_cookie("session").value, return_timestamp=True)[1] == signed_at

    client.set_cookie("session", _session_signed_ago(app, client, 61))
    response = client.get("/")
    assert response.status_code == 200
    [header] = _session_cookies_set(response)
    assert "HttpOnly" in header and "SameSite=Lax" in header
    data, signed_at = serializer.loads(client.get_cookie("session").value, return_timestamp=True)
    assert abs((datetime.now(UTC) - signed_at).total_seconds()) < 5
    assert data["_user_id"].startswith(f"{maya.id}:")
    expected_expiry = datetime.now(UTC) + app.config["PERMANENT_SESSION_LIFETIME"]
    assert abs((client.get_cookie("session").expires - expected_expiry).total_seconds()) < 60
    # Signed again, the session lasts a whole idle lifetime from now: a page just before it ends still works.
    assert is_signed_in(client)


def test_a_short_idle_timeout_is_signed_again_within_a_tenth_of_it(app, client, maya, monkeypatch):
    """With a two-minute idle timeout the cookie is signed again after 12 seconds, not a minute: someone who
    keeps working is never signed out (a minute's step would lose half of it)."""
    monkeypatch.setattr(app, "permanent_session_lifetime", timedelta(minutes=2))
    post_sign_in(client, "maya@example.org")
    client.get("/")
    # 10 seconds, not 11: a signature's time is whole seconds, so "11 seconds ago" may already be 11.9 and the
    # request itself crossed 12 on a busy machine (the test failed once in a full run).
    client.set_cookie("session", _session_signed_ago(app, client, 10))
    assert _session_cookies_set(client.get("/")) == []
    client.set_cookie("session", _session_signed_ago(app, client, 13))
    response = client.get("/")
    assert response.status_code == 200 and len(_session_cookies_set(response)) == 1


def test_without_refreshing_the_session_is_saved_only_when_it_changes(app, client, maya, monkeypatch):
    """SESSION_REFRESH_EACH_REQUEST off (Flask's setting): an unchanged session is never signed again."""
    monkeypatch.setitem(app.config, "SESSION_REFRESH_EACH_REQUEST", False)
    post_sign_in(client, "maya@example.org")
    client.get("/")
    client.set_cookie("session", _session_signed_ago(app, client, 600))
    response = client.get("/")
    assert response.status_code == 200 and _session_cookies_set(response) == []


def test_a_changed_session_is_saved_at_once_whatever_its_age(app, client, maya):
    """Signing out changes the session within the minute: its cookie is replaced straight away."""
    post_sign_in(client, "maya@example.org")
    page = client.get("/")
    response = client.post("/auth/sign-out", data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.status_code in (302, 303)
    assert _session_cookies_set(response) != []
    assert not is_signed_in(client)


def signed_in_long_ago(client, user, absolute: timedelta) -> None:
    """Make the session's sign-in time older than the absolute lifetime."""
    started = int((datetime.now(UTC) - absolute - timedelta(minutes=1)).timestamp())
    with client.session_transaction() as session:
        version = session["_user_id"].split(":")[1]
        session["_user_id"] = f"{user.id}:{version}:{started}"


def test_absolute_timeout_signs_you_out(app, client, maya):
    post_sign_in(client, "maya@example.org")
    assert is_signed_in(client)
    absolute = app.config["SESSION_ABSOLUTE_LIFETIME"]

    signed_in_long_ago(client, maya, absolute)

    response = client.get("/")
    assert response.status_code == 302
    assert urlsplit(response.location).path == "/auth/sign-in"
    assert not is_signed_in(client)


def test_absolute_timeout_also_ends_remember_me(app, client, maya, monkeypatch):
    post_sign_in(client, "maya@example.org", remember=True)
    absolute = app.config["SESSION_ABSOLUTE_LIFETIME"]
    later = sessions_module.now() + int(absolute.total_seconds()) + 60
    monkeypatch.setattr(sessions_module, "now", lambda: later)

    response = client.get("/")

    assert response.status_code == 302
    assert client.get_cookie("remember_token") is None
    client.delete_cookie("session")
    assert not is_signed_in(client)


def test_remember_me_does_not_stretch_the_absolute_lifetime(app, client, maya, monkeypatch):
    """ASVS 7.3.2: re-authentication is required once SESSION_ABSOLUTE_LIFETIME has passed.

    A person signs in with "keep me signed in", goes idle, and comes back
    9 hours later: the remember-me cookie (10 hours) restores the session.
    Two hours after that they have been signed in for 11 hours on one
    password entry, which is more than the 10-hour absolute lifetime.
    """
    absolute = app.config["SESSION_ABSOLUTE_LIFETIME"]
    assert app.config["REMEMBER_COOKIE_DURATION"] <= absolute

    def clock(offset: timedelta):
        """Move the app's clock (every portfolio module's ``datetime.now``) by ``offset``."""

        class Clock(datetime):
            @classmethod
            def now(cls, tz=None):
                return datetime.now(tz) + offset

        for name, module in list(sys.modules.items()):
            if name.split(".")[0] == "portfolio" and getattr(module, "datetime", None) is datetime:
                monkeypatch.setattr(module, "datetime", Clock)
        assert sessions_module.datetime is Clock

    # Signed in with the password at T0, which the app's clock puts 9 hours ago.
    clock(-(absolute - timedelta(hours=1)))
    assert post_sign_in(client, "maya@example.org", remember=True).status_code == 303

    # T0 + 9h: the session cookie went idle; the remember-me cookie (valid until T0 + 10h) restores it.
    monkeypatch.undo()
    client.delete_cookie("session")
    assert is_signed_in(client)

    # T0 + 11h: more than the absolute lifetime since the password was typed.
    clock(timedelta(hours=2))
    assert not is_signed_in(client), "signed in for longer than SESSION_ABSOLUTE_LIFETIME without re-authenticating"


# --- CSRF ------------------------------------------------------------------


def test_sign_in_without_a_csrf_token_is_refused(client, maya):
    response = client.post("/auth/sign-in", data={"email": "maya@example.org", "password": factories.PASSWORD})

    assert response.status_code == 400
    assert "Your form has expired" in response.text
    assert attempts() == []
    assert not is_signed_in(client)


def test_sign_in_with_a_wrong_csrf_token_is_refused(client, maya):
    client.get("/auth/sign-in")
    response = client.post(
        "/auth/sign-in",
        data={"email": "maya@example.org", "password": factories.PASSWORD},
        headers={"X-CSRFToken": "not-a-token"},
    )

    assert response.status_code == 400
    assert "Your form has expired" in response.text
    assert not is_signed_in(client)


def test_csrf_token_in_the_htmx_header_is_accepted(client, auth, maya):
    # From one page: the signed token carries a timestamp, so two requests
    # a second apart give different (equally valid) strings.
    page = client.get("/auth/sign-in").text
    token = csrf_token(page)
    meta = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert meta and meta.group(1) == token

    response = client.post(
        "/auth/sign-in",
        data={"email": "maya@example.org", "password": factories.PASSWORD},
        headers={"X-CSRFToken": token, "HX-Request": "true", "HX-Boosted": "true"},
    )

    assert response.status_code == 303
    assert is_signed_in(client)


# --- password hashing ------------------------------------------------------


def test_a_weaker_hash_is_replaced_at_sign_in(client, maya):
    weak = PasswordHasher(time_cost=1, memory_cost=8192).hash(factories.PASSWORD)
    maya.password_hash = weak
    db.session.commit()

    assert post_sign_in(client, "maya@example.org").status_code == 303

    new_hash = reload(maya).password_hash
    current = PasswordHasher()
    assert new_hash != weak
    assert new_hash.startswith("$argon2id$")
    assert not current.check_needs_rehash(new_hash)
    assert current.verify(new_hash, factories.PASSWORD)


def test_a_wrong_password_does_not_rehash(client, maya):
    weak = PasswordHasher(time_cost=1, memory_cost=8192).hash(factories.PASSWORD)
    maya.password_hash = weak
    db.session.commit()

    post_sign_in(client, "maya@example.org", "not the right password")

    assert reload(maya).password_hash == weak


# --- pages need sign-in ----------------------------------------------------


def test_home_sends_anonymous_users_to_sign_in(client, maya):
    response = client.get("/")

    assert response.status_code == 302
    location = urlsplit(response.location)
    assert location.path == "/auth/sign-in"
    # Home is where sign-in goes anyway, so a `next` is optional; if there is one it is "/".
    assert parse_qs(location.query).get("next", ["/"]) == ["/"]


def test_frameworks_send_anonymous_users_to_sign_in_and_back(client, maya):
    response = client.get("/frameworks/")

    assert response.status_code == 302
    location = urlsplit(response.location)
    assert location.path == "/auth/sign-in"
    assert parse_qs(location.query)["next"] == ["/frameworks/"]

    page = client.get(response.location)
    assert page.status_code == 200
    assert "<h1>Sign in</h1>" in page.text
    signed_in = client.post(
        response.location,
        data={"csrf_token": csrf_token(page.text), "email": "maya@example.org", "password": factories.PASSWORD},
    )
    assert signed_in.status_code == 303
    assert signed_in.location == "/frameworks/"


def test_sign_in_attempt_count_is_one_row_per_try(client, maya):
    post_sign_in(client, "maya@example.org", "not the right password")
    post_sign_in(client, "maya@example.org")

    assert db.session.scalar(select(func.count(SignInAttempt.id))) == 2
    assert [a.succeeded for a in attempts()] == [False, True]


# --- behind a reverse proxy ------------------------------------------------


def test_behind_a_proxy_throttling_sees_the_client_address(database_url, tmp_path):
    """With PORTFOLIO_PROXY_COUNT=1 the proxy's X-Forwarded-For is the address that is throttled."""
    from portfolio import create_app
    from tests.conftest import IsolatedClient

    proxied = create_app(
        {
            "PORTFOLIO_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "k",
            "PROXY_COUNT": 1,
            "UPLOAD_FOLDER": str(tmp_path),
        }
    )
    proxied.test_client_class = IsolatedClient
    with proxied.app_context():
        try:
            client = proxied.test_client()
            page = client.get("/auth/sign-in")
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
            client.post(
                "/auth/sign-in",
                data={"csrf_token": token, "email": "nobody@example.org", "password": "wrong password here"},
                headers={"X-Forwarded-For": "203.0.113.7"},
                environ_base={"REMOTE_ADDR": "10.0.0.1"},
            )
            assert [a.address for a in db.session.scalars(select(SignInAttempt))] == ["203.0.113.7"]
        finally:
            db.session.execute(SignInAttempt.__table__.delete())
            db.session.commit()
            db.session.remove()
            db.engine.dispose()


def test_without_a_proxy_a_forged_forwarded_address_is_ignored(client, auth):
    """By default nobody is trusted to say where a request came from."""
    page = client.get("/auth/sign-in")
    client.post(
        "/auth/sign-in",
        data={
            "csrf_token": auth.token("/auth/sign-in"),
            "email": "nobody@example.org",
            "password": "wrong password here",
        },
        headers={"X-Forwarded-For": "203.0.113.7"},
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    page.close()
    assert [a.address for a in attempts()] == ["10.0.0.1"]
