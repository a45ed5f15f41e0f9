"""Second factors through the pages: the sign-in second step, the gate, the security section, a manager's reset."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pyotp
import pytest
from sqlalchemy import select

from portfolio.extensions import db
from portfolio.mfa import service
from portfolio.mfa.routes import SET_UP_ENDPOINTS
from portfolio.models import AuditEntry, MfaAttempt, Passkey, RecoveryCode, Role, TotpSecret
from portfolio.organisation import service as organisation
from tests.conftest import AuthActions, csrf_token
from tests.factories import PASSWORD, give_totp, make_passkey, make_user
from tests.pages import error_summary, field_error
from tests.soft_authenticator import SoftAuthenticator


@pytest.fixture
def required(app):
    app.config["MFA_REQUIRED_ROLES"] = frozenset({"supervisor", "manager"})


def now_code(secret: str) -> str:
    return pyotp.TOTP(secret).at(datetime.now(UTC))


def other_code(secret: str) -> str:
    return f"{(int(now_code(secret)) + 500_000) % 1_000_000:06d}"


def enter_code(client, code: str, **headers):
    page = client.get("/auth/second-step")
    return client.post("/auth/second-step", data={"csrf_token": csrf_token(page.text), "code": code}, headers=headers)


def inline_error(html: str, field_id: str) -> str:
    message = field_error(html, field_id)
    assert message is not None, f"no inline error for {field_id}"
    return message


# --- The second step of signing in -------------------------------------------


def test_a_correct_password_is_only_the_first_step(client, auth):
    user = make_user(email="two@example.org", name="Tess Two")
    secret = give_totp(user)

    response = auth.sign_in("two@example.org")

    assert response.status_code == 303 and response.headers["Location"] == "/auth/second-step"
    with client.session_transaction() as session:
        assert "_user_id" not in session and session["mfa_pending"]["user"] == user.id
    page = client.get("/auth/second-step")
    assert page.status_code == 200
    assert "<h1>Enter your code</h1>" in page.text and "Open your authenticator app" in page.text

    done = enter_code(client, now_code(secret))

    assert done.status_code == 303 and done.headers["Location"] == "/"
    with client.session_transaction() as session:
        assert "mfa_pending" not in session and session["_user_id"].startswith(f"{user.id}:")
    assert "Hello, Tess Two" in client.get("/").text
    assert db.session.scalars(select(MfaAttempt.succeeded)).all() == [True]


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/frameworks/",
        "/account/security",
        "/account/security/totp",
        "/notifications/",
        "/portfolio/",
        "/mfa/reset/1",
    ],
)
def test_the_pending_state_reaches_no_page(client, auth, path):
    user = make_user(Role.WORKER, Role.MANAGER, email="two@example.org")
    give_totp(user)
    auth.sign_in("two@example.org")

    response = client.get(path)

    assert response.status_code == 302 and response.headers["Location"].startswith("/auth/sign-in")
    with client.session_transaction() as session:
        assert "_user_id" not in session


def test_a_wrong_code_is_shown_next_to_the_field(client, auth):
    user = make_user(email="two@example.org")
    secret = give_totp(user)
    auth.sign_in("two@example.org")

    response = enter_code(client, other_code(secret))

    assert response.status_code == 422
    message = inline_error(response.text, "code")
    assert message.startswith("The code is not correct, or it has been used already")
    assert error_summary(response.text) == [("#code", message)]
    assert "Hello" not in client.get("/").text
    assert db.session.scalars(select(MfaAttempt.succeeded)).all() == [False]

    empty = enter_code(client, "")
    assert empty.status_code == 422
    assert inline_error(empty.text, "code") == "Enter the code from your authenticator app, or a recovery code"


def test_a_boosted_wrong_code_gets_the_whole_page(client, auth):
    secret = give_totp(make_user(email="two@example.org"))
    auth.sign_in("two@example.org")

    response = enter_code(client, other_code(secret), **{"HX-Request": "true", "HX-Boosted": "true"})

    assert response.status_code == 422 and "<html" in response.text and "There is a problem" in response.text


def test_a_recovery_code_signs_in_once(client, auth, app):
    user = make_user(email="two@example.org", name="Tess Two")
    give_totp(user)
    codes = service.regenerate_recovery_codes(user)

    auth.sign_in("two@example.org")
    assert enter_code(client, codes[0]).status_code == 303
    assert "Hello, Tess Two" in client.get("/").text
    auth.sign_out()

    auth.sign_in("two@example.org")
    again = enter_code(client, codes[0])
    assert again.status_code == 422 and "used already" in again.text
    assert db.session.scalar(select(db.func.count(RecoveryCode.id)).where(RecoveryCode.used_at.is_(None))) == 9


def test_the_second_step_keeps_next_and_remember(client, auth):
    secret = give_totp(make_user(email="two@example.org"))
    page = client.get("/auth/sign-in")
    client.post(
        "/auth/sign-in?next=/frameworks/",
        data={"csrf_token": csrf_token(page.text), "email": "two@example.org", "password": PASSWORD, "remember": "y"},
    )

    response = enter_code(client, now_code(secret))

    assert response.headers["Location"] == "/frameworks/"
    assert any(header.startswith("remember_token=") for header in response.headers.getlist("Set-Cookie"))


def test_the_second_step_expires(client, auth, app):
    secret = give_totp(make_user(email="two@example.org"))
    auth.sign_in("two@example.org")
    with client.session_transaction() as session:
        state = session["mfa_pending"]
        state["at"] -= 301
        session["mfa_pending"] = state

    response = client.get("/auth/second-step")
    assert response.status_code == 302 and response.headers["Location"] == "/auth/sign-in"
    assert "Your sign-in has expired. Sign in again." in client.get("/auth/sign-in").text
    page = client.get("/auth/sign-in")
    late = client.post("/auth/second-step", data={"csrf_token": csrf_token(page.text), "code": now_code(secret)})
    assert late.status_code == 303 and late.headers["Location"] == "/auth/sign-in"
    assert db.session.scalar(select(db.func.count(MfaAttempt.id))) == 0


def test_too_many_wrong_codes_show_a_pause(client, auth, app):
    app.config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"] = 2
    secret = give_totp(make_user(email="two@example.org"))
    auth.sign_in("two@example.org")
    enter_code(client, other_code(secret))
    enter_code(client, other_code(secret))

    response = enter_code(client, now_code(secret))

    assert response.status_code == 422
    assert inline_error(response.text, "code") == "Too many wrong codes. Wait 15 minutes, then try again"


def test_without_a_second_factor_the_password_signs_in(client, auth):
    make_user(email="one@example.org", name="Olly One")
    response = auth.sign_in("one@example.org")
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert "Hello, Olly One" in client.get("/").text


# --- The gate ----------------------------------------------------------------


def test_a_manager_without_a_second_factor_is_held_at_set_up(app, client, auth, required):
    make_user(Role.MANAGER, email="boss@example.org")
    assert auth.sign_in("boss@example.org").status_code == 303

    home = client.get("/")
    assert home.status_code == 302 and home.headers["Location"] == "/account/security"
    page = client.get("/account/security")
    assert page.status_code == 200
    assert "Set up a second way to sign in" in page.text and "Your role needs a second way to sign in" in page.text
    post = client.post("/notifications/read", data={"csrf_token": csrf_token(page.text)})
    assert post.status_code == 303 and post.headers["Location"] == "/account/security"
    css = client.get("/static/css/portfolio.css")
    css.close()  # static files are streamed from open files
    assert css.status_code == 200 and css.mimetype == "text/css"


def test_the_gate_lets_through_only_set_up_pages(app, client, auth, required):
    manager = make_user(Role.MANAGER, Role.SUPERVISOR, Role.WORKER)
    auth.login_as(manager)
    checked = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments or rule.endpoint in SET_UP_ENDPOINTS:
            continue
        response = client.get(rule.rule)
        response.close()
        assert (response.status_code, response.headers.get("Location")) == (302, "/account/security"), rule.rule
        checked += 1
    assert checked >= 15
    assert client.get("/account/security").status_code == 200
    sign_out = client.post("/auth/sign-out", data={"csrf_token": auth.token("/account/security")})
    assert sign_out.status_code == 303 and sign_out.headers["Location"].startswith("/auth/sign-in")


def test_workers_are_not_held(app, client, auth, required):
    worker = make_user(Role.WORKER, name="Wendy")
    auth.login_as(worker)
    assert "Hello, Wendy" in client.get("/").text


def test_the_gate_reads_the_second_factor_with_the_user_not_in_a_query_of_its_own(
    client, auth, required, count_queries
):
    manager = make_user(Role.MANAGER, name="Maya Manager")
    give_totp(manager)
    auth.login_as(manager)
    with count_queries:
        assert client.get("/").status_code == 200
    reads = [s for s in count_queries.statements if "totp_secrets" in s]
    assert len(reads) == 1 and "FROM users" in reads[0], reads


def test_a_factor_removed_behind_the_gates_back_closes_it_on_the_next_request(client, auth, required):
    manager = make_user(Role.MANAGER, name="Maya Manager")
    give_totp(manager)
    auth.login_as(manager)
    assert client.get("/").status_code == 200
    db.session.execute(TotpSecret.__table__.delete().where(TotpSecret.user_id == manager.id))
    db.session.commit()
    assert client.get("/").headers["Location"] == "/account/security"


def test_setting_up_codes_opens_the_gate_and_shows_recovery_codes_once(app, client, auth, required):
    manager = make_user(Role.MANAGER, name="Maya Manager")
    auth.login_as(manager)

    start = client.post("/account/security/totp/start", data={"csrf_token": auth.token("/account/security")})
    assert start.status_code == 303 and start.headers["Location"] == "/account/security/totp"
    page = client.get("/account/security/totp")
    assert page.status_code == 200 and '<img class="totp-qr" src="/account/security/totp/qr.svg"' in page.text
    secret = (
        re.search(r'<code class="totp-secret" id="totp-secret">([A-Z2-7 ]+)</code>', page.text)
        .group(1)
        .replace(" ", "")
    )
    stored = db.session.scalar(select(TotpSecret).where(TotpSecret.user_id == manager.id))
    assert secret not in stored.secret_encrypted and stored.confirmed_at is None

    qr = client.get("/account/security/totp/qr.svg")
    assert qr.mimetype == "image/svg+xml" and qr.headers["Cache-Control"] == "no-store" and b"<svg" in qr.data

    wrong = client.post(
        "/account/security/totp", data={"csrf_token": csrf_token(page.text), "code": other_code(secret)}
    )
    assert wrong.status_code == 422 and "There is a problem" in wrong.text
    assert inline_error(wrong.text, "code").startswith("The code is not correct")
    assert client.get("/").headers["Location"] == "/account/security"

    done = client.post("/account/security/totp", data={"csrf_token": csrf_token(page.text), "code": now_code(secret)})
    assert done.status_code == 200
    assert "One-time codes are on" in done.text and "You will only see these codes once" in done.text
    codes = re.findall(r"<li><code>([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})</code></li>", done.text)
    assert len(codes) == 10
    assert db.session.scalar(select(db.func.count(RecoveryCode.id)).where(RecoveryCode.user_id == manager.id)) == 10

    assert "Hello, Maya Manager" in client.get("/").text
    security = client.get("/account/security").text
    assert "You have 10 unused recovery codes" in security
    assert not any(code in security for code in codes)  # shown once, never again
    assert client.get("/account/security/totp/qr.svg").status_code == 404


def test_security_page_shows_each_factor(client, auth):
    user = make_user()
    give_totp(user)
    make_passkey(user, "Kitchen tablet")
    auth.login_as(user)

    page = client.get("/account/security").text

    assert "One-time codes" in page and ">On<" in page.replace("\n", "").replace(" ", "")
    assert "Kitchen tablet" in page and "You have 0 unused recovery codes" in page
    assert "Passkeys cannot be used at this web address." in page  # the tests' address is 127.0.0.1


def test_new_recovery_codes_through_the_page(client, auth):
    user = make_user()
    give_totp(user)
    auth.login_as(user)

    response = client.post("/account/security/recovery-codes", data={"csrf_token": auth.token("/account/security")})

    assert response.status_code == 200 and "You will only see these codes once" in response.text
    assert len(re.findall(r"<li><code>", response.text)) == 10
    assert db.session.scalar(select(db.func.count(RecoveryCode.id)).where(RecoveryCode.user_id == user.id)) == 10


def test_recovery_codes_without_a_factor_are_refused_inline(client, auth):
    auth.login_as(make_user())
    response = client.post("/account/security/recovery-codes", data={"csrf_token": auth.token("/account/security")})
    assert response.status_code == 422
    assert 'href="#recovery-confirm"' in response.text and 'id="recovery-confirm"' in response.text
    assert "Set up an authenticator app or a passkey first" in response.text
    assert db.session.scalar(select(db.func.count(RecoveryCode.id))) == 0


def test_turning_codes_off_through_the_page(client, auth, app, required):
    manager = make_user(Role.MANAGER)
    give_totp(manager)
    auth.login_as(manager)
    page = client.get("/account/security/totp/off")
    assert "Turn off one-time codes?" in page.text

    wrong = client.post("/account/security/totp/off", data={"csrf_token": csrf_token(page.text), "password": "nope"})
    assert wrong.status_code == 422 and inline_error(wrong.text, "password") == "Enter your current password"
    last = client.post("/account/security/totp/off", data={"csrf_token": csrf_token(page.text), "password": PASSWORD})
    assert last.status_code == 422 and "Add a passkey before you turn off one-time codes" in inline_error(
        last.text, "password"
    )
    assert service.has_second_factor(manager.id)

    app.config["MFA_REQUIRED_ROLES"] = frozenset()
    done = client.post("/account/security/totp/off", data={"csrf_token": csrf_token(page.text), "password": PASSWORD})
    assert done.status_code == 303 and done.headers["Location"] == "/account/security"
    assert "You no longer use an authenticator app to sign in." in client.get("/account/security").text
    assert not service.has_second_factor(manager.id)


def test_passkeys_are_renamed_and_removed_through_the_pages(client, auth, app, required):
    supervisor = make_user(Role.SUPERVISOR)
    key = make_passkey(supervisor, "Old laptop")
    key_id = key.id
    auth.login_as(supervisor)

    form = client.get(f"/account/security/passkeys/{key.id}/rename")
    assert 'value="Old laptop"' in form.text
    empty = client.post(
        f"/account/security/passkeys/{key.id}/rename", data={"csrf_token": csrf_token(form.text), "name": " "}
    )
    assert empty.status_code == 422 and "Enter a name for this passkey" in inline_error(empty.text, "name")
    renamed = client.post(
        f"/account/security/passkeys/{key.id}/rename", data={"csrf_token": csrf_token(form.text), "name": "Phone"}
    )
    assert renamed.status_code == 303
    assert "Passkey renamed." in client.get("/account/security").text
    db.session.refresh(key)
    assert key.name == "Phone"

    confirm = client.get(f"/account/security/passkeys/{key.id}/remove")
    assert "Remove the passkey “Phone”?" in confirm.text
    refused = client.post(f"/account/security/passkeys/{key.id}/remove", data={"csrf_token": csrf_token(confirm.text)})
    assert refused.status_code == 422 and 'href="#confirm"' in refused.text
    assert "Your role needs a second way to sign in" in refused.text
    assert db.session.get(Passkey, key.id) is not None

    give_totp(supervisor)
    removed = client.post(f"/account/security/passkeys/{key.id}/remove", data={"csrf_token": csrf_token(confirm.text)})
    assert removed.status_code == 303
    assert "Passkey ‘Phone’ removed." in client.get("/account/security").text
    db.session.expunge_all()
    assert db.session.get(Passkey, key_id) is None


def test_someone_elses_passkey_answers_404(client, auth):
    key = make_passkey(make_user())
    auth.login_as(make_user())
    assert client.get(f"/account/security/passkeys/{key.id}/remove").status_code == 404
    response = client.post(f"/account/security/passkeys/{key.id}/remove", data={"csrf_token": auth.token()})
    assert response.status_code == 404 and "Page not found" in response.text
    assert db.session.get(Passkey, key.id) is not None


# --- Passkeys through the JSON routes ----------------------------------------


@pytest.fixture
def authenticator(app):
    app.config["PUBLIC_URL"] = "http://localhost"
    return SoftAuthenticator("http://localhost", "localhost")


def post_json(client, path: str, token: str, body: dict | None = None):
    return client.post(path, json=body or {}, headers={"X-CSRFToken": token}, base_url="http://localhost")


def test_a_passkey_is_added_then_signs_in_without_a_password(app, client, auth, authenticator):
    user = make_user(Role.MANAGER, email="boss@example.org", name="Maya Manager")
    auth.login_as(user)
    page = client.get("/account/security")
    assert 'data-passkey="register"' in page.text and "data-passkey-support hidden" in page.text
    token = csrf_token(page.text)

    no_name = post_json(client, "/account/security/passkeys/options", token, {"name": ""})
    assert no_name.status_code == 422 and no_name.json == {
        "message": "Enter a name for this passkey, for example ‘Work laptop’"
    }
    options, added = register_passkey(client, token, authenticator)
    assert options.status_code == 200 and options.json["rp"] == {"id": "localhost", "name": "Evidence portfolio"}
    assert added.status_code == 200 and added.json == {"redirect": "/account/security"}
    assert db.session.scalar(select(Passkey.name).where(Passkey.user_id == user.id)) == "Laptop"
    assert "Your passkey has been added." in client.get("/account/security").text

    auth.sign_out()
    sign_in = client.get("/auth/sign-in")
    assert "Sign in with a passkey" in sign_in.text
    token = csrf_token(sign_in.text)
    options = post_json(client, "/auth/passkey/options", token)
    signed_in = post_json(client, "/auth/passkey", token, {"credential": authenticator.get(options.text)})
    assert signed_in.status_code == 200 and signed_in.json == {"redirect": "/"}
    assert "Hello, Maya Manager" in client.get("/").text


def test_a_passkey_is_made_for_the_service_by_the_name_its_managers_gave_it(app, client, auth, authenticator):
    user = make_user(Role.MANAGER, email="boss@example.org", name="Maya Manager")
    organisation.update_settings(
        user, organisation.Changes(service_name="Link worker portfolio", organisation_name="", is_nhs=False)
    )
    auth.login_as(user)
    token = csrf_token(client.get("/account/security").text)

    options, added = register_passkey(client, token, authenticator)

    assert options.status_code == 200 and options.json["rp"] == {"id": "localhost", "name": "Link worker portfolio"}
    assert added.json == {"redirect": "/account/security"}
    assert db.session.scalar(select(Passkey.name).where(Passkey.user_id == user.id)) == "Laptop"


def test_a_passkey_is_the_second_step_after_the_password(app, client, auth, authenticator):
    user = make_user(email="two@example.org", name="Tess Two")
    with app.test_request_context("/"):
        service.register_passkey(
            user, "Phone", authenticator.create(service.passkey_registration_options(user, "Phone"))
        )
    auth.sign_in("two@example.org")
    page = client.get("/auth/second-step")
    assert "Use your passkey, or enter one of your recovery codes." in page.text and "Use a passkey" in page.text
    token = csrf_token(page.text)

    options = post_json(client, "/auth/passkey/options", token)
    assert options.json["allowCredentials"][0]["id"] == db.session.scalar(select(Passkey.credential_id))
    wrong = post_json(client, "/auth/passkey", token, {"credential": {"id": "x"}})
    assert wrong.status_code == 422 and wrong.json == {"message": "Your passkey could not be checked. Try again"}
    assert "Hello" not in client.get("/").text

    options = post_json(client, "/auth/passkey/options", token)
    done = post_json(client, "/auth/passkey", token, {"credential": authenticator.get(options.text)})
    assert done.json == {"redirect": "/"}
    assert "Hello, Tess Two" in client.get("/").text


def test_passkey_json_routes_need_the_csrf_token(client, authenticator):
    response = client.post("/auth/passkey/options", json={}, base_url="http://localhost")
    assert response.status_code == 400 and "Your form has expired" in response.text


def test_passkey_buttons_are_offered_only_where_passkeys_work(app, client):
    assert "Sign in with a passkey" not in client.get("/auth/sign-in").text  # 127.0.0.1: no passkeys
    app.config["PUBLIC_URL"] = "https://portfolio.example.nhs.uk"
    page = client.get("/auth/sign-in").text
    # Hidden until static/js/passkeys.js finds WebAuthn: with JavaScript off nobody sees it.
    assert '<div class="passkey-action" data-passkey-support hidden>' in page and "Sign in with a passkey" in page
    # The script's name carries its content hash once `make setup` has built the static files.
    assert re.search(r'<script src="/static/js/passkeys(-[0-9a-f]+)?\.js" defer></script>', page)


# --- A manager's reset -------------------------------------------------------


def test_a_manager_resets_someones_factors(app, client, auth, required):
    manager = make_user(Role.MANAGER, name="Maya Manager")
    give_totp(manager)
    person = make_user(Role.SUPERVISOR, email="sam@example.org", name="Sam Supervisor")
    give_totp(person)
    make_passkey(person)
    their_device = app.test_client()
    AuthActions(their_device).login_as(person)
    assert "Hello, Sam Supervisor" in their_device.get("/").text

    auth.login_as(manager)
    # Offered on their page while they have one (found by a helper: offered to people who had none).
    reset_link = f'href="/mfa/reset/{person.id}">Reset the second factors of Sam Supervisor'
    assert reset_link in client.get(f"/people/{person.id}").text
    page = client.get(f"/mfa/reset/{person.id}")
    assert "Reset Sam Supervisor’s second factors?" in page.text and "Reset second factors" in page.text
    response = client.post(f"/mfa/reset/{person.id}", data={"csrf_token": csrf_token(page.text)})

    assert response.status_code == 303 and response.headers["Location"] == f"/mfa/reset/{person.id}"
    after = client.get(f"/mfa/reset/{person.id}").text
    assert "Sam Supervisor’s second factors have been reset and they have been signed out everywhere." in after
    assert "Sam Supervisor has no second factors." in after
    assert not service.has_second_factor(person.id)
    assert "Reset the second factors" not in client.get(f"/people/{person.id}").text
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "mfa.reset"))
    assert entry.actor_id == manager.id and entry.subject == f"user:{person.id}"
    gone = their_device.get("/")
    assert gone.status_code == 302 and gone.headers["Location"].startswith("/auth/sign-in")


def test_a_manager_cannot_reset_their_own(client, auth):
    manager = make_user(Role.MANAGER)
    give_totp(manager)
    auth.login_as(manager)

    page = client.get(f"/mfa/reset/{manager.id}")
    response = client.post(f"/mfa/reset/{manager.id}", data={"csrf_token": auth.token()})

    for answer in (page, response):
        assert answer.status_code == 403
        assert "You cannot reset your own second factors" in answer.text and "recovery codes" in answer.text
    assert service.has_second_factor(manager.id)
    assert db.session.scalar(select(db.func.count(AuditEntry.id))) == 0


def test_resetting_a_missing_person_answers_404(client, auth):
    auth.login_as(make_user(Role.MANAGER))
    assert client.get("/mfa/reset/99999").status_code == 404


def register_passkey(client, token: str, authenticator, name: str = "Laptop"):
    """Ask for passkey options, let the soft authenticator make one, send it: (options answer, added answer)."""
    options = post_json(client, "/account/security/passkeys/options", token, {"name": name})
    added = post_json(
        client, "/account/security/passkeys", token, {"name": name, "credential": authenticator.create(options.text)}
    )
    return options, added
