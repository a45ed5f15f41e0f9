"""Appraisals (signed by worker and appraiser, then locked), CPD plan goals, and the CPD log."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from flask import abort
from sqlalchemy import (
    Integer,
    Row,
    Select,
    and_,
    bindparam,
    cast,
    extract,
    func,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from .. import duties, idempotency
from ..audit import binders, ledger
from ..clock import done_on_problem, today
from ..database import begin_write, lock_all, lock_or_404
from ..errors import FieldError, NotFoundHere, Problems
from ..evidence import anonymity
from ..extensions import db
from ..models import (
    Appraisal,
    Competence,
    CpdActivity,
    CpdGoal,
    Evidence,
    EvidenceKind,
    EvidenceStatus,
    GoalStatus,
    Role,
    User,
    utcnow,
)
from ..supervision import service as supervision
from ..templating import long_date

TEXT_MAX = 10_000
HOURS_MAX = Decimal("100")
OWN_APPRAISER = "You cannot be your own appraiser: choose one of your supervisors or a manager"


# --- Who may see what ------------------------------------------------------------------


def appraisers_for(worker: User) -> list[User]:
    """Who can appraise a worker: their current supervisors and the managers."""
    people = {u.id: u for u in supervision.supervisors_of(worker.id, today())}
    people.update({u.id: u for u in supervision.people_with_role(Role.MANAGER)})
    people.pop(worker.id, None)
    return sorted(people.values(), key=lambda u: u.name)


def get_appraisal_or_404(actor: User, appraisal_id: int) -> Appraisal:
    """An appraisal the actor is party to (worker or appraiser), or any for a manager.

    :raises 404: otherwise, as for a missing one.
    """
    appraisal = db.session.get(Appraisal, appraisal_id)
    if appraisal is None or not (
        actor.id in (appraisal.worker_id, appraisal.appraiser_id) or actor.has_role(Role.MANAGER)
    ):
        abort(404)
    return appraisal


def appraisals_of(worker: User) -> list[Appraisal]:
    return list(
        db.session.scalars(select(Appraisal).where(Appraisal.worker_id == worker.id).order_by(Appraisal.year.desc()))
    )


def this_years(appraisals: list[Appraisal]) -> Appraisal | None:
    """This year's appraisal (on the service's clock) among ``appraisals``: the one :func:`start_appraisal` would
    refuse to start again."""
    return next((a for a in appraisals if a.year == today().year), None)


def appraisals_to_sign(actor: User) -> list[Appraisal]:
    """Appraisals where the actor is the appraiser and has not signed yet."""
    return list(db.session.scalars(_appraisals_to_sign_statement(), as_appraiser(actor)))


def as_appraiser(actor: User) -> dict[str, object]:
    """The parameters of :func:`appraisals_to_sign_count` for ``actor``."""
    return {"appraiser_id": actor.id}


def _to_sign_where() -> list[ColumnElement[bool]]:
    appraiser = bindparam("appraiser_id", type_=Integer())
    return [
        Appraisal.appraiser_id == appraiser,
        Appraisal.appraiser_signed_at.is_(None),
        duties.not_own(Appraisal.worker_id, appraiser),
    ]


@functools.cache
def _appraisals_to_sign_statement() -> Select:
    """Built once per process: every home asks for it."""
    return select(Appraisal).where(*_to_sign_where()).order_by(Appraisal.held_on)


@functools.cache
def appraisals_to_sign_count() -> Select:
    """How many :func:`appraisals_to_sign` lists, as a one-value statement on :func:`as_appraiser`'s parameters
    (read with other counts: ``tally.read``)."""
    return select(func.count(Appraisal.id)).where(*_to_sign_where())


# --- Appraisals ----------------------------------------------------------------------


@dataclass
class GoalInput:
    description: str
    method: str
    target_on: date | None
    status: str


def _text(value: str | None, field: str, label: str) -> str:
    value = (value or "").strip()
    if len(value) > TEXT_MAX:
        raise FieldError(field, f"{label} must be {TEXT_MAX:,} characters or fewer")
    anonymity.require_anonymous(field, label, value)
    return value


def _goals(held_on: date, rows: list[GoalInput], problems: Problems) -> list[tuple[str, str, date, GoalStatus]]:
    """Check the plan's goal rows: blank rows are ignored, half-filled ones refused. Every row's problems go in
    ``problems``, each naming its goal ("goal 2"): the error summary lists them together."""
    goals = []
    for index, row in enumerate(rows):
        description, method = " ".join((row.description or "").split()), " ".join((row.method or "").split())
        if not description and not method and row.target_on is None:
            continue
        prefix, goal = f"goals-{index}-", f"goal {index + 1}"
        found = len(problems.errors)
        if not description:
            problems.add(prefix + "description", f"Enter what {goal} is")
        elif len(description) > 500 or len(method) > 500:
            problems.add(
                prefix + "description", f"{goal.capitalize()} and its method must be 500 characters or fewer each"
            )
        for name, label, text in (
            (prefix + "description", goal.capitalize(), description),
            (prefix + "method", f"The method of {goal}", method),
        ):
            problems.check(functools.partial(anonymity.require_anonymous, name, label, text), None)
        if row.target_on is None:
            problems.add(prefix + "target_on", f"Enter the target date of {goal}")
        elif row.target_on < held_on:
            problems.add(
                prefix + "target_on", f"The target date of {goal} must be on or after the date of the appraisal"
            )
        status = next((s for s in GoalStatus if s.value == (row.status or "open")), None)
        if status is None:
            problems.add(prefix + "status", f"Choose the status of {goal}")
        if len(problems.errors) == found and row.target_on is not None and status is not None:
            goals.append((description, method, row.target_on, status))
    return goals


@idempotency.creates(Appraisal)
def start_appraisal(
    actor: User, worker: User, *, held_on: date | None, appraiser_id: int | None, form_key: str | None = None
) -> Appraisal:
    """Start the appraisal of a year, carrying over the open goals of the year before.

    :raises FieldError: for a missing or future date or one before 1980, a wrong appraiser (the worker included),
        or a year that has one.
    """
    if actor.id != worker.id and actor.id != appraiser_id and not actor.has_role(Role.MANAGER):
        abort(404)
    if held_on is None:
        raise FieldError("held_on", "Enter the date of the appraisal")
    if (wrong := done_on_problem(held_on, name="The date of the appraisal")) is not None:
        raise FieldError("held_on", wrong)
    # Before the general check, for a clearer message (the table's CHECK backs it).
    duties.refuse_own(worker, appraiser_id, OWN_APPRAISER, field="appraiser_id")
    allowed = {u.id for u in appraisers_for(worker)}
    if not appraiser_id or appraiser_id not in allowed:
        raise FieldError("appraiser_id", "Choose the appraiser: one of your supervisors or a manager")
    begin_write()
    idempotency.check(Appraisal, form_key, actor)
    if db.session.scalar(select(Appraisal.id).where(Appraisal.worker_id == worker.id, Appraisal.year == held_on.year)):
        db.session.rollback()
        raise FieldError("held_on", f"There is already an appraisal for {held_on.year}")
    appraisal = Appraisal(worker_id=worker.id, year=held_on.year, held_on=held_on, appraiser_id=appraiser_id)
    previous = db.session.scalar(
        select(Appraisal)
        .where(Appraisal.worker_id == worker.id, Appraisal.year < held_on.year)
        .order_by(Appraisal.year.desc())
        .limit(1)
    )
    if previous is not None:
        for goal in previous.goals:
            if goal.status.is_open:
                appraisal.goals.append(
                    CpdGoal(
                        description=goal.description,
                        method=goal.method,
                        target_on=max(goal.target_on, held_on),
                        status=goal.status,
                        carried_from_id=goal.id,
                    )
                )
    db.session.add(appraisal)
    idempotency.remember(form_key, actor, appraisal)
    db.session.flush()
    ledger.record(
        actor, "appraisal.started", f"user:{worker.id}", binds=appraisal, appraisal_id=appraisal.id, year=appraisal.year
    )
    db.session.commit()
    return appraisal


def _appraisal_input(
    problems: Problems,
    appraisal: Appraisal,
    review: str | None,
    objectives: str | None,
    learning_needs: str | None,
    goals: list[GoalInput],
) -> tuple[dict[str, str], list[tuple[str, str, date, GoalStatus]]]:
    """The appraisal form's own rules, each problem into ``problems``: its texts and its plan, cleaned."""
    values = {
        "review": problems.check(lambda: _text(review, "review", "The review"), ""),
        "objectives": problems.check(lambda: _text(objectives, "objectives", "The objectives"), ""),
        "learning_needs": problems.check(lambda: _text(learning_needs, "learning_needs", "The learning needs"), ""),
    }
    return values, _goals(appraisal.held_on, goals, problems)


