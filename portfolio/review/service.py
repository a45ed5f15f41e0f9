"""Reviewing evidence: the queue, decisions per competence, withdrawal, note confirmation.

Every change here writes an audit-ledger row in the same transaction.
Decisions are append-only; a unique submission per decision means two
supervisors deciding at once cannot both land.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

from flask import abort
from sqlalchemy import Date, Integer, Select, and_, bindparam, case, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import load_only
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.selectable import Subquery

from .. import duties, paging, remembered, searching, tally, templating
from ..audit import ledger
from ..clock import day_of, today
from ..cpd import service as cpd
from ..database import begin_write, lock_first, lock_or_404, rows_as_json, rows_from_json, written_out
from ..errors import FieldError, FieldErrors
from ..evidence import anonymity, kinds
from ..extensions import db
from ..frameworks.structure import FrozenTier
from ..models import (
    CompetenceDecision,
    Decision,
    DecisionOutcome,
    Evidence,
    EvidenceKind,
    EvidenceStatus,
    NoteOutcome,
    NoteReview,
    PromotionRecommendation,
    PromotionRequest,
    Role,
    Submission,
    User,
    utcnow,
)
from ..notifications import service as notifications
from ..privacy.visibility import visible_to
from ..progress import versions
from ..progress.versions import Drawn
from ..supervision import service as supervision

COMMENT_MAX = 5000
OWN_EVIDENCE = "This is your own evidence: another supervisor must decide on it."
OWN_NOTE = "This is your own supervision note: only another supervisor can confirm or dispute it."

# remembered.py: the queue's length, counted by the queue's page or the home; and the length counted no
# further than SHOWN_UP_TO + 1 with the signed-in supervisor, or by a form's answer (waiting_label).
_QUEUE_COUNT = "review-queue-count"
_QUEUE_COUNT_UP_TO = "review-queue-count-up-to"


class Conflict(Exception):
    """Someone else got there first; the page says so (HTTP 409 for htmx)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# --- Content hash -----------------------------------------------------------------


# The typed columns content_hash names on its own (those it held before kinds listed their short columns).
_HASHED_ABOVE = frozenset({"title", "provider", "feedback_from"})


def content_hash(evidence: Evidence) -> str:
    """A hash of everything a decision is about: text, dates, files and links."""
    content: dict[str, Any] = {
        "kind": evidence.kind.value,
        "title": evidence.title,
        "occurred_on": evidence.occurred_on.isoformat(),
        "text": [getattr(evidence, name) for name in kinds.TEXT_COLUMNS],  # every kind's written parts
        "provider": evidence.provider,
        "expires_on": evidence.expires_on.isoformat() if evidence.expires_on else None,
        "cpd_hours": str(evidence.cpd_hours) if evidence.cpd_hours is not None else None,
        "supervisor_id": evidence.supervisor_id,
        "feedback": [evidence.feedback_source.value if evidence.feedback_source else None, evidence.feedback_from],
        "actions": [[a.description, a.owner.value, a.due_on.isoformat()] for a in evidence.actions],
        "files": sorted([f.sha256, f.original_name] for f in evidence.files),
        "links": sorted([link.competence_id, link.note] for link in evidence.links),
    }
    # Short typed columns added since (an observation's observer): keyed only when set, so that the hash of an
    # item saved before a column existed keeps its shape, and an open submission still matches what was sent.
    later = {name: getattr(evidence, name) for name in kinds.PLAIN_COLUMNS if name not in _HASHED_ABOVE}
    if any(later.values()):
        content["short"] = {name: value for name, value in later.items() if value}
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


# --- Who may review what -------------------------------------------------------------


def _reviewable_by(actor: User | BindParameter[int], on: date | BindParameter[date]):
    """SQL condition on Evidence: ``actor`` may decide on it on ``on``.

    They supervise its owner that day, it is not their own, and a supervision
    note goes only to the supervisor it names. ``actor`` and ``on`` may be bound
    parameters (the person's id, the day), for a statement built once and reused.
    """
    supervisor_id = actor.id if isinstance(actor, User) else actor
    return and_(
        supervision.supervisee(Evidence.owner_id, supervisor_id, on),
        or_(Evidence.kind != EvidenceKind.SUPERVISION_NOTE, Evidence.supervisor_id == supervisor_id),
    )


def _open():
    """SQL condition on Submission: neither withdrawn nor decided."""
    return and_(Submission.withdrawn_at.is_(None), ~exists().where(Decision.submission_id == Submission.id))


def _item_waits():
    """SQL condition on Evidence: the item waits for a decision (the one place that says how it is known).

    An item's status is "submitted" exactly while it has an open submission (:func:`_open`): the status is
    written in the same transaction as the submission, its decision and its withdrawal. So the status
    alone says it, and the database finds a person's waiting items through the (owner, status) index
    instead of joining every item of theirs to its submissions and decisions.
    """
    return Evidence.status == EvidenceStatus.SUBMITTED


def _waiting():
    """SQL condition on Submission joined to its Evidence: the open submission of an item that waits."""
    return and_(_open(), _item_waits())


# The statements every supervisor's pages run (the navigation's count, the queue, the notes to confirm),
# built once per process with the supervisor and the day as parameters: putting them together (and
# working out their cache keys) cost more than running them, some 0.5 ms each on every page.


_SUPERVISOR, _ON = "supervisor_id", "on"  # the parameters' names


def as_supervisor(actor: User, on: date | None = None) -> dict:
    """The parameters of the statements below (and of :func:`supervisor_counts`) for ``actor`` today (``on``: the
    day a page read its other parts on, when read with them)."""
    return {_SUPERVISOR: actor.id, _ON: on or today()}


def _supervisor_parameters() -> tuple[BindParameter[int], BindParameter[date]]:
    return bindparam(_SUPERVISOR, type_=Integer()), bindparam(_ON, type_=Date())


@functools.cache
def _waiting_for_statement(up_to: bool) -> Select:
    """The items waiting for the supervisor, their ids and times sent (with ``up_to``: no more than that many).

    Counted from the items alone (:func:`_item_waits`; an item's ``submitted_at`` is its open submission's):
    through the submissions, the database visited every submission ever made, decided ones included, to
    count a queue (2.6 ms for 638 of 2,238 on SQLite, against 0.26).
    """
    supervisor, on = _supervisor_parameters()
    waiting = select(Evidence.id, Evidence.submitted_at).where(_item_waits(), _reviewable_by(supervisor, on))
    return waiting.limit(bindparam("up_to", type_=Integer())) if up_to else waiting


