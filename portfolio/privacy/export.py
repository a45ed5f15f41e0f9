"""A person's own data, complete by construction (subject access).

Each contributor exports one part of what the service holds about a person
and declares the tables it covers, the way Moodle's privacy API asks every
plugin for its own user data. ``tests/test_privacy_export.py`` walks
``db.metadata`` and fails when a table holding a person's id is covered by
no contributor and is not in :data:`NOT_EXPORTED`: a new table is exported,
or deliberately left out with a reason, never forgotten.

Every contributor runs a fixed number of queries whatever the size of the
portfolio (rows are loaded in bulk, names by joins, never one by one), and
exports only the person's own data plus the names of the people who acted
on it where their pages show them (supervisors, deciders).

To add a table: write a function taking the :class:`Person` and returning
its sections (name -> list of rows), and decorate it with
``@contributor("Heading", "table", ...)``.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from flask import render_template
from markupsafe import Markup, escape
from sqlalchemy import String, cast, literal, or_, select
from sqlalchemy.orm import QueryableAttribute, aliased

from ..evidence import files, kinds
from ..evidence.anonymity import plain_text
from ..extensions import db
from ..frameworks import tree
from ..models import (
    Appraisal,
    AuditCheck,
    AuditEntry,
    Competence,
    CompetenceDecision,
    CpdActivity,
    CpdGoal,
    Decision,
    Evidence,
    EvidenceFile,
    EvidenceKind,
    EvidenceLink,
    Framework,
    Invitation,
    IssuedCredential,
    MfaAttempt,
    NoteOutcome,
    NoteReview,
    NoteState,
    Notification,
    Passkey,
    PasswordReset,
    PromotionDecision,
    PromotionRecommendation,
    PromotionRequest,
    RecoveryCode,
    Requirement,
    RequirementVerification,
    SignInAttempt,
    Submission,
    SupervisionAction,
    SupervisionAssignment,
    Tier,
    TierChange,
    TotpSecret,
    User,
    cpd_activity_competences,
    newest_per_supervisor,
    utcnow,
)
from ..portability import leap2a

Row = dict[str, Any]


class RichText(str):
    """Stored, sanitised HTML: kept as it is in the JSON, shown as plain text in index.html."""


@dataclass(frozen=True)
class Person:
    """Whose data is exported; ``evidence_ids`` is a subquery of their items, shared by contributors."""

    user: User

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def evidence_ids(self):
        return select(Evidence.id).where(Evidence.owner_id == self.user.id)


Sections = dict[str, Any]  # section name -> its rows (or, for the person, one row)


@dataclass(frozen=True)
class Contributor:
    title: str  # its heading in index.html
    tables: tuple[str, ...]  # every table whose rows about the person it exports
    export_for: Callable[[Person], Sections]  # section name (a key of portfolio.json) -> rows


CONTRIBUTORS: list[Contributor] = []

#: Tables that hold a person's id but are deliberately not exported, and why.
#: (The lead registers new secret-holding tables here: invitations, password
#: reset tokens, MFA factors hold hashes and keys that must never leave.)
NOT_EXPORTED: dict[str, str] = {
    # Add entries as "table": "why it must not be exported".
    "form_submissions": "hashed one-time keys of forms, kept only to stop a double click creating twice; "
    "what each form created is exported in its own section",
    "framework_imports": "a public framework file a manager uploaded, held for its preview; "
    "it says nothing about the person beyond who uploaded it",
    "documents": "copies of this very export and of panel PDFs, built for download and deleted when they expire; "
    "their content is exported in its own sections",
}


def contributor(title: str, *tables: str) -> Callable[[Callable[[Person], Sections]], Callable[[Person], Sections]]:
    """Register an area's ``export_for(person)``: the rows of ``tables`` about a person, by section."""

    def register(function: Callable[[Person], Sections]) -> Callable[[Person], Sections]:
        CONTRIBUTORS.append(Contributor(title, tables, function))
        return function

    return register


def covered_tables() -> set[str]:
    """Every table some contributor exports."""
    return {table for c in CONTRIBUTORS for table in c.tables}


def _plain(value: Any) -> Any:
    if isinstance(value, RichText):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value


def _row(obj: Any, *columns: str, rich: tuple[str, ...] = ()) -> Row:
    return {c: RichText(getattr(obj, c) or "") if c in rich else getattr(obj, c) for c in columns}


