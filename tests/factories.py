"""Plain helper functions that make test data (no shared mutable fixtures).

The kit's data half (reading pages is ``tests/pages.py``, fixtures such as ``worker``, ``supervisor``, ``manager``,
``smtp`` and ``server`` are in ``tests/conftest.py``):

- People: ``make_user(*roles, email=, name=, tier=)``, ``make_worker()``, ``make_supervisor_of(worker)``,
  ``assign(supervisor, worker)``, ``make_worker_supervisor()`` / ``make_worker_manager()`` (two roles), ``give_totp``,
  ``make_passkey``, ``a_link_for(user)`` (a password-reset link); ``PASSWORD`` signs any of them in.
- Frameworks: ``load_frameworks()``, ``tier(key, slug)``, ``competence(ref)``, ``competences(key, *tiers, refs=)``,
  ``requirement(worker, ref)``, ``requirements_of(worker)``.
- A worker with items: ``add_items(worker, supervisor, n)`` (a third signed off, a third waiting, the rest drafts),
  ``link_draft``, ``waiting_item``, ``send_for_review`` (in the open transaction), ``submitted_item`` and
  ``supervisors_queue(worker, *titles)`` (through the use cases), ``supervision_note``.
- Signed-off competences: ``meet(worker, competences, supervisor=)``, ``decide_on`` (any outcome), ``not_accept``,
  ``verify_all(worker, manager)``, ``make_ready(worker, supervisor, manager)`` (ready for promotion),
  ``promotion_request``, ``appraisal``; ``audit(...)`` writes the ledger row a use case would.
- Days and content: ``TODAY`` (the app's clock), ``YESTERDAY``, ``RECENT_DAY``, ``SUPERVISED_SINCE``, ``ASSIGNED_ON``,
  ``EVENT_DAY``, ``PINNED_TODAY``, ``days_ago(n)``; ``PDF``, ``png_bytes()``, ``NHS_NUMBER``, ``HASH``, ``MIB``;
  ``EVIDENCE_MODELS`` / ``NO_EVIDENCE`` for ``row_counts``; ``execute(sql)`` changes a table behind the app's back.
"""

from __future__ import annotations

import io
import itertools
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from PIL import Image
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from portfolio import clock
from portfolio.auth.passwords import hash_password
from portfolio.auth.tokens import new_token
from portfolio.extensions import db
from portfolio.frameworks import loader
from portfolio.models import (
    Appraisal,
    Competence,
    CompetenceDecision,
    Decision,
    DecisionOutcome,
    EmailFrequency,
    Evidence,
    EvidenceFile,
    EvidenceKind,
    EvidenceLink,
    EvidenceStatus,
    Framework,
    Passkey,
    PasswordReset,
    PromotionRecommendation,
    PromotionRequest,
    Requirement,
    RequirementVerification,
    Role,
    Submission,
    SupervisionAction,
    SupervisionAssignment,
    Tier,
    TrainingItem,
    User,
    utcnow,  # the service's clock, which the run holds on one day (conftest)
)
from portfolio.progress import versions

from . import snapshots
from .pages import row_counts

PASSWORD = "correct horse battery staple"

# Days the tests share. TODAY comes from the app's one clock; the rest are relative to it or pinned.
TODAY = clock.today()
YESTERDAY = TODAY - timedelta(days=1)
RECENT_DAY = TODAY - timedelta(days=20)  # when recent evidence happened
SUPERVISED_SINCE = TODAY - timedelta(days=90)  # when a current supervisor's assignment began
ASSIGNED_ON = date(2026, 1, 1)  # a pinned assignment start, before EVENT_DAY
EVENT_DAY = date(2026, 3, 10)  # a pinned day evidence happened, after ASSIGNED_ON
PINNED_TODAY = date(2026, 6, 30)  # "today" for use cases that take it as an argument

