"""Documents built in the background: the data export and the panel PDF, their status page and download."""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from portfolio.documents import service
from portfolio.extensions import db
from portfolio.models import Document, DocumentKind, DocumentStatus, SupervisionAssignment
from tests import factories
from tests.conftest import ask_for_document, built_document, csrf_token, queue_at, read_download, run_consumer
from tests.pages import count, page_title, pdf_text, status_of, swapped_parts, words
from tests.racing import HttpClient, no_server_errors, overlapped, race


@pytest.fixture
def worker(worker, auth):
    auth.login_as(worker)
    return worker


def documents() -> list[Document]:
    db.session.commit()  # a fresh snapshot: see what the requests wrote
    return list(db.session.scalars(select(Document).order_by(Document.id)))


def files_in(app) -> list[str]:
    folder = Path(app.config["UPLOAD_FOLDER"]).parent / "documents"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- Built at once (tasks run when queued in tests) ----------------------------------------


def test_my_progress_offers_both_documents_as_buttons_that_work_without_javascript(client, worker):
    page = client.get("/progress/").text
    documents_part = page.split('id="documents"', 1)[1]
    assert 'method="post" action="/progress/export.zip"' in documents_part
    assert "All my data (zip)" in documents_part
    assert 'action="/progress/portfolio.pdf?tier=' in documents_part
    assert "Portfolio for a promotion panel: Link Worker Coach (PDF)" in documents_part


def test_the_data_export_is_built_and_offered_for_download(app, client, auth, worker):
    status_page = ask_for_document(client, auth, "/progress/export.zip")

    [document] = documents()
    assert (document.kind, document.status, document.worker_id) == (DocumentKind.DATA_EXPORT, "ready", worker.id)
    assert files_in(app) == [document.stored_name]
    page = client.get(status_page)
    assert page.status_code == 200
    assert page_title(page.text) == "All your data – Evidence portfolio"
    assert status_of(page.text, "document-live") == "Ready to download."
    assert "http-equiv" not in page.text and "hx-trigger" not in page.text  # nothing polls a finished document
    assert f"Download my-portfolio-data.zip ({document.size // 1024} KB)" in words(page.text)

    download = read_download(client, f"{status_page}/download")
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "application/zip"
    assert download.headers["Cache-Control"] == "no-store"
    assert download.headers["Content-Disposition"] == "attachment; filename=my-portfolio-data.zip"
    with zipfile.ZipFile(io.BytesIO(download.data)) as archive:
        assert json.loads(archive.read("portfolio.json"))["person"]["email"] == "worker@example.org"


def test_the_panel_pdf_is_built_by_the_same_builder(client, auth, worker, supervisor, task_queue):
    factories.meet(worker, factories.competences(refs=["PS-LW-01"]), supervisor=supervisor, title="Walking group")
    pdf = built_document(client, auth, "/progress/portfolio.pdf", task_queue)  # through a real queue

    [document] = documents()
    assert document.kind == DocumentKind.PANEL_PDF and document.tier.slug == "link-worker-coach"
    assert document.download_name == "portfolio-wendy-worker-link-worker-coach.pdf"
    assert "Walking group" in pdf_text(pdf)


def test_a_supervisor_asks_for_their_supervisees_pdf_and_loses_it_with_the_supervision(
    client, auth, worker, supervisor
):
    auth.login_as(supervisor)
    status_page = ask_for_document(client, auth, f"/progress/workers/{worker.id}/portfolio.pdf")
    page = client.get(status_page)
    assert (
        page_title(page.text)
        == "Portfolio for a promotion panel: Link Worker Coach for Wendy Worker – Evidence portfolio"
    )
    assert read_download(client, f"{status_page}/download").status_code == 200

    # The worker did not ask for it: 404, as for a missing one.
    auth.login_as(worker)
    assert client.get(status_page).status_code == 404
    assert read_download(client, f"{status_page}/download").status_code == 404

    # Supervision ends: today's rule applies to documents built before.
    for assignment in db.session.scalars(select(SupervisionAssignment)):
        assignment.ends_on = factories.days_ago(1)
    db.session.commit()
    auth.login_as(supervisor)
    assert client.get(status_page).status_code == 404
    assert read_download(client, f"{status_page}/download").status_code == 404


