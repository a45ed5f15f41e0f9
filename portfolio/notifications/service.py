"""Notify people: a row in the caller's transaction, an email queued once it commits.

Emails go through the task queue (``portfolio/tasks.py``): the request only
queues them, and the consumer sends them, retrying a few times when the SMTP
server is unreachable.

Notices of one kind about one person on one day share a row (a *group*):
"Wendy Worker sent 3 items" is one line, and one unread notice, however many
items she sent. By default a person's notices reach their mailbox once a day,
as one digest (``send_digests``, run by the consumer at ``DIGEST_HOUR`` or by
``flask notifications digest``); people who choose "immediate" on their account
page get each notice by email as it happens.

Messages name what happened and link to it; they never carry evidence text,
and emails say even less (no titles), since mailboxes are less private.
"""

from __future__ import annotations

import functools
import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from flask import Flask, abort, current_app, has_request_context, url_for
from huey.exceptions import CancelExecution
from sqlalchemy import Integer, ScalarSelect, Select, bindparam, event, func, literal, select, update

from .. import paging, remembered, tasks
from ..clock import on_the_clock, today
from ..database import (
    awaits_commit,
    begin_write,
    commit_no_longer_awaited,
    insert_missing,
    lock,
    lock_all,
    lock_first,
    lock_or_404,
)
from ..errors import FieldError
from ..extensions import db
from ..models import EmailFrequency, Notification, User, utcnow
from ..organisation import service as organisation
from ..templating import count_up_to

log = logging.getLogger(__name__)
PENDING = "pending_mail"
_UNREAD = "unread-notifications"  # read by the user loader (remembered.py)


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


@dataclass(frozen=True)
class Group:
    """Notices that share ``key`` (for one person) are one row; how that row reads once it counts several."""

    key: str
    message: Callable[[int], str]
    url: str
    email_subject: Callable[[int], str]


MESSAGE_MAX = 300  # the column's length


