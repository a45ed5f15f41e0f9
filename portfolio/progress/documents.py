"""The portfolio PDF for a promotion panel (a worker's own data as a zip is built in privacy/export.py)."""

from __future__ import annotations

from datetime import date, datetime

from fpdf import FPDF
from sqlalchemy import Row, select
from sqlalchemy.orm import aliased

from ..extensions import db
from ..models import Competence, Decision, Evidence, EvidenceFile, Tier, User
from ..organisation.service import identity
from ..privacy.visibility import visible_to
from . import rules
from .service import WorkerProgress, today

# The PDF's built-in fonts cover Latin-1 only: typographic punctuation is
# mapped to its plain equivalent rather than shipping a font file.
_PLAIN = str.maketrans(
    {"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "...", "•": "-", "\u00a0": " "}
)


def _latin1(text: str) -> str:
    return (text or "").translate(_PLAIN).encode("latin-1", "replace").decode("latin-1")


class _Document(FPDF):
    def __init__(self, title: str):
        super().__init__(format="A4")
        self.doc_title = _latin1(title)
        self.set_auto_page_break(True, margin=15)
        self.set_title(self.doc_title)
        self.set_creator("Evidence portfolio")
        self._char_widths: dict[tuple, dict[str, float]] = {}

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
        text = _latin1(text)
        lines = self._lines(text)
        if lines is None:
            self.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
            return
        for line in lines:
            self.cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")

    def _lines(self, text: str) -> list[str] | None:
        """``text`` broken at spaces into lines that fit the page, measuring each word once.

        fpdf2's multi_cell re-measures the whole line for every character it
        adds (about 2 ms a paragraph, 20 s for a 2,000-item portfolio); its
        maintainers advise cell() for text known to fit. None when a word is
        wider than the page or the text has line breaks: multi_cell then
        breaks it as it always has.
        """
        width = self.epw - 2 * self.c_margin
        if "\n" in text:
            return None
        if self._width(text) <= width:
            return [text]
        space = self._width(" ")
        lines: list[str] = []
        line, line_width, started = "", 0.0, False
        for word in text.split(" "):
            word_width = self._width(word)
            if word_width > width:
                return None
            if started and word and line_width + space + word_width > width:
                lines.append(line)
                line, line_width = word, word_width
            elif started:
                line, line_width = f"{line} {word}", line_width + space + word_width
            else:
                line, line_width, started = word, word_width, True
        lines.append(line)
        return lines

    def _width(self, text: str) -> float:
        """get_string_width, one character at a time and remembered: a built-in font has no kerning."""
        widths = self._char_widths.setdefault((self.font_family, self.font_style, self.font_size_pt), {})
        total = 0.0
        for char in text:
            if char not in widths:
                widths[char] = self.get_string_width(char)
            total += widths[char]
        return total


def _long(day: date | datetime | None) -> str:
    return f"{day.day} {day:%B %Y}" if day else ""


def portfolio_pdf(progress: WorkerProgress, target: Tier) -> bytes:
    """The portfolio for a promotion panel: cover, progress, accepted evidence per competence, checks, files.

    A panel sees what anyone but the worker may see (``visible_to(None)``):
    never a private reflection or a draft, their titles or their files.
    Only the columns the document prints are read, in a fixed number of
    queries whatever the size of the portfolio.
    """
    worker = progress.worker
    framework_tree = progress.tree
    required = {c.id for c in rules.required_for(target, framework_tree.tiers, framework_tree.competences)}
    # Accepted evidence per statement: item, who signed it off and when (one query).
    supervisor = aliased(User)
    accepted: dict[str, list[Row]] = {}
    for item_row in db.session.execute(
        rules.accepted_query(
            Evidence.title,
            Evidence.kind,
            Evidence.occurred_on,
            supervisor.name.label("supervisor"),
            Decision.decided_at,
            Competence.ref,
        )
        .join(supervisor, supervisor.id == Decision.supervisor_id)
        .where(Evidence.owner_id == worker.id, visible_to(None))
        .order_by(Evidence.occurred_on, Evidence.id)
    ):
        accepted.setdefault(item_row.ref, []).append(item_row)
    stored = db.session.execute(
        select(EvidenceFile.original_name, EvidenceFile.size, EvidenceFile.sha256, Evidence.title)
        .join(Evidence, Evidence.id == EvidenceFile.evidence_id)
        .where(Evidence.owner_id == worker.id, visible_to(None))
        .order_by(Evidence.id, EvidenceFile.id)
    ).all()

    pdf = _Document(f"Portfolio of {worker.name} for {target.name}")
    pdf.add_page()
    pdf.heading(" - ".join(filter(None, [identity().service_name, identity().organisation_name])), 20)
    pdf.para(f"Worker: {worker.name}", 12)
    pdf.para(f"Framework: {progress.framework.title}", 12)
    pdf.para(f"Current tier: {worker.tier.name if worker.tier else 'None'}", 12)
    pdf.para(f"Target tier: {target.name}", 12)
    pdf.para(f"Date: {_long(today())}", 12)
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
                for item in accepted.get(row.competence.ref, []):
                    pdf.para(
                        f"    {item.title} ({item.kind.label}, {_long(item.occurred_on)}): "
                        f"signed off by {item.supervisor} on {_long(item.decided_at)}",
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
            f"verified by {v.verified_by.name} on {_long(v.verified_on)}"
            + (f", renew by {_long(v.expires_on)}" if v.expires_on else "")
            if v
            else "not verified"
        )
        pdf.para(f"{state.requirement.statement}: {state.state} ({detail})")
    pdf.ln(3)
    pdf.heading("Attached files")
    if not stored:
        pdf.para("No files.")
    for item in stored:
        pdf.para(f"{item.original_name} ({item.size} bytes, sha256 {item.sha256[:16]}...) - {item.title}", size=9)
    return bytes(pdf.output())
