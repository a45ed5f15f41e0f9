"""What each kind of ledger row binds: one binder per record type, in one place.

A binder reads records from the live tables and returns each one's canonical
content (ids, outcomes, accepted flags, hashes, dates, actors; free text only
as a keyed digest, so the ledger never copies a note or a comment). The same
function runs when a row is recorded and when ``verify`` recomputes it, so the
two can never drift. Each binder answers in a fixed number of queries, however
many records it is asked about.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

from flask import current_app
from sqlalchemy import select

from ..extensions import db
from ..models import (
    Appraisal,
    CompetenceDecision,
    CpdGoal,
    Decision,
    NoteReview,
    PromotionDecision,
    PromotionRecommendation,
    PromotionRequest,
    RequirementVerification,
    SupervisionAssignment,
    TierChange,
)

Content = dict[str, Any]


def timestamp(value: datetime) -> str:
    """UTC, without offset: SQLite hands back naive datetimes, PostgreSQL aware ones."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds")


def canonical(value: Any) -> Any:
    """A JSON-ready value that reads the same from SQLite and PostgreSQL."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def canonical_json(content: Content) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_hash(content: Content) -> str:
    return hashlib.sha256(canonical_json(content)).hexdigest()


def text_digest(value: str | None) -> str:
    """Free text bound by a keyed digest: a changed comment shows, the words stay out of the ledger."""
    return hmac.new(
        current_app.config["AUDIT_KEY"].encode(), b"text:" + (value or "").encode(), hashlib.sha256
    ).hexdigest()


def _where_id(column, ids: Iterable[int] | None):
    return True if ids is None else column.in_(list(ids))


def _rows(query) -> list:
    return list(db.session.execute(query))


# --- the binders -------------------------------------------------------------------------


def decisions(ids: Iterable[int] | None) -> dict[int, Content]:
    """A supervisor's decision with the outcome for each competence (two queries)."""
    found = {
        row.id: {
            "submission": row.submission_id,
            "evidence": row.evidence_id,
            "supervisor": row.supervisor_id,
            "outcome": canonical(row.outcome),
            "comment": text_digest(row.comment),
            "evidence_hash": row.content_hash,
            "decided_at": canonical(row.decided_at),
            "competences": [],
        }
        for row in _rows(
            select(
                Decision.id,
                Decision.submission_id,
                Decision.evidence_id,
                Decision.supervisor_id,
                Decision.outcome,
                Decision.comment,
                Decision.content_hash,
                Decision.decided_at,
            ).where(_where_id(Decision.id, ids))
        )
    }
    for row in _rows(
        select(
            CompetenceDecision.decision_id,
            CompetenceDecision.competence_id,
            CompetenceDecision.accepted,
            CompetenceDecision.comment,
        )
        .where(_where_id(CompetenceDecision.decision_id, ids))
        .order_by(CompetenceDecision.decision_id, CompetenceDecision.competence_id)
    ):
        if row.decision_id in found:
            found[row.decision_id]["competences"].append(
                {"competence": row.competence_id, "accepted": bool(row.accepted), "comment": text_digest(row.comment)}
            )
    return found


def note_reviews(ids: Iterable[int] | None) -> dict[int, Content]:
    """A supervisor's confirmation or dispute of a supervision note (one query)."""
    return {
        row.id: {
            "evidence": row.evidence_id,
            "supervisor": row.supervisor_id,
            "outcome": canonical(row.outcome),
            "comment": text_digest(row.comment),
            "evidence_hash": row.content_hash,
            "at": canonical(row.at),
        }
        for row in _rows(
            select(
                NoteReview.id,
                NoteReview.evidence_id,
                NoteReview.supervisor_id,
                NoteReview.outcome,
                NoteReview.comment,
                NoteReview.content_hash,
                NoteReview.at,
            ).where(_where_id(NoteReview.id, ids))
        )
    }


def requirement_verifications(ids: Iterable[int] | None) -> dict[int, Content]:
    """A manager's check of a mandatory requirement (one query)."""
    return {
        row.id: {
            "worker": row.worker_id,
            "requirement": row.requirement_id,
            "verified_by": row.verified_by_id,
            "verified_on": canonical(row.verified_on),
            "expires_on": canonical(row.expires_on),
            "note": text_digest(row.note),
        }
        for row in _rows(
            select(
                RequirementVerification.id,
                RequirementVerification.worker_id,
                RequirementVerification.requirement_id,
                RequirementVerification.verified_by_id,
                RequirementVerification.verified_on,
                RequirementVerification.expires_on,
                RequirementVerification.note,
            ).where(_where_id(RequirementVerification.id, ids))
        )
    }


