"""Progress pages, promotion forms, requirement checks, the manager's overview, the PDF and the data export, through the routes."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import zipfile
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert, select, text, update
from werkzeug.datastructures import FileStorage

from portfolio import clock
from portfolio.evidence import service as evidence_service
from portfolio.evidence.service import EvidenceInput
from portfolio.extensions import db
from portfolio.frameworks import service as frameworks_service
from portfolio.models import (
    Decision,
    Document,
    Evidence,
    EvidenceFile,
    EvidenceKind,
    EvidenceLink,
    NoteOutcome,
    NoteReview,
    Notification,
    PromotionDecision,
    PromotionRecommendation,
    PromotionRequest,
    RequirementVerification,
    Role,
    Submission,
    SupervisionAssignment,
    TierChange,
    User,
)
from portfolio.progress import service
from tests.conftest import ask_for_document, built_document, post_with_token, read_download
from tests.factories import (
    HASH,
    RECENT_DAY,
    SUPERVISED_SINCE,
    TODAY,
    YESTERDAY,
    add_items,
    assign,
    certificate,
    competences,
    course,
    decide_on,
    link_draft,
    make_ready,
    make_user,
    meet,
    requirement,
    requirements_of,
    tier,
    verification,
    verify_all,
    waiting_item,
)
from tests.pages import (
    BOOSTED,
    count,
    date_fields,
    date_shown,
    error_next_to,
    form_key,
    long_date,
    page_title,
    pdf_text,
    reload,
    row_counts,
    status_of,
    swapped_parts,
    table_rows,
    text_of,
    words,
)

PDF_HEAD = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
PDF_TAIL = b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


# --- helpers --------------------------------------------------------------------


def pdf_file(marker: str) -> bytes:
    """A small PDF (accepted by its first bytes) whose bytes are unique to ``marker``."""
    return PDF_HEAD + f"% {marker}\n".encode() + PDF_TAIL


def lapse_dbs(worker: User, manager: User) -> RequirementVerification:
    """A DBS verification, three years old, that expired yesterday (written directly)."""
    verification = RequirementVerification(
        worker_id=worker.id,
        requirement_id=requirement(worker, "REQ-DBS").id,
        verified_by_id=manager.id,
        verified_on=YESTERDAY - timedelta(days=3 * 365),
        expires_on=YESTERDAY,
    )
    db.session.add(verification)
    db.session.commit()
    return verification


def lapsed_tag(fragment: str) -> bool:
    """The red "Lapsed" tag is in ``fragment``."""
    return bool(re.search(r'<strong class="nhsuk-tag[^"]*nhsuk-tag--red"\s*>\s*Lapsed\s*</strong>', fragment))


def upload_item(
    worker: User, title: str, files: dict[str, bytes], description: str = "<p>Details of the work.</p>"
) -> Evidence:
    """An item with files, through the evidence service (files stored as in real use)."""
    return evidence_service.create_evidence(
        db.session.get(User, worker.id),
        EvidenceKind.OTHER,
        EvidenceInput(title=title, occurred_on=RECENT_DAY, description=description),
        [FileStorage(io.BytesIO(data), filename=name) for name, data in files.items()],
    )


@pytest.fixture
def people(app, frameworks):
    """A Link Worker, their current supervisor, a manager, another worker, and a supervisor of someone else."""
    worker = make_user(
        Role.WORKER, name="Wren Worker", email="wren@example.org", tier=tier("link-worker", "link-worker")
    )
    supervisor = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    manager = make_user(Role.MANAGER, name="Mo Manager")
    other = make_user(
        Role.WORKER, name="Olive Other", email="olive@example.org", tier=tier("link-worker", "link-worker")
    )
    stranger = make_user(Role.SUPERVISOR, name="Sol Stranger")
    assign(supervisor, worker, SUPERVISED_SINCE)
    assign(stranger, other, SUPERVISED_SINCE)
    return worker, supervisor, manager, other, stranger


# --- The progress page ------------------------------------------------------------


def test_the_progress_page_shows_tiers_areas_chart_requirements_and_documents(client, auth, people):
    worker, supervisor, manager, *_ = people
    meet(worker, competences("link-worker", "link-worker", refs=["PS-LW-01", "PS-LW-02"]), supervisor=supervisor)
    verify_all(worker, manager, skip=("REQ-DBS",))
    coach = tier("link-worker", "link-worker-coach")
    auth.login_as(worker)

    response = client.get("/progress/")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = text_of(response)
    assert "<html" in page and "<title>My progress" in page
    assert "Link Worker Competency Framework" in page
    assert "Current tier: Link Worker" in words(page)
    assert "Next tier: Link Worker Coach" in words(page)
    assert "Not ready yet 66 competences to meet, 1 requirement to have verified." in words(page)
    assert 'href="/progress/missing"' in page
    # Met / total per tier as headings, per area in tables, and as a chart with the numbers written.
    for heading in (
        "Link Worker: 2 of 48 met",
        "Link Worker Coach: 0 of 20 met",
        "Psychosocial Link Worker: 0 of 17 met",
    ):
        assert f"<h3>{heading}</h3>" in page
    first_table = words(page.split('class="nhsuk-table progress-table"', 1)[1].split("</table>", 1)[0])
    assert "Practitioner Skills 2 13" in first_table
    assert "Enabling Access to Assets 0 8" in first_table
    chart = words(page.split('<figure class="progress-chart">', 1)[1].split("</figure>", 1)[0])
    assert chart.startswith("Competences met, by tier Link Worker 2 of 48 met Link Worker Coach 0 of 20 met")
    # Requirements: verified ones name who and when; DBS not verified yet; no Verify links for a worker.
    table = words(page.split('class="nhsuk-table requirements-table"', 1)[1].split("</table>", 1)[0])
    assert f"Verified by Mo Manager on {long_date(TODAY - timedelta(days=7))}" in table
    assert "Not verified" in table
    assert "Verify" not in table
    # Documents.
    assert f'action="/progress/portfolio.pdf?tier={coach.id}"' in page
    assert 'action="/progress/export.zip"' in page
    # Not ready: no request button, but how much is left, each a link to act on.
    assert "Request promotion" not in page and 'action="/progress/request"' not in page
    left = page.split('class="promotion-left"', 1)[1]
    assert (
        "You can ask to become Link Worker Coach once nothing is left: 66 competences to meet and"
        " 1 requirement to have verified." in words(left)
    )
    competences_left = re.findall(r'<li><a href="/portfolio/competences/(\d+)">', left.split("competences-left", 1)[1])
    assert len(competences_left) == 66
    dbs = requirement(worker, "REQ-DBS")
    requirements_left = left.split("requirements-left", 1)[1].split("</ul>", 1)[0]
    assert f'href="#requirement-{dbs.id}"' in requirements_left and dbs.statement in requirements_left
    assert f'id="requirement-{dbs.id}"' in page  # where the link lands
    # Only what is left is named: not "0 requirements to have verified" (found by a helper).
    verify_all(worker, manager)
    left = words(text_of(client.get("/progress/")).split('class="promotion-left"', 1)[1].split("</p>", 1)[0])
    assert left.endswith("You can ask to become Link Worker Coach once nothing is left: 66 competences to meet.")


def test_a_ready_worker_sees_ready(client, auth, people):
    worker, supervisor, manager, *_ = people
    make_ready(worker, supervisor, manager)
    auth.login_as(worker)
    page = words(text_of(client.get("/progress/")))
    assert "Ready Every competence is met and every requirement is verified and in date." in page
    assert "Request promotion to Link Worker Coach" in page and "nothing is left" not in page
    assert "Link Worker: 48 of 48 met" in page and "Link Worker Coach: 20 of 20 met" in page


def test_a_lapsed_dbs_shows_as_lapsed_on_the_workers_page_and_in_the_overview(client, auth, people):
    worker, supervisor, manager, *_ = people
    make_ready(worker, supervisor, manager)
    db.session.execute(
        RequirementVerification.__table__.delete().where(
            RequirementVerification.worker_id == worker.id,
            RequirementVerification.requirement_id == requirement(worker, "REQ-DBS").id,
        )
    )
    db.session.commit()
    lapse_dbs(worker, manager)
    statement = requirement(worker, "REQ-DBS").statement

    auth.login_as(worker)
    page = text_of(client.get("/progress/"))
    assert "Not ready yet 1 requirement to have verified." in words(page)
    row = next(
        r for r in page.split('class="nhsuk-table requirements-table"', 1)[1].split("<tr")[1:] if statement in r
    ).split("</tr>")[0]
    assert lapsed_tag(row)
    assert f"lapsed {long_date(YESTERDAY)}" in words(row)
    missing = words(text_of(client.get("/progress/missing")))
    assert f"{statement} (lapsed)" in missing

    auth.login_as(manager)
    page = text_of(client.get("/progress/team"))
    row = next(r for r in page.split("<tbody", 1)[1].split("<tr")[1:] if "Wren Worker" in r).split("</tr>")[0]
    assert lapsed_tag(row) and statement in row
    assert "Not yet" in words(row)
    lapse_free = [words(r) for r in page.split("<tbody", 1)[1].split("<tr")[1:] if "Wren Worker" not in r]
    # The others have verified nothing: not lapsed, and each requirement said as not verified (as much a gap).
    assert lapse_free and all(" Lapsed " not in r and "Requirements Not verified" in r for r in lapse_free)
    worker_page = text_of(client.get(f"/progress/workers/{worker.id}"))
    assert lapsed_tag(worker_page.split('id="requirements"', 1)[1])


def test_a_role_profile_worker_sees_sections(client, auth, app, frameworks):
    worker = make_user(
        Role.WORKER, name="Ezra Engagement", tier=tier("sfh-senior-engagement-worker", "senior-engagement-worker")
    )
    auth.login_as(worker)
    page = text_of(client.get("/progress/"))
    assert "Core competences: 0 of 20 met" in page
    assert "Role-specific competences: 0 of 40 met" in page
    assert "Meeting the Senior Engagement Worker profile" in page
    assert "Request promotion" not in page
    assert '<h2 id="tiers">Sections</h2>' in page


# --- The missing page ------------------------------------------------------------------


def test_the_missing_page_groups_by_area_with_the_evidence_in_progress(client, auth, people):
    worker, supervisor, manager, *_ = people
    done = competences("link-worker", "link-worker")
    meet(worker, done[1:], supervisor=supervisor)
    left = done[0]
    draft = link_draft(worker, [left], title="Conversation skills draft")
    coach_target = competences("link-worker", "link-worker-coach", refs=["PS-LWC-02"])[0]
    coach_target.required_count = 2
    db.session.commit()
    meet(worker, [coach_target], supervisor=supervisor, title="First coaching observation")
    auth.login_as(worker)

    response = client.get("/progress/missing")
    assert response.status_code == 200
    page = text_of(response)
    assert "<title>What is missing for Link Worker Coach" in page
    assert "21 competences of Link Worker Coach and the tiers before it are not met yet." in words(page)
    headings = re.findall(r'<h2 class="nhsuk-heading-m">([^<]*)</h2>', page)
    assert headings[:5] == [
        "Practitioner Skills (6)",
        "Personal Development and Learning, Leadership and Supervision (3)",
        "Professionalism and Communication (6)",
        "Data, Information and Technical Skills (3)",
        "Enabling Access to Assets (3)",
    ]
    assert "Requirements to verify" in page  # nothing verified yet
    # Found by a helper: the few with evidence already were lost among 21. They come first, each a link to its row.
    assert '<h2 class="nhsuk-heading-m" id="in-progress">In progress (2)</h2>' in page
    started = page.split('class="nhsuk-list nhsuk-list--bullet in-progress-list"', 1)[1].split("</ul>", 1)[0]
    assert re.findall(r'<a href="#missing-(\d+)">', started) == [str(left.id), str(coach_target.id)]
    assert f'<li class="missing-item" id="missing-{left.id}">' in page
    items = page.split('class="missing-item"')[1:]
    first = next(i for i in items if left.statement in i)
    assert "Link Worker · In progress" in words(first)
    assert f'href="/portfolio/{draft.id}"' in first and "Conversation skills draft" in first
    assert f'href="/portfolio/new?competence={left.id}"' in first
    assert "Add evidence for this" in first
    twice = next(i for i in items if coach_target.statement in i)
    assert "Link Worker Coach · In progress · 1 of 2 accepted" in words(twice)
    # Psychosocial Link Worker statements are beyond the next tier; met ones are not listed.
    for c in competences("link-worker", "psychosocial-link-worker")[:3] + done[1:4]:
        assert c.statement not in page


def test_the_missing_page_when_ready(client, auth, people):
    worker, supervisor, manager, *_ = people
    make_ready(worker, supervisor, manager)
    auth.login_as(worker)
    page = words(text_of(client.get("/progress/missing")))
    assert "Nothing: you are ready for Link Worker Coach." in page and "Request your promotion" in page


def test_the_missing_page_of_a_worker_who_asked_already_leads_to_her_request_not_to_a_new_one(
    client, auth, people, count_queries
):
    """Ready and asked already: the page says when she asked, not "Request your promotion" (which would only be
    refused). Not ready, it lists what is missing and never reads her request: one query less than it did."""
    worker, supervisor, manager, *_ = people
    auth.login_as(worker)
    client.get("/progress/missing")
    with count_queries(keep=True):
        page = words(text_of(client.get("/progress/missing")))
    assert "are not met yet" in page
    assert not any("FROM promotion_requests" in s for s in count_queries.statements), count_queries.statements

    make_ready(worker, supervisor, manager)
    service.request_promotion(db.session.get(User, worker.id))
    db.session.commit()
    for answer in (
        client.get("/progress/missing"),
        client.get("/progress/missing", headers={"HX-Request": "true", "HX-Boosted": "true"}),
    ):
        assert answer.status_code == 200
        page = words(text_of(answer))
        assert f"Nothing: you are ready for Link Worker Coach, and you asked for it on {long_date(TODAY)}." in page
        assert "See your request" in page and "Request your promotion" not in page
        assert 'href="/progress/#promotion"' in answer.text


def test_the_missing_page_with_only_a_requirement_left_says_every_competence_is_met(client, auth, people):
    worker, supervisor, manager, *_ = people
    meet(worker, competences("link-worker", "link-worker", "link-worker-coach"), supervisor=supervisor)
    left = requirements_of(worker)[0]
    verify_all(worker, manager, skip=(left.ref,))
    auth.login_as(worker)
    page = words(text_of(client.get("/progress/missing")))
    assert (
        "Every competence of Link Worker Coach and the tiers before it is met: only requirements are left to verify."
        in page
    )
    assert "0 competences" not in page
    assert f"Ask your manager to verify these: {left.statement} (not verified)" in page


def test_the_missing_page_of_a_role_profile_worker_offers_no_promotion(client, auth, people, frameworks):
    """On a single-tier role profile the tier she is measured against is her own: met, there is nothing to ask for
    (My progress offers no request either), and what is missing has no tiers before it."""
    _, supervisor, manager, *_ = people
    worker = make_user(
        Role.WORKER, name="Ezra Engagement", tier=tier("sfh-senior-engagement-worker", "senior-engagement-worker")
    )
    assign(supervisor, worker)
    auth.login_as(worker)
    page = words(text_of(client.get("/progress/missing")))
    assert "competences of Senior Engagement Worker are not met yet." in page and "tiers before it" not in page

    meet(worker, competences("sfh-senior-engagement-worker"), supervisor=supervisor, title="A year of practice")
    verify_all(worker, manager)
    page = words(text_of(client.get("/progress/missing")))
    assert "Nothing: you meet the Senior Engagement Worker profile." in page
    assert "Request your promotion" not in page and "See your request" not in page


# --- Requesting promotion -------------------------------------------------------------


def test_a_ready_worker_requests_promotion(client, auth, people):
    worker, supervisor, manager, *_ = people
    make_ready(worker, supervisor, manager)
    auth.login_as(worker)
    response = client.post("/progress/request", data={"csrf_token": auth.token("/progress/")})
    assert response.status_code == 303
    assert response.headers["Location"] == "/progress/"
    [request] = db.session.scalars(select(PromotionRequest)).all()
    assert (request.worker_id, request.target_tier.slug) == (worker.id, "link-worker-coach")
    assert db.session.scalar(select(Notification.message).where(Notification.user_id == supervisor.id)).startswith(
        "Wren Worker asked to become"
    )
    page = words(text_of(client.get("/progress/")))
    assert "Promotion requested: your supervisors have been asked for their recommendation" in page
    assert f"You asked to become Link Worker Coach on {long_date(TODAY)}" in page
    assert "Waiting for a supervisor’s recommendation." in page

    # A second request while this one is open.
    before = row_counts()
    response = client.post("/progress/request", data={"csrf_token": auth.token("/progress/")})
    assert response.status_code == 422
    assert "You already have a promotion request waiting for a decision" in text_of(response)
    assert 'id="request"' in text_of(response)  # where the error summary's link leads (a helper found it missing)
    assert row_counts() == before


def test_a_request_when_not_ready_is_422_with_the_list_of_missing(client, auth, people):
    worker, supervisor, manager, *_ = people
    needed = competences("link-worker", "link-worker", "link-worker-coach")
    meet(worker, needed[2:], supervisor=supervisor)
    verify_all(worker, manager, skip=("REQ-HOME-VISITS",))
    auth.login_as(worker)
    before = row_counts()

    response = client.post("/progress/request", data={"csrf_token": auth.token("/progress/")})
    assert response.status_code == 422
    page = text_of(response)
    assert "<title>Error: My progress" in page
    assert "There is a problem" in page
    message = "You are not ready for Link Worker Coach yet: 2 competences are not met and 1 requirement is not verified or in date"
    assert message in page
    assert message in words(page.split('class="nhsuk-error-message" id="request"', 1)[1].split("</p>", 1)[0])
    listed = re.findall(r"<li>([^<]*)</li>", page.split('id="not-ready"', 1)[1].split("</ul>", 1)[0])
    assert listed == [
        f"{needed[0].statement} (not started)",
        f"{needed[1].statement} (not started)",
        f"{requirement(worker, 'REQ-HOME-VISITS').statement} (not verified)",
    ]
    assert row_counts() == before


# --- Recommending --------------------------------------------------------------------


@pytest.fixture
def open_request(people):
    worker, supervisor, manager, *_ = people
    make_ready(worker, supervisor, manager)
    return service.request_promotion(db.session.get(User, worker.id))


def recommend_url(request) -> str:
    return f"/progress/requests/{request.id}/recommend"


def decide_url(request) -> str:
    return f"/progress/requests/{request.id}/decide"


def seen(request) -> dict[str, str]:
    """The recommendations a manager's page shows, which its decision form posts back (the decision is bound to
    them)."""
    return {"recommendations_seen": service.recommendations_seen(request)}


def test_the_supervisor_sees_the_recommend_form_and_recommends(client, auth, people, open_request):
    worker, supervisor, manager, *_ = people
    auth.login_as(supervisor)
    page = text_of(client.get(f"/progress/workers/{worker.id}"))
    assert "<title>Progress of Wren Worker" in page
    assert f'action="{recommend_url(open_request)}"' in page
    assert "promotion-decision-form" not in page  # a supervisor does not decide

    response = client.post(
        recommend_url(open_request),
        data={"csrf_token": auth.token("/"), "supports": "yes", "reasons": "Ready and able"},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/progress/workers/{worker.id}"
    [rec] = db.session.scalars(select(PromotionRecommendation)).all()
    assert (rec.supervisor_id, rec.supports, rec.reasons) == (supervisor.id, True, "Ready and able")
    page = words(text_of(client.get(f"/progress/workers/{worker.id}")))
    assert "Recommendation recorded" in page
    assert "Recommended by Sam Supervisor: Ready and able" in page
    assert "Save recommendation" not in page  # only once


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"reasons": "Ready"}, "supports", "Choose whether you support the request"),
        ({"supports": "no", "reasons": "  "}, "reasons", "Give your reasons"),
        ({"supports": "yes", "reasons": "x" * 5001}, "reasons", "The reasons must be 5,000 characters or fewer"),
    ],
)
def test_recommend_errors_are_shown_next_to_the_field(client, auth, people, open_request, data, field, message):
    worker, supervisor, *_ = people
    auth.login_as(supervisor)
    before = row_counts()
    response = client.post(recommend_url(open_request), data={"csrf_token": auth.token("/"), **data})
    assert response.status_code == 422, f"expected the form back with {message!r}, got {response.status_code}"
    page = text_of(response)
    assert "There is a problem" in page and f'href="#{field}"' in page
    assert error_next_to(page, field) == f"Error: {message}"
    assert row_counts() == before


def test_a_recommendation_with_no_choice_and_no_reasons_names_both_at_once(client, auth, people, open_request):
    worker, supervisor, *_ = people
    auth.login_as(supervisor)
    before = row_counts()
    response = client.post(recommend_url(open_request), data={"csrf_token": auth.token("/"), "reasons": " "})
    assert response.status_code == 422
    page = text_of(response)
    assert error_next_to(page, "supports") == "Error: Choose whether you support the request"
    assert error_next_to(page, "reasons") == "Error: Give your reasons"
    assert row_counts() == before


def test_over_long_reasons_do_not_hide_the_missing_choice(client, auth, people, recommended):
    """Found by a helper: the form refused the long reasons itself, so "Choose whether..." came a round later."""
    worker, supervisor, manager, *_ = people
    second = make_user(Role.SUPERVISOR, name="Tay Second")
    assign(second, worker, SUPERVISED_SINCE)
    before = row_counts()
    auth.login_as(second)
    page = text_of(client.post(recommend_url(recommended), data={"csrf_token": auth.token("/"), "reasons": "x" * 6000}))
    assert error_next_to(page, "supports") == "Error: Choose whether you support the request"
    assert error_next_to(page, "reasons") == "Error: The reasons must be 5,000 characters or fewer"
    auth.login_as(manager)
    response = client.post(
        decide_url(recommended),
        data={**seen(reload(recommended)), "csrf_token": auth.token("/"), "reasons": "x" * 6000},
    )
    assert response.status_code == 422
    page = text_of(response)
    assert error_next_to(page, "approved") == "Error: Choose whether to approve or decline the request"
    assert error_next_to(page, "reasons") == "Error: The reasons must be 5,000 characters or fewer"
    assert row_counts() == before


def test_a_half_filled_decision_on_a_withdrawn_request_is_told_it_was_withdrawn(client, auth, people, recommended):
    """Found by a helper: the page opened before the withdrawal answered "Enter the date the new tier takes
    effect", linking to a field no longer on the page."""
    worker, supervisor, manager, *_ = people
    auth.login_as(manager)
    token = auth.token(f"/progress/workers/{worker.id}")
    service.withdraw_request(db.session.get(User, worker.id), recommended)
    before = row_counts()
    response = client.post(
        decide_url(recommended), data={**seen(reload(recommended)), "csrf_token": token, "approved": "yes"}
    )
    assert response.status_code == 422
    page = text_of(response)
    assert error_next_to(page, "approved") == "Error: Wren Worker withdrew this request: there is nothing to decide"
    assert 'href="#effective_on-day"' not in page
    assert row_counts() == before


