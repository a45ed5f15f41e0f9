"""Database engine set-up shared by every area: SQLite pragmas and write transactions."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import event, select

from .extensions import db


def configure_engine(app: Flask) -> None:
    """Install the per-connection settings our integrity rules depend on."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_connection, _record) -> None:
        # Let SQLAlchemy, not pysqlite, emit BEGIN, so that writers can ask for
        # BEGIN IMMEDIATE and wait on busy_timeout instead of failing later.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def begin_write() -> None:
    """Start the session's transaction as a writer.

    On SQLite this takes the write lock up front (``BEGIN IMMEDIATE``), so two
    use cases that read-then-write cannot both read stale data; PostgreSQL
    callers lock the rows they change with ``SELECT ... FOR UPDATE`` instead.
    Any read-only transaction already open (for example from loading
    ``current_user``) is ended first.
    """
    session = db.session()
    if session.new or session.dirty or session.deleted:
        # Rolling back would silently drop them: a caller bug, so say so.
        raise RuntimeError("begin_write() called with unsaved changes in the session; commit them first")
    if session.in_transaction():
        session.rollback()
    session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})


def lock(model, row_id: int):
    """The row ``model`` ``row_id`` read afresh under a write lock, or None if it is gone.

    Call after ``begin_write()``. ``FOR UPDATE`` makes a concurrent writer wait
    on PostgreSQL (SQLite's ``BEGIN IMMEDIATE`` already serialises writers),
    and ``populate_existing`` overwrites any copy the session loaded before the
    lock, so the caller checks the state the row really has now.
    """
    return db.session.scalar(
        select(model).where(model.id == row_id).with_for_update().execution_options(populate_existing=True)
    )
