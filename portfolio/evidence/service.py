"""Use cases for a worker's evidence: write, attach, link, submit; and the views over it."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import abort
from sqlalchemy import Integer, Select, String, and_, bindparam, case, exists, func, inspect, or_, select
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.selectable import Subquery
from werkzeug.datastructures import FileStorage

from .. import clock, idempotency, paging, richtext, searching
from ..audit import ledger
from ..database import begin_write, lock_or_404
from ..errors import FieldError, Problems
from ..extensions import db
from ..frameworks import tree
from ..frameworks.structure import structures
from ..models import (
    ActionOwner,
    Competence,
    CompetenceGroup,
    Evidence,
    EvidenceFile,
    EvidenceKind,
    EvidenceLink,
    EvidenceStatus,
    Framework,
    NoteOutcome,
    NoteReview,
    Role,
    SupervisionAction,
    SupervisionAssignment,
    Tier,
    TrainingItem,
    User,
    utcnow,
)
from ..progress import rules
from ..review import service as review
from ..supervision import service as supervision
from ..training import service as training
from . import anonymity, files, kinds

PAGE_SIZE = 20


# --- Guards ---------------------------------------------------------------------


def get_evidence_or_404(evidence_id: int, actor: User) -> Evidence:
    """An evidence item the actor owns.

    :raises 404: for a missing item or anyone else's, alike.
    """
    evidence = db.session.get(Evidence, evidence_id)
    if evidence is None or evidence.owner_id != actor.id:
        abort(404)
    return evidence


def get_file_or_404(evidence: Evidence, file_id: int) -> EvidenceFile:
    """A file of ``evidence`` (whose access was already checked).

    :raises 404: for a missing file or one of another item.
    """
    stored = db.session.get(EvidenceFile, file_id)
    if stored is None or stored.evidence_id != evidence.id:
        abort(404)
    return stored


def get_link_or_404(evidence: Evidence, link_id: int) -> EvidenceLink:
    """:raises 404: for a missing link or one of another item."""
    link = db.session.get(EvidenceLink, link_id)
    if link is None or link.evidence_id != evidence.id:
        abort(404)
    return link


def require_worker(actor: User) -> None:
    """Only workers with a framework keep a portfolio.

    :raises 403: for anyone else.
    """
    if not actor.has_role(Role.WORKER) or actor.framework_id is None:
        abort(403)


class NotEditable(FieldError):
    """The item is submitted, signed off or a confirmed note, so it cannot change now."""

    def __init__(self, evidence: Evidence):
        state = "a confirmed supervision note" if evidence.note_confirmed else evidence.status.label.lower()
        super().__init__("title", f"This item is {state} and cannot be changed")


def _require_editable(evidence: Evidence) -> None:
    if not evidence.is_editable:
        raise NotEditable(evidence)


# --- Writing evidence -----------------------------------------------------------


@dataclass
class ActionInput:
    description: str
    owner: str
    due_on: date | None


@dataclass
class EvidenceInput:
    """What a form says about an item; the service checks and cleans it."""

    title: str = ""
    occurred_on: date | None = None
    what_happened: str = ""
    what_learned: str = ""
    practice_change: str = ""
    next_steps: str = ""
    description: str = ""
    is_private: bool = False
    provider: str = ""
    expires_on: date | None = None
    cpd_hours: Decimal | None = None
    supervisor_id: int | None = None
    training_item_id: int | None = None
    feedback_source: str = ""
    feedback_from: str = ""
    observed_by: str = ""
    actions: list[ActionInput] = field(default_factory=list)
    confirm_anonymous: bool = False
    remove_file_ids: list[int] = field(default_factory=list)  # a change only: its files to remove as it is saved


class AnonymityCheckNeeded(FieldError):
    """Identifying details were found in a reflection's prompts and the author has not confirmed them."""

    def __init__(self, findings: list[anonymity.Finding], labels: Iterable[str] = ()):
        where = f" in {', '.join(dict.fromkeys(labels))}" if labels else ""
        super().__init__(
            "confirm_anonymous",
            f"Check the highlighted details ({anonymity.counted(findings)}){where}: "
            "remove them, or confirm they are not about a person you support",
        )
        self.findings = findings


def supervisors_of(worker: User, on: date | None = None) -> list[User]:
    """The worker's supervisors: those assigned on ``on``, or ever if ``on`` is None."""
    return supervision.supervisors_of(worker.id, on)


def who_reviews(worker: User, on: date) -> tuple[bool, SupervisionAssignment | None]:
    """Whether the worker has a supervisor on ``on`` and, when not, the supervision that starts later (if one
    does): what an item sent today waits for."""
    if supervision.supervisors_of(worker.id, on):
        return True, None
    return False, supervision.next_supervision(worker.id, on)


def _clean_input(
    actor: User, kind: EvidenceKind, data: EvidenceInput, today: date, current: Evidence | None = None
) -> dict[str, Any]:
    """Check the values and return the columns to write.

    The messages are the kind's form's (``kinds.Kind.required_message``): the
    form shows them first, and a caller without a form gets the same ones.

    :raises FieldErrors: naming every field with a problem, each with its first.
    """
    entry = kinds.get(kind)
    problems = Problems()
    if entry.prepare:
        prepare = entry.prepare
        data = problems.check(lambda: prepare(data), data)
    values: dict[str, Any] = {
        name: problems.check(functools.partial(_typed, entry, name, getattr(data, name)), "")
        for name in entry.plain_columns
    }
    values["occurred_on"] = problems.check(lambda: _past_date(data.occurred_on, today), None)
    values.update(
        {
            name: problems.check(functools.partial(_written, entry, name, getattr(data, name)), "")
            for name in entry.text_columns
        }
    )
    values["is_private"] = entry.confirmable and data.is_private
    if entry.clean:  # a kind's own rules read the date as given (None when it is refused above)
        clean = entry.clean
        kind_values: dict[str, Any] = problems.check(lambda: clean(actor, data, values, current), {})
        values.update(kind_values)
    problems.raise_if_any()
    return values


def _typed(entry: kinds.Kind, name: str, raw: str | None) -> str:
    """A short typed field, its spaces squeezed; required and at most so long, as its form says."""
    text = " ".join((raw or "").split())
    required = entry.required_message(name)
    if required and not text:
        raise FieldError(name, required)
    length = entry.length_rule(name)
    if length is not None and len(text) > length.max:
        raise FieldError(name, kinds.message_of(length))
    return text


def _past_date(value: date | None, today: date) -> date:
    if value is None:
        raise FieldError("occurred_on", "Enter the date")
    if (wrong := clock.done_on_problem(value, today)) is not None:
        raise FieldError("occurred_on", wrong)
    return value


