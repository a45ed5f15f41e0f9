"""Reading frameworks, and the locality-specific competences managers keep."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from flask import abort
from sqlalchemy import func, select

from .. import idempotency
from ..database import begin_write, lock_or_404
from ..errors import FieldError
from ..extensions import db
from ..models import Competence, CompetenceGroup, Framework, Role, Section, Tier, User, utcnow
from . import tree
from .loader import GroupIndex
from .structure import FrozenCompetence, FrozenGroup, FrozenRequirement, FrozenTier
from .structure import current_frameworks as current_frameworks  # kept per process; read by the pages from here
from .structure import current_frameworks_with_structures as current_frameworks_with_structures

STATEMENT_MAX = 500
GROUP_NAME_MAX = 300


# --- Reading -----------------------------------------------------------------


def get_framework_or_404(framework_id: int) -> Framework:
    """Any signed-in user may read any framework version.

    :raises 404: if there is no such framework.
    """
    framework = db.session.get(Framework, framework_id)
    if framework is None:
        abort(404)
    return framework


@dataclass
class Block:
    """A heading and the competences listed under it, in document order."""

    title: str
    competences: list[FrozenCompetence] = field(default_factory=list)


@dataclass
class GroupOutline:
    """A group (area or principle) with its competences, split into listings."""

    group: FrozenGroup
    blocks: list[Block] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(len(b.competences) for b in self.blocks)


@dataclass
class PartOutline:
    """A section of a role profile, or the whole tiered framework."""

    title: str
    section: Section | None
    intro: str = ""
    groups: list[GroupOutline] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(g.count for g in self.groups)


@dataclass
class TierSummary:
    tier: FrozenTier
    introduced: int
    cumulative: int


@dataclass
class FrameworkOutline:
    framework: Framework
    tiers: list[TierSummary]
    parts: list[PartOutline]
    requirements: Sequence[FrozenRequirement]
    # The viewer's own counts and status per statement ref, when it is their framework.
    progress: dict[str, tree.Row] | None = None

    @property
    def shown(self) -> int:
        return sum(part.count for part in self.parts)


def shows_progress(framework: Framework, viewer: User) -> bool:
    """True when ``viewer`` is a worker on (any version of) ``framework``: its page shows where they stand."""
    return viewer.is_worker and viewer.framework is not None and viewer.framework.key == framework.key


def framework_outline(framework: Framework, query: str = "", viewer: User | None = None) -> FrameworkOutline:
    """Everything a framework page shows, in a fixed number of queries.

    ``query`` keeps only the statements (or groups) whose words contain it. A
    worker viewing (any version of) their own framework also sees where they
    stand on each statement.
    """
    own = viewer is not None and shows_progress(framework, viewer)
    framework_tree = tree.framework_tree(framework, viewer if own else None)
    tiers, groups, competences = framework_tree.tiers, framework_tree.groups, framework_tree.competences

    tier_position = {t.id: t.position for t in tiers}
    needle = " ".join(query.lower().split())
    summaries = [
        TierSummary(
            tier=t,
            introduced=sum(1 for c in competences if c.tier_id == t.id),
            cumulative=sum(1 for c in competences if tier_position[c.tier_id] <= t.position),
        )
        for t in tiers
    ]

    part_defs: list[tuple[Section | None, str, str]]
    if framework.is_tiered:
        part_defs = [(None, "", "")]
    else:
        part_defs = [
            (Section(s["section"]), s.get("title", ""), s.get("intro", ""))
            for s in framework.details.get("sections", [])
        ] or [(s, s.label, "") for s in Section]

    parts: list[PartOutline] = []
    for section, title, intro in part_defs:
        part = PartOutline(title=title, section=section, intro=intro)
        outlines: dict[int, GroupOutline] = {}
        for competence in competences:
            if competence.section != section:
                continue
            top = framework_tree.top(competence.group_id)
            if needle and not _matches(needle, competence, groups):
                continue
            outline = outlines.get(top.id)
            if outline is None:
                outline = outlines[top.id] = GroupOutline(group=top)
                part.groups.append(outline)
            # Tiered: one block per heading ("Link Worker Coach"); role
            # profiles: one block per reference function.
            title = competence.listed_under if framework.is_tiered else groups[competence.group_id].name
            if not outline.blocks or outline.blocks[-1].title != title:
                outline.blocks.append(Block(title=title))
            outline.blocks[-1].competences.append(competence)
        if framework.is_tiered:
            part.groups.sort(key=lambda g: g.group.position)
        parts.append(part)

    return FrameworkOutline(
        framework=framework,
        tiers=summaries,
        parts=parts,
        requirements=framework_tree.requirements,
        progress=framework_tree.by_ref() if own else None,
    )


def _matches(needle: str, competence: FrozenCompetence, groups: Mapping[int, FrozenGroup]) -> bool:
    """True if the statement, or a group it sits in, contains ``needle``."""
    texts = [competence.statement, competence.listed_under]
    group: FrozenGroup | None = groups[competence.group_id]
    while group is not None:
        texts.append(group.name)
        group = groups.get(group.parent_id) if group.parent_id else None
    return any(needle in text.lower() for text in texts)


def workers_on(framework: Framework) -> int:
    """How many active workers are on ``framework``: a locality-specific competence added, changed or retired
    changes what each of them has to meet, at once (its form says so first)."""
    on_it = select(func.count(User.id)).where(
        User.framework_id == framework.id, User.is_worker.is_(True), User.active.is_(True)
    )
    return db.session.scalar(on_it) or 0


def group_names(framework: Framework) -> tuple[list[str], list[str]]:
    """Existing principle and reference-function names, to suggest in the locality form."""
    rows = db.session.execute(
        select(CompetenceGroup.kind, CompetenceGroup.name)
        .where(CompetenceGroup.framework_id == framework.id)
        .order_by(CompetenceGroup.position)
    ).all()
    principles = list(dict.fromkeys(name for kind, name in rows if kind == "principle"))
    functions = list(dict.fromkeys(name for kind, name in rows if kind == "function"))
    return principles, functions


# --- Locality-specific competences --------------------------------------------


def get_locality_competence_or_404(
    framework: Framework, competence_id: int, *, retired_too: bool = False
) -> Competence:
    """An active locality competence of ``framework`` (``retired_too``: or a retired one).

    :raises 404: for a missing or retired one, or one of another framework or section.
    """
    competence = db.session.get(Competence, competence_id)
    if (
        competence is None
        or competence.framework_id != framework.id
        or competence.section != Section.LOCALITY_SPECIFIC
        or (competence.is_retired and not retired_too)
    ):
        abort(404)
    return competence


def _require_manager(actor: User) -> None:
    if not actor.has_role(Role.MANAGER):
        abort(403)


def _require_role_profile(framework: Framework) -> None:
    if framework.is_tiered or not framework.is_current:
        abort(404)


def get_role_profile_or_404(framework_id: int) -> Framework:
    """The current version of a role profile (the frameworks with locality competences).

    :raises 404: for a missing framework, a tiered framework or an old version.
    """
    framework = get_framework_or_404(framework_id)
    _require_role_profile(framework)
    return framework


def _clean(statement: str, principle: str, function: str) -> tuple[str, str, str]:
    """Trim and check the three fields.

    :raises FieldError: for a missing or over-long value.
    """
    statement = " ".join((statement or "").split())
    principle = " ".join((principle or "").split())
    function = " ".join((function or "").split())
    for name, value, label, limit in (
        ("statement", statement, "competence statement", STATEMENT_MAX),
        ("principle", principle, "underpinning principle", GROUP_NAME_MAX),
        ("function", function, "reference function", GROUP_NAME_MAX),
    ):
        if not value:
            raise FieldError(name, f"Enter the {label}")
        if len(value) > limit:
            raise FieldError(name, f"The {label} must be {limit} characters or fewer")
    return statement, principle, function


def _check_not_duplicate(framework: Framework, statement: str, exclude_id: int | None = None) -> None:
    query = select(Competence.id).where(
        Competence.framework_id == framework.id,
        Competence.retired_at.is_(None),
        func.lower(Competence.statement) == statement.lower(),
    )
    if exclude_id is not None:
        query = query.where(Competence.id != exclude_id)
    if db.session.scalar(query.limit(1)) is not None:
        db.session.rollback()
        raise FieldError("statement", "This competence is already in the profile. Enter a different statement")


def _next_ref(framework: Framework) -> str:
    refs = db.session.scalars(
        select(Competence.ref).where(Competence.framework_id == framework.id, Competence.ref.like("LOCAL-%"))
    ).all()
    numbers = [int(r.split("-", 1)[1]) for r in refs if r.split("-", 1)[1].isdigit()]
    return f"LOCAL-{max(numbers, default=0) + 1:02d}"


@idempotency.creates(Competence)
def add_locality_competence(
    actor: User, framework: Framework, *, statement: str, principle: str, function: str, form_key: str | None = None
) -> Competence:
    """Add a locality-specific competence to a role profile.

    :raises FieldError: for missing, over-long or duplicate values.
    """
    _require_manager(actor)
    _require_role_profile(framework)
    statement, principle, function = _clean(statement, principle, function)
    begin_write()
    idempotency.check(Competence, form_key, actor)
    framework = lock_or_404(Framework, framework.id)  # re-read under the lock: two managers adding at once take turns
    _check_not_duplicate(framework, statement)
    # A role profile always has its one tier.
    tier = db.session.scalars(
        select(Tier).where(Tier.framework_id == framework.id).order_by(Tier.position).limit(1)
    ).one()
    group = GroupIndex(framework).get([(principle, "principle", ""), (function, "function", "")])
    position = (
        db.session.scalar(select(func.max(Competence.position)).where(Competence.framework_id == framework.id)) or 0
    ) + 1
    competence = Competence(
        framework_id=framework.id,
        ref=_next_ref(framework),
        group_id=group.id,
        tier_id=tier.id,
        listed_under=Section.LOCALITY_SPECIFIC.label,
        section=Section.LOCALITY_SPECIFIC,
        position=position,
        statement=statement,
        created_by_id=actor.id,
    )
    db.session.add(competence)
    idempotency.remember(form_key, actor, competence)
    db.session.commit()
    return competence


def update_locality_competence(
    actor: User, competence: Competence, *, statement: str, principle: str, function: str
) -> Competence:
    """Change a locality-specific competence's wording or grouping.

    :raises FieldError: for missing, over-long or duplicate values.
    """
    _require_manager(actor)
    statement, principle, function = _clean(statement, principle, function)
    begin_write()
    competence = lock_or_404(Competence, competence.id)
    _check_not_duplicate(competence.framework, statement, exclude_id=competence.id)
    group = GroupIndex(competence.framework).get([(principle, "principle", ""), (function, "function", "")])
    competence.statement = statement
    competence.group_id = group.id
    db.session.commit()
    return competence


def retire_locality_competence(actor: User, competence: Competence) -> Competence:
    """Retire a locality-specific competence: it leaves the profile but stays in the database."""
    _require_manager(actor)
    begin_write()
    competence = lock_or_404(Competence, competence.id)
    if competence.retired_at is None:
        competence.retired_at = utcnow()
        competence.retired_by_id = actor.id
    db.session.commit()
    return competence
