"""What the service keeps only for a while, in one place, and removing it once it is past: every night in the
task consumer, or ``flask housekeeping`` (from cron, or to see what it removes).

- Sign-in, second-step and forgotten-password attempts each hold an email address or a person, and an IP
  address. They exist to throttle guessing within ``SIGN_IN_WINDOW``; they are kept ``ATTEMPTS_KEPT`` (30 days
  unless set: long enough to look into an attack), never less than the window, then removed.
- A notice already read goes once it is ``READ_NOTICES_KEPT`` old (a year unless set); an unread one stays until
  it is read. Notices say only that something happened and link to it: the evidence, decisions and the audit
  ledger are the record.

Each kind is removed by one ``DELETE`` on its time, in the one transaction: rows written meanwhile are newer
than the cutoff, so nothing in use is touched and a second run at once removes nothing more.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import click
from flask import current_app
from flask.cli import with_appcontext
from huey import crontab
from sqlalchemy import CursorResult, Delete, delete

from . import tasks
from .extensions import db
from .models import MfaAttempt, Notification, PasswordResetRequest, SignInAttempt, utcnow

log = logging.getLogger(__name__)

THROTTLE_RECORDS = (SignInAttempt, MfaAttempt, PasswordResetRequest)


@dataclass(frozen=True)
class Removed:
    attempts: int
    notices: int


def remove_what_is_past(now: datetime | None = None) -> Removed:
    """Remove attempts and read notices past their time (one transaction); how many of each."""
    now = now or utcnow()
    config = current_app.config
    attempts_before = now - max(config["ATTEMPTS_KEPT"], config["SIGN_IN_WINDOW"])
    attempts = sum(_deleted(delete(record).where(record.at < attempts_before)) for record in THROTTLE_RECORDS)
    notices = _deleted(
        delete(Notification).where(
            Notification.read_at.is_not(None), Notification.created_at < now - config["READ_NOTICES_KEPT"]
        )
    )
    db.session.commit()
    return Removed(attempts, notices)


def _deleted(statement: Delete) -> int:
    # A DELETE's result is a CursorResult (it has rowcount); Session.execute is typed for any statement.
    return cast("CursorResult[Any]", db.session.execute(statement)).rowcount


@tasks.huey.periodic_task(crontab(hour="2", minute="40"))
def nightly_housekeeping() -> None:
    """Every night (02:40 UTC), in the consumer."""
    with tasks.app_context():
        removed = remove_what_is_past()
    log.info("Removed %d throttling records and %d read notices", removed.attempts, removed.notices)


@click.command("housekeeping")
@with_appcontext
def housekeeping_command() -> None:
    """Remove old sign-in attempts and old read notifications now (the task consumer does it every night)."""
    removed = remove_what_is_past()
    click.echo(
        f"Removed {removed.attempts} sign-in, second-step and password-reset attempt"
        f"{'s' if removed.attempts != 1 else ''} and {removed.notices} read notification"
        f"{'s' if removed.notices != 1 else ''}."
    )
