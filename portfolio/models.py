"""The data model: people, frameworks and their competences.

One module until it truly hurts: the relationships are dense and splitting
early breeds circular imports.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar, cast

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    SQLColumnExpression,
    String,
    Text,
    UniqueConstraint,
    and_,
    event,
    exists,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

from . import clock
from .extensions import Model, db


def utcnow() -> datetime:
    """Timezone-aware now in UTC, from the service's one clock: a callable default (never evaluated at import)."""
    return clock.now().astimezone(UTC)


class Role(enum.StrEnum):
    """What a person does in the service; one person may hold several."""

    WORKER = "worker"
    SUPERVISOR = "supervisor"
    MANAGER = "manager"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class EmailFrequency(enum.StrEnum):
    """How a person's notices reach their mailbox: one digest a day, or each one at once."""

    DAILY = "daily"
    IMMEDIATE = "immediate"

    @property
    def label(self) -> str:
        return {"daily": "Once a day, in one email", "immediate": "Each one at once"}[self.value]


def _enum(enum_class: type[enum.Enum]) -> Enum:
    """Store an enum as its value in a VARCHAR, the same on SQLite and PostgreSQL."""
    return Enum(enum_class, native_enum=False, length=40, values_callable=lambda e: [m.value for m in e])


class Section(enum.StrEnum):
    """Where a competence sits in a Skills for Health role profile."""

    CORE = "core"
    ROLE_SPECIFIC = "role-specific"
    LOCALITY_SPECIFIC = "locality-specific"

    @property
    def label(self) -> str:
        return SECTION_LABELS[self]


SECTION_LABELS = {
    Section.CORE: "Core competences",
    Section.ROLE_SPECIFIC: "Role-specific competences",
    Section.LOCALITY_SPECIFIC: "Locality-specific competences",
}


class User(UserMixin, Model):
    """A person who signs in: worker, supervisor, manager, or several of these."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_worker: Mapped[bool] = mapped_column(Boolean, default=False)
    is_supervisor: Mapped[bool] = mapped_column(Boolean, default=False)
    is_manager: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # True from a manager's invitation until the person sets their password
    # (``active`` stays False meanwhile, so sign-in refuses them).
    invited: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # Bumped at sign-out, password change or disabling: every session and
    # remember-me cookie carries it, so all of them stop working at once.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    framework_id: Mapped[int | None] = mapped_column(ForeignKey("frameworks.id"))
    tier_id: Mapped[int | None] = mapped_column(ForeignKey("tiers.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_signed_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Notices by email: a daily digest (the default) or each at once; the day the last digest went out.
    email_frequency: Mapped[EmailFrequency] = mapped_column(
        _enum(EmailFrequency), default=EmailFrequency.DAILY, server_default=EmailFrequency.DAILY.value
    )
    digest_sent_on: Mapped[date | None] = mapped_column(Date)

    framework: Mapped[Framework | None] = relationship(foreign_keys=[framework_id])
    tier: Mapped[Tier | None] = relationship(foreign_keys=[tier_id])

    __table_args__ = (CheckConstraint("email = lower(email)", name="email_lowercase"),)

    # When this sign-in began (seconds since the epoch); set at sign-in and by
    # the user loader, never stored in the table.
    # (Typed by a cast, not an annotation: SQLAlchemy would read an annotation as a column.)
    signed_in_at = cast("int | None", None)

    # Flask-Login: the id kept in the session and the remember-me cookie
    # (see auth/sessions.py for why it carries the version and the time).
    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}:{self.signed_in_at or 0}"

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def roles(self) -> set[Role]:
        return {
            role
            for role, held in (
                (Role.WORKER, self.is_worker),
                (Role.SUPERVISOR, self.is_supervisor),
                (Role.MANAGER, self.is_manager),
            )
            if held
        }

    def has_role(self, role: Role) -> bool:
        return role in self.roles

    @property
    def role_names(self) -> str:
        """The roles held, named as every page names them, in one order: "Worker, Manager"."""
        return ", ".join(role.label for role in Role if self.has_role(role)) or "None"

    @property
    def label(self) -> str:
        """How a person is named wherever someone chooses them: two people can share a name."""
        return f"{self.name} ({self.email})"

    @property
    def status(self) -> str:
        """invited, active or deactivated: what the People pages show."""
        if self.invited:
            return "invited"
        return "active" if self.active else "deactivated"

    def __repr__(self) -> str:
        return f"<User {self.id}>"


class Invitation(Model):
    """A link that lets an invited person set their password: single-use, expiring.

    Only the token's SHA-256 is kept (auth/tokens.py); resending makes a new
    row and revokes the old one, so one link at most works for a person.
    """

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    def is_open(self, now: datetime) -> bool:
        expires_at = self.expires_at if self.expires_at.tzinfo else self.expires_at.replace(tzinfo=UTC)
        return self.used_at is None and self.revoked_at is None and expires_at > now


class SignInAttempt(Model):
    """One sign-in attempt, kept for throttling failures."""

    __tablename__ = "sign_in_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    address: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        Index("ix_sign_in_attempts_email_at", "email", "at"),
        Index("ix_sign_in_attempts_address_at", "address", "at"),
    )


class PasswordResetRequest(Model):
    """One request for a password-reset link, whether or not the address has an account.

    Kept for throttling: counting requests for unknown addresses too means the
    throttle's answer never reveals which addresses have an account.
    """

    __tablename__ = "password_reset_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        Index("ix_password_reset_requests_email_at", "email", "at"),
        Index("ix_password_reset_requests_address_at", "address", "at"),
    )


class PasswordReset(Model):
    """A single-use link to set a new password; only the SHA-256 of its token is stored."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Set when the link sets a password; or when a newer link, a password
    # change or another reset makes it useless.
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()


class FrameworkKind:
    """What a framework's kind means: for the row (:class:`Framework`) and its frozen copy (frameworks/structure.py)."""

    kind: str

    @property
    def is_tiered(self) -> bool:
        return self.kind == "tiered"


