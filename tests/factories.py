"""Plain helper functions that make test data (no shared mutable fixtures)."""

from __future__ import annotations

import itertools
from datetime import date

from sqlalchemy import select

from portfolio.auth.passwords import hash_password
from portfolio.extensions import db
from portfolio.frameworks import loader
from portfolio.models import (
    Appraisal,
    Competence,
    Evidence,
    EvidenceFile,
    EvidenceKind,
    EvidenceLink,
    Framework,
    Passkey,
    PromotionRecommendation,
    PromotionRequest,
    Role,
    Submission,
    SupervisionAction,
    SupervisionAssignment,
    Tier,
    User,
)

PASSWORD = "correct horse battery staple"
# Hashed once: argon2id is slow on purpose, and tests create many users.
PASSWORD_HASH = hash_password(PASSWORD)
_numbers = itertools.count(1)

# What the evidence use cases write: ``row_counts(*EVIDENCE_MODELS) == NO_EVIDENCE`` after a refused one.
EVIDENCE_MODELS = (Evidence, EvidenceFile, EvidenceLink, SupervisionAction)
NO_EVIDENCE = {model.__tablename__: 0 for model in EVIDENCE_MODELS}


def load_frameworks() -> dict[str, Framework]:
    """Load the shipped framework files; return the current versions by key."""
    return {result.framework.key: result.framework for result in loader.load_all()}


def tier(framework_key: str, slug: str) -> Tier:
    return db.session.scalar(
        select(Tier)
        .join(Framework)
        .where(Framework.key == framework_key, Framework.is_current.is_(True), Tier.slug == slug)
    )


def make_user(
    *roles: Role,
    email: str | None = None,
    name: str | None = None,
    tier: Tier | None = None,
    active: bool = True,
) -> User:
    """A user with the given roles (a worker by default) and the test password."""
    roles = roles or (Role.WORKER,)
    number = next(_numbers)
    user = User(
        email=email or f"person{number}@example.org",
        name=name or f"Person {number}",
        password_hash=PASSWORD_HASH,
        is_worker=Role.WORKER in roles,
        is_supervisor=Role.SUPERVISOR in roles,
        is_manager=Role.MANAGER in roles,
        active=active,
        framework_id=tier.framework_id if tier else None,
        tier_id=tier.id if tier else None,
    )
    db.session.add(user)
    db.session.commit()
    return user


def assign(
    supervisor: User, worker: User, starts_on: date | None = None, *, audited: bool = False
) -> SupervisionAssignment:
    """``audited``: with its ledger row, as supervision.assign writes (for tests that verify the ledger)."""
    assignment = SupervisionAssignment(
        supervisor_id=supervisor.id, worker_id=worker.id, starts_on=starts_on or date(2026, 1, 1)
    )
    db.session.add(assignment)
    if audited:
        audit(None, "supervision.assigned", "assignment:{}", assignment)
    db.session.commit()
    return assignment


# --- People with two roles, and the items they decide on (separation of duties) -----------

EVENT_DAY = date(2026, 3, 10)


def make_worker_with(role: Role, name: str, slug: str = "link-worker") -> User:
    """A Link Worker who also holds ``role`` (supervisor or manager)."""
    return make_user(Role.WORKER, role, name=name, tier=tier("link-worker", slug))


def make_worker_supervisor(name: str = "Willa Worker-Supervisor") -> User:
    return make_worker_with(Role.SUPERVISOR, name)


def make_worker_manager(name: str = "Mel Worker-Manager") -> User:
    return make_worker_with(Role.MANAGER, name)


def link_worker_competence(ref: str) -> Competence:
    return db.session.scalar(
        select(Competence)
        .join(Framework)
        .where(Framework.key == "link-worker", Framework.is_current.is_(True), Competence.ref == ref)
    )


def submitted_item(worker: User, title: str = "Community walking group", ref: str = "PS-LW-01") -> Submission:
    """An item of ``worker``'s linked to one competence and submitted through the use cases; its submission."""
    from portfolio.evidence import service as evidence_service
    from portfolio.evidence.service import EvidenceInput

    evidence = evidence_service.create_evidence(
        worker,
        EvidenceKind.OTHER,
        EvidenceInput(title=title, occurred_on=EVENT_DAY, description="I set up a weekly walking group."),
        link_competence_id=link_worker_competence(ref).id,
    )
    evidence_service.submit(worker, db.session.get(Evidence, evidence.id))
    db.session.expire_all()
    return db.session.scalar(select(Submission).where(Submission.evidence_id == evidence.id))


def supervision_note(worker: User, supervisor: User, title: str = "Supervision in March") -> Evidence:
    """A supervision note of ``worker``'s naming ``supervisor``, written directly (so it may name anyone)."""
    note = Evidence(
        owner_id=worker.id,
        kind=EvidenceKind.SUPERVISION_NOTE,
        title=title,
        occurred_on=EVENT_DAY,
        description="<p>We discussed lone working.</p>",
        supervisor_id=supervisor.id,
    )
    db.session.add(note)
    db.session.commit()
    return note


def promotion_request(worker: User, *, recommended_by: User | None = None) -> PromotionRequest:
    """An open request of ``worker``'s for the next tier, written directly (readiness is not the point)."""
    target = db.session.scalar(
        select(Tier)
        .where(Tier.framework_id == worker.framework_id, Tier.position > worker.tier.position)
        .order_by(Tier.position)
    )
    request = PromotionRequest(worker_id=worker.id, from_tier_id=worker.tier_id, target_tier_id=target.id)
    db.session.add(request)
    db.session.flush()
    if recommended_by is not None:
        db.session.add(
            PromotionRecommendation(
                request_id=request.id, supervisor_id=recommended_by.id, supports=True, reasons="Ready."
            )
        )
    db.session.commit()
    return request


def appraisal(worker: User, appraiser: User, year: int = EVENT_DAY.year) -> Appraisal:
    """An unsigned appraisal of ``worker`` by ``appraiser``, written directly (so it may name anyone)."""
    row = Appraisal(
        worker_id=worker.id, appraiser_id=appraiser.id, year=year, held_on=date(year, 3, 1), review="A good year."
    )
    db.session.add(row)
    db.session.commit()
    return row


def audit(actor: User | None, action: str, subject: str, record) -> None:
    """Write the ledger row a use case would for a record a test made directly (``{}`` in subject: its id)."""
    from portfolio.audit import ledger

    db.session.flush()
    ledger.record(actor, action, subject.format(record.id), binds=record)


def give_totp(user: User) -> str:
    """Turn on one-time codes for ``user`` (as if set up and confirmed); return the base32 secret."""
    import pyotp
    from cryptography.fernet import Fernet
    from flask import current_app

    from portfolio.models import TotpSecret, utcnow

    secret = pyotp.random_base32()
    encrypted = Fernet(current_app.config["MFA_KEY"]).encrypt(secret.encode()).decode()
    db.session.add(TotpSecret(user_id=user.id, secret_encrypted=encrypted, confirmed_at=utcnow()))
    db.session.commit()
    return secret


def make_passkey(user: User, name: str = "Work laptop") -> Passkey:
    """A stored passkey row for ``user`` (its key is not usable: for pages and access, not ceremonies)."""
    import secrets

    key = Passkey(
        user_id=user.id, credential_id=secrets.token_urlsafe(16), public_key=b"not a real key", sign_count=0, name=name
    )
    db.session.add(key)
    db.session.commit()
    return key
