"""Load a framework data file (YAML) into the database as a framework version.

Loading the same file twice changes nothing. A changed file becomes a new
version: the old version's rows stay (evidence linked to them keeps its
links), workers move to the same tier of the new version, and locality
competences that managers added carry over.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select, update

from ..database import TURNS, begin_write, lock_all, take_turns
from ..extensions import db
from ..models import Competence, CompetenceGroup, Framework, Requirement, Section, Tier, User

DATA_FOLDER = Path(__file__).parent / "data"
KINDS = ("tiered", "role-profile")
# libyaml's safe loader when PyYAML was built with it: ten times faster.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class FrameworkDataError(ValueError):
    """The data file does not describe a framework we can load."""


@dataclass
class LoadResult:
    framework: Framework
    created: bool

    def describe(self) -> str:
        fw = self.framework
        what = f"loaded as version {fw.version}" if self.created else f"unchanged (version {fw.version})"
        return f"{fw.title}: {what}"


def data_files(folder: Path = DATA_FOLDER) -> list[Path]:
    """The framework data files shipped with the app, in a stable order."""
    return sorted(folder.glob("*.yaml"))


def read_data(path: Path) -> dict[str, Any]:
    """Parse and check a data file.

    :raises FrameworkDataError: naming what is wrong and where.
    """
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        raise FrameworkDataError(f"{path.name}: not valid YAML ({exc})") from exc
    return check_data(data, path.name)


def check_data(data: Any, name: str) -> dict[str, Any]:
    """``data`` if it describes a framework we can load (from a file or an import).

    :raises FrameworkDataError: naming what is wrong and where.
    """
    path = Path(name)
    if not isinstance(data, dict):
        raise FrameworkDataError(f"{path.name}: expected a mapping at the top level")
    for field in (
        "key",
        "kind",
        "title",
        "short_title",
        "publisher",
        "published",
        "role",
        "area_of_work",
        "source",
        "tiers",
    ):
        if not data.get(field):
            raise FrameworkDataError(f"{path.name}: missing {field!r}")
    if data["kind"] not in KINDS:
        raise FrameworkDataError(f"{path.name}: kind must be one of {KINDS}")
    tier_slugs = {t.get("slug") for t in data["tiers"]}
    for listing_name, slugs in _tier_references(data):
        if not slugs:
            raise FrameworkDataError(f"{path.name}: {listing_name!r} names no tier")
        for slug in slugs:
            if slug not in tier_slugs:
                raise FrameworkDataError(f"{path.name}: {listing_name!r} names unknown tier {slug!r}")
    refs: set[str] = set()
    for competence in _flatten(data):
        if not str(competence.get("statement", "")).strip():
            raise FrameworkDataError(f"{path.name}: competence {competence.get('ref')!r} has no statement")
        if competence["ref"] in refs:
            raise FrameworkDataError(f"{path.name}: ref {competence['ref']!r} is used twice")
        refs.add(competence["ref"])
    return data


def _tier_references(data: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """Every tier slug a list (tiered) or section (role profile) names."""
    if data["kind"] == "tiered":
        return [
            (f"{area.get('name')} / {listing.get('listed_under')}", list(listing.get("tiers") or []))
            for area in data.get("areas", [])
            for listing in area.get("lists", [])
        ]
    return [
        (str(section.get("title") or section.get("section")), [section["tier"]] if section.get("tier") else [])
        for section in data.get("sections", [])
    ]


def content_hash(data: dict[str, Any]) -> str:
    """A hash of the file's meaning, not its formatting."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _flatten(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every competence of a data file, in document order, with its group path."""
    rows: list[dict[str, Any]] = []
    if data["kind"] == "tiered":
        for area in data.get("areas", []):
            for listing in area.get("lists", []):
                for item in listing.get("competences", []):
                    rows.append(
                        {
                            **item,
                            "tier": listing["tiers"][0],  # the tier that introduces it
                            "listed_under": listing["listed_under"],
                            "section": None,
                            "groups": [(area["name"], "area", area.get("description", ""))],
                        }
                    )
    else:
        for section in data.get("sections", []):
            for principle in section.get("principles", []):
                for function in principle.get("functions", []):
                    for item in function.get("competences", []):
                        rows.append(
                            {
                                **item,
                                "tier": section["tier"],
                                "listed_under": section.get("title", ""),
                                "section": section["section"],
                                "groups": [
                                    (principle["name"], "principle", ""),
                                    (function["name"], "function", ""),
                                ],
                            }
                        )
    return rows