def shortened(text: str, limit: int) -> str:
    """``text``, or as many of its words as fit in ``limit`` characters followed by "…": never cut mid-word."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if not text[limit - 1].isspace() and " " in cut:  # the cut fell inside a word: leave that word out
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "…"


def notify(user: User, message: str, url: str, *, email_subject: str, group: Group | None = None) -> Notification:
    """Add a notice for ``user`` to the current transaction (or count it on its group's row).

    Emailed after the commit to people who want each notice at once; the daily digest takes the others.
    """
    now = utcnow()
    _forget_unread_count()
    if group is None:
        notice = Notification(
            user_id=user.id, message=shortened(message, MESSAGE_MAX), url=url[:300], email_subject=email_subject[:300]
        )
        db.session.add(notice)
    else:
        notice = _count_in_group(user, group, now, message, url, email_subject)
    # Not a leaver (the digest leaves them out too): their notices wait in the app, should they come back.
    if user.email_frequency == EmailFrequency.IMMEDIATE and user.active:
        # Each notice on its own, as it happens: this one, not the group's total.
        notice.emailed_at = now
        email_after_commit(_notice_mail(user, email_subject, url))
    return notice


def _count_in_group(user: User, group: Group, now: datetime, message: str, url: str, subject: str) -> Notification:
    """The group's row, made if missing and locked, counting one more notice: unread, at the top, to email anew."""
    insert_missing(
        Notification,
        {"user_id": user.id, "group_key": group.key, "items": 0, "message": "", "url": "", "created_at": now},
        ("user_id", "group_key"),
    )
    # Locked, so that two notices at once count two (the insert above already waited for any other writer's).
    notice = lock_first(
        select(Notification).where(Notification.user_id == user.id, Notification.group_key == group.key)
    )
    # Inserted above; housekeeping removes a notice two days after it was read at the soonest, and this is today's.
    assert notice is not None
    notice.items += 1
    if notice.items > 1:
        message, url, subject = group.message(notice.items), group.url, group.email_subject(notice.items)
    notice.message, notice.url, notice.email_subject = message[:300], url[:300], subject[:300]
    notice.created_at, notice.read_at, notice.emailed_at = now, None, None
    return notice


def _link(url: str) -> str:
    return current_app.config["PUBLIC_URL"].rstrip("/") + url


def _notice_mail(user: User, subject: str, url: str) -> Mail:
    body = f"{subject}.\n\nSign in to the evidence portfolio to see it:\n{_link(url)}\n"
    return Mail(user.email, subject, body)


def email_after_commit(mail: Mail) -> None:
    """Queue ``mail`` once the current transaction commits (nothing if it rolls back, or without SMTP)."""
    if current_app.config.get("SMTP_HOST"):
        db.session.info.setdefault(PENDING, []).append(mail)
        awaits_commit(db.session())


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
    commit_no_longer_awaited(session)
    for mail in session.info.pop(PENDING, []):
        queue(mail)


def _drop_pending(session) -> None:
    commit_no_longer_awaited(session)
    session.info.pop(PENDING, None)


# The header says how many notices are unread up to this many, and "99+" beyond. Every page counts them:
# counted in full, a person who never reads them would make each page cost more as they piled up (1,000 on
# the benchmark's worker took 0.96 ms a page on PostgreSQL; counted no further than 100, 0.53).
UNREAD_SHOWN_UP_TO = 99


def unread_count_of(user_id) -> ScalarSelect:
    """How many notices the user ``user_id`` (a value or a column) has not read, counted no further than
    ``UNREAD_SHOWN_UP_TO + 1``, as a subquery."""
    unread = (
        select(literal(1))
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .limit(UNREAD_SHOWN_UP_TO + 1)
        .correlate_except(Notification)  # ``user_id`` may be a column of the query this goes in
        .subquery()
    )
    return select(func.count()).select_from(unread).scalar_subquery()


def unread_count(user: User) -> int:
    """The count the user loader read with the user (up to ``UNREAD_SHOWN_UP_TO + 1``), unless this request
    changed notices."""
    return remembered.recall(_UNREAD, user.id, lambda: db.session.scalar(select(unread_count_of(user.id))) or 0)


def unread_label(user: User) -> str:
    """How many notices the user has not read, as the header says it: "" for none, "3", or "99+"."""
    count = unread_count(user)
    return count_up_to(count, UNREAD_SHOWN_UP_TO) if count else ""


def remember_unread_count(user: User, count: int) -> None:
    remembered.remember(_UNREAD, user.id, count)


def _forget_unread_count() -> None:
    """A notice was added or read: the count read with the user no longer holds."""
    remembered.forget(_UNREAD)


def notices_page(user: User, number: int) -> paging.Page[Notification]:
    """One page of the user's notices, newest first (a page past the end is the last)."""
    return paging.paginate(_notices_statement(), number, parameters={"user_id": user.id})


@functools.cache
def _notices_statement() -> Select:
    """A person's notices, newest first: read a page at a time from their index (ix_notifications_user_newest).
    Built once per process."""
    return (
        select(Notification)
        .where(Notification.user_id == bindparam("user_id", type_=Integer()))
        .order_by(Notification.created_at.desc(), Notification.id.desc())
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
    _forget_unread_count()
    query = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if notice is not None:
        query = query.where(Notification.id == notice.id)
    db.session.execute(query.values(read_at=utcnow()))
    db.session.commit()


def settled(url: str, user: User | None = None) -> None:
    """The unread notices that lead to ``url`` (the user's, or everyone's) asked for something now done:
    marked read in the caller's transaction, so nobody is left a "New" notice about a matter closed."""
    _forget_unread_count()
    query = update(Notification).where(Notification.url == url, Notification.read_at.is_(None))
    if user is not None:
        query = query.where(Notification.user_id == user.id)
    db.session.execute(query.values(read_at=utcnow()))


# --- Email frequency and the daily digest -------------------------------------------------------

FREQUENCY_FIELD = "email_frequency"


def set_email_frequency(user: User, choice: str) -> User:
    """Choose a daily digest or each notice at once.

    :raises FieldError: on ``email_frequency`` for anything but the two choices.
    """
    try:
        frequency = EmailFrequency(choice)
    except ValueError:
        raise FieldError(FREQUENCY_FIELD, "Choose how often you get emails about your notifications") from None
    begin_write()
    locked = lock_or_404(User, user.id)
    locked.email_frequency = frequency
    db.session.commit()
    return locked


def _undelivered():
    return Notification.emailed_at.is_(None)


def people_due_a_digest() -> list[int]:
    """Ids of the active people with unread notices not yet emailed and no digest today (one query)."""
    return list(
        db.session.scalars(
            select(Notification.user_id)
            .join(User, User.id == Notification.user_id)
            .where(
                _undelivered(),
                Notification.read_at.is_(None),
                User.active.is_(True),
                (User.digest_sent_on.is_(None)) | (User.digest_sent_on != today()),
            )
            .group_by(Notification.user_id)
            .order_by(Notification.user_id)
        )
    )


def send_digest(user_id: int) -> int:
    """Email the person ONE message listing their unread notices not emailed yet; how many it listed.

    The notices are claimed (marked emailed) in the transaction that queues the email, under a lock on the
    person and on the notices, so two runs at once never send the same notices twice; a person gets one
    digest a day at most. Notices read in the app before the digest are claimed but not listed.
    """
    begin_write()
    user = lock(User, user_id)
    day = today()
    if user is None or not user.active or user.digest_sent_on == day:
        db.session.rollback()
        return 0
    claimed = lock_all(
        select(Notification)
        .where(Notification.user_id == user.id, _undelivered())
        .order_by(Notification.created_at, Notification.id)
    )
    now = utcnow()
    for notice in claimed:
        notice.emailed_at = now
    unread = [n for n in claimed if n.read_at is None]
    if unread:
        user.digest_sent_on = day
        email_after_commit(_digest_mail(user, unread))
    db.session.commit()
    return len(unread)


def _digest_mail(user: User, notices: list[Notification]) -> Mail:
    """What a digest says: each notice's email subject and link, as its own email would (never a title)."""
    count = len(notices)
    subject = f"{count} new notification{'s' if count != 1 else ''} in your evidence portfolio"
    lines = [f"- {n.email_subject}\n  {_link(n.url)}" for n in notices]
    body = (
        f"You have {subject}:\n\n"
        + "\n\n".join(lines)
        + f"\n\nSign in to see all your notifications:\n{_link(path_for('notifications.index'))}\n\n"
        "You get one email like this a day at most. To have each notification emailed as it happens, "
        f"change it on your account page:\n{_link(path_for('account.index'))}\n"
    )
    return Mail(user.email, subject, body)


def send_digests() -> int:
    """Send every person due one their digest; how many were sent (nothing without SMTP)."""
    if not current_app.config.get("SMTP_HOST"):
        return 0
    return sum(1 for user_id in people_due_a_digest() if send_digest(user_id))


def _digest_hour_now(moment: datetime) -> bool:
    """For the consumer's scheduler (once a minute; huey gives UTC): the first minute of DIGEST_HOUR.

    The hour is on the service's clock, the one ``today()`` reads: "one digest a day" is ``digest_sent_on``
    against ``today()``, so an hour read in UTC on a server in another zone could fall on the same local day
    twice when the clocks change (and the second digest would never be sent), or at an hour nobody meant.
    """
    with tasks.app_context():
        hour = current_app.config["DIGEST_HOUR"]
    local = on_the_clock(moment)
    return local.hour == hour and local.minute == 0


@tasks.huey.periodic_task(_digest_hour_now)
def daily_digest() -> None:
    """Send the day's digests (the consumer runs it at DIGEST_HOUR; cron can run the CLI command instead)."""
    with tasks.app_context():
        sent = send_digests()
    log.info("Sent %d digest emails", sent)


def init_app(app: Flask) -> None:
    from sqlalchemy.orm import Session

    # Registered once per process, however many apps are built (tests build many).
    if not event.contains(Session, "after_commit", _send_pending):
        event.listen(Session, "after_commit", _send_pending)
        event.listen(Session, "after_rollback", _drop_pending)
