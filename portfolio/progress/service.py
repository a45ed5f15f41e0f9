"""Where a worker stands, what is missing, requirements, and the promotion use cases."""

from __future__ import annotations

import calendar
import functools
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from datetime import date

from flask import abort, current_app
from sqlalchemy import Date, Integer, Select, and_, bindparam, exists, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from .. import duties, idempotency, paging, tally
from ..audit import ledger
from ..clock import day_of, done_on_problem, today
from ..database import begin_write, lock_or_404
from ..errors import FieldError, Problems
from ..evidence import anonymity
from ..extensions import db
from ..frameworks import tree
from ..frameworks.structure import FrozenTier, structures
from ..models import (
    CertificateState,
    Competence,
    Evidence,
    EvidenceKind,
    EvidenceStatus,
    Framework,
    NoteOutcome,
    NoteReview,
    NoteState,
    PromotionDecision,
    PromotionRecommendation,
    PromotionRequest,
    Requirement,
    RequirementVerification,
    Role,
    Tier,
    TierChange,
    User,
    utcnow,
)
from ..notifications import service as notifications
from ..people.search import name_or_email_matches
from ..review import service as review
from ..supervision import service as supervision
from ..templating import long_date
from . import rules, versions
from .rules import CompetenceStatus
from .versions import Drawn

REASONS_MAX = 5000
OWN_PROMOTION = (
    "This is your own promotion request: another supervisor recommends on it and another manager decides it."
)
OWN_REQUIREMENTS = "These are your own mandatory requirements: another manager must verify them."


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (the last day of the month when it has fewer days)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# --- Reading: a worker's progress -----------------------------------------------------

# The tree's shapes, under the names the progress pages have always used.
CompetenceRow = tree.Row
AreaBlock = tree.Area
TierBlock = tree.Part
RequirementState = rules.RequirementState
Readiness = rules.Readiness
requirement_states = rules.requirement_states


@dataclass
class Promotion:
    """Where a worker stands with promotion: how ready she is for her next tier, and her open request."""

    worker: User
    framework: Framework
    readiness: Readiness
    open_request: PromotionRequest | None

    @property
    def higher_tier_to_ask(self) -> bool:
        """No request open and a higher tier to ask for: her page offers the request (once ready) or what is left."""
        return self.open_request is None and has_higher_tier(self.worker, self.framework, self.readiness)


@dataclass
class WorkerProgress:
    """Everything the progress pages show: how ready she is, each tier's competences and her requirements, and her
    open promotion request (read when first asked for)."""

    worker: User
    framework: Framework
    readiness: Readiness
    blocks: list[TierBlock]
    next_tier: FrozenTier | None
    requirements: list[RequirementState]
    tree: tree.FrameworkTree

    @property
    def higher_tier(self) -> bool:
        """Her next tier is above hers (not her own, as on a single-tier role profile): one she may ask for."""
        return has_higher_tier(self.worker, self.framework, self.readiness)

    @functools.cached_property
    def open_request(self) -> PromotionRequest | None:
        """Her open promotion request, with the tier it asks for; read when first asked for, since most readers never
        ask (the lower half of a progress page, which :func:`standing_and_promotion` tops with its own reading, and
        the page of what is missing unless she is ready)."""
        return db.session.scalar(_open_request_statement(), {"worker_id": self.worker.id})


def has_higher_tier(worker: User, framework: Framework, readiness: Readiness) -> bool:
    """Her framework has tiers and the one she is measured against is above hers: promotion is possible.

    On a single-tier role profile the tier measured against is her own (rules.next_tier): meeting it asks for
    nothing."""
    tier = readiness.tier
    return framework.is_tiered and tier is not None and tier.id != worker.tier_id


def worker_progress(worker: User, *, with_items: bool = False) -> WorkerProgress:
    """Everything the progress pages show for one worker, in a fixed number of queries.

    ``with_items`` also lists, for each statement, the worker's newest
    :data:`ITEMS_SHOWN` items linked to it (id, title, status, a note's state, accepted or not), for the
    page of what is missing: the work stays the same however many there are.
    """
    if worker.framework_id is None:
        abort(404)
    framework = db.session.get_one(Framework, worker.framework_id)
    framework_tree = tree.framework_tree(framework, worker)
    if with_items:
        rows = framework_tree.by_ref()
        for item in _newest_items_per_statement(worker):
            if item.ref in rows:
                rows[item.ref].items.append(item)
    states = rules.requirement_states(worker, framework_tree.requirements, today())
    target = rules.next_tier(worker, framework_tree.tiers)
    readiness = readiness_for(target, framework_tree, states)
    return WorkerProgress(
        worker=worker,
        framework=framework,
        readiness=readiness,
        blocks=framework_tree.parts,
        next_tier=target,
        requirements=states,
        tree=framework_tree,
    )


def standing_and_promotion(
    worker: User, variant: Hashable, draw: Callable[[Standing], Drawn]
) -> tuple[Drawn, Promotion]:
    """The two halves of a progress page: where she stands, drawn by ``draw`` and kept (:func:`standing_drawn`), and
    her promotion as the top shows it (the readiness kept with the lower half, worked out from the same state, and
    her open request).

    The lower half's state and whether she has an open request are read in one query; the request itself only when
    there is one (most of the time there is none), or when the lower half was drawn afresh, after that query: then
    it is read again after drawing, so that the top is never older than what was drawn.
    """
    if worker.framework_id is None:
        abort(404)
    parameters: dict[str, object] = {"worker_id": worker.id}
    found = tally.read(
        versions.state_read(_STANDING, _standing_state(), parameters),
        ({"open_request_id": _open_request_id_statement()}, parameters),
    )
    drawn_now = False

    def drawing(standing: Standing) -> Drawn:
        nonlocal drawn_now
        drawn_now = True
        return draw(standing)

    kept, readiness = standing_drawn(worker, variant, drawing, rows=versions.state_rows(found[_STANDING]))
    open_request = None
    if drawn_now or found["open_request_id"] is not None:
        open_request = db.session.scalar(_open_request_statement(), parameters)
    framework = db.session.get_one(Framework, worker.framework_id)
    return kept, Promotion(worker, framework, readiness, open_request)