class GroupIndex:
    """Finds or creates the competence groups of one framework version by their path."""

    def __init__(self, framework: Framework):
        self.framework = framework
        self._groups: dict[tuple[int | None, str], CompetenceGroup] = {
            (g.parent_id, g.name): g
            for g in db.session.scalars(select(CompetenceGroup).where(CompetenceGroup.framework_id == framework.id))
        }
        self._next = max((g.position for g in self._groups.values()), default=0) + 1

    def get(self, path: list[tuple[str, str, str]]) -> CompetenceGroup:
        parent: CompetenceGroup | None = None
        for name, kind, description in path:
            key = (parent.id if parent else None, name)
            group = self._groups.get(key)
            if group is None:
                group = CompetenceGroup(
                    framework_id=self.framework.id,
                    parent_id=parent.id if parent else None,
                    kind=kind,
                    name=name,
                    description=description or "",
                    position=self._next,
                )
                self._next += 1
                db.session.add(group)
                db.session.flush()
                self._groups[key] = group
            parent = group
        assert parent is not None
        return parent


def load_file(path: Path) -> LoadResult:
    """Load one data file; a no-op when the current version already matches it."""
    data = read_data(path)
    begin_write()
    result = load_data(data)
    db.session.commit()
    return result


def load_data(data: dict[str, Any]) -> LoadResult:
    """Add checked ``data`` as a framework, or a new version of the one with its key, in the caller's transaction.

    The caller has called ``begin_write()`` and commits.
    """
    digest = content_hash(data)
    # Every load takes the imports' turn, the command line's too: changing a person's tier waits for it (people
    # service), and two loads of one key would both take the same next version number.
    take_turns(TURNS["framework import"])
    lock_people_on(data["key"])
    current = db.session.scalar(select(Framework).where(Framework.key == data["key"], Framework.is_current.is_(True)))
    if current is not None and current.content_hash == digest:
        return LoadResult(current, created=False)

    version = (db.session.scalar(select(func.max(Framework.version)).where(Framework.key == data["key"])) or 0) + 1
    framework = Framework(
        key=data["key"],
        version=version,
        is_current=True,
        kind=data["kind"],
        title=data["title"],
        short_title=data["short_title"],
        publisher=data["publisher"],
        published=str(data["published"]),
        role=data["role"],
        area_of_work=data["area_of_work"],
        source=data["source"],
        summary=data.get("summary", ""),
        details=_details(data),
        content_hash=digest,
    )
    if current is not None:
        current.is_current = False
    db.session.add(framework)
    db.session.flush()

    tiers: dict[str, Tier] = {}
    for position, item in enumerate(data["tiers"], start=1):
        tier = Tier(
            framework_id=framework.id,
            slug=item["slug"],
            name=item["name"],
            position=position,
            description=item.get("description", ""),
        )
        db.session.add(tier)
        tiers[item["slug"]] = tier
    db.session.flush()

    requirements = data.get("requirements") or {}
    for position, item in enumerate(requirements.get("items", []), start=1):
        db.session.add(
            Requirement(
                framework_id=framework.id,
                ref=item["ref"],
                position=position,
                statement=item["statement"],
                applies_to=requirements.get("applies_to", ""),
                renewal_months=item.get("renewal_months"),
            )
        )

    groups = GroupIndex(framework)
    position = 0
    for position, row in enumerate(_flatten(data), start=1):
        db.session.add(
            Competence(
                framework_id=framework.id,
                ref=row["ref"],
                group_id=groups.get(row["groups"]).id,
                tier_id=tiers[row["tier"]].id,
                listed_under=row["listed_under"],
                section=Section(row["section"]) if row["section"] else None,
                position=position,
                statement=row["statement"],
                required_count=int(row.get("required_count", 1)),
            )
        )

    if current is not None:
        _carry_over(current, framework, tiers, groups, position)
    db.session.flush()
    return LoadResult(framework, created=True)


