"""In-app notifications, and the same notices by email through a local SMTP server."""

from __future__ import annotations

import logging
import os
import re
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from portfolio import clock, tasks
from portfolio.errors import FieldError
from portfolio.evidence import service as evidence_service
from portfolio.evidence.service import EvidenceInput
from portfolio.extensions import db
from portfolio.models import (
    DecisionOutcome,
    EmailFrequency,
    Evidence,
    EvidenceKind,
    EvidenceStatus,
    NoteOutcome,
    Notification,
    Role,
    Submission,
    SupervisionAssignment,
    utcnow,
)
from portfolio.notifications import service as notifications
from portfolio.review import service as review
from portfolio.review.service import CompetenceOutcome
from portfolio.supervision import service as supervision
from tests.conftest import body_of, csrf_token, free_port, queue_at, run_consumer
from tests.factories import TODAY, assign, competence, emailed_at_once, make_user
from tests.pages import assert_error_shown, duplicate_ids, status_of, swapped_parts, text_of, words
from tests.racing import ROUNDS, no_server_errors, overlapped, race, signed_in

TITLE = "Allotment walking group"
SECRET_TEXT = "Mrs Example told me about her late husband during the walk."


# --- helpers --------------------------------------------------------------------


def notices(user) -> list[Notification]:
    db.session.commit()  # a new snapshot: see what the app (or a server thread) wrote
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
    at = utcnow() - timedelta(minutes=minutes_ago)
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
    oldest = add_notice(worker, "Oldest, already read", minutes_ago=30, read=True)
    newest = add_notice(worker, "Newest notice", minutes_ago=1)
    middle = add_notice(worker, "Middle notice", minutes_ago=10)
    other = make_user(Role.WORKER, name="Olive Other")
    add_notice(other, "Not for Wendy")
    auth.login_as(worker)

    response = client.get("/notifications/")
    assert response.status_code == 200
    page = text_of(response)

    def day(notice: Notification) -> str:  # the day the service's clock shows (30 minutes ago may be yesterday)
        on = clock.on_the_clock(notice.created_at).date()
        return f"{on.day} {on:%B %Y}"

    assert listed(page) == [
        f"New Newest notice {day(newest)}",
        f"New Middle notice {day(middle)}",
        f"Oldest, already read {day(oldest)}",
    ]
    assert "Not for Wendy" not in page
    assert "Notifications (2 new)" in account_texts(page)
    assert "Mark all as read" in page


def test_the_header_count_is_read_with_the_user_in_one_query(client, auth, worker, count_queries):
    add_notice(worker, "One")
    add_notice(worker, "Two")
    add_notice(worker, "Read", read=True)
    auth.login_as(worker)
    with count_queries:
        page = text_of(client.get("/account/"))
    assert "Notifications (2 new)" in account_texts(page)
    reads = [s for s in count_queries.statements if "notifications" in s]
    assert len(reads) == 1 and "FROM users" in reads[0], reads


def test_the_header_counts_unread_notices_no_further_than_it_shows_them(client, auth, worker, count_queries):
    """Up to 99 the header says how many; beyond, "99+", and the database stops counting at 100, so a pile of
    unread notices does not make every page cost more."""
    db.session.add_all(Notification(user_id=worker.id, message=f"Notice {n}") for n in range(99))
    db.session.commit()
    auth.login_as(worker)
    assert "Notifications (99 new)" in account_texts(text_of(client.get("/account/")))

    db.session.add_all(Notification(user_id=worker.id, message=f"Later notice {n}") for n in range(2))
    db.session.commit()
    with count_queries(keep=True):
        page = text_of(client.get("/account/"))
    assert "Notifications (99+ new)" in account_texts(page)
    [read] = [s for s in count_queries.statements if "notifications" in s]
    assert re.search(r"\bLIMIT\b", read), read
    notifications.mark_read(worker)
    texts = account_texts(text_of(client.get("/account/")))
    assert "Notifications" in texts and not [t for t in texts if t.startswith("Notifications (")]


