"""Use cases for signing in and out and for creating accounts."""

from __future__ import annotations

from datetime import UTC, datetime

import email_validator
from flask import current_app
from sqlalchemy import func, select, update

from ..database import begin_write, lock
from ..errors import FieldError
from ..extensions import db
from ..models import Role, SignInAttempt, Tier, User
from . import passwords


class AuthError(FieldError):
    """Sign-in or account creation refused."""


WRONG_DETAILS = "Enter a correct email address and password"


def normalise_email(email: str) -> str:
    return email.strip().lower()


def is_email_address(email: str) -> bool:
    """Whether ``email`` (normalised) can be an account's address: what a new account or an invitation needs.

    email-validator checks the syntax as mail servers read it: "a@b" (no dot), "a,b@c.org", a zero-width space
    pasted from a document, or a reserved domain such as "localhost" are typos, not addresses a link could reach.
    Letters beyond ASCII are refused anywhere in it: smtplib sends to them only through a server that supports
    SMTPUTF8, and not every one does.
    """
    if not email.isascii():
        return False
    try:
        email_validator.validate_email(email, check_deliverability=False, allow_smtputf8=False)
    except email_validator.EmailNotValidError:
        return False
    return True


def _failures_since(since: datetime, **match: str) -> int:
    query = select(func.count(SignInAttempt.id)).where(SignInAttempt.succeeded.is_(False), SignInAttempt.at >= since)
    for column, value in match.items():
        query = query.where(getattr(SignInAttempt, column) == value)
    return db.session.scalar(query) or 0


def throttled(email: str, address: str, *, field: str = "email") -> AuthError | None:
    """The refusal to give when ``address`` has failed too often lately, for this account or any.

    Failures are counted per account *from one address* and per address, so an
    attacker elsewhere cannot lock the real user out of their account.
    """
    config = current_app.config
    since = datetime.now(UTC) - config["SIGN_IN_WINDOW"]
    if (
        _failures_since(since, email=email, address=address) >= config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"]
        or _failures_since(since, address=address) >= config["SIGN_IN_MAX_FAILURES_PER_ADDRESS"]
    ):
        minutes = int(config["SIGN_IN_WINDOW"].total_seconds() // 60)
        what = "to sign in" if field == "email" else "with a wrong password"
        return AuthError(field, f"Too many failed attempts {what}. Wait {minutes} minutes, then try again")
    return None


def lock_user(user_id: int) -> User | None:
    """The user's row, locked for this write transaction and freshly read (call after begin_write())."""
    return lock(User, user_id)


def check_password(email: str, password: str, address: str, *, field: str = "email") -> User | None:
    """Verify a password against the throttle; the user (in an open write transaction) if right, None if wrong.

    The slow argon2 check runs outside any write transaction, so sign-ins
    never queue behind each other's hashing (on SQLite a write transaction
    holds the one database-wide write lock). The throttle is read before the
    check, then again inside the write transaction with the user's row
    locked, so requests racing in parallel get no more guesses than allowed.
    The attempt is recorded either way; an outdated hash is replaced. The
    caller commits.

    :raises AuthError: when ``address`` has failed too often lately.
    """
    for _ in range(3):
        refusal = throttled(email, address, field=field)
        user = db.session.scalar(select(User).where(User.email == email))
        user_id, password_hash = (user.id, user.password_hash) if user else (None, None)
        db.session.rollback()  # end the read: no connection is held while hashing
        if refusal:
            raise refusal

        ok = passwords.verify_password(password_hash, password)
        new_hash = (
            passwords.hash_password(password)
            if ok and password_hash and passwords.needs_rehash(password_hash)
            else None
        )

        begin_write()
        user = lock_user(user_id) if user_id is not None else None
        if user is not None and user.password_hash != password_hash:
            # Changed (or rehashed by a parallel sign-in) while we were
            # checking: check again against what the row holds now.
            db.session.rollback()
            continue
        refusal = throttled(email, address, field=field)
        if refusal:
            db.session.rollback()
            raise refusal
        ok = ok and user is not None and user.active  # on the locked copy
        # Stamped on the real clock, as the throttle counts them (the model's default is the service's clock).
        db.session.add(SignInAttempt(email=email, address=address, succeeded=ok, at=datetime.now(UTC)))
        if not ok:
            db.session.commit()
            return None
        assert user is not None
        if new_hash:
            user.password_hash = new_hash
        return user
    raise RuntimeError("the password kept changing while it was being checked")


def sign_in(email: str, password: str, address: str) -> User:
    """Check the credentials and record the attempt; return the user.

    :raises AuthError: on wrong details or too many recent failures.
    """
    email = normalise_email(email)
    user = check_password(email, password, address)
    if user is None:
        raise AuthError("email", WRONG_DETAILS)
    user.last_signed_in_at = datetime.now(UTC)
    db.session.commit()
    return user


def end_all_sessions(user: User) -> None:
    """Sign the user out everywhere: every session and remember-me cookie stops working."""
    begin_write()
    # Core-style: the bump happens in SQL only, the session's copy of the user is left as it is.
    db.session.execute(
        update(User)
        .where(User.id == user.id)
        .values(session_version=User.session_version + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def create_user(
    *,
    email: str,
    name: str,
    password: str,
    roles: set[Role],
    tier: Tier | None = None,
) -> User:
    """Create an account.

    :raises AuthError: for a duplicate email, a weak password or a worker without a tier.
    """
    email = normalise_email(email)
    if not is_email_address(email):
        raise AuthError("email", "Enter an email address in the correct format, like name@example.org")
    if not name.strip():
        raise AuthError("name", "Enter the person's name")
    problem = passwords.password_problem(password, name=name, email=email)
    if problem:
        raise AuthError("password", problem)
    if Role.WORKER in roles and tier is None:
        raise AuthError("tier", "Choose the framework and tier this worker follows")
    begin_write()
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        db.session.rollback()
        raise AuthError("email", "An account with this email address already exists")
    user = User(
        email=email,
        name=name.strip(),
        password_hash=passwords.hash_password(password),
        is_worker=Role.WORKER in roles,
        is_supervisor=Role.SUPERVISOR in roles,
        is_manager=Role.MANAGER in roles,
        framework_id=tier.framework_id if tier else None,
        tier_id=tier.id if tier else None,
    )
    db.session.add(user)
    db.session.commit()
    return user