def test_a_tier_of_another_framework_is_refused_and_nothing_is_queued(client, auth, worker):
    other = factories.tier("sfh-senior-engagement-worker", "senior-engagement-worker")
    response = client.post(f"/progress/portfolio.pdf?tier={other.id}", data={"csrf_token": auth.token("/progress/")})
    assert response.status_code == 404
    assert documents() == []


def test_a_failed_build_says_so_and_leaves_no_file(app, client, auth, worker, monkeypatch, caplog):
    def broken(document):
        (service.folder() / "half-written").write_bytes(b"")  # a builder's own litter is not ours to judge
        raise OSError("disk full")

    monkeypatch.setitem(service.BUILDERS, DocumentKind.DATA_EXPORT, broken)
    status_page = ask_for_document(client, auth, "/progress/export.zip")

    [document] = documents()
    assert document.status == DocumentStatus.FAILED and document.stored_name is None
    assert files_in(app) == ["half-written"]  # nothing of the document's own: no .part, no stored file
    page = client.get(status_page)
    assert status_of(page.text, "document-live") == "It could not be prepared."
    assert "Go back and ask for it again" in words(page.text)
    assert read_download(client, f"{status_page}/download").status_code == 404
    assert "Could not build document" in caplog.text and "worker@example.org" not in caplog.text


def test_an_expired_document_is_gone_and_its_file_removed(app, client, auth, worker):
    status_page = ask_for_document(client, auth, "/progress/export.zip")
    [document] = documents()
    document.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    db.session.commit()

    assert client.get(status_page).status_code == 404
    assert read_download(client, f"{status_page}/download").status_code == 404
    assert service.remove_expired() == 1
    assert documents() == [] and files_in(app) == []


def test_a_failed_or_lost_build_is_removed_once_a_ready_one_would_have_expired(app, client, auth, worker):
    ask_for_document(client, auth, "/progress/export.zip")
    [document] = documents()
    document.status, document.expires_at, document.stored_name = DocumentStatus.FAILED, None, None
    db.session.commit()
    assert service.remove_expired() == 0  # a recent failure stays, so its page can say what happened

    hours = app.config["DOCUMENT_HOURS"]
    document = documents()[0]
    document.requested_at = datetime.now(UTC) - timedelta(hours=hours) - service.BUILD_TIMEOUT - timedelta(minutes=1)
    db.session.commit()
    assert service.remove_expired() == 1 and documents() == []


def test_files_that_no_document_names_are_cleared_once_old(app, client, auth, worker):
    ask_for_document(client, auth, "/progress/export.zip")
    [kept] = files_in(app)
    folder = service.folder()
    stray, fresh = folder / ("a" * 32 + ".zip.part"), folder / ("b" * 32 + ".pdf")
    stray.write_bytes(b"x")
    fresh.write_bytes(b"x")
    old = time.time() - 3600
    os.utime(stray, (old, old))

    assert service.remove_expired() == 0
    assert files_in(app) == sorted([kept, fresh.name])  # the young one may be a build about to commit


# --- Through a real queue: the page waits, then offers the download ------------------------


