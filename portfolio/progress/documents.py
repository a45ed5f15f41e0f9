"""The portfolio PDF for a promotion panel (a worker's own data as a zip is built in privacy/export.py)."""

from __future__ import annotations

import io
from decimal import Decimal

from sqlalchemy import Row, select
from sqlalchemy.orm import aliased

from ..cpd import service as cpd
from ..evidence import kinds
from ..evidence.anonymity import plain_text
from ..extensions import db
from ..models import (
    Competence,
    Decision,
    Evidence,
    EvidenceFile,
    PromotionRecommendation,
    Tier,
    User,
    newest_per_supervisor,
)
from ..organisation.service import identity, logo
from ..privacy.visibility import visible_to
from ..training import service as training
from . import rules
from .service import WorkerProgress, today
from .typesetting import NBSP, Document, long_date, on

INDENT = 6  # mm: items under their competence, text under its item


def organisation_name() -> str:
    """The organisation named in the running header (the one place the PDF reads it)."""
    return identity().organisation_name or identity().service_name


def portfolio_pdf(progress: WorkerProgress, target: Tier) -> bytes:
    """The portfolio for a promotion panel: a one-page summary, then each competence's accepted evidence in full.

    A panel sees what anyone but the worker may see (``visible_to(None)``):
    never a private reflection or a draft, their titles, text or files.
    Only what the document prints is read, in a fixed number of queries
    whatever the size of the portfolio.
    """
    worker = progress.worker
    required = {c.id for c in rules.required_for(target, progress.tree.tiers, progress.tree.competences)}
    accepted = _accepted(worker)
    texts = _texts(worker)
    pdf = Document(
        f"Portfolio of {worker.name} for {target.name}",
        f"{worker.name}  ·  {progress.framework.title}  ·  {organisation_name()}",
    )
    _cover(pdf, progress, target)
    pdf.add_page()
    pdf.heading(f"Competences for {target.name} and the evidence accepted for each", 16, space_before=0)
    printed: dict[int, str] = {}  # item -> the competence its text is printed under
    for block in progress.blocks:
        areas = [(area, [r for r in area.rows if r.competence.id in required]) for area in block.areas]
        if not any(rows for _, rows in areas):
            continue
        pdf.heading(block.title, 14, space_before=6)
        for area, rows in areas:
            if not rows:
                continue
            pdf.heading(area.group.name, 12)
            for row in rows:
                competence = row.competence
                status = row.status.label.replace(" ", NBSP)
                pdf.heading(f"{competence.ref} {competence.statement} [{status}]", 10, space_before=2)
                items = accepted.get(competence.ref, [])
                with pdf.indented(INDENT):
                    if not items:
                        pdf.para("No accepted evidence yet", 9)
                    for item in items:
                        _item(pdf, item, texts.get(item.id, []), printed.get(item.id))
                        printed.setdefault(item.id, competence.ref)
    _files(pdf, worker)
    return bytes(pdf.output())


def _logo(pdf: Document) -> None:
    """The organisation's logo at the top of the cover, 15 mm high (re-encoded PNG or JPEG when it was stored)."""
    image = logo()
    if image is not None:
        pdf.image(io.BytesIO(image.data), x=pdf.l_margin, h=15)
        pdf.ln(3)


def _cover(pdf: Document, progress: WorkerProgress, target: Tier) -> None:
    """One page: who, which tiers, what is met, requirements, training, CPD and the supervisor's recommendation."""
    worker = progress.worker
    pdf.add_page()
    _logo(pdf)
    pdf.heading("Portfolio for a promotion panel", 18, space_before=0)
    pdf.para(worker.name, 14, "B", after=1)
    pdf.para(f"Framework: {progress.framework.title}")
    pdf.para(f"Current tier: {worker.tier.name if worker.tier else 'None'}")
    pdf.para(f"Shown against the tier: {target.name}")  # the tier chosen for this document, asked for or not
    request = progress.open_request
    if request is not None:
        pdf.para(f"Promotion request: {request.target_tier.name}, made {on(request.requested_at)}")
    else:
        pdf.para("Promotion request: none open")
    pdf.para(
        f"Prepared {on(today())} by {' - '.join(filter(None, [identity().service_name, identity().organisation_name]))}",
        after=1,
    )
    readiness = progress.readiness
    if readiness.tier and readiness.tier.id == target.id:
        pdf.para(f"Ready for {target.name}: {'yes' if readiness.ready else 'not yet'}", style="B")

    pdf.heading("Competences met", 12)
    positions = {t.id: t.position for t in progress.tree.tiers}
    for block in progress.blocks:
        if positions.get(block.tier.id, 0) > target.position:
            continue
        pdf.para(f"{block.title}: {block.met} of {block.total} competences met", 9, "B")
        with pdf.indented(INDENT):
            for area in block.areas:
                pdf.para(f"{area.group.name}: {area.met} of {area.total}", 9)

    pdf.heading("Mandatory requirements", 12)
    if not progress.requirements:
        pdf.para("This framework has no mandatory requirements.", 9)
    for state in progress.requirements:
        v = state.verification
        detail = (
            f"verified by {v.verified_by.name} {on(v.verified_on)}"
            + (f", renew by {long_date(v.expires_on)}" if v.expires_on else "")
            if v
            else "not verified"
        )
        pdf.para(f"{state.requirement.statement}: {state.state} ({detail})", 9)

    pdf.heading("Training", 12)
    courses = training.worker_training(worker)
    if not courses:
        pdf.para("No courses are required for this tier.", 9)
    for course in courses:
        due = f" (renew by {long_date(course.due_on)})" if course.due_on else ""
        pdf.para(f"{course.item.title}: {course.status.label}{due}", 9)

    year = today().year
    cpd_year = next((y for y in cpd.hours_by_year(worker) if y.year == year), None)
    hours, certified = (cpd_year.hours, cpd_year.from_certificates) if cpd_year else (Decimal(0), Decimal(0))
    from_certificates = f" ({certified.normalize():f} from training certificates)" if certified else ""
    pdf.heading("Continuing professional development", 12)
    pdf.para(f"CPD hours in {year}: {hours.normalize():f}{from_certificates}", 9)

    pdf.heading("Supervisor’s recommendation", 12)
    recommendations = _recommendations(request.id) if request is not None else []
    if not recommendations:
        pdf.para("No supervisor has recommended on a promotion request yet.", 9)
    for recommendation, supervisor in recommendations:
        verdict = "supports the request" if recommendation.supports else "does not yet support the request"
        pdf.para(f"{supervisor} {verdict} ({on(recommendation.at)}):", 9, "B")
        with pdf.indented(INDENT):
            pdf.para(recommendation.reasons, 9)


