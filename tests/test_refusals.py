"""Refusals are shown where the person acted: next to the field, or in the error summary of the
page that has the button (422), never as a banner after a redirect; nothing is written."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from portfolio.cpd import service as cpd
from portfolio.evidence import service as evidence_service
from portfolio.evidence.service import EvidenceInput
from portfolio.extensions import db
from portfolio.models import (
    Appraisal,
    Decision,
    DecisionOutcome,
    Evidence,
    EvidenceFile,
    EvidenceKind,
    EvidenceLink,
    EvidenceStatus,
    Role,
    Submission,
)
from portfolio.review import service as review
from tests import factories
from tests.factories import EVENT_DAY, NHS_NUMBER, PDF, assign, competence, make_user, pdf_page, tier
from tests.pages import HTMX, error_next_to, reload, row_counts, summary_links, text_of, words

NOT_EDITABLE = "This item is submitted for review and cannot be changed"


@dataclass
class People:
    worker: object
    supervisor: object


@pytest.fixture
def people(app, frameworks):
    worker = make_user(Role.WORKER, name="Wendy Worker", tier=tier("link-worker", "link-worker"))
    supervisor = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    assign(supervisor, worker, starts_on=date(2026, 1, 1))
    return People(worker, supervisor)


def send(client, auth, method: str, path: str, data: dict | None = None, headers: dict | None = None):
    if method == "get":
        return client.get(path, headers=headers)
    return client.post(path, data={"csrf_token": auth.token("/"), **(data or {})}, headers=headers)


def assert_422_with_summary(response, summary: dict[str, str]) -> str:
    """A 422 page whose error summary says ``summary`` (message: id), each id on the page, and no banner."""
    assert response.status_code == 422
    page = text_of(response)
    assert "<title>Error: " in page
    assert summary_links(page) == summary
    for anchor in summary.values():
        assert f'id="{anchor}"' in page, f"the summary links to #{anchor}, which is not on the page"
    assert "nhsuk-notification" not in page and "flash" not in page.lower()
    assert "HX-Request" in response.headers["Vary"]
    return page


def certificate_with_one_file(worker) -> Evidence:
    upload = FileStorage(stream=io.BytesIO(PDF), filename="certificate.pdf")
    data = EvidenceInput(title="Safeguarding adults level 2", provider="NHS Learning Hub", occurred_on=EVENT_DAY)
    item = evidence_service.create_evidence(
        worker, EvidenceKind.CERTIFICATE, data, [upload], link_competence_id=competence("PS-LW-01").id
    )
    return reload(Evidence, item.id)


# --- a submitted item: every action on it is refused on the page where it was taken ---------------------------


def _submitted_cases(s: Submission, link: EvidenceLink, file: EvidenceFile):
    other = competence("PS-LW-02")
    base = f"/portfolio/{s.evidence_id}"
    return [
        ("change", "get", f"{base}/edit", {}, {NOT_EDITABLE: "status"}, f"<h1>{s.evidence.title}</h1>"),
        ("delete", "post", f"{base}/delete", {}, {"Only a draft can be deleted": "delete"}, "Delete “"),
        ("submit", "post", f"{base}/submit", {}, {NOT_EDITABLE: "submit"}, "for review</h1>"),
        (
            "link",
            "post",
            f"{base}/links",
            {"competence_id": str(other.id), "note": "Ran it"},
            {NOT_EDITABLE: "linked"},
            "<h1>Link competences</h1>",
        ),
        (
            "link note",
            "post",
            f"{base}/links/{link.id}",
            {"note": "Changed"},
            {NOT_EDITABLE: "linked"},
            "<h1>Link competences</h1>",
        ),
        ("unlink", "post", f"{base}/links/{link.id}/delete", {}, {NOT_EDITABLE: "linked"}, "<h1>Link competences</h1>"),
        (
            "remove file",
            "post",
            f"{base}/files/{file.id}/delete",
            {},
            {NOT_EDITABLE: "status"},
            f"<h1>{s.evidence.title}</h1>",
        ),
    ]


CASES = ["change", "delete", "submit", "link", "link note", "unlink", "remove file"]


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("case", CASES)
def test_an_action_on_a_submitted_item_is_refused_on_the_page_that_has_it(client, auth, people, case, htmx):
    item = certificate_with_one_file(people.worker)
    evidence_service.submit(people.worker, item)
    s = db.session.scalar(select(Submission).where(Submission.evidence_id == item.id))
    [what, method, path, data, summary, heading] = next(
        c for c in _submitted_cases(s, item.links[0], item.files[0]) if c[0] == case
    )
    auth.login_as(people.worker)
    before = row_counts()

    page = assert_422_with_summary(send(client, auth, method, path, data, HTMX if htmx else None), summary)

    assert heading in page
    assert "<html" in page  # these pages have no fragment: htmx (boosted or not) swaps the whole page in
    assert row_counts() == before
    stored = reload(Evidence, item.id)
    assert stored.status == EvidenceStatus.SUBMITTED
    assert [(link.competence_id, link.note) for link in stored.links] == [(competence("PS-LW-01").id, "")]
    assert [f.original_name for f in stored.files] == ["certificate.pdf"]


# --- refusals on a draft --------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [None, HTMX], ids=["page", "htmx"])
def test_removing_a_certificates_only_file_is_refused_on_the_items_page(client, auth, people, headers):
    item = certificate_with_one_file(people.worker)
    auth.login_as(people.worker)
    before = row_counts()
    response = send(client, auth, "post", f"/portfolio/{item.id}/files/{item.files[0].id}/delete", headers=headers)
    page = assert_422_with_summary(
        response,
        {"A training certificate needs its certificate file: add the new file before removing this one": "files"},
    )
    assert "<h1>Safeguarding adults level 2</h1>" in page
    assert row_counts() == before
    assert [f.original_name for f in reload(Evidence, item.id).files] == ["certificate.pdf"]


def test_a_certificates_only_file_offers_a_replacement_not_a_removal_that_would_be_refused(client, auth, people):
    """Found by a helper: "Remove" was offered on a certificate's only file, and always refused."""
    item = certificate_with_one_file(people.worker)
    auth.login_as(people.worker)
    page = text_of(client.get(f"/portfolio/{item.id}"))
    assert f"/files/{item.files[0].id}/delete" not in page
    assert (
        "To replace it, change the certificate Safeguarding adults level 2 : choose the new file and tick this one to"
        " remove it." in words(page)
    )
    assert f'href="/portfolio/{item.id}/edit">change the certificate' in page
    # With a second file, either can go.
    evidence_service.update_evidence(
        people.worker,
        reload(Evidence, item.id),
        EvidenceInput(title="Safeguarding adults level 2", provider="NHS Learning Hub", occurred_on=EVENT_DAY),
        [FileStorage(stream=io.BytesIO(pdf_page("second page")), filename="certificate-2.pdf")],
    )
    page = text_of(client.get(f"/portfolio/{item.id}"))
    assert all(f"/files/{f.id}/delete" in page for f in reload(Evidence, item.id).files)
    assert "To replace it" not in page