class Framework(FrameworkKind, Model):
    """One version of a competency framework or role profile, loaded from a data file."""

    __tablename__ = "frameworks"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80))
    version: Mapped[int] = mapped_column(Integer)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    kind: Mapped[str] = mapped_column(String(40))  # "tiered" or "role-profile"
    title: Mapped[str] = mapped_column(String(300))
    short_title: Mapped[str] = mapped_column(String(120))
    publisher: Mapped[str] = mapped_column(String(200))
    published: Mapped[str] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(200))
    area_of_work: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    # The profile's other sections (basic information, level descriptor,
    # scope, indicative learning, CPD), kept as written for later use.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    content_hash: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    tiers: Mapped[list[Tier]] = relationship(
        back_populates="framework", order_by="Tier.position", cascade="all, delete-orphan"
    )
    requirements: Mapped[list[Requirement]] = relationship(
        back_populates="framework", order_by="Requirement.position", cascade="all, delete-orphan"
    )

    __table_args__ = (UniqueConstraint("key", "version"),)


class Tier(Model):
    """A level a worker can hold; tiers are cumulative ("in addition to the above")."""

    __tablename__ = "tiers"

    id: Mapped[int] = mapped_column(primary_key=True)
    framework_id: Mapped[int] = mapped_column(ForeignKey("frameworks.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")

    framework: Mapped[Framework] = relationship(back_populates="tiers")

    @staticmethod
    def label_for(name: str, framework_short_title: str) -> str:
        """How lists name a tier: alone when its name says its framework ("Link Worker Coach", not "Link Worker:
        Link Worker Coach"), else with it ("Level 2 (Community Connectors)")."""
        return name if framework_short_title in name else f"{name} ({framework_short_title})"

    @property
    def label(self) -> str:
        """:meth:`label_for` this tier (its framework is one of a few rows, usually in the session already)."""
        return self.label_for(self.name, self.framework.short_title)

    __table_args__ = (
        UniqueConstraint("framework_id", "slug"),
        UniqueConstraint("framework_id", "position"),
    )


class CompetenceGroup(Model):
    """An area (Link Worker) or an underpinning principle and its reference functions (Skills for Health)."""

    __tablename__ = "competence_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    framework_id: Mapped[int] = mapped_column(ForeignKey("frameworks.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("competence_groups.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))  # area, principle, function
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer)

    parent: Mapped[CompetenceGroup | None] = relationship(remote_side=[id])

    __table_args__ = (Index("ix_competence_groups_framework", "framework_id", "position"),)


class Competence(Model):
    """A statement a worker evidences, word for word from its framework."""

    __tablename__ = "competences"

    id: Mapped[int] = mapped_column(primary_key=True)
    framework_id: Mapped[int] = mapped_column(ForeignKey("frameworks.id", ondelete="CASCADE"))
    # Stable across versions of a framework, so evidence can follow a statement.
    ref: Mapped[str] = mapped_column(String(40))
    group_id: Mapped[int] = mapped_column(ForeignKey("competence_groups.id"))
    tier_id: Mapped[int] = mapped_column(ForeignKey("tiers.id"))
    # The heading the statement is listed under, as written (for example
    # "Link Worker Coach and Psychosocial Link Worker").
    listed_under: Mapped[str] = mapped_column(String(200), default="")
    section: Mapped[Section | None] = mapped_column(
        Enum(Section, native_enum=False, length=40, values_callable=lambda e: [m.value for m in e])
    )
    position: Mapped[int] = mapped_column(Integer)
    statement: Mapped[str] = mapped_column(Text)
    required_count: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retired_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    framework: Mapped[Framework] = relationship()
    group: Mapped[CompetenceGroup] = relationship()
    tier: Mapped[Tier] = relationship()

    __table_args__ = (
        UniqueConstraint("framework_id", "ref"),
        Index("ix_competences_framework_position", "framework_id", "position"),
        CheckConstraint("required_count >= 1", name="required_count_positive"),
    )

    @property
    def is_retired(self) -> bool:
        return self.retired_at is not None


class Requirement(Model):
    """A mandatory requirement that a manager verifies (and, for DBS, renews): not a competence."""

    __tablename__ = "requirements"

    id: Mapped[int] = mapped_column(primary_key=True)
    framework_id: Mapped[int] = mapped_column(ForeignKey("frameworks.id", ondelete="CASCADE"))
    ref: Mapped[str] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(Integer)
    statement: Mapped[str] = mapped_column(Text)
    applies_to: Mapped[str] = mapped_column(String(200), default="")
    # None: verified once; otherwise it lapses after this many months.
    renewal_months: Mapped[int | None] = mapped_column(Integer)

    framework: Mapped[Framework] = relationship(back_populates="requirements")

    __table_args__ = (UniqueConstraint("framework_id", "ref"),)


class SupervisionAssignment(Model):
    """A supervisor assigned to a worker for a period; the history is kept."""

    __tablename__ = "supervision_assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    supervisor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    worker_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    supervisor: Mapped[User] = relationship(foreign_keys=[supervisor_id])
    worker: Mapped[User] = relationship(foreign_keys=[worker_id])

    __table_args__ = (
        CheckConstraint("supervisor_id <> worker_id", name="not_self_supervised"),
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="ends_after_start"),
        Index("ix_supervision_worker", "worker_id", "starts_on"),
        Index("ix_supervision_supervisor", "supervisor_id", "starts_on"),
    )


# --- Evidence -------------------------------------------------------------------


