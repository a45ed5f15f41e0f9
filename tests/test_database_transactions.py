"""How a request's transaction ends (portfolio/database.py, end_read_only_transactions).

A transaction that only read ends with COMMIT, so that psycopg keeps the statements it prepared (it forgets
them all at a ROLLBACK). Anything that may have written, a request that failed, and work queued for a commit
the request never made end with ROLLBACK, as before: nothing half-written is ever committed for a request.
"""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select, text

from portfolio.extensions import db
from portfolio.models import Role, User
from portfolio.notifications import service as notifications
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


def add_route(app, path: str, view) -> None:
    """A route of the test's own (added before the app's first request)."""
    app.add_url_rule(path, path.strip("/").replace("/", "_"), view)


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

    add_route(app, "/test/forgets-to-commit", forgets_to_commit)
    assert client.get("/test/forgets-to-commit").status_code == 200
    assert endings == ["rollback"]
    assert people_named("Half Written") == 0


def test_sql_written_out_counts_as_writing(app, client, endings):
    """A statement the app did not build as a SELECT may write: the transaction is rolled back."""
    someone_id = make_user(Role.WORKER, name="Before").id
    db.session.commit()
    db.session.close()
    endings.clear()

    def renames_by_hand():
        db.session.execute(text("UPDATE users SET name = 'Renamed' WHERE id = :id"), {"id": someone_id})
        return "done"

    add_route(app, "/test/renames-by-hand", renames_by_hand)
    assert client.get("/test/renames-by-hand").status_code == 200
    assert endings == ["rollback"]
    assert people_named("Renamed") == 0 and people_named("Before") == 1


def test_a_request_that_failed_is_rolled_back(app, client, endings):
    def fails_after_reading():
        db.session.scalar(select(func.count()).select_from(User))
        raise RuntimeError("something went wrong")

    add_route(app, "/test/fails", fails_after_reading)
    with pytest.raises(RuntimeError):  # testing: Flask hands the error to the test
        client.get("/test/fails")
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

    add_route(app, "/test/queues-mail", queues_mail_only)
    assert client.get("/test/queues-mail").status_code == 200
    assert endings == ["rollback"]
    assert sent == []


def test_a_read_after_a_committed_write_ends_with_a_commit(app, client, endings):
    """The write's own commit clears the mark: what the request read afterwards ends with a commit."""

    def writes_then_reads():
        db.session.add(User(email="whole@example.org", name="Whole", password_hash="x"))
        db.session.commit()
        db.session.scalar(select(func.count()).select_from(User))
        return "done"

    add_route(app, "/test/writes-then-reads", writes_then_reads)
    assert client.get("/test/writes-then-reads").status_code == 200
    assert endings == ["commit", "commit"]
    assert people_named("Whole") == 1
