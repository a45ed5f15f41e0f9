"""Flaskr-style fixtures: ``app``, ``client``, ``runner``, ``auth``, plus data helpers.

The database is SQLite by default, or PostgreSQL when
PORTFOLIO_TEST_DATABASE_URL is set. The schema is built once per run by the
migrations (so every run proves they work on that database), and every table
is emptied after each test.
"""

from __future__ import annotations

import contextlib
import contextvars
import email
import email.policy
import html
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from flask.testing import FlaskClient
from flask_migrate import upgrade
from jinja2 import BytecodeCache
from sqlalchemy import Engine, create_engine, event, make_url, select, text
from werkzeug.serving import make_server

from portfolio import clock, create_app
from portfolio.database import is_query
from portfolio.extensions import db
from portfolio.models import Competence, Role, User
from portfolio.progress import versions

from . import factories, snapshots
from .pages import status_of
from .serving import csrf_token  # noqa: F401 - tests import it from here

PG_ENV = "PORTFOLIO_TEST_DATABASE_URL"
PROJECT = Path(__file__).resolve().parents[1]  # the checkout


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


@pytest.fixture(scope="session", autouse=True)
def one_day_for_the_whole_run():
    """The service's clock stays on the day the run started (``factories.TODAY``), at the real time of day.

    Tests work out their days (TODAY, YESTERDAY, ...) when they are imported; a run that crosses midnight
    would compare those with the service's next day. The servers of the browser tests run in processes
    of their own, on the real clock.
    """
    real_now = clock.now

    def now_on_the_first_day() -> datetime:
        moment = real_now()
        return moment - timedelta(days=(moment.date() - factories.TODAY).days)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clock, "now", now_on_the_first_day)
        yield


