"""Progress pages: where I stand, what is missing, promotion, documents; supervisors' and managers' views."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block
from markupsafe import Markup

from .. import duties, paging
from ..access import manager_required, role_required
from ..csvexport import csv_response
from ..documents import service as documents_service
from ..errors import FieldError, show_on_form, show_the_rest
from ..fields import choices
from ..frameworks import service as frameworks_service
from ..idempotency import key_from_address, to_a_fresh_key
from ..models import DocumentKind, Role, Tier, User
from ..params import optional_id, parse_id
from ..rendering import render
from ..templating import long_date
from ..training import service as training
from . import rules, service, versions
from .forms import OverviewFilterForm, PromotionDecisionForm, RecommendForm, RequestForm, VerifyForm, WithdrawForm

bp = Blueprint("progress", __name__, url_prefix="/progress")
worker_required = role_required(Role.WORKER)


def _progress_page(worker, *, supervises: bool, status: int = 200, request_form=None, not_ready=None, **forms):
    """``supervises``: the one looking is her supervisor today, as :func:`service.worker_seen_by_or_404` said."""
    own = duties.is_own(current_user, worker.id)
    can_decide = not own and current_user.has_role(Role.MANAGER)
    # Where she stands, the page's lower half, kept between views: the same for everyone who sees it but for her own
    # (no training table: her home has it) and a manager's (the notes and links to verify).
    draw_standing = lambda fresh: Markup(  # noqa: E731
        render_block(
            "progress/index.html",
            "standing",
            progress=fresh.progress,
            worker=fresh.progress.worker,
            earlier=fresh.earlier_requests,
            history=fresh.history,
            own=own,
            can_decide=can_decide,
            training=[] if own else training.worker_training(fresh.progress.worker),
        )
    )
    # First: drawing it reads her progress afresh (versions), and what the upper half reads (the request, its
    # recommendations, the form bound to them) comes after, never older than what was drawn.
    kept_standing, progress = service.standing_and_promotion(worker, (own, can_decide), draw_standing)
    # A new tier takes effect today unless the manager says otherwise (it cannot be before the request).
    decision_form = forms.get("decision_form") or PromotionDecisionForm(
        formdata=None, data={"effective_on": service.today()}
    )
    recommend_form = forms.get("recommend_form")
    if progress.open_request is not None:  # what this page shows, whatever an earlier page showed
        decision_form.recommendations_seen.data = service.recommendations_seen(progress.open_request)
        if recommend_form is None:  # a supervisor who recommended already changes it from what they said
            recommend_form = _recommend_form_of(progress.open_request, current_user)
    return render(
        "progress/index.html",
        status=status,
        progress=progress,
        own=own,
        request_form=request_form or RequestForm(),
        not_ready=not_ready,
        recommend_form=recommend_form or RecommendForm(formdata=None),
        decision_form=decision_form,
        # Their supervisor today: recommends on a request, and opens the evidence the worker has shared.
        supervises=supervises and not own,
        can_decide=can_decide,
        # Where the worker stands with their training (not part of readiness, which is the framework's; a panel
        # still asks): read by her supervisor and managers, who chase it and recommend or decide on her requests.
        # Her own home lists it; her own page says how it stands once she is ready to ask.
        training=training.worker_training(worker) if _shows_training(worker, progress) else [],
        kept_standing=kept_standing,
        # Said before a form that would only be refused: whoever recommended on the request does not decide it.
        decide_refusal=service.RECOMMENDED_IT
        if progress.open_request is not None and service.recommended_by(progress.open_request, current_user)
        else None,
    )


def _shows_training(worker, progress) -> bool:
    """Whether the promotion part says how her training stands: on her own page once she may ask for promotion, on
    anyone else's while a request is open. (The table of her courses is in the kept lower half.)"""
    if not duties.is_own(current_user, worker.id):
        return progress.open_request is not None
    return progress.higher_tier_to_ask and progress.readiness.ready