def test_a_count_read_with_the_user_is_forgotten_when_a_notice_is_added_or_read(app, worker):
    with app.test_request_context():
        notifications.remember_unread_count(worker, 5)
        assert notifications.unread_count(worker) == 5
        notifications.notify(worker, "Signed off", "/portfolio/", email_subject="Signed off")
        db.session.commit()
        assert notifications.unread_count(worker) == 1
        notifications.remember_unread_count(worker, 1)
        notifications.mark_read(worker)
        assert notifications.unread_count(worker) == 0


def test_a_count_remembered_for_one_person_is_not_anothers(app, worker, supervisor):
    add_notice(supervisor, "For the supervisor")
    with app.test_request_context():
        notifications.remember_unread_count(worker, 0)
        assert notifications.unread_count(supervisor) == 1


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
    emailed_at_once(supervisor, sue, former)
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
    emailed_at_once(worker, supervisor)
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


def returned_for_dates(supervisor, evidence) -> None:
    """The supervisor returns the item, both its competences accepted, asking for dates."""
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


def test_a_returned_item_and_a_note_confirmation_email_the_worker(app, worker, supervisor, smtp):
    emailed_at_once(worker, supervisor)
    evidence = draft_item(worker)
    evidence_service.submit(worker, evidence)
    smtp.messages.clear()
    returned_for_dates(supervisor, evidence)
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
    emailed_at_once(worker, supervisor)
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
    emailed_at_once(worker, supervisor)
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
    """The worker submits an item; their supervisor asked for each notice by email at once."""
    emailed_at_once(*supervision.supervisors_of(worker.id))
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


# --- grouped submissions -----------------------------------------------------------------------


def submit_items(worker, how_many: int) -> list:
    """The worker submits ``how_many`` fresh items (through the use case)."""
    items = []
    for _ in range(how_many):
        evidence = draft_item(worker)
        evidence_service.submit(worker, evidence)
        items.append(evidence)
    return items


def test_a_workers_submissions_of_one_day_are_one_line_for_each_reviewer(app, worker, supervisor):
    submit_items(worker, 1)
    [line] = notices(supervisor)
    assert (line.items, line.message) == (1, f"Wendy Worker submitted “{TITLE}” for review")
    assert line.url.startswith("/review/")

    submit_items(worker, 2)
    [line] = notices(supervisor)
    assert (line.items, line.message) == (3, "Wendy Worker sent 3 items")
    assert line.url == f"/review/?worker={worker.id}"
    assert line.email_subject == "Wendy Worker has submitted 3 items of evidence for you to review"
    assert notifications.unread_count(supervisor) == 1  # lines, not items

    # Another worker's submissions are a line of their own.
    olive = make_user(Role.WORKER, name="Olive Other", email="olive@example.org", tier=worker.tier)
    assign(supervisor, olive)
    submit_items(olive, 2)
    assert sorted(n.message for n in notices(supervisor)) == ["Olive Other sent 2 items", "Wendy Worker sent 3 items"]
    assert notifications.unread_count(supervisor) == 2


def test_a_read_line_comes_back_unread_and_on_top_when_another_item_arrives(app, worker, supervisor):
    submit_items(worker, 2)
    add_notice(supervisor, "Something newer")
    notifications.mark_read(supervisor)
    assert notifications.unread_count(supervisor) == 0

    submit_items(worker, 1)
    assert notifications.unread_count(supervisor) == 1
    newest = notifications.notices_page(supervisor, 1).items[0]
    assert (newest.message, newest.read_at) == ("Wendy Worker sent 3 items", None)


def test_the_next_day_starts_a_new_line(app, worker, supervisor, monkeypatch):
    submit_items(worker, 2)
    monkeypatch.setattr(review, "today", lambda: TODAY + timedelta(days=1))
    submit_items(worker, 1)
    assert [(n.items, n.message.split("“")[0]) for n in notices(supervisor)] == [
        (2, "Wendy Worker sent 2 items"),
        (1, "Wendy Worker submitted "),
    ]


