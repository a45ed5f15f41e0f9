"""How a request's transaction ends (portfolio/database.py, end_read_only_transactions).

A transaction that only read ends with COMMIT, so that psycopg keeps the statements it prepared (it forgets
them all at a ROLLBACK). Anything that may have written, a request that failed, and work queued for a commit
the request never made end with ROLLBACK, as before: nothing half-written is ever committed for a request.
"""

from __future__ import annotations

import enum
from types import SimpleNamespace

import pytest
from flask import abort
from sqlalchemy import event, func, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError

from portfolio import create_app, database
from portfolio.extensions import db
from portfolio.models import Evidence, EvidenceKind, Role, User
from portfolio.notifications import service as notifications
from tests import factories
from tests.factories import make_user


@pytest.fixture
def endings(app):
    """How each transaction of the requests that follow ends: "commit" or "rollback", in order."""
    db.session.commit()  # the test's own transaction, ended before anything is recorded
    db.session.close()
    ended: list[str] = []
    listeners = [("commit", lambda conn: ended.append("commit")), ("rollback", lambda conn: ended.append("rollback"))]
    for name, listener in listeners:
        event.listen(db.engine, name, listener)
    yield ended
    for name, listener in listeners:
        event.remove(db.engine, name, listener)


def ask(app, client, view):
    """GET a route of the test's own serving ``view`` (added on first use, before the app's first request)."""
    if view.__name__ not in app.view_functions:
        app.add_url_rule("/test/" + view.__name__, view.__name__, view)
    return client.get("/test/" + view.__name__)


def existing_person(endings: list[str], **details: str) -> int:
    """A person written (and committed) before the request under test; how their transactions ended is not
    recorded."""
    person_id = make_user(Role.WORKER, **details).id
    db.session.commit()
    db.session.close()
    endings.clear()
    return person_id


def people_named(name: str) -> int:
    return db.session.scalar(select(func.count()).select_from(User).where(User.name == name)) or 0


def test_a_page_that_only_read_ends_with_a_commit(app, client, auth, endings, worker):
    auth.login_as(worker)
    db.session.commit()  # the test's own transaction, and signing in (which wrote and committed), left out
    db.session.close()
    endings.clear()
    response = client.get("/portfolio/")
    assert response.status_code == 200 and "My portfolio" in response.get_data(as_text=True)
    assert endings == ["commit"]


def test_a_request_that_wrote_and_did_not_commit_is_rolled_back(app, client, endings):
    def forgets_to_commit():
        db.session.add(User(email="half@example.org", name="Half Written", password_hash="x"))
        db.session.flush()  # the INSERT ran: the transaction has written
        return "done"

    assert ask(app, client, forgets_to_commit).status_code == 200
    assert endings == ["rollback"]
    assert people_named("Half Written") == 0


def test_sql_written_out_counts_as_writing(app, client, endings):
    """A statement the app did not build as a SELECT may write: the transaction is rolled back."""
    someone_id = existing_person(endings, name="Before")

    def renames_by_hand():
        db.session.execute(text("UPDATE users SET name = 'Renamed' WHERE id = :id"), {"id": someone_id})
        return "done"

    assert ask(app, client, renames_by_hand).status_code == 200
    assert endings == ["rollback"]
    assert people_named("Renamed") == 0 and people_named("Before") == 1


def test_a_request_that_failed_is_rolled_back(app, client, endings):
    def fails_after_reading():
        db.session.scalar(select(func.count()).select_from(User))
        raise RuntimeError("something went wrong")

    with pytest.raises(RuntimeError):  # testing: Flask hands the error to the test
        ask(app, client, fails_after_reading)
    assert endings == ["rollback"]


def test_mail_queued_for_a_commit_never_made_is_not_sent(app, client, endings, monkeypatch):
    """Only reads, but an email waits for the commit: the request did not commit, so it is dropped."""
    app.config["SMTP_HOST"] = "mail.example.org"
    sent: list[notifications.Mail] = []
    monkeypatch.setattr(notifications, "queue", sent.append)

    def queues_mail_only():
        db.session.scalar(select(func.count()).select_from(User))
        notifications.email_after_commit(notifications.Mail("sam@example.org", "Subject", "Body"))
        return "done"

    assert ask(app, client, queues_mail_only).status_code == 200
    assert endings == ["rollback"]
    assert sent == []


def test_a_read_after_a_committed_write_ends_with_a_commit(app, client, endings):
    """The write's own commit clears the mark: what the request read afterwards ends with a commit."""

    def writes_then_reads():
        db.session.add(User(email="whole@example.org", name="Whole", password_hash="x"))
        db.session.commit()
        db.session.scalar(select(func.count()).select_from(User))
        return "done"

    assert ask(app, client, writes_then_reads).status_code == 200
    assert endings == ["commit", "commit"]
    assert people_named("Whole") == 1


