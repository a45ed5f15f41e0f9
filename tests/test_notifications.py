"""In-app notifications, and the same notices by email through a local SMTP server."""

from __future__ import annotations

import logging
import os
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from portfolio import tasks
from portfolio.evidence import service as evidence_service
from portfolio.evidence.service import EvidenceInput
from portfolio.extensions import db
from portfolio.models import (
    DecisionOutcome,
    EvidenceKind,
    EvidenceStatus,
    NoteOutcome,
    Notification,
    Role,
    Submission,
    SupervisionAssignment,
)
from portfolio.review import service as review
from portfolio.review.service import CompetenceOutcome
from tests.conftest import body_of, free_port, queue_at, run_consumer
from tests.factories import TODAY, assign, competence, make_user
from tests.pages import text_of, words

TITLE = "Allotment walking group"
SECRET_TEXT = "Mrs Example told me about her late husband during the walk."


# --- helpers --------------------------------------------------------------------


def notices(user) -> list[Notification]:
    db.session.expire_all()
    return list(
        db.session.scalars(select(Notification).where(Notification.user_id == user.id).order_by(Notification.id))
    )


def listed(page: str) -> list[str]:
    """The notices on the list page, as read, in order."""
    part = page.split('<ul class="nhsuk-list notifications">', 1)[1].split("</ul>", 1)[0]
    return [words(item) for item in re.findall(r'<li class="notification[^"]*">(.*?)</li>', part, re.S)]


def account_texts(page: str) -> list[str]:
    account = page.split('class="nhsuk-header__account"', 1)[1].split("</nav>", 1)[0]
    return [words(a) for a in re.findall(r"<a\b[^>]*>(.*?)</a>", account, re.S)]


def add_notice(user, message: str, url: str = "/", *, minutes_ago: int = 0, read: bool = False) -> Notification:
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    notice = Notification(user_id=user.id, message=message, url=url, created_at=at, read_at=at if read else None)
    db.session.add(notice)
    db.session.commit()
    return notice


def draft_item(worker):
    """An "other evidence" draft linked to two competences."""
    evidence = evidence_service.create_evidence(
        worker,
        EvidenceKind.OTHER,
        EvidenceInput(title=TITLE, occurred_on=date(2026, 3, 10), description=SECRET_TEXT),
        link_competence_id=competence("PS-LW-01").id,
    )
    evidence_service.link_competence(worker, evidence, competence("PS-LW-02").id, "I listened first.")
    db.session.expire_all()
    return db.session.get(type(evidence), evidence.id)


# --- the list ------------------------------------------------------------------------


def test_the_list_shows_notices_newest_first_with_new_tags(client, auth, worker):
    add_notice(worker, "Oldest, already read", minutes_ago=30, read=True)
    add_notice(worker, "Newest notice", minutes_ago=1)
    add_notice(worker, "Middle notice", minutes_ago=10)
    other = make_user(Role.WORKER, name="Olive Other")
    add_notice(other, "Not for Wendy")
    auth.login_as(worker)

    response = client.get("/notifications/")
    assert response.status_code == 200
    page = text_of(response)
    assert listed(page) == [
        f"New Newest notice {TODAY.day} {TODAY:%B %Y}",
        f"New Middle notice {TODAY.day} {TODAY:%B %Y}",
        f"Oldest, already read {TODAY.day} {TODAY:%B %Y}",
    ]
    assert "Not for Wendy" not in page
    assert "Notifications (2 new)" in account_texts(page)
    assert "Mark all as read" in page


def test_no_notifications(client, auth, worker):
    auth.login_as(worker)
    page = text_of(client.get("/notifications/"))
    assert "You have no notifications." in page
    assert "Notifications" in account_texts(page)
    assert "Mark all as read" not in page


def test_opening_a_notice_marks_it_read_and_goes_to_it(client, auth, worker):
    first = add_notice(worker, "Sam Supervisor signed off your item", url="/portfolio/", minutes_ago=5)
    add_notice(worker, "Another notice", url="/portfolio/map")
    auth.login_as(worker)
    assert "Notifications (2 new)" in account_texts(text_of(client.get("/")))

    response = client.post(f"/notifications/{first.id}", data={"csrf_token": auth.token("/notifications/")})
    assert response.status_code == 303
    assert response.headers["Location"] == "/portfolio/"
    stored = notices(worker)
    assert stored[0].read_at is not None
    assert stored[1].read_at is None
    page = text_of(client.get("/notifications/"))
    assert listed(page)[0].startswith("New Another notice")
    assert listed(page)[1].startswith("Sam Supervisor signed off your item")
    assert "Notifications (1 new)" in account_texts(page)