def _own_rows(owner: QueryableAttribute[Any], person: Person, *columns: str, order_by: Any = None) -> list[Row]:
    """``columns`` of every row whose ``owner`` column (``Model.user_id``...) is the person, by id unless ``order_by``."""
    model = owner.class_
    query = select(model).where(owner == person.id).order_by(model.id if order_by is None else order_by)
    return [_row(r, *columns) for r in db.session.scalars(query)]


def _name(user: User | None) -> str | None:
    return user.name if user is not None else None


# --- The contributors, one per area ------------------------------------------------


@contributor("About you", "users", "sign_in_attempts")
def _person(person: Person) -> Sections:
    user = person.user
    framework, tier = db.session.execute(
        select(Framework.title, Tier.name)
        .select_from(User)
        .outerjoin(Framework, Framework.id == User.framework_id)
        .outerjoin(Tier, Tier.id == User.tier_id)
        .where(User.id == user.id)
    ).one()
    # Sign-in attempts are kept by the address typed (for throttling), not by a person's id.
    attempts = db.session.scalars(
        select(SignInAttempt).where(SignInAttempt.email == user.email).order_by(SignInAttempt.at)
    )
    return {
        "person": _row(
            user,
            "id",
            "email",
            "name",
            "is_worker",
            "is_supervisor",
            "is_manager",
            "active",
            "created_at",
            "last_signed_in_at",
            "email_frequency",
            "digest_sent_on",
        )
        | {"framework": framework, "tier": tier},
        "sign_in_history": [_row(a, "at", "succeeded", "address") for a in attempts],
    }


@contributor("Your credentials", "issued_credentials")
def _credentials(person: Person) -> Sections:
    """Each Open Badges credential issued to the person, as signed, and any revocation."""
    return {
        "credentials": [
            _row(c, "public_id", "issued_at", "revoked_at", "revoked_reason")
            | {"credential_json": json.dumps(c.document, ensure_ascii=False)}
            for c in db.session.scalars(
                select(IssuedCredential).where(IssuedCredential.worker_id == person.id).order_by(IssuedCredential.id)
            )
        ]
    }


@contributor("Your sign-in links", "invitations", "password_resets")
def _links(person: Person) -> Sections:
    """When invitation and password-reset links were sent and used; never their token digests."""
    return {
        "invitations": _own_rows(Invitation.user_id, person, "created_at", "expires_at", "used_at", "revoked_at"),
        "password_resets": _own_rows(
            PasswordReset.user_id, person, "created_at", "expires_at", "used_at", "cancelled_at"
        ),
    }


@contributor("Your second factors", "totp_secrets", "recovery_codes", "passkeys", "mfa_attempts")
def _second_factors(person: Person) -> Sections:
    """When each second factor was set up and used; never a secret, a code's hash or a public key."""
    return {
        "one_time_codes": _own_rows(TotpSecret.user_id, person, "created_at", "confirmed_at"),
        "recovery_codes": _own_rows(RecoveryCode.user_id, person, "created_at", "used_at"),
        "passkeys": _own_rows(Passkey.user_id, person, "name", "created_at", "last_used_at"),
        "second_factor_attempts": _own_rows(
            MfaAttempt.user_id, person, "at", "succeeded", "address", order_by=MfaAttempt.at
        ),
    }


@contributor("Audit checks you ran", "audit_checks")
def _audit_checks(person: Person) -> Sections:
    return {
        "audit_checks_run": _own_rows(
            AuditCheck.run_by_id, person, "at", "ok", "rows_checked", "problem_count", order_by=AuditCheck.at
        )
    }