@functools.cache
def _queue_count_statement(up_to: bool) -> Select:
    return select(func.count()).select_from(_waiting_for_statement(up_to).subquery())


# The queue's order: oldest sent first (an item's ``submitted_at`` is its open submission's).
_QUEUE_ORDER = (Evidence.submitted_at, Evidence.id)


@functools.cache
def _queue_statements() -> tuple[Select, Any]:
    """The ids of the items waiting for the supervisor, oldest first, with their workers joined; and the
    workers' alias (for filters).

    Narrow on purpose, the items alone as :func:`_waiting_for_statement`: counting the queue and choosing a
    page of it read the (owner, status, time sent) index, and only the page's rows are read whole
    (:func:`_queue_rows`). Read whole for every waiting item, a page of 638 took 5 ms on PostgreSQL.
    """
    supervisor, on = _supervisor_parameters()
    owner = db.aliased(User)
    ids = (
        select(Evidence.id)
        .join(owner, owner.id == Evidence.owner_id)
        .where(_item_waits(), _reviewable_by(supervisor, on))
        .order_by(*_QUEUE_ORDER)
    )
    return ids, owner


def _queue_rows(ids: Subquery) -> Select:
    """The open submission of each item in ``ids``, with the item and its worker, oldest first: only what a row
    of the queue shows (when it was sent, the item's kind and title, the worker's name), not the item's text."""
    return (
        select(Submission, Evidence, User)
        .join(Evidence, Evidence.id == Submission.evidence_id)
        .join(User, User.id == Evidence.owner_id)
        .join(ids, ids.c.id == Evidence.id)
        .where(_open())
        .order_by(*_QUEUE_ORDER)
        .options(
            load_only(Submission.evidence_id, Submission.submitted_at),
            load_only(Evidence.owner_id, Evidence.kind, Evidence.title),
            load_only(User.name),
        )
    )


def _notes_to_confirm_where() -> list[ColumnElement[bool]]:
    """On Evidence: a supervision note naming the bound supervisor, of a worker they supervise on the bound day,
    that they may see and have not confirmed."""
    supervisor, on = _supervisor_parameters()
    confirmed = exists().where(NoteReview.evidence_id == Evidence.id, NoteReview.outcome == NoteOutcome.CONFIRMED)
    return [
        # Written out: as a parameter, PostgreSQL planned the count of them again on every view of the queue.
        Evidence.kind == written_out(EvidenceKind.SUPERVISION_NOTE),
        Evidence.supervisor_id == supervisor,
        supervision.supervisee(Evidence.owner_id, supervisor, on),
        ~confirmed,
        visible_to(supervisor),
    ]


@functools.cache
def _notes_to_confirm_statement() -> Select:
    return (
        select(Evidence)
        .where(*_notes_to_confirm_where())
        .options(db.joinedload(Evidence.owner), db.selectinload(Evidence.note_reviews))
        .order_by(Evidence.occurred_on)
    )


@functools.cache
def _notes_to_confirm_count_statement() -> Select:
    return select(func.count(Evidence.id)).where(*_notes_to_confirm_where())


def waiting_counts(owner_ids: list[int]) -> dict[int, int]:
    """How many of each owner's items wait for a decision (one query, from the (owner, status) index alone)."""
    return dict(db.session.execute(_waiting_counts_statement(), {"owner_ids": owner_ids}).all())


@functools.cache
def _waiting_counts_statement() -> Select:
    return (
        select(Evidence.owner_id, func.count())
        .where(Evidence.owner_id.in_(bindparam("owner_ids", expanding=True)), _item_waits())
        .group_by(Evidence.owner_id)
    )


def has_waiting_items(owner_id):
    """SQL condition: ``owner_id`` (a column) has an item waiting for a decision."""
    return exists().where(Evidence.owner_id == owner_id, _item_waits())


def reviewers_for(evidence: Evidence, on: date, supervisors: list[User] | None = None) -> list[User]:
    """Who an item goes to: its owner's current supervisors (only the named one for a note).

    ``supervisors``: the owner's supervisors on ``on``, when the caller has them already (a list of items).
    """
    people = supervision.supervisors_of(evidence.owner_id, on) if supervisors is None else supervisors
    if evidence.kind == EvidenceKind.SUPERVISION_NOTE:
        people = [p for p in people if p.id == evidence.supervisor_id]
    return [p for p in people if p.id != evidence.owner_id]


def get_submission_for_review_or_404(actor: User, submission_id: int) -> Submission:
    """A submission the actor may review today.

    :raises OwnDecision: for a submission of their own evidence (a 403 page saying why).
    :raises 404: for a missing one or one they may not see (as for a missing one).
    """
    if not actor.has_role(Role.SUPERVISOR):
        abort(404)
    submission = db.session.get(Submission, submission_id)
    if submission is None:
        abort(404)
    duties.refuse_own(actor, submission.evidence.owner_id, OWN_EVIDENCE)
    if not db.session.scalar(
        select(exists().where(Evidence.id == submission.evidence_id, _reviewable_by(actor, today())))
    ):
        abort(404)
    return submission


# --- Submitting and withdrawing (the worker) ----------------------------------------------


def open_submission(actor: User, evidence: Evidence) -> Submission:
    """Record a submission inside the caller's write transaction and tell the reviewers.

    The item's ``submitted_at`` is the submission's, to the microsecond: the worker's home reads their
    oldest waiting items in that order from an index of evidence (models.Evidence).
    """
    evidence.submitted_at = utcnow()
    submission = Submission(
        evidence_id=evidence.id, content_hash=content_hash(evidence), submitted_at=evidence.submitted_at
    )
    db.session.add(submission)
    db.session.flush()
    reviewers = reviewers_for(evidence, today())
    ledger.record(
        actor,
        "evidence.submitted",
        f"evidence:{evidence.id}",
        submission_id=submission.id,
        content_hash=submission.content_hash,
        reviewers=[r.id for r in reviewers],
    )
    # A worker's submissions of one day are one line for each reviewer: "Wendy Worker sent 3 items".
    group = notifications.Group(
        key=f"submitted:{actor.id}:{today().isoformat()}",
        message=lambda count: f"{actor.name} sent {count} items",
        url=notifications.path_for("review.queue", worker=actor.id),
        email_subject=lambda count: f"{actor.name} has submitted {count} items of evidence for you to review",
    )
    for reviewer in sorted(reviewers, key=lambda r: r.id):  # group rows locked in one order: no deadlock
        notifications.notify(
            reviewer,
            f"{actor.name} submitted “{evidence.title}” for review",
            notifications.path_for("review.decide", submission_id=submission.id),
            email_subject=f"{actor.name} has submitted evidence for you to review",
            group=group,
        )
    return submission


