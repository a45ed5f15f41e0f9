"""Database engine set-up shared by every area: SQLite pragmas and write transactions."""

from __future__ import annotations

import enum
import functools
import json
import logging
import re
import weakref
from collections.abc import Callable, Mapping, Sequence
from time import monotonic
from typing import Any, TypeVar, cast

from flask import Flask, abort, g, has_request_context
from sqlalchemy import CompoundSelect, CursorResult, Engine, Row, Select, event, func, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import InvalidatePoolError, SQLAlchemyError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import String

from .extensions import Base, db

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Base)


# A pooled connection left unused longer than this is tested before it is used again (a database restarted, or a
# connection dropped while idle, ends it): one round trip. One used more recently is taken as it is: tested on every
# request (SQLAlchemy's pool_pre_ping), that round trip was one of the four of the lightest signed-in page on
# PostgreSQL. If the database went away within these seconds, the request fails as one in flight then would, and
# the pool replaces every connection it held.
PING_IDLE_AFTER_SECONDS = 10
_LAST_USED = "portfolio_last_used"  # a DBAPI connection's info: when it went back to the pool (monotonic)


def _once_per_engine(install: Callable[[Engine], None]) -> Callable[[Engine], None]:
    """``install(engine)`` the first time it is asked for an engine, never again for that engine.

    Apps may share an engine (the tests' apps do, so that what SQLAlchemy compiled for one test serves the next),
    and a listener added twice would run twice: two BEGINs. Not thread-safe: apps are built at start-up.
    """
    done: weakref.WeakSet[Engine] = weakref.WeakSet()

    @functools.wraps(install)
    def install_once(engine: Engine) -> None:
        if engine not in done:
            install(engine)
            done.add(engine)  # after: an install that failed is tried again by the next app

    return install_once


def configure_engine(app: Flask) -> None:
    """Install the per-connection settings our integrity rules depend on, and test idle connections before use."""
    with app.app_context():
        _configure(db.engine)


