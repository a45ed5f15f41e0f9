"""Evidence use cases, called directly: writing each kind, bad input, status rules, anonymity, guards and the views."""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace
from datetime import UTC, date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import NotFound

from portfolio.errors import FieldError
from portfolio.evidence import service
from portfolio.evidence.service import (
    ActionInput,
    AnonymityCheckNeeded,
    EvidenceInput,
    PortfolioFilters,
)
from portfolio.extensions import db
from portfolio.models import (
    ActionOwner,
    Competence,
    Evidence,
    EvidenceFile,
    EvidenceKind,
    EvidenceLink,
    EvidenceStatus,
    FeedbackSource,
    Role,
    Submission,
    utcnow,
)
from tests.factories import (
    EVIDENCE_MODELS,
    NHS_NUMBER,
    NO_EVIDENCE,
    PDF,
    PINNED_TODAY,
    assign,
    competence,
    competences,
    course,
    make_user,
    pdf_page,
    png_bytes,
    send_for_review,
    tier,
)
from tests.pages import WRONG_KIND, files_on_disk, reload, row_counts, upload_folder

SESSION_DAY = date(2026, 3, 10)


def upload(data: bytes = PDF, name: str = "certificate.pdf") -> FileStorage:
    return FileStorage(stream=io.BytesIO(data), filename=name)


# --- helpers --------------------------------------------------------------------


def reflection_input(**changes) -> EvidenceInput:
    values = dict(
        title="First group session on healthy eating",
        occurred_on=date(2026, 5, 2),
        what_happened="I ran the group on my own.",
        what_learned="Plan for quiet members.",
        practice_change="I now start with introductions.",
        next_steps="Ask for feedback.",
    )
    values.update(changes)
    return EvidenceInput(**values)


def certificate_input(**changes) -> EvidenceInput:
    values = dict(
        title="Safeguarding adults level 2",
        occurred_on=date(2026, 4, 1),
        provider="  NHS   Learning Hub ",
        expires_on=date(2029, 4, 1),
        cpd_hours=Decimal("3.5"),
    )
    values.update(changes)
    return EvidenceInput(**values)


def make_reflection(worker, **changes) -> Evidence:
    return service.create_evidence(worker, EvidenceKind.REFLECTION, reflection_input(**changes), today=PINNED_TODAY)


def make_certificate(worker, uploads=None, **changes) -> Evidence:
    return service.create_evidence(
        worker,
        EvidenceKind.CERTIFICATE,
        certificate_input(**changes),
        uploads if uploads is not None else [upload()],
        today=PINNED_TODAY,
    )


def make_linked(worker, refs=("PS-LW-01",), **changes) -> Evidence:
    evidence = make_reflection(worker, **changes)
    for ref in refs:
        service.link_competence(worker, evidence, competence(ref).id)
    db.session.refresh(evidence)
    return evidence


def assert_kind_columns_empty(evidence: Evidence, *, keep: tuple[str, ...] = ()) -> None:
    """Columns of other kinds stay empty."""
    empty = {
        "what_happened": "",
        "what_learned": "",
        "practice_change": "",
        "next_steps": "",
        "description": "",
        "provider": None,
        "observed_by": None,
        "expires_on": None,
        "cpd_hours": None,
        "supervisor_id": None,
        "feedback_source": None,
        "feedback_from": None,
    }
    for name, value in empty.items():
        if name not in keep:
            assert getattr(evidence, name) == value, name


def assert_new_draft(evidence: Evidence, owner, kind: EvidenceKind) -> None:
    assert evidence.owner_id == owner.id
    assert evidence.kind == kind
    assert evidence.status == EvidenceStatus.DRAFT
    assert evidence.submitted_at is None
    assert evidence.created_at is not None and evidence.updated_at is not None


# --- creating each kind -----------------------------------------------------------


def test_create_reflection_cleans_the_text(app, worker):
    data = reflection_input(
        title="  Home   visit  ",
        what_happened='<p data-x="1" class="MsoNormal">I met the person at home.</p>',
        what_learned="First paragraph\n\nSecond <b>bold</b> paragraph",
        practice_change='<p><a href="https://example.org/guide">a link</a> and <span style="color:red">text</span></p>',
        next_steps="   ",
    )
    evidence = service.create_evidence(worker, EvidenceKind.REFLECTION, data, today=PINNED_TODAY)

    stored = reload(evidence)
    assert_new_draft(stored, worker, EvidenceKind.REFLECTION)
    assert stored.title == "Home visit"
    assert stored.occurred_on == date(2026, 5, 2)
    assert stored.what_happened == "<p>I met the person at home.</p>"
    assert stored.what_learned == "<p>First paragraph</p><p>Second <b>bold</b> paragraph</p>"
    assert stored.practice_change == "<p>a link and text</p>"
    for html in (stored.what_happened, stored.practice_change):
        for bad in ("data-", "class", "href", "style", "span"):
            assert bad not in html
    assert stored.next_steps == ""
    assert stored.is_private is False
    assert stored.anonymity_confirmed_at is None
    assert_kind_columns_empty(stored, keep=("what_happened", "what_learned", "practice_change", "next_steps"))
    assert stored.files == [] and stored.links == [] and stored.actions == []


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("I met the person <script>alert(1)</script>at home.", id="script"),
        pytest.param('<p onclick="steal()">Home visit</p>', id="event-handler"),
        pytest.param('<p hx-get="/auth/sign-out" hx-trigger="load">Home visit</p>', id="hx-attribute"),
        pytest.param('<p data-hx-post="/portfolio/1/delete">Home visit</p>', id="data-hx-attribute"),
        pytest.param('<a href="javascript:alert(1)">a link</a>', id="javascript-url"),
        pytest.param('<svg onload="x()"><circle/></svg>text', id="svg"),
    ],
)
def test_code_in_the_text_is_refused_next_to_the_field(app, worker, text):
    with pytest.raises(FieldError) as error:
        service.create_evidence(
            worker, EvidenceKind.REFLECTION, reflection_input(what_happened=text), today=PINNED_TODAY
        )
    assert_refused(
        app,
        error,
        "what_happened",
        "Remove the code from this text: scripts, event handlers and hx- attributes are not allowed",
    )


def test_create_private_reflection(app, worker):
    evidence = make_reflection(worker, is_private=True)
    assert reload(evidence).is_private is True


def test_create_certificate_with_its_file(app, worker):
    evidence = make_certificate(worker)

    stored = reload(evidence)
    assert_new_draft(stored, worker, EvidenceKind.CERTIFICATE)
    assert stored.title == "Safeguarding adults level 2"
    assert stored.occurred_on == date(2026, 4, 1)
    assert stored.provider == "NHS Learning Hub"
    assert stored.expires_on == date(2029, 4, 1)
    assert stored.cpd_hours == Decimal("3.50")
    assert stored.is_private is False
    assert_kind_columns_empty(stored, keep=("provider", "expires_on", "cpd_hours"))

    [row] = stored.files
    assert row.original_name == "certificate.pdf"
    assert row.content_type == "application/pdf"
    assert row.size == len(PDF)
    assert row.sha256 == hashlib.sha256(PDF).hexdigest()
    assert row.uploaded_at is not None
    assert row.stored_name != "certificate.pdf" and row.stored_name.endswith(".pdf")
    # Stored outside static/, under the random name, with no staged copy left.
    assert files_on_disk(app) == [row.stored_name]
    assert (upload_folder(app) / row.stored_name).read_bytes() == PDF


def test_a_new_item_is_refused_with_every_problem_at_once_and_leaves_no_file(app, worker):
    """The values, the kind's own rules, identifying details, the competences and the files: one answer."""
    good, bad = upload(), upload(b"not a certificate", "second.pdf")
    with pytest.raises(FieldError) as error:
        service.create_evidence(
            worker,
            EvidenceKind.CERTIFICATE,
            certificate_input(provider="", expires_on=date(2026, 3, 1), cpd_hours=Decimal("5000")),
            [good, bad],
            link_competence_ids=[],
            to_send=True,
            today=PINNED_TODAY,
        )
    assert error.value.by_field() == {
        "provider": "Enter the training provider",
        "expires_on": "The expiry date must be the same as or after the date completed",
        "cpd_hours": "CPD hours must be between 0 and 1,000",
        "competence_ids": "Tick at least one competence this evidence shows, or choose “Save the certificate” and link competences later",
        "files": "The selected file must be a PDF, PNG, JPEG or DOCX",
    }
    assert row_counts(*EVIDENCE_MODELS) == NO_EVIDENCE
    assert files_on_disk(app) == []  # neither file is left, the good one included

    problems = service.problems_of_new(worker, EvidenceKind.CERTIFICATE, certificate_input(title=f"For {NHS_NUMBER}"))
    assert list(problems) == ["title", "files"]  # an identifying detail, and no file
    assert files_on_disk(app) == [] and row_counts(*EVIDENCE_MODELS) == NO_EVIDENCE