def open_submission_of(evidence: Evidence) -> Submission | None:
    """The item's submission that is waiting for a decision, if any."""
    return db.session.scalar(select(Submission).where(Submission.evidence_id == evidence.id, _open()))


def withdraw(actor: User, evidence: Evidence) -> Submission:
    """Take back a submission nobody has decided on.

    :raises Conflict: when it was decided (or withdrawn) meanwhile.
    """
    if evidence.owner_id != actor.id:
        abort(404)
    begin_write()
    evidence = lock_or_404(Evidence, evidence.id)
    submission = lock_first(select(Submission).where(Submission.evidence_id == evidence.id, _open()))
    if submission is None:
        db.session.rollback()
        raise Conflict("This item is not waiting for review any more, so it cannot be withdrawn")
    submission.withdrawn_at = utcnow()
    decided_before = db.session.scalar(select(exists().where(Decision.evidence_id == evidence.id)))
    evidence.status = EvidenceStatus.RETURNED if decided_before else EvidenceStatus.DRAFT
    ledger.record(actor, "evidence.withdrawn", f"evidence:{evidence.id}", submission_id=submission.id)
    db.session.commit()
    return submission


# --- The queue ---------------------------------------------------------------------


@dataclass
class QueueItem:
    submission: Submission
    evidence: Evidence
    worker: User
    days_waiting: int


def _queue_query(*, q: str = "", kind: EvidenceKind | None = None, worker_id: int | None = None) -> Select:
    """The ids of the items waiting for the supervisor (the parameters of :func:`as_supervisor`), oldest first.

    ``q``: every word (searching.words_of, five at most) is in the item's title or the worker's name;
    ``kind``: only items of that kind; ``worker_id``: only that worker's items.
    """
    ids, owner = _queue_statements()
    for word in searching.words_of(q, most=5):
        ids = ids.where(searching.has_word(word, func.lower(Evidence.title), func.lower(owner.name)))
    if kind is not None:
        ids = ids.where(Evidence.kind == kind)
    if worker_id is not None:
        ids = ids.where(Evidence.owner_id == worker_id)
    return ids


def _queue_item(row, now: date) -> QueueItem:
    submission, evidence, worker = row
    return QueueItem(submission, evidence, worker, (now - day_of(submission.submitted_at)).days)


def queue(actor: User) -> list[QueueItem]:
    """Submissions waiting for the actor's decision, oldest first (one query)."""
    if not actor.has_role(Role.SUPERVISOR):
        return []
    parameters = as_supervisor(actor)
    rows = db.session.execute(_queue_rows(_queue_query().subquery()), parameters)
    return [_queue_item(row, parameters[_ON]) for row in rows]


def queue_page(
    actor: User, number: int, *, q: str = "", kind: EvidenceKind | None = None, worker_id: int | None = None
) -> paging.Page[QueueItem]:
    """One page of the actor's queue, filtered, oldest first (two queries: the count and the page)."""
    if not actor.has_role(Role.SUPERVISOR):
        return paging.Page([], 0, 1)
    parameters = as_supervisor(actor)
    page = paging.paginate(
        _queue_query(q=q, kind=kind, worker_id=worker_id), number, parameters=parameters, rows_of=_queue_rows
    )
    if not (q or kind or worker_id):  # the whole queue counted: the navigation's count, without counting again
        remembered.remember(_QUEUE_COUNT, actor.id, page.total)
    return replace(page, items=[_queue_item(row, parameters[_ON]) for row in page.items])


def queue_page_drawn(
    actor: User,
    number: int,
    *,
    q: str = "",
    kind: EvidenceKind | None = None,
    worker_id: int | None = None,
    draw: Callable[[paging.Page[QueueItem]], Drawn],
    variant: Hashable = (),
) -> tuple[paging.Page[QueueItem], Drawn]:
    """:func:`queue_page` drawn by ``draw`` (its rows rendered, say), kept while nothing the page shows has changed.

    The page returned holds its numbers, not its rows: they are in ``draw``'s answer, which may come from an earlier
    request. Kept under the page's items, their owners' tokens (the items, their titles, decisions; the workers'
    names) and how many wait, read in one query (versions.kept_for_owners), with the supervisor, the day (days
    waiting), the filters and the page, and ``variant``: whatever else ``draw`` shows (the address's parameters).
    """
    if not actor.has_role(Role.SUPERVISOR):
        empty: paging.Page[QueueItem] = paging.Page([], 0, 1)
        return empty, draw(empty)
    parameters = as_supervisor(actor)

    def drawn() -> tuple[paging.Page[QueueItem], Drawn]:
        page = queue_page(actor, number, q=q, kind=kind, worker_id=worker_id)
        return page.numbers(), draw(page)

    state = _queue_state(_queue_query(q=q, kind=kind, worker_id=worker_id))
    key = (actor.id, parameters[_ON], number, q, kind, worker_id, variant)
    offset = versions.page_parameters(number, paging.PER_PAGE)
    numbers, drawing = versions.kept_for_owners("review-queue", key, state, drawn, parameters | offset)
    if not (q or kind or worker_id):  # as queue_page does, for a page kept
        remembered.remember(_QUEUE_COUNT, actor.id, numbers.total)
    return numbers, drawing


@functools.lru_cache(maxsize=64)
def _queue_state(ids: Select) -> Select:
    """A page of the queue's items with their owners and how many match, for versions.owners_state. Built once
    for each statement its caller keeps (the unfiltered one)."""
    return versions.page_state(ids.with_only_columns(Evidence.owner_id, Evidence.id), paging.PER_PAGE)


# A supervisor's other pages say how long their queue is (the navigation, a decision's back link). Counted
# in full, a queue of hundreds would make each of those pages cost more the longer it grew; so they count
# no further than this and say "99+". The queue's own page counts and says it all.
SHOWN_UP_TO = 99