def _recommend_form_of(request, actor) -> RecommendForm:
    """The recommendation form, holding what ``actor`` recommends on ``request`` now (empty when nothing yet)."""
    mine = next((r for r in request.current_recommendations if r.supervisor_id == actor.id), None)
    if mine is None:
        return RecommendForm(formdata=None)
    return RecommendForm(formdata=None, data={"supports": "yes" if mine.supports else "no", "reasons": mine.reasons})


@bp.get("/")
@worker_required
def index():
    """Where I stand on every tier, what is missing for the next, and promotion."""
    if current_user.framework_id is None:
        abort(403)
    return _progress_page(current_user, supervises=False)


@bp.get("/missing")
@worker_required
def missing():
    """Every competence up to and including my next tier that is not met yet."""
    if current_user.framework_id is None:
        abort(403)
    return render("progress/missing.html", progress=service.worker_progress(current_user, with_items=True))


@bp.post("/request")
@worker_required
def request_promotion():
    """Ask to move to the next tier (refused, with what is missing, when not ready)."""
    form = RequestForm()
    if form.validate_on_submit():
        try:
            service.request_promotion(current_user, form_key=form.form_key.data)
        except service.NotReady as error:
            show_on_form(form, error)
            return _progress_page(
                current_user, supervises=False, status=422, request_form=form, not_ready=error.readiness
            )
        except FieldError as error:
            show_on_form(form, error)
            return _progress_page(current_user, supervises=False, status=422, request_form=form)
        flash("Promotion requested: your supervisors have been asked for their recommendation", "success")
    return redirect(url_for(".index"), code=303)


@bp.route("/requests/<id:request_id>/withdraw", methods=["GET", "POST"])
@worker_required
def withdraw(request_id: int):
    """Confirm, then take back my open promotion request (closed, not declined)."""
    promotion = service.get_own_request_or_404(current_user, request_id)
    form = WithdrawForm()
    if form.validate_on_submit():
        try:
            service.withdraw_request(current_user, promotion)
        except FieldError as error:
            show_on_form(form, error)
        else:
            flash(f"Your request to become {promotion.target_tier.name} is withdrawn", "success")
            return redirect(url_for(".index"), code=303)
    return render("progress/withdraw.html", status=422 if form.errors else 200, form=form, promotion=promotion)


def _pdf_target(worker: User, tier_id: int | None) -> Tier:
    """The panel PDF's target tier: the one asked for (of the worker's framework), else the next, else their own.

    :raises 404: for a tier of another framework, or when there is none.
    """
    tiers = worker.framework.tiers if worker.framework else []
    target = {t.id: t for t in tiers}.get(tier_id) if tier_id else (rules.next_tier(worker, tiers) or worker.tier)
    if target is None:
        abort(404)
    return target


def _document_page(kind: DocumentKind, worker: User, tier: Tier | None = None):
    document = documents_service.request_document(current_user, kind, worker, tier)
    return redirect(url_for("documents.show", document_id=document.id), code=303)


@bp.post("/export.zip")
@worker_required
def request_export():
    """Ask for all of my data: built in the background; its page offers the download."""
    return _document_page(DocumentKind.DATA_EXPORT, current_user)


@bp.post("/portfolio.pdf")
@worker_required
def request_pdf():
    """Ask for my panel PDF (the next tier by default): built in the background; its page offers the download."""
    if current_user.framework_id is None:
        abort(403)
    worker = current_user._get_current_object()
    return _document_page(DocumentKind.PANEL_PDF, worker, _pdf_target(worker, request.args.get("tier", type=parse_id)))


@bp.post("/workers/<id:worker_id>/portfolio.pdf")
@login_required
def request_worker_pdf(worker_id: int):
    """Ask for a worker's panel PDF, as their supervisor or a manager: built in the background."""
    person = service.get_worker_for_actor_or_404(current_user, worker_id)
    return _document_page(DocumentKind.PANEL_PDF, person, _pdf_target(person, request.args.get("tier", type=parse_id)))


