"""``flask files clean``: finish or remove what an interrupted upload left behind."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from ..documents import service as documents
from ..extensions import db
from ..models import EvidenceFile
from . import files


@click.group("files")
def files_cli() -> None:
    """Evidence files on disk."""


@files_cli.command("clean")
@with_appcontext
def clean_command() -> None:
    """Complete renames a crash interrupted; delete files that have no row (older than an hour), and expired documents."""
    known = set(db.session.scalars(select(EvidenceFile.stored_name)))
    report = files.clean_orphans(known)
    click.echo(f"Completed {report.completed} interrupted uploads; removed {report.removed} orphan files.")
    click.echo(f"Removed {documents.remove_expired()} expired documents.")
