"""Who supervises whom on a given day, and the managers' use cases that change it."""

from __future__ import annotations

import functools
from datetime import date

from flask import abort
from sqlalchemy import Date, Integer, Select, and_, bindparam, exists, or_, select, true
from sqlalchemy.orm import aliased, contains_eager
from sqlalchemy.sql.elements import BindParameter, ColumnElement, SQLCoreOperations

from .. import duties, idempotency, paging
from ..audit import ledger
from ..database import begin_write, lock_all, lock_or_404
from ..errors import FieldError, Problems
from ..extensions import db
from ..models import Role, SupervisionAssignment, User
from ..people.search import search_words, words_in_name_or_email

OWN_SUPERVISION = "You cannot choose your own supervisor: another manager must"
OWN_ASSIGNMENT = "This is your own supervision: another manager must change it."
SELF_SUPERVISION = "A worker cannot supervise themselves: choose someone else"


def active_on(on: date | BindParameter[date]):
    """SQL condition: the assignment covers the day ``on`` (or a bound parameter for it)."""
    return and_(SupervisionAssignment.starts_on <= on, not_ended_before(on))


def not_ended_before(on: date | BindParameter[date]):
    """SQL condition: the assignment has not ended before ``on``: it covers that day or begins later."""
    return or_(SupervisionAssignment.ends_on.is_(None), SupervisionAssignment.ends_on >= on)


def supervised_by(supervisor: int | BindParameter[int], on: date | BindParameter[date]) -> Select:
    """The ids of the workers ``supervisor`` (an id, or a bound parameter for one) supervises on ``on``.

    For ``column.in_(supervised_by(...))``: as an IN list, not a correlated EXISTS, the database starts
    from the supervisor's assignments (their index) and reaches their workers' rows through the workers'
    indexes. A correlated EXISTS made SQLite visit every item of everyone and test each (the notes to
    confirm: 0.49 ms, against 0.04), and the visits grew with everyone's portfolios.
    """
    return (
        select(SupervisionAssignment.worker_id)
        .where(SupervisionAssignment.supervisor_id == supervisor, active_on(on))
        .correlate(None)  # never tied to an enclosing query's assignments: always the supervisor's own
    )


def supervisee(
    column: SQLCoreOperations[int], supervisor: int | BindParameter[int], on: date | BindParameter[date]
) -> ColumnElement[bool]:
    """SQL condition: ``column`` (a person's id) is a worker ``supervisor`` supervises on ``on``, never
    ``supervisor`` themselves: what a supervisor's queues and lists of things to act on show."""
    return and_(duties.not_own(column, supervisor), column.in_(supervised_by(supervisor, on)))


def is_supervising(supervisor_id: int, worker_id: int, on: date) -> bool:
    """True if ``supervisor_id`` is assigned to ``worker_id`` on the day ``on``."""
    parameters = {"supervisor_id": supervisor_id, "worker_id": worker_id, "on": on}
    return bool(db.session.scalar(_supervising_statement(), parameters))


@functools.cache
def _supervising_statement() -> Select:
    """Built once per process: a supervisor's pages about a worker ask it twice a view (whether they may see
    the worker, whether they may recommend), and building it cost more than running it."""
    return select(
        supervising(
            bindparam("supervisor_id", type_=Integer()),
            bindparam("worker_id", type_=Integer()),
            bindparam("on", type_=Date()),
        )
    )


def supervising(supervisor: SQLCoreOperations[int], worker: SQLCoreOperations[int], on: BindParameter[date]):
    """SQL condition: ``supervisor`` is assigned to ``worker`` on the day ``on`` (each a column or a bound
    parameter): :func:`is_supervising` as part of another query."""
    return exists().where(
        SupervisionAssignment.supervisor_id == supervisor,
        SupervisionAssignment.worker_id == worker,
        active_on(on),
    )


def supervisors_of(worker_id: int, on: date | None = None) -> list[User]:
    """The worker's supervisors on ``on``, or at any time when ``on`` is None."""
    parameters = {"worker_id": worker_id} | ({"on": on} if on is not None else {})
    return list(db.session.scalars(_supervisors_statement(on is not None), parameters))


