"""What each person's home says is next: one summary per role they hold, each in a fixed number of queries.

Nothing here decides a state of its own: met and readiness come from progress/rules.py, training
status from training/service.py, the review queue from review/service.py. This module only gathers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Date, Integer, Select, bindparam, func, or_, select

from .. import duties, tally
from ..clock import today
from ..cpd import service as cpd
from ..extensions import db
from ..models import (
    Decision,
    Evidence,
    EvidenceStatus,
    PromotionRequest,
    RequirementVerification,
    Role,
    SupervisionAssignment,
    User,
)
from ..people import service as people
from ..progress import rules, versions
from ..progress import service as progress
from ..progress.versions import Drawn
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
    # Only once every competence of a higher tier is met: "asked" (a request is open), "ready" or "requirements"
    # (some still to verify), from progress.service (readiness), never worked out here.
    promotion: str | None = None

    @property
    def training_to_renew(self) -> list[TrainingRow]:
        return [r for r in self.training if r.status in (TrainingStatus.EXPIRED, TrainingStatus.DUE)]


def worker_home(worker: User, on: date | None = None) -> WorkerHome:
    """The worker's next tier in one line, items waiting and returned, training to renew, today or ``on``."""
    on = on or today()
    counts = review.own_item_counts(worker)  # kept until the portfolio changes
    waiting_count = counts.get(EvidenceStatus.SUBMITTED, 0)
    returned_count = counts.get(EvidenceStatus.RETURNED, 0)
    next_tier = rules.next_tier_progress([worker])[worker.id]
    return WorkerHome(
        next_tier=next_tier,
        promotion=progress.promotion_step(worker, next_tier, on),
        # Most homes have nothing waiting or returned: the counts say so without asking for the lists.
        waiting=review.waiting_items_of(worker, HOME_LIST_LENGTH, on) if waiting_count else [],
        returned=review.returned_items_of(worker, HOME_LIST_LENGTH) if returned_count else [],
        training=training.worker_training(worker, on),
        waiting_count=waiting_count,
        returned_count=returned_count,
    )


def worker_home_drawn(
    worker: User, draw: Callable[[WorkerHome], Drawn], state_rows: Sequence[tuple] | None = None, on: date | None = None
) -> Drawn:
    """:func:`worker_home` drawn by ``draw`` (its parts rendered), kept while nothing it shows has changed.

    Working it out and drawing it is most of a worker's home, on every visit, while it changes a few times a day.
    Kept under the worker's token and the frameworks' (her items, decisions and certificates, her tier, the
    frameworks and the training catalogue), the day (days waiting, training due) and what writes no token, read in
    one query (versions.kept_for_owners): who reviews her items today and who returned them (the names shown, under
    their own tokens), her open promotion request and her newest verified requirement (promotion_step's answer).
    ``state_rows``: that state as read already in this request (:func:`_worker_home_read`, with the home's counts)
    on the day ``on``.
    """
    state, parameters = _worker_home_read(worker, on)
    on = parameters["on"]  # one day for the state, the key and the home kept under them
    return versions.kept_for_owners(
        "worker-home",
        (worker.id, on),
        state,
        lambda: draw(worker_home(worker, on)),
        parameters,
        rows=state_rows,
    )


def _worker_home_read(worker: User, on: date | None = None) -> tuple[Select, dict[str, Any]]:
    """The state a worker's parts of her home are kept under, and its parameters (today or ``on``)."""
    return _worker_home_state(), {"worker_id": worker.id, "on": on or today()}


