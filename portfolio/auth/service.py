"""Use cases for signing in and out and for creating accounts."""

from __future__ import annotations

from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import func, select

from ..database import begin_write
from ..errors import FieldError
from ..extensions import db
from ..models import Role, SignInAttempt, Tier, User
from . import passwords


class AuthError(FieldError):
    """Sign-in or account creation refused."""


WRONG_DETAILS = "Enter a correct email address and password"


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _failures_since(since: datetime, **match: str) -> int:
    query = select(func.count(SignInAttempt.id)).where(
        SignInAttempt.succeeded.is_(False), SignInAttempt.at >= since
    )
    for column, value in match.items():
        query = query.where(getattr(SignInAttempt, column) == value)
    return db.session.scalar(query) or 0


def sign_in(email: str, password: str, address: str) -> User:
    """Check the credentials and record the attempt; return the user.

    Failures are throttled per account *from one address* and per address, so
    an attacker elsewhere cannot lock the real user out of their account.

    :raises AuthError: on wrong details or too many recent failures.
    """
    email = normalise_email(email)
    config = current_app.config
    since = datetime.now(timezone.utc) - config["SIGN_IN_WINDOW"]
    begin_write()
    if (
        _failures_since(since, email=email, address=address) >= config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"]
        or _failures_since(since, address=address) >= config["SIGN_IN_MAX_FAILURES_PER_ADDRESS"]
    ):
        db.session.rollback()
        minutes = int(config["SIGN_IN_WINDOW"].total_seconds() // 60)
        raise AuthError("email", f"Too many failed attempts to sign in. Wait {minutes} minutes, then try again")

    user = db.session.scalar(select(User).where(User.email == email))
    ok = passwords.verify_password(user.password_hash if user else None, password)
    ok = ok and user is not None and user.active
    db.session.add(SignInAttempt(email=email, address=address, succeeded=ok))
    if not ok:
        db.session.commit()
        raise AuthError("email", WRONG_DETAILS)

    assert user is not None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    user.last_signed_in_at = datetime.now(timezone.utc)
    db.session.commit()
    return user


def end_all_sessions(user: User) -> None:
    """Sign the user out everywhere: every session and remember-me cookie stops working."""
    begin_write()
    db.session.execute(
        User.__table__.update().where(User.id == user.id).values(session_version=User.session_version + 1)
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
    if not email or "@" not in email:
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
