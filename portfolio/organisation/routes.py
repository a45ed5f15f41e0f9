"""The Organisation page (managers), and the organisation's logo (everyone: it is in the header)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, url_for
from flask_login import current_user

from ..access import manager_required
from ..errors import FieldError, show_on_form
from ..rendering import render
from . import service
from .forms import NO, YES, OrganisationForm

bp = Blueprint("organisation", __name__, url_prefix="/organisation")


@bp.route("/", methods=["GET", "POST"])
@manager_required
def index():
    """The service name, organisation name, whether it is an NHS organisation, and its logo."""
    current = service.identity()
    form = OrganisationForm(
        data={
            "service_name": current.service_name,
            "organisation_name": current.organisation_name,
            "is_nhs": YES if current.is_nhs else NO,
        }
    )
    if form.validate_on_submit():
        try:
            saved = service.update_settings(
                current_user._get_current_object(),
                service.Changes(
                    service_name=form.service_name.data or "",
                    organisation_name=form.organisation_name.data or "",
                    is_nhs=form.is_nhs.data == YES,
                    logo=form.logo.data,
                    remove_logo=bool(form.remove_logo.data),
                ),
            )
        except FieldError as error:
            show_on_form(form, error)
        else:
            flash("The organisation's details have been saved" if saved else "Nothing was changed", "success")
            return redirect(url_for(".index"), code=303)
    elif form.is_submitted() and form.logo.data:
        try:  # refused for another field: say what is wrong with the logo too, in the same answer
            service.check_logo(form.logo.data)
        except FieldError as error:
            show_on_form(form, error)
    return render(
        "organisation/index.html",
        form=form,
        current=current,
        uploaded=service.has_uploaded_logo(),
        logo_hint=service.LOGO_HINT,
        status=422 if form.errors else 200,
    )


@bp.get("/logo/<version>")
def logo(version: str):
    """The organisation's logo, re-encoded when it was accepted; its address changes with it, so it may be kept."""
    image = service.logo()
    if image is None or image.sha256[:16] != version:
        abort(404)
    response = make_response(image.data)
    response.mimetype = image.content_type
    # Re-encoded PNG or JPEG only, never rendered as anything else; the address names this version.
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response
