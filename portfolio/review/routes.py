"""Supervisors' pages: the queue, the decision page, notes to confirm, their team."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user
from jinja2_fragments.flask import render_block
from markupsafe import Markup

from .. import paging
from ..access import role_required
from ..errors import FieldError, Refusal, show_on_form, show_the_rest
from ..evidence import files
from ..evidence import service as evidence_service
from ..models import DecisionOutcome, EvidenceKind, NoteOutcome, Role
from ..rendering import render
from ..training import service as training
from . import service
from .forms import DecisionForm, NoteReviewForm, QueueFilterForm

bp = Blueprint("review", __name__, url_prefix="/review")
supervisor_required = role_required(Role.SUPERVISOR)


@bp.get("/")
@supervisor_required
def queue():
    """Items waiting for my decision, oldest first, a page at a time and filtered; and notes to confirm."""
    form = QueueFilterForm(request.args)
    form.validate()  # a bad value is reported next to its field and ignored
    q = (form.q.data or "") if not form.q.errors else ""
    kind = EvidenceKind(form.kind.data) if form.kind.data and not form.kind.errors else None
    filtered = bool(q or kind or form.worker.data)
    # The list is most of the page's cost: kept, rendered, while nothing it shows has changed. It says what was
    # wrong with the address's filters and its links keep them: the address is part of what it is kept under.
    page, kept_queue = service.queue_page_drawn(
        current_user,
        paging.requested_page(),
        q=q,
        kind=kind,
        worker_id=form.worker.data,
        draw=lambda shown: Markup(
            render_block("review/queue.html", "review_queue", form=form, page=shown, filtered=filtered)
        ),
        variant=request.query_string,
    )
    notes, appraisals = service.beside_the_queue(current_user)
    return render(
        "review/queue.html",
        "review_queue",
        oob=("queue_status",),
        form=form,
        page=page,
        kept_queue=kept_queue,
        filtered=filtered,
        notes=notes,
        appraisals=appraisals,
    )


def _from_evidence_list() -> bool:
    """Opened from a supervisee's evidence list (``?back=evidence``, one known value): the page leads back there."""
    return request.args.get("back") == "evidence"


def _accepting_all() -> bool:
    """The "Accept all" button was pressed (JavaScript off: with it, the page ticks them itself)."""
    return request.method == "POST" and request.form.get("accept") == "all"


def _decision_form(evidence, carried_over: set[int]) -> DecisionForm:
    """The decision form with one row per linked competence: row ``n`` is the item's ``n``-th link.

    ``carried_over``: competences found fine as they were when the item was last returned, ticked Accepted on
    the page (the rest are for the supervisor to judge again: the worker changed the item for them).
    """
    if request.method != "POST":
        rows = [{"accepted": "accepted"} if link.competence_id in carried_over else {} for link in evidence.links]
        return DecisionForm(data={"decisions": rows})
    # A FieldList numbers its entries by the rows posted: a post that left a row
    # out would shift the rows after it onto the wrong competence, so give every
    # row a (blank) comment and entry n is row n again.
    formdata = request.form.copy()
    for row in range(len(evidence.links)):
        formdata.setdefault(service.decision_field(row, "comment"), "")
        # "Accept all" ticks Accepted where nothing is chosen yet: never over a "Not accepted" the supervisor chose
        # (found by two helpers: it signed off a competence rejected a moment before). The comments are kept.
        if _accepting_all() and not formdata.get(service.decision_field(row, "accepted")):
            formdata[service.decision_field(row, "accepted")] = "accepted"
    return DecisionForm(formdata=formdata)


def _outcomes_from(form: DecisionForm, evidence) -> dict[int, service.CompetenceOutcome]:
    """Row ``n`` of the form decides the item's ``n``-th link (rows beyond the links are ignored)."""
    return {
        link.competence_id: service.CompetenceOutcome(row.form.choice, row.form.comment.data or "")
        for link, row in zip(evidence.links, form.decisions, strict=False)
    }