@_once_per_engine
def _configure(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        _ping_idle_connections(engine)
        _read_outside_transactions(engine)
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


def _ping_idle_connections(engine: Engine) -> None:
    """Test a pooled connection before use if it was idle for PING_IDLE_AFTER_SECONDS; a dead one is replaced."""

    @event.listens_for(engine, "checkin")
    def _used(_dbapi_connection, record) -> None:
        record.info[_LAST_USED] = monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
        last_used = record.info.get(_LAST_USED)  # none for a connection just made
        if last_used is None or monotonic() - last_used < PING_IDLE_AFTER_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            if engine.dialect.is_disconnect(error, dbapi_connection, None):
                # As pool_pre_ping does: every connection the pool holds is replaced, this one at once (a restart
                # ended them all), and a new one is checked out instead.
                raise InvalidatePoolError from error
            raise


def _read_outside_transactions(engine: Engine) -> None:
    """PostgreSQL: a connection reads in autocommit, and begins a transaction at its first statement that needs one.

    In a transaction, a page that only reads paid two round trips more than its queries (psycopg sends BEGIN as a
    statement of its own, and the COMMIT), two of the lightest signed-in page's three. At read committed (set in
    config.py) each statement sees the data as it is when the statement starts, in a transaction or not: so reads
    see the same either way. What a transaction adds starts at the first statement that needs one
    (``_needs_transaction``): psycopg sends BEGIN just before it, so everything written from there on commits or
    rolls back as one, and every lock is held to the end, as before. SQLite keeps its transactions: they cost no
    round trip, and its writers take the lock up front (``begin_write``).
    """

    @event.listens_for(engine, "connect")
    def _made_in_autocommit(dbapi_connection, _record) -> None:
        # From the start, not only from the first checkout: a setting that a later connect listener makes (the
        # benchmark's builder turns off waiting for the disk) then lasts for the session, and leaves no transaction
        # open, which the checkout below could not leave (psycopg refuses to switch in a transaction).
        dbapi_connection.autocommit = True

    @event.listens_for(engine, "checkout")
    def _read_in_autocommit(dbapi_connection, _record, _proxy) -> None:
        dbapi_connection.autocommit = True  # no round trip: the pool hands out connections outside any transaction

    @event.listens_for(engine, "before_cursor_execute")
    def _begin_before_needed(conn, cursor, statement, _parameters, context, _executemany) -> None:
        driver = cursor.connection
        # In autocommit and not asked for by the caller (an isolation level of its own): still reading, until a
        # statement needs the transaction; from then on psycopg is in one, and nothing here is asked again.
        if (
            driver.autocommit
            and "isolation_level" not in conn.get_execution_options()
            and _needs_transaction(statement, context)
        ):
            driver.autocommit = False


def _needs_transaction(statement: str, context) -> bool:
    """The statement writes, locks rows, calls a function whose effect lasts until the transaction ends, reads
    through a server-side cursor (which PostgreSQL keeps only inside a transaction), or sets a savepoint."""
    if not _only_reads(statement, context) or statement.lstrip().upper().startswith("SAVEPOINT"):
        return True
    built = getattr(getattr(context, "compiled", None), "statement", None)
    return (
        getattr(built, "_for_update_arg", None) is not None
        or bool(context.execution_options.get("stream_results"))
        or _has_lasting_effect(statement)
    )


# Functions whose effect outlasts their statement: a lock held until commit (take_turns, the form keys), a sequence
# moved, a setting for the transaction, a notice sent at commit. A SELECT calling one begins the transaction.
_LASTING_EFFECT = re.compile(
    r"\b(pg_(try_)?advisory_xact_lock(_shared)?|nextval|setval|set_config|pg_notify)\s*\(", re.I
)


@functools.lru_cache(maxsize=512)  # SQLAlchemy caches what it compiles: the same few statements come back
def _has_lasting_effect(statement: str) -> bool:
    return _LASTING_EFFECT.search(statement) is not None


def end_read_only_transactions(app: Flask) -> None:
    """End a request's transaction that only read with COMMIT, not ROLLBACK.

    The two are the same for a transaction that changed nothing, but psycopg forgets every prepared
    statement of its connection at a ROLLBACK; so a page's queries, asked a few times, are prepared and
    PostgreSQL plans them once instead of at every request. (On PostgreSQL a page that only read began no
    transaction at all: there this matters for one that only locked rows.) A statement other than a SELECT the
    app built (a flush, an update, any SQL written out as text) marks the transaction as writing; a writing
    transaction the request left open is rolled back as before, and so is the transaction of a request that
    failed.
    """
    with app.app_context():
        _mark_writing_transactions(db.engine)

    # Registered after Flask-SQLAlchemy's teardown (which closes the session, rolling back), so it runs first:
    # Flask runs teardown functions last registered first.
    @app.teardown_appcontext
    def _commit_if_only_read(error: BaseException | None) -> None:
        if error is not None or not db.session.registry.has():
            return
        session = db.session()
        try:
            if _only_read(session):
                # The session is closed next (Flask-SQLAlchemy's teardown): expiring what it loaded, as a commit
                # does, would be work for nothing.
                session.expire_on_commit = False
                session.commit()
        except SQLAlchemyError:  # e.g. the connection went away: the session's own teardown rolls back and closes
            log.warning("Could not end a read-only transaction with a commit", exc_info=True)


@_once_per_engine
def _mark_writing_transactions(engine: Engine) -> None:
    """Mark a connection's transaction as writing (``_WRITING``) at its first statement that may write."""

    @event.listens_for(engine, "before_cursor_execute")
    def _mark_writing(conn, _cursor, statement, _parameters, context, _executemany) -> None:
        if not _only_reads(statement, context):
            conn.info[_WRITING] = True

    @event.listens_for(engine, "begin")
    def _transaction_began(conn) -> None:
        conn.info.pop(_WRITING, None)


def _only_read(session) -> bool:
    """The session's transaction is open, healthy, changed nothing and holds nothing for its commit."""
    if not session.in_transaction() or not session.is_active:  # not active: a failed flush awaits its rollback
        return False
    if session.new or session.dirty or session.deleted or session.info.get(_AWAITS_COMMIT):
        return False
    return _WRITING not in session.connection().info


_WRITING = "writing"  # Connection.info: a statement that may write ran in this transaction
_AWAITS_COMMIT = "awaits_commit"  # Session.info: work is queued for the transaction's commit


def awaits_commit(session) -> None:
    """Say that the session's transaction holds work for after its commit (an email to send): should the
    request leave it open, it is rolled back, never committed on its behalf."""
    session.info[_AWAITS_COMMIT] = True


def commit_no_longer_awaited(session) -> None:
    """The work queued for the transaction's commit was done (it committed) or dropped (it rolled back)."""
    session.info.pop(_AWAITS_COMMIT, None)


def _only_reads(statement: str, context) -> bool:
    """True for a SELECT built with SQLAlchemy (with no INSERT, UPDATE or DELETE in a WITH clause), or a
    statement that only manages the transaction (BEGIN)."""
    compiled = getattr(context, "compiled", None)
    if compiled is not None and isinstance(getattr(compiled, "statement", None), (Select, CompoundSelect)):
        return not any(
            isinstance(getattr(cte, "element", None), UpdateBase) for cte in getattr(compiled, "ctes", None) or ()
        )
    return not is_query(statement)


# Statements that only manage the connection or transaction, not queries a page asks for.
NOT_QUERIES = ("BEGIN", "PRAGMA", "SAVEPOINT", "RELEASE")


def is_query(statement: str) -> bool:
    """True for a statement that reads or writes data (what query counts count)."""
    return not statement.lstrip().upper().startswith(NOT_QUERIES)


def install_query_count_header(app: Flask) -> None:
    """With QUERY_COUNT_HEADER on (the benchmark's setting), answer each request's query count in X-Query-Count.

    Off by default: the count says something about the data behind a page, so
    deployments do not send it.
    """
    if not app.config["QUERY_COUNT_HEADER"]:
        return
    with app.app_context():
        _count_queries(db.engine)

    # Registered first, so it runs after every other after_request function and counts their queries too.
    @app.after_request
    def _header(response):
        response.headers["X-Query-Count"] = str(g.get("query_count", 0))
        return response


@_once_per_engine
def _count_queries(engine: Engine) -> None:
    """Count each request's queries in ``g.query_count`` (on an engine shared with apps that send no header, theirs
    are counted too, unread)."""

    @event.listens_for(engine, "before_cursor_execute")
    def _count(_conn, _cursor, statement, _parameters, _context, _executemany) -> None:
        if has_request_context() and is_query(statement):
            g.query_count = g.get("query_count", 0) + 1


def read_rows(statement: Select, parameters: Mapping[str, Any] | None = None) -> Sequence[Row]:
    """The rows of a SELECT of columns (no entities: an entity would come back as a plain row, and the session's
    ORM events would not see the statement), run on the session's connection.

    Through the session, each such statement also paid the ORM's work for loading objects (its compile state,
    its events): some tenths of a millisecond, a millisecond a page for the states and counts a home reads. The
    session's transaction is the same; what it holds unflushed is flushed first, as an ORM query's autoflush would.
    """
    session = db.session()
    if session.autoflush and (session.new or session.dirty or session.deleted):
        session.flush()
    return session.connection().execute(statement, parameters).all()


def written_out(value: enum.StrEnum) -> ColumnElement[Any]:
    """One of our enums' values written into a statement's text, not sent as a parameter.

    For a value a statement always compares with the same constant (the kind of item it is about). PostgreSQL plans
    a statement it runs often once for every value of its parameters (a generic plan): it cannot know that such a
    parameter always picks out the same few rows, nor use a partial index whose condition names the value, so it
    may plan again on every run (a custom plan, planning costing many times the work) or read far more than needed.
    Written out, the value is part of the plan. Only for constants of the code (an enum's values hold no quote),
    never for what a person typed.
    """
    text = value.value
    if "'" in text or "\\" in text:
        raise ValueError(f"{text!r} cannot be written out as a constant")
    return literal_column(f"'{text}'")


class _RowsAsJson(FunctionElement[str]):
    """Every row of its columns as one JSON array of arrays (text; NULL for no rows on PostgreSQL)."""

    type = String()
    inherit_cache = True


@compiles(_RowsAsJson, "postgresql")
def _rows_as_json_postgresql(element, compiler, **kw) -> str:
    return f"CAST(json_agg(json_build_array({compiler.process(element.clauses, **kw)})) AS TEXT)"


@compiles(_RowsAsJson)
def _rows_as_json_sqlite(element, compiler, **kw) -> str:
    return f"json_group_array(json_array({compiler.process(element.clauses, **kw)}))"


def rows_as_json(statement: Select) -> Select:
    """A one-value statement: every row of ``statement`` (a SELECT of columns) as one JSON text, to be read with
    other one-value statements in a single query (``tally``) and turned back into rows by :func:`rows_from_json`.

    Each statement is a round trip, and on PostgreSQL a round trip costs a page more than most statements' own work
    (about half a millisecond of the server's time under load, against a tenth on SQLite): a page that needs several
    small sets of rows (the states its kept parts are kept under) and some counts reads them all at once. JSON keeps
    numbers, text and NULL; a boolean comes back as true/false on PostgreSQL and as 1/0 on SQLite (which stores it
    so), equal in Python either way; a date comes back as its ISO text, and a moment as ISO text too: with its offset
    on PostgreSQL ("2026-06-01T23:30:00.5+00:00", in the session's time zone), without one (UTC) on SQLite;
    ``datetime.fromisoformat`` reads both.
    """
    rows = statement.subquery()
    return select(_RowsAsJson(*rows.c))


def rows_from_json(value: str | None) -> list[tuple]:
    """The rows a :func:`rows_as_json` statement read, as tuples of their values."""
    return [tuple(row) for row in json.loads(value)] if value else []


def begin_write() -> None:
    """Start the session's transaction as a writer.

    On SQLite this takes the write lock up front (``BEGIN IMMEDIATE``), so two
    use cases that read-then-write cannot both read stale data; PostgreSQL
    callers lock the rows they change with ``lock``/``lock_all`` instead
    (``SELECT ... FOR UPDATE``, or FOR NO KEY UPDATE: see ``NEVER_DELETED``).
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


# Tables whose rows are never deleted and whose keys never change (people stay, as leavers, for their history):
# their rows are locked FOR NO KEY UPDATE. That keeps every other writer of the row out as FOR UPDATE does, but
# not the INSERTs that merely refer to it (an audit entry naming its actor, an assignment naming who made it):
# under FOR UPDATE their foreign-key check waited for the lock, and two managers deadlocked, one locking the
# managers then a person, the other that person then writing a row that names itself.
NEVER_DELETED = frozenset({"users"})


def _locked(statement: Select[M]) -> Select[M]:
    # The row lock makes a concurrent writer wait on PostgreSQL (SQLite's BEGIN IMMEDIATE already serialises
    # writers), and populate_existing overwrites any copy the session loaded before the lock, so the caller
    # checks the state the row really has now.
    entity = statement.column_descriptions[0]["entity"]
    key_share = getattr(entity, "__tablename__", None) in NEVER_DELETED
    return statement.with_for_update(key_share=key_share).execution_options(populate_existing=True)


def lock(model: type[M], row_id: int) -> M | None:
    """The row ``model`` ``row_id`` read afresh under a write lock, or None if it is gone.

    Call after ``begin_write()``.
    """
    return lock_first(select(model).filter_by(id=row_id))


def lock_or_404(model: type[M], row_id: int) -> M:
    """The row ``model`` ``row_id`` read afresh under a write lock (call after ``begin_write()``).

    :raises 404: when the row is gone (deleted meanwhile); the transaction is rolled back first.
    """
    row = lock(model, row_id)
    if row is None:
        db.session.rollback()
        abort(404)
    return row


def lock_first(statement: Select[M]) -> M | None:
    """The first row ``statement`` selects (by a token digest, a credential id...), read afresh under a write lock.

    Call after ``begin_write()``; None when there is no such row.
    """
    return db.session.scalar(_locked(statement))


def lock_all(statement: Select[M]) -> list[M]:
    """Every row ``statement`` selects, read afresh under a write lock (give it an ``order_by`` to avoid deadlocks).

    Call after ``begin_write()``.
    """
    return list(db.session.scalars(_locked(statement)))


def take_turns(lock_id: int) -> None:
    """Make the write transaction wait for any other that asked for ``lock_id`` until that one ends.

    For use cases whose rule reads rows that are not there yet (a title no framework has yet, the next free
    number), so no row lock can serialise them. On PostgreSQL a transaction-level advisory lock, released at
    commit or rollback; SQLite's ``BEGIN IMMEDIATE`` already lets one writer in at a time. Call after
    ``begin_write()``, before reading what the rule checks; ids in use are listed in ``TURNS``.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(func.pg_advisory_xact_lock(lock_id)))