def test_a_grouped_line_opens_the_queue_filtered_to_that_worker(client, auth, worker, supervisor):
    olive = make_user(Role.WORKER, name="Olive Other", email="olive@example.org", tier=worker.tier)
    assign(supervisor, olive)
    submit_items(olive, 1)
    submit_items(worker, 2)
    auth.login_as(supervisor)

    page = text_of(client.get("/notifications/"))
    assert [re.sub(r" \d{1,2} \w+ \d{4}$", "", line) for line in listed(page)] == [  # without the day
        "New Wendy Worker sent 2 items",
        f"New Olive Other submitted “{TITLE}” for review",
    ]
    assert "Notifications (2 new)" in account_texts(page)
    wendys = next(n for n in notices(supervisor) if n.items == 2)
    response = client.post(f"/notifications/{wendys.id}", data={"csrf_token": auth.token("/")})
    assert response.headers["Location"] == f"/review/?worker={worker.id}"

    queue = text_of(client.get(response.headers["Location"]))
    assert "Only Wendy Worker’s items." in queue
    assert queued(queue) == submissions_of(worker)
    # The same filter as an htmx fragment (the filter form keeps it for the next search).
    fragment = client.get(f"/review/?worker={worker.id}&q=walking", headers={"HX-Request": "true"}).get_data(True)
    body, _ = swapped_parts(fragment, "review-queue")
    assert queued(body) == submissions_of(worker)
    # Another supervisor's worker filters to nothing, naming nobody.
    stranger = make_user(Role.WORKER, name="Stella Stranger", email="stella@example.org", tier=worker.tier)
    other_queue = text_of(client.get(f"/review/?worker={stranger.id}"))
    assert "Nothing waiting for you matches your filters." in other_queue and "Stella" not in other_queue
    # A value that is not an id is ignored, with a message.
    bad = text_of(client.get("/review/?worker=someone"))
    assert "Worker: Choose a worker" in bad
    assert queued(bad) == submissions_of(worker) | submissions_of(olive)


def queued(page: str) -> set[int]:
    """The submissions the queue on ``page`` links to."""
    region = page.split('<div id="review-queue">', 1)[1]
    return {int(number) for number in re.findall(r'href="/review/(\d+)"', region)}


def submissions_of(worker) -> set[int]:
    return set(
        db.session.scalars(
            select(Submission.id)
            .join(Evidence, Evidence.id == Submission.evidence_id)
            .where(Evidence.owner_id == worker.id)
        )
    )


def test_the_list_page_makes_the_same_number_of_queries_for_few_or_many_notices(client, auth, worker, count_queries):
    auth.login_as(worker)
    client.get("/notifications/")  # the first request loads templates and settings

    def queries_for_page() -> int:
        with count_queries:
            response = client.get("/notifications/")
        assert response.status_code == 200
        return count_queries.count

    add_notice(worker, "One notice")
    few = queries_for_page()
    for number in range(30):
        add_notice(worker, f"Notice {number}", minutes_ago=number, read=number % 2 == 0)
    count_queries.statements.clear()
    assert queries_for_page() == few


def test_a_boosted_request_gets_the_whole_list_page(client, auth, worker):
    add_notice(worker, "Boosted notice")
    auth.login_as(worker)
    page = text_of(client.get("/notifications/", headers={"HX-Request": "true", "HX-Boosted": "true"}))
    assert "<h1>Notifications</h1>" in page and "<html" in page
    assert listed(page)[0].startswith("New Boosted notice")