def test_create_certificate_without_expiry_or_hours(app, worker):
    evidence = make_certificate(worker, expires_on=None, cpd_hours=None)
    stored = reload(evidence)
    assert stored.expires_on is None and stored.cpd_hours is None


def test_create_supervision_note_with_actions_and_default_title(app, worker, supervisor):
    data = EvidenceInput(
        occurred_on=SESSION_DAY,
        supervisor_id=supervisor.id,
        description="We discussed <em>caseload</em> and boundaries.",
        actions=[
            ActionInput("Read the lone-working policy", "worker", date(2026, 4, 1)),
            ActionInput("", "", None),  # a blank row is ignored
            ActionInput("  Book   the   safeguarding course ", "supervisor", date(2026, 5, 1)),
        ],
    )
    evidence = service.create_evidence(worker, EvidenceKind.SUPERVISION_NOTE, data, today=PINNED_TODAY)

    stored = reload(evidence)
    assert_new_draft(stored, worker, EvidenceKind.SUPERVISION_NOTE)
    assert stored.title == "Supervision with Sam Supervisor"
    assert stored.occurred_on == SESSION_DAY
    assert stored.supervisor_id == supervisor.id
    assert stored.description == "<p>We discussed <em>caseload</em> and boundaries.</p>"
    assert_kind_columns_empty(stored, keep=("supervisor_id", "description"))
    assert [(a.position, a.description, a.owner, a.due_on) for a in stored.actions] == [
        (1, "Read the lone-working policy", ActionOwner.WORKER, date(2026, 4, 1)),
        (2, "Book the safeguarding course", ActionOwner.SUPERVISOR, date(2026, 5, 1)),
    ]


def test_supervision_note_keeps_a_given_title(app, worker, supervisor):
    data = EvidenceInput(
        title="Monthly supervision", occurred_on=SESSION_DAY, supervisor_id=supervisor.id, description="Caseload"
    )
    evidence = service.create_evidence(worker, EvidenceKind.SUPERVISION_NOTE, data, today=PINNED_TODAY)
    assert reload(evidence).title == "Monthly supervision"
    assert reload(evidence).actions == []


def test_create_observation_with_files(app, worker):
    data = EvidenceInput(
        title="Observed group session",
        occurred_on=date(2026, 5, 20),
        observed_by="Priya Shah, practice lead",
        description="She watched me run it.",
    )
    evidence = service.create_evidence(
        worker,
        EvidenceKind.OBSERVATION,
        data,
        [upload(PDF, "notes.pdf"), upload(png_bytes(), "photo.png")],
        today=PINNED_TODAY,
    )

    stored = reload(evidence)
    assert_new_draft(stored, worker, EvidenceKind.OBSERVATION)
    assert stored.title == "Observed group session"
    assert stored.description == "<p>She watched me run it.</p>"
    assert stored.observed_by == "Priya Shah, practice lead"
    assert_kind_columns_empty(stored, keep=("description", "observed_by"))
    assert [(f.original_name, f.content_type) for f in stored.files] == [
        ("notes.pdf", "application/pdf"),
        ("photo.png", "image/png"),
    ]
    assert files_on_disk(app) == sorted(f.stored_name for f in stored.files)
    for row in stored.files:
        assert hashlib.sha256((upload_folder(app) / row.stored_name).read_bytes()).hexdigest() == row.sha256


def test_create_feedback(app, worker):
    data = EvidenceInput(
        title="Thank-you card",
        occurred_on=date(2026, 6, 1),
        feedback_source="person-supported",
        feedback_from="  A person I   supported ",
        description="Thank you for helping me join the walking group.",
    )
    evidence = service.create_evidence(worker, EvidenceKind.FEEDBACK, data, today=PINNED_TODAY)

    stored = reload(evidence)
    assert_new_draft(stored, worker, EvidenceKind.FEEDBACK)
    assert stored.feedback_source == FeedbackSource.PERSON_SUPPORTED
    assert stored.feedback_from == "A person I supported"
    assert stored.description == "<p>Thank you for helping me join the walking group.</p>"
    assert_kind_columns_empty(stored, keep=("feedback_source", "feedback_from", "description"))
    assert stored.files == []


def test_create_other(app, worker):
    data = EvidenceInput(title="Community asset map", occurred_on=PINNED_TODAY, description="A map of local groups.")
    evidence = service.create_evidence(worker, EvidenceKind.OTHER, data, today=PINNED_TODAY)  # today itself is allowed

    stored = reload(evidence)
    assert_new_draft(stored, worker, EvidenceKind.OTHER)
    assert stored.occurred_on == PINNED_TODAY
    assert stored.description == "<p>A map of local groups.</p>"
    assert_kind_columns_empty(stored, keep=("description",))


def test_create_with_a_first_link(app, worker):
    target = competence("PS-LW-05")
    evidence = service.create_evidence(
        worker, EvidenceKind.REFLECTION, reflection_input(), link_competence_id=target.id, today=PINNED_TODAY
    )
    assert [(link.competence_id, link.note) for link in reload(evidence).links] == [(target.id, "")]


# --- bad input: one message on the right field, nothing written ---------------------


def assert_refused(app, error: pytest.ExceptionInfo, field: str, message: str) -> None:
    assert error.value.field == field
    assert error.value.message == message
    assert row_counts(*EVIDENCE_MODELS) == NO_EVIDENCE
    assert files_on_disk(app) == []


BAD_INPUT = [
    pytest.param(EvidenceKind.REFLECTION, {"title": "   "}, "title", "Enter a title", id="missing-title"),
    pytest.param(EvidenceKind.CERTIFICATE, {"title": ""}, "title", "Enter the course title", id="missing-course-title"),
    pytest.param(
        EvidenceKind.REFLECTION, {"title": "x" * 201}, "title", "Title must be 200 characters or fewer", id="long-title"
    ),
    pytest.param(EvidenceKind.REFLECTION, {"occurred_on": None}, "occurred_on", "Enter the date", id="missing-date"),
    pytest.param(
        EvidenceKind.REFLECTION,
        {"occurred_on": PINNED_TODAY + timedelta(days=1)},
        "occurred_on",
        "The date must be today or in the past",
        id="future-date",
    ),
    pytest.param(
        EvidenceKind.REFLECTION,
        {"what_happened": "<p> </p>"},
        "what_happened",
        "Describe what happened",
        id="blank-prompt",
    ),
    pytest.param(
        EvidenceKind.REFLECTION,
        {"what_learned": "<script>x</script>"},
        "what_learned",
        "Remove the code from this text: scripts, event handlers and hx- attributes are not allowed",
        id="only-script",
    ),
    pytest.param(
        EvidenceKind.CERTIFICATE, {"provider": " "}, "provider", "Enter the training provider", id="missing-provider"
    ),
    pytest.param(
        EvidenceKind.CERTIFICATE,
        {"expires_on": date(2026, 3, 31)},
        "expires_on",
        "The expiry date must be the same as or after the date completed",
        id="expiry-before-completion",
    ),
    pytest.param(
        EvidenceKind.CERTIFICATE,
        {"cpd_hours": Decimal("-0.5")},
        "cpd_hours",
        "CPD hours must be between 0 and 1,000",
        id="negative-hours",
    ),
    pytest.param(
        EvidenceKind.CERTIFICATE,
        {"cpd_hours": Decimal("1000.01")},
        "cpd_hours",
        "CPD hours must be between 0 and 1,000",
        id="too-many-hours",
    ),
    pytest.param(
        EvidenceKind.OBSERVATION,
        {"description": ""},
        "description",
        "Describe what was observed",
        id="missing-observation",
    ),
    pytest.param(
        EvidenceKind.OBSERVATION,
        {"observed_by": "x" * 201},
        "observed_by",
        "Who observed you must be 200 characters or fewer",
        id="observer-too-long",
    ),
    pytest.param(
        EvidenceKind.FEEDBACK,
        {"feedback_source": "a-friend"},
        "feedback_source",
        "Choose who gave the feedback",
        id="bad-source",
    ),
    pytest.param(
        EvidenceKind.FEEDBACK,
        {"feedback_from": " "},
        "feedback_from",
        "Enter who gave the feedback",
        id="missing-giver",
    ),
    pytest.param(
        EvidenceKind.OTHER, {"description": "  "}, "description", "Describe this evidence", id="missing-description"
    ),
]


