"""Documents built in the background: the data export and the panel PDF leave the request.

A request only claims a :class:`~portfolio.models.Document` row and queues
:func:`build`; the task consumer (``huey_consumer portfolio.worker.huey``, or the
caller in immediate mode) runs the builder that already exists for the kind,
writes the result to a random name under ``DOCUMENT_FOLDER`` and marks the row
ready. The status page polls until then. What goes into each document is the
builders' business (``privacy/export.py``, ``progress/documents.py``); this
module decides only how it is delivered and who may fetch it.

- Asking again while a build is under way finds that build: the asker's row
  is locked while the claim is made, so two requests at once claim one row.
- A built document is downloadable only by the person who asked for it, and
  only while they may still see that worker (the same guard as the pages).
- A file and its ready row appear together or not at all: the file is
  written under a ``.part`` name, renamed, then the row committed; a failed
  build removes whatever it wrote and marks the row failed.
- Documents expire after ``DOCUMENT_HOURS``; :func:`remove_expired` (a
  periodic task, and ``flask files clean``) deletes their rows' files.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from flask import abort, current_app, send_file
from huey import crontab
from sqlalchemy import delete, select
from werkzeug.utils import secure_filename

from .. import tasks
from ..database import begin_write, lock, lock_or_404
from ..extensions import db
from ..models import Document, DocumentKind, DocumentStatus, Role, Tier, User

log = logging.getLogger(__name__)

# A build that has not finished after this long is taken as lost (a consumer that died): asking again starts anew.
BUILD_TIMEOUT = timedelta(minutes=10)
PART_SUFFIX = ".part"
_STORED_NAME = re.compile(r"[0-9a-f]{32}\.(zip|pdf)")
_MEDIA_TYPES = {DocumentKind.DATA_EXPORT: "application/zip", DocumentKind.PANEL_PDF: "application/pdf"}
_EXTENSIONS = {DocumentKind.DATA_EXPORT: "zip", DocumentKind.PANEL_PDF: "pdf"}


def now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes for timezone-aware columns; they were written in UTC.
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def folder() -> Path:
    """Where built documents are kept: ``DOCUMENT_FOLDER``, else ``documents`` beside the uploads."""
    configured = current_app.config.get("DOCUMENT_FOLDER")
    return Path(configured) if configured else Path(current_app.config["UPLOAD_FOLDER"]).parent / "documents"


def stored_path(stored_name: str) -> Path:
    """Where a built document lives.

    :raises ValueError: for a name this module did not make.
    """
    if not _STORED_NAME.fullmatch(stored_name or ""):
        raise ValueError(f"not a stored document name: {stored_name!r}")
    return folder() / stored_name


def is_lost(document: Document) -> bool:
    """A build that should long have finished: its consumer died or never ran."""
    requested = _aware(document.requested_at)
    return document.status == DocumentStatus.BUILDING and requested is not None and requested < now() - BUILD_TIMEOUT


def is_expired(document: Document) -> bool:
    expires = _aware(document.expires_at)
    return expires is not None and expires <= now()


# --- Asking -------------------------------------------------------------------------------


def _download_name(kind: DocumentKind, worker: User, tier: Tier | None) -> str:
    if kind == DocumentKind.DATA_EXPORT:
        return "my-portfolio-data.zip"
    assert tier is not None
    slug = worker.name.lower().replace(" ", "-")
    return secure_filename(f"portfolio-{slug}-{tier.slug}.pdf") or "portfolio.pdf"


def request_document(actor: User, kind: DocumentKind, worker: User, tier: Tier | None = None) -> Document:
    """The document ``actor`` asked for: the one being built for the same request, else a new build, queued.

    The caller has checked that ``actor`` may see ``worker`` (and, for a PDF, that ``tier`` is theirs).
    """
    tier_id = tier.id if tier is not None else None
    begin_write()
    lock_or_404(User, actor.id)  # one claim at a time per person: a double click finds the first build
    building = db.session.scalar(
        select(Document)
        .where(
            Document.requested_by_id == actor.id,
            Document.worker_id == worker.id,
            Document.kind == kind,
            Document.tier_id.is_(None) if tier_id is None else Document.tier_id == tier_id,
            Document.status == DocumentStatus.BUILDING,
            Document.requested_at > now() - BUILD_TIMEOUT,
        )
        .order_by(Document.id.desc())
        .limit(1)
    )
    if building is not None:
        db.session.commit()
        return building
    document = Document(
        requested_by_id=actor.id,
        worker_id=worker.id,
        kind=kind,
        tier_id=tier_id,
        status=DocumentStatus.BUILDING,
        download_name=_download_name(kind, worker, tier),
        requested_at=now(),
    )
    db.session.add(document)
    db.session.commit()
    document_id = document.id
    try:
        build(document_id)
    except Exception as error:  # noqa: BLE001 - Redis, PostgreSQL or SQLite errors alike
        log.warning("Could not queue document %s: %s", document_id, type(error).__name__)
        _finish_failed(document_id)
    return db.session.get(Document, document_id) or document


# --- Building -----------------------------------------------------------------------------


def _export(document: Document) -> IO[bytes]:
    from ..privacy import export

    return export.export_zip(document.worker)


def _panel_pdf(document: Document) -> bytes:
    from ..progress import documents, service

    assert document.tier is not None
    return documents.portfolio_pdf(service.worker_progress(document.worker), document.tier)


# How each kind is built: the builders the pages used to call during the request, unchanged.
BUILDERS: dict[DocumentKind, Callable[[Document], bytes | IO[bytes]]] = {
    DocumentKind.DATA_EXPORT: _export,
    DocumentKind.PANEL_PDF: _panel_pdf,
}


@tasks.huey.task()
def build(document_id: int) -> None:
    """Build one document (a task: the consumer runs it, or the caller in immediate mode)."""
    with tasks.app_context():
        build_now(document_id)


def _write(content: bytes | IO[bytes], part: Path) -> int:
    with part.open("xb") as out:
        if isinstance(content, bytes):
            out.write(content)
        else:
            while chunk := content.read(64 * 1024):
                out.write(chunk)
            content.close()
    return part.stat().st_size


def build_now(document_id: int) -> None:
    """Build ``document_id`` if it is still waiting; on any failure, leave no file and mark it failed."""
    db.session.rollback()  # a fresh snapshot: the row was committed by another transaction
    document = db.session.get(Document, document_id)
    if document is None or document.status != DocumentStatus.BUILDING:
        return
    kind = document.kind
    target = folder()
    target.mkdir(parents=True, exist_ok=True)
    stored_name = f"{secrets.token_hex(16)}.{_EXTENSIONS[kind]}"
    final = target / stored_name
    part = target / (stored_name + PART_SUFFIX)
    try:
        size = _write(BUILDERS[kind](document), part)
        db.session.rollback()  # end the builder's read transaction before writing
        os.replace(part, final)
        begin_write()
        document = lock(Document, document_id)
        if document is None or document.status != DocumentStatus.BUILDING:
            db.session.rollback()
            final.unlink(missing_ok=True)
            return
        finished = now()
        document.status = DocumentStatus.READY
        document.stored_name = stored_name
        document.size = size
        document.finished_at = finished
        document.expires_at = finished + timedelta(hours=current_app.config["DOCUMENT_HOURS"])
        db.session.commit()
    except Exception as error:  # noqa: BLE001 - whatever broke, the asker is told and nothing is left behind
        db.session.rollback()
        part.unlink(missing_ok=True)
        final.unlink(missing_ok=True)
        # Never the document's content, nor whose it is: only which row and what kind of error.
        log.warning("Could not build document %s: %s", document_id, type(error).__name__)
        _finish_failed(document_id)


def _finish_failed(document_id: int) -> None:
    begin_write()
    document = lock(Document, document_id)
    if document is not None and document.status == DocumentStatus.BUILDING:
        document.status = DocumentStatus.FAILED
        document.finished_at = now()
    db.session.commit()


# --- Fetching -----------------------------------------------------------------------------


def get_document_or_404(actor: User, document_id: int) -> Document:
    """A document ``actor`` asked for and may still see today (its worker's pages are open to them).

    :raises 404: for anyone else's document, an expired one, or one whose worker they may no longer see.
    """
    from ..progress import service as progress_service

    document = db.session.get(Document, document_id)
    if document is None or document.requested_by_id != actor.id or is_expired(document):
        abort(404)
    if document.worker_id == actor.id:
        # Their own export and PDF are a worker's own pages: the same rule as those pages.
        if not actor.has_role(Role.WORKER):
            abort(404)
    else:
        if document.kind != DocumentKind.PANEL_PDF:
            abort(404)
        progress_service.get_worker_for_actor_or_404(actor, document.worker_id)
    return document


def send(document: Document):
    """A ready document as a download that no cache keeps.

    :raises 404: when it is not ready, or its file is gone.
    """
    if document.status != DocumentStatus.READY or not document.stored_name:
        abort(404)
    path = stored_path(document.stored_name)
    if not path.exists():
        abort(404)
    response = send_file(
        path, mimetype=_MEDIA_TYPES[document.kind], as_attachment=True, download_name=document.download_name
    )
    response.headers["Cache-Control"] = "no-store"  # personal data: never kept in a cache
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# --- Clearing up --------------------------------------------------------------------------


def remove_expired() -> int:
    """Delete expired documents and their files, and files no row names (older than a build may take)."""
    moment = now()
    db.session.rollback()
    begin_write()
    # A failed or lost build has no expiry of its own: its row goes once a ready one would have.
    given_up = moment - timedelta(hours=current_app.config["DOCUMENT_HOURS"])
    expired = db.session.execute(
        select(Document.id, Document.stored_name)
        .where(
            (Document.expires_at <= moment)
            | (Document.expires_at.is_(None) & (Document.requested_at <= given_up - BUILD_TIMEOUT))
        )
        .with_for_update()
    ).all()
    db.session.execute(delete(Document).where(Document.id.in_([row.id for row in expired])))
    db.session.commit()
    for row in expired:
        if row.stored_name:
            stored_path(row.stored_name).unlink(missing_ok=True)
    known = set(db.session.scalars(select(Document.stored_name).where(Document.stored_name.is_not(None))))
    db.session.rollback()
    target = folder()
    if target.is_dir():
        cutoff = (moment - BUILD_TIMEOUT).timestamp()
        for path in target.iterdir():
            name = path.name.removesuffix(PART_SUFFIX)
            if _STORED_NAME.fullmatch(name) and name not in known and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
    return len(expired)


@tasks.huey.periodic_task(crontab(minute="*/15"))
def remove_expired_documents() -> None:
    """Every quarter of an hour, in the consumer: expired documents go."""
    with tasks.app_context():
        removed = remove_expired()
        if removed:
            log.info("Removed %d expired documents", removed)
