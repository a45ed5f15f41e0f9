"""``flask frameworks``: load and list the framework data files."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from . import loader, service


@click.group("frameworks")
def frameworks_cli() -> None:
    """Competency frameworks."""


@frameworks_cli.command("load")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def load_command(paths: tuple[Path, ...]) -> None:
    """Load the shipped data files (or PATHS); unchanged files change nothing."""
    try:
        results = loader.load_files(list(paths)) if paths else loader.load_all()
    except loader.FrameworkDataError as error:
        raise click.ClickException(str(error)) from error
    for result in results:
        click.echo(result.describe())


@frameworks_cli.command("list")
@with_appcontext
def list_command() -> None:
    """Show the current frameworks, their keys and tiers."""
    for framework, structure in service.current_frameworks_with_structures():
        tiers = ", ".join(f"{t.slug}" for t in structure.tiers)
        click.echo(
            f"{framework.key} (version {framework.version}): {framework.title}; "
            f"{len(structure.competences)} competences; tiers: {tiers}"
        )