def test_declining_without_reasons_says_so_next_to_them(client, auth, people, recommended):
    worker, supervisor, manager, *_ = people
    auth.login_as(manager)
    before = row_counts()
    response = client.post(
        decide_url(recommended), data={**seen(reload(recommended)), "csrf_token": auth.token("/"), "approved": "no"}
    )
    assert response.status_code == 422
    assert error_next_to(text_of(response), "reasons") == "Error: Give the reasons for declining"
    assert row_counts() == before


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_a_supervisor_changes_their_recommendation_and_the_earlier_stays_in_sight(
    client, auth, people, open_request, headers
):
    worker, supervisor, manager, *_ = people
    service.recommend(supervisor, open_request, supports=True, reasons="Ready")
    auth.login_as(supervisor)
    page = text_of(client.get(f"/progress/workers/{worker.id}", headers=headers))
    assert "</html>" in page
    details = page.split('class="nhsuk-details change-recommendation"', 1)[1].split("</details>", 1)[0]
    assert "Change your recommendation" in details and "open" not in details.split(">", 1)[0]
    assert (
        re.findall(r'name="supports"[^>]*value="([^"]*)"[^>]*\bchecked\b', details) == ["yes"]
        and ">Ready</textarea>" in details
    )

    blank = client.post(
        recommend_url(open_request), data={"csrf_token": auth.token("/"), "supports": "no", "reasons": " "}
    )
    assert blank.status_code == 422
    assert error_next_to(text_of(blank), "reasons") == "Error: Give your reasons"
    assert 'class="nhsuk-details change-recommendation" open' in text_of(blank)  # the form in sight, with its error
    assert count(PromotionRecommendation) == 1

    data = {"csrf_token": auth.token("/"), "supports": "no", "reasons": "One more observation first"}
    assert client.post(recommend_url(open_request), data=data).status_code == 303
    assert client.post(recommend_url(open_request), data=data).status_code == 303  # Back and send: done once
    first, changed = db.session.scalars(select(PromotionRecommendation).order_by(PromotionRecommendation.id)).all()
    assert (first.supports, changed.supports, changed.reasons) == (True, False, "One more observation first")
    for reader in (supervisor, manager, worker):
        auth.login_as(reader)
        path = "/progress/" if reader is worker else f"/progress/workers/{worker.id}"
        shown = words(text_of(client.get(path)))
        assert (
            f"Not yet recommended by Sam Supervisor: One more observation first (changed on {long_date(TODAY)};"
            " before: recommended, “Ready”)" in shown
        ), reader.name
        assert "Recommended by Sam Supervisor" not in shown


def test_a_manager_who_read_a_recommendation_since_changed_is_told_before_deciding(client, auth, people, open_request):
    worker, supervisor, manager, *_ = people
    service.recommend(supervisor, open_request, supports=True, reasons="Ready")
    auth.login_as(manager)
    page = text_of(client.get(f"/progress/workers/{worker.id}"))
    seen = re.search(r'name="recommendations_seen"[^>]*value="([^"]*)"', page).group(1)
    service.recommend(supervisor, reload(open_request), supports=False, reasons="Not yet after all")  # meanwhile

    decide = {"csrf_token": auth.token("/"), "approved": "yes", **date_fields("effective_on", TODAY), "reasons": ""}
    stale = client.post(decide_url(open_request), data={**decide, "recommendations_seen": seen})
    assert stale.status_code == 422
    again = text_of(stale)
    assert error_next_to(again, "approved") == f"Error: {service.RECOMMENDATION_CHANGED}"
    assert "Not yet recommended by Sam Supervisor: Not yet after all" in words(again)
    assert count(PromotionDecision) == 0
    fresh = re.search(r'name="recommendations_seen"[^>]*value="([^"]*)"', again).group(1)
    assert fresh != seen

    # Read again: approving against "not yet" needs reasons, then it is decided.
    answer = client.post(decide_url(open_request), data={**decide, "recommendations_seen": fresh})
    assert answer.status_code == 422 and count(PromotionDecision) == 0
    answer = client.post(
        decide_url(open_request), data={**decide, "recommendations_seen": fresh, "reasons": "Observed it myself"}
    )
    assert answer.status_code == 303 and count(PromotionDecision) == 1