@pytest.fixture(scope="session", autouse=True)
def one_engine_per_database():
    """Every test builds its app, but apps on the same database with the same engine options share one engine.

    SQLAlchemy keeps what it compiled per engine: with an engine per app, each test compiled every statement it
    sent afresh (some ninety an access test, a fifth of its time). The pool is emptied after each test (``app``)
    as before. Engine-wide listeners are installed once per engine (``database._once_per_engine``).
    """
    engines: dict[str, Engine] = {}
    make_engine = db._make_engine  # Flask-SQLAlchemy's (pinned): how init_app makes an app's engine

    def made_once(bind_key, options, app) -> Engine:
        key = _engine_key(bind_key, options)
        if key is None:
            return make_engine(bind_key, options, app)
        if key not in engines:
            engines[key] = make_engine(bind_key, options, app)
        return engines[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(db, "_make_engine", made_once)
        yield
    for engine in engines.values():
        engine.dispose()


_PLAIN = (str, int, float, bool, type(None))


def _engine_key(bind_key, options: dict) -> str | None:
    """What makes two apps' engines the same: the full address (password too: a URL's repr hides it) and the other
    options; None when an option is not a plain value (a function, an SSL context): such an app gets its own."""

    def plain(value) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return all(plain(v) for v in value)
        return isinstance(value, _PLAIN)

    rest = {name: value for name, value in options.items() if name != "url"}
    if not plain(rest):
        return None
    url = make_url(options["url"]).render_as_string(hide_password=False)
    return json.dumps([bind_key, url, rest], sort_keys=True)


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
    """Delete every row, children first; ids start again from 1 (SQLite's do by themselves, with no AUTOINCREMENT).

    On PostgreSQL, DELETE rather than TRUNCATE: a test leaves a few rows, and TRUNCATE gives each of some
    hundred tables and indexes a new file (0.15 s a test, about a fifth of the run).
    """
    tables = [t.name for t in db.metadata.sorted_tables]
    with db.engine.begin() as conn:
        for name in reversed(tables):
            conn.execute(text(f"DELETE FROM {name}"))
        if db.engine.dialect.name == "postgresql":
            sequences = "pg_class WHERE relkind = 'S' AND relnamespace = 'public'::regnamespace"
            conn.execute(text(f"SELECT setval(oid::regclass, 1, false) FROM {sequences}"))
    if db.engine.dialect.name != "postgresql":
        return
    rows_left = snapshots.any_rows(db.metadata.sorted_tables)
    db.session.remove()  # its read would hold off the TRUNCATE below
    if rows_left:
        # A request still running (a browser test's server thread) committed after a DELETE began: TRUNCATE
        # waits for it, and the next test starts empty all the same.
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


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

    _following = False  # inside a request, following its redirect (outside the test's app context)

    def open(self, *args, **kwargs):
        if self._following:
            return super().open(*args, **kwargs)
        db.session.commit()  # the request sees what the test wrote
        self._following = True
        try:
            response = contextvars.Context().run(super().open, *args, **kwargs)
        finally:
            self._following = False
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


def run_consumer(app, queue: TaskQueue, url: str, done, **env: str) -> str:
    """Run the real consumer (``huey_consumer portfolio.worker.huey``) on the app's database and the queue at
    ``url`` until ``done()`` holds (or it exits, or two minutes pass); stop it and return what it wrote to stderr.

    ``env``: further settings for it (SMTP, say). The bound is on waiting, not a measure: the machine may be busy.
    """
    settings = dict(
        os.environ,
        PORTFOLIO_ENV="testing",
        PORTFOLIO_TASKS_IMMEDIATE="false",
        PORTFOLIO_TASK_QUEUE=url,
        PORTFOLIO_TASK_QUEUE_NAME=queue.huey.name,
        PORTFOLIO_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        PORTFOLIO_UPLOAD_FOLDER=app.config["UPLOAD_FOLDER"],
        **env,
    )
    consumer = subprocess.Popen(
        [str(Path(sys.executable).parent / "huey_consumer"), "portfolio.worker.huey", "--workers", "1"],
        env=settings,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not done() and consumer.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        consumer.terminate()
        _, errors = consumer.communicate(timeout=30)
    return errors.decode(errors="replace")[-2000:]


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


def verify_cli(runner):
    """Run ``flask audit verify``."""
    return runner.invoke(args=["audit", "verify"])


@pytest.fixture
def frameworks(app):
    """Both shipped frameworks, loaded: ``frameworks["link-worker"]``."""
    return factories.load_frameworks()


def post_sign_in(
    client,
    email: str,
    password: str = factories.PASSWORD,
    *,
    address: str | None = None,
    next_url: str | None = None,
    remember: bool = False,
):
    """Post the real sign-in form, from ``address`` when given."""
    extra = {"environ_base": {"REMOTE_ADDR": address}} if address else {}
    path = "/auth/sign-in"
    query = {"next": next_url} if next_url is not None else None
    page = client.get(path, query_string=query, **extra)
    data = {"csrf_token": csrf_token(page.text), "email": email, "password": password}
    if remember:
        data["remember"] = "y"
    return client.post(path, query_string=query, data=data, **extra)


def post_with_token(client, auth, path: str, data: dict, **kwargs):
    """POST ``data`` to ``path`` with a CSRF token, as the page's form would."""
    return client.post(path, data={"csrf_token": auth.token("/"), **data}, **kwargs)


def ask_for_document(client, auth, path: str) -> str:
    """Press a document's button (a POST to ``path``, as My progress does); the address of its status page."""
    response = client.post(path, data={"csrf_token": auth.token("/")})
    assert response.status_code == 303, f"POST {path}: {response.status_code}"
    assert response.location.startswith("/documents/"), response.location
    return response.location


def read_download(client, path: str):
    """A download, read and closed (a built document is streamed from its open file)."""
    with client.get(path) as response:
        response.get_data()
    return response


DOCUMENT_TYPES = {".pdf": "application/pdf", ".zip": "application/zip"}


def built_document(client, auth, path: str, queue: TaskQueue | None = None) -> bytes:
    """A document fetched the way a person does: press its button (POST ``path``), let the build run, follow to
    its status page, and download it from the link there. Its bytes.

    ``queue``: a real queue whose tasks wait (the ``task_queue`` fixture), worked through here as the consumer would;
    without it the build has already run when queued (tasks run at once in tests).
    """
    status_page = ask_for_document(client, auth, path)
    if queue is not None:
        queue.run_all()
    page = client.get(status_page)
    assert page.status_code == 200, f"{status_page}: {page.status_code}"
    assert status_of(page.text, "document-live") == "Ready to download.", page.text
    link = re.search(r'<a href="([^"]+)"[^>]*\bdownload>', page.text)
    assert link, "no download link on the status page"
    download = read_download(client, html.unescape(link.group(1)))
    assert download.status_code == 200
    assert download.mimetype == DOCUMENT_TYPES[Path(path.split("?", 1)[0]).suffix]
    return download.data


class AuthActions:
    """Sign in and out through the real forms, CSRF token included."""

    def __init__(self, client):
        self._client = client

    def sign_in(self, email: str, password: str = factories.PASSWORD, *, remember: bool = False):
        """Post the real sign-in form."""
        return post_sign_in(self._client, email, password, remember=remember)

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
        """The CSRF token of the form at ``path`` (or where it redirects: a new item's form adds its key so)."""
        return csrf_token(self._client.get(path, follow_redirects=True).text)


@pytest.fixture
def auth(client):
    return AuthActions(client)


class QueryCounter:
    """Counts the SQL statements the app sends, to prove pages don't grow with data.

    Each count starts with nothing kept between requests (``progress/versions.py``), so it is the
    worst case: ``with count_queries(keep=True):`` counts with what earlier requests kept.
    """

    def __init__(self, engine):
        self.engine = engine
        self.statements: list[str] = []
        self._keep = False

    def __call__(self, *, keep: bool) -> QueryCounter:
        self._keep = keep
        return self

    def _record(self, conn, cursor, statement, parameters, context, executemany):
        if is_query(statement):
            self.statements.append(statement)

    def __enter__(self):
        if not self._keep:
            versions.forget()
        self.statements.clear()
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._record)
        self._keep = False

    @property
    def count(self) -> int:
        return len(self.statements)

    @property
    def besides_the_signed_in_user(self) -> list[str]:
        """The statements but the one that reads the signed-in person (auth/sessions.py: with the organisation, her
        unread notices and, for a page, a supervisor's queue count: which names the evidence table)."""
        return [q for q in self.statements if not (q.startswith("SELECT users.id") and "organisation_settings" in q)]


@pytest.fixture
def count_queries(app):
    return QueryCounter(db.engine)


SEEDS = PROJECT.parent / "shared" / "seeds"


@pytest.fixture(scope="session")
def seeds_folder() -> Path:
    """The source documents, where this checkout sits beside shared/."""
    if not SEEDS.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"The source documents are missing: expected {SEEDS}")
        pytest.skip(f"The source documents are not beside this checkout ({SEEDS})")
    return SEEDS