@contributor("Your evidence", "evidence", "evidence_files", "evidence_links", "supervision_actions")
def _evidence(person: Person) -> Sections:
    items = db.session.scalars(select(Evidence).where(Evidence.owner_id == person.id).order_by(Evidence.id)).all()
    actions: dict[int, list[Row]] = {}
    for a in db.session.scalars(
        select(SupervisionAction)
        .where(SupervisionAction.evidence_id.in_(person.evidence_ids))
        .order_by(SupervisionAction.position)
    ):
        actions.setdefault(a.evidence_id, []).append(_row(a, "description", "owner", "due_on"))
    # A supervision note's state with its supervisor, as its pages say it: its status alone reads "draft" once
    # confirmed (a confirmed note is never sent anywhere until its worker sends it for review).
    answered: dict[int, set[NoteOutcome]] = {}
    for evidence_id, outcome in db.session.execute(
        select(NoteReview.evidence_id, NoteReview.outcome).where(NoteReview.evidence_id.in_(person.evidence_ids))
    ):
        answered.setdefault(evidence_id, set()).add(outcome)
    supervisor = aliased(User)
    names = dict(
        db.session.execute(
            select(Evidence.id, supervisor.name)
            .join(supervisor, supervisor.id == Evidence.supervisor_id)
            .where(Evidence.owner_id == person.id)
        ).all()
    )
    return {
        "evidence": [
            _row(
                e,
                "id",
                "kind",
                "status",
                "title",
                "occurred_on",
                "is_private",
                *kinds.TEXT_COLUMNS,
                *kinds.EXPORT_COLUMNS,
                "anonymity_confirmed_at",
                "checked_at",
                "sent_back_at",
                "sent_back_reason",
                "earlier_sent_back_reason",
                "created_at",
                "updated_at",
                "submitted_at",
                rich=kinds.TEXT_COLUMNS,
            )
            | {
                "note_state": NoteState.of(
                    reviewed=e.id in answered, confirmed=NoteOutcome.CONFIRMED in answered.get(e.id, set())
                ).value
                if e.kind == EvidenceKind.SUPERVISION_NOTE
                else None,
                "supervisor": names.get(e.id),
                "actions": actions.get(e.id, []),
            }
            for e in items
        ],
        # Training certificates of other workers that the person checked: when, not what they say.
        "certificates_checked": [
            {"evidence_id": evidence_id, "checked_at": checked_at}
            for evidence_id, checked_at in db.session.execute(
                select(Evidence.id, Evidence.checked_at)
                .where(Evidence.checked_by_id == person.id)
                .order_by(Evidence.id)
            )
        ],
        # And those they sent back: when and why (their own words), not what the certificate says.
        "certificates_sent_back": [
            {"evidence_id": evidence_id, "sent_back_at": sent_back_at, "reason": reason}
            for evidence_id, sent_back_at, reason in db.session.execute(
                select(Evidence.id, Evidence.sent_back_at, Evidence.sent_back_reason)
                .where(Evidence.sent_back_by_id == person.id)
                .order_by(Evidence.id)
            )
        ],
        "links": [
            _row(link, "evidence_id", "competence_id", "note", "created_at")
            | {"competence": statement, "competence_ref": ref}
            for link, statement, ref in db.session.execute(
                select(EvidenceLink, Competence.statement, Competence.ref)
                .join(Competence, Competence.id == EvidenceLink.competence_id)
                .where(EvidenceLink.evidence_id.in_(person.evidence_ids))
                .order_by(EvidenceLink.id)
            )
        ],
        "files": [
            _row(f, "id", "evidence_id", "original_name", "content_type", "size", "sha256", "uploaded_at")
            | {"in_zip": _zip_name(f)}
            for f in db.session.scalars(
                select(EvidenceFile).where(EvidenceFile.evidence_id.in_(person.evidence_ids)).order_by(EvidenceFile.id)
            )
        ],
    }


@contributor(
    "Reviews of your evidence, and reviews you gave", "submissions", "decisions", "competence_decisions", "note_reviews"
)
def _reviews(person: Person) -> Sections:
    outcomes: dict[int, list[Row]] = {}
    for o, statement in db.session.execute(
        select(CompetenceDecision, Competence.statement)
        .join(Competence, Competence.id == CompetenceDecision.competence_id)
        .join(Decision, Decision.id == CompetenceDecision.decision_id)
        .where(Decision.evidence_id.in_(person.evidence_ids))
        .order_by(CompetenceDecision.id)
    ):
        outcomes.setdefault(o.decision_id, []).append(
            _row(o, "competence_id", "accepted", "comment") | {"competence": statement}
        )
    return {
        "submissions": [
            _row(s, "id", "evidence_id", "submitted_at", "withdrawn_at", "content_hash")
            for s in db.session.scalars(
                select(Submission).where(Submission.evidence_id.in_(person.evidence_ids)).order_by(Submission.id)
            )
        ],
        # The supervisor is named, as on the worker's pages.
        "decisions": [
            _row(d, "id", "evidence_id", "outcome", "comment", "decided_at", "content_hash")
            | {"supervisor": name, "competences": outcomes.get(d.id, [])}
            for d, name in db.session.execute(
                select(Decision, User.name)
                .join(User, User.id == Decision.supervisor_id)
                .where(Decision.evidence_id.in_(person.evidence_ids))
                .order_by(Decision.id)
            )
        ],
        "note_reviews": [
            _row(r, "evidence_id", "outcome", "comment", "at") | {"supervisor": name}
            for r, name in db.session.execute(
                select(NoteReview, User.name)
                .join(User, User.id == NoteReview.supervisor_id)
                .where(NoteReview.evidence_id.in_(person.evidence_ids))
                .order_by(NoteReview.id)
            )
        ],
        # As a supervisor: what the person decided and wrote on others' items - their words, not the items.
        "decisions_given": _own_rows(Decision.supervisor_id, person, "outcome", "comment", "decided_at"),
        "note_reviews_given": _own_rows(NoteReview.supervisor_id, person, "outcome", "comment", "at"),
    }