def _written(entry: kinds.Kind, name: str, raw: str | None) -> str:
    """A written field as clean HTML ("" when blank); required as its form says."""
    if richtext.has_code(raw):
        raise FieldError(name, richtext.CODE_MESSAGE)
    html = richtext.from_user(raw)
    html = "" if richtext.is_blank(html) else html
    required = entry.required_message(name)
    if required and not html:
        raise FieldError(name, required)
    return html


def _clean_actions(data: EvidenceInput, problems: Problems) -> list[tuple[int, SupervisionAction]]:
    """Rows of agreed actions; blank rows are ignored, half-filled ones refused (every field of every such row,
    into ``problems``). Returns the complete rows with their place on the form, so that what is wrong in them
    (identifying details) is said next to the right row, in the same answer as the half-filled rows."""
    rows: list[tuple[int, SupervisionAction]] = []
    for index, row in enumerate(data.actions):
        description = " ".join((row.description or "").split())
        if not description and not row.owner and row.due_on is None:
            continue
        prefix = f"actions-{index}-"
        found = len(problems.errors)
        if not description:
            problems.add(prefix + "description", "Enter the action")
        if row.owner not in {o.value for o in ActionOwner}:
            problems.add(prefix + "owner", "Choose who owns the action")
        if row.due_on is None:
            problems.add(prefix + "due_on", "Enter the due date")
        elif data.occurred_on is not None and row.due_on < data.occurred_on:  # agreed at the session, due after it
            problems.add(prefix + "due_on", "The due date must be the same as or after the date of the session")
        if len(problems.errors) > found:
            continue
        action = SupervisionAction(
            position=len(rows) + 1, description=description, owner=ActionOwner(row.owner), due_on=row.due_on
        )
        rows.append((index, action))
    return rows


def _refuse_identifying(
    kind: EvidenceKind,
    values: dict[str, Any],
    actions: list[tuple[int, SupervisionAction]],
    today: date,
    problems: Problems,
) -> None:
    """No free-text field may identify a person supported: every field (and agreed action) that holds such a
    detail, into ``problems``.

    The title and the short fields are shown in lists, queues, notifications and documents, so what they hold is
    always refused. A reflection's prompts may keep a flagged detail the author confirms is not about a person
    they support (their service's phone number): :func:`_check_confirmable`, asked last. A private reflection's
    prompts are seen by nobody else and are checked when it is made shareable.
    """
    problems.check(lambda: _check_fixed_fields(kind, values, today), None)
    for index, action in actions:  # each row where the form shows it
        problems.check(
            functools.partial(
                anonymity.require_anonymous,
                f"actions-{index}-description",
                "Action",
                action.description,
                today=today,
            ),
            None,
        )


def _check_confirmable(kind: EvidenceKind, values: dict[str, Any], confirmed: bool, today: date) -> None:
    """A reflection's prompts may keep a flagged detail once its author confirms it is not about a person they
    support: asked after every other problem is put right.

    :raises AnonymityCheckNeeded: with the prompts' findings, unless confirmed (or private).
    """
    entry = kinds.get(kind)
    if not entry.confirmable or values["is_private"] or confirmed:
        return
    findings = find_identifiers_in(values, today=today, kind=kind)
    if findings:
        labels = [
            entry.field_label(name)
            for name in entry.text_columns
            if anonymity.findings_in(values[name], html=True, today=today)
        ]
        raise AnonymityCheckNeeded(findings, labels)


def _check_fixed_fields(
    kind: EvidenceKind, values: dict[str, Any] | Evidence, today: date | None, field: str | None = None
) -> None:
    """Refuse identifying details in every free-text field that cannot be confirmed (all but a reflection's prompts).

    ``field`` puts the message on one form field (the submit page's) instead of each field's own.

    :raises FieldErrors: every field that holds one (with ``field``, the first).
    """
    entry = kinds.get(kind)
    problems = Problems()
    for name in entry.plain_columns + (() if entry.confirmable else entry.text_columns):
        text = values.get(name) if isinstance(values, dict) else getattr(values, name)
        problems.check(
            functools.partial(
                anonymity.require_anonymous,
                field or name,
                entry.field_label(name),
                text,
                html=name in entry.text_columns,
                today=today,
            ),
            None,
        )
    problems.raise_if_any()


def find_identifiers_in(
    values: dict[str, Any] | Evidence, today: date | None = None, kind: EvidenceKind = EvidenceKind.REFLECTION
) -> list[anonymity.Finding]:
    """Identifying details in the written parts an author may confirm (a reflection's prompts), part by part."""
    kind = values.kind if isinstance(values, Evidence) else kind
    findings: list[anonymity.Finding] = []
    for name in kinds.get(kind).text_columns:
        html = values[name] if isinstance(values, dict) else getattr(values, name)
        findings.extend(anonymity.findings_in(html, html=True, today=today))
    return findings


def _stage_all(uploads: Iterable[FileStorage]) -> list[files.StagedFile]:
    """Check and write every upload to a temporary name; on any refusal, remove them all."""
    staged: list[files.StagedFile] = []
    try:
        for upload in uploads:
            if upload is None or not upload.filename:
                continue
            staged.append(files.stage_upload(upload, field="files"))
    except BaseException:  # a refusal, or the disk: no staged file is left either way
        for item in staged:
            files.discard(item)
        raise
    return staged


def _refuse_kinds_at_a_glance(uploads: Iterable[FileStorage], problems: Problems) -> None:
    """The first upload an empty file or of no accepted kind, by its first bytes, into ``problems``: for a form shown
    again with other problems (nothing is received), so that a wrong file is named with them, not on the next try."""
    if wrong := next(filter(None, map(files.kind_problem, uploads)), None):
        problems.add("files", wrong)


def _commit_with_files(staged: list[files.StagedFile]) -> None:
    """Commit the rows, then give the files their final names; on failure, leave neither."""
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        for item in staged:
            files.discard(item)
        raise
    for item in staged:
        files.finish(item)


def _file_rows(staged: list[files.StagedFile]) -> list[EvidenceFile]:
    return [
        EvidenceFile(
            stored_name=item.stored_name,
            original_name=item.original_name,
            content_type=item.content_type,
            size=item.size,
            sha256=item.sha256,
        )
        for item in staged
    ]


MAX_LINKS_AT_ONCE = 100


def course_title(training_item_id: int | None) -> str:
    """A catalogue course's title ("" for none): a certificate's suggested competences read it with what the worker
    wrote, whose own title may be an abbreviation ("EDI essentials" for equality, diversity and inclusion)."""
    if not training_item_id:
        return ""
    return db.session.scalar(select(TrainingItem.title).where(TrainingItem.id == training_item_id)) or ""