def next_supervision(worker_id: int, on: date) -> SupervisionAssignment | None:
    """The worker's supervision that begins soonest after ``on`` (with its supervisor), if any: what a worker with
    no supervisor today waits for."""
    return db.session.scalar(
        select(SupervisionAssignment)
        .where(SupervisionAssignment.worker_id == worker_id, SupervisionAssignment.starts_on > on)
        .options(db.joinedload(SupervisionAssignment.supervisor))
        .order_by(SupervisionAssignment.starts_on, SupervisionAssignment.id)
        .limit(1)
    )


@functools.cache
def _supervisors_statement(on_a_day: bool) -> Select:
    """Built once per process (the worker's home and the forms that name a supervisor ask for it).

    An IN list, as in :func:`supervised_by`: the database starts from the worker's few assignments. A correlated
    EXISTS made SQLite test every user in turn (0.5 ms on the benchmark's 211, against 0.04).
    """
    condition = [SupervisionAssignment.worker_id == bindparam("worker_id", type_=Integer())]
    if on_a_day:
        condition.append(active_on(bindparam("on", type_=Date())))
    supervisors = select(SupervisionAssignment.supervisor_id).where(*condition).correlate(None)
    return select(User).where(User.id.in_(supervisors)).order_by(User.name, User.id)


def supervisees_of(supervisor_id: int, on: date) -> list[User]:
    """The workers someone supervises on ``on``."""
    return list(
        db.session.scalars(
            select(User)
            .where(User.id.in_(supervised_by(supervisor_id, on)))
            .options(db.joinedload(User.tier), db.joinedload(User.framework))
            .order_by(User.name)
        )
    )


# Open-ended assignments first, then the latest to start.
_ASSIGNMENT_ORDER = (
    SupervisionAssignment.ends_on.is_not(None),
    SupervisionAssignment.starts_on.desc(),
    SupervisionAssignment.id.desc(),
)

# The manager's filter: which assignments, on a given day.
ASSIGNMENT_STATES = {"current": "Current", "upcoming": "Not started yet", "ended": "Ended"}


def assignments_page(number: int, *, on: date, q: str = "", state: str = "") -> paging.Page[SupervisionAssignment]:
    """One page of the assignments whose worker or supervisor matches every word of ``q`` (name or email), in
    ``state`` on the day ``on`` (any state when empty), with both people loaded: two queries, whatever the
    number of assignments."""
    worker, supervisor = aliased(User), aliased(User)
    query = (
        select(SupervisionAssignment)
        .join(worker, worker.id == SupervisionAssignment.worker_id)
        .join(supervisor, supervisor.id == SupervisionAssignment.supervisor_id)
        .options(
            contains_eager(SupervisionAssignment.worker.of_type(worker)),
            contains_eager(SupervisionAssignment.supervisor.of_type(supervisor)),
        )
        .order_by(*_ASSIGNMENT_ORDER)
    )
    words = search_words(q)
    query = query.where(
        *(
            or_(a, b)
            for a, b in zip(
                words_in_name_or_email(words, worker), words_in_name_or_email(words, supervisor), strict=True
            )
        )
    )
    if state in ASSIGNMENT_STATES:
        query = query.where(_in_state(state, on))
    return paging.paginate(query, number)


def state_on(assignment: SupervisionAssignment, on: date) -> str:
    """The assignment's state on the day ``on`` (a key of ASSIGNMENT_STATES): its last day is still current."""
    if assignment.starts_on > on:
        return "upcoming"
    if assignment.ends_on is not None and assignment.ends_on < on:
        return "ended"
    return "current"


def _in_state(state: str, on: date):
    """:func:`state_on` in SQL, on SupervisionAssignment."""
    return {
        "current": active_on(on),
        "upcoming": SupervisionAssignment.starts_on > on,
        "ended": SupervisionAssignment.ends_on < on,
    }[state]


def people_with_role(role: Role) -> list[User]:
    column = {Role.WORKER: User.is_worker, Role.SUPERVISOR: User.is_supervisor, Role.MANAGER: User.is_manager}[role]
    return list(db.session.scalars(select(User).where(column.is_(True), User.active.is_(True)).order_by(User.name)))


def get_assignment_or_404(assignment_id: int) -> SupervisionAssignment:
    """:raises 404: for a missing assignment."""
    assignment = db.session.get(SupervisionAssignment, assignment_id)
    if assignment is None:
        abort(404)
    return assignment