def test_a_notice_with_a_foreign_url_goes_to_the_list(client, auth, worker):
    notice = add_notice(worker, "Odd", url="//evil.example/")
    auth.login_as(worker)
    response = client.post(f"/notifications/{notice.id}", data={"csrf_token": auth.token("/")})
    assert response.headers["Location"] == "/notifications/"


def test_opening_without_a_token_is_refused(client, auth, worker):
    notice = add_notice(worker, "Hello")
    auth.login_as(worker)
    assert client.post(f"/notifications/{notice.id}").status_code == 400
    assert notices(worker)[0].read_at is None


def test_mark_all_read(client, auth, worker):
    for number in range(3):
        add_notice(worker, f"Notice {number}", minutes_ago=number)
    other = make_user(Role.WORKER, name="Olive Other")
    add_notice(other, "Olive's notice")
    auth.login_as(worker)
    response = client.post("/notifications/read", data={"csrf_token": auth.token("/")})
    assert response.status_code == 303
    assert response.headers["Location"] == "/notifications/"
    assert all(n.read_at is not None for n in notices(worker))
    assert notices(other)[0].read_at is None
    page = text_of(client.get("/notifications/"))
    assert "New " not in " ".join(listed(page))
    assert "Notifications" in account_texts(page)
    assert not [t for t in account_texts(page) if "new)" in t]


def test_another_users_notice_answers_404(client, auth, worker):
    other = make_user(Role.WORKER, name="Olive Other")
    theirs = add_notice(other, "Olive's notice", url="/portfolio/")
    auth.login_as(worker)
    token = auth.token("/")
    response = client.post(f"/notifications/{theirs.id}", data={"csrf_token": token})
    assert response.status_code == 404
    assert "Page not found" in text_of(response)
    assert client.post("/notifications/999999", data={"csrf_token": token}).status_code == 404
    assert notices(other)[0].read_at is None


def test_notices_come_from_the_use_cases(client, auth, worker, supervisor):
    evidence = draft_item(worker)
    evidence_service.submit(worker, evidence)
    submission = review.open_submission_of(evidence)
    auth.login_as(supervisor)
    page = text_of(client.get("/notifications/"))
    assert listed(page)[0].startswith(f"New Wendy Worker submitted “{TITLE}” for review")
    assert "Notifications (1 new)" in account_texts(page)
    [notice] = notices(supervisor)
    response = client.post(f"/notifications/{notice.id}", data={"csrf_token": auth.token("/")})
    assert response.headers["Location"] == f"/review/{submission.id}"
    assert client.get(response.headers["Location"]).status_code == 200
    # No notice holds the item's text.
    assert all(SECRET_TEXT not in n.message for n in db.session.scalars(select(Notification)))


# --- email ----------------------------------------------------------------------------


def test_submitting_emails_each_current_supervisor_without_the_items_text(client, auth, worker, supervisor, smtp):
    sue = make_user(Role.SUPERVISOR, name="Sue Supervisor", email="sue@example.org")
    assign(sue, worker, starts_on=date(2026, 1, 1))
    former = make_user(Role.SUPERVISOR, name="Fred Former", email="fred@example.org")
    db.session.add(
        SupervisionAssignment(
            supervisor_id=former.id, worker_id=worker.id, starts_on=date(2026, 1, 1), ends_on=TODAY - timedelta(days=1)
        )
    )
    db.session.commit()
    evidence = draft_item(worker)
    auth.login_as(worker)

    response = client.post(f"/portfolio/{evidence.id}/submit", data={"csrf_token": auth.token("/")})
    assert response.status_code == 303
    submission = db.session.scalar(select(Submission))
    assert sorted(m["To"] for m in smtp.messages) == ["sue@example.org", "supervisor@example.org"]
    assert sorted(r for rs in smtp.recipients for r in rs) == ["sue@example.org", "supervisor@example.org"]
    link = f"https://portfolio.example.org/review/{submission.id}"
    for message in smtp.messages:
        body = body_of(message)
        assert message["Subject"] == "Wendy Worker has submitted evidence for you to review"
        assert message["From"] == app_config_mail_from(client)
        assert link in body
        for secret in (TITLE, SECRET_TEXT, "walking", "I listened first."):
            assert secret not in body
            assert secret not in message["Subject"]
    assert smtp.to("fred@example.org") == []
    assert [n.url for n in notices(supervisor)] == [f"/review/{submission.id}"]


def app_config_mail_from(client) -> str:
    return client.application.config["MAIL_FROM"]