def test_a_supervisor_changing_and_a_manager_deciding_at_once_leave_a_decision_on_what_it_saw(
    app, server, people, open_request
):
    """Over HTTP at the same moment: the request's lock orders them. Either the change comes first and the decision,
    bound to what its page showed, is refused; or the decision comes first and the request is closed to changes."""
    from tests.conftest import csrf_token
    from tests.racing import Rounds, no_server_errors, race, signed_in

    worker, supervisor, manager, *_ = people
    service.recommend(supervisor, open_request, supports=True, reasons="Ready")
    service.decide_promotion(manager, reload(open_request), approved=False, effective_on=None, reasons="Not this one")
    emails = supervisor.email, manager.email
    db.session.commit()
    sam, mo = signed_in(server, ("sam", emails[0]), ("mo", emails[1]))
    path = f"/progress/workers/{worker.id}"
    rounds = Rounds()
    for number in rounds:
        promotion = service.request_promotion(reload(worker))  # the last round's request is closed
        service.recommend(supervisor, promotion, supports=True, reasons="Ready")
        mine = PromotionRecommendation.request_id == promotion.id
        db.session.commit()
        sam_page, mo_page = sam.get(path).text, mo.get(path).text
        seen = re.search(r'name="recommendations_seen"[^>]*value="([^"]*)"', mo_page).group(1)
        answers = race(
            [
                sam.start_post(
                    recommend_url(promotion),
                    {"csrf_token": csrf_token(sam_page), "supports": "no", "reasons": "Not yet"},
                ),
                mo.start_post(
                    decide_url(promotion),
                    {
                        "csrf_token": csrf_token(mo_page),
                        "approved": "no",
                        "reasons": "Declined on what I read",
                        "recommendations_seen": seen,
                    },
                ),
            ]
        )
        no_server_errors({"sam": answers[0], "mo": answers[1]}, number)
        assert sorted(a.status for a in answers) == [303, 422], [a.describe() for a in answers]
        outcome = (
            count(PromotionRecommendation, mine),
            count(PromotionDecision, PromotionDecision.request_id == promotion.id),
        )
        if answers[0].status == 303:  # the change first: the decision on the old page refused
            assert outcome == (2, 0)
            service.decide_promotion(manager, reload(promotion), approved=False, effective_on=None, reasons="Closed")
        else:  # the decision first: on the recommendation it showed, and the request closed to changes
            assert outcome == (1, 1)
        rounds.record(answers)
    rounds.assert_enough()


def test_recommending_for_a_non_supervisee_is_404_and_writes_nothing(client, auth, people, open_request):
    worker, supervisor, manager, other, stranger = people
    auth.login_as(stranger)
    before = row_counts()
    response = client.post(
        recommend_url(open_request), data={"csrf_token": auth.token("/"), "supports": "yes", "reasons": "Sure"}
    )
    assert response.status_code == 404
    assert row_counts() == before
    assert client.get(f"/progress/workers/{worker.id}").status_code == 404
    # A manager who also supervises others, but not this worker: still 404.
    both = make_user(Role.MANAGER, Role.SUPERVISOR, name="Bo Both")
    before = row_counts()
    auth.login_as(both)
    response = client.post(
        recommend_url(open_request), data={"csrf_token": auth.token("/"), "supports": "yes", "reasons": "Sure"}
    )
    assert response.status_code == 404
    assert row_counts() == before
    # A missing request is 404 too.
    auth.login_as(supervisor)
    assert (
        client.post(
            "/progress/requests/9999/recommend", data={"csrf_token": auth.token("/"), "supports": "yes", "reasons": "x"}
        ).status_code
        == 404
    )


def test_an_item_signed_off_but_not_accepted_for_a_statement_says_so_under_it(client, auth, people):
    """Found by a helper: under a statement, an item signed off without it read plain "Signed off", while the map
    said "signed off, not accepted for this"."""
    worker, supervisor, *_ = people
    wanted, other = competences("link-worker", "link-worker", refs=["PS-LW-01", "PS-LW-02"])
    item = decide_on(worker, [other], supervisor=supervisor, title="Walking group session")  # accepted for other
    link = EvidenceLink(evidence_id=item.id, competence_id=wanted.id)  # and linked to wanted, not decided for it
    db.session.add(link)
    db.session.commit()
    auth.login_as(worker)
    not_for_it = "Signed off, not accepted for this"
    missing = text_of(client.get("/progress/missing"))
    under_wanted = next(i for i in missing.split('class="missing-item"')[1:] if wanted.statement in i)
    assert "Walking group session" in under_wanted and not_for_it in words(under_wanted)
    assert not_for_it in words(text_of(client.get(f"/portfolio/competences/{wanted.id}")))
    # Under the statement it was accepted for: plainly signed off.
    accepted_page = words(text_of(client.get(f"/portfolio/competences/{other.id}")))
    assert "Walking group session Signed off" in accepted_page and not_for_it not in accepted_page


# --- Deciding --------------------------------------------------------------------------


@pytest.fixture
def recommended(people, open_request):
    _, supervisor, *_ = people
    service.recommend(supervisor, open_request, supports=True, reasons="Ready")
    return db.session.get(PromotionRequest, open_request.id)


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_whoever_decides_or_recommends_sees_the_workers_training(client, auth, people, recommended, headers):
    """Found by a helper: a manager approved a promotion while the worker's home listed five of six courses as
    missing; the decision's page never said "training". It says so before the form, and lists each course."""
    worker, supervisor, manager, *_ = people
    course("Safeguarding adults", 36, position=1)
    certificate(worker, course("Lone working", 36, position=2), RECENT_DAY)
    certificate(worker, course("Information governance", 12, position=3), RECENT_DAY, sent_back="Another course's")
    for person in (manager, supervisor):
        auth.login_as(person)
        page = text_of(client.get(f"/progress/workers/{worker.id}", headers=headers))
        assert "</html>" in page
        summary = words(page.split('id="training-summary">', 1)[1].split("</p>", 1)[0])
        assert summary == "Training Wren Worker’s tier needs: 2 missing; 1 valid. See each course ."
        assert page.index('id="training-summary"') < page.index('id="training"')
        assert [row[:2] for row in table_rows(page, "my-training")] == [
            ["Safeguarding adults", "Missing"],
            ["Information governance", "Missing A certificate was sent back: “Another course's”"],
            ["Lone working", "Valid"],
        ]
        assert "Add a certificate" not in page and "Your certificate" not in page
    # Also on the page a refused decision answers with (422).
    auth.login_as(manager)
    refused = client.post(decide_url(recommended), data={**seen(recommended), "csrf_token": auth.token("/")})
    assert refused.status_code == 422 and 'id="training-summary"' in refused.text
    # The worker reads hers on her home, not here (her request is open: nothing to ask for).
    auth.login_as(worker)
    assert 'id="training"' not in text_of(client.get("/progress/"))
    # Without a request the table stays for whoever chases it; the summary belonged to the request.
    service.withdraw_request(worker, reload(recommended))
    for person in (manager, supervisor):
        auth.login_as(person)
        page = text_of(client.get(f"/progress/workers/{worker.id}", headers=headers))
        assert 'id="training-summary"' not in page
        assert [row[:2] for row in table_rows(page, "my-training")][0] == ["Safeguarding adults", "Missing"]
    auth.login_as(worker)
    assert 'id="training"' not in text_of(client.get("/progress/"))


def test_a_worker_whose_tier_needs_no_course_is_said_to_need_none(client, auth, people):
    """The compliance matrix links each name to #training: the heading is there, and says so, with no course."""
    worker, _, manager, *_ = people
    auth.login_as(manager)
    page = text_of(client.get(f"/progress/workers/{worker.id}"))
    section = words(page.split('id="training">', 1)[1].split("</p>", 1)[0])
    assert section == "Training No course in the training catalogue is needed for Wren Worker’s tier."
    assert "my-training" not in page


def test_the_manager_approves_through_the_form(client, auth, people, recommended):
    worker, supervisor, manager, *_ = people
    auth.login_as(manager)
    page = text_of(client.get(f"/progress/workers/{worker.id}"))
    assert f'action="{decide_url(recommended)}"' in page
    assert "Save recommendation" not in page  # a manager who does not supervise does not recommend
    # Found by a helper: the date started empty, and approving without one was refused. Today, unless changed.
    assert date_shown(page, "effective_on") == (str(TODAY.day), str(TODAY.month), str(TODAY.year))

    effective = TODAY + timedelta(days=3)
    response = client.post(
        decide_url(recommended),
        data={
            **seen(reload(recommended)),
            "csrf_token": auth.token("/"),
            "approved": "yes",
            **date_fields("effective_on", effective),
            "reasons": "",
        },
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/progress/workers/{worker.id}"
    db.session.expire_all()
    assert db.session.get(User, worker.id).tier.slug == "link-worker-coach"
    [change] = db.session.scalars(select(TierChange)).all()
    assert change.effective_on == effective
    page = words(text_of(client.get(f"/progress/workers/{worker.id}")))
    assert "Promotion approved for Wren Worker" in page
    assert f"Link Worker Coach from {long_date(effective)} (was Link Worker)" in page
    assert "Current tier: Link Worker Coach" in page
    assert "Next tier: Psychosocial Link Worker" in page

    # Deciding again is refused with a message, and nothing is written.
    before = row_counts()
    response = client.post(
        decide_url(recommended),
        data={**seen(reload(recommended)), "csrf_token": auth.token("/"), "approved": "no", "reasons": "Oops"},
    )
    assert response.status_code == 422
    # Their own decision, from a stale tab: said as theirs.
    decided_on = long_date(reload(recommended).decision.at)
    assert f"This request has already been decided: you approved it on {decided_on}" in words(text_of(response))
    # So too when the form itself refuses a value (a day that is no date).
    bad_date = {**date_fields("effective_on", effective), "effective_on-day": "40"}
    response = client.post(
        decide_url(recommended),
        data={**seen(reload(recommended)), "csrf_token": auth.token("/"), "approved": "yes", **bad_date},
    )
    assert response.status_code == 422
    assert f"This request has already been decided: you approved it on {decided_on}" in words(text_of(response))
    assert row_counts() == before


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"reasons": "x"}, "approved", "Choose whether to approve or decline the request"),
        (
            {"approved": "yes", **date_fields("effective_on", None)},
            "effective_on",
            "Enter the date the new tier takes effect",
        ),
        ({"approved": "no", "reasons": " "}, "reasons", "Give the reasons for declining"),
        (
            {"approved": "yes", "effective_on-day": "31", "effective_on-month": "2", "effective_on-year": "2027"},
            "effective_on",
            "The effective date must be a real date",
        ),
        ({"approved": "no", "reasons": "x" * 5001}, "reasons", "The reasons must be 5,000 characters or fewer"),
    ],
)
def test_decide_errors_are_shown_next_to_the_field(client, auth, people, recommended, data, field, message):
    worker, supervisor, manager, *_ = people
    auth.login_as(manager)
    before = row_counts()
    response = client.post(
        decide_url(recommended), data={**seen(reload(recommended)), "csrf_token": auth.token("/"), **data}
    )
    assert response.status_code == 422
    page = text_of(response)
    assert "There is a problem" in page
    assert error_next_to(page, field) == f"Error: {message}"
    assert row_counts() == before
    assert db.session.get(User, worker.id).tier.slug == "link-worker"


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_a_manager_who_recommended_is_told_another_manager_decides(client, auth, people, open_request, headers):
    worker, *_ = people
    lead = make_user(Role.SUPERVISOR, Role.MANAGER, name="Lee Lead")
    assign(lead, worker, TODAY - timedelta(days=60))
    service.recommend(lead, open_request, supports=True, reasons="Ready")
    auth.login_as(lead)
    page = text_of(client.get(f"/progress/workers/{worker.id}", headers=headers))
    assert "You recommended on this request: another manager must decide it." in words(page)
    assert f'action="{decide_url(open_request)}"' not in page
    before = row_counts()
    response = client.post(
        decide_url(open_request),
        data={
            **seen(reload(open_request)),
            "csrf_token": auth.token("/"),
            "approved": "yes",
            **date_fields("effective_on", TODAY),
        },
        headers=headers,
    )
    assert response.status_code == 422
    assert error_next_to(text_of(response), "approved") == f"Error: {service.RECOMMENDED_IT}"
    assert row_counts() == before


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_a_refused_decision_or_request_leaves_the_address_bar_on_the_progress_page(
    client, auth, people, recommended, headers
):
    """Found by a helper trying the app as a manager: a decision saved with nothing chosen showed its errors, but
    htmx put the form's address (/progress/requests/N/decide, which answers no GET) in the address bar, and a
    reload gave "Sorry, there is a problem with the request". The answer now tells htmx to keep the page's."""
    worker, supervisor, manager, *_ = people
    auth.login_as(manager)
    before = row_counts()
    response = client.post(
        decide_url(recommended),
        data={**seen(reload(recommended)), "csrf_token": auth.token("/")},
        headers=headers,
    )
    assert response.status_code == 422
    page = text_of(response)
    assert "<h1>Progress of Wren Worker</h1>" in page
    assert error_next_to(page, "approved") == "Error: Choose whether to approve or decline the request"
    assert response.headers.get("HX-Push-Url") == ("false" if headers else None)
    assert row_counts() == before
    assert client.get(decide_url(recommended)).status_code == 405  # the address it keeps out of the bar

    auth.login_as(supervisor)
    response = client.post(
        recommend_url(recommended), data={"csrf_token": auth.token("/"), "reasons": "x" * 5000}, headers=headers
    )
    assert response.status_code == 422
    assert response.headers.get("HX-Push-Url") == ("false" if headers else None)


def test_deciding_before_a_recommendation_is_refused(client, auth, people, open_request):
    worker, supervisor, manager, *_ = people
    auth.login_as(manager)
    page = text_of(client.get(f"/progress/workers/{worker.id}"))
    assert "You can decide once a supervisor has recommended." in page
    before = row_counts()
    response = client.post(
        decide_url(open_request),
        data={
            **seen(reload(open_request)),
            "csrf_token": auth.token("/"),
            "approved": "yes",
            **date_fields("effective_on", TODAY),
        },
    )
    assert response.status_code == 422
    assert "Wait for a supervisor’s recommendation before deciding" in text_of(response)
    assert row_counts() == before