@pytest.mark.parametrize("headers", [None, HTMX], ids=["page", "htmx"])
@pytest.mark.parametrize(
    ("note", "message"),
    [
        ("x" * 501, "The note must be 500 characters or fewer"),
        (
            f"Helped the person with NHS number {NHS_NUMBER}",
            f"The note contains 1 possible NHS number (“{NHS_NUMBER}”)",
        ),
    ],
    ids=["too long", "identifying"],
)
def test_a_refused_link_note_is_shown_next_to_that_links_note(client, auth, people, headers, note, message):
    item = certificate_with_one_file(people.worker)
    link = item.links[0]
    auth.login_as(people.worker)
    before = row_counts()
    response = send(client, auth, "post", f"/portfolio/{item.id}/links/{link.id}", {"note": note}, headers)

    assert response.status_code == 422
    page = text_of(response)
    [(text, anchor)] = summary_links(page).items()
    assert text.startswith(message) and anchor == f"note-{link.id}"
    assert error_next_to(page, f"note-{link.id}").startswith(f"Error: {message}")
    assert f'value="{note}"' in page  # what was typed is still there to correct
    assert "<title>Error: " in page and "<h1>Link competences</h1>" in page
    assert row_counts() == before
    assert reload(EvidenceLink, link.id).note == ""


