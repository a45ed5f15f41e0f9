"""Flaskr-style fixtures: ``app``, ``client``, ``runner``, ``auth``, plus data helpers.

The database is SQLite by default, or PostgreSQL when
PORTFOLIO_TEST_DATABASE_URL is set. The schema is built once per run by the
migrations (so every run proves they work on that database), and every table
is emptied after each test.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import uuid
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from flask_migrate import upgrade
from jinja2 import BytecodeCache
from sqlalchemy import create_engine, event, text

from portfolio import create_app
from portfolio.database import is_query
from portfolio.extensions import db

from . import factories
from .serving import csrf_token  # noqa: F401 - tests import it from here

PG_ENV = "PORTFOLIO_TEST_DATABASE_URL"


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server ends the run
        pytest.exit(f"{PG_ENV} is set but PostgreSQL cannot be used at {url}: {exc}", returncode=3)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    """The test database, migrated to head once for the whole run."""
    url = os.environ.get(PG_ENV)
    if url:
        _reset_postgres(url)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    app = create_app({"PORTFOLIO_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return url


def _empty_all_tables() -> None:
    tables = [t.name for t in db.metadata.sorted_tables]
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in reversed(tables):
                conn.execute(text(f"DELETE FROM {name}"))


class MemoryBytecodeCache(BytecodeCache):
    """Compiled templates shared by the apps of one test run (each test builds a new app)."""

    def __init__(self):
        self._store: dict[str, bytes] = {}

    def load_bytecode(self, bucket):
        if bucket.key in self._store:
            bucket.bytecode_from_string(self._store[bucket.key])

    def dump_bytecode(self, bucket):
        self._store[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_CACHE = MemoryBytecodeCache()


class IsolatedClient(FlaskClient):
    """A test client whose requests each get their own app context, as in production.

    The ``app`` fixture keeps an app context open for the test's own database
    work; without this, requests would share its ``g`` and SQLAlchemy session
    and hide bugs that only show across requests.
    """

    def open(self, *args, **kwargs):
        db.session.commit()  # the request sees what the test wrote
        response = contextvars.Context().run(super().open, *args, **kwargs)
        db.session.commit()  # and the test's next read sees what the request wrote
        return response


@pytest.fixture
def app(database_url, tmp_path):
    """A fresh application on the migrated test database."""
    app = create_app(
        {
            "PORTFOLIO_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "UPLOAD_FOLDER": str(tmp_path / "uploads"),
            "SECRET_KEY": "test-secret-key",
            "AUDIT_CHECKPOINT_FILE": str(tmp_path / "audit-checkpoints.log"),
            # Tests about other areas sign supervisors and managers in by
            # password alone; tests/test_mfa_*.py turn the requirement on.
            "MFA_REQUIRED_ROLES": "",
        }
    )
    app.test_client_class = IsolatedClient
    app.jinja_env.bytecode_cache = TEMPLATE_CACHE
    with app.app_context():
        yield app
        db.session.remove()
        _empty_all_tables()
        db.engine.dispose()


class TaskQueue:
    """The app's task queue, working through its tasks as the consumer does (``huey_consumer``)."""

    def __init__(self, huey):
        self.huey = huey

    def pending(self) -> int:
        return self.huey.pending_count()

    def run_all(self) -> None:
        for _ in range(self.pending()):
            task = self.huey.dequeue()
            if task is not None:
                self.huey.execute(task)


@contextlib.contextmanager
def queue_at(app, url: str):
    """Tasks wait in the queue at ``url`` (under a name of their own) instead of running when queued."""
    from portfolio import tasks

    huey = tasks.configure(url, immediate=False, name=f"portfolio-test-{uuid.uuid4().hex}")
    try:
        yield TaskQueue(huey)
    finally:
        huey.storage.flush_all()
        tasks.init_app(app)  # back to the app's own queue: immediate, in memory


@pytest.fixture
def task_queue(app, tmp_path):
    """A real queue (SQLite, as `make run` uses) whose tasks run only when the test says so."""
    with queue_at(app, f"sqlite:///{tmp_path / 'tasks.db'}") as queue:
        yield queue


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def frameworks(app):
    """Both shipped frameworks, loaded: ``frameworks["link-worker"]``."""
    return factories.load_frameworks()


class AuthActions:
    """Sign in and out through the real forms, CSRF token included."""

    def __init__(self, client):
        self._client = client

    def sign_in(
        self, email: str, password: str = factories.PASSWORD, *, remember: bool = False, follow_redirects: bool = False
    ):
        page = self._client.get("/auth/sign-in")
        data = {"csrf_token": csrf_token(page.text), "email": email, "password": password}
        if remember:
            data["remember"] = "y"
        return self._client.post("/auth/sign-in", data=data, follow_redirects=follow_redirects)

    def sign_out(self):
        page = self._client.get("/")
        return self._client.post("/auth/sign-out", data={"csrf_token": csrf_token(page.text)})

    def login_as(self, user) -> None:
        """Sign in without the form (and its deliberately slow hashing), for tests about other pages."""
        from portfolio.auth.sessions import now

        user.signed_in_at = now()
        with self._client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
            session["_permanent"] = True

    def token(self, path: str = "/") -> str:
        return csrf_token(self._client.get(path).text)


@pytest.fixture
def auth(client):
    return AuthActions(client)


class QueryCounter:
    """Counts the SQL statements the app sends, to prove pages don't grow with data."""

    def __init__(self, engine):
        self.engine = engine
        self.statements: list[str] = []

    def _record(self, conn, cursor, statement, parameters, context, executemany):
        if is_query(statement):
            self.statements.append(statement)

    def __enter__(self):
        self.statements.clear()
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._record)

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_queries(app):
    return QueryCounter(db.engine)


SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"


@pytest.fixture(scope="session")
def seeds_folder() -> Path:
    """The source documents, where this checkout sits beside shared/."""
    if not SEEDS.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"The source documents are missing: expected {SEEDS}")
        pytest.skip(f"The source documents are not beside this checkout ({SEEDS})")
    return SEEDS