def problems_of_appraisal(
    appraisal: Appraisal, review: str | None, objectives: str | None, learning_needs: str | None, goals: list[GoalInput]
) -> dict[str, str]:
    """What :func:`update_appraisal` would refuse in what was typed, writing nothing: for a form that refused a
    value itself (a target date that is not a date), so that its page names every goal's problem at once."""
    problems = Problems()
    _appraisal_input(problems, appraisal, review, objectives, learning_needs, goals)
    return dict(problems.errors)


def update_appraisal(
    actor: User, appraisal: Appraisal, *, review: str, objectives: str, learning_needs: str, goals: list[GoalInput]
) -> Appraisal:
    """Change an unlocked appraisal; any change clears signatures already given.

    :raises FieldError: for a locked appraisal or bad goals.
    """
    if actor.id not in (appraisal.worker_id, appraisal.appraiser_id):
        abort(404)
    if appraisal.is_locked:
        raise FieldError("review", "This appraisal is signed by both of you and locked")
    problems = Problems()  # every field's and every goal's problem in one answer, in the page's order
    values, plan = _appraisal_input(problems, appraisal, review, objectives, learning_needs, goals)
    problems.raise_if_any()
    begin_write()
    appraisal = lock_or_404(Appraisal, appraisal.id)
    if appraisal.is_locked:
        db.session.rollback()
        raise FieldError("review", "This appraisal is signed by both of you and locked")
    for name, value in values.items():
        setattr(appraisal, name, value)
    appraisal.goals = _plan_in_place(appraisal.goals, plan)
    appraisal.worker_signed_at = appraisal.appraiser_signed_at = None
    # Every change to an appraisal is in the ledger, so the signed content can be checked later.
    ledger.record(actor, "appraisal.changed", f"user:{appraisal.worker_id}", binds=appraisal, appraisal_id=appraisal.id)
    db.session.commit()
    return appraisal


