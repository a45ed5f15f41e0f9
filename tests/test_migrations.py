"""The migrations build the schema the models describe, and can be undone.

The session's test database (SQLite, or PostgreSQL when
PORTFOLIO_TEST_DATABASE_URL is set) was built by the migrations in conftest;
these tests check it is at head and matches the models. Downgrading is tried
on a separate SQLite file, because the shared database is in use by every test.
"""

from __future__ import annotations

import contextlib
import os
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import downgrade, upgrade
from sqlalchemy import CheckConstraint, Column, MetaData, String, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

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
    with closing_context(sqlite_app(tmp_path, name)) as fresh:
        yield fresh


@contextlib.contextmanager
def closing_context(app):
    """``app``'s context, its session removed and its engine closed afterwards."""
    with app.app_context():
        try:
            yield app
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
            " VALUES (1, :email, :name, 'x', :worker, :supervisor, FALSE, TRUE, FALSE, 1, '2026-11-27 09:00:00')"
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


@contextlib.contextmanager
def migrated_app_on_the_suites_database(tmp_path, name: str):
    """migrated_app, on the kind of database the run is on: with PORTFOLIO_TEST_DATABASE_URL set, an app on a
    PostgreSQL schema of its own in that database (dropped afterwards), so that a migration's SQL runs there too."""
    url = os.environ.get(PG_ENV)
    if not url:
        with migrated_app(tmp_path, name) as fresh:
            yield fresh
        return
    schema = f"migrations_{uuid.uuid4().hex[:12]}"
    owner = create_engine(url)
    with owner.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    own_schema = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    fresh = create_app(
        {
            "PORTFOLIO_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": own_schema.render_as_string(hide_password=False),
            "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        }
    )
    try:
        with closing_context(fresh):
            yield fresh
    finally:
        with owner.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        owner.dispose()


def insert_item(connection, item: int, status: str, submitted_at: str | None) -> None:
    """Item ``item`` of user 1's, made at 09:00 on 27 November, as 0027 finds it."""
    connection.execute(
        text(
            "INSERT INTO evidence (id, owner_id, kind, status, title, occurred_on, is_private,"
            " what_happened, what_learned, practice_change, next_steps, description,"
            " search_text, created_at, updated_at, submitted_at)"
            " VALUES (:id, 1, 'other', :status, 'Walking group', '2026-11-01', FALSE, '', '', '', '', '', '',"
            " '2026-11-27 09:00:00.000100', '2026-11-27 09:00:00.000100', :submitted_at)"
        ),
        {"id": item, "status": status, "submitted_at": submitted_at},
    )


def insert_submission(connection, submission: int, item: int, at: str, *, withdrawn: bool = False) -> None:
    connection.execute(
        text(
            "INSERT INTO submissions (id, evidence_id, submitted_at, withdrawn_at, content_hash)"
            " VALUES (:id, :item, :at, :withdrawn_at, :hash)"
        ),
        {"id": submission, "item": item, "at": at, "withdrawn_at": at if withdrawn else None, "hash": "0" * 64},
    )


def times_sent(connection) -> dict[int, str | None]:
    """Each item's submitted_at, as text to the microsecond (SQLite keeps text; PostgreSQL a timestamp)."""
    rows = connection.execute(text("SELECT id, submitted_at FROM evidence ORDER BY id")).all()
    return {item: None if at is None else str(at)[:26] for item, at in rows}


def test_items_sent_without_their_time_take_their_latest_submissions_or_their_own(tmp_path):
    """0028_evidence_sent_has_time: a sent item written without its time sent takes its latest submission's (withdrawn
    or not), or, never submitted, the time it was made; then the database refuses a sent item without one."""
    with migrated_app_on_the_suites_database(tmp_path, "fresh.db"):
        assert db.engine.dialect.name == ("postgresql" if os.environ.get(PG_ENV) else "sqlite")
        upgrade(revision="0027_evidence_waiting_order")
        with db.engine.begin() as connection:
            insert_user(connection, "wendy@example.org", "Wendy", worker=True)
            insert_item(connection, 1, "returned", None)  # sent twice, the second taken back
            insert_submission(connection, 1, 1, "2026-11-27 10:00:00.000250")
            insert_submission(connection, 2, 1, "2026-11-28 11:30:00.000500", withdrawn=True)
            insert_item(connection, 2, "signed-off", None)  # imported by hand: no submission at all
            insert_item(connection, 3, "submitted", "2026-11-27 12:00:00.000300")  # as the app writes it
            insert_submission(connection, 3, 3, "2026-11-27 12:00:00.000300")
            insert_item(connection, 4, "draft", None)  # a draft never sent
            insert_item(connection, 5, "draft", None)  # a draft whose one submission was taken back
            insert_submission(connection, 4, 5, "2026-11-27 13:00:00.000400", withdrawn=True)
        upgrade(revision="0028_evidence_sent_has_time")
        with db.engine.connect() as connection:
            assert stamped_revisions(connection) == ["0028_evidence_sent_has_time"]
            assert times_sent(connection) == {
                1: "2026-11-28 11:30:00.000500",  # its latest submission's
                2: "2026-11-27 09:00:00.000100",  # when it was made
                3: "2026-11-27 12:00:00.000300",  # as it was
                4: None,  # drafts: as they were
                5: None,
            }
            assert {c["name"] for c in inspect(connection).get_check_constraints("evidence")} >= {
                "ck_evidence_sent_has_time"
            }

        # The constraint holds from now on: a sent item without its time is refused, and nothing is written.
        for status in ("submitted", "returned", "signed-off"):
            with pytest.raises(IntegrityError, match="ck_evidence_sent_has_time"):
                with db.engine.begin() as connection:
                    insert_item(connection, 6, status, None)
            with pytest.raises(IntegrityError, match="ck_evidence_sent_has_time"):
                with db.engine.begin() as connection:
                    connection.execute(text("UPDATE evidence SET status = :status WHERE id = 4"), {"status": status})
        with db.engine.begin() as connection:
            insert_item(connection, 6, "returned", "2026-11-29 09:00:00.000600")  # with its time: allowed
        with db.engine.connect() as connection:
            assert times_sent(connection) == {
                1: "2026-11-28 11:30:00.000500",
                2: "2026-11-27 09:00:00.000100",
                3: "2026-11-27 12:00:00.000300",
                4: None,
                5: None,
                6: "2026-11-29 09:00:00.000600",
            }
            assert connection.execute(text("SELECT status FROM evidence WHERE id = 4")).scalar_one() == "draft"

        downgrade(revision="0027_evidence_waiting_order")
        with db.engine.begin() as connection:
            assert "ck_evidence_sent_has_time" not in {
                c["name"] for c in inspect(connection).get_check_constraints("evidence")
            }
            insert_item(connection, 7, "signed-off", None)  # allowed again below 0028
        with db.engine.connect() as connection:
            assert times_sent(connection)[7] is None


def evidence_indexes() -> dict[str, list[str]]:
    """The indexes of the evidence table by name, each with its columns."""
    with db.engine.connect() as connection:
        return {i["name"]: i["column_names"] for i in inspect(connection).get_indexes("evidence")}


def test_the_certificates_to_check_index_comes_and_goes_with_its_revision(tmp_path):
    """0029_certificates_to_check: the index the homes count unchecked certificates from, by kind and check first."""

    with migrated_app_on_the_suites_database(tmp_path, "fresh.db"):
        upgrade(revision="0028_evidence_sent_has_time")
        assert "ix_evidence_certificates_to_check" not in evidence_indexes()
        upgrade(revision="0029_certificates_to_check")
        assert evidence_indexes()["ix_evidence_certificates_to_check"] == [
            "kind",
            "checked_at",
            "created_at",
            "training_item_id",
            "is_private",
            "owner_id",
        ]
        downgrade(revision="0028_evidence_sent_has_time")
        assert "ix_evidence_certificates_to_check" not in evidence_indexes()


def test_sending_back_comes_with_its_columns_and_the_list_index_moves_to_its_new_name_and_back(tmp_path):
    """0032 adds who sent a certificate back, when and why (never with a check); 0033 builds the list's index with
    the new column under a new name before dropping the old one, and the downgrades undo both."""

    def columns() -> set[str]:
        with db.engine.connect() as connection:
            return {c["name"] for c in inspect(connection).get_columns("evidence")}

    old = ["kind", "checked_at", "created_at", "training_item_id", "is_private", "owner_id"]
    sent = {"sent_back_by_id", "sent_back_at", "sent_back_reason"}
    with migrated_app_on_the_suites_database(tmp_path, "fresh.db"):
        upgrade(revision="0031_promotion_withdrawn")
        assert not sent & columns()
        upgrade(revision="0032_certificate_sent_back")
        assert sent <= columns() and evidence_indexes()["ix_evidence_certificates_to_check"] == old
        with db.engine.connect() as connection:
            assert "ck_evidence_checked_or_sent_back" in {
                c["name"] for c in inspect(connection).get_check_constraints("evidence")
            }
        upgrade(revision="0033_certificates_to_decide")
        assert "ix_evidence_certificates_to_check" not in evidence_indexes()
        assert evidence_indexes()["ix_evidence_certificates_to_decide"] == [*old[:2], "sent_back_at", *old[2:]]
        downgrade(revision="0032_certificate_sent_back")
        assert evidence_indexes()["ix_evidence_certificates_to_check"] == old
        assert "ix_evidence_certificates_to_decide" not in evidence_indexes()
        downgrade(revision="0031_promotion_withdrawn")
        assert not sent & columns()


def test_the_index_of_certificates_waiting_comes_and_goes_with_its_revision_and_holds_only_those(tmp_path):
    """0036 adds an index of the certificates waiting for a check alone, by owner (the homes read it on
    PostgreSQL); its condition leaves out every other item, a certificate checked or sent back included."""

    with migrated_app_on_the_suites_database(tmp_path, "fresh.db"):
        upgrade(revision="0035_earlier_send_back_kept")
        assert "ix_evidence_certificates_waiting" not in evidence_indexes()
        upgrade(revision="0036_certificates_waiting")
        assert evidence_indexes()["ix_evidence_certificates_waiting"] == ["owner_id", "created_at"]
        with db.engine.connect() as connection:
            [condition] = [
                i.get("dialect_options", {}).get(f"{connection.dialect.name}_where")
                for i in inspect(connection).get_indexes("evidence")
                if i["name"] == "ix_evidence_certificates_waiting"
            ]
        # As the database reports it back (PostgreSQL words it its own way).
        words = " ".join(str(condition).lower().replace("(", " ").replace(")", " ").split())
        terms = ("checked_at is null", "sent_back_at is null", "training_item_id is not null", "is_private is false")
        assert all(term in words for term in terms) and "'certificate'" in words, words
        downgrade(revision="0035_earlier_send_back_kept")
        assert "ix_evidence_certificates_waiting" not in evidence_indexes()


def test_the_run_database_has_the_models_check_constraints(app):
    """Autogenerate compares no CHECK constraints (test_models_and_migrations_agree cannot see them): the migrated
    database has each one the models declare, by name, and no other."""
    declared = {
        table.name: {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
        for table in db.metadata.sorted_tables
    }
    with db.engine.connect() as connection:
        inspector = inspect(connection)
        migrated = {name: {c["name"] for c in inspector.get_check_constraints(name)} for name in declared}
    assert migrated == declared
    assert "ck_evidence_sent_has_time" in migrated["evidence"]


def test_the_run_database_refuses_a_sent_item_without_its_time(app):
    """On the database the run is on (SQLite, or PostgreSQL when PORTFOLIO_TEST_DATABASE_URL is set)."""
    with db.engine.begin() as connection:
        insert_user(connection, "wendy@example.org", "Wendy", worker=True)
    with pytest.raises(IntegrityError, match="ck_evidence_sent_has_time"):
        with db.engine.begin() as connection:
            insert_item(connection, 1, "submitted", None)
    with db.engine.begin() as connection:
        insert_item(connection, 2, "submitted", "2026-11-29 09:00:00.000600")
    with db.engine.connect() as connection:
        assert times_sent(connection) == {2: "2026-11-29 09:00:00.000600"}


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


def test_the_index_of_a_persons_newest_notices_comes_and_goes_with_its_revision(tmp_path):
    """0037 adds an index of each person's notices by when they came, for their paged list."""

    def notification_indexes() -> dict[str, list[str]]:
        with db.engine.connect() as connection:
            return {i["name"]: i["column_names"] for i in inspect(connection).get_indexes("notifications")}

    with migrated_app_on_the_suites_database(tmp_path, "fresh.db"):
        upgrade(revision="0036_certificates_waiting")
        assert "ix_notifications_user_newest" not in notification_indexes()
        upgrade(revision="0037_notifications_newest")
        assert notification_indexes()["ix_notifications_user_newest"] == ["user_id", "created_at", "id"]
        downgrade(revision="0036_certificates_waiting")
        assert "ix_notifications_user_newest" not in notification_indexes()