def test_the_note_of_a_link_removed_meanwhile_is_refused_in_the_summary(client, auth, people, monkeypatch):
    item = certificate_with_one_file(people.worker)
    link_id = item.links[0].id
    auth.login_as(people.worker)
    token = auth.token("/")
    real = evidence_service.update_link_note

    def removed_first(actor, evidence, link, note):
        evidence_service.unlink(actor, evidence, link)  # the other tab was quicker
        return real(actor, evidence, link, note)

    monkeypatch.setattr(evidence_service, "update_link_note", removed_first)
    response = client.post(f"/portfolio/{item.id}/links/{link_id}", data={"csrf_token": token, "note": "Ran it"})
    assert_422_with_summary(response, {"That link has already been removed": "linked"})
    assert reload(Evidence, item.id).links == []


# --- withdrawing a decided submission ---------------------------------------------------------------------


@pytest.mark.parametrize("headers", [None, HTMX], ids=["page", "htmx"])
def test_withdrawing_a_decided_submission_is_refused_on_the_items_page(client, auth, people, headers):
    s = factories.submitted_item(people.worker)
    review.decide(
        people.supervisor,
        s,
        outcome=DecisionOutcome.SIGNED_OFF,
        comment="",
        outcomes={competence("PS-LW-01").id: review.CompetenceOutcome(True)},
    )
    auth.login_as(people.worker)
    before = row_counts()
    page = assert_422_with_summary(
        send(client, auth, "post", f"/portfolio/{s.evidence_id}/withdraw", headers=headers),
        {"This item is not waiting for review any more, so it cannot be withdrawn": "status"},
    )
    assert "Signed off" in page
    assert row_counts() == before
    assert reload(Submission, s.id).withdrawn_at is None
    assert reload(Evidence, s.evidence_id).status == EvidenceStatus.SIGNED_OFF


# --- appraisals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [None, HTMX], ids=["page", "htmx"])
def test_signing_twice_is_refused_on_the_appraisal_page_with_the_form_as_saved(client, auth, people, headers):
    appraisal = factories.appraisal(people.worker, people.supervisor)
    cpd.sign(people.worker, appraisal)
    auth.login_as(people.worker)
    before = row_counts()
    page = assert_422_with_summary(
        send(client, auth, "post", f"/cpd/appraisals/{appraisal.id}/sign", headers=headers),
        {"You have already signed this appraisal": "signatures"},
    )
    assert "A good year." in page  # the review as saved, not emptied by the button's post
    assert row_counts() == before


@pytest.mark.parametrize("headers", [None, HTMX], ids=["page", "htmx"])
def test_changing_a_locked_appraisal_is_refused_on_its_page(client, auth, people, headers):
    appraisal = factories.appraisal(people.worker, people.supervisor)
    cpd.sign(people.worker, appraisal)
    cpd.sign(people.supervisor, reload(Appraisal, appraisal.id))
    auth.login_as(people.worker)
    before = row_counts()
    response = send(
        client,
        auth,
        "post",
        f"/cpd/appraisals/{appraisal.id}",
        {"review": "Rewritten", "objectives": "", "learning_needs": ""},
        headers,
    )
    page = assert_422_with_summary(
        response, {"This appraisal is signed by both of you and locked: your changes were not saved": "signatures"}
    )
    assert "Signed and locked" in page
    assert row_counts() == before
    assert reload(Appraisal, appraisal.id).review == "A good year."


# --- the decision form -----------------------------------------------------------------------------------


@pytest.fixture
def two_links(people):
    """A submitted item linked to PS-LW-01 (row 0) then PS-LW-02 (row 1), for the supervisor to decide."""
    first, second = competence("PS-LW-01"), competence("PS-LW-02")
    item = evidence_service.create_evidence(
        people.worker,
        EvidenceKind.OTHER,
        EvidenceInput(title="Walking group", occurred_on=EVENT_DAY, description="A weekly walk."),
        link_competence_id=first.id,
    )
    evidence_service.link_competence(people.worker, reload(Evidence, item.id), second.id)
    evidence_service.submit(people.worker, reload(Evidence, item.id))
    submission = db.session.scalar(select(Submission).where(Submission.evidence_id == item.id))
    return submission, first, second