@contributor("Supervision", "supervision_assignments")
def _supervision(person: Person) -> Sections:
    supervisor, worker = aliased(User), aliased(User)
    rows = db.session.execute(
        select(SupervisionAssignment, supervisor.name, worker.name)
        .join(supervisor, supervisor.id == SupervisionAssignment.supervisor_id)
        .join(worker, worker.id == SupervisionAssignment.worker_id)
        .where(or_(SupervisionAssignment.worker_id == person.id, SupervisionAssignment.supervisor_id == person.id))
        .order_by(SupervisionAssignment.starts_on, SupervisionAssignment.id)
    )
    return {
        "supervision_assignments": [
            _row(a, "starts_on", "ends_on", "created_at")
            | ({"supervised_by": s_name} if a.worker_id == person.id else {"supervising": w_name})
            for a, s_name, w_name in rows
        ]
    }


@contributor("Where you stand")
def _standing(person: Person) -> Sections:
    """Each statement's status as My progress shows it (no table of its own: derived by the framework tree)."""
    user = person.user
    rows = tree.framework_tree(user.framework, user).rows if user.framework else []
    return {
        "progress": [
            {
                "ref": r.competence.ref,
                "statement": r.competence.statement,
                "status": r.status.value,
                "linked": r.total,
                "accepted": r.accepted,
            }
            for r in rows
        ]
    }


@contributor(
    "Requirements, promotion and tiers",
    "requirement_verifications",
    "promotion_requests",
    "promotion_recommendations",
    "promotion_decisions",
    "tier_changes",
)
def _progression(person: Person) -> Sections:
    target = aliased(Tier)
    requests = db.session.execute(
        select(PromotionRequest, target.name)
        .join(target, target.id == PromotionRequest.target_tier_id)
        .where(PromotionRequest.worker_id == person.id)
        .order_by(PromotionRequest.id)
    ).all()
    ids = select(PromotionRequest.id).where(PromotionRequest.worker_id == person.id)
    given: dict[int, list[Any]] = {}
    for row in db.session.execute(
        select(PromotionRecommendation, User.name)
        .join(User, User.id == PromotionRecommendation.supervisor_id)
        .where(PromotionRecommendation.request_id.in_(ids))
        .order_by(PromotionRecommendation.id)
    ):
        given.setdefault(row[0].request_id, []).append(row)
    # Every one given, oldest first; "counts": the supervisor's newest (an earlier one was changed since).
    recommendations: dict[int, list[dict]] = {}
    for request_id, rows in given.items():
        counting = {r.id for r, _ in newest_per_supervisor(rows, of=lambda row: row[0])}
        recommendations[request_id] = [
            _row(r, "supports", "reasons", "at") | {"supervisor": name, "counts": r.id in counting} for r, name in rows
        ]
    decisions = {
        d.request_id: _row(d, "approved", "effective_on", "reasons", "at") | {"manager": name}
        for d, name in db.session.execute(
            select(PromotionDecision, User.name)
            .join(User, User.id == PromotionDecision.manager_id)
            .where(PromotionDecision.request_id.in_(ids))
        )
    }
    from_tier, to_tier = aliased(Tier), aliased(Tier)
    return {
        "requirement_verifications": [
            _row(v, "verified_on", "expires_on", "note", "created_at") | {"requirement": statement, "verified_by": name}
            for v, statement, name in db.session.execute(
                select(RequirementVerification, Requirement.statement, User.name)
                .join(Requirement, Requirement.id == RequirementVerification.requirement_id)
                .join(User, User.id == RequirementVerification.verified_by_id)
                .where(RequirementVerification.worker_id == person.id)
                .order_by(RequirementVerification.id)
            )
        ],
        "promotion_requests": [
            _row(r, "id", "requested_at", "withdrawn_at")
            | {"target_tier": name, "recommendations": recommendations.get(r.id, []), "decision": decisions.get(r.id)}
            for r, name in requests
        ],
        # As a supervisor or a manager: what the person said on others' requests.
        "promotion_recommendations_given": _own_rows(
            PromotionRecommendation.supervisor_id, person, "supports", "reasons", "at"
        ),
        "promotion_decisions_given": _own_rows(
            PromotionDecision.manager_id, person, "approved", "effective_on", "reasons", "at"
        ),
        "tier_history": [
            _row(t, "effective_on", "at") | {"from": f, "to": to}
            for t, f, to in db.session.execute(
                select(TierChange, from_tier.name, to_tier.name)
                .outerjoin(from_tier, from_tier.id == TierChange.from_tier_id)
                .join(to_tier, to_tier.id == TierChange.to_tier_id)
                .where(TierChange.worker_id == person.id)
                .order_by(TierChange.effective_on, TierChange.id)
            )
        ],
    }