def test_the_list_is_paged_newest_first_and_an_old_page_still_opens_its_notices(client, auth, worker):
    """Every notice can be reached, a page at a time (paging.PER_PAGE): the first page the newest, the last the
    oldest; a page past the end shows the last, text shows the first. Each row's form carries the token under the
    same name, and no two elements share an id."""
    for number in range(30):
        add_notice(worker, f"Notice {number}", url=f"/portfolio/?n={number}", minutes_ago=number)
    auth.login_as(worker)

    first = text_of(client.get("/notifications/"))
    assert [line.split(" ")[2] for line in listed(first)] == [f"{n}" for n in range(25)]
    assert status_of(first, "notifications-count") == "30 notifications, showing 1 to 25 (page 1 of 2)"
    assert 'href="/notifications/?page=2"' in first
    assert duplicate_ids(first) == []
    assert (
        first.count('<input type="hidden" name="csrf_token" value="') == 25 + 1
    )  # each row's form, the header's sign-out

    last = text_of(client.get("/notifications/?page=2"))
    assert [line.split(" ")[2] for line in listed(last)] == [f"{n}" for n in range(25, 30)]
    assert status_of(last, "notifications-count") == "30 notifications, showing 26 to 30 (page 2 of 2)"
    assert listed(text_of(client.get("/notifications/?page=99"))) == listed(last)
    assert listed(text_of(client.get("/notifications/?page=two"))) == listed(first)

    oldest = notices(worker)[0]
    token = re.search(r'name="csrf_token" value="([^"]+)"', last).group(1)
    response = client.post(f"/notifications/{oldest.id}", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"] == "/portfolio/?n=0"
    assert notices(worker)[0].read_at is not None


def test_a_page_link_answers_htmx_with_the_list_and_its_count_and_boosted_with_the_whole_page(client, auth, worker):
    for number in range(27):
        add_notice(worker, f"Notice {number}", minutes_ago=number)
    auth.login_as(worker)
    answer = client.get("/notifications/?page=2", headers={"HX-Request": "true"}).get_data(as_text=True)
    body, oob = swapped_parts(answer, "notifications-list")
    assert [line.split(" ")[2] for line in listed(body)] == ["25", "26"]
    assert len(oob) == 1 and 'id="notifications-count"' in oob[0]
    assert status_of(answer, "notifications-count") == "27 notifications, showing 26 to 27 (page 2 of 2)"
    assert 'hx-get="/notifications/"' in body  # back to the first page, swapping the list again

    boosted = text_of(client.get("/notifications/?page=2", headers={"HX-Request": "true", "HX-Boosted": "true"}))
    assert "<h1>Notifications</h1>" in boosted and "<html" in boosted
    assert [line.split(" ")[2] for line in listed(boosted)] == ["25", "26"]
    assert "Mark all as read" in boosted


# --- the daily digest --------------------------------------------------------------------------


def test_by_default_notices_wait_for_the_digest_which_lists_them_once(app, worker, supervisor, smtp):
    submit_items(worker, 3)
    assert smtp.messages == []  # nothing one by one
    [line] = notices(supervisor)
    assert line.emailed_at is None

    assert notifications.send_digests() == 1
    [message] = smtp.messages
    assert message["To"] == "supervisor@example.org"
    assert message["Subject"] == "1 new notification in your evidence portfolio"
    body = body_of(message)
    assert "- Wendy Worker has submitted 3 items of evidence for you to review" in body
    assert f"https://portfolio.example.org/review/?worker={worker.id}" in body
    assert "https://portfolio.example.org/notifications/" in body
    assert "https://portfolio.example.org/account/" in body
    for secret in (TITLE, SECRET_TEXT, "walking", "I listened first."):
        assert secret not in body and secret not in message["Subject"]
    assert notices(supervisor)[0].emailed_at is not None
    db.session.expire_all()
    assert db.session.get(type(supervisor), supervisor.id).digest_sent_on == TODAY

    # Run again (cron and the consumer both, say): nothing is sent twice.
    assert notifications.send_digests() == 0
    assert len(smtp.messages) == 1


def test_a_digest_lists_every_unread_notice_and_skips_read_ones(app, worker, supervisor, smtp):
    emailed_at_once(supervisor)
    submit_items(worker, 1)
    smtp.messages.clear()
    evidence = db.session.scalar(select(Submission)).evidence
    returned_for_dates(supervisor, evidence)
    seen = add_notice(worker, "Already seen in the app", url="/portfolio/")
    notifications.mark_read(worker, seen)
    assert smtp.messages == []  # Wendy has the daily default

    assert notifications.send_digests() == 1
    [message] = smtp.to("worker@example.org")
    assert message["Subject"] == "1 new notification in your evidence portfolio"
    assert "- Sam Supervisor has returned your evidence" in body_of(message)
    assert "Already seen" not in body_of(message) and "Please add dates." not in body_of(message)
    assert all(n.emailed_at is not None for n in notices(worker))  # the read one is claimed, not sent


def test_at_most_one_digest_a_day_and_the_next_day_brings_the_rest(app, worker, supervisor, smtp, monkeypatch):
    submit_items(worker, 1)
    assert notifications.send_digests() == 1
    add_notice(supervisor, "Later the same day")
    assert notifications.send_digests() == 0
    assert len(smtp.messages) == 1

    monkeypatch.setattr(notifications, "today", lambda: TODAY + timedelta(days=1))
    assert notifications.send_digests() == 1
    assert len(smtp.messages) == 2


def test_people_who_want_each_notice_at_once_get_no_digest(app, worker, supervisor, smtp):
    emailed_at_once(supervisor)
    submit_items(worker, 2)
    assert [m["Subject"] for m in smtp.messages] == ["Wendy Worker has submitted evidence for you to review"] * 2
    assert notifications.send_digests() == 0
    assert len(smtp.messages) == 2


def test_switching_to_at_once_still_delivers_what_waited_for_the_digest(app, worker, supervisor, smtp):
    submit_items(worker, 1)
    notifications.set_email_frequency(supervisor, "immediate")
    assert notifications.send_digests() == 1
    assert smtp.messages[0]["To"] == "supervisor@example.org"


def test_deactivated_people_and_no_smtp_get_no_digest(app, worker, supervisor, smtp):
    submit_items(worker, 1)
    supervisor.active = False
    db.session.commit()
    assert notifications.send_digests() == 0
    supervisor.active = True
    db.session.commit()
    app.config["SMTP_HOST"] = None
    assert notifications.send_digests() == 0
    assert smtp.messages == []
    assert notices(supervisor)[0].emailed_at is None  # still waiting for a digest


def test_two_digest_runs_at_once_send_one_email(app, worker, supervisor, smtp):
    submit_items(worker, 2)
    supervisor_id = supervisor.id  # read here: the threads must not touch this session's objects
    barrier = threading.Barrier(2, timeout=30)
    results: list[int | BaseException] = []

    def run() -> None:
        with app.app_context():
            try:
                barrier.wait()
                results.append(notifications.send_digest(supervisor_id))
            except BaseException as error:  # noqa: BLE001 - reported below
                results.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results, key=repr) == [0, 1], [repr(r) for r in results]
    assert [m["To"] for m in smtp.messages] == ["supervisor@example.org"]