def _plan_in_place(goals: list[CpdGoal], plan: list[tuple[str, str, date, GoalStatus]]) -> list[CpdGoal]:
    """The plan's goals, changing the existing ones in place: activities count towards a goal, and next year's
    goals are carried from it, by its id, so a goal kept (the same words) keeps its id, with its method, date and
    status as now written. Other words make another goal: one taken out of the plan is deleted, and what counted
    towards it (or was carried from it) points at nothing rather than at a goal it was never about."""
    unused = list(goals)
    result = []
    for description, method, target_on, status in plan:
        goal = next((g for g in unused if g.description == description), None)
        if goal is None:
            goal = CpdGoal(description=description)
        else:
            unused.remove(goal)
        goal.method, goal.target_on, goal.status = method, target_on, status
        result.append(goal)
    if removed := [g.id for g in unused if g.id is not None]:
        db.session.execute(update(CpdActivity).where(CpdActivity.goal_id.in_(removed)).values(goal_id=None))
        db.session.execute(update(CpdGoal).where(CpdGoal.carried_from_id.in_(removed)).values(carried_from_id=None))
    return result


APPRAISAL_CHANGED = "The appraisal changed after you opened it: read it again, then sign"


def signed_content_hash(appraisal: Appraisal) -> str:
    """What a signature is about: the appraisal's date, review, objectives, learning needs and CPD plan (not the
    signatures). The page carries it, so a signature binds what its signer read."""
    content = {
        "held_on": appraisal.held_on.isoformat(),
        "review": appraisal.review,
        "objectives": appraisal.objectives,
        "learning_needs": appraisal.learning_needs,
        "goals": [
            [g.description, g.method, g.target_on.isoformat() if g.target_on else None, g.status.value]
            for g in appraisal.goals
        ],
    }
    return binders.content_hash(content)


