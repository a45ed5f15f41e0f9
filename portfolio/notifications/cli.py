"""``flask notifications digest``: send the daily digests now (for cron, or to try it)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from . import service


@click.group("notifications")
def notifications_cli() -> None:
    """Notifications and their emails."""


@notifications_cli.command("digest")
@with_appcontext
def digest_command() -> None:
    """Email each person due one a digest of their unread notifications (safe to run twice)."""
    if not current_app.config.get("SMTP_HOST"):
        click.echo("No SMTP server is set up (PORTFOLIO_SMTP_HOST): no digest sent.")
        return
    sent = service.send_digests()
    click.echo(f"Sent {sent} digest email{'s' if sent != 1 else ''}.")