@dataclass
class Standing:
    """Where a worker stands and how she came there: her progress, her closed promotion requests and her tier
    history (what the lower half of a progress page shows)."""

    progress: WorkerProgress
    earlier_requests: list[PromotionRequest]
    history: list[TierChange]


def standing_drawn(
    worker: User, variant: Hashable, draw: Callable[[Standing], Drawn], *, rows: Sequence[tuple] | None = None
) -> tuple[Drawn, Readiness]:
    """Where the worker stands and how she came there (:class:`Standing`: each tier's competences met, her
    requirements, her earlier requests and tier history, and whatever ``draw`` adds from her portfolio, such as her
    training) drawn by ``draw``, kept while it reads the same; with her readiness for her next tier, which the same
    state decides (her competences met, her tier, her requirements verified, the day), kept with it for the top of
    the page (:func:`standing_and_promotion`).

    The lower half of a progress page, the same on every view of it while nothing changes: kept under her token and
    the frameworks' (her items and decisions, framework, tier and name; the frameworks and the training catalogue),
    the day (lapsed requirements, training due), her verifications and closed requests, and who verified,
    recommended or decided (their names, under their own tokens), read in one query
    (versions.kept_for_owners), with ``variant``: what else ``draw`` shows (who is looking: her own page, a
    manager's). Drawn from her progress read again, after that state (her row included: her tier decides her
    courses). ``rows``: that state as read already, with something else in the same query (versions.state_read).
    """

    def drawn() -> tuple[Drawn, Readiness]:
        db.session.refresh(worker)  # her row as it is now: her tier and framework are loaded again from it
        progress = worker_progress(worker)
        return draw(Standing(progress, earlier_requests(worker), tier_history(worker))), _to_keep(progress.readiness)

    key = (worker.id, today(), variant)
    return versions.kept_for_owners(
        "progress-standing", key, _standing_state(), drawn, {"worker_id": worker.id}, rows=rows
    )


def _to_keep(readiness: Readiness) -> Readiness:
    """``readiness`` without her verifications' rows: kept between requests, it holds nothing of a session's
    (what is kept of a requirement's state is the requirement, shared, and the state)."""
    states = [replace(state, verification=None) for state in readiness.requirements]
    return Readiness(readiness.tier, readiness.missing, states)


@functools.cache
def _standing_state() -> Select:
    """The worker and whoever verified a requirement of hers or recommended or decided on a closed request of hers,
    each with her newest verification and how many of her requests are closed: for versions.

    Requests close once (withdrawn or decided) and say nothing new after; verifications are only ever added. A tier
    change changes her tier, and with it her token.
    """
    worker = bindparam("worker_id", type_=Integer())
    closed = and_(PromotionRequest.worker_id == worker, ~PromotionRequest.open_where())
    verifiers = select(RequirementVerification.verified_by_id).where(RequirementVerification.worker_id == worker)
    deciders = (  # a decided request is closed
        select(PromotionDecision.manager_id)
        .join(PromotionRequest, PromotionDecision.request)
        .where(PromotionRequest.worker_id == worker)
    )
    recommenders = (
        select(PromotionRecommendation.supervisor_id)
        .join(PromotionRequest, PromotionRecommendation.request)
        .where(closed)
    )
    newest_verification = select(func.max(RequirementVerification.id)).where(
        RequirementVerification.worker_id == worker
    )
    closed_requests = select(func.count(PromotionRequest.id)).where(closed)
    named = select(
        User.id,
        newest_verification.scalar_subquery(),
        closed_requests.scalar_subquery(),
    ).where(
        or_(
            User.id == worker,
            User.id.in_(verifiers),
            User.id.in_(deciders),
            User.id.in_(recommenders),
        )
    )
    return versions.owners_state(named)


def tier_history(worker: User) -> list[TierChange]:
    """The worker's tier changes, newest first."""
    return list(db.session.scalars(_tier_history_statement(), {"worker_id": worker.id}))


# The progress pages' statements, built once per process: putting them together cost more than running them.


@functools.cache
def _open_request_statement() -> Select:
    """The worker's open promotion request (a worker has one at most), with the tier it asks for."""
    return select(PromotionRequest).where(*_open_request_where()).options(db.joinedload(PromotionRequest.target_tier))


@functools.cache
def _open_request_id_statement() -> Select:
    """The id of the worker's open promotion request, if she has one (a one-value statement for ``tally``). The
    newest: she has one at most, but a column holds one value whatever the rows (as on the homes)."""
    return select(func.max(PromotionRequest.id)).where(*_open_request_where())


def _open_request_where() -> tuple[ColumnElement[bool], ...]:
    return PromotionRequest.worker_id == bindparam("worker_id", type_=Integer()), PromotionRequest.open_where()


_STANDING = "standing_state"  # the name of the lower half's state among what a progress page reads at once (tally)


@functools.cache
def _tier_history_statement() -> Select:
    """The worker's tier changes, newest first."""
    return (
        select(TierChange)
        .where(TierChange.worker_id == bindparam("worker_id", type_=Integer()))
        .order_by(TierChange.effective_on.desc(), TierChange.id.desc())
    )


ITEMS_SHOWN = 5  # per statement on the page of what is missing; the statement's own page lists them all


@dataclass(frozen=True)  # kept between requests (versions.py): shared, never changed
class LinkedItem:
    """An item listed under a statement on the page of what is missing: enough for its link and its one state."""

    id: int
    title: str
    status: EvidenceStatus
    occurred_on: date
    ref: str
    note_state: NoteState | None  # a supervision note's state, the same words its supervisor reads
    certificate_state: CertificateState | None  # a catalogue certificate's, the same words its checkers read
    accepted: bool  # accepted for this statement in a sign-off (an item may be signed off, not accepted for it)