@pytest.mark.parametrize(("kind", "changes", "field", "message"), BAD_INPUT)
def test_bad_input_is_refused_on_its_field_and_writes_nothing(app, worker, kind, changes, field, message):
    base = {
        EvidenceKind.REFLECTION: reflection_input().__dict__,
        EvidenceKind.CERTIFICATE: certificate_input().__dict__,
        EvidenceKind.OBSERVATION: {
            "title": "Observed",
            "occurred_on": date(2026, 5, 1),
            "observed_by": "Team lead",
            "description": "Seen",
        },
        EvidenceKind.FEEDBACK: {
            "title": "Card",
            "occurred_on": date(2026, 5, 1),
            "feedback_source": "colleague",
            "feedback_from": "Team lead",
            "description": "Well done",
        },
        EvidenceKind.OTHER: {"title": "Other", "occurred_on": date(2026, 5, 1), "description": "Something"},
    }[kind]
    uploads = [upload()] if kind == EvidenceKind.CERTIFICATE else []
    with pytest.raises(FieldError) as error:
        service.create_evidence(worker, kind, EvidenceInput(**{**base, **changes}), uploads, today=PINNED_TODAY)
    assert_refused(app, error, field, message)


def test_certificate_needs_a_file(app, worker):
    with pytest.raises(FieldError) as error:
        make_certificate(worker, uploads=[])
    assert_refused(app, error, "files", "Select the certificate file")
    # An empty file input (no file chosen) is the same as none.
    with pytest.raises(FieldError) as error:
        make_certificate(worker, uploads=[FileStorage(stream=io.BytesIO(b""), filename="")])
    assert_refused(app, error, "files", "Select the certificate file")


def test_a_wrong_kind_of_file_among_good_ones_leaves_nothing(app, worker):
    data = EvidenceInput(title="Observed", occurred_on=date(2026, 5, 1), observed_by="Team lead", description="Seen")
    uploads = [
        upload(PDF, "one.pdf"),
        upload(png_bytes(), "two.png"),
        upload(b"<html><script>x</script></html>", "three.pdf"),
    ]
    with pytest.raises(FieldError) as error:
        service.create_evidence(worker, EvidenceKind.OBSERVATION, data, uploads, today=PINNED_TODAY)
    assert_refused(app, error, "files", WRONG_KIND)


def test_an_empty_file_is_refused(app, worker):
    with pytest.raises(FieldError) as error:
        make_certificate(worker, uploads=[upload(b"", "empty.pdf")])
    assert_refused(app, error, "files", "The selected file is empty")


def test_svg_is_refused(app, worker):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>'
    with pytest.raises(FieldError) as error:
        make_certificate(worker, uploads=[upload(svg, "certificate.svg")])
    assert_refused(app, error, "files", WRONG_KIND)


def supervision_input(supervisor_id, **changes) -> EvidenceInput:
    values = dict(occurred_on=SESSION_DAY, supervisor_id=supervisor_id, description="Caseload review")
    values.update(changes)
    return EvidenceInput(**values)


def test_supervisor_must_be_chosen(app, worker, supervisor):
    with pytest.raises(FieldError) as error:
        service.create_evidence(
            worker, EvidenceKind.SUPERVISION_NOTE, supervision_input(None, title="Supervision"), today=PINNED_TODAY
        )
    assert_refused(app, error, "supervisor_id", "Choose the supervisor the session was with")


def test_supervision_note_without_supervisor_or_title_asks_for_the_supervisor(app, worker, supervisor):
    """The title of a supervision note is optional: with neither, the missing supervisor is the problem."""
    with pytest.raises(FieldError) as error:
        service.create_evidence(worker, EvidenceKind.SUPERVISION_NOTE, supervision_input(None), today=PINNED_TODAY)
    assert_refused(app, error, "supervisor_id", "Choose the supervisor the session was with")


@pytest.mark.parametrize(
    ("starts_on", "ends_on"),
    [
        pytest.param(SESSION_DAY + timedelta(days=1), None, id="assigned-after-the-session"),
        pytest.param(date(2026, 1, 1), SESSION_DAY - timedelta(days=1), id="assignment-ended-before-the-session"),
    ],
)
def test_supervisor_not_assigned_on_the_session_date_is_refused(app, worker, starts_on, ends_on):
    person = make_user(Role.SUPERVISOR, name="Former Supervisor")
    assignment = assign(person, worker, starts_on=starts_on)
    assignment.ends_on = ends_on
    db.session.commit()
    with pytest.raises(FieldError) as error:
        service.create_evidence(worker, EvidenceKind.SUPERVISION_NOTE, supervision_input(person.id), today=PINNED_TODAY)
    assert_refused(
        app, error, "supervisor_id", "Choose a supervisor who was supervising you on the date of the session"
    )


def test_someone_elses_supervisor_is_refused(app, worker):
    other = make_user(Role.WORKER, tier=tier("link-worker", "link-worker"))
    person = make_user(Role.SUPERVISOR)
    assign(person, other)
    with pytest.raises(FieldError) as error:
        service.create_evidence(worker, EvidenceKind.SUPERVISION_NOTE, supervision_input(person.id), today=PINNED_TODAY)
    assert_refused(
        app, error, "supervisor_id", "Choose a supervisor who was supervising you on the date of the session"
    )


def test_assignment_boundaries_are_inclusive(app, worker):
    person = make_user(Role.SUPERVISOR, name="Edge Supervisor")
    assignment = assign(person, worker, starts_on=SESSION_DAY)
    assignment.ends_on = SESSION_DAY
    db.session.commit()
    evidence = service.create_evidence(
        worker, EvidenceKind.SUPERVISION_NOTE, supervision_input(person.id), today=PINNED_TODAY
    )
    assert reload(evidence).supervisor_id == person.id


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        pytest.param(
            ActionInput("Read the policy", "", date(2026, 4, 1)),
            "actions-1-owner",
            "Choose who owns the action",
            id="no-owner",
        ),
        pytest.param(
            ActionInput("Read the policy", "worker", None), "actions-1-due_on", "Enter the due date", id="no-due-date"
        ),
        pytest.param(
            ActionInput("", "supervisor", date(2026, 4, 1)),
            "actions-1-description",
            "Enter the action",
            id="no-description",
        ),
        pytest.param(
            ActionInput("Read the policy", "manager", date(2026, 4, 1)),
            "actions-1-owner",
            "Choose who owns the action",
            id="bad-owner",
        ),
        # Found by a helper: an action due years before the session it was agreed at was accepted.
        pytest.param(
            ActionInput("Read the policy", "worker", SESSION_DAY - timedelta(days=1)),
            "actions-1-due_on",
            "The due date must be the same as or after the date of the session",
            id="due-before-the-session",
        ),
    ],
)
def test_half_filled_action_row_is_refused(app, worker, supervisor, row, field, message):
    data = supervision_input(supervisor.id, actions=[ActionInput("Complete", "worker", date(2026, 4, 1)), row])
    with pytest.raises(FieldError) as error:
        service.create_evidence(worker, EvidenceKind.SUPERVISION_NOTE, data, today=PINNED_TODAY)
    assert_refused(app, error, field, message)


def test_an_identifying_detail_in_one_action_row_is_named_with_another_rows_gap_and_in_its_own_row(
    app, worker, supervisor
):
    """Found by reviews: a half-filled row stopped the identifying-details check of the others (said on the next
    save only); and the check named rows by their place among the complete ones, so after a blank row the message
    sat beside the wrong row."""
    data = supervision_input(
        supervisor.id,
        actions=[
            ActionInput("", "", None),  # blank: ignored
            ActionInput("Read the policy", "", date(2026, 4, 1)),  # no owner
            ActionInput("Call back on 07700 900123", "worker", date(2026, 4, 1)),  # a phone number
        ],
    )
    with pytest.raises(FieldError) as error:
        service.create_evidence(worker, EvidenceKind.SUPERVISION_NOTE, data, today=PINNED_TODAY)
    found = error.value.by_field()
    assert found["actions-1-owner"] == "Choose who owns the action"
    assert set(found) == {"actions-1-owner", "actions-2-description"}, found
    assert "phone number" in found["actions-2-description"]
    assert row_counts(*EVIDENCE_MODELS) == NO_EVIDENCE


def test_create_with_a_link_to_another_framework_writes_nothing(app, worker):
    other = competence("CORE-01", "sfh-senior-engagement-worker")
    with pytest.raises(FieldError) as error:
        service.create_evidence(
            worker,
            EvidenceKind.CERTIFICATE,
            certificate_input(),
            [upload()],
            link_competence_id=other.id,
            today=PINNED_TODAY,
        )
    assert error.value.message == "Choose a competence from your framework"
    assert row_counts(*EVIDENCE_MODELS) == NO_EVIDENCE
    assert files_on_disk(app) == []


def test_nothing_is_written_when_the_commit_fails(app, worker, monkeypatch):
    """A row and its file exist together or not at all."""

    def failing_commit():
        raise RuntimeError("database went away")

    monkeypatch.setattr(db.session, "commit", failing_commit)
    with pytest.raises(RuntimeError):
        make_certificate(worker)
    monkeypatch.undo()
    db.session.rollback()
    assert row_counts(*EVIDENCE_MODELS) == NO_EVIDENCE
    assert files_on_disk(app) == []