def sign(actor: User, appraisal: Appraisal, *, seen: str | None = None) -> Appraisal:
    """The worker or the appraiser signs; with both signatures the appraisal is locked.

    ``seen``: :func:`signed_content_hash` as the signer read it (the page carries it); None only for a caller
    that read the appraisal itself just now.

    :raises FieldError: when the actor has already signed, or the appraisal changed since ``seen`` (nothing
        written); 404 for anyone else.
    """
    if actor.id not in (appraisal.worker_id, appraisal.appraiser_id):
        abort(404)
    begin_write()
    appraisal = lock_or_404(Appraisal, appraisal.id)
    column = "worker_signed_at" if actor.id == appraisal.worker_id else "appraiser_signed_at"
    if getattr(appraisal, column) is not None:
        db.session.rollback()
        raise FieldError("sign", "You have already signed this appraisal")
    if seen is not None and seen != signed_content_hash(appraisal):  # changed meanwhile, on the locked row
        db.session.rollback()
        raise FieldError("sign", APPRAISAL_CHANGED)
    setattr(appraisal, column, utcnow())
    ledger.record(
        actor,
        "appraisal.signed",
        f"user:{appraisal.worker_id}",
        binds=appraisal,
        appraisal_id=appraisal.id,
        by=column.split("_")[0],
        locked=appraisal.is_locked,
    )
    db.session.commit()
    return appraisal


# --- The CPD log -------------------------------------------------------------------


_HOURS = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def parse_hours(text: str | None) -> Decimal:
    """:raises FieldError: unless it is a number of hours above 0 and at most 100."""
    written = (text or "").strip()
    try:
        # Digits and a point only: Decimal also reads "1e2" (100 hours) and "nan", which are not how hours are typed.
        hours = Decimal(written) if _HOURS.fullmatch(written) else Decimal("NaN")
    except InvalidOperation:
        hours = Decimal("NaN")
    if not hours.is_finite():  # "nan" and "inf" are Decimals, not numbers of hours
        raise FieldError("hours", "Enter the hours as a number, like 1.5")
    if hours <= 0 or hours > HOURS_MAX:
        raise FieldError("hours", "Hours must be more than 0 and no more than 100")
    if hours != hours.quantize(Decimal("0.01")):
        raise FieldError("hours", "Enter the hours to 2 decimal places at most, like 1.25")
    return hours.quantize(Decimal("0.01"))


def open_goals(worker: User, keep: CpdActivity | None = None) -> list[CpdGoal]:
    """The worker's goals that a CPD activity can count towards; with ``keep`` (an activity being changed), the
    goal it counts towards already, open or not."""
    which: ColumnElement[bool] = CpdGoal.status.in_([GoalStatus.OPEN, GoalStatus.IN_PROGRESS])
    if keep is not None and keep.goal_id:
        which = or_(which, CpdGoal.id == keep.goal_id)
    return list(
        db.session.scalars(
            select(CpdGoal)
            .join(Appraisal, Appraisal.id == CpdGoal.appraisal_id)
            .where(Appraisal.worker_id == worker.id, which)
            .order_by(CpdGoal.target_on)
        )
    )