def competences_by_id(actor: User, competence_ids: list[int]) -> list[Competence]:
    """The active competences of the actor's framework among ``competence_ids`` (others ignored), in order."""
    if not competence_ids or actor.framework_id is None:
        return []
    return list(
        db.session.scalars(
            select(Competence)
            .where(
                Competence.id.in_(competence_ids[:MAX_LINKS_AT_ONCE]),
                Competence.framework_id == actor.framework_id,
                Competence.retired_at.is_(None),
            )
            .order_by(Competence.position)
        )
    )


def _competences_of_framework(actor: User, competence_ids: list[int], field_name: str) -> list[Competence]:
    """The chosen competences, in one query.

    :raises FieldError: unless every one is an active competence of the actor's framework.
    """
    if len(competence_ids) > MAX_LINKS_AT_ONCE:
        raise FieldError(field_name, f"Choose at most {MAX_LINKS_AT_ONCE} competences at once")
    found = db.session.scalars(
        select(Competence).where(
            Competence.id.in_(competence_ids),
            Competence.framework_id == actor.framework_id,
            Competence.retired_at.is_(None),
        )
    ).all()
    if len(found) != len(set(competence_ids)):
        raise FieldError(field_name, "Choose competences from your framework")
    return list(found)


def _competence_of_framework(actor: User, competence_id: int, field_name: str = "competence_id") -> Competence:
    """:raises FieldError: unless it is an active competence of the actor's framework."""
    competence = db.session.get(Competence, competence_id)
    if competence is None or competence.framework_id != actor.framework_id or competence.is_retired:
        raise FieldError(field_name, "Choose a competence from your framework")
    return competence


def no_competence_to_send(entry: kinds.Kind) -> str:
    """Sending an item linked to nothing is refused: the message names the form's other button, as it is worded."""
    return (
        f"Tick at least one competence this evidence shows, or choose “{entry.save_label}” and link competences later"
    )


@dataclass
class _NewItem:
    """A new item's checked parts: its columns, agreed actions, files (staged) and competences to link."""

    values: dict[str, Any]
    actions: list[SupervisionAction]
    staged: list[files.StagedFile]
    competences: list[Competence]


def _checked_new(
    actor: User,
    kind: EvidenceKind,
    data: EvidenceInput,
    uploads: Iterable[FileStorage],
    link_competence_id: int | None,
    link_competence_ids: Iterable[int],
    to_send: bool,
    today: date,
    *,
    stage_files: bool = True,
) -> _NewItem:
    """Every rule a new item must meet but the confirmable anonymity check (asked last): the values, the
    agreed actions, identifying details, the competences and the files, all in one answer. Without
    ``stage_files`` nothing is staged: the files are counted, and only their first bytes read (their kind).

    :raises FieldErrors: for every field with a problem; no staged file is left then.
    """
    entry = kinds.get(kind)
    problems = Problems()
    values: dict[str, Any] = problems.check(lambda: _clean_input(actor, kind, data, today), {})
    rows = _clean_actions(data, problems) if entry.has_actions else []
    actions = [action for _, action in rows]
    if values:  # read as typed: identifying details are looked for once the values are good
        _refuse_identifying(kind, values, rows, today, problems)
    none: list[Competence] = []
    first = problems.check(
        lambda: [_competence_of_framework(actor, link_competence_id, "title")] if link_competence_id else none, none
    )
    link_competence_ids = list(link_competence_ids)
    ticked = [i for i in dict.fromkeys(link_competence_ids) if i != link_competence_id]
    chosen = problems.check(
        lambda: _competences_of_framework(actor, ticked, "competence_ids") if ticked else none, none
    )
    if to_send and not (link_competence_id or any(link_competence_ids)):
        problems.add("competence_ids", no_competence_to_send(entry))
    uploads = [u for u in uploads if u is not None and u.filename]
    staged: list[files.StagedFile] = problems.check(lambda: _stage_all(uploads), []) if stage_files else []
    if not stage_files:
        _refuse_kinds_at_a_glance(uploads, problems)
    if entry.file_required and not uploads:
        problems.add("files", entry.file_required)
    if problems.errors:
        for item in staged:
            files.discard(item)
        problems.raise_if_any()
    return _NewItem(values, actions, staged, first + chosen)


def problems_of_new(
    actor: User,
    kind: EvidenceKind,
    data: EvidenceInput,
    uploads: Iterable[FileStorage] = (),
    *,
    link_competence_id: int | None = None,
    link_competence_ids: Iterable[int] = (),
    to_send: bool = False,
    today: date | None = None,
) -> dict[str, str]:
    """What :func:`create_evidence` would refuse, field by field, writing nothing: for a form that refused some
    values itself, so that its page names every problem at once. The files are not received (they must be chosen
    again anyway), only their first bytes looked at: a file of the wrong kind is said now, not on the next try."""
    require_worker(actor)
    today = today or clock.today()
    try:
        _checked_new(
            actor, kind, data, uploads, link_competence_id, link_competence_ids, to_send, today, stage_files=False
        )
    except FieldError as error:
        return error.by_field()
    return {}


def saved_by_form(worker: User, form_key: str | None) -> Evidence | None:
    """The item ``worker`` saved from the new-item form with this one-time key, if she has (and it still exists)."""
    return idempotency.created_before(Evidence, form_key, worker)


@idempotency.creates(Evidence)
def create_evidence(
    actor: User,
    kind: EvidenceKind,
    data: EvidenceInput,
    uploads: Iterable[FileStorage] = (),
    *,
    link_competence_id: int | None = None,
    link_competence_ids: Iterable[int] = (),
    today: date | None = None,
    form_key: str | None = None,
    to_send: bool = False,
    not_attached: list[tuple[str, str]] | None = None,
) -> Evidence:
    """Add a draft item to the actor's portfolio, with its files (one copy of each) and its first links.

    ``link_competence_id`` is the competence the worker started from; ``link_competence_ids`` the ones ticked.
    ``to_send``: the worker sends it next (check, then send), so it needs a competence; said with the values'
    problems, in one answer. ``not_attached``, when given, receives (upload, file attached) for each upload left
    out because another chosen with it is the same file, for the page to say so.

    A repeated submission of the same form (``form_key``) returns the item the
    first one created, and writes nothing.

    :raises FieldError: for any bad value or file; nothing is written then.
    """
    require_worker(actor)
    today = today or clock.today()
    entry = kinds.get(kind)
    new = _checked_new(actor, kind, data, uploads, link_competence_id, link_competence_ids, to_send, today)
    staged = new.staged
    try:  # whatever stops it before the commit (a refusal, the same form sent before, the database), no file stays
        _check_confirmable(kind, new.values, data.confirm_anonymous, today)
        begin_write()
        idempotency.check(Evidence, form_key, actor)
        evidence = Evidence(owner_id=actor.id, kind=kind, status=EvidenceStatus.DRAFT, **new.values)
        if entry.confirmable and data.confirm_anonymous and not new.values["is_private"]:
            evidence.anonymity_confirmed_at = utcnow()
        attaching = _sorted_uploads(staged, [])  # one copy of a file chosen twice
        attaching.discard_repeats()
        evidence.files = _file_rows(attaching.adding)
        evidence.actions = new.actions
        evidence.links = [EvidenceLink(competence_id=c.id) for c in new.competences]
        db.session.add(evidence)
        idempotency.remember(form_key, actor, evidence)
    except BaseException:
        for item in staged:
            files.discard(item)
        raise
    _commit_with_files(attaching.adding)
    if not_attached is not None:
        not_attached.extend((item.original_name, held) for item, held in attaching.repeats)
    return evidence