# --- links --------------------------------------------------------------------


def test_link_with_a_note(app, worker):
    evidence = make_reflection(worker)
    target = competence("PS-LW-02")
    link = service.link_competence(worker, evidence, target.id, "  Shows how I   listened ")
    stored = db.session.get(EvidenceLink, link.id)
    assert (stored.evidence_id, stored.competence_id, stored.note) == (evidence.id, target.id, "Shows how I listened")
    # Any tier of the worker's framework may be linked.
    higher = db.session.scalar(
        select(Competence)
        .where(Competence.tier_id == tier("link-worker", "psychosocial-link-worker").id)
        .order_by(Competence.position)
    )
    service.link_competence(worker, evidence, higher.id)
    assert {link.competence_id for link in reload(evidence).links} == {target.id, higher.id}


def link_counts() -> int:
    return db.session.scalar(select(func.count()).select_from(EvidenceLink))


def test_link_to_a_competence_of_another_framework_is_refused(app, worker):
    evidence = make_reflection(worker)
    other = competence("CORE-01", "sfh-senior-engagement-worker")
    with pytest.raises(FieldError) as error:
        service.link_competence(worker, evidence, other.id)
    assert (error.value.field, error.value.message) == ("competence_id", "Choose a competence from your framework")
    assert link_counts() == 0


def test_link_to_a_retired_or_missing_competence_is_refused(app, worker):
    evidence = make_reflection(worker)
    retired = competence("PS-LW-03")
    retired.retired_at = utcnow()
    db.session.commit()
    for competence_id in (retired.id, 999_999):
        with pytest.raises(FieldError) as error:
            service.link_competence(worker, evidence, competence_id)
        assert (error.value.field, error.value.message) == ("competence_id", "Choose a competence from your framework")
    assert link_counts() == 0


def test_duplicate_link_is_refused(app, worker):
    evidence = make_reflection(worker)
    target = competence("PS-LW-04")
    service.link_competence(worker, evidence, target.id, "first")
    with pytest.raises(FieldError) as error:
        service.link_competence(worker, evidence, target.id, "second")
    assert (error.value.field, error.value.message) == (
        "competence_id",
        "This item is already linked to that competence",
    )
    assert [link.note for link in reload(evidence).links] == ["first"]


def test_link_note_over_500_characters_is_refused(app, worker):
    evidence = make_reflection(worker)
    with pytest.raises(FieldError) as error:
        service.link_competence(worker, evidence, competence("PS-LW-04").id, "x" * 501)
    assert (error.value.field, error.value.message) == ("note", "The note must be 500 characters or fewer")
    assert link_counts() == 0
    link = service.link_competence(worker, evidence, competence("PS-LW-04").id, "x" * 500)
    with pytest.raises(FieldError) as error:
        service.update_link_note(worker, evidence, link, "y" * 501)
    assert error.value.field == "note"
    db.session.expire_all()
    assert db.session.get(EvidenceLink, link.id).note == "x" * 500


def test_update_note_and_unlink(app, worker):
    evidence = make_reflection(worker)
    link = service.link_competence(worker, evidence, competence("PS-LW-04").id, "old")
    service.update_link_note(worker, evidence, link, " new   note ")
    db.session.expire_all()
    assert db.session.get(EvidenceLink, link.id).note == "new note"
    service.unlink(worker, reload(evidence), link)
    assert link_counts() == 0


# --- status rules ---------------------------------------------------------------


def test_submit_a_draft(app, worker):
    evidence = make_linked(worker)
    before = utcnow()
    service.submit(worker, evidence, today=PINNED_TODAY)
    stored = reload(evidence)
    assert stored.status == EvidenceStatus.SUBMITTED
    assert stored.submitted_at is not None
    submitted_at = stored.submitted_at if stored.submitted_at.tzinfo else stored.submitted_at.replace(tzinfo=UTC)
    assert submitted_at >= before - timedelta(seconds=1)
    assert stored.is_editable is False
    # The same moment as its submission's, to the microsecond: the home's waiting list is ordered by it.
    submission = db.session.scalar(select(Submission).where(Submission.evidence_id == stored.id))
    assert submission.submitted_at == stored.submitted_at


@pytest.mark.parametrize("status", [EvidenceStatus.SUBMITTED, EvidenceStatus.RETURNED, EvidenceStatus.SIGNED_OFF])
def test_the_database_refuses_an_item_sent_without_its_time(app, worker, status):
    """Whatever writes it, an item that is not a draft has its time sent (ck_evidence_sent_has_time): the flush
    fails, and after the rollback the database holds what it held before."""
    draft = make_linked(worker)
    before = row_counts()  # every table

    db.session.add(
        Evidence(owner_id=worker.id, kind=EvidenceKind.OTHER, status=status, title="Leaflet", occurred_on=SESSION_DAY)
    )
    with pytest.raises(IntegrityError, match="ck_evidence_sent_has_time"):
        db.session.flush()
    db.session.rollback()

    db.session.get_one(Evidence, draft.id).status = status  # a draft marked sent, and no time given
    with pytest.raises(IntegrityError, match="ck_evidence_sent_has_time"):
        db.session.flush()
    db.session.rollback()

    assert row_counts() == before
    assert db.session.execute(select(Evidence.id, Evidence.status, Evidence.submitted_at)).all() == [
        (draft.id, EvidenceStatus.DRAFT, None)
    ]
    # With its time it is written: the constraint asks for the time, nothing more.
    sent = Evidence(
        owner_id=worker.id,
        kind=EvidenceKind.OTHER,
        status=status,
        title="Leaflet",
        occurred_on=SESSION_DAY,
        submitted_at=utcnow(),
    )
    db.session.add(sent)
    db.session.commit()
    assert db.session.scalars(select(Evidence.status).order_by(Evidence.id)).all() == [EvidenceStatus.DRAFT, status]


def test_a_submitted_item_cannot_change(app, worker):
    evidence = make_certificate(worker, uploads=[upload(pdf_page("a"), "a.pdf"), upload(pdf_page("b"), "b.pdf")])
    link = service.link_competence(worker, evidence, competence("PS-LW-01").id, "note")
    evidence = reload(evidence)
    service.submit(worker, evidence, today=PINNED_TODAY)
    evidence = reload(evidence)
    names = files_on_disk(app)
    message = "This item is submitted for review and cannot be changed"

    attempts = {
        "update": lambda: service.update_evidence(
            worker, evidence, certificate_input(title="Changed"), today=PINNED_TODAY
        ),
        "remove file": lambda: service.remove_file(worker, evidence, evidence.files[0]),
        "link": lambda: service.link_competence(worker, evidence, competence("PS-LW-02").id),
        "update note": lambda: service.update_link_note(worker, evidence, link, "changed"),
        "unlink": lambda: service.unlink(worker, evidence, link),
    }
    for name, attempt in attempts.items():
        with pytest.raises(FieldError) as error:
            attempt()
        assert error.value.message == message, name
    with pytest.raises(FieldError) as error:
        service.delete_evidence(worker, evidence)
    assert error.value.message == "Only a draft can be deleted"

    stored = reload(evidence)
    assert stored.title == "Safeguarding adults level 2"
    assert stored.status == EvidenceStatus.SUBMITTED
    assert len(stored.files) == 2
    assert [(link.competence.ref, link.note) for link in stored.links] == [("PS-LW-01", "note")]
    assert files_on_disk(app) == names


def test_a_private_reflection_cannot_be_submitted(app, worker):
    evidence = make_linked(worker, is_private=True)
    with pytest.raises(FieldError) as error:
        service.submit(worker, evidence, today=PINNED_TODAY)
    assert (error.value.field, error.value.message) == (
        "item",
        "A private reflection cannot be submitted: make it shareable first",
    )
    assert reload(evidence).status == EvidenceStatus.DRAFT


def test_an_item_without_links_cannot_be_submitted(app, worker):
    evidence = make_certificate(worker)
    with pytest.raises(FieldError) as error:
        service.submit(worker, evidence, today=PINNED_TODAY)
    assert error.value.message == "Link the item to at least one competence before you submit it"
    stored = reload(evidence)
    assert stored.status == EvidenceStatus.DRAFT and stored.submitted_at is None


def test_deleting_a_draft_removes_its_files_links_and_actions(app, worker, supervisor):
    certificate = make_certificate(worker, uploads=[upload(PDF, "a.pdf"), upload(png_bytes(), "b.png")])
    service.link_competence(worker, certificate, competence("PS-LW-01").id)
    note = service.create_evidence(
        worker,
        EvidenceKind.SUPERVISION_NOTE,
        supervision_input(supervisor.id, actions=[ActionInput("Read", "worker", date(2026, 4, 1))]),
        today=PINNED_TODAY,
    )
    service.link_competence(worker, note, competence("PS-LW-02").id)
    kept = make_certificate(worker, uploads=[upload(PDF, "kept.pdf")])
    kept_name = reload(kept).files[0].stored_name
    assert len(files_on_disk(app)) == 3

    service.delete_evidence(worker, reload(certificate))
    service.delete_evidence(worker, reload(note))

    assert row_counts(*EVIDENCE_MODELS) == {**NO_EVIDENCE, "evidence": 1, "evidence_files": 1}
    assert files_on_disk(app) == [kept_name]


