"""Frameworks in and out.

Out: the read-only CASE 1.1 service. Frameworks are public documents, so no
sign-in is asked; ``PORTFOLIO_CASE_API=off`` turns the endpoints off (they
answer 404 like any unknown path). Errors use CASE's ``imsx_StatusInfo`` shape.

In: managers upload a CASE package or a SmartEvidence matrix, see its tree,
choose the levels that hold tiers and areas, and confirm.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, url_for
from flask_login import current_user

from ..access import manager_required
from ..errors import FieldError, show_on_form
from ..rendering import render
from . import case, service
from .forms import ONE_TIER, ConfirmImportForm, UploadForm

bp = Blueprint("case_api", __name__, url_prefix=case.API_PATH)


@bp.app_template_global()
def case_package_url(framework) -> str | None:
    """Where the CASE service publishes ``framework`` (its current version), or None when the service is off."""
    if not current_app.config.get("CASE_API", True) or not framework.is_current:
        return None
    return url_for("case_api.package", sourced_id=case.document_identifier(framework))


@bp.before_request
def _only_when_enabled():
    if not current_app.config.get("CASE_API", True):
        abort(404)


def _status(http_status: int, code_minor: str, description: str):
    body = {
        "imsx_codeMajor": "failure",
        "imsx_severity": "error",
        "imsx_description": description,
        "imsx_CodeMinor": {
            "imsx_codeMinorField": [{"imsx_codeMinorFieldName": "sourcedId", "imsx_codeMinorFieldValue": code_minor}]
        },
    }
    response = jsonify(body)
    response.status_code = http_status
    return response


def _checked(sourced_id: str):
    """None if ``sourced_id`` is a UUID, else the CASE answer for an invalid one."""
    try:
        uuid.UUID(sourced_id)
    except ValueError:
        return _status(400, "invalid_uuid", f"{sourced_id!r} is not a UUID.")
    return None


def _unknown(sourced_id: str):
    return _status(404, "unknownobject", f"No object has the identifier {sourced_id}.")


def _json(body):
    response = jsonify(body)
    response.headers["Access-Control-Allow-Origin"] = "*"  # public documents, read by other CASE tools
    return response


@bp.get("/CFDocuments")
def documents():
    """Every current framework's CFDocument."""
    return _json({"CFDocuments": [package.document for package in case.current_packages()]})


@bp.get("/CFDocuments/<sourced_id>")
def document(sourced_id: str):
    """One framework's CFDocument."""
    if (invalid := _checked(sourced_id)) is not None:
        return invalid
    package = case.find_package(sourced_id)
    return _unknown(sourced_id) if package is None else _json(package.document)


@bp.get("/CFPackages/<sourced_id>")
def package(sourced_id: str):
    """A framework's whole package: its document, items and associations."""
    if (invalid := _checked(sourced_id)) is not None:
        return invalid
    found = case.find_package(sourced_id)
    return _unknown(sourced_id) if found is None else _json(found.as_json())


@bp.get("/CFItems/<sourced_id>")
def item(sourced_id: str):
    """One item, with a link to its document."""
    return _node("CFItems", sourced_id)


@bp.get("/CFAssociations/<sourced_id>")
def association(sourced_id: str):
    """One association, with a link to its document."""
    return _node("CFAssociations", sourced_id)


def _node(kind: str, sourced_id: str):
    if (invalid := _checked(sourced_id)) is not None:
        return invalid
    found = case.find_node(kind, sourced_id)
    if found is None:
        return _unknown(sourced_id)
    node, package = found
    return _json({**node, "CFDocumentURI": package.document_link()})


# --- Frameworks in: upload, preview, confirm (managers) ------------------------------------------

imports_bp = Blueprint("framework_import", __name__, url_prefix="/frameworks/import")


@imports_bp.route("/", methods=["GET", "POST"])
@manager_required
def upload():
    """Upload a CASE package or a SmartEvidence matrix to import."""
    form = UploadForm()
    if form.validate_on_submit():
        try:
            held = service.upload(current_user, form.file.data.filename or "", form.file.data.read())
        except FieldError as error:
            show_on_form(form, error)
        else:
            return redirect(url_for(".preview", import_id=held.id), code=303)
    return render("frameworks/import.html", status=422 if form.errors else 200, form=form)


@imports_bp.route("/<id:import_id>", methods=["GET", "POST"])
@manager_required
def preview(import_id: int):
    """The uploaded file's tree, the choice of levels, and the button that imports it."""
    held = service.get_import_or_404(import_id)
    if held.framework_id is not None:
        return redirect(url_for("frameworks.show", framework_id=held.framework_id), code=303)
    tree = service.tree_of(held)
    levels = tree.levels()
    form = ConfirmImportForm(data=_suggested_levels(levels) | _suggested_target(tree.title))
    form.set_choices(levels, service.version_targets(), tree.title)
    if form.validate_on_submit():
        try:
            confirmed = service.confirm(
                current_user,
                held,
                tier_level=None if form.tier_level.data == ONE_TIER else int(form.tier_level.data),
                area_level=int(form.area_level.data),
                target=form.target.data,
            )
        except FieldError as error:
            show_on_form(form, error)
        else:
            flash(confirmed.describe(), "success")
            return redirect(url_for("frameworks.show", framework_id=confirmed.framework.id), code=303)
    return render(
        "frameworks/import_preview.html",
        status=422 if form.errors else 200,
        held=held,
        tree=tree,
        levels=levels,
        children=tree.children(),
        form=form,
    )


def _suggested_levels(levels) -> dict[str, str]:
    """Tiers on level 1 and areas on level 2 when the tree is deep enough; else one tier, areas on level 1."""
    deep = len(levels) >= 3
    return {"tier_level": "1" if deep else ONE_TIER, "area_level": "2" if deep else "1"}


def _suggested_target(title: str) -> dict[str, str]:
    """A new version of the framework of the same name, if there is one (a new framework of that name is
    refused); a new framework otherwise."""
    existing = service.same_titled(title)
    return {"target": existing.key if existing is not None and existing.kind == "tiered" else service.NEW}
