"""The anonymity check on every free-text field a person types: titles, every kind's text, notes, comments, reasons, CPD."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from portfolio.cpd import service as cpd_service
from portfolio.errors import FieldError
from portfolio.evidence import anonymity
from portfolio.evidence import service as evidence_service
from portfolio.evidence.service import ActionInput, AnonymityCheckNeeded, EvidenceInput
from portfolio.extensions import db
from portfolio.models import (
    DecisionOutcome,
    Evidence,
    EvidenceKind,
    EvidenceStatus,
    NoteOutcome,
    PromotionRequest,
    Requirement,
    Role,
)
from portfolio.progress import service as progress_service
from portfolio.review import service as review_service
from tests.factories import RECENT_DAY, TODAY, assign, make_user, tier
from tests.pages import row_counts, text_of
from tests.privacy_support import competences

IDENTIFYING = "Visited Mr D, NHS number 943 476 5919, SW1A 1AA"
FOUND = "contains 1 possible NHS number and 1 possible postcode (“943 476 5919”, “SW1A 1AA”)"


def message(label: str) -> str:
    return f"{label} {FOUND}: remove details that could identify a person you support"


@pytest.fixture
def s(app, frameworks):
    """A worker, their supervisor and a manager; a submitted item, a note naming the supervisor, a request, an appraisal."""
    worker = make_user(Role.WORKER, name="Wren Worker", tier=tier("link-worker", "link-worker"))
    supervisor = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    manager = make_user(Role.MANAGER, name="Mo Manager")
    assign(supervisor, worker, TODAY - timedelta(days=90))
    first = competences()[0]
    item = evidence_service.create_evidence(
        worker,
        EvidenceKind.OTHER,
        EvidenceInput(title="Group report", occurred_on=RECENT_DAY, description="<p>Ran it.</p>"),
        link_competence_id=first.id,
    )
    evidence_service.submit(worker, item)
    note = evidence_service.create_evidence(
        worker,
        EvidenceKind.SUPERVISION_NOTE,
        EvidenceInput(
            title="Supervision", occurred_on=RECENT_DAY, description="<p>Caseload.</p>", supervisor_id=supervisor.id
        ),
    )
    request = PromotionRequest(
        worker_id=worker.id, from_tier_id=worker.tier_id, target_tier_id=tier("link-worker", "link-worker-coach").id
    )
    db.session.add(request)
    db.session.commit()
    appraisal = cpd_service.start_appraisal(worker, worker, held_on=TODAY, appraiser_id=supervisor.id)
    return {
        "worker": worker,
        "supervisor": supervisor,
        "manager": manager,
        "competence": first,
        "item": item,
        "note": note,
        "request": request,
        "appraisal": appraisal,
        "submission": review_service.open_submission_of(item),
        "requirement": db.session.scalar(select(Requirement).where(Requirement.framework_id == worker.framework_id)),
    }


def evidence(kind: EvidenceKind, **values) -> EvidenceInput:
    defaults = {"title": "A title", "occurred_on": RECENT_DAY}
    if kind == EvidenceKind.REFLECTION:
        defaults |= {"what_happened": "<p>Ran a group.</p>", "what_learned": "<p>Listen more.</p>"}
    elif kind == EvidenceKind.CERTIFICATE:
        defaults |= {"provider": "NHS Learning Hub"}
    else:
        defaults |= {"description": "<p>Details.</p>"}
    if kind == EvidenceKind.FEEDBACK:
        defaults |= {"feedback_source": "colleague", "feedback_from": "A colleague"}
    if kind == EvidenceKind.OBSERVATION:
        defaults |= {"observed_by": "My supervisor"}
    return EvidenceInput(**(defaults | values))


# Every free-text field: (what it is, the call, the field the message goes next to, the label it names).
SERVICE_CASES = [
    (
        "reflection title",
        lambda s: evidence_service.create_evidence(
            s["worker"], EvidenceKind.REFLECTION, evidence(EvidenceKind.REFLECTION, title=IDENTIFYING)
        ),
        "title",
        "Title",
    ),
    (
        "private reflection title",
        lambda s: evidence_service.create_evidence(
            s["worker"], EvidenceKind.REFLECTION, evidence(EvidenceKind.REFLECTION, title=IDENTIFYING, is_private=True)
        ),
        "title",
        "Title",
    ),
    (
        "certificate title",
        lambda s: evidence_service.create_evidence(
            s["worker"], EvidenceKind.CERTIFICATE, evidence(EvidenceKind.CERTIFICATE, title=IDENTIFYING)
        ),
        "title",
        "Course title",
    ),
    (
        "certificate provider",
        lambda s: evidence_service.create_evidence(
            s["worker"], EvidenceKind.CERTIFICATE, evidence(EvidenceKind.CERTIFICATE, provider=IDENTIFYING)
        ),
        "provider",
        "Training provider",
    ),
    (
        "observation text",
        lambda s: evidence_service.create_evidence(
            s["worker"],
            EvidenceKind.OBSERVATION,
            evidence(EvidenceKind.OBSERVATION, description=f"<p>{IDENTIFYING}</p>"),
        ),
        "description",
        "What was observed",
    ),
    (
        "feedback text",
        lambda s: evidence_service.create_evidence(
            s["worker"], EvidenceKind.FEEDBACK, evidence(EvidenceKind.FEEDBACK, description=IDENTIFYING)
        ),
        "description",
        "The feedback",
    ),
    (
        "feedback from",
        lambda s: evidence_service.create_evidence(
            s["worker"], EvidenceKind.FEEDBACK, evidence(EvidenceKind.FEEDBACK, feedback_from=IDENTIFYING)
        ),
        "feedback_from",
        "Their name or role",
    ),
    (
        "other text",
        lambda s: evidence_service.create_evidence(
            s["worker"], EvidenceKind.OTHER, evidence(EvidenceKind.OTHER, description=IDENTIFYING)
        ),
        "description",
        "Description",
    ),
    (
        "supervision note text",
        lambda s: evidence_service.create_evidence(
            s["worker"],
            EvidenceKind.SUPERVISION_NOTE,
            evidence(EvidenceKind.SUPERVISION_NOTE, description=IDENTIFYING, supervisor_id=s["supervisor"].id),
        ),
        "description",
        "What was discussed",
    ),
    (
        "supervision action",
        lambda s: evidence_service.create_evidence(
            s["worker"],
            EvidenceKind.SUPERVISION_NOTE,
            evidence(
                EvidenceKind.SUPERVISION_NOTE,
                supervisor_id=s["supervisor"].id,
                actions=[ActionInput("Book leave", "worker", TODAY), ActionInput(IDENTIFYING, "worker", TODAY)],
            ),
        ),
        "actions-1-description",
        "Action",
    ),
    (
        "edited title",
        lambda s: evidence_service.update_evidence(
            s["worker"],
            s["note"],
            evidence(EvidenceKind.SUPERVISION_NOTE, title=IDENTIFYING, supervisor_id=s["supervisor"].id),
        ),
        "title",
        "Title",
    ),
    (
        "link note",
        lambda s: evidence_service.link_competence(s["worker"], s["note"], s["competence"].id, note=IDENTIFYING),
        "note",
        "The note",
    ),
    (
        "decision comment",
        lambda s: review_service.decide(
            s["supervisor"],
            s["submission"],
            outcome=DecisionOutcome.RETURNED,
            comment=IDENTIFYING,
            outcomes={s["competence"].id: review_service.CompetenceOutcome(True)},
        ),
        "comment",
        "The comment for the worker",
    ),
    (
        "competence comment",
        lambda s: review_service.decide(
            s["supervisor"],
            s["submission"],
            outcome=DecisionOutcome.RETURNED,
            comment="Add detail",
            outcomes={s["competence"].id: review_service.CompetenceOutcome(False, IDENTIFYING)},
        ),
        "decisions-0-comment",
        "The comment",
    ),
    (
        "note review comment",
        lambda s: review_service.review_note(s["supervisor"], s["note"], NoteOutcome.DISPUTED, IDENTIFYING),
        "comment",
        "The comment",
    ),
    (
        "recommendation reasons",
        lambda s: progress_service.recommend(s["supervisor"], s["request"], supports=False, reasons=IDENTIFYING),
        "reasons",
        "What you wrote",
    ),
    (
        "promotion decision reasons",
        lambda s: progress_service.decide_promotion(
            s["manager"], s["request"], approved=False, effective_on=None, reasons=IDENTIFYING
        ),
        "reasons",
        "What you wrote",
    ),
    (
        "verification note",
        lambda s: progress_service.verify_requirement(
            s["manager"], s["worker"], s["requirement"], verified_on=TODAY, expires_on=None, note=IDENTIFYING
        ),
        "note",
        "The note",
    ),
    (
        "appraisal review",
        lambda s: cpd_service.update_appraisal(
            s["worker"], s["appraisal"], review=IDENTIFYING, objectives="", learning_needs="", goals=[]
        ),
        "review",
        "The review",
    ),
    (
        "appraisal objectives",
        lambda s: cpd_service.update_appraisal(
            s["worker"], s["appraisal"], review="", objectives=IDENTIFYING, learning_needs="", goals=[]
        ),
        "objectives",
        "The objectives",
    ),
    (
        "appraisal learning needs",
        lambda s: cpd_service.update_appraisal(
            s["worker"], s["appraisal"], review="", objectives="", learning_needs=IDENTIFYING, goals=[]
        ),
        "learning_needs",
        "The learning needs",
    ),
    (
        "CPD goal",
        lambda s: cpd_service.update_appraisal(
            s["worker"],
            s["appraisal"],
            review="",
            objectives="",
            learning_needs="",
            goals=[cpd_service.GoalInput(IDENTIFYING, "", TODAY, "open")],
        ),
        "goals-0-description",
        "Goal 1",  # each goal named: the summary lists them together
    ),
    (
        "CPD goal method",
        lambda s: cpd_service.update_appraisal(
            s["worker"],
            s["appraisal"],
            review="",
            objectives="",
            learning_needs="",
            goals=[cpd_service.GoalInput("Learn", IDENTIFYING, TODAY, "open")],
        ),
        "goals-0-method",
        "The method of goal 1",
    ),
    (
        "CPD activity title",
        lambda s: cpd_service.log_activity(
            s["worker"],
            cpd_service.ActivityInput(
                done_on=RECENT_DAY,
                title=IDENTIFYING,
                hours="1",
                learned="Much",
                impact="Some",
                goal_id=None,
                competence_ids=[],
            ),
        ),
        "title",
        "The title",
    ),
    (
        "CPD activity learned",
        lambda s: cpd_service.log_activity(
            s["worker"],
            cpd_service.ActivityInput(
                done_on=RECENT_DAY,
                title="Course",
                hours="1",
                learned=IDENTIFYING,
                impact="Some",
                goal_id=None,
                competence_ids=[],
            ),
        ),
        "learned",
        "What you learned",
    ),
    (
        "CPD activity impact",
        lambda s: cpd_service.log_activity(
            s["worker"],
            cpd_service.ActivityInput(
                done_on=RECENT_DAY,
                title="Course",
                hours="1",
                learned="Much",
                impact=IDENTIFYING,
                goal_id=None,
                competence_ids=[],
            ),
        ),
        "impact",
        "The impact",
    ),
]


@pytest.mark.parametrize("what, call, field, label", SERVICE_CASES, ids=[c[0] for c in SERVICE_CASES])
def test_every_free_text_field_refuses_identifying_details_naming_the_field(s, what, call, field, label):
    before = row_counts()
    with pytest.raises(FieldError) as error:
        call(s)
    assert error.value.field == field.format(competence=s["competence"].id)
    assert error.value.message == message(label)
    db.session.rollback()
    assert row_counts() == before, f"something was written although the {what} was refused"


def test_a_reflections_prompts_still_let_the_author_confirm_and_name_the_prompts(s):
    data = evidence(
        EvidenceKind.REFLECTION,
        what_happened="<p>Born 12/03/1985, and 01/02/1950.</p>",
        what_learned="<p>Mail jo@example.org or al@example.org</p>",
    )
    with pytest.raises(AnonymityCheckNeeded) as error:
        evidence_service.create_evidence(s["worker"], EvidenceKind.REFLECTION, data)
    assert error.value.field == "confirm_anonymous"
    assert error.value.message == (
        "Check the highlighted details (2 possible dates of birth and 2 possible email addresses) in What happened, What I learned: "
        "remove them, or confirm they are not about a person you support"
    )
    data.confirm_anonymous = True
    saved = evidence_service.create_evidence(s["worker"], EvidenceKind.REFLECTION, data)
    assert saved.anonymity_confirmed_at is not None
    # Confirming covers the prompts only: the title is refused whatever the author confirms.
    data.title = IDENTIFYING
    with pytest.raises(FieldError) as error:
        evidence_service.create_evidence(s["worker"], EvidenceKind.REFLECTION, data)
    assert (error.value.field, error.value.message) == ("title", message("Title"))


def test_an_item_saved_before_titles_were_checked_cannot_be_submitted(s):
    item = db.session.get(Evidence, s["note"].id)
    evidence_service.link_competence(s["worker"], item, s["competence"].id)
    item.title = IDENTIFYING  # written before this check existed
    db.session.commit()
    with pytest.raises(FieldError) as error:
        evidence_service.submit(s["worker"], db.session.get(Evidence, item.id))
    assert (error.value.field, error.value.message) == ("item", message("Title"))
    assert db.session.get(Evidence, item.id).status == EvidenceStatus.DRAFT


def test_plurals_read_as_people_write_them():
    found = anonymity.find_identifiers("DOB 12/03/1985 and 01/02/1950; jo@example.org, al@example.org", today=TODAY)
    assert anonymity.counted(found) == "2 possible dates of birth and 2 possible email addresses"
    assert anonymity.message_for("Title", found[:1]) == (
        "Title contains 1 possible date of birth (“12/03/1985”): remove details that could identify a person you support"
    )


def test_the_quoted_details_follow_the_kinds_as_counted():
    """The text names the email first, the count the NHS number first: the quotes follow the count."""
    found = anonymity.find_identifiers("Email me at john@example.com. NHS number 943 476 5919", today=TODAY)
    assert anonymity.message_for("The feedback", found) == (
        "The feedback contains 1 possible NHS number and 1 possible email address (“943 476 5919”, “john@example.com”)"
        ": remove details that could identify a person you support"
    )


# --- Through the pages: 422, the error summary, the message next to the field, nothing saved ------------------


def assert_shown_next_to(response, field: str, expected: str) -> None:
    assert response.status_code == 422
    page = text_of(response)
    assert "There is a problem" in page
    summary = page.split('class="nhsuk-error-summary', 1)[1].split("</ul>", 1)[0]
    links = {
        " ".join(re.sub(r"<[^>]+>", " ", m).split()): href
        for href, m in re.findall(r'<a href="#([^"]+)"[^>]*>(.*?)</a>', summary, re.S)
    }
    assert links.get(expected, "").startswith(field), f"{expected!r} does not link to #{field}: {links}"
    assert f'id="{field}-error"' in page, f"no error message next to {field}"
    after = page.split(f'id="{field}-error"', 1)[1]
    inline = " ".join(re.sub(r"<[^>]+>", " ", "</span>".join(after.split("</span>", 2)[:2]).split(">", 1)[1]).split())
    assert expected in inline


def day(name: str, when: date) -> dict[str, str]:
    return {f"{name}-day": str(when.day), f"{name}-month": str(when.month), f"{name}-year": str(when.year)}


ROUTE_CASES = [
    (
        "reflection title",
        "worker",
        lambda s: "/portfolio/new/reflection",
        lambda s: {
            "title": IDENTIFYING,
            **day("occurred_on", RECENT_DAY),
            "what_happened": "Ran a group.",
            "what_learned": "Listen.",
            "visibility": "shareable",
        },
        "title",
        "Title",
    ),
    (
        "observation text",
        "worker",
        lambda s: "/portfolio/new/observation",
        lambda s: {
            "title": "Observed",
            **day("occurred_on", RECENT_DAY),
            "observed_by": "My supervisor",
            "description": IDENTIFYING,
        },
        "description",
        "What was observed",
    ),
    (
        "link note",
        "worker",
        lambda s: f"/portfolio/{s['note'].id}/links",
        lambda s: {"competence_id": str(s["competence"].id), "note": IDENTIFYING},
        "note-new-{competence}",  # the note's box under its competence
        "The note",
    ),
    (
        "decision comment",
        "supervisor",
        lambda s: f"/review/{s['submission'].id}",
        lambda s: {"decisions-0-accepted": "accepted", "outcome": "returned", "comment": IDENTIFYING},
        "comment",
        "The comment for the worker",
    ),
    (
        "note review comment",
        "supervisor",
        lambda s: f"/review/notes/{s['note'].id}",
        lambda s: {"outcome": "disputed", "comment": IDENTIFYING},
        "comment",
        "The comment",
    ),
    (
        "recommendation reasons",
        "supervisor",
        lambda s: f"/progress/requests/{s['request'].id}/recommend",
        lambda s: {"supports": "no", "reasons": IDENTIFYING},
        "reasons",
        "What you wrote",
    ),
    (
        "verification note",
        "manager",
        lambda s: f"/progress/workers/{s['worker'].id}/requirements/{s['requirement'].id}",
        lambda s: {**day("verified_on", TODAY), "note": IDENTIFYING},
        "note",
        "The note",
    ),
    (
        "appraisal review",
        "worker",
        lambda s: f"/cpd/appraisals/{s['appraisal'].id}",
        lambda s: {"review": IDENTIFYING, "objectives": "", "learning_needs": ""},
        "review",
        "The review",
    ),
    (
        "CPD activity title",
        "worker",
        lambda s: "/cpd/activities/new",
        lambda s: {
            **day("done_on", RECENT_DAY),
            "title": IDENTIFYING,
            "hours": "1",
            "learned": "Much",
            "impact": "Some",
            "goal_id": "0",
        },
        "title",
        "The title",
    ),
]


@pytest.mark.parametrize("what, role, path, data, field, label", ROUTE_CASES, ids=[c[0] for c in ROUTE_CASES])
def test_the_page_shows_the_message_next_to_the_field_and_saves_nothing(
    client, auth, s, what, role, path, data, field, label
):
    auth.login_as(s[role])
    url = path(s)
    before = row_counts()
    response = client.post(url, data={"csrf_token": auth.token(url), **data(s)}, content_type="multipart/form-data")
    assert_shown_next_to(response, field.format(competence=s["competence"].id), message(label))
    assert row_counts() == before


def test_a_refused_title_does_not_offer_the_confirm_box_that_cannot_clear_it(client, auth, s):
    auth.login_as(s["worker"])
    url = "/portfolio/new/reflection"
    data = {
        "title": IDENTIFYING,
        **day("occurred_on", RECENT_DAY),
        "what_happened": "Ran a group.",
        "what_learned": "Listen.",
        "visibility": "shareable",
    }
    response = client.post(url, data={"csrf_token": auth.token(url), **data}, content_type="multipart/form-data")
    assert_shown_next_to(response, "title", message("Title"))
    page = text_of(response)
    assert 'id="anonymity-check"' not in page and 'name="confirm_anonymous"' not in page
