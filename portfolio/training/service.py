"""The training catalogue, each worker's training status, and the team compliance matrix.

A worker's status for a required course comes from their newest training
certificate matched to it that a supervisor or manager has checked: valid;
due (it expires within 60 days, or today); expired; or missing (no
certificate). A certificate nobody has checked yet counts for nothing: the
course shows as "Uploaded, not checked" until it is, unless an older checked
certificate still keeps it valid.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from flask import abort
from sqlalchemy import exists, func, select
from sqlalchemy.sql.elements import ColumnElement

from .. import duties, idempotency
from ..audit import ledger
from ..clock import today
from ..database import begin_write, lock_or_404
from ..errors import FieldError
from ..extensions import db
from ..models import Evidence, EvidenceKind, Framework, Role, SupervisionAssignment, Tier, TrainingItem, User
from ..people.service import name_or_email_matches
from ..progress.service import add_months
from ..review.service import Conflict
from ..supervision.service import active_on

DUE_WITHIN_DAYS = 60
TITLE_MAX = 200


class TrainingStatus(enum.StrEnum):
    EXPIRED = "expired"
    DUE = "due"
    MISSING = "missing"
    UNCHECKED = "unchecked"
    VALID = "valid"

    @property
    def label(self) -> str:
        return {
            "expired": "Expired",
            "due": "Due soon",
            "missing": "Missing",
            "unchecked": "Uploaded, not checked",
            "valid": "Valid",
        }[self.value]

    @property
    def urgency(self) -> int:
        return ["expired", "due", "missing", "unchecked", "valid"].index(self.value)


def renewal_due(item: TrainingItem, completed_on: date, expires_on: date | None) -> date | None:
    """When a certificate must be renewed: its own expiry date, else completion plus the renewal period."""
    if expires_on is not None:
        return expires_on
    if item.renewal_months:
        return add_months(completed_on, item.renewal_months)
    return None


def status_of(
    item: TrainingItem, certificate: Evidence | None, on: date, unchecked: Evidence | None = None
) -> tuple[TrainingStatus, date | None]:
    """The rule: the newest checked certificate decides; due within 60 days counts as due (today included).

    ``unchecked`` is a newer certificate nobody has checked yet: the course shows as uploaded, not
    checked, unless the checked one is still valid.
    """
    if certificate is None:
        return (TrainingStatus.UNCHECKED if unchecked is not None else TrainingStatus.MISSING), None
    due = renewal_due(item, certificate.occurred_on, certificate.expires_on)
    if due is None:
        status = TrainingStatus.VALID
    elif due < on:
        status = TrainingStatus.EXPIRED
    elif due <= on + timedelta(days=DUE_WITHIN_DAYS):
        status = TrainingStatus.DUE
    else:
        status = TrainingStatus.VALID
    if unchecked is not None and status != TrainingStatus.VALID:
        return TrainingStatus.UNCHECKED, due
    return status, due


# --- The catalogue ------------------------------------------------------------------


def catalogue(framework_key: str, include_retired: bool = False) -> list[TrainingItem]:
    query = select(TrainingItem).where(TrainingItem.framework_key == framework_key)
    if not include_retired:
        query = query.where(TrainingItem.retired_at.is_(None))
    return list(db.session.scalars(query.order_by(TrainingItem.position, TrainingItem.title)))


def get_item_or_404(item_id: int) -> TrainingItem:
    item = db.session.get(TrainingItem, item_id)
    if item is None or item.retired_at is not None:
        abort(404)
    return item


def current_framework_or_404(key: str) -> Framework:
    framework = db.session.scalar(select(Framework).where(Framework.key == key, Framework.is_current.is_(True)))
    if framework is None:
        abort(404)
    return framework


def parse_renewal(renews: str | None, months: str | None) -> int | None:
    """'never', or a whole number of months from 1 to 120.

    :raises FieldError: for anything else.
    """
    if renews == "never":
        return None
    if renews != "months":
        raise FieldError("renews", "Choose whether the training must be renewed")
    text = (months or "").strip()
    if not re.fullmatch(r"[0-9]{1,4}", text):  # not str.isdigit(): that accepts "²"
        raise FieldError("renewal_months", "Enter the renewal period as a whole number of months, like 12")
    value = int(text)
    if not 1 <= value <= 120:
        raise FieldError("renewal_months", "The renewal period must be between 1 and 120 months")
    return value


def _check(
    framework: Framework, title: str, tier_slugs: list[str], exclude_id: int | None = None
) -> tuple[str, list[str]]:
    title = " ".join((title or "").split())
    if not title:
        raise FieldError("title", "Enter the title of the training")
    if len(title) > TITLE_MAX:
        raise FieldError("title", f"The title must be {TITLE_MAX} characters or fewer")
    known = {t.slug for t in framework.tiers}
    if set(tier_slugs) - known:
        raise FieldError("tiers", "Choose tiers of this framework")
    query = select(TrainingItem.id).where(
        TrainingItem.framework_key == framework.key,
        TrainingItem.retired_at.is_(None),
        func.lower(TrainingItem.title) == title.lower(),
    )
    if exclude_id:
        query = query.where(TrainingItem.id != exclude_id)
    if db.session.scalar(query):
        raise FieldError("title", "This training is already in the catalogue")
    # Every tier selected means the same as none: everyone needs it.
    return title, [] if set(tier_slugs) == known else sorted(tier_slugs, key=[t.slug for t in framework.tiers].index)


@idempotency.creates(TrainingItem)
def add_item(
    actor: User,
    framework: Framework,
    *,
    title: str,
    statutory: bool,
    renewal_months: int | None,
    tier_slugs: list[str],
    form_key: str | None = None,
) -> TrainingItem:
    """Add a course to a framework's catalogue. :raises FieldError: for bad values or a duplicate."""
    if not actor.has_role(Role.MANAGER):
        abort(403)
    title, tiers = _check(framework, title, tier_slugs)
    begin_write()
    idempotency.check(TrainingItem, form_key, actor)
    position = (
        db.session.scalar(select(func.max(TrainingItem.position)).where(TrainingItem.framework_key == framework.key))
        or 0
    ) + 1
    item = TrainingItem(
        framework_key=framework.key,
        title=title,
        statutory=statutory,
        renewal_months=renewal_months,
        tier_slugs=tiers,
        position=position,
    )
    db.session.add(item)
    idempotency.remember(form_key, actor, item)
    db.session.flush()
    ledger.record(actor, "training.added", f"training:{item.id}", title=title, renewal_months=renewal_months)
    db.session.commit()
    return item


