"""Sign-in and sign-out pages."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, redirect, request, session, url_for
from flask_login import current_user, login_required, logout_user

from ..errors import show_on_form
from ..mfa import pending as mfa_pending
from ..mfa import service as mfa_service
from ..rendering import render
from . import service
from .forms import SignInForm
from .sessions import begin_signed_in_session

bp = Blueprint("auth", __name__, url_prefix="/auth")


def _safe_next(target: str | None) -> str:
    """A local path to return to after sign-in; anything else goes home."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("home.index")


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    """Show the sign-in form; sign the user in on success."""
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = SignInForm()
    if form.validate_on_submit():
        try:
            user = service.sign_in(form.email.data or "", form.password.data or "", request.remote_addr or "unknown")
        except service.AuthError as error:
            show_on_form(form, error)
        else:
            next_url = _safe_next(request.args.get("next"))
            # --- MFA: with a second factor, the password is only the first step.
            if mfa_service.has_second_factor(user.id):
                mfa_pending.start(user, remember=form.remember.data, next_url=next_url)
                return redirect(url_for("mfa.verify"), code=303)
            # --- end MFA
            begin_signed_in_session(user, remember=form.remember.data)  # a new session identity
            return redirect(next_url, code=303)
    status = 422 if form.errors else 200
    return render("auth/sign_in.html", form=form, status=status)


@bp.post("/sign-out")
@login_required
def sign_out():
    """End this and every other session of the user, remember-me included."""
    service.end_all_sessions(current_user._get_current_object())
    session.clear()
    logout_user()  # after clear(): it flags the remember-me cookie for deletion
    return redirect(url_for("auth.sign_in", signed_out=1), code=303)