def waiting_label(actor: User) -> str:
    """How many submissions wait for the actor, as their pages say it: "3", or "99+" beyond ``SHOWN_UP_TO``."""
    if not actor.has_role(Role.SUPERVISOR):
        return "0"

    def count_up_to() -> int:
        counted = remembered.recall(_QUEUE_COUNT_UP_TO, actor.id, lambda: _count_queue(actor, up_to=SHOWN_UP_TO + 1))
        remembered.remember(_QUEUE_COUNT_UP_TO, actor.id, counted)  # a page that says it twice counts once
        return counted

    count = remembered.recall(_QUEUE_COUNT, actor.id, count_up_to)
    return templating.count_up_to(count, SHOWN_UP_TO)


def waiting_up_to_column() -> ColumnElement[int | None]:
    """How many items wait for a supervisor, as :func:`waiting_label` counts them, as a column of the statement that
    reads the signed-in user (auth/sessions.py), on :func:`waiting_up_to_parameters`; None for anyone who does not
    supervise. A page's navigation then says it without a query of its own (:func:`remember_waiting_up_to`)."""
    return case((User.is_supervisor, _queue_count_statement(True).scalar_subquery()), else_=None)


def waiting_up_to_parameters(user_id: int) -> dict:
    """The parameters of :func:`waiting_up_to_column` for the user ``user_id`` today."""
    return {_SUPERVISOR: user_id, _ON: today(), "up_to": SHOWN_UP_TO + 1}


def remember_waiting_up_to(user: User, counted: int | None) -> None:
    """What :func:`waiting_up_to_column` read with the user, for :func:`waiting_label` to say."""
    if counted is not None:
        remembered.remember(_QUEUE_COUNT_UP_TO, user.id, counted)


def queue_count(actor: User) -> int:
    """How many submissions wait for the actor, all counted."""
    if not actor.has_role(Role.SUPERVISOR):
        return 0
    return _count_queue(actor)


def _count_queue(actor: User, *, up_to: int | None = None) -> int:
    """The queue's length; with ``up_to``, the database stops counting there."""
    parameters = as_supervisor(actor) | ({"up_to": up_to} if up_to is not None else {})
    return db.session.scalar(_queue_count_statement(up_to is not None), parameters) or 0


def queue_summary(actor: User, queue: str | None, on: date | None = None) -> tuple[int, int | None]:
    """How many submissions wait for the actor, and for how many days the oldest has waited by today (or ``on``),
    from what :func:`supervisor_counts` reads of the queue (its ``"queue"``)."""
    [(count, oldest_sent)] = rows_from_json(queue) or [(0, None)]
    remembered.remember(_QUEUE_COUNT, actor.id, count)  # the navigation's, without counting again
    # The time sent comes back as JSON's text: ISO 8601, with its offset on PostgreSQL, without (UTC) on SQLite.
    oldest = day_of(datetime.fromisoformat(oldest_sent)) if oldest_sent is not None else None
    return count, ((on or today()) - oldest).days if oldest is not None else None


@functools.cache
def supervisor_counts() -> dict[str, Select]:
    """What a supervisor's home counts, each a one-value statement on :func:`as_supervisor`'s parameters, to be
    read together (``tally.read``): the queue's size and its oldest time sent (for :func:`queue_summary`), the
    notes to confirm, the promotion requests waiting for a recommendation."""
    supervisor, on = _supervisor_parameters()
    waiting = _waiting_for_statement(False).subquery()
    return {
        # Counted as the queue and its navigation badge count it; its size and oldest time in one reading of it
        # (as two values, the database read the queue twice: 0.47 of a home's 1.2 ms on PostgreSQL).
        "queue": rows_as_json(select(func.count(), func.min(waiting.c.submitted_at))),
        "notes_to_confirm": _notes_to_confirm_count_statement(),
        "to_recommend": select(func.count(PromotionRequest.id)).where(*_requests_to_recommend_where(supervisor, on)),
    }


@dataclass
class WaitingItem:
    submission: Submission
    evidence: Evidence
    reviewers: list[User]
    days_waiting: int


def waiting_items_of(worker: User, limit: int, on: date | None = None) -> list[WaitingItem]:
    """The worker's own items waiting for a decision, oldest first (the first ``limit``), with who reviews them
    today (or ``on``) and for how many days they have waited.

    Two queries whatever the number of items.
    """
    now = on or today()
    rows = db.session.execute(_waiting_items_statement(), {"owner_id": worker.id, "up_to": limit}).all()
    if not rows:
        return []
    supervisors = supervision.supervisors_of(worker.id, now)
    return [WaitingItem(s, e, reviewers_for(e, now, supervisors), (now - day_of(s.submitted_at)).days) for s, e in rows]


def returned_items_of(worker: User, limit: int) -> list[tuple[Evidence, Decision | None]]:
    """The worker's returned items (the first ``limit`` they sent), each with the newest decision on it (why it
    came back).

    Two queries whatever the number of items.
    """
    items = db.session.scalars(_returned_items_statement(), {"owner_id": worker.id, "up_to": limit}).all()
    if not items:
        return []
    newest: dict[int, Decision] = {}
    for decision in db.session.scalars(_decisions_on_statement(), {"evidence_ids": [e.id for e in items]}):
        newest[decision.evidence_id] = decision  # ordered: the newest wins
    return [(e, newest.get(e.id)) for e in items]


# The worker home's lists, built once per process (as the supervisors' statements above).


@functools.cache
def _waiting_items_statement() -> Select:
    return (
        select(Submission, Evidence)
        .join(Evidence, Evidence.id == Submission.evidence_id)
        .where(Evidence.owner_id == bindparam("owner_id", type_=Integer()), _waiting())
        # The item's submitted_at is its open submission's (open_submission): in this order the database
        # reads the first few from the owner-status-time index, not every waiting item sorted.
        .order_by(Evidence.submitted_at, Evidence.id)
        .limit(bindparam("up_to", type_=Integer()))
    )


@functools.cache
def _returned_items_statement() -> Select:
    return (
        select(Evidence)
        .where(Evidence.owner_id == bindparam("owner_id", type_=Integer()), Evidence.status == EvidenceStatus.RETURNED)
        # In the order they were sent, as the waiting items: the owner-status-time index's order. In the order
        # they were made, PostgreSQL read the worker's items one by one until ten came back (1,700 of 2,000).
        .order_by(Evidence.submitted_at, Evidence.id)
        .limit(bindparam("up_to", type_=Integer()))
    )