def update_item(
    actor: User, item: TrainingItem, *, title: str, statutory: bool, renewal_months: int | None, tier_slugs: list[str]
) -> TrainingItem:
    """Change a course. :raises FieldError: for bad values or a duplicate."""
    if not actor.has_role(Role.MANAGER):
        abort(403)
    framework = current_framework_or_404(item.framework_key)
    title, tiers = _check(framework, title, tier_slugs, exclude_id=item.id)
    begin_write()
    item = lock_or_404(TrainingItem, item.id)
    item.title, item.statutory, item.renewal_months, item.tier_slugs = title, statutory, renewal_months, tiers
    ledger.record(actor, "training.changed", f"training:{item.id}", title=title, renewal_months=renewal_months)
    db.session.commit()
    return item


def retire_item(actor: User, item: TrainingItem) -> None:
    """Take a course out of the catalogue; certificates matched to it keep the match."""
    if not actor.has_role(Role.MANAGER):
        abort(403)
    begin_write()
    item = lock_or_404(TrainingItem, item.id)
    if item.retired_at is not None:  # a second click, or another manager, got there first
        db.session.rollback()
        return
    item.retired_at = datetime.now(UTC)
    ledger.record(actor, "training.retired", f"training:{item.id}")
    db.session.commit()


def options_for(worker: User) -> list[TrainingItem]:
    """Courses a worker's certificate can be matched to."""
    if worker.framework is None:
        return []
    return catalogue(worker.framework.key)


# --- Status -----------------------------------------------------------------------


@dataclass
class TrainingRow:
    item: TrainingItem
    status: TrainingStatus
    due_on: date | None
    certificate: Evidence | None  # the newest checked certificate: the one that counts
    unchecked: Evidence | None = None  # a newer one waiting for a supervisor's or manager's check


@dataclass
class Certificates:
    """A worker's certificates for one course: the newest checked one, and a newer one not checked yet."""

    checked: Evidence | None = None
    unchecked: Evidence | None = None