class EvidenceKind(enum.StrEnum):
    """What an evidence item is; everything else about a kind is in its module in portfolio/evidence/kinds/."""

    REFLECTION = "reflection"
    CERTIFICATE = "certificate"
    SUPERVISION_NOTE = "supervision-note"
    OBSERVATION = "observation"
    FEEDBACK = "feedback"
    OTHER = "other"

    @property
    def label(self) -> str:
        """'Reflective account', 'Training certificate': from the kind's entry in the registry."""
        return self.entry.label

    @property
    def add_heading(self) -> str:
        """'Add a reflective account', 'Add an observation of practice', 'Add feedback'."""
        return self.entry.add_heading

    @property
    def entry(self):
        """This kind's entry in portfolio.evidence.kinds: its form, fields, pages and export."""
        from .evidence import kinds  # the registry imports the forms, which import this module

        return kinds.get(self)


class EvidenceStatus(enum.StrEnum):
    """Where an item is in review: drafts and returned items can be edited."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    SIGNED_OFF = "signed-off"

    @property
    def label(self) -> str:
        return {
            "draft": "Draft",
            "submitted": "Submitted for review",
            "returned": "Returned for changes",
            "signed-off": "Signed off",
        }[self.value]


class FeedbackSource(enum.StrEnum):
    COLLEAGUE = "colleague"
    PARTNER_AGENCY = "partner-agency"
    PERSON_SUPPORTED = "person-supported"

    @property
    def label(self) -> str:
        return {
            "colleague": "A colleague",
            "partner-agency": "A partner agency",
            "person-supported": "A person supported",
        }[self.value]


# A catalogue certificate of anyone's, shared, waiting for a check (neither checked nor sent back), in the words the
# queries use (training/service.py): the condition of the index that holds only these.
CERTIFICATES_WAITING = (
    "kind = 'certificate' AND training_item_id IS NOT NULL AND checked_at IS NULL AND sent_back_at IS NULL"
    " AND is_private IS false"
)


class Evidence(Model):
    """One item in a worker's portfolio. Kind-specific fields are empty for other kinds."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    # active_history: a moved item changes its old owner's progress too (progress/versions.py).
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), active_history=True)
    kind: Mapped[EvidenceKind] = mapped_column(_enum(EvidenceKind))
    status: Mapped[EvidenceStatus] = mapped_column(_enum(EvidenceStatus), default=EvidenceStatus.DRAFT)
    title: Mapped[str] = mapped_column(String(200))
    # Date of the event, of completing the course, or of the supervision session.
    occurred_on: Mapped[date] = mapped_column(Date)
    # Reflections only: private ones are seen by their author alone and cannot be submitted.
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    # Reflective prompts (clean HTML).
    what_happened: Mapped[str] = mapped_column(Text, default="")
    what_learned: Mapped[str] = mapped_column(Text, default="")
    practice_change: Mapped[str] = mapped_column(Text, default="")
    next_steps: Mapped[str] = mapped_column(Text, default="")
    # Observation, feedback, other; what was discussed in supervision (clean HTML).
    description: Mapped[str] = mapped_column(Text, default="")
    # Training certificates.
    provider: Mapped[str | None] = mapped_column(String(200))
    expires_on: Mapped[date | None] = mapped_column(Date)
    cpd_hours: Mapped[Decimal | None] = mapped_column(db.Numeric(6, 2))
    # Training certificates: the catalogue course it shows (for compliance).
    training_item_id: Mapped[int | None] = mapped_column(ForeignKey("training_items.id"), index=True)
    # Training certificates: the supervisor or manager who checked it, and when. Until then it is
    # "uploaded, not checked" and does not count for compliance (training/service.py).
    checked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Or sent back by the checker, saying what is wrong (another course's certificate, an unreadable file): it
    # leaves the list to check and counts for nothing until the worker changes it (training/service.py).
    sent_back_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    sent_back_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_back_reason: Mapped[str | None] = mapped_column(Text)
    # What the checker said when they last sent it back, kept once the worker changed it (forget_check) until it is
    # checked: the next checker reads what was wrong.
    earlier_sent_back_reason: Mapped[str | None] = mapped_column(Text)
    # Supervision notes.
    supervisor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Feedback.
    feedback_source: Mapped[FeedbackSource | None] = mapped_column(_enum(FeedbackSource))
    feedback_from: Mapped[str | None] = mapped_column(String(200))
    # Observations of practice: who observed, and in what role (None on those saved before it was asked).
    observed_by: Mapped[str | None] = mapped_column(String(200))
    # Lower-case plain text of the title and every written part, for search:
    # searching the HTML would match tag names and entities.
    search_text: Mapped[str] = mapped_column(Text, default="")
    # When the author confirmed that flagged details are not about a person they support.
    anonymity_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    # When it was last sent for review: the same moment as that submission's ``submitted_at``, so a
    # worker's waiting items are found in order from the index below, however many they have.
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    owner: Mapped[User] = relationship(foreign_keys=[owner_id])
    supervisor: Mapped[User | None] = relationship(foreign_keys=[supervisor_id])
    checked_by: Mapped[User | None] = relationship(foreign_keys=[checked_by_id])
    sent_back_by: Mapped[User | None] = relationship(foreign_keys=[sent_back_by_id])
    training_item: Mapped[TrainingItem | None] = relationship()
    files: Mapped[list[EvidenceFile]] = relationship(
        back_populates="evidence", order_by="EvidenceFile.id", cascade="all, delete-orphan", passive_deletes=True
    )
    links: Mapped[list[EvidenceLink]] = relationship(
        back_populates="evidence", order_by="EvidenceLink.id", cascade="all, delete-orphan", passive_deletes=True
    )
    actions: Mapped[list[SupervisionAction]] = relationship(
        back_populates="evidence",
        order_by="SupervisionAction.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    note_reviews: Mapped[list[NoteReview]] = relationship(order_by="NoteReview.id", viewonly=True)

    __table_args__ = (
        # Progress counts and ranks read a worker's items from these alone: SQLite keeps the id (rowid) in
        # every index; PostgreSQL is given it (INCLUDE) so that it too needs no visit to the wide rows. A
        # supervisor's queue reads their supervisees' items' kinds and named supervisors from the second,
        # and a worker's home their oldest waiting items, in the order they were sent.
        Index("ix_evidence_owner_occurred", "owner_id", "occurred_on", postgresql_include=["id"]),
        Index(
            "ix_evidence_owner_status_submitted",
            "owner_id",
            "status",
            "submitted_at",
            postgresql_include=["id", "kind", "supervisor_id"],
        ),
        # A worker's certificates (their training), and My portfolio filtered by kind.
        Index("ix_evidence_owner_kind", "owner_id", "kind", "occurred_on", postgresql_include=["id"]),
        # The certificates waiting for a check (training/service.py): neither checked nor sent back, oldest added
        # first, and how many. The homes of supervisors and managers count them from this alone.
        Index(
            "ix_evidence_certificates_to_decide",
            "kind",
            "checked_at",
            "sent_back_at",
            "created_at",
            "training_item_id",
            "is_private",
            "owner_id",
        ),
        # The same certificates alone, by owner, for PostgreSQL: only those waiting are in it, so a home reads a few
        # hundred entries however many items the service holds. The condition is written out as the queries say it
        # (training.is_catalogue_certificate_sql and its neighbours): PostgreSQL uses an index with a condition only
        # for a query that implies it in its own words. SQLite has it too (one schema) and reads the one above: its
        # queries say "is_private IS 0", which it does not take for this condition's "IS false".
        Index(
            "ix_evidence_certificates_waiting",
            "owner_id",
            "created_at",
            postgresql_include=["id"],
            postgresql_where=text(CERTIFICATES_WAITING),
            sqlite_where=text(CERTIFICATES_WAITING),
        ),
        CheckConstraint("cpd_hours IS NULL OR (cpd_hours >= 0 AND cpd_hours <= 1000)", name="cpd_hours_range"),
        CheckConstraint("expires_on IS NULL OR expires_on >= occurred_on", name="expires_after_completion"),
        CheckConstraint("NOT (is_private AND status <> 'draft')", name="private_stays_draft"),
        # A certificate is checked or sent back, never both.
        CheckConstraint("checked_at IS NULL OR sent_back_at IS NULL", name="checked_or_sent_back"),
        # An item sent has the time it was last sent (review.open_submission): the queue's count and the
        # worker's home read it alone.
        CheckConstraint("status = 'draft' OR submitted_at IS NOT NULL", name="sent_has_time"),
    )

    @property
    def note_confirmed(self) -> bool:
        """A supervision note its supervisor confirmed as an accurate record (then it is locked)."""
        return self.kind == EvidenceKind.SUPERVISION_NOTE and any(
            r.outcome == NoteOutcome.CONFIRMED for r in self.note_reviews
        )

    @property
    def note_state(self) -> NoteState | None:
        """A supervision note's one state: confirmed once confirmed, else disputed if disputed, else waiting.

        None for every other kind of evidence.
        """
        if self.kind != EvidenceKind.SUPERVISION_NOTE:
            return None
        return NoteState.of(reviewed=bool(self.note_reviews), confirmed=self.note_confirmed)

    @property
    def certificate_state(self) -> CertificateState | None:
        """A catalogue certificate's one state with its checkers (training/service.py's rules): checked, sent back, or
        not checked yet. None for a certificate not matched to the catalogue (nobody checks it) and every other
        kind of evidence.
        """
        if self.kind != EvidenceKind.CERTIFICATE or self.training_item_id is None:
            return None
        from .training import service as training  # the rules' module imports this one

        return CertificateState.of(checked=training.is_checked(self), sent_back=training.is_sent_back(self))

    @property
    def is_editable(self) -> bool:
        return self.status in (EvidenceStatus.DRAFT, EvidenceStatus.RETURNED) and not self.note_confirmed

    def forget_check(self) -> None:
        """A certificate changed: whatever its checker said (checked, or sent back) was about what it was, and it
        waits for a new check.

        Its time of change moves too, even when only a file came or went (no column of its own changed): a checker's
        page drawn before is then out of date (training.service.version_of).
        """
        self.checked_by_id, self.checked_at = None, None
        if self.sent_back_reason:
            self.earlier_sent_back_reason = self.sent_back_reason
        self.sent_back_by_id, self.sent_back_at, self.sent_back_reason = None, None, None
        self.updated_at = utcnow()

    @property
    def text_fields(self) -> list[tuple[str, str]]:
        """The item's written parts, labelled, in reading order (for display and checks)."""
        parts = [(label, getattr(self, name)) for name, label in self.kind.entry.written]
        return [(label, html) for label, html in parts if html]


def search_text_of(values: Any) -> str:
    """The plain, lower-cased words of an item (an Evidence or a row with the same attributes).

    Every kind's typed and written columns (others' are empty); migration 0013
    fills existing rows with this same function.
    """
    from .evidence.anonymity import plain_text  # a pure function; imported late to avoid a cycle
    from .evidence.kinds import PLAIN_COLUMNS, TEXT_COLUMNS

    parts = [getattr(values, name) or "" for name in PLAIN_COLUMNS]
    parts += [plain_text(getattr(values, name) or "") for name in TEXT_COLUMNS]
    return " ".join(" ".join(parts).split()).lower()


@event.listens_for(Evidence, "before_insert")
@event.listens_for(Evidence, "before_update")
def _set_search_text(_mapper, _connection, evidence: Evidence) -> None:
    """Keep ``search_text`` the plain, lower-cased words of the item, however it is written."""
    evidence.search_text = search_text_of(evidence)


class EvidenceFile(Model):
    """A file attached to an evidence item, stored outside static/ under a random name."""

    __tablename__ = "evidence_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id", ondelete="CASCADE"), index=True)
    stored_name: Mapped[str] = mapped_column(String(80), unique=True)
    original_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    evidence: Mapped[Evidence] = relationship(back_populates="files")