# Test content.
NEW_PASSWORD = "amber kettle orbit seventy lantern"  # passwords the policy accepts, to change to
OTHER_NEW_PASSWORD = "quiet meadow saxophone ninety"
MIB = 1024 * 1024
LINK_WORKER_FILE = Path(loader.DATA_FOLDER) / "link-worker.yaml"
HASH = "0" * 64  # a content hash (what was submitted is not the point)
NHS_NUMBER = "943 476 5919"  # valid by the modulus 11 check
PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
)


def pdf_page(label: str) -> bytes:
    """A PDF whose content is its own (``PDF`` with a comment): an item holds one copy of the same content."""
    return PDF + f"% {label}\n".encode()


# Hashed once: argon2id is slow on purpose, and tests create many users.
PASSWORD_HASH = hash_password(PASSWORD)
_numbers = itertools.count(1)

# What the evidence use cases write: ``row_counts(*EVIDENCE_MODELS) == NO_EVIDENCE`` after a refused one.
EVIDENCE_MODELS = (Evidence, EvidenceFile, EvidenceLink, SupervisionAction)
NO_EVIDENCE = {model.__tablename__: 0 for model in EVIDENCE_MODELS}


def load_frameworks() -> dict[str, Framework]:
    """Load the shipped framework files; return the current versions by key.

    The loader runs once per database in a run (reading, checking and adding several hundred rows a flush at a
    time takes a quarter of a second on PostgreSQL, and most tests need the frameworks); later, on a database
    holding none of what it wrote, its rows are put back (``tests/snapshots.py``). ``tests/test_snapshots.py``
    checks that they are what the loader writes.
    """
    url = db.engine.url.render_as_string(hide_password=False)
    loaded = _LOADED.get(url)
    if loaded is not None and snapshots.can_restore(loaded):
        snapshots.restore(loaded)
    else:
        before = row_counts()
        loader.load_all()
        after = row_counts()
        written = [table for table in db.metadata.sorted_tables if after[table.name] != before[table.name]]
        if loaded is None and written and not any(before.values()):  # the database holds only what it wrote
            _LOADED[url] = snapshots.take(written)
    return {framework.key: framework for framework in db.session.scalars(select(Framework).where(Framework.is_current))}


# The shipped frameworks as the loader first wrote them, by database URL.
_LOADED: dict[str, snapshots.Snapshot] = {}


def case_child_of(child: str, parent: str, sequence: int) -> dict:
    """A CASE ``isChildOf`` association between two identifiers, for hand-written CASE packages."""
    return {
        "identifier": f"{child}-in-{parent}",
        "associationType": "isChildOf",
        "sequenceNumber": sequence,
        "originNodeURI": {"identifier": child, "title": child, "uri": f"x:{child}"},
        "destinationNodeURI": {"identifier": parent, "title": parent, "uri": f"x:{parent}"},
    }


def imported(tree, *, key: str, tier_level: int | None, area_level: int) -> Framework:
    """A framework made from an imported file's tree (``portability.importing.parse``) under ``key``."""
    from portfolio.database import begin_write
    from portfolio.portability import importing

    begin_write()
    data = loader.check_data(
        importing.framework_data(tree, key=key, tier_level=tier_level, area_level=area_level), "test"
    )
    result = loader.load_data(data)
    db.session.commit()
    return result.framework


def tier(framework_key: str, slug: str) -> Tier:
    return db.session.scalar(
        select(Tier)
        .join(Framework)
        .where(Framework.key == framework_key, Framework.is_current.is_(True), Tier.slug == slug)
    )


def _user(roles: tuple[Role, ...], email: str, name: str, tier: Tier | None, *, active: bool = True) -> User:
    """A user with ``roles`` (a worker when none) and the test password, not yet added."""
    roles = roles or (Role.WORKER,)
    return User(
        email=email,
        name=name,
        password_hash=PASSWORD_HASH,
        is_worker=Role.WORKER in roles,
        is_supervisor=Role.SUPERVISOR in roles,
        is_manager=Role.MANAGER in roles,
        active=active,
        framework_id=tier.framework_id if tier else None,
        tier_id=tier.id if tier else None,
    )