def digest_due_at(moment: datetime) -> bool:
    """Whether the consumer's scheduler queues the daily digest at ``moment`` (naive UTC, as huey passes it)."""
    digest = notifications.daily_digest.task_class
    return any(isinstance(task, digest) for task in tasks.huey.read_periodic(moment))


def test_the_consumer_sends_the_digests_at_the_configured_hour(app, worker, supervisor, smtp, in_london):
    app.config["DIGEST_HOUR"] = 6
    # Winter: London is on UTC.
    assert digest_due_at(datetime(2026, 11, 28, 6, 0))
    assert not digest_due_at(datetime(2026, 11, 28, 6, 1)) and not digest_due_at(datetime(2026, 11, 28, 7, 0))
    submit_items(worker, 1)
    notifications.daily_digest.call_local()
    assert [m["To"] for m in smtp.messages] == ["supervisor@example.org"]


def test_the_digest_hour_is_on_the_same_clock_as_today(app, in_london):
    app.config["DIGEST_HOUR"] = 7
    # Summer: 07:00 in London is 06:00 UTC; 07:00 UTC is 08:00 there.
    assert digest_due_at(datetime(2026, 7, 1, 6, 0))
    assert not digest_due_at(datetime(2026, 7, 1, 7, 0))
    assert clock.on_the_clock(datetime(2026, 7, 1, 6, 0)).isoformat() == "2026-07-01T07:00:00+01:00"
    # An aware moment means what it says, whatever its zone.
    assert clock.on_the_clock(datetime(2026, 7, 1, 6, 0, tzinfo=UTC)).hour == 7


