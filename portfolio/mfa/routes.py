"""Second-factor pages: the security section of the account, the second step of signing in, a manager's reset."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, abort, flash, jsonify, redirect, request, url_for
from flask_login import current_user, login_required

from ..access import manager_required
from ..auth.sessions import begin_signed_in_session
from ..errors import FieldError, show_on_form
from ..rendering import render
from . import passkeys, pending, service
from .forms import CodeForm, ConfirmForm, ConfirmTotpForm, PasskeyNameForm, PasswordForm

bp = Blueprint("mfa", __name__)


def _me():
    return current_user._get_current_object()


def _address() -> str:
    return request.remote_addr or "unknown"


def _json_error(message: str, status: int = 422) -> tuple[Response, int]:
    return jsonify(message=message), status


def _json_body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


# --- The security section of the account -------------------------------------


def _security_page(status: int = 200, **forms):
    forms.setdefault("recovery_form", ConfirmForm(prefix="recovery"))
    forms.setdefault("totp_form", ConfirmForm(prefix="totp"))
    forms.setdefault("passkey_form", PasskeyNameForm())
    return render(
        "mfa/security.html",
        status=status,
        security=service.security_of(_me()),
        passkeys_available=passkeys.available(),
        **forms,
    )


@bp.get("/account/security")
@login_required
def security():
    """How the person signs in: one-time codes, recovery codes, passkeys."""
    return _security_page()


@bp.post("/account/security/totp/start")
@login_required
def totp_start():
    """Create the secret for an authenticator app, then show it."""
    form = ConfirmForm(prefix="totp")
    if form.validate_on_submit():
        try:
            service.start_totp(_me())
        except FieldError as error:
            show_on_form(form, error)
        else:
            return redirect(url_for("mfa.totp_setup"), code=303)
    return _security_page(status=422, totp_form=form)


@bp.route("/account/security/totp", methods=["GET", "POST"])
@login_required
def totp_setup():
    """Show the QR code and secret; confirm with a first code, then show the recovery codes once."""
    user = _me()
    secret = service.pending_totp_secret(user)
    if secret is None:
        return redirect(url_for("mfa.security"), code=303 if request.method == "POST" else 302)
    form = ConfirmTotpForm()
    if form.validate_on_submit():
        try:
            codes = service.confirm_totp(user, form.code.data or "")
        except FieldError as error:
            show_on_form(form, error)
        else:
            # Rendered in the answer, never stored readable: this is the only time they are shown.
            return render("mfa/recovery_codes.html", codes=codes, just_set_up=True)
    return render(
        "mfa/totp_setup.html",
        status=422 if form.errors else 200,
        form=form,
        secret=service.group_secret(secret),
    )


@bp.get("/account/security/totp/qr.svg")
@login_required
def totp_qr():
    """The set-up QR code, as an image the page links to (no inline markup to allow in the CSP)."""
    svg = service.totp_qr_svg(_me())
    if svg is None:
        abort(404)
    response = Response(svg, mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/account/security/totp/off", methods=["GET", "POST"])
@login_required
def totp_off():
    """Stop using an authenticator app, after the password."""
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            service.turn_off_totp(_me(), form.password.data or "")
        except FieldError as error:
            show_on_form(form, error)
        else:
            flash("You no longer use an authenticator app to sign in.", "success")
            return redirect(url_for("mfa.security"), code=303)
    return render("mfa/totp_off.html", status=422 if form.errors else 200, form=form)


@bp.post("/account/security/recovery-codes")
@login_required
def recovery_codes():
    """Replace the recovery codes and show the new ones, once."""
    form = ConfirmForm(prefix="recovery")
    if form.validate_on_submit():
        try:
            codes = service.regenerate_recovery_codes(_me())
        except FieldError as error:
            show_on_form(form, error)
        else:
            return render("mfa/recovery_codes.html", codes=codes, just_set_up=False)
    return _security_page(status=422, recovery_form=form)


@bp.post("/account/security/passkeys/options")
@login_required
def passkey_options():
    """Options for the browser to create a passkey (JSON, for static/js/passkeys.js)."""
    try:
        options = service.passkey_registration_options(_me(), str(_json_body().get("name") or ""))
    except FieldError as error:
        return _json_error(error.message)
    return Response(options, mimetype="application/json")


@bp.post("/account/security/passkeys")
@login_required
def passkey_register():
    """Store the passkey the browser created (JSON in, JSON out)."""
    body = _json_body()
    user = _me()
    first = not service.has_second_factor(user.id)
    try:
        service.register_passkey(user, str(body.get("name") or ""), body.get("credential") or {})
    except (FieldError, passkeys.PasskeyError) as error:
        return _json_error(getattr(error, "message", None) or str(error))
    if first and service.mfa_required(user):
        # Someone held at the gate is through it now: on to their home page.
        flash(
            "Your passkey has been added. Create recovery codes on your security page in case you lose it.", "success"
        )
        return jsonify(redirect=url_for("home.index"))
    flash("Your passkey has been added.", "success")
    return jsonify(redirect=url_for("mfa.security"))


@bp.route("/account/security/passkeys/<id:passkey_id>/rename", methods=["GET", "POST"])
@login_required
def passkey_rename(passkey_id: int):
    """Give a passkey a name the person recognises."""
    key = service.get_passkey_or_404(_me(), passkey_id)
    form = PasskeyNameForm(obj=key)
    if form.validate_on_submit():
        try:
            service.rename_passkey(_me(), passkey_id, form.name.data or "")
        except FieldError as error:
            show_on_form(form, error)
        else:
            flash("Passkey renamed.", "success")
            return redirect(url_for("mfa.security"), code=303)
    return render("mfa/passkey_rename.html", status=422 if form.errors else 200, form=form, key=key)


@bp.route("/account/security/passkeys/<id:passkey_id>/remove", methods=["GET", "POST"])
@login_required
def passkey_remove(passkey_id: int):
    """Ask, then remove a passkey."""
    key = service.get_passkey_or_404(_me(), passkey_id)
    name = key.name
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            service.remove_passkey(_me(), passkey_id)
        except FieldError as error:
            show_on_form(form, error)
        else:
            flash(f"Passkey ‘{name}’ removed.", "success")
            return redirect(url_for("mfa.security"), code=303)
    return render("mfa/passkey_remove.html", status=422 if form.errors else 200, form=form, key=key)


# --- The second step of signing in -------------------------------------------


@bp.route("/auth/second-step", methods=["GET", "POST"])
def verify():
    """After a correct password: a one-time code, a recovery code, or a passkey."""
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    user = pending.pending_user()
    if user is None:
        flash("Your sign-in has expired. Sign in again.", "info")
        return redirect(url_for("auth.sign_in"), code=303 if request.method == "POST" else 302)
    form = CodeForm()
    if form.validate_on_submit():
        try:
            service.verify_second_step(user.id, form.code.data or "", _address())
        except FieldError as error:
            show_on_form(form, error)
        else:
            return redirect(pending.finish(user), code=303)
    security = service.security_of(user)
    return render(
        "mfa/verify.html",
        status=422 if form.errors else 200,
        form=form,
        security=security,
        passkeys_available=passkeys.available() and bool(security.passkeys),
    )


@bp.post("/auth/passkey/options")
def passkey_sign_in_options():
    """Options for the browser to sign in with a passkey (JSON): after a password, or instead of one."""
    return Response(service.passkey_sign_in_options(pending.pending_user()), mimetype="application/json")


@bp.post("/auth/passkey")
def passkey_sign_in():
    """Check the passkey's signed answer and sign the person in (JSON in, JSON out)."""
    if current_user.is_authenticated:
        return jsonify(redirect=url_for("home.index"))
    user = pending.pending_user()
    try:
        person = service.sign_in_with_passkey(_json_body().get("credential") or {}, user)
    except passkeys.PasskeyError as error:
        return _json_error(str(error))
    if user is not None:
        return jsonify(redirect=pending.finish(person))
    begin_signed_in_session(person)
    return jsonify(redirect=url_for("home.index"))


