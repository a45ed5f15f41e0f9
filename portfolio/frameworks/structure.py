"""The current frameworks and each framework's structure (its tiers, groups, active statements and requirements),
kept between requests.

They change when a framework is imported or a manager edits its locality-specific statements, and are read on
nearly every page: each process keeps them, as frozen copies of the rows, until the frameworks' version token
changes (progress/versions.py). The copies have the rows' columns (a framework's but its details) and the
relationships pages follow (a statement's tier and group, a group's parent); anything that writes loads the rows
themselves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from ..extensions import db
from ..models import Competence, CompetenceGroup, Framework, FrameworkKind, Requirement, Section, Tier
from ..progress import versions


@dataclass(frozen=True, eq=False)
class FrozenFramework(FrameworkKind):
    """A current framework's columns but its details (only its own page reads them, from the row)."""

    id: int
    key: str
    version: int
    is_current: bool
    kind: str
    title: str
    short_title: str
    publisher: str
    published: str
    role: str
    area_of_work: str
    source: str
    summary: str
    content_hash: str
    loaded_at: datetime


@dataclass(frozen=True, eq=False)
class FrozenTier:
    id: int
    framework_id: int
    slug: str
    name: str
    position: int
    description: str


@dataclass(frozen=True, eq=False)
class FrozenGroup:
    id: int
    framework_id: int
    parent_id: int | None
    kind: str
    name: str
    description: str
    position: int
    parent: FrozenGroup | None


@dataclass(frozen=True, eq=False)
class FrozenCompetence:
    id: int
    framework_id: int
    ref: str
    group_id: int
    tier_id: int
    listed_under: str
    section: Section | None
    position: int
    statement: str
    required_count: int
    created_at: datetime
    created_by_id: int | None
    retired_at: datetime | None
    retired_by_id: int | None
    tier: FrozenTier
    group: FrozenGroup

    @property
    def is_retired(self) -> bool:
        return self.retired_at is not None


@dataclass(frozen=True, eq=False)
class FrozenRequirement:
    id: int
    framework_id: int
    ref: str
    position: int
    statement: str
    applies_to: str
    renewal_months: int | None


@dataclass(frozen=True)
class Structure:
    """One framework's tiers, groups, active statements and requirements, in document order."""

    tiers: tuple[FrozenTier, ...]
    groups: Mapping[int, FrozenGroup]
    competences: tuple[FrozenCompetence, ...]
    requirements: tuple[FrozenRequirement, ...]


def current_frameworks() -> tuple[FrozenFramework, ...]:
    """Every current framework, by title: kept by this process until a framework changes."""
    return versions.cached("current-frameworks", [versions.FRAMEWORKS], _load_current, by_owner=False)[
        versions.FRAMEWORKS
    ]


def current_frameworks_with_structures() -> list[tuple[FrozenFramework, Structure]]:
    """Every current framework, by title, with its structure (for their counts of statements and tiers)."""
    current = current_frameworks()
    found = structures([f.id for f in current])
    return [(framework, found[framework.id]) for framework in current]


def _load_current(ids: list[int]) -> dict[int, tuple[FrozenFramework, ...]]:
    columns = [getattr(Framework, f.name) for f in dataclasses.fields(FrozenFramework)]
    rows = db.session.execute(select(*columns).where(Framework.is_current.is_(True)).order_by(Framework.title))
    return dict.fromkeys(ids, tuple(FrozenFramework(**row._mapping) for row in rows))


def structures(framework_ids: Sequence[int]) -> dict[int, Structure]:
    """Each framework's structure: kept by this process until a framework changes (four queries when not)."""
    return versions.cached("framework-structure", framework_ids, _load_structures, by_owner=False)


def _rows(model: Any, *where: Any, order_by: Any) -> list[dict[str, Any]]:
    """``model``'s rows as column values by attribute name, read from the database.

    Columns, not entities: an entity already in the session (loaded earlier in the request, before another
    transaction committed a change to it) would come back as it was, and be kept for everyone.
    """
    columns = [getattr(model, c.key) for c in model.__mapper__.column_attrs]
    return [dict(row._mapping) for row in db.session.execute(select(*columns).where(*where).order_by(order_by))]


def _load_structures(ids: list[int]) -> dict[int, Structure]:
    tiers = {t["id"]: FrozenTier(**t) for t in _rows(Tier, Tier.framework_id.in_(ids), order_by=Tier.position)}
    loaded = {
        g["id"]: g
        for g in _rows(CompetenceGroup, CompetenceGroup.framework_id.in_(ids), order_by=CompetenceGroup.position)
    }
    groups: dict[int, FrozenGroup] = {}

    def frozen_group(group_id: int) -> FrozenGroup:
        if group_id not in groups:
            g = loaded[group_id]
            parent = frozen_group(g["parent_id"]) if g["parent_id"] is not None else None
            groups[group_id] = FrozenGroup(**g, parent=parent)
        return groups[group_id]

    for group_id in loaded:
        frozen_group(group_id)
    competences = [
        FrozenCompetence(**c, tier=tiers[c["tier_id"]], group=groups[c["group_id"]])
        for c in _rows(
            Competence,
            Competence.framework_id.in_(ids),
            Competence.retired_at.is_(None),
            order_by=Competence.position,
        )
    ]
    requirements = [
        FrozenRequirement(**r)
        for r in _rows(Requirement, Requirement.framework_id.in_(ids), order_by=Requirement.position)
    ]
    return {
        i: Structure(
            tiers=tuple(t for t in tiers.values() if t.framework_id == i),
            groups={g.id: g for g in groups.values() if g.framework_id == i},
            competences=tuple(c for c in competences if c.framework_id == i),
            requirements=tuple(r for r in requirements if r.framework_id == i),
        )
        for i in ids
    }