def _newest_items_per_statement(worker: User) -> tuple[LinkedItem, ...]:
    """The newest ITEMS_SHOWN items linked to each statement: kept until the worker's portfolio changes."""
    return versions.cached("newest-items", [worker.id], lambda ids: {worker.id: _read_newest_items(worker)})[worker.id]


def _read_newest_items(worker: User) -> tuple[LinkedItem, ...]:
    """The newest ITEMS_SHOWN items linked to each statement, with a note's state and whether a sign-off accepted
    each for its statement (two queries).

    Only ids, dates and refs are ranked, straight from the indexes; titles and note states are read for the
    ranked few alone, so a 2,000-item portfolio reads a few hundred rows of text, not thousands.
    """
    newest_first = (Evidence.occurred_on.desc(), Evidence.id.desc())
    ranked = (
        rules.linked_query(
            Evidence.id.label("id"),
            Competence.ref.label("ref"),
            # An item linked to a statement on two versions of the framework is two rows of one rank (dense):
            # the newest ITEMS_SHOWN different items pass, each once after DISTINCT below.
            func.dense_rank().over(partition_by=Competence.ref, order_by=newest_first).label("rank"),
        )
        .where(Evidence.owner_id == worker.id)
        .subquery()
    )
    from ..training import service as training  # which imports this module

    is_note = Evidence.kind == EvidenceKind.SUPERVISION_NOTE
    reviewed = exists().where(NoteReview.evidence_id == Evidence.id)
    confirmed = reviewed.where(NoteReview.outcome == NoteOutcome.CONFIRMED)
    rows = db.session.execute(
        select(
            Evidence.id,
            Evidence.title,
            Evidence.status,
            Evidence.occurred_on,
            ranked.c.ref,
            and_(is_note, reviewed).label("reviewed"),
            and_(is_note, confirmed).label("confirmed"),
            is_note.label("is_note"),
            training.is_catalogue_certificate_sql().label("checkable"),
            training.is_checked_sql().label("checked"),
            training.is_sent_back_sql().label("sent_back"),
        )
        .join(ranked, ranked.c.id == Evidence.id)
        .where(ranked.c.rank <= ITEMS_SHOWN, Evidence.owner_id == worker.id)
        .distinct()
        .order_by(*newest_first, ranked.c.ref)
    ).all()
    accepted = rules.accepted_pairs(worker, [row.id for row in rows])
    return tuple(
        LinkedItem(
            row.id,
            row.title,
            row.status,
            row.occurred_on,
            row.ref,
            NoteState.of(reviewed=bool(row.reviewed), confirmed=bool(row.confirmed)) if row.is_note else None,
            CertificateState.of(checked=row.checked, sent_back=row.sent_back) if row.checkable else None,
            (row.id, row.ref) in accepted,
        )
        for row in rows
    )


def readiness_for(
    target: FrozenTier | None, framework_tree: tree.FrameworkTree, states: list[RequirementState]
) -> Readiness:
    """Ready for a tier: every competence of it and the tiers before it met, every requirement in date."""
    if target is None:
        return Readiness(None, [], states)
    required = {c.id for c in rules.required_for(target, framework_tree.tiers, framework_tree.competences)}
    missing = [r for r in framework_tree.rows if r.competence.id in required and r.status != CompetenceStatus.MET]
    return Readiness(target, framework_tree.areas_of(missing), states)


def promotion_step(worker: User, next_tier: rules.TierProgress, on: date | None = None) -> str | None:
    """Where a worker who has met every competence of a higher tier stands with promotion: "asked" (a request
    is open), "ready" or "requirements" (some still to verify or renew, today or ``on``); None before then.

    The progress pages' readiness (every competence met, every requirement in date) without the worker's whole
    tree, for a page that asks on every visit (the home): ``next_tier`` (rules.next_tier_progress) already counts
    the competences, and the rest is two queries, only in that state.
    """
    tier = next_tier.tier
    if tier is None or tier.id == worker.tier_id or not next_tier.required or next_tier.met < next_tier.required:
        return None
    if db.session.scalar(_open_request_statement(), {"worker_id": worker.id}) is not None:
        return "asked"
    requirements = structures([tier.framework_id])[tier.framework_id].requirements
    unmet = sum(not state.in_date for state in rules.requirement_states(worker, requirements, on or today()))
    return "ready" if rules.is_ready(tier, 0, unmet) else "requirements"


# --- Promotion -------------------------------------------------------------------------


class NotReady(FieldError):
    """A promotion asked for before the worker is ready; ``readiness`` says what is missing."""

    def __init__(self, readiness: Readiness, tier: FrozenTier):
        parts = []
        if readiness.missing_count:
            n = readiness.missing_count
            parts.append(f"{n} {'competence is' if n == 1 else 'competences are'} not met")
        problems = readiness.requirement_problems
        if problems:
            parts.append(
                f"{len(problems)} {'requirement is' if len(problems) == 1 else 'requirements are'} not verified or in date"
            )
        super().__init__("request", f"You are not ready for {tier.name} yet: " + " and ".join(parts))
        self.readiness = readiness


@idempotency.creates(PromotionRequest)
def request_promotion(actor: User, *, form_key: str | None = None) -> PromotionRequest:
    """Ask to move to the next tier.

    :raises FieldError: at the top tier or with a request already open; NotReady with what is missing.
    """
    progress = worker_progress(actor)
    if progress.next_tier is None or not progress.higher_tier:
        raise FieldError("request", "There is no higher tier to ask for")
    if progress.open_request is not None:
        raise FieldError("request", "You already have a promotion request waiting for a decision")
    if not progress.readiness.ready:
        raise NotReady(progress.readiness, progress.next_tier)
    begin_write()
    idempotency.check(PromotionRequest, form_key, actor)
    # Two tabs hold two form keys: on PostgreSQL both could find no open request and each open one. Her row,
    # locked, makes the later ask wait and then find the first's.
    lock_or_404(User, actor.id)
    if db.session.scalar(
        select(
            exists().where(
                PromotionRequest.worker_id == actor.id,
                PromotionRequest.open_where(),
            )
        )
    ):
        db.session.rollback()
        raise FieldError("request", "You already have a promotion request waiting for a decision")
    request = PromotionRequest(worker_id=actor.id, from_tier_id=actor.tier_id, target_tier_id=progress.next_tier.id)
    db.session.add(request)
    idempotency.remember(form_key, actor, request)
    db.session.flush()
    ledger.record(
        actor,
        "promotion.requested",
        f"user:{actor.id}",
        binds=request,
        request_id=request.id,
        target_tier_id=request.target_tier_id,
    )
    for supervisor in supervision.supervisors_of(actor.id, today()):
        notifications.notify(
            supervisor,
            f"{actor.name} asked to become {progress.next_tier.name}: your recommendation is needed",
            notifications.path_for("progress.worker", worker_id=actor.id),
            email_subject=f"{actor.name} has asked for promotion",
        )
    db.session.commit()
    return request