# --- A manager's reset -------------------------------------------------------


@bp.route("/mfa/reset/<id:user_id>", methods=["GET", "POST"])
@manager_required
def reset(user_id: int):
    """Remove another person's second factors (they set new ones up at their next sign-in)."""
    if user_id == current_user.id:
        return render(
            "error.html",
            status=403,
            title="You cannot reset your own second factors",
            body="Another manager can do it for you. If you have lost your authenticator app or passkey, sign in with one of your recovery codes.",
        )
    person = service.get_person_to_reset_or_404(_me(), user_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        service.reset_second_factors(_me(), user_id)
        flash(f"{person.name}’s second factors have been reset and they have been signed out everywhere.", "success")
        return redirect(url_for("mfa.reset", user_id=user_id), code=303)
    return render("mfa/reset.html", form=form, person=person, security=service.security_of(person))


# --- The gate ----------------------------------------------------------------

# What someone whose role needs a second factor, and who has none yet, may reach.
SET_UP_ENDPOINTS = frozenset(
    {
        "static",
        "assets.nhsuk_asset",
        "organisation.logo",  # in the header of the set-up pages too
        "auth.sign_out",
        "mfa.security",
        "mfa.totp_start",
        "mfa.totp_setup",
        "mfa.totp_qr",
        "mfa.recovery_codes",
        "mfa.passkey_options",
        "mfa.passkey_register",
    }
)


def init_app(app: Flask) -> None:
    """Hold people whose role needs a second factor at the set-up pages until they have one."""
    app.jinja_env.globals["passkeys_available"] = passkeys.available

    @app.before_request
    def _mfa_gate():
        if request.endpoint in SET_UP_ENDPOINTS or not current_user.is_authenticated:
            return None
        if service.passes_the_gate(_me()):
            return None
        return redirect(url_for("mfa.security"), code=302 if request.method in ("GET", "HEAD") else 303)
