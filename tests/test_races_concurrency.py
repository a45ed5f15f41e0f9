"""A worker's own requests racing each other, over real HTTP: nothing changes after submission, nothing is made twice.

Same set-up as test_review_concurrency: a threaded WSGI server on a loopback
port, separate HTTP clients signed in through the real form, every request
sent up to its last byte and then released together, on SQLite or on
PostgreSQL (PORTFOLIO_TEST_DATABASE_URL). Each race runs several rounds so
that a lost race is likely to show; every wait is bounded.
"""

from __future__ import annotations

import io
from datetime import date

from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from portfolio.audit import ledger
from portfolio.evidence import service as evidence_service
from portfolio.extensions import db
from portfolio.models import (
    AuditEntry,
    Evidence,
    EvidenceFile,
    EvidenceKind,
    EvidenceStatus,
    FormSubmission,
    PromotionRequest,
    Role,
    Submission,
    User,
)
from portfolio.progress import service as progress
from portfolio.review import service as review

from . import factories
from .conftest import TwoSupervisors, csrf_token
from .pages import files_on_disk, form_key, upload_folder
from .racing import ROUNDS, Rounds, fire, no_server_errors, signed_in
from .serving import multipart

ITEM_TEXT = "A leaflet for the walking group."
SUCCESS = "nhsuk-notification-banner--success"  # a flash message that says it worked


def draft_item(app, two_supervisors: TwoSupervisors, title: str) -> int:
    """A fresh draft of the worker's, linked to a competence (so it can be submitted)."""
    with app.test_request_context():
        worker = db.session.get(User, two_supervisors.worker.id)
        evidence = evidence_service.create_evidence(
            worker,
            EvidenceKind.OTHER,
            evidence_service.EvidenceInput(title=title, occurred_on=date(2026, 10, 1), description=ITEM_TEXT),
            link_competence_id=two_supervisors.competence_id,
        )
        db.session.commit()
        return evidence.id


def edit_form(token: str, title: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "title": title,
        "occurred_on-day": "1",
        "occurred_on-month": "10",
        "occurred_on-year": "2026",
        "description": "The leaflet, rewritten after the group's comments.",
    }


def rows_for(model, evidence_id: int):
    db.session.commit()  # a new snapshot: see what the server wrote
    return db.session.scalars(select(model).where(model.evidence_id == evidence_id)).all()


def test_an_edit_racing_submit_never_changes_what_was_submitted(app, server, two_supervisors):
    editor, submitter = signed_in(
        server, ("editor", two_supervisors.worker.email), ("submitter", two_supervisors.worker.email)
    )
    outcomes = {"edited then submitted": 0, "submitted, edit refused": 0}
    rounds = Rounds(ROUNDS * 2)
    for number in rounds:
        evidence_id = draft_item(app, two_supervisors, f"Walking group leaflet {number}")
        path = f"/portfolio/{evidence_id}"
        edit_page, submit_page = editor.get(f"{path}/edit"), submitter.get(f"{path}/submit")
        assert edit_page.status == submit_page.status == 200, (edit_page.describe(), submit_page.describe())
        new_title = f"Walking group leaflet {number}, second version"
        edit, submit = fire(
            lambda path=path, page=edit_page, title=new_title: editor.start_post(
                f"{path}/edit", edit_form(csrf_token(page.text), title)
            ),
            lambda path=path, page=submit_page: submitter.start_post(
                f"{path}/submit", {"csrf_token": csrf_token(page.text)}
            ),
        )
        no_server_errors({"edit": edit, "submit": submit}, number)
        described = f"round {number}: edit {edit.describe()}; submit {submit.describe()}"
        # The edit either lands first (303) or is refused on the item's page (422, saying why).
        assert (edit.status == 303 and edit.headers["location"].endswith(path)) or edit.status == 422, described
        assert submit.status == 303 and submit.headers["location"].endswith(path), described
        rounds.record([edit, submit])

        [submission] = rows_for(Submission, evidence_id)
        evidence = db.session.get(Evidence, evidence_id)
        assert evidence.status == EvidenceStatus.SUBMITTED, described
        # What the supervisor will decide on is exactly what was recorded at submission.
        assert submission.content_hash == review.content_hash(evidence), described
        edit_answer = editor.get(path).text if edit.status == 303 else edit.text
        if evidence.title == new_title:
            outcomes["edited then submitted"] += 1
            assert "Changes saved" in edit_answer, described
        else:
            outcomes["submitted, edit refused"] += 1
            assert evidence.title == f"Walking group leaflet {number}" and ITEM_TEXT in evidence.description, described
            assert "This item is submitted for review" in edit_answer and "cannot be changed" in edit_answer, described
        submitted_page = submitter.get(path).text
        assert SUCCESS in submitted_page and "Submitted for review" in submitted_page, described

    rounds.assert_enough(outcomes)
    verification = ledger.verify()
    assert verification.ok, verification.describe()