@contributor("Appraisals and CPD", "appraisals", "cpd_goals", "cpd_activities", "cpd_activity_competences")
def _cpd(person: Person) -> Sections:
    worker, appraiser = aliased(User), aliased(User)
    found = db.session.execute(
        select(Appraisal, worker.name, appraiser.name)
        .join(worker, worker.id == Appraisal.worker_id)
        .join(appraiser, appraiser.id == Appraisal.appraiser_id)
        .where(or_(Appraisal.worker_id == person.id, Appraisal.appraiser_id == person.id))
        .order_by(Appraisal.year, Appraisal.id)
    ).all()
    own = select(Appraisal.id).where(Appraisal.worker_id == person.id)
    goals: dict[int, list[Row]] = {}
    for g in db.session.scalars(select(CpdGoal).where(CpdGoal.appraisal_id.in_(own)).order_by(CpdGoal.id)):
        goals.setdefault(g.appraisal_id, []).append(_row(g, "description", "method", "target_on", "status"))
    statements: dict[int, list[str]] = {}
    for activity_id, statement in db.session.execute(
        select(cpd_activity_competences.c.activity_id, Competence.statement)
        .join(Competence, Competence.id == cpd_activity_competences.c.competence_id)
        .join(CpdActivity, CpdActivity.id == cpd_activity_competences.c.activity_id)
        .where(CpdActivity.worker_id == person.id)
        .order_by(Competence.position)
    ):
        statements.setdefault(activity_id, []).append(statement)
    return {
        "appraisals": [
            _row(
                a,
                "year",
                "held_on",
                "review",
                "objectives",
                "learning_needs",
                "worker_signed_at",
                "appraiser_signed_at",
            )
            | {"appraiser": appraiser_name, "cpd_goals": goals.get(a.id, [])}
            for a, _, appraiser_name in found
            if a.worker_id == person.id
        ],
        # As the appraiser: that it happened, with whom, and when they signed - not the worker's plan.
        "appraisals_given": [
            _row(a, "year", "held_on", "appraiser_signed_at") | {"worker": worker_name}
            for a, worker_name, _ in found
            if a.worker_id != person.id
        ],
        "cpd_activities": [
            _row(a, "done_on", "title", "hours", "learned", "impact", "created_at")
            | {"competences": statements.get(a.id, [])}
            for a in db.session.scalars(
                select(CpdActivity)
                .where(CpdActivity.worker_id == person.id)
                .order_by(CpdActivity.done_on, CpdActivity.id)
            )
        ],
    }


@contributor("Competences you added or retired", "competences")
def _competences(person: Person) -> Sections:
    return {
        "competences_written": [
            _row(c, "ref", "statement", "created_at", "retired_at")
            | {"added_by_you": c.created_by_id == person.id, "retired_by_you": c.retired_by_id == person.id}
            for c in db.session.scalars(
                select(Competence)
                .where(or_(Competence.created_by_id == person.id, Competence.retired_by_id == person.id))
                .order_by(Competence.id)
            )
        ]
    }


@contributor("Notifications", "notifications")
def _notifications(person: Person) -> Sections:
    return {
        "notifications": _own_rows(
            Notification.user_id, person, "message", "url", "items", "created_at", "read_at", "emailed_at"
        )
    }