@functools.cache
def _decisions_on_statement() -> Select:
    """The decisions on some items, oldest first, with who made them."""
    return (
        select(Decision)
        .where(Decision.evidence_id.in_(bindparam("evidence_ids", expanding=True)))
        .options(db.joinedload(Decision.supervisor))
        .order_by(Decision.decided_at, Decision.id)
    )


def own_item_counts(worker: User) -> Mapping[EvidenceStatus, int]:
    """How many of the worker's items are in each review status: kept until their portfolio changes.

    An item's status is part of the portfolio its owner's version token covers (progress/versions.py), so
    the answer is read again only after a change (one query then).
    """
    return versions.cached("item-counts", [worker.id], _read_item_counts)[worker.id]


def _read_item_counts(owner_ids: list[int]) -> dict[int, Mapping[EvidenceStatus, int]]:
    found: dict[int, dict[EvidenceStatus, int]] = {owner: {} for owner in owner_ids}
    rows = db.session.execute(
        select(Evidence.owner_id, Evidence.status, func.count())
        .where(Evidence.owner_id.in_(owner_ids))
        .group_by(Evidence.owner_id, Evidence.status)
    )
    for owner, status, count in rows:
        found[owner][status] = count
    return {owner: MappingProxyType(counts) for owner, counts in found.items()}  # shared between requests


def next_submission(actor: User) -> Submission | None:
    """The oldest submission still waiting for the actor."""
    return db.session.scalar(
        select(Submission)
        .join(Evidence, Evidence.id == Submission.evidence_id)
        .where(_waiting(), _reviewable_by(actor, today()))
        .order_by(*_QUEUE_ORDER)
        .limit(1)
    )


# --- Deciding ------------------------------------------------------------------------


@dataclass
class CompetenceOutcome:
    accepted: bool | None  # None: the supervisor did not choose
    comment: str = ""


def _clean_comment(text: str | None) -> str:
    return (text or "").strip()


class InvalidDecision(FieldErrors):
    """A decision that breaks one or more rules; ``errors`` maps each field to its message."""


def decision_field(row: int, name: str) -> str:
    """The form field of a competence's row (its place among the item's links): ``decisions-<row>-<name>``."""
    return f"decisions-{row}-{name}"


UNCHOSEN = "Choose accepted or not accepted"  # a competence left unjudged (the review page sums up many at once)


def problems_of_decision(
    evidence: Evidence, outcome: DecisionOutcome | None, comment: str, outcomes: dict[int, CompetenceOutcome]
) -> dict[str, str]:
    """What :func:`check_decision` would refuse, field by field, writing nothing: for a form that refused a value
    itself (an over-long comment), so that its page names the rows' problems in the same answer."""
    try:
        check_decision(evidence, outcome, _clean_comment(comment), outcomes)
    except InvalidDecision as error:
        return error.by_field()
    return {}


def check_decision(
    evidence: Evidence, outcome: DecisionOutcome | None, comment: str, outcomes: dict[int, CompetenceOutcome]
) -> None:
    """Every rule a decision must meet before anything is written.

    :raises InvalidDecision: with a message for each field in breach
        (``decisions-<row>-accepted``, ``decisions-<row>-comment`` for the
        item's links in order, then ``outcome``, ``comment``), in page order.
    """
    errors: dict[str, str] = {}
    linked = [link.competence_id for link in evidence.links]
    if set(outcomes) - set(linked):
        errors["outcome"] = "You can only decide on the competences this item is linked to"
    returning = outcome == DecisionOutcome.RETURNED
    for row, competence_id in enumerate(linked):
        choice = outcomes.get(competence_id)
        if choice is None or choice.accepted is None:
            # A return need not judge every competence (the item comes back to be judged afresh), but a comment
            # says whether the competence is fine or not.
            if not returning:
                errors[decision_field(row, "accepted")] = UNCHOSEN
            elif choice is not None and _clean_comment(choice.comment):
                errors[decision_field(row, "accepted")] = (
                    "Choose accepted or not accepted for your comment on this competence, or clear the comment"
                )
        elif not choice.accepted and not _clean_comment(choice.comment):
            errors[decision_field(row, "comment")] = "Explain why this competence is not accepted"
        if choice is not None and len(choice.comment or "") > COMMENT_MAX:
            errors[decision_field(row, "comment")] = f"The comment must be {COMMENT_MAX:,} characters or fewer"
    if outcome is None:
        errors.setdefault("outcome", "Choose whether to sign off the item or return it for changes")
    elif outcome == DecisionOutcome.SIGNED_OFF and not errors and not any(o.accepted for o in outcomes.values()):
        # Only once every competence has its choice: "Sign off" with none chosen needs the choices, not this.
        errors.setdefault("outcome", "Accept at least one competence to sign off, or return the item for changes")
    if outcome == DecisionOutcome.RETURNED and not comment:
        errors["comment"] = "Say what needs to change before it is submitted again"
    if len(comment) > COMMENT_MAX:
        errors["comment"] = f"The comment must be {COMMENT_MAX:,} characters or fewer"
    texts = [
        (decision_field(row, "comment"), "The comment", outcomes[cid].comment)
        for row, cid in enumerate(linked)
        if cid in outcomes
    ]
    for field_name, label, text in [*texts, ("comment", "The comment for the worker", comment)]:
        try:
            anonymity.require_anonymous(field_name, label, text)
        except anonymity.IdentifyingDetails as error:
            errors.setdefault(error.field, error.message)
    if errors:
        raise InvalidDecision(errors)