def test_a_double_click_on_submit_opens_one_submission(app, server, two_supervisors):
    first, second = signed_in(server, ("first", two_supervisors.worker.email), ("second", two_supervisors.worker.email))
    rounds = Rounds()
    for number in rounds:
        evidence_id = draft_item(app, two_supervisors, f"Community cafe poster {number}")
        path = f"/portfolio/{evidence_id}"
        tokens = [csrf_token(client.get(f"{path}/submit").text) for client in (first, second)]
        answers = fire(
            *[
                lambda c=c, t=t, path=path: c.start_post(f"{path}/submit", {"csrf_token": t})
                for c, t in zip((first, second), tokens, strict=True)
            ]
        )
        no_server_errors({"first": answers[0], "second": answers[1]}, number)
        described = f"round {number}: " + "; ".join(a.describe() for a in answers)
        # One click submits (303 to the item); the other is answered on the item's page (422, saying
        # it is already submitted) or, when it read the state after the first committed, redirected too.
        assert sorted(a.status for a in answers)[0] == 303 and all(a.status in (303, 422) for a in answers), described
        assert all(a.headers["location"].endswith(path) for a in answers if a.status == 303), described
        for refused in (a for a in answers if a.status == 422):
            assert "This item is submitted for review" in refused.text, described
        rounds.record(answers)

        submissions = rows_for(Submission, evidence_id)
        assert len(submissions) == 1, described
        audit = db.session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "evidence.submitted", AuditEntry.subject == f"evidence:{evidence_id}"
            )
        ).all()
        assert len(audit) == 1, described
        pages = [client.get(path).text for client in (first, second)]
        said = sorted(SUCCESS in p for p in pages)
        assert said == [False, True], described  # one was submitted, the other told why not
        told = pages + [a.text for a in answers if a.status == 422]
        assert any("This item is submitted for review and cannot be changed" in p for p in told), described

    rounds.assert_enough()
    verification = ledger.verify()
    assert verification.ok, verification.describe()


def test_a_double_click_on_save_creates_one_draft(app, server, two_supervisors):
    [browser] = signed_in(server, ("browser", two_supervisors.worker.email))
    rounds = Rounds()
    for number in rounds:
        page = browser.get("/portfolio/new/other", follow_redirects=True)
        assert page.status == 200, page.describe()
        title = f"Befriending visit notes {number}"
        data = {**edit_form(csrf_token(page.text), title), "form_key": form_key(page.text)}
        # One browser, one form, two clicks: the same cookies and the same key, on two connections.
        answers = fire(*[lambda data=data: browser.start_post("/portfolio/new/other", data) for _ in range(2)])
        no_server_errors({"first": answers[0], "second": answers[1]}, number)
        described = f"round {number}: " + "; ".join(a.describe() for a in answers)
        assert [a.status for a in answers] == [303, 303], described
        assert answers[0].headers["location"] == answers[1].headers["location"], described
        rounds.record(answers)

        db.session.commit()
        items = db.session.scalars(select(Evidence).where(Evidence.title == title)).all()
        assert len(items) == 1, described
        assert answers[0].headers["location"].endswith(f"/portfolio/{items[0].id}/links"), described
        assert title in browser.get(f"/portfolio/{items[0].id}").text

    rounds.assert_enough()
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(FormSubmission)) == rounds.played


def test_two_tabs_removing_a_certificates_two_files_leave_it_one(app, server, two_supervisors):
    """Each tab saw two files and ticks a different one: the second save, checked on the locked item, finds one file
    left and keeps it (a certificate needs its file), whichever lands first."""
    first_tab, second_tab = signed_in(
        server, ("first tab", two_supervisors.worker.email), ("second tab", two_supervisors.worker.email)
    )
    rounds = Rounds()
    for number in rounds:
        with app.test_request_context():
            worker = db.session.get(User, two_supervisors.worker.id)
            data = evidence_service.EvidenceInput(
                title=f"Safeguarding adults {number}", provider="NHS Learning Hub", occurred_on=date(2026, 10, 1)
            )
            pages = [FileStorage(io.BytesIO(factories.pdf_page(str(n))), filename=f"page-{n}.pdf") for n in (1, 2)]
            evidence = evidence_service.create_evidence(worker, EvidenceKind.CERTIFICATE, data, pages)
            evidence_id, file_ids = evidence.id, [f.id for f in evidence.files]
            stored_names = [f.stored_name for f in evidence.files]
        path = f"/portfolio/{evidence_id}/edit"
        forms = [first_tab.get(path), second_tab.get(path)]
        assert [page.status for page in forms] == [200, 200], [page.describe() for page in forms]
        fields = {
            "title": f"Safeguarding adults {number}",
            "provider": "NHS Learning Hub",
            "occurred_on-day": "1",
            "occurred_on-month": "10",
            "occurred_on-year": "2026",
        }
        sent = [
            {**fields, "csrf_token": csrf_token(page.text), "remove_file_ids": str(file_id)}
            for page, file_id in zip(forms, file_ids, strict=True)
        ]
        answers = fire(
            *[
                lambda tab=tab, path=path, data=data: tab.start_post(path, data)
                for tab, data in zip((first_tab, second_tab), sent, strict=True)
            ]
        )
        no_server_errors({"first tab": answers[0], "second tab": answers[1]}, number)
        described = f"round {number}: " + "; ".join(a.describe() for a in answers)
        assert sorted(a.status for a in answers) == [303, 422], described
        refused = next(a for a in answers if a.status == 422)
        assert "needs its certificate file: choose the new file as well to replace it" in refused.text, described
        rounds.record(answers)

        left = rows_for(EvidenceFile, evidence_id)
        assert len(left) == 1, described
        kept_by = file_ids.index(left[0].id)  # the refused tab's file stayed
        assert answers[kept_by].status == 422, described
        assert (upload_folder(app) / left[0].stored_name).exists(), described
        assert not (upload_folder(app) / stored_names[1 - kept_by]).exists(), described  # the winner's file went

    rounds.assert_enough()


