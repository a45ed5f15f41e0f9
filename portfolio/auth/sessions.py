"""Flask-Login wiring: loading the user, idle and absolute session timeouts."""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Flask, session
from flask_login import current_user, logout_user

from ..extensions import db, login_manager
from ..models import User

SIGNED_IN_AT = "signed_in_at"


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """Load the user named in the session, if that session is still current."""
    raw_id, _, version = user_id.partition(":")
    if not raw_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(raw_id))
    if user is None or user.session_version != int(version) or not user.active:
        return None
    return user


def start_session() -> None:
    """Record when this sign-in began, for the absolute timeout."""
    session.permanent = True  # idle timeout: PERMANENT_SESSION_LIFETIME, refreshed per request
    session[SIGNED_IN_AT] = datetime.now(timezone.utc).timestamp()


def init_app(app: Flask) -> None:
    """Configure the login manager and enforce the absolute timeout."""
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = "Sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @app.before_request
    def _absolute_timeout() -> None:
        if not current_user.is_authenticated:
            return
        started = session.get(SIGNED_IN_AT)
        now = datetime.now(timezone.utc).timestamp()
        if started is None:
            # Restored from a remember-me cookie: the session starts now.
            start_session()
        elif now - started > app.config["SESSION_ABSOLUTE_LIFETIME"].total_seconds():
            session.clear()
            logout_user()