def _item(pdf: Document, item: Row, written: list[tuple[str, str]], printed_under: str | None) -> None:
    """One accepted item: what it is, who signed it off and when, then its text (once in the document)."""
    pdf.para(
        f"{item.title} ({item.kind.label}, {long_date(item.occurred_on)}): "
        f"signed off by {item.supervisor} {on(item.decided_at)}",
        9,
        "B",
        keep=1,
    )
    with pdf.indented(INDENT):
        if item.comment:
            pdf.para(f"Supervisor’s comment: {item.comment}", 9)
        if printed_under is not None:
            pdf.para(f"Its text is printed above, under {printed_under}.", 9)
        else:
            for label, text in written:
                pdf.para(label, 9, "B", keep=1)
                pdf.para(text, 9)
    pdf.ln(1.5)


def _accepted(worker: User) -> dict[str, list[Row]]:
    """Statement ref -> the items accepted for it that a panel may see, oldest first, with who signed them off."""
    supervisor = aliased(User)
    accepted: dict[str, list[Row]] = {}
    for row in db.session.execute(
        rules.accepted_query(
            Evidence.id,
            Evidence.title,
            Evidence.kind,
            Evidence.occurred_on,
            supervisor.name.label("supervisor"),
            Decision.decided_at,
            Decision.comment,
            Competence.ref,
        )
        .join(supervisor, supervisor.id == Decision.supervisor_id)
        .where(Evidence.owner_id == worker.id, visible_to(None))
        .order_by(Evidence.occurred_on, Evidence.id)
    ):
        accepted.setdefault(row.ref, []).append(row)
    return accepted


def _texts(worker: User) -> dict[int, list[tuple[str, str]]]:
    """Item -> its written parts as plain text, labelled as its kind labels them (one query, accepted items only)."""
    shown = rules.accepted_query(Evidence.id).where(Evidence.owner_id == worker.id, visible_to(None))
    columns = [getattr(Evidence, name) for name in kinds.TEXT_COLUMNS]
    texts: dict[int, list[tuple[str, str]]] = {}
    for row in db.session.execute(select(Evidence.id, Evidence.kind, *columns).where(Evidence.id.in_(shown))):
        parts = [(label, plain_text(getattr(row, name) or "")) for name, label in kinds.get(row.kind).written]
        texts[row.id] = [(label, text) for label, text in parts if text]
    return texts


def _recommendations(request_id: int) -> list[Row]:
    """A request's recommendations that count (each supervisor's newest: PromotionRequest.current_recommendations)
    with the supervisor's name, in the order given (one query)."""
    rows = db.session.execute(
        select(PromotionRecommendation, User.name)
        .join(User, User.id == PromotionRecommendation.supervisor_id)
        .where(PromotionRecommendation.request_id == request_id)
    ).all()
    return newest_per_supervisor(rows, of=lambda row: row[0])


def _files(pdf: Document, worker: User) -> None:
    """The files attached to items a panel may see (names and fingerprints; the files come separately)."""
    stored = db.session.execute(
        select(EvidenceFile.original_name, EvidenceFile.size, EvidenceFile.sha256, Evidence.title)
        .join(Evidence, Evidence.id == EvidenceFile.evidence_id)
        .where(Evidence.owner_id == worker.id, visible_to(None))
        .order_by(Evidence.id, EvidenceFile.id)
    ).all()
    pdf.heading("Attached files", 14, space_before=8)
    if not stored:
        pdf.para("No files.")
    for item in stored:
        pdf.para(f"{item.original_name} ({item.size} bytes, sha256 {item.sha256[:16]}...) - {item.title}", 9)
