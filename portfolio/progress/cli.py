"""``flask progress renew``: make every server process count every portfolio afresh."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from . import versions


@click.group("progress")
def progress_cli() -> None:
    """Workers' progress."""


@progress_cli.command("renew")
@with_appcontext
def renew_command() -> None:
    """Write a new frameworks version: run after a deploy, a data migration or a change made in SQL by hand."""
    versions.renew_all()
    click.echo("Every portfolio will be counted afresh.")
