"""Settings from the environment, database connection settings, response headers and error pages."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from jinja2 import FileSystemBytecodeCache
from sqlalchemy import create_engine, event, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from portfolio import create_app, database
from portfolio.config import ConfigError, build_config
from portfolio.extensions import db
from portfolio.models import Role, Submission, User

from . import factories
from .conftest import AuthActions
from .factories import make_user

ENV_VARS = (
    "PORTFOLIO_ENV",
    "SECRET_KEY",
    "PORTFOLIO_AUDIT_KEY",
    "PORTFOLIO_MFA_KEY",
    "PORTFOLIO_DATABASE_URL",
    "PORTFOLIO_UPLOAD_FOLDER",
    "PORTFOLIO_TEMPLATE_CACHE_FOLDER",
)
# A valid Fernet key (32 bytes, URL-safe base64) for production settings.
MFA_KEY = "cHJvZHVjdGlvbi10ZXN0LW1mYS1rZXktMzItYnl0ZXM="


@pytest.fixture
def clean_env(monkeypatch):
    """No settings inherited from the shell that runs the tests."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# --- build_config ----------------------------------------------------------


def test_production_without_secret_key_refuses_to_start(clean_env, tmp_path):
    clean_env.setenv("PORTFOLIO_ENV", "production")

    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        build_config(str(tmp_path))


def test_production_is_the_default_environment(clean_env, tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        build_config(str(tmp_path))


def test_an_empty_secret_key_counts_as_missing(clean_env, tmp_path):
    clean_env.setenv("PORTFOLIO_ENV", "production")
    clean_env.setenv("SECRET_KEY", "")

    with pytest.raises(ConfigError):
        build_config(str(tmp_path))


def test_create_app_refuses_production_without_secret_key(clean_env, tmp_path):
    clean_env.setenv("PORTFOLIO_ENV", "production")

    with pytest.raises(ConfigError):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'never.db'}"})


def test_production_without_audit_key_refuses_to_start(clean_env, tmp_path):
    clean_env.setenv("PORTFOLIO_ENV", "production")
    clean_env.setenv("SECRET_KEY", "a" * 64)

    with pytest.raises(ConfigError, match="PORTFOLIO_AUDIT_KEY is not set"):
        build_config(str(tmp_path))


def test_production_with_secret_key_starts_with_secure_cookies(clean_env, tmp_path):
    clean_env.setenv("PORTFOLIO_ENV", "production")
    clean_env.setenv("SECRET_KEY", "a" * 64)
    clean_env.setenv("PORTFOLIO_AUDIT_KEY", "b" * 64)
    clean_env.setenv("PORTFOLIO_MFA_KEY", MFA_KEY)

    config = build_config(str(tmp_path))

    assert config["SECRET_KEY"] == "a" * 64
    assert config["PORTFOLIO_ENV"] == "production"
    assert config["TESTING"] is False
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["REMEMBER_COOKIE_SECURE"] is True
    assert config["SEND_HSTS"] is True
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert config["REMEMBER_COOKIE_HTTPONLY"] is True
    assert config["REMEMBER_COOKIE_SAMESITE"] == "Lax"


def test_testing_has_no_secure_cookies_and_a_generated_key(clean_env, tmp_path):
    config = build_config(str(tmp_path), {"PORTFOLIO_ENV": "testing"})

    assert config["TESTING"] is True
    assert config["SESSION_COOKIE_SECURE"] is False
    assert config["REMEMBER_COOKIE_SECURE"] is False
    assert config["SEND_HSTS"] is False
    assert len(config["SECRET_KEY"]) >= 32
    assert build_config(str(tmp_path), {"PORTFOLIO_ENV": "testing"})["SECRET_KEY"] != config["SECRET_KEY"]


def test_database_and_upload_folder_are_read_from_the_environment(clean_env, tmp_path):
    clean_env.setenv("PORTFOLIO_DATABASE_URL", "postgresql+psycopg://portfolio@db.internal/portfolio")
    clean_env.setenv("PORTFOLIO_UPLOAD_FOLDER", "/srv/portfolio/uploads")

    config = build_config(str(tmp_path), {"PORTFOLIO_ENV": "testing"})

    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://portfolio@db.internal/portfolio"
    assert config["UPLOAD_FOLDER"] == "/srv/portfolio/uploads"