def earlier_requests(worker: User) -> list[PromotionRequest]:
    """The worker's closed promotion requests (decided or withdrawn), newest first, with their recommendations
    and decision: a "not yet" on a withdrawn request stays in sight of whoever decides the next (one query, and
    one more for the recommendations when there are any)."""
    return list(db.session.scalars(_earlier_requests_statement(), {"worker_id": worker.id}).unique())


@functools.cache
def _earlier_requests_statement() -> Select:
    """Built once: every view of someone's progress asks, and building it cost more than running it."""
    return (
        select(PromotionRequest)
        .where(PromotionRequest.worker_id == bindparam("worker_id", type_=Integer()), ~PromotionRequest.open_where())
        .options(
            db.joinedload(PromotionRequest.target_tier),
            db.joinedload(PromotionRequest.decision).joinedload(PromotionDecision.manager),
            db.selectinload(PromotionRequest.recommendations).joinedload(PromotionRecommendation.supervisor),
        )
        .order_by(PromotionRequest.requested_at.desc(), PromotionRequest.id.desc())
    )


WITHDRAWN = "withdrew this request"


def withdraw_request(actor: User, request: PromotionRequest) -> PromotionRequest:
    """The worker takes back their open request: closed, not declined; they may ask again when ready.

    A second withdrawal (a double click) finds the first and writes nothing.

    :raises FieldError: on ``withdraw`` for a request a manager has already decided.
    :raises 404: for someone else's request.
    """
    get_own_request_or_404(actor, request.id)
    begin_write()
    request = lock_or_404(PromotionRequest, request.id)
    if request.withdrawn_at is not None:
        db.session.rollback()
        return request
    if request.decision is not None:
        db.session.rollback()
        raise FieldError("withdraw", "A manager has already decided this request, so it cannot be withdrawn")
    request.withdrawn_at = utcnow()
    db.session.flush()
    ledger.record(
        actor,
        "promotion.withdrawn",
        f"user:{actor.id}",
        binds=request,
        request_id=request.id,
        target_tier_id=request.target_tier_id,
    )
    request_page = notifications.path_for("progress.worker", worker_id=actor.id)
    notifications.settled(request_page)  # nobody is asked to recommend or decide on it any more
    # Her current supervisors, who were asked, hear it: no chasing a request that is gone. Not a former one: the
    # notice would lead to a page they may no longer see.
    for person in supervision.supervisors_of(actor.id, today()):
        notifications.notify(
            person,
            f"{actor.name} withdrew their request to become {request.target_tier.name}",
            request_page,
            email_subject=f"{actor.name} has withdrawn a promotion request",
        )
    db.session.commit()
    return request


def _recommendation_input(problems: Problems, supports: bool | None, reasons: str | None) -> str:
    """The recommendation form's own rules, each problem into ``problems``; the reasons cleaned."""
    if supports is None:
        problems.add("supports", "Choose whether you support the request")
    return problems.check(lambda: _reasons(reasons, "reasons", "Give your reasons"), "")


def _decision_input(problems: Problems, approved: bool | None, effective_on: date | None, reasons: str | None) -> str:
    """The decision form's own rules, each problem into ``problems``; the reasons cleaned."""
    if approved is None:
        problems.add("approved", "Choose whether to approve or decline the request")
    if approved and effective_on is None:
        problems.add("effective_on", "Enter the date the new tier takes effect")
    # Reasons are needed to decline: with no choice made yet, only their length and content are checked.
    return problems.check(
        lambda: _reasons(reasons, "reasons", "Give the reasons for declining" if approved is False else None), ""
    )


def problems_of_recommendation(request: PromotionRequest, supports: bool | None, reasons: str | None) -> dict:
    """What :func:`recommend` would refuse in what was typed, writing nothing: for a form that refused a value
    itself (over-long reasons), so that its page names every problem at once (or that the request closed)."""
    return _problems_of(request, "supports", lambda problems: _recommendation_input(problems, supports, reasons))


def problems_of_decision(
    request: PromotionRequest,
    approved: bool | None,
    effective_on: date | None,
    reasons: str | None,
    seen_recommendations: str | None = None,
    actor: User | None = None,
) -> dict:
    """What :func:`decide_promotion` would refuse in what was typed, writing nothing (see
    :func:`problems_of_recommendation`)."""
    try:
        _refuse_changed_since_seen(request, seen_recommendations)
    except FieldError as error:
        return error.by_field()
    return _problems_of(
        request, "approved", lambda problems: _decision_input(problems, approved, effective_on, reasons), actor
    )


def _problems_of(request: PromotionRequest, field: str, rules_of_the_form, actor: User | None = None) -> dict[str, str]:
    try:
        _refuse_closed(request, field, actor)
    except FieldError as error:
        return error.by_field()
    problems = Problems()
    rules_of_the_form(problems)
    return dict(problems.errors)