@bp.get("/workers/<id:worker_id>")
@login_required
def worker(worker_id: int):
    """A supervisee's or (for managers) any worker's progress, with the promotion forms."""
    person, supervises = service.worker_seen_by_or_404(current_user, worker_id)
    return _progress_page(person, supervises=supervises)


@bp.post("/requests/<id:request_id>/recommend")
@role_required(Role.SUPERVISOR)
def recommend(request_id: int):
    """A supervisor supports the request, or not yet, with reasons."""
    promotion = service.get_request_to_decide_or_404(current_user, request_id)
    person, supervises = service.worker_seen_by_or_404(current_user, promotion.worker_id)
    form = RecommendForm()
    if form.validate_on_submit():
        supports = {"yes": True, "no": False}.get(form.supports.data)
        try:
            service.recommend(current_user, promotion, supports=supports, reasons=form.reasons.data or "")
        except FieldError as error:
            show_on_form(form, error)
            return _progress_page(person, supervises=supervises, status=422, recommend_form=form)
        flash("Recommendation recorded", "success")  # or changed: the page shows which
    elif form.errors:  # the form refused a value itself: the rest of what is wrong, at once
        supports = {"yes": True, "no": False}.get(form.supports.data)
        show_the_rest(form, service.problems_of_recommendation(promotion, supports, form.reasons.data))
        return _progress_page(person, supervises=supervises, status=422, recommend_form=form)
    return redirect(url_for(".worker", worker_id=person.id), code=303)


@bp.post("/requests/<id:request_id>/decide")
@manager_required
def decide(request_id: int):
    """A manager approves (with an effective date) or declines (with reasons)."""
    promotion = service.get_request_to_decide_or_404(current_user, request_id)
    form = PromotionDecisionForm()
    if form.validate_on_submit():
        approved = {"yes": True, "no": False}.get(form.approved.data)
        try:
            service.decide_promotion(
                current_user,
                promotion,
                approved=approved,
                effective_on=form.effective_on.data,
                reasons=form.reasons.data or "",
                seen_recommendations=form.recommendations_seen.data or "",  # none posted: a page from before
            )
        except FieldError as error:
            show_on_form(form, error)
            return _refused_decision(promotion, form)
        flash(f"Promotion {'approved' if approved else 'declined'} for {promotion.worker.name}", "success")
    elif form.errors:  # the form refused a value itself: the rest of what is wrong, at once
        approved = {"yes": True, "no": False}.get(form.approved.data)
        show_the_rest(
            form,
            service.problems_of_decision(
                promotion,
                approved,
                form.effective_on.data,
                form.reasons.data,
                form.recommendations_seen.data or "",
                current_user,
            ),
        )
        return _refused_decision(promotion, form)
    return redirect(url_for(".worker", worker_id=promotion.worker_id), code=303)


def _refused_decision(promotion, form: PromotionDecisionForm):
    """The worker's page again, with the decision form's problems (a manager who supervises her too still sees
    what a supervisor sees)."""
    person, supervises = service.worker_seen_by_or_404(current_user, promotion.worker_id)
    return _progress_page(person, supervises=supervises, status=422, decision_form=form)