def test_a_decision_emails_the_worker(client, auth, worker, supervisor, smtp):
    evidence = draft_item(worker)
    evidence_service.submit(worker, evidence)
    submission = review.open_submission_of(evidence)
    smtp.messages.clear()
    auth.login_as(supervisor)
    data = {
        "csrf_token": auth.token("/"),
        "decisions-0-accepted": "accepted",
        "decisions-1-accepted": "accepted",
        "outcome": "signed-off",
        "comment": "Well evidenced.",
    }
    response = client.post(f"/review/{submission.id}", data=data)
    assert response.status_code == 303
    [message] = smtp.messages
    assert message["To"] == "worker@example.org"
    assert message["Subject"] == "Sam Supervisor has signed off your evidence"
    body = body_of(message)
    assert f"https://portfolio.example.org/portfolio/{evidence.id}" in body
    for secret in (TITLE, SECRET_TEXT, "Well evidenced."):
        assert secret not in body


def test_a_returned_item_and_a_note_confirmation_email_the_worker(app, worker, supervisor, smtp):
    evidence = draft_item(worker)
    evidence_service.submit(worker, evidence)
    smtp.messages.clear()
    review.decide(
        supervisor,
        review.open_submission_of(evidence),
        outcome=DecisionOutcome.RETURNED,
        comment="Please add dates.",
        outcomes={
            competence("PS-LW-01").id: CompetenceOutcome(True),
            competence("PS-LW-02").id: CompetenceOutcome(True),
        },
    )
    note = evidence_service.create_evidence(
        worker,
        EvidenceKind.SUPERVISION_NOTE,
        EvidenceInput(
            title="Supervision in March",
            occurred_on=date(2026, 3, 10),
            description=SECRET_TEXT,
            supervisor_id=supervisor.id,
        ),
    )
    review.review_note(supervisor, note, NoteOutcome.CONFIRMED, "")
    assert [(m["To"], m["Subject"]) for m in smtp.messages] == [
        ("worker@example.org", "Sam Supervisor has returned your evidence"),
        ("worker@example.org", "Sam Supervisor has confirmed your supervision note"),
    ]
    for message in smtp.messages:
        assert SECRET_TEXT not in body_of(message) and "Supervision in March" not in body_of(message)


def test_a_refused_use_case_sends_no_email(app, worker, supervisor, smtp):
    evidence = draft_item(worker)
    evidence_service.submit(worker, evidence)
    smtp.messages.clear()
    with pytest.raises(review.InvalidDecision):
        review.decide(
            supervisor,
            review.open_submission_of(evidence),
            outcome=DecisionOutcome.RETURNED,
            comment="",
            outcomes={
                competence("PS-LW-01").id: CompetenceOutcome(True),
                competence("PS-LW-02").id: CompetenceOutcome(True),
            },
        )
    db.session.commit()
    assert smtp.messages == []


def test_without_smtp_settings_nothing_is_sent(client, auth, worker, supervisor, app, monkeypatch):
    assert not app.config["SMTP_HOST"]
    connections = []
    monkeypatch.setattr("smtplib.SMTP", lambda *args, **kwargs: connections.append(args))
    evidence = draft_item(worker)
    auth.login_as(worker)
    assert client.post(f"/portfolio/{evidence.id}/submit", data={"csrf_token": auth.token("/")}).status_code == 303
    assert len(notices(supervisor)) == 1
    assert connections == []


def test_with_the_smtp_server_down_the_action_still_succeeds(client, auth, app, worker, supervisor, caplog):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_STARTTLS=False)  # nothing listens there
    evidence = draft_item(worker)
    auth.login_as(worker)
    with caplog.at_level(logging.WARNING, logger="portfolio.notifications.service"):
        response = client.post(f"/portfolio/{evidence.id}/submit", data={"csrf_token": auth.token("/")})
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(type(evidence), evidence.id).status == EvidenceStatus.SUBMITTED
    [notice] = notices(supervisor)
    assert notice.url.startswith("/review/")
    assert "Could not send a notification email: ConnectionRefusedError" in caplog.text
    assert TITLE not in caplog.text and "supervisor@example.org" not in caplog.text

    # A decision too.
    submission = review.open_submission_of(evidence)
    auth.login_as(supervisor)
    data = {
        "csrf_token": auth.token("/"),
        "decisions-0-accepted": "accepted",
        "decisions-1-accepted": "accepted",
        "outcome": "signed-off",
    }
    assert client.post(f"/review/{submission.id}", data=data).status_code == 303
    assert len(notices(worker)) == 1


# --- the task queue --------------------------------------------------------------------------

REDIS = "redis://127.0.0.1:6379/0"
BACKENDS = {"sqlite": lambda tmp_path: f"sqlite:///{tmp_path / 'tasks.db'}", "redis": lambda tmp_path: REDIS}
if os.environ.get("PORTFOLIO_TEST_DATABASE_URL"):
    BACKENDS["postgresql"] = lambda tmp_path: os.environ["PORTFOLIO_TEST_DATABASE_URL"]