@functools.cache
def _worker_home_state() -> Select:
    """The worker and the people her home names (her supervisors on the bound "on", whoever returned an item of
    hers), each with whether they supervise her (a supervisor who returned an item and then stopped is named still,
    no longer as a reviewer), her open promotion request and her newest verification: for versions.owners_state."""
    worker = bindparam("worker_id", type_=Integer())
    supervisors = select(SupervisionAssignment.supervisor_id).where(
        SupervisionAssignment.worker_id == worker, supervision.active_on(bindparam("on", type_=Date()))
    )
    deciders = (
        select(Decision.supervisor_id)
        .join(Evidence, Evidence.id == Decision.evidence_id)
        .where(Evidence.owner_id == worker, Evidence.status == EvidenceStatus.RETURNED)
    )
    # The newest open one: a column holds one value (a worker has one open request at most: progress.service).
    open_request = select(func.max(PromotionRequest.id)).where(
        PromotionRequest.worker_id == worker, PromotionRequest.open_where()
    )
    newest_verification = select(func.max(RequirementVerification.id)).where(
        RequirementVerification.worker_id == worker
    )
    named = select(
        User.id, User.id.in_(supervisors), open_request.scalar_subquery(), newest_verification.scalar_subquery()
    ).where(or_(User.id == worker, User.id.in_(supervisors), User.id.in_(deciders)))
    return versions.owners_state(named)


@dataclass(frozen=True)
class Lapse:
    """A requirement or a course of a worker's that has lapsed (or expired), or will within ``SOON``."""

    worker_id: int
    worker_name: str
    what: str
    on: date | None
    lapsed: bool


@dataclass
class Lapses:
    """The first ``HOME_LIST_LENGTH`` lapses, soonest first, and how many there are in all."""

    shown: list[Lapse]
    total: int

    def __bool__(self) -> bool:
        return self.total > 0


def _lapses(
    workers: Select,
    parameters: dict[str, object],
    on: date,
    *,
    soon: bool,
    state_rows: Sequence[tuple] | None = None,
) -> Lapses:
    """Requirements lapsed (and, with ``soon``, lapsing soon) and training expired (and due) of the workers
    ``workers`` selects (their ids; a statement built once).

    Kept per process while the workers read the same (versions.kept_for_owners): their tokens (certificates, names,
    tiers, frameworks; the frameworks and the catalogue) and newest verifications, read in one query, the day ``on``
    and who is asking (``parameters``). Worked out in SQL when not, three queries whatever the number of workers, and
    the state read again (versions.kept_for_owners); only what has lapsed is read (the state of a requirement and of
    a course are progress.rules' and the compliance matrix's own). Ranking every certificate and verification of a
    service's workers is the costliest statement of a manager's home, and its answer changes a few times a day.
    ``state_rows``: that state as read already in this request (with the home's counts).
    """

    def lapses() -> Lapses:
        found = [
            Lapse(r.worker_id, r.worker_name, r.statement, r.expires_on, r.lapsed)
            for r in rules.lapsing_requirements(workers, parameters, on, until=on + SOON if soon else None)
        ]
        found += [
            Lapse(c.worker_id, c.worker_name, c.title, c.due_on, c.expired)
            for c in training.lapsing_training(workers, parameters, soon=soon, on=on)
        ]
        # A whole order (the list is cut at HOME_LIST_LENGTH): the same ten on every view.
        found.sort(key=lambda lapse: (lapse.on or date.max, lapse.worker_name, lapse.worker_id, lapse.what))
        return Lapses(found[:HOME_LIST_LENGTH], len(found))

    variant = (workers, tuple(sorted(parameters.items())), soon, on)
    return versions.kept_for_owners(
        "home-lapses",
        variant,
        _lapses_state(workers),
        lapses,
        parameters,
        when_empty=lambda: Lapses([], 0),
        rows=state_rows,
    )


@functools.cache
def _lapses_state(workers: Select) -> Select:
    """The workers ``workers`` selects, each with her newest verification (verifications write no token: one added
    changes her row here), with their tokens and the frameworks': what their lapses are kept under."""
    newest_verification = (
        select(func.max(RequirementVerification.id))
        .where(RequirementVerification.worker_id == User.id)
        .scalar_subquery()
    )
    return versions.owners_state(select(User.id, newest_verification).where(User.id.in_(workers)))