@contributor("Audit ledger", "audit_ledger")
def _audit(person: Person) -> Sections:
    """Rows the person wrote, and rows about them, their items or their supervision."""
    own_items = select(literal("evidence:") + cast(Evidence.id, String)).where(Evidence.owner_id == person.id)
    assignments = select(literal("assignment:") + cast(SupervisionAssignment.id, String)).where(
        or_(SupervisionAssignment.worker_id == person.id, SupervisionAssignment.supervisor_id == person.id)
    )
    about = or_(
        AuditEntry.subject == f"user:{person.id}",
        AuditEntry.subject.in_(own_items),
        AuditEntry.subject.in_(assignments),
    )
    return {
        "audit": [
            _row(e, "seq", "at", "action", "subject", "details") | {"by": name}
            for e, name in db.session.execute(
                select(AuditEntry, User.name)
                .outerjoin(User, User.id == AuditEntry.actor_id)
                .where(or_(AuditEntry.actor_id == person.id, about))
                .order_by(AuditEntry.seq)
            )
        ]
    }


# --- Assembly --------------------------------------------------------------------------


def collect(user: User) -> Sections:
    """Every contributor's sections about ``user``, in registration order."""
    person = Person(user)
    sections: Sections = {}
    for c in CONTRIBUTORS:
        sections |= c.export_for(person)
    return sections


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return _plain(value)


def _readable(value: Any) -> Any:
    """For index.html: rich text as the plain text people read, everything else as in the JSON."""
    if isinstance(value, RichText):
        return plain_text(value)
    if isinstance(value, dict):
        return {k: _readable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_readable(v) for v in value]
    return _plain(value)


def _html(value: Any) -> Markup:
    """A readable value as nested lists for index.html, every text escaped (the template's recursion, in Python).

    A 2,000-item export holds about 100,000 values: a Jinja macro call for each
    took longer than everything else in the export.
    """
    return Markup(_html_of(value))


def _html_of(value: Any) -> str:
    if isinstance(value, Mapping):
        entries = "".join(
            f"<dt>{escape(str(key).replace('_', ' ').capitalize())}</dt><dd>{_html_of(item)}</dd>"
            for key, item in value.items()
        )
        return f"<dl>{entries}</dl>"
    if isinstance(value, (list, tuple)):
        return f"<ol>{''.join(f'<li>{_html_of(item)}</li>' for item in value)}</ol>" if value else "None"
    if value is None:
        return "-"
    if value is True or value is False:
        return "yes" if value else "no"
    return f'<span class="text">{escape(value)}</span>'


def _zip_name(f: EvidenceFile) -> str:
    return f"files/{f.evidence_id}-{f.id}-{Path(f.original_name).name}"


#: Other formats of the same data, written into the zip beside portfolio.json: file name -> a function of
#: every contributor's sections (as collected, before they become JSON) and the moment of export.
#: They read only what the contributors collected, so they add no query and cannot show more.
DOCUMENTS: dict[str, Callable[[Sections, datetime], bytes]] = {leap2a.FILE_NAME: leap2a.document}


def export_zip(user: User) -> tempfile.SpooledTemporaryFile:
    """All of ``user``'s own data: portfolio.json, a readable index.html, the other formats, and their files."""
    person = Person(user)
    exported_at = utcnow()
    parts = [(c.title, c.export_for(person)) for c in CONTRIBUTORS]
    data: dict[str, Any] = {"exported_at": exported_at.isoformat()}
    collected: Sections = {}
    for _, sections in parts:
        data |= _jsonable(sections)
        collected |= sections
    index = render_template(
        "privacy/export_index.html",
        person=user,
        exported_at=exported_at,
        parts=[
            (
                title,
                {
                    name.replace("_", " ").capitalize(): (_html(_readable(rows)) if rows else "")
                    for name, rows in sections.items()
                },
            )
            for title, sections in parts
        ],
    )
    stored = db.session.execute(
        select(EvidenceFile).where(EvidenceFile.evidence_id.in_(person.evidence_ids)).order_by(EvidenceFile.id)
    ).scalars()
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("portfolio.json", json.dumps(data, indent=2, ensure_ascii=False))
        archive.writestr("index.html", index)
        for name, build in DOCUMENTS.items():
            archive.writestr(name, build(collected, exported_at))
        for f in stored:
            path = files.stored_path(f.stored_name)
            if path.exists():
                archive.write(path, _zip_name(f))
    spool.seek(0)
    return spool
