"""The kit's copy of the shipped frameworks (``tests/snapshots.py``) is what the loader writes.

Most tests get the frameworks from that copy: if it differed from what the loader writes, they would be checking
something no one runs. (The access matrix's world is checked the same way in ``test_access_matrix.py``.)
"""

from __future__ import annotations

from sqlalchemy import select

from portfolio.extensions import db
from portfolio.frameworks import loader
from portfolio.frameworks import service as frameworks_service
from portfolio.models import Role
from tests import factories
from tests.conftest import _empty_all_tables
from tests.snapshots import TOKEN, contents


def version_tokens() -> list[str]:
    found = list(db.session.scalars(select(TOKEN)))
    db.session.commit()
    return found


def test_the_frameworks_put_back_are_what_the_loader_writes_and_ids_go_on_after_them(app):
    loader.load_all()
    written, written_tokens = contents(times=False), version_tokens()
    _empty_all_tables()
    factories.load_frameworks()  # the run's copy is taken, if no earlier test took it
    db.session.commit()
    _empty_all_tables()

    factories.load_frameworks()  # put back from the copy
    assert contents(times=False) == written
    (copy,) = factories._LOADED.values()
    copied_tokens = [row["token"] for table, rows in copy.rows if TOKEN in table.columns.values() for row in rows]
    assert copied_tokens  # the copy holds the frameworks' token, and it is not the one put back
    assert set(version_tokens()).isdisjoint(written_tokens + copied_tokens)

    # New rows take the next ids (PostgreSQL's sequences were moved on past the copied rows).
    manager = factories.make_user(Role.MANAGER, email="manager@example.org")
    profile = factories.load_frameworks()["sfh-senior-engagement-worker"]  # already there: read, not loaded
    added = frameworks_service.add_locality_competence(
        manager, profile, statement="Knows the local food banks", principle="P", function="F"
    )
    assert added.id == max(row["id"] for row in written["competences"]) + 1