def _refuse_closed(request: PromotionRequest, field: str, actor: User | None = None) -> None:
    """A withdrawn or decided request is neither recommended on nor decided (nothing written). Asked as the page
    read it, before what was typed (that page may be old, and what was typed on it no longer matters), then again
    on the locked row. ``actor``: who is deciding, told "you" when it was their own decision."""
    _refuse_withdrawn(request, field)
    decision = request.decision
    if decision is not None:
        # Who and how, read before the rollback: a manager whose second tab is stale learns what was decided.
        who = "you" if actor is not None and decision.manager_id == actor.id else decision.manager.name
        done = f"{who} {'approved' if decision.approved else 'declined'} it on {long_date(decision.at)}"
        db.session.rollback()
        raise FieldError(
            field,
            f"This request has already been decided: {done}"
            if field == "approved"
            else "A manager has already decided this request",
        )


def _refuse_withdrawn(request: PromotionRequest, field: str) -> None:
    """On the locked request: a withdrawn one is neither recommended on nor decided (nothing written)."""
    if request.withdrawn_at is not None:
        db.session.rollback()
        raise FieldError(
            field,
            f"{request.worker.name} {WITHDRAWN}: there is nothing to {'decide' if field == 'approved' else 'recommend on'}",
        )


def get_request_or_404(request_id: int) -> PromotionRequest:
    request = db.session.get(PromotionRequest, request_id)
    if request is None:
        abort(404)
    return request


def get_own_request_or_404(actor: User, request_id: int) -> PromotionRequest:
    """One of the actor's own promotion requests.

    :raises 404: for someone else's, as for a missing one.
    """
    request = get_request_or_404(request_id)
    if request.worker_id != actor.id:
        abort(404)
    return request


def get_request_to_decide_or_404(actor: User, request_id: int) -> PromotionRequest:
    """A promotion request someone else made, for the actor to recommend on or decide.

    :raises OwnDecision: for the actor's own request (a 403 page saying why).
    :raises 404: for a missing one.
    """
    request = get_request_or_404(request_id)
    duties.refuse_own(actor, request.worker_id, OWN_PROMOTION)
    return request


def get_worker_for_actor_or_404(actor: User, worker_id: int) -> User:
    """A worker whose progress the actor may see.

    :raises 404: for anyone else, as for a missing one.
    """
    return worker_seen_by_or_404(actor, worker_id)[0]


def worker_seen_by_or_404(actor: User, worker_id: int) -> tuple[User, bool]:
    """A worker whose progress the actor may see (herself, her supervisor today, a manager), and whether the actor
    is her supervisor today: both in one query, as a supervisor's every page about a worker asks both.

    :raises 404: for anyone else, as for a missing one.
    """
    parameters = {"worker_id": worker_id, "actor_id": actor.id, "on": today()}
    row = db.session.execute(_worker_statement(), parameters).first()
    if row is None:
        abort(404)
    worker, supervising = row[0], bool(row[1]) and actor.has_role(Role.SUPERVISOR)
    may_see = actor.id == worker.id or actor.has_role(Role.MANAGER) or supervising
    if not worker.is_worker or worker.framework_id is None or not may_see:
        abort(404)
    return worker, supervising


@functools.cache
def _worker_statement() -> Select:
    """A worker with their framework and tier, which every page about a worker's progress shows, and whether the
    actor supervises her on the day (built once: a session.get with options built its query on every view)."""
    supervising = supervision.supervising(
        bindparam("actor_id", type_=Integer()), User.id, bindparam("on", type_=Date())
    ).label("supervising")
    return (
        select(User, supervising)
        .where(User.id == bindparam("worker_id", type_=Integer()))
        .options(db.joinedload(User.framework), db.joinedload(User.tier))
    )


def get_worker_to_verify_or_404(actor: User, worker_id: int) -> User:
    """A worker (not the actor) whose mandatory requirements the actor may verify.

    :raises OwnDecision: for the actor themself (a 403 page saying why).
    :raises 404: for anyone they may not see.
    """
    worker = get_worker_for_actor_or_404(actor, worker_id)
    duties.refuse_own(actor, worker.id, OWN_REQUIREMENTS)
    return worker


def _reasons(text: str | None, field_name: str, required_message: str | None) -> str:
    text = (text or "").strip()
    if required_message and not text:
        raise FieldError(field_name, required_message)
    if len(text) > REASONS_MAX:
        raise FieldError(field_name, f"The reasons must be {REASONS_MAX:,} characters or fewer")
    anonymity.require_anonymous(field_name, "What you wrote", text)  # one thing: "... contains ..."
    return text


def recommend(
    actor: User, request: PromotionRequest, *, supports: bool | None, reasons: str
) -> PromotionRecommendation:
    """A current supervisor records whether they support the request, with reasons; or changes what they
    recommended while the request is open (a new row: the earlier stays on the record, the newest counts).

    Recommending again as they already recommend (a double click, Back and send) writes nothing.

    :raises FieldError: for no choice, no reasons or a decided request.
    :raises OwnDecision: for the actor's own request (nothing written).
    """
    duties.refuse_own(actor, request.worker_id, OWN_PROMOTION)
    if not supervision.is_supervising(actor.id, request.worker_id, today()):
        abort(404)
    _refuse_closed(request, "supports")  # as the page read it: said before what was typed
    problems = Problems()
    reasons = _recommendation_input(problems, supports, reasons)
    problems.raise_if_any()
    begin_write()
    request = lock_or_404(PromotionRequest, request.id)
    duties.refuse_own(actor, request.worker_id, OWN_PROMOTION)
    _refuse_closed(request, "supports")  # again, on the locked row
    before = next((r for r in request.current_recommendations if r.supervisor_id == actor.id), None)
    if before is not None and (before.supports, before.reasons) == (supports, reasons):
        db.session.rollback()
        return before
    recommendation = PromotionRecommendation(
        request_id=request.id, supervisor_id=actor.id, supports=supports, reasons=reasons
    )
    db.session.add(recommendation)
    db.session.flush()
    ledger.record(
        actor,
        "promotion.recommended",
        f"user:{request.worker_id}",
        binds=recommendation,
        request_id=request.id,
        supports=supports,
        **({"changes": before.id} if before is not None else {}),
    )
    request_page = notifications.path_for("progress.worker", worker_id=request.worker_id)
    notifications.settled(request_page, actor)  # "your recommendation is needed": given
    # The worker hears it too: a "not yet" with its reasons is what they work on next.
    view = "supports" if supports else "does not yet support"
    notifications.notify(
        request.worker,
        f"{actor.name} changed their recommendation: they now {'support' if supports else 'do not yet support'}"
        " your promotion request"
        if before is not None
        else f"{actor.name} {view} your promotion request",
        notifications.path_for("progress.index"),
        email_subject=f"{actor.name} has recommended on your promotion request",
    )
    recommenders = {r.supervisor_id for r in request.recommendations} | {actor.id}
    for manager in supervision.people_with_role(Role.MANAGER):
        if duties.is_own(manager, request.worker_id) or manager.id in recommenders:
            continue  # a worker-manager is not asked to decide their own request, nor a recommender theirs
        notifications.notify(
            manager,
            f"{actor.name} {'changed their recommendation: ' if before is not None else ''}{view}"
            f" {request.worker.name}’s promotion request",
            request_page,
            email_subject="A promotion request is ready for your decision",
        )
    db.session.commit()
    return recommendation