def decide(
    actor: User,
    submission: Submission,
    *,
    outcome: DecisionOutcome | None,
    comment: str,
    outcomes: dict[int, CompetenceOutcome],
) -> Decision:
    """Sign off or return a submission, competence by competence.

    :raises FieldError: for a decision that breaks a rule (nothing written).
    :raises OwnDecision: for the actor's own evidence (nothing written).
    :raises Conflict: when it was decided or withdrawn meanwhile.
    """
    comment = _clean_comment(comment)
    submission_id, evidence_id = submission.id, submission.evidence_id
    begin_write()
    # Every use case locks the item first, then its submission: one order, so
    # a withdrawal and a decision cannot deadlock on PostgreSQL.
    evidence = lock_or_404(Evidence, evidence_id)
    duties.refuse_own(actor, evidence.owner_id, OWN_EVIDENCE)
    submission = lock_or_404(Submission, submission_id)
    existing = db.session.scalar(select(Decision).where(Decision.submission_id == submission_id))
    if existing is not None:
        who = "you" if existing.supervisor_id == actor.id else existing.supervisor.name
        db.session.rollback()
        raise Conflict(f"This item was already decided by {who}: {existing.outcome.label.lower()}")
    if submission.withdrawn_at is not None:
        db.session.rollback()
        raise Conflict("The worker withdrew this submission, so there is nothing to decide")
    if not db.session.scalar(select(exists().where(Evidence.id == evidence.id, _reviewable_by(actor, today())))):
        db.session.rollback()
        abort(404)
    # After the conflicts: a decision that came too late says so, not that a field is empty.
    try:
        check_decision(evidence, outcome, comment, outcomes)
    except InvalidDecision:
        db.session.rollback()
        raise
    decision = Decision(
        submission_id=submission.id,
        evidence_id=evidence.id,
        supervisor_id=actor.id,
        outcome=outcome,
        comment=comment,
        content_hash=content_hash(evidence),
    )
    decision.outcomes = [
        _competence_decision(competence_id, choice)
        for competence_id, choice in sorted(outcomes.items())
        if choice.accepted is not None  # a return may leave competences unjudged (check_decision)
    ]
    db.session.add(decision)
    evidence.status = EvidenceStatus.SIGNED_OFF if outcome == DecisionOutcome.SIGNED_OFF else EvidenceStatus.RETURNED
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("This item was already decided by another supervisor") from None
    ledger.record(
        actor,
        f"evidence.{decision.outcome.value}",
        f"evidence:{evidence.id}",
        binds=decision,
        submission_id=submission.id,
        decision_id=decision.id,
        content_hash=decision.content_hash,
        accepted=[o.competence_id for o in decision.outcomes if o.accepted],
        not_accepted=[o.competence_id for o in decision.outcomes if not o.accepted],
    )
    not_accepted = sum(1 for o in decision.outcomes if not o.accepted)
    # A sign-off that left competences open says so: the worker evidences them again, and would not otherwise know.
    # (On a returned item every competence is still open: its choices count for nothing yet.)
    signed_off = outcome == DecisionOutcome.SIGNED_OFF
    left_open = f": {templating.plural(not_accepted, 'competence')} not accepted" if signed_off and not_accepted else ""
    notifications.notify(
        evidence.owner,
        f"{actor.name} {'signed off' if outcome == DecisionOutcome.SIGNED_OFF else 'returned'} “{evidence.title}”"
        f"{left_open}",
        notifications.path_for("evidence.show", evidence_id=evidence.id),
        email_subject=f"{actor.name} has {'signed off' if outcome == DecisionOutcome.SIGNED_OFF else 'returned'} your evidence",
    )
    if outcome == DecisionOutcome.SIGNED_OFF and any(o.accepted for o in decision.outcomes):
        # Only a sign-off that accepted a competence can complete a role profile, which earns its credential.
        from ..credentials import service as credentials

        credentials.issue_if_profile_complete(evidence.owner)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("This item was already decided by another supervisor") from None
    return decision


def _competence_decision(competence_id: int, choice: CompetenceOutcome) -> CompetenceDecision:
    return CompetenceDecision(
        competence_id=competence_id, accepted=bool(choice.accepted), comment=_clean_comment(choice.comment)
    )


# --- History ------------------------------------------------------------------------


@dataclass
class HistoryEntry:
    submission: Submission
    decision: Decision | None


def history(evidence: Evidence) -> list[HistoryEntry]:
    """Every submission of an item with its decision, newest first (two queries)."""
    submissions = db.session.scalars(
        select(Submission)
        .where(Submission.evidence_id == evidence.id)
        .order_by(Submission.submitted_at.desc(), Submission.id.desc())
    ).all()
    decisions = {
        d.submission_id: d
        for d in db.session.scalars(
            select(Decision)
            .where(Decision.evidence_id == evidence.id)
            .options(db.selectinload(Decision.outcomes), db.joinedload(Decision.supervisor))
        )
    }
    return [HistoryEntry(s, decisions.get(s.id)) for s in submissions]


def returned_by(evidence: Evidence, entries: list[HistoryEntry] | None = None) -> Decision | None:
    """The decision that returned the item, while it stands returned: its newest (a later withdrawal has none).

    ``entries``: the item's :func:`history`, when the caller has it already.
    """
    if evidence.status != EvidenceStatus.RETURNED:
        return None
    return next((e.decision for e in (history(evidence) if entries is None else entries) if e.decision), None)


def _last_return(entries: list[HistoryEntry]) -> Decision | None:
    """The item's newest decision, if it returned the item. ``entries``: its :func:`history`."""
    last = next((e.decision for e in entries if e.decision), None)
    return last if last is not None and last.outcome == DecisionOutcome.RETURNED else None


def fine_when_returned(entries: list[HistoryEntry]) -> set[int]:
    """The competences the supervisor found fine as they were when the item was last returned (its newest decision,
    if it returned it): a resubmission's page ticks them Accepted again. ``entries``: the item's :func:`history`."""
    last = _last_return(entries)
    return {o.competence_id for o in last.outcomes if o.accepted} if last is not None else set()


@dataclass(frozen=True)
class SinceReturned:
    """Whether an item sent again changed after it was last returned: its supervisor, asked to decide again, is told.
    (The worker's check page compares the item as it is with :func:`returned_by`'s decision: evidence/routes.py.)"""

    returned: Decision
    changed: bool


def since_returned(entries: list[HistoryEntry], content: str) -> SinceReturned | None:
    """``content`` (a :func:`content_hash`: the item as it is, or as it was sent again) against what the item's
    newest decision returned; None when that decision did not return it. ``entries``: the item's :func:`history`."""
    last = _last_return(entries)
    return SinceReturned(last, changed=last.content_hash != content) if last is not None else None


def accepted_counts(evidence_ids: list[int]) -> dict[int, int]:
    """For each signed-off item among ``evidence_ids``, how many of its linked competences its sign-off accepted
    (one query): a list beside the number linked, so counted as the links are, whatever framework they are in."""
    if not evidence_ids:
        return {}
    statement = (
        select(Decision.evidence_id, func.count())
        .join(CompetenceDecision, CompetenceDecision.decision_id == Decision.id)
        .where(
            Decision.evidence_id.in_(evidence_ids),
            Decision.outcome == DecisionOutcome.SIGNED_OFF,
            CompetenceDecision.accepted.is_(True),
        )
        .group_by(Decision.evidence_id)
    )
    return {evidence_id: n for evidence_id, n in db.session.execute(statement)}


