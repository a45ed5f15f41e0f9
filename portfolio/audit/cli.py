"""``flask audit verify``, ``flask audit checkpoint`` and ``flask audit adopt``."""

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
    """Check the chain, the checkpoint and every bound record; exit 1 naming the first problem."""
    result, _check = ledger.run_check()
    click.echo(result.describe())
    if not result.ok:
        raise SystemExit(1)


@audit_cli.command("checkpoint")
@with_appcontext
def checkpoint_command() -> None:
    """Append the chain's signed head to PORTFOLIO_AUDIT_CHECKPOINT_FILE (from cron, often)."""
    point, result = ledger.checkpoint()
    if point is None:
        click.echo(f"No checkpoint written: {result.first_problem}")
        raise SystemExit(1)
    click.echo(f"Checkpoint written: row {point.seq} ({point.hash[:12]}…) to {ledger.checkpoint_path()}.")


@audit_cli.command("adopt")
@with_appcontext
def adopt_command() -> None:
    """Once, after upgrading: bind the records written before ledger rows bound their content."""
    adopted = ledger.adopt()
    for name in adopted:
        click.echo(f"Adopted {name}")
    click.echo(f"{len(adopted)} records adopted as they stand.")
