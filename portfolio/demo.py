"""``flask demo``: demonstration accounts for trying the app locally."""

from __future__ import annotations

from datetime import date

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from .auth import service as auth_service
from .extensions import db
from .frameworks import loader
from .models import Framework, Role, SupervisionAssignment, Tier, User

DEMO_ACCOUNTS = (
    # email, name, roles, (framework key, tier slug)
    ("worker@example.org", "Wendy Worker", {Role.WORKER}, ("link-worker", "link-worker")),
    (
        "supervisor@example.org",
        "Sam Supervisor",
        {Role.WORKER, Role.SUPERVISOR},
        ("link-worker", "psychosocial-link-worker"),
    ),
    ("manager@example.org", "Maya Manager", {Role.MANAGER}, None),
    (
        "sew@example.org",
        "Sol Engagement",
        {Role.WORKER},
        ("sfh-senior-engagement-worker", "senior-engagement-worker"),
    ),
)


def _tier(framework_key: str, tier_slug: str) -> Tier:
    tier = db.session.scalar(
        select(Tier).join(Framework).where(Framework.key == framework_key, Framework.is_current.is_(True), Tier.slug == tier_slug)
    )
    if tier is None:
        raise click.ClickException(f"Framework {framework_key!r} is not loaded: run `flask frameworks load` first")
    return tier


def create_demo_data(password: str) -> list[User]:
    """Create the demo accounts and supervision; existing accounts are left as they are."""
    loader.load_all()
    users: dict[str, User] = {}
    for email, name, roles, placement in DEMO_ACCOUNTS:
        user = db.session.scalar(select(User).where(User.email == email))
        if user is None:
            tier = _tier(*placement) if placement else None
            user = auth_service.create_user(email=email, name=name, password=password, roles=roles, tier=tier)
        users[email] = user
    supervisor = users["supervisor@example.org"]
    for worker_email in ("worker@example.org", "sew@example.org"):
        worker = users[worker_email]
        exists = db.session.scalar(
            select(SupervisionAssignment.id).where(
                SupervisionAssignment.supervisor_id == supervisor.id, SupervisionAssignment.worker_id == worker.id
            )
        )
        if exists is None:
            db.session.add(
                SupervisionAssignment(
                    supervisor_id=supervisor.id,
                    worker_id=worker.id,
                    starts_on=date(date.today().year, 1, 1),
                    created_by_id=users["manager@example.org"].id,
                )
            )
    db.session.commit()
    return list(users.values())


@click.command("demo")
@click.option("--force", is_flag=True, help="Create demo accounts even outside development.")
@with_appcontext
def demo_command(force: bool) -> None:
    """Load the frameworks and create the demo accounts (development only unless --force)."""
    env = current_app.config["PORTFOLIO_ENV"]
    if env != "development" and not force:
        raise click.ClickException(
            f"Refusing to create demo accounts with a known password in {env}. Use --force if you really mean it."
        )
    for user in create_demo_data(current_app.config["DEMO_PASSWORD"]):
        roles = ", ".join(sorted(r.value for r in user.roles))
        click.echo(f"{user.email} ({roles})")
    click.echo("Password: the value of PORTFOLIO_DEMO_PASSWORD (see the README for the default).")
