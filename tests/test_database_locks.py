"""The row-lock helpers in portfolio/database.py: every lock in the service goes through them.

Each reads the row afresh (a copy the session loaded before the lock is
overwritten with what the database holds now); ``lock_or_404`` turns a row
that vanished meanwhile into a 404 with nothing left open.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from werkzeug.exceptions import NotFound

from portfolio.database import begin_write, lock_all, lock_first, lock_or_404
from portfolio.extensions import db
from portfolio.models import Role, User
from tests.factories import make_user


def renamed_by_someone_else(user_id: int, name: str) -> None:
    """Another request renames the person and commits, through its own session and connection."""
    with Session(db.engine) as other:
        person = other.get(User, user_id)
        assert person is not None
        person.name = name
        other.commit()


def test_lock_first_finds_the_row_by_any_column_and_reads_it_afresh(app):
    person = make_user(Role.WORKER, name="Lou Before", email="lou@example.org")
    renamed_by_someone_else(person.id, "Lou After")
    begin_write()
    stale = db.session.get(User, person.id)
    set_committed_value(stale, "name", "Lou Before")  # as a page loaded it a moment ago
    locked = lock_first(select(User).where(User.email == "lou@example.org"))
    assert locked is stale
    assert locked.name == "Lou After"
    db.session.rollback()


def test_lock_first_of_nothing_is_none(app):
    begin_write()
    assert lock_first(select(User).where(User.email == "nobody@example.org")) is None
    db.session.rollback()


def test_lock_all_returns_every_row_in_the_statements_order_read_afresh(app):
    managers = [make_user(Role.MANAGER, name=f"Manager {n}") for n in range(3)]
    make_user(Role.WORKER, name="Not a manager")
    renamed_by_someone_else(managers[1].id, "Renamed meanwhile")
    begin_write()
    set_committed_value(db.session.get(User, managers[1].id), "name", "Manager 1")
    locked = lock_all(select(User).where(User.is_manager.is_(True)).order_by(User.id.desc()))
    assert [u.id for u in locked] == [m.id for m in reversed(managers)]
    assert [u.name for u in locked] == ["Manager 2", "Renamed meanwhile", "Manager 0"]
    db.session.rollback()


def test_lock_or_404_returns_the_row(app):
    person = make_user(Role.WORKER, name="Lou Locked")
    begin_write()
    assert lock_or_404(User, person.id).name == "Lou Locked"
    db.session.rollback()


def test_lock_or_404_of_a_vanished_row_is_a_404_with_the_transaction_ended(app):
    begin_write()
    with pytest.raises(NotFound):
        lock_or_404(User, 2_147_483_647)
    assert not db.session().in_transaction()


def test_people_are_locked_for_no_key_update_and_other_rows_for_update(app):
    """A person's row is never deleted: its lock need not hold back the INSERTs that name them (an audit entry's
    actor), which on PostgreSQL let two managers deadlock (tests/test_people_concurrency.py races it)."""
    from sqlalchemy.dialects import postgresql

    from portfolio.database import _locked
    from portfolio.models import Evidence

    def compiled(statement) -> str:
        return str(_locked(statement).compile(dialect=postgresql.dialect()))

    assert compiled(select(User).where(User.id == 1)).endswith("FOR NO KEY UPDATE")
    assert compiled(select(Evidence).where(Evidence.id == 1)).endswith("FOR UPDATE")
    assert "NO KEY" not in compiled(select(Evidence).where(Evidence.id == 1))