def get_assignment_to_change_or_404(actor: User, assignment_id: int) -> SupervisionAssignment:
    """An assignment of someone else's supervision, for the actor to change.

    :raises OwnDecision: when the actor is its worker (a 403 page saying why).
    :raises 404: for a missing assignment.
    """
    assignment = get_assignment_or_404(assignment_id)
    duties.refuse_own(actor, assignment.worker_id, OWN_ASSIGNMENT)
    return assignment


# Also the form's own messages for an empty choice (forms.py), so they show with a date the form refuses.
CHOOSE_WORKER = "Choose the worker"
CHOOSE_SUPERVISOR = "Choose a supervisor"
ENTER_START_DATE = "Enter the start date"


def assignable(worker: User) -> bool:
    """Who may be given a supervisor: a worker who is active, or invited and not yet signed in (a new starter is
    assigned on their first day, not once they have chosen a password)."""
    return worker.is_worker and (worker.active or worker.invited)


def assignable_workers(actor: User) -> list[User]:
    """The workers a new assignment may name (:func:`assignable`), by name, the actor left out (one query)."""
    return [
        worker
        for worker in db.session.scalars(
            select(User)
            .where(User.is_worker.is_(True), or_(User.active.is_(True), User.invited.is_(True)))
            .order_by(User.name)
        )
        if assignable(worker) and not duties.is_own(actor, worker.id)
    ]


def _check_worker(actor: User, worker: User | None) -> None:
    """A new assignment's worker: active, or invited and not yet signed in, and not the actor.

    :raises FieldError: on ``worker_id``.
    """
    if worker is None or not assignable(worker):
        raise FieldError("worker_id", CHOOSE_WORKER)
    duties.refuse_own(actor, worker.id, OWN_SUPERVISION, field="worker_id")


def _check_supervisor(worker: User | None, supervisor: User | None) -> None:
    """A new assignment's supervisor: an active supervisor, not the worker.

    :raises FieldError: on ``supervisor_id``.
    """
    if supervisor is None or not supervisor.is_supervisor or not supervisor.active:
        raise FieldError("supervisor_id", CHOOSE_SUPERVISOR)
    if worker is not None:
        duties.refuse_own(worker, supervisor.id, SELF_SUPERVISION, field="supervisor_id")


def _require_manager(actor: User) -> None:
    if not actor.has_role(Role.MANAGER):
        abort(403)


@idempotency.creates(SupervisionAssignment)
def assign(
    actor: User,
    *,
    worker_id: int | None,
    supervisor_id: int | None,
    starts_on: date | None,
    ends_on: date | None,
    form_key: str | None = None,
) -> SupervisionAssignment:
    """Assign a supervisor to a worker from ``starts_on`` (until ``ends_on``, if given).

    :raises FieldError: for a missing or wrong person, the same person twice,
        the actor as the worker, dates in the wrong order, or an overlapping
        assignment of the same pair.
    """
    _require_manager(actor)
    begin_write()
    idempotency.check(SupervisionAssignment, form_key, actor)
    try:
        assignment = add_assignment(
            actor,
            worker_id=worker_id,
            supervisor_id=supervisor_id,
            starts_on=starts_on,
            ends_on=ends_on,
            form_key=form_key,
        )
    except FieldError:
        db.session.rollback()
        raise
    db.session.commit()
    return assignment