def make_user(
    *roles: Role,
    email: str | None = None,
    name: str | None = None,
    tier: Tier | None = None,
    active: bool = True,
) -> User:
    """A user with the given roles (a worker by default) and the test password."""
    number = next(_numbers)
    user = _user(roles, email or f"person{number}@example.org", name or f"Person {number}", tier, active=active)
    db.session.add(user)
    db.session.commit()
    return user


def make_worker(name: str = "Wendy Worker", email: str = "worker@example.org", slug: str = "link-worker") -> User:
    """A worker on the Link Worker framework at tier ``slug`` (Wendy Worker, a Link Worker, by default)."""
    return make_user(Role.WORKER, email=email, name=name, tier=tier("link-worker", slug))


def make_supervisor_of(
    worker: User, name: str = "Sam Supervisor", email: str = "supervisor@example.org", since: date = ASSIGNED_ON
) -> User:
    """A supervisor assigned to ``worker`` from ``since``."""
    supervisor = make_user(Role.SUPERVISOR, email=email, name=name)
    assign(supervisor, worker, starts_on=since)
    return supervisor


def emailed_at_once(*people: User) -> None:
    """These people get each notification emailed as it happens (everyone else gets a daily digest)."""
    for person in people:
        person.email_frequency = EmailFrequency.IMMEDIATE
    db.session.commit()


def days_ago(days: int) -> date:
    """A day in the past, so that "today or in the past" rules hold whenever the tests run."""
    return TODAY - timedelta(days=days)


def assign(
    supervisor: User, worker: User, starts_on: date | None = None, *, audited: bool = False
) -> SupervisionAssignment:
    """``audited``: with its ledger row, as supervision.assign writes (for tests that verify the ledger)."""
    assignment = SupervisionAssignment(
        supervisor_id=supervisor.id, worker_id=worker.id, starts_on=starts_on or ASSIGNED_ON
    )
    db.session.add(assignment)
    if audited:
        audit(None, "supervision.assigned", "assignment:{}", assignment)
    db.session.commit()
    return assignment


# --- People with two roles, and the items they decide on (separation of duties) -----------


def make_worker_with(role: Role, name: str, slug: str = "link-worker") -> User:
    """A Link Worker who also holds ``role`` (supervisor or manager)."""
    return make_user(Role.WORKER, role, name=name, tier=tier("link-worker", slug))


def make_worker_supervisor(name: str = "Willa Worker-Supervisor") -> User:
    return make_worker_with(Role.SUPERVISOR, name)


def make_worker_manager(name: str = "Mel Worker-Manager") -> User:
    return make_worker_with(Role.MANAGER, name)


def competence(ref: str, framework_key: str = "link-worker") -> Competence:
    """The competence ``ref`` of the current version of a framework (the Link Worker one by default)."""
    return db.session.scalar(
        select(Competence)
        .join(Framework)
        .where(Framework.key == framework_key, Framework.is_current.is_(True), Competence.ref == ref)
    )


#: Plain values of each kind, for :func:`service_item`.
SERVICE_ITEM_VALUES = {
    EvidenceKind.OTHER: dict(title="Walking group leaflet", description="A leaflet for the walking group."),
    EvidenceKind.REFLECTION: dict(
        title="Home visit reflection", what_happened="I visited a person at home.", what_learned="Listen first."
    ),
    EvidenceKind.CERTIFICATE: dict(title="Safeguarding adults level 2", provider="NHS Learning Hub"),
    EvidenceKind.OBSERVATION: dict(
        title="Observed group session", observed_by="Priya Shah, practice lead", description="She watched me."
    ),
}