RECOMMENDED_IT = "You recommended on this request: another manager must decide it"


def recommended_by(request: PromotionRequest, actor: User) -> bool:
    """Whether ``actor`` gave a recommendation on ``request`` (then they may not also decide it)."""
    return any(r.supervisor_id == actor.id for r in request.recommendations)


RECOMMENDATION_CHANGED = (
    "A supervisor gave or changed a recommendation after your page was shown: read it again below before you decide"
)


def _refuse_changed_since_seen(request: PromotionRequest, seen: str | None) -> None:
    """Refuse a decision made on a page that showed other recommendations than those that count now: asked
    before anything typed (a 422 for a missing reason must not quietly move the page on to the new ones), then
    again on the locked row. None: a use case called without a page (a command, a test)."""
    if seen is not None and seen != recommendations_seen(request):
        raise FieldError("approved", RECOMMENDATION_CHANGED)


def recommendations_seen(request: PromotionRequest) -> str:
    """The recommendations that count on ``request``, as a manager's page shows them: a decision is bound to them
    (a supervisor who changes theirs meanwhile makes the page out of date)."""
    return ",".join(str(r.id) for r in request.current_recommendations)


def decide_promotion(
    actor: User,
    request: PromotionRequest,
    *,
    approved: bool | None,
    effective_on: date | None,
    reasons: str,
    seen_recommendations: str | None = None,
) -> PromotionDecision:
    """A manager approves (with an effective date) or declines (with reasons); approval changes the tier.

    ``seen_recommendations`` (:func:`recommendations_seen` of the page the manager read): refused when a
    supervisor changed their recommendation since.

    :raises FieldError: for a missing choice, date or reasons, no recommendation
        yet, a request already decided, a worker no longer ready, an actor who
        recommended on it, a date before the request, or an approval against a
        recommendation that does not yet support it without reasons.
    :raises OwnDecision: for the actor's own request (nothing written).
    """
    if not actor.has_role(Role.MANAGER):
        abort(403)
    _refuse_closed(request, "approved", actor)  # as the page read it: said before what was typed
    _refuse_changed_since_seen(request, seen_recommendations)
    problems = Problems()
    reasons = _decision_input(problems, approved, effective_on, reasons)
    problems.raise_if_any()
    begin_write()
    request = lock_or_404(PromotionRequest, request.id)
    duties.refuse_own(actor, request.worker_id, OWN_PROMOTION)
    _refuse_closed(request, "approved", actor)  # again, on the locked row
    current = request.current_recommendations
    if not current:
        db.session.rollback()
        raise FieldError("approved", "Wait for a supervisor’s recommendation before deciding")
    try:
        _refuse_changed_since_seen(request, seen_recommendations)  # again, on the locked row
    except FieldError:
        db.session.rollback()
        raise
    problems = Problems()  # each rule on the locked request, every one named at once
    if recommended_by(request, actor):  # the supervisor recommends, another person decides
        problems.add("approved", RECOMMENDED_IT)
    asked_on = day_of(request.requested_at)  # the day on the service's clock, as pages say it
    if approved and effective_on is not None and effective_on < asked_on:
        problems.add("effective_on", f"The date must be on or after the request, {long_date(asked_on)}")
    if approved and not reasons and not all(r.supports for r in current):
        problems.add("reasons", "Give the reasons for approving when a supervisor does not yet support it")
    if problems.errors:
        db.session.rollback()
        problems.raise_if_any()
    worker = lock_or_404(User, request.worker_id)
    # The same tier in the worker's current framework version (a new version may have loaded since).
    target = db.session.scalar(
        select(Tier).where(Tier.framework_id == worker.framework_id, Tier.slug == request.target_tier.slug)
    )
    new_tier = None  # the tier the worker moves to, when approved
    if approved:
        progress = worker_progress(worker)
        ready_for = progress.readiness.tier
        if target is None or not progress.readiness.ready or ready_for is None or ready_for.id != target.id:
            db.session.rollback()
            raise FieldError(
                "approved", f"{worker.name} is no longer ready for {request.target_tier.name}: see what is missing"
            )
        new_tier = target
    decision = PromotionDecision(
        request_id=request.id,
        manager_id=actor.id,
        approved=approved,
        effective_on=effective_on if approved else None,
        reasons=reasons,
    )
    db.session.add(decision)
    db.session.flush()
    if new_tier is not None:
        db.session.add(
            TierChange(
                worker_id=worker.id,
                from_tier_id=worker.tier_id,
                to_tier_id=new_tier.id,
                effective_on=effective_on,
                decision_id=decision.id,
            )
        )
        worker.tier_id = new_tier.id
    ledger.record(
        actor,
        "promotion.approved" if approved else "promotion.declined",
        f"user:{worker.id}",
        binds=decision,
        request_id=request.id,
        decision_id=decision.id,
        target_tier_id=request.target_tier_id,
        effective_on=effective_on.isoformat() if approved and effective_on else None,
        recommendations=[r.id for r in current],  # what it was decided on
    )
    # Decided: every notice still asking someone to recommend or decide on it is done with.
    notifications.settled(notifications.path_for("progress.worker", worker_id=worker.id))
    notifications.notify(
        worker,
        f"Your request to become {request.target_tier.name} was {'approved' if approved else 'declined'}",
        notifications.path_for("progress.index"),
        email_subject=f"Your promotion request was {'approved' if approved else 'declined'}",
    )
    if approved and target is not None:
        from ..credentials import service as credentials  # the met tier travels with the worker

        credentials.issue(worker, target)
    db.session.commit()
    return decision


