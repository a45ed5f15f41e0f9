"""The migrations build the schema the models describe, and can be undone.

The session's test database (SQLite, or PostgreSQL when
PORTFOLIO_TEST_DATABASE_URL is set) was built by the migrations in conftest;
these tests check it is at head and matches the models. Downgrading is tried
on a separate SQLite file, because the shared database is in use by every test.
"""

from __future__ import annotations

import contextlib
import os

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import downgrade, upgrade
from sqlalchemy import Column, MetaData, String, inspect, text
from sqlalchemy.engine import make_url

from portfolio import PROJECT_ROOT, create_app, database
from portfolio.extensions import db
from tests.conftest import PG_ENV

MIGRATIONS = PROJECT_ROOT / "migrations"


def head_revision() -> str:
    heads = ScriptDirectory(str(MIGRATIONS)).get_heads()
    assert len(heads) == 1, f"the migrations have several heads: {heads}"
    return heads[0]


def stamped_revisions(connection) -> list[str]:
    return list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def schema_diff(connection, metadata: MetaData = db.metadata) -> list:
    """What autogenerate would write, with the hook `flask db migrate` uses (the task queue's tables left out)."""
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "include_name": current_app.extensions["migrate"].configure_args["include_name"]},
    )
    return compare_metadata(context, metadata)


def our_tables(connection) -> set[str]:
    return {name for name in inspect(connection).get_table_names() if database.is_app_table(name, "table")}


def model_tables() -> set[str]:
    return {table.name for table in db.metadata.sorted_tables}


def test_the_migrations_have_one_head():
    script = ScriptDirectory(str(MIGRATIONS))
    assert len(script.get_heads()) == 1
    # Every revision file's id starts with its number, so the history reads in order.
    revisions = [r.revision for r in script.walk_revisions()]
    assert revisions[0] == head_revision() and revisions[-1] == "0001_foundation"


def test_test_database_is_at_head(app):
    with db.engine.connect() as connection:
        assert stamped_revisions(connection) == [head_revision()]
        assert our_tables(connection) == model_tables() | {"alembic_version"}


def test_test_database_is_the_one_asked_for(app):
    """With PORTFOLIO_TEST_DATABASE_URL set, the checks above ran on PostgreSQL."""
    url = os.environ.get(PG_ENV)
    if url:
        assert db.engine.dialect.name == "postgresql"
        assert db.engine.url.render_as_string(hide_password=False) == make_url(url).render_as_string(
            hide_password=False
        )
        with db.engine.connect() as connection:
            assert stamped_revisions(connection) == [head_revision()]
            assert connection.execute(text("SELECT current_database()")).scalar() == make_url(url).database
    else:
        assert db.engine.dialect.name == "sqlite"


def test_models_and_migrations_agree(app):
    with db.engine.connect() as connection:
        diff = schema_diff(connection)
    assert diff == [], "the models differ from the migrated schema; add a migration"


def test_the_comparison_would_see_a_difference(app):
    """Guard against a vacuous check: a model change the migrations lack shows up."""
    changed = MetaData(naming_convention=db.metadata.naming_convention)
    for table in db.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["users"].append_column(Column("nickname", String(40)))
    with db.engine.connect() as connection:
        diff = schema_diff(connection, changed)
    assert [(op[0], op[2], op[3].name) for op in diff] == [("add_column", "users", "nickname")]


def test_the_comparison_leaves_out_the_task_queues_tables_only(app):
    """A huey_* table (the task queue's, when it shares the database) is not a difference; any other stray table is."""
    with db.engine.begin() as connection:
        connection.execute(text("CREATE TABLE huey_probe (key VARCHAR(10) PRIMARY KEY)"))
        connection.execute(text("CREATE TABLE stray_probe (key VARCHAR(10) PRIMARY KEY)"))
    try:
        with db.engine.connect() as connection:
            diff = schema_diff(connection)
            tables = our_tables(connection)
    finally:
        with db.engine.begin() as connection:
            connection.execute(text("DROP TABLE huey_probe"))
            connection.execute(text("DROP TABLE stray_probe"))
    assert [(op[0], op[1].name) for op in diff] == [("remove_table", "stray_probe")]
    assert "huey_probe" not in tables and "stray_probe" in tables


