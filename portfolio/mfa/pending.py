"""The state between a correct password and the second factor.

The session holds only who typed the password, when, and what to do after:
nobody is signed in until the second factor is checked, so every page other
than the second step still sends this visitor to sign in.
"""

from __future__ import annotations

from flask import current_app, session

from ..auth.sessions import begin_signed_in_session, now
from ..extensions import db
from ..models import User

SESSION_KEY = "mfa_pending"


def start(user: User, *, remember: bool, next_url: str) -> None:
    """Remember the password step, in a new session identity."""
    session.clear()
    session[SESSION_KEY] = {
        "user": user.id,
        "version": user.session_version,
        "at": now(),
        "remember": bool(remember),
        "next": next_url,
    }


def _state() -> dict | None:
    state = session.get(SESSION_KEY)
    if not isinstance(state, dict):
        return None
    if now() - int(state.get("at", 0)) > current_app.config["MFA_PENDING_LIFETIME"].total_seconds():
        return None
    return state


def pending_user() -> User | None:
    """The person who typed their password a moment ago, if that is still current."""
    state = _state()
    if state is None:
        return None
    user = db.session.get(User, state["user"])
    if user is None or not user.active or user.session_version != state["version"]:
        return None
    return user


def finish(user: User) -> str:
    """Sign ``user`` in for real (new session identity); return where to go next."""
    state = _state() or {}
    begin_signed_in_session(user, remember=bool(state.get("remember")))
    return state.get("next") or "/"