@dataclass
class ActivityInput:
    """What the CPD activity form says; the service checks and cleans it."""

    done_on: date | None
    title: str = ""
    hours: str = ""
    learned: str = ""
    impact: str = ""
    goal_id: int | None = None
    competence_ids: list[int] = field(default_factory=list)


def logged_by_form(worker: User, form_key: str | None) -> CpdActivity | None:
    """The activity ``worker`` logged from the form with this one-time key, if she has (and it still exists)."""
    return idempotency.created_before(CpdActivity, form_key, worker)


@idempotency.creates(CpdActivity)
def log_activity(actor: User, data: ActivityInput, *, form_key: str | None = None) -> CpdActivity:
    """Add a CPD activity, linked to competences and to a plan goal.

    :raises FieldErrors: for a missing date, a future one or one before :data:`clock.EARLIEST_DAY`, no title, bad
        hours, or a goal or competence not the actor's: every field with a problem, in one answer.
    """
    if not actor.has_role(Role.WORKER) or actor.framework_id is None:
        abort(403)
    title, amount, learned, impact, competences = _checked_activity(actor, data)
    begin_write()
    idempotency.check(CpdActivity, form_key, actor)
    activity = CpdActivity(
        worker_id=actor.id,
        done_on=data.done_on,
        title=title,
        hours=amount,
        learned=learned,
        impact=impact,
        goal_id=data.goal_id or None,
    )
    activity.competences = [db.session.merge(c) for c in competences]
    db.session.add(activity)
    idempotency.remember(form_key, actor, activity)
    db.session.flush()
    # Logged, changed and deleted alike: the ledger says when each activity entered the log (an appraisal signed
    # after that reviewed it: signed_appraisals).
    ledger.record(actor, "cpd.activity_logged", f"user:{actor.id}", **_ledger_details(activity))
    db.session.commit()
    return activity


def problems_of_activity(actor: User, data: ActivityInput, keep: CpdActivity | None = None) -> dict[str, str]:
    """What :func:`log_activity` (or :func:`change_activity` of ``keep``) would refuse, field by field, writing
    nothing: for a form that refused a value itself (a date that is not a date), so that its page names every
    problem at once."""
    try:
        _checked_activity(actor, data, keep)
    except FieldError as error:
        return error.by_field()
    return {}


def _checked_activity(
    actor: User, data: ActivityInput, keep: CpdActivity | None = None
) -> tuple[str, Decimal, str, str, list[Competence]]:
    """An activity's values cleaned: its title, hours, what was learned, its impact and its competences.

    ``keep``: the activity being changed, whose goal and competences stay allowed though closed or retired since.

    :raises FieldErrors: naming every field with a problem, in the form's order.
    """
    done_on, goal_id, competence_ids = data.done_on, data.goal_id, data.competence_ids
    problems = Problems()  # in the form's order: the error summary lists them as the page does
    title = " ".join((data.title or "").split())
    if not title:
        problems.add("title", "Enter what the activity was")
    elif len(title) > 200:
        problems.add("title", "The title must be 200 characters or fewer")
    else:
        problems.check(lambda: anonymity.require_anonymous("title", "The title", title), None)
    if done_on is None:
        problems.add("done_on", "Enter the date of the activity")
    elif (wrong := done_on_problem(done_on)) is not None:
        problems.add("done_on", wrong)
    amount = problems.check(lambda: parse_hours(data.hours), Decimal(0))
    learned = problems.check(lambda: _text(data.learned, "learned", "What you learned"), "")
    if not learned and "learned" not in problems.errors:
        problems.add("learned", "Describe what you learned")
    impact = problems.check(lambda: _text(data.impact, "impact", "The impact"), "")
    if not impact and "impact" not in problems.errors:
        problems.add("impact", "Describe the impact on your practice")
    if goal_id and goal_id not in {g.id for g in open_goals(actor, keep)}:
        problems.add("goal_id", "Choose one of your open CPD goals")
    competences: list[Competence] = []
    if competence_ids:
        competences = list(
            db.session.scalars(select(Competence).where(Competence.id.in_(competence_ids), _linkable(actor, keep)))
        )
        if len(competences) != len(set(competence_ids)):
            problems.add("competence_ids", "Choose competences from your framework")
    problems.raise_if_any()
    return title, amount, learned, impact, competences