class EvidenceLink(Model):
    """An evidence item offered for one competence, with the worker's note on how it shows it."""

    __tablename__ = "evidence_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    # active_history: moved to another item, the old one's owner changes too (progress/versions.py).
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id", ondelete="CASCADE"), active_history=True)
    competence_id: Mapped[int] = mapped_column(ForeignKey("competences.id"), index=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    evidence: Mapped[Evidence] = relationship(back_populates="links")
    competence: Mapped[Competence] = relationship()

    __table_args__ = (UniqueConstraint("evidence_id", "competence_id"),)


class ActionOwner(enum.StrEnum):
    WORKER = "worker"
    SUPERVISOR = "supervisor"

    @property
    def label(self) -> str:
        return {"worker": "Worker", "supervisor": "Supervisor"}[self.value]


class SupervisionAction(Model):
    """An action agreed in a supervision session."""

    __tablename__ = "supervision_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(500))
    owner: Mapped[ActionOwner] = mapped_column(_enum(ActionOwner))
    due_on: Mapped[date] = mapped_column(Date)

    evidence: Mapped[Evidence] = relationship(back_populates="actions")


# --- Review: submissions, decisions, note confirmations ------------------------


class DecisionOutcome(enum.StrEnum):
    SIGNED_OFF = "signed-off"
    RETURNED = "returned"

    @property
    def label(self) -> str:
        return {"signed-off": "Signed off", "returned": "Returned for changes"}[self.value]


class Submission(Model):
    """One request for review of an item; a returned item is submitted again as a new row."""

    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id", ondelete="CASCADE"), index=True)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # A hash of the item's content, files and links when it was submitted.
    content_hash: Mapped[str] = mapped_column(String(64))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    evidence: Mapped[Evidence] = relationship()
    decision: Mapped[Decision | None] = relationship(back_populates="submission", uselist=False)

    __table_args__ = (Index("ix_submissions_open", "withdrawn_at", "submitted_at"),)


class Decision(Model):
    """A supervisor's decision on a submission: append-only, one per submission."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique: two supervisors deciding at once cannot both land.
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), unique=True)
    # active_history: moved to another item, the old one's owner changes too (progress/versions.py).
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id", ondelete="CASCADE"), active_history=True)
    supervisor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    outcome: Mapped[DecisionOutcome] = mapped_column(_enum(DecisionOutcome))
    comment: Mapped[str] = mapped_column(Text, default="")
    # The hash of the item's content, files and links that was decided on.
    content_hash: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    submission: Mapped[Submission] = relationship(back_populates="decision")
    supervisor: Mapped[User] = relationship()
    outcomes: Mapped[list[CompetenceDecision]] = relationship(
        back_populates="decision", order_by="CompetenceDecision.id", cascade="all, delete-orphan", passive_deletes=True
    )

    # An item's decisions by outcome, without reading the rows (the accepted counts ask for sign-offs).
    __table_args__ = (Index("ix_decisions_evidence_outcome", "evidence_id", "outcome", postgresql_include=["id"]),)


class CompetenceDecision(Model):
    """The outcome for one linked competence within a decision."""

    __tablename__ = "competence_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # active_history: moved to another decision, the old one's owner changes too (progress/versions.py).
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"), active_history=True)
    competence_id: Mapped[int] = mapped_column(ForeignKey("competences.id"), index=True)
    accepted: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str] = mapped_column(Text, default="")

    decision: Mapped[Decision] = relationship(back_populates="outcomes")
    competence: Mapped[Competence] = relationship()

    __table_args__ = (
        UniqueConstraint("decision_id", "competence_id"),
        # What a decision accepted, without reading the rows (the comment can be long).
        Index("ix_competence_decisions_decision_accepted", "decision_id", "accepted", "competence_id"),
    )


class NoteOutcome(enum.StrEnum):
    CONFIRMED = "confirmed"
    DISPUTED = "disputed"

    @property
    def label(self) -> str:
        return {"confirmed": "Confirmed as an accurate record", "disputed": "Disputed"}[self.value]


class NoteState(enum.StrEnum):
    """Where a supervision note stands with its supervisor, the same words on both sides."""

    WAITING = "waiting"
    CONFIRMED = "confirmed"
    DISPUTED = "disputed"

    @property
    def label(self) -> str:
        return {"waiting": "Waiting for confirmation", "confirmed": "Confirmed", "disputed": "Disputed"}[self.value]

    @classmethod
    def of(cls, *, reviewed: bool, confirmed: bool) -> NoteState:
        """The rule: confirmed once confirmed, else disputed if its supervisor has answered, else waiting."""
        if confirmed:
            return cls.CONFIRMED
        return cls.DISPUTED if reviewed else cls.WAITING


class CertificateState(enum.StrEnum):
    """Where a catalogue certificate stands with the supervisors and managers who check it, the same words on both
    sides: it counts for training compliance once checked."""

    UNCHECKED = "unchecked"
    CHECKED = "checked"
    SENT_BACK = "sent-back"

    @property
    def label(self) -> str:
        # The words of the worker's training table (training.service.TrainingStatus) for a course with only this.
        return {"unchecked": "Uploaded, not checked", "checked": "Checked", "sent-back": "Sent back"}[self.value]

    @classmethod
    def of(cls, *, checked: bool, sent_back: bool) -> CertificateState:
        """Checked or sent back (never both: a check constraint), else not checked yet."""
        if checked:
            return cls.CHECKED
        return cls.SENT_BACK if sent_back else cls.UNCHECKED


class NoteReview(Model):
    """The named supervisor's word on a supervision note: append-only."""

    __tablename__ = "note_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    # active_history: moved to another item, the old one's owner changes too (progress/versions.py).
    evidence_id: Mapped[int] = mapped_column(
        ForeignKey("evidence.id", ondelete="CASCADE"), index=True, active_history=True
    )
    supervisor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    outcome: Mapped[NoteOutcome] = mapped_column(_enum(NoteOutcome))
    comment: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    supervisor: Mapped[User] = relationship()


class FormSubmission(Model):
    """A creating form's one-time key (hashed) and the record its first submission created."""

    __tablename__ = "form_submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(60))  # the created record's table
    record_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Notification(Model):
    """An in-app notice for one person; it never holds evidence text."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    message: Mapped[str] = mapped_column(String(300))
    url: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Notices of one kind about one person on one day share a key and so one row, which counts them
    # ("Wendy Worker sent 3 items"); other notices have none (NULLs never clash in the unique index).
    group_key: Mapped[str | None] = mapped_column(String(80))
    items: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # What an email about it may say (never a title or a reason); when it was emailed, or handed to a digest.
    email_subject: Mapped[str] = mapped_column(String(300), default="", server_default="")
    emailed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_notifications_user_read", "user_id", "read_at"),
        Index("ix_notifications_user_newest", "user_id", "created_at", "id"),  # their list, a page at a time
        UniqueConstraint("user_id", "group_key"),
    )


class AuditEntry(Model):
    """One row of the append-only audit ledger, chained to the one before by an HMAC."""

    __tablename__ = "audit_ledger"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Contiguous from 1: a removed or inserted row breaks the sequence.
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str] = mapped_column(String(80))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # 1: rows written before content binding (chain-checked only); 2: the row
    # also binds the record it describes (see audit/binders.py).
    format: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    record_type: Mapped[str | None] = mapped_column(String(40))
    record_id: Mapped[int | None] = mapped_column(Integer)
    # The record's canonical content when the row was written, and its sha256
    # (which the HMAC covers): verify recomputes it from the live tables.
    content: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    content_hash: Mapped[str | None] = mapped_column(String(64))


class AuditCheck(Model):
    """One run of ``verify``: when, whether the ledger held, and the first problem found."""

    __tablename__ = "audit_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    rows_checked: Mapped[int] = mapped_column(Integer, default=0)
    problem_count: Mapped[int] = mapped_column(Integer, default=0)
    first_problem: Mapped[str] = mapped_column(String(500), default="")
    # None: run from the command line (cron); otherwise the manager who pressed "Verify now".
    run_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    run_by: Mapped[User | None] = relationship()


# --- Progression: requirements, promotion ------------------------------------------


class RequirementVerification(Model):
    """A manager's check that a worker meets a mandatory requirement: append-only, newest counts."""

    __tablename__ = "requirement_verifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requirement_id: Mapped[int] = mapped_column(ForeignKey("requirements.id"))
    verified_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    verified_on: Mapped[date] = mapped_column(Date)
    # When it must be checked again (DBS); None: it does not lapse.
    expires_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    requirement: Mapped[Requirement] = relationship()
    verified_by: Mapped[User] = relationship(foreign_keys=[verified_by_id])

    __table_args__ = (
        Index("ix_requirement_verifications_worker", "worker_id", "requirement_id"),
        CheckConstraint("expires_on IS NULL OR expires_on >= verified_on", name="expires_after_verified"),
    )


class PromotionRequest(Model):
    """A worker asks to move to a tier; a supervisor recommends; a manager decides."""

    __tablename__ = "promotion_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    from_tier_id: Mapped[int] = mapped_column(ForeignKey("tiers.id"))
    target_tier_id: Mapped[int] = mapped_column(ForeignKey("tiers.id"))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The worker took it back before a decision: closed, and nobody is asked about it any more.
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    worker: Mapped[User] = relationship(foreign_keys=[worker_id])
    from_tier: Mapped[Tier] = relationship(foreign_keys=[from_tier_id])
    target_tier: Mapped[Tier] = relationship(foreign_keys=[target_tier_id])
    # Every recommendation given, oldest first: a supervisor who changes theirs adds one, and the earlier stays on
    # the record. What counts is each supervisor's newest (current_recommendations).
    recommendations: Mapped[list[PromotionRecommendation]] = relationship(
        back_populates="request", order_by="PromotionRecommendation.id"
    )
    decision: Mapped[PromotionDecision | None] = relationship(back_populates="request", uselist=False)

    @property
    def current_recommendations(self) -> list[PromotionRecommendation]:
        """Each supervisor's newest recommendation, the one that counts, in the order they were given."""
        return newest_per_supervisor(self.recommendations)

    def earlier_recommendations(self, current: PromotionRecommendation) -> list[PromotionRecommendation]:
        """What the same supervisor recommended before ``current``, newest first (changed since)."""
        return [
            r for r in reversed(self.recommendations) if r.supervisor_id == current.supervisor_id and r.id < current.id
        ]

    @classmethod
    def open_where(cls) -> ColumnElement[bool]:
        """The one rule of an open request, in SQL: neither decided nor withdrawn (a worker has one at most)."""
        return and_(cls.withdrawn_at.is_(None), ~exists().where(PromotionDecision.request_id == cls.id))


R = TypeVar("R")


def newest_per_supervisor(
    recommendations: Iterable[R], of: Callable[[R], PromotionRecommendation] | None = None
) -> list[R]:
    """The recommendations that count: each supervisor's newest (a change is a new row), in the order given.
    ``of``: the recommendation in each item, for rows that carry more (a name)."""

    def recommendation(item: R) -> PromotionRecommendation:
        return of(item) if of is not None else cast(PromotionRecommendation, item)

    newest = {recommendation(r).supervisor_id: r for r in sorted(recommendations, key=lambda r: recommendation(r).id)}
    return sorted(newest.values(), key=lambda r: recommendation(r).id)


class PromotionRecommendation(Model):
    """A supervisor's view on a promotion request: supports, or not yet, with reasons."""

    __tablename__ = "promotion_recommendations"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("promotion_requests.id"))
    supervisor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    supports: Mapped[bool] = mapped_column(Boolean)
    reasons: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    request: Mapped[PromotionRequest] = relationship(back_populates="recommendations")
    supervisor: Mapped[User] = relationship()

    # Not unique: a supervisor may change their recommendation while the request is open (the newest counts).
    __table_args__ = (Index("ix_promotion_recommendations_request_supervisor", "request_id", "supervisor_id"),)


