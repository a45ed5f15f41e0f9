"""Use cases for one's own password: changing it, and resetting a forgotten one by email.

Slow argon2 work (checking the current password, hashing the new one) is
done before the write transaction starts, never inside it: on SQLite a write
transaction holds the one database-wide write lock.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update

from ..audit import ledger
from ..auth import passwords, tokens
from ..auth.service import check_password, lock_user, normalise_email
from ..database import begin_write, lock
from ..errors import FieldError, FieldErrors
from ..extensions import db
from ..models import PasswordReset, PasswordResetRequest, User
from ..notifications import service as notifications

log = logging.getLogger(__name__)

RESET_LIFETIME = timedelta(minutes=30)
RESET_MINUTES = int(RESET_LIFETIME.total_seconds() // 60)
# A second request this soon after a link was sent is a double submission:
# it sends no second link (which would make the first one useless).
DOUBLE_SUBMISSION = timedelta(minutes=1)

WRONG_CURRENT = "Your current password is not correct"
SAME_PASSWORD = "Your new password must be different from your current password"


class ResetLinkUnusable(Exception):
    """The reset link is unknown, expired, used, or replaced by a newer one."""


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC), PostgreSQL aware ones."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _cancel_resets(user_id: int, now: datetime) -> None:
    """Make every outstanding reset link of the person useless."""
    db.session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user_id, PasswordReset.used_at.is_(None), PasswordReset.cancelled_at.is_(None))
        .values(cancelled_at=now)
    )


def _set_password(user: User, new_hash: str, now: datetime) -> None:
    """On the locked user: the new hash, every session ended, reset links cancelled, a notice by email."""
    user.password_hash = new_hash
    user.session_version = user.session_version + 1
    _cancel_resets(user.id, now)
    forgotten = current_app.config["PUBLIC_URL"].rstrip("/") + notifications.path_for("account.forgotten_password")
    notifications.email_after_commit(
        notifications.Mail(
            user.email,
            "Your password was changed",
            f"The password of your evidence portfolio account was changed on {now:%d %B %Y at %H:%M} UTC,\n"
            "and every other session of your account was signed out.\n\n"
            "If this was you, you need do nothing.\n\n"
            f"If it was not, reset your password now and tell your manager:\n{forgotten}\n",
        )
    )


# --- Changing one's password ---------------------------------------------------------------


def new_password_problems(
    user: User, new_password: str, *, field: str = "new_password", current_password: str | None = None
) -> dict[str, str]:
    """What the policy says of ``new_password`` for ``user`` (and, when changing it, that it is not the current one),
    by field, writing nothing: the services refuse it, and a form that refused something else shows it too."""
    if current_password is not None and new_password == current_password:
        return {field: SAME_PASSWORD}
    problem = passwords.password_problem(new_password, name=user.name, email=user.email)
    return {field: problem} if problem else {}


def change_password(user: User, current_password: str, new_password: str, address: str) -> User:
    """Set a new password after checking the current one; every other session ends.

    A wrong current password counts as a failed sign-in from ``address``, so
    this form cannot be used to guess it past the sign-in throttle. Returns
    the user with the new session version, for the caller to re-issue its session.

    :raises FieldError: on a wrong current password, too many failures, or a new password refused by the policy.
    """
    if problems := new_password_problems(user, new_password, current_password=current_password):
        raise FieldErrors(problems)
    new_hash = passwords.hash_password(new_password)

    locked = check_password(user.email, current_password, address, field="current_password")
    if locked is None:
        raise FieldError("current_password", WRONG_CURRENT)
    now = _now()
    _set_password(locked, new_hash, now)
    ledger.record(locked, "password.changed", f"user:{locked.id}")
    db.session.commit()
    return locked


# --- Forgotten password ----------------------------------------------------------------------


def _requests_since(since: datetime, **match: str) -> int:
    query = select(func.count(PasswordResetRequest.id)).where(PasswordResetRequest.at >= since)
    for column, value in match.items():
        query = query.where(getattr(PasswordResetRequest, column) == value)
    return db.session.scalar(query) or 0


def request_reset(email: str, address: str) -> None:
    """Email a single-use link to set a new password, if ``email`` belongs to an active account.

    Says nothing about whether it does: every request is recorded and
    throttled alike, the link is created in the same short transaction, and
    the email goes through the task queue so that an SMTP server's delay
    does not show in the response time. A newer link replaces older ones.

    :raises FieldError: when this address, or this email, asked too often lately.
    """
    email = normalise_email(email)
    config = current_app.config
    now = _now()
    since = now - config["SIGN_IN_WINDOW"]
    begin_write()
    if (
        _requests_since(since, email=email) >= config["PASSWORD_RESET_MAX_PER_EMAIL"]
        or _requests_since(since, address=address) >= config["PASSWORD_RESET_MAX_PER_ADDRESS"]
    ):
        db.session.rollback()
        minutes = int(config["SIGN_IN_WINDOW"].total_seconds() // 60)
        raise FieldError("email", f"Too many requests for a reset link. Wait {minutes} minutes, then try again")
    db.session.add(PasswordResetRequest(email=email, address=address, at=now))

    user_id = db.session.scalar(select(User.id).where(User.email == email, User.active.is_(True)))
    user = lock_user(user_id) if user_id is not None else None
    mail = None
    if user is not None and user.active and not _sent_just_now(user.id, now):
        _cancel_resets(user.id, now)
        token, digest = tokens.new_token()
        db.session.add(
            PasswordReset(user_id=user.id, token_digest=digest, created_at=now, expires_at=now + RESET_LIFETIME)
        )
        link = config["PUBLIC_URL"].rstrip("/") + notifications.path_for("account.reset_password", token=token)
        mail = notifications.Mail(
            user.email,
            "Reset your password",
            "Someone, hopefully you, asked to reset the password of your evidence portfolio account.\n\n"
            f"To choose a new password, open this link within {RESET_MINUTES} minutes. "
            "It works once:\n"
            f"{link}\n\n"
            "If you did not ask, ignore this email: your password has not changed.\n",
        )
    db.session.commit()
    if mail is not None:
        _send_in_background(mail)


def _sent_just_now(user_id: int, now: datetime) -> bool:
    """A link still usable was sent moments ago (read under the user's row lock)."""
    return (
        db.session.scalar(
            select(PasswordReset.id).where(
                PasswordReset.user_id == user_id,
                PasswordReset.used_at.is_(None),
                PasswordReset.cancelled_at.is_(None),
                PasswordReset.created_at > now - DOUBLE_SUBMISSION,
            )
        )
        is not None
    )


def _send_in_background(mail: notifications.Mail) -> None:
    if not current_app.config.get("SMTP_HOST"):
        if current_app.config["PORTFOLIO_ENV"] == "development":
            # `make run` has no mail server: the email in the log, so that a reset can be tried. Never elsewhere:
            # the link is as good as the password.
            log.warning("No SMTP server is configured; in development, the email to %s:\n%s", mail.to, mail.body)
            return
        log.warning("A password reset link was asked for, but no SMTP server is configured to send it")
        return
    notifications.queue(mail, "password reset")


def usable_reset(token: str) -> PasswordReset:
    """The reset link ``token`` names, if it can still be used.

    :raises ResetLinkUnusable: for an unknown, expired, used or replaced link, or a disabled account.
    """
    reset = db.session.scalar(select(PasswordReset).where(PasswordReset.token_digest == tokens.digest(token)))
    if reset is None or not _usable(reset, _now()):
        raise ResetLinkUnusable()
    return reset


def _usable(reset: PasswordReset, now: datetime) -> bool:
    return reset.used_at is None and reset.cancelled_at is None and _utc(reset.expires_at) > now and reset.user.active


def reset_password(token: str, new_password: str) -> User:
    """Set a new password through a reset link; the link is used up and every session of the person ends.

    Two submissions of one link at once: the link's row is locked and its
    state checked on the locked copy, so exactly one of them sets the password.

    :raises ResetLinkUnusable: when the link cannot (or can no longer) be used.
    :raises FieldError: when the policy refuses the new password.
    """
    reset = usable_reset(token)
    user = reset.user
    if problems := new_password_problems(user, new_password, field="password"):
        raise FieldErrors(problems)
    reset_id, user_id = reset.id, user.id
    db.session.rollback()  # no connection held while hashing
    new_hash = passwords.hash_password(new_password)

    begin_write()
    now = _now()
    # The user's row first, then the link's: the order every password write takes.
    locked_user = lock_user(user_id)
    locked_reset = lock(PasswordReset, reset_id)
    if locked_reset is None or locked_user is None or not _usable(locked_reset, now):
        db.session.rollback()
        raise ResetLinkUnusable()
    locked_reset.used_at = now
    db.session.flush()
    _set_password(locked_user, new_hash, now)
    ledger.record(locked_user, "password.reset", f"user:{locked_user.id}", reset_id=locked_reset.id)
    db.session.commit()
    return locked_user
