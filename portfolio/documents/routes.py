"""Documents built in the background: a status page that refreshes itself, then the download."""

from __future__ import annotations

from flask import Blueprint, url_for
from flask_login import current_user, login_required

from ..models import DocumentKind, DocumentStatus
from ..rendering import render
from . import service

bp = Blueprint("documents", __name__, url_prefix="/documents")

_TITLES = {DocumentKind.DATA_EXPORT: "All your data", DocumentKind.PANEL_PDF: "Portfolio for a promotion panel"}


@bp.get("/<id:document_id>")
@login_required
def show(document_id: int):
    """Where a document stands: being prepared (the page refreshes itself), ready to download, or failed."""
    document = service.get_document_or_404(current_user, document_id)
    failed = document.status == DocumentStatus.FAILED or service.is_lost(document)
    own = document.worker_id == current_user.id
    title = _TITLES[document.kind]
    if document.kind == DocumentKind.PANEL_PDF and document.tier is not None:
        title = f"{title}: {document.tier.name}" + ("" if own else f" for {document.worker.name}")
    return render(
        "documents/show.html",
        "document_status",
        oob=("document_live",),
        document=document,
        document_title=title,
        building=document.status == DocumentStatus.BUILDING and not failed,
        failed=failed,
        back_url=url_for("progress.index", _anchor="documents")
        if own
        else url_for("progress.worker", worker_id=document.worker_id, _anchor="documents"),
        back_text="My progress" if own else f"{document.worker.name}'s progress",
    )


@bp.get("/<id:document_id>/download")
@login_required
def download(document_id: int):
    """The built document, for the person who asked for it, while they may still see it."""
    return service.send(service.get_document_or_404(current_user, document_id))
