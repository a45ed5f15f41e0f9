"""``flask users create``: accounts for a real deployment."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from ..extensions import db
from ..models import Framework, Role, Tier
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
@with_appcontext
def create_user_command(email: str, name: str, roles: tuple[str, ...], framework_key: str | None, tier_slug: str | None) -> None:
    """Create an account; the password is asked for, never taken on the command line."""
    tier = None
    if framework_key:
        tier = db.session.scalar(
            select(Tier)
            .join(Framework)
            .where(Framework.key == framework_key, Framework.is_current.is_(True), Tier.slug == (tier_slug or ""))
        )
        if tier is None:
            raise click.BadParameter(f"no tier {tier_slug!r} in framework {framework_key!r}", param_hint="--tier")
    password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = service.create_user(
            email=email, name=name, password=password, roles={Role(r) for r in roles}, tier=tier
        )
    except service.AuthError as error:
        raise click.ClickException(f"{error.field}: {error.message}") from error
    click.echo(f"Created {user.email} ({', '.join(sorted(r.value for r in user.roles))}).")