def test_removing_a_file(app, worker):
    evidence = make_certificate(worker, uploads=[upload(pdf_page("a"), "a.pdf"), upload(pdf_page("b"), "b.pdf")])
    first, second = reload(evidence).files
    service.remove_file(worker, reload(evidence), first)
    assert [f.original_name for f in reload(evidence).files] == ["b.pdf"]
    assert files_on_disk(app) == [second.stored_name]

    # The last file of a certificate stays.
    with pytest.raises(FieldError) as error:
        service.remove_file(worker, reload(evidence), db.session.get(EvidenceFile, second.id))
    assert error.value.field == "files"
    assert error.value.message.startswith("A training certificate needs its certificate file")
    assert [f.original_name for f in reload(evidence).files] == ["b.pdf"]
    assert files_on_disk(app) == [second.stored_name]


def test_update_changes_a_draft_and_adds_files(app, worker):
    evidence = make_certificate(worker)
    service.update_evidence(
        worker,
        reload(evidence),
        certificate_input(title="Safeguarding adults level 3", cpd_hours=Decimal("6")),
        [upload(pdf_page("two"), "page2.pdf")],
        today=PINNED_TODAY,
    )
    stored = reload(evidence)
    assert stored.title == "Safeguarding adults level 3"
    assert stored.cpd_hours == Decimal("6.00")
    assert [f.original_name for f in stored.files] == ["certificate.pdf", "page2.pdf"]
    assert len(files_on_disk(app)) == 2


def test_a_change_sent_again_does_not_attach_its_file_twice(app, worker, supervisor):
    """A retry of the same change (its answer lost) finds the file attached: nothing is added, and a checked
    certificate keeps its check; two identical files in one change are attached once."""
    from portfolio.training import service as training

    item = course("Safeguarding adults", 36)
    evidence = make_certificate(worker, training_item_id=item.id)
    change = certificate_input(title="Safeguarding adults level 3", training_item_id=item.id)
    first = service.update_evidence(worker, reload(evidence), change, [upload(pdf_page("two"), "page2.pdf")])
    assert (first.removed, first.already_attached) == ([], [])
    training.check_certificate(supervisor, reload(evidence))
    disk = files_on_disk(app)

    again = service.update_evidence(worker, reload(evidence), change, [upload(pdf_page("two"), "page2.pdf")])
    assert again.already_attached == [("page2.pdf", "page2.pdf")]
    stored = reload(evidence)
    assert [f.original_name for f in stored.files] == ["certificate.pdf", "page2.pdf"]
    assert stored.checked_at is not None  # nothing changed: the check stands
    assert files_on_disk(app) == disk  # the second copy was not kept on disk either

    # The same content under another name is the same file; two copies in one change are attached once.
    twice = service.update_evidence(
        worker,
        reload(evidence),
        change,
        [upload(PDF, "copy.pdf"), upload(pdf_page("three"), "a.pdf"), upload(pdf_page("three"), "b.pdf")],
    )
    assert twice.already_attached == [("copy.pdf", "certificate.pdf"), ("b.pdf", "a.pdf")]
    assert [f.original_name for f in reload(evidence).files] == ["certificate.pdf", "page2.pdf", "a.pdf"]
    assert len(files_on_disk(app)) == 3

    # A file ticked for removal and chosen again (the same content) stays as it was: nothing changed, the check
    # stands (found by a review: the file was replaced by its copy, and the check lost).
    training.check_certificate(supervisor, reload(evidence))
    first_file = reload(evidence).files[0]
    same = service.update_evidence(
        worker, reload(evidence), replace(change, remove_file_ids=[first_file.id]), [upload(PDF, "rescan.pdf")]
    )
    assert (same.removed, same.already_attached) == ([], [("rescan.pdf", "certificate.pdf")])
    stored = reload(evidence)
    assert [f.id for f in stored.files][0] == first_file.id and stored.checked_at is not None
    assert len(files_on_disk(app)) == 3


def test_a_change_that_fails_after_the_lock_leaves_no_file_and_changes_nothing(app, worker, monkeypatch):
    """Between the locked row and the commit (the de-duplication of uploads, the new rows), a failure leaves
    neither a staged file nor a change: the uploads, the repeat among them too, are discarded."""
    evidence = make_certificate(worker)
    before = files_on_disk(app)

    def broken(staged):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(service, "_file_rows", broken)
    with pytest.raises(RuntimeError):
        service.update_evidence(
            worker,
            reload(evidence),
            certificate_input(title="Changed"),
            [upload(pdf_page("new"), "new.pdf"), upload(PDF, "again.pdf")],
        )
    assert files_on_disk(app) == before
    stored = reload(evidence)
    assert stored.title == "Safeguarding adults level 2" and [f.original_name for f in stored.files] == [
        "certificate.pdf"
    ]


def test_a_new_item_holds_one_copy_of_a_file_chosen_twice(app, worker):
    evidence = make_certificate(worker, uploads=[upload(PDF, "front.pdf"), upload(PDF, "front copy.pdf")])
    assert [f.original_name for f in reload(evidence).files] == ["front.pdf"]
    assert files_on_disk(app) == [reload(evidence).files[0].stored_name]


def test_a_change_names_only_the_files_it_removed(app, worker):
    """A file the form ticked but another tab removed first is not this change's to name."""
    evidence = make_certificate(
        worker, uploads=[upload(PDF, "a.pdf"), upload(pdf_page("two"), "b.pdf"), upload(pdf_page("three"), "c.pdf")]
    )
    a, b, _ = reload(evidence).files
    form_saw = reload(evidence)
    service.remove_file(worker, reload(evidence), db.session.get(EvidenceFile, a.id))  # the other tab
    saved = service.update_evidence(worker, form_saw, certificate_input(remove_file_ids=[a.id, b.id]), [])
    assert saved.removed == ["b.pdf"]
    assert [f.original_name for f in reload(evidence).files] == ["c.pdf"]


def test_a_change_replaces_a_certificates_only_file_in_one_step(app, worker):
    evidence = make_certificate(worker, uploads=[upload(PDF, "wrong.pdf")])
    wrong = reload(evidence).files[0]
    service.update_evidence(
        worker,
        reload(evidence),
        certificate_input(remove_file_ids=[wrong.id]),
        [upload(pdf_page("right"), "right.pdf")],
        today=PINNED_TODAY,
    )
    stored = reload(evidence)
    assert [f.original_name for f in stored.files] == ["right.pdf"]
    assert files_on_disk(app) == [stored.files[0].stored_name]
    assert db.session.get(EvidenceFile, wrong.id) is None


def test_removing_a_certificates_only_file_without_a_new_one_is_refused_and_writes_nothing(app, worker):
    evidence = make_certificate(worker)
    only = reload(evidence).files[0]
    before = files_on_disk(app)
    with pytest.raises(FieldError) as error:
        service.update_evidence(
            worker,
            reload(evidence),
            certificate_input(title="Changed", remove_file_ids=[only.id]),
            [],
            today=PINNED_TODAY,
        )
    assert error.value.field == "remove_file_ids"
    assert error.value.message == (
        "A training certificate needs its certificate file: choose the new file as well to replace it"
    )
    stored = reload(evidence)
    assert stored.title == "Safeguarding adults level 2"
    assert [f.id for f in stored.files] == [only.id]
    assert files_on_disk(app) == before
    # Nor with a new file that is refused: what is wrong with it is said, not "choose the new file" (found by a
    # helper: one was chosen).
    with pytest.raises(FieldError) as error:
        service.update_evidence(
            worker,
            reload(evidence),
            certificate_input(remove_file_ids=[only.id]),
            [upload(b"<html><script>x</script></html>", "right.pdf")],
            today=PINNED_TODAY,
        )
    assert set(error.value.by_field()) == {"files"}
    assert [f.id for f in reload(evidence).files] == [only.id]
    assert files_on_disk(app) == before