def test_only_managers_decide(client, auth, people, recommended):
    worker, supervisor, *_ = people
    for person in (supervisor, worker):
        auth.login_as(person)
        response = client.post(
            decide_url(recommended),
            data={
                **seen(reload(recommended)),
                "csrf_token": auth.token("/"),
                "approved": "yes",
                **date_fields("effective_on", TODAY),
            },
        )
        assert response.status_code == 403
    assert count(PromotionDecision) == 0


# --- Withdrawing a request ---------------------------------------------------------------


def withdraw_url(request) -> str:
    return f"/progress/requests/{request.id}/withdraw"


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_the_worker_withdraws_their_request_after_confirming(client, auth, people, open_request, headers):
    worker, supervisor, manager, *_ = people
    service.recommend(supervisor, open_request, supports=False, reasons="A few more months")
    auth.login_as(worker)
    progress_page = text_of(client.get("/progress/", headers=headers))
    assert f'href="{withdraw_url(open_request)}"' in progress_page
    assert ">Withdraw this request</a>" in progress_page

    before = row_counts()
    confirm = text_of(client.get(withdraw_url(open_request), headers=headers))
    assert "<html" in confirm and "<title>Withdraw your promotion request" in confirm
    said = words(confirm)
    assert "Withdraw your request to become Link Worker Coach?" in said
    assert "It is withdrawn, not declined: your record says so." in said
    assert "The recommendation already given stays on your record." in said
    assert f'action="{withdraw_url(open_request)}"' in confirm
    assert row_counts() == before  # opening the page writes nothing

    response = client.post(withdraw_url(open_request), data={"csrf_token": auth.token("/progress/")}, headers=headers)
    assert response.status_code == 303 and response.headers["Location"] == "/progress/"
    db.session.expire_all()
    assert db.session.get(PromotionRequest, open_request.id).withdrawn_at is not None
    assert count(PromotionDecision) == 0
    page = words(text_of(client.get("/progress/", headers=headers)))
    assert "Your request to become Link Worker Coach is withdrawn" in page
    # Back to the confirmation page (the browser's Back): it says so, and asks nothing.
    again = text_of(client.get(withdraw_url(open_request), headers=headers))
    assert "<h1>Your request to become Link Worker Coach is withdrawn</h1>" in again
    assert "Withdraw my request" not in again and "Keep my request" not in again
    assert "Request promotion to Link Worker Coach" in page  # ready, so asked again in one click

    # The supervisor's page, and the manager's home, no longer ask anything of them.
    auth.login_as(supervisor)
    worker_page = text_of(client.get(f"/progress/workers/{worker.id}"))
    assert "No promotion request is open." in worker_page and recommend_url(open_request) not in worker_page
    auth.login_as(manager)
    assert "No promotion requests are waiting for a decision." in words(text_of(client.get("/")))


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_whoever_decides_a_new_request_sees_what_was_said_on_the_withdrawn_one(
    client, auth, people, open_request, headers
):
    """Found by a review: withdrawing after a "not yet" and asking again put that "not yet" out of the decider's
    sight. Earlier requests stay on the page, with what was said on them."""
    worker, supervisor, manager, *_ = people
    service.recommend(supervisor, open_request, supports=False, reasons="A few more months of groups")
    service.withdraw_request(db.session.get(User, worker.id), open_request)
    service.request_promotion(db.session.get(User, worker.id))
    auth.login_as(manager)
    page = text_of(client.get(f"/progress/workers/{worker.id}", headers=headers))
    assert "<html" in page
    earlier = words(page.split('id="earlier-requests"', 1)[1].split("</ul>\n</li>", 1)[0])
    assert re.search(rf"To become Link Worker Coach, asked on {long_date(TODAY)} at {TIME}: withdrawn on ", earlier)
    assert "Not yet recommended by Sam Supervisor: A few more months of groups" in earlier
    assert "Waiting for a supervisor’s recommendation." in words(page)  # the new request, open


TIME = r"(\d{1,2}:\d\d[ap]m|midday|midnight)"


def test_requests_withdrawn_on_one_day_read_apart_by_their_time_on_the_services_clock(
    client, auth, people, open_request, in_london
):
    """Two withdrawals of one day read as the same line without the time; a summer evening's is the next day."""
    worker, *_ = people
    service.withdraw_request(db.session.get(User, worker.id), open_request)
    second = service.request_promotion(db.session.get(User, worker.id))
    service.withdraw_request(db.session.get(User, worker.id), second)
    service.request_promotion(db.session.get(User, worker.id))
    times = {
        open_request.id: (datetime(2026, 7, 1, 8, 5, tzinfo=UTC), datetime(2026, 7, 1, 8, 20, tzinfo=UTC)),
        second.id: (datetime(2026, 7, 1, 13, 30, tzinfo=UTC), datetime(2026, 7, 1, 23, 0, tzinfo=UTC)),
    }
    for request_id, (asked, withdrawn) in times.items():
        db.session.execute(
            update(PromotionRequest)
            .where(PromotionRequest.id == request_id)
            .values(requested_at=asked, withdrawn_at=withdrawn)
        )
    db.session.commit()
    auth.login_as(worker)
    page = text_of(client.get("/progress/"))
    earlier = words(page.split('id="earlier-requests">', 1)[1].split("</ul>", 1)[0])
    assert earlier == (
        "Earlier requests "
        "To become Link Worker Coach, asked on 1 July 2026 at 2:30pm: withdrawn on 2 July 2026 at midnight. "
        "To become Link Worker Coach, asked on 1 July 2026 at 9:05am: withdrawn on 1 July 2026 at 9:20am."
    )


def test_a_decision_refused_because_the_request_was_withdrawn_is_said_next_to_the_form(
    client, auth, people, recommended
):
    worker, supervisor, manager, *_ = people
    service.withdraw_request(db.session.get(User, worker.id), recommended)
    auth.login_as(manager)
    before = row_counts()
    response = client.post(
        decide_url(recommended),
        data={
            **seen(reload(recommended)),
            "csrf_token": auth.token("/"),
            "approved": "yes",
            **date_fields("effective_on", TODAY),
        },
    )
    assert response.status_code == 422
    page = text_of(response)
    assert "There is a problem" in page and 'href="#approved"' in page
    assert error_next_to(page, "approved") == "Error: Wren Worker withdrew this request: there is nothing to decide"
    assert row_counts() == before
    assert db.session.get(User, worker.id).tier.slug == "link-worker"


def test_a_decided_request_is_not_withdrawn_and_the_page_says_why(client, auth, people, recommended):
    worker, supervisor, manager, *_ = people
    auth.login_as(worker)
    token = auth.token(withdraw_url(recommended))  # the page opened before the manager decided
    service.decide_promotion(manager, recommended, approved=False, effective_on=None, reasons="Not yet")
    before = row_counts()
    response = client.post(withdraw_url(recommended), data={"csrf_token": token})
    assert response.status_code == 422
    page = text_of(response)
    assert "<title>Error: Withdraw your promotion request" in page and 'href="#withdraw"' in page
    assert error_next_to(page, "withdraw") == (
        "Error: A manager has already decided this request, so it cannot be withdrawn"
    )
    assert "Withdraw my request" not in page
    assert row_counts() == before


def test_only_the_worker_may_open_or_withdraw_their_request(client, auth, people, open_request):
    worker, supervisor, manager, other, _ = people
    for person in (other, supervisor, manager):
        auth.login_as(person)
        assert client.get(withdraw_url(open_request)).status_code in (403, 404)
        response = client.post(withdraw_url(open_request), data={"csrf_token": auth.token("/")})
        assert response.status_code in (403, 404)
    auth.login_as(other)
    assert client.get(withdraw_url(open_request)).status_code == 404  # another worker: as if it did not exist
    assert db.session.get(PromotionRequest, open_request.id).withdrawn_at is None


# --- Verifying requirements -----------------------------------------------------------


def verify_url(worker: User, ref: str) -> str:
    return f"/progress/workers/{worker.id}/requirements/{requirement(worker, ref).id}"


def post_dbs_check(client, auth, worker: User, verified_on, expires_on, note: str = ""):
    """The verify form of the worker's DBS check, sent with these dates (None: the boxes left empty)."""
    return client.post(
        verify_url(worker, "REQ-DBS"),
        data={
            "csrf_token": auth.token("/"),
            **date_fields("verified_on", verified_on),
            **date_fields("expires_on", expires_on),
            "note": note,
        },
    )


def test_the_manager_verifies_a_dbs_check(client, auth, people):
    worker, supervisor, manager, *_ = people
    auth.login_as(manager)
    worker_page = text_of(client.get(f"/progress/workers/{worker.id}"))
    assert f'href="{verify_url(worker, "REQ-DBS")}"' in worker_page
    form = text_of(client.get(verify_url(worker, "REQ-DBS"), follow_redirects=True))
    assert "This is renewed every 36 months: leave the renewal date empty to use that." in form
    assert 'name="expires_on-day"' in form
    assert f'value="{TODAY.day}"' in form  # today by default
    driving = text_of(client.get(verify_url(worker, "REQ-DRIVING"), follow_redirects=True))
    assert 'name="expires_on-day"' not in driving
    # A hint that fits every requirement: a driving licence is not asked for a DBS certificate's number.
    assert "DBS" not in words(driving.split('id="note-hint"', 1)[1].split("</div>", 1)[0])

    day = TODAY - timedelta(days=2)
    response = post_dbs_check(client, auth, worker, day, None, "Certificate 001234")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/progress/workers/{worker.id}#requirements"
    [v] = db.session.scalars(select(RequirementVerification)).all()
    assert (v.verified_by_id, v.verified_on, v.expires_on, v.note) == (
        manager.id,
        day,
        service.add_months(day, 36),
        "Certificate 001234",
    )
    page = words(text_of(client.get(f"/progress/workers/{worker.id}")))
    assert f"by Mo Manager on {long_date(day)}; renew by {long_date(service.add_months(day, 36))}" in page
    assert "has passed" not in page
    # What she checked is in the table for the managers, and the check on record is renewed from it.
    dbs = requirement(worker, "REQ-DBS").statement
    assert f"renew by {long_date(service.add_months(day, 36))} Note: Certificate 001234 Verify again {dbs}" in page
    assert f"Verify {requirement(worker, 'REQ-DRIVING').statement}" in page  # not verified yet
    # Not for every reader: her supervisor and she herself see who verified it and when, not the certificate's number.
    for reader, address in ((supervisor, f"/progress/workers/{worker.id}"), (worker, "/progress/")):
        auth.login_as(reader)
        page = words(text_of(client.get(address)))
        assert f"by Mo Manager on {long_date(day)}" in page and "001234" not in page


def test_a_verification_whose_renewal_date_has_passed_is_saved_and_said_to_be_lapsed(client, auth, people):
    """Found by a helper: a DBS check verified in 2023 with its renewal date passed was saved as "Verified" and only
    the table, further down, said "Lapsed". It is kept (a record of an older check is true), and said at once."""
    worker, supervisor, manager, *_ = people
    auth.login_as(manager)
    verified_on, renew_by = TODAY - timedelta(days=1000), TODAY - timedelta(days=30)
    dbs = requirement(worker, "REQ-DBS").statement
    response = post_dbs_check(client, auth, worker, verified_on, renew_by)
    assert response.status_code == 303
    page = words(text_of(client.get(response.headers["Location"])))
    assert (
        f"Verified: {dbs} (its renewal date, {long_date(renew_by)}, has passed:"
        " it shows as lapsed until it is verified again)"
    ) in page
    [v] = db.session.scalars(select(RequirementVerification)).all()
    assert (v.verified_on, v.expires_on) == (verified_on, renew_by)

    # Found by a review: a newer check in date, then an older one recorded after it. The page shows the newer (by
    # the date verified), so nothing is said to have lapsed.
    for day, until in ((TODAY - timedelta(days=10), TODAY + timedelta(days=1000)), (verified_on, renew_by)):
        response = post_dbs_check(client, auth, worker, day, until)
        assert response.status_code == 303
    page = words(text_of(client.get(response.headers["Location"])))
    assert f"Verified: {dbs}" in page and "has passed" not in page


@pytest.mark.parametrize(
    ("verified_on", "expires_on", "field", "message"),
    [
        (TODAY + timedelta(days=1), None, "verified_on", "The date verified must be today or in the past"),
        (date(1975, 6, 1), None, "verified_on", "The date verified must be on or after 1 January 1980"),
        (None, None, "verified_on", "Enter the date you verified it"),
        (
            TODAY - timedelta(days=5),
            TODAY - timedelta(days=6),
            "expires_on",
            "The renewal date must be after the date verified",
        ),
    ],
)
def test_bad_verification_dates_are_shown_next_to_the_field(
    client, auth, people, verified_on, expires_on, field, message
):
    worker, supervisor, manager, *_ = people
    auth.login_as(manager)
    before = row_counts()
    response = post_dbs_check(client, auth, worker, verified_on, expires_on)
    assert response.status_code == 422
    page = text_of(response)
    assert "<title>Error: Verify a requirement for Wren Worker: " in page  # and names the requirement
    assert requirement(worker, "REQ-DBS").statement[:30] in page_title(page)
    assert error_next_to(page, field) == f"Error: {message}"
    assert row_counts() == before