@bp.route("/<id:submission_id>", methods=["GET", "POST"])
@supervisor_required
def decide(submission_id: int):
    """Decide competence by competence, then sign off or return; then the next item."""
    submission = service.get_submission_for_review_or_404(current_user, submission_id)
    evidence = submission.evidence
    history = service.history(evidence)
    carried_over = service.fine_when_returned(history)
    form = _decision_form(evidence, carried_over)
    conflict = None
    accepting_all = _accepting_all()
    # "Accept all" only fills the choices in: the form comes back as typed, and the supervisor still signs off.
    valid = form.validate_on_submit()
    outcome = next((o for o in DecisionOutcome if o.value == form.outcome.data), None)  # None: not chosen, or junk
    if valid and not accepting_all:
        try:
            decision = service.decide(
                current_user,
                submission,
                outcome=outcome,
                comment=form.comment.data or "",
                outcomes=_outcomes_from(form, evidence),
            )
        except service.Conflict as error:
            conflict = error.message
        except FieldError as error:
            show_on_form(form, error)
        else:
            flash(f"{decision.outcome.label}: {evidence.title}", "success")
            following = service.next_submission(current_user)
            if following is not None:
                return redirect(url_for(".decide", submission_id=following.id), code=303)
            return redirect(url_for(".queue"), code=303)
    elif form.errors and not accepting_all:  # the form refused a value itself: the rows' problems too, at once
        show_the_rest(
            form,
            service.problems_of_decision(evidence, outcome, form.comment.data or "", _outcomes_from(form, evidence)),
        )
    return render(
        "review/decide.html",
        "decision_form" if conflict else None,
        status=409 if conflict else 422 if form.errors else 200,
        submission=submission,
        evidence=evidence,
        form=form,
        conflict=conflict,
        accepted_all=accepting_all,
        decided=submission.decision,
        history=history,
        carried_over=carried_over if request.method != "POST" else set(),
        # Sent again after a return: whether it changed, so an unchanged one is not read as new.
        since_returned=service.since_returned(history, submission.content_hash)
        if submission.decision is None and submission.withdrawn_at is None
        else None,
        waiting=service.waiting_label(current_user),
        certificate_to_check=training.waits_for_check_by(current_user, evidence),
        unchosen_message=service.UNCHOSEN,
        download_url=lambda f: url_for(".download", submission_id=submission.id, file_id=f.id),
        from_evidence_list=_from_evidence_list(),
    )


@bp.get("/<id:submission_id>/files/<id:file_id>")
@supervisor_required
def download(submission_id: int, file_id: int):
    """A file of an item I am reviewing, as a download."""
    submission = service.get_submission_for_review_or_404(current_user, submission_id)
    stored = evidence_service.get_file_or_404(submission.evidence, file_id)
    return files.send_evidence_file(stored)


@bp.route("/notes/<id:evidence_id>", methods=["GET", "POST"])
@supervisor_required
def note(evidence_id: int):
    """Confirm a supervision note that names me, or dispute it."""
    evidence = service.get_note_for_supervisor_or_404(current_user, evidence_id)
    form = NoteReviewForm()
    refusal = None
    if form.validate_on_submit():
        outcome = NoteOutcome(form.outcome.data) if form.outcome.data else None
        try:
            review = service.review_note(
                current_user, evidence, outcome, form.comment.data or "", seen=form.seen.data or ""
            )
        except service.Conflict as error:  # changed since it was read: shown again as it is now, to read
            refusal = Refusal(error.message, "note-review")
            evidence = service.get_note_for_supervisor_or_404(current_user, evidence_id)
        except FieldError as error:
            show_on_form(form, error)
        else:
            flash(f"{review.outcome.label}: {evidence.title}", "success")
            return redirect(url_for(".queue"), code=303)
    if refusal or not form.is_submitted():
        form.seen.data = service.content_hash(evidence)  # what this page shows, and so what a confirmation binds
    return render(
        "review/note.html",
        status=409 if refusal else 422 if form.errors else 200,
        evidence=evidence,
        form=form,
        refusal=refusal,
        reviews=service.note_reviews(evidence),
        download_url=lambda f: url_for(".note_download", evidence_id=evidence.id, file_id=f.id),
        from_evidence_list=_from_evidence_list(),
    )


@bp.get("/notes/<id:evidence_id>/files/<id:file_id>")
@supervisor_required
def note_download(evidence_id: int, file_id: int):
    """A file of a supervision note that names me."""
    evidence = service.get_note_for_supervisor_or_404(current_user, evidence_id)
    stored = evidence_service.get_file_or_404(evidence, file_id)
    return files.send_evidence_file(stored)


@bp.get("/workers/<id:worker_id>/evidence")
@supervisor_required
def shared_evidence(worker_id: int):
    """The evidence a worker I supervise has shared with me, decided or not, each opening on its review page."""
    worker = service.get_supervisee_or_404(current_user, worker_id)
    return render(
        "review/shared.html",
        "shared_list",
        oob=("shared_status",),
        worker=worker,
        page=service.shared_evidence_page(current_user, worker, paging.requested_page()),
    )


@bp.get("/team")
@supervisor_required
def team():
    """The workers I supervise: tier, progress to the next tier, items waiting, last supervision."""
    # Kept, rendered, while nothing the rows show has changed: working out and drawing them is the page's cost.
    draw = lambda rows: Markup(render_block("review/team.html", "team_rows", rows=rows))  # noqa: E731
    return render("review/team.html", kept_team=service.team_drawn(current_user, draw))
