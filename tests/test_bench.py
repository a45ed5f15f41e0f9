"""The benchmark's opt-in query count header, and a smoke run of `make bench` on tiny data (never its timings)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from portfolio import create_app
from portfolio.extensions import db
from portfolio.models import Role

from . import factories
from .conftest import AuthActions, QueryCounter

PROJECT = Path(__file__).resolve().parents[1]


def test_pages_say_nothing_about_their_queries_by_default(client, auth, frameworks):
    worker = factories.make_user(Role.WORKER, tier=factories.tier("link-worker", "link-worker"))
    auth.login_as(worker)

    response = client.get("/portfolio/")

    assert response.status_code == 200
    assert "X-Query-Count" not in response.headers


def test_with_the_benchmark_setting_each_answer_counts_its_queries(app, database_url, frameworks, tmp_path):
    worker = factories.make_user(Role.WORKER, tier=factories.tier("link-worker", "link-worker"))
    counted = create_app(
        {
            "PORTFOLIO_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "UPLOAD_FOLDER": str(tmp_path / "uploads"),
            "SECRET_KEY": "test-secret-key",
            "QUERY_COUNT_HEADER": True,
        }
    )
    with counted.app_context():
        client = counted.test_client()
        AuthActions(client).login_as(db.session.merge(worker))
        with QueryCounter(db.engine) as queries:
            response = client.get("/portfolio/")
        db.session.remove()
        db.engine.dispose()

    assert response.status_code == 200
    assert "My portfolio" in response.get_data(as_text=True)
    assert int(response.headers["X-Query-Count"]) == queries.count > 0


def _bench_database(database_url: str, tmp_path: Path) -> str:
    """Where the smoke run builds its data: a file on SQLite; on PostgreSQL a database of its own beside the
    suite's (the builder drops every table of the one it is given)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return f"sqlite:///{tmp_path / 'bench.db'}"
    name = f"{url.database}_bench"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")  # CREATE DATABASE runs outside a transaction
    try:
        with engine.connect() as conn:
            if conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}) is None:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def test_the_benchmark_runs_on_tiny_data_and_prints_every_page(database_url, tmp_path):
    """A smoke run on the suite's database: it builds, serves, loads each page briefly and prints its table.
    Timings are not checked."""
    from tests.bench.run import PAGES

    results = tmp_path / "RESULTS.md"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTFOLIO_", "GUNICORN"))}
    bench_url = _bench_database(database_url, tmp_path)
    env["PORTFOLIO_BENCH_DATABASE_URL"] = bench_url
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.bench",
            "--scale",
            "tiny",
            "--seconds",
            "1",
            "--hello-seconds",
            "0.5",
            "--clients",
            "1",
            "--documents",
            "1",
            "--instance",
            str(tmp_path / "instance"),
            "--results",
            str(results),
        ],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    for page in PAGES:
        assert f"| {page.name} |" in run.stdout, f"{page.name} missing from:\n{run.stdout}"
    for line in ("hello", "Panel PDF", "Data export", "20 MB upload", "Fragment"):
        assert line in run.stdout
    written = results.read_text()
    assert ("## PostgreSQL" if bench_url.startswith("postgresql") else "## SQLite") in written
    assert all(f"| {page.name} |" in written for page in PAGES)


def test_the_load_sends_the_session_cookie_the_app_last_set_as_a_browser_does():
    from tests.bench.load import keep_cookies

    sent = "session=old.signature; other=kept"
    answer = "session=new.signature; Expires=Tue, 01 Dec 2026 07:57:22 GMT; Secure; HttpOnly; Path=/; SameSite=Lax"

    assert keep_cookies(sent, answer) == "session=new.signature; other=kept"
    assert keep_cookies("", answer) == "session=new.signature"


def test_a_run_replaces_only_its_own_database_section_of_the_results(tmp_path):
    from tests.bench.run import write_results

    results = tmp_path / "RESULTS.md"
    write_results(results, "PostgreSQL", "## PostgreSQL\n\nfirst PostgreSQL run\n")
    write_results(results, "SQLite", "## SQLite\n\nfirst SQLite run\n")
    write_results(results, "PostgreSQL", "## PostgreSQL\n\nsecond PostgreSQL run\n")

    text = results.read_text()
    assert text.startswith("# Benchmark results")
    assert "first SQLite run" in text and "second PostgreSQL run" in text
    assert "first PostgreSQL run" not in text
    assert text.index("## SQLite") < text.index("## PostgreSQL")


def test_cached_data_on_an_older_schema_is_migrated_not_built_again(tmp_path):
    """A new migration should cost the benchmark an upgrade, not the whole build (minutes on the full data)."""
    from flask_migrate import downgrade
    from sqlalchemy import func, select

    from portfolio.models import Evidence
    from tests.bench import data

    url, instance, uploads = f"sqlite:///{tmp_path / 'bench.db'}", tmp_path / "instance", tmp_path / "uploads"
    said: list[str] = []
    cast = data.ensure(url, "tiny", instance, uploads, say=said.append)
    app = data.app_for(url, uploads)
    with app.app_context():
        items = db.session.scalar(select(func.count(Evidence.id)))
        downgrade(revision="-1")  # as if the data had been built before the newest migration
        db.session.remove()
        db.engine.dispose()
    stamp = next(instance.glob("stamp-*.json"))
    older = data._database_revision(url)
    assert older and older != data.head_revision()
    stamp.write_text(stamp.read_text().replace(data.head_revision(), older))

    said.clear()
    assert data.ensure(url, "tiny", instance, uploads, say=said.append) == cast
    assert said[0] == f"Upgrading the tiny data from schema {older} to {data.head_revision()}."
    assert not any("Built" in line for line in said)
    assert data._database_revision(url) == data.head_revision()
    with app.app_context():
        assert db.session.scalar(select(func.count(Evidence.id))) == items


def test_the_benchmark_vacuums_and_analyses_postgresql(app, database_url, frameworks):
    """PostgreSQL is vacuumed and analysed as autovacuum would in production (the planner's statistics, and
    the pages marked all-visible that index-only scans need); SQLite is left as the app leaves it."""
    from tests.bench import data

    db.session.commit()  # the frameworks are written: nothing of the test's holds a lock ANALYZE would wait on
    data._vacuum_analyze(database_url)
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            if make_url(database_url).get_backend_name() == "postgresql":
                vacuumed, analysed = conn.execute(
                    text(
                        "SELECT last_vacuum IS NOT NULL, last_analyze IS NOT NULL FROM pg_stat_user_tables"
                        " WHERE relname = 'competences'"
                    )
                ).one()
                assert (vacuumed, analysed) == (True, True)
            else:
                stats = conn.scalar(text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"))
                assert stats == 0
    finally:
        engine.dispose()