def test_a_change_removes_every_file_of_a_kind_that_may_have_none_and_only_its_own(app, worker):
    other_worker = make_user(Role.WORKER, tier=tier("link-worker", "link-worker"))
    theirs = make_certificate(other_worker, uploads=[upload(PDF, "theirs.pdf")])
    their_file = reload(theirs).files[0]
    observed = dict(title="Observed", occurred_on=date(2026, 5, 20), observed_by="Team lead", description="Seen")
    evidence = service.create_evidence(
        worker,
        EvidenceKind.OBSERVATION,
        EvidenceInput(**observed),
        [upload(pdf_page("a"), "a.pdf"), upload(pdf_page("b"), "b.pdf")],
    )
    ids = [f.id for f in reload(evidence).files]
    changed = EvidenceInput(**observed, remove_file_ids=[*ids, their_file.id, 999_999])
    service.update_evidence(worker, reload(evidence), changed, [])
    assert reload(evidence).files == []
    # Another item's file, named in the form, is not this change's to remove.
    assert [f.original_name for f in reload(theirs).files] == ["theirs.pdf"]
    assert files_on_disk(app) == [their_file.stored_name]


def test_replacing_a_checked_certificates_file_needs_a_new_check(app, worker, supervisor):
    from portfolio.training import service as training

    item = course("Safeguarding adults", 36)
    evidence = make_certificate(worker, uploads=[upload(PDF, "wrong.pdf")], training_item_id=item.id)
    training.check_certificate(supervisor, reload(evidence))
    assert reload(evidence).checked_at is not None
    service.update_evidence(
        worker,
        reload(evidence),
        certificate_input(remove_file_ids=[reload(evidence).files[0].id], training_item_id=item.id),
        [upload(pdf_page("right"), "right.pdf")],
        today=PINNED_TODAY,
    )
    assert reload(evidence).checked_at is None


def test_refused_update_writes_nothing(app, worker):
    evidence = make_certificate(worker)
    names = files_on_disk(app)
    with pytest.raises(FieldError) as error:
        service.update_evidence(
            worker,
            reload(evidence),
            certificate_input(title="Changed", expires_on=date(2020, 1, 1)),
            [upload(PDF, "new.pdf")],
            today=PINNED_TODAY,
        )
    assert error.value.field == "expires_on"
    stored = reload(evidence)
    assert stored.title == "Safeguarding adults level 2"
    assert len(stored.files) == 1
    assert files_on_disk(app) == names


# --- anonymity ------------------------------------------------------------------


def test_shareable_reflection_with_an_nhs_number_needs_confirmation(app, worker):
    with pytest.raises(AnonymityCheckNeeded) as error:
        make_reflection(worker, what_happened=f"I called about NHS number {NHS_NUMBER} today.")
    assert error.value.field == "confirm_anonymous"
    assert error.value.message.startswith("Check the highlighted details (1 possible NHS number)")
    assert [(f.kind, f.text) for f in error.value.findings] == [("NHS number", NHS_NUMBER)]
    assert row_counts(*EVIDENCE_MODELS) == NO_EVIDENCE


def test_confirmed_reflection_is_saved_with_the_confirmation(app, worker):
    evidence = make_reflection(worker, what_happened=f"Our team line is {NHS_NUMBER}.", confirm_anonymous=True)
    stored = reload(evidence)
    assert "943 476 5919" in stored.what_happened
    assert stored.anonymity_confirmed_at is not None


def test_a_private_reflection_is_not_checked(app, worker):
    evidence = make_reflection(worker, is_private=True, what_happened=f"NHS number {NHS_NUMBER}")
    stored = reload(evidence)
    assert stored.is_private is True
    assert stored.anonymity_confirmed_at is None


def test_other_kinds_are_checked_too(app, worker):
    # Every free-text field is checked, not only a reflection's: an observation's description is refused outright.
    data = EvidenceInput(
        title="Observed",
        occurred_on=date(2026, 5, 1),
        observed_by="My supervisor",
        description=f"NHS number {NHS_NUMBER}",
    )
    with pytest.raises(FieldError) as error:
        service.create_evidence(worker, EvidenceKind.OBSERVATION, data, today=PINNED_TODAY)
    assert error.value.field == "description"
    assert "What was observed contains 1 possible NHS number" in error.value.message
    assert db.session.scalar(select(func.count()).select_from(Evidence)) == 0


def test_editing_the_text_clears_the_confirmation(app, worker):
    evidence = make_reflection(worker, what_happened=f"Team line {NHS_NUMBER}.", confirm_anonymous=True)
    # Saving the same text keeps the confirmation without asking again.
    service.update_evidence(
        worker,
        reload(evidence),
        reflection_input(title="Renamed", what_happened=f"Team line {NHS_NUMBER}."),
        today=PINNED_TODAY,
    )
    assert reload(evidence).anonymity_confirmed_at is not None
    # Changed text that still holds the number is checked again.
    with pytest.raises(AnonymityCheckNeeded):
        service.update_evidence(
            worker, reload(evidence), reflection_input(what_happened=f"Call {NHS_NUMBER} again."), today=PINNED_TODAY
        )
    assert reload(evidence).what_happened == f"<p>Team line {NHS_NUMBER}.</p>"
    # Changed text without it is saved, and the old confirmation no longer counts.
    service.update_evidence(
        worker, reload(evidence), reflection_input(what_happened="Nothing identifying."), today=PINNED_TODAY
    )
    stored = reload(evidence)
    assert stored.what_happened == "<p>Nothing identifying.</p>"
    assert stored.anonymity_confirmed_at is None


def test_making_a_reflection_private_clears_the_confirmation(app, worker):
    evidence = make_reflection(worker, what_happened=f"Team line {NHS_NUMBER}.", confirm_anonymous=True)
    service.update_evidence(
        worker,
        reload(evidence),
        reflection_input(what_happened=f"Team line {NHS_NUMBER}.", is_private=True),
        today=PINNED_TODAY,
    )
    stored = reload(evidence)
    assert stored.is_private is True and stored.anonymity_confirmed_at is None


def test_submit_checks_anonymity(app, worker):
    evidence = make_linked(worker)
    # Text that was never checked as shareable (for example, written before the check existed).
    evidence.what_learned = f"<p>Her NHS number is {NHS_NUMBER}</p>"
    db.session.commit()

    with pytest.raises(AnonymityCheckNeeded) as error:
        service.submit(worker, reload(evidence), today=PINNED_TODAY)
    assert error.value.field == "confirm_anonymous"
    assert [f.kind for f in error.value.findings] == ["NHS number"]
    stored = reload(evidence)
    assert stored.status == EvidenceStatus.DRAFT
    assert stored.submitted_at is None and stored.anonymity_confirmed_at is None

    service.submit(worker, stored, confirm_anonymous=True, today=PINNED_TODAY)
    stored = reload(evidence)
    assert stored.status == EvidenceStatus.SUBMITTED
    assert stored.anonymity_confirmed_at is not None


def test_submit_does_not_ask_again_after_confirmation(app, worker):
    evidence = make_linked(worker, what_happened=f"Team line {NHS_NUMBER}.", confirm_anonymous=True)
    service.submit(worker, evidence, today=PINNED_TODAY)
    assert reload(evidence).status == EvidenceStatus.SUBMITTED


# --- guards -----------------------------------------------------------------------


def test_guards_answer_404_for_someone_elses_records(app, worker):
    other = make_user(Role.WORKER, tier=tier("link-worker", "link-worker"))
    mine = make_certificate(worker)
    theirs = make_certificate(other, uploads=[upload(PDF, "theirs.pdf")])
    service.link_competence(worker, mine, competence("PS-LW-01").id)
    service.link_competence(other, theirs, competence("PS-LW-01").id)
    mine, theirs = reload(mine), db.session.get(Evidence, theirs.id)

    assert service.get_evidence_or_404(mine.id, worker) is mine
    for evidence_id in (theirs.id, 999_999):
        with pytest.raises(NotFound):
            service.get_evidence_or_404(evidence_id, worker)
    assert service.get_file_or_404(mine, mine.files[0].id).id == mine.files[0].id
    assert service.get_link_or_404(mine, mine.links[0].id).id == mine.links[0].id
    for file_id in (theirs.files[0].id, 999_999):
        with pytest.raises(NotFound):
            service.get_file_or_404(mine, file_id)
    for link_id in (theirs.links[0].id, 999_999):
        with pytest.raises(NotFound):
            service.get_link_or_404(mine, link_id)


def test_only_workers_with_a_framework_keep_a_portfolio(app, frameworks):
    from werkzeug.exceptions import Forbidden

    for user in (make_user(Role.SUPERVISOR), make_user(Role.WORKER)):
        with pytest.raises(Forbidden):
            service.create_evidence(
                user,
                EvidenceKind.OTHER,
                EvidenceInput(title="T", occurred_on=PINNED_TODAY, description="D"),
                today=PINNED_TODAY,
            )
    assert row_counts(*EVIDENCE_MODELS) == NO_EVIDENCE


# --- my portfolio -----------------------------------------------------------------