def test_one_digest_every_day_across_the_change_of_clocks(app, worker, supervisor, smtp, monkeypatch, in_london):
    """Late in the evening, around the night BST ends (25 October 2026): every day gets its digest, once.

    Read in UTC, 23:00 was midnight BST on the 24th (the 25th by today()) and 23:00 GMT on the 25th (the 25th
    again): the digest of the 25th's evening was never sent.
    """
    app.config["DIGEST_HOUR"] = 23
    hours = [datetime(2026, 10, 24, 0, 0) + timedelta(hours=n) for n in range(3 * 24)]  # naive UTC, as huey gives
    due = [moment for moment in hours if digest_due_at(moment)]
    assert due == [datetime(2026, 10, 24, 22, 0), datetime(2026, 10, 25, 23, 0), datetime(2026, 10, 26, 23, 0)]

    sent_on = []
    for moment in due:
        monkeypatch.setattr(clock, "now", lambda moment=moment: clock.on_the_clock(moment))  # a fixed clock
        add_notice(supervisor, f"Notice of {moment:%d %B}")
        notifications.daily_digest.call_local()
        db.session.expire_all()
        sent_on.append(db.session.get(type(supervisor), supervisor.id).digest_sent_on)
    assert sent_on == [date(2026, 10, 24), date(2026, 10, 25), date(2026, 10, 26)]
    assert [m["To"] for m in smtp.messages] == ["supervisor@example.org"] * 3


def test_the_digest_hour_must_be_an_hour(monkeypatch, tmp_path):
    from portfolio.config import ConfigError, build_config

    monkeypatch.setenv("PORTFOLIO_DIGEST_HOUR", "24")
    with pytest.raises(ConfigError, match="PORTFOLIO_DIGEST_HOUR must be an hour from 0 to 23"):
        build_config(str(tmp_path), {"PORTFOLIO_ENV": "testing"})
    monkeypatch.setenv("PORTFOLIO_DIGEST_HOUR", "18")
    assert build_config(str(tmp_path), {"PORTFOLIO_ENV": "testing"})["DIGEST_HOUR"] == 18


def test_the_digest_command(app, runner, worker, supervisor, smtp):
    submit_items(worker, 1)
    result = runner.invoke(args=["notifications", "digest"])
    assert result.exit_code == 0, result.output
    assert "Sent 1 digest email." in result.output
    assert [m["To"] for m in smtp.messages] == ["supervisor@example.org"]
    assert "Sent 0 digest emails." in runner.invoke(args=["notifications", "digest"]).output

    app.config["SMTP_HOST"] = None
    assert "No SMTP server is set up" in runner.invoke(args=["notifications", "digest"]).output


# --- the setting on the account page -----------------------------------------------------------


def test_the_account_page_offers_a_daily_digest_by_default(client, auth, worker):
    auth.login_as(worker)
    page = text_of(client.get("/account/"))
    assert "How often should we email you about your notifications?" in page
    checked = re.findall(r'<input[^>]*name="email_frequency"[^>]*value="([^"]+)"[^>]*checked', page)
    assert checked == ["daily"]
    assert "Once a day, in one email" in page and "Each one at once" in page


