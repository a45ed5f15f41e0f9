"""Second factors, tested at the service level: codes, recovery codes, passkeys, throttling, a manager's reset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from werkzeug.exceptions import Forbidden, NotFound

from portfolio.audit import ledger
from portfolio.auth.tokens import digest
from portfolio.config import ConfigError, build_config
from portfolio.errors import FieldError
from portfolio.extensions import db
from portfolio.mfa import passkeys, service
from portfolio.models import AuditEntry, MfaAttempt, Passkey, RecoveryCode, Role, TotpSecret, User
from portfolio.organisation import service as organisation
from tests.factories import PASSWORD, give_totp, make_passkey, make_user
from tests.soft_authenticator import SoftAuthenticator

ADDRESS = "192.0.2.10"


@pytest.fixture
def required(app):
    app.config["MFA_REQUIRED_ROLES"] = frozenset({"supervisor", "manager"})


def code_at(secret: str, seconds_from_now: int) -> str:
    return pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=seconds_from_now))


def totp_row(user: User) -> TotpSecret:
    return db.session.scalar(
        select(TotpSecret).where(TotpSecret.user_id == user.id).execution_options(populate_existing=True)
    )


# --- Settings ----------------------------------------------------------------


def test_production_refuses_to_start_without_an_mfa_key(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "x" * 64)
    monkeypatch.setenv("PORTFOLIO_AUDIT_KEY", "audit")
    monkeypatch.delenv("PORTFOLIO_MFA_KEY", raising=False)
    with pytest.raises(ConfigError, match="PORTFOLIO_MFA_KEY is not set"):
        build_config(str(tmp_path), {"PORTFOLIO_ENV": "production"})
    monkeypatch.setenv("PORTFOLIO_MFA_KEY", "not a fernet key")
    with pytest.raises(ConfigError, match="must be a Fernet key"):
        build_config(str(tmp_path), {"PORTFOLIO_ENV": "production"})
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("PORTFOLIO_MFA_KEY", key)
    assert build_config(str(tmp_path), {"PORTFOLIO_ENV": "production"})["MFA_KEY"] == key


def test_required_roles_default_to_supervisors_and_managers(tmp_path, monkeypatch):
    monkeypatch.delenv("PORTFOLIO_MFA_REQUIRED_ROLES", raising=False)
    assert build_config(str(tmp_path), {"PORTFOLIO_ENV": "testing"})["MFA_REQUIRED_ROLES"] == {"supervisor", "manager"}
    monkeypatch.setenv("PORTFOLIO_MFA_REQUIRED_ROLES", "")
    assert build_config(str(tmp_path), {"PORTFOLIO_ENV": "testing"})["MFA_REQUIRED_ROLES"] == frozenset()
    monkeypatch.setenv("PORTFOLIO_MFA_REQUIRED_ROLES", " Worker , manager")
    assert build_config(str(tmp_path), {"PORTFOLIO_ENV": "testing"})["MFA_REQUIRED_ROLES"] == {"worker", "manager"}
    monkeypatch.setenv("PORTFOLIO_MFA_REQUIRED_ROLES", "managers")
    with pytest.raises(ConfigError, match="not managers"):
        build_config(str(tmp_path), {"PORTFOLIO_ENV": "testing"})


def test_the_relying_party_is_the_public_url(app):
    app.config["PUBLIC_URL"] = "https://portfolio.example.nhs.uk"
    assert passkeys.relying_party() == passkeys.RelyingParty(
        "portfolio.example.nhs.uk", "https://portfolio.example.nhs.uk"
    )
    assert passkeys.available()
    app.config["PUBLIC_URL"] = "http://127.0.0.1:5000"  # WebAuthn refuses IP addresses
    assert not passkeys.available()


def test_mfa_is_required_by_role(app, required):
    assert service.mfa_required(make_user(Role.MANAGER))
    assert service.mfa_required(make_user(Role.WORKER, Role.SUPERVISOR))
    assert not service.mfa_required(make_user(Role.WORKER))
    app.config["MFA_REQUIRED_ROLES"] = frozenset()
    assert not service.mfa_required(make_user(Role.MANAGER))


# --- One-time codes ----------------------------------------------------------


def test_the_secret_is_encrypted_at_rest(app):
    user = make_user()
    service.start_totp(user)
    secret = service.pending_totp_secret(user)

    row = totp_row(user)
    assert len(secret) == 32 and pyotp.TOTP(secret).now().isdigit()
    assert secret not in row.secret_encrypted
    assert Fernet(app.config["MFA_KEY"]).decrypt(row.secret_encrypted.encode()).decode() == secret
    assert row.confirmed_at is None and not service.has_second_factor(user.id)
    # Starting again while waiting keeps the same secret (a double submission changes nothing).
    service.start_totp(user)
    assert service.pending_totp_secret(user) == secret
    assert db.session.scalar(select(db.func.count(TotpSecret.id))) == 1


def test_the_qr_code_is_an_svg_of_the_provisioning_uri(app):
    user = make_user(email="qr@example.org")
    assert service.totp_qr_svg(user) is None
    service.start_totp(user)
    svg = service.totp_qr_svg(user).decode()
    assert svg.startswith("<?xml") and "<svg" in svg
    assert "style=" not in svg and "<script" not in svg
    uri = service.provisioning_uri(user, service.pending_totp_secret(user))
    assert uri.startswith("otpauth://totp/Evidence%20portfolio:qr%40example.org?secret=")


def test_the_authenticator_app_lists_the_account_under_the_services_own_name(app):
    app.config["SERVICE_NAME"] = "Anytown link workers"  # PORTFOLIO_SERVICE_NAME, until a manager saves the page
    user = make_user(email="qr@example.org")
    service.start_totp(user)
    secret = service.pending_totp_secret(user)

    def issuer_and_label() -> tuple[list[str], str]:
        uri = urlsplit(service.provisioning_uri(user, secret))
        assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
        return parse_qs(uri.query)["issuer"], unquote(uri.path)

    assert issuer_and_label() == (["Anytown link workers"], "/Anytown link workers:qr@example.org")

    manager = make_user(Role.MANAGER, email="boss@example.org")
    organisation.update_settings(
        manager, organisation.Changes(service_name="Link worker portfolio", organisation_name="", is_nhs=False)
    )
    assert issuer_and_label() == (["Link worker portfolio"], "/Link worker portfolio:qr@example.org")
    assert pyotp.parse_uri(service.provisioning_uri(user, secret)).issuer == "Link worker portfolio"


def test_a_wrong_first_code_leaves_codes_off(app):
    user = make_user()
    service.start_totp(user)
    secret = service.pending_totp_secret(user)
    wrong = f"{(int(code_at(secret, 0)) + 1) % 1_000_000:06d}"

    with pytest.raises(FieldError) as error:
        service.confirm_totp(user, wrong)

    assert error.value.field == "code" and "not correct" in error.value.message
    assert totp_row(user).confirmed_at is None
    assert db.session.scalar(select(db.func.count(RecoveryCode.id))) == 0


def test_confirming_turns_codes_on_and_gives_ten_hashed_recovery_codes(app):
    user = make_user()
    service.start_totp(user)
    secret = service.pending_totp_secret(user)

    codes = service.confirm_totp(user, code_at(secret, 0))

    row = totp_row(user)
    assert row.confirmed_at is not None and row.last_used_step == pyotp.TOTP(secret).timecode(datetime.now(UTC))
    assert service.has_second_factor(user.id)
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = set(db.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)))
    assert stored == {digest(code.replace("-", "")) for code in codes}
    assert not any(code in hashed or code.replace("-", "") in hashed for code in codes for hashed in stored)
    with pytest.raises(FieldError, match="already use an authenticator app"):
        service.start_totp(user)


def test_confirming_twice_with_the_same_code_gives_codes_that_work(app):
    user = make_user()
    service.start_totp(user)
    secret = service.pending_totp_secret(user)
    code = code_at(secret, 0)
    first = service.confirm_totp(user, code)

    second = service.confirm_totp(user, code)  # the form sent twice: the browser shows this answer

    assert len(second) == 10 and not set(first) & set(second)
    stored = set(db.session.scalars(select(RecoveryCode.code_hash)))
    assert stored == {digest(c.replace("-", "")) for c in second}
    with pytest.raises(FieldError, match="Start setting up your authenticator app again"):
        service.confirm_totp(user, f"{(int(code) + 1) % 1_000_000:06d}")


@pytest.mark.parametrize("seconds, accepted", [(-60, False), (-30, True), (0, True), (30, True), (60, False)])
def test_codes_accept_one_step_of_drift_and_no_more(app, seconds, accepted):
    user = make_user()
    secret = give_totp(user)
    code = code_at(secret, seconds)
    if accepted:
        assert service.verify_second_step(user.id, code, ADDRESS).id == user.id
    else:
        with pytest.raises(FieldError, match="not correct"):
            service.verify_second_step(user.id, code, ADDRESS)
    attempts = db.session.scalars(select(MfaAttempt.succeeded)).all()
    assert attempts == [accepted]


def test_a_used_code_is_never_accepted_again(app):
    user = make_user()
    secret = give_totp(user)
    code = code_at(secret, 0)
    service.verify_second_step(user.id, code, ADDRESS)
    step = totp_row(user).last_used_step

    with pytest.raises(FieldError, match="used already"):
        service.verify_second_step(user.id, code, ADDRESS)
    # Nor the previous step's code, though it is within the drift allowed.
    with pytest.raises(FieldError):
        service.verify_second_step(user.id, code_at(secret, -30), ADDRESS)

    assert totp_row(user).last_used_step == step
    assert db.session.scalars(select(MfaAttempt.succeeded).order_by(MfaAttempt.id)).all() == [True, False, False]


def test_turning_codes_off_needs_the_password(app):
    user = make_user()
    give_totp(user)
    with pytest.raises(FieldError, match="current password"):
        service.turn_off_totp(user, "not the password")
    assert service.has_second_factor(user.id)

    service.turn_off_totp(user, PASSWORD)

    assert totp_row(user) is None and not service.has_second_factor(user.id)


def test_turning_off_the_last_factor_is_refused_when_the_role_requires_one(app, required):
    manager = make_user(Role.MANAGER)
    give_totp(manager)
    service.regenerate_recovery_codes(manager)

    with pytest.raises(FieldError, match="Add a passkey before"):
        service.turn_off_totp(manager, PASSWORD)
    assert totp_row(manager).confirmed_at is not None

    make_passkey(manager)
    service.turn_off_totp(manager, PASSWORD)
    assert totp_row(manager) is None
    # The passkey still needs its recovery codes.
    assert db.session.scalar(select(db.func.count(RecoveryCode.id)).where(RecoveryCode.user_id == manager.id)) == 10


# --- Recovery codes ----------------------------------------------------------


def test_a_recovery_code_works_once(app):
    user = make_user()
    give_totp(user)
    codes = service.regenerate_recovery_codes(user)

    # Typed in lower case without the hyphens, it still counts.
    assert service.verify_second_step(user.id, codes[3].replace("-", " ").lower(), ADDRESS).id == user.id
    with pytest.raises(FieldError, match="used already"):
        service.verify_second_step(user.id, codes[3], ADDRESS)

    used = db.session.scalars(select(RecoveryCode).where(RecoveryCode.used_at.is_not(None))).all()
    assert [row.code_hash for row in used] == [digest(codes[3].replace("-", ""))]
    assert service.security_of(user).recovery_codes_left == 9


def test_new_recovery_codes_replace_the_old_ones(app):
    user = make_user()
    give_totp(user)
    old = service.regenerate_recovery_codes(user)
    new = service.regenerate_recovery_codes(user)

    assert not set(old) & set(new)
    with pytest.raises(FieldError):
        service.verify_second_step(user.id, old[0], ADDRESS)
    assert service.verify_second_step(user.id, new[0], ADDRESS).id == user.id


def test_recovery_codes_need_a_second_factor(app):
    user = make_user()
    with pytest.raises(FieldError, match="Set up an authenticator app or a passkey first"):
        service.regenerate_recovery_codes(user)
    assert db.session.scalar(select(db.func.count(RecoveryCode.id))) == 0


# --- Throttling --------------------------------------------------------------


def test_too_many_wrong_codes_pause_the_account(app):
    app.config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"] = 3
    user = make_user()
    secret = give_totp(user)
    for _ in range(3):
        with pytest.raises(FieldError, match="not correct"):
            service.verify_second_step(user.id, "000000" if code_at(secret, 0) != "000000" else "111111", ADDRESS)

    # Even the right code waits now, from any address.
    with pytest.raises(FieldError, match="Too many wrong codes. Wait 15 minutes"):
        service.verify_second_step(user.id, code_at(secret, 0), "198.51.100.7")
    assert totp_row(user).last_used_step is None

    # Failures older than the window no longer count.
    db.session.execute(MfaAttempt.__table__.update().values(at=datetime.now(UTC) - timedelta(minutes=16)))
    db.session.commit()
    assert service.verify_second_step(user.id, code_at(secret, 0), ADDRESS).id == user.id


def test_too_many_wrong_codes_from_one_address_pause_that_address(app):
    app.config["SIGN_IN_MAX_FAILURES_PER_ADDRESS"] = 4
    people = [make_user() for _ in range(3)]
    secrets = [give_totp(person) for person in people]
    for person in people[:2]:
        for _ in range(2):
            with pytest.raises(FieldError):
                service.verify_second_step(person.id, "not a code", ADDRESS)

    with pytest.raises(FieldError, match="Too many wrong codes"):
        service.verify_second_step(people[2].id, code_at(secrets[2], 0), ADDRESS)
    assert service.verify_second_step(people[2].id, code_at(secrets[2], 0), "198.51.100.7").id == people[2].id


# --- Passkeys ----------------------------------------------------------------


@pytest.fixture
def rp(app):
    app.config["PUBLIC_URL"] = "http://localhost:5000"
    return SoftAuthenticator("http://localhost:5000", "localhost")


def register(app, user: User, authenticator: SoftAuthenticator, name: str = "Work laptop") -> Passkey:
    with app.test_request_context("/"):
        options = service.passkey_registration_options(user, name)
        return service.register_passkey(user, name, authenticator.create(options))


def test_a_passkey_is_registered_and_signs_in_without_a_password(app, rp):
    user = make_user(Role.MANAGER)
    key = register(app, user, rp)
    assert key.name == "Work laptop" and key.sign_count == 0 and service.has_second_factor(user.id)

    with app.test_request_context("/"):
        options = service.passkey_sign_in_options(None)
        assert '"allowCredentials": []' in options and '"userVerification": "required"' in options
        assert service.sign_in_with_passkey(rp.get(options), None).id == user.id

    db.session.refresh(key)
    assert key.sign_count == 1 and key.last_used_at is not None


def test_a_passkey_as_second_step_must_be_the_persons_own(app, rp):
    owner, other = make_user(), make_user()
    register(app, owner, rp)
    with app.test_request_context("/"):
        options = service.passkey_sign_in_options(other)
        with pytest.raises(passkeys.PasskeyError, match="not registered for an account"):
            service.sign_in_with_passkey(rp.get(options), other)
    with app.test_request_context("/"):
        options = service.passkey_sign_in_options(owner)
        assert service.sign_in_with_passkey(rp.get(options), owner).id == owner.id


def test_a_passkey_answer_is_checked(app, rp):
    user = make_user()
    key = register(app, user, rp)
    with app.test_request_context("/"):
        # Without the challenge of this session, nothing is accepted.
        with pytest.raises(passkeys.PasskeyError, match="expired"):
            service.sign_in_with_passkey(rp.get('{"challenge": "AAAA"}'), None)
    with app.test_request_context("/"):
        options = service.passkey_sign_in_options(None)
        answer = rp.get(options)
        service.sign_in_with_passkey(answer, None)
        # The same answer again: the challenge was used up.
        with pytest.raises(passkeys.PasskeyError, match="expired"):
            service.sign_in_with_passkey(answer, None)
    with app.test_request_context("/"):
        # A sign count that did not go up means a copied authenticator.
        options = service.passkey_sign_in_options(None)
        with pytest.raises(passkeys.PasskeyError, match="could not be checked"):
            service.sign_in_with_passkey(rp.get(options, count_up=False), None)
    with app.test_request_context("/"):
        # Without a password, the authenticator must have verified the person.
        options = service.passkey_sign_in_options(None)
        with pytest.raises(passkeys.PasskeyError, match="could not be checked"):
            service.sign_in_with_passkey(rp.get(options, verified=False), None)
    db.session.refresh(key)
    assert key.sign_count == 2  # the one answer accepted (the authenticator counted the refused one too)


def test_a_passkey_is_registered_once(app, rp):
    user = make_user()
    register(app, user, rp)
    with app.test_request_context("/"):
        options = service.passkey_registration_options(user, "Again")
        assert rp.credential_id and '"excludeCredentials": [{' in options
        with pytest.raises(FieldError, match="already registered"):
            service.register_passkey(user, "Again", rp.create(options))
    assert db.session.scalar(select(db.func.count(Passkey.id))) == 1


def test_a_passkey_needs_a_name(app, rp):
    user = make_user()
    with app.test_request_context("/"):
        with pytest.raises(FieldError, match="Enter a name for this passkey"):
            service.passkey_registration_options(user, "   ")
        with pytest.raises(FieldError, match="80 characters or fewer"):
            service.passkey_registration_options(user, "x" * 81)


def test_passkeys_are_renamed_and_removed_by_their_owner_only(app, required):
    owner, other = make_user(), make_user()
    key = make_passkey(owner)
    with pytest.raises(NotFound):
        service.rename_passkey(other, key.id, "Mine now")
    with pytest.raises(NotFound):
        service.remove_passkey(other, key.id)

    service.rename_passkey(owner, key.id, "  Phone  ")
    db.session.refresh(key)
    assert key.name == "Phone"
    service.remove_passkey(owner, key.id)
    assert db.session.get(Passkey, key.id) is None


def test_removing_the_last_passkey_is_refused_when_the_role_requires_one(app, required):
    supervisor = make_user(Role.SUPERVISOR)
    first, second = make_passkey(supervisor, "One"), make_passkey(supervisor, "Two")
    service.remove_passkey(supervisor, first.id)
    with pytest.raises(FieldError, match="Your role needs a second way to sign in"):
        service.remove_passkey(supervisor, second.id)
    assert db.session.get(Passkey, second.id) is not None


# --- A manager's reset -------------------------------------------------------


def test_a_manager_resets_someone_elses_factors_and_it_is_audited(app):
    manager = make_user(Role.MANAGER)
    person = make_user(Role.SUPERVISOR)
    give_totp(person)
    make_passkey(person)
    service.regenerate_recovery_codes(person)
    version = person.session_version

    service.reset_second_factors(manager, person.id)

    db.session.refresh(person)
    assert person.session_version == version + 1
    assert not service.has_second_factor(person.id)
    for model in (TotpSecret, Passkey, RecoveryCode):
        assert db.session.scalar(select(db.func.count(model.id)).where(model.user_id == person.id)) == 0
    entry = db.session.scalar(select(AuditEntry))
    assert (entry.actor_id, entry.action, entry.subject) == (manager.id, "mfa.reset", f"user:{person.id}")
    assert entry.details == {"one_time_codes": True, "passkeys": 1, "recovery_codes_left": 10}
    assert ledger.verify().ok


def test_nobody_resets_their_own_factors(app):
    manager = make_user(Role.MANAGER)
    give_totp(manager)
    with pytest.raises(Forbidden):
        service.reset_second_factors(manager, manager.id)
    with pytest.raises(Forbidden):
        service.get_person_to_reset_or_404(manager, manager.id)
    # Resetting someone with nothing to reset (a second click) records nothing.
    service.reset_second_factors(manager, make_user().id)
    with pytest.raises(NotFound):
        service.get_person_to_reset_or_404(manager, manager.id + 999)
    assert service.has_second_factor(manager.id)
    assert db.session.scalar(select(db.func.count(AuditEntry.id))) == 0