def test_a_request_that_wrote_then_refused_is_rolled_back(app, client, endings):
    """A refusal the app answers itself (a 404 page) is no failure to Flask: the mark still rolls it back."""

    def writes_then_refuses():
        db.session.add(User(email="refused@example.org", name="Refused", password_hash="x"))
        db.session.flush()
        abort(404)

    assert ask(app, client, writes_then_refuses).status_code == 404
    # The error page (signed out) reads the organisation's name on a connection of its own: a rollback too.
    assert endings == ["rollback", "rollback"]
    assert people_named("Refused") == 0


def test_an_update_statement_left_uncommitted_is_rolled_back(app, client, endings):
    someone_id = existing_person(endings, name="Before")

    def updates_in_bulk():
        db.session.execute(update(User).where(User.id == someone_id).values(name="Bulk"))
        return "done"

    assert ask(app, client, updates_in_bulk).status_code == 200
    assert endings == ["rollback"]
    assert people_named("Bulk") == 0


def test_a_failed_flush_left_as_it_is_ends_quietly_with_a_rollback(app, client, endings):
    """A flush that failed leaves the session waiting for a rollback: the teardown leaves it to the session's
    own (which rolls back and returns the connection), and raises nothing."""
    existing_person(endings, email="taken@example.org")

    def swallows_a_failed_flush():
        db.session.add(User(email="taken@example.org", name="Second", password_hash="x"))
        try:
            db.session.flush()
        except IntegrityError:
            pass  # no rollback: what this test is about
        return "done"

    assert ask(app, client, swallows_a_failed_flush).status_code == 200
    assert endings == ["rollback"]
    assert people_named("Second") == 0
    assert ask(app, client, swallows_a_failed_flush).status_code == 200  # the next request has a clean session


def test_mail_sent_at_a_commit_lets_later_reads_commit(app, client, endings, monkeypatch):
    """Once the commit that waited for it has sent the mail, what the request reads next ends with a commit."""
    app.config["SMTP_HOST"] = "mail.example.org"
    sent: list[notifications.Mail] = []
    monkeypatch.setattr(notifications, "queue", sent.append)

    def writes_mails_then_reads():
        db.session.add(User(email="mailed@example.org", name="Mailed", password_hash="x"))
        notifications.email_after_commit(notifications.Mail("mailed@example.org", "Subject", "Body"))
        db.session.commit()
        db.session.scalar(select(func.count()).select_from(User))
        return "done"

    assert ask(app, client, writes_mails_then_reads).status_code == 200
    assert endings == ["commit", "commit"]
    assert [mail.to for mail in sent] == ["mailed@example.org"]


def _context_of(statement) -> SimpleNamespace:
    """What an execution context offers the classification: the statement compiled (for PostgreSQL)."""
    return SimpleNamespace(compiled=statement.compile(dialect=postgresql.dialect()))


def test_what_counts_as_only_reading():
    """A SELECT built with SQLAlchemy reads; one whose WITH clause updates (PostgreSQL allows it) writes, as do
    updates and SQL written out; BEGIN manages the transaction."""
    plain = select(User.id).where(User.name == "Wendy")
    updating = update(User).where(User.name == "Wendy").values(name="Wanda").returning(User.id).cte("renamed")
    assert database._only_reads(str(plain), _context_of(plain))
    assert not database._only_reads("WITH renamed AS (UPDATE ...)", _context_of(select(updating.c.id)))
    assert not database._only_reads("UPDATE users ...", _context_of(update(User).values(name="Wanda")))
    assert not database._only_reads("SELECT 1", SimpleNamespace(compiled=None))  # text: it may be anything
    assert database._only_reads("BEGIN IMMEDIATE", None)


def test_rows_read_on_the_sessions_connection_see_what_the_session_holds_unflushed(app):
    """``read_rows`` (the states and counts of the kept parts of pages) skips the ORM's work for each statement, not
    its autoflush: a person added and not flushed yet is counted, as an ORM query would count her; with autoflush
    off, she is not, as with an ORM query."""
    make_user(Role.WORKER, email="wren@example.org")
    db.session.commit()
    people = select(func.count(User.id))
    db.session.add(User(email="pending@example.org", name="Pending", password_hash=factories.PASSWORD_HASH))
    assert database.read_rows(people) == [(2,)] == [tuple(db.session.execute(people).one())]
    with db.session.no_autoflush:
        db.session.add(User(email="later@example.org", name="Later", password_hash=factories.PASSWORD_HASH))
        assert database.read_rows(people) == [(2,)]
    assert database.read_rows(people) == [(3,)]
    db.session.rollback()
    assert database.read_rows(people) == [(1,)]