def promotion_requests(ids: Iterable[int] | None) -> dict[int, Content]:
    """A worker's request to move to a tier, and its withdrawal (one query).

    The withdrawal is bound only once made, so the requests recorded before it existed keep their content.
    """
    return {
        row.id: {
            "worker": row.worker_id,
            "from_tier": row.from_tier_id,
            "target_tier": row.target_tier_id,
            "requested_at": canonical(row.requested_at),
        }
        | ({"withdrawn_at": canonical(row.withdrawn_at)} if row.withdrawn_at is not None else {})
        for row in _rows(
            select(
                PromotionRequest.id,
                PromotionRequest.worker_id,
                PromotionRequest.from_tier_id,
                PromotionRequest.target_tier_id,
                PromotionRequest.requested_at,
                PromotionRequest.withdrawn_at,
            ).where(_where_id(PromotionRequest.id, ids))
        )
    }


def promotion_recommendations(ids: Iterable[int] | None) -> dict[int, Content]:
    """A supervisor's recommendation on a promotion request (one query)."""
    return {
        row.id: {
            "request": row.request_id,
            "supervisor": row.supervisor_id,
            "supports": bool(row.supports),
            "reasons": text_digest(row.reasons),
            "at": canonical(row.at),
        }
        for row in _rows(
            select(
                PromotionRecommendation.id,
                PromotionRecommendation.request_id,
                PromotionRecommendation.supervisor_id,
                PromotionRecommendation.supports,
                PromotionRecommendation.reasons,
                PromotionRecommendation.at,
            ).where(_where_id(PromotionRecommendation.id, ids))
        )
    }


def promotion_decisions(ids: Iterable[int] | None) -> dict[int, Content]:
    """A manager's promotion decision with the tier change it made (two queries)."""
    found = {
        row.id: {
            "request": row.request_id,
            "manager": row.manager_id,
            "approved": bool(row.approved),
            "effective_on": canonical(row.effective_on),
            "reasons": text_digest(row.reasons),
            "at": canonical(row.at),
            "tier_change": None,
        }
        for row in _rows(
            select(
                PromotionDecision.id,
                PromotionDecision.request_id,
                PromotionDecision.manager_id,
                PromotionDecision.approved,
                PromotionDecision.effective_on,
                PromotionDecision.reasons,
                PromotionDecision.at,
            ).where(_where_id(PromotionDecision.id, ids))
        )
    }
    for row in _rows(
        select(
            TierChange.decision_id,
            TierChange.worker_id,
            TierChange.from_tier_id,
            TierChange.to_tier_id,
            TierChange.effective_on,
        )
        .where(TierChange.decision_id.is_not(None), _where_id(TierChange.decision_id, ids))
        .order_by(TierChange.id)
    ):
        if row.decision_id in found:
            found[row.decision_id]["tier_change"] = {
                "worker": row.worker_id,
                "from_tier": row.from_tier_id,
                "to_tier": row.to_tier_id,
                "effective_on": canonical(row.effective_on),
            }
    return found


def appraisals(ids: Iterable[int] | None) -> dict[int, Content]:
    """An appraisal with its signatures and CPD plan (two queries)."""
    found = {
        row.id: {
            "worker": row.worker_id,
            "appraiser": row.appraiser_id,
            "year": row.year,
            "held_on": canonical(row.held_on),
            "review": text_digest(row.review),
            "objectives": text_digest(row.objectives),
            "learning_needs": text_digest(row.learning_needs),
            "worker_signed_at": canonical(row.worker_signed_at),
            "appraiser_signed_at": canonical(row.appraiser_signed_at),
            "goals": [],
        }
        for row in _rows(
            select(
                Appraisal.id,
                Appraisal.worker_id,
                Appraisal.appraiser_id,
                Appraisal.year,
                Appraisal.held_on,
                Appraisal.review,
                Appraisal.objectives,
                Appraisal.learning_needs,
                Appraisal.worker_signed_at,
                Appraisal.appraiser_signed_at,
            ).where(_where_id(Appraisal.id, ids))
        )
    }
    for row in _rows(
        select(CpdGoal.appraisal_id, CpdGoal.description, CpdGoal.method, CpdGoal.target_on, CpdGoal.status)
        .where(_where_id(CpdGoal.appraisal_id, ids))
        .order_by(CpdGoal.appraisal_id, CpdGoal.id)
    ):
        if row.appraisal_id in found:
            found[row.appraisal_id]["goals"].append(
                {
                    "description": text_digest(row.description),
                    "method": text_digest(row.method),
                    "target_on": canonical(row.target_on),
                    "status": canonical(row.status),
                }
            )
    return found


