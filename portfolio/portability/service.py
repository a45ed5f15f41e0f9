"""Use cases for bringing a framework in: upload a file, preview its tree, confirm the import."""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort
from sqlalchemy import func, select

from ..audit import ledger
from ..database import TURNS, begin_write, lock_or_404, take_turns
from ..errors import FieldError
from ..extensions import db
from ..frameworks import loader
from ..models import Framework, FrameworkImport, Role, Tier, User, utcnow
from ..templating import plural
from .importing import ImportedTree, ImportProblem, framework_data, parse, slug

MAX_FILE_BYTES = 5 * 1024 * 1024
NEW = "new"
# Confirms take turns from before their checks: two files of one new title would both find the title free, and
# two new versions of one framework the same next version number.
_TURN = TURNS["framework import"]


def _require_manager(actor: User) -> None:
    if not actor.has_role(Role.MANAGER):
        abort(403)


def upload(actor: User, filename: str, raw: bytes) -> FrameworkImport:
    """Read an uploaded framework file and hold its tree for the preview.

    :raises FieldError: on ``file`` for an empty, too large or unreadable file; nothing is written.
    """
    _require_manager(actor)
    if not raw:
        raise FieldError("file", "The selected file is empty")
    if len(raw) > MAX_FILE_BYTES:
        raise FieldError("file", f"The file must be smaller than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    try:
        tree = parse(filename, raw)
    except ImportProblem as problem:
        raise FieldError("file", str(problem)) from problem
    begin_write()
    held = FrameworkImport(
        uploaded_by_id=actor.id,
        filename=filename[:255] or "framework",
        file_format=tree.file_format,
        tree=tree.as_json(),
    )
    db.session.add(held)
    db.session.commit()
    return held


def get_import_or_404(import_id: int) -> FrameworkImport:
    """An upload held for preview.

    :raises 404: when there is none.
    """
    held = db.session.get(FrameworkImport, import_id)
    if held is None:
        abort(404)
    return held


def tree_of(held: FrameworkImport) -> ImportedTree:
    return ImportedTree.from_json(held.tree)


def version_targets() -> list[Framework]:
    """Frameworks an import may become a new version of (tiered ones: an import is tiered)."""
    return list(
        db.session.scalars(
            select(Framework).where(Framework.is_current, Framework.kind == "tiered").order_by(Framework.title)
        )
    )


def same_titled(title: str) -> Framework | None:
    """The current framework already called ``title`` (letter case and spacing aside), if there is one."""
    wanted = " ".join(title.split()).casefold()
    return next(
        (
            f
            for f in db.session.scalars(select(Framework).where(Framework.is_current))
            if " ".join(f.title.split()).casefold() == wanted
        ),
        None,
    )


def _refuse_same_title(title: str) -> None:
    """A second framework of the same name would be told apart nowhere (lists, forms, documents).

    :raises FieldError: on ``target``.
    """
    existing = same_titled(title)
    if existing is None:
        return
    if existing.kind == "tiered":
        raise FieldError("target", f"{existing.title} is already here: import this as a new version of it")
    raise FieldError("target", f"{existing.title} is already here: give the framework in the file another title")


def _refuse_dropping_held_tiers(key: str, slugs: set[str]) -> None:
    """A new version without a tier that people hold would move them to its first tier (frameworks.loader): a
    change of tier without a promotion, which nobody may make by importing a file.

    Those people are locked first, so the tiers read here are the ones the carry-over moves.

    :raises FieldError: on ``tier_level``, naming the tiers the file lacks and how many people hold each.
    """
    loader.lock_people_on(key)
    held = db.session.execute(
        select(Tier.name, func.count(User.id))
        .join(User, User.tier_id == Tier.id)
        .join(Framework, Framework.id == Tier.framework_id)
        .where(Framework.key == key, Framework.is_current, Tier.slug.not_in(slugs))
        .group_by(Tier.id, Tier.name, Tier.position)
        .order_by(Tier.position)
    ).all()
    if held:
        lacking = ", ".join(f"{name} ({plural(count, 'person', 'people')})" for name, count in held)
        raise FieldError(
            "tier_level",
            f"These tiers are not in the file: {lacking}. A new version must keep every tier people hold, so that "
            "nobody's tier changes without a promotion: choose the level that holds the tiers",
        )


def _new_key(title: str) -> str:
    base = slug(title)
    taken = set(db.session.scalars(select(Framework.key)))
    key, n = base, 2
    while key in taken:
        key, n = f"{base}-{n}", n + 1
    return key


@dataclass(frozen=True)
class Confirmed:
    """What confirming an upload did to ``framework``."""

    framework: Framework
    created: bool  # False: the file is the same as this version, so nothing was made
    earlier: bool = False  # the upload was confirmed already (a double click, or another manager)

    def describe(self) -> str:
        fw = self.framework
        if self.earlier:
            return f"This file was imported already: {fw.title}, version {fw.version}"
        if not self.created:
            return f"Nothing changed: the file is the same as version {fw.version} of {fw.title}"
        return f"{fw.title} imported as version {fw.version}"


def confirm(
    actor: User, held: FrameworkImport, *, tier_level: int | None, area_level: int | None, target: str
) -> Confirmed:
    """Create the framework (or a new version of ``target``'s) from a held upload; a second confirm finds the first.

    :raises FieldError: on ``area_level`` when the chosen levels give no framework, on ``target`` for an unknown one
        or a title already here, on ``tier_level`` for a new version without a tier people hold.
    """
    _require_manager(actor)
    begin_write()
    held = lock_or_404(FrameworkImport, held.id)
    if held.framework_id is not None:  # confirmed already (a double click, or another manager)
        framework = db.session.get_one(Framework, held.framework_id)
        db.session.rollback()
        return Confirmed(framework, created=False, earlier=True)
    take_turns(_TURN)
    tree = ImportedTree.from_json(held.tree)
    if target == NEW:
        try:
            _refuse_same_title(tree.title)
        except FieldError:
            db.session.rollback()
            raise
        key = _new_key(tree.title)
    else:
        existing = next((f for f in version_targets() if f.key == target), None)
        if existing is None:
            db.session.rollback()
            raise FieldError("target", "Choose a framework from the list, or a new framework")
        key = existing.key
    try:
        data = loader.check_data(
            framework_data(tree, key=key, tier_level=tier_level, area_level=area_level), held.filename
        )
        if target != NEW:
            _refuse_dropping_held_tiers(key, {tier["slug"] for tier in data["tiers"]})
        result = loader.load_data(data)
    except (ImportProblem, loader.FrameworkDataError) as problem:
        db.session.rollback()
        raise FieldError("area_level", str(problem)) from problem
    except FieldError:
        db.session.rollback()
        raise
    held.framework_id = result.framework.id
    held.imported_at = utcnow()
    ledger.record(
        actor,
        "framework.imported" if result.created else "framework.import_unchanged",
        f"framework:{result.framework.id}",
        filename=held.filename,
        file_format=held.file_format,
        version=result.framework.version,
        created=result.created,
    )
    db.session.commit()
    return Confirmed(result.framework, created=result.created)