# The ids take_turns is called with, one per rule (any constants, told apart from each other).
TURNS = {
    "audit ledger": 7_270_001,
    "credential status index": 7_270_002,
    "framework import": 7_270_003,
    "training catalogue": 7_270_004,
}


def rows_changed(statement: UpdateBase) -> int:
    """Run an UPDATE or DELETE in the session's transaction; how many rows it changed."""
    # Its result is a CursorResult (it has rowcount); Session.execute is typed for any statement.
    return cast("CursorResult[Any]", db.session.execute(statement)).rowcount


def insert_missing(model: type[Base], values: Mapping[str, Any], unique: Sequence[str]) -> None:
    """Insert a row of ``model`` unless one with the same ``unique`` columns exists (then do nothing).

    Atomic on both databases (``INSERT ... ON CONFLICT DO NOTHING``): a writer racing another waits for it
    and then finds the row there, so the caller can always ``lock_first`` the row afterwards and change it.
    ``unique`` must be the columns of a unique constraint.
    """
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    table = model.__table__
    db.session.execute(dialect.insert(table).values(**values).on_conflict_do_nothing(index_elements=list(unique)))


# Tables in the app's database that are not the app's: huey keeps its task queue there when
# PORTFOLIO_TASK_QUEUE names the same PostgreSQL database, in huey_* tables no migration knows of.
NOT_THE_APPS = ("huey_",)


def is_app_table(name: str | None, type_: str, parent_names: object = None) -> bool:
    """Alembic's ``include_name`` hook: autogenerate and schema checks leave the task queue's tables alone."""
    return type_ != "table" or not (name or "").startswith(NOT_THE_APPS)