def _checked_update(
    actor: User,
    evidence: Evidence,
    data: EvidenceInput,
    uploads: Iterable[FileStorage],
    today: date,
    *,
    stage_files: bool = True,
) -> tuple[dict[str, Any], list[SupervisionAction] | None, list[files.StagedFile]]:
    """Every rule a change must meet but the confirmable anonymity check (asked last): the values, the agreed
    actions (None for a kind without them), identifying details and the files, all in one answer. Without
    ``stage_files`` the files are not read (nothing staged).

    :raises FieldErrors: for every field with a problem; no staged file is left then.
    """
    kind = evidence.kind
    entry = kinds.get(kind)
    problems = Problems()
    values: dict[str, Any] = problems.check(lambda: _clean_input(actor, kind, data, today, current=evidence), {})
    rows = _clean_actions(data, problems) if entry.has_actions else []
    actions = [action for _, action in rows] if entry.has_actions else None
    if values:  # read as typed: identifying details are looked for once the values are good
        _refuse_identifying(kind, values, rows, today, problems)
    staged: list[files.StagedFile] = problems.check(lambda: _stage_all(uploads), []) if stage_files else []
    # Unread (or refused: "choose the new file as well" would be wrong when one was chosen), the new files cannot be
    # counted; they are chosen again anyway.
    if stage_files and "files" not in problems.errors:
        problems.check(lambda: _check_files_left(evidence, data.remove_file_ids, len(staged)), None)
    if problems.errors:
        for item in staged:
            files.discard(item)
        problems.raise_if_any()
    return values, actions, staged


def _files_to_remove(evidence: Evidence, file_ids: list[int]) -> list[EvidenceFile]:
    """The item's files among ``file_ids``; any other id (a file removed meanwhile, or not this item's) is ignored."""
    wanted = set(file_ids)
    return [f for f in evidence.files if f.id in wanted]


def _check_files_left(evidence: Evidence, remove_file_ids: list[int], added: int) -> None:
    """:raises FieldError: when a change would leave a kind that keeps a file (a certificate) with none."""
    last_file = evidence.kind.entry.last_file
    removing = _files_to_remove(evidence, remove_file_ids)
    if last_file and removing and len(evidence.files) - len(removing) + added < 1:
        raise FieldError("remove_file_ids", f"{last_file}: choose the new file as well to replace it")


def problems_of_update(
    actor: User,
    evidence: Evidence,
    data: EvidenceInput,
    uploads: Iterable[FileStorage] = (),
    *,
    today: date | None = None,
) -> dict[str, str]:
    """What :func:`update_evidence` would refuse, field by field, writing nothing: for a form that refused some
    values itself, so that its page names every problem at once. The files are chosen again anyway: they are
    counted (for "a certificate needs its file") and their kind read from their first bytes, not received."""
    try:
        _require_editable(evidence)
    except FieldError as error:
        return error.by_field()
    uploads = [u for u in uploads if u is not None and u.filename]
    problems = Problems()
    problems.check(lambda: _checked_update(actor, evidence, data, (), today or clock.today(), stage_files=False), None)
    problems.check(lambda: _check_files_left(evidence, data.remove_file_ids, len(uploads)), None)
    _refuse_kinds_at_a_glance(uploads, problems)
    return dict(problems.errors)


@dataclass(frozen=True)
class SavedChange:
    """What :func:`update_evidence` saved: the item, the names of the files it removed, and the uploads it did not
    add because the item holds the same file (a form sent again, one file chosen twice): (upload, file held)."""

    evidence: Evidence
    removed: list[str]
    already_attached: list[tuple[str, str]]


@dataclass(frozen=True)
class _Uploads:
    adding: list[files.StagedFile]  # new content, to attach
    repeats: list[tuple[files.StagedFile, str]]  # content held already, with the name it is held under

    def discard_repeats(self) -> None:
        for item, _ in self.repeats:
            files.discard(item)


def _sorted_uploads(staged: list[files.StagedFile], held: Iterable[EvidenceFile]) -> _Uploads:
    """The uploads whose content is new to the item (``held``: its files) and the rest: an item holds one copy of
    a file, so a change sent twice, or a file chosen twice, attaches it once."""
    names: dict[str, str] = {f.sha256: f.original_name for f in held}
    adding, repeats = [], []
    for item in staged:
        if item.sha256 in names:
            repeats.append((item, names[item.sha256]))
        else:
            names[item.sha256] = item.original_name
            adding.append(item)
    return _Uploads(adding, repeats)


class ChangedMeanwhile(review.Conflict):
    """The item changed after the page a change (or sending it) was asked from was drawn, in another tab: nothing
    was written."""

    def __init__(
        self,
        message: str = (
            "This item was changed in another tab or window since you opened this page: your changes were not "
            "saved. Check the item as it is now, then make your changes again."
        ),
    ) -> None:
        super().__init__(message)


NOT_SENT_UNSEEN = (
    "This item was changed in another tab or window since you opened this page, so it was not sent. Check it as it "
    "is now, then send it."
)


def drawn_from(evidence: Evidence) -> str:
    """What an item's change form is drawn from, as a hash its page carries (:func:`update_evidence`'s ``seen``).

    The values the form shows (its kind's ``form_data``: the registry's one account of them) and the files it
    lists to tick for removal: what a stale form could undo. Not the links: the form cannot change them, so a
    competence linked from another tab leaves a change of the text free to save.
    """
    shown = {
        "form": kinds.get(evidence.kind).form_data(evidence),
        "files": [[f.id, f.sha256] for f in evidence.files],
    }
    return hashlib.sha256(json.dumps(shown, sort_keys=True, default=str).encode()).hexdigest()


def _content_changes(
    evidence: Evidence, values: dict[str, Any], adding: list[files.StagedFile], removing: list[EvidenceFile]
) -> bool:
    """Whether saving changes the item's columns or files as they are (a certificate's check is about those)."""
    return bool(adding or removing) or any(getattr(evidence, name) != value for name, value in values.items())


