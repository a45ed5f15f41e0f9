"""Migration 0013 fills ``evidence.search_text`` for items written before 0007 added it.

The database is built at 0007 on its own (a SQLite file, or a separate schema
of the PostgreSQL test database), items are inserted with SQL as the app of
that time wrote them (``search_text`` left at its empty default), and after
upgrading to head the app's own search finds them.
"""

from __future__ import annotations

import html
import os
import uuid
from datetime import UTC, date, datetime

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from portfolio import create_app
from portfolio.evidence import service as evidence_service
from portfolio.extensions import db
from portfolio.models import Evidence, User, search_text_of

from .conftest import PG_ENV, AuthActions, IsolatedClient
from .factories import PASSWORD_HASH, load_frameworks, tier

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
OLD_ITEMS = [
    # (kind, title, what_happened, description, provider)
    ("reflection", "Home visit with a carer", "<p>We talked about <strong>respite</strong> options.</p>", "", None),
    ("certificate", "Safeguarding adults level 2", "", "", "County Training Hub"),
    ("other", "Community asset map", "", "<p>A map of <em>allotment</em> groups &amp; cafés.</p>", None),
]


@pytest.fixture
def old_database(tmp_path):
    """A database URL of its own, removed afterwards."""
    base = os.environ.get(PG_ENV)
    if not base:
        yield f"sqlite:///{tmp_path / 'at-0007.db'}"
        return
    schema = f"backfill_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield (
            make_url(base)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def insert_old_rows(connection) -> int:
    """A worker and their items, as they were stored at revision 0007 (no search text)."""
    connection.execute(
        text(
            "INSERT INTO users (email, name, password_hash, is_worker, is_supervisor, is_manager, active, session_version, created_at) "
            "VALUES ('old@example.org', 'Olive Old', :hash, TRUE, FALSE, FALSE, TRUE, 1, :now)"
        ),
        {"hash": PASSWORD_HASH, "now": NOW},
    )
    owner = connection.execute(text("SELECT id FROM users WHERE email = 'old@example.org'")).scalar_one()
    for kind, title, happened, description, provider in OLD_ITEMS:
        connection.execute(
            text(
                "INSERT INTO evidence (owner_id, kind, status, title, occurred_on, is_private, what_happened, what_learned, "
                "practice_change, next_steps, description, provider, created_at, updated_at) "
                "VALUES (:owner, :kind, 'draft', :title, :on, FALSE, :happened, '', '', '', :description, :provider, :now, :now)"
            ),
            {
                "owner": owner,
                "kind": kind,
                "title": title,
                "on": date(2025, 12, 1),
                "happened": happened,
                "description": description,
                "provider": provider,
                "now": NOW,
            },
        )
    return owner


def test_items_written_before_the_search_column_are_found_after_the_upgrade(old_database, tmp_path):
    app = create_app(
        {
            "PORTFOLIO_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": old_database,
            "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        }
    )
    app.test_client_class = IsolatedClient
    with app.app_context():
        try:
            upgrade(revision="0007_search_text")
            with db.engine.begin() as connection:
                owner_id = insert_old_rows(connection)
                assert connection.execute(text("SELECT search_text FROM evidence")).scalars().all() == ["", "", ""]

            upgrade()

            # Every old item now holds what the app itself computes for it.
            for item in db.session.scalars(select(Evidence).order_by(Evidence.id)):
                assert item.search_text == search_text_of(item) != ""
            stored = dict(db.session.execute(select(Evidence.title, Evidence.search_text)).all())
            assert stored["Home visit with a carer"] == "home visit with a carer we talked about respite options."
            assert stored["Community asset map"] == "community asset map a map of allotment groups & cafés."

            worker = db.session.get(User, owner_id)

            def found(q: str) -> list[str]:
                page = evidence_service.portfolio_page(worker, evidence_service.PortfolioFilters(q=q))
                return [e.title for e in page.items]

            assert found("respite") == ["Home visit with a carer"]
            assert found("county hub") == ["Safeguarding adults level 2"]
            assert found("ALLOTMENT cafés") == ["Community asset map"]
            assert found("strong") == []  # the HTML's tags are not words of the item

            # And through the page, as the worker searches (a portfolio page needs a framework).
            load_frameworks()
            worker.tier_id = tier("link-worker", "link-worker").id
            worker.framework_id = tier("link-worker", "link-worker").framework_id
            client = app.test_client()
            AuthActions(client).login_as(worker)
            db.session.commit()
            page = html.unescape(client.get("/portfolio/?q=respite").get_data(as_text=True))
            assert "Home visit with a carer" in page
            assert "Safeguarding adults level 2" not in page and "Community asset map" not in page
        finally:
            db.session.remove()
            db.engine.dispose()


def test_the_backfill_leaves_text_written_by_the_app_alone(old_database, tmp_path):
    """Rows that already have search text (written after 0007) are not rewritten."""
    app = create_app(
        {
            "PORTFOLIO_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": old_database,
            "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        }
    )
    with app.app_context():
        try:
            upgrade(revision="0007_search_text")
            with db.engine.begin() as connection:
                insert_old_rows(connection)
                connection.execute(
                    text("UPDATE evidence SET search_text = 'kept as written' WHERE title = 'Community asset map'")
                )
            upgrade()
            stored = dict(db.session.execute(select(Evidence.title, Evidence.search_text)).all())
            assert stored["Community asset map"] == "kept as written"
            assert stored["Safeguarding adults level 2"] == "safeguarding adults level 2 county training hub"
        finally:
            db.session.remove()
            db.engine.dispose()
