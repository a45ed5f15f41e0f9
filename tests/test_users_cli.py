"""``flask users create``: accounts for a real deployment, password asked for, never on the command line."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from portfolio.auth import cli
from portfolio.extensions import db
from portfolio.models import Role, User
from tests.factories import PASSWORD

from . import factories
from .factories import make_user


def create(runner, *args: str, password: str = PASSWORD):
    """Piped, as a deployment script would: the password is the first line of stdin."""
    return runner.invoke(args=["users", "create", *args], input=f"{password}\n")


@pytest.fixture
def terminal(monkeypatch):
    """stdin is a terminal: the password is read with getpass (no echo), twice. Returns what was asked."""
    asked: list[str] = []
    answers: list[str] = []

    def fake_getpass(prompt: str = "Password: ") -> str:
        asked.append(prompt)
        return answers.pop(0)

    monkeypatch.setattr(cli, "stdin_is_terminal", lambda: True)
    monkeypatch.setattr(cli.getpass, "getpass", fake_getpass)
    return asked, answers


def users() -> list[User]:
    db.session.expire_all()
    return list(db.session.scalars(select(User).order_by(User.id)))


def user_count() -> int:
    return db.session.scalar(select(func.count(User.id)))


def test_creates_a_manager_with_a_hashed_password(runner, app):
    result = create(runner, "--email", "  Maya@Example.ORG ", "--name", "Maya Manager", "--role", "manager")

    assert result.exit_code == 0, result.output
    assert "Created maya@example.org (manager)." in result.output
    assert PASSWORD not in result.output  # the prompt hides what is typed
    [user] = users()
    assert user.email == "maya@example.org"
    assert user.name == "Maya Manager"
    assert user.roles == {Role.MANAGER}
    assert user.active is True
    assert user.framework_id is None and user.tier_id is None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert PasswordHasher().verify(user.password_hash, PASSWORD)


def test_creates_a_worker_and_supervisor_on_a_tier(runner, frameworks):
    result = create(
        runner,
        "--email", "sam@example.org",
        "--name", "Sam Supervisor",
        "--role", "worker",
        "--role", "supervisor",
        "--framework", "link-worker",
        "--tier", "link-worker",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "Created sam@example.org (supervisor, worker)." in result.output
    [user] = users()
    assert user.roles == {Role.WORKER, Role.SUPERVISOR}
    tier = factories.tier("link-worker", "link-worker")
    assert user.tier_id == tier.id
    assert user.framework_id == frameworks["link-worker"].id
    assert user.password_hash.startswith("$argon2id$")


def test_the_new_account_can_sign_in(runner, client, auth, app):
    create(runner, "--email", "maya@example.org", "--name", "Maya Manager", "--role", "manager")

    response = auth.sign_in("maya@example.org", PASSWORD)

    assert response.status_code == 303
    assert "Hello, Maya Manager" in client.get("/").text


def test_on_a_terminal_the_password_is_asked_for_twice_without_echo(runner, app, terminal):
    asked, answers = terminal
    answers.extend([PASSWORD, PASSWORD])
    result = runner.invoke(
        args=["users", "create", "--email", "maya@example.org", "--name", "Maya", "--role", "manager"]
    )

    assert result.exit_code == 0, result.output
    assert asked == ["Password: ", "Repeat for confirmation: "]
    assert PASSWORD not in result.output
    assert PasswordHasher().verify(users()[0].password_hash, PASSWORD)


def test_piped_the_first_line_is_the_password_without_a_getpass_warning(runner, app):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a GetPassWarning would fail here
        result = runner.invoke(
            args=["users", "create", "--email", "maya@example.org", "--name", "Maya", "--role", "manager"],
            input=f"{PASSWORD}\nnot read\n",
        )

    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output and "Password:" not in result.output
    assert PasswordHasher().verify(users()[0].password_hash, PASSWORD)


def test_refused_once_an_active_manager_exists(runner, app):
    make_user(Role.MANAGER, email="first@example.org")

    result = create(runner, "--email", "maya@example.org", "--name", "Maya", "--role", "manager")

    assert result.exit_code == 1
    assert "An active manager already exists: invite people on the People page instead" in result.output
    assert [u.email for u in users()] == ["first@example.org"]


def test_force_creates_one_anyway_and_a_deactivated_manager_does_not_count(runner, app):
    make_user(Role.MANAGER, email="gone@example.org", active=False)
    assert create(runner, "--email", "maya@example.org", "--name", "Maya", "--role", "manager").exit_code == 0

    result = create(runner, "--email", "mo@example.org", "--name", "Mo", "--role", "manager", "--force")

    assert result.exit_code == 0, result.output
    assert [u.email for u in users()] == ["gone@example.org", "maya@example.org", "mo@example.org"]


def test_there_is_no_password_option(runner, app):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "maya@example.org",
            "--name",
            "Maya",
            "--role",
            "manager",
            "--password",
            PASSWORD,
        ],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )

    assert result.exit_code == 2
    assert "No such option" in result.output and "--password" in result.output
    assert user_count() == 0


def test_mismatched_confirmation_writes_nothing(runner, app, terminal):
    terminal[1].extend([PASSWORD, "something else entirely"])
    result = runner.invoke(
        args=["users", "create", "--email", "maya@example.org", "--name", "Maya", "--role", "manager"]
    )

    assert result.exit_code != 0
    assert "do not match" in result.output
    assert user_count() == 0


def test_a_short_password_is_refused(runner, app):
    result = create(runner, "--email", "maya@example.org", "--name", "Maya", "--role", "manager", password="short")

    assert result.exit_code == 1
    assert "password: Password must be 12 characters or more" in result.output
    assert user_count() == 0


def test_a_duplicate_email_is_refused(runner, app):
    make_user(Role.WORKER, email="maya@example.org", name="First Maya")

    result = create(runner, "--email", "MAYA@example.org", "--name", "Second Maya", "--role", "manager")

    assert result.exit_code == 1
    assert "email: An account with this email address already exists" in result.output
    [user] = users()
    assert user.name == "First Maya"
    assert user.password_hash == factories.PASSWORD_HASH


@pytest.mark.parametrize(
    "placement",
    [[], ["--tier", "link-worker"]],
    ids=["no framework or tier", "tier without framework"],
)
def test_a_worker_without_framework_and_tier_is_refused(runner, frameworks, placement):
    result = create(runner, "--email", "wendy@example.org", "--name", "Wendy", "--role", "worker", *placement)

    assert result.exit_code == 1
    assert "tier: Choose the framework and tier this worker follows" in result.output
    assert user_count() == 0


@pytest.mark.parametrize(
    "placement",
    [
        ["--framework", "link-worker"],
        ["--framework", "link-worker", "--tier", "no-such-tier"],
        ["--framework", "no-such-framework", "--tier", "link-worker"],
    ],
    ids=["framework without tier", "unknown tier", "unknown framework"],
)
def test_an_unknown_tier_is_refused(runner, frameworks, placement):
    result = create(runner, "--email", "wendy@example.org", "--name", "Wendy", "--role", "worker", *placement)

    assert result.exit_code == 2
    assert "Invalid value for" in result.output and "--tier" in result.output
    assert "no tier" in result.output
    assert user_count() == 0


def test_a_tier_of_another_framework_is_refused(runner, frameworks):
    result = create(
        runner,
        "--email", "wendy@example.org",
        "--name", "Wendy",
        "--role", "worker",
        "--framework", "sfh-senior-engagement-worker",
        "--tier", "link-worker",
    )  # fmt: skip

    assert result.exit_code == 2
    assert "no tier 'link-worker' in framework 'sfh-senior-engagement-worker'" in result.output
    assert user_count() == 0


def test_an_unknown_role_is_refused(runner, app):
    result = create(runner, "--email", "x@example.org", "--name", "X", "--role", "admin")

    assert result.exit_code == 2
    assert "Invalid value for '--role'" in result.output
    assert user_count() == 0


def test_a_role_is_required(runner, app):
    result = create(runner, "--email", "x@example.org", "--name", "X")

    assert result.exit_code == 2
    assert "Missing option '--role'" in result.output
    assert user_count() == 0


@pytest.mark.parametrize("email", ["not-an-email", "x@localhost", "x@example."])
def test_an_email_without_at_or_a_domain_is_refused(runner, app, email):
    result = create(runner, "--email", email, "--name", "X", "--role", "manager")

    assert result.exit_code == 1
    assert "email: Enter an email address in the correct format" in result.output
    assert user_count() == 0