def supervision_assignments(ids: Iterable[int] | None) -> dict[int, Content]:
    """A supervisor assigned to a worker for a period (one query)."""
    return {
        row.id: {
            "worker": row.worker_id,
            "supervisor": row.supervisor_id,
            "starts_on": canonical(row.starts_on),
            "ends_on": canonical(row.ends_on),
            "created_by": row.created_by_id,
        }
        for row in _rows(
            select(
                SupervisionAssignment.id,
                SupervisionAssignment.worker_id,
                SupervisionAssignment.supervisor_id,
                SupervisionAssignment.starts_on,
                SupervisionAssignment.ends_on,
                SupervisionAssignment.created_by_id,
            ).where(_where_id(SupervisionAssignment.id, ids))
        )
    }


@dataclass(frozen=True)
class Binder:
    """How one record type is read (``load``) and named in a report (``name``)."""

    model: type
    load: Callable[[Iterable[int] | None], dict[int, Content]]
    name: Callable[[int, Content], str]


BINDERS: dict[str, Binder] = {
    "decision": Binder(Decision, decisions, lambda id, c: f"decision {id} on submission {c.get('submission')}"),
    "note-review": Binder(NoteReview, note_reviews, lambda id, c: f"note review {id} on evidence {c.get('evidence')}"),
    "requirement-verification": Binder(
        RequirementVerification,
        requirement_verifications,
        lambda id, c: f"requirement verification {id} for user {c.get('worker')}",
    ),
    "promotion-request": Binder(
        PromotionRequest, promotion_requests, lambda id, c: f"promotion request {id} of user {c.get('worker')}"
    ),
    "promotion-recommendation": Binder(
        PromotionRecommendation,
        promotion_recommendations,
        lambda id, c: f"promotion recommendation {id} on request {c.get('request')}",
    ),
    "promotion-decision": Binder(
        PromotionDecision, promotion_decisions, lambda id, c: f"promotion decision {id} on request {c.get('request')}"
    ),
    "appraisal": Binder(Appraisal, appraisals, lambda id, c: f"appraisal {id} of user {c.get('worker')}"),
    "supervision-assignment": Binder(
        SupervisionAssignment,
        supervision_assignments,
        lambda id, c: f"supervision assignment {id} of user {c.get('worker')}",
    ),
}

_TYPE_OF_MODEL = {binder.model: record_type for record_type, binder in BINDERS.items()}


def record_type_of(record: object) -> str:
    """The registered type of a model instance.

    :raises LookupError: for a model no binder is registered for (a programming error).
    """
    try:
        return _TYPE_OF_MODEL[type(record)]
    except KeyError:
        raise LookupError(f"no audit binder is registered for {type(record).__name__}") from None


# --- comparing -----------------------------------------------------------------------------

# Lists of parts, matched by a key rather than position, so a report can say which part changed.
_PARTS = {"competences": ("competence", "competence {}")}


def differences(recorded: Content, live: Content) -> list[str]:
    """What differs between the content a ledger row bound and the record as it is now."""
    found = []
    for key in sorted(set(recorded) | set(live)):
        before, now = recorded.get(key), live.get(key)
        if before == now:
            continue
        if key in _PARTS and isinstance(before, list) and isinstance(now, list):
            found += _part_differences(key, before, now)
        else:
            found.append(f"{key.replace('_', ' ')} differs from the ledger")
    return found


def _part_differences(key: str, before: list[Content], now: list[Content]) -> list[str]:
    id_field, label = _PARTS[key]
    old = {part.get(id_field): part for part in before}
    new = {part.get(id_field): part for part in now}
    found = []
    for part_id in sorted(set(old) | set(new), key=lambda v: (v is None, v)):
        name = label.format(part_id)
        if part_id not in new:
            found.append(f"the outcome for {name} was removed")
        elif part_id not in old:
            found.append(f"an outcome for {name} was added")
        else:
            for field in sorted(set(old[part_id]) | set(new[part_id])):
                if old[part_id].get(field) != new[part_id].get(field):
                    what = "accepted flag" if field == "accepted" else field.replace("_", " ")
                    found.append(f"the {what} for {name} differs from the ledger")
    return found