def service_item(owner: User, kind: EvidenceKind = EvidenceKind.REFLECTION, uploads=(), **values) -> Evidence:
    """An item of ``owner``'s made through the evidence service (its checks run), with plain values of its kind
    (:data:`SERVICE_ITEM_VALUES`) and ``uploads``, (name, content) pairs."""
    from werkzeug.datastructures import FileStorage

    from portfolio.evidence import service as evidence_service
    from portfolio.evidence.service import EvidenceInput

    data = EvidenceInput(**{"occurred_on": EVENT_DAY, **SERVICE_ITEM_VALUES[kind], **values})
    storages = [FileStorage(stream=io.BytesIO(content), filename=name) for name, content in uploads]
    return evidence_service.create_evidence(owner, kind, data, storages)


def submitted_item(worker: User, title: str = "Community walking group", ref: str = "PS-LW-01") -> Submission:
    """An item of ``worker``'s linked to one competence and submitted through the use cases; its submission."""
    from portfolio.evidence import service as evidence_service
    from portfolio.evidence.service import EvidenceInput

    evidence = evidence_service.create_evidence(
        worker,
        EvidenceKind.OTHER,
        EvidenceInput(title=title, occurred_on=EVENT_DAY, description="I set up a weekly walking group."),
        link_competence_id=competence(ref).id,
    )
    evidence_service.submit(worker, db.session.get(Evidence, evidence.id))
    db.session.expire_all()
    return db.session.scalar(select(Submission).where(Submission.evidence_id == evidence.id))


def sent_days_ago(submission: Submission, days: int) -> Submission:
    """Pretend ``submission`` was sent ``days`` days ago."""
    return sent_at(submission, utcnow() - timedelta(days=days))


def sent_at(submission: Submission, moment: datetime) -> Submission:
    """Pretend ``submission`` was sent at ``moment``: its time and its item's, which are always the same moment
    (review.open_submission)."""
    submission.submitted_at = moment
    db.session.get(Evidence, submission.evidence_id).submitted_at = moment
    db.session.commit()
    return submission


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

    from portfolio.models import TotpSecret

    secret = pyotp.random_base32()
    encrypted = Fernet(current_app.config["MFA_KEY"]).encrypt(secret.encode()).decode()
    db.session.add(
        TotpSecret(user_id=user.id, secret_encrypted=encrypted, confirmed_at=datetime.now(UTC))
    )  # real time, as mfa reads it
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


# --- Training and requirements ------------------------------------------------------------


def course(
    title: str,
    months: int | None = 36,
    *,
    key: str = "link-worker",
    tiers: list[str] | None = None,
    statutory: bool = True,
    position: int = 0,
) -> TrainingItem:
    item = TrainingItem(
        framework_key=key,
        title=title,
        statutory=statutory,
        renewal_months=months,
        tier_slugs=tiers or [],
        position=position,
    )
    db.session.add(item)
    db.session.commit()
    return item


def certificate(
    owner: User,
    item: TrainingItem | None,
    completed_on: date,
    expires_on: date | None = None,
    *,
    title: str | None = None,
    checked: bool = True,
    checked_by: User | None = None,
    sent_back: str | None = None,
) -> Evidence:
    """A training certificate matched to ``item`` (written directly), checked unless ``checked`` is False or it
    was sent back (``sent_back``: why)."""
    evidence = Evidence(
        checked_at=utcnow() if checked and not sent_back else None,
        checked_by_id=checked_by.id if checked_by else None,
        sent_back_at=utcnow() if sent_back else None,
        sent_back_reason=sent_back,
        owner_id=owner.id,
        kind=EvidenceKind.CERTIFICATE,
        title=title or (item.title if item else "A course"),
        occurred_on=completed_on,
        expires_on=expires_on,
        provider="NHS Learning Hub",
        training_item_id=item.id if item else None,
    )
    db.session.add(evidence)
    db.session.commit()
    return evidence


# --- Signed-off competences: an item decided on, written directly -------------------------
# ``meet(worker, competences("link-worker", "link-worker"), supervisor=sam)`` makes competences met;
# ``not_accept`` and ``link_draft`` make the states short of it; ``make_ready`` makes a worker ready
# for promotion. Dates are relative to today, so that nothing expires while the suite runs.