def _newest_certificates(worker_ids: list[int]) -> dict[tuple[int, int | None], Certificates]:
    """(worker, course) -> its newest checked certificate and any newer unchecked one (one query)."""
    newest: dict[tuple[int, int | None], Certificates] = {}
    rows = db.session.scalars(
        select(Evidence)
        .where(
            Evidence.owner_id.in_(worker_ids),
            Evidence.kind == EvidenceKind.CERTIFICATE,
            Evidence.training_item_id.is_not(None),
        )
        .order_by(Evidence.occurred_on, Evidence.id)
    )
    for certificate in rows:  # ordered: newest wins
        found = newest.setdefault((certificate.owner_id, certificate.training_item_id), Certificates())
        if certificate.checked_at is not None:
            found.checked, found.unchecked = certificate, None
        else:
            found.unchecked = certificate
    return newest


def _row(item: TrainingItem, found: Certificates | None, on: date) -> TrainingRow:
    found = found or Certificates()
    status, due = status_of(item, found.checked, on, found.unchecked)
    return TrainingRow(item, status, due, found.checked, found.unchecked)


def worker_training(worker: User) -> list[TrainingRow]:
    """The courses the worker's tier needs, most urgent first (expired, due, missing, valid)."""
    return training_of([worker])[worker.id]


def training_of(workers: list[User]) -> dict[int, list[TrainingRow]]:
    """For each worker, the courses their tier needs, most urgent first (two queries, whatever the number)."""
    keys = {w.framework.key for w in workers if w.framework is not None}
    result: dict[int, list[TrainingRow]] = {w.id: [] for w in workers}
    if not keys:
        return result
    items = db.session.scalars(
        select(TrainingItem)
        .where(TrainingItem.framework_key.in_(keys), TrainingItem.retired_at.is_(None))
        .order_by(TrainingItem.position, TrainingItem.title)
    ).all()
    newest = _newest_certificates([w.id for w in workers])
    on = today()
    for worker in workers:
        if worker.framework is None:
            continue
        tier_slug = worker.tier.slug if worker.tier else None
        rows = []
        for item in items:
            if item.framework_key == worker.framework.key and item.required_for(tier_slug):
                rows.append(_row(item, newest.get((worker.id, item.id)), on))
        result[worker.id] = sorted(rows, key=lambda r: (r.status.urgency, r.due_on or date.max, r.item.position))
    return result


@dataclass
class Matrix:
    framework: Framework
    items: list[TrainingItem]
    workers: list[User]
    cells: dict[tuple[int, int], TrainingRow]
    totals: dict[int, dict[TrainingStatus, int]] = field(default_factory=dict)


def compliance(framework: Framework, *, status: str = "", q: str = "") -> Matrix:
    """Workers by required course with each cell's status, and totals per column (fixed queries)."""
    items = catalogue(framework.key)
    query = (
        select(User)
        .join(Framework, Framework.id == User.framework_id)
        .where(User.is_worker.is_(True), User.active.is_(True), Framework.key == framework.key)
        .options(db.joinedload(User.tier))
        .order_by(User.name)
    )
    query = query.where(*name_or_email_matches(q))
    workers = list(db.session.scalars(query).unique())
    newest = _newest_certificates([w.id for w in workers]) if workers else {}
    on = today()
    cells: dict[tuple[int, int], TrainingRow] = {}
    for worker in workers:
        for item in items:
            if item.required_for(worker.tier.slug if worker.tier else None):
                cells[(worker.id, item.id)] = _row(item, newest.get((worker.id, item.id)), on)
    if status in {s.value for s in TrainingStatus}:
        wanted = TrainingStatus(status)
        workers = [
            w for w in workers if any(cells.get((w.id, i.id)) and cells[(w.id, i.id)].status == wanted for i in items)
        ]
    totals = {item.id: {s: 0 for s in TrainingStatus} for item in items}
    for worker in workers:
        for item in items:
            cell = cells.get((worker.id, item.id))
            if cell:
                totals[item.id][cell.status] += 1
    return Matrix(framework, items, workers, cells, totals)


def framework_tiers(framework: Framework) -> list[Tier]:
    return sorted(framework.tiers, key=lambda t: t.position)


# --- Checking certificates --------------------------------------------------------------
# A certificate counts once a supervisor (of its owner, today) or a manager has checked it. The list to
# check shows certificates matched to the catalogue whatever their review status: a certificate is shared
# for compliance when it is matched, as a supervision note is with the supervisor it names.

OWN_CERTIFICATE = "This is your own certificate: another supervisor or a manager must check it."


