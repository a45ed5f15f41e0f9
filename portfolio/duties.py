"""Separation of duties: nobody acts on both sides of a decision about themselves.

One person may be a worker and a supervisor or manager at once. They can
still decide for other workers, but never about their own evidence, notes,
requirements, promotion, appraisal or supervision. Every decision use case
calls ``refuse_own`` on the rows it has locked, and every queue or list of
things to act on filters with ``not_own``, so the rule lives here only.

How a refusal shows:

- the person is chosen in a form field (a supervision assignment's worker or
  supervisor, an appraisal's appraiser): a ``FieldError`` next to that field;
- the subject is fixed by the address (a submission, a note, a promotion
  request, a worker's requirement, an appraisal to sign, an assignment to
  end): ``OwnDecision``, a 403 page that says why, for GET and POST alike;
- one's own supervision would end as a consequence of acting on someone
  else (deactivating one's supervisor, taking their supervisor role): a
  ``FieldError`` on that page's field (``confirm``, ``roles``), which the
  deactivate page also says before offering a button.
"""

from __future__ import annotations

from sqlalchemy.sql.elements import BindParameter, ColumnElement, SQLCoreOperations

from .errors import FieldError
from .extensions import db
from .models import User


class OwnDecision(Exception):
    """A decision about oneself, where there is no form field to show it next to (a 403 page)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def is_own(actor: User, subject_id: int | None) -> bool:
    """True when the decision is about the actor themself."""
    return subject_id is not None and actor.id == subject_id


def refuse_own(actor: User, subject_id: int | None, message: str, *, field: str | None = None) -> None:
    """Refuse a decision about oneself, ending the transaction so nothing is written.

    :raises FieldError: on ``field`` when the person was chosen in a form.
    :raises OwnDecision: otherwise (shown as a 403 page with ``message``).
    """
    if not is_own(actor, subject_id):
        return
    # Called inside a write transaction on locked rows: give the locks back.
    db.session.rollback()
    if field is not None:
        raise FieldError(field, message)
    raise OwnDecision(message)


def not_own(column: SQLCoreOperations[int], actor: User | int | BindParameter[int]) -> ColumnElement[bool]:
    """SQL condition for queues and lists: ``column`` (a person's id) is not the actor.

    ``actor``: the person, their id, or a bound parameter for it (in a statement built once and reused).
    """
    return column != (actor.id if isinstance(actor, User) else actor)
