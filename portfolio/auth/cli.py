"""``flask users create``: accounts for a real deployment."""

from __future__ import annotations

import getpass
import sys

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from ..extensions import db
from ..models import Framework, Role, Tier, User
from . import service


@click.group("users")
def users_cli() -> None:
    """Manage user accounts."""


@users_cli.command("create")
@click.option("--email", prompt=True, help="Sign-in email address.")
@click.option("--name", prompt=True, help="Full name.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice([r.value for r in Role]),
    help="Repeat for several roles, e.g. --role worker --role supervisor.",
)
@click.option("--framework", "framework_key", help="Framework key for a worker (see `flask frameworks list`).")
@click.option("--tier", "tier_slug", help="Tier slug within that framework.")
@click.option(
    "--force",
    is_flag=True,
    help="Create the account even though an active manager exists (managers invite people on the People page).",
)
@with_appcontext
def create_user_command(
    email: str, name: str, roles: tuple[str, ...], framework_key: str | None, tier_slug: str | None, force: bool
) -> None:
    """Create the first manager; the password is asked for, never taken on the command line.

    Once a service has an active manager, people are invited on the People
    page, so this refuses unless given --force.
    """
    if (
        not force
        and db.session.scalar(select(User.id).where(User.is_manager.is_(True), User.active.is_(True)).limit(1))
        is not None
    ):
        raise click.ClickException(
            "An active manager already exists: invite people on the People page instead (or add --force to create this account anyway)"
        )
    tier = None
    if framework_key:
        tier = db.session.scalar(
            select(Tier)
            .join(Framework)
            .where(Framework.key == framework_key, Framework.is_current.is_(True), Tier.slug == (tier_slug or ""))
        )
        if tier is None:
            raise click.BadParameter(f"no tier {tier_slug!r} in framework {framework_key!r}", param_hint="--tier")
    password = read_password()
    try:
        user = service.create_user(email=email, name=name, password=password, roles={Role(r) for r in roles}, tier=tier)
    except service.AuthError as error:
        raise click.ClickException(f"{error.field}: {error.message}") from error
    click.echo(f"Created {user.email} ({', '.join(sorted(r.value for r in user.roles))}).")


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def read_password() -> str:
    """From a terminal: asked for twice without echo. Piped: the first line of stdin.

    getpass is only used on a terminal: on a pipe it warns (GetPassWarning)
    and reads from the terminal anyway, which breaks scripted deployments.
    """
    if stdin_is_terminal():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat for confirmation: ") != password:
            raise click.ClickException("The two passwords do not match")
        return password
    return sys.stdin.readline().rstrip("\r\n")
