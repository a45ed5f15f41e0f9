"""Notify people: a row in the caller's transaction, an email queued once it commits.

Emails go through the task queue (``portfolio/tasks.py``): the request only
queues them, and the consumer sends them, retrying a few times when the SMTP
server is unreachable.

Messages name what happened and link to it; they never carry evidence text,
and emails say even less (no titles), since mailboxes are less private.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage

from flask import Flask, abort, current_app, has_request_context, url_for
from huey.exceptions import CancelExecution
from sqlalchemy import event, func, select, update

from .. import tasks
from ..database import begin_write
from ..extensions import db
from ..models import Notification, User
from ..organisation import service as organisation

log = logging.getLogger(__name__)
PENDING = "pending_mail"


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


def path_for(endpoint: str, **values) -> str:
    """The path of a page, with or without a request (services also run from commands and tests)."""
    if has_request_context():
        return url_for(endpoint, **values)
    return current_app.url_map.bind("localhost").build(endpoint, values)


def notify(user: User, message: str, url: str, *, email_subject: str) -> Notification:
    """Add a notice for ``user`` to the current transaction; email it after the commit."""
    notice = Notification(user_id=user.id, message=message[:300], url=url[:300])
    db.session.add(notice)
    if current_app.config.get("SMTP_HOST"):
        link = current_app.config["PUBLIC_URL"].rstrip("/") + url
        body = f"{email_subject}.\n\nSign in to the evidence portfolio to see it:\n{link}\n"
        email_after_commit(Mail(user.email, email_subject, body))
    return notice


def email_after_commit(mail: Mail) -> None:
    """Queue ``mail`` once the current transaction commits (nothing if it rolls back, or without SMTP)."""
    if current_app.config.get("SMTP_HOST"):
        db.session.info.setdefault(PENDING, []).append(mail)


def send(mail: Mail) -> None:
    """Send one email through the configured SMTP server."""
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = mail.to
    message["Subject"] = mail.subject
    # Signed here, where every email passes: whoever runs the service says so in each of them.
    message.set_content(mail.body.rstrip("\n") + "\n\n" + organisation.email_signature())
    with smtplib.SMTP(config["SMTP_HOST"], config["SMTP_PORT"], timeout=10) as smtp:
        if config["SMTP_STARTTLS"]:
            smtp.starttls()
        if config["SMTP_USERNAME"]:
            smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"] or "")
        smtp.send_message(message)


@tasks.huey.task(retries=3, retry_delay=60)
def deliver(to: str, subject: str, body: str, what: str = "notification") -> None:
    """Send one email (a task: the consumer runs it, or the caller in immediate mode)."""
    with tasks.app_context():
        try:
            send(Mail(to, subject, body))
        except (OSError, smtplib.SMTPException) as error:
            # The in-app notice stands; say what failed, never what it said (nor to whom).
            log.warning("Could not send a %s email: %s", what, type(error).__name__)
            # Tried again later while retries remain; huey logs no detail of it.
            raise CancelExecution() from None


def queue(mail: Mail, what: str = "notification") -> None:
    """Hand ``mail`` to the task queue; a queue that cannot be reached costs the email, not the action."""
    try:
        deliver(mail.to, mail.subject, mail.body, what)
    except Exception as error:  # noqa: BLE001 - Redis, PostgreSQL or SQLite errors alike
        log.warning("Could not queue a %s email: %s", what, type(error).__name__)


def _send_pending(session) -> None:
    for mail in session.info.pop(PENDING, []):
        queue(mail)


def _drop_pending(session) -> None:
    session.info.pop(PENDING, None)


def unread_count(user: User) -> int:
    return (
        db.session.scalar(
            select(func.count(Notification.id)).where(Notification.user_id == user.id, Notification.read_at.is_(None))
        )
        or 0
    )


def for_user(user: User, limit: int = 50) -> list[Notification]:
    """The user's newest notices."""
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.user_id == user.id)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(limit)
        )
    )


def get_notification_or_404(user: User, notification_id: int) -> Notification:
    """:raises 404: for a missing notice or someone else's."""
    notice = db.session.get(Notification, notification_id)
    if notice is None or notice.user_id != user.id:
        abort(404)
    return notice


def mark_read(user: User, notice: Notification | None = None) -> None:
    """Mark one notice, or all of the user's, as read."""
    begin_write()
    query = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if notice is not None:
        query = query.where(Notification.id == notice.id)
    db.session.execute(query.values(read_at=datetime.now(UTC)))
    db.session.commit()


def init_app(app: Flask) -> None:
    from sqlalchemy.orm import Session

    # Registered once per process, however many apps are built (tests build many).
    if not event.contains(Session, "after_commit", _send_pending):
        event.listen(Session, "after_commit", _send_pending)
        event.listen(Session, "after_rollback", _drop_pending)
