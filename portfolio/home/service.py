"""What each person's home says is next: one summary per role they hold, each in a fixed number of queries.

Nothing here decides a state of its own: met and readiness come from progress/rules.py, training
status from training/service.py, the review queue from review/service.py. This module only gathers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select

from .. import duties
from ..clock import today
from ..extensions import db
from ..models import Decision, Evidence, EvidenceStatus, Invitation, PromotionRequest, Requirement, Role, User
from ..people import service as people
from ..progress import rules
from ..progress import service as progress
from ..review import service as review
from ..supervision import service as supervision
from ..training import service as training
from ..training.service import TrainingRow, TrainingStatus

# A requirement "lapses soon" on the same horizon as training that is "due soon".
SOON = timedelta(days=training.DUE_WITHIN_DAYS)


# The home lists at most this many items of a kind; "all N" links to My portfolio filtered by that status,
# so the home costs the same for a portfolio of 20 items or 2,000.
HOME_LIST_LENGTH = 10


@dataclass
class WorkerHome:
    next_tier: rules.TierProgress
    waiting: list[review.WaitingItem]
    returned: list[tuple[Evidence, Decision | None]]
    training: list[TrainingRow]
    waiting_count: int = 0
    returned_count: int = 0

    @property
    def training_to_renew(self) -> list[TrainingRow]:
        return [r for r in self.training if r.status in (TrainingStatus.EXPIRED, TrainingStatus.DUE)]


def worker_home(worker: User) -> WorkerHome:
    """The worker's next tier in one line, items waiting and returned, training to renew."""
    counts = review.own_item_counts(worker)  # kept until the portfolio changes
    waiting_count = counts.get(EvidenceStatus.SUBMITTED, 0)
    returned_count = counts.get(EvidenceStatus.RETURNED, 0)
    return WorkerHome(
        next_tier=rules.next_tier_progress([worker])[worker.id],
        # Most homes have nothing waiting or returned: the counts say so without asking for the lists.
        waiting=review.waiting_items_of(worker, HOME_LIST_LENGTH) if waiting_count else [],
        returned=review.returned_items_of(worker, HOME_LIST_LENGTH) if returned_count else [],
        training=training.worker_training(worker),
        waiting_count=waiting_count,
        returned_count=returned_count,
    )


@dataclass
class Lapse:
    """A requirement or a course of a worker's that has lapsed (or expired), or will within ``SOON``."""

    worker: User
    what: str
    on: date | None
    lapsed: bool


def _lapses(workers: list[User], *, soon: bool) -> list[Lapse]:
    """Requirements lapsed (and, with ``soon``, lapsing soon) and training expired (and due) for ``workers``.

    Four queries whatever the number of workers: requirements, newest verifications, courses, certificates.
    """
    if not workers:
        return []
    now = today()
    requirements = db.session.scalars(
        select(Requirement)
        .where(Requirement.framework_id.in_({w.framework_id for w in workers if w.framework_id}))
        .order_by(Requirement.position)
    ).all()
    newest = rules.newest_verifications([w.id for w in workers])
    courses = training.training_of(workers)
    found = []
    for worker in workers:
        for requirement in requirements:
            if requirement.framework_id != worker.framework_id:
                continue
            verification = newest.get((worker.id, requirement.ref))
            state = rules.requirement_state(verification, now)
            expires_on = verification.expires_on if verification else None
            if state == "lapsed" or (soon and state == "verified" and expires_on and expires_on <= now + SOON):
                found.append(Lapse(worker, requirement.statement, expires_on, state == "lapsed"))
        for row in courses[worker.id]:
            if row.status == TrainingStatus.EXPIRED or (soon and row.status == TrainingStatus.DUE):
                found.append(Lapse(worker, row.item.title, row.due_on, row.status == TrainingStatus.EXPIRED))
    return sorted(found, key=lambda lapse: (lapse.on or date.max, lapse.worker.name))


@dataclass
class SupervisorHome:
    waiting: int
    oldest_days: int | None
    notes_to_confirm: list[Evidence]
    to_recommend: list[PromotionRequest]
    lapses: list[Lapse]


def supervisor_home(actor: User) -> SupervisorHome:
    """Items waiting (count, oldest wait), notes to confirm, requests to recommend, what lapses soon."""
    waiting, oldest = review.queue_summary(actor)
    to_recommend = [
        r for r in progress.open_requests(actor) if not any(rec.supervisor_id == actor.id for rec in r.recommendations)
    ]
    return SupervisorHome(
        waiting=waiting,
        oldest_days=oldest,
        notes_to_confirm=review.notes_to_confirm(actor),
        to_recommend=to_recommend,
        lapses=_lapses(supervision.supervisees_of(actor.id, today()), soon=True),
    )


@dataclass
class ManagerHome:
    promotions: list[PromotionRequest]
    lapses: list[Lapse] = field(default_factory=list)
    invitations: list[Invitation] = field(default_factory=list)


def manager_home(actor: User) -> ManagerHome:
    """Promotion decisions waiting, lapsed requirements and expired training, pending invitations."""
    workers = db.session.scalars(
        select(User)
        .where(User.is_worker.is_(True), User.active.is_(True), User.framework_id.is_not(None))
        .where(duties.not_own(User.id, actor))
        .options(db.joinedload(User.tier), db.joinedload(User.framework))
        .order_by(User.name)
    ).all()
    return ManagerHome(
        promotions=progress.open_requests(actor),
        lapses=_lapses(list(workers), soon=False),
        invitations=people.pending_invitations(),
    )


def home_for(person: User) -> dict:
    """Each summary the person's roles call for (a worker-supervisor sees both)."""
    return {
        "worker_home": worker_home(person) if person.is_worker else None,
        "supervisor_home": supervisor_home(person) if person.has_role(Role.SUPERVISOR) else None,
        "manager_home": manager_home(person) if person.is_manager else None,
        # One list for a supervisor, a manager, or someone who is both.
        "certificates_to_check": training.certificates_to_check(person) if training.can_check(person) else None,
        "certificates_to_check_count": training.certificates_to_check_count(person),
    }