@functools.cache
def _supervisees() -> Select:
    """The ids of the workers the bound "actor_id" supervises on the bound "on"."""
    return supervision.supervised_by(bindparam("actor_id", type_=Integer()), bindparam("on", type_=Date()))


@functools.cache
def _service_workers() -> Select:
    """The ids of every active worker on a framework but the bound "actor_id"."""
    return select(User.id).where(
        User.is_worker.is_(True),
        User.active.is_(True),
        User.framework_id.is_not(None),
        duties.not_own(User.id, bindparam("actor_id", type_=Integer())),
    )


@dataclass
class SupervisorHome:
    waiting: int
    oldest_days: int | None
    notes_to_confirm: int
    to_recommend: list[PromotionRequest]
    lapses: Lapses


def supervisor_home(actor: User, counts: dict[str, Any] | None = None, on: date | None = None) -> SupervisorHome:
    """Items waiting (count, oldest wait), notes to confirm, requests to recommend, what lapses soon.

    ``counts``: what :func:`home_for` read for every role on the day ``on``, the state of the team's lapses with them
    (read here when not given).
    """
    on = on or today()  # the queue, its days waiting and the team's lapses on one day
    if counts is None:
        counts = tally.read((review.supervisor_counts(), review.as_supervisor(actor, on)), _team_lapses_read(actor, on))
    waiting, oldest = review.queue_summary(actor, counts["queue"], on)
    return SupervisorHome(
        waiting=waiting,
        oldest_days=oldest,
        notes_to_confirm=counts["notes_to_confirm"] or 0,
        # Most homes have none waiting: the count says so without asking for the list.
        to_recommend=review.requests_to_recommend(actor, on) if counts["to_recommend"] else [],
        lapses=_lapses(
            _supervisees(),
            _team_lapses_parameters(actor, on),
            on,
            soon=True,
            state_rows=versions.state_rows(counts[_TEAM_LAPSES]),
        ),
    )


_TEAM_LAPSES = "team_lapses_state"  # the names of the lapses' states among a home's counts (tally)
_SERVICE_LAPSES = "service_lapses_state"


def _team_lapses_parameters(actor: User, on: date) -> dict[str, object]:
    return {"actor_id": actor.id, "on": on}


def _team_lapses_read(actor: User, on: date) -> tally.Counts:
    """The state of a supervisor's team's lapses on the day ``on``, to read with the home's counts."""
    return versions.state_read(_TEAM_LAPSES, _lapses_state(_supervisees()), _team_lapses_parameters(actor, on))


def _service_lapses_read(actor: User) -> tally.Counts:
    """The state of the service's lapses (a manager's home), to read with the home's counts."""
    return versions.state_read(_SERVICE_LAPSES, _lapses_state(_service_workers()), {"actor_id": actor.id})


@dataclass
class ManagerHome:
    promotions: list[PromotionRequest]
    lapses: Lapses = field(default_factory=lambda: Lapses([], 0))
    invitations: int = 0  # pending
    never_verified: int = 0  # workers with a requirement nobody has verified yet (a new starter's DBS check)

    @property
    def to_decide(self) -> int:
        """The open requests a supervisor has recommended on: a decision waits for one (``progress.decide``)."""
        return sum(1 for r in self.promotions if r.current_recommendations)

    @property
    def to_be_recommended(self) -> int:
        """The open requests no supervisor has recommended on yet: not the manager's to decide so far."""
        return len(self.promotions) - self.to_decide


def manager_home(actor: User, counts: dict[str, Any] | None = None, on: date | None = None) -> ManagerHome:
    """Promotion decisions waiting, lapsed requirements and expired training, pending invitations.

    ``counts``: what :func:`home_for` read for every role on the day ``on``, the state of the service's lapses with
    them (read here when not given).
    """
    if counts is None:
        counts = tally.read(_manager_counts(actor), _service_lapses_read(actor))
    state_rows = versions.state_rows(counts[_SERVICE_LAPSES])
    return ManagerHome(
        promotions=progress.open_requests(actor) if counts["promotions"] else [],
        lapses=_lapses(_service_workers(), {"actor_id": actor.id}, on or today(), soon=False, state_rows=state_rows),
        invitations=counts["invitations"] or 0,
        never_verified=_never_verified(actor, state_rows),
    )


