"""The read-only CASE 1.1 service: frameworks are public documents, so no sign-in is asked.

``PORTFOLIO_CASE_API=off`` turns the endpoints off (they answer 404 like any unknown path).
Errors use the CASE service's ``imsx_StatusInfo`` shape.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, current_app, jsonify, url_for

from . import case

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
    return _json({"CFDocuments": [case.package_for(f).document for f in case.current_frameworks()]})


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
