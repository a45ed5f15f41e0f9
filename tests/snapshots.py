"""Copies of what a slow set-up wrote, put back in later tests for a fraction of its cost.

Loading the shipped frameworks, or building the access matrix's world (people, items, files, a credential, a
built export), goes through the use cases: hundreds of statements and flushes, a quarter of a second to a
second a test. Taken once, its rows are inserted again as they were (ids included, every sequence moved past
them) and its files copied (uploads, and built documents beside them), into a test whose tables are still
empty: the state the set-up would have left. Version tokens are made afresh: a token is never reused.
"""

from __future__ import annotations

import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import DateTime, Table, exists, func, or_, select

from portfolio.extensions import db
from portfolio.models import PortfolioVersion


@dataclass
class Snapshot:
    """Tables with their rows (in the order of their foreign keys), and a copy of a test's data folder."""

    rows: list[tuple[Table, list[dict]]]
    files: Path | None = None
    taken: float = field(default_factory=time.monotonic)

    def age(self) -> float:
        """Seconds since it was taken."""
        return time.monotonic() - self.taken


def take(tables: list[Table], *, data: Path | None = None, files: Path | None = None) -> Snapshot:
    """The rows of ``tables`` now, and (with ``files``, a new folder to keep them in) a copy of ``data``, the
    folder the test's files are written under."""
    order = {table: position for position, table in enumerate(db.metadata.sorted_tables)}
    # In key order: a row that names another of its table (a group's parent) was written after it, so put back
    # in that order it never names a row not yet there.
    rows = [
        (table, [dict(row._mapping) for row in db.session.execute(select(table).order_by(*table.primary_key.columns))])
        for table in sorted(tables, key=order.__getitem__)
    ]
    if files is not None and data is not None:
        shutil.copytree(data, files)
        return Snapshot(rows, files)
    return Snapshot(rows)


def any_rows(tables: list[Table]) -> bool:
    """Whether any of ``tables`` holds a row, in one query."""
    return bool(db.session.scalar(select(or_(*(exists().select_from(table) for table in tables)))))


def can_restore(snapshot: Snapshot) -> bool:
    """Whether every table of ``snapshot`` is empty, so its rows can go back without meeting others."""
    return not any_rows([table for table, _ in snapshot.rows])


def restore(snapshot: Snapshot, *, data: Path | None = None) -> None:
    """Insert the rows of ``snapshot`` and copy its files into ``data``; committed."""
    for table, rows in snapshot.rows:
        if table is PortfolioVersion.__table__:
            rows = [dict(row, token=secrets.token_hex(16)) for row in rows]
        if rows:
            db.session.execute(table.insert(), rows)
    if db.engine.dialect.name == "postgresql":  # the ids were given: each sequence goes on after them
        for table, rows in snapshot.rows:
            column = table.autoincrement_column
            if column is not None and rows:
                db.session.execute(
                    select(func.setval(func.pg_get_serial_sequence(table.name, column.name), func.max(column)))
                )
    db.session.commit()
    if snapshot.files is not None and data is not None:
        shutil.copytree(snapshot.files, data, dirs_exist_ok=True)


# --- Comparing (tests/test_snapshots.py, tests/test_access_matrix.py) ---------------------------------------

TOKEN = PortfolioVersion.__table__.c.token


def contents(*, times: bool = True) -> dict[str, list[dict]]:
    """Every table's rows in key order, version tokens aside (each write makes new ones); without ``times``,
    the moments rows were written aside too (a copy keeps those of the set-up it was taken from)."""
    found = {}
    for table in db.metadata.sorted_tables:
        rows = db.session.execute(select(table).order_by(*table.primary_key.columns)).mappings()
        kept = [c.name for c in table.columns if c is not TOKEN and (times or not isinstance(c.type, DateTime))]
        found[table.name] = [{name: row[name] for name in kept} for row in rows]
    db.session.commit()  # the caller's next read sees what is written after this
    return found


def files_under(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by its path there, with its bytes."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}
