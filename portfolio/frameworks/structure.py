"""A framework's structure: its tiers, groups, active statements and requirements, kept between requests.

Tiers, groups, statements and requirements change when a framework is imported or a manager edits
its locality-specific statements, and are read on nearly every page: each process keeps them, as
frozen copies of the rows, until the frameworks' version token changes (progress/versions.py). The
copies have the rows' columns and the relationships pages follow (a statement's tier and group, a
group's parent); anything that writes loads the rows themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from ..extensions import db
from ..models import Competence, CompetenceGroup, Requirement, Section, Tier
from ..progress import versions


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


def structures(framework_ids: Sequence[int]) -> dict[int, Structure]:
    """Each framework's structure: kept by this process until a framework changes (four queries when not)."""
    return versions.cached("framework-structure", framework_ids, _load_structures, by_owner=False)


def _columns(row: object, model: Any) -> dict[str, Any]:
    """The row's column values, by attribute name (what a frozen copy is made of)."""
    return {c.key: getattr(row, c.key) for c in model.__mapper__.column_attrs}


def _load_structures(ids: list[int]) -> dict[int, Structure]:
    tiers: dict[int, FrozenTier] = {}
    for t in db.session.scalars(select(Tier).where(Tier.framework_id.in_(ids)).order_by(Tier.position)):
        tiers[t.id] = FrozenTier(**_columns(t, Tier))
    loaded = db.session.scalars(
        select(CompetenceGroup).where(CompetenceGroup.framework_id.in_(ids)).order_by(CompetenceGroup.position)
    ).all()
    groups: dict[int, FrozenGroup] = {}

    def frozen_group(g: CompetenceGroup) -> FrozenGroup:
        if g.id not in groups:
            parent = frozen_group(by_id[g.parent_id]) if g.parent_id is not None else None
            groups[g.id] = FrozenGroup(**_columns(g, CompetenceGroup), parent=parent)
        return groups[g.id]

    by_id = {g.id: g for g in loaded}
    for g in loaded:
        frozen_group(g)
    competences = [
        FrozenCompetence(**_columns(c, Competence), tier=tiers[c.tier_id], group=groups[c.group_id])
        for c in db.session.scalars(
            select(Competence)
            .where(Competence.framework_id.in_(ids), Competence.retired_at.is_(None))
            .order_by(Competence.position)
        )
    ]
    requirements = [
        FrozenRequirement(**_columns(r, Requirement))
        for r in db.session.scalars(
            select(Requirement).where(Requirement.framework_id.in_(ids)).order_by(Requirement.position)
        )
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
