"""Use cases for second factors: one-time codes, recovery codes, passkeys, and a manager's reset.

Every write locks the person's ``users`` row first (``database.lock`` after
``begin_write()``: FOR NO KEY UPDATE on PostgreSQL), so two requests for the same person take turns and
each checks state (the last code step used, a recovery code's use) on the
locked copy.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from typing import NoReturn

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from flask import abort, current_app
from sqlalchemy import ColumnElement, delete, exists, func, select, update

from .. import remembered
from ..audit import ledger
from ..auth import passwords
from ..auth.tokens import digest
from ..database import begin_write, lock_first, lock_or_404
from ..errors import FieldError
from ..extensions import db
from ..models import MfaAttempt, Passkey, RecoveryCode, TotpSecret, User
from ..organisation import service as organisation
from . import passkeys as webauthn

_SECOND_FACTOR = "second-factor"  # whether the person has one, read by the user loader (remembered.py)

# RFC 6238 section 5.2: accept the previous and next step for clock drift, no more.
ALLOWED_DRIFT = 1
RECOVERY_CODE_COUNT = 10
# 16 characters of base32: 80 random bits, so a fast hash (SHA-256) is
# enough to store them; nobody can try 2**80 guesses against a stolen table.
RECOVERY_CODE_LENGTH = 16
PASSKEY_NAME_MAX = 80

WRONG_CODE = "The code is not correct. Check your authenticator app and enter the latest code"


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- Reading -----------------------------------------------------------------


def mfa_required(user: User) -> bool:
    """True when one of the person's roles must sign in with a second factor."""
    required = current_app.config["MFA_REQUIRED_ROLES"]
    return any(role.value in required for role in user.roles)


def second_factor_of(user_id) -> ColumnElement[bool]:
    """Whether the person ``user_id`` (a value or a column) has a confirmed one-time-code app or a passkey."""
    totp = exists().where(TotpSecret.user_id == user_id, TotpSecret.confirmed_at.is_not(None))
    passkey = exists().where(Passkey.user_id == user_id)
    return totp | passkey


def has_second_factor(user_id: int) -> bool:
    """True when the person has a confirmed one-time-code app or a passkey."""
    return bool(db.session.scalar(select(second_factor_of(user_id))))


def remember_second_factor(user: User, has: bool) -> None:
    """Keep what the user loader read with the user, for this request's gate."""
    remembered.remember(_SECOND_FACTOR, user.id, bool(has))


def passes_the_gate(user: User) -> bool:
    """For the gate in front of every page: no second factor needed, or one set up (as read with the user)."""
    if not mfa_required(user):
        return True
    return remembered.recall(_SECOND_FACTOR, user.id, lambda: has_second_factor(user.id))


@dataclass(frozen=True)
class Security:
    """What the security page shows about one person."""

    totp_on: bool
    recovery_codes_left: int
    passkeys: list[Passkey]
    required: bool

    @property
    def has_factor(self) -> bool:
        return self.totp_on or bool(self.passkeys)


def security_of(user: User) -> Security:
    totp_on = db.session.scalar(
        select(exists().where(TotpSecret.user_id == user.id, TotpSecret.confirmed_at.is_not(None)))
    )
    left = db.session.scalar(
        select(func.count(RecoveryCode.id)).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )
    keys = db.session.scalars(
        select(Passkey).where(Passkey.user_id == user.id).order_by(Passkey.created_at, Passkey.id)
    ).all()
    return Security(bool(totp_on), left or 0, list(keys), mfa_required(user))


def _fernet() -> Fernet:
    return Fernet(current_app.config["MFA_KEY"])


def _decrypt(row: TotpSecret) -> str:
    try:
        return _fernet().decrypt(row.secret_encrypted.encode()).decode()
    except InvalidToken as exc:  # a different PORTFOLIO_MFA_KEY: an operator's mistake, not the user's
        raise RuntimeError(
            "A one-time-code secret cannot be decrypted: is PORTFOLIO_MFA_KEY the key it was stored with?"
        ) from exc


def pending_totp_secret(user: User) -> str | None:
    """The secret of a set-up that waits for its first code, to show as text and QR code."""
    row = db.session.scalar(select(TotpSecret).where(TotpSecret.user_id == user.id, TotpSecret.confirmed_at.is_(None)))
    return _decrypt(row) if row else None


def issuer_name() -> str:
    """Whose account an authenticator app or passkey manager lists: the service, as its managers name it."""
    return organisation.identity().service_name


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=issuer_name())