class PromotionDecision(Model):
    """A manager's decision on a promotion request: one per request, never edited."""

    __tablename__ = "promotion_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("promotion_requests.id"), unique=True)
    manager_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    approved: Mapped[bool] = mapped_column(Boolean)
    effective_on: Mapped[date | None] = mapped_column(Date)
    reasons: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    request: Mapped[PromotionRequest] = relationship(back_populates="decision")
    manager: Mapped[User] = relationship()


class TierChange(Model):
    """The history of a worker's tiers."""

    __tablename__ = "tier_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    from_tier_id: Mapped[int | None] = mapped_column(ForeignKey("tiers.id"))
    to_tier_id: Mapped[int] = mapped_column(ForeignKey("tiers.id"))
    effective_on: Mapped[date] = mapped_column(Date)
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("promotion_decisions.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    from_tier: Mapped[Tier | None] = relationship(foreign_keys=[from_tier_id])
    to_tier: Mapped[Tier] = relationship(foreign_keys=[to_tier_id])


# --- Training, CPD and appraisal ----------------------------------------------------


class RequiredByTier:
    """Which workers a course is for, by their tier: the rule in one place, for the row (:class:`TrainingItem`) and
    its frozen copy kept between requests (training/courses.py)."""

    tier_slugs: Sequence[str]

    def required_for(self, tier_slug: str | None) -> bool:
        """The rule: an empty list of tiers means every tier; a worker without a tier needs only those."""
        return not self.tier_slugs or (tier_slug is not None and tier_slug in self.tier_slugs)

    def required_where(self, tier_slug: SQLColumnExpression[str | None]) -> ColumnElement[bool]:
        """:meth:`required_for` as SQL, on a column holding the worker's tier slug (NULL: no tier)."""
        if not self.tier_slugs:
            return true()
        return and_(tier_slug.is_not(None), tier_slug.in_(self.tier_slugs))


class TrainingItem(RequiredByTier, Model):
    """A course in a framework's training catalogue, with how often it must be renewed."""

    __tablename__ = "training_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The framework's key, not a version: the catalogue outlives new versions of the data file.
    framework_key: Mapped[str] = mapped_column(String(80), index=True)
    title: Mapped[str] = mapped_column(String(200))
    statutory: Mapped[bool] = mapped_column(Boolean, default=False)
    # None: done once, never renewed.
    renewal_months: Mapped[int | None] = mapped_column(Integer)
    # Tier slugs that need it; empty: every tier.
    tier_slugs: Mapped[list[str]] = mapped_column(JSON, default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        CheckConstraint(
            "renewal_months IS NULL OR (renewal_months >= 1 AND renewal_months <= 120)", name="renewal_range"
        ),
    )


class GoalStatus(enum.StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in-progress"
    ACHIEVED = "achieved"
    DROPPED = "dropped"

    @property
    def label(self) -> str:
        return {"open": "Not started", "in-progress": "In progress", "achieved": "Achieved", "dropped": "Dropped"}[
            self.value
        ]

    @property
    def is_open(self) -> bool:
        return self in (GoalStatus.OPEN, GoalStatus.IN_PROGRESS)


class Appraisal(Model):
    """A worker's annual appraisal; locked once both the worker and the appraiser have signed."""

    __tablename__ = "appraisals"

    id: Mapped[int] = mapped_column(primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    year: Mapped[int] = mapped_column(Integer)
    held_on: Mapped[date] = mapped_column(Date)
    appraiser_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    review: Mapped[str] = mapped_column(Text, default="")
    objectives: Mapped[str] = mapped_column(Text, default="")
    learning_needs: Mapped[str] = mapped_column(Text, default="")
    worker_signed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    appraiser_signed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    worker: Mapped[User] = relationship(foreign_keys=[worker_id])
    appraiser: Mapped[User] = relationship(foreign_keys=[appraiser_id])
    goals: Mapped[list[CpdGoal]] = relationship(
        back_populates="appraisal", order_by="CpdGoal.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        UniqueConstraint("worker_id", "year"),
        CheckConstraint("worker_id <> appraiser_id", name="not_self_appraised"),
    )

    @property
    def is_locked(self) -> bool:
        return self.worker_signed_at is not None and self.appraiser_signed_at is not None


class CpdGoal(Model):
    """A goal of an appraisal's CPD plan; open goals carry into next year's appraisal."""

    __tablename__ = "cpd_goals"

    id: Mapped[int] = mapped_column(primary_key=True)
    appraisal_id: Mapped[int] = mapped_column(ForeignKey("appraisals.id", ondelete="CASCADE"), index=True)
    description: Mapped[str] = mapped_column(String(500))
    method: Mapped[str] = mapped_column(String(500), default="")
    target_on: Mapped[date] = mapped_column(Date)
    status: Mapped[GoalStatus] = mapped_column(_enum(GoalStatus), default=GoalStatus.OPEN)
    carried_from_id: Mapped[int | None] = mapped_column(ForeignKey("cpd_goals.id"))

    appraisal: Mapped[Appraisal] = relationship(back_populates="goals")


cpd_activity_competences = db.Table(
    "cpd_activity_competences",
    db.Column("activity_id", ForeignKey("cpd_activities.id", ondelete="CASCADE"), primary_key=True),
    db.Column("competence_id", ForeignKey("competences.id"), primary_key=True),
)


class CpdActivity(Model):
    """A CPD activity: what was done, what was learned, and its impact on practice."""

    __tablename__ = "cpd_activities"

    id: Mapped[int] = mapped_column(primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    done_on: Mapped[date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(200))
    hours: Mapped[Decimal] = mapped_column(db.Numeric(5, 2))
    learned: Mapped[str] = mapped_column(Text, default="")
    impact: Mapped[str] = mapped_column(Text, default="")
    goal_id: Mapped[int | None] = mapped_column(ForeignKey("cpd_goals.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    goal: Mapped[CpdGoal | None] = relationship()
    competences: Mapped[list[Competence]] = relationship(
        secondary=cpd_activity_competences, order_by="Competence.position"
    )

    __table_args__ = (CheckConstraint("hours > 0 AND hours <= 100", name="hours_range"),)


class TotpSecret(Model):
    """A person's one-time-code (RFC 6238) secret, encrypted with PORTFOLIO_MFA_KEY.

    ``confirmed_at`` is empty while set-up waits for the first code; only a
    confirmed secret is a second factor.
    """

    __tablename__ = "totp_secrets"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    secret_encrypted: Mapped[str] = mapped_column(String(255))
    # The time step of the last code accepted: no code of that step or an
    # earlier one is accepted again (RFC 6238 section 5.2).
    last_used_step: Mapped[int | None] = mapped_column(db.BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RecoveryCode(Model):
    """One single-use recovery code, stored as its SHA-256 (the code has 80 random bits)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Passkey(Model):
    """A WebAuthn credential (passkey) registered by a person."""

    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # base64url of the credential id the authenticator chose (at most 1023 bytes).
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(db.LargeBinary)
    sign_count: Mapped[int] = mapped_column(db.BigInteger, default=0)
    name: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MfaAttempt(Model):
    """One try at the second step of signing in, kept for throttling failures."""

    __tablename__ = "mfa_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        Index("ix_mfa_attempts_user_id_at", "user_id", "at"),
        Index("ix_mfa_attempts_address_at", "address", "at"),
    )


class FrameworkImport(Model):
    """A framework file a manager uploaded, held for the preview until they confirm (or leave it)."""

    __tablename__ = "framework_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(255))
    file_format: Mapped[str] = mapped_column(String(40))  # "CASE 1.1" or "Mahara SmartEvidence"
    # The parsed tree (title, nodes with parents), not the raw upload.
    tree: Mapped[dict[str, Any]] = mapped_column(JSON)
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Set once, under a lock, when the manager confirms: a second confirm finds it.
    framework_id: Mapped[int | None] = mapped_column(ForeignKey("frameworks.id"))
    imported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IssuedCredential(Model):
    """An Open Badges 3.0 credential issued to a worker for a met tier, as signed."""

    __tablename__ = "issued_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)  # a UUID: the credential's URL
    worker_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    framework_id: Mapped[int] = mapped_column(ForeignKey("frameworks.id"))
    tier_id: Mapped[int] = mapped_column(ForeignKey("tiers.id"))
    # The worker's position in the revocation status list (one bit each).
    status_index: Mapped[int] = mapped_column(Integer, unique=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)  # the signed credential, exactly as issued
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked_reason: Mapped[str] = mapped_column(Text, default="")

    worker: Mapped[User] = relationship(foreign_keys=[worker_id])
    framework: Mapped[Framework] = relationship()
    tier: Mapped[Tier] = relationship()
    revoked_by: Mapped[User | None] = relationship(foreign_keys=[revoked_by_id])


class DocumentKind(enum.StrEnum):
    """A document built in the background rather than during a request."""

    DATA_EXPORT = "data-export"  # a person's own data, as a zip (privacy/export.py)
    PANEL_PDF = "panel-pdf"  # a worker's portfolio for a promotion panel (progress/documents.py)


class DocumentStatus(enum.StrEnum):
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"


class Document(Model):
    """A document a person asked for, built by the task consumer into a stored file that expires.

    Asking again while one is being built finds this row (under a lock on the
    asker's row) instead of starting another build.
    """

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # Whose data it holds: the asker for their own export or PDF, else the worker a supervisor or manager views.
    worker_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[DocumentKind] = mapped_column(_enum(DocumentKind))
    tier_id: Mapped[int | None] = mapped_column(ForeignKey("tiers.id"))  # the panel PDF's target tier
    status: Mapped[DocumentStatus] = mapped_column(_enum(DocumentStatus), default=DocumentStatus.BUILDING)
    download_name: Mapped[str] = mapped_column(String(200))
    stored_name: Mapped[str | None] = mapped_column(String(64))  # random, under DOCUMENT_FOLDER, once ready
    size: Mapped[int | None] = mapped_column(Integer)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    worker: Mapped[User] = relationship(foreign_keys=[worker_id])
    tier: Mapped[Tier | None] = relationship()


class OrganisationSettings(Model):
    """The organisation's own identity: one row (id 1), written by a manager; without it, configuration.

    The logo lives in the row itself rather than the upload folder: it is small
    (bounded by the organisation service), so the row and its image are written
    in one transaction, no file can be orphaned, and every server process sees it.
    """

    __tablename__ = "organisation_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_name: Mapped[str] = mapped_column(String(80))
    organisation_name: Mapped[str] = mapped_column(String(120))
    # Only an NHS organisation may show the NHS logo.
    is_nhs: Mapped[bool] = mapped_column(Boolean, default=False)
    # The uploaded logo, re-encoded (PNG or JPEG); None: the configured logo, if any. Deferred: every page
    # reads the row for the header, only the logo's own route and documents read the image.
    logo: Mapped[bytes | None] = mapped_column(db.LargeBinary, deferred=True)
    logo_type: Mapped[str | None] = mapped_column(String(20))
    logo_sha256: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)


class PortfolioVersion(Model):
    """A token that changes, in the same transaction, with anything a worker's progress is counted from.

    Kept by ``portfolio/progress/versions.py`` and nothing else: it lets each server process keep what it
    counted for a worker until the worker's portfolio changes. ``owner_id`` 0 stands for the frameworks
    (a change to any framework, tier or competence changes everyone's counts). No foreign key: a row may
    outlive its worker harmlessly, and nothing but the token is ever read.
    """

    __tablename__ = "portfolio_versions"

    owner_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    token: Mapped[str] = mapped_column(String(32))
