"""The training catalogue, each worker's training status, and the team compliance matrix.

A worker's status for a required course comes from their newest training
certificate matched to it that a supervisor or manager has checked: valid;
due (it expires within 60 days, or today); expired; or missing (no
certificate). A certificate nobody has checked yet counts for nothing: the
course shows as "Uploaded, not checked" until it is, unless an older checked
certificate still keeps it valid. One its checker sent back (saying what is
wrong) counts for nothing either, and waits for nobody until the worker changes it.
"""

from __future__ import annotations

import enum
import functools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from flask import abort, current_app
from sqlalchemy import (
    Date,
    Integer,
    Select,
    SQLColumnExpression,
    and_,
    bindparam,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy.orm import aliased, joinedload, load_only
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from .. import duties, idempotency, paging
from ..audit import ledger
from ..clock import today
from ..database import TURNS, begin_write, lock_or_404, take_turns, written_out
from ..errors import FieldError
from ..extensions import db
from ..frameworks.structure import FrozenFramework
from ..models import Evidence, EvidenceFile, EvidenceKind, Framework, Role, Tier, TrainingItem, User, utcnow
from ..notifications import service as notifications
from ..people.search import search_words, words_in_name_or_email
from ..progress import versions
from ..progress.service import add_months
from ..progress.versions import Drawn
from ..review.service import Conflict
from ..supervision.service import supervised_by
from .courses import Course, FrozenCourse, current_courses

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


def renewal_due(item: Course, completed_on: date, expires_on: date | None) -> date | None:
    """When a certificate must be renewed: its own expiry date, else completion plus the renewal period."""
    if expires_on is not None:
        return expires_on
    if item.renewal_months:
        return add_months(completed_on, item.renewal_months)
    return None


def certificate_expiry(certificate: Evidence) -> str:
    """A certificate's expiry as every page says it: its own date; else, matched to a course that is renewed,
    when :func:`renewal_due` says to renew it; else "Does not expire" (what leaving the date empty means, the
    form says)."""
    from ..templating import long_date

    if certificate.expires_on is not None:
        return long_date(certificate.expires_on)
    item = certificate.training_item
    due = renewal_due(item, certificate.occurred_on, None) if item is not None else None
    if item is None or due is None:
        return "Does not expire"
    months = f"{item.renewal_months} month" + ("" if item.renewal_months == 1 else "s")
    return f"Not given: renew by {long_date(due)} (this training is renewed every {months})"


def status_of(
    item: Course, certificate: Evidence | None, on: date, unchecked: Evidence | None = None
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


def is_checked(certificate: Evidence) -> bool:
    """A certificate counts once a supervisor or manager has checked it (their account may since be gone)."""
    return certificate.checked_at is not None


def is_sent_back(certificate: Evidence) -> bool:
    """Sent back by its checker, saying what is wrong: it counts for nothing, checked or not, until it changes."""
    return certificate.sent_back_at is not None


# --- The same rules in SQL (the compliance matrix filters and totals every worker in the database) -------------
# Each expression below is the Python rule above it, written for a query; tests/test_training.py holds a table of
# cases on which the two must agree.


def is_catalogue_certificate_sql() -> ColumnElement[bool]:
    """On Evidence: a certificate matched to a catalogue course, the only kind anyone checks (Evidence.certificate_state
    is the same test on one item). The kind written out, not a parameter: the index of certificates waiting for a
    check holds only these (models.Evidence), and a database uses it only for a query that says so itself."""
    return and_(Evidence.kind == written_out(EvidenceKind.CERTIFICATE), Evidence.training_item_id.is_not(None))


def is_checked_sql() -> ColumnElement[bool]:
    """:func:`is_checked` in SQL, on Evidence."""
    return Evidence.checked_at.is_not(None)


def is_sent_back_sql() -> ColumnElement[bool]:
    """:func:`is_sent_back` in SQL, on Evidence."""
    return Evidence.sent_back_at.is_not(None)


def completed_before(renewal_months: int, boundary: date) -> date:
    """The first completion date whose renewal (``renewal_months`` later) falls on or after ``boundary``.

    The renewal date grows with the completion date, so "renewal due before ``boundary``" is "completed before
    this date": a comparison both databases make alike, where their month arithmetic differs (SQLite rolls
    31 January + 1 month over into March; :func:`add_months` stops at the month's end).
    """
    # add_months(day, months) is on or before boundary, and every earlier day's is before it: step forward from
    # there (at most three days, where the month's end clipped the day).
    day = add_months(boundary, -renewal_months)
    while add_months(day, renewal_months) < boundary:
        day += timedelta(days=1)
    return day


def status_sql(
    items: Sequence[Course],
    item_id: SQLColumnExpression[int],
    completed_on: SQLColumnExpression[date | None],
    expires_on: SQLColumnExpression[date | None],
    unchecked: SQLColumnExpression[bool],
    on: date,
) -> ColumnElement[str]:
    """:func:`status_of` in SQL: a :class:`TrainingStatus` value.

    ``completed_on`` and ``expires_on`` are the newest checked certificate's (``completed_on`` NULL: none) for the
    course ``item_id`` (one of ``items``); ``unchecked`` is true when a newer one waits for a check.
    """
    due_by = on + timedelta(days=DUE_WITHIN_DAYS)
    renewed = [i for i in items if i.renewal_months and i.id is not None]

    def completed_before_sql(boundary: date) -> ColumnElement[Any]:
        """Per course renewed every few months: completed before this, renewal due before ``boundary``."""
        if not renewed:
            # Typed, so that it can be compared (a bare NULL cannot be, in SQLAlchemy): no course falls due.
            return cast(null(), Date)
        dates = {i.id: literal(completed_before(i.renewal_months or 0, boundary), Date) for i in renewed}
        return case(dates, value=item_id, else_=null())

    expired_before = completed_before_sql(on)
    due_before = completed_before_sql(due_by + timedelta(days=1))  # due on or before due_by
    valid = or_(
        and_(expires_on.is_not(None), expires_on > due_by),
        and_(expires_on.is_(None), or_(due_before.is_(None), completed_on >= due_before)),
    )
    expired = or_(
        and_(expires_on.is_not(None), expires_on < on),
        and_(expires_on.is_(None), completed_on < expired_before),
    )
    return case(
        (and_(completed_on.is_(None), unchecked), TrainingStatus.UNCHECKED.value),
        (completed_on.is_(None), TrainingStatus.MISSING.value),
        (valid, TrainingStatus.VALID.value),
        (unchecked, TrainingStatus.UNCHECKED.value),
        (expired, TrainingStatus.EXPIRED.value),
        else_=TrainingStatus.DUE.value,
    )


# --- The catalogue ------------------------------------------------------------------


def catalogue(framework_key: str) -> tuple[FrozenCourse, ...]:
    """A framework's current courses, in the catalogue's order (kept by the process: courses.current_courses)."""
    return tuple(c for c in current_courses() if c.framework_key == framework_key)


def retired_courses(framework_key: str) -> list[TrainingItem]:
    """A framework's retired courses, most recently retired first: the ones a manager can restore."""
    return list(
        db.session.scalars(
            select(TrainingItem)
            .where(TrainingItem.framework_key == framework_key, TrainingItem.retired_at.is_not(None))
            .order_by(TrainingItem.retired_at.desc(), TrainingItem.title)
        )
    )


def get_item_or_404(item_id: int, *, retired: bool = False) -> TrainingItem:
    """A course in the catalogue; with ``retired``, a retired one too (to restore it).

    :raises 404: for a missing course, or a retired one unless ``retired``.
    """
    item = db.session.get(TrainingItem, item_id)
    if item is None or (item.retired_at is not None and not retired):
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
    if not re.fullmatch(r"[0-9]+", text):  # not str.isdigit(): that accepts "²"
        raise FieldError("renewal_months", "Enter the renewal period as a whole number of months, like 12")
    digits = text.lstrip("0") or "0"  # "012" is 12
    # A whole number, only too big, is out of range: not read as an int when long ("9" * 5000 is costly).
    if len(digits) > 3 or not 1 <= int(digits) <= 120:
        raise FieldError("renewal_months", "The renewal period must be between 1 and 120 months")
    return int(digits)


def check_item(framework: Framework, title: str, tier_slugs: list[str], item: TrainingItem | None = None) -> None:
    """What :func:`add_item` (or :func:`update_item` of ``item``) would refuse in the title and tiers.

    :raises FieldError: as they would.
    """
    _check(framework, title, tier_slugs, exclude_id=item.id if item is not None else None)


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
    if _in_the_catalogue(framework.key, title, exclude_id):
        raise FieldError("title", "This training is already in the catalogue")
    # Every tier selected means the same as none: everyone needs it.
    return title, [] if set(tier_slugs) == known else sorted(tier_slugs, key=[t.slug for t in framework.tiers].index)


def _in_the_catalogue(framework_key: str, title: str, exclude_id: int | None = None) -> bool:
    """Whether a course of the framework's catalogue (not retired) has ``title``, whatever its case."""
    query = select(TrainingItem.id).where(
        TrainingItem.framework_key == framework_key,
        TrainingItem.retired_at.is_(None),
        func.lower(TrainingItem.title) == title.lower(),
    )
    if exclude_id:
        query = query.where(TrainingItem.id != exclude_id)
    return db.session.scalar(query.limit(1)) is not None


def _refuse_title_taken(framework_key: str, title: str, exclude_id: int | None = None) -> None:
    """In the write transaction: take the catalogue's turn, then check the title again. No row can be locked for a
    title nobody has yet, so two managers adding (or renaming, or restoring) one title at once would both find it
    free; taking turns, the second finds the first's.

    :raises FieldError: on ``title`` (the transaction is rolled back).
    """
    take_turns(TURNS["training catalogue"])
    if _in_the_catalogue(framework_key, title, exclude_id):
        db.session.rollback()
        raise FieldError("title", "This training is already in the catalogue")


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
    _refuse_title_taken(framework.key, title)
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
    _refuse_title_taken(framework.key, title, item.id)
    item = lock_or_404(TrainingItem, item.id)
    item.title, item.statutory, item.renewal_months, item.tier_slugs = title, statutory, renewal_months, tiers
    ledger.record(actor, "training.changed", f"training:{item.id}", title=title, renewal_months=renewal_months)
    db.session.commit()
    return item


def certificate_holders(item: TrainingItem) -> int:
    """How many people have a checked certificate matched to ``item``: those whose certificates count towards it
    (:func:`is_checked_sql`), as the confirmation to retire it says."""
    return (
        db.session.scalar(
            select(func.count(func.distinct(Evidence.owner_id))).where(
                Evidence.kind == EvidenceKind.CERTIFICATE, Evidence.training_item_id == item.id, is_checked_sql()
            )
        )
        or 0
    )


def retire_item(actor: User, item: TrainingItem) -> None:
    """Take a course out of the catalogue; certificates matched to it keep the match, so :func:`restore_item`
    makes them count again."""
    if not actor.has_role(Role.MANAGER):
        abort(403)
    begin_write()
    item = lock_or_404(TrainingItem, item.id)
    if item.retired_at is not None:  # a second click, or another manager, got there first
        db.session.rollback()
        return
    item.retired_at = utcnow()
    ledger.record(actor, "training.retired", f"training:{item.id}")
    db.session.commit()


def restore_message(title: str) -> str:
    return f"“{title}” is in the catalogue again as a new course: retire or rename that one first, then restore this"


def restore_item(actor: User, item: TrainingItem) -> TrainingItem:
    """Bring a retired course back into the catalogue: the certificates matched to it count again.

    :raises FieldError: when a course of the same title is in the catalogue now (nothing written).
    """
    if not actor.has_role(Role.MANAGER):
        abort(403)
    begin_write()
    take_turns(TURNS["training catalogue"])  # before the title is read: see _refuse_title_taken
    item = lock_or_404(TrainingItem, item.id)
    if item.retired_at is None:  # a second click, or another manager, got there first
        db.session.rollback()
        return item
    if _in_the_catalogue(item.framework_key, item.title, exclude_id=item.id):
        db.session.rollback()
        raise FieldError("retired", restore_message(item.title))
    item.retired_at = None
    ledger.record(actor, "training.restored", f"training:{item.id}", title=item.title)
    db.session.commit()
    return item


def options_for(worker: User) -> tuple[FrozenCourse, ...]:
    """Courses a worker's certificate can be matched to."""
    if worker.framework is None:
        return ()
    return catalogue(worker.framework.key)


# --- Status -----------------------------------------------------------------------


@dataclass
class TrainingRow:
    item: Course
    status: TrainingStatus
    due_on: date | None
    certificate: Evidence | None  # the newest checked certificate: the one that counts
    unchecked: Evidence | None = None  # a newer one waiting for a supervisor's or manager's check
    sent_back: Evidence | None = None  # the newest of all, sent back by its checker: the worker has to act


@dataclass
class Certificates:
    """A worker's certificates for one course: the newest checked one, a newer one not checked yet, and the newest
    of all when its checker sent it back."""

    checked: Evidence | None = None
    unchecked: Evidence | None = None
    sent_back: Evidence | None = None


def _newest_certificates(worker_ids: list[int]) -> dict[tuple[int, int | None], Certificates]:
    """(worker, course) -> its newest checked certificate and any newer unchecked one (one query)."""
    newest: dict[tuple[int, int | None], Certificates] = {}
    rows = db.session.scalars(_certificates_statement(), {"worker_ids": worker_ids})
    # When the newest was sent back, and when a certificate that may count was last added.
    sent_back_at: dict[tuple[int, int | None], datetime] = {}
    added_at: dict[tuple[int, int | None], datetime] = {}
    for certificate in rows:  # ordered: newest wins
        key = (certificate.owner_id, certificate.training_item_id)
        found = newest.setdefault(key, Certificates())
        sent = certificate.sent_back_at if is_sent_back(certificate) else None
        if sent is not None:
            # Counts for nothing; the worker is told until she adds a certificate for the course after it was
            # sent back (one under review or signed off cannot be changed, so a new one is her answer).
            if key not in sent_back_at or sent > sent_back_at[key]:
                found.sent_back, sent_back_at[key] = certificate, sent
            continue
        added_at[key] = max(added_at.get(key, certificate.created_at), certificate.created_at)
        if is_checked(certificate):
            found.checked, found.unchecked = certificate, None
        else:
            found.unchecked = certificate
    for key, found in newest.items():
        if key in sent_back_at and key in added_at and added_at[key] > sent_back_at[key]:
            found.sent_back = None
    return newest


@functools.cache  # built once per process: putting it together cost more than running it
def _certificates_statement() -> Select:
    """Some workers' certificates matched to a course, oldest first."""
    return (
        select(Evidence)
        .where(Evidence.owner_id.in_(bindparam("worker_ids", expanding=True)), is_catalogue_certificate_sql())
        .order_by(Evidence.occurred_on, Evidence.id)
    )


def _row(item: Course, found: Certificates | None, on: date) -> TrainingRow:
    found = found or Certificates()
    status, due = status_of(item, found.checked, on, found.unchecked)
    return TrainingRow(item, status, due, found.checked, found.unchecked, found.sent_back)


def worker_training(worker: User, on: date | None = None) -> list[TrainingRow]:
    """The courses the worker's tier needs, most urgent first (expired, due, missing, valid), today or ``on``."""
    return training_of([worker], on)[worker.id]


def training_of(workers: list[User], on: date | None = None) -> dict[int, list[TrainingRow]]:
    """For each worker, the courses their tier needs, most urgent first, today or ``on`` (one query, whatever the
    number, and the catalogue's when the process has not kept it)."""
    keys = {w.framework.key for w in workers if w.framework is not None}
    result: dict[int, list[TrainingRow]] = {w.id: [] for w in workers}
    if not keys:
        return result
    items = [c for c in current_courses() if c.framework_key in keys]  # in the catalogue's order
    newest = _newest_certificates([w.id for w in workers])
    on = on or today()
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


# A row has a cell per course: a page holds about this many cells, so a long catalogue means fewer rows a page.
CELLS_PER_PAGE = 200


def rows_per_page(courses: int) -> int:
    """Workers a page of the matrix: a page of the usual size, fewer for a long catalogue, never fewer than 5."""
    return max(5, min(paging.PER_PAGE, CELLS_PER_PAGE // max(courses, 1)))


@dataclass(frozen=True)
class Cell:
    """One worker's standing on one required course, and whether her newest certificate for it was sent back (she
    has to act: a manager chasing her should know she tried)."""

    status: TrainingStatus
    due_on: date | None
    sent_back: bool = False


@dataclass
class Matrix:
    framework: FrozenFramework
    items: Sequence[Course]
    page: paging.Page[User]  # the workers shown (every matching worker when not paged)
    cells: dict[tuple[int, int], Cell]  # (worker, course) for the workers shown; absent: not required
    totals: dict[int, dict[TrainingStatus, int]] = field(default_factory=dict)  # per course, every matching worker

    @property
    def workers(self) -> list[User]:
        return self.page.items

    @property
    def rows(self) -> list[tuple[User, list[Cell | None]]]:
        """Each worker shown with a cell per course, in the courses' order (None: not required of them)."""
        return [(w, [self.cells.get((w.id, item.id)) for item in self.items]) for w in self.page.items]


def _cells(items: Sequence[Course], workers: list[ColumnElement[bool]], on: date) -> Select:
    """Per (worker, required course): worker_id, item_id, status, and the counting certificate's completed_on and
    expires_on, for the workers meeting ``workers`` (conditions on User). One SELECT, whatever their number.

    ``items`` must not be empty.
    """
    item_ids = [i.id for i in items]
    checked = is_checked_sql()
    # Each certificate ranked newest first among its worker's checked, or unchecked, certificates for the course.
    ranked = (
        select(
            Evidence.id,
            Evidence.owner_id,
            Evidence.training_item_id,
            Evidence.occurred_on,
            Evidence.expires_on,
            checked.label("checked"),
            func.row_number()
            .over(
                partition_by=(Evidence.owner_id, Evidence.training_item_id, checked),
                order_by=(Evidence.occurred_on.desc(), Evidence.id.desc()),
            )
            .label("rank"),
        )
        .where(
            Evidence.kind == EvidenceKind.CERTIFICATE,
            Evidence.training_item_id.in_(item_ids),
            ~is_sent_back_sql(),  # counts for nothing
            Evidence.owner_id.in_(select(User.id).where(*workers)),
        )
        .subquery()
    )

    def newest(is_checked: ColumnElement[bool], column: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.max(case((and_(is_checked, ranked.c.rank == 1), column)))

    newest_checked, newest_unchecked = ranked.c.checked.is_(True), ranked.c.checked.is_(False)
    pairs = (
        select(
            ranked.c.owner_id,
            ranked.c.training_item_id,
            newest(newest_checked, ranked.c.occurred_on).label("completed_on"),
            newest(newest_checked, ranked.c.expires_on).label("expires_on"),
            newest(newest_checked, ranked.c.id).label("checked_id"),
            newest(newest_unchecked, ranked.c.occurred_on).label("unchecked_on"),
            newest(newest_unchecked, ranked.c.id).label("unchecked_id"),
        )
        .group_by(ranked.c.owner_id, ranked.c.training_item_id)
        .subquery()
    )
    # A certificate waiting for a check counts when it is newer than the newest checked one (the order of
    # _newest_certificates: completion date, then the order they were added).
    newer_unchecked = and_(
        pairs.c.unchecked_id.is_not(None),
        or_(
            pairs.c.completed_on.is_(None),
            pairs.c.unchecked_on > pairs.c.completed_on,
            and_(pairs.c.unchecked_on == pairs.c.completed_on, pairs.c.unchecked_id > pairs.c.checked_id),
        ),
    )
    required = or_(*(and_(TrainingItem.id == item.id, item.required_where(Tier.slug)) for item in items))
    worker_framework = aliased(Framework)  # not Framework itself: ``workers`` may have a subquery on it
    return (
        select(
            User.id.label("worker_id"),
            TrainingItem.id.label("item_id"),
            status_sql(items, TrainingItem.id, pairs.c.completed_on, pairs.c.expires_on, newer_unchecked, on).label(
                "status"
            ),
            pairs.c.completed_on,
            pairs.c.expires_on,
        )
        .select_from(User)
        .outerjoin(Tier, Tier.id == User.tier_id)
        # A course is for the workers on its framework (``items`` may be several frameworks' courses).
        .join(worker_framework, worker_framework.id == User.framework_id)
        .join(TrainingItem, and_(TrainingItem.id.in_(item_ids), TrainingItem.framework_key == worker_framework.key))
        .outerjoin(pairs, and_(pairs.c.owner_id == User.id, pairs.c.training_item_id == TrainingItem.id))
        .where(*workers, required)
    )


@dataclass(frozen=True)
class _MatrixStatements:
    """The matrix's SQL for one catalogue, day and set of filters (built once: see :func:`_statements`)."""

    key: tuple  # what it was built from: courses, framework, search words, status, day

    listed: Select  # the matching workers (framework, search, status) with their tiers, by name: the rows, paged
    page_cells: Select | None  # the cells of the workers in the expanding parameter "page_worker_ids"
    totals: Select | None  # item_id, status, count over every matching worker (None: no courses)
    # The framework's workers whose name or email matches (whatever their training's status), their tiers, and the
    # version tokens of their portfolios and of the frameworks: while these read the same, so do the totals and every
    # page of rows (see versions.kept_for_owners).
    state: Select


S = TypeVar("S")  # a statement, or several, kept by _kept_statements

# Built statements by what they are built from, the least recently used dropped first. The matrix's SQL (a
# ranked subquery, a case per course) cost several milliseconds to build, three times a request: more than
# running it.
_KEEP_STATEMENTS = 64
_KEPT_STATEMENTS = "training_statements"  # app.extensions: per app, as each test builds its own
_KEPT_STATEMENTS_LOCK = threading.Lock()


def _statements(
    items: Sequence[Course], framework_key: str, words: tuple[str, ...], wanted: TrainingStatus | None, on: date
) -> _MatrixStatements:
    """Every statement of the matrix, built from the key's values alone and kept per process.

    A statement holds values only (course ids, renewal periods, tiers, the framework's key, search words, a
    status, the day), never rows; so the same key always builds the same SQL.
    """
    key = (_courses_key(items), framework_key, words, wanted, on)
    return _kept_statements(key, lambda: _build_statements(key, items, framework_key, words, wanted, on))


def _courses_key(items: Sequence[Course]) -> tuple:
    """What a statement takes from each course: its id, renewal period and tiers."""
    return tuple((i.id, i.renewal_months, tuple(i.tier_slugs or ())) for i in items)


def _kept_statements(key: tuple, build: Callable[[], S]) -> S:
    """``build()``, kept per process under ``key`` (values only, so the same key always builds the same SQL)."""
    kept: OrderedDict[tuple, Any] | None = current_app.extensions.get(_KEPT_STATEMENTS)
    if kept is None:  # the app's first statement (no empty store built on every request)
        kept = current_app.extensions.setdefault(_KEPT_STATEMENTS, OrderedDict())
    with _KEPT_STATEMENTS_LOCK:
        found = kept.get(key)
        if found is not None:
            kept.move_to_end(key)
            return found
    built = build()
    with _KEPT_STATEMENTS_LOCK:
        kept[key] = built
        while len(kept) > _KEEP_STATEMENTS:
            kept.popitem(last=False)
    return built


def _build_statements(
    key: tuple,
    items: Sequence[Course],
    framework_key: str,
    words: tuple[str, ...],
    wanted: TrainingStatus | None,
    on: date,
) -> _MatrixStatements:
    workers = [
        User.is_worker.is_(True),
        User.active.is_(True),
        User.framework_id.in_(select(Framework.id).where(Framework.key == framework_key)),
        *words_in_name_or_email(words),
    ]
    filtered: ColumnElement[bool] | None = None
    if wanted is not None:
        if items:
            cells = _cells(items, workers, on).subquery()
            filtered = User.id.in_(select(cells.c.worker_id).where(cells.c.status == wanted.value))
        else:
            filtered = false()  # no courses: no worker has one in any status
    matching = [*workers, *([filtered] if filtered is not None else [])]
    return _MatrixStatements(
        key=key,
        listed=select(User).where(*matching).options(db.joinedload(User.tier)).order_by(User.name, User.id),
        page_cells=_cells(items, [*workers, User.id.in_(bindparam("page_worker_ids", expanding=True))], on)
        if items
        else None,
        totals=_totals_query(items, workers, wanted, on) if items else None,
        state=versions.owners_state(select(User.id, User.tier_id).where(*workers)),
    )


def compliance(framework: FrozenFramework, *, status: str = "", q: str = "", page: int | None = 1) -> Matrix:
    """Workers by required course with each cell's status, and totals per course over every matching worker.

    Filtered, counted and totalled in SQL; only the page's workers are loaded (``page`` None: every matching
    worker, for the CSV). A fixed number of queries, whatever the number of workers.
    """
    items = catalogue(framework.key)
    statements = _matrix_statements(framework, items, status, q)
    return replace(_matrix(framework, items, statements, page), totals=_totals(items, statements))


def compliance_page(
    framework: FrozenFramework,
    viewer: User,
    *,
    status: str = "",
    q: str = "",
    page: int,
    draw: Callable[[Matrix], Drawn],
) -> tuple[Matrix, Drawn]:
    """A page of :func:`compliance` and its rows drawn (``draw``), kept while nothing the rows show has changed.

    The matrix returned holds the page's numbers, the courses and the totals, not its rows: those are ``draw``'s
    answer, which may come from an earlier request (rendered HTML, say, of nothing but the matrix and the viewer).
    They are kept, as the totals are, under the workers the filters choose from (the framework's, by name or email),
    their tiers and tokens (certificates, names), read in one query for both (versions.kept_for_owners): how many
    match a status and which are on the page follow from these, the courses, filters and day (the statements' key).
    The rows are kept per page and viewer (her own row links to her home).
    """
    items = catalogue(framework.key)
    statements = _matrix_statements(framework, items, status, q)

    def drawn() -> tuple[paging.Page[User], Drawn]:
        # The page's numbers, not its workers: nothing read in this request's session outlives it.
        matrix = _matrix(framework, items, statements, page)
        return matrix.page.numbers(), draw(matrix)

    state = versions.read_state(statements.state)
    variant = (statements.key, viewer.id, page)
    numbers, rows = versions.kept_for_owners("compliance-rows", variant, statements.state, drawn, rows=state)
    return Matrix(framework, items, numbers, {}, _totals(items, statements, state)), rows


def _matrix_statements(framework: FrozenFramework, items: Sequence[Course], status: str, q: str) -> _MatrixStatements:
    wanted = TrainingStatus(status) if status in {s.value for s in TrainingStatus} else None
    return _statements(items, framework.key, search_words(q), wanted, today())


def _matrix(
    framework: FrozenFramework, items: Sequence[Course], statements: _MatrixStatements, page: int | None
) -> Matrix:
    """The matrix's workers and cells, without its totals."""
    query = statements.listed
    if page is None:
        everyone = list(db.session.scalars(query).unique())
        shown = paging.Page(everyone, len(everyone), 1, max(len(everyone), 1))
    else:
        shown = paging.paginate(query, page, per_page=rows_per_page(len(items)))
    by_id = {item.id: item for item in items}
    result: dict[tuple[int, int], Cell] = {}
    if shown.items and statements.page_cells is not None:
        # The page's workers only; they match the filters already.
        ids = [w.id for w in shown.items]
        sent_back = {(w, i) for w, i in db.session.execute(_sent_back_statement(), {"worker_ids": ids})}
        for row in db.session.execute(statements.page_cells, {"page_worker_ids": ids}):
            due = renewal_due(by_id[row.item_id], row.completed_on, row.expires_on) if row.completed_on else None
            pair = (row.worker_id, row.item_id)
            result[pair] = Cell(TrainingStatus(row.status), due, pair in sent_back)
    return Matrix(framework, items, shown, result)  # the totals added by the caller


@functools.cache
def _sent_back_statement() -> Select:
    """(worker, course) of some workers (``worker_ids``) whose newest certificate was sent back and not answered
    by one added since: :func:`_newest_certificates`'s ``sent_back``, in SQL, for a page of the matrix."""
    answer = aliased(Evidence)
    return (
        select(Evidence.owner_id, Evidence.training_item_id)
        .distinct()
        .where(
            Evidence.owner_id.in_(bindparam("worker_ids", expanding=True)),
            is_catalogue_certificate_sql(),
            is_sent_back_sql(),
            ~exists().where(
                answer.owner_id == Evidence.owner_id,
                answer.training_item_id == Evidence.training_item_id,
                answer.kind == EvidenceKind.CERTIFICATE,
                answer.sent_back_at.is_(None),
                answer.created_at > Evidence.sent_back_at,
            ),
        )
    )


def _totals(
    items: Sequence[Course], statements: _MatrixStatements, state_rows: Sequence[tuple] | None = None
) -> dict[int, dict[TrainingStatus, int]]:
    """Per course, the matching workers in each status: kept per process until a certificate, a worker or a
    framework changes (counting them ranks every certificate of the team: the page's costliest statement).
    ``state_rows``: the statements' state as read already in this request."""

    totals_query = statements.totals
    if totals_query is None:
        return {}  # no courses: nothing to count

    def count() -> dict[int, dict[TrainingStatus, int]]:
        totals = {item.id: {s: 0 for s in TrainingStatus} for item in items}
        for item_id, state, n in db.session.execute(totals_query):
            totals[item_id][TrainingStatus(state)] = n
        return totals

    return versions.kept_for_owners("compliance-totals", statements.key, statements.state, count, rows=state_rows)


def _totals_query(
    items: Sequence[Course], workers: list[ColumnElement[bool]], wanted: TrainingStatus | None, on: date
) -> Select:
    """Per course, how many workers meeting ``workers`` (and with a course ``wanted``) are in each status.

    One query: with a status filter, the cells are computed once (a CTE) and read twice.
    """
    cells = _cells(items, workers, on).cte("cells")
    query = select(cells.c.item_id, cells.c.status, func.count()).group_by(cells.c.item_id, cells.c.status)
    if wanted is not None:
        query = query.where(cells.c.worker_id.in_(select(cells.c.worker_id).where(cells.c.status == wanted.value)))
    return query


@dataclass(frozen=True)
class LapsingCourse:
    worker_id: int
    worker_name: str
    title: str
    due_on: date | None
    expired: bool  # else due (renewal within DUE_WITHIN_DAYS)


def lapsing_training(workers: Select, parameters: dict[str, object], *, soon: bool, on: date) -> list[LapsingCourse]:
    """The required courses that have expired (with ``soon``, or are due) for the workers ``workers`` selects (their
    ids; a statement its caller keeps): one query whatever the number of workers, and only those courses come back.
    The statuses are the compliance matrix's (:func:`_cells`), on the day ``on``. Its caller keeps the answer (the
    homes' lapses).
    """
    items = current_courses()
    if not items:
        return []
    key = ("lapsing", _courses_key(items), workers, soon, on)
    statement = _kept_statements(key, lambda: _lapsing_statement(items, workers, soon, on))
    rows = db.session.execute(statement, parameters)
    by_id = {item.id: item for item in items}
    return [
        LapsingCourse(
            worker_id,
            name,
            by_id[item_id].title,
            renewal_due(by_id[item_id], completed_on, expires_on) if completed_on else None,
            status == TrainingStatus.EXPIRED.value,
        )
        for worker_id, name, item_id, status, completed_on, expires_on in rows
    ]


def _lapsing_statement(items: Sequence[Course], workers: Select, soon: bool, on: date) -> Select:
    wanted = [TrainingStatus.EXPIRED.value, *([TrainingStatus.DUE.value] if soon else [])]
    cells = _cells(items, [User.id.in_(workers.correlate(None))], on).subquery()
    return (
        select(cells.c.worker_id, User.name, cells.c.item_id, cells.c.status, cells.c.completed_on, cells.c.expires_on)
        .join(User, User.id == cells.c.worker_id)
        .where(cells.c.status.in_(wanted))
    )


def framework_tiers(framework: Framework) -> list[Tier]:
    return sorted(framework.tiers, key=lambda t: t.position)


# --- Checking certificates --------------------------------------------------------------
# A certificate counts once a supervisor (of its owner, today) or a manager has checked it. The list to
# check shows certificates matched to the catalogue whatever their review status: a certificate is shared
# for compliance when it is matched, as a supervision note is with the supervisor it names.

OWN_CERTIFICATE = "This is your own certificate: another supervisor or a manager must check it."


def _checkable_by(actor: User) -> ColumnElement[bool]:
    """SQL condition on Evidence: an unchecked catalogue certificate of someone else's that ``actor`` may check."""
    return _checkable(actor, None if actor.has_role(Role.MANAGER) else today())


def _checkable(
    actor: User | BindParameter[int], supervising_on: date | BindParameter[date] | None
) -> ColumnElement[bool]:
    """:func:`_checkable_by` for a manager (``supervising_on`` None: anyone's) or a supervisor (the workers
    they supervise on that day). ``actor`` is the person or a bound parameter for their id, and the day may be
    a bound parameter too, in a statement kept."""
    condition = [
        is_catalogue_certificate_sql(),
        Evidence.is_private.is_(False),
        duties.not_own(Evidence.owner_id, actor),
    ]
    if supervising_on is not None:
        actor_id = actor.id if isinstance(actor, User) else actor
        condition.append(Evidence.owner_id.in_(supervised_by(actor_id, supervising_on)))
    return db.and_(*condition)


def can_check(actor: User) -> bool:
    return actor.has_role(Role.MANAGER) or actor.has_role(Role.SUPERVISOR)


# The home lists the oldest few; the count says how many more wait.
CERTIFICATES_LISTED = 10


@dataclass(frozen=True)
class CertificatesToCheck:
    shown: list[Evidence]  # the oldest waiting, at most CERTIFICATES_LISTED
    total: int  # all that wait

    def __bool__(self) -> bool:
        return bool(self.shown)


def certificates_to_check(actor: User, on: date | None = None) -> CertificatesToCheck:
    """The certificates waiting for the actor's check today (or ``on``): the oldest few with their files, and how
    many in all (one query; the statement kept, as every supervisor's and manager's home asks)."""
    if not can_check(actor):
        return CertificatesToCheck([], 0)
    manager, parameters = _checker_parameters(actor, on)
    rows = db.session.execute(_certificates_to_check_statement(manager), parameters).unique().all()
    return CertificatesToCheck([evidence for evidence, _total in rows], rows[0][1] if rows else 0)


def certificates_to_check_drawn(
    actor: User,
    draw: Callable[[CertificatesToCheck], Drawn],
    state_rows: Sequence[tuple] | None = None,
    on: date | None = None,
) -> tuple[int, Drawn] | None:
    """How many certificates wait for the actor's check, and :func:`certificates_to_check` drawn by ``draw`` (the
    list rendered, its forms' CSRF tokens left as markers: components.drawn_with_forms); None for someone who checks
    none.

    Kept while nothing it shows has changed: under the oldest few, their owners' tokens (the certificate, its files,
    the owner's name) and the frameworks' (the course), and how many wait, read in one query
    (versions.kept_for_owners), with the checker and the day (whom a supervisor supervises). ``state_rows``: that
    state as read already in this request (:func:`certificates_to_check_state`, read with a home's counts) on the
    day ``on``.
    """
    on = on or today()  # one day for the state, the key and the list kept under them
    found_state = certificates_to_check_state(actor, on)
    if found_state is None:
        return None
    state, parameters = found_state

    def drawn() -> tuple[int, Drawn]:
        found = certificates_to_check(actor, on)
        return found.total, draw(found)

    # The state says whether she checks as a manager (one statement each); the day for a manager too: nothing drawn
    # may go stale overnight.
    key = (actor.id, state, on)
    # None waiting (most days, for most checkers): the list is known without reading it.
    nothing = lambda: (0, draw(CertificatesToCheck([], 0)))  # noqa: E731
    return versions.kept_for_owners(
        "certificates-to-check", key, state, drawn, parameters, when_empty=nothing, rows=state_rows
    )


def certificates_to_check_state(actor: User, on: date | None = None) -> tuple[Select, dict[str, Any]] | None:
    """The state the certificates waiting for the actor's check are kept under (:func:`certificates_to_check_drawn`)
    and its parameters, today or ``on``; None for someone who checks none."""
    if not can_check(actor):
        return None
    manager, parameters = _checker_parameters(actor, on)
    return _certificates_state(manager), parameters | versions.page_parameters(1, CERTIFICATES_LISTED)


def _checker_parameters(actor: User, on: date | None = None) -> tuple[bool, dict[str, Any]]:
    """Whether the actor checks as a manager (anyone's) and the parameters of :func:`_waiting_for` (today or
    ``on``)."""
    manager = actor.has_role(Role.MANAGER)
    return manager, {"actor_id": actor.id} | ({} if manager else {"on": on or today()})


def _waiting_for(manager: bool) -> ColumnElement[bool]:
    """SQL condition on Evidence: waiting for the check of the bound "actor_id" (a supervisor's on the bound "on")."""
    actor = bindparam("actor_id", type_=Integer())
    return and_(_checkable(actor, None if manager else bindparam("on", type_=Date())), _waiting_for_check())


@functools.cache
def _certificates_state(manager: bool) -> Select:
    """The oldest certificates waiting for the checker, with their owners and how many wait, for versions."""
    listed = (
        select(Evidence.owner_id, Evidence.id).where(_waiting_for(manager)).order_by(Evidence.created_at, Evidence.id)
    )
    return versions.page_state(listed, CERTIFICATES_LISTED)


# What the certificates to check show: title, owner, course, dates, provider, files, why it was sent back before;
# updated_at for version_of.
_CERTIFICATE_LISTED = (
    Evidence.owner_id,
    Evidence.kind,
    Evidence.title,
    Evidence.occurred_on,
    Evidence.provider,
    Evidence.expires_on,
    Evidence.training_item_id,
    Evidence.created_at,
    Evidence.updated_at,
    Evidence.earlier_sent_back_reason,
)


@functools.cache
def _certificates_to_check_statement(manager: bool) -> Select:
    waiting = _waiting_for(manager)
    # How many wait in all, as a column of the oldest few: one query, not two. Not a window count, which
    # would be worked out over every waiting row joined with its owner; this one the database counts once,
    # from an index alone (the certificates waiting on PostgreSQL, the certificates by their check on SQLite).
    total = select(func.count(Evidence.id)).where(waiting).correlate(None).scalar_subquery()
    # Their files joined too (a certificate has one or two): one round trip for the whole list. Only the columns
    # the list shows (and the version the check is bound to): not a reflection's text, nor the owner's password.
    return (
        select(Evidence, total)
        .where(waiting)
        .options(
            load_only(*_CERTIFICATE_LISTED),
            joinedload(Evidence.owner).load_only(User.name),
            joinedload(Evidence.training_item),
            joinedload(Evidence.files).load_only(EvidenceFile.original_name),
        )
        .order_by(Evidence.created_at, Evidence.id)
        .limit(CERTIFICATES_LISTED)
    )


def version_of(certificate: Evidence) -> str:
    """What the checker saw: a check is refused when the certificate changed after their page was drawn."""
    return certificate.updated_at.replace(tzinfo=None).isoformat(timespec="microseconds")


def _waiting_for_check() -> ColumnElement[bool]:
    """SQL condition on Evidence: neither checked nor sent back (then it is the worker's to change first)."""
    return and_(Evidence.checked_at.is_(None), Evidence.sent_back_at.is_(None))


def waits_for_check_by(actor: User, evidence: Evidence) -> bool:
    """Whether ``evidence`` is a certificate waiting for a check that ``actor`` may make (one query, none for
    another kind): the review page of a certificate offers the check, so that its reviewer need not find it again
    on their home's list."""
    if evidence.kind != EvidenceKind.CERTIFICATE or not can_check(actor) or duties.is_own(actor, evidence.owner_id):
        return False
    waiting = exists().where(Evidence.id == evidence.id, _checkable_by(actor), _waiting_for_check())
    return bool(db.session.scalar(select(waiting)))


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


def _locked_to_decide(actor: User, evidence: Evidence) -> Evidence:
    """The certificate, locked for the actor to check or send back: still theirs to decide (in a write begun here).

    :raises OwnDecision: for the actor's own certificate.
    :raises 404: when it was made private, or is no longer theirs to check, meanwhile.
    """
    begin_write()
    evidence = lock_or_404(Evidence, evidence.id)
    duties.refuse_own(actor, evidence.owner_id, OWN_CERTIFICATE)
    if not db.session.scalar(select(exists().where(Evidence.id == evidence.id, _checkable_by(actor)))):
        db.session.rollback()
        abort(404)
    return evidence


def _refuse_if_decided(actor: User, evidence: Evidence, seen_version: str | None, changed: str) -> None:
    """On the locked row: refuse to decide a certificate that has been checked or sent back (by someone else, or by
    the actor in another tab), or one changed since ``seen_version``.

    :raises Conflict: with nothing written (the transaction is rolled back).
    """

    def who_has(person_id: int | None, person: User | None) -> str:
        return "You have" if person_id == actor.id else f"{person.name if person else 'Someone'} has"

    if evidence.checked_at is not None:
        problem = f"{who_has(evidence.checked_by_id, evidence.checked_by)} already checked this certificate."
    elif evidence.sent_back_at is not None:
        problem = f"{who_has(evidence.sent_back_by_id, evidence.sent_back_by)} already sent this certificate back."
    elif seen_version is not None and seen_version != version_of(evidence):
        problem = changed
    else:
        return
    db.session.rollback()
    raise Conflict(problem)


def check_certificate(actor: User, evidence: Evidence, seen_version: str | None = None) -> Evidence:
    """Record that the actor checked a certificate, as it was when they saw it: from then on it counts.

    Checked on the locked row: still the actor's to check, unchanged since ``seen_version`` (when given), not
    checked by someone else. The same person checking twice (a double click) is done once.

    :raises Conflict: when it changed, or someone else checked it first (nothing written).
    :raises OwnDecision: for the actor's own certificate.
    """
    evidence = _locked_to_decide(actor, evidence)
    if evidence.checked_at is not None and evidence.checked_by_id == actor.id:
        db.session.rollback()
        return evidence  # a second click
    _refuse_if_decided(actor, evidence, seen_version, CHANGED_SINCE_SEEN)
    evidence.checked_by_id = actor.id
    evidence.checked_at = utcnow()
    evidence.earlier_sent_back_reason = None  # what was wrong is mended: checked
    ledger.record(
        actor,
        "certificate.checked",
        f"evidence:{evidence.id}",
        owner_id=evidence.owner_id,
        training_item_id=evidence.training_item_id,
    )
    db.session.commit()
    return evidence


SEND_BACK_REASON_MAX = 500
CHANGED_BEFORE_SENDING_BACK = (
    "The certificate changed after your page was shown: look at it again below before you send it back."
)


def send_back_certificate(actor: User, evidence: Evidence, reason: str, seen_version: str | None = None) -> Evidence:
    """Send a certificate back to its worker instead of checking it, saying what is wrong (another course's
    certificate, a file that cannot be read): it leaves the list to check and counts for nothing until the worker
    changes it, which puts it back in the list (``Evidence.forget_check``). The worker is told.

    Decided on the locked row, as :func:`check_certificate`: still the actor's to check, neither checked nor sent
    back yet, unchanged since ``seen_version``. The same person sending it back again for the same reason (a double
    click) is done once; with another reason (another tab) they are told it was sent back already.

    :raises FieldError: on ``reason`` when it is missing or too long (nothing written).
    :raises Conflict: when it changed, or was checked or sent back first (nothing written).
    :raises OwnDecision: for the actor's own certificate.
    """
    reason = " ".join((reason or "").split())
    evidence = _locked_to_decide(actor, evidence)
    if evidence.sent_back_by_id == actor.id and evidence.sent_back_reason == reason:
        db.session.rollback()
        return evidence  # a second click
    # Decided already (another tab of theirs with another reason included), then the reason: a checker whose page is
    # stale is told what happened, not asked to write a reason in a form that is no longer there.
    _refuse_if_decided(actor, evidence, seen_version, CHANGED_BEFORE_SENDING_BACK)
    problem = (
        "Say what is wrong with the certificate"
        if not reason
        else f"What is wrong must be {SEND_BACK_REASON_MAX} characters or fewer"
        if len(reason) > SEND_BACK_REASON_MAX
        else None
    )
    if problem:
        db.session.rollback()
        raise FieldError("reason", problem)
    evidence.sent_back_by_id = actor.id
    evidence.sent_back_at = utcnow()
    evidence.sent_back_reason = reason
    ledger.record(
        actor,
        "certificate.sent_back",
        f"evidence:{evidence.id}",
        owner_id=evidence.owner_id,
        training_item_id=evidence.training_item_id,
        reason=reason,
    )
    notifications.notify(
        evidence.owner,
        f"{actor.name} sent back your certificate “{evidence.title}”: {reason}",
        notifications.path_for("evidence.show", evidence_id=evidence.id),
        email_subject=f"{actor.name} has sent back a training certificate of yours",
    )
    db.session.commit()
    return evidence