def totp_qr_svg(user: User) -> bytes | None:
    """The set-up QR code as SVG (no script, no style attribute), or None without a pending set-up."""
    secret = pending_totp_secret(user)
    if secret is None:
        return None
    qr = segno.make(provisioning_uri(user, secret), error="m")
    out = BytesIO()
    qr.save(
        out,
        kind="svg",
        scale=5,
        border=4,
        xmldecl=True,
        svgclass=None,
        lineclass=None,
        title="QR code for your authenticator app",
    )
    return out.getvalue()


def group_secret(secret: str) -> str:
    """The secret in groups of four, easier to type."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


# --- Locking helpers ---------------------------------------------------------


def _lock_user(user_id: int) -> User:
    """The person's row, locked for this transaction (after ``begin_write``).

    :raises 404: when there is no such person.
    """
    return lock_or_404(User, user_id)


def _totp_row(user_id: int) -> TotpSecret | None:
    return db.session.scalar(
        select(TotpSecret).where(TotpSecret.user_id == user_id).execution_options(populate_existing=True)
    )


def _passkey_count(user_id: int) -> int:
    return db.session.scalar(select(func.count(Passkey.id)).where(Passkey.user_id == user_id)) or 0


def _refuse(field: str, message: str) -> NoReturn:
    db.session.rollback()
    raise FieldError(field, message)


# --- One-time codes ----------------------------------------------------------


def _clean_code(code: str) -> str:
    return "".join((code or "").split()).replace("-", "").upper()


def matching_step(secret: str, code: str, after: int | None, at: datetime | None = None) -> int | None:
    """The time step ``code`` belongs to (this one, or one either side), if later than ``after``."""
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(at or utcnow())
    for step in (current - ALLOWED_DRIFT, current, current + ALLOWED_DRIFT):
        if after is not None and step <= after:
            continue  # a used code, or one older than it, is never accepted again
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def start_totp(user: User) -> None:
    """Create the secret an authenticator app will share (kept if a set-up is already waiting)."""
    begin_write()
    _lock_user(user.id)
    row = _totp_row(user.id)
    if row is not None and row.confirmed_at is not None:
        _refuse("confirm", "You already use an authenticator app. Turn it off first to set up another")
    if row is None:
        secret = pyotp.random_base32()  # 160 bits, as RFC 4226 recommends
        db.session.add(TotpSecret(user_id=user.id, secret_encrypted=_fernet().encrypt(secret.encode()).decode()))
    db.session.commit()


def confirm_totp(user: User, code: str) -> list[str]:
    """Turn on one-time codes once the first code matches; return new recovery codes (shown once).

    :raises FieldError: on ``code`` when it does not match or set-up was not started.
    """
    code = _clean_code(code)
    begin_write()
    _lock_user(user.id)
    row = _totp_row(user.id)
    if row is not None and _repeated_confirmation(row, code):
        # The same form sent twice (a double click): the browser shows the
        # second answer, so it must carry codes that work. The person is
        # already signed in; nothing is signed in by this.
        codes = _replace_recovery_codes(user.id)
        db.session.commit()
        return codes
    if row is None or row.confirmed_at is not None:
        _refuse("code", "Start setting up your authenticator app again")
    step = matching_step(_decrypt(row), code, None)
    if step is None:
        _refuse("code", WRONG_CODE)
    row.confirmed_at = utcnow()
    row.last_used_step = step
    codes = _replace_recovery_codes(user.id)
    db.session.commit()
    return codes


REPEAT_WINDOW = timedelta(minutes=2)


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC); PostgreSQL aware ones."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _repeated_confirmation(row: TotpSecret, code: str) -> bool:
    """True when ``code`` is the one that confirmed this set-up a moment ago."""
    if row.confirmed_at is None or row.last_used_step is None or utcnow() - _aware(row.confirmed_at) > REPEAT_WINDOW:
        return False
    return matching_step(_decrypt(row), code, row.last_used_step - 1) == row.last_used_step


def turn_off_totp(user: User, password: str) -> None:
    """Stop using one-time codes; needs the password, and another factor when the role requires one.

    :raises FieldError: on ``password``.
    """
    # The slow hash runs before the write lock, so other writers do not wait on it.
    if not passwords.verify_password(user.password_hash, password):
        raise FieldError("password", "Enter your current password")
    begin_write()
    locked = _lock_user(user.id)
    row = _totp_row(user.id)
    if row is None or row.confirmed_at is None:
        _refuse("password", "You do not use an authenticator app")
    keys = _passkey_count(user.id)
    if keys == 0 and mfa_required(locked):
        _refuse("password", "Your role needs a second way to sign in. Add a passkey before you turn off one-time codes")
    db.session.delete(row)
    if keys == 0:
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.commit()


# --- Recovery codes ----------------------------------------------------------


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(RECOVERY_CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, RECOVERY_CODE_LENGTH, 4))


def _replace_recovery_codes(user_id: int) -> list[str]:
    """New codes in the caller's transaction; the old ones stop working."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    db.session.add_all(RecoveryCode(user_id=user_id, code_hash=digest(_clean_code(c))) for c in codes)
    return codes