def test_default_database_is_a_sqlite_file_in_the_instance_folder(clean_env, tmp_path):
    config = build_config(str(tmp_path), {"PORTFOLIO_ENV": "development"})

    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'portfolio.db'}"
    assert config["UPLOAD_FOLDER"] == str(tmp_path / "uploads")
    # Uploads never live where the web server serves static files.
    assert "static" not in Path(config["UPLOAD_FOLDER"]).parts


def test_a_served_app_keeps_compiled_templates_on_disk_and_does_not_reload_them(clean_env, tmp_path):
    clean_env.setenv("PORTFOLIO_TEMPLATE_CACHE_FOLDER", str(tmp_path / "compiled"))
    app = create_app({"PORTFOLIO_ENV": "development", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db'}"})

    assert app.jinja_env.auto_reload is False
    app.jinja_env.get_template("auth/sign_in.html")  # compiled once, written for the next process
    assert isinstance(app.jinja_env.bytecode_cache, FileSystemBytecodeCache)
    written = list((tmp_path / "compiled").iterdir())
    assert written, "no compiled template was written"
    # Named apart from code compiled without the whitespace settings (an older release's), which is not read.
    assert all(path.name.startswith("__trimmed_") for path in written)
    # Tests build an app per test and share one cache in memory instead.
    assert build_config(str(tmp_path), {"PORTFOLIO_ENV": "testing"})["TEMPLATE_CACHE_FOLDER"] is None
    clean_env.delenv("PORTFOLIO_TEMPLATE_CACHE_FOLDER")
    clean_env.setenv("SECRET_KEY", "a" * 64)
    clean_env.setenv("PORTFOLIO_AUDIT_KEY", "b" * 64)
    clean_env.setenv("PORTFOLIO_MFA_KEY", MFA_KEY)
    config = build_config(str(tmp_path), {"PORTFOLIO_ENV": "production"})
    assert config["TEMPLATE_CACHE_FOLDER"] == str(tmp_path / "template-cache")


def test_pages_carry_the_nhs_macros_markup_without_their_template_lines(client, auth, worker):
    """The NHS.UK macros put each optional attribute's ``{% if %}`` on a line of its own, and every such line reached
    the page: a form's page was half blank lines. Only whitespace beside block tags goes; words and markup stay."""
    auth.login_as(worker)
    page = client.get("/portfolio/new/reflection", follow_redirects=True).text
    assert '<label class="nhsuk-label" for="title">' in page
    assert (
        '<input class="nhsuk-input" id="title" name="title" type="text" value="" aria-describedby="title-hint"' in page
    )
    assert not re.search(r"\n[ \t]*\n[ \t]*\n", page), "a run of blank lines"


def test_an_unknown_environment_is_refused(clean_env, tmp_path):
    clean_env.setenv("PORTFOLIO_ENV", "staging")

    with pytest.raises(ConfigError, match="PORTFOLIO_ENV must be one of"):
        build_config(str(tmp_path))


def test_a_number_setting_that_is_not_a_number_is_refused(clean_env, tmp_path):
    clean_env.setenv("PORTFOLIO_IDLE_MINUTES", "thirty")

    with pytest.raises(ConfigError, match="PORTFOLIO_IDLE_MINUTES must be a whole number"):
        build_config(str(tmp_path), {"PORTFOLIO_ENV": "testing"})


def test_overrides_win_over_the_environment(clean_env, tmp_path):
    clean_env.setenv("PORTFOLIO_DATABASE_URL", "sqlite:///from-env.db")

    config = build_config(
        str(tmp_path), {"PORTFOLIO_ENV": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite:///override.db"}
    )

    assert config["SQLALCHEMY_DATABASE_URI"] == "sqlite:///override.db"


# --- database connections --------------------------------------------------


def test_sqlite_connections_are_configured(app):
    if db.engine.dialect.name != "sqlite":
        assert db.engine.dialect.name == "postgresql"
        return
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar().lower() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0


def test_a_pooled_connection_is_tested_before_use_only_after_lying_idle(app, monkeypatch):
    """Tested before every use (SQLAlchemy's pool_pre_ping), a connection cost each request a round trip to
    PostgreSQL: now one idle for PING_IDLE_AFTER_SECONDS is tested, and replaced if the database ended it meanwhile.
    A SQLite file never goes away: its connections are never tested."""
    postgres = db.engine.dialect.name == "postgresql"
    pings: list[object] = []
    ping = db.engine.dialect.do_ping
    monkeypatch.setattr(db.engine.dialect, "do_ping", lambda connection: pings.append(connection) or ping(connection))
    clock = [database.monotonic()]
    monkeypatch.setattr(database, "monotonic", lambda: clock[0])
    db.session.remove()
    db.engine.dispose()  # the pool starts empty: a new connection is not tested

    def backend() -> object:
        with db.engine.connect() as connection:
            return connection.execute(text("SELECT pg_backend_pid()" if postgres else "SELECT 1")).scalar()

    first = backend()
    clock[0] += database.PING_IDLE_AFTER_SECONDS - 1
    assert backend() == first and pings == []  # used a moment ago: taken as it is
    clock[0] += database.PING_IDLE_AFTER_SECONDS
    assert backend() == first and len(pings) == (1 if postgres else 0)  # idle: tested, alive
    if not postgres:
        return
    other = create_engine(db.engine.url)
    try:
        with other.begin() as connection:  # the database ends the idle connection (a restart, a firewall)
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    finally:
        other.dispose()
    clock[0] += database.PING_IDLE_AFTER_SECONDS
    assert backend() != first and len(pings) == 2  # tested, found dead, and a new one taken instead


def test_a_page_that_only_reads_opens_no_transaction_and_a_use_case_holds_its_locks_until_it_ends(
    app, client, auth, worker
):
    """On PostgreSQL a page that only reads opens no transaction (BEGIN and COMMIT were two of the lightest page's
    three round trips); a use case's first lock begins one, and what it locks stays locked until it commits. SQLite
    reads in a transaction, which costs no round trip, and a writer holds the database from ``begin_write``."""
    postgres = db.engine.dialect.name == "postgresql"
    auth.login_as(worker)
    db.session.commit()
    in_transaction: list[bool] = []

    def _seen(conn, cursor, statement, _parameters, _context, _executemany) -> None:
        if database.is_query(statement):
            # What the driver says, not SQLAlchemy (whose Connection always says it began one).
            driver = cursor.connection
            in_transaction.append(driver.info.transaction_status != 0 if postgres else driver.in_transaction)

    event.listen(db.engine, "after_cursor_execute", _seen)
    try:
        page = client.get("/")
    finally:
        event.remove(db.engine, "after_cursor_execute", _seen)
    assert page.status_code == 200 and "competences met" in page.text
    assert in_transaction and set(in_transaction) == {not postgres}

    other = create_engine(db.engine.url, connect_args={} if postgres else {"timeout": 0})
    turn = database.TURNS["audit ledger"]

    def free(what: str) -> bool:
        """Whether another connection may now lock the worker's row or take the turn (PostgreSQL), or write at
        all (SQLite)."""
        with other.connect() as connection:
            try:
                if not postgres:
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                    connection.exec_driver_sql("ROLLBACK")
                    return True
                with connection.begin():
                    if what == "row":
                        connection.execute(
                            text("SELECT 1 FROM users WHERE id = :id FOR UPDATE NOWAIT"), {"id": worker.id}
                        )
                        return True
                    return bool(
                        connection.execute(text("SELECT pg_try_advisory_xact_lock(:turn)"), {"turn": turn}).scalar()
                    )
            except OperationalError:
                return False

    try:
        database.begin_write()
        database.take_turns(turn)
        assert not free("turn")  # held though nothing was written
        db.session.commit()
        assert free("turn")

        database.begin_write()
        assert database.lock(User, worker.id) is not None
        assert not free("row")
        worker.name = "Renamed while locked"
        db.session.flush()
        assert not free("row")
        db.session.commit()
        assert free("row")
    finally:
        other.dispose()
    assert db.session.scalar(select(User.name).where(User.id == worker.id)) == "Renamed while locked"


def test_a_savepoint_or_a_server_side_cursor_as_the_first_statement_begins_the_transaction_it_needs(app, worker):
    """Rolling back to a savepoint undoes only what came after it, and the rest commits, on either database (on
    PostgreSQL a savepoint is the statement that begins the transaction, when nothing came before it); rows read
    through a server-side cursor arrive (PostgreSQL keeps such a cursor only inside a transaction)."""
    db.session.commit()
    statements: list[str] = []

    def _sent(_conn, _cursor, statement, _parameters, _context, _executemany) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", _sent)
    try:
        with db.session.begin_nested():
            worker.name = "Kept"
        nested = db.session.begin_nested()
        worker.email = "undone@example.org"
        db.session.flush()
        nested.rollback()
        db.session.commit()
        assert next(s for s in statements if not s.startswith("BEGIN")).startswith("SAVEPOINT")  # SQLite: BEGIN first
        streamed = db.session.execute(
            select(User.name).where(User.id == worker.id).execution_options(stream_results=True)
        )
        assert streamed.scalars().all() == ["Kept"]
        db.session.commit()
    finally:
        event.remove(db.engine, "before_cursor_execute", _sent)
    assert db.session.execute(select(User.name, User.email).where(User.id == worker.id)).one() == (
        "Kept",
        "worker@example.org",
    )


def test_a_setting_made_as_a_connection_opens_lasts_and_leaves_no_transaction_open(app, client, auth, worker):
    """A listener that sets something for the session when a connection is made (the benchmark's builder turns off
    waiting for the disk) leaves the connection outside any transaction on PostgreSQL: the setting lasts, and the
    pool can hand the connection out to read in autocommit (psycopg refuses to switch inside a transaction)."""
    postgres = db.engine.dialect.name == "postgresql"
    auth.login_as(worker)
    db.session.commit()
    db.session.remove()
    db.engine.dispose()  # every connection from here on is a new one

    def _setting(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET work_mem TO '5MB'" if postgres else "PRAGMA cache_size = -5000")
        cursor.close()

    event.listen(db.engine, "connect", _setting)
    try:
        page = client.get("/")
        setting = db.session.execute(text("SHOW work_mem" if postgres else "PRAGMA cache_size")).scalar()
    finally:
        event.remove(db.engine, "connect", _setting)
        db.session.remove()
        db.engine.dispose()
    assert page.status_code == 200 and "competences met" in page.text
    assert setting == ("5MB" if postgres else -5000)


def test_postgresql_runs_at_read_committed_whatever_the_servers_default(clean_env, tmp_path):
    """Every use case is written for read committed, and reads run outside a transaction on it: the app asks for
    it on PostgreSQL (SQLite has no such setting)."""
    postgres = build_config(
        str(tmp_path), {"PORTFOLIO_ENV": "testing", "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://db/portfolio"}
    )
    sqlite_ = build_config(
        str(tmp_path), {"PORTFOLIO_ENV": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite:///portfolio.db"}
    )
    assert postgres["SQLALCHEMY_ENGINE_OPTIONS"] == {"isolation_level": "READ COMMITTED"}
    assert "SQLALCHEMY_ENGINE_OPTIONS" not in sqlite_


def test_foreign_keys_are_enforced(app):
    """On either database, a user cannot point at a tier that does not exist."""
    db.session.add(
        User(email="orphan@example.org", name="Orphan", password_hash=factories.PASSWORD_HASH, tier_id=999_999)
    )
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert db.session.scalar(text("SELECT count(*) FROM users")) == 0


# --- headers ---------------------------------------------------------------

INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc\s*=)[^>]*>", re.I)
HTMX_CONFIG = re.compile(r"""<meta name="htmx-config" content=(?:'([^']*)'|"([^"]*)")""")


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def assert_page_is_protected(response) -> None:
    headers = response.headers
    csp = headers.get("Content-Security-Policy")
    assert csp, f"no CSP on {response.request.path}"
    directives = csp_directives(csp)
    assert directives["script-src"] == ["'self'"]
    assert directives["default-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in csp
    assert "'unsafe-eval'" not in csp
    assert headers.get("X-Content-Type-Options") == "nosniff"
    assert headers.get("Referrer-Policy") == "same-origin"
    assert "no-store" in headers.get("Cache-Control", "")
    assert "hx-request" in {value.lower() for value in response.vary}
    assert "Strict-Transport-Security" not in headers  # local development and tests only

    page = response.text
    assert not INLINE_SCRIPT.findall(page), f"inline script on {response.request.path}: {INLINE_SCRIPT.findall(page)}"
    assert not re.search(r"\son[a-z]+\s*=", page, re.I), "inline event handler attribute"
    match = HTMX_CONFIG.search(page)
    assert match, "no htmx-config meta tag"
    raw = html.unescape(match.group(1) or match.group(2))
    for setting in (
        '"selfRequestsOnly":true',
        '"allowEval":false',
        '"allowScriptTags":false',
        '"historyCacheSize":0',
        '"includeIndicatorStyles":false',
    ):
        assert setting in raw.replace(" ", "")
    config = json.loads(raw)
    assert config["selfRequestsOnly"] is True
    assert config["allowEval"] is False
    assert config["allowScriptTags"] is False
    assert config["historyCacheSize"] == 0
    assert config["includeIndicatorStyles"] is False
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert token and token.group(1)


def test_sign_in_page_headers(client):
    response = client.get("/auth/sign-in")

    assert response.status_code == 200
    assert_page_is_protected(response)


def test_sign_in_page_with_errors_has_the_headers(client, auth):
    response = auth.sign_in("nobody@example.org", "wrong password here")

    assert response.status_code == 422
    assert_page_is_protected(response)


def test_signed_in_pages_carry_the_headers(client, auth, frameworks):
    make_user(Role.MANAGER, email="maya@example.org")
    make_user(tier=factories.tier("link-worker", "link-worker"), email="wendy@example.org")
    sfh = frameworks["sfh-senior-engagement-worker"]
    link = frameworks["link-worker"]

    pages = {
        "maya@example.org": [
            "/",
            "/frameworks/",
            f"/frameworks/{link.id}",
            f"/frameworks/{sfh.id}",
            f"/frameworks/{sfh.id}/locality/new",
        ],
        "wendy@example.org": ["/", "/frameworks/", f"/frameworks/{link.id}"],
    }
    for email, paths in pages.items():
        visitor = client.application.test_client()
        assert AuthActions(visitor).sign_in(email).status_code == 303
        for path in paths:
            response = visitor.get(path)
            assert response.status_code == 200, path
            assert_page_is_protected(response)


def test_htmx_fragment_responses_carry_the_headers(client, auth, frameworks):
    make_user(email="wendy@example.org", tier=factories.tier("link-worker", "link-worker"))
    auth.sign_in("wendy@example.org")

    response = client.get(f"/frameworks/{frameworks['link-worker'].id}?q=people", headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert "<html" not in response.text  # a fragment, not the whole page
    assert "hx-request" in {value.lower() for value in response.vary}
    assert "no-store" in response.headers["Cache-Control"]
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert not INLINE_SCRIPT.findall(response.text)


def test_error_pages_carry_the_headers(client):
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert_page_is_protected(response)


def test_cookies_in_testing_are_httponly_and_lax_but_not_secure(client):
    response = client.get("/auth/sign-in")

    [cookie] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_production_sends_hsts_and_secure_cookies(clean_env, tmp_path):
    production = create_app(
        {
            "PORTFOLIO_ENV": "production",
            "SECRET_KEY": "b" * 64,
            "AUDIT_KEY": "c" * 64,
            "MFA_KEY": MFA_KEY,
            # The sign-in page of an anonymous visitor reads one row: the organisation's name for its header.
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'production.db'}",
            "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        }
    )
    with production.app_context():
        db.create_all()

    response = production.test_client().get("/auth/sign-in", base_url="https://portfolio.example")

    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    [cookie] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_static_files_are_not_marked_no_store(client):
    response = client.get("/static/js/portfolio.js")

    assert response.status_code == 200
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert "no-store" not in response.headers.get("Cache-Control", "")
    response.close()


# --- error pages -----------------------------------------------------------


def test_missing_page_is_an_nhs_page_not_found(client):
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert "<h1>Page not found</h1>" in response.text
    assert "nhsuk-header" in response.text
    assert "Page not found – Evidence portfolio</title>" in response.text


def test_a_missing_page_for_a_signed_in_user(client, auth):
    make_user(Role.MANAGER, email="maya@example.org")
    auth.sign_in("maya@example.org")

    response = client.get("/frameworks/999999")

    assert response.status_code == 404
    assert "<h1>Page not found</h1>" in response.text


def test_a_manager_page_for_a_worker_is_forbidden(client, auth, frameworks):
    make_user(email="wendy@example.org", tier=factories.tier("link-worker", "link-worker"))
    auth.sign_in("wendy@example.org")
    sfh = frameworks["sfh-senior-engagement-worker"]

    response = client.get(f"/frameworks/{sfh.id}/locality/new")

    assert response.status_code == 403
    assert "<h1>You do not have access to this page</h1>" in response.text
    assert "nhsuk-header" in response.text
    assert_page_is_protected(response)


def test_a_manager_page_for_an_anonymous_visitor_asks_to_sign_in(client, frameworks):
    sfh = frameworks["sfh-senior-engagement-worker"]

    response = client.get(f"/frameworks/{sfh.id}/locality/new")

    assert response.status_code == 302
    assert response.location.startswith("/auth/sign-in?next=")


def test_wrong_method_is_an_nhs_page_that_names_the_allowed_methods(client):
    response = client.put("/auth/sign-in")

    assert response.status_code == 405
    assert "Sorry, there is a problem with the request" in response.text
    # RFC 9110 15.5.6: a 405 response MUST carry Allow.
    assert "POST" in response.headers.get("Allow", "")


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["page", "boosted"])
def test_opening_an_address_that_only_takes_a_form_says_what_happened(client, headers):
    """With JavaScript off, a refused form's answer stays in the address bar under the form's own address (a
    promotion decision's, say): opening it again is a GET it does not answer. Found by a new user."""
    response = client.get("/auth/sign-out", headers=headers)

    assert response.status_code == 405
    assert "POST" in response.headers.get("Allow", "")
    page = response.text
    assert "<h1>This page cannot be opened again</h1>" in page
    assert "It was the answer to a form you sent, and nothing was changed by opening it." in page
    assert "Go to your home page" in page


def test_markup_typed_by_one_user_is_shown_as_text_to_another(app, client, auth, frameworks):
    """The NHS.UK macros are .jinja templates: they must escape like the .html ones (stored HTML injection)."""
    from datetime import date

    from portfolio.evidence import service as evidence_service
    from portfolio.models import Competence, EvidenceKind
    from tests.factories import assign, tier

    worker = make_user(Role.WORKER, name='Eve <img src=x onerror="alert(1)">', tier=tier("link-worker", "link-worker"))
    supervisor = make_user(Role.WORKER, Role.SUPERVISOR, tier=tier("link-worker", "psychosocial-link-worker"))
    assign(supervisor, worker)
    competence = db.session.scalar(select(Competence).where(Competence.framework_id == worker.framework_id).limit(1))
    title = '<form action="/auth/sign-out" method="post"><button hx-post="/auth/sign-out" hx-trigger="load">x</button></form>'
    item = evidence_service.create_evidence(
        worker,
        EvidenceKind.OTHER,
        evidence_service.EvidenceInput(title=title, occurred_on=date(2026, 1, 5), description="Plain words"),
        link_competence_id=competence.id,
    )
    evidence_service.submit(worker, item)

    auth.login_as(supervisor)
    for path in ("/review/", f"/review/{db.session.scalar(select(Submission.id))}", "/notifications/", "/review/team"):
        page = client.get(path).get_data(as_text=True)
        assert '<img src=x onerror="alert(1)">' not in page, path
        assert 'hx-trigger="load"' not in page, path
    decide_page = client.get(f"/review/{db.session.scalar(select(Submission.id))}").get_data(as_text=True)
    assert "&lt;form action=" in decide_page  # the title, as text