# --- mail: a local SMTP server the app sends to --------------------------------------------


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Collector:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.recipients: list[list[str]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
            self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        """The messages sent to ``address``."""
        return [m for m in self.messages if m["To"] == address]


@contextmanager
def mail_server(app, handler: Collector):
    """A local SMTP server the app is configured to use, giving its messages to ``handler``."""
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    app.config.update(
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=controller.port,
        SMTP_STARTTLS=False,
        PUBLIC_URL="https://portfolio.example.org",
    )
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def smtp(app):
    """A local SMTP server the app is configured to use (a ``Collector``); stopped after the test."""
    with mail_server(app, Collector()) as handler:
        yield handler


def body_of(message) -> str:
    """The plain-text body of an email."""
    return message.get_body(preferencelist=("plain",)).get_content()


def wait_for_mail(smtp, count: int, timeout: float = 15.0) -> None:
    """Wait until ``smtp`` holds ``count`` messages (a live server's mail goes out after its answer)."""
    deadline = time.monotonic() + timeout
    while len(smtp.messages) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(smtp.messages) >= count, f"{len(smtp.messages)} emails arrived, expected {count}"


# --- a real threaded server, for requests that race (see tests/racing.py) ----------------


@pytest.fixture
def server(app):
    """The test app on a free loopback port, one thread per request; its port."""
    from tests import racing

    server = make_server(racing.HOST, 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="live-server")
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(racing.TIMEOUT)


# --- people -------------------------------------------------------------------------------
# A file that needs one of these signed in extends it under the same name:
#     @pytest.fixture
#     def worker(worker, auth):
#         auth.login_as(worker)
#         return worker


@pytest.fixture
def worker(app, frameworks) -> User:
    """Wendy Worker <worker@example.org>, a Link Worker (not signed in)."""
    return factories.make_worker()


@pytest.fixture
def supervisor(worker) -> User:
    """Sam Supervisor <supervisor@example.org>, supervising the worker since ASSIGNED_ON."""
    return factories.make_supervisor_of(worker)


@pytest.fixture
def manager(app) -> User:
    """Maya Manager <manager@example.org>."""
    return factories.make_user(Role.MANAGER, email="manager@example.org", name="Maya Manager")


@dataclass
class TwoSupervisors:
    """A worker, both their supervisors, and a competence of the worker's framework."""

    worker: User
    first: User
    second: User
    competence_id: int


@pytest.fixture
def two_supervisors(app, frameworks) -> TwoSupervisors:
    """A worker with two supervisors, both assigned to them now."""
    worker = factories.make_user(
        Role.WORKER, email="worker@example.org", name="Wendy Worker", tier=factories.tier("link-worker", "link-worker")
    )
    first = factories.make_user(Role.SUPERVISOR, email="first@example.org", name="Fatima First")
    second = factories.make_user(Role.SUPERVISOR, email="second@example.org", name="Sam Second")
    factories.assign(first, worker, starts_on=date(2026, 1, 1), audited=True)
    factories.assign(second, worker, starts_on=date(2026, 1, 1), audited=True)
    competence_id = db.session.scalar(
        select(Competence.id)
        .where(Competence.framework_id == worker.framework_id, Competence.retired_at.is_(None))
        .order_by(Competence.position, Competence.id)
        .limit(1)
    )
    return TwoSupervisors(worker, first, second, competence_id)


def link_in(message) -> str:
    """The path of the reset link in an email."""
    url = re.search(r"https://portfolio\.example\.org(/account/reset-password/\S+)", body_of(message))
    assert url, body_of(message)
    return url.group(1)


def _server_clock_in(monkeypatch, zone: str):
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def in_london(monkeypatch):
    """The server's clock in Europe/London (GMT in winter, BST in summer), as ``TZ`` sets it for a deployment."""
    yield from _server_clock_in(monkeypatch, "Europe/London")


@pytest.fixture
def in_tokyo(monkeypatch):
    """The server's clock nine hours ahead of UTC all year: its day differs from UTC's every evening (UTC)."""
    yield from _server_clock_in(monkeypatch, "Asia/Tokyo")
