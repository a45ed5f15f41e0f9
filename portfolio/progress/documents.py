"""Documents a worker takes away: the portfolio PDF for a promotion panel, and all their data as a zip."""

from __future__ import annotations

import json
import tempfile
import zipfile
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

from fpdf import FPDF
from sqlalchemy import select

from ..evidence import files
from ..extensions import db
from ..models import (
    Competence,
    CompetenceDecision,
    Decision,
    DecisionOutcome,
    Evidence,
    EvidenceFile,
    EvidenceLink,
    NoteReview,
    Notification,
    PasswordReset,
    PromotionRequest,
    RequirementVerification,
    Submission,
    Tier,
    TierChange,
    User,
)
from . import rules
from .service import worker_progress

# The PDF's built-in fonts cover Latin-1 only: typographic punctuation is
# mapped to its plain equivalent rather than shipping a font file.
_PLAIN = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "...", "•": "-", "\u00a0": " "})


def _latin1(text: str) -> str:
    return (text or "").translate(_PLAIN).encode("latin-1", "replace").decode("latin-1")


class _Document(FPDF):
    def __init__(self, title: str):
        super().__init__(format="A4")
        self.doc_title = _latin1(title)
        self.set_auto_page_break(True, margin=15)
        self.set_title(self.doc_title)
        self.set_creator("Evidence portfolio")

    def footer(self):
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.cell(0, 6, f"{self.doc_title} - page {self.page_no()}", align="C")

    def heading(self, text: str, size: int = 14):
        self.set_font("Helvetica", "B", size)
        self.multi_cell(0, size * 0.5, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        self.ln(1)

    def para(self, text: str, size: int = 10, style: str = ""):
        self.set_font("Helvetica", style, size)
        self.multi_cell(0, 5, _latin1(text), new_x="LMARGIN", new_y="NEXT")


def _long(day: date | datetime | None) -> str:
    return f"{day.day} {day:%B %Y}" if day else ""


def portfolio_pdf(worker: User, target: Tier) -> bytes:
    """The portfolio for a promotion panel: cover, progress, accepted evidence per competence, checks, files."""
    progress = worker_progress(worker)
    tiers = sorted(progress.framework.tiers, key=lambda t: t.position)
    competences = [row.competence for block in progress.blocks for area in block.areas for row in area.rows]
    required = {c.id for c in rules.required_for(target, tiers, competences)}
    # Accepted evidence per statement: item, who signed it off and when (one query).
    accepted: dict[str, list[tuple[Evidence, Decision]]] = {}
    for evidence, decision, ref in db.session.execute(
        select(Evidence, Decision, Competence.ref)
        .join(Decision, Decision.evidence_id == Evidence.id)
        .join(CompetenceDecision, CompetenceDecision.decision_id == Decision.id)
        .join(Competence, Competence.id == CompetenceDecision.competence_id)
        .where(Evidence.owner_id == worker.id, Decision.outcome == DecisionOutcome.SIGNED_OFF, CompetenceDecision.accepted.is_(True))
        .options(db.joinedload(Decision.supervisor))
        .order_by(Evidence.occurred_on)
    ):
        accepted.setdefault(ref, []).append((evidence, decision))
    stored = db.session.execute(
        select(EvidenceFile, Evidence.title).join(Evidence, Evidence.id == EvidenceFile.evidence_id).where(Evidence.owner_id == worker.id).order_by(Evidence.id, EvidenceFile.id)
    ).all()

    pdf = _Document(f"Portfolio of {worker.name} for {target.name}")
    pdf.add_page()
    pdf.heading("Evidence portfolio", 20)
    pdf.para(f"Worker: {worker.name}", 12)
    pdf.para(f"Framework: {progress.framework.title}", 12)
    pdf.para(f"Current tier: {worker.tier.name if worker.tier else 'None'}", 12)
    pdf.para(f"Target tier: {target.name}", 12)
    pdf.para(f"Date: {_long(date.today())}", 12)
    pdf.ln(4)
    pdf.heading("Progress summary")
    for block in progress.blocks:
        pdf.para(f"{block.title}: {block.met} of {block.total} competences met")
    readiness = progress.readiness
    if readiness.tier and readiness.tier.id == target.id:
        pdf.para(f"Ready for {target.name}: {'yes' if readiness.ready else 'not yet'}", style="B")
    pdf.add_page()
    pdf.heading(f"Competences for {target.name} and the evidence accepted for each")
    for block in progress.blocks:
        for area in block.areas:
            rows = [r for r in area.rows if r.competence.id in required]
            if not rows:
                continue
            pdf.heading(f"{block.title}: {area.group.name}", 12)
            for row in rows:
                pdf.para(f"{row.competence.statement} [{row.status.label}]", style="B")
                for evidence, decision in accepted.get(row.competence.ref, []):
                    pdf.para(
                        f"    {evidence.title} ({evidence.kind.label}, {_long(evidence.occurred_on)}): "
                        f"signed off by {decision.supervisor.name} on {_long(decision.decided_at)}",
                        size=9,
                    )
                if not accepted.get(row.competence.ref):
                    pdf.para("    No accepted evidence yet", size=9, style="I")
    pdf.add_page()
    pdf.heading("Requirement verifications")
    if not progress.requirements:
        pdf.para("This framework has no mandatory requirements.")
    for state in progress.requirements:
        v = state.verification
        detail = (
            f"verified by {v.verified_by.name} on {_long(v.verified_on)}" + (f", renew by {_long(v.expires_on)}" if v.expires_on else "")
            if v
            else "not verified"
        )
        pdf.para(f"{state.requirement.statement}: {state.state} ({detail})")
    pdf.ln(3)
    pdf.heading("Attached files")
    if not stored:
        pdf.para("No files.")
    for item, title in stored:
        pdf.para(f"{item.original_name} ({item.size} bytes, sha256 {item.sha256[:16]}...) - {title}", size=9)
    return bytes(pdf.output())


def _plain(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "value"):
        return value.value
    return value


def _row(obj, *columns: str) -> dict:
    return {c: _plain(getattr(obj, c)) for c in columns}


def export_zip(worker: User) -> tempfile.SpooledTemporaryFile:
    """All of a worker's own data: JSON plus their files (subject access). Nothing of anyone else's."""
    items = db.session.scalars(select(Evidence).where(Evidence.owner_id == worker.id).order_by(Evidence.id)).all()
    ids = [e.id for e in items]
    links = db.session.scalars(select(EvidenceLink).where(EvidenceLink.evidence_id.in_(ids))).all() if ids else []
    stored = db.session.scalars(select(EvidenceFile).where(EvidenceFile.evidence_id.in_(ids))).all() if ids else []
    submissions = db.session.scalars(select(Submission).where(Submission.evidence_id.in_(ids))).all() if ids else []
    decisions = db.session.scalars(select(Decision).where(Decision.evidence_id.in_(ids)).options(db.selectinload(Decision.outcomes))).all() if ids else []
    reviews = db.session.scalars(select(NoteReview).where(NoteReview.evidence_id.in_(ids))).all() if ids else []
    data = {
        "exported_at": datetime.now(timezone.utc).isoformat(),
        "person": _row(worker, "id", "email", "name", "is_worker", "is_supervisor", "is_manager", "created_at", "last_signed_in_at")
        | {"framework": worker.framework.title if worker.framework else None, "tier": worker.tier.name if worker.tier else None},
        "evidence": [
            _row(e, "id", "kind", "status", "title", "occurred_on", "is_private", "what_happened", "what_learned", "practice_change", "next_steps",
                 "description", "provider", "expires_on", "cpd_hours", "supervisor_id", "feedback_source", "feedback_from", "created_at", "submitted_at")
            | {"actions": [_row(a, "description", "owner", "due_on") for a in e.actions]}
            for e in items
        ],
        "links": [_row(link, "evidence_id", "competence_id", "note") | {"competence": link.competence.statement} for link in links],
        "files": [_row(f, "id", "evidence_id", "original_name", "content_type", "size", "sha256", "uploaded_at") for f in stored],
        "submissions": [_row(s, "id", "evidence_id", "submitted_at", "withdrawn_at", "content_hash") for s in submissions],
        # Decisions on the worker's own items: the supervisor is named, as on their pages.
        "decisions": [
            _row(d, "id", "evidence_id", "outcome", "comment", "decided_at", "content_hash")
            | {"supervisor": d.supervisor.name, "competences": [_row(o, "competence_id", "accepted", "comment") for o in d.outcomes]}
            for d in decisions
        ],
        "note_reviews": [_row(r, "evidence_id", "outcome", "comment", "at") for r in reviews],
        "requirement_verifications": [
            _row(v, "requirement_id", "verified_on", "expires_on", "note") | {"requirement": v.requirement.statement}
            for v in db.session.scalars(select(RequirementVerification).where(RequirementVerification.worker_id == worker.id))
        ],
        "promotion_requests": [
            _row(r, "id", "requested_at") | {"target_tier": r.target_tier.name, "decision": _row(r.decision, "approved", "effective_on", "reasons", "at") if r.decision else None}
            for r in db.session.scalars(select(PromotionRequest).where(PromotionRequest.worker_id == worker.id))
        ],
        "tier_history": [
            _row(t, "effective_on", "at") | {"to": t.to_tier.name, "from": t.from_tier.name if t.from_tier else None}
            for t in db.session.scalars(select(TierChange).where(TierChange.worker_id == worker.id))
        ],
        "notifications": [_row(n, "message", "url", "created_at", "read_at") for n in db.session.scalars(select(Notification).where(Notification.user_id == worker.id))],
        # When reset links were sent and used; never the token's digest.
        "password_resets": [
            _row(r, "created_at", "expires_at", "used_at", "cancelled_at")
            for r in db.session.scalars(select(PasswordReset).where(PasswordReset.user_id == worker.id).order_by(PasswordReset.id))
        ],
    }
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("portfolio.json", json.dumps(data, indent=2, ensure_ascii=False))
        for f in stored:
            path = files.stored_path(f.stored_name)
            if path.exists():
                archive.write(path, f"files/{f.evidence_id}-{f.id}-{Path(f.original_name).name}")
    spool.seek(0)
    return spool