def add_assignment(
    actor: User,
    *,
    worker_id: int | None,
    supervisor_id: int | None,
    starts_on: date | None,
    ends_on: date | None,
    form_key: str | None = None,
) -> SupervisionAssignment:
    """Add an assignment inside the caller's write transaction (``assign``, or inviting a person).

    The people are read locked: roles may have changed since the form was read.

    :raises FieldError: as ``assign``; the caller rolls back.
    """
    # Both in one statement, in id order: the order every transaction locking several people keeps (people's
    # changes lock the managers and the person so), or two managers' requests could each wait for the other.
    chosen = [i for i in (worker_id, supervisor_id) if i]
    by_id = {u.id: u for u in lock_all(select(User).where(User.id.in_(chosen)).order_by(User.id))} if chosen else {}
    worker = by_id.get(worker_id) if worker_id else None
    supervisor = by_id.get(supervisor_id) if supervisor_id else None
    # Every field's problem in one answer (a refusal's rollback only gives back locks: nothing is written).
    problems = Problems()
    problems.check(lambda: _check_worker(actor, worker), None)
    problems.check(lambda: _check_supervisor(worker, supervisor), None)
    if starts_on is None:
        problems.add("starts_on", ENTER_START_DATE)
    elif ends_on is not None and ends_on < starts_on:
        problems.add("ends_on", "The end date must be the same as or after the start date")
    problems.raise_if_any()
    assert worker is not None and supervisor is not None and starts_on is not None
    overlapping = db.session.scalar(
        select(SupervisionAssignment).where(
            SupervisionAssignment.worker_id == worker.id,
            SupervisionAssignment.supervisor_id == supervisor.id,
            not_ended_before(starts_on),
            true() if ends_on is None else SupervisionAssignment.starts_on <= ends_on,
        )
    )
    if overlapping is not None:
        raise FieldError("supervisor_id", f"{supervisor.name} already supervises {worker.name} in that period")
    assignment = SupervisionAssignment(
        worker_id=worker.id, supervisor_id=supervisor.id, starts_on=starts_on, ends_on=ends_on, created_by_id=actor.id
    )
    db.session.add(assignment)
    db.session.flush()
    idempotency.remember(form_key, actor, assignment)
    ledger.record(
        actor,
        "supervision.assigned",
        f"assignment:{assignment.id}",
        binds=assignment,
        worker_id=worker.id,
        supervisor_id=supervisor.id,
        starts_on=starts_on.isoformat(),
        ends_on=ends_on.isoformat() if ends_on else None,
    )
    return assignment


def end_assignment(actor: User, assignment: SupervisionAssignment, ends_on: date | None) -> SupervisionAssignment:
    """Set the last day of an assignment; the history stays.

    :raises FieldError: for a missing date or one before the start.
    :raises OwnDecision: when the actor is the assignment's worker (nothing written).
    """
    _require_manager(actor)
    duties.refuse_own(actor, assignment.worker_id, OWN_ASSIGNMENT)
    if ends_on is None:
        raise FieldError("ends_on", "Enter the end date")
    if ends_on < assignment.starts_on:
        raise FieldError("ends_on", "The end date must be the same as or after the start date")
    begin_write()
    assignment = lock_or_404(SupervisionAssignment, assignment.id)
    duties.refuse_own(actor, assignment.worker_id, OWN_ASSIGNMENT)
    clash = db.session.scalar(
        select(SupervisionAssignment).where(
            SupervisionAssignment.id != assignment.id,
            SupervisionAssignment.worker_id == assignment.worker_id,
            SupervisionAssignment.supervisor_id == assignment.supervisor_id,
            SupervisionAssignment.starts_on <= ends_on,
            not_ended_before(assignment.starts_on),
        )
    )
    if clash is not None:
        db.session.rollback()
        raise FieldError(
            "ends_on",
            f"{assignment.supervisor.name} already supervises {assignment.worker.name} from {clash.starts_on:%-d %B %Y}: end this one before then",
        )
    set_last_day(actor, assignment, ends_on)
    db.session.commit()
    return assignment


def set_last_day(actor: User, assignment: SupervisionAssignment, ends_on: date) -> None:
    """End a locked assignment on ``ends_on``, with the ledger row that binds it as it now is (in the caller's
    write transaction: ending it here, or because a person leaves)."""
    previous = assignment.ends_on
    assignment.ends_on = ends_on
    ledger.record(
        actor,
        "supervision.ended",
        f"assignment:{assignment.id}",
        binds=assignment,
        worker_id=assignment.worker_id,
        supervisor_id=assignment.supervisor_id,
        ends_on=ends_on.isoformat(),
        previous_ends_on=previous.isoformat() if previous else None,
    )


def cancel_unbegun(actor: User, assignment: SupervisionAssignment) -> None:
    """Remove a locked assignment that has not begun (there is no history to keep), with the ledger row that
    says it is gone on purpose: the ledger's check would otherwise report a bound record deleted."""
    ledger.record(
        actor,
        "supervision.cancelled",
        f"assignment:{assignment.id}",
        removes=assignment,
        worker_id=assignment.worker_id,
        supervisor_id=assignment.supervisor_id,
        starts_on=assignment.starts_on.isoformat(),
    )
    db.session.delete(assignment)
