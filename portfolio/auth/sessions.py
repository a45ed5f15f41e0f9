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
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_login import current_user, login_user
from itsdangerous import BadSignature
from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import joinedload

from ..extensions import db, login_manager
from ..models import OrganisationSettings, User
from ..notifications import service as notifications
from ..organisation import service as organisation
from ..progress import versions
from ..rendering import wants_fragment
from ..review import service as review


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
    # A page shows a supervisor's queue count in its navigation: read with her. A form's answer is drawn after what it
    # changed, and a fragment has no navigation: they count it themselves, if at all.
    with_queue = request.method in ("GET", "HEAD") and not wants_fragment()
    parameters = {"user_id": raw_id} | (review.waiting_up_to_parameters(raw_id) if with_queue else {})
    row = db.session.execute(_signed_in_user_query(with_queue), parameters).first()
    if row is None:
        return None
    user, unread, second_factor, own_token, frameworks_token, *identity = row
    if with_queue:
        *identity, waiting = identity
    organisation.remember_identity(identity)
    if user.session_version != version or not user.active:
        return None
    notifications.remember_unread_count(user, unread)
    if with_queue:
        review.remember_waiting_up_to(user, waiting)
    versions.remember_tokens(user.id, own_token, frameworks_token)
    mfa.remember_second_factor(user, second_factor)
    user.signed_in_at = started
    return user


@functools.cache
def _signed_in_user_query(with_queue: bool) -> Select:
    """The user with their framework and tier, the organisation's identity, their unread notices, whether
    they have a second factor, and the version tokens of their portfolio and of the frameworks; ``with_queue``,
    how many items wait for them (a supervisor's, for the navigation).

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
            *versions.tokens_of(User.id),
            *organisation.IDENTITY_COLUMNS,
            *([review.waiting_up_to_column()] if with_queue else []),
        )
        .outerjoin(OrganisationSettings, OrganisationSettings.id == organisation.ROW_ID)
        .where(User.id == bindparam("user_id"))
        # A worker's pages show their framework and tier (home, progress, the map): loaded with them, not
        # one query each when first touched.
        .options(joinedload(User.framework), joinedload(User.tier))
    )


def start_session(user: User) -> None:
    """Stamp a new sign-in; the idle timeout (PERMANENT_SESSION_LIFETIME) starts again as the person uses the app
    (IdleTimeoutSessionInterface)."""
    user.signed_in_at = now()
    session.permanent = True


def begin_signed_in_session(user: User, *, remember: bool = False) -> None:
    """Sign ``user`` in with a new session identity (after every factor has been checked)."""
    session.clear()
    start_session(user)
    login_user(user, remember=remember)


class IdleTimeoutSession(SecureCookieSession):
    """A session cookie's data, and when it was signed (None for a new session)."""

    signed_at: datetime | None = None


class IdleTimeoutSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, signed again for the idle timeout once a minute rather than on every request.

    The idle timeout is the signature's age (PERMANENT_SESSION_LIFETIME, checked by the server as well as by the
    cookie's expiry), so a cookie must be signed again as the person keeps using the app. Doing it on every request
    (Flask's SESSION_REFRESH_EACH_REQUEST) costs every page a serialisation, a signature and a Set-Cookie header;
    once a minute moves the timeout by at most a minute (by a tenth of it for a timeout under ten minutes, so that
    a short one still starts again as the person works). A session whose data changed is saved at once, as before.
    """

    session_class = IdleTimeoutSession
    RESIGN_AFTER_SECONDS = 60

    def open_session(self, app: Flask, request) -> IdleTimeoutSession | None:
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        cookie = request.cookies.get(self.get_cookie_name(app))
        if not cookie:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        try:
            data, signed_at = serializer.loads(cookie, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        opened = self.session_class(data)
        opened.signed_at = signed_at
        return opened

    def should_set_cookie(self, app: Flask, session) -> bool:
        if session.modified:
            return True
        if not (session.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"]):
            return False
        signed_at = getattr(session, "signed_at", None)
        if signed_at is None:
            return True
        resign_after = min(self.RESIGN_AFTER_SECONDS, app.permanent_session_lifetime.total_seconds() / 10)
        return (datetime.now(UTC) - signed_at).total_seconds() >= resign_after


def init_app(app: Flask) -> None:
    """Configure the login manager and the session cookie, and forget sessions that have ended."""
    app.session_interface = IdleTimeoutSessionInterface()
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