def _action_rows(actions: Iterable[SupervisionAction]) -> list[tuple[str, ActionOwner, date]]:
    return [(action.description, action.owner, action.due_on) for action in actions]


def update_evidence(
    actor: User,
    evidence: Evidence,
    data: EvidenceInput,
    uploads: Iterable[FileStorage] = (),
    *,
    today: date | None = None,
    seen: str | None = None,
) -> SavedChange:
    """Change a draft or returned item; new files are added to its files, and those in ``data.remove_file_ids``
    removed (in one transaction: a certificate's file is replaced in one step). A file the item already holds is
    not added again (:func:`_sorted_uploads`): resending the form (a retry after a lost answer) does not attach
    its file twice.

    ``seen``: :func:`drawn_from` of the item as the change's page showed it; None for a caller that read the item
    just now (or a page drawn before pages carried it), then nothing is compared. A change that would undo a later
    one is refused; one the item already holds (the same form sent again after a lost answer) is not.

    :raises FieldError: for any bad value or file, or an item that is not editable.
    :raises ChangedMeanwhile: when the item changed since ``seen`` and the change would change it (nothing written).
    """
    _require_editable(evidence)
    today = today or clock.today()
    kind = evidence.kind
    entry = kinds.get(kind)
    values, actions, staged = _checked_update(actor, evidence, data, uploads, today)

    def already_confirmed_on(item: Evidence) -> bool:
        return item.anonymity_confirmed_at is not None and all(
            values.get(n) == getattr(item, n) for n in entry.text_columns
        )

    try:
        already_confirmed = already_confirmed_on(evidence)
        _check_confirmable(kind, values, data.confirm_anonymous or already_confirmed, today)
        begin_write()
    except BaseException:
        for item in staged:
            files.discard(item)
        raise
    try:  # whatever stops it before the commit, no staged file stays (discarding twice is harmless)
        evidence = _locked_editable(_key(evidence))  # it may have been submitted (or deleted) meanwhile
        # On the files as they are now, those ticked for removal too: one ticked and chosen again stays as it was.
        attaching = _sorted_uploads(staged, evidence.files)
        again = {item.sha256 for item, _ in attaching.repeats}
        removed = [f for f in _files_to_remove(evidence, data.remove_file_ids) if f.sha256 not in again]
        # Compared on the locked row, so no change lands between the comparison and the commit.
        content_changes = _content_changes(evidence, values, attaching.adding, removed)
        # A change already saved, sent again (a lost answer), changes nothing: never refused.
        changing = content_changes or (actions is not None and _action_rows(evidence.actions) != _action_rows(actions))
        if seen is not None and changing and seen != drawn_from(evidence):
            raise ChangedMeanwhile()
        already_confirmed = already_confirmed_on(evidence)  # on the text as it is now
        _check_confirmable(kind, values, data.confirm_anonymous or already_confirmed, today)
        _check_files_left(evidence, data.remove_file_ids, len(staged))  # on the files as they are now
        attaching.discard_repeats()
        if content_changes:
            # A checked certificate counts for compliance as it was checked: a changed one waits for a new check
            # (and one sent back goes back to the list to check).
            evidence.forget_check()
        for name, value in values.items():
            setattr(evidence, name, value)
        if entry.confirmable:
            evidence.anonymity_confirmed_at = _confirmed_at(
                evidence, values["is_private"], data.confirm_anonymous, already_confirmed
            )
        if actions is not None:
            evidence.actions = actions
        for stored in removed:
            evidence.files.remove(stored)  # delete-orphan: the row goes with the commit
        evidence.files.extend(_file_rows(attaching.adding))
        removed_names = [stored.original_name for stored in removed]  # read before the commit expires them
    except BaseException:
        db.session.rollback()
        for item in staged:
            files.discard(item)
        raise
    _commit_with_files(attaching.adding)
    for stored in removed:  # after the commit: a failed change keeps its files
        files.delete_stored(stored.stored_name)
    return SavedChange(evidence, removed_names, [(item.original_name, held) for item, held in attaching.repeats])


def _confirmed_at(evidence: Evidence, is_private: bool, confirming: bool, already_confirmed: bool) -> datetime | None:
    """When the author confirmed the flagged details: now, as before while the text is unchanged, or never for a private item."""
    if is_private:
        return None
    if confirming:
        return utcnow()
    return evidence.anonymity_confirmed_at if already_confirmed else None


def _key(row) -> int:
    """A row's id without loading it: ``begin_write()`` expired it, and it may be gone by now."""
    return inspect(row).identity[0]


def _locked(evidence_id: int) -> Evidence:
    """Re-read an item inside the write transaction, locking its row on PostgreSQL."""
    return lock_or_404(Evidence, evidence_id)


def _locked_editable(evidence_id: int) -> Evidence:
    """The item under lock, if it is still editable.

    :raises NotEditable: when it was submitted (or confirmed) meanwhile; the transaction is rolled back.
    """
    evidence = _locked(evidence_id)
    if not evidence.is_editable:
        db.session.rollback()
        raise NotEditable(evidence)
    return evidence


def delete_evidence(actor: User, evidence: Evidence) -> None:
    """Delete a draft with its files and links.

    :raises FieldError: for an item that has been submitted, or a confirmed note.
    """
    if evidence.status != EvidenceStatus.DRAFT or evidence.note_confirmed:
        raise FieldError("title", "Only a draft can be deleted")
    begin_write()
    evidence = _locked(_key(evidence))
    if evidence.status != EvidenceStatus.DRAFT or evidence.note_confirmed:
        db.session.rollback()
        raise FieldError("title", "Only a draft can be deleted")
    names = [f.stored_name for f in evidence.files]
    for note_review in evidence.note_reviews:  # a disputed draft note: its reviews go with it, on the record
        ledger.record(actor, "note.review-removed", f"evidence:{evidence.id}", removes=note_review)
    db.session.delete(evidence)
    db.session.commit()
    for name in names:  # after the commit: a failed delete must keep its files
        files.delete_stored(name)


def remove_file(actor: User, evidence: Evidence, stored: EvidenceFile) -> None:
    """Remove one file from an editable item.

    :raises FieldError: when the item is not editable, or it is a certificate's only file.
    """
    _require_editable(evidence)
    last_file = evidence.kind.entry.last_file
    if last_file and len(evidence.files) == 1:
        raise FieldError("files", f"{last_file}: add the new file before removing this one")
    begin_write()
    evidence = _locked(_key(evidence))
    try:
        _require_editable(evidence)
        still_there = db.session.get(EvidenceFile, _key(stored))
        if still_there is None or still_there.evidence_id != evidence.id:
            raise FieldError("files", "That file has already been removed")
        if last_file and len(evidence.files) == 1:
            raise FieldError("files", f"{last_file}: add the new file before removing this one")
    except FieldError:
        db.session.rollback()
        raise
    name = still_there.stored_name
    db.session.delete(still_there)
    # A checked certificate counts as it was checked: with a file gone it waits for a new check.
    evidence.forget_check()
    db.session.commit()
    files.delete_stored(name)