@bp.route("/workers/<id:worker_id>/requirements/<id:requirement_id>", methods=["GET", "POST"])
@manager_required
def verify(worker_id: int, requirement_id: int):
    """Record that a worker meets a mandatory requirement (the form's one-time key in its address, so that Back
    after recording finds the check recorded rather than a form that records it twice)."""
    person = service.get_worker_to_verify_or_404(current_user, worker_id)
    requirement = service.get_requirement_or_404(person, requirement_id)
    key = key_from_address()
    if request.method == "GET" and key is None:
        return to_a_fresh_key(".verify", worker_id=person.id, requirement_id=requirement.id)
    if request.method == "GET" and (recorded := service.verified_by_form(current_user, key)) is not None:
        return render(
            "already_saved.html",
            caption=person.name,
            saved=(
                f"the check of {long_date(recorded.verified_on)}",
                url_for(".worker", worker_id=person.id, _anchor="requirements"),
            ),
            what_next=f"It is on {person.name}’s progress page.",
            again=("Record another check", url_for(".verify", worker_id=person.id, requirement_id=requirement.id)),
            back=("Back", url_for(".worker", worker_id=person.id, _anchor="requirements")),
        )
    form = VerifyForm(data={"verified_on": service.today(), "form_key": key})
    if form.validate_on_submit():
        try:
            service.verify_requirement(
                current_user,
                person,
                requirement,
                verified_on=form.verified_on.data,
                expires_on=form.expires_on.data,
                note=form.note.data or "",
                form_key=form.form_key.data,
            )
        except FieldError as error:
            show_on_form(form, error)
        else:
            said = f"Verified: {requirement.statement}"
            # What her page shows now: the newest check (an older one recorded later does not replace it).
            newest = rules.newest_verifications([person.id], [requirement.ref]).get((person.id, requirement.ref))
            if newest is not None and rules.requirement_state(newest, service.today()) == "lapsed":
                said += (
                    f" (its renewal date, {long_date(newest.expires_on)}, has passed:"
                    " it shows as lapsed until it is verified again)"
                )
            flash(said, "success")
            return redirect(url_for(".worker", worker_id=person.id, _anchor="requirements"), code=303)
    return render(
        "progress/verify.html",
        status=422 if form.errors else 200,
        form=form,
        worker=person,
        requirement=requirement,
        months=service.renewal_months(requirement),
    )


@bp.get("/team")
@manager_required
def team():
    """Every worker: framework, tier, progress to the next tier, readiness, lapsed requirements, waiting items."""
    form = OverviewFilterForm(request.args)
    form.framework.choices = choices(
        [("", "All frameworks")] + [(str(fw.id), fw.short_title) for fw in frameworks_service.current_frameworks()]
    )
    form.validate()
    q = (form.q.data or "") if not form.q.errors else ""
    framework_id = optional_id(form.framework.data or "")
    only = (form.only.data or "") if not form.only.errors else ""
    if request.args.get("format") == "csv":
        return _csv(service.overview(actor=current_user, q=q, framework_id=framework_id, only=only))
    number, filtered = paging.requested_page(), bool(q or framework_id or only)

    def table() -> tuple[paging.Page, Markup]:
        """The page's numbers (for the status line) and its table, rendered."""
        page = service.overview_page(number, actor=current_user, q=q, framework_id=framework_id, only=only)
        html = render_block(
            "progress/team.html", "team_table", page=page, csv_url=paging.list_url(format="csv"), filtered=filtered
        )
        return page.numbers(), Markup(html)

    # Most of the page's cost is its 25 rows: kept, rendered, while nothing they show has changed. The table's links
    # keep every parameter of the address (paging.list_url), so the address is part of what it is kept under.
    state = service.overview_page_state(number, actor=current_user, q=q, framework_id=framework_id, only=only)
    if state is None:
        page, kept_table = table()
    else:
        statement, parameters = state
        variant = (current_user.id, service.today(), request.query_string)
        page, kept_table = versions.kept_for_owners("workers-table", variant, statement, table, parameters)
    return render(
        "progress/team.html",
        "team_table",
        oob=("team_status",),
        form=form,
        page=page,
        filtered=filtered,
        kept_table=kept_table,
    )


def _csv(rows) -> Response:
    return csv_response(
        "workers.csv",
        [
            "Name",
            "Email",
            "Framework",
            "Tier",
            "Next tier",
            "Met",
            "Required",
            "Ready",
            "Lapsed requirements",
            "Requirements not verified",
            "Waiting for review",
        ],
        (
            [
                r.worker.name,
                r.worker.email,
                r.worker.framework.short_title if r.worker.framework else "",
                r.worker.tier.name if r.worker.tier else "",
                r.next_tier.name if r.next_tier else "",
                r.met,
                r.required,
                "yes" if r.ready else "no",
                "; ".join(r.lapsed),
                "; ".join(r.not_verified),
                r.waiting,
            ]
            for r in rows
        ),
    )
