"""The one rule for a competence's status, derived from decisions (never stored).

- **Met**: accepted, in signed-off decisions, on at least ``required_count``
  different items.
- **In progress**: evidence linked, not yet accepted enough times.
- **Not started**: nothing linked.

Evidence counts for a statement across versions of its framework: it is
matched by the statement's stable ``ref``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import distinct, func, select

from ..extensions import db
from ..models import (
    Competence,
    CompetenceDecision,
    Decision,
    DecisionOutcome,
    Evidence,
    EvidenceLink,
    Tier,
    User,
)


class CompetenceStatus(str, enum.Enum):
    NOT_STARTED = "not-started"
    IN_PROGRESS = "in-progress"
    MET = "met"

    @property
    def label(self) -> str:
        return {"not-started": "Not started", "in-progress": "In progress", "met": "Met"}[self.value]


def status_of(accepted: int, linked: int, required: int) -> CompetenceStatus:
    """The rule itself."""
    if accepted >= required:
        return CompetenceStatus.MET
    if linked > 0:
        return CompetenceStatus.IN_PROGRESS
    return CompetenceStatus.NOT_STARTED


def accepted_counts(worker_ids: list[int]) -> dict[tuple[int, str], int]:
    """(worker, competence ref) -> how many items had it accepted in a sign-off (one query)."""
    rows = db.session.execute(
        select(Evidence.owner_id, Competence.ref, func.count(distinct(Decision.evidence_id)))
        .join(Decision, Decision.evidence_id == Evidence.id)
        .join(CompetenceDecision, CompetenceDecision.decision_id == Decision.id)
        .join(Competence, Competence.id == CompetenceDecision.competence_id)
        .where(
            Evidence.owner_id.in_(worker_ids),
            Decision.outcome == DecisionOutcome.SIGNED_OFF,
            CompetenceDecision.accepted.is_(True),
        )
        .group_by(Evidence.owner_id, Competence.ref)
    ).all()
    return {(owner, ref): n for owner, ref, n in rows}


def linked_counts(worker_ids: list[int]) -> dict[tuple[int, str], int]:
    """(worker, competence ref) -> how many of their items are linked to it (one query)."""
    rows = db.session.execute(
        select(Evidence.owner_id, Competence.ref, func.count(distinct(Evidence.id)))
        .join(EvidenceLink, EvidenceLink.evidence_id == Evidence.id)
        .join(Competence, Competence.id == EvidenceLink.competence_id)
        .where(Evidence.owner_id.in_(worker_ids))
        .group_by(Evidence.owner_id, Competence.ref)
    ).all()
    return {(owner, ref): n for owner, ref, n in rows}


def required_for(tier: Tier, tiers: list[Tier], competences: list[Competence]) -> list[Competence]:
    """Everything a worker must meet to hold ``tier``: its competences and those of every tier before it.

    For a role profile (one tier) that is every core, role-specific and
    active locality-specific competence.
    """
    positions = {t.id: t.position for t in tiers}
    return [
        c
        for c in competences
        if c.framework_id == tier.framework_id and c.retired_at is None and positions.get(c.tier_id, 10**6) <= tier.position
    ]


def next_tier(worker: User, tiers: list[Tier]) -> Tier | None:
    """The tier after the worker's current one; their own tier on a single-tier profile; None at the top."""
    if worker.tier is None:
        return None
    own = sorted((t for t in tiers if t.framework_id == worker.framework_id), key=lambda t: t.position)
    if len(own) == 1:
        return own[0]
    later = [t for t in own if t.position > worker.tier.position]
    return later[0] if later else None


@dataclass
class TierProgress:
    tier: Tier | None
    met: int
    required: int


def next_tier_progress(workers: list[User]) -> dict[int, TierProgress]:
    """For each worker, how many competences of their next tier are met (four queries in all)."""
    framework_ids = {w.framework_id for w in workers if w.framework_id}
    if not framework_ids:
        return {w.id: TierProgress(None, 0, 0) for w in workers}
    tiers = db.session.scalars(select(Tier).where(Tier.framework_id.in_(framework_ids))).all()
    competences = db.session.scalars(
        select(Competence).where(Competence.framework_id.in_(framework_ids), Competence.retired_at.is_(None))
    ).all()
    accepted = accepted_counts([w.id for w in workers])
    result: dict[int, TierProgress] = {}
    for worker in workers:
        target = next_tier(worker, tiers)
        if target is None:
            result[worker.id] = TierProgress(None, 0, 0)
            continue
        required = required_for(target, tiers, competences)
        met = sum(1 for c in required if accepted.get((worker.id, c.ref), 0) >= c.required_count)
        result[worker.id] = TierProgress(target, met, len(required))
    return result
