"""The training catalogue's current courses, kept between requests.

Many pages read the catalogue (a worker's training on her home and progress page, what lapsed on a supervisor's
and a manager's home, the compliance matrix's columns, the certificate form's choices), and it changes when a
manager edits it: each process keeps the current courses, as
frozen copies of the rows, until the frameworks' version token changes (progress/versions.py: the catalogue
writes it, as the frameworks do). Anything that writes loads the rows themselves (``TrainingItem``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from ..extensions import db
from ..models import RequiredByTier, TrainingItem
from ..progress import versions


@dataclass(frozen=True, eq=False)
class FrozenCourse(RequiredByTier):
    id: int
    framework_key: str
    title: str
    statutory: bool
    renewal_months: int | None
    tier_slugs: tuple[str, ...]
    position: int
    retired_at: datetime | None
    created_at: datetime


# A course as the pages read it: kept (FrozenCourse) or a row (a use case that writes, a test's).
Course = TrainingItem | FrozenCourse


def current_courses() -> tuple[FrozenCourse, ...]:
    """Every framework's courses, retired ones left out, in the catalogue's order: kept by this process until the
    catalogue or a framework changes (one query when not). Shared between requests: read them, never change them."""
    return versions.cached("training-courses", [versions.FRAMEWORKS], _load, by_owner=False)[versions.FRAMEWORKS]


def in_catalogue_order(courses: list[FrozenCourse]) -> tuple[FrozenCourse, ...]:
    """By position, then title and id: put in Python, as the database's collation could order two titles at one
    position otherwise."""
    return tuple(sorted(courses, key=lambda c: (c.position, c.title, c.id)))


def _load(ids: list[int]) -> dict[int, tuple[FrozenCourse, ...]]:
    # The copy's columns, read as columns (an object already in the session could be older than the database).
    columns = [getattr(TrainingItem, f.name) for f in dataclasses.fields(FrozenCourse)]
    rows = db.session.execute(select(*columns).where(TrainingItem.retired_at.is_(None)))
    courses = [FrozenCourse(**{**row._mapping, "tier_slugs": tuple(row.tier_slugs or ())}) for row in rows]
    return dict.fromkeys(ids, in_catalogue_order(courses))