def signed_off_outcomes(evidence: Evidence, entries: list[HistoryEntry]) -> dict[int, CompetenceDecision]:
    """Each linked competence's outcome in the decision that signed the item off (accepted, or not and why), by
    competence id; nothing unless it stands signed off. ``entries``: the item's :func:`history`."""
    if evidence.status != EvidenceStatus.SIGNED_OFF:
        return {}
    signing = next((e.decision for e in entries if e.decision), None)
    return {o.competence_id: o for o in signing.outcomes} if signing is not None else {}


# --- Supervision notes --------------------------------------------------------------


def note_reviews(evidence: Evidence) -> list[NoteReview]:
    return list(
        db.session.scalars(select(NoteReview).where(NoteReview.evidence_id == evidence.id).order_by(NoteReview.id))
    )


def get_note_for_supervisor_or_404(actor: User, evidence_id: int) -> Evidence:
    """A supervision note that names the actor as the supervisor.

    :raises OwnDecision: for the actor's own note (a 403 page saying why).
    :raises 404: for anything else.
    """
    evidence = db.session.get(Evidence, evidence_id)
    if evidence is not None and evidence.kind == EvidenceKind.SUPERVISION_NOTE:
        duties.refuse_own(actor, evidence.owner_id, OWN_NOTE)
    if (
        evidence is None
        or evidence.kind != EvidenceKind.SUPERVISION_NOTE
        or evidence.supervisor_id != actor.id
        or not supervision.is_supervising(actor.id, evidence.owner_id, today())
    ):
        abort(404)
    return evidence


# --- A supervisee's evidence: what they have shared, decided or not ------------------------------------


def get_supervisee_or_404(actor: User, worker_id: int) -> User:
    """A worker the actor supervises today (never the actor: their own evidence is theirs to see in their portfolio).

    :raises 404: for anyone else, as for a missing one.
    """
    worker = db.session.get(User, worker_id)
    if (
        worker is None
        or duties.is_own(actor, worker.id)
        or not supervision.is_supervising(actor.id, worker.id, today())
    ):
        abort(404)
    return worker


@dataclass(frozen=True)
class SharedPage(paging.Page[Evidence]):
    """A page of a supervisee's shared evidence, with each item's latest submission (its review page opens it)."""

    latest_submission: dict[int, int] = field(default_factory=dict)


def shared_evidence_page(actor: User, worker: User, page: int) -> SharedPage:
    """The evidence ``worker`` has shared that the actor, their supervisor today, may open: what they sent for review
    (waiting, returned or signed off) and the supervision notes naming the actor, newest first. Never a private item
    nor a draft (privacy.visibility). Four queries whatever the portfolio's size: the count, the page, the notes'
    reviews (for their state) and the page's latest submissions.
    """
    query = (
        select(Evidence)
        .where(Evidence.owner_id == worker.id, _reviewable_by(actor, today()), visible_to(actor))
        .order_by(Evidence.occurred_on.desc(), Evidence.id.desc())
        .options(db.selectinload(Evidence.note_reviews))
    )
    found = paging.paginate(query, page)
    ids = [e.id for e in found.items]
    latest = (
        dict(
            db.session.execute(
                select(Submission.evidence_id, func.max(Submission.id))
                .where(Submission.evidence_id.in_(ids))
                .group_by(Submission.evidence_id)
            ).all()
        )
        if ids
        else {}
    )
    return SharedPage(found.items, found.total, found.number, found.per_page, latest)


def notes_to_confirm(actor: User) -> list[Evidence]:
    """Supervision notes naming the actor, of workers they supervise today, not confirmed yet."""
    return list(db.session.scalars(_notes_to_confirm_statement(), as_supervisor(actor)))


def beside_the_queue(actor: User) -> tuple[list[Evidence], list[Any]]:
    """What the queue's page lists besides it: the supervisor's :func:`notes_to_confirm` and the appraisals she has
    to sign (cpd.appraisals_to_sign). Both counted in one query, and each list read only when it is not empty:
    most days neither is."""
    counts = tally.read(
        ({"notes_to_confirm": supervisor_counts()["notes_to_confirm"]}, as_supervisor(actor)),
        ({"appraisals_to_sign": cpd.appraisals_to_sign_count()}, cpd.as_appraiser(actor)),
    )
    notes = notes_to_confirm(actor) if counts["notes_to_confirm"] else []
    return notes, cpd.appraisals_to_sign(actor) if counts["appraisals_to_sign"] else []


def note_changed_message(evidence: Evidence) -> str:
    return f"{evidence.owner.name} changed this note after you opened it: read it again, then confirm or dispute it"


def review_note(
    actor: User, evidence: Evidence, outcome: NoteOutcome | None, comment: str, *, seen: str | None = None
) -> NoteReview:
    """Confirm a supervision note as an accurate record, or dispute it with a comment.

    ``seen``: the note's content hash as the supervisor read it (the page carries it); None only for a caller
    that read the note itself just now. Whatever is confirmed is what was read: the review binds the hash.

    :raises FieldError: for no choice, a dispute without a comment, or a note already confirmed.
    :raises Conflict: when the note changed since ``seen`` (nothing written).
    :raises OwnDecision: for the actor's own note (nothing written).
    """
    duties.refuse_own(actor, evidence.owner_id, OWN_NOTE)
    if (
        evidence.kind != EvidenceKind.SUPERVISION_NOTE
        or evidence.supervisor_id != actor.id
        or not supervision.is_supervising(actor.id, evidence.owner_id, today())
    ):
        abort(404)
    comment = _clean_comment(comment)
    if outcome is None:
        raise FieldError("outcome", "Choose whether the note is an accurate record")
    if outcome == NoteOutcome.DISPUTED and not comment:
        raise FieldError("comment", "Say what is not accurate")
    if len(comment) > COMMENT_MAX:
        raise FieldError("comment", f"The comment must be {COMMENT_MAX:,} characters or fewer")
    anonymity.require_anonymous("comment", "The comment", comment)
    begin_write()
    evidence = lock_or_404(Evidence, evidence.id)
    duties.refuse_own(actor, evidence.owner_id, OWN_NOTE)
    if db.session.scalar(
        select(exists().where(NoteReview.evidence_id == evidence.id, NoteReview.outcome == NoteOutcome.CONFIRMED))
    ):
        db.session.rollback()
        raise FieldError("outcome", "This note is already confirmed")
    read = content_hash(evidence)
    if seen is not None and seen != read:  # the worker changed it meanwhile (on the locked row: no later change)
        message = note_changed_message(evidence)
        db.session.rollback()
        raise Conflict(message)
    review = NoteReview(
        evidence_id=evidence.id,
        supervisor_id=actor.id,
        outcome=outcome,
        comment=comment,
        content_hash=read,
    )
    db.session.add(review)
    db.session.flush()
    ledger.record(
        actor,
        f"note.{outcome.value}",
        f"evidence:{evidence.id}",
        binds=review,
        note_review_id=review.id,
        content_hash=review.content_hash,
    )
    notifications.notify(
        evidence.owner,
        f"{actor.name} {'confirmed' if outcome == NoteOutcome.CONFIRMED else 'disputed'} your supervision note “{evidence.title}”",
        notifications.path_for("evidence.show", evidence_id=evidence.id),
        email_subject=f"{actor.name} has {'confirmed' if outcome == NoteOutcome.CONFIRMED else 'disputed'} your supervision note",
    )
    db.session.commit()
    return review