def open_requests(actor: User) -> list[PromotionRequest]:
    """Undecided requests the actor can act on, oldest first: all for managers, supervisees' for supervisors
    (the supervisees chosen in SQL, and the statement kept: a manager's home asks on every visit)."""
    manager = actor.has_role(Role.MANAGER)
    if not manager and not actor.has_role(Role.SUPERVISOR):
        return []
    return list(db.session.scalars(_open_requests_statement(manager), as_decider(actor)).unique())


def as_decider(actor: User) -> dict[str, object]:
    """The parameters of the open requests' statements for ``actor`` (a manager, or a supervisor today)."""
    return {"actor_id": actor.id} | ({} if actor.has_role(Role.MANAGER) else {"on": today()})


def _open_requests_where(manager: bool) -> list[ColumnElement[bool]]:
    actor = bindparam("actor_id", type_=Integer())
    where = [
        PromotionRequest.open_where(),
        duties.not_own(PromotionRequest.worker_id, actor),
        # Nothing left for whoever recommended on it: they neither recommend again nor decide it.
        ~exists().where(
            PromotionRecommendation.request_id == PromotionRequest.id, PromotionRecommendation.supervisor_id == actor
        ),
    ]
    if not manager:
        where.append(PromotionRequest.worker_id.in_(supervision.supervised_by(actor, bindparam("on", type_=Date()))))
    return where


@functools.cache
def _open_requests_statement(manager: bool) -> Select:
    return (
        select(PromotionRequest)
        .where(*_open_requests_where(manager))
        .options(
            db.joinedload(PromotionRequest.worker),
            db.joinedload(PromotionRequest.target_tier),
            # With who gave them: the manager's home says which way each supervisor leaned.
            db.selectinload(PromotionRequest.recommendations).joinedload(PromotionRecommendation.supervisor),
        )
        .order_by(PromotionRequest.requested_at, PromotionRequest.id)
    )


@functools.cache
def open_requests_count(manager: bool) -> Select:
    """How many :func:`open_requests` lists, as a one-value statement on :func:`as_decider`'s parameters (read
    with other counts: ``tally.read``)."""
    return select(func.count(PromotionRequest.id)).where(*_open_requests_where(manager))


# --- Requirements --------------------------------------------------------------------------


def verified_by_form(manager: User, form_key: str | None) -> RequirementVerification | None:
    """The check ``manager`` recorded from the form with this one-time key, if she has (and it still exists)."""
    return idempotency.created_before(RequirementVerification, form_key, manager)


@idempotency.creates(RequirementVerification)
def verify_requirement(
    actor: User,
    worker: User,
    requirement: Requirement,
    *,
    verified_on: date | None,
    expires_on: date | None,
    note: str,
    form_key: str | None = None,
) -> RequirementVerification:
    """A manager records that a worker meets a requirement (and, for DBS, until when).

    :raises FieldError: for a missing or future date or one before 1980, or a renewal date before it.
    :raises OwnDecision: for the actor's own requirements (nothing written).
    """
    if not actor.has_role(Role.MANAGER):
        abort(403)
    if requirement.framework_id != worker.framework_id:
        abort(404)
    if verified_on is None:
        raise FieldError("verified_on", "Enter the date you verified it")
    if (wrong := done_on_problem(verified_on, name="The date verified")) is not None:
        raise FieldError("verified_on", wrong)
    months = renewal_months(requirement)
    if expires_on is None and months:
        expires_on = add_months(verified_on, months)
    if expires_on is not None and expires_on < verified_on:
        raise FieldError("expires_on", "The renewal date must be after the date verified")
    note = (note or "").strip()
    if len(note) > 500:
        raise FieldError("note", "The note must be 500 characters or fewer")
    anonymity.require_anonymous("note", "The note", note)
    begin_write()
    idempotency.check(RequirementVerification, form_key, actor)
    worker = lock_or_404(User, worker.id)
    duties.refuse_own(actor, worker.id, OWN_REQUIREMENTS)
    verification = RequirementVerification(
        worker_id=worker.id,
        requirement_id=requirement.id,
        verified_by_id=actor.id,
        verified_on=verified_on,
        expires_on=expires_on,
        note=note,
    )
    db.session.add(verification)
    idempotency.remember(form_key, actor, verification)
    db.session.flush()
    ledger.record(
        actor,
        "requirement.verified",
        f"user:{worker.id}",
        binds=verification,
        requirement=requirement.ref,
        verified_on=verified_on.isoformat(),
        expires_on=expires_on.isoformat() if expires_on else None,
    )
    db.session.commit()
    return verification


def renewal_months(requirement: Requirement) -> int | None:
    """How often a requirement is renewed: the framework's figure, unless the deployment overrides it."""
    if requirement.renewal_months is None:
        return None
    return current_app.config.get("REQUIREMENT_RENEWAL_MONTHS") or requirement.renewal_months


def get_requirement_or_404(worker: User, requirement_id: int) -> Requirement:
    requirement = db.session.get(Requirement, requirement_id)
    if requirement is None or requirement.framework_id != worker.framework_id:
        abort(404)
    return requirement


# --- The manager's overview ----------------------------------------------------------------


@dataclass
class OverviewRow:
    worker: User
    next_tier: FrozenTier | None
    met: int
    required: int
    ready: bool
    lapsed: list[str]
    not_verified: list[str]  # never verified: as much a gap as a lapsed one (a DBS check nobody has seen)
    waiting: int


