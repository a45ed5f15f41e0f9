"""Separation of duties: nobody decides, recommends or verifies anything about themselves.

Each rule has a service test (the refusal, nothing written, no audit row) and
route tests: the lists of a worker-supervisor or worker-manager leave out their
own items but show others', and a decision about oneself is refused with a
page that says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from portfolio.cpd import service as cpd
from portfolio.duties import OwnDecision
from portfolio.errors import FieldError
from portfolio.extensions import db
from portfolio.models import (
    Appraisal,
    AuditEntry,
    DecisionOutcome,
    Evidence,
    EvidenceStatus,
    NoteOutcome,
    Notification,
    PromotionRequest,
    Requirement,
    Role,
    Submission,
    SupervisionAssignment,
    User,
)
from portfolio.progress import service as progress
from portfolio.review import service as review
from portfolio.review.service import CompetenceOutcome
from portfolio.supervision import service as supervision
from tests.factories import (
    ASSIGNED_ON,
    TODAY,
    appraisal,
    assign,
    make_user,
    make_worker_manager,
    make_worker_supervisor,
    promotion_request,
    submitted_item,
    supervision_note,
    tier,
)
from tests.pages import date_fields, error_next_to, options, row_counts, text_of

# --- helpers --------------------------------------------------------------------


def assert_refused_page(response, message: str) -> None:
    """403, with the page saying why."""
    assert response.status_code == 403
    page = text_of(response)
    assert "<h1>You cannot decide about yourself</h1>" in page
    assert message in page


def accept_all(submission: Submission) -> dict[int, CompetenceOutcome]:
    return {link.competence_id: CompetenceOutcome(True) for link in submission.evidence.links}


def requirement_of(worker: User, ref: str = "REQ-DBS") -> Requirement:
    return db.session.scalar(
        select(Requirement).where(Requirement.framework_id == worker.framework_id, Requirement.ref == ref)
    )


@dataclass
class People:
    willa: User  # worker and supervisor: supervises Olly, supervised by Sam
    mel: User  # worker and manager, also supervises Olly
    olly: User  # a worker
    sam: User  # a supervisor
    nia: User  # another manager


@pytest.fixture
def people(app, frameworks) -> People:
    willa = make_worker_supervisor("Willa Both")
    mel = make_worker_manager("Mel Both")
    mel.is_supervisor = True
    olly = make_user(Role.WORKER, name="Olly Other", tier=tier("link-worker", "link-worker"))
    sam = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    nia = make_user(Role.MANAGER, name="Nia Manager")
    for supervisor, worker in ((willa, olly), (mel, olly), (sam, willa), (sam, mel)):
        assign(supervisor, worker, ASSIGNED_ON)
    return People(willa, mel, olly, sam, nia)


# --- Evidence sign-off and return -------------------------------------------------------


def test_deciding_on_ones_own_evidence_is_refused_and_nothing_is_written(people):
    own = submitted_item(people.willa, "My own walking group")
    before = row_counts()
    with pytest.raises(OwnDecision) as error:
        review.get_submission_for_review_or_404(people.willa, own.id)
    assert error.value.message == review.OWN_EVIDENCE
    with pytest.raises(OwnDecision):
        review.decide(people.willa, own, outcome=DecisionOutcome.SIGNED_OFF, comment="", outcomes=accept_all(own))
    assert row_counts() == before
    assert db.session.get(Evidence, own.evidence_id).status == EvidenceStatus.SUBMITTED


def test_a_worker_supervisor_still_decides_on_others_evidence(people):
    theirs = submitted_item(people.olly, "Olly's walking group")
    decision = review.decide(
        people.willa, theirs, outcome=DecisionOutcome.SIGNED_OFF, comment="", outcomes=accept_all(theirs)
    )
    assert decision.supervisor_id == people.willa.id
    assert db.session.scalars(select(AuditEntry.action).where(AuditEntry.actor_id == people.willa.id)).all() == [
        "evidence.signed-off"
    ]


def test_the_review_queue_and_its_count_leave_out_ones_own_items(client, auth, people):
    submitted_item(people.willa, "My own walking group")
    submitted_item(people.olly, "Olly's walking group")
    assert [item.evidence.title for item in review.queue(people.willa)] == ["Olly's walking group"]
    assert review.queue_count(people.willa) == 1
    assert review.next_submission(people.willa).evidence.title == "Olly's walking group"

    auth.login_as(people.willa)
    page = text_of(client.get("/review/"))
    assert "Olly's walking group" in page
    assert "My own walking group" not in page
    assert "Reviews (1)" in page  # the count in the header


def test_opening_or_posting_a_decision_on_ones_own_item_is_refused_with_the_reason(client, auth, people):
    own = submitted_item(people.willa, "My own walking group")
    auth.login_as(people.willa)
    assert_refused_page(client.get(f"/review/{own.id}"), review.OWN_EVIDENCE)
    before = row_counts()
    response = client.post(
        f"/review/{own.id}",
        data={
            "csrf_token": auth.token("/review/"),
            "decisions-0-accepted": "accepted",
            "outcome": "signed-off",
            "comment": "",
        },
    )
    assert_refused_page(response, "This is your own evidence: another supervisor must decide on it.")
    assert row_counts() == before
    assert db.session.get(Evidence, own.evidence_id).status == EvidenceStatus.SUBMITTED


# --- Supervision notes --------------------------------------------------------------------


def test_confirming_ones_own_supervision_note_is_refused_and_nothing_is_written(people):
    own = supervision_note(people.willa, people.willa, "My own supervision")
    before = row_counts()
    with pytest.raises(OwnDecision):
        review.get_note_for_supervisor_or_404(people.willa, own.id)
    with pytest.raises(OwnDecision) as error:
        review.review_note(people.willa, own, NoteOutcome.CONFIRMED, "")
    assert error.value.message == review.OWN_NOTE
    assert row_counts() == before


def test_notes_to_confirm_leave_out_ones_own_and_show_others(client, auth, people):
    supervision_note(people.willa, people.willa, "My own supervision")
    supervision_note(people.olly, people.willa, "Olly's supervision")
    assert [n.title for n in review.notes_to_confirm(people.willa)] == ["Olly's supervision"]
    auth.login_as(people.willa)
    page = text_of(client.get("/review/"))
    assert "Olly's supervision" in page
    assert "My own supervision" not in page


def test_posting_a_confirmation_of_ones_own_note_is_refused_with_the_reason(client, auth, people):
    own = supervision_note(people.willa, people.sam, "My own supervision")
    auth.login_as(people.willa)
    assert_refused_page(client.get(f"/review/notes/{own.id}"), review.OWN_NOTE)
    before = row_counts()
    response = client.post(
        f"/review/notes/{own.id}", data={"csrf_token": auth.token("/review/"), "outcome": "confirmed"}
    )
    assert_refused_page(response, "This is your own supervision note")
    assert row_counts() == before


def test_a_worker_supervisor_still_confirms_others_notes(people):
    note = supervision_note(people.olly, people.willa, "Olly's supervision")
    made = review.review_note(people.willa, note, NoteOutcome.CONFIRMED, "")
    assert (made.evidence_id, made.supervisor_id, made.outcome) == (note.id, people.willa.id, NoteOutcome.CONFIRMED)


# --- Mandatory requirements -----------------------------------------------------------------


def test_verifying_ones_own_requirement_is_refused_and_nothing_is_written(people):
    before = row_counts()
    with pytest.raises(OwnDecision) as error:
        progress.verify_requirement(
            people.mel, people.mel, requirement_of(people.mel), verified_on=TODAY, expires_on=None, note=""
        )
    assert error.value.message == progress.OWN_REQUIREMENTS
    assert row_counts() == before


def test_a_worker_manager_still_verifies_others_requirements(people):
    made = progress.verify_requirement(
        people.mel, people.olly, requirement_of(people.olly), verified_on=TODAY, expires_on=None, note=""
    )
    assert (made.worker_id, made.verified_by_id) == (people.olly.id, people.mel.id)


def test_the_verify_page_for_oneself_is_refused_and_ones_own_progress_page_offers_no_verify(client, auth, people):
    requirement = requirement_of(people.mel)
    auth.login_as(people.mel)
    url = f"/progress/workers/{people.mel.id}/requirements/{requirement.id}"
    assert_refused_page(client.get(url), progress.OWN_REQUIREMENTS)
    before = row_counts()
    response = client.post(url, data={"csrf_token": auth.token("/"), **date_fields("verified_on", TODAY), "note": ""})
    assert_refused_page(response, "These are your own mandatory requirements: another manager must verify them.")
    assert row_counts() == before

    for own in (text_of(client.get(f"/progress/workers/{people.mel.id}")), text_of(client.get("/progress/"))):
        assert "Requirement" in own  # the requirements table is there
        assert f"/requirements/{requirement.id}" not in own
        assert "Verify" not in own
    theirs = text_of(client.get(f"/progress/workers/{people.olly.id}"))
    assert f"/progress/workers/{people.olly.id}/requirements/{requirement_of(people.olly).id}" in theirs


# --- Promotion -----------------------------------------------------------------------


def test_recommending_on_ones_own_promotion_is_refused_and_nothing_is_written(people):
    own = promotion_request(people.willa)
    before = row_counts()
    with pytest.raises(OwnDecision) as error:
        progress.recommend(people.willa, own, supports=True, reasons="I am ready.")
    assert error.value.message == progress.OWN_PROMOTION
    assert row_counts() == before


def test_deciding_ones_own_promotion_is_refused_and_nothing_is_written(people):
    own = promotion_request(people.mel, recommended_by=people.sam)
    tier_before = people.mel.tier_id
    before = row_counts()
    with pytest.raises(OwnDecision):
        progress.decide_promotion(people.mel, own, approved=False, effective_on=None, reasons="Not yet.")
    assert row_counts() == before
    db.session.expire_all()
    assert db.session.get(User, people.mel.id).tier_id == tier_before


def test_a_worker_manager_still_recommends_and_decides_for_others(people):
    recommended_by_mel = promotion_request(people.olly)
    progress.recommend(people.mel, recommended_by_mel, supports=False, reasons="Needs more home visits.")
    # Mel recommended: another manager decides (the supervisor recommends, someone else decides).
    with pytest.raises(FieldError) as refused:
        progress.decide_promotion(
            people.mel,
            db.session.get(PromotionRequest, recommended_by_mel.id),
            approved=False,
            effective_on=None,
            reasons="Not yet.",
        )
    assert refused.value.message == progress.RECOMMENDED_IT
    # Willa's request, which Sam recommended: Mel decides it.
    willas = promotion_request(people.willa, recommended_by=people.sam)
    decision = progress.decide_promotion(
        people.mel, db.session.get(PromotionRequest, willas.id), approved=False, effective_on=None, reasons="Not yet."
    )
    assert (decision.manager_id, decision.approved) == (people.mel.id, False)


def test_open_requests_and_the_managers_notice_leave_out_ones_own(people):
    own = promotion_request(people.mel)
    theirs = promotion_request(people.olly)
    assert [r.id for r in progress.open_requests(people.mel)] == [theirs.id]
    assert [r.id for r in progress.open_requests(people.sam)] == [own.id]
    # Sam recommends on Mel's request: the managers are asked to decide, but not Mel about her own; she is told of
    # the recommendation as its worker.
    progress.recommend(people.sam, own, supports=True, reasons="Ready.")
    asked = db.session.scalars(
        select(Notification.user_id).where(Notification.message.contains("’s promotion request"))
    ).all()
    assert asked == [people.nia.id]
    told = db.session.scalars(
        select(Notification.user_id).where(Notification.message.contains("your promotion request"))
    ).all()
    assert told == [people.mel.id]


def test_posting_a_recommendation_or_decision_on_ones_own_request_is_refused_with_the_reason(client, auth, people):
    own = promotion_request(people.mel, recommended_by=people.sam)
    auth.login_as(people.mel)
    for page in (text_of(client.get(f"/progress/workers/{people.mel.id}")), text_of(client.get("/progress/"))):
        assert "You asked to become" in page
        assert (
            f"/progress/requests/{own.id}/decide" not in page and f"/progress/requests/{own.id}/recommend" not in page
        )
    before = row_counts()
    token = auth.token("/")
    response = client.post(
        f"/progress/requests/{own.id}/decide", data={"csrf_token": token, "approved": "no", "reasons": "Not yet."}
    )
    assert_refused_page(response, progress.OWN_PROMOTION)
    response = client.post(
        f"/progress/requests/{own.id}/recommend", data={"csrf_token": token, "supports": "yes", "reasons": "Ready."}
    )
    assert_refused_page(response, "This is your own promotion request")
    assert row_counts() == before

    theirs = promotion_request(people.olly, recommended_by=people.sam)
    page = text_of(client.get(f"/progress/workers/{people.olly.id}"))
    assert f"/progress/requests/{theirs.id}/decide" in page


# --- Appraisals ------------------------------------------------------------------------


def test_being_ones_own_appraiser_is_refused_next_to_the_field_and_nothing_is_written(people):
    before = row_counts()
    with pytest.raises(FieldError) as error:
        cpd.start_appraisal(people.willa, people.willa, held_on=TODAY, appraiser_id=people.willa.id)
    assert (error.value.field, error.value.message) == ("appraiser_id", cpd.OWN_APPRAISER)
    assert row_counts() == before


def test_choosing_oneself_as_appraiser_on_the_form_shows_the_message_next_to_the_field(client, auth, people):
    auth.login_as(people.mel)
    form = text_of(client.get("/cpd/appraisals/new"))
    assert str(people.mel.id) not in dict(options(form, "appraiser_id"))  # not offered
    before = row_counts()
    response = client.post(
        "/cpd/appraisals/new",
        data={
            "csrf_token": auth.token("/cpd/appraisals/new"),
            **date_fields("held_on", TODAY),
            "appraiser_id": str(people.mel.id),
        },
    )
    assert response.status_code == 422
    page = text_of(response)
    assert "There is a problem" in page
    assert (
        error_next_to(page, "appraiser_id")
        == "Error: You cannot be your own appraiser: choose one of your supervisors or a manager"
    )
    assert row_counts() == before


def test_appraisals_to_sign_leave_out_ones_own(client, auth, people):
    appraisal(people.mel, people.nia, year=2025)
    appraisal(people.olly, people.mel, year=2025)
    assert [a.worker_id for a in cpd.appraisals_to_sign(people.mel)] == [people.olly.id]
    assert [a.worker_id for a in cpd.appraisals_to_sign(people.nia)] == [people.mel.id]
    auth.login_as(people.mel)
    home = text_of(client.get("/"))
    assert "2025 appraisal of Olly Other" in home
    assert "2025 appraisal of Mel Both" not in home
    queue = text_of(client.get("/review/"))
    assert "Olly Other" in queue and "Mel Both" not in queue.split("<main", 1)[1]


def test_a_supervisor_still_signs_others_appraisals(people):
    theirs = appraisal(people.olly, people.willa)
    cpd.sign(people.willa, theirs)
    db.session.expire_all()
    assert db.session.get(Appraisal, theirs.id).appraiser_signed_at is not None


# --- Supervision assignments ---------------------------------------------------------------


def test_supervising_oneself_is_refused_next_to_the_supervisor(people):
    before = row_counts()
    with pytest.raises(FieldError) as error:
        supervision.assign(
            people.nia, worker_id=people.willa.id, supervisor_id=people.willa.id, starts_on=TODAY, ends_on=None
        )
    assert (error.value.field, error.value.message) == ("supervisor_id", supervision.SELF_SUPERVISION)
    assert row_counts() == before


def test_a_manager_cannot_choose_their_own_supervisor_but_can_for_others(people):
    before = row_counts()
    with pytest.raises(FieldError) as error:
        supervision.assign(
            people.mel, worker_id=people.mel.id, supervisor_id=people.willa.id, starts_on=TODAY, ends_on=None
        )
    assert (error.value.field, error.value.message) == ("worker_id", supervision.OWN_SUPERVISION)
    assert row_counts() == before
    made = supervision.assign(
        people.mel, worker_id=people.willa.id, supervisor_id=people.mel.id, starts_on=TODAY, ends_on=None
    )
    assert (made.worker_id, made.supervisor_id, made.created_by_id) == (people.willa.id, people.mel.id, people.mel.id)


def test_the_assignment_form_refuses_ones_own_supervision_next_to_the_worker(client, auth, people):
    auth.login_as(people.mel)
    page = text_of(client.get("/supervision/assign"))
    assert (str(people.mel.id), f"Mel Both ({people.mel.email})") in options(
        page, "supervisor_id"
    )  # may supervise others
    workers = options(page, "worker_id")
    assert (str(people.olly.id), f"Olly Other ({people.olly.email})") in workers and str(people.mel.id) not in dict(
        workers
    )  # but not choose their own
    before = row_counts()
    response = client.post(
        "/supervision/assign",
        data={
            "csrf_token": auth.token("/supervision/assign"),
            "worker_id": str(people.mel.id),
            "supervisor_id": str(people.willa.id),
            **date_fields("starts_on", TODAY),
            "ends_on-day": "",
            "ends_on-month": "",
            "ends_on-year": "",
        },
    )
    assert response.status_code == 422
    assert (
        error_next_to(text_of(response), "worker_id")
        == "Error: You cannot choose your own supervisor: another manager must"
    )
    assert row_counts() == before


def test_ending_ones_own_supervision_is_refused_and_nothing_is_written(client, auth, people):
    own = db.session.scalar(select(SupervisionAssignment).where(SupervisionAssignment.worker_id == people.mel.id))
    before = row_counts()
    with pytest.raises(OwnDecision):
        supervision.end_assignment(people.mel, own, TODAY)
    assert row_counts() == before

    auth.login_as(people.mel)
    index = text_of(client.get("/supervision/"))
    assert "Your own: another manager changes it" in index
    assert f"/supervision/{own.id}/end" not in index
    assert_refused_page(client.get(f"/supervision/{own.id}/end"), supervision.OWN_ASSIGNMENT)
    response = client.post(
        f"/supervision/{own.id}/end", data={"csrf_token": auth.token("/supervision/"), **date_fields("ends_on", TODAY)}
    )
    assert_refused_page(response, "This is your own supervision: another manager must change it.")
    db.session.expire_all()
    assert db.session.get(SupervisionAssignment, own.id).ends_on is None
    assert row_counts() == before


# --- Team pages -------------------------------------------------------------------------


def test_the_supervisors_team_page_leaves_out_oneself(client, auth, people):
    assert [row.worker.name for row in review.team(people.willa)] == ["Olly Other"]
    auth.login_as(people.willa)
    page = text_of(client.get("/review/team"))
    main = page.split("<main", 1)[1]
    assert "Olly Other" in main
    assert "Willa Both" not in main


def test_the_managers_overview_leaves_out_oneself_page_and_fragment(client, auth, people):
    submitted_item(people.mel, "My own walking group")
    submitted_item(people.olly, "Olly's walking group")
    assert [r.worker.name for r in progress.overview(actor=people.mel, only="waiting")] == ["Olly Other"]
    auth.login_as(people.mel)
    page = text_of(client.get("/progress/team"))
    table = page.split('id="team-table"', 1)[1]
    assert "Olly Other" in table and "Willa Both" in table
    assert "Mel Both" not in table
    fragment = text_of(client.get("/progress/team?only=waiting", headers={"HX-Request": "true"}))
    assert "<html" not in fragment
    assert "Olly Other" in fragment and "Mel Both" not in fragment
    csv = client.get("/progress/team?format=csv").get_data(as_text=True)
    assert "Olly Other" in csv and "Mel Both" not in csv