def test_the_status_page_refreshes_itself_until_the_document_is_ready(client, auth, worker, task_queue):
    status_page = ask_for_document(client, auth, "/progress/export.zip")
    assert task_queue.pending() == 1
    [document] = documents()
    assert document.status == DocumentStatus.BUILDING

    # JavaScript off: the whole page asks again every 2 seconds.
    page = client.get(status_page).text
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in page
    assert status_of(page, "document-live") == "Being prepared. This page updates by itself."
    assert read_download(client, f"{status_page}/download").status_code == 404
    # JavaScript on: htmx polls the status region, and the status line outside it is updated out of band.
    assert f'hx-get="{status_page}" hx-trigger="every 2s"' in page
    fragment = client.get(status_page, headers={"HX-Request": "true"}).text
    body, oob = swapped_parts(fragment, "document-status")
    assert 'hx-trigger="every 2s"' in body and oob == [
        '<p id="document-live" class="nhsuk-body portfolio-status" role="status" hx-swap-oob="innerHTML">'
    ]
    # A boosted navigation gets the whole page.
    assert (
        "<h1>All your data</h1>" in client.get(status_page, headers={"HX-Request": "true", "HX-Boosted": "true"}).text
    )

    task_queue.run_all()
    fragment = client.get(status_page, headers={"HX-Request": "true"}).text
    body, _ = swapped_parts(fragment, "document-status")
    assert "hx-trigger" not in body  # polling stops
    assert "Download my-portfolio-data.zip" in body
    assert status_of(fragment, "document-live") == "Ready to download."
    assert read_download(client, f"{status_page}/download").status_code == 200


def test_asking_twice_while_it_is_built_reuses_the_build(client, auth, worker, task_queue):
    first = ask_for_document(client, auth, "/progress/export.zip")
    second = ask_for_document(client, auth, "/progress/export.zip")
    assert first == second
    assert task_queue.pending() == 1 and len(documents()) == 1
    # Another kind, or another tier, is another document.
    ask_for_document(client, auth, "/progress/portfolio.pdf")
    assert task_queue.pending() == 2 and len(documents()) == 2

    task_queue.run_all()
    # Once built, asking again builds afresh (the portfolio may have changed since).
    assert ask_for_document(client, auth, "/progress/export.zip") != first
    assert len(documents()) == 3


def test_a_build_whose_consumer_died_is_reported_and_asked_again(client, auth, worker, task_queue):
    status_page = ask_for_document(client, auth, "/progress/export.zip")
    [document] = documents()
    document.requested_at = datetime.now(UTC) - service.BUILD_TIMEOUT - timedelta(minutes=1)
    db.session.commit()

    assert status_of(client.get(status_page).text, "document-live") == "It could not be prepared."
    assert ask_for_document(client, auth, "/progress/export.zip") != status_page


def test_two_requests_at_once_claim_one_build(app, server, worker, tmp_path):
    with queue_at(app, f"sqlite:///{tmp_path / 'tasks.db'}") as queue:
        outcomes = []
        for round_number in range(3):
            browser = HttpClient(server, f"worker-{round_number}")
            browser.sign_in(worker.email)
            token = csrf_token(browser.get("/progress/").text)
            answers = race([browser.start_post("/progress/export.zip", {"csrf_token": token}) for _ in range(2)])
            no_server_errors({str(i): a for i, a in enumerate(answers)}, round_number)
            assert [a.status for a in answers] == [303, 303], [a.describe() for a in answers]
            assert answers[0].headers["location"] == answers[1].headers["location"]
            assert count(Document, Document.status == DocumentStatus.BUILDING) == 1
            outcomes.append(overlapped(answers))
            queue.run_all()  # built: the next round asks anew
        assert count(Document) == 3 and queue.pending() == 0
        assert any(outcomes)


def test_a_consumer_process_builds_the_document(app, client, auth, worker, tmp_path):
    queue_url = f"sqlite:///{tmp_path / 'tasks.db'}"
    with queue_at(app, queue_url) as queue:
        status_page = ask_for_document(client, auth, "/progress/export.zip")
        assert queue.pending() == 1
        errors = run_consumer(app, queue, queue_url, lambda: count(Document, Document.status != "building") > 0)
        [document] = documents()
        assert document.status == DocumentStatus.READY, errors
        download = read_download(client, f"{status_page}/download")
        assert download.status_code == 200 and download.data[:2] == b"PK"