def lock_people_on(key: str) -> list[User]:
    """The people on the current version of framework ``key``, locked (call after ``begin_write()``).

    In id order and in one statement, as every use case that locks several people does, so none deadlocks with
    another; a promotion (which locks its worker) then either commits first, and an import sees the tier it gave,
    or waits for the import and finds its worker on the new version: never a tier changed between an import's
    check and its carry-over.
    """
    current = select(Framework.id).where(Framework.key == key, Framework.is_current.is_(True)).scalar_subquery()
    return lock_all(select(User).where(User.framework_id == current).order_by(User.id))


def _details(data: dict[str, Any]) -> dict[str, Any]:
    """The parts of the document that are not competences, kept as written."""
    details = dict(data.get("details") or {})
    requirements = data.get("requirements")
    if requirements:
        details["requirements"] = {k: v for k, v in requirements.items() if k != "items"}
    if data["kind"] == "role-profile":
        details["sections"] = [
            {k: section.get(k, "") for k in ("section", "title", "intro")} for section in data.get("sections", [])
        ]
    else:
        details["tiers"] = [{"slug": t["slug"], "name": t["name"]} for t in data["tiers"]]
    return details


def _carry_over(old: Framework, new: Framework, tiers: dict[str, Tier], groups: GroupIndex, position: int) -> None:
    """Move workers and locality competences from the old version to the new one.

    ``load_data`` locked the workers first (``lock_people_on``): these updates change rows the transaction holds
    already, so they wait for no one whatever order they reach them in.
    """
    old_tiers = {t.id: t.slug for t in old.tiers}
    fallback = min(tiers.values(), key=lambda t: t.position)
    for old_tier_id, slug in old_tiers.items():
        db.session.execute(
            update(User)
            .where(User.framework_id == old.id, User.tier_id == old_tier_id)
            .values(framework_id=new.id, tier_id=tiers.get(slug, fallback).id)
        )
    locality = db.session.scalars(
        select(Competence)
        .where(Competence.framework_id == old.id, Competence.section == Section.LOCALITY_SPECIFIC)
        .order_by(Competence.position)
    ).all()
    for competence in locality:
        position += 1
        path: list[tuple[str, str, str]] = []
        group: CompetenceGroup | None = competence.group
        while group is not None:
            path.insert(0, (group.name, group.kind, group.description))
            group = group.parent
        db.session.add(
            Competence(
                framework_id=new.id,
                ref=competence.ref,
                group_id=groups.get(path).id,
                tier_id=tiers.get(old_tiers[competence.tier_id], fallback).id,
                listed_under=competence.listed_under,
                section=Section.LOCALITY_SPECIFIC,
                position=position,
                statement=competence.statement,
                required_count=competence.required_count,
                created_by_id=competence.created_by_id,
                created_at=competence.created_at,
                retired_at=competence.retired_at,
                retired_by_id=competence.retired_by_id,
            )
        )


def load_files(paths: list[Path]) -> list[LoadResult]:
    """Check every file first, then load each: one bad file stops the run before anything is written."""
    for path in paths:
        read_data(path)
    return [load_file(path) for path in paths]


def load_all(folder: Path = DATA_FOLDER) -> list[LoadResult]:
    """Load every data file in ``folder``."""
    return load_files(data_files(folder))