def _checkable_by(actor: User) -> ColumnElement[bool]:
    """SQL condition on Evidence: an unchecked catalogue certificate of someone else's that ``actor`` may check."""
    condition = [
        Evidence.kind == EvidenceKind.CERTIFICATE,
        Evidence.training_item_id.is_not(None),
        Evidence.is_private.is_(False),
        duties.not_own(Evidence.owner_id, actor),
    ]
    if not actor.has_role(Role.MANAGER):
        condition.append(
            exists().where(
                SupervisionAssignment.supervisor_id == actor.id,
                SupervisionAssignment.worker_id == Evidence.owner_id,
                active_on(today()),
            )
        )
    return db.and_(*condition)


def can_check(actor: User) -> bool:
    return actor.has_role(Role.MANAGER) or actor.has_role(Role.SUPERVISOR)


# The home lists the oldest few; the count says how many more wait.
CERTIFICATES_LISTED = 10


def certificates_to_check(actor: User) -> list[Evidence]:
    """The oldest certificates waiting for the actor's check (at most ``CERTIFICATES_LISTED``; three queries)."""
    if not can_check(actor):
        return []
    return list(
        db.session.scalars(
            select(Evidence)
            .where(_checkable_by(actor), Evidence.checked_at.is_(None))
            .options(
                db.joinedload(Evidence.owner), db.joinedload(Evidence.training_item), db.selectinload(Evidence.files)
            )
            .order_by(Evidence.created_at, Evidence.id)
            .limit(CERTIFICATES_LISTED)
        ).unique()
    )


def certificates_to_check_count(actor: User) -> int:
    """How many certificates wait for the actor's check (one query)."""
    if not can_check(actor):
        return 0
    return (
        db.session.scalar(select(func.count(Evidence.id)).where(_checkable_by(actor), Evidence.checked_at.is_(None)))
        or 0
    )


def version_of(certificate: Evidence) -> str:
    """What the checker saw: a check is refused when the certificate changed after their page was drawn."""
    return certificate.updated_at.replace(tzinfo=None).isoformat(timespec="microseconds")


def get_certificate_to_check_or_404(actor: User, evidence_id: int) -> Evidence:
    """A catalogue certificate the actor may check (checked already or not).

    :raises OwnDecision: for the actor's own certificate.
    :raises 404: for anything else they may not check, alike with a missing one.
    """
    evidence = db.session.get(Evidence, evidence_id)
    if evidence is not None and duties.is_own(actor, evidence.owner_id):
        duties.refuse_own(actor, evidence.owner_id, OWN_CERTIFICATE)
    if (
        evidence is None
        or not can_check(actor)
        or not db.session.scalar(select(exists().where(Evidence.id == evidence_id, _checkable_by(actor))))
    ):
        abort(404)
    return evidence


CHANGED_SINCE_SEEN = "The certificate changed after your page was shown: look at it again below before you check it."


def check_certificate(actor: User, evidence: Evidence, seen_version: str | None = None) -> Evidence:
    """Record that the actor checked a certificate, as it was when they saw it: from then on it counts.

    Checked on the locked row: still the actor's to check, unchanged since ``seen_version`` (when given), not
    checked by someone else. The same person checking twice (a double click) is done once.

    :raises Conflict: when it changed, or someone else checked it first (nothing written).
    :raises OwnDecision: for the actor's own certificate.
    """
    begin_write()
    evidence = lock_or_404(Evidence, evidence.id)
    duties.refuse_own(actor, evidence.owner_id, OWN_CERTIFICATE)
    if not db.session.scalar(select(exists().where(Evidence.id == evidence.id, _checkable_by(actor)))):
        db.session.rollback()
        abort(404)  # made private, or no longer theirs to check, meanwhile
    if evidence.checked_at is not None:
        checked_by_id, checked_by = evidence.checked_by_id, (evidence.checked_by.name if evidence.checked_by else "")
        db.session.rollback()
        if checked_by_id == actor.id:
            return evidence
        raise Conflict(f"{checked_by or 'Someone'} has already checked this certificate.")
    if seen_version is not None and seen_version != version_of(evidence):
        db.session.rollback()
        raise Conflict(CHANGED_SINCE_SEEN)
    evidence.checked_by_id = actor.id
    evidence.checked_at = datetime.now(UTC)
    ledger.record(
        actor,
        "certificate.checked",
        f"evidence:{evidence.id}",
        owner_id=evidence.owner_id,
        training_item_id=evidence.training_item_id,
    )
    db.session.commit()
    return evidence