def _linkable(worker: User, keep: CpdActivity | None = None) -> ColumnElement[bool]:
    """The competences an activity can be linked to: its worker's framework's current ones, and with ``keep`` (an
    activity being changed) those it is linked to already."""
    current = and_(Competence.framework_id == worker.framework_id, Competence.retired_at.is_(None))
    kept = [c.id for c in keep.competences] if keep is not None else []
    return or_(current, Competence.id.in_(kept)) if kept else current


def competences_for(worker: User, keep: CpdActivity | None = None) -> list[Competence]:
    """The competences of the worker's framework, to link activities to (with ``keep``'s own, see :func:`_linkable`)."""
    return list(
        db.session.scalars(
            select(Competence)
            .where(_linkable(worker, keep))
            .options(db.joinedload(Competence.tier))  # the form groups them by tier
            .order_by(Competence.position)
        )
    )


def activities_of(worker: User) -> list[CpdActivity]:
    return list(
        db.session.scalars(
            select(CpdActivity)
            .where(CpdActivity.worker_id == worker.id)
            .options(db.selectinload(CpdActivity.competences), db.joinedload(CpdActivity.goal))
            .order_by(CpdActivity.done_on.desc(), CpdActivity.id.desc())
        ).unique()
    )


@dataclass(frozen=True)
class Reviewed:
    """The CPD an appraisal reviews: the activities done since the worker's previous appraisal (``since``, None
    for the first) up to its date, newest first, and their hours."""

    activities: list[CpdActivity]
    since: date | None

    @property
    def hours(self) -> Decimal:
        return sum((a.hours for a in self.activities), Decimal("0.00"))  # "0.00 hours", as "3.50 hours"


def reviewed_activities(appraisal: Appraisal) -> Reviewed:
    """What the appraisal reviews of the worker's CPD log, for whoever may read the appraisal (three queries:
    the appraisal before, the activities, their competences; the same however long the log).

    The log up to the appraisal's date, since the one before (as :func:`signed_appraisals` places an activity in
    the earliest appraisal on or after it): the appraiser reads what the worker did, not only the plan.
    """
    since = db.session.scalar(
        select(func.max(Appraisal.held_on)).where(
            Appraisal.worker_id == appraisal.worker_id, Appraisal.held_on < appraisal.held_on
        )
    )
    activities = db.session.scalars(
        select(CpdActivity)
        .where(
            CpdActivity.worker_id == appraisal.worker_id,
            CpdActivity.done_on <= appraisal.held_on,
            *([CpdActivity.done_on > since] if since is not None else []),
        )
        .options(db.selectinload(CpdActivity.competences), db.joinedload(CpdActivity.goal))
        .order_by(CpdActivity.done_on.desc(), CpdActivity.id.desc())
    ).unique()
    return Reviewed(list(activities), since)


@dataclass(frozen=True)
class YearOfCpd:
    """A calendar year's CPD hours: ``hours`` in all, of which ``from_certificates`` are the CPD hours of training
    certificates (the rest are activities in the CPD log)."""

    year: int
    hours: Decimal
    from_certificates: Decimal


def _certificates_with_hours(worker: User) -> list[ColumnElement[bool]]:
    """The worker's training certificates with CPD hours (an item has no deleted or withdrawn state: only a draft is
    deleted, and then it is gone; a withdrawn submission is a draft, or returned, again)."""
    return [Evidence.owner_id == worker.id, Evidence.kind == EvidenceKind.CERTIFICATE, Evidence.cpd_hours > 0]


