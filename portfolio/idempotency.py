"""Creating forms that create once: a double click or a resent form finds what the first one made.

Every form that creates a record carries a one-time key (``OnceForm``), made
when the form is drawn. The use case that creates the record remembers the
key (hashed) in ``form_submissions``, in the same transaction as the record.
A second submission with the same key finds that row, before writing or, when
two arrive together, after waiting for the first (a lock on the key on
PostgreSQL; the unique constraint on the key as the last guard), and gets the
first record back instead of making another.

A creating page that Back may return to after saving (a new evidence item, a
CPD activity, a requirement's check) carries its key in its address too
(``to_a_fresh_key``): pages are not cached, and a key drawn anew on Back
would save the same thing again.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from flask import redirect, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response
from wtforms import HiddenField

from .errors import FieldError
from .extensions import Base, db
from .models import FormSubmission, User

KEY_RE = re.compile(r"[A-Za-z0-9_-]{20,100}")
F = TypeVar("F", bound=Callable)


def new_key() -> str:
    """A fresh, unguessable key for one rendering of a form."""
    return secrets.token_urlsafe(32)


class OnceForm(FlaskForm):
    """Base of every form that creates something: adds the one-time key (render ``form.form_key``)."""

    form_key = HiddenField(default=new_key)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def usable(key: str | None) -> str | None:
    """The key if it has the shape ``new_key`` makes; anything else gives no protection, and no error."""
    return key if key and KEY_RE.fullmatch(key) else None


def key_from_address() -> str | None:
    """The one-time key in a creating page's address (``?key=``), if it has the shape ``new_key`` makes."""
    return usable(request.args.get("key"))


def to_a_fresh_key(endpoint: str, **values) -> Response:
    """A redirect (303) to a creating page's address with a fresh key in it.

    The page is not cached (it is signed in), so Back after saving fetches it again: with the key in its address
    it comes back to the same key, finds what that key saved (``created_before``) and says so, where a key drawn
    anew would save the same thing twice.
    """
    return redirect(url_for(endpoint, **values, key=new_key()), code=303)


class AlreadyCreated(Exception):
    """This form was submitted before: ``record`` is what that submission created."""

    def __init__(self, record):
        super().__init__(f"already created: {record!r}")
        self.record = record


def created_before(model: type[Base], key: str | None, actor: User):
    """The ``model`` record the actor's earlier submission of this form created, if any."""
    key = usable(key)
    if key is None:
        return None
    row = db.session.scalar(select(FormSubmission).where(FormSubmission.key_hash == _digest(key)))
    if row is None or row.user_id != actor.id or row.kind != model.__tablename__:
        return None
    return db.session.get(model, row.record_id)


def check(model: type[Base], key: str | None, actor: User) -> None:
    """Call inside the write transaction, before creating anything (and before the use case's own checks).

    Two submissions of one form take turns from here: on PostgreSQL the transaction holds a lock on the key
    until it ends (SQLite's write transaction already holds the database). So the second one finds the first's
    record, rather than passing this check, waiting on a row the first locked, and then refusing its own click
    as a duplicate of what the first created.

    :raises AlreadyCreated: when this form already created its record (the transaction is rolled back).
    """
    usable_key = usable(key)
    if usable_key is not None and db.session.get_bind().dialect.name == "postgresql":
        # A transaction-level advisory lock on the key's first 63 bits: released at commit or rollback.
        db.session.execute(select(func.pg_advisory_xact_lock(int(_digest(usable_key)[:15], 16))))
    found = created_before(model, key, actor)
    if found is not None:
        db.session.rollback()
        raise AlreadyCreated(found)
    if usable_key is not None:
        # A key spent on a record deleted since (saved, deleted, then Back to the form and saved again): there is
        # nothing left to duplicate, so it is hers to use again.
        db.session.execute(
            delete(FormSubmission).where(
                FormSubmission.key_hash == _digest(usable_key), FormSubmission.user_id == actor.id
            )
        )


def remember(key: str | None, actor: User, record) -> None:
    """Record that this form created ``record`` (flushed); call before the audit row and notifications.

    :raises AlreadyCreated: when a concurrent submission of the same form got there first.
    """
    key = usable(key)
    if key is None:
        return
    db.session.flush()
    db.session.add(
        FormSubmission(key_hash=_digest(key), user_id=actor.id, kind=record.__tablename__, record_id=record.id)
    )
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        found = created_before(type(record), key, actor)
        if found is None:
            raise
        raise AlreadyCreated(found) from None


def creates(model: type) -> Callable[[F], F]:
    """Make a creating use case ``f(actor, ..., form_key=None)`` answer a repeated form with its first record.

    The earlier record is looked for before anything else (so a check such as
    "already in the catalogue" does not refuse the second click), again
    inside the use case's write transaction through ``check`` and ``remember``,
    and once more when the use case refuses with a :class:`FieldError`.
    """

    def decorator(use_case: F) -> F:
        @wraps(use_case)
        def wrapped(actor: User, *args, form_key: str | None = None, **kwargs):
            earlier = created_before(model, form_key, actor)
            if earlier is not None:
                return earlier
            try:
                return use_case(actor, *args, form_key=form_key, **kwargs)
            except AlreadyCreated as done:
                return done.record
            except FieldError:
                # A use case checks what it can before its write transaction ("already in the catalogue", "a
                # request is waiting"). The first click of a double click may commit between the look above and
                # that check: then its record, not the refusal it caused, is this click's answer.
                if usable(form_key) is None:
                    raise
                # A fresh look, outside whatever the use case left open (its refusal wrote nothing to keep).
                db.session.rollback()
                again = created_before(model, form_key, actor)
                if again is None:
                    raise
                return again

        return wrapped  # type: ignore[return-value]

    return decorator
