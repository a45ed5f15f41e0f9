"""Housekeeping: attempts and read notifications removed once past their time, by the consumer every night or by
``flask housekeeping``; nothing in use is touched."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portfolio import housekeeping, tasks
from portfolio.auth import service as auth_service
from portfolio.config import ConfigError, build_config
from portfolio.extensions import db
from portfolio.models import MfaAttempt, Notification, PasswordResetRequest, SignInAttempt, utcnow
from tests.pages import text_of, words

ATTACKER_ADDRESS = "192.0.2.7"


def attempts_at(worker, age: timedelta) -> None:
    """One failed sign-in, one failed second step and one forgotten-password request, ``age`` ago (on the
    throttles' clock, as auth/service.py writes them)."""
    at = datetime.now(UTC) - age
    db.session.add_all(
        [
            SignInAttempt(email=worker.email, address=ATTACKER_ADDRESS, succeeded=False, at=at),
            MfaAttempt(user_id=worker.id, address=ATTACKER_ADDRESS, succeeded=False, at=at),
            PasswordResetRequest(email=worker.email, address=ATTACKER_ADDRESS, at=at),
        ]
    )
    db.session.commit()


def notification(user, message: str, *, sent: timedelta, read: timedelta | None) -> None:
    """Sent ``sent`` ago and read ``read`` ago (None: unread)."""
    now = utcnow()
    db.session.add(
        Notification(
            user_id=user.id,
            message=message,
            url="/",
            created_at=now - sent,
            read_at=None if read is None else now - read,
        )
    )
    db.session.commit()


def left(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def messages() -> set[str]:
    return set(db.session.scalars(select(Notification.message)))


def test_attempts_past_their_time_go_and_recent_ones_still_throttle(app, worker):
    attempts_at(worker, timedelta(days=31))
    attempts_at(worker, timedelta(days=29))
    for _ in range(app.config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"]):
        attempts_at(worker, timedelta(minutes=1))

    removed = housekeeping.remove_what_is_past()

    assert removed == housekeeping.Removed(attempts=3, read_notifications=0)
    assert (left(SignInAttempt), left(MfaAttempt), left(PasswordResetRequest)) == (6, 6, 6)
    oldest_kept = datetime.now(UTC) - timedelta(days=30)
    for attempt in housekeeping.ATTEMPTS:
        assert db.session.scalar(select(func.count()).where(attempt.at < oldest_kept)) == 0
    refusal = auth_service.throttled(worker.email, ATTACKER_ADDRESS)
    assert refusal is not None and "Too many failed attempts" in refusal.message


def test_attempts_are_never_removed_within_the_throttles_window(app, worker):
    """Kept for fewer days than the window lasts, the window wins: a pause is never cut short."""
    app.config["ATTEMPTS_KEPT"] = timedelta(days=1)
    app.config["SIGN_IN_WINDOW"] = timedelta(days=3)
    attempts_at(worker, timedelta(days=2))
    attempts_at(worker, timedelta(days=4))

    assert housekeeping.remove_what_is_past().attempts == 3
    assert (left(SignInAttempt), left(MfaAttempt), left(PasswordResetRequest)) == (1, 1, 1)


def test_notifications_go_a_year_after_they_were_read_and_unread_ones_stay(app, client, auth, worker):
    notification(worker, "Read long ago", sent=timedelta(days=500), read=timedelta(days=400))
    notification(worker, "Never read", sent=timedelta(days=500), read=None)
    notification(worker, "Sent long ago, read this spring", sent=timedelta(days=500), read=timedelta(days=200))

    assert housekeeping.remove_what_is_past() == housekeeping.Removed(attempts=0, read_notifications=1)

    assert messages() == {"Never read", "Sent long ago, read this spring"}
    auth.login_as(worker)
    page = words(text_of(client.get("/notifications/")))
    assert "Never read" in page and "read this spring" in page and "Read long ago" not in page
    assert "Notifications are removed 365 days after you read them. Unread ones stay." in page
    app.config["READ_NOTICES_KEPT"] = timedelta(days=2)
    assert "are removed 2 days after you read them" in words(text_of(client.get("/notifications/")))


def test_a_second_run_removes_nothing_more(app, worker):
    attempts_at(worker, timedelta(days=40))
    notification(worker, "Read long ago", sent=timedelta(days=400), read=timedelta(days=400))
    assert housekeeping.remove_what_is_past() == housekeeping.Removed(attempts=3, read_notifications=1)
    assert housekeeping.remove_what_is_past() == housekeeping.Removed(attempts=0, read_notifications=0)


def test_the_command_says_what_it_removed(app, runner, worker):
    def run() -> str:
        result = runner.invoke(args=["housekeeping"])
        assert result.exit_code == 0, result.output
        return result.output.strip()

    assert run() == "Removed 0 sign-in, second-step and password-reset attempts and 0 read notifications."
    notification(worker, "Read long ago", sent=timedelta(days=400), read=timedelta(days=400))
    notification(worker, "Read yesterday", sent=timedelta(days=1), read=timedelta(days=1))
    db.session.add(
        SignInAttempt(email=worker.email, address=ATTACKER_ADDRESS, succeeded=True, at=datetime(2020, 1, 1, tzinfo=UTC))
    )
    db.session.commit()

    assert run() == "Removed 1 sign-in, second-step and password-reset attempt and 1 read notification."
    assert left(SignInAttempt) == 0 and messages() == {"Read yesterday"}


def test_the_consumer_runs_it_every_night(app, worker):
    nightly = housekeeping.nightly_housekeeping.task_class

    def due(moment: datetime) -> bool:  # naive UTC, as huey passes it
        return any(isinstance(task, nightly) for task in tasks.huey.read_periodic(moment))

    assert due(datetime(2026, 12, 4, 2, 40))
    assert not due(datetime(2026, 12, 4, 2, 41)) and not due(datetime(2026, 12, 4, 14, 40))
    notification(worker, "Read long ago", sent=timedelta(days=400), read=timedelta(days=400))
    housekeeping.nightly_housekeeping.call_local()
    assert messages() == set()


def test_the_consumer_process_has_the_nightly_task(app):
    """Registered by building the app, as the consumer's entry point (portfolio/worker.py) does: not only because
    this test module imports it."""
    program = (
        "from datetime import datetime; from portfolio import worker; "
        "print(sorted(type(t).__name__ for t in worker.huey.read_periodic(datetime(2026, 12, 4, 2, 40))))"
    )
    settings = dict(os.environ, PORTFOLIO_ENV="testing", PORTFOLIO_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"])
    answer = subprocess.run([sys.executable, "-c", program], env=settings, capture_output=True, text=True, timeout=120)
    assert answer.returncode == 0, answer.stderr[-2000:]
    assert answer.stdout.strip() == "['nightly_housekeeping']"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "PORTFOLIO_ATTEMPTS_KEPT_DAYS",
            "0",
            "PORTFOLIO_ATTEMPTS_KEPT_DAYS must be a number of days from 1 to 36,500, not 0",
        ),
        (
            "PORTFOLIO_READ_NOTICES_KEPT_DAYS",
            "1",
            "PORTFOLIO_READ_NOTICES_KEPT_DAYS must be a number of days from 2 to",
        ),
        ("PORTFOLIO_READ_NOTICES_KEPT_DAYS", "1000000", "from 2 to 36,500, not 1000000"),
        ("PORTFOLIO_READ_NOTICES_KEPT_DAYS", "a year", "must be a whole number, not 'a year'"),
    ],
)
def test_how_long_things_are_kept_must_be_days(monkeypatch, tmp_path, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=message):
        build_config(str(tmp_path), {"PORTFOLIO_ENV": "testing"})
    monkeypatch.setenv(variable, "90")
    setting = "ATTEMPTS_KEPT" if "ATTEMPTS" in variable else "READ_NOTICES_KEPT"
    assert build_config(str(tmp_path), {"PORTFOLIO_ENV": "testing"})[setting] == timedelta(days=90)
