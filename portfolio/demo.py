"""``flask demo``: demonstration accounts for trying the app locally."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from . import clock
from .audit import ledger
from .auth import service as auth_service
from .extensions import db
from .frameworks import loader
from .models import (
    Competence,
    DecisionOutcome,
    Evidence,
    EvidenceKind,
    Framework,
    OrganisationSettings,
    Role,
    SupervisionAssignment,
    Tier,
    TrainingItem,
    User,
)
from .organisation import service as organisation

DEMO_ACCOUNTS = (
    # email, name, roles, (framework key, tier slug)
    ("worker@example.org", "Wendy Worker", {Role.WORKER}, ("link-worker", "link-worker")),
    (
        "supervisor@example.org",
        "Sam Supervisor",
        {Role.WORKER, Role.SUPERVISOR},
        ("link-worker", "psychosocial-link-worker"),
    ),
    ("manager@example.org", "Maya Manager", {Role.MANAGER}, None),
    (
        "sew@example.org",
        "Sol Engagement",
        {Role.WORKER},
        ("sfh-senior-engagement-worker", "senior-engagement-worker"),
    ),
)


def _tier(framework_key: str, tier_slug: str) -> Tier:
    tier = db.session.scalar(
        select(Tier)
        .join(Framework)
        .where(Framework.key == framework_key, Framework.is_current.is_(True), Tier.slug == tier_slug)
    )
    if tier is None:
        raise click.ClickException(f"Framework {framework_key!r} is not loaded: run `flask frameworks load` first")
    return tier


def create_demo_data(password: str) -> list[User]:
    """Create the demo accounts and supervision; existing accounts are left as they are."""
    loader.load_all()
    users: dict[str, User] = {}
    for email, name, roles, placement in DEMO_ACCOUNTS:
        user = db.session.scalar(select(User).where(User.email == email))
        if user is None:
            tier = _tier(*placement) if placement else None
            user = auth_service.create_user(email=email, name=name, password=password, roles=roles, tier=tier)
        users[email] = user
    supervisor = users["supervisor@example.org"]
    for worker_email in ("worker@example.org", "sew@example.org"):
        worker = users[worker_email]
        exists = db.session.scalar(
            select(SupervisionAssignment.id).where(
                SupervisionAssignment.supervisor_id == supervisor.id, SupervisionAssignment.worker_id == worker.id
            )
        )
        if exists is None:
            assignment = SupervisionAssignment(
                supervisor_id=supervisor.id,
                worker_id=worker.id,
                starts_on=date(clock.today().year, 1, 1),
                created_by_id=users["manager@example.org"].id,
            )
            db.session.add(assignment)
            db.session.flush()
            # Bound in the ledger like every assignment, so `flask audit verify` holds on the demo.
            ledger.record(
                users["manager@example.org"], "supervision.assigned", f"assignment:{assignment.id}", binds=assignment
            )
    db.session.commit()
    if not db.session.scalar(select(OrganisationSettings.id).limit(1)):
        # A voluntary and community sector employer, as many link workers' are: no NHS logo in the header.
        organisation.update_settings(
            users["manager@example.org"],
            organisation.Changes(
                service_name="Evidence portfolio", organisation_name="Anytown Community Action", is_nhs=False
            ),
        )
    if not db.session.scalar(select(TrainingItem.id).limit(1)):
        _demo_training(users["manager@example.org"])
    if not db.session.scalar(select(Evidence.id).where(Evidence.owner_id == users["worker@example.org"].id).limit(1)):
        _demo_evidence(users)
    return list(users.values())


# Example catalogues: the role profile's indicative learning list, and the
# Link Worker framework's own themes. Renewal periods are examples (see README).
DEMO_TRAINING = {
    "sfh-senior-engagement-worker": [
        ("Safeguarding training", True, 36),
        ("Statutory/Mandatory training within the service", True, 12),
        ("Prevention and management of violence and aggression", True, 12),
        ("Lone working", True, 36),
        ("PREVENT training or WRAP", True, 36),
        ("Equality, Diversity and Inclusion", True, 36),
        ("De-escalation training", False, 24),
        ("Trauma-informed practices", False, 36),
        ("Locality specific training within the service", False, 12),
        ("Introduction to the Criminal Justice System", False, None),
        ("Training related to vulnerabilities", False, None),
        ("Understanding of mental health conditions", False, None),
        ("Understanding of neurodiversity", False, None),
    ],
    "link-worker": [
        ("Safeguarding adults", True, 36),
        ("Data protection and information governance", True, 12),
        ("Lone working", True, 36),
        ("Equality, Diversity and Inclusion", True, 36),
        ("Mental health awareness", False, 36),
        ("Motivational interviewing", False, None),
    ],
}


def _demo_training(manager: User) -> None:
    from .training import service as training

    for key, items in DEMO_TRAINING.items():
        framework = db.session.scalars(
            select(Framework).where(Framework.key == key, Framework.is_current.is_(True))
        ).one()
        for title, statutory, months in items:
            training.add_item(
                manager, framework, title=title, statutory=statutory, renewal_months=months, tier_slugs=[]
            )


def _training_item(title: str, framework_key: str | None = None) -> TrainingItem:
    found = select(TrainingItem).where(TrainingItem.title == title)
    if framework_key is not None:
        found = found.where(TrainingItem.framework_key == framework_key)
    return db.session.scalars(found).one()


def _competence(user: User, words: str) -> Competence:
    return db.session.scalars(
        select(Competence)
        .where(Competence.framework_id == user.framework_id, Competence.statement.contains(words))
        .order_by(Competence.position)
        .limit(1)
    ).one()


def _demo_evidence(users: dict[str, User]) -> None:
    """A portfolio with something in each state, so every page has something to show."""
    from .evidence import service as evidence
    from .review import service as review
    from .training import service as training

    worker, supervisor, sew = users["worker@example.org"], users["supervisor@example.org"], users["sew@example.org"]
    today = clock.today()
    reflection = evidence.create_evidence(
        worker,
        EvidenceKind.REFLECTION,
        evidence.EvidenceInput(
            title="First group session on healthy eating",
            occurred_on=today - timedelta(days=40),
            what_happened="I ran my first group session for six people on healthy eating at the community centre.",
            what_learned="Letting the group share their own ideas first kept everyone engaged.",
            practice_change="I now plan a short opening question for every group session.",
            next_steps="Ask a colleague to observe my next session.",
        ),
        link_competence_id=_competence(worker, "close a professional relationship").id,
    )
    evidence.link_competence(
        worker,
        reflection,
        _competence(worker, "calm and sensitive approach").id,
        "Two people were upset; I stayed calm.",
    )
    evidence.submit(worker, reflection)
    submission = review.open_submission_of(reflection)
    assert submission is not None, "the reflection was just submitted"
    review.decide(
        supervisor,
        submission,
        outcome=DecisionOutcome.SIGNED_OFF,
        comment="A thoughtful account.",
        outcomes={
            link.competence_id: review.CompetenceOutcome(True)
            if "calm" in link.competence.statement
            else review.CompetenceOutcome(False, "This session does not show closing a relationship.")
            for link in reflection.links
        },
    )
    observation = evidence.create_evidence(
        worker,
        EvidenceKind.OBSERVATION,
        evidence.EvidenceInput(
            title="Observed holistic assessment by telephone",
            occurred_on=today - timedelta(days=7),
            observed_by=f"{supervisor.name}, my supervisor",
            description="My supervisor listened to a telephone assessment and gave feedback on how I explored barriers to change.",
        ),
        link_competence_id=_competence(worker, "basic holistic assessment").id,
    )
    evidence.submit(worker, observation)
    evidence.create_evidence(
        worker,
        EvidenceKind.SUPERVISION_NOTE,
        evidence.EvidenceInput(
            occurred_on=today - timedelta(days=14),
            supervisor_id=supervisor.id,
            description="We discussed my caseload and how to close cases well.",
            actions=[
                evidence.ActionInput("Read the service's case closure guidance", "worker", today + timedelta(days=14))
            ],
        ),
    )
    evidence.create_evidence(
        worker,
        EvidenceKind.REFLECTION,
        evidence.EvidenceInput(
            title="A difficult conversation (private notes)",
            occurred_on=today - timedelta(days=2),
            what_happened="Notes for myself before supervision.",
            what_learned="To be written.",
            is_private=True,
        ),
    )
    certificate = FileStorage(
        io.BytesIO(DEMO_PDF), filename="safeguarding-certificate.pdf", content_type="application/pdf"
    )
    safeguarding = evidence.create_evidence(
        sew,
        EvidenceKind.CERTIFICATE,
        evidence.EvidenceInput(
            title="Safeguarding adults level 2",
            provider="NHS e-learning",
            occurred_on=today - timedelta(days=100),
            expires_on=today - timedelta(days=100) + timedelta(days=3 * 365),
            cpd_hours=Decimal("3.5"),
            training_item_id=_training_item("Safeguarding training").id,
        ),
        [certificate],
        link_competence_id=_competence(sew, "Support the safeguarding of individuals").id,
    )
    # Checked by Sol's supervisor, so the demo shows a certificate that counts for compliance.
    training.check_certificate(supervisor, safeguarding)
    # Two of Wendy's: one waiting in Sam's list of certificates to check, one he sent back saying why.
    for title, course, days_ago, reason in (
        ("Lone working awareness", "Lone working", 20, None),
        ("Information governance", "Data protection and information governance", 60, DEMO_SENT_BACK),
    ):
        upload = FileStorage(io.BytesIO(DEMO_PDF), filename=f"{course.lower()}.pdf", content_type="application/pdf")
        uploaded = evidence.create_evidence(
            worker,
            EvidenceKind.CERTIFICATE,
            evidence.EvidenceInput(
                title=title,
                provider="NHS e-learning",
                occurred_on=today - timedelta(days=days_ago),
                training_item_id=_training_item(course, "link-worker").id,
            ),
            [upload],
        )
        if reason:
            training.send_back_certificate(supervisor, uploaded, reason)


DEMO_SENT_BACK = "The file is a fire safety certificate: please add your information governance one."


# A one-page PDF that says what it is.
DEMO_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 144]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>endobj\n"
    b"4 0 obj<</Length 60>>stream\nBT /F1 14 Tf 20 70 Td (Demo certificate: not real) Tj ET\nendstream endobj\n"
    b"5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


@click.command("demo")
@click.option("--force", is_flag=True, help="Create demo accounts even outside development.")
@with_appcontext
def demo_command(force: bool) -> None:
    """Load the frameworks and create the demo accounts (development only unless --force)."""
    env = current_app.config["PORTFOLIO_ENV"]
    if env != "development" and not force:
        raise click.ClickException(
            f"Refusing to create demo accounts with a known password in {env}. Use --force if you really mean it."
        )
    for user in create_demo_data(current_app.config["DEMO_PASSWORD"]):
        roles = ", ".join(sorted(r.value for r in user.roles))
        click.echo(f"{user.email} ({roles})")
    click.echo("Password: the value of PORTFOLIO_DEMO_PASSWORD (see the README for the default).")