def _counts_towards_cpd() -> ColumnElement[bool]:
    """Whether a certificate's CPD hours count (:func:`hours_by_year`): once someone other than her has seen it, as
    a supervisor or manager who checked it or through a review (any status but draft), and not sent back by a
    checker. Her year's CPD goes into the panel PDF, which holds no draft item; a draft nobody has checked is hers
    alone until then."""
    return and_(
        Evidence.sent_back_at.is_(None),
        Evidence.is_private.is_(False),
        or_(Evidence.checked_at.is_not(None), Evidence.status != EvidenceStatus.DRAFT),
    )


def hours_by_year(worker: User) -> list[YearOfCpd]:
    """The worker's CPD hours per calendar year, newest first (one query): the single source of every CPD total
    (the CPD page, the panel PDF).

    A year's hours are those of her CPD log's activities done in it and the CPD hours of her training certificates
    completed in it (``occurred_on``), those :func:`_counts_towards_cpd` counts. The same course logged both as an
    activity and as a certificate counts twice: the CPD page lists both, for her to see, and says how much came from
    certificates.
    """
    activities = select(
        extract("year", CpdActivity.done_on).label("year"),
        CpdActivity.hours.label("hours"),
        cast(literal_column("0"), CpdActivity.hours.type).label("from_certificates"),
    ).where(CpdActivity.worker_id == worker.id)
    certificates = select(extract("year", Evidence.occurred_on), Evidence.cpd_hours, Evidence.cpd_hours).where(
        *_certificates_with_hours(worker), _counts_towards_cpd()
    )
    both = union_all(activities, certificates).subquery()
    rows = db.session.execute(
        select(both.c.year, func.sum(both.c.hours), func.sum(both.c.from_certificates))
        .group_by(both.c.year)
        .order_by(both.c.year.desc())
    ).all()
    cents = Decimal("0.01")
    return [YearOfCpd(int(y), Decimal(h).quantize(cents), Decimal(c).quantize(cents)) for y, h, c in rows]


def certificates_with_hours(worker: User) -> list[Row]:
    """Her training certificates with CPD hours, newest first (one query): each one's ``id``, ``title``,
    ``occurred_on``, ``cpd_hours``, whether they count (``counts``: :func:`_counts_towards_cpd`) and whether a
    checker sent it back (``sent_back``)."""
    return list(
        db.session.execute(
            select(
                Evidence.id,
                Evidence.title,
                Evidence.occurred_on,
                Evidence.cpd_hours,
                _counts_towards_cpd().label("counts"),
                Evidence.sent_back_at.is_not(None).label("sent_back"),
            )
            .where(*_certificates_with_hours(worker))
            .order_by(Evidence.occurred_on.desc(), Evidence.id.desc())
        )
    )


# --- Changing and deleting an activity -----------------------------------------------------


class Signed(FieldError):
    """The activity is part of an appraisal both have signed: it stays as it was."""

    def __init__(self, appraisal: Appraisal):
        super().__init__(
            "activity",
            f"This activity is part of your {appraisal.year} appraisal, which you and your appraiser have signed: "
            "it cannot be changed or deleted",
        )


def get_activity_or_404(actor: User, activity_id: int) -> CpdActivity:
    """One of the actor's own CPD activities.

    :raises 404: for anyone else's, as for a missing one.
    """
    activity = db.session.get(CpdActivity, activity_id)
    if activity is None or activity.worker_id != actor.id:
        raise NotFoundHere(
            "This CPD activity is not in your log",
            "It may have been deleted, perhaps in another tab or window.",
            ("cpd.index", "See the activities in your CPD log"),
        )
    return activity


def _reviews(worker_id, done_on, logged_at) -> ColumnElement[bool]:
    """On Appraisal: signed by both, of the worker, and reviewing an activity done on ``done_on`` and logged at
    ``logged_at`` (columns or values): see :func:`signed_appraisals`."""
    return and_(
        Appraisal.worker_id == worker_id,
        Appraisal.held_on >= done_on,
        Appraisal.worker_signed_at.is_not(None),
        Appraisal.appraiser_signed_at.is_not(None),
        or_(Appraisal.worker_signed_at >= logged_at, Appraisal.appraiser_signed_at >= logged_at),
    )