def test_verification_by_a_non_manager_is_403(client, auth, people):
    worker, supervisor, manager, other, stranger = people
    for person in (worker, supervisor):
        auth.login_as(person)
        assert client.get(verify_url(worker, "REQ-DBS"), follow_redirects=True).status_code == 403
        response = client.post(
            verify_url(worker, "REQ-DBS"),
            data={"csrf_token": auth.token("/"), **date_fields("verified_on", TODAY), "note": ""},
        )
        assert response.status_code == 403
    assert count(RequirementVerification) == 0
    # A requirement of another framework, or a missing worker: 404.
    auth.login_as(manager)
    profile = make_user(Role.WORKER, tier=tier("sfh-senior-engagement-worker", "senior-engagement-worker"))
    assert (
        client.get(f"/progress/workers/{profile.id}/requirements/{requirement(worker, 'REQ-DBS').id}").status_code
        == 404
    )
    assert client.get(f"/progress/workers/9999/requirements/{requirement(worker, 'REQ-DBS').id}").status_code == 404


# --- The manager's overview -------------------------------------------------------------


@pytest.fixture
def team(people):
    """Wren ready, Olive with a lapsed DBS and an item waiting, Ezra on the role profile, =Eve with a formula name."""
    worker, supervisor, manager, other, stranger = people
    make_ready(worker, supervisor, manager)
    meet(other, competences("link-worker", "link-worker")[:5], supervisor=stranger)
    verify_all(other, manager, skip=("REQ-DBS",))
    lapse_dbs(other, manager)
    waiting_item(other)
    ezra = make_user(
        Role.WORKER, name="Ezra Engagement", tier=tier("sfh-senior-engagement-worker", "senior-engagement-worker")
    )
    formula = make_user(
        Role.WORKER, name='=HYPERLINK("http://x")', email="eve@example.org", tier=tier("link-worker", "link-worker")
    )
    return worker, other, ezra, formula


def team_rows(page: str) -> list[str]:
    body = page.split('<div id="team-table"', 1)[1].split("<tbody", 1)[1].split("</tbody>", 1)[0]
    return [
        words(re.sub(r'<span class="nhsuk-table-responsive__heading"[^>]*>.*?</span>', "", row, flags=re.S))
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def none_verified(worker) -> str:
    """The Requirements cell of a worker who has verified nothing: how many are not verified."""
    return f"Not verified {len(requirements_of(worker))} requirements"


def test_the_overview_as_a_full_page(client, auth, people, team):
    worker, other, ezra, formula = team
    manager = people[2]
    auth.login_as(manager)
    response = client.get("/progress/team")
    assert response.status_code == 200
    page = text_of(response)
    assert "<html" in page and "<h1>Workers</h1>" in page
    assert status_of(page, "team-status") == "4 workers"
    rows = team_rows(page)
    dbs = requirement(other, "REQ-DBS").statement
    # Each name has the person's email beside it: two people can share a name.
    assert sorted(rows) == sorted(
        [
            f'=HYPERLINK("http://x") {formula.email} Link Worker 0 of 68 for Link Worker Coach Not yet '
            f"{none_verified(formula)} 0",
            f"Ezra Engagement {ezra.email} Senior Engagement Worker 0 of 60 for the Senior "
            f"Engagement Worker role Not yet {none_verified(ezra)} 0",
            f"Olive Other {other.email} Link Worker 5 of 68 for Link Worker Coach Not yet Lapsed {dbs} 1",
            f"Wren Worker {worker.email} Link Worker 68 of 68 for Link Worker Coach Ready All verified 0",
        ]
    )
    assert (
        rows.index(f"Wren Worker {worker.email} Link Worker 68 of 68 for Link Worker Coach Ready All verified 0") == 3
    )  # by name
    assert f'href="/progress/workers/{worker.id}"' in page
    assert 'href="/progress/team?format=csv"' in page


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("only=ready", ["Wren Worker"]),
        ("only=lapsed", ["Olive Other"]),
        ("only=waiting", ["Olive Other"]),
        ("only=unverified", ['=HYPERLINK("http://x")', "Ezra Engagement"]),  # Olive's DBS lapsed: verified once
        ("q=wren", ["Wren Worker"]),
        ("q=OTHER+olive", ["Olive Other"]),
        ("q=nobody", []),
        ("q=w_r", []),  # "_" is a letter to search for, not a LIKE wildcard ("Wren Worker" has no "w_r")
        ("q=%25", []),  # nor is "%"
    ],
)
def test_the_overview_filters(client, auth, people, team, query, names):
    auth.login_as(people[2])
    page = text_of(client.get(f"/progress/team?{query}"))
    rows = team_rows(page)
    if names:
        assert [r.split("@")[0].rsplit(" ", 1)[0] for r in rows] == names  # the name, before the email
    else:
        assert rows == ["No workers match."]
    assert f'href="/progress/team?{query}&format=csv"' in page.replace("&amp;", "&")


def test_the_status_line_names_the_show_filter_a_home_link_applied(client, auth, people, team, frameworks):
    """Found by a helper: the manager's home links to the list filtered, its filters folded away, and the status
    line said only "3 workers match your filters"."""
    auth.login_as(people[2])
    page = text_of(client.get("/progress/team?only=unverified"))
    assert status_of(page, "team-status") == "2 workers match “With requirements never verified”"
    framework = frameworks["link-worker"].id
    page = text_of(client.get(f"/progress/team?only=unverified&framework={framework}"))
    assert status_of(page, "team-status") == (
        "1 worker matches “With requirements never verified” and your other filters"
    )
    assert status_of(text_of(client.get("/progress/team?q=wren")), "team-status") == "1 worker matches your filters"


def test_the_overview_filters_by_framework(client, auth, people, team, frameworks):
    auth.login_as(people[2])
    page = text_of(client.get(f"/progress/team?framework={frameworks['sfh-senior-engagement-worker'].id}"))
    assert [r.split(" Senior")[0].rsplit(" ", 1)[0] for r in team_rows(page)] == ["Ezra Engagement"]
    assert f'<option selected value="{frameworks["sfh-senior-engagement-worker"].id}">' in page or re.search(
        rf'<option[^>]*value="{frameworks["sfh-senior-engagement-worker"].id}"[^>]*selected', page
    )


def test_each_change_to_a_workers_progress_shows_on_the_next_view_of_the_overview(client, auth, people, frameworks):
    """The figures are kept per worker between views: a sign-off, a new tier and a framework's new statement each
    show on the very next one, on the whole list and behind the "ready" filter."""
    worker, supervisor, manager, *_ = people
    make_user(
        Role.WORKER, name="Ezra Engagement", tier=tier("sfh-senior-engagement-worker", "senior-engagement-worker")
    )
    auth.login_as(manager)

    def row_of(name: str, query: str = "") -> str:
        rows = team_rows(text_of(client.get(f"/progress/team?{query}")))
        return next((r for r in rows if r.startswith(name)), "not listed")

    assert "0 of 68 for Link Worker Coach Not yet" in row_of("Wren")
    meet(worker, competences("link-worker", "link-worker")[:3], supervisor=supervisor)
    assert "3 of 68 for Link Worker Coach Not yet" in row_of("Wren")
    assert row_of("Wren", "only=ready") == "not listed"
    make_ready(worker, supervisor, manager)
    assert "68 of 68 for Link Worker Coach Ready" in row_of("Wren", "only=ready")

    worker.tier_id = tier("link-worker", "link-worker-coach").id
    db.session.commit()
    assert re.search(r"Link Worker Coach \d+ of \d+ for Psychosocial Link Worker Not yet", row_of("Wren"))
    assert row_of("Wren", "only=ready") == "not listed"
    worker.tier_id = tier("link-worker", "psychosocial-link-worker").id
    db.session.commit()
    assert "Top tier Top tier: no promotion to prepare" in row_of("Wren")

    assert "0 of 60 for the Senior Engagement Worker role" in row_of("Ezra")
    frameworks_service.add_locality_competence(
        manager, frameworks["sfh-senior-engagement-worker"], statement="Local", principle="P", function="F"
    )
    assert "0 of 61 for the Senior Engagement Worker role" in row_of("Ezra")


def test_a_page_of_the_overview_is_kept_rendered_until_something_it_shows_changes(
    client, auth, people, count_queries, monkeypatch
):
    """The page's rows are kept rendered between views, read again only when one of them would read otherwise: a
    requirement verified, an item sent, a worker renamed or joining, the next day (a check lapses) each show on the
    very next view, on the whole page and in the filter's answer."""
    worker, _, manager, *_ = people
    auth.login_as(manager)

    def wren(query: str = "", headers: dict[str, str] | None = None) -> str:
        rows = team_rows(text_of(client.get(f"/progress/team?{query}", headers=headers or {})))
        return next((r for r in rows if r.startswith("Wren")), "not listed")

    first = wren()
    assert first.endswith(f"{none_verified(worker)} 0")
    with count_queries(keep=True):
        assert wren() == first
    # The signed-in manager and what the page's rows depend on: nobody's items, progress or verifications are read,
    # nor the filter's frameworks (kept by the process).
    assert len(count_queries.statements) == 2
    assert not any("FROM evidence" in statement for statement in count_queries.besides_the_signed_in_user)

    dbs = requirement(worker, "REQ-DBS")
    service.verify_requirement(
        manager, worker, dbs, verified_on=YESTERDAY, expires_on=TODAY + timedelta(days=1), note=""
    )
    assert f"Not verified {len(requirements_of(worker)) - 1} requirements 0" in wren()
    waiting_item(worker)
    assert wren().endswith(" 1") and wren("only=waiting", {"HX-Request": "true"}).endswith(" 1")
    worker.name = "Wren Renamed"
    db.session.commit()
    assert wren().startswith("Wren Renamed")
    past_the_end = team_rows(text_of(client.get("/progress/team?page=9")))  # the last page, as page 9 shows it
    make_user(Role.WORKER, name="Aaron Newcomer", email="aaron@example.org", tier=tier("link-worker", "link-worker"))
    for address in ("/progress/team", "/progress/team?page=9"):
        assert team_rows(text_of(client.get(address)))[0].startswith("Aaron Newcomer")
    assert len(team_rows(text_of(client.get("/progress/team?page=9")))) == len(past_the_end) + 1

    the_day_after_tomorrow = clock.now() + timedelta(days=2)
    monkeypatch.setattr(clock, "now", lambda: the_day_after_tomorrow)
    assert "Lapsed" in wren() and dbs.statement in wren()


def keep_looking(looker, stop, looks: list[int]) -> None:
    """The workers list asked for again and again until ``stop`` is set; each answer's status in ``looks``."""
    while not stop.is_set():
        looks.append(looker.get("/progress/team").status)


def test_views_of_the_workers_list_while_requirements_are_verified_end_on_what_was_written(app, server, people):
    """Over HTTP at the same moment: one manager keeps looking at the list while another verifies the worker's
    requirements one by one. Whatever a look kept while a verification committed, the next look shows it."""
    import threading

    from tests.conftest import csrf_token
    from tests.racing import signed_in

    worker, _, manager, *_ = people
    meg = make_user(Role.MANAGER, name="Meg Manager")
    refs = [r.ref for r in requirements_of(worker)]
    db.session.commit()
    mo, looker = signed_in(server, ("mo", manager.email), ("meg", meg.email))

    def wren(page: str) -> str:
        return next(r for r in team_rows(page) if r.startswith("Wren"))

    assert wren(looker.get("/progress/team").text).endswith(f"Not verified {len(refs)} requirements 0")
    for done, ref in enumerate(refs, start=1):
        form = mo.get(verify_url(worker, ref), follow_redirects=True)
        sending = mo.start_post(
            verify_url(worker, ref),
            {"csrf_token": csrf_token(form.text), **date_fields("verified_on", YESTERDAY), "note": ""},
        )
        stop, looks = threading.Event(), []
        looking = threading.Thread(target=keep_looking, args=(looker, stop, looks), daemon=True)
        looking.start()
        sent = sending.finish()
        stop.set()
        looking.join(30)
        assert sent.status == 303, sent.describe()
        assert looks and set(looks) == {200}
        left = len(refs) - done
        expected = f"Not verified {left} requirement{'s' if left != 1 else ''} 0" if left else "All verified 0"
        assert wren(looker.get("/progress/team").text).endswith(expected)


def test_a_progress_kept_for_another_tier_than_the_workers_row_is_worked_out_again(client, auth, people):
    """On PostgreSQL a promotion can commit between reading the workers and reading their tokens, leaving an answer
    for the old tier under the new token. Played here by a change that writes no token: the row decides."""
    worker, _, manager, *_ = people
    auth.login_as(manager)

    def wren() -> str:
        return next(r for r in team_rows(text_of(client.get("/progress/team"))) if r.startswith("Wren"))

    assert "for Link Worker Coach" in wren()
    coach = tier("link-worker", "link-worker-coach")
    db.session.execute(text("UPDATE users SET tier_id = :tier WHERE id = :id"), {"tier": coach.id, "id": worker.id})
    db.session.commit()

    assert re.search(r"Link Worker Coach \d+ of \d+ for Psychosocial Link Worker", wren())


def test_the_progress_page_of_the_top_tier_speaks_to_whoever_reads_it(client, auth, people):
    worker, _, manager, *_ = people
    worker.tier_id = tier("link-worker", "psychosocial-link-worker").id
    db.session.commit()
    auth.login_as(worker)
    assert "You hold the top tier of this framework." in words(text_of(client.get("/progress/")))
    auth.login_as(manager)
    page = words(text_of(client.get(f"/progress/workers/{worker.id}")))
    assert "Wren Worker holds the top tier of this framework." in page


def test_the_overview_says_top_tier_plainly(client, auth, people, team):
    top = make_user(
        Role.WORKER, name="Tom Top", email="tom@example.org", tier=tier("link-worker", "psychosocial-link-worker")
    )
    auth.login_as(people[2])
    for headers in ({}, {"HX-Request": "true"}):
        rows = team_rows(text_of(client.get("/progress/team?q=tom", headers=headers)))
        assert rows == [
            f"Tom Top {top.email} Psychosocial Link Worker Top tier Top tier: no promotion to prepare "
            f"{none_verified(top)} 0"
        ]