def competences(
    framework_key: str = "link-worker", *tier_slugs: str, refs: list[str] | None = None
) -> list[Competence]:
    """The current version's active competences, of some tiers or with some refs, in framework order."""
    query = (
        select(Competence)
        .join(Framework, Framework.id == Competence.framework_id)
        .join(Tier, Tier.id == Competence.tier_id)
        .where(Framework.key == framework_key, Framework.is_current.is_(True), Competence.retired_at.is_(None))
        .order_by(Competence.position)
    )
    if tier_slugs:
        query = query.where(Tier.slug.in_(tier_slugs))
    if refs is not None:
        query = query.where(Competence.ref.in_(refs))
    return list(db.session.scalars(query))


def decide_on(
    worker: User,
    items: list[Competence],
    *,
    supervisor: User,
    accepted: bool = True,
    outcome: DecisionOutcome = DecisionOutcome.SIGNED_OFF,
    title: str | None = None,
    evidence: Evidence | None = None,
    occurred_on: date | None = None,
    comment: str = "",
) -> Evidence:
    """An item of the worker's (new, or ``evidence``) linked to ``items`` and decided on by ``supervisor``.

    Written directly: a submission, a decision with ``outcome`` and one
    competence decision per competence, ``accepted`` as given, and the
    ledger row review.decide writes.
    """
    if evidence is None:
        evidence = Evidence(
            owner_id=worker.id,
            kind=EvidenceKind.OTHER,
            title=title or f"Evidence for {', '.join(c.ref for c in items)}"[:200],
            occurred_on=occurred_on or RECENT_DAY,
            description="<p>What I did.</p>",
        )
        db.session.add(evidence)
        db.session.flush()
    linked = {
        link.competence_id
        for link in db.session.scalars(select(EvidenceLink).where(EvidenceLink.evidence_id == evidence.id))
    }
    for c in items:
        if c.id not in linked:
            db.session.add(EvidenceLink(evidence_id=evidence.id, competence_id=c.id))
    # An item sent already is decided on its open submission: an item has one open submission at most.
    submission = db.session.scalar(
        select(Submission).where(
            Submission.evidence_id == evidence.id,
            Submission.withdrawn_at.is_(None),
            ~select(Decision.id).where(Decision.submission_id == Submission.id).exists(),
        )
    )
    if submission is None:
        # The item's time sent is its submission's, as review.open_submission writes them.
        evidence.submitted_at = utcnow()
        submission = Submission(evidence_id=evidence.id, content_hash=HASH, submitted_at=evidence.submitted_at)
        db.session.add(submission)
    evidence.status = EvidenceStatus.SIGNED_OFF if outcome == DecisionOutcome.SIGNED_OFF else EvidenceStatus.RETURNED
    db.session.flush()
    decision = Decision(
        submission_id=submission.id,
        evidence_id=evidence.id,
        supervisor_id=supervisor.id,
        outcome=outcome,
        content_hash=HASH,
        comment=comment,
    )
    decision.outcomes = [CompetenceDecision(competence_id=c.id, accepted=accepted) for c in items]
    db.session.add(decision)
    db.session.flush()
    audit(supervisor, f"evidence.{outcome.value}", f"evidence:{evidence.id}", decision)  # as review.decide does
    db.session.commit()
    return evidence


def meet(worker: User, items: list[Competence], *, supervisor: User, title: str | None = None) -> Evidence:
    """Make ``items`` met for the worker: accepted in one signed-off decision."""
    return decide_on(worker, items, supervisor=supervisor, title=title)


def not_accept(worker: User, items: list[Competence], *, supervisor: User, returned: bool = False) -> Evidence:
    """Decided but not accepted: accepted=False in a sign-off, or (``returned``) accepted in a returned decision."""
    if returned:
        return decide_on(worker, items, supervisor=supervisor, accepted=True, outcome=DecisionOutcome.RETURNED)
    return decide_on(worker, items, supervisor=supervisor, accepted=False)