# --- Links to competences -----------------------------------------------------


def _clean_note(note: str | None) -> str:
    """:raises FieldError: for a note over 500 characters or one that may identify someone."""
    note = " ".join((note or "").split())
    if len(note) > 500:
        raise FieldError("note", "The note must be 500 characters or fewer")
    anonymity.require_anonymous("note", "The note", note)
    return note


def link_competence(actor: User, evidence: Evidence, competence_id: int, note: str = "") -> EvidenceLink:
    """Offer an item as evidence for a competence of the actor's framework.

    :raises FieldError: for a competence of another framework, a duplicate, a long note or a locked item.
    """
    _require_editable(evidence)
    competence = _competence_of_framework(actor, competence_id)
    note = _clean_note(note)
    begin_write()
    evidence = _locked_editable(_key(evidence))
    existing = db.session.scalar(
        select(EvidenceLink).where(EvidenceLink.evidence_id == evidence.id, EvidenceLink.competence_id == competence.id)
    )
    if existing is not None:
        db.session.rollback()
        raise FieldError("competence_id", "This item is already linked to that competence")
    link = EvidenceLink(evidence_id=evidence.id, competence_id=competence.id, note=note)
    db.session.add(link)
    db.session.commit()
    return link


def link_competences(actor: User, evidence: Evidence, competence_ids: list[int]) -> list[EvidenceLink]:
    """Link an item to every competence in ``competence_ids`` ("Link all shown", "Link an existing item"), at once.

    Competences the item is already linked to (the same form sent twice, another tab) are left as they are, so
    sending it again links nothing twice. The new links, in framework order.

    :raises FieldError: for none chosen, one that is not an active competence of the actor's framework, or a
        locked item; nothing is written then.
    """
    _require_editable(evidence)
    wanted = list(dict.fromkeys(competence_ids))
    if not wanted:
        raise FieldError("competence_ids", "There are no competences to link on this page")
    chosen = sorted(_competences_of_framework(actor, wanted, "competence_ids"), key=lambda c: (c.position, c.id))
    chosen_ids = [c.id for c in chosen]  # before begin_write(), which expires what the session loaded
    begin_write()
    evidence = _locked_editable(_key(evidence))  # read the links only once the item is locked: a second send waits
    already = set(db.session.scalars(select(EvidenceLink.competence_id).where(EvidenceLink.evidence_id == evidence.id)))
    links = [EvidenceLink(evidence_id=evidence.id, competence_id=i) for i in chosen_ids if i not in already]
    db.session.add_all(links)
    db.session.commit()
    return links


def load_links(evidence: Evidence) -> None:
    """Load the item's links with their competences in one query (the links page lists every one)."""
    links = db.session.scalars(
        select(EvidenceLink)
        .where(EvidenceLink.evidence_id == evidence.id)
        .order_by(EvidenceLink.id)
        .options(joinedload(EvidenceLink.competence))
    ).all()
    set_committed_value(evidence, "links", list(links))


def _locked_link(evidence: Evidence, link: EvidenceLink) -> EvidenceLink:
    """The link, read after locking its item (which may have been submitted, or the link removed, meanwhile).

    :raises FieldError: when either happened; the transaction is rolled back.
    """
    locked = _locked(_key(evidence))
    current = db.session.get(EvidenceLink, _key(link))
    if not locked.is_editable:
        db.session.rollback()
        raise NotEditable(locked)
    if current is None or current.evidence_id != locked.id:
        db.session.rollback()
        raise FieldError("note", "That link has already been removed")
    return current


def update_link_note(actor: User, evidence: Evidence, link: EvidenceLink, note: str) -> EvidenceLink:
    """Change the note on a link. :raises FieldError: for a long note or a locked item."""
    _require_editable(evidence)
    note = _clean_note(note)
    begin_write()
    link = _locked_link(evidence, link)
    link.note = note
    db.session.commit()
    return link


def unlink(actor: User, evidence: Evidence, link: EvidenceLink) -> None:
    """Remove a link. :raises FieldError: for a locked item."""
    _require_editable(evidence)
    begin_write()
    db.session.delete(_locked_link(evidence, link))
    db.session.commit()


# --- Submitting -------------------------------------------------------------------


def submit(
    actor: User,
    evidence: Evidence,
    *,
    confirm_anonymous: bool = False,
    today: date | None = None,
    seen: str | None = None,
) -> Evidence:
    """Send a draft or returned item for review; ``seen``: what the check page showed (``review.content_hash``).

    :raises FieldError: for a private reflection, an item with no competence
        linked, or a locked item; AnonymityCheckNeeded for unconfirmed findings.
    :raises ChangedMeanwhile: when the item is no longer what the page showed (nothing is sent).
    """
    begin_write()
    # Every check reads the item as it is now, under the lock: another tab may have made it private, unlinked
    # its competences or changed its text since the page loaded ``evidence``.
    evidence = _locked_editable(_key(evidence))
    if seen is not None and seen != review.content_hash(evidence):
        # What a supervisor will decide on is what she checked, or nothing: a change from another tab is not sent
        # unseen under her click.
        db.session.rollback()
        raise ChangedMeanwhile(NOT_SENT_UNSEEN)
    confirmable = evidence.kind.entry.confirmable
    try:
        _check_sendable(evidence, confirm_anonymous, today)
    except FieldError:
        db.session.rollback()
        raise
    if confirmable and confirm_anonymous and evidence.anonymity_confirmed_at is None:
        evidence.anonymity_confirmed_at = utcnow()
    evidence.status = EvidenceStatus.SUBMITTED
    review.open_submission(actor, evidence)  # stamps evidence.submitted_at
    db.session.commit()
    return evidence


def _check_sendable(evidence: Evidence, confirm_anonymous: bool, today: date | None) -> None:
    """The rules an item must meet to be sent, read on the locked row.

    :raises FieldError: for a private reflection or an item with no competence linked;
        AnonymityCheckNeeded for unconfirmed findings.
    """
    if evidence.is_private:
        raise FieldError("item", "A private reflection cannot be submitted: make it shareable first")
    if not evidence.links:
        raise FieldError("item", "Link the item to at least one competence before you submit it")
    _check_fixed_fields(evidence.kind, evidence, today, field="item")  # items saved before every field was checked
    if evidence.kind.entry.confirmable and evidence.anonymity_confirmed_at is None and not confirm_anonymous:
        findings = find_identifiers_in(evidence, today=today)
        if findings:
            raise AnonymityCheckNeeded(findings)