def signed_appraisals(activities: list[CpdActivity]) -> dict[int, Appraisal]:
    """Activity id -> the appraisal, signed by both, that each activity is part of (one query).

    No signature binds an activity's own words (:func:`signed_content_hash` and the ledger bind the appraisal's
    texts and plan); what an appraisal reviews is the CPD log up to its date. So an activity is part of an appraisal
    signed by both when it was done on or before the appraisal's date and was already in the log when the
    appraisal was locked (its later signature). Activities logged after that stay the worker's to mend.
    """
    if not activities:
        return {}
    rows = db.session.execute(
        select(CpdActivity.id, Appraisal)
        .join(Appraisal, _reviews(CpdActivity.worker_id, CpdActivity.done_on, CpdActivity.created_at))
        .where(CpdActivity.id.in_([a.id for a in activities]))
        .order_by(Appraisal.held_on.desc())
    )
    return {activity_id: appraisal for activity_id, appraisal in rows}  # the earliest appraisal wins


def _locked_activity(actor: User, activity: CpdActivity, moved_to: date | None = None) -> CpdActivity:
    """The activity under a write lock, after the worker's appraisals (so that a signature cannot land between the
    check and the change).

    The appraisals first, in id order, then the activity: :func:`update_appraisal` locks its appraisal before the
    activities counting towards its goals, so neither waits for the other.

    :raises Signed: when it is part of an appraisal signed by both; :raises FieldError: on ``done_on`` when
        ``moved_to`` would put it in one (the transaction is rolled back).
    """
    begin_write()
    lock_all(select(Appraisal).where(Appraisal.worker_id == actor.id).order_by(Appraisal.id))
    activity = lock_or_404(CpdActivity, activity.id)
    if activity.worker_id != actor.id:
        db.session.rollback()
        abort(404)
    if signed := signed_appraisals([activity]).get(activity.id):
        db.session.rollback()
        raise Signed(signed)
    if moved_to is not None and (
        reviewed := db.session.scalar(
            select(Appraisal)
            .where(_reviews(actor.id, moved_to, activity.created_at))
            .order_by(Appraisal.held_on.desc())
            .limit(1)
        )
    ):
        db.session.rollback()
        raise FieldError(
            "done_on",
            f"Your {reviewed.year} appraisal, which you and your appraiser have signed, reviewed your CPD up to "
            f"{long_date(reviewed.held_on)}: the date must be after it",
        )
    return activity


def change_activity(actor: User, activity: CpdActivity, data: ActivityInput) -> CpdActivity:
    """Correct one of the actor's CPD activities.

    :raises FieldErrors: as :func:`log_activity` does; :raises Signed: when it is part of a signed appraisal.
    """
    title, amount, learned, impact, competences = _checked_activity(actor, data, activity)
    activity = _locked_activity(actor, activity, moved_to=data.done_on)
    assert data.done_on is not None  # checked above
    activity.done_on, activity.title, activity.hours = data.done_on, title, amount
    activity.learned, activity.impact, activity.goal_id = learned, impact, data.goal_id or None
    activity.competences = [db.session.merge(c) for c in competences]
    ledger.record(actor, "cpd.activity_changed", f"user:{activity.worker_id}", **_ledger_details(activity))
    db.session.commit()
    return activity


def delete_activity(actor: User, activity: CpdActivity) -> None:
    """Delete one of the actor's CPD activities with its links to competences.

    :raises Signed: when it is part of a signed appraisal (nothing written).
    """
    activity = _locked_activity(actor, activity)
    ledger.record(actor, "cpd.activity_deleted", f"user:{activity.worker_id}", **_ledger_details(activity))
    db.session.delete(activity)
    db.session.commit()


def _ledger_details(activity: CpdActivity) -> dict[str, object]:
    """What the ledger says of an activity: no words of the worker's, only its id, date and hours."""
    return {"activity_id": activity.id, "done_on": activity.done_on.isoformat(), "hours": str(activity.hours)}
