"""What a reader may see of a worker's evidence: the one rule, for pages and documents alike.

A worker sees all of their own items. Anyone else - a supervisor, a manager,
a promotion panel reading the portfolio PDF - sees only what the worker has
shared: never a private reflection, never a draft. The exceptions are the
workflows that need them: a supervision note is written for the supervisor it
names to confirm, so that supervisor sees it while it is a draft (the
review guards still check they supervise its author); and a training
certificate matched to the catalogue is checked by the worker's supervisor or
a manager, who see it and download its files while it is a draft (that rule
is ``training.service._checkable``, used by the home's list (with bound
parameters, in a statement kept), the check and the download alike, through
``_checkable_by``, and by nothing else).
"""

from __future__ import annotations

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from ..extensions import db
from ..models import Evidence, EvidenceKind, EvidenceStatus, User


def visible_to(reader: User | int | BindParameter[int] | None) -> ColumnElement[bool]:
    """SQL condition on Evidence: the items ``reader`` (a person, their id, or a bound parameter for it) may see.
    ``None`` is a promotion panel."""
    shared = and_(Evidence.is_private.is_(False), Evidence.status != EvidenceStatus.DRAFT)
    reader_id = reader.id if isinstance(reader, User) else reader
    if reader_id is None:
        return shared
    named_note = and_(
        Evidence.kind == EvidenceKind.SUPERVISION_NOTE,
        Evidence.supervisor_id == reader_id,
        Evidence.is_private.is_(False),
    )
    return or_(Evidence.owner_id == reader_id, shared, named_note)


def can_see(reader: User | None, evidence: Evidence) -> bool:
    """Whether ``reader`` may see ``evidence``, by the same rule (one query)."""
    return bool(db.session.scalar(select(exists().where(Evidence.id == evidence.id, visible_to(reader)))))
