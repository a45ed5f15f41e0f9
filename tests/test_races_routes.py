"""What a person sees after a double click, a late form on a submitted item, or a mangled address.

A creating form sent twice answers both times with the record the first
created; forms on an item submitted meanwhile show the item and say why;
ids beyond the database's range answer 404 and NUL bytes 400, with a page
that says so; out-of-range filter values are ignored with a message.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portfolio.evidence import service
from portfolio.evidence.service import EvidenceInput
from portfolio.extensions import db
from portfolio.models import (
    AuditEntry,
    Competence,
    Evidence,
    EvidenceKind,
    EvidenceLink,
    EvidenceStatus,
    FormSubmission,
    Role,
    Submission,
    TrainingItem,
)
from portfolio.params import ID_MAX
from tests.factories import EVENT_DAY, make_user, tier
from tests.pages import count, form_key, text_of


@pytest.fixture
def worker(worker, supervisor, auth):
    """The kit's worker, with a supervisor, signed in."""
    auth.login_as(worker)
    return worker


def first_competences(worker, n=2) -> list[Competence]:
    return list(
        db.session.scalars(
            select(Competence)
            .where(Competence.framework_id == worker.framework_id, Competence.retired_at.is_(None))
            .order_by(Competence.position)
            .limit(n)
        )
    )


def submitted_asset_map(app, worker) -> Evidence:
    evidence = service.create_evidence(
        worker,
        EvidenceKind.OTHER,
        EvidenceInput(title="Asset map", occurred_on=EVENT_DAY, description="Mapped the local groups."),
        link_competence_id=first_competences(worker, 1)[0].id,
    )
    with app.test_request_context():
        service.submit(worker, evidence)
    db.session.commit()
    return evidence


# --- Double submission of a creating form ------------------------------------------------


def test_saving_a_new_item_twice_creates_one_draft_and_both_answers_lead_to_it(client, worker):
    page = client.get("/portfolio/new/other", follow_redirects=True)
    assert page.status_code == 200
    key = form_key(page.text)
    data = {
        "csrf_token": re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1),
        "form_key": key,
        "title": "Walking group",
        "occurred_on-day": "10",
        "occurred_on-month": "3",
        "occurred_on-year": "2026",
        "description": "Led the walk round the park.",
    }
    first = client.post("/portfolio/new/other", data=data)
    second = client.post("/portfolio/new/other", data=data)

    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    [item] = db.session.scalars(select(Evidence)).all()
    assert first.headers["Location"] == f"/portfolio/{item.id}/links"
    assert item.title == "Walking group" and item.status == EvidenceStatus.DRAFT
    assert count(FormSubmission) == 1
    shown = client.get(second.headers["Location"])
    assert "Walking group" in text_of(shown)
    assert "Other evidence saved as a draft" in text_of(shown) or "saved as a draft" in text_of(shown)
    fresh = client.get("/portfolio/new/other", follow_redirects=True)
    assert form_key(fresh.text) != key  # a new form is a new record


def test_adding_a_training_item_twice_creates_one(client, auth, frameworks):
    manager = make_user(Role.MANAGER, name="Maya Manager")
    auth.login_as(manager)
    page = client.get("/training/link-worker/")
    data = {
        "csrf_token": auth.token("/training/link-worker/"),
        "form_key": form_key(page.text),
        "title": "Lone working",
        "renews": "never",
        "statutory": "y",
    }
    answers = [client.post("/training/link-worker/", data=data) for _ in range(2)]
    assert [a.status_code for a in answers] == [303, 303], [text_of(a)[:500] for a in answers]
    assert count(TrainingItem, TrainingItem.title == "Lone working") == 1
    listing = text_of(client.get("/training/link-worker/"))
    assert listing.count("Training </span><span>Lone working") == 1  # one row in the catalogue


# --- Forms on an item that was submitted meanwhile -----------------------------------------


def test_linking_a_submitted_item_shows_the_item_and_why(client, auth, worker, app):
    evidence = submitted_asset_map(app, worker)
    other = first_competences(worker)[1]
    response = client.post(
        f"/portfolio/{evidence.id}/links", data={"csrf_token": auth.token(), "competence_id": other.id}
    )
    assert response.status_code == 422  # answered on the page where the person acted, saying why
    page = text_of(response)
    assert "This item is submitted for review and cannot be changed" in page
    assert "Asset map" in page
    assert count(EvidenceLink, EvidenceLink.competence_id == other.id) == 0