def test_a_constant_written_out_is_part_of_the_statements_text_and_selects_as_a_parameter_would(app, frameworks):
    """``written_out`` puts an enum's value into the SQL itself (a prepared statement's plan then knows it), and the
    statement picks out the same rows on this database as the value sent as a parameter."""
    worker = factories.make_worker()
    supervisor = factories.make_supervisor_of(worker)
    factories.supervision_note(worker, supervisor)
    factories.submitted_item(worker)
    db.session.commit()
    written = select(func.count(Evidence.id)).where(
        Evidence.kind == database.written_out(EvidenceKind.SUPERVISION_NOTE)
    )
    sent = select(func.count(Evidence.id)).where(Evidence.kind == EvidenceKind.SUPERVISION_NOTE)
    assert db.session.scalar(written) == db.session.scalar(sent) == 1
    sql = str(written.compile(dialect=postgresql.dialect()))
    assert "evidence.kind = 'supervision-note'" in sql and "%(" not in sql


def test_only_a_value_that_cannot_end_its_quotes_is_written_out():
    class Odd(enum.StrEnum):
        QUOTE = "it's"
        BACKSLASH = "a\\b"

    for value in Odd:
        with pytest.raises(ValueError, match="cannot be written out"):
            database.written_out(value)


POOL_EVENTS = ("connect", "checkout", "checkin")
ENGINE_EVENTS = ("begin", "before_cursor_execute")


def listeners_on(engine) -> dict[str, int]:
    """How many listeners each event of the engine (and of its pool) has."""
    counts = {name: len(getattr(engine.pool.dispatch, name)) for name in POOL_EVENTS}
    return counts | {name: len(getattr(engine.dispatch, name)) for name in ENGINE_EVENTS}


def engine_of_another_app(database_url: str, folder) -> object:
    """The engine of a new app on the test database that sends the query count header."""
    other = create_app(
        {
            "PORTFOLIO_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "UPLOAD_FOLDER": str(folder),
            "SECRET_KEY": "another-secret-key",
            "QUERY_COUNT_HEADER": True,
        }
    )
    with other.app_context():
        return db.engine


def test_apps_sharing_an_engine_install_its_listeners_once(app, database_url, tmp_path):
    """The tests' apps share one engine per database (conftest.one_engine_per_database): another app on it adds no
    listener but the query count's (once), so each transaction still begins once and its end is decided once."""
    engine = db.engine
    listeners = listeners_on(engine)
    assert listeners["begin"] >= 1  # the listeners of the first app on this engine are there

    assert engine_of_another_app(database_url, tmp_path / "second") is engine
    counted = listeners_on(engine)
    # The query count's listener is added by the first app of the run that asks for the header.
    assert counted == {**listeners, "before_cursor_execute": counted["before_cursor_execute"]}
    assert counted["before_cursor_execute"] - listeners["before_cursor_execute"] in (0, 1)

    assert engine_of_another_app(database_url, tmp_path / "third") is engine
    assert listeners_on(engine) == counted

    worker = make_user(Role.WORKER, name="Before")
    worker.name = "After"
    db.session.commit()  # one BEGIN (SQLite) and one COMMIT: a listener run twice would fail here
    assert db.session.get(User, worker.id).name == "After"


def test_an_app_with_other_engine_options_gets_an_engine_with_listeners_of_its_own(app, database_url, tmp_path):
    """Sharing is by address and options: an app that asks for other options gets an engine of its own, and the
    engine-wide listeners are installed on it too (the guard is per engine, not once per process)."""
    shared = db.engine
    other = create_app(
        {
            "PORTFOLIO_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_recycle": 1234},
            "UPLOAD_FOLDER": str(tmp_path / "other"),
            "SECRET_KEY": "another-secret-key",
        }
    )
    with other.app_context():
        own = db.engine
        try:
            assert own is not shared
            own_listeners, shared_listeners = listeners_on(own), listeners_on(shared)
            # The same listeners as the shared engine's, but the query count's (only apps that ask for it add it).
            assert own_listeners | {"before_cursor_execute": 0} == shared_listeners | {"before_cursor_execute": 0}
            assert own_listeners["begin"] >= 1 and own_listeners["before_cursor_execute"] >= 1
            worker = make_user(Role.WORKER, name="Own engine")
            db.session.commit()  # BEGIN (IMMEDIATE on SQLite) from the listeners on this engine, then COMMIT
            assert db.session.get(User, worker.id).name == "Own engine"
        finally:
            db.session.remove()
            own.dispose()


def test_an_option_that_is_not_a_plain_value_is_never_shared():
    """An engine option such as a function or an SSL context cannot be compared by value: that app's engine is its
    own (conftest._engine_key)."""
    from tests.conftest import _engine_key

    url = "postgresql+psycopg://someone:secret@127.0.0.1:5432/test"
    assert _engine_key(None, {"url": url, "creator": lambda: None}) is None
    assert _engine_key(None, {"url": url, "connect_args": {"ssl_context": object()}}) is None
    plain = _engine_key(None, {"url": url, "pool_recycle": 60})
    assert plain is not None and "secret" in plain  # the password is part of the address compared
    assert plain != _engine_key(None, {"url": url, "pool_recycle": 61})
    assert plain != _engine_key(None, {"url": url.replace("secret", "other"), "pool_recycle": 60})
    assert plain != _engine_key("reports", {"url": url, "pool_recycle": 60})
