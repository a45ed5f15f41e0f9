"""What the service keeps only for a while, in one place, and removing it once it is past: every night in the
task consumer, or ``flask housekeeping`` (from cron, or to see what it removes).

- Attempts: each sign-in, second-step and forgotten-password attempt holds an email address or a person, and an
  IP address. They exist to throttle guessing within ``SIGN_IN_WINDOW``; they are kept ``ATTEMPTS_KEPT`` (30
  days unless set, to look back at an attack), never less than the window, then removed. A person's data
  export lists those still kept.
- Read notifications go ``READ_NOTICES_KEPT`` after they were read (a year unless set); unread ones stay. A
  notification only says that something happened and links to it: the evidence, the decisions and the audit
  ledger are the record.

Each kind is removed by one ``DELETE`` on its time, in one write transaction: rows written meanwhile are newer
than the cutoff, so nothing in use is touched, and a second run at once removes nothing more.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import with_appcontext
from huey import crontab
from sqlalchemy import delete

from . import tasks
from .database import begin_write, rows_changed
from .extensions import db
from .models import MfaAttempt, Notification, PasswordResetRequest, SignInAttempt, utcnow
from .templating import plural

log = logging.getLogger(__name__)

ATTEMPTS = (SignInAttempt, MfaAttempt, PasswordResetRequest)


@dataclass(frozen=True)
class Removed:
    attempts: int
    read_notifications: int

    def __str__(self) -> str:
        return (
            f"Removed {plural(self.attempts, 'sign-in, second-step and password-reset attempt')}"
            f" and {plural(self.read_notifications, 'read notification')}."
        )


def remove_what_is_past() -> Removed:
    """Remove the attempts and read notifications past their time (one transaction); how many of each."""
    config = current_app.config
    # The throttles' own clock (auth/service.py writes and counts attempts by it), so nothing inside their window
    # can go; notifications are read on the service's clock (models.utcnow), as they are written.
    attempts_before = datetime.now(UTC) - max(config["ATTEMPTS_KEPT"], config["SIGN_IN_WINDOW"])
    read_before = utcnow() - config["READ_NOTICES_KEPT"]
    begin_write()
    attempts = sum(rows_changed(delete(attempt).where(attempt.at < attempts_before)) for attempt in ATTEMPTS)
    read = rows_changed(delete(Notification).where(Notification.read_at < read_before))  # never an unread one (NULL)
    db.session.commit()
    return Removed(attempts, read)


# Retried: on PostgreSQL a digest locking the same person's notifications could make the DELETE the one a
# deadlock is broken by (and the next night is a day away).
@tasks.huey.periodic_task(crontab(hour="2", minute="40"), retries=2, retry_delay=300)
def nightly_housekeeping() -> None:
    """Every night (02:40 UTC), in the consumer."""
    with tasks.app_context():
        removed = remove_what_is_past()
    log.info("%s", removed)


@click.command("housekeeping")
@with_appcontext
def housekeeping_command() -> None:
    """Remove old sign-in attempts and old read notifications now (the task consumer does it every night)."""
    click.echo(str(remove_what_is_past()))
