"""Housekeeping: throttling records and read notices removed once past their time, by the consumer every night
or by ``flask housekeeping``; nothing in use is touched."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from portfolio import housekeeping, tasks
from portfolio.auth import service as auth_service
from portfolio.config import ConfigError, build_config
from portfolio.extensions import db
from portfolio.models import MfaAttempt, Notification, PasswordResetRequest, SignInAttempt, utcnow
from tests.pages import text_of, words

ADDRESS = "192.0.2.7"


def attempts_at(worker, age: timedelta, *, succeeded: bool = False) -> None:
    """One sign-in, one second-step and one forgotten-password attempt, ``age`` ago."""
    at = utcnow() - age
    db.session.add_all(
        [
            SignInAttempt(email=worker.email, address=ADDRESS, succeeded=succeeded, at=at),
            MfaAttempt(user_id=worker.id, address=ADDRESS, succeeded=succeeded, at=at),
            PasswordResetRequest(email=worker.email, address=ADDRESS, at=at),
        ]
    )
    db.session.commit()


def notice(user, message: str, age: timedelta, *, read: bool) -> None:
    at = utcnow() - age
    db.session.add(Notification(user_id=user.id, message=message, url="/", created_at=at, read_at=at if read else None))
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

    assert removed == housekeeping.Removed(attempts=3, notices=0)
    assert (left(SignInAttempt), left(MfaAttempt), left(PasswordResetRequest)) == (6, 6, 6)
    oldest = utcnow() - timedelta(days=30)
    for model in housekeeping.THROTTLE_RECORDS:
        assert db.session.scalar(select(func.count()).where(model.at < oldest)) == 0
    refusal = auth_service.throttled(worker.email, ADDRESS)
    assert refusal is not None and "Too many failed attempts" in refusal.message


def test_attempts_are_never_removed_within_the_throttles_window(app, worker):
    """Kept for fewer days than the window lasts, the window wins: a pause is never cut short."""
    app.config["ATTEMPTS_KEPT"] = timedelta(days=1)
    app.config["SIGN_IN_WINDOW"] = timedelta(days=3)
    attempts_at(worker, timedelta(days=2))
    attempts_at(worker, timedelta(days=4))

    assert housekeeping.remove_what_is_past().attempts == 3
    assert (left(SignInAttempt), left(MfaAttempt), left(PasswordResetRequest)) == (1, 1, 1)


def test_read_notices_go_after_a_year_and_unread_ones_stay(app, client, auth, worker):
    notice(worker, "Read long ago", timedelta(days=400), read=True)
    notice(worker, "Never read", timedelta(days=400), read=False)
    notice(worker, "Read this spring", timedelta(days=200), read=True)

    assert housekeeping.remove_what_is_past() == housekeeping.Removed(attempts=0, notices=1)

    assert messages() == {"Never read", "Read this spring"}
    auth.login_as(worker)
    page = text_of(client.get("/notifications/"))
    assert "Never read" in page and "Read this spring" in page and "Read long ago" not in page
    assert "Notifications you have read are removed a year after they were sent. Unread ones stay" in words(page)
    app.config["READ_NOTICES_KEPT"] = timedelta(days=90)
    assert "you have read are removed 90 days after they were sent" in words(text_of(client.get("/notifications/")))


def test_a_second_run_removes_nothing_more(app, worker):
    attempts_at(worker, timedelta(days=40))
    notice(worker, "Read long ago", timedelta(days=400), read=True)
    assert housekeeping.remove_what_is_past() == housekeeping.Removed(attempts=3, notices=1)
    assert housekeeping.remove_what_is_past() == housekeeping.Removed(attempts=0, notices=0)


def test_the_command_says_what_it_removed(app, runner, worker):
    attempts_at(worker, timedelta(days=40))
    notice(worker, "Read long ago", timedelta(days=400), read=True)
    notice(worker, "Read yesterday", timedelta(days=1), read=True)

    result = runner.invoke(args=["housekeeping"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "Removed 3 sign-in, second-step and password-reset attempts and 1 read notification."
    )
    assert left(SignInAttempt) == 0 and messages() == {"Read yesterday"}


def test_the_consumer_runs_it_every_night(app, worker):
    nightly = housekeeping.nightly_housekeeping.task_class

    def due(moment: datetime) -> bool:  # naive UTC, as huey passes it
        return any(isinstance(task, nightly) for task in tasks.huey.read_periodic(moment))

    assert due(datetime(2026, 12, 4, 2, 40))
    assert not due(datetime(2026, 12, 4, 2, 41)) and not due(datetime(2026, 12, 4, 14, 40))
    notice(worker, "Read long ago", timedelta(days=400), read=True)
    housekeeping.nightly_housekeeping.call_local()
    assert messages() == set()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "PORTFOLIO_ATTEMPTS_KEPT_DAYS",
            "0",
            "PORTFOLIO_ATTEMPTS_KEPT_DAYS must be a number of days, 1 or more, not 0",
        ),
        ("PORTFOLIO_READ_NOTICES_KEPT_DAYS", "-5", "PORTFOLIO_READ_NOTICES_KEPT_DAYS must be a number of days"),
        ("PORTFOLIO_READ_NOTICES_KEPT_DAYS", "a year", "must be a whole number, not 'a year'"),
    ],
)
def test_how_long_things_are_kept_must_be_days(monkeypatch, tmp_path, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=message):
        build_config(str(tmp_path), {"PORTFOLIO_ENV": "testing"})
    monkeypatch.setenv(variable, "90")
    assert build_config(str(tmp_path), {"PORTFOLIO_ENV": "testing"})[
        "ATTEMPTS_KEPT" if "ATTEMPTS" in variable else "READ_NOTICES_KEPT"
    ] == timedelta(days=90)
