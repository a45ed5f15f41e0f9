"""Your account page, changing your password, and the forgotten-password pages."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from ..errors import FieldError, show_on_form, show_the_rest
from ..notifications import service as notifications
from ..rendering import render
from . import service
from .forms import NEW_PASSWORD_HINT, ChangePasswordForm, EmailFrequencyForm, ForgottenPasswordForm, ResetPasswordForm

bp = Blueprint("account", __name__, url_prefix="/account")


def _address() -> str:
    return request.remote_addr or "unknown"


@bp.get("/")
@login_required
def index():
    """Your name, email address and roles, how often you get emails, and a link to change your password."""
    form = EmailFrequencyForm(data={"email_frequency": current_user.email_frequency.value})
    return render("account/index.html", frequency_form=form)


@bp.post("/emails")
@login_required
def email_frequency():
    """Choose a daily digest of your notifications or each one emailed at once."""
    form = EmailFrequencyForm()
    if form.validate_on_submit():
        try:
            user = notifications.set_email_frequency(
                current_user._get_current_object(), form.email_frequency.data or ""
            )
        except FieldError as error:
            show_on_form(form, error)
        else:
            flash(f"Emails about your notifications: {user.email_frequency.label.lower()}.", "success")
            return redirect(url_for("account.index"), code=303)
    return render("account/index.html", frequency_form=form, status=422)


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change your password; every other session of yours ends, this one goes on."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        started = current_user.signed_in_at
        had_remember_me = bool(request.cookies.get(current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")))
        try:
            user = service.change_password(
                current_user._get_current_object(),
                form.current_password.data or "",
                form.new_password.data or "",
                _address(),
            )
        except FieldError as error:
            show_on_form(form, error)
        else:
            # Re-issue this session with the new version; its sign-in time stays,
            # so the absolute timeout is not extended.
            user.signed_in_at = started
            login_user(user, remember=had_remember_me)
            flash("Your password has been changed. You have been signed out on every other device.", "success")
            return redirect(url_for("account.index"), code=303)
    elif form.is_submitted() and not form.csrf_token.errors:
        # The policy's word on the new password too, not only the form's (the passwords do not match).
        current = form.current_password.data or None
        show_the_rest(
            form, service.new_password_problems(current_user, form.new_password.data or "", current_password=current)
        )
    status = 422 if form.errors else 200
    return render("account/change_password.html", form=form, hint=NEW_PASSWORD_HINT, status=status)


@bp.route("/forgotten-password", methods=["GET", "POST"])
def forgotten_password():
    """Ask for a link to set a new password; the answer is the same whether or not the address has an account."""
    form = ForgottenPasswordForm()
    if form.validate_on_submit():
        try:
            service.request_reset(form.email.data or "", _address())
        except FieldError as error:
            show_on_form(form, error)
        else:
            return redirect(url_for("account.reset_link_sent"), code=303)
    status = 422 if form.errors else 200
    return render("account/forgotten_password.html", form=form, status=status)


@bp.get("/forgotten-password/sent")
def reset_link_sent():
    """What happens next, said the same way for every address."""
    return render("account/reset_link_sent.html", minutes=service.RESET_MINUTES)


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """Set a new password through the link from the email; then sign in with it."""
    try:
        reset = service.usable_reset(token)
    except service.ResetLinkUnusable:
        return _unusable_link()
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            service.reset_password(token, form.password.data or "")
        except service.ResetLinkUnusable:
            return _unusable_link()
        except FieldError as error:
            show_on_form(form, error)
        else:
            if current_user.is_authenticated:
                logout_user()  # that session has just ended; forget it here too
            # Sign in afresh rather than here: whoever has a second factor
            # passes it on the sign-in page, and the new password is tried once.
            flash("Your password has been changed. Sign in with your new password.", "success")
            return redirect(url_for("auth.sign_in"), code=303)
    elif form.is_submitted() and not form.csrf_token.errors:
        show_the_rest(form, service.new_password_problems(reset.user, form.password.data or "", field="password"))
    status = 422 if form.errors else 200
    return render("account/reset_password.html", form=form, token=token, hint=NEW_PASSWORD_HINT, status=status)


def _unusable_link():
    return render("account/reset_link_unusable.html", minutes=service.RESET_MINUTES, status=410)
