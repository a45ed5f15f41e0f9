"""The kit's copies of slow set-ups (``tests/snapshots.py``) leave what the set-up itself leaves.

Most tests get the shipped frameworks, and the access matrix its world, from such a copy: if a copy differed
from what the loader or ``make_world`` writes, those tests would be checking something no one runs.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import DateTime, select

from portfolio.extensions import db
from portfolio.frameworks import loader
from portfolio.frameworks import service as frameworks_service
from portfolio.models import PortfolioVersion, Role
from tests import factories
from tests.conftest import _empty_all_tables
from tests.test_access_matrix import KeptWorld

TOKEN = PortfolioVersion.__table__.c.token


def every_row(*, times: bool = True) -> dict[str, list[dict]]:
    """Every table's rows in id order, version tokens aside (each write makes a new one); without ``times``,
    the moments rows were written aside too (a copy keeps those of the first load in the run)."""
    found = {}
    for table in db.metadata.sorted_tables:
        rows = db.session.execute(select(table).order_by(*table.primary_key.columns)).mappings()
        kept = [c.name for c in table.columns if c is not TOKEN and (times or not isinstance(c.type, DateTime))]
        found[table.name] = [{name: row[name] for name in kept} for row in rows]
    db.session.commit()  # the test's next read sees what is written after this
    return found


def every_file(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def tokens() -> list[str]:
    found = list(db.session.scalars(select(TOKEN)))
    db.session.commit()
    return found


def test_the_frameworks_put_back_are_what_the_loader_writes_and_ids_go_on_after_them(app):
    loader.load_all()
    written, written_tokens = every_row(times=False), tokens()
    _empty_all_tables()

    factories.load_frameworks()  # the run's copy is taken, if no earlier test took it
    db.session.commit()
    _empty_all_tables()
    factories.load_frameworks()  # put back from the copy
    assert every_row(times=False) == written
    assert set(tokens()).isdisjoint(written_tokens)  # a token is never used twice

    # New rows take the next ids (PostgreSQL's sequences were moved on past the copied rows).
    manager = factories.make_user(Role.MANAGER, email="manager@example.org")
    profile = factories.load_frameworks()["sfh-senior-engagement-worker"]  # already there: read, not loaded
    added = frameworks_service.add_locality_competence(
        manager, profile, statement="Knows the local food banks", principle="P", function="F"
    )
    assert added.id == max(row["id"] for row in written["competences"]) + 1


def test_the_world_put_back_is_the_world_as_built(app, tmp_path_factory):
    kept = KeptWorld(tmp_path_factory.mktemp("kept"))
    data = Path(app.config["UPLOAD_FOLDER"]).parent
    ids, people = kept.enter(app)  # built: make_world, through the use cases
    built, built_files = every_row(), every_file(data)
    assert built_files  # the world's uploads and its built export
    _empty_all_tables()
    for path in sorted(data.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()

    again, again_people = kept.enter(app)  # put back
    assert again == ids
    assert {role: person.id for role, person in again_people.items()} == {
        role: person.id for role, person in people.items()
    }
    assert every_row() == built
    assert every_file(data) == built_files
