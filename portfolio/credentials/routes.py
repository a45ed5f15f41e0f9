"""Credentials: the worker's own, the public check, the DID document and status list, managers' revocations."""

from __future__ import annotations

import json
from uuid import UUID

from flask import Blueprint, Response, abort, flash, jsonify, redirect, request, url_for
from flask_login import current_user, login_required

from ..access import manager_required
from ..errors import FieldError, show_on_form
from ..rendering import render
from . import service
from .forms import EmailCheckForm, RevokeForm, VerifyForm

bp = Blueprint("credentials", __name__)


@bp.get("/credentials/")
@login_required
def mine():
    """The worker's credentials, to download for a wallet or share."""
    return render("credentials/mine.html", credentials=service.mine(current_user))


def _owned_or_managed(public_id: UUID):
    credential = service.get_credential_or_404(str(public_id))
    if credential.worker_id != current_user.id and not current_user.is_manager:
        abort(404)
    return credential


@bp.get("/credentials/<uuid:public_id>.json")
@login_required
def download(public_id: UUID):
    """The signed credential as issued, to put in a wallet."""
    credential = _owned_or_managed(public_id)
    body = json.dumps(credential.document, ensure_ascii=False, indent=2)
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="credential-{credential.public_id}.json"'},
    )


@bp.get("/credentials/<uuid:public_id>")
def show(public_id: UUID):
    """A credential's public page: what it says and whether it still holds (the link a worker shares)."""
    credential = service.get_credential_or_404(str(public_id))
    verdict = service.verify(credential.document)
    form = EmailCheckForm(request.args, meta={"csrf": False})
    matches = None
    if "email" in request.args and form.validate():
        matches = service.email_matches(credential.document, form.email.data or "")
    return render(
        "credentials/show.html",
        "email_check",
        status=422 if form.errors else 200,
        credential=credential,
        verdict=verdict,
        form=form,
        matches=matches,
    )


@bp.route("/credentials/verify", methods=["GET", "POST"])
def verify():
    """Anyone can paste or upload a credential and learn whether it is valid, revoked, expired or changed."""
    form = VerifyForm()
    verdict = None
    if form.validate_on_submit():
        try:
            text = form.credential_text()
            if not text.strip():
                raise FieldError("credential", "Paste the credential, or choose its file")
            verdict = service.verify(service.parse(text))
        except FieldError as error:
            show_on_form(form, error)
    return render("credentials/verify.html", status=422 if form.errors else 200, form=form, verdict=verdict)


@bp.get("/credentials/status/<int:number>")
def status_list(number: int):
    """The signed revocation status list that every credential points at."""
    if number != service.STATUS_LIST_NUMBER or not service.can_issue():
        abort(404)
    response = jsonify(service.status_list_credential())
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/.well-known/did.json")
def did_document():
    """The issuer's DID document (did:web): the public key that verifies our credentials."""
    if not service.can_issue():
        abort(404)
    response = jsonify(service.did_document())
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/credentials/issued")
@manager_required
def issued():
    """Every credential the service has issued, to revoke one issued in error."""
    return render("credentials/issued.html", credentials=service.all_issued())


@bp.route("/credentials/<uuid:public_id>/revoke", methods=["GET", "POST"])
@manager_required
def revoke(public_id: UUID):
    """Revoke a credential issued in error, saying why."""
    credential = service.get_credential_or_404(str(public_id))
    form = RevokeForm()
    if form.validate_on_submit():
        try:
            service.revoke(current_user, credential, form.reason.data or "")
        except FieldError as error:
            show_on_form(form, error)
        else:
            flash(f"Credential for {credential.worker.name} revoked", "success")
            return redirect(url_for(".issued"), code=303)
    return render("credentials/revoke.html", status=422 if form.errors else 200, credential=credential, form=form)