def add_item(
    owner, title: str, occurred_on: date, kind=EvidenceKind.OTHER, status=EvidenceStatus.DRAFT, **columns
) -> Evidence:
    """An item of ``owner``'s, written directly: a draft, or (``status``) waiting for review as the app sends one."""
    assert status in (EvidenceStatus.DRAFT, EvidenceStatus.SUBMITTED), status
    evidence = Evidence(owner_id=owner.id, kind=kind, title=title, occurred_on=occurred_on, **columns)
    db.session.add(evidence)
    db.session.flush()
    if status == EvidenceStatus.SUBMITTED:
        send_for_review(evidence)
    db.session.commit()
    return evidence


def titles(page) -> list[str]:
    return [e.title for e in page.items]


@pytest.fixture
def portfolio(worker):
    """A small mixed portfolio, and another worker's item that must never show."""
    other = make_user(Role.WORKER, tier=tier("link-worker", "link-worker"))
    items = {
        "garden": add_item(
            worker,
            "Community garden visit",
            date(2026, 5, 10),
            EvidenceKind.REFLECTION,
            what_happened="<p>We planted BEANS together</p>",
        ),
        "cert": add_item(
            worker,
            "Safeguarding certificate",
            date(2026, 4, 1),
            EvidenceKind.CERTIFICATE,
            EvidenceStatus.SUBMITTED,
            provider="Learning Hub",
        ),
        "walk": add_item(
            worker,
            "Walking group",
            date(2026, 3, 15),
            EvidenceKind.REFLECTION,
            what_learned="<p>Beans and bread at the café</p>",
        ),
        "obs": add_item(
            worker,
            "Observed assessment",
            date(2026, 3, 15),
            EvidenceKind.OBSERVATION,
            description="<p>A holistic garden assessment</p>",
        ),
        "feedback": add_item(
            worker, "Card from a partner", date(2026, 1, 20), EvidenceKind.FEEDBACK, EvidenceStatus.SUBMITTED
        ),
    }
    add_item(other, "Their community garden", date(2026, 5, 11), EvidenceKind.REFLECTION)
    db.session.add_all(
        [
            EvidenceLink(evidence_id=items["garden"].id, competence_id=competence("PS-LW-01").id),
            EvidenceLink(evidence_id=items["cert"].id, competence_id=competence("PS-LW-01").id),
            EvidenceLink(evidence_id=items["cert"].id, competence_id=competence("PS-LW-02").id),
        ]
    )
    db.session.commit()
    return items


def test_portfolio_lists_my_items_newest_first(app, worker, portfolio):
    page = service.portfolio_page(worker, PortfolioFilters())
    # Same date: the later-added item first.
    assert titles(page) == [
        "Community garden visit",
        "Safeguarding certificate",
        "Observed assessment",
        "Walking group",
        "Card from a partner",
    ]
    assert (page.total, page.page, page.pages) == (5, 1, 1)
    assert page.link_counts == {portfolio["garden"].id: 1, portfolio["cert"].id: 2}
    assert page.file_counts == {}
    assert page.competence is None


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        pytest.param({"kind": EvidenceKind.REFLECTION}, ["Community garden visit", "Walking group"], id="kind"),
        pytest.param(
            {"status": EvidenceStatus.SUBMITTED}, ["Safeguarding certificate", "Card from a partner"], id="status"
        ),
        pytest.param(
            {"date_from": date(2026, 3, 15), "date_to": date(2026, 4, 1)},
            ["Safeguarding certificate", "Observed assessment", "Walking group"],
            id="date-range-inclusive",
        ),
        pytest.param({"date_from": date(2026, 4, 2)}, ["Community garden visit"], id="date-from"),
        pytest.param({"date_to": date(2026, 3, 14)}, ["Card from a partner"], id="date-to"),
        pytest.param({"q": "garden"}, ["Community garden visit", "Observed assessment"], id="search-title-and-text"),
        pytest.param({"q": "BEANS"}, ["Community garden visit", "Walking group"], id="search-case-insensitive"),
        pytest.param({"q": "beans café"}, ["Walking group"], id="search-every-word"),
        pytest.param({"q": "learning hub"}, ["Safeguarding certificate"], id="search-provider"),
        pytest.param({"q": "nothing-like-this"}, [], id="search-no-match"),
        pytest.param({"q": "  garden   VISIT "}, ["Community garden visit"], id="search-extra-spaces"),
        pytest.param({"kind": EvidenceKind.REFLECTION, "q": "garden"}, ["Community garden visit"], id="combined"),
    ],
)
def test_portfolio_filters(app, worker, portfolio, filters, expected):
    page = service.portfolio_page(worker, PortfolioFilters(**filters))
    assert titles(page) == expected
    assert page.total == len(expected)


def test_portfolio_filters_by_competence(app, worker, portfolio):
    target = competence("PS-LW-01")
    page = service.portfolio_page(worker, PortfolioFilters(competence_id=target.id))
    assert titles(page) == ["Community garden visit", "Safeguarding certificate"]
    assert page.competence.id == target.id
    assert titles(service.portfolio_page(worker, PortfolioFilters(competence_id=competence("PS-LW-02").id))) == [
        "Safeguarding certificate"
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("strong", ["Plain"], id="tag-names-are-not-text"),
        pytest.param("amp", [], id="entities-are-not-text"),
        pytest.param("A&E", ["Plain"], id="ampersand-as-typed"),
    ],
)
def test_portfolio_search_is_over_the_text_not_the_html(app, worker, query, expected):
    """Search is over the text people wrote, not the tags and entities the sanitiser stored around it."""
    make_reflection(
        worker, title="Group session", what_happened="It went <strong>well</strong>.", what_learned="Plan ahead."
    )
    make_reflection(
        worker, title="Plain", what_happened="The person was strong-willed; we went to A&E.", what_learned="Listen."
    )
    assert titles(service.portfolio_page(worker, PortfolioFilters(q=query))) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("lone-working", ["Lone-working visit", "Lone working policy"], id="hyphen-finds-both-spellings"),
        pytest.param("lone working", ["Lone-working visit", "Lone working policy"], id="words-find-both-spellings"),
        pytest.param("LONE-WORKING policy", ["Lone working policy"], id="every-word-still-counts"),
        pytest.param("self-care", ["Lone-working visit"], id="hyphen-in-the-text"),
        pytest.param("-", ["Lone-working visit"], id="a-hyphen-alone-as-typed"),
    ],
)
def test_portfolio_search_finds_a_hyphenated_word_however_it_was_written(app, worker, query, expected):
    """A link worker remembers the words, not whether she wrote them with a hyphen (searching.py)."""
    make_reflection(worker, title="Group session", what_happened="We met.", what_learned="Plan ahead.")
    make_reflection(worker, title="Lone working policy", what_happened="Read it.", what_learned="Call in.")
    make_reflection(
        worker, title="Lone-working visit", what_happened="A home visit on self-care.", what_learned="Plan the route."
    )
    assert sorted(titles(service.portfolio_page(worker, PortfolioFilters(q=query)))) == sorted(expected)


def test_picker_finds_a_hyphenated_statement_by_its_words(app, worker):
    evidence = make_reflection(worker)
    # The framework writes "person centred"; people often type it with a hyphen.
    for query in ("person-centred", "person centred", "Person-Centred strengths"):
        found = service.picker(worker, evidence, q=query)
        assert [row.competence.statement.split(",")[0] for row in found.items] == [
            "Ability to provide person centred support"
        ], query
    assert service.picker(worker, evidence, q="person-centred nowhere").total == 0


def test_portfolio_paginates_and_clamps_the_page(app, worker):
    start = date(2025, 1, 1)
    db.session.add_all(
        [
            Evidence(
                owner_id=worker.id,
                kind=EvidenceKind.OTHER,
                title=f"Item {n:02d}",
                occurred_on=start + timedelta(days=n),
            )
            for n in range(45)
        ]
    )
    db.session.commit()

    first = service.portfolio_page(worker, PortfolioFilters())
    assert (first.total, first.page, first.pages) == (45, 1, 3)
    assert titles(first) == [f"Item {n:02d}" for n in range(44, 24, -1)]
    second = service.portfolio_page(worker, PortfolioFilters(page=2))
    assert titles(second) == [f"Item {n:02d}" for n in range(24, 4, -1)]
    last = service.portfolio_page(worker, PortfolioFilters(page=3))
    assert titles(last) == [f"Item {n:02d}" for n in range(4, -1, -1)]
    for beyond in (4, 999):
        page = service.portfolio_page(worker, PortfolioFilters(page=beyond))
        assert page.page == 3
        assert titles(page) == titles(last)
    assert service.portfolio_page(worker, PortfolioFilters(page=0)).page == 1
    empty = service.portfolio_page(worker, PortfolioFilters(q="nothing", page=5))
    assert (empty.items, empty.total, empty.page, empty.pages) == ([], 0, 1, 1)


# --- competence map -------------------------------------------------------------