def link_draft(
    worker: User,
    items: list[Competence],
    title: str = "Draft in progress",
    status: EvidenceStatus = EvidenceStatus.DRAFT,
) -> Evidence:
    """An item (a draft unless ``status`` says otherwise) linked to ``items``: evidence in progress, nothing decided.

    An item that is not a draft was sent, at a time; a submitted one has its open submission at that time.
    """
    evidence = Evidence(
        owner_id=worker.id,
        kind=EvidenceKind.OTHER,
        title=title,
        occurred_on=RECENT_DAY,
        description="<p>Draft</p>",
        status=status,
        submitted_at=None if status == EvidenceStatus.DRAFT else utcnow(),
    )
    evidence.links = [EvidenceLink(competence_id=c.id) for c in items]
    db.session.add(evidence)
    if status == EvidenceStatus.SUBMITTED:
        db.session.flush()
        send_for_review(evidence)
    db.session.commit()
    return evidence


def send_for_review(evidence: Evidence, session: Session | None = None) -> Submission:
    """Send ``evidence`` for review in ``session``'s open transaction (the test's own by default), not committed.

    As review.open_submission writes it: the item is submitted, its time sent is now, and it has one open
    submission at that same moment. The database refuses an item sent without its time (0028).
    """
    session = session or db.session()
    evidence.status = EvidenceStatus.SUBMITTED
    evidence.submitted_at = utcnow()
    submission = Submission(evidence_id=evidence.id, content_hash=HASH, submitted_at=evidence.submitted_at)
    session.add(submission)
    session.flush()
    return submission


def verification(
    worker: User, by: User, ref: str, verified_on: date, expires_on: date | None
) -> RequirementVerification:
    """A verification of the worker's requirement ``ref`` (say REQ-DBS), written directly."""
    requirement = db.session.scalar(
        select(Requirement).where(Requirement.framework_id == worker.framework_id, Requirement.ref == ref)
    )
    row = RequirementVerification(
        worker_id=worker.id,
        requirement_id=requirement.id,
        verified_by_id=by.id,
        verified_on=verified_on,
        expires_on=expires_on,
    )
    db.session.add(row)
    db.session.commit()
    return row


# --- Many rows at once, for the size and query-count tests of long lists -----------------------

# Names, emails and titles as long as real ones, so that page sizes measured on them mean something.
LONG_NAME = "Alexandra Worthington-Smythe"
LONG_TITLE = "Observed holistic assessment with a community walking group"


def many_users(count: int, *roles: Role, tier: Tier | None = None, name: str = LONG_NAME) -> list[User]:
    """``count`` users named ``"<name> 001"`` onwards, numbered after those already so named; one commit."""
    first = (db.session.scalar(select(func.count()).where(User.name.startswith(name + " "))) or 0) + 1
    users = [
        _user(roles, f"{name.lower().replace(' ', '.')}.{n:03d}@example.org", f"{name} {n:03d}", tier)
        for n in range(first, first + count)
    ]
    db.session.add_all(users)
    db.session.commit()
    return users


def waiting_items(supervisor: User, workers: list[User], per_worker: int, title: str = LONG_TITLE) -> None:
    """``per_worker`` items of each worker waiting in ``supervisor``'s queue, written directly in one commit.

    No competence links or ledger rows: for the queue's pages, not for deciding.
    """
    from portfolio.models import EvidenceStatus, utcnow

    db.session.add_all(
        SupervisionAssignment(supervisor_id=supervisor.id, worker_id=w.id, starts_on=date(2026, 1, 1)) for w in workers
    )
    items = [
        Evidence(
            owner_id=w.id,
            kind=EvidenceKind.OTHER,
            status=EvidenceStatus.SUBMITTED,
            title=f"{title} {n}",
            occurred_on=EVENT_DAY,
            submitted_at=utcnow(),
        )
        for w in workers
        for n in range(1, per_worker + 1)
    ]
    db.session.add_all(items)
    db.session.flush()
    db.session.add_all(Submission(evidence_id=e.id, submitted_at=e.submitted_at, content_hash="0" * 64) for e in items)
    db.session.commit()


