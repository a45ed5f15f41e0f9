"""``flask audit verify``."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from . import ledger


@click.group("audit")
def audit_cli() -> None:
    """The audit ledger."""


@audit_cli.command("verify")
@with_appcontext
def verify_command() -> None:
    """Check the hash chain; exit 1 naming the first bad row."""
    result = ledger.verify()
    click.echo(result.describe())
    if not result.ok:
        raise SystemExit(1)