def test_a_change_sent_twice_at_once_attaches_its_file_once(app, server, two_supervisors):
    """A change form sent again (its first answer lost) racing the first, from two tabs: both are saved, the item
    holds the new file once, one tab is told it was already attached, and no stored file is left without its row."""
    tabs = signed_in(server, ("first tab", two_supervisors.worker.email), ("second tab", two_supervisors.worker.email))
    rounds = Rounds()
    for number in rounds:
        evidence_id = draft_item(app, two_supervisors, f"Walking group leaflet {number}")
        path = f"/portfolio/{evidence_id}/edit"
        forms = [tab.get(path) for tab in tabs]
        assert [page.status for page in forms] == [200, 200], [page.describe() for page in forms]
        new_file = factories.pdf_page(f"leaflet {number}")
        sends = [
            multipart(
                edit_form(csrf_token(page.text), f"Walking group leaflet {number}"), "files", "leaflet.pdf", new_file
            )
            for page in forms
        ]
        answers = fire(
            *[
                lambda tab=tab, body=body, kind=kind, path=path: tab.start_upload(path, body, kind)
                for tab, (body, kind) in zip(tabs, sends, strict=True)
            ]
        )
        no_server_errors({"first tab": answers[0], "second tab": answers[1]}, number)
        described = f"round {number}: " + "; ".join(a.describe() for a in answers)
        assert [a.status for a in answers] == [303, 303], described
        rounds.record(answers)

        held = rows_for(EvidenceFile, evidence_id)
        assert [f.original_name for f in held] == ["leaflet.pdf"], described
        assert (upload_folder(app) / held[0].stored_name).exists(), described
        notices = [tab.get(answer.headers["location"]).text for tab, answer in zip(tabs, answers, strict=True)]
        told = ["leaflet.pdf already attached, not added again" in page for page in notices]
        assert sorted(told) == [False, True], described

    stored = set(db.session.scalars(select(EvidenceFile.stored_name)))
    assert set(files_on_disk(app)) == stored  # nothing staged or finished without its row
    rounds.assert_enough()


def test_two_tabs_asking_for_promotion_at_once_open_one_request(app, server, two_supervisors):
    """Each tab holds its own form key, so the two asks are not one double click: the worker's row is locked
    before looking for an open request, and the later ask finds the first's (422, saying so) or follows it."""
    with app.test_request_context():
        manager = factories.make_user(Role.MANAGER, email="manager@example.org", name="Maya Manager")
        factories.make_ready(db.session.get(User, two_supervisors.worker.id), two_supervisors.first, manager)
    first, second = signed_in(server, ("first", two_supervisors.worker.email), ("second", two_supervisors.worker.email))
    rounds = Rounds()
    for number in rounds:
        pages = [client.get("/progress/").text for client in (first, second)]
        answers = fire(
            *[
                lambda c=c, p=p: c.start_post(
                    "/progress/request", {"csrf_token": csrf_token(p), "form_key": form_key(p)}
                )
                for c, p in zip((first, second), pages, strict=True)
            ]
        )
        no_server_errors({"first": answers[0], "second": answers[1]}, number)
        described = f"round {number}: " + "; ".join(a.describe() for a in answers)
        assert sorted(a.status for a in answers)[0] == 303 and all(a.status in (303, 422) for a in answers), described
        for refused in (a for a in answers if a.status == 422):
            assert "You already have a promotion request waiting for a decision" in refused.text, described
        rounds.record(answers)

        db.session.commit()  # a new snapshot: see what the server wrote
        asked = db.session.scalars(
            select(PromotionRequest).where(
                PromotionRequest.worker_id == two_supervisors.worker.id, PromotionRequest.open_where()
            )
        ).all()
        assert len(asked) == 1, described
        requested = select(func.count(AuditEntry.id)).where(AuditEntry.action == "promotion.requested")
        assert db.session.scalar(requested) == number + 1, described  # one a round
        with app.test_request_context():
            progress.withdraw_request(db.session.get(User, two_supervisors.worker.id), asked[0])

    rounds.assert_enough()