def regenerate_recovery_codes(user: User) -> list[str]:
    """Ten new recovery codes (the old ones stop working); shown once.

    :raises FieldError: on ``confirm`` without a second factor to recover.
    """
    begin_write()
    _lock_user(user.id)
    if not has_second_factor(user.id):
        _refuse("confirm", "Set up an authenticator app or a passkey first")
    codes = _replace_recovery_codes(user.id)
    db.session.commit()
    return codes


# --- The second step of signing in -------------------------------------------


def _failures_since(since: datetime, **match) -> int:
    query = select(func.count(MfaAttempt.id)).where(MfaAttempt.succeeded.is_(False), MfaAttempt.at >= since)
    for column, value in match.items():
        query = query.where(getattr(MfaAttempt, column) == value)
    return db.session.scalar(query) or 0


def verify_second_step(user_id: int, code: str, address: str) -> User:
    """Check a one-time code or a recovery code typed after the password; return the user.

    Failures are counted per account and per address, with the password
    limits: a code has a million values, so guesses must stay few.

    :raises FieldError: on ``code`` when wrong, already used, or after too many failures.
    """
    config = current_app.config
    code = _clean_code(code)
    begin_write()
    user = _lock_user(user_id)
    since = utcnow() - config["SIGN_IN_WINDOW"]
    if (
        _failures_since(since, user_id=user_id) >= config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"]
        or _failures_since(since, address=address) >= config["SIGN_IN_MAX_FAILURES_PER_ADDRESS"]
    ):
        minutes = int(config["SIGN_IN_WINDOW"].total_seconds() // 60)
        _refuse("code", f"Too many wrong codes. Wait {minutes} minutes, then try again")

    ok = False
    row = _totp_row(user_id)
    if row is not None and row.confirmed_at is not None:
        step = matching_step(_decrypt(row), code, row.last_used_step)
        if step is not None:
            row.last_used_step = step
            ok = True
    if not ok and len(code) == RECOVERY_CODE_LENGTH:
        recovery = db.session.scalar(
            select(RecoveryCode)
            .where(
                RecoveryCode.user_id == user_id, RecoveryCode.code_hash == digest(code), RecoveryCode.used_at.is_(None)
            )
            .execution_options(populate_existing=True)
        )
        if recovery is not None:
            recovery.used_at = utcnow()
            ok = True
    # Stamped on the real clock, as the throttle counts them (the model's default is the service's clock).
    db.session.add(MfaAttempt(user_id=user_id, address=address, succeeded=ok, at=utcnow()))
    if ok:
        user.last_signed_in_at = utcnow()
    db.session.commit()
    if not ok:
        raise FieldError(
            "code",
            "The code is not correct, or it has been used already. Enter the latest code from your authenticator app, or an unused recovery code",
        )
    return user


# --- Passkeys ----------------------------------------------------------------


def get_passkey_or_404(user: User, passkey_id: int) -> Passkey:
    """One of the person's own passkeys.

    :raises 404: for a missing id or someone else's passkey.
    """
    key = db.session.scalar(select(Passkey).where(Passkey.id == passkey_id, Passkey.user_id == user.id))
    if key is None:
        abort(404)
    return key


def _check_name(name: str, field: str = "name") -> str:
    name = " ".join((name or "").split())
    if not name:
        raise FieldError(field, "Enter a name for this passkey, for example ‘Work laptop’")
    if len(name) > PASSKEY_NAME_MAX:
        raise FieldError(field, f"Name must be {PASSKEY_NAME_MAX} characters or fewer")
    return name


def passkey_registration_options(user: User, name: str) -> str:
    """Options for the browser to create a passkey (the name is checked now, before the browser asks).

    :raises FieldError: on ``name``.
    """
    _check_name(name)
    existing = list(db.session.scalars(select(Passkey.credential_id).where(Passkey.user_id == user.id)))
    return webauthn.registration_options(user.id, user.email, user.name, existing, rp_name=issuer_name())


def register_passkey(user: User, name: str, credential: dict) -> Passkey:
    """Store the passkey the browser created, once.

    :raises FieldError: on ``name``; :raises PasskeyError: when the answer does not verify.
    """
    name = _check_name(name)
    new = webauthn.verify_registration(credential, user.id)
    begin_write()
    _lock_user(user.id)
    if db.session.scalar(select(Passkey.id).where(Passkey.credential_id == new.credential_id)) is not None:
        _refuse("name", "This passkey is already registered")
    key = Passkey(
        user_id=user.id,
        credential_id=new.credential_id,
        public_key=new.public_key,
        sign_count=new.sign_count,
        name=name,
    )
    db.session.add(key)
    db.session.commit()
    return key


def rename_passkey(user: User, passkey_id: int, name: str) -> Passkey:
    """Give one of the person's passkeys a new name.

    :raises FieldError: on ``name``; :raises 404: for someone else's passkey.
    """
    name = _check_name(name)
    begin_write()
    _lock_user(user.id)
    key = db.session.scalar(
        select(Passkey)
        .where(Passkey.id == passkey_id, Passkey.user_id == user.id)
        .execution_options(populate_existing=True)
    )
    if key is None:
        db.session.rollback()
        abort(404)
    key.name = name
    db.session.commit()
    return key


def remove_passkey(user: User, passkey_id: int) -> None:
    """Remove one of the person's passkeys; refused for the last factor of a role that needs one.

    :raises FieldError: on ``confirm``; :raises 404: for someone else's passkey.
    """
    begin_write()
    locked = _lock_user(user.id)
    key = db.session.scalar(select(Passkey).where(Passkey.id == passkey_id, Passkey.user_id == user.id))
    if key is None:
        db.session.rollback()
        abort(404)
    row = _totp_row(user.id)
    totp_on = row is not None and row.confirmed_at is not None
    others = _passkey_count(user.id) - 1
    if not totp_on and others == 0:
        if mfa_required(locked):
            _refuse(
                "confirm",
                "Your role needs a second way to sign in. Set up an authenticator app or another passkey first",
            )
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.delete(key)
    db.session.commit()


def passkey_sign_in_options(user: User | None) -> str:
    """Options for the browser to sign in with a passkey: ``user``'s own after a password, any without."""
    if user is None:
        return webauthn.authentication_options("sign-in", None, [])
    allowed = list(db.session.scalars(select(Passkey.credential_id).where(Passkey.user_id == user.id)))
    return webauthn.authentication_options("second-step", user.id, allowed)


def sign_in_with_passkey(credential: dict, user: User | None) -> User:
    """Check the browser's signed answer; return the person it signs in.

    With ``user`` (after their password) the passkey must be theirs; without,
    it must be a discoverable passkey that verified the person.

    :raises PasskeyError: when it does not verify, or names no active account.
    """
    purpose, user_id = ("second-step", user.id) if user else ("sign-in", None)
    challenge = webauthn.take_challenge(purpose, user_id)
    credential_id, handle = webauthn.credential_id_of(credential)
    begin_write()
    key = lock_first(select(Passkey).where(Passkey.credential_id == credential_id))
    owner = db.session.get(User, key.user_id) if key else None
    if (
        key is None
        or owner is None
        or not owner.active
        or (user is not None and key.user_id != user.id)
        or (handle is not None and handle != webauthn.user_handle(key.user_id))
    ):
        db.session.rollback()
        raise webauthn.PasskeyError(
            "This passkey is not registered for an account here. Sign in with your email address and password"
        )
    try:
        count = webauthn.verify_assertion(
            credential,
            challenge,
            public_key=key.public_key,
            sign_count=key.sign_count,
            require_user_verification=user is None,
        )
    except webauthn.PasskeyError:
        db.session.rollback()
        raise
    key.sign_count = count
    key.last_used_at = owner.last_signed_in_at = utcnow()
    db.session.commit()
    return owner


# --- A manager's reset -------------------------------------------------------


def get_person_to_reset_or_404(actor: User, user_id: int) -> User:
    """The person whose second factors a manager may reset.

    :raises 404: for a missing id; :raises 403: for the manager's own account.
    """
    person = db.session.get(User, user_id)
    if person is None:
        abort(404)
    if person.id == actor.id:
        abort(403)
    return person


def reset_second_factors(actor: User, user_id: int) -> User:
    """Remove every second factor of another person, end their sessions, and audit it."""
    if user_id == actor.id:
        abort(403)
    begin_write()
    person = _lock_user(user_id)
    row = _totp_row(user_id)
    keys = _passkey_count(user_id)
    codes = (
        db.session.scalar(
            select(func.count(RecoveryCode.id)).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )
    if row is None and keys == 0 and codes == 0:
        db.session.rollback()  # nothing to reset (a second click): nothing to record
        return person
    db.session.execute(delete(TotpSecret).where(TotpSecret.user_id == user_id))
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    db.session.execute(delete(Passkey).where(Passkey.user_id == user_id))
    db.session.execute(update(User).where(User.id == user_id).values(session_version=User.session_version + 1))
    ledger.record(
        actor,
        "mfa.reset",
        f"user:{user_id}",
        one_time_codes=bool(row is not None and row.confirmed_at is not None),
        passkeys=keys,
        recovery_codes_left=codes,
    )
    db.session.commit()
    return person
