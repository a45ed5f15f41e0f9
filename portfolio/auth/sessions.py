"""Flask-Login wiring: loading the user, idle and absolute session timeouts.

The id Flask-Login keeps in the session and in the remember-me cookie is
``"<user id>:<session version>:<signed-in time>"``, signed by Flask. The
version ends every session at once when it is bumped (sign-out, password
change, disabling); the time is when the password was typed, so no cookie,
remember-me included, outlives SESSION_ABSOLUTE_LIFETIME.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from flask import Flask, current_app, request, session
from flask_login import current_user, login_user
from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import joinedload

from ..extensions import db, login_manager
from ..models import OrganisationSettings, User
from ..notifications import service as notifications
from ..organisation import service as organisation


def now() -> int:
    return int(datetime.now(UTC).timestamp())


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """Load the user named in the session, if that session is still current."""
    parts = user_id.split(":")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        return None
    from ..mfa import service as mfa  # here, not at the top: mfa's passkeys import this module

    raw_id, version, started = (int(part) for part in parts)
    if now() - started > current_app.config["SESSION_ABSOLUTE_LIFETIME"].total_seconds():
        return None
    row = db.session.execute(_signed_in_user_query(), {"user_id": raw_id}).first()
    if row is None:
        return None
    user, unread, second_factor, *identity = row
    organisation.remember_identity(identity)
    if user.session_version != version or not user.active:
        return None
    notifications.remember_unread_count(user, unread)
    mfa.remember_second_factor(user, second_factor)
    user.signed_in_at = started
    return user


@functools.cache
def _signed_in_user_query() -> Select:
    """The user with their framework and tier, the organisation's identity, their unread notices and whether
    they have a second factor.

    One round trip for what every page needs besides its own (the header, and the gate in front of every
    page in mfa/routes.py); each was a query of its own. Built once per process: putting the statement
    together cost more than running it, on every request.
    """
    from ..mfa import service as mfa  # here, not at the top: mfa's passkeys import this module

    return (
        select(
            User,
            notifications.unread_count_of(User.id),
            mfa.second_factor_of(User.id),
            *organisation.IDENTITY_COLUMNS,
        )
        .outerjoin(OrganisationSettings, OrganisationSettings.id == organisation.ROW_ID)
        .where(User.id == bindparam("user_id"))
        # A worker's pages show their framework and tier (home, progress, the map): loaded with them, not
        # one query each when first touched.
        .options(joinedload(User.framework), joinedload(User.tier))
    )


def start_session(user: User) -> None:
    """Stamp a new sign-in; the idle timeout (PERMANENT_SESSION_LIFETIME) refreshes per request."""
    user.signed_in_at = now()
    session.permanent = True


def begin_signed_in_session(user: User, *, remember: bool = False) -> None:
    """Sign ``user`` in with a new session identity (after every factor has been checked)."""
    session.clear()
    start_session(user)
    login_user(user, remember=remember)


def init_app(app: Flask) -> None:
    """Configure the login manager and forget sessions that have ended."""
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = "Sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    remember_cookie = app.config.get("REMEMBER_COOKIE_NAME", "remember_token")

    @app.before_request
    def _forget_ended_sessions() -> None:
        # An expired or revoked sign-in leaves cookies that no longer work:
        # clear them so the browser stops sending them.
        if current_user.is_authenticated:
            return
        if "_user_id" in session or request.cookies.get(remember_cookie):
            session.clear()
            session["_remember"] = "clear"
