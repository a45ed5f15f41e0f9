"""Over-size uploads through a real WSGI server (gunicorn), not the test client.

The test client hands Flask the whole body at once; a real server streams it
from a socket, and that is where limits matter: a request over
MAX_CONTENT_LENGTH must get the NHS.UK 413 page with nothing written, and a
file over the per-file limit (but inside the request limit) must get the form
back with the message next to the field, again with nothing written.
"""

from __future__ import annotations

import os
import re
import secrets
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portfolio.extensions import db
from portfolio.models import Evidence, EvidenceFile, Role
from tests.factories import MIB

from . import factories
from .serving import Browser, Gunicorn, ServerError, csrf_token, multipart, pdf_of_size

WORKER_EMAIL = "uploader@example.org"


@pytest.fixture
def gunicorn(app, database_url, frameworks, tmp_path):
    """gunicorn on the test database and upload folder, with a 1 MB per-file limit; a worker to sign in."""
    factories.make_user(Role.WORKER, email=WORKER_EMAIL, tier=factories.tier("link-worker", "link-worker"))
    db.session.commit()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTFOLIO_", "GUNICORN"))}
    env.update(
        {
            "PORTFOLIO_ENV": "testing",
            "SECRET_KEY": secrets.token_hex(32),
            "PORTFOLIO_DATABASE_URL": database_url,
            "PORTFOLIO_UPLOAD_FOLDER": app.config["UPLOAD_FOLDER"],
            "PORTFOLIO_MAX_UPLOAD_MB": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    gunicorn = Gunicorn(env, tmp_path / "gunicorn.log")
    try:
        try:
            gunicorn.wait_until_ready()
        except ServerError as error:
            pytest.fail(str(error))
        yield gunicorn
    finally:
        gunicorn.stop()
        db.session.rollback()


def _signed_in(server: Gunicorn) -> Browser:
    browser = Browser(server.port)
    form = browser.get("/auth/sign-in")
    assert form.status == 200, form.text
    answer = browser.post_form(
        "/auth/sign-in",
        {"csrf_token": csrf_token(form.text), "email": WORKER_EMAIL, "password": factories.PASSWORD},
    )
    assert answer.status == 303, answer.text
    home = browser.get("/")
    assert home.status == 200
    assert "Sign out" in home.text
    return browser


def _certificate_form(browser: Browser) -> dict[str, str]:
    page = browser.get("/portfolio/new/certificate", follow_redirects=True)
    assert page.status == 200, page.text
    completed = date.today() - timedelta(days=30)
    return {
        "csrf_token": csrf_token(page.text),
        "title": "Safeguarding adults level 2",
        "provider": "County Council Learning",
        "occurred_on-day": str(completed.day),
        "occurred_on-month": str(completed.month),
        "occurred_on-year": str(completed.year),
        "expires_on-day": "",
        "expires_on-month": "",
        "expires_on-year": "",
        "cpd_hours": "3.5",
    }


def _nothing_written(app) -> None:
    db.session.commit()  # end this test's snapshot: see what the server wrote
    assert db.session.scalar(select(func.count()).select_from(Evidence)) == 0
    assert db.session.scalar(select(func.count()).select_from(EvidenceFile)) == 0
    folder = Path(app.config["UPLOAD_FOLDER"])
    left = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    assert left == [], f"files left in the upload folder: {left}"


def _visible_text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_a_request_over_the_limit_gets_the_413_page_and_leaves_nothing(app, gunicorn):
    browser = _signed_in(gunicorn)
    fields = _certificate_form(browser)
    body, content_type = multipart(fields, "files", "certificate.pdf", pdf_of_size(6 * MIB))
    request_limit = 1 * 5 * MIB + MIB  # MAX_CONTENT_LENGTH for MAX_UPLOAD_MB=1, as config.py sets it
    assert len(body) > request_limit

    answer = browser.post_multipart("/portfolio/new/certificate", body, content_type)

    assert answer.status == 413, f"{answer.status}: {answer.text[:500]}\n{gunicorn.log()}"
    text = _visible_text(answer.text)
    assert "The file is too large" in text
    assert "Each file must be smaller than 1 MB" in text
    assert "<title>" in answer.text and "Evidence portfolio" in answer.text  # the NHS.UK layout, not a bare error
    _nothing_written(app)
    # The server is still there for the next request, and the worker still signed in.
    assert browser.get("/portfolio/").status == 200


def test_a_file_over_the_per_file_limit_is_refused_next_to_the_field_and_leaves_nothing(app, gunicorn):
    browser = _signed_in(gunicorn)
    fields = _certificate_form(browser)
    body, content_type = multipart(fields, "files", "certificate.pdf", pdf_of_size(MIB + MIB // 2))
    assert len(body) < 1 * 5 * MIB + MIB  # inside the request limit: the app itself must refuse it

    answer = browser.post_multipart("/portfolio/new/certificate", body, content_type)

    assert answer.status == 422, f"{answer.status}: {answer.text[:500]}\n{gunicorn.log()}"
    error = re.search(r'<span class="nhsuk-error-message" id="files-error">(.*?)</span>\s*<input', answer.text, re.S)
    assert error, "no error message next to the file field"
    assert "The selected file must be smaller than 1 MB" in _visible_text(error.group(1))
    assert 'aria-describedby="files-hint files-error"' in answer.text
    # What was typed is kept for the next try.
    assert 'value="Safeguarding adults level 2"' in answer.text
    _nothing_written(app)