def waiting_item(worker: User, title: str = "Waiting for review") -> Evidence:
    """An item submitted and not yet decided: one open submission, at the item's time sent (link_draft)."""
    return link_draft(
        worker, competences("link-worker", "link-worker")[:1], title=title, status=EvidenceStatus.SUBMITTED
    )


def add_items(
    worker: User, supervisor: User, n: int, tiers: tuple[str, ...] = ("link-worker", "link-worker-coach")
) -> None:
    """``n`` items spread over the worker's competences, a third signed off, a third submitted, the rest drafts."""
    pool = competences("link-worker", *tiers)
    for i in range(n):
        c = pool[i % len(pool)]
        kind = i % 3
        if kind == 0:
            decide_on(worker, [c], supervisor=supervisor, title=f"Signed off {i}")
        elif kind == 1:
            waiting_item(worker, title=f"Waiting {i}")
        else:
            link_draft(worker, [c], title=f"Draft {i}")


def supervisors_queue(worker: User, *titles: str) -> list[Submission]:
    """Items of ``worker``'s submitted through the use cases, one per title: their supervisors' review queue."""
    return [submitted_item(worker, title) for title in titles]


def requirements_of(worker: User) -> list[Requirement]:
    """The requirements of the worker's framework, in order."""
    return list(
        db.session.scalars(
            select(Requirement).where(Requirement.framework_id == worker.framework_id).order_by(Requirement.position)
        )
    )


def requirement(worker: User, ref: str) -> Requirement:
    """The requirement ``ref`` of the worker's framework."""
    return next(r for r in requirements_of(worker) if r.ref == ref)


def verify_all(worker: User, manager: User, *, skip: tuple[str, ...] = (), verified_on: date | None = None) -> None:
    """Verify every requirement of the worker's framework (but ``skip``) through the service."""
    from portfolio.progress import service

    for each in requirements_of(worker):
        if each.ref not in skip:
            service.verify_requirement(
                manager,
                worker,
                each,
                verified_on=verified_on or TODAY - timedelta(days=7),
                expires_on=None,
                note="",
            )


def make_ready(worker: User, supervisor: User, manager: User) -> None:
    """Every Link Worker and Link Worker Coach competence met, every requirement verified."""
    meet(
        worker,
        competences("link-worker", "link-worker", "link-worker-coach"),
        supervisor=supervisor,
        title="Year of practice",
    )
    verify_all(worker, manager)


def a_link_for(user: User, *, minutes_left: int = 30, created_minutes_ago: int = 0) -> str:
    """A reset link made directly in the database (its token, for the URL).

    On the real clock, as the account service reads reset links: their minutes are real minutes.
    """
    token, token_digest = new_token()
    now = datetime.now(UTC)
    db.session.add(
        PasswordReset(
            user_id=user.id,
            token_digest=token_digest,
            created_at=now - timedelta(minutes=created_minutes_ago),
            expires_at=now + timedelta(minutes=minutes_left),
        )
    )
    db.session.commit()
    return token


# An image that is a script: refused wherever an upload is taken (evidence files, the organisation's logo).
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'


def png_bytes(size=(12, 8), mode="RGB", colour="teal", **save) -> bytes:
    """A small PNG image (Pillow's ``save`` options passed on)."""
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, "PNG", **save)
    return buffer.getvalue()


def execute(sql: str, **params) -> None:
    """Change a table behind the application's back, as someone with database access could.

    Every portfolio counts as changed, as after a restart (the README's advice after editing tables by hand).
    """
    db.session.execute(text(sql), params)
    versions.changed(db.session(), [versions.FRAMEWORKS])
    db.session.commit()
    db.session.expire_all()
