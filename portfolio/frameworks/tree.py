"""The framework tree: tiers or sections, areas, statements, and a worker's counts per statement.

Every page and document that lists a framework's statements (the competence
map, My progress and what is missing, the framework page, the panel PDF, the
exports) takes them from :func:`framework_tree`, so they cannot drift apart.
A worker's counts are keyed by the statement's stable ``ref`` (evidence
linked on an older version of the framework still counts) and come from
aggregate queries: a 2,000-item portfolio costs the same queries as an empty
one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..models import Framework, Section, User
from ..progress import rules
from ..progress.rules import CompetenceStatus
from .structure import FrozenCompetence, FrozenGroup, FrozenRequirement, FrozenTier, structures

SECTION_ORDER = (Section.CORE, Section.ROLE_SPECIFIC, Section.LOCALITY_SPECIFIC)


@dataclass
class Row:
    """One statement and, for a worker, what they have linked and had accepted for it."""

    competence: FrozenCompetence
    status: CompetenceStatus = CompetenceStatus.NOT_STARTED
    accepted: int = 0
    counts: dict[rules.LinkedBy, int] = field(default_factory=dict)  # items linked, by status, notes apart
    # Filled only by the page that lists items (what is missing): the newest few (id, title, status) rows.
    items: list = field(default_factory=list)

    @property
    def total(self) -> int:
        """How many of the worker's items are linked to the statement."""
        return sum(self.counts.values())


@dataclass
class Area:
    """A top-level group (area or principle) and its statements."""

    group: FrozenGroup
    rows: list[Row] = field(default_factory=list)

    @property
    def met(self) -> int:
        return sum(1 for r in self.rows if r.status == CompetenceStatus.MET)

    @property
    def total(self) -> int:
        return len(self.rows)


@dataclass
class Part:
    """The statements a tier introduces (tiered framework), or one section of a role profile."""

    title: str
    tier: FrozenTier
    areas: list[Area] = field(default_factory=list)

    @property
    def met(self) -> int:
        return sum(a.met for a in self.areas)

    @property
    def total(self) -> int:
        return sum(a.total for a in self.areas)


@dataclass
class FrameworkTree:
    framework: Framework
    # Shared with every request of this process (frameworks/structure.py): read, never changed.
    tiers: Sequence[FrozenTier]
    groups: Mapping[int, FrozenGroup]
    requirements: Sequence[FrozenRequirement]
    rows: list[Row]  # every active statement, in document order
    parts: list[Part]

    @property
    def competences(self) -> list[FrozenCompetence]:
        return [r.competence for r in self.rows]

    def by_ref(self) -> dict[str, Row]:
        return {r.competence.ref: r for r in self.rows}

    def top(self, group_id: int) -> FrozenGroup:
        """The area (or principle) a group sits in."""
        group = self.groups[group_id]
        while group.parent_id is not None:
            group = self.groups[group.parent_id]
        return group

    def areas_of(self, rows: list[Row]) -> list[Area]:
        """``rows`` by area, areas in document order."""
        areas: dict[int, Area] = {}
        for row in rows:
            group = self.top(row.competence.group_id)
            areas.setdefault(group.id, Area(group)).rows.append(row)
        return sorted(areas.values(), key=lambda a: a.group.position)


def framework_tree(framework: Framework, worker: User | None = None) -> FrameworkTree:
    """The framework's tiers, groups, active statements and requirements, with ``worker``'s counts.

    One query (the version tokens) when this process has kept the structure and the worker's counts; six
    at most.
    """
    counts = rules.counts([worker.id]) if worker is not None else rules.Counts({}, {})
    return _trees([framework], worker.id if worker else 0, counts.linked, counts.accepted)[0]


def framework_trees(frameworks: Sequence[Framework]) -> list[FrameworkTree]:
    """Several frameworks' trees, without a worker's counts: one query when kept, five at most, whatever their
    number and size."""
    return _trees(frameworks, 0, {}, {}) if frameworks else []


def _trees(
    frameworks: Sequence[Framework],
    worker_id: int,
    linked: dict[tuple[int, str], dict[rules.LinkedBy, int]],
    accepted: dict[tuple[int, str], int],
) -> list[FrameworkTree]:
    kept = structures([f.id for f in frameworks])
    trees = []
    for framework in frameworks:
        structure = kept[framework.id]
        rows = []
        for c in structure.competences:
            key = (worker_id, c.ref)
            counts = linked.get(key, {})
            n = accepted.get(key, 0)
            rows.append(Row(c, rules.status_of(n, sum(counts.values()), c.required_count), n, counts))
        trees.append(_tree(framework, structure.tiers, structure.groups, structure.requirements, rows))
    return trees


def _tree(
    framework: Framework,
    tiers: Sequence[FrozenTier],
    groups: Mapping[int, FrozenGroup],
    requirements: Sequence[FrozenRequirement],
    rows: list[Row],
) -> FrameworkTree:
    tree = FrameworkTree(framework, tiers, groups, requirements, rows, [])
    tier_by_id = {t.id: t for t in tiers}
    if framework.is_tiered:
        tree.parts = [Part(t.name, t, tree.areas_of([r for r in rows if r.competence.tier_id == t.id])) for t in tiers]
    else:
        for section in SECTION_ORDER:
            chosen = [r for r in rows if r.competence.section == section]
            if chosen:
                tree.parts.append(Part(section.label, tier_by_id[chosen[0].competence.tier_id], tree.areas_of(chosen)))
    return tree
