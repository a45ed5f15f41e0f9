"""The rules, in one place: a competence's status, readiness for a tier, a requirement's state.

Every page, document and CSV asks these functions; none re-derives them.

- **Met**: accepted, in signed-off decisions, on at least ``required_count``
  different items.
- **In progress**: evidence linked, not yet accepted enough times.
- **Not started**: nothing linked.
- **Ready for a tier**: every competence of that tier and of the tiers before
  it met, and every mandatory requirement verified and in date.
- **A requirement** is *verified* (its newest verification has not expired),
  *lapsed* (it has) or *missing* (never verified).

Evidence counts for a statement across versions of its framework: it is
matched by the statement's stable ``ref`` (within the worker's own framework).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal, TypeVar

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Date,
    Select,
    SQLColumnExpression,
    and_,
    bindparam,
    distinct,
    false,
    func,
    null,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import aliased, joinedload, load_only

from ..extensions import db
from ..frameworks.structure import FrozenCompetence, FrozenRequirement, FrozenTier, structures
from ..models import (
    Competence,
    CompetenceDecision,
    Decision,
    DecisionOutcome,
    Evidence,
    EvidenceKind,
    EvidenceLink,
    EvidenceStatus,
    Framework,
    Requirement,
    RequirementVerification,
    Tier,
    User,
)
from . import versions

# A framework's tiers, as rows (to write with) or as the structure kept between requests (to read).
TierT = TypeVar("TierT", Tier, FrozenTier)


class CompetenceStatus(enum.StrEnum):
    NOT_STARTED = "not-started"
    IN_PROGRESS = "in-progress"
    MET = "met"

    @property
    def label(self) -> str:
        return {"not-started": "Not started", "in-progress": "In progress", "met": "Met"}[self.value]


def status_of(accepted: int, linked: int, required: int) -> CompetenceStatus:
    """The rule itself: met (:func:`is_met`), else in progress once anything is linked."""
    if is_met(accepted, required):
        return CompetenceStatus.MET
    if linked > 0:
        return CompetenceStatus.IN_PROGRESS
    return CompetenceStatus.NOT_STARTED


def is_met(accepted: int, required: int) -> bool:
    """Met: at least as many items accepted for the statement as it requires.

    A plain comparison (team pages ask it for every worker and every statement of their next tier).
    """
    return accepted >= required


# --- Counting, by statement ref -------------------------------------------------------------


# The owner's framework and the statement's, compared by key. Aliased once, here: building an alias of a
# mapped class (a proxy for each of its columns) cost more than the rest of a counting query, and every
# query below used to build two.
_OWN_FRAMEWORK = aliased(Framework, name="own_framework")
_LINKED_FRAMEWORK = aliased(Framework, name="linked_framework")


def _in_own_framework(query: Select) -> Select:
    """Keep links to statements of the owner's framework, whichever version (joined on Competence).

    For a query over all of an owner's items (her counts); one that starts from a few given items or from one
    statement asks :func:`own_framework_versions` or :func:`statement_versions`, the same rule as a list of ids.
    """
    return (
        query.join(User, User.id == Evidence.owner_id)
        .join(_OWN_FRAMEWORK, _OWN_FRAMEWORK.id == User.framework_id)
        .join(_LINKED_FRAMEWORK, _LINKED_FRAMEWORK.id == Competence.framework_id)
        .where(_LINKED_FRAMEWORK.key == _OWN_FRAMEWORK.key)
    )


def own_framework_versions(owner_id: int | BindParameter[int]) -> Select[int]:
    """The ids of every version of the owner's framework (the frameworks sharing its key), as a subquery.

    The rule of :func:`_in_own_framework` for a query that starts elsewhere. Joined like that, the framework
    chose the plan: SQLite found which of a page's 25 items a sign-off accepted by walking every decision of
    the framework, everyone's (3.6 ms on the benchmark's data; 0.1 ms from the items' decisions).
    """
    own_key = (
        select(_OWN_FRAMEWORK.key)
        .join(User, User.framework_id == _OWN_FRAMEWORK.id)
        .where(User.id == owner_id)
        .correlate(None)
        .scalar_subquery()
    )
    return select(Framework.id).where(Framework.key == own_key).correlate(None)


def statement_versions(owner_id: int | BindParameter[int], ref: str | BindParameter[str]) -> Select[int]:
    """The ids of the statement ``ref`` on every version of the owner's framework, as a subquery: her links to
    it are the links to these (a few rows from an index, not a walk through all her items)."""
    return (
        select(Competence.id)
        .where(Competence.ref == ref, Competence.framework_id.in_(own_framework_versions(owner_id)))
        .correlate(None)
    )


def _accepted_decisions(*columns) -> Select:
    """Signed-off decisions that accepted a competence, joined to the item and the competence (any framework)."""
    return (
        select(*columns)
        .select_from(Evidence)
        .join(Decision, Decision.evidence_id == Evidence.id)
        .join(CompetenceDecision, CompetenceDecision.decision_id == Decision.id)
        .join(Competence, Competence.id == CompetenceDecision.competence_id)
        .where(Decision.outcome == DecisionOutcome.SIGNED_OFF, CompetenceDecision.accepted.is_(True))
    )


def accepted_query(*columns) -> Select:
    """Signed-off decisions that accepted a competence of the owner's framework, joined to the item and the
    competence."""
    return _in_own_framework(_accepted_decisions(*columns))


def accepted_pairs(worker: User, evidence_ids: list[int]) -> set[tuple[int, str]]:
    """(item id, competence ref) for each of ``evidence_ids`` and each competence of the worker's framework a
    sign-off of it accepted: what a list of items under a statement marks as counting for it (one query, read
    from the items' own decisions). ``evidence_ids`` must be hers: it is not checked again here."""
    if not evidence_ids:
        return set()
    # Not "and hers" again: the callers' ids come from lists read by her ownership. Asked here, it made PostgreSQL
    # read all 2,000 of her items to find these few (0.45 ms prepared against 1.5 for the old query, 3.0 with
    # the condition, whose kept plan cannot know how many items she has).
    statement = _accepted_decisions(Decision.evidence_id, Competence.ref).where(
        Decision.evidence_id.in_(evidence_ids), Competence.framework_id.in_(own_framework_versions(worker.id))
    )
    return {(evidence_id, ref) for evidence_id, ref in db.session.execute(statement.distinct())}


def linked_query(*columns) -> Select:
    """Items linked to competences, joined to the competence."""
    return _in_own_framework(
        select(*columns)
        .select_from(Evidence)
        .join(EvidenceLink, EvidenceLink.evidence_id == Evidence.id)
        .join(Competence, Competence.id == EvidenceLink.competence_id)
    )


def _accepted_counts_query(worker_ids: list[int], *columns) -> Select:
    return (
        accepted_query(Evidence.owner_id, Competence.ref, *columns, func.count(distinct(Decision.evidence_id)))
        .where(Evidence.owner_id.in_(worker_ids))
        .group_by(Evidence.owner_id, Competence.ref)
    )


def _linked_counts_query(worker_ids: list[int]) -> Select:
    is_note = (Evidence.kind == EvidenceKind.SUPERVISION_NOTE).label("is_note")
    return (
        linked_query(Evidence.owner_id, Competence.ref, Evidence.status, is_note, func.count(distinct(Evidence.id)))
        .where(Evidence.owner_id.in_(worker_ids))
        .group_by(Evidence.owner_id, Competence.ref, Evidence.status, is_note)
    )


def accepted_counts(worker_ids: list[int]) -> dict[tuple[int, str], int]:
    """(worker, competence ref) -> how many different items had it accepted in a sign-off."""
    return counts(worker_ids).accepted


# Where a statement's linked counts put supervision notes: a note is never sent for review, so its status stays
# the one it was written with ("draft") and would be counted as a draft; pages call them supervision notes.
SUPERVISION_NOTES: Literal["supervision-notes"] = "supervision-notes"
LinkedBy = EvidenceStatus | Literal["supervision-notes"]


def linked_counts(worker_ids: list[int]) -> dict[tuple[int, str], dict[LinkedBy, int]]:
    """(worker, competence ref) -> how many of their items are linked to it, by the items' status (supervision
    notes by themselves, under :data:`SUPERVISION_NOTES`)."""
    return counts(worker_ids).linked


@dataclass
class Counts:
    """Per (worker, competence ref): items linked, by status (notes apart), and items accepted in a sign-off."""

    linked: dict[tuple[int, str], dict[LinkedBy, int]]
    accepted: dict[tuple[int, str], int]


@dataclass(frozen=True)
class _WorkerCounts:
    """One worker's counts, by competence ref, kept between requests (progress/versions.py): never changed."""

    linked: dict[str, dict[LinkedBy, int]]
    accepted: dict[str, int]


def counts(worker_ids: list[int]) -> Counts:
    """Linked and accepted counts for ``worker_ids``: kept per worker until their portfolio changes.

    Computed for the workers not kept in one query (two queries in all, with the version tokens, which a
    transaction reads once).
    """
    result = Counts({}, {})
    for owner, kept in _kept_counts(worker_ids).items():
        for ref, by_status in kept.linked.items():
            result.linked[(owner, ref)] = dict(by_status)
        for ref, n in kept.accepted.items():
            result.accepted[(owner, ref)] = n
    return result


def _kept_counts(worker_ids: list[int]) -> dict[int, _WorkerCounts]:
    """Each worker's counts as this process keeps them (read-only: shared between requests)."""
    return versions.cached("counts", worker_ids, _count)


def _count(worker_ids: list[int]) -> dict[int, _WorkerCounts]:
    """The linked and accepted counts of ``worker_ids``, in one query.

    The two aggregates travel as one UNION ALL; an accepted row is told apart by its empty status.
    """
    query = _linked_counts_query(worker_ids).union_all(
        _accepted_counts_query(worker_ids, type_coerce(null(), Evidence.status.type), false())
    )
    found = {owner: _WorkerCounts({}, {}) for owner in worker_ids}
    for owner, ref, status, is_note, n in db.session.execute(query):
        if status is None:
            found[owner].accepted[ref] = n
        else:
            by = found[owner].linked.setdefault(ref, {})
            key: LinkedBy = SUPERVISION_NOTES if is_note else EvidenceStatus(status)
            by[key] = by.get(key, 0) + n  # notes of any status: one count
    return found


def unmet_count(worker: User, framework_id: int) -> int | None:
    """How many active statements of the framework ``worker`` has not met; None when it has none (one query).

    A sign-off calls this to see whether it completed a role profile: numbers
    per statement, never the tree itself.
    """
    accepted = (
        accepted_query(Competence.ref.label("ref"), func.count(distinct(Decision.evidence_id)).label("n"))
        .where(Evidence.owner_id == worker.id)
        .group_by(Competence.ref)
        .subquery()
    )
    rows = db.session.execute(
        select(Competence.required_count, func.coalesce(accepted.c.n, 0))
        .outerjoin(accepted, accepted.c.ref == Competence.ref)
        .where(Competence.framework_id == framework_id, Competence.retired_at.is_(None))
    ).all()
    if not rows:
        return None
    return sum(1 for required, n in rows if not is_met(n, required))


# --- Tiers and readiness --------------------------------------------------------------------


def required_for(
    tier: Tier | FrozenTier, tiers: Sequence[FrozenTier], competences: Sequence[FrozenCompetence]
) -> list[FrozenCompetence]:
    """Everything a worker must meet to hold ``tier``: its competences and those of every tier before it.

    For a role profile (one tier) that is every core, role-specific and
    active locality-specific competence.
    """
    positions = {t.id: t.position for t in tiers}
    return [
        c
        for c in competences
        if c.framework_id == tier.framework_id
        and c.retired_at is None
        and positions.get(c.tier_id, 10**6) <= tier.position
    ]


def next_tier(worker: User, tiers: Sequence[TierT]) -> TierT | None:
    """The tier after the worker's current one; their own tier on a single-tier profile; None at the top."""
    if worker.tier_id is None:
        return None
    own = sorted((t for t in tiers if t.framework_id == worker.framework_id), key=lambda t: t.position)
    if len(own) == 1:
        return own[0]
    current = next((t.position for t in own if t.id == worker.tier_id), None)
    if current is None:  # the worker's tier belongs to another version of the framework: load it
        tier = worker.tier
        assert tier is not None  # tier_id is set
        current = tier.position
    later = [t for t in own if t.position > current]
    return later[0] if later else None


# --- Requirements ---------------------------------------------------------------------------


@dataclass
class RequirementState:
    requirement: FrozenRequirement
    verification: RequirementVerification | None
    state: str  # "verified", "lapsed" or "missing"

    @property
    def in_date(self) -> bool:
        return self.state == "verified"


def requirement_state(verification: RequirementVerification | None, on: date) -> str:
    """ "verified", "lapsed" or "missing": the state of a requirement whose newest verification is ``verification``."""
    if verification is None:
        return "missing"
    if verification.expires_on is not None and verification.expires_on < on:
        return "lapsed"
    return "verified"


def newest_verifications(
    worker_ids: list[int], refs: list[str] | None = None, *, with_verifier: bool = False
) -> dict[tuple[int, str], RequirementVerification]:
    """(worker, requirement ref) -> their newest verification, across framework versions (one query, reading
    only the newest of each: a worker's history of renewals is not loaded). ``with_verifier``: who verified each
    is read in the same query, for a page that names them."""
    parameters: dict[str, list] = {"worker_ids": worker_ids} | ({"refs": refs} if refs is not None else {})
    statement = _newest_verifications_statement(refs is not None, with_verifier)
    return {
        (verification.worker_id, ref): verification for verification, ref in db.session.execute(statement, parameters)
    }


@functools.cache
def _newest_verifications_statement(of_some_refs: bool, with_verifier: bool) -> Select:
    """Built once per process (the progress pages and the manager's lists ask for it on every view)."""
    refs: BindParameter | None = bindparam("refs", expanding=True) if of_some_refs else None
    ranked = _ranked_verifications(bindparam("worker_ids", expanding=True), refs)
    statement = (
        select(RequirementVerification, ranked.c.ref)
        .join(ranked, ranked.c.id == RequirementVerification.id)
        .where(ranked.c.rank == 1)
    )
    return statement.options(joinedload(RequirementVerification.verified_by)) if with_verifier else statement


def lapsed_sql(expires_on: SQLColumnExpression[date | None], on: SQLColumnExpression[date]) -> ColumnElement[bool]:
    """:func:`requirement_state`'s "lapsed" in SQL, on the newest verification's ``expires_on``."""
    return and_(expires_on.is_not(None), expires_on < on)


def requirement_problem_sql(
    verification_id: SQLColumnExpression, expires_on: SQLColumnExpression[date | None], on: SQLColumnExpression[date]
) -> ColumnElement[bool]:
    """:func:`requirement_state` other than "verified" in SQL: "missing" (no newest verification: an outer join's
    NULL ``verification_id``) or "lapsed"."""
    return or_(verification_id.is_(None), lapsed_sql(expires_on, on))


@dataclass(frozen=True)
class LapsingRequirement:
    worker_id: int
    worker_name: str
    statement: str
    expires_on: date
    lapsed: bool  # on the day asked about (else it lapses by the day given as ``until``)


def lapsing_requirements(
    workers: Select, parameters: dict[str, object], on: date, *, until: date | None = None
) -> list[LapsingRequirement]:
    """The requirements of the workers ``workers`` selects (their ids) whose newest verification has lapsed on
    ``on`` or, with ``until``, lapses by then: one query, whatever the number of workers, reading none of the
    verifications that are in date. The statement is kept per process for each ``workers``."""
    cutoff = until + timedelta(days=1) if until is not None else on
    rows = db.session.execute(_lapsing_statement(workers), {**parameters, "as_of": on, "cutoff": cutoff})
    return [LapsingRequirement(*row) for row in rows]


@functools.cache
def workers_with_a_lapsed_requirement() -> Select:
    """The ids of the workers with a requirement lapsed on the bound "as_of" (bind "cutoff" to the same day),
    for ``User.id.in_(...)``: a list filtered and paged in SQL."""
    lapsing = _lapsing_statement(None).subquery()
    return select(lapsing.c.id).distinct()


@functools.cache
def workers_never_verified() -> Select:
    """The ids of the workers with a requirement of their framework that nobody has ever verified (by its ref, in
    any framework version: :func:`requirement_state`'s "missing"), for ``User.id.in_(...)``. No parameters."""
    verified = aliased(Requirement)
    return (
        select(User.id)
        .join(Requirement, Requirement.framework_id == User.framework_id)
        .where(
            ~select(RequirementVerification.id)
            .join(verified, verified.id == RequirementVerification.requirement_id)
            .where(RequirementVerification.worker_id == User.id, verified.ref == Requirement.ref)
            .exists()
        )
        .distinct()
    )


def ready_workers(candidates: Select, parameters: dict[str, object], on: date) -> list[User]:
    """Of the workers ``candidates`` selects (User rows, in order, with no loader options), those ready for their
    next tier on ``on`` (:func:`is_ready`), in the same order.

    A worker with a requirement not verified or lapsed is left out in SQL; the met counts, kept per worker
    (:func:`next_tier_progress`), decide the rest. The workers are read in part, only what those counts need
    (a whole row with its tier and framework costs six times as much): read the ones shown whole.
    """
    query = candidates.where(User.id.not_in(_workers_with_a_requirement_problem())).options(
        load_only(User.id, User.tier_id, User.framework_id)
    )
    workers = db.session.scalars(query, {**parameters, "as_of": on}).all()
    progress = next_tier_progress(workers)
    return [w for w in workers if is_ready(progress[w.id].tier, progress[w.id].required - progress[w.id].met, 0)]


@functools.cache
def _workers_with_a_requirement_problem() -> Select:
    """The ids of the active workers with a requirement of their framework in another state than "verified" on
    the bound "as_of"."""
    newest = _ranked_verifications(select(User.id).where(User.is_worker.is_(True), User.active.is_(True)))
    return (
        select(User.id)
        .join(Requirement, Requirement.framework_id == User.framework_id)
        .outerjoin(newest, and_(newest.c.worker_id == User.id, newest.c.ref == Requirement.ref, newest.c.rank == 1))
        .where(requirement_problem_sql(newest.c.worker_id, newest.c.expires_on, bindparam("as_of", type_=Date())))
        .distinct()
    )


# Which verification of a requirement counts: the latest verified, and of one day the last recorded. Every
# reading of "the newest" ranks by this, in SQL.
_NEWEST_FIRST = (RequirementVerification.verified_on.desc(), RequirementVerification.id.desc())


def _ranked_verifications(chosen: Select | BindParameter | None, refs: BindParameter | None = None):
    """Each worker's verifications of each requirement ref ranked newest first (rank 1: the newest, across
    framework versions, by ``_NEWEST_FIRST``); of the workers ``chosen`` selects (or lists), or everyone's; of the
    refs ``refs`` lists, or every ref."""
    where = [RequirementVerification.worker_id.in_(chosen)] if chosen is not None else []
    if refs is not None:
        where.append(Requirement.ref.in_(refs))
    return (
        select(
            RequirementVerification.id,
            RequirementVerification.worker_id,
            Requirement.ref,
            RequirementVerification.expires_on,
            func.row_number()
            .over(partition_by=(RequirementVerification.worker_id, Requirement.ref), order_by=_NEWEST_FIRST)
            .label("rank"),
        )
        .join(Requirement, Requirement.id == RequirementVerification.requirement_id)
        .where(*where)
        .subquery()
    )


@functools.lru_cache(maxsize=16)  # a few kept statements; bounded should a caller build one per call
def _lapsing_statement(workers: Select | None) -> Select:
    """Each worker's newest verification of each requirement ref (across framework versions, ranked by
    ``_NEWEST_FIRST``), joined to the requirement of their framework, when it has lapsed by the
    bound "cutoff" (and whether by "as_of"). Built once per ``workers`` (a statement its caller keeps; None: every
    user)."""
    chosen = workers.correlate(None) if workers is not None else None  # never tied to an enclosing query's users
    ranked = _ranked_verifications(chosen)
    return (
        select(
            User.id,
            User.name,
            Requirement.statement,
            ranked.c.expires_on,
            lapsed_sql(ranked.c.expires_on, bindparam("as_of", type_=Date())),
        )
        .join(Requirement, Requirement.framework_id == User.framework_id)
        .join(ranked, and_(ranked.c.worker_id == User.id, ranked.c.ref == Requirement.ref, ranked.c.rank == 1))
        .where(
            *([User.id.in_(chosen)] if chosen is not None else []),
            lapsed_sql(ranked.c.expires_on, bindparam("cutoff", type_=Date())),
        )
        .order_by(ranked.c.expires_on, User.name, User.id, Requirement.position)
    )


def requirement_states(worker: User, requirements: Sequence[FrozenRequirement], on: date) -> list[RequirementState]:
    """Each requirement's newest verification for the worker, and whether it is in date (one query)."""
    refs = [r.ref for r in requirements]
    newest = newest_verifications([worker.id], refs, with_verifier=True) if requirements else {}
    states = []
    for requirement in requirements:
        verification = newest.get((worker.id, requirement.ref))
        states.append(RequirementState(requirement, verification, requirement_state(verification, on)))
    return states


def is_ready(tier: FrozenTier | None, competences_missing: int, requirement_problems: int) -> bool:
    """Ready for ``tier``: nothing left to meet and every requirement verified and in date."""
    return tier is not None and competences_missing == 0 and requirement_problems == 0


@dataclass
class Readiness:
    tier: FrozenTier | None
    missing: list  # areas (frameworks.tree.Area) holding the rows not yet met
    requirements: list[RequirementState]

    @property
    def missing_count(self) -> int:
        return sum(a.total for a in self.missing)

    @property
    def requirement_problems(self) -> list[RequirementState]:
        return [r for r in self.requirements if not r.in_date]

    @property
    def ready(self) -> bool:
        return is_ready(self.tier, self.missing_count, len(self.requirement_problems))


# --- Many workers at once (the team and overview pages) --------------------------------------


@dataclass(frozen=True)
class TierProgress:
    tier: FrozenTier | None
    met: int
    required: int
    # Who it was worked out for: the worker's tier and framework then (see next_tier_progress).
    for_tier_id: int | None = None
    for_framework_id: int | None = None


def next_tier_progress(workers: Sequence[User]) -> dict[int, TierProgress]:
    """For each worker, how many competences of their next tier are met.

    Kept per worker until their portfolio, their tier or framework, or a framework changes (progress/versions.py):
    the workers list's "ready" filter asks it of every worker of the service. One query when this process has
    kept them all (the tokens); six at most. The workers' rows were read before the tokens, so an answer kept
    for another tier or framework than the worker's row now shows is worked out again.
    """
    by_id = {w.id: w for w in workers}

    def for_this_row(worker_id: int, kept: TierProgress) -> bool:
        worker = by_id[worker_id]
        return (kept.for_tier_id, kept.for_framework_id) == (worker.tier_id, worker.framework_id)

    return versions.cached(
        "next-tier", by_id, lambda ids: _next_tier_progress([by_id[i] for i in ids]), still_valid=for_this_row
    )


def _next_tier_progress(workers: Sequence[User]) -> dict[int, TierProgress]:
    framework_ids = {w.framework_id for w in workers if w.framework_id}
    if not framework_ids:
        return {w.id: TierProgress(None, 0, 0, w.tier_id, w.framework_id) for w in workers}
    counted = _kept_counts([w.id for w in workers])  # first: it reads the frameworks' token too
    kept = structures(sorted(framework_ids))
    tiers = [t for s in kept.values() for t in s.tiers]
    competences = [c for s in kept.values() for c in s.competences]
    # Workers share a few target tiers: each one's statements, as (ref, items required), worked out once.
    # A team page asks this for some 20 workers and 80 statements each, so the loop reads plain values.
    required_by_tier: dict[int, list[tuple[str, int]]] = {}
    result: dict[int, TierProgress] = {}
    for worker in workers:
        worker_id = worker.id
        target = next_tier(worker, tiers)
        if target is None:
            result[worker_id] = TierProgress(None, 0, 0, worker.tier_id, worker.framework_id)
            continue
        if target.id not in required_by_tier:
            required_by_tier[target.id] = [(c.ref, c.required_count) for c in required_for(target, tiers, competences)]
        required = required_by_tier[target.id]
        accepted = counted[worker_id].accepted
        met = sum(1 for ref, needed in required if is_met(accepted.get(ref, 0), needed))
        result[worker_id] = TierProgress(target, met, len(required), worker.tier_id, worker.framework_id)
    return result