# --- The supervisor's team ---------------------------------------------------------------


@dataclass
class TeamRow:
    worker: User
    next_tier: FrozenTier | None
    met: int
    required: int
    waiting: int
    last_note: date | None
    # The worker's open promotion request while it waits for this supervisor's recommendation.
    to_recommend: PromotionRequest | None = None


def team(actor: User) -> list[TeamRow]:
    """The actor's current supervisees with their progress, in a fixed number of queries."""
    from ..progress import rules

    workers = db.session.scalars(_supervisees_statement(), as_supervisor(actor)).all()
    if not workers:
        return []
    ids = [w.id for w in workers]
    progress = rules.next_tier_progress(workers)
    waiting = waiting_counts(ids)
    last_notes = dict(db.session.execute(_last_notes_statement(), {"owner_ids": ids}).all())
    to_recommend = {
        r.worker_id: r
        for r in db.session.scalars(_to_recommend_statement(), {"worker_ids": ids, _SUPERVISOR: actor.id})
    }
    return [
        TeamRow(
            worker=w,
            next_tier=progress[w.id].tier,
            met=progress[w.id].met,
            required=progress[w.id].required,
            waiting=waiting.get(w.id, 0),
            last_note=last_notes.get(w.id),
            to_recommend=to_recommend.get(w.id),
        )
        for w in workers
    ]


def team_drawn(actor: User, draw: Callable[[list[TeamRow]], Drawn]) -> Drawn:
    """:func:`team` drawn by ``draw`` (rendered, say), kept while nothing the rows show has changed.

    Kept under the supervisees today, their tiers, their tokens (progress, items waiting, notes; who they are) and
    the promotion request each has waiting for this supervisor's recommendation, read in one query
    (versions.kept_for_owners), with the supervisor and the day.
    """
    parameters = as_supervisor(actor)
    return versions.kept_for_owners(
        "supervisor-team", (actor.id, parameters[_ON]), _team_state(), lambda: draw(team(actor)), parameters
    )


# The team's statements, built once per process (as the queue's above).


@functools.cache
def _team_state() -> Select:
    """The supervisees with what their rows show besides their portfolios, for versions.kept_for_owners."""
    supervisor, on = _supervisor_parameters()
    waiting_request = (
        select(func.max(PromotionRequest.id))
        .where(PromotionRequest.worker_id == User.id, _waiting_for_recommendation(supervisor))
        .scalar_subquery()
    )
    return versions.owners_state(
        select(User.id, User.tier_id, User.framework_id, waiting_request).where(
            supervision.supervisee(User.id, supervisor, on)
        )
    )


@functools.cache
def _supervisees_statement() -> Select:
    """The people the supervisor supervises on the day (never themselves), with their framework and tier."""
    supervisor, on = _supervisor_parameters()
    return (
        select(User)
        .where(
            supervision.supervisee(User.id, supervisor, on),
        )
        .options(db.joinedload(User.tier), db.joinedload(User.framework))
        .order_by(User.name)
    )


@functools.cache
def _last_notes_statement() -> Select:
    """Each owner's newest supervision note's date."""
    return (
        select(Evidence.owner_id, func.max(Evidence.occurred_on))
        .where(
            Evidence.owner_id.in_(bindparam("owner_ids", expanding=True)),
            Evidence.kind == EvidenceKind.SUPERVISION_NOTE,
        )
        .group_by(Evidence.owner_id)
    )


def _waiting_for_recommendation(supervisor: BindParameter[int]) -> ColumnElement[bool]:
    """SQL condition on PromotionRequest: open, and ``supervisor`` has not recommended on it yet."""
    return and_(
        PromotionRequest.open_where(),
        ~exists().where(
            PromotionRecommendation.request_id == PromotionRequest.id,
            PromotionRecommendation.supervisor_id == supervisor,
        ),
    )


@functools.cache
def _to_recommend_statement() -> Select:
    """The workers' open promotion requests the supervisor has not recommended on yet (one open at most each)."""
    supervisor, _on = _supervisor_parameters()
    return (
        select(PromotionRequest)
        .where(
            PromotionRequest.worker_id.in_(bindparam("worker_ids", expanding=True)),
            _waiting_for_recommendation(supervisor),
        )
        .options(db.joinedload(PromotionRequest.target_tier))
    )


def requests_to_recommend(actor: User, on: date | None = None) -> list[PromotionRequest]:
    """The open promotion requests of the actor's supervisees (today, or ``on``: the day a home counted them on)
    that wait for the actor's recommendation, oldest first (one query, whatever the size of the service)."""
    return list(db.session.scalars(_requests_to_recommend_statement(), as_supervisor(actor, on)))


def _requests_to_recommend_where(supervisor, on) -> list[ColumnElement[bool]]:
    """On PromotionRequest: a supervisee's open request the supervisor has not recommended on yet."""
    return [supervision.supervisee(PromotionRequest.worker_id, supervisor, on), _waiting_for_recommendation(supervisor)]


@functools.cache
def _requests_to_recommend_statement() -> Select:
    return (
        select(PromotionRequest)
        .where(*_requests_to_recommend_where(*_supervisor_parameters()))
        .options(db.joinedload(PromotionRequest.worker), db.joinedload(PromotionRequest.target_tier))
        .order_by(PromotionRequest.requested_at, PromotionRequest.id)
    )