def test_choosing_each_notice_at_once_on_the_account_page(client, auth, worker, supervisor, smtp):
    auth.login_as(supervisor)
    response = client.post(
        "/account/emails", data={"csrf_token": auth.token("/account/"), "email_frequency": "immediate"}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/account/"
    page = text_of(client.get("/account/"))
    assert "Emails about your notifications: each one at once." in page
    assert re.findall(r'<input[^>]*name="email_frequency"[^>]*value="([^"]+)"[^>]*checked', page) == ["immediate"]
    db.session.expire_all()
    assert db.session.get(type(supervisor), supervisor.id).email_frequency == EmailFrequency.IMMEDIATE

    submit_items(worker, 1)
    assert [m["To"] for m in smtp.messages] == ["supervisor@example.org"]


@pytest.mark.parametrize("value", ["", "hourly"])
@pytest.mark.parametrize("boosted", [False, True])
def test_a_bad_choice_is_refused_next_to_the_radios(client, auth, worker, value, boosted):
    auth.login_as(worker)
    headers = {"HX-Request": "true", "HX-Boosted": "true"} if boosted else {}
    response = client.post(
        "/account/emails", data={"csrf_token": auth.token("/account/"), "email_frequency": value}, headers=headers
    )
    page = assert_error_shown(response, "email_frequency", "Choose how often you get emails about your notifications")
    assert "<html" in page  # the whole page, boosted or not
    db.session.expire_all()
    assert db.session.get(type(worker), worker.id).email_frequency == EmailFrequency.DAILY


def test_the_service_refuses_an_unknown_frequency(app, worker):
    with pytest.raises(FieldError) as refused:
        notifications.set_email_frequency(worker, "weekly")
    assert refused.value.field == "email_frequency"


# --- submissions racing ------------------------------------------------------------------------


def test_submissions_racing_each_other_still_make_one_line_per_reviewer(app, server, two_supervisors):
    worker = two_supervisors.worker
    first, second = signed_in(server, ("first", worker.email), ("second", worker.email))
    overlapping = 0
    for number in range(1, ROUNDS + 1):
        items = [race_item(worker, two_supervisors.competence_id) for _ in range(2)]
        pending = []
        for client, item_id in zip((first, second), items, strict=True):
            token = csrf_token(client.get(f"/portfolio/{item_id}/submit").text)
            pending.append(client.start_post(f"/portfolio/{item_id}/submit", {"csrf_token": token}))
        answers = race(pending)
        no_server_errors(dict(zip(("first", "second"), answers, strict=True)), number)
        assert [a.status for a in answers] == [303, 303], [a.describe() for a in answers]
        overlapping += overlapped(answers)
        for reviewer in (two_supervisors.first, two_supervisors.second):
            lines = notices(reviewer)
            assert [(n.items, n.message) for n in lines] == [(2 * number, f"{worker.name} sent {2 * number} items")]
            assert notifications.unread_count(reviewer) == 1
    assert overlapping, "the requests never overlapped: the race was not tested"


def race_item(worker, competence_id: int) -> int:
    """A fresh draft of the worker's, linked to a competence, made outside any request."""
    evidence = evidence_service.create_evidence(
        db.session.get(type(worker), worker.id),
        EvidenceKind.OTHER,
        EvidenceInput(title=TITLE, occurred_on=date(2026, 3, 10), description=SECRET_TEXT),
        link_competence_id=competence_id,
    )
    db.session.commit()
    return evidence.id


def test_a_sent_back_certificate_emails_its_worker_at_once_but_never_a_leaver(app, worker, supervisor, manager, smtp):
    from portfolio.training import service as training
    from tests.factories import certificate, course

    emailed_at_once(worker)
    item = course("Safeguarding adults", 36)
    first = certificate(worker, item, TODAY - timedelta(days=10), checked=False)
    training.send_back_certificate(supervisor, first, "The file is blank")
    assert [(m["To"], m["Subject"]) for m in smtp.messages] == [
        ("worker@example.org", "Sam Supervisor has sent back a training certificate of yours")
    ]
    smtp.messages.clear()
    second = certificate(worker, item, TODAY - timedelta(days=5), checked=False)
    worker.active = False  # she left; a manager still goes through the list
    db.session.commit()
    training.send_back_certificate(manager, second, "The file is blank again")
    assert smtp.messages == []
    assert notices(worker)[-1].emailed_at is None  # waiting in the app, should she come back


def test_a_long_notice_is_cut_at_a_word_with_an_ellipsis(app, worker):
    notice = notifications.notify(worker, "word " * 100, "/", email_subject="Long")
    assert len(notice.message) <= notifications.MESSAGE_MAX and notice.message.endswith("word…")
    assert notifications.shortened("short enough", 300) == "short enough"
    assert notifications.shortened("one two three", 8) == "one two…"