# --- Reading: my portfolio ------------------------------------------------------------


@dataclass
class PortfolioFilters:
    q: str = ""
    kind: EvidenceKind | None = None
    status: EvidenceStatus | None = None
    competence_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1

    @property
    def applied(self) -> bool:
        """Whether any filter narrows the list (the page number does not)."""
        return any(
            (searching.words_of(self.q), self.kind, self.status, self.competence_id, self.date_from, self.date_to)
        )


@dataclass(frozen=True)
class PortfolioPage(paging.Page[Evidence]):
    """A page of the portfolio, with each item's number of links and files, and the competence filtered on."""

    link_counts: dict[int, int] = field(default_factory=dict)
    file_counts: dict[int, int] = field(default_factory=dict)
    competence: Competence | None = None
    # Signed-off items: how many of their competences the sign-off accepted (a list says when it is not all).
    accepted_counts: dict[int, int] = field(default_factory=dict)

    @property
    def page(self) -> int:
        return self.number


def _search(query: Select, q: str) -> Select:
    """Every word (searching.words_of) must appear in the title or the text as people read it (case-insensitive)."""
    for word in searching.words_of(q):
        query = query.where(searching.has_word(word, Evidence.search_text))  # search_text is lower case
    return query


def portfolio_page(actor: User, filters: PortfolioFilters) -> PortfolioPage:
    """One page of the actor's portfolio, newest first, in a fixed number of queries."""
    query = select(Evidence).where(Evidence.owner_id == actor.id)
    if filters.kind:
        query = query.where(Evidence.kind == filters.kind)
    if filters.status:
        query = query.where(Evidence.status == filters.status)
    if filters.status == EvidenceStatus.DRAFT:
        # What the list calls a draft (templates/evidence/_status.html): a supervision note is shared with its
        # supervisor once saved, and says where it stands with them instead; so does a catalogue certificate with
        # its checkers, when it is linked to no competence (there is nothing to send for review).
        unlinked_certificate = and_(
            training.is_catalogue_certificate_sql(), ~exists().where(EvidenceLink.evidence_id == Evidence.id)
        )
        query = query.where(Evidence.kind != EvidenceKind.SUPERVISION_NOTE, ~unlinked_certificate)
    if filters.date_from:
        query = query.where(Evidence.occurred_on >= filters.date_from)
    if filters.date_to:
        query = query.where(Evidence.occurred_on <= filters.date_to)
    competence = None
    if filters.competence_id:
        competence = db.session.get(Competence, filters.competence_id)
        linked = select(EvidenceLink.evidence_id).where(EvidenceLink.competence_id == filters.competence_id)
        query = query.where(Evidence.id.in_(linked))
    if filters.q:
        query = _search(query, filters.q)

    page = paging.paginate(
        query.order_by(Evidence.occurred_on.desc(), Evidence.id.desc()).options(
            db.selectinload(Evidence.note_reviews)  # a note's state, in one query for the page
        ),
        filters.page,
        per_page=PAGE_SIZE,
    )
    ids = [e.id for e in page.items]
    link_counts: dict[int, int] = {}
    file_counts: dict[int, int] = {}
    if ids:
        link_counts = dict(
            db.session.execute(
                select(EvidenceLink.evidence_id, func.count())
                .where(EvidenceLink.evidence_id.in_(ids))
                .group_by(EvidenceLink.evidence_id)
            ).all()
        )
        file_counts = dict(
            db.session.execute(
                select(EvidenceFile.evidence_id, func.count())
                .where(EvidenceFile.evidence_id.in_(ids))
                .group_by(EvidenceFile.evidence_id)
            ).all()
        )
    accepted = review.accepted_counts([e.id for e in page.items if e.status == EvidenceStatus.SIGNED_OFF])
    return PortfolioPage(page.items, page.total, page.number, PAGE_SIZE, link_counts, file_counts, competence, accepted)


# --- Reading: competences and the map ---------------------------------------------


def _own_framework(actor: User) -> Framework:
    """The worker's framework.

    :raises 403: for anyone who keeps no portfolio (see ``require_worker``).
    """
    require_worker(actor)
    framework = actor.framework
    if framework is None:
        abort(403)
    return framework


def competence_map(actor: User) -> list[tree.Part]:
    """Every competence of the actor's framework by tier (or section) and area, with evidence counts."""
    return tree.framework_tree(_own_framework(actor), actor).parts


def with_status(parts: list[tree.Part], status: rules.CompetenceStatus | None) -> list[tree.Part]:
    """The map's tiers (every one, so each can be jumped to) holding only the rows with ``status`` (None: all)."""
    if status is None:
        return parts
    return [
        tree.Part(
            part.title,
            part.tier,
            [a for a in (tree.Area(a.group, [r for r in a.rows if r.status == status]) for a in part.areas) if a.rows],
        )
        for part in parts
    ]


def competence_status(actor: User, competence: Competence) -> tree.Row:
    """The actor's counts and status for one competence, as the map and My progress show them."""
    return tree.framework_tree(_own_framework(actor), actor).by_ref()[competence.ref]


def get_competence_for_worker_or_404(actor: User, competence_id: int, *, active: bool = False) -> Competence:
    """A competence of the actor's framework (``active``: and not retired, to gather new evidence for).

    :raises 404: for one of another framework, a missing one, or a retired one when ``active``.
    """
    competence = db.session.get(Competence, competence_id)
    if competence is None or competence.framework_id != actor.framework_id or (active and competence.is_retired):
        abort(404)
    return competence


def evidence_for_competence(
    actor: User, competence: Competence, number: int = 1
) -> paging.Page[tuple[Evidence, EvidenceLink, bool]]:
    """One page of the actor's items linked to a competence, by its ref on any version of the framework, newest
    first; each with its link (the first, if linked to the statement on two versions: listed once) and whether a
    sign-off accepted it for this competence (an item may be signed off, not accepted for it).

    A page at a time, so a statement with hundreds of items costs what one with 25 does: the database counts and
    orders the items' ids, and reads whole only the page's rows."""
    page = paging.paginate(
        _linked_items_statement(),
        number,
        scalars=False,
        parameters={"owner_id": actor.id, "ref": competence.ref},
        rows_of=_linked_items_rows,
    )
    accepted = rules.accepted_pairs(actor, [evidence.id for evidence, _ in page.items])
    rows = [(evidence, link, (evidence.id, competence.ref) in accepted) for evidence, link in page.items]
    return paging.Page(rows, page.total, page.number, page.per_page)