def _never_verified(actor: User, state_rows: Sequence[tuple]) -> int:
    """How many of the service's workers have a requirement nobody has verified yet.

    Kept under the state of the service's lapses (``state_rows``, read with the home's counts), which covers all it
    depends on: which workers, their frameworks (their tokens), the frameworks' requirements (the frameworks' token)
    and each one's newest verification (verifications are only ever added). Counted on every view, it was a quarter of
    the manager's home's query on PostgreSQL (an anti-join of every worker's requirements with their verifications).
    """
    parameters = {"actor_id": actor.id}
    return versions.kept_for_owners(
        "never-verified",
        actor.id,
        _lapses_state(_service_workers()),
        lambda: db.session.scalar(_never_verified_count(), parameters) or 0,
        parameters,
        when_empty=lambda: 0,
        rows=state_rows,
    )


@functools.cache
def _never_verified_count() -> Select:
    """How many of the service's workers (``_service_workers``) have a requirement never verified."""
    return select(func.count()).where(User.id.in_(_service_workers()), User.id.in_(rules.workers_never_verified()))


def _manager_counts(actor: User) -> tally.Counts:
    """The manager's counts (``tally``) and their parameters."""
    return (
        {
            "promotions": progress.open_requests_count(manager=True),
            "invitations": people.pending_invitations_count(),
        },
        progress.as_decider(actor),
    )


def home_for(
    person: User,
    draw_worker: Callable[[WorkerHome], Drawn],
    draw_certificates: Callable[[training.CertificatesToCheck], Drawn],
) -> dict:
    """Each summary the person's roles call for (a worker-supervisor sees both); a worker's drawn by
    ``draw_worker`` (:func:`worker_home_drawn`), the certificates to check by ``draw_certificates``
    (training.certificates_to_check_drawn).

    The counts of every role the person holds are read in one query (``tally``), and the lists behind the
    counts of promotion requests and appraisals only when those are not 0. The certificates to check, the
    lapses and the worker's parts are kept apart, each under its own state: the states are read in that same
    query (each a round trip of its own otherwise), and each list brings its own count. Every part is read on
    one day: a request at midnight would otherwise give one query two days.
    """
    on = today()
    supervisor, manager = person.has_role(Role.SUPERVISOR), person.is_manager
    parts: list[tally.Counts] = [({"appraisals_to_sign": cpd.appraisals_to_sign_count()}, cpd.as_appraiser(person))]
    if person.is_worker:
        parts.append(versions.state_read(_WORKER_PARTS, *_worker_home_read(person, on)))
    if supervisor:
        parts += [(review.supervisor_counts(), review.as_supervisor(person, on)), _team_lapses_read(person, on)]
    if manager:
        parts += [_manager_counts(person), _service_lapses_read(person)]
    certificates = training.certificates_to_check_state(person, on)
    if certificates is not None:
        parts.append(versions.state_read(_CERTIFICATES, *certificates))
    found = tally.read(*parts)
    return {
        "worker_parts": worker_home_drawn(person, draw_worker, versions.state_rows(found[_WORKER_PARTS]), on)
        if person.is_worker
        else None,
        "supervisor_home": supervisor_home(person, found, on) if supervisor else None,
        "manager_home": manager_home(person, found, on) if manager else None,
        # One list for a supervisor, a manager, or someone who is both.
        "certificates_waiting": training.certificates_to_check_drawn(
            person, draw_certificates, versions.state_rows(found[_CERTIFICATES]), on
        )
        if certificates is not None
        else None,
        "appraisals_to_sign": cpd.appraisals_to_sign(person) if found["appraisals_to_sign"] else [],
    }


_WORKER_PARTS = "worker_parts_state"  # the names of home_for's other states among its counts
_CERTIFICATES = "certificates_state"