def test_the_overview_answers_htmx_with_the_table_only(client, auth, people, team):
    auth.login_as(people[2])
    response = client.get("/progress/team?only=ready", headers={"HX-Request": "true"})
    assert response.status_code == 200
    page = text_of(response)
    _, oob = swapped_parts(page, "team-table")
    assert oob == ['<p id="team-status" class="nhsuk-body portfolio-status" role="status" hx-swap-oob="innerHTML">']
    assert status_of(page, "team-status") == "1 worker matches “Ready for their next tier”"  # the filter named
    assert [r.split("@")[0].rsplit(" ", 1)[0] for r in team_rows(page)] == ["Wren Worker"]
    assert "HX-Request" in response.headers["Vary"]


def test_the_overview_as_csv(client, auth, people, team):
    worker, other, ezra, formula = team
    auth.login_as(people[2])
    response = client.get("/progress/team?format=csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="workers.csv"'
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == [
        "Name",
        "Email",
        "Framework",
        "Tier",
        "Next tier",
        "Met",
        "Required",
        "Ready",
        "Lapsed requirements",
        "Requirements not verified",
        "Waiting for review",
    ]
    by_name = {r[0]: r for r in rows[1:]}
    assert by_name['\'=HYPERLINK("http://x")'][1] == "eve@example.org"  # never read as a formula
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    assert by_name["Wren Worker"] == [
        "Wren Worker",
        "wren@example.org",
        "Link Worker",
        "Link Worker",
        "Link Worker Coach",
        "68",
        "68",
        "yes",
        "",
        "",
        "0",
    ]
    assert by_name["Olive Other"] == [
        "Olive Other",
        "olive@example.org",
        "Link Worker",
        "Link Worker",
        "Link Worker Coach",
        "5",
        "68",
        "no",
        requirement(other, "REQ-DBS").statement,
        "",
        "1",
    ]
    assert len(rows) == 5
    # Filters apply to the CSV too.
    rows = list(csv.reader(io.StringIO(client.get("/progress/team?only=lapsed&format=csv").get_data(as_text=True))))
    assert [r[0] for r in rows[1:]] == ["Olive Other"]


def test_the_overview_is_for_managers_only(client, auth, people):
    worker, supervisor, manager, other, stranger = people
    for person in (worker, supervisor):
        auth.login_as(person)
        assert client.get("/progress/team").status_code == 403
        assert client.get("/progress/team?format=csv").status_code == 403


# --- Who sees what ---------------------------------------------------------------------


def test_a_worker_cannot_open_another_workers_progress(client, auth, people):
    worker, supervisor, manager, other, stranger = people
    auth.login_as(other)
    assert client.get(f"/progress/workers/{worker.id}").status_code == 404
    asked = post_with_token(client, auth, f"/progress/workers/{worker.id}/portfolio.pdf", {})
    assert asked.status_code == 404 and count(Document) == 0
    assert client.get("/progress/workers/9999").status_code == 404
    # Their own page, by id, is theirs.
    assert client.get(f"/progress/workers/{other.id}").status_code == 200


def test_supervisors_see_only_current_supervisees(client, auth, people):
    worker, supervisor, manager, other, stranger = people
    auth.login_as(supervisor)
    assert client.get(f"/progress/workers/{worker.id}").status_code == 200
    assert client.get(f"/progress/workers/{other.id}").status_code == 404
    db.session.execute(
        update(SupervisionAssignment)
        .where(SupervisionAssignment.supervisor_id == supervisor.id)
        .values(ends_on=YESTERDAY)
    )
    db.session.commit()
    assert client.get(f"/progress/workers/{worker.id}").status_code == 404


def test_worker_pages_are_for_workers_with_a_framework(client, auth, people):
    worker, supervisor, manager, *_ = people
    auth.login_as(supervisor)
    assert client.get("/progress/").status_code == 403
    assert client.get("/progress/missing").status_code == 403
    assert post_with_token(client, auth, "/progress/portfolio.pdf", {}).status_code == 403
    assert post_with_token(client, auth, "/progress/export.zip", {}).status_code == 403
    assert count(Document) == 0
    no_framework = make_user(Role.WORKER)
    auth.login_as(no_framework)
    assert client.get("/progress/").status_code == 403
    assert client.get("/progress/missing").status_code == 403
    auth.login_as(manager)
    assert client.get(f"/progress/workers/{no_framework.id}").status_code == 404


# --- The portfolio PDF ------------------------------------------------------------------


@pytest.fixture
def portfolio(people):
    """Wren with an accepted item (and its file), an item with a second file, and verified requirements."""
    worker, supervisor, manager, *_ = people
    first = competences("link-worker", "link-worker", refs=["PS-LW-01"])[0]
    item = upload_item(worker, "Walking group report", {"walking-group.pdf": pdf_file("walking group")})
    decide_on(worker, [first], supervisor=supervisor, evidence=item)
    upload_item(worker, "Course certificate scan", {"course-certificate.pdf": pdf_file("course")})
    verify_all(worker, manager, verified_on=date(2025, 5, 6))
    return first, item


def test_the_worker_downloads_their_portfolio_pdf(client, auth, people, portfolio):
    worker, supervisor, manager, *_ = people
    first, item = portfolio
    decision = db.session.scalar(select(Decision).where(Decision.evidence_id == item.id))
    auth.login_as(worker)
    status_page = ask_for_document(client, auth, "/progress/portfolio.pdf")
    response = read_download(client, f"{status_page}/download")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == "attachment; filename=portfolio-wren-worker-link-worker-coach.pdf"
    assert response.data.startswith(b"%PDF")
    text = pdf_text(response.data)
    for expected in (
        "Portfolio for a promotion panel Wren Worker",
        "Framework: Link Worker Competency Framework",
        "Current tier: Link Worker",
        "Shown against the tier: Link Worker Coach",
        f"Prepared on {long_date(TODAY)}",
        "Competences met",
        "Link Worker: 1 of 48 competences met",
        "Link Worker Coach: 0 of 20 competences met",
        "Ready for Link Worker Coach: not yet",
        f"PS-LW-01 {first.statement} [Met]",
        f"Walking group report (Other evidence, {long_date(RECENT_DAY)}): signed off by Sam Supervisor on {long_date(decision.decided_at)}",
        "No accepted evidence yet",
        "Mandatory requirements",
        f"{requirement(worker, 'REQ-DRIVING').statement}: verified (verified by Mo Manager on 6 May 2025)",
        "verified by Mo Manager on 6 May 2025, renew by 6 May 2028",
        "Attached files",
        "walking-group.pdf",
        "- Walking group report",
    ):
        assert expected in text, f"{expected!r} not in the PDF text"
    # The draft and its file are the worker's own business, not the panel's.
    assert "course-certificate.pdf" not in text and "Course certificate scan" not in text
    # Only the target tier and those before it are listed.
    assert competences("link-worker", "link-worker-coach")[0].statement in text
    assert competences("link-worker", "psychosocial-link-worker")[0].statement not in text


def test_the_portfolio_pdf_for_another_target_tier(client, auth, people, portfolio):
    worker, *_ = people
    auth.login_as(worker)
    top = tier("link-worker", "psychosocial-link-worker")
    text = pdf_text(built_document(client, auth, f"/progress/portfolio.pdf?tier={top.id}"))
    assert "Shown against the tier: Psychosocial Link Worker" in text
    assert "Psychosocial Link Worker: 0 of 17 competences met" in text  # on the cover, up to the requested tier
    assert competences("link-worker", "psychosocial-link-worker")[0].statement in text
    other_framework = tier("sfh-senior-engagement-worker", "senior-engagement-worker")
    asked = post_with_token(client, auth, f"/progress/portfolio.pdf?tier={other_framework.id}", {})
    assert asked.status_code == 404 and count(Document) == 1  # the first only


def test_supervisor_and_manager_get_the_workers_pdf_and_others_do_not(client, auth, people, portfolio):
    worker, supervisor, manager, other, stranger = people
    for person in (supervisor, manager):
        auth.login_as(person)
        status_page = ask_for_document(client, auth, f"/progress/workers/{worker.id}/portfolio.pdf")
        response = read_download(client, f"{status_page}/download")
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert "Portfolio for a promotion panel Wren Worker" in pdf_text(response.data)
    for person in (other, stranger):
        auth.login_as(person)
        asked = post_with_token(client, auth, f"/progress/workers/{worker.id}/portfolio.pdf", {})
        assert asked.status_code == 404
    assert count(Document) == 2  # the supervisor's and the manager's


def test_the_pdf_download_header_is_sendable_for_any_name(client, auth, app, frameworks):
    """A WSGI server sends headers as Latin-1 (PEP 3333): a name outside it must not break the download."""
    worker = make_user(Role.WORKER, name='Łucja Nguyễn "Lu"', tier=tier("link-worker", "link-worker"))
    auth.login_as(worker)
    response = read_download(client, ask_for_document(client, auth, "/progress/portfolio.pdf") + "/download")
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    disposition.encode("latin-1")  # what gunicorn and werkzeug's server do; a UnicodeEncodeError is a failed download
    assert disposition.startswith("attachment;")
    assert disposition.count('"') in (0, 2), f"a quote in the name breaks the header: {disposition}"
    assert 'Portfolio for a promotion panel Łucja Nguyễn "Lu"' in pdf_text(response.data)


# --- The data export ---------------------------------------------------------------------


def walk(value):
    """Every (key, value) pair in a JSON document."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield k, v
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v)


def test_the_export_holds_the_workers_data_and_files_and_nothing_of_anyone_else(client, auth, people, portfolio):
    worker, supervisor, manager, other, stranger = people
    first, item = portfolio
    own_bytes = pdf_file("walking group")
    reflection = Evidence(
        owner_id=worker.id,
        kind=EvidenceKind.REFLECTION,
        title="Reflection on a hard week",
        occurred_on=RECENT_DAY,
        what_happened="<p>Wren wrote about a hard week.</p>",
        what_learned="<p>Wren learned patience.</p>",
    )
    db.session.add(reflection)
    db.session.commit()

    # Olive's own portfolio: evidence, a file, a supervision note, a decision comment, a verification note, a request.
    secrets = {
        "title": "Olive secret title",
        "file": "olive-private-scan.pdf",
        "reflection": "Olive private reflection text",
        "note": "Olive supervision note text",
        "comment": "Olive decision comment",
        "verification": "Olive DBS certificate 998877",
        "link": "Olive link note",
    }
    olive_file_bytes = pdf_file("olive only bytes")
    olive_item = upload_item(other, secrets["title"], {secrets["file"]: olive_file_bytes})
    db.session.add(
        Evidence(
            owner_id=other.id,
            kind=EvidenceKind.REFLECTION,
            title="Olive reflection",
            occurred_on=RECENT_DAY,
            what_happened=f"<p>{secrets['reflection']}</p>",
        )
    )
    note = Evidence(
        owner_id=other.id,
        kind=EvidenceKind.SUPERVISION_NOTE,
        title="Olive supervision",
        occurred_on=RECENT_DAY,
        description=f"<p>{secrets['note']}</p>",
        supervisor_id=stranger.id,
    )
    db.session.add(note)
    db.session.commit()
    db.session.add(
        NoteReview(
            evidence_id=note.id,
            supervisor_id=stranger.id,
            outcome=NoteOutcome.CONFIRMED,
            comment="Olive note review",
            content_hash=HASH,
        )
    )
    db.session.add(EvidenceLink(evidence_id=note.id, competence_id=first.id, note=secrets["link"]))
    db.session.commit()
    decide_on(other, [first], supervisor=stranger, evidence=olive_item, comment=secrets["comment"])
    db.session.add(
        RequirementVerification(
            worker_id=other.id,
            requirement_id=requirement(other, "REQ-DRIVING").id,
            verified_by_id=manager.id,
            verified_on=RECENT_DAY,
            note=secrets["verification"],
        )
    )
    db.session.add(Notification(user_id=other.id, message="Olive only notification", url="/olive"))
    db.session.commit()
    other_ids = {
        "evidence": set(db.session.scalars(select(Evidence.id).where(Evidence.owner_id == other.id))),
        "files": set(db.session.scalars(select(EvidenceFile.id).join(Evidence).where(Evidence.owner_id == other.id))),
        "decisions": set(
            db.session.scalars(
                select(Decision.id)
                .join(Evidence, Evidence.id == Decision.evidence_id)
                .where(Evidence.owner_id == other.id)
            )
        ),
        "submissions": set(
            db.session.scalars(select(Submission.id).join(Evidence).where(Evidence.owner_id == other.id))
        ),
    }
    olive_file = db.session.scalar(select(EvidenceFile).where(EvidenceFile.evidence_id == olive_item.id))
    own_file = db.session.scalar(select(EvidenceFile).where(EvidenceFile.evidence_id == item.id))

    auth.login_as(worker)
    response = read_download(client, ask_for_document(client, auth, "/progress/export.zip") + "/download")
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"] == "attachment; filename=my-portfolio-data.zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    names = archive.namelist()
    assert "portfolio.json" in names
    assert f"files/{item.id}-{own_file.id}-walking-group.pdf" in names
    assert archive.read(f"files/{item.id}-{own_file.id}-walking-group.pdf") == own_bytes
    assert len([n for n in names if n.startswith("files/")]) == 2  # both of Wren's files, nobody else's

    data = json.loads(archive.read("portfolio.json"))
    assert data["person"]["id"] == worker.id and data["person"]["name"] == "Wren Worker"
    assert data["person"]["framework"] == "Link Worker Competency Framework" and data["person"]["tier"] == "Link Worker"
    own_evidence = set(db.session.scalars(select(Evidence.id).where(Evidence.owner_id == worker.id)))
    assert {e["id"] for e in data["evidence"]} == own_evidence
    assert "Wren learned patience." in json.dumps(data)
    assert {f["original_name"] for f in data["files"]} == {"walking-group.pdf", "course-certificate.pdf"}
    assert [d["supervisor"] for d in data["decisions"]] == ["Sam Supervisor"]
    assert len(data["requirement_verifications"]) == 3

    # Nothing of Olive's: no text, name of a file, bytes, or id of her records.
    for name in names:
        content = archive.read(name)
        assert olive_file_bytes not in content
        assert olive_file.sha256.encode() not in content and olive_file.stored_name.encode() not in content
        text = content.decode("utf-8", "replace")
        for label, secret in secrets.items():
            assert secret not in text, f"{label} of another worker in {name}"
        assert "Olive" not in text and "olive@example.org" not in text
        assert secrets["file"] not in name
    for section, key in (
        ("evidence", "evidence"),
        ("files", "files"),
        ("submissions", "submissions"),
        ("decisions", "decisions"),
    ):
        assert not ({row["id"] for row in data[section]} & other_ids[key]), f"another worker's {section} in the export"
    for key, value in walk(data):
        if key == "evidence_id":
            assert value not in other_ids["evidence"]
    assert other.id not in {v for k, v in walk(data) if k in ("owner_id", "worker_id", "user_id")}


def test_downloads_of_personal_data_are_never_cached(client, auth, people, portfolio):
    """SECURITY.md: Cache-Control: no-store on anything with personal data (shared PCs)."""
    worker, *_ = people
    auth.login_as(worker)
    for path in ("/progress/portfolio.pdf", "/progress/export.zip"):
        status_page = ask_for_document(client, auth, path)
        assert client.get(status_page).headers["Cache-Control"] == "no-store"  # its page names the document
        response = read_download(client, f"{status_page}/download")
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store", (
            f"the whole portfolio may be kept in a browser cache: {response.headers['Cache-Control']!r}"
        )


# --- Query counts ------------------------------------------------------------------------


def measure(client, count_queries, path: str) -> int:
    with count_queries:
        response = client.get(path)
    assert response.status_code == 200
    return count_queries.count


def test_the_progress_and_missing_pages_run_a_fixed_number_of_queries(client, auth, people, count_queries):
    worker, supervisor, manager, *_ = people
    add_items(worker, supervisor, 5)
    verify_all(worker, manager)
    auth.login_as(worker)
    progress_few, missing_few = (
        measure(client, count_queries, "/progress/"),
        measure(client, count_queries, "/progress/missing"),
    )

    add_items(worker, supervisor, 195)
    verify_all(worker, manager)  # a second round of verifications
    progress_many, missing_many = (
        measure(client, count_queries, "/progress/"),
        measure(client, count_queries, "/progress/missing"),
    )
    assert (progress_many, missing_many) == (progress_few, missing_few)
    assert 5 < progress_few < 40 and 5 < missing_few < 40, (progress_few, missing_few)


def test_a_progress_page_seen_again_reads_her_open_request_only_when_she_has_one(client, auth, people, count_queries):
    """Seen again, My progress reads the signed-in worker, then in one query its kept lower half's state and whether
    she has a request open: two queries; the request (and its recommendations) are read only when there is one."""
    worker, supervisor, manager, *_ = people
    auth.login_as(worker)
    client.get("/progress/")
    with count_queries(keep=True):
        page = text_of(client.get("/progress/"))
    assert "Your request to become" not in page
    assert len(count_queries.statements) == 2, count_queries.statements
    assert not any("FROM promotion_requests" in s and "json" not in s for s in count_queries.statements)

    make_ready(worker, supervisor, manager)
    service.request_promotion(db.session.get(User, worker.id))
    db.session.commit()
    client.get("/progress/")  # her state changed (made ready): the lower half is drawn again
    with count_queries(keep=True):
        page = text_of(client.get("/progress/"))
    assert "asked to become <strong>Link Worker Coach</strong>" in page
    after_the_state = count_queries.statements[2:]
    assert len(after_the_state) == 2, count_queries.statements
    assert "FROM promotion_requests" in after_the_state[0] and "FROM promotion_recommendations" in after_the_state[1]


def test_two_open_requests_written_past_the_rules_leave_her_progress_page_working(client, auth, people, open_request):
    """She has one request open at most (request_promotion locks her row), but nothing in the database says so: a
    second one written some other way must not break her page (a column read with the state holds one value)."""
    worker, *_ = people
    db.session.execute(
        insert(PromotionRequest).from_select(
            [c.name for c in PromotionRequest.__table__.columns if c.name != "id"],
            select(*[c for c in PromotionRequest.__table__.columns if c.name != "id"]).where(
                PromotionRequest.id == open_request.id
            ),
        )
    )
    db.session.commit()
    auth.login_as(worker)
    response = client.get("/progress/")
    assert response.status_code == 200 and "asked to become <strong>Link Worker Coach</strong>" in text_of(response)


def test_the_top_of_a_progress_page_drawn_afresh_is_read_after_its_lower_half(app, people):
    """Whether she has a request open is read with the lower half's state, before a lower half drawn afresh: then her
    request is read again after drawing, so that the top is never older than what was drawn (no request form on a
    page whose request is open). Played by a request asked for while the lower half is drawn."""
    worker, supervisor, manager, *_ = people
    make_ready(worker, supervisor, manager)
    db.session.commit()
    asked: list[PromotionRequest] = []

    def asked_while_drawn(standing) -> str:
        asked.append(service.request_promotion(db.session.get(User, worker.id)))
        return "drawn"

    drawn, promotion = service.standing_and_promotion(worker, "asked while drawn", asked_while_drawn)
    assert drawn == "drawn" and promotion.open_request is not None and promotion.open_request.id == asked[0].id
    assert not promotion.higher_tier_to_ask

    drawn, promotion = service.standing_and_promotion(worker, "kept", lambda standing: "drawn")
    drawn, promotion = service.standing_and_promotion(worker, "kept", lambda standing: "drawn again")
    assert drawn == "drawn" and promotion.open_request is not None  # kept, with the request read after its state


def test_the_workers_page_for_a_manager_runs_a_fixed_number_of_queries(
    client, auth, people, count_queries, open_request
):
    worker, supervisor, manager, *_ = people
    service.recommend(supervisor, open_request, supports=True, reasons="Ready")
    auth.login_as(manager)
    few = measure(client, count_queries, f"/progress/workers/{worker.id}")
    add_items(worker, supervisor, 60, tiers=("link-worker", "link-worker-coach", "psychosocial-link-worker"))
    assert measure(client, count_queries, f"/progress/workers/{worker.id}") == few


def test_a_supervisors_view_of_a_worker_asks_once_whether_she_supervises_her(
    client, auth, people, count_queries, open_request
):
    """May she see the worker, may she recommend, may she open the shared evidence: one answer, read with the
    worker herself, not a query for each."""
    worker, supervisor, *_ = people
    auth.login_as(supervisor)
    with count_queries:
        response = client.get(f"/progress/workers/{worker.id}")
    assert response.status_code == 200
    page = text_of(response)
    assert "See the evidence" in page and "Do you support this request?" in page  # what a supervisor is offered
    # The header's count of what waits for her reads the assignments too: that is about evidence, not the worker.
    asking = [s for s in count_queries.statements if "supervision_assignments" in s and "FROM evidence" not in s]
    assert len(asking) == 1, asking
    assert asking[0].startswith("SELECT users.id") and "JOIN tiers" in asking[0], asking[0]  # read with the worker


def test_who_verified_each_requirement_is_read_with_it_not_asked_for_each_verifier(
    client, auth, people, count_queries, open_request
):
    """Two managers verified her requirements: the page names both, and costs what it does with one. The tier she
    asks for is read with her open request."""
    worker, supervisor, *_ = people  # the manager verified each of her requirements (open_request)
    requirements, page_of_worker = requirements_of(worker), f"/progress/workers/{worker.id}"
    auth.login_as(supervisor)
    one_verifier = measure(client, count_queries, page_of_worker)
    verify_all(worker, make_user(Role.MANAGER, name="Vic Verifier"), skip=tuple(r.ref for r in requirements[1:]))
    with count_queries:
        response = client.get(page_of_worker)
    page = text_of(response)
    assert "by Mo Manager on" in page and "by Vic Verifier on" in page
    assert "asked to become <strong>Link Worker Coach</strong>" in page
    assert count_queries.count == one_verifier
    # What a lazy load of one object sends: one table, no join, one row by its id.
    one_row_by_id = re.compile(r"^SELECT [^()]*FROM (\w+)\s+WHERE \1\.id = (\?|%\(\w+\)s)\s*$", re.DOTALL)
    assert not [s for s in count_queries.statements if one_row_by_id.search(s)]


def test_a_role_profile_progress_page_does_not_grow_with_competences(client, auth, app, frameworks, count_queries):
    framework = frameworks["sfh-senior-engagement-worker"]
    worker = make_user(Role.WORKER, tier=tier("sfh-senior-engagement-worker", "senior-engagement-worker"))
    manager = make_user(Role.MANAGER)
    for number in range(5):
        frameworks_service.add_locality_competence(
            manager, framework, statement=f"Local {number}", principle=f"P{number}", function=f"F{number}"
        )
    auth.login_as(worker)
    few = (measure(client, count_queries, "/progress/"), measure(client, count_queries, "/progress/missing"))
    for number in range(5, 40):
        frameworks_service.add_locality_competence(
            manager, framework, statement=f"Local {number}", principle=f"P{number}", function=f"F{number}"
        )
    many = (measure(client, count_queries, "/progress/"), measure(client, count_queries, "/progress/missing"))
    assert "Local 39" in text_of(client.get("/progress/missing"))
    assert many == few


def test_the_overview_runs_a_fixed_number_of_queries(client, auth, people, count_queries, frameworks):
    worker, supervisor, manager, other, stranger = people

    def add_worker(i: int) -> None:
        slug = ("link-worker", "link-worker-coach")[i % 2]
        person = make_user(Role.WORKER, name=f"Worker {i:02d}", tier=tier("link-worker", slug))
        add_items(person, supervisor, 3)
        verify_all(person, manager, skip=("REQ-DBS",))
        lapse_dbs(person, manager)

    make_user(Role.WORKER, name="Profile 00", tier=tier("sfh-senior-engagement-worker", "senior-engagement-worker"))
    add_worker(99)  # one lapsed worker: the lapsed filter has a page to show (an empty list stops at its count)
    auth.login_as(manager)
    few = [
        measure(client, count_queries, path)
        for path in ("/progress/team", "/progress/team?format=csv", "/progress/team?only=lapsed")
    ]

    for i in range(28):
        add_worker(i)
    make_user(Role.WORKER, name="Profile 01", tier=tier("sfh-senior-engagement-worker", "senior-engagement-worker"))
    many = [
        measure(client, count_queries, path)
        for path in ("/progress/team", "/progress/team?format=csv", "/progress/team?only=lapsed")
    ]
    page = text_of(client.get("/progress/team"))
    assert status_of(page, "team-status") == "33 workers, showing 1 to 25 (page 1 of 2)"
    lapsed = text_of(client.get("/progress/team?only=lapsed"))
    assert (
        status_of(lapsed, "team-status") == "29 workers match “With lapsed requirements”, showing 1 to 25 (page 1 of 2)"
    )
    assert many == few


def test_the_ready_filter_runs_a_fixed_number_of_queries(client, auth, people, count_queries):
    """However many workers have every requirement verified (each a candidate), and however many are ready."""
    worker, supervisor, manager, *_ = people
    make_ready(worker, supervisor, manager)

    def verified_not_met(i: int) -> None:
        person = make_user(Role.WORKER, name=f"Worker {i:02d}", tier=tier("link-worker", "link-worker"))
        add_items(person, supervisor, 2)
        verify_all(person, manager)

    verified_not_met(0)
    auth.login_as(manager)
    measure(client, count_queries, "/progress/team?only=ready")  # the counts kept, as on every later view
    few = measure(client, count_queries, "/progress/team?only=ready")

    for i in range(1, 30):
        verified_not_met(i)
    second = make_user(Role.WORKER, name="Zoe Ready", tier=tier("link-worker", "link-worker"))
    make_ready(second, supervisor, manager)
    measure(client, count_queries, "/progress/team?only=ready")
    many = measure(client, count_queries, "/progress/team?only=ready")
    page = text_of(client.get("/progress/team?only=ready"))
    assert status_of(page, "team-status") == "2 workers match “Ready for their next tier”"
    assert [row[0].split(" ")[0] for row in table_rows(page, "nhsuk-table-responsive")] == ["Wren", "Zoe"]
    assert many == few


def test_the_portfolio_pdf_runs_a_fixed_number_of_queries(client, auth, people, count_queries, portfolio):
    worker, supervisor, manager, *_ = people
    add_items(worker, supervisor, 5)
    auth.login_as(worker)
    # Asked for, built (at once, in tests), its page and its download: the whole way, and the build within it.
    with count_queries:
        built_document(client, auth, "/progress/portfolio.pdf")
    few = count_queries.count

    add_items(worker, supervisor, 55)
    upload_item(worker, "Second walking group report", {"second-report.pdf": pdf_file("second report")})
    decide_on(worker, competences("link-worker", "link-worker")[:2], supervisor=supervisor, title="Two at once")
    with count_queries:
        pdf = built_document(client, auth, "/progress/portfolio.pdf")
    assert count_queries.count == few, count_queries.statements
    text = pdf_text(pdf)
    assert "Signed off 54 (Other evidence" in text and "Two at once (Other evidence" in text
    assert "Waiting 52" not in text and "Draft 53" not in text  # not accepted, and a draft is never shown
    assert "second-report.pdf" not in text  # a draft's file


def test_the_missing_page_shows_the_newest_items_of_a_statement_and_links_to_all(client, auth, people):
    worker, *_ = people
    left = competences("link-worker", "link-worker")[0]
    for day in range(1, 8):
        draft = link_draft(worker, [left], title=f"Attempt {day}")
        draft.occurred_on = date(2026, 1, day)
    db.session.commit()
    auth.login_as(worker)

    page = text_of(client.get("/progress/missing"))
    item = next(i for i in page.split('class="missing-item"')[1:] if left.statement in i)
    assert re.findall(r">(Attempt \d)</a>", item) == [f"Attempt {day}" for day in (7, 6, 5, 4, 3)]
    assert f'href="/portfolio/competences/{left.id}"' in item
    assert f"See all 7 items linked to {left.statement}" in words(item)


def test_a_decision_without_the_recommendations_it_read_or_with_another_problem_is_still_told_they_changed(
    client, auth, people, open_request
):
    """Found by a review: a post without the field went unchecked, and a 422 for a missing reason quietly moved
    the page on to the new recommendation, so the next send was decided on one the manager was never shown."""
    worker, supervisor, manager, *_ = people
    service.recommend(supervisor, open_request, supports=True, reasons="Ready")
    auth.login_as(manager)
    page = text_of(client.get(f"/progress/workers/{worker.id}"))
    shown = re.search(r'name="recommendations_seen"[^>]*value="([^"]*)"', page).group(1)
    service.recommend(supervisor, reload(open_request), supports=False, reasons="Not yet after all")

    no_field = client.post(
        decide_url(open_request), data={"csrf_token": auth.token("/"), "approved": "no", "reasons": "No"}
    )
    assert no_field.status_code == 422
    assert error_next_to(text_of(no_field), "approved") == f"Error: {service.RECOMMENDATION_CHANGED}"
    declining = {"csrf_token": auth.token("/"), "approved": "no", "reasons": "", "recommendations_seen": shown}
    no_reason = client.post(decide_url(open_request), data=declining)
    assert no_reason.status_code == 422
    assert error_next_to(text_of(no_reason), "approved") == f"Error: {service.RECOMMENDATION_CHANGED}"
    assert count(PromotionDecision) == 0


def test_where_she_stands_is_kept_rendered_until_something_it_shows_changes(
    client, auth, frameworks, count_queries, monkeypatch
):
    """The lower half of a progress page (tiers, requirements, training) is drawn once for each kind of viewer and
    kept: a verification (written directly: no token), the verifier's name, a course, her tier and the day each
    show on the very next view, and a manager's view is never a supervisor's."""
    wendy = make_user(Role.WORKER, name="Wendy Worker", tier=tier("link-worker", "link-worker"))
    sam = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    maya = make_user(Role.MANAGER, name="Maya Manager")
    assign(sam, wendy)
    first_aid = course("First aid", 12)
    course("Coaching skills", 36, tiers=["link-worker-coach"])
    certificate(wendy, first_aid, TODAY - timedelta(days=30))
    dbs = requirements_of(wendy)[0]
    path = f"/progress/workers/{wendy.id}"
    auth.login_as(sam)

    def page() -> str:
        return text_of(client.get(path))

    def dbs_row(shown: str) -> str:
        return " ".join(table_rows(shown, "requirements-table")[0])

    def courses(shown: str) -> list[str]:
        return [row[0] for row in table_rows(shown, "my-training")]

    first = page()
    assert "Not verified" in dbs_row(first) and courses(first) == ["First aid"]
    with count_queries(keep=True):
        again = page()
    assert "Not verified" in dbs_row(again) and courses(again) == ["First aid"]
    assert not [q for q in count_queries.statements if "training_items" in q], "her training was read again"

    verification(wendy, maya, dbs.ref, TODAY - timedelta(days=300), TODAY + timedelta(days=1))
    db.session.commit()
    assert f"by Maya Manager on {long_date(TODAY - timedelta(days=300))}" in dbs_row(page())
    maya.name = "Maya Moss"
    db.session.commit()
    assert "by Maya Moss on" in dbs_row(page())
    verification(wendy, maya, dbs.ref, TODAY - timedelta(days=3), TODAY + timedelta(days=1))  # renewed, same manager
    db.session.commit()
    assert f"by Maya Moss on {long_date(TODAY - timedelta(days=3))}" in dbs_row(page())
    first_aid.title = "First aid at work"
    db.session.commit()
    assert courses(page()) == ["First aid at work"]
    wendy.tier = tier("link-worker", "link-worker-coach")
    db.session.commit()
    assert courses(page()) == ["Coaching skills", "First aid at work"]  # missing first

    # A manager's view has the links to verify; her supervisor's, kept just before, does not.
    assert "Verify again" not in page()
    auth.login_as(maya)
    assert "Verify again" in dbs_row(page())
    auth.login_as(sam)
    assert "Verify again" not in page()
    # Her own page has no training table (her home has it).
    auth.login_as(wendy)
    assert "my-training" not in text_of(client.get("/progress/"))
    auth.login_as(sam)
    the_day_after_next = clock.now() + timedelta(days=2)
    monkeypatch.setattr(clock, "now", lambda: the_day_after_next)
    assert "Lapsed" in dbs_row(page())


def test_how_ready_she_is_is_kept_with_where_she_stands_and_told_afresh_when_it_changes(
    client, auth, frameworks, count_queries, monkeypatch
):
    """The top of a progress page (ready or not for her next tier, what is left) is worked out with the kept lower
    half, from the same state, and kept with it: a view while nothing changed reads neither her items nor her
    verifications, and says the same; a verification (written directly: no token) and the day a check lapses show
    at the top on the very next view, on her supervisor's view and on her own."""
    wendy = make_user(Role.WORKER, name="Wendy Worker", tier=tier("link-worker", "link-worker"))
    sam = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    maya = make_user(Role.MANAGER, name="Maya Manager")
    assign(sam, wendy)
    requirements = requirements_of(wendy)
    dbs = requirements[0]
    db.session.commit()

    def readiness(path: str) -> str:
        page = text_of(client.get(path))
        return words(page.split('class="nhsuk-card nhsuk-card--feature readiness"', 1)[1].split('id="promotion"')[0])

    def requirements_left() -> list[str]:
        page = text_of(client.get("/progress/"))
        return [words(li) for li in re.findall(r'<li><a href="#requirement-\d+">(.*?)</a>', page)]

    auth.login_as(sam)
    path = f"/progress/workers/{wendy.id}"
    first = readiness(path)
    assert f"{len(requirements)} requirements to have verified" in first
    with count_queries(keep=True):
        assert readiness(path) == first
    read = count_queries.besides_the_signed_in_user
    assert not [q for q in read if q.startswith("SELECT requirement_verifications.")], "her verifications were read"
    assert not [q for q in read if "evidence_links" in q], "her items were read again"

    auth.login_as(wendy)
    assert requirements_left() == [r.statement for r in requirements]
    with count_queries(keep=True):
        assert requirements_left() == [r.statement for r in requirements]
    assert not [q for q in count_queries.statements if q.startswith("SELECT requirement_verifications.")]

    verification(wendy, maya, dbs.ref, TODAY - timedelta(days=300), TODAY + timedelta(days=1))
    db.session.commit()
    assert requirements_left() == [r.statement for r in requirements[1:]]
    auth.login_as(sam)
    assert f"{len(requirements) - 1} requirements to have verified" in readiness(path)

    the_day_after_next = clock.now() + timedelta(days=2)
    monkeypatch.setattr(clock, "now", lambda: the_day_after_next)
    assert f"{len(requirements)} requirements to have verified" in readiness(path)
    auth.login_as(wendy)
    assert requirements_left() == [r.statement for r in requirements]


def rows_of_a_session(value, seen: set[int] | None = None) -> list:
    """Every mapped instance (a row a session loaded) reachable from ``value`` through dataclasses and containers."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return []
    seen.add(id(value))
    if isinstance(value, db.Model):
        return [value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        children = [getattr(value, f.name) for f in dataclasses.fields(value)]
    elif isinstance(value, dict):
        children = [*value.keys(), *value.values()]
    elif isinstance(value, list | tuple | set | frozenset):
        children = list(value)
    else:
        return []
    return [row for child in children for row in rows_of_a_session(child, seen)]


def test_the_readiness_kept_between_requests_holds_no_row_of_a_session(app, frameworks):
    """Kept by the process and shared by later requests, it holds the shared frozen copies and values only: a row
    would be another session's, read after it closed. (Her verification is on the page's lower half, drawn.)"""
    wendy = make_user(Role.WORKER, name="Wendy Worker", tier=tier("link-worker", "link-worker"))
    maya = make_user(Role.MANAGER, name="Maya Manager")
    verification(wendy, maya, requirements_of(wendy)[0].ref, TODAY - timedelta(days=3), TODAY + timedelta(days=300))
    db.session.commit()
    drawn, readiness = service.standing_drawn(wendy, "v", lambda fresh: fresh.progress.requirements[0].state)
    assert drawn == "verified" and readiness.requirements[0].state == "verified"
    assert readiness.missing and len(readiness.requirement_problems) == len(readiness.requirements) - 1
    assert rows_of_a_session(readiness) == []


def test_where_she_stands_is_drawn_from_her_row_read_again(app, frameworks):
    """Her tier decides her courses: a copy loaded earlier in the request (a tier changed meanwhile, on PostgreSQL)
    is read again before drawing what will be kept. Played by a change written in SQL, which the copy does not see."""
    wendy = make_user(Role.WORKER, name="Wendy Worker", tier=tier("link-worker", "link-worker"))
    db.session.commit()
    held = db.session.get(User, wendy.id)
    coach = tier("link-worker", "link-worker-coach")
    db.session.execute(text("UPDATE users SET tier_id = :tier WHERE id = :id"), {"tier": coach.id, "id": wendy.id})
    drawn, readiness = service.standing_drawn(held, "v", lambda fresh: fresh.progress.worker.tier.slug)
    assert drawn == "link-worker-coach"
    assert readiness.tier is not None and readiness.tier.slug == "psychosocial-link-worker"  # the tier after hers
    db.session.rollback()


def test_her_earlier_requests_and_tier_history_are_kept_until_a_request_closes_or_a_name_in_them_changes(
    client, auth, people, open_request, count_queries
):
    """Kept with where she stands: her closed requests and tier history are not read again while they read the same
    (nor her token, read with the kept half's state); a withdrawal, a decision, and the names of whoever recommended
    or decided show on the very next view."""
    worker, supervisor, manager, *_ = people
    dee = make_user(Role.MANAGER, name="Dee Decider")  # verified nothing of hers: named only by her decisions
    path = f"/progress/workers/{worker.id}"
    auth.login_as(supervisor)

    def earlier_and_history() -> str:
        page = text_of(client.get(path))
        return words(page.split('id="tiers"', 1)[0].split('id="promotion"', 1)[1])

    def ask_and_decide(approved: bool, reasons: str) -> None:
        asked = service.request_promotion(db.session.get(User, worker.id))
        service.recommend(db.session.get(User, supervisor.id), asked, supports=True, reasons="Ready")
        service.decide_promotion(
            db.session.get(User, dee.id), asked, approved=approved, effective_on=TODAY, reasons=reasons
        )

    assert "Earlier requests" not in earlier_and_history() and "Tier history" not in earlier_and_history()
    with count_queries(keep=True):
        assert client.get(path).status_code == 200
    read = " ".join(count_queries.statements)
    assert "FROM tier_changes WHERE" not in read, "her tier history was read again"
    assert "ORDER BY promotion_requests.requested_at DESC" not in read, "her earlier requests were read again"
    assert "portfolio_versions.owner_id IN" not in read, "her token was read apart from the kept half's state"

    service.withdraw_request(db.session.get(User, worker.id), reload(open_request))  # no one else named
    assert re.search(rf"asked on {long_date(TODAY)} at {TIME}: withdrawn on ", earlier_and_history())
    ask_and_decide(False, "Not yet")
    assert re.search(rf"declined by Dee Decider on {long_date(TODAY)} at {TIME} \(Not yet\)", earlier_and_history())
    ask_and_decide(False, "Still not")  # by the same people, and her tier is the same
    assert "(Still not)" in earlier_and_history()
    dee.name = "Dee Dean"  # a decider's name: under their own token
    db.session.commit()
    assert "declined by Dee Dean on" in earlier_and_history()
    supervisor.name = "Sam Smith"  # a recommender's
    db.session.commit()
    assert "Recommended by Sam Smith: Ready" in earlier_and_history()
    ask_and_decide(True, "Well shown")
    assert f"Tier history Link Worker Coach from {long_date(TODAY)} (was Link Worker)" in earlier_and_history()


@pytest.mark.parametrize("headers", [{}, BOOSTED], ids=["page", "boosted"])
def test_back_after_verifying_says_the_check_is_recorded_and_records_it_once(client, auth, people, headers):
    """The verify form's key is in its address: Back after recording finds the check, not a form that records a
    second one."""
    worker, supervisor, manager, *_ = people
    auth.login_as(manager)
    opened = client.get(verify_url(worker, "REQ-DBS"))
    assert opened.status_code == 303
    address = opened.headers["Location"]
    assert re.fullmatch(rf"{re.escape(verify_url(worker, 'REQ-DBS'))}\?key=[\w-]{{43}}", address)
    form = client.get(address).get_data(as_text=True)
    assert form_key(form) == address.rsplit("=", 1)[1] and f'action="{address}"' in text_of(client.get(address))
    data = {
        "csrf_token": auth.token(address),
        "form_key": form_key(form),
        **date_fields("verified_on", TODAY - timedelta(days=2)),
        **date_fields("expires_on", None),
        "note": "Certificate 001234",
    }
    assert client.post(address, data=data).status_code == 303
    assert count(RequirementVerification) == 1

    back = client.get(address, headers=headers)
    shown = words(text_of(back))
    assert back.status_code == 200 and "You have saved this already" in shown
    assert f"This form was saved as the check of {long_date(TODAY - timedelta(days=2))}" in shown
    assert f'href="/progress/workers/{worker.id}#requirements" id="saved-item"' in text_of(back)
    assert 'name="form_key"' not in text_of(back)
    assert client.post(address, data=data).status_code == 303  # the form restored and sent again
    assert count(RequirementVerification) == 1