def _overview_query(
    actor: User | None, q: str, framework_id: int | None, only: str
) -> tuple[Select, dict[str, object]]:
    """The workers the overview lists, by name, and the values of the statement's parameters (given together,
    so that no caller can run one without the other). For "ready", the candidates, without their tier and
    framework: rules.ready_workers decides and reads them (in part); read whole those shown (_shown)."""
    query = _overview_statement(actor is not None, with_tier=only != "ready")
    if framework_id:
        query = query.where(User.framework_id == framework_id)
    parameters: dict[str, object] = {"actor_id": actor.id} if actor is not None else {}
    if only == "waiting":
        query = query.where(review.has_waiting_items(User.id))
    elif only == "lapsed":
        query = query.where(User.id.in_(rules.workers_with_a_lapsed_requirement()))
        parameters |= {"as_of": today(), "cutoff": today()}
    elif only == "unverified":
        query = query.where(User.id.in_(rules.workers_never_verified()))
    matches = name_or_email_matches(q)
    # No search, no new statement: paging keeps what it builds from the one built once (paging._statements).
    return (query.where(*matches) if matches else query), parameters


@functools.cache
def _overview_statement(with_actor: bool, with_tier: bool) -> Select:
    """Every active worker with a framework (but the actor), with their tier and framework or not, built once per
    process: the manager's list asks for it on every view, and putting it together cost more than running it."""
    query = select(User).where(User.is_worker.is_(True), User.active.is_(True), User.framework_id.is_not(None))
    if with_actor:
        query = query.where(duties.not_own(User.id, bindparam("actor_id", type_=Integer())))
    if with_tier:
        query = query.options(db.joinedload(User.tier), db.joinedload(User.framework))
    return query.order_by(User.name, User.id)


def _overview_rows(workers: Sequence[User]) -> list[OverviewRow]:
    """The overview's figures for ``workers`` (a fixed number of queries however many)."""
    if not workers:
        return []
    ids = [w.id for w in workers]
    progress = rules.next_tier_progress(list(workers))
    kept = structures(sorted({w.framework_id for w in workers if w.framework_id}))
    requirements = [r for s in kept.values() for r in s.requirements]
    newest = rules.newest_verifications(ids)
    waiting = review.waiting_counts(ids)
    now = today()
    rows = []
    for w in workers:
        states = [
            (r.statement, rules.requirement_state(newest.get((w.id, r.ref)), now))
            for r in requirements
            if r.framework_id == w.framework_id
        ]
        lapsed = [statement for statement, state in states if state == "lapsed"]
        not_verified = [statement for statement, state in states if state == "missing"]
        p = progress[w.id]
        ready = rules.is_ready(p.tier, p.required - p.met, len(lapsed) + len(not_verified))
        rows.append(OverviewRow(w, p.tier, p.met, p.required, ready, lapsed, not_verified, waiting.get(w.id, 0)))
    return rows


def _shown(workers: Sequence[User]) -> list[User]:
    """``workers`` (read in part by rules.ready_workers) read whole, with their tier and framework, in the same
    order: one query, which fills in the columns not read yet."""
    if not workers:
        return []
    by_id = {
        w.id: w
        for w in db.session.scalars(
            select(User)
            .where(User.id.in_([w.id for w in workers]))
            .options(db.joinedload(User.tier), db.joinedload(User.framework))
        ).unique()
    }
    return [by_id[w.id] for w in workers]


def overview(
    *, actor: User | None = None, q: str = "", framework_id: int | None = None, only: str = ""
) -> list[OverviewRow]:
    """Every worker but the actor: progress to the next tier, readiness, lapsed requirements, items waiting (fixed queries)."""
    query, parameters = _overview_query(actor, q, framework_id, only)
    if only == "ready":
        return _overview_rows(_shown(rules.ready_workers(query, parameters, today())))
    return _overview_rows(db.session.scalars(query, parameters).unique().all())


def overview_page_state(
    number: int, *, actor: User | None = None, q: str = "", framework_id: int | None = None, only: str = ""
) -> tuple[Select, dict[str, object]] | None:
    """What a page of the overview shows depends on, for versions.kept_for_owners: a statement and its parameters.

    Its rows are the page's workers, with their tier and framework, how many workers match (the page's numbers and
    links), their newest verification (verifications are only ever added: a new one is a new id) and their tokens
    (their portfolio, and who they are), with the frameworks' token. The tier is read as well as its token, as the
    kept progress to the next tier is checked against it (next_tier_progress). The rows also depend on the day (a
    requirement lapses): the caller's variant holds it, with these parameters. None for "ready": whether a worker is
    ready is counted in Python, not in the database.
    """
    if only == "ready":
        return None
    query, parameters = _overview_query(actor, q, framework_id, only)
    return _overview_state(query), {**parameters, **versions.page_parameters(number, paging.PER_PAGE)}


@functools.lru_cache(maxsize=64)
def _overview_state(query: Select) -> Select:
    """Built once for each statement its caller keeps (the unfiltered ones)."""
    newest_verification = (
        select(func.max(RequirementVerification.id))
        .where(RequirementVerification.worker_id == User.id)
        .scalar_subquery()
    )
    columns = query.with_only_columns(User.id, User.tier_id, User.framework_id, newest_verification)
    return versions.page_state(columns, paging.PER_PAGE)


def overview_page(
    number: int, *, actor: User | None = None, q: str = "", framework_id: int | None = None, only: str = ""
) -> paging.Page[OverviewRow]:
    """One page of the overview. Paged in SQL (LIMIT/OFFSET), figures worked out for that page's workers only.
    "Ready" also needs the met counts, which are kept per worker, not in a table: the workers whose requirements
    are all in date are read (no figures), those ready are paged, and only the page's rows are worked out."""
    query, parameters = _overview_query(actor, q, framework_id, only)
    if only == "ready":
        page = paging.paginate_list(rules.ready_workers(query, parameters, today()), number)
        workers = _shown(page.items)
    else:
        page = paging.paginate(query, number, parameters=parameters)
        workers = page.items
    return paging.Page(_overview_rows(workers), page.total, page.number, page.per_page)
