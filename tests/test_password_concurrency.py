"""Sign-in and password resets under load, through a real threaded WSGI server.

Sixty people signing in at the same moment all get in (on SQLite the write
lock used to be held through argon2, and some failed with "database is
locked"); parallel wrong guesses get no more tries than the throttle allows;
two tabs submitting one reset link at once: exactly one sets the password.
Runs on SQLite, or PostgreSQL when PORTFOLIO_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from portfolio.auth import passwords
from portfolio.extensions import db
from portfolio.models import AuditEntry, PasswordReset, SignInAttempt, User

from . import factories, racing
from .conftest import csrf_token
from .factories import NEW_PASSWORD, OTHER_NEW_PASSWORD, a_link_for
from .pages import TOO_MANY, UNUSABLE
from .racing import HttpClient, PendingPost, race

# argon2id is slow on purpose, and this machine may be busy: generous bounds.
LOAD_TIMEOUT = 240.0
PEOPLE = 20
SESSIONS_EACH = 3


@pytest.fixture(autouse=True)
def patient(monkeypatch):
    """The shared race helpers wait as long as sixty argon2 checks on a busy machine can take."""
    monkeypatch.setattr(racing, "TIMEOUT", LOAD_TIMEOUT)


def sign_in_posts(port: int, logins: list[tuple[str, str]]) -> tuple[list[HttpClient], list[PendingPost]]:
    """One client per (email, password), each with the sign-in form's token, its POST sent but for the last byte."""
    clients, pending = [], []
    try:
        for number, (email, password) in enumerate(logins):
            client = HttpClient(port, f"client-{number}")
            page = client.get("/auth/sign-in")
            assert page.status == 200, page.describe()
            data = {"csrf_token": csrf_token(page.text), "email": email, "password": password}
            clients.append(client)
            pending.append(client.start_post("/auth/sign-in", data))
    except BaseException:
        for item in pending:
            item.close()
        raise
    return clients, pending


def test_sixty_simultaneous_sign_ins_all_succeed(app, server):
    people = [factories.make_user(email=f"load{n}@example.org") for n in range(PEOPLE)]
    # A few still have a hash from older, cheaper parameters: their sign-ins rehash at the same time.
    outdated = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(factories.PASSWORD)
    for person in people[:4]:
        person.password_hash = outdated
    db.session.commit()
    logins = [(people[n % PEOPLE].email, factories.PASSWORD) for n in range(PEOPLE * SESSIONS_EACH)]

    clients, pending = sign_in_posts(server, logins)
    answers = race(pending)

    described = [f"{c.name}: {a.describe()}" for c, a in zip(clients, answers, strict=True) if a.status != 303]
    assert described == [], f"{len(described)} of {len(answers)} sign-ins failed"
    assert all(a.headers["location"].endswith("/") for a in answers)
    for client in clients:
        home = client.get("/")
        assert home.status == 200 and "Hello, " in home.text, home.describe()
    db.session.commit()  # a new snapshot: see what the server wrote
    attempts = db.session.scalars(select(SignInAttempt)).all()
    assert len(attempts) == len(logins) and all(a.succeeded for a in attempts)
    for person in db.session.scalars(select(User)).all():
        assert person.last_signed_in_at is not None
        assert not passwords.needs_rehash(person.password_hash)
        assert passwords.verify_password(person.password_hash, factories.PASSWORD)


def test_parallel_wrong_guesses_get_no_more_tries_than_the_throttle_allows(app, server):
    factories.make_user(email="target@example.org")
    limit = app.config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"]
    guesses = [("target@example.org", f"wrong guess number {n}") for n in range(limit * 2)]

    _, pending = sign_in_posts(server, guesses)
    answers = race(pending)

    assert all(a.status == 422 for a in answers), [a.describe() for a in answers if a.status != 422]
    assert sum(TOO_MANY in a.text for a in answers) == limit
    db.session.commit()  # a new snapshot: see what the server wrote
    assert db.session.scalar(select(func.count(SignInAttempt.id)).where(SignInAttempt.succeeded.is_(False))) == limit
    # The right password from the same address now waits too.
    _, [right] = sign_in_posts(server, [("target@example.org", factories.PASSWORD)])
    answer = right.finish()
    assert answer.status == 422 and TOO_MANY in answer.text


def test_two_tabs_submitting_one_reset_link_at_once_exactly_one_sets_the_password(app, server):
    maya = factories.make_user(email="maya@example.org", name="Maya Manager")
    for round_number in range(3):
        path = f"/account/reset-password/{a_link_for(maya)}"
        tabs = [HttpClient(server, "first"), HttpClient(server, "second")]
        pending = []
        for tab, password in zip(tabs, (NEW_PASSWORD, OTHER_NEW_PASSWORD), strict=True):
            page = tab.get(path)
            assert page.status == 200, page.describe()
            data = {"csrf_token": csrf_token(page.text), "password": password, "confirm_password": password}
            pending.append(tab.start_post(path, data))

        first, second = race(pending)

        described = f"round {round_number}: {first.describe()} / {second.describe()}"
        assert sorted((first.status, second.status)) == [303, 410], described
        winner, loser = (first, second) if first.status == 303 else (second, first)
        assert winner.headers["location"].endswith("/auth/sign-in"), described
        assert UNUSABLE in loser.text, described
        db.session.commit()  # a new snapshot: see what the server wrote
        won_with = NEW_PASSWORD if winner is first else OTHER_NEW_PASSWORD
        lost_with = OTHER_NEW_PASSWORD if won_with == NEW_PASSWORD else NEW_PASSWORD
        hash_now = db.session.get(User, maya.id).password_hash
        assert passwords.verify_password(hash_now, won_with) and not passwords.verify_password(hash_now, lost_with)
        used = db.session.scalars(select(PasswordReset).where(PasswordReset.used_at.is_not(None))).all()
        assert len(used) == round_number + 1
    assert db.session.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.action == "password.reset")) == 3


def test_a_password_changed_while_a_sign_in_checks_it_is_checked_again(app, monkeypatch):
    """The hash is checked outside the write transaction: a change landing meanwhile must not let the old password in."""
    from portfolio.auth import service as auth_service

    person = factories.make_user(email="maya@example.org")
    new_hash = passwords.hash_password(NEW_PASSWORD)
    real_verify = passwords.verify_password
    checked: list[str] = []

    def verify_while_the_password_changes(password_hash, password):
        ok = real_verify(password_hash, password)
        if not checked:  # another request changes the password during the first check
            with db.engine.begin() as connection:
                connection.execute(User.__table__.update().where(User.id == person.id).values(password_hash=new_hash))
        checked.append(password_hash)
        return ok

    monkeypatch.setattr(passwords, "verify_password", verify_while_the_password_changes)
    try:
        auth_service.sign_in("maya@example.org", factories.PASSWORD, "127.0.0.1")
    except auth_service.AuthError as error:
        assert error.message == auth_service.WRONG_DETAILS
    else:
        raise AssertionError("the old password signed in after it was changed")

    assert checked == [factories.PASSWORD_HASH, new_hash]  # checked again against the new hash
    db.session.commit()
    [attempt] = db.session.scalars(select(SignInAttempt)).all()
    assert attempt.succeeded is False
    assert db.session.get(User, person.id).password_hash == new_hash