def submit_through_the_page(client, auth, worker) -> None:
    evidence = draft_item(worker)
    auth.login_as(worker)
    response = client.post(f"/portfolio/{evidence.id}/submit", data={"csrf_token": auth.token("/")})
    assert response.status_code == 303


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_the_request_queues_the_email_and_the_consumer_sends_it(
    client, auth, app, worker, supervisor, smtp, tmp_path, backend
):
    with queue_at(app, BACKENDS[backend](tmp_path)) as queue:
        submit_through_the_page(client, auth, worker)

        assert smtp.messages == []  # the answer came before any email
        assert len(notices(supervisor)) == 1  # the in-app notice is there already
        assert queue.pending() == 1

        queue.run_all()
        [message] = smtp.messages
        assert message["To"] == "supervisor@example.org"
        assert message["Subject"] == "Wendy Worker has submitted evidence for you to review"
        assert queue.pending() == 0


def test_a_consumer_process_delivers_what_the_request_queued_through_redis(client, auth, app, worker, supervisor, smtp):
    with queue_at(app, REDIS) as queue:
        submit_through_the_page(client, auth, worker)
        assert queue.pending() == 1 and smtp.messages == []

        errors = run_consumer(
            app,
            queue,
            REDIS,
            lambda: bool(smtp.messages),
            PORTFOLIO_SMTP_HOST="127.0.0.1",
            PORTFOLIO_SMTP_PORT=str(app.config["SMTP_PORT"]),
            PORTFOLIO_SMTP_STARTTLS="false",
        )
        assert [m["To"] for m in smtp.messages] == ["supervisor@example.org"], errors
        assert queue.pending() == 0


def test_with_the_smtp_server_down_the_consumer_tries_again_later(client, auth, app, worker, supervisor, caplog):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_STARTTLS=False)  # nothing listens there
    with queue_at(app, REDIS) as queue:
        submit_through_the_page(client, auth, worker)
        with caplog.at_level(logging.WARNING):
            queue.run_all()

        assert "Could not send a notification email: ConnectionRefusedError" in caplog.text
        assert "supervisor@example.org" not in caplog.text and TITLE not in caplog.text
        assert queue.pending() == 0
        assert queue.huey.scheduled_count() == 1  # the retry, a minute later


def test_with_the_queue_unreachable_the_action_still_succeeds(client, auth, app, worker, supervisor, smtp, caplog):
    tasks.configure(f"redis://127.0.0.1:{free_port()}/0", immediate=False)  # nothing listens there
    try:
        with caplog.at_level(logging.WARNING, logger="portfolio.notifications.service"):
            submit_through_the_page(client, auth, worker)
    finally:
        tasks.init_app(app)

    assert "Could not queue a notification email: ConnectionError" in caplog.text
    assert len(notices(supervisor)) == 1
    assert smtp.messages == []


def test_tests_run_tasks_at_once_and_make_run_queues_them(app, tmp_path, monkeypatch):
    from portfolio.config import build_config

    assert app.config["TASKS_IMMEDIATE"] is True
    monkeypatch.delenv("PORTFOLIO_TASKS_IMMEDIATE", raising=False)
    monkeypatch.delenv("PORTFOLIO_TASK_QUEUE", raising=False)
    development = build_config(str(tmp_path), {"PORTFOLIO_ENV": "development"})
    assert development["TASKS_IMMEDIATE"] is False
    assert development["TASK_QUEUE"] == f"sqlite:///{tmp_path / 'tasks.db'}"


@pytest.mark.parametrize(
    "url, storage, arguments",
    [
        ("sqlite:////srv/portfolio/tasks.db", "SqliteStorage", {"filename": "/srv/portfolio/tasks.db"}),
        ("redis://queue.internal:6379/2", "RedisStorage", {"url": "redis://queue.internal:6379/2"}),
        ("postgresql+psycopg://app@db/portfolio", "PostgresStorage", {"dsn": "postgresql://app@db/portfolio"}),
    ],
)
def test_the_queue_setting_names_the_backend(url, storage, arguments):
    kind, kwargs = tasks.storage_for(url)
    assert (kind.__name__, kwargs) == (storage, arguments)


def test_an_unknown_queue_backend_is_refused_at_start():
    from portfolio import create_app
    from portfolio.config import ConfigError

    with pytest.raises(ConfigError, match="PORTFOLIO_TASK_QUEUE must start with"):
        create_app({"PORTFOLIO_ENV": "testing", "TASK_QUEUE": "amqp://broker/", "TASKS_IMMEDIATE": False})