def test_submitting_a_submitted_item_again_shows_the_item_and_opens_nothing(client, auth, worker, app):
    evidence = submitted_asset_map(app, worker)
    response = client.post(f"/portfolio/{evidence.id}/submit", data={"csrf_token": auth.token()})
    assert response.status_code == 422
    page = text_of(response)
    assert "This item is submitted for review and cannot be changed" in page
    assert count(Submission) == 1
    assert count(AuditEntry, AuditEntry.action == "evidence.submitted") == 1


def test_editing_a_submitted_item_shows_the_item_and_why(client, auth, worker, app):
    evidence = submitted_asset_map(app, worker)
    response = client.post(
        f"/portfolio/{evidence.id}/edit",
        data={
            "csrf_token": auth.token(),
            "title": "Changed",
            "occurred_on-day": "10",
            "occurred_on-month": "3",
            "occurred_on-year": "2026",
            "description": "x",
        },
    )
    assert response.status_code == 422
    page = text_of(response)
    assert "cannot be changed" in page
    assert db.session.get(Evidence, evidence.id).title == "Asset map"


# --- Ids and filters from the address ----------------------------------------------------


@pytest.mark.parametrize("bad", [str(ID_MAX + 1), "99999999999999999999", "0", "-1", "01"])
def test_ids_outside_the_database_range_are_not_found(client, worker, bad):
    for path in (
        f"/portfolio/{bad}",
        f"/portfolio/{bad}/links",
        f"/review/{bad}",
        f"/frameworks/{bad}",
        f"/cpd/appraisals/{bad}",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Page not found" in text_of(response)


def test_the_largest_id_is_a_missing_item_not_an_error(client, worker):
    response = client.get(f"/portfolio/{ID_MAX}")
    assert response.status_code == 404 and "Page not found" in text_of(response)


def test_a_nul_byte_in_a_filter_answers_a_clear_400(client, worker):
    for path in ("/portfolio/?q=%00", "/portfolio/?q=walk%00ing", "/frameworks/?x=%00"):
        response = client.get(path)
        assert response.status_code == 400, path
        assert "contains a character that is not allowed (a null character)" in text_of(response)


def test_a_nul_byte_in_a_form_answers_400_and_writes_nothing(client, auth, worker):
    token = auth.token("/portfolio/new/other")
    response = client.post(
        "/portfolio/new/other",
        data={
            "csrf_token": token,
            "title": "Walk\x00",
            "occurred_on-day": "10",
            "occurred_on-month": "3",
            "occurred_on-year": "2026",
            "description": "x",
        },
    )
    assert response.status_code == 400
    assert "a null character" in text_of(response)
    assert count(Evidence) == 0


def test_an_out_of_range_competence_filter_is_ignored_with_a_message(client, worker, app):
    submitted_asset_map(app, worker)
    for headers in ({}, {"HX-Request": "true"}):
        response = client.get("/portfolio/?competence=99999999999999999999", headers=headers)
        assert response.status_code == 200
        page = text_of(response)
        assert "Some filters were ignored" in page and "Choose a competence from the map" in page
        assert "1 item" in page and "Asset map" in page  # the rest of the page still works
        assert ("<html" in page) == (not headers)


def test_out_of_range_picker_filters_are_ignored(client, worker, app):
    evidence = submitted_asset_map(app, worker)
    for query in ("group=99999999999999999999&tier=2147483648", "group=&tier=", "group=abc&tier=-5"):
        response = client.get(f"/portfolio/{evidence.id}/links?{query}", headers={"HX-Request": "true"})
        assert response.status_code == 200, query
        assert 'id="picker-results"' in response.text and "<html" not in response.text


def test_out_of_range_framework_filter_on_the_team_page_is_ignored(client, auth, frameworks):
    manager = make_user(Role.MANAGER, name="Maya Manager")
    make_user(Role.WORKER, name="Wendy Worker", tier=tier("link-worker", "link-worker"))
    auth.login_as(manager)
    for query in ("framework=99999999999999999999", "framework=", "framework=2147483648"):
        response = client.get(f"/progress/team?{query}")
        assert response.status_code == 200, query
        assert "Wendy Worker" in text_of(response)