@pytest.mark.parametrize("headers", [None, HTMX], ids=["page", "htmx"])
def test_a_decision_that_leaves_a_row_out_shows_every_row_and_the_missing_choice(
    client, auth, people, two_links, headers
):
    submission, first, second = two_links
    auth.login_as(people.supervisor)
    before = row_counts()
    data = {"decisions-1-accepted": "accepted", "decisions-1-comment": "", "outcome": "signed-off", "comment": ""}
    response = send(client, auth, "post", f"/review/{submission.id}", data, headers)

    assert response.status_code == 422
    page = text_of(response)
    [(message, href)] = summary_links(page).items()
    assert href == f"competence-{first.id}-accepted"
    assert message.startswith(f"Choose accepted or not accepted: {first.statement[:30]}")  # which competence
    assert error_next_to(page, f"competence-{first.id}") == "Error: Choose accepted or not accepted"
    assert 'name="decisions-0-accepted"' in page and 'name="decisions-1-accepted"' in page
    assert (
        f'id="competence-{second.id}-accepted" name="decisions-1-accepted" type="radio" value="accepted" checked'
        in page
    )
    assert row_counts() == before
    assert reload(Submission, submission.id).decision is None


def test_rows_beyond_the_items_links_decide_nothing(client, auth, people, two_links):
    submission, first, second = two_links
    auth.login_as(people.supervisor)
    data = {f"decisions-{row}-accepted": "accepted" for row in range(3)} | {"outcome": "signed-off", "comment": ""}
    response = send(client, auth, "post", f"/review/{submission.id}", data)
    assert response.status_code == 303
    decision = db.session.scalar(select(Decision).where(Decision.submission_id == submission.id))
    assert sorted((o.competence_id, o.accepted) for o in decision.outcomes) == sorted(
        [(first.id, True), (second.id, True)]
    )


def test_an_incomplete_decision_on_an_item_decided_meanwhile_says_it_was_decided(client, auth, people, two_links):
    submission, first, second = two_links
    colleague = make_user(Role.SUPERVISOR, name="Sue Supervisor")
    assign(colleague, people.worker, starts_on=date(2026, 1, 1))
    auth.login_as(colleague)
    token = auth.token("/")
    review.decide(
        people.supervisor,
        submission,
        outcome=DecisionOutcome.RETURNED,
        comment="Add the dates",
        outcomes={first.id: review.CompetenceOutcome(True), second.id: review.CompetenceOutcome(True)},
    )
    before = row_counts()
    response = client.post(
        f"/review/{submission.id}", data={"csrf_token": token, "outcome": "signed-off"}, headers=HTMX
    )
    assert response.status_code == 409
    fragment = text_of(response)
    assert fragment.strip().startswith('<div id="decision-form">')
    assert "This item was already decided by Sam Supervisor: returned for changes." in fragment
    assert "Choose accepted or not accepted" not in fragment
    assert row_counts() == before
    assert reload(Evidence, submission.evidence_id).status == EvidenceStatus.RETURNED


def test_changes_to_an_item_submitted_meanwhile_are_refused_next_to_the_title_and_kept_in_the_form(
    client, auth, people, monkeypatch
):
    item = evidence_service.create_evidence(
        people.worker,
        EvidenceKind.OTHER,
        EvidenceInput(title="Walking group", occurred_on=EVENT_DAY, description="A weekly walk."),
        link_competence_id=competence("PS-LW-01").id,
    )
    auth.login_as(people.worker)
    token = auth.token("/")
    real = evidence_service.update_evidence

    def submitted_first(actor, evidence, *args, **kwargs):
        evidence_service.submit(actor, reload(Evidence, evidence.id))  # from another tab, a moment earlier
        return real(actor, reload(Evidence, evidence.id), *args, **kwargs)

    monkeypatch.setattr(evidence_service, "update_evidence", submitted_first)
    data = {
        "csrf_token": token,
        "title": "Walking group, changed",
        "occurred_on-day": "10",
        "occurred_on-month": "3",
        "occurred_on-year": "2026",
        "description": "Changed.",
    }
    response = client.post(f"/portfolio/{item.id}/edit", data=data)
    assert response.status_code == 422
    page = text_of(response)
    assert summary_links(page) == {NOT_EDITABLE: "title"}
    assert error_next_to(page, "title") == f"Error: {NOT_EDITABLE}"
    assert 'value="Walking group, changed"' in page
    stored = reload(Evidence, item.id)
    assert (stored.title, stored.status) == ("Walking group", EvidenceStatus.SUBMITTED)