# The page's statement is built once, its values bound for each request.
_OWNER_ID = bindparam("owner_id", type_=Integer())
_REF = bindparam("ref", type_=String())


@functools.cache
def _linked_items_statement() -> Select:
    """The owner's items linked to the statement ``ref`` (any version of her framework), once each, newest first.
    Built once per process.

    Her items are read in date order from an index and kept if their id is among the statement's links (read
    from the links' index): a page of 25 stops after 25 of them, and the count reads her items' ids alone. A
    join of her items, their links and their competences walked every link of every item of hers instead (on
    the benchmark's 2,000 items, 4.5 ms to count and 5.0 for the page against 0.7 and 0.6)."""
    linked = select(EvidenceLink.evidence_id).where(
        EvidenceLink.competence_id.in_(rules.statement_versions(_OWNER_ID, _REF))
    )
    return (
        select(Evidence.id.label("evidence_id"), Evidence.occurred_on)
        .where(Evidence.owner_id == _OWNER_ID, Evidence.id.in_(linked))
        .order_by(Evidence.occurred_on.desc(), Evidence.id.desc())
    )


def _linked_items_rows(page: Subquery) -> Select:
    """The page's items whole, each with its first link to the statement (the statement's versions may be two);
    a supervision note's state (waiting, confirmed, disputed) is read from its reviews, loaded in one query."""
    first_link = (
        select(func.min(EvidenceLink.id))
        .where(
            EvidenceLink.evidence_id == Evidence.id,
            EvidenceLink.competence_id.in_(rules.statement_versions(_OWNER_ID, _REF)),
        )
        .correlate(Evidence)  # not the outer EvidenceLink: this chooses it
        .scalar_subquery()
    )
    return (
        select(Evidence, EvidenceLink)
        .join(page, page.c.evidence_id == Evidence.id)
        .join(EvidenceLink, EvidenceLink.id == first_link)
        .order_by(page.c.occurred_on.desc(), page.c.evidence_id.desc())
        .options(db.selectinload(Evidence.note_reviews))
    )


@dataclass
class PickerResult:
    competence: Competence
    tier: Tier
    group: CompetenceGroup
    evidence_count: int
    linked: bool


PICKER_PAGE_SIZE = 10


@dataclass(frozen=True)
class PickerPage(paging.Page[PickerResult]):
    """A page of the picker's results; ``linked``: how many of all the matches the item is linked to already.

    Those are listed after the rest, marked, and not counted as results: ``to_link`` is what is left to link.
    """

    linked: int = 0

    @property
    def to_link(self) -> int:
        return self.total - self.linked

    @property
    def linkable_ids(self) -> list[int]:
        """The competences shown on this page that are not linked yet: what "Link all shown" links."""
        return [r.competence.id for r in self.items if not r.linked]


def picker(
    actor: User,
    evidence: Evidence,
    *,
    q: str = "",
    group_id: int | None = None,
    tier_id: int | None = None,
    page: int = 1,
    per_page: int = PICKER_PAGE_SIZE,
) -> PickerPage:
    """Competences of the actor's framework matching the filters, a page at a time, with how much evidence each has.

    The ones still to link come first, and among them the worker's next tier, then their current one, then the rest
    in framework order; the ones the item is linked to already come last. A fixed number of queries whatever the
    data size.
    """
    is_linked = Competence.id.in_(select(EvidenceLink.competence_id).where(EvidenceLink.evidence_id == evidence.id))
    query = (
        select(Competence, Tier, CompetenceGroup, case((is_linked, True), else_=False))
        .join(Tier, Tier.id == Competence.tier_id)
        .join(CompetenceGroup, CompetenceGroup.id == Competence.group_id)
        .where(Competence.framework_id == actor.framework_id, Competence.retired_at.is_(None))
    )
    if tier_id:
        query = query.where(Competence.tier_id == tier_id)
    if group_id:
        query = query.where(or_(CompetenceGroup.id == group_id, CompetenceGroup.parent_id == group_id))
    for word in searching.words_of(q):
        query = query.where(
            searching.has_word(word, func.lower(Competence.statement), func.lower(CompetenceGroup.name))
        )
    linked = db.session.scalar(select(func.count()).select_from(query.where(is_linked).subquery())) or 0
    tiers = structures([actor.framework_id])[actor.framework_id].tiers if actor.framework_id else ()
    target = rules.next_tier(actor, tiers)
    tier_rank = case(
        (Competence.tier_id == (target.id if target else None), 0),
        (Competence.tier_id == actor.tier_id, 1),
        else_=2,
    )
    ordered = query.order_by(
        case((is_linked, 1), else_=0), tier_rank, Tier.position, Competence.position, Competence.id
    )
    found = paging.paginate(ordered, page, per_page=per_page, scalars=False)
    counts = rules.linked_counts([actor.id]) if found.items else {}
    results = [
        PickerResult(c, t, g, sum(counts.get((actor.id, c.ref), {}).values()), bool(is_on))
        for c, t, g, is_on in found.items
    ]
    return PickerPage(results, found.total, found.number, per_page, linked)


def linkable_items(actor: User, competence: Competence, page: int = 1) -> paging.Page[Evidence]:
    """The actor's items that can still be linked to ``competence``, newest first, a page at a time.

    Drafts and returned items (a confirmed supervision note is locked) not linked to it yet; three queries.
    """
    linked = select(EvidenceLink.evidence_id).where(EvidenceLink.competence_id == competence.id)
    confirmed = select(NoteReview.evidence_id).where(NoteReview.outcome == NoteOutcome.CONFIRMED)
    query = (
        select(Evidence)
        .where(
            Evidence.owner_id == actor.id,
            Evidence.status.in_((EvidenceStatus.DRAFT, EvidenceStatus.RETURNED)),
            Evidence.id.not_in(linked),
            Evidence.id.not_in(confirmed),
        )
        .order_by(Evidence.occurred_on.desc(), Evidence.id.desc())
        .options(db.selectinload(Evidence.note_reviews))  # a note's state, in one query for the page
    )
    return paging.paginate(query, page, per_page=PAGE_SIZE)


def picker_choices(actor: User) -> tuple[list[CompetenceGroup], list[Tier]]:
    """The areas (top-level groups) and tiers the picker can filter by."""
    groups = db.session.scalars(
        select(CompetenceGroup)
        .where(CompetenceGroup.framework_id == actor.framework_id, CompetenceGroup.parent_id.is_(None))
        .order_by(CompetenceGroup.position)
    ).all()
    tiers = db.session.scalars(
        select(Tier).where(Tier.framework_id == actor.framework_id).order_by(Tier.position)
    ).all()
    return list(groups), list(tiers)