def test_competence_map_for_a_link_worker(app, worker):
    target = competence("PS-LW-01")
    make_linked(worker)  # a draft
    submitted = make_linked(worker, refs=("PS-LW-01", "PS-LW-02"))
    service.submit(worker, submitted, today=PINNED_TODAY)
    other = make_user(Role.WORKER, tier=tier("link-worker", "link-worker"))
    make_linked(other)  # not counted for this worker
    retired = competence("PS-LW-13")
    retired.retired_at = utcnow()
    db.session.commit()

    tiers = service.competence_map(worker)
    assert [t.title for t in tiers] == ["Link Worker", "Link Worker Coach", "Psychosocial Link Worker"]
    areas = [
        "Practitioner Skills",
        "Personal Development and Learning, Leadership and Supervision",
        "Professionalism and Communication",
        "Data, Information and Technical Skills",
        "Enabling Access to Assets",
    ]
    assert [a.group.name for a in tiers[0].areas] == areas
    assert [len(a.rows) for a in tiers[0].areas] == [12, 10, 9, 8, 8]  # one retired
    assert sum(len(a.rows) for t in tiers for a in t.areas) == 84
    for t in tiers:
        for area in t.areas:
            assert {row.competence.group_id for row in area.rows} == {area.group.id}
            assert {row.competence.tier.name for row in area.rows} == {t.title}
    rows = {row.competence.ref: row for t in tiers for a in t.areas for row in a.rows}
    assert "PS-LW-13" not in rows
    assert rows["PS-LW-01"].counts == {EvidenceStatus.DRAFT: 1, EvidenceStatus.SUBMITTED: 1}
    assert rows["PS-LW-01"].total == 2
    assert rows["PS-LW-02"].counts == {EvidenceStatus.SUBMITTED: 1}
    assert rows["PS-LW-03"].counts == {} and rows["PS-LW-03"].total == 0
    assert rows["PS-LW-01"].competence.id == target.id


def test_competence_map_for_skills_for_health_groups_by_section(app, frameworks):
    worker = make_user(Role.WORKER, tier=tier("sfh-senior-engagement-worker", "senior-engagement-worker"))
    evidence = make_reflection(worker)
    service.link_competence(worker, evidence, competence("CORE-01", "sfh-senior-engagement-worker").id)

    sections = service.competence_map(worker)
    assert [s.title for s in sections] == ["Core competences", "Role-specific competences"]
    assert [sum(len(a.rows) for a in s.areas) for s in sections] == [20, 40]
    for section in sections:
        for area in section.areas:
            assert area.group.parent_id is None  # grouped by the top-level principle
            assert {row.competence.section.label for row in area.rows} == {section.title}
    assert sections[0].areas[0].group.name == "1. Communication"
    first = sections[0].areas[0].rows[0]
    assert first.competence.ref == "CORE-01" and first.counts == {EvidenceStatus.DRAFT: 1}


# --- the competence picker ------------------------------------------------------------


def test_picker_filters_by_text_area_and_tier(app, worker):
    evidence = make_reflection(worker)
    found = service.picker(worker, evidence, q="SAFEGUARDING vulnerable")
    assert found.total == 1
    assert [r.competence.statement for r in found.items] == [
        "Demonstrate an understanding of safeguarding vulnerable adults"
    ]
    assert found.items[0].group.name == "Personal Development and Learning, Leadership and Supervision"
    assert found.items[0].tier.name == "Link Worker"

    # Words from the area's name match too.
    assert service.picker(worker, evidence, q="enabling access").total == 8 + 3

    area = found.items[0].group
    found = service.picker(worker, evidence, group_id=area.id, per_page=100)
    assert found.total == 10 + 3 + 4
    assert {r.group.id for r in found.items} == {area.id}

    coach = tier("link-worker", "link-worker-coach")
    found = service.picker(worker, evidence, tier_id=coach.id, per_page=100)
    assert found.total == 20
    assert {r.tier.id for r in found.items} == {coach.id}

    found = service.picker(worker, evidence, group_id=area.id, tier_id=coach.id)
    assert found.total == 3
    assert all(r.tier.id == coach.id and r.group.id == area.id for r in found.items)

    found = service.picker(worker, evidence, q="zzzz")
    assert (found.items, found.total, found.to_link) == ([], 0, 0)


def test_picker_puts_the_next_tier_first_then_the_current_then_the_rest(app, worker):
    """A Link Worker aims at Link Worker Coach: its statements first, then their own tier's, then the one beyond."""
    evidence = make_reflection(worker)
    everything = service.picker(worker, evidence, per_page=100)
    assert everything.total == 85 and everything.pages == 1
    tiers = [r.tier.slug for r in everything.items]
    coach, own = tiers.count("link-worker-coach"), tiers.count("link-worker")
    assert tiers == ["link-worker-coach"] * coach + ["link-worker"] * own + ["psychosocial-link-worker"] * (
        85 - coach - own
    )
    coach_refs = [c.ref for c in competences("link-worker", "link-worker-coach")]
    assert [r.competence.ref for r in everything.items[:coach]] == coach_refs  # framework order within a tier

    # A Psychosocial Link Worker is at the top: their own tier first, then the others in framework order.
    top = make_user(Role.WORKER, tier=tier("link-worker", "psychosocial-link-worker"))
    theirs = make_reflection(top)
    first = service.picker(top, theirs, per_page=100).items
    assert first[0].tier.slug == "psychosocial-link-worker"
    assert [r.tier.slug for r in first][-1] == "link-worker-coach"


def test_picker_pages_ten_at_a_time(app, worker):
    evidence = make_reflection(worker)
    first = service.picker(worker, evidence)
    assert (first.total, first.number, first.pages, len(first.items)) == (85, 1, 9, 10)
    second = service.picker(worker, evidence, page=2)
    assert (second.first, second.last) == (11, 20)
    assert not {r.competence.id for r in first.items} & {r.competence.id for r in second.items}
    last = service.picker(worker, evidence, page=99)  # past the end: the last page
    assert (last.number, len(last.items)) == (9, 5)
    assert first.linkable_ids == [r.competence.id for r in first.items]


def test_picker_lists_linked_competences_last_and_does_not_count_them(app, worker):
    coach = tier("link-worker", "link-worker-coach")
    evidence = make_reflection(worker)
    first_two = service.picker(worker, evidence, tier_id=coach.id).items[:2]
    for r in first_two:
        service.link_competence(worker, evidence, r.competence.id)
    found = service.picker(worker, reload(evidence), tier_id=coach.id, per_page=100)
    assert (found.total, found.linked, found.to_link) == (20, 2, 18)
    assert [r.competence.id for r in found.items[-2:]] == [r.competence.id for r in first_two]
    assert [r.linked for r in found.items] == [False] * 18 + [True] * 2
    assert len(found.linkable_ids) == 18


def test_picker_shows_evidence_counts_and_linked_flag(app, worker):
    make_linked(worker, refs=("PS-LW-01", "PS-LW-02"))
    second = make_linked(worker, refs=("PS-LW-01",))
    service.submit(worker, second, today=PINNED_TODAY)
    other = make_user(Role.WORKER, tier=tier("link-worker", "link-worker"))
    make_linked(other, refs=("PS-LW-01", "PS-LW-03"))
    current = make_reflection(worker)
    service.link_competence(worker, current, competence("PS-LW-02").id)

    own = tier("link-worker", "link-worker")
    results = service.picker(worker, reload(current), tier_id=own.id, q="", per_page=100).items
    shown = ("PS-LW-01", "PS-LW-02", "PS-LW-03", "PS-LW-04")
    summary = {r.competence.ref: (r.evidence_count, r.linked) for r in results if r.competence.ref in shown}
    assert summary == {
        "PS-LW-01": (2, False),
        "PS-LW-02": (2, True),
        "PS-LW-03": (0, False),
        "PS-LW-04": (0, False),
    }


def test_a_refused_date_leaves_the_kinds_own_rules_to_say_theirs(app, worker, supervisor):
    """A kind's rules read the date as given: none (refused) is no 500, and a date in the future is still the
    one an expiry must follow."""
    with pytest.raises(FieldError) as error:
        make_certificate(worker, occurred_on=None, expires_on=date(2026, 3, 1))
    assert error.value.by_field() == {"occurred_on": "Enter the date"}
    with pytest.raises(FieldError) as error:
        make_certificate(worker, occurred_on=PINNED_TODAY + timedelta(days=10), expires_on=PINNED_TODAY)
    assert error.value.by_field() == {
        "occurred_on": "The date must be today or in the past",
        "expires_on": "The expiry date must be the same as or after the date completed",
    }
    note = EvidenceInput(title="", occurred_on=None, description="Caseload.", supervisor_id=supervisor.id)
    with pytest.raises(FieldError) as error:
        service.create_evidence(worker, EvidenceKind.SUPERVISION_NOTE, note, today=PINNED_TODAY)
    assert error.value.by_field() == {"occurred_on": "Enter the date"}
    assert row_counts(*EVIDENCE_MODELS) == NO_EVIDENCE and files_on_disk(app) == []