def sqlite_app(tmp_path, name: str):
    """An app on its own SQLite file, for migrating up and down without touching the session's database."""
    return create_app(
        {
            "PORTFOLIO_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / name}",
            "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        }
    )


@contextlib.contextmanager
def migrated_app(tmp_path, name: str):
    """An app on its own SQLite file (see sqlite_app), in an app context, its engine closed afterwards."""
    fresh = sqlite_app(tmp_path, name)
    with fresh.app_context():
        try:
            yield fresh
        finally:
            db.session.remove()
            db.engine.dispose()


def test_downgrade_to_base_and_upgrade_again(tmp_path):
    with migrated_app(tmp_path, "fresh.db"):
        upgrade()
        with db.engine.connect() as connection:
            assert stamped_revisions(connection) == [head_revision()]
            assert set(inspect(connection).get_table_names()) == model_tables() | {"alembic_version"}
            assert schema_diff(connection) == []

        downgrade(revision="base")
        with db.engine.connect() as connection:
            assert stamped_revisions(connection) == []
            assert set(inspect(connection).get_table_names()) == {"alembic_version"}

        upgrade()
        with db.engine.connect() as connection:
            assert stamped_revisions(connection) == [head_revision()]
            assert set(inspect(connection).get_table_names()) == model_tables() | {"alembic_version"}
            assert schema_diff(connection) == []


def insert_user(connection, email: str, name: str, *, worker: bool = False, supervisor: bool = False) -> None:
    """User 1, written as a migration of its day finds it (no model: the models are at head)."""
    connection.execute(
        text(
            "INSERT INTO users (id, email, name, password_hash, is_worker, is_supervisor, is_manager,"
            " active, invited, session_version, created_at)"
            " VALUES (1, :email, :name, 'x', :worker, :supervisor, 0, 1, 0, 1, '2026-11-27 09:00:00')"
        ),
        {"email": email, "name": name, "worker": worker, "supervisor": supervisor},
    )


def test_notices_from_before_the_digest_are_never_emailed_again(tmp_path):
    """0022_notify_digest: every notice already made counts as emailed; everyone starts on the daily digest."""
    with migrated_app(tmp_path, "fresh.db"):
        upgrade(revision="0021_credentials")
        with db.engine.begin() as connection:
            insert_user(connection, "sam@example.org", "Sam", supervisor=True)
            connection.execute(
                text(
                    "INSERT INTO notifications (user_id, message, url, created_at)"
                    " VALUES (1, 'Wendy submitted an item', '/review/1', '2026-11-27 10:00:00')"
                )
            )
        upgrade()
        with db.engine.connect() as connection:
            notice = connection.execute(text("SELECT items, emailed_at, group_key FROM notifications")).one()
            assert (notice.items, str(notice.emailed_at)[:19], notice.group_key) == (1, "2026-11-27 10:00:00", None)
            assert connection.execute(text("SELECT email_frequency FROM users")).scalar_one() == "daily"


def test_items_waiting_take_their_open_submissions_time(tmp_path):
    """0027_evidence_waiting_order: an item waiting now has its open submission's time, to the microsecond, so
    the home's index order is the submissions' order; items not waiting, or decided, keep theirs."""
    with migrated_app(tmp_path, "fresh.db"):
        upgrade(revision="0026_evidence_owner_kind")
        with db.engine.begin() as connection:
            insert_user(connection, "wendy@example.org", "Wendy", worker=True)
            for item, status in ((1, "submitted"), (2, "signed-off"), (3, "returned")):
                connection.execute(
                    text(
                        "INSERT INTO evidence (id, owner_id, kind, status, title, occurred_on, is_private,"
                        " what_happened, what_learned, practice_change, next_steps, description,"
                        " search_text, created_at, updated_at, submitted_at)"
                        " VALUES (:id, 1, 'other', :status, 'Walking group', '2026-11-01', 0, '', '', '', '', '', '',"
                        " '2026-11-27 09:00:00', '2026-11-27 09:00:00', '2026-11-27 10:00:00.000001')"
                    ),
                    {"id": item, "status": status},
                )
                connection.execute(
                    text(
                        "INSERT INTO submissions (id, evidence_id, submitted_at, content_hash)"
                        " VALUES (:id, :id, '2026-11-27 10:00:00.000250', :hash)"
                    ),
                    {"id": item, "hash": "0" * 64},
                )
            connection.execute(
                text(
                    "INSERT INTO decisions (submission_id, evidence_id, supervisor_id, outcome, comment,"
                    " content_hash, decided_at) VALUES (2, 2, 1, 'signed-off', '', :hash, '2026-11-28 09:00:00')"
                ),
                {"hash": "0" * 64},
            )
        upgrade()
        with db.engine.connect() as connection:
            times = dict(connection.execute(text("SELECT id, submitted_at FROM evidence")).all())
        assert times == {
            1: "2026-11-27 10:00:00.000250",  # waiting: its open submission's time
            2: "2026-11-27 10:00:00.000001",  # decided: as it was
            3: "2026-11-27 10:00:00.000001",  # not waiting: as it was
        }


def test_going_down_to_0021_and_up_again_keeps_every_row(tmp_path):
    """On SQLite, changing a table copies it and drops the old one: with foreign keys on, dropping `evidence`
    would cascade into its links, files, submissions and decisions. The demo portfolio must survive both ways."""
    from portfolio.demo import create_demo_data
    from portfolio.frameworks.loader import data_files, load_file

    fresh = sqlite_app(tmp_path, "demo.db")

    def counts(connection) -> dict[str, int]:
        tables = set(inspect(connection).get_table_names()) - {"alembic_version"}
        return {t: connection.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in sorted(tables)}

    with fresh.app_context():
        try:
            upgrade()
            for path in data_files():
                load_file(path)
            create_demo_data("portfolio-demo-2026")
            db.session.remove()
            with db.engine.connect() as connection:
                at_head = counts(connection)
            assert at_head["evidence_links"] > 0 and at_head["decisions"] > 0 and at_head["submissions"] > 0

            downgrade(revision="0021_credentials")
            with db.engine.connect() as connection:
                at_0021 = counts(connection)
            assert at_0021 == {t: n for t, n in at_head.items() if t in at_0021}

            upgrade()
            with db.engine.connect() as connection:
                again = counts(connection)
                assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1  # turned back on
            assert {t: n for t, n in again.items() if t in at_0021} == at_0021
        finally:
            db.session.remove()
            db.engine.dispose()
