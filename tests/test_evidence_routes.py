"""My portfolio through the routes: forms for each kind, uploads, links, filters, submission, access and query counts."""

from __future__ import annotations

import hashlib
import html
import io
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select, update
from werkzeug.datastructures import FileStorage
from wtforms import HiddenField, PasswordField

from portfolio.evidence import routes as evidence_routes
from portfolio.evidence import service
from portfolio.evidence.service import EvidenceInput
from portfolio.extensions import db
from portfolio.models import (
    ActionOwner,
    Competence,
    CompetenceDecision,
    CompetenceGroup,
    Evidence,
    EvidenceFile,
    EvidenceKind,
    EvidenceLink,
    EvidenceStatus,
    FeedbackSource,
    Role,
)
from tests.factories import (
    EVENT_DAY,
    EVIDENCE_MODELS,
    NHS_NUMBER,
    NO_EVIDENCE,
    PDF,
    assign,
    competence,
    competences,
    link_draft,
    make_user,
    meet,
    not_accept,
    pdf_page,
    send_for_review,
    supervision_note,
    tier,
)
from tests.factories import service_item as make_item  # an item made through the service
from tests.pages import (
    WRONG_KIND,
    assert_error_shown,
    checkboxes,
    date_fields,
    duplicate_ids,
    error_next_to,
    error_summary,
    escaped_markup,
    files_on_disk,
    map_row,
    options,
    page_title,
    reload,
    row_counts,
    selected_options,
    status_line,
    status_of,
    summary_links,
    swapped_parts,
    table_rows,
    text_of,
    ticked,
    words,
)

# --- helpers --------------------------------------------------------------------


def only_evidence() -> Evidence:
    [evidence] = db.session.scalars(select(Evidence)).all()
    return evidence


@pytest.fixture
def worker(worker, auth):
    """The kit's worker, signed in."""
    auth.login_as(worker)
    return worker


@pytest.fixture
def other_worker(app, frameworks):
    return make_user(Role.WORKER, name="Olive Other", tier=tier("link-worker", "link-worker"))


# --- the forms for each kind ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "label", "fields"),
    [
        (
            "reflection",
            "Reflective account",
            [
                "title",
                "occurred_on-day",
                "what_happened",
                "what_learned",
                "practice_change",
                "next_steps",
                "visibility",
                "files",
            ],
        ),
        (
            "certificate",
            "Training certificate",
            ["title", "provider", "occurred_on-day", "expires_on-day", "cpd_hours", "files"],
        ),
        (
            "supervision-note",
            "Supervision note",
            [
                "supervisor_id",
                "occurred_on-day",
                "title",
                "description",
                "actions-0-description",
                "actions-0-owner",
                "actions-2-due_on-day",
                "files",
            ],
        ),
        ("observation", "Observation of practice", ["title", "occurred_on-day", "observed_by", "description", "files"]),
        (
            "feedback",
            "Feedback",
            ["title", "occurred_on-day", "feedback_source", "feedback_from", "description", "files"],
        ),
        ("other", "Other evidence", ["title", "occurred_on-day", "description", "files"]),
    ],
)
def test_each_kind_has_its_form(client, worker, supervisor, kind, label, fields):
    response = client.get(f"/portfolio/new/{kind}", follow_redirects=True)
    assert response.status_code == 200
    page = text_of(response)
    assert f'<span class="nhsuk-caption-l">{label}</span>' in page
    assert re.search(rf"<h1>Add .*{label.lower()}</h1>", page)
    assert 'enctype="multipart/form-data"' in page
    for name in fields:
        assert f'name="{name}"' in page, name
    # Fields of other kinds are not offered.
    others = {"provider", "feedback_from", "supervisor_id", "what_happened", "cpd_hours"} - set(fields)
    for name in others:
        assert f'name="{name}"' not in page, name


@pytest.mark.parametrize(
    ("kind", "heading"),
    [
        ("reflection", "Add a reflective account"),
        ("certificate", "Add a training certificate"),
        ("supervision-note", "Add a supervision note"),
        ("observation", "Add an observation of practice"),
        ("feedback", "Add feedback"),
        ("other", "Add other evidence"),
    ],
)
def test_form_heading_reads_correctly(client, worker, kind, heading):
    page = text_of(client.get(f"/portfolio/new/{kind}", follow_redirects=True))
    assert f"<h1>{heading}</h1>" in page
    assert f"<title>{heading} – Evidence portfolio</title>" in page


def test_form_labels_say_what_each_kind_asks(client, worker, supervisor):
    certificate = text_of(client.get("/portfolio/new/certificate", follow_redirects=True))
    for label in (
        "Course title",
        "Training provider",
        "Date completed",
        "Expiry or renewal date (optional)",
        "CPD hours (optional)",
        "Certificate",
    ):
        assert label in certificate
    note = text_of(client.get("/portfolio/new/supervision-note", follow_redirects=True))
    assert options(note, "supervisor_id") == [
        ("0", "Choose a supervisor"),
        (str(supervisor.id), f"Sam Supervisor ({supervisor.email})"),
    ]
    assert "Actions agreed" in note and "Action 3" in note
    feedback = text_of(client.get("/portfolio/new/feedback", follow_redirects=True))
    for label in ("A colleague", "A partner agency", "A person supported", "Their name or role"):
        assert label in feedback


def test_unknown_kind_is_404(client, worker):
    assert client.get("/portfolio/new/diary", follow_redirects=True).status_code == 404


def valid_post(kind: str, supervisor_id: int | None = None) -> dict:
    day = date_fields("occurred_on", EVENT_DAY)
    return {
        "reflection": {
            "title": "First group session",
            **day,
            "what_happened": "I ran the healthy eating group.",
            "what_learned": "Quiet members need an invitation.",
            "practice_change": "",
            "next_steps": "Ask for feedback.",
            "visibility": "shareable",
        },
        "certificate": {
            "title": "Safeguarding adults level 2",
            "provider": "NHS Learning Hub",
            **day,
            **date_fields("expires_on", date(2029, 3, 10)),
            "cpd_hours": "3.5",
            "files": (io.BytesIO(PDF), "cert.pdf"),
        },
        "supervision-note": {
            "supervisor_id": str(supervisor_id),
            **day,
            "title": "",
            "description": "Caseload and boundaries.",
            "actions-0-description": "Read the lone-working policy",
            "actions-0-owner": "worker",
            **date_fields("actions-0-due_on", date(2026, 4, 1)),
            "actions-1-description": "Book safeguarding training",
            "actions-1-owner": "supervisor",
            **date_fields("actions-1-due_on", date(2026, 5, 1)),
            "actions-2-description": "",
            "actions-2-owner": "",
            **date_fields("actions-2-due_on", None),
        },
        "observation": {
            "title": "Observed group session",
            **day,
            "observed_by": "Priya Shah, practice lead",
            "description": "She watched me.",
        },
        "feedback": {
            "title": "Card from a partner",
            **day,
            "feedback_source": "partner-agency",
            "feedback_from": "Citizens Advice adviser",
            "description": "Thank you for the referral.",
        },
        "other": {"title": "Community asset map", **day, "description": "A map of local groups."},
    }[kind]


def post_form(client, auth, path: str, data: dict, **kwargs):
    return client.post(
        path, data={"csrf_token": auth.token(path), **data}, content_type="multipart/form-data", **kwargs
    )


def test_words_in_angle_brackets_are_shown_as_typed(app, client, auth, worker):
    typed = "We agreed the steps <together> & wrote them down."
    data = valid_post("reflection") | {"what_happened": typed}
    assert post_form(client, auth, "/portfolio/new/reflection", data).status_code == 303
    evidence = only_evidence()
    assert evidence.what_happened == "<p>We agreed the steps &lt;together&gt; &amp; wrote them down.</p>"
    page = client.get(f"/portfolio/{evidence.id}")
    assert typed in words(page.text) and escaped_markup(page.text) == []
    edit = client.get(f"/portfolio/{evidence.id}/edit").text
    assert f">{html.escape(typed, quote=False)}</textarea>" in edit  # the same words to change


@pytest.mark.parametrize("kind", ["reflection", "certificate", "supervision-note", "observation", "feedback", "other"])
def test_valid_post_creates_a_draft_and_goes_to_its_links(app, client, auth, worker, supervisor, kind):
    response = post_form(client, auth, f"/portfolio/new/{kind}", valid_post(kind, supervisor.id))
    assert response.status_code == 303
    evidence = only_evidence()
    assert response.headers["Location"].endswith(f"/portfolio/{evidence.id}/links")
    assert evidence.owner_id == worker.id
    assert evidence.kind == EvidenceKind(kind)
    assert evidence.status == EvidenceStatus.DRAFT
    assert evidence.occurred_on == EVENT_DAY

    if kind == "reflection":
        assert evidence.title == "First group session"
        assert evidence.what_happened == "<p>I ran the healthy eating group.</p>"
        assert evidence.practice_change == ""
        assert evidence.is_private is False
    elif kind == "certificate":
        assert (evidence.provider, evidence.expires_on, evidence.cpd_hours) == (
            "NHS Learning Hub",
            date(2029, 3, 10),
            Decimal("3.50"),
        )
        [stored] = evidence.files
        assert (stored.original_name, stored.content_type, stored.size) == ("cert.pdf", "application/pdf", len(PDF))
        assert stored.sha256 == hashlib.sha256(PDF).hexdigest()
        assert files_on_disk(app) == [stored.stored_name]
        assert (Path(app.config["UPLOAD_FOLDER"]) / stored.stored_name).read_bytes() == PDF
    elif kind == "supervision-note":
        assert evidence.title == "Supervision with Sam Supervisor"
        assert evidence.supervisor_id == supervisor.id
        assert [(a.description, a.owner, a.due_on) for a in evidence.actions] == [
            ("Read the lone-working policy", ActionOwner.WORKER, date(2026, 4, 1)),
            ("Book safeguarding training", ActionOwner.SUPERVISOR, date(2026, 5, 1)),
        ]
    elif kind == "feedback":
        assert (evidence.feedback_source, evidence.feedback_from) == (
            FeedbackSource.PARTNER_AGENCY,
            "Citizens Advice adviser",
        )
    else:
        assert evidence.description.startswith("<p>")

    page = text_of(client.get(response.headers["Location"]))
    # A supervision note is not a draft: its supervisor is asked to confirm it at once.
    assert ("is asked to confirm it" if kind == "supervision-note" else "saved as a draft") in page
    assert "Link competences" in page


def test_a_private_reflection_through_the_form(client, auth, worker):
    data = {**valid_post("reflection"), "visibility": "private", "what_happened": f"NHS number {NHS_NUMBER}"}
    response = post_form(client, auth, "/portfolio/new/reflection", data)
    assert response.status_code == 303
    evidence = only_evidence()
    assert evidence.is_private is True and evidence.anonymity_confirmed_at is None


def test_script_and_htmx_attributes_are_refused_and_never_echoed_as_markup(client, auth, worker):
    typed = '<p hx-post="/portfolio/1/delete" hx-trigger="load" onmouseover="x()">Hello<script>alert(1)</script></p>'
    response = post_form(
        client, auth, "/portfolio/new/reflection", {**valid_post("reflection"), "what_happened": typed}
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Remove the code from this text" in page
    # What was typed comes back inside the textarea as text, never as live markup.
    assert typed not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert row_counts(*EVIDENCE_MODELS) == NO_EVIDENCE


INVALID = [
    pytest.param("reflection", {"title": ""}, "title", "Enter a title", None, id="reflection-missing-title"),
    pytest.param(
        "reflection",
        date_fields("occurred_on", date.today() + timedelta(days=1)),
        "occurred_on",
        "The date must be today or in the past",
        "occurred_on-day",
        id="reflection-future-date",
    ),
    pytest.param(
        "reflection",
        date_fields("occurred_on", date(1975, 6, 1)),
        "occurred_on",
        "The date must be on or after 1 January 1980",
        "occurred_on-day",
        id="reflection-date-before-1980",
    ),
    pytest.param(
        "certificate",
        date_fields("occurred_on", date(1979, 12, 31)),
        "occurred_on",
        "The date must be on or after 1 January 1980",
        "occurred_on-day",
        id="certificate-completed-before-1980",
    ),
    pytest.param(
        "reflection",
        {"what_happened": "<p>  </p>"},
        "what_happened",
        "Describe what happened",
        None,
        id="reflection-blank-text",
    ),
    pytest.param(
        "certificate",
        {"files": (io.BytesIO(b""), "")},
        "files",
        "Select the certificate file",
        None,
        id="certificate-no-file",
    ),
    pytest.param(
        "certificate",
        {"files": (io.BytesIO(b"<html><body>not a certificate</body></html>"), "cert.pdf")},
        "files",
        WRONG_KIND,
        None,
        id="certificate-wrong-kind-of-file",
    ),
    pytest.param(
        "certificate",
        {"files": (io.BytesIO(b""), "empty.pdf")},
        "files",
        "The selected file is empty",
        None,
        id="certificate-empty-file",
    ),
    pytest.param(
        "certificate",
        date_fields("expires_on", date(2026, 3, 9)),
        "expires_on",
        "The expiry date must be the same as or after the date completed",
        "expires_on-day",
        id="certificate-expiry-before-completion",
    ),
    pytest.param(
        "certificate",
        {"cpd_hours": "1000.5"},
        "cpd_hours",
        "CPD hours must be between 0 and 1,000",
        None,
        id="certificate-hours",
    ),
    pytest.param(
        "certificate",
        {"cpd_hours": "abc"},
        "cpd_hours",
        "Enter CPD hours as a number, like 7.5",
        None,
        id="certificate-hours-not-a-number",
    ),
    pytest.param(
        "certificate",
        {"occurred_on-day": "31", "occurred_on-month": "2"},
        "occurred_on",
        "Date completed must be a real date",
        "occurred_on-day",
        id="certificate-not-a-real-date",
    ),
    pytest.param(
        "supervision-note",
        {"actions-1-owner": ""},
        "actions-1-owner",
        "Choose who owns the action",
        None,
        id="supervision-half-filled-action",
    ),
    pytest.param(
        "supervision-note",
        {"supervisor_id": "0"},
        "supervisor_id",
        "Choose the supervisor the session was with",
        None,
        id="supervision-no-supervisor",
    ),
    pytest.param(
        "feedback",
        {"feedback_from": ""},
        "feedback_from",
        "Enter who gave the feedback",
        None,
        id="feedback-missing-giver",
    ),
    pytest.param(
        "observation",
        {"description": ""},
        "description",
        "Describe what was observed",
        None,
        id="observation-missing-text",
    ),
    pytest.param(
        "observation",
        {"observed_by": "  "},
        "observed_by",
        "Enter who observed you",
        None,
        id="observation-missing-observer",
    ),
]


@pytest.mark.parametrize(("kind", "changes", "field", "message", "anchor"), INVALID)
def test_invalid_post_shows_the_error_keeps_the_values_and_writes_nothing(
    app, client, auth, worker, supervisor, kind, changes, field, message, anchor
):
    data = {**valid_post(kind, supervisor.id), **changes}
    response = post_form(client, auth, f"/portfolio/new/{kind}", data)
    page = assert_error_shown(response, field, message, anchor=anchor)
    # What was typed is still there.
    if kind == "supervision-note":
        assert 'value="Read the lone-working policy"' in page
        assert 'value="Book safeguarding training"' in page
    elif field != "title":
        assert f'value="{data["title"]}"' in page
    if kind == "reflection":
        assert "Quiet members need an invitation." in page
    if kind == "certificate":
        assert 'value="NHS Learning Hub"' in page
    assert row_counts(*EVIDENCE_MODELS) == NO_EVIDENCE
    assert files_on_disk(app) == []


def test_every_half_filled_action_row_is_named_in_one_answer(app, client, auth, worker, supervisor):
    """Found by a review: the rows were checked one by one and the first problem stopped the rest."""
    data = valid_post("supervision-note", supervisor.id) | {
        "actions-0-owner": "",
        "actions-1-description": "",
        **date_fields("actions-1-due_on", EVENT_DAY - timedelta(days=1)),
    }
    response = post_form(client, auth, "/portfolio/new/supervision-note", data)
    assert response.status_code == 422
    page = text_of(response)
    expected = {
        "actions-0-owner": "Choose who owns the action",
        "actions-1-description": "Enter the action",
        "actions-1-due_on": "The due date must be the same as or after the date of the session",
    }
    for field, message in expected.items():
        assert error_next_to(page, field) == f"Error: {message}", field
    assert sorted(message for _, message in error_summary(page)) == sorted(expected.values())
    assert row_counts(*EVIDENCE_MODELS) == NO_EVIDENCE


@pytest.mark.parametrize("hours", ["abc", "1,5", "NaN", "sNaN", "Infinity", "-Infinity"])
def test_hours_that_are_not_a_number_get_one_message_not_two(client, auth, worker, hours):
    """Not WTForms' "Not a valid decimal value." followed by a range the person never reached; and the words
    Python's Decimal reads as numbers ("sNaN" made the range rule fail with a 500) are not numbers here."""
    response = post_form(client, auth, "/portfolio/new/certificate", {**valid_post("certificate"), "cpd_hours": hours})
    assert response.status_code == 422
    page = text_of(response)
    assert error_next_to(page, "cpd_hours") == "Error: Enter CPD hours as a number, like 7.5"
    assert [message for _, message in error_summary(page)] == ["Enter CPD hours as a number, like 7.5"]
    assert f'name="cpd_hours" type="text" value="{hours}"' in page  # what was typed, to correct


@pytest.mark.parametrize(
    "changes, expected",
    [
        (  # the form refuses the hours; the service the date, the file and the competences
            {
                "cpd_hours": "three",
                **date_fields("occurred_on", date.today() + timedelta(days=1)),
                **date_fields("expires_on", None),
                "files": [],
                "action": "send",
            },
            {
                "occurred_on-day": "The date must be today or in the past",
                "cpd_hours": "Enter CPD hours as a number, like 7.5",
                "files": "Select the certificate file",
                "competence_ids": "Tick at least one competence this evidence shows, or choose “Save the certificate” and link competences later",
            },
        ),
        (  # the form refuses the hours; the service the expiry, and the file by its first bytes (not received:
            # it is chosen again anyway). Found by a helper: a wrong file was said only once all else was right.
            {
                "cpd_hours": "three",
                **date_fields("expires_on", EVENT_DAY - timedelta(days=1)),
                "files": (io.BytesIO(b"not a certificate"), "cert.pdf"),
            },
            {
                "expires_on-day": "The expiry date must be the same as or after the date completed",
                "cpd_hours": "Enter CPD hours as a number, like 7.5",
                "files": "The selected file must be a PDF, PNG, JPEG or DOCX",
            },
        ),
        (  # an empty file, the same
            {"cpd_hours": "three", "files": (io.BytesIO(b""), "cert.pdf")},
            {"cpd_hours": "Enter CPD hours as a number, like 7.5", "files": "The selected file is empty"},
        ),
        (  # a right file among the problems: nothing said of it but that it is to be chosen again
            {"cpd_hours": "three", "files": (io.BytesIO(PDF), "cert.pdf")},
            {"cpd_hours": "Enter CPD hours as a number, like 7.5"},
        ),
    ],
)
def test_a_new_certificate_names_every_problem_in_one_answer(app, client, auth, worker, changes, expected):
    """Not one batch a submission (the form's own rules first, then the service's): a helper needed six."""
    response = post_form(client, auth, "/portfolio/new/certificate", {**valid_post("certificate"), **changes})
    assert response.status_code == 422
    page = text_of(response)
    assert {href: message for message, href in summary_links(page).items()} == expected
    assert 'value="three"' in page  # what was typed, to correct
    assert row_counts(*EVIDENCE_MODELS) == NO_EVIDENCE
    assert files_on_disk(app) == []


def test_a_form_shown_again_says_which_files_to_choose_again(app, client, auth, worker):
    """A browser never fills a file box in again: the page names the files that were not kept."""
    data = {**valid_post("other"), "title": "", "files": [(io.BytesIO(PDF), "plan.pdf"), (io.BytesIO(PDF), "map.pdf")]}
    response = post_form(client, auth, "/portfolio/new/other", data)
    assert response.status_code == 422
    page = text_of(response)
    assert "Choose plan.pdf, map.pdf again: files are not kept when this page is shown again." in page
    assert 'aria-describedby="files-hint files-again"' in page
    assert files_on_disk(app) == [] and row_counts(*EVIDENCE_MODELS) == NO_EVIDENCE
    # A first visit, or a form sent without files, says nothing of the kind.
    assert "again: files are not kept" not in text_of(client.get("/portfolio/new/other", follow_redirects=True))
    data = {**valid_post("other"), "title": ""}
    assert "again: files are not kept" not in text_of(post_form(client, auth, "/portfolio/new/other", data))


def test_suggesting_competences_without_javascript_says_which_files_to_choose_again(app, client, auth, worker):
    """Found by a helper: with JavaScript off, "Suggest competences" brought the form back without the file
    chosen and said nothing, so a reflection was then saved with no attachment."""
    data = {**valid_post("reflection"), "action": "suggest", "files": [(io.BytesIO(PDF), "cert.pdf")]}
    response = post_form(client, auth, "/portfolio/new/reflection", data)
    assert response.status_code == 200
    page = text_of(response)
    assert "Choose cert.pdf again: files are not kept when this page is shown again." in page
    assert files_on_disk(app) == [] and row_counts(*EVIDENCE_MODELS) == NO_EVIDENCE


def test_a_change_from_the_check_page_comes_back_to_it(client, auth, worker):
    evidence = make_item(worker, EvidenceKind.OBSERVATION)
    service.link_competence(worker, evidence, competence("PS-LW-01").id)
    check = text_of(client.get(f"/portfolio/{evidence.id}/submit"))
    assert f'href="/portfolio/{evidence.id}/edit?back=check"' in check

    page = text_of(client.get(f"/portfolio/{evidence.id}/edit?back=check"))
    assert f'action="/portfolio/{evidence.id}/edit?back=check"' in page
    back = re.search(r'<a\s[^>]*class="nhsuk-back-link"[^>]*>|<a\s[^>]*href="[^"]*"[^>]*class="nhsuk-back-link"', page)
    assert back and f'href="/portfolio/{evidence.id}/submit"' in back.group(0)
    data = {**valid_post("observation"), "title": "Observed group session, week 2"}
    response = post_form(client, auth, f"/portfolio/{evidence.id}/edit?back=check", data)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/portfolio/{evidence.id}/submit")
    assert reload(evidence).title == "Observed group session, week 2"
    # Any other value is not an address to go to: the item's page, as from anywhere else.
    response = post_form(client, auth, f"/portfolio/{evidence.id}/edit?back=https://example.org", data)
    assert response.headers["Location"].endswith(f"/portfolio/{evidence.id}")


def test_a_wrong_kind_of_file_among_good_ones_leaves_nothing(app, client, auth, worker):
    data = {
        **valid_post("observation"),
        "files": [(io.BytesIO(PDF), "notes.pdf"), (io.BytesIO(b"MZ\x90\x00 executable"), "photo.jpg")],
    }
    response = post_form(client, auth, "/portfolio/new/observation", data)
    page = assert_error_shown(response, "files", WRONG_KIND)
    assert "again: files are not kept" not in page  # the error says what to do with them
    assert row_counts(*EVIDENCE_MODELS) == NO_EVIDENCE
    assert files_on_disk(app) == []


def test_several_files_through_the_form(app, client, auth, worker):
    data = {**valid_post("other"), "files": [(io.BytesIO(PDF), "one.pdf"), (io.BytesIO(PDF + b"\n"), "two.pdf")]}
    assert post_form(client, auth, "/portfolio/new/other", data).status_code == 303
    assert [f.original_name for f in only_evidence().files] == ["one.pdf", "two.pdf"]
    assert len(files_on_disk(app)) == 2


def test_a_file_chosen_twice_on_a_new_item_is_added_once_and_said(app, client, auth, worker):
    """The same scan chosen under two names: one is attached, and the notice names the other (it was dropped
    without a word), whether the item is saved or sent next."""
    scan = pdf_page("the scan")
    data = {**valid_post("other"), "files": [(io.BytesIO(scan), "scan.pdf"), (io.BytesIO(scan), "scan (1).pdf")]}
    response = post_form(client, auth, "/portfolio/new/other", data)
    assert response.status_code == 303
    assert [f.original_name for f in only_evidence().files] == ["scan.pdf"]
    assert len(files_on_disk(app)) == 1
    page = words(text_of(client.get(response.headers["Location"])))
    assert "Other evidence saved as a draft; scan (1).pdf not added: it is the same file as scan.pdf" in page

    sent = {
        **valid_post("other"),
        "title": "Leaflet",
        "files": [(io.BytesIO(scan), "leaflet.pdf"), (io.BytesIO(scan), "leaflet.pdf")],
        "competence_ids": str(competence("PS-LW-01").id),
        "action": "send",
    }
    response = post_form(client, auth, "/portfolio/new/other", sent)
    assert response.status_code == 303 and response.headers["Location"].endswith("/submit")
    page = words(text_of(client.get(response.headers["Location"])))
    assert "leaflet.pdf chosen twice, attached once" in page
    [leaflet] = db.session.scalars(select(Evidence).where(Evidence.title == "Leaflet")).all()
    assert [f.original_name for f in leaflet.files] == ["leaflet.pdf"]


def test_supervisor_not_assigned_on_the_session_date(client, auth, worker):
    later = make_user(Role.SUPERVISOR, name="Later Supervisor")
    assign(later, worker, starts_on=date(2026, 6, 1))
    data = {**valid_post("supervision-note", later.id)}
    response = post_form(client, auth, "/portfolio/new/supervision-note", data)
    page = assert_error_shown(
        response, "supervisor_id", "Choose a supervisor who was supervising you on the date of the session"
    )
    assert selected_options(page, "supervisor_id") == [str(later.id)]
    assert row_counts(*EVIDENCE_MODELS) == NO_EVIDENCE


def test_a_supervision_note_says_it_goes_to_its_supervisor_not_that_it_is_a_draft(client, auth, worker, supervisor):
    """Found by a helper: "Save as draft" on a note sent it to the supervisor at once (as designed: they confirm
    the record), while the page went on offering to "Delete this draft"."""
    form = text_of(client.get("/portfolio/new/supervision-note", follow_redirects=True))
    assert "Saving the note asks the supervisor you chose to confirm it as an accurate record." in form
    assert ">Save the note</button>" in form and "Save as draft" not in form
    assert "Saving the note asks" not in text_of(
        client.get("/portfolio/new/reflection", follow_redirects=True)
    )  # other kinds: drafts

    response = post_form(client, auth, "/portfolio/new/supervision-note", valid_post("supervision-note", supervisor.id))
    assert response.status_code == 303
    note = only_evidence()
    shown = text_of(client.get(f"/portfolio/{note.id}"))
    assert "Supervision note saved: Sam Supervisor is asked to confirm it" in shown
    assert "Delete this note" in shown and "Delete this draft" not in shown
    assert "saved as a draft" not in shown
    deleting = text_of(client.get(f"/portfolio/{note.id}/delete"))
    assert "The note will be deleted." in words(deleting), words(deleting)[-900:]  # linked to nothing yet
    assert "Delete note" in words(deleting)


def test_missing_csrf_token_is_refused(client, worker):
    response = client.post("/portfolio/new/other", data=valid_post("other"))
    assert response.status_code == 400
    assert "Your form has expired" in text_of(response)
    assert row_counts(*EVIDENCE_MODELS) == NO_EVIDENCE


# --- the anonymity check ----------------------------------------------------------------


def test_anonymity_check_highlights_then_confirming_saves(client, auth, worker):
    data = {**valid_post("reflection"), "what_learned": f"Her NHS number was {NHS_NUMBER}, which I noted."}
    response = post_form(client, auth, "/portfolio/new/reflection", data)
    page = assert_error_shown(response, "confirm_anonymous", "Check the highlighted details (1 possible NHS number)")
    assert "Check for details that could identify someone" in page
    assert f'<mark class="anonymity-flag" data-kind="NHS number">{NHS_NUMBER}</mark>' in page
    assert "(possible NHS number)" in page
    assert 'name="confirm_anonymous"' in page
    assert "The highlighted details are not about a person I support" in page
    assert f"Her NHS number was {NHS_NUMBER}, which I noted." in page  # the typed text is kept
    assert row_counts(*EVIDENCE_MODELS) == NO_EVIDENCE

    response = post_form(client, auth, "/portfolio/new/reflection", {**data, "confirm_anonymous": "y"})
    assert response.status_code == 303
    evidence = only_evidence()
    assert NHS_NUMBER in evidence.what_learned
    assert evidence.anonymity_confirmed_at is not None


# --- the evidence page and downloads ------------------------------------------------------


def test_each_file_of_an_item_has_its_own_remove_form_and_no_id_twice(client, auth, worker):
    evidence = make_item(
        worker, EvidenceKind.OBSERVATION, uploads=[("notes.pdf", PDF), ("more notes.pdf", pdf_page("more"))]
    )
    page = text_of(client.get(f"/portfolio/{evidence.id}"))
    assert duplicate_ids(page) == []
    removes = re.findall(
        r'<form method="post" action="(/portfolio/\d+/files/\d+/delete)"[^>]*>\s*'
        r'<input type="hidden" name="csrf_token" value="([^"]+)">',
        page,
    )
    assert len(removes) == 2
    action, token = removes[1]
    assert client.post(action, data={"csrf_token": token}).status_code == 303
    assert [f.original_name for f in reload(evidence).files] == ["notes.pdf"]


def test_evidence_page_shows_text_files_and_links(client, worker):
    evidence = make_item(
        worker, EvidenceKind.OBSERVATION, uploads=[("notes.pdf", PDF)], description="Observed <em>closely</em>."
    )
    service.link_competence(worker, evidence, competence("PS-LW-02").id, "I listened and adapted")
    evidence = reload(evidence)
    file_id = evidence.files[0].id

    response = client.get(f"/portfolio/{evidence.id}")
    assert response.status_code == 200
    page = text_of(response)
    assert "<h1>Observed group session</h1>" in page
    assert "Observation of practice" in page
    assert "<p>Observed <em>closely</em>.</p>" in page
    assert "Observed by Priya Shah, practice lead" in words(page)
    assert "10 March 2026" in page
    assert f'href="/portfolio/{evidence.id}/files/{file_id}"' in page
    assert "notes.pdf" in page
    assert competence("PS-LW-02").statement in page
    assert "I listened and adapted" in page
    assert "Draft" in page
    assert "no-store" in response.headers["Cache-Control"]  # personal data
    # One saved before the observer was asked: no row rather than an empty one.
    evidence.observed_by = None
    db.session.commit()
    assert "Observed by" not in words(client.get(f"/portfolio/{evidence.id}").text)


def test_certificate_and_supervision_details_are_shown(client, worker, supervisor):
    certificate = make_item(
        worker,
        EvidenceKind.CERTIFICATE,
        uploads=[("cert.pdf", PDF)],
        expires_on=date(2029, 1, 2),
        cpd_hours=Decimal("3.5"),
    )
    page = text_of(client.get(f"/portfolio/{certificate.id}"))
    assert "NHS Learning Hub" in page and "2 January 2029" in page and "3.50" in page
    note = service.create_evidence(
        worker,
        EvidenceKind.SUPERVISION_NOTE,
        EvidenceInput(
            occurred_on=EVENT_DAY,
            supervisor_id=supervisor.id,
            description="Caseload",
            actions=[service.ActionInput("Read the policy", "worker", date(2026, 4, 1))],
        ),
    )
    page = text_of(client.get(f"/portfolio/{note.id}"))
    assert "Supervision with Sam Supervisor" in page
    assert "Read the policy" in page and "1 April 2026" in page


def test_download_is_an_attachment_that_is_never_rendered(client, worker):
    evidence = make_item(worker, EvidenceKind.CERTIFICATE, uploads=[("my cert.pdf", PDF)])
    stored = reload(evidence).files[0]
    response = client.get(f"/portfolio/{evidence.id}/files/{stored.id}")
    body = response.data
    response.close()  # send_file streams from an open file: close it, as a WSGI server does
    assert response.status_code == 200
    assert body == PDF
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert (
        "my cert.pdf" in response.headers["Content-Disposition"]
        or "my%20cert.pdf" in response.headers["Content-Disposition"]
    )
    assert response.headers["Content-Security-Policy"] == "sandbox"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_another_workers_records_answer_404(client, auth, worker, other_worker):
    theirs = make_item(other_worker, EvidenceKind.CERTIFICATE, uploads=[("theirs.pdf", PDF)])
    link = service.link_competence(other_worker, theirs, competence("PS-LW-01").id)
    theirs = reload(theirs)
    their_file = theirs.files[0].id
    mine = make_item(worker, EvidenceKind.OBSERVATION)
    token = auth.token("/portfolio/")

    gets = [
        f"/portfolio/{theirs.id}",
        f"/portfolio/{theirs.id}/edit",
        f"/portfolio/{theirs.id}/links",
        f"/portfolio/{theirs.id}/links?q=safeguarding",
        f"/portfolio/{theirs.id}/submit",
        f"/portfolio/{theirs.id}/delete",
        f"/portfolio/{theirs.id}/files/{their_file}",
        f"/portfolio/{mine.id}/files/{their_file}",  # their file through my item
        "/portfolio/999999",
    ]
    for path in gets:
        for headers in ({}, {"HX-Request": "true"}):
            response = client.get(path, headers=headers)
            assert response.status_code == 404, path
            assert "Page not found" in text_of(response)
    posts = [
        f"/portfolio/{theirs.id}/delete",
        f"/portfolio/{theirs.id}/submit",
        f"/portfolio/{theirs.id}/links",
        f"/portfolio/{theirs.id}/links/{link.id}",
        f"/portfolio/{theirs.id}/links/{link.id}/delete",
        f"/portfolio/{mine.id}/links/{link.id}/delete",  # their link through my item
        f"/portfolio/{theirs.id}/files/{their_file}/delete",
    ]
    for path in posts:
        response = client.post(
            path, data={"csrf_token": token, "competence_id": competence("PS-LW-02").id, "note": "x"}
        )
        assert response.status_code == 404, path
    stored = reload(theirs)
    assert stored.status == EvidenceStatus.DRAFT
    assert [(link.competence.ref, link.note) for link in stored.links] == [("PS-LW-01", "")]
    assert len(stored.files) == 1


def test_portfolio_needs_a_worker_with_a_framework(client, auth, app, frameworks):
    supervisor = make_user(Role.SUPERVISOR)
    auth.login_as(supervisor)
    assert client.get("/portfolio/").status_code == 403
    no_framework = make_user(Role.WORKER)
    auth.login_as(no_framework)
    assert client.get("/portfolio/").status_code == 403


# --- my portfolio ----------------------------------------------------------------------


def add_rows(owner, specs) -> list[Evidence]:
    """Items of ``owner``'s, written directly: drafts, and those with ``status=SUBMITTED`` sent as the app sends one."""
    items = [Evidence(owner_id=owner.id, **{k: v for k, v in spec.items() if k != "status"}) for spec in specs]
    db.session.add_all(items)
    db.session.flush()
    for item, spec in zip(items, specs, strict=True):
        status = spec.get("status", EvidenceStatus.DRAFT)
        assert status in (EvidenceStatus.DRAFT, EvidenceStatus.SUBMITTED), status
        if status == EvidenceStatus.SUBMITTED:
            send_for_review(item)
    db.session.commit()
    return items


@pytest.fixture
def portfolio(worker, other_worker):
    items = add_rows(
        worker,
        [
            dict(
                kind=EvidenceKind.REFLECTION,
                title="Community garden visit",
                occurred_on=date(2026, 5, 10),
                what_happened="<p>Planted beans</p>",
            ),
            dict(
                kind=EvidenceKind.CERTIFICATE,
                status=EvidenceStatus.SUBMITTED,
                title="Safeguarding certificate",
                occurred_on=date(2026, 4, 1),
                provider="Hub",
            ),
            dict(
                kind=EvidenceKind.REFLECTION,
                title="Walking group",
                occurred_on=date(2026, 3, 15),
                what_learned="<p>Garden tools</p>",
            ),
            dict(
                kind=EvidenceKind.OBSERVATION,
                title="Observed assessment",
                observed_by="Priya Shah, practice lead",
                occurred_on=date(2026, 2, 1),
                description="<p>Holistic</p>",
            ),
        ],
    )
    add_rows(
        other_worker, [dict(kind=EvidenceKind.REFLECTION, title="Their garden secret", occurred_on=date(2026, 5, 11))]
    )
    db.session.add(EvidenceLink(evidence_id=items[1].id, competence_id=competence("PS-LW-01").id))
    db.session.commit()
    return items


def listed_titles(page: str) -> list[str]:
    table = page.split('id="evidence-list"', 1)[1]
    return re.findall(r'<a href="/portfolio/\d+">([^<]+)</a>', table)


def test_my_portfolio_full_page(client, worker, portfolio):
    response = client.get("/portfolio/")
    assert response.status_code == 200
    page = text_of(response)
    assert "<html" in page
    assert "<h1>My portfolio</h1>" in page
    assert listed_titles(page) == [
        "Community garden visit",
        "Safeguarding certificate",
        "Walking group",
        "Observed assessment",
    ]
    assert "Their garden secret" not in page
    assert "4 items" in page
    assert "Submitted for review" in page
    assert "HX-Request" in response.headers["Vary"]


def test_my_portfolio_fragment_for_htmx(client, worker, portfolio):
    response = client.get("/portfolio/?kind=reflection", headers={"HX-Request": "true"})
    assert response.status_code == 200
    page = text_of(response)
    assert '<div id="evidence-list">' in page
    assert "<html" not in page
    assert 'class="portfolio-filters"' not in page
    assert listed_titles(page) == ["Community garden visit", "Walking group"]
    # The count goes inside the page's lasting status line (htmx swaps it in out of band), and the tab's title says it.
    assert status_line(page, "evidence-count") == ("2 items match your filters", True)
    assert "<title>My portfolio: 2 items match your filters – Evidence portfolio</title>" in page
    assert "HX-Request" in response.headers["Vary"]
    # Boosted navigation and history restores get the whole page, the status line in place.
    for extra in ({"HX-Boosted": "true"}, {"HX-History-Restore-Request": "true"}):
        whole = text_of(client.get("/portfolio/?kind=reflection", headers={"HX-Request": "true", **extra}))
        assert "<html" in whole
        assert status_line(whole, "evidence-count") == ("2 items match your filters", False)


def test_my_portfolio_filters_are_applied_and_kept(client, worker, portfolio):
    query = "q=GARDEN&kind=reflection&status=draft&date_from-day=1&date_from-month=3&date_from-year=2026&date_to-day=31&date_to-month=3&date_to-year=2026"
    page = text_of(client.get(f"/portfolio/?{query}"))
    assert listed_titles(page) == ["Walking group"]
    assert status_of(page, "evidence-count") == "1 item matches your filters"
    assert 'value="GARDEN"' in page
    assert selected_options(page, "kind") == ["reflection"]
    assert selected_options(page, "status") == ["draft"]
    assert re.search(r'name="date_from-day"[^>]*value="1"', page)
    assert re.search(r'name="date_to-day"[^>]*value="31"', page)


def test_the_draft_filter_lists_what_the_list_calls_a_draft(client, worker, supervisor, portfolio):
    """Found by a helper: "Draft" listed supervision notes, which the list labels by where they stand with their
    supervisor ("Waiting for confirmation"), never "Draft". They are found by their kind."""
    from tests.factories import supervision_note

    supervision_note(worker, supervisor, title="Supervision on lone working")
    drafts = text_of(client.get("/portfolio/?status=draft"))
    assert "Supervision on lone working" not in listed_titles(drafts)
    assert "Walking group" in listed_titles(drafts)
    assert "Draft" in words(drafts.split('id="evidence-list"', 1)[1])
    notes = text_of(client.get("/portfolio/?kind=supervision-note", headers={"HX-Request": "true"}))
    assert listed_titles(notes) == ["Supervision on lone working"]
    assert "Waiting for confirmation" in words(notes)


def test_my_portfolio_competence_filter(client, worker, portfolio):
    target = competence("PS-LW-01")
    page = text_of(client.get(f"/portfolio/?competence={target.id}"))
    assert listed_titles(page) == ["Safeguarding certificate"]
    assert f"Evidence for: {target.statement}" in page
    assert f'<input type="hidden" name="competence" value="{target.id}">' in page


def test_my_portfolio_to_date_before_from_date_is_ignored(client, worker, portfolio):
    query = "date_from-day=1&date_from-month=5&date_from-year=2026&date_to-day=1&date_to-month=3&date_to-year=2026"
    response = client.get(f"/portfolio/?{query}")
    assert response.status_code == 200
    page = text_of(response)
    assert "Some filters were ignored" in page
    assert "The to date must be the same as or after the from date" in page
    assert listed_titles(page) == [
        "Community garden visit",
        "Safeguarding certificate",
        "Walking group",
        "Observed assessment",
    ]


def test_my_portfolio_bad_values_are_ignored(client, worker, portfolio):
    page = text_of(client.get("/portfolio/?kind=diary&page=abc"))
    assert "Some filters were ignored" in page
    assert len(listed_titles(page)) == 4


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true"}], ids=["page", "htmx"])
def test_my_portfolio_says_what_to_choose_and_does_not_count_ignored_filters_as_filters(
    client, worker, portfolio, headers
):
    page = text_of(client.get("/portfolio/?kind=diary&status=bogus&q=" + "x" * 201, headers=headers))
    assert "Some filters were ignored" in page
    assert "Choose a kind of evidence from the list, or All kinds" in page
    assert "Choose Draft, Submitted for review, Returned for changes, Signed off or Any status" in page
    assert "Search for 200 characters or fewer" in page
    assert "Not a valid choice" not in page
    # Every filter was refused: the whole portfolio, and the count does not say it matches filters.
    assert len(listed_titles(page)) == 4
    assert status_of(page, "evidence-count") == "4 items"
    if not headers:
        assert error_next_to(page, "kind") == "Error: Choose a kind of evidence from the list, or All kinds"
    kept = text_of(client.get("/portfolio/?kind=reflection&status=bogus", headers=headers))  # one applies
    assert status_of(kept, "evidence-count").endswith("your filters")


def test_my_portfolio_pages(client, worker):
    add_rows(
        worker,
        [
            dict(kind=EvidenceKind.OTHER, title=f"Item {n:02d}", occurred_on=date(2025, 1, 1) + timedelta(days=n))
            for n in range(25)
        ],
    )
    first = text_of(client.get("/portfolio/?kind=other"))
    assert listed_titles(first) == [f"Item {n:02d}" for n in range(24, 4, -1)]
    assert status_of(first, "evidence-count") == "25 items match your filters, showing 1 to 20 (page 1 of 2)"
    assert 'href="/portfolio/?kind=other&page=2"' in first
    second = text_of(client.get("/portfolio/?kind=other&page=2", headers={"HX-Request": "true"}))
    assert listed_titles(second) == [f"Item {n:02d}" for n in range(4, -1, -1)]
    assert 'href="/portfolio/?kind=other"' in second  # page 1 has no page number
    beyond = text_of(client.get("/portfolio/?page=99"))
    assert "page 2 of 2" in beyond
    assert listed_titles(beyond) == listed_titles(second)


def test_empty_portfolio(client, worker):
    page = text_of(client.get("/portfolio/"))
    assert "Your portfolio is empty" in page
    assert status_of(page, "evidence-count") == "No items"


# --- linking competences ------------------------------------------------------------------


def picker_refs(page: str) -> list[str]:
    results = page.split('id="picker-results"', 1)[1]
    ids = [int(i) for i in re.findall(r'id="pick-(\d+)"', results)]
    return [db.session.get(Competence, i).ref for i in ids]


def test_links_page_picker_filters(client, worker):
    evidence = make_item(worker)
    path = f"/portfolio/{evidence.id}/links"
    page = text_of(client.get(path))
    assert "<html" in page
    assert "Link competences" in page
    assert status_of(page, "picker-count") == "85 competences to link, showing 1 to 10 (page 1 of 9)"
    # A Link Worker aims at Link Worker Coach: its statements come first.
    coach_refs = [c.ref for c in competences("link-worker", "link-worker-coach")]
    assert picker_refs(page) == coach_refs[:10]

    page = text_of(client.get(f"{path}?q=safeguarding"))
    assert status_of(page, "picker-count") == "1 competence to link"
    assert "Demonstrate an understanding of safeguarding vulnerable adults" in page
    assert picker_refs(page) == [competence_ref_of("Demonstrate an understanding of safeguarding vulnerable adults")]
    assert 'value="safeguarding"' in page

    area = db.session.scalar(select(CompetenceGroup).where(CompetenceGroup.name == "Enabling Access to Assets"))
    coach = tier("link-worker", "link-worker-coach")
    page = text_of(client.get(f"{path}?group={area.id}&tier={coach.id}"))
    assert "3 competences" in page
    assert picker_refs(page) == ["EA-CP-01", "EA-CP-02", "EA-CP-03"]
    assert f'<option value="{area.id}" selected>' in page
    assert f'<option value="{coach.id}" selected>' in page

    fragment = client.get(
        f"{path}?q=safeguarding&tier={tier('link-worker', 'link-worker').id}", headers={"HX-Request": "true"}
    )
    text = text_of(fragment)
    assert '<div id="picker-results">' in text
    assert status_line(text, "picker-count")[1] is True  # the count, out of band into the lasting status line
    assert "<html" not in text
    assert "1 competence" in text
    assert "HX-Request" in fragment.headers["Vary"]
    # The link form in the results keeps the search.
    assert '<input type="hidden" name="q" value="safeguarding">' in text


def competence_ref_of(statement: str) -> str:
    return db.session.scalar(select(Competence.ref).where(Competence.statement == statement))


def test_link_unlink_and_note_through_the_links_page(client, auth, worker):
    evidence = make_item(worker)
    path = f"/portfolio/{evidence.id}/links"
    target = competence("PS-LW-09")
    token = auth.token(path)

    response = client.post(
        path, data={"csrf_token": token, "competence_id": target.id, "note": "  I sought support  ", "q": "crisis"}
    )
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == path
    assert parse_qs(location.query) == {"q": ["crisis"]}
    assert location.fragment == "find"
    [link] = reload(evidence).links
    assert (link.competence_id, link.note) == (target.id, "I sought support")

    page = text_of(client.get(response.headers["Location"]))
    assert f"Linked to: {target.statement}" in page
    assert "Linked competences (1)" in page
    assert "I sought support" in page.split('class="nhsuk-summary-list linked-competences"', 1)[1].split("</dl>", 1)[0]
    assert "Linked" in page.split(f'id="pick-{target.id}"', 1)[1].split("</li>", 1)[0]

    response = client.post(f"{path}/{link.id}", data={"csrf_token": token, "note": "Changed note"})
    assert response.status_code == 303
    assert "Note saved" in text_of(client.get(response.headers["Location"]))
    assert db.session.get(EvidenceLink, link.id).note == "Changed note"

    response = client.post(f"{path}/{link.id}/delete", data={"csrf_token": token})
    assert response.status_code == 303
    assert "Link removed" in text_of(client.get(response.headers["Location"]))
    assert reload(evidence).links == []


def test_each_linked_competence_has_its_own_remove_form_and_no_id_twice(client, auth, worker):
    """Each linked competence's "Remove" form carries the token under the same name; written out once per row, not
    as the form's field, which gave every row the same id."""
    evidence = make_item(worker)
    path = f"/portfolio/{evidence.id}/links"
    for ref in ("PS-LW-01", "PS-LW-02", "PS-LW-09"):
        service.link_competence(worker, evidence, competence(ref).id)
    db.session.commit()
    page = text_of(client.get(path))
    assert duplicate_ids(page) == []
    removes = re.findall(
        r'<form method="post" action="(/portfolio/\d+/links/\d+/delete)"[^>]*>\s*<input type="hidden" name="csrf_token" value="([^"]+)">',
        page,
    )
    assert len(removes) == 3
    action, token = removes[1]
    assert client.post(action, data={"csrf_token": token}).status_code == 303
    assert sorted(link.competence.ref for link in reload(evidence).links) == ["PS-LW-01", "PS-LW-09"]


def test_a_refused_note_is_shown_under_its_competence_with_what_was_typed(client, auth, worker):
    """Not above the whole list, and not lost: the person corrects it where they typed it."""
    evidence = make_item(worker)
    path = f"/portfolio/{evidence.id}/links"
    target = competence("PS-LW-09")
    typed = f"Rang her on NHS number {NHS_NUMBER}"
    response = client.post(
        path, data={"csrf_token": auth.token(path), "competence_id": target.id, "note": typed, "q": "crisis"}
    )
    assert response.status_code == 422
    page = text_of(response)
    item = page.split(f'id="pick-{target.id}"', 1)[1].split("</li>", 1)[0]
    assert "possible NHS number" in error_next_to(item, f"note-new-{target.id}")
    assert f'value="{typed}"' in item
    [(message, href)] = summary_links(page).items()
    assert message.startswith("The note contains 1 possible NHS number") and href == f"note-new-{target.id}"
    assert 'id="note-error"' not in page  # not also above the list
    assert reload(evidence).links == []

    # The form's own rule (too long) the same way.
    long_note = "x" * 501
    page = text_of(
        client.post(
            path, data={"csrf_token": auth.token(path), "competence_id": target.id, "note": long_note, "q": "crisis"}
        )
    )
    item = page.split(f'id="pick-{target.id}"', 1)[1].split("</li>", 1)[0]
    assert error_next_to(item, f"note-new-{target.id}") == "Error: The note must be 500 characters or fewer"
    assert summary_links(page) == {"The note must be 500 characters or fewer": f"note-new-{target.id}"}

    # A competence no longer among the results shown: the message above the list, where the summary links.
    page = text_of(
        client.post(path, data={"csrf_token": auth.token(path), "competence_id": target.id, "note": typed, "q": "zzzz"})
    )
    [(message, href)] = summary_links(page).items()
    assert href == f"note-new-{target.id}" and f'id="note-new-{target.id}"' in page
    assert "possible NHS number" in error_next_to(page, f"note-new-{target.id}")


def test_bad_links_are_refused_on_the_page(client, auth, worker):
    evidence = make_item(worker)
    path = f"/portfolio/{evidence.id}/links"
    token = auth.token(path)
    foreign = competence("CORE-01", "sfh-senior-engagement-worker")
    response = client.post(path, data={"csrf_token": token, "competence_id": foreign.id})
    assert response.status_code == 422
    page = text_of(response)
    assert "There is a problem" in page
    assert "Choose a competence from your framework" in page
    assert "<html" in page and 'id="picker-results"' in page  # the picker is still there

    client.post(path, data={"csrf_token": token, "competence_id": competence("PS-LW-01").id})
    response = client.post(path, data={"csrf_token": token, "competence_id": competence("PS-LW-01").id})
    assert response.status_code == 422
    assert "This item is already linked to that competence" in text_of(response)

    response = client.post(
        path, data={"csrf_token": token, "competence_id": competence("PS-LW-02").id, "note": "x" * 501}
    )
    assert response.status_code == 422
    assert "The note must be 500 characters or fewer" in text_of(response)
    assert [link.competence.ref for link in reload(evidence).links] == ["PS-LW-01"]


def test_refused_link_message_is_next_to_the_competence(client, auth, worker):
    """The error summary must lead somewhere: its link's target and an inline message exist on the page."""
    evidence = make_item(worker)
    target = competence("PS-LW-01")
    service.link_competence(worker, evidence, target.id)  # say, from another tab
    path = f"/portfolio/{evidence.id}/links"
    response = client.post(path, data={"csrf_token": auth.token(path), "competence_id": target.id})
    assert response.status_code == 422
    page = text_of(response)
    href = summary_links(page)["This item is already linked to that competence"]
    assert f'id="{href}"' in page, f"the error summary links to #{href}, which is not on the page"
    assert 'class="nhsuk-error-message"' in page, "no inline error message"


def test_submit_refusal_summary_leads_to_the_message(client, auth, worker):
    """The submit page's error summary must link to something on the page."""
    evidence = make_item(worker, EvidenceKind.OBSERVATION)  # no competence linked
    path = f"/portfolio/{evidence.id}/submit"
    response = client.post(path, data={"csrf_token": auth.token(path)})
    assert response.status_code == 422
    page = text_of(response)
    href = summary_links(page)["Link the item to at least one competence before you submit it"]
    assert f'id="{href}"' in page, f"the error summary links to #{href}, which is not on the page"


def test_competence_map_page(client, worker):
    evidence = make_item(worker)
    service.link_competence(worker, evidence, competence("PS-LW-01").id)
    submitted = make_item(worker, EvidenceKind.OBSERVATION)
    service.link_competence(worker, submitted, competence("PS-LW-01").id)
    service.submit(worker, reload(submitted))

    page = text_of(client.get("/portfolio/map"))
    assert "<h1>Competence map</h1>" in page
    for heading in (
        "Link Worker",
        "Link Worker Coach",
        "Psychosocial Link Worker",
        "Practitioner Skills",
        "Enabling Access to Assets",
    ):
        assert f">{heading}</h" in page
    row = page.split(competence("PS-LW-01").statement, 1)[1].split("</tr>", 1)[0]
    assert ">2</td>" in row
    assert "1 draft" in row and "1 submitted for review" in row
    other_row = page.split(competence("PS-LW-02").statement, 1)[1].split("</tr>", 1)[0]
    assert "No evidence" in other_row
    assert f'href="/portfolio/competences/{competence("PS-LW-01").id}"' in page


def test_a_competence_with_many_items_lists_them_a_page_at_a_time(client, auth, worker):
    """Newest first, 25 a page with the NHS.UK pagination; the heading counts them all. With htmx a page link brings
    only the list and its status line; boosted, the whole page."""
    target = competence("PS-LW-06")
    for n in range(30):
        link_draft(worker, [target], title=f"Item {n:02}")
    path = f"/portfolio/competences/{target.id}"

    def titles(html: str) -> list[str]:
        return re.findall(r'<a href="/portfolio/\d+">(Item \d+)</a>', html)

    first = text_of(client.get(path))
    assert "Evidence linked (30)" in first
    assert titles(first) == [f"Item {n:02}" for n in range(29, 4, -1)]
    assert status_of(first, "linked-count") == "30 items, showing 1 to 25 (page 1 of 2)"
    assert f'href="{path}?page=2"' in first

    answer = client.get(f"{path}?page=2", headers={"HX-Request": "true"}).get_data(as_text=True)
    body, oob = swapped_parts(answer, "linked-items")
    assert titles(body) == [f"Item {n:02}" for n in range(4, -1, -1)]
    assert len(oob) == 1 and 'id="linked-count"' in oob[0]
    assert status_of(answer, "linked-count") == "30 items, showing 26 to 30 (page 2 of 2)"

    boosted = text_of(client.get(f"{path}?page=2", headers={"HX-Request": "true", "HX-Boosted": "true"}))
    assert "<html" in boosted and "Evidence linked (30)" in boosted and len(titles(boosted)) == 5
    assert titles(text_of(client.get(f"{path}?page=9"))) == titles(boosted)  # past the end: the last page


def test_competence_page_and_adding_evidence_for_it(client, auth, worker, other_worker):
    target = competence("PS-LW-06")
    existing = make_item(worker, title="Boundaries reflection")
    service.link_competence(worker, existing, target.id, "Held a boundary")
    theirs = make_item(other_worker, title="Their boundaries reflection")
    service.link_competence(other_worker, theirs, target.id)

    page = text_of(client.get(f"/portfolio/competences/{target.id}"))
    assert target.statement in page
    assert page_title(page).startswith(f"Evidence for: {target.statement[:40]}")  # the tab names the competence
    assert "Evidence linked (1)" in page
    assert "Boundaries reflection" in page and "Held a boundary" in page
    assert "Their boundaries reflection" not in page
    add = re.search(r'href="([^"]+)"[^>]*>\s*Add evidence for this', page)
    assert add and add.group(1) == f"/portfolio/new?competence={target.id}"

    choose = text_of(client.get(add.group(1)))
    assert page_title(choose).startswith(f"Add evidence for: {target.statement[:40]}")
    assert page_title(text_of(client.get("/portfolio/new"))) == "Add evidence – Evidence portfolio"
    assert f'name="competence" type="hidden" value="{target.id}"' in choose or re.search(
        rf'name="competence"[^>]*value="{target.id}"', choose
    )
    response = client.post(
        "/portfolio/new", data={"csrf_token": auth.token(add.group(1)), "kind": "other", "competence": str(target.id)}
    )
    assert response.status_code == 303
    # Straight to the form's address with its one-time key (no second redirect to add one).
    assert re.fullmatch(rf"/portfolio/new/other\?competence={target.id}&key=[\w-]{{43}}", response.headers["Location"])

    form = text_of(client.get(response.headers["Location"]))
    assert f"This evidence will be linked to: {target.statement}" in form
    assert f"for: {target.statement[:40]}" in page_title(form)
    assert f'action="{response.headers["Location"]}"' in form
    response = post_form(client, auth, f"/portfolio/new/other?competence={target.id}", valid_post("other"))
    assert response.status_code == 303
    created = db.session.scalar(select(Evidence).where(Evidence.title == "Community asset map"))
    assert [link.competence_id for link in created.links] == [target.id]

    # A competence of another framework is not offered.
    foreign = competence("CORE-01", "sfh-senior-engagement-worker")
    assert client.get(f"/portfolio/competences/{foreign.id}").status_code == 404
    assert client.get(f"/portfolio/new/other?competence={foreign.id}", follow_redirects=True).status_code == 404
    assert client.get(f"/portfolio/new?competence={foreign.id}").status_code == 404


def test_a_retired_competence_is_not_offered_for_new_evidence(client, auth, worker):
    """Like the picker and the map, "add evidence for this" leaves retired competences out."""
    retired = competence("PS-LW-06")
    retired.retired_at = datetime.now(UTC)
    db.session.commit()
    page = text_of(client.get(f"/portfolio/competences/{retired.id}"))
    assert retired.statement in page  # evidence already linked to it can still be seen
    assert "Add evidence for this" not in page
    response = client.get(f"/portfolio/new/other?competence={retired.id}", follow_redirects=True)
    assert response.status_code == 404
    response = post_form(client, auth, f"/portfolio/new/other?competence={retired.id}", valid_post("other"))
    assert response.status_code == 404
    assert row_counts(*EVIDENCE_MODELS) == NO_EVIDENCE


def test_choose_kind_needs_a_kind(client, auth, worker):
    response = client.post("/portfolio/new", data={"csrf_token": auth.token("/portfolio/new")})
    assert_error_shown(response, "kind", "Choose the kind of evidence")


# --- submitting ------------------------------------------------------------------------


def test_submit_through_the_routes(client, auth, worker):
    evidence = make_item(worker, EvidenceKind.OBSERVATION)
    path = f"/portfolio/{evidence.id}/submit"
    # With no links, it is refused with a message.
    response = client.post(path, data={"csrf_token": auth.token(path)})
    assert response.status_code == 422
    assert "Link the item to at least one competence before you submit it" in error_next_to(text_of(response), "item")
    assert reload(evidence).status == EvidenceStatus.DRAFT

    service.link_competence(worker, evidence, competence("PS-LW-01").id)
    page = text_of(client.get(path))
    assert "Submit “Observed group session” for review" in page
    assert "the 1 competence you linked it to" in page
    response = client.post(path, data={"csrf_token": auth.token(path)})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/portfolio/{evidence.id}")
    page = text_of(client.get(response.headers["Location"]))
    assert "Submitted for review" in page
    path = f"/portfolio/{evidence.id}"  # the check page now leads back here: a token from the item's page
    stored = reload(evidence)
    assert stored.status == EvidenceStatus.SUBMITTED and stored.submitted_at is not None

    # Now it cannot be changed or deleted.
    edit = client.get(f"/portfolio/{evidence.id}/edit")
    assert edit.status_code == 422  # the item's page, saying why in its error summary
    assert summary_links(text_of(edit)) == {"This item is submitted for review and cannot be changed": "status"}
    response = client.post(f"/portfolio/{evidence.id}/delete", data={"csrf_token": auth.token(path)})
    assert response.status_code == 422
    assert summary_links(text_of(response)) == {"Only a draft can be deleted": "delete"}
    assert reload(evidence) is not None
    links_page = text_of(client.get(f"/portfolio/{evidence.id}/links"))
    assert "Find competences" not in links_page


def test_submit_a_reflection_with_the_anonymity_confirmation(client, auth, worker):
    evidence = make_item(worker)
    service.link_competence(worker, evidence, competence("PS-LW-01").id)
    evidence = reload(evidence)
    evidence.what_learned = f"<p>I wrote down {NHS_NUMBER} by mistake.</p>"  # never checked as shareable
    db.session.commit()
    path = f"/portfolio/{evidence.id}/submit"

    page = text_of(client.get(path))
    assert f'<mark class="anonymity-flag" data-kind="NHS number">{NHS_NUMBER}</mark>' in page
    assert 'name="confirm_anonymous"' in page

    response = client.post(path, data={"csrf_token": auth.token(path)})
    page = assert_error_shown(response, "confirm_anonymous", "Check the highlighted details (1 possible NHS number)")
    assert reload(evidence).status == EvidenceStatus.DRAFT

    response = client.post(path, data={"csrf_token": auth.token(path), "confirm_anonymous": "y"})
    assert response.status_code == 303
    stored = reload(evidence)
    assert stored.status == EvidenceStatus.SUBMITTED
    assert stored.anonymity_confirmed_at is not None


def test_picker_fragment_of_a_submitted_item_offers_no_link_forms(client, worker):
    """The fragment must match the page it belongs to: no picker for an item that cannot change."""
    evidence = make_item(worker, EvidenceKind.OBSERVATION)
    service.link_competence(worker, evidence, competence("PS-LW-01").id)
    service.submit(worker, reload(evidence))
    page = text_of(client.get(f"/portfolio/{evidence.id}/links?q=data"))
    assert 'name="competence_id"' not in page
    fragment = text_of(client.get(f"/portfolio/{evidence.id}/links?q=data", headers={"HX-Request": "true"}))
    assert 'name="competence_id"' not in fragment


def test_a_search_that_finds_no_competence_says_so_once_and_what_to_try(client, worker):
    evidence = make_item(worker)
    for headers in ({}, {"HX-Request": "true"}):
        page = text_of(client.get(f"/portfolio/{evidence.id}/links?q=zzqqxx", headers=headers))
        shown = words(re.sub(r"<title>.*?</title>", "", page))  # the title says it too, as every search's does
        assert shown.count("No competences match") == 1
        assert "No competences match Try other words, or fewer of them." in shown


def test_a_private_reflection_cannot_be_submitted(client, auth, worker):
    evidence = make_item(worker, is_private=True)
    service.link_competence(worker, evidence, competence("PS-LW-01").id)
    page = text_of(client.get(f"/portfolio/{evidence.id}"))
    assert "Private" in page
    assert "Submit for review" not in page
    path = f"/portfolio/{evidence.id}/submit"
    response = client.post(path, data={"csrf_token": auth.token(path)})
    assert response.status_code == 422
    assert "A private reflection cannot be submitted" in text_of(response)
    assert reload(evidence).status == EvidenceStatus.DRAFT


def test_delete_a_draft_through_the_routes(app, client, auth, worker):
    evidence = make_item(worker, EvidenceKind.CERTIFICATE, uploads=[("cert.pdf", PDF)])
    service.link_competence(worker, evidence, competence("PS-LW-01").id)
    path = f"/portfolio/{evidence.id}/delete"
    page = text_of(client.get(path))
    assert "its 1 file and its links to competences will be deleted" in page
    response = client.post(path, data={"csrf_token": auth.token(path)})
    assert response.status_code == 303
    assert "Deleted: Safeguarding adults level 2" in text_of(client.get(response.headers["Location"]))
    assert row_counts(*EVIDENCE_MODELS) == NO_EVIDENCE
    assert files_on_disk(app) == []
    without_files = make_item(worker, EvidenceKind.REFLECTION)
    page = words(text_of(client.get(f"/portfolio/{without_files.id}/delete")))
    assert "The draft will be deleted." in page  # linked to nothing: no links are named


def test_edit_a_draft_through_the_routes(app, client, auth, worker):
    evidence = make_item(worker, EvidenceKind.CERTIFICATE, uploads=[("cert.pdf", PDF)])
    path = f"/portfolio/{evidence.id}/edit"
    page = text_of(client.get(path))
    assert 'value="Safeguarding adults level 2"' in page
    assert "Files already attached" in page and "cert.pdf" in page
    data = {
        "title": "Safeguarding adults level 3",
        "provider": "NHS Learning Hub",
        **date_fields("occurred_on", EVENT_DAY),
        **date_fields("expires_on", None),
        "cpd_hours": "",
        "files": (io.BytesIO(pdf_page("page two")), "page-2.pdf"),
    }
    response = post_form(client, auth, path, data)
    assert response.status_code == 303
    stored = reload(evidence)
    assert stored.title == "Safeguarding adults level 3"
    assert [f.original_name for f in stored.files] == ["cert.pdf", "page-2.pdf"]
    assert len(files_on_disk(app)) == 2


def certificate_change(**changes) -> dict:
    return {
        "title": "Safeguarding adults level 2",
        "provider": "NHS Learning Hub",
        **date_fields("occurred_on", EVENT_DAY),
        **date_fields("expires_on", None),
        "cpd_hours": "",
        "action": "save",
        **changes,
    }


def test_a_certificates_wrong_file_is_replaced_from_its_form_in_one_save(app, client, auth, worker):
    evidence = make_item(worker, EvidenceKind.CERTIFICATE, uploads=[("wrong.pdf", PDF)])
    wrong = reload(evidence).files[0]
    path = f"/portfolio/{evidence.id}/edit"
    page = text_of(client.get(path))
    assert checkboxes(page, "remove_file_ids") == [(str(wrong.id), f"Remove wrong.pdf ({len(PDF)} bytes)")]
    assert "To replace the certificate's file, tick it and choose the new one below." in words(page)
    data = certificate_change(remove_file_ids=str(wrong.id), files=(io.BytesIO(pdf_page("right")), "right.pdf"))
    response = post_form(client, auth, path, data)
    assert response.status_code == 303
    assert "Changes saved; removed wrong.pdf" in words(text_of(client.get(response.headers["Location"])))
    stored = reload(evidence)
    assert [f.original_name for f in stored.files] == ["right.pdf"]
    assert files_on_disk(app) == [stored.files[0].stored_name]


def test_a_change_form_sent_twice_attaches_its_file_once_and_says_so(app, client, auth, worker):
    """A retry of the same POST (the first answer lost on a bad connection) must not attach the file again."""
    evidence = make_item(worker, EvidenceKind.CERTIFICATE, uploads=[("front.pdf", PDF)])
    path = f"/portfolio/{evidence.id}/edit"
    back = pdf_page("the back page")
    for _ in range(2):
        response = post_form(client, auth, path, certificate_change(files=(io.BytesIO(back), "back.pdf")))
        assert response.status_code == 303
    page = words(text_of(client.get(response.headers["Location"])))
    assert "Changes saved; back.pdf already attached, not added again" in page
    assert [f.original_name for f in reload(evidence).files] == ["front.pdf", "back.pdf"]
    assert len(files_on_disk(app)) == 2
    # Under another name, the file it is the same as is named (the page lists the files by their names).
    response = post_form(client, auth, path, certificate_change(files=(io.BytesIO(back), "scan 2.pdf")))
    page = words(text_of(client.get(response.headers["Location"])))
    assert "Changes saved; scan 2.pdf not added: it is the same file as back.pdf" in page


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_removing_a_certificates_only_file_without_a_new_one_is_said_next_to_it(app, client, auth, worker, headers):
    evidence = make_item(worker, EvidenceKind.CERTIFICATE, uploads=[("cert.pdf", PDF)])
    only = reload(evidence).files[0]
    before = files_on_disk(app)
    path = f"/portfolio/{evidence.id}/edit"
    response = post_form(
        client, auth, path, certificate_change(title="Renamed", remove_file_ids=str(only.id)), headers=headers
    )
    message = "A training certificate needs its certificate file: choose the new file as well to replace it"
    page = assert_error_shown(response, "remove_file_ids", message)
    assert "<html" in page and "<h1>Change: Safeguarding adults level 2</h1>" in page
    assert "HX-Push-Url" not in response.headers  # the form's own address is the page's: htmx shows it
    assert ticked(page, "remove_file_ids") == [str(only.id)]  # as it was sent, to choose the file and send again
    assert 'value="Renamed"' in page
    stored = reload(evidence)
    assert stored.title == "Safeguarding adults level 2" and [f.id for f in stored.files] == [only.id]
    assert files_on_disk(app) == before


def test_a_change_refused_by_its_form_names_the_missing_file_in_the_same_answer(app, client, auth, worker):
    """Found by a review: with a field the form refused itself, "needs its certificate file" waited for the next
    submit. The files chosen are counted (they are chosen again anyway), not read."""
    evidence = make_item(worker, EvidenceKind.CERTIFICATE, uploads=[("cert.pdf", PDF)])
    only = reload(evidence).files[0]
    path = f"/portfolio/{evidence.id}/edit"
    response = post_form(client, auth, path, certificate_change(title="", remove_file_ids=str(only.id)))
    message = "A training certificate needs its certificate file: choose the new file as well to replace it"
    page = assert_error_shown(response, "remove_file_ids", message)
    assert error_next_to(page, "title") == "Error: Enter the course title"
    # A new file chosen with it: only the title is wrong.
    data = certificate_change(title="", remove_file_ids=str(only.id), files=(io.BytesIO(pdf_page("new")), "new.pdf"))
    page = text_of(post_form(client, auth, path, data))
    assert list(summary_links(page).values()) == ["title"]
    assert [f.id for f in reload(evidence).files] == [only.id]


def test_a_change_refused_by_its_form_names_a_wrong_file_in_the_same_answer(app, client, auth, worker):
    """As on a new item (found by a helper there): a file of no accepted kind is said with the other problems."""
    evidence = make_item(worker)
    path = f"/portfolio/{evidence.id}/edit"
    data = {**valid_post("reflection"), "title": "", "files": [(io.BytesIO(b"plain words"), "notes.txt")]}
    page = text_of(post_form(client, auth, path, data))
    assert error_next_to(page, "title") == "Error: Enter a title"
    assert error_next_to(page, "files") == "Error: The selected file must be a PDF, PNG, JPEG or DOCX"
    assert reload(evidence).files == [] and files_on_disk(app) == []


# --- a fixed number of queries ----------------------------------------------------------


def add_bulk(owner, count: int, start: int = 0) -> list[Evidence]:
    kinds = list(EvidenceKind)
    statuses = [EvidenceStatus.DRAFT, EvidenceStatus.SUBMITTED]
    return add_rows(
        owner,
        [
            dict(
                kind=kinds[n % len(kinds)],
                status=statuses[n % 2],
                title=f"Bulk item {n}",
                occurred_on=date(2024, 1, 1) + timedelta(days=n),
                description="<p>Some text</p>",
            )
            for n in range(start, start + count)
        ],
    )


def add_links_and_files(items: list[Evidence], refs: list[str]) -> None:
    competences = [competence(ref) for ref in refs]
    rows = []
    for n, item in enumerate(items):
        rows.append(EvidenceLink(evidence_id=item.id, competence_id=competences[n % len(competences)].id))
        rows.append(
            EvidenceFile(
                evidence_id=item.id,
                stored_name=f"{n + item.id:032x}.pdf",
                original_name=f"file {n}.pdf",
                content_type="application/pdf",
                size=100,
                sha256="0" * 64,
            )
        )
    db.session.add_all(rows)
    db.session.commit()


def queries_for(client, count_queries, path: str, headers=None) -> int:
    with count_queries:
        response = client.get(path, headers=headers or {})
    assert response.status_code == 200
    return count_queries.count


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        pytest.param("/portfolio/", None, id="my-portfolio"),
        pytest.param("/portfolio/", {"HX-Request": "true"}, id="my-portfolio-fragment"),
        pytest.param("/portfolio/?status=submitted&q=BULK", {"HX-Request": "true"}, id="my-portfolio-filtered"),
        pytest.param("/portfolio/map", None, id="competence-map"),
    ],
)
def test_pages_run_a_fixed_number_of_queries(client, worker, count_queries, path, headers):
    few = add_bulk(worker, 5)
    add_links_and_files(few, ["PS-LW-01", "PS-LW-02"])
    client.get(path, headers=headers or {})  # warm up (first request of the app)
    with_five = queries_for(client, count_queries, path, headers)

    many = add_bulk(worker, 295, start=5)
    add_links_and_files(many, ["PS-LW-01", "PS-LW-02", "PS-LW-03", "EA-CP-01", "DT-LW-01"])
    assert db.session.scalar(select(func.count()).select_from(Evidence)) == 300
    with_three_hundred = queries_for(client, count_queries, path, headers)
    assert with_three_hundred == with_five, count_queries.statements

    page = text_of(client.get(path, headers=headers or {}))
    if path.startswith("/portfolio/map"):
        row = page.split(competence("PS-LW-01").statement, 1)[1].split("</tr>", 1)[0]
        assert "draft" in row and "submitted for review" in row
    else:
        assert "Bulk item 299" in page or "Bulk item 298" in page


def test_code_in_a_reflection_gets_a_message_next_to_the_field(app, client, auth, worker):
    data = {
        **valid_post("reflection"),
        "what_happened": '<p hx-get="/auth/sign-out" hx-trigger="load">I ran the group.</p>',
    }
    response = post_form(client, auth, "/portfolio/new/reflection", data)
    assert response.status_code == 422
    page = text_of(response)
    assert error_next_to(page, "what_happened") == (
        "Error: Remove the code from this text: scripts, event handlers and hx- attributes are not allowed"
    )
    assert row_counts(*EVIDENCE_MODELS) == NO_EVIDENCE


# --- the competence map's filter by status (issue 14, phones) ---------------------------------------


@pytest.fixture
def map_world(worker):
    """PS-LW-01 in progress (a draft linked), everything else not started."""
    service.link_competence(worker, make_item(worker), competence("PS-LW-01").id)
    return worker


def map_rows(page: str) -> list[str]:
    """The statements the map lists, in order."""
    return [words(m) for m in re.findall(r'<a href="/portfolio/competences/\d+">(.*?)</a>', page, re.S)]


def active_competences(worker) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(Competence)
        .where(Competence.framework_id == worker.framework_id, Competence.retired_at.is_(None))
    )


def test_the_map_has_a_contents_list_jumping_to_each_tier_and_every_competence_by_default(client, map_world):
    page = text_of(client.get("/portfolio/map"))
    contents = page.split('id="contents"', 1)[1].split("</nav>", 1)[0]
    jumps = re.findall(r'href="#(tier-\d)"[^>]*>\s*([^<]*?)\s*</a>', contents)
    assert [(target, text.split(" (")[0]) for target, text in jumps] == [
        ("tier-1", "Link Worker"),
        ("tier-2", "Link Worker Coach"),
        ("tier-3", "Psychosocial Link Worker"),
    ]
    total = active_competences(map_world)
    counts = [re.fullmatch(r".* \(0 of (\d+) met\)", text) for _, text in jumps]  # nothing met yet
    assert all(counts) and sum(int(m.group(1)) for m in counts) == total
    for target, text in jumps:
        assert f'<h2 id="{target}">{text.split(" (")[0]}</h2>' in page  # each jump lands on its tier
    assert len(map_rows(page)) == total
    assert status_line(page, "map-status") == (f"{total} competences", False)
    assert page_title(page) == "Competence map – Evidence portfolio"
    assert selected_options(page, "status") == []  # none chosen: the first, All statuses, shows
    assert [text for _, text in options(page, "status")] == ["All statuses", "Not started", "In progress", "Met"]


def test_the_map_filtered_by_status_shows_only_those_competences_with_it(client, map_world):
    page = text_of(client.get("/portfolio/map?status=in-progress"))
    assert "<html" in page and "<h1>Competence map</h1>" in page
    assert map_rows(page) == [competence("PS-LW-01").statement]
    row = page.split(competence("PS-LW-01").statement, 1)[1].split("</tr>", 1)[0]
    assert "In progress" in words(row)
    assert status_line(page, "map-status") == ("1 competence with status In progress", False)
    assert page_title(page) == "Competence map: 1 competence with status In progress – Evidence portfolio"
    assert selected_options(page, "status") == ["in-progress"]
    assert page.count('<h2 id="tier-') == 3  # every tier stays, to be jumped to
    assert page.count("No competences of this tier with status In progress.") == 2

    page = text_of(client.get("/portfolio/map?status=met"))
    assert map_rows(page) == [] and status_line(page, "map-status") == ("No competences with status Met", False)
    not_started = map_rows(text_of(client.get("/portfolio/map?status=not-started")))
    assert len(not_started) == active_competences(map_world) - 1
    assert competence("PS-LW-01").statement not in not_started


def test_the_map_filter_answers_htmx_with_the_map_and_its_status_line_out_of_band(client, map_world):
    response = client.get("/portfolio/map?status=in-progress", headers={"HX-Request": "true"})
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    body, oob = swapped_parts(text_of(response), "competence-map")
    assert oob == ['<p id="map-status" class="nhsuk-body portfolio-status" role="status" hx-swap-oob="innerHTML">']
    assert status_line(body, "map-status") == ("1 competence with status In progress", True)
    assert page_title(body) == "Competence map: 1 competence with status In progress – Evidence portfolio"
    assert map_rows(body) == [competence("PS-LW-01").statement]
    assert 'id="contents"' not in body  # the contents list and the filter stay as they are


def test_a_boosted_request_for_the_filtered_map_gets_the_whole_page(client, map_world):
    response = client.get("/portfolio/map?status=in-progress", headers={"HX-Request": "true", "HX-Boosted": "true"})
    page = text_of(response)
    assert "<html" in page and 'id="contents"' in page
    assert status_line(page, "map-status") == ("1 competence with status In progress", False)
    assert map_rows(page) == [competence("PS-LW-01").statement]


def test_an_unknown_status_is_ignored_and_said_next_to_the_filter(client, map_world):
    """A status from a hand-edited address: the whole map, 200 (as My portfolio's filters), the message by the field."""
    response = client.get("/portfolio/map?status=done")
    assert response.status_code == 200
    page = text_of(response)
    assert error_next_to(page, "status") == "Error: Choose Not started, In progress, Met or All statuses"
    assert "<details" in page and re.search(r"<details[^>]*\bopen\b", page)  # the filter is open, message in view
    assert len(map_rows(page)) == active_competences(map_world)
    assert status_line(page, "map-status") == (f"{active_competences(map_world)} competences", False)


# --- the map's rows, kept until the portfolio or a framework changes (issue 12, speed) -------------------


@pytest.fixture
def rendered(monkeypatch):
    """The blocks the routes render on their own to keep, as "template:block", in order."""
    names: list[str] = []
    render_block = evidence_routes.render_block

    def recording(template: str, block: str, **context):
        names.append(f"{template}:{block}")
        return render_block(template, block, **context)

    monkeypatch.setattr(evidence_routes, "render_block", recording)
    return names


MAP, LIST = "evidence/map.html:competence_map", "evidence/index.html:evidence_list"


def without_tokens(page: str) -> str:
    """The page without its CSRF tokens (signed afresh on every request)."""
    return re.sub(r'(name="csrf-token" content|name="csrf_token" value)="[^"]*"', r'\1=""', page)


def test_the_maps_rows_are_rendered_once_per_filter_and_then_kept(client, map_world, rendered):
    first = text_of(client.get("/portfolio/map"))
    assert rendered.count(MAP) == 1
    again = text_of(client.get("/portfolio/map"))
    assert rendered.count(MAP) == 1  # the page again, its rows from the kept copy
    assert without_tokens(again) == without_tokens(first)
    assert map_rows(again) == map_rows(first) and len(map_rows(again)) == active_competences(map_world)

    filtered = client.get("/portfolio/map?status=in-progress", headers={"HX-Request": "true"})
    assert map_rows(text_of(filtered)) == [competence("PS-LW-01").statement]  # another filter: rendered for it
    assert rendered.count(MAP) == 2
    assert without_tokens(text_of(client.get("/portfolio/map"))) == without_tokens(first)  # the map is still kept
    assert rendered.count(MAP) == 2


def test_the_map_says_signed_off_as_what_counts(client, auth, worker, supervisor):
    """An item signed off without accepting a competence does not count for it, and the map says so."""
    first, second = competence("PS-LW-01"), competence("PS-LW-02")
    meet(worker, [first], supervisor=supervisor)
    not_accept(worker, [second], supervisor=supervisor)
    page = text_of(client.get("/portfolio/map"))
    assert map_row(page, first.statement) == f"{first.statement} 1 1 accepted Met"
    assert map_row(page, second.statement) == f"{second.statement} 1 1 signed off, not accepted for this In progress"


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true"}], ids=["page", "fragment"])
def test_my_portfolio_says_how_many_competences_a_sign_off_accepted_when_not_all(
    client, auth, worker, supervisor, headers
):
    """Found by a helper: "Signed off 3" read as all three accepted, though one was not."""
    first, second, third = competence("PS-LW-01"), competence("PS-LW-02"), competence("PS-LW-03")
    partly = meet(worker, [first, second, third], supervisor=supervisor, title="Partly accepted")
    db.session.execute(
        update(CompetenceDecision)
        .where(CompetenceDecision.competence_id == third.id)
        .values(accepted=False, comment="Not shown")
    )
    db.session.commit()
    meet(worker, [first, second], supervisor=supervisor, title="All accepted")
    auth.login_as(worker)
    rows = {row[0]: row for row in table_rows(text_of(client.get("/portfolio/", headers=headers)), "evidence-table")}
    assert rows[f"Partly accepted {partly.kind.label}"][-1] == "3 2 accepted"
    assert rows[f"All accepted {partly.kind.label}"][-1] == "2"
    # Counted as the links are, whatever framework the worker is on now (found by a review: a worker moved to
    # another framework read "2 / 0 accepted").
    moved = tier("sfh-senior-engagement-worker", "senior-engagement-worker")
    worker.tier_id, worker.framework_id = moved.id, moved.framework_id
    db.session.commit()
    rows = {
        row[0]: row
        for row in table_rows(text_of(client.get("/portfolio/?q=accepted", headers=headers)), "evidence-table")
    }
    assert rows[f"Partly accepted {partly.kind.label}"][-1] == "3 2 accepted"
    assert rows[f"All accepted {partly.kind.label}"][-1] == "2"


def test_the_map_counts_a_supervision_note_as_a_note_not_a_draft(client, auth, worker, supervisor):
    """Found by a review: a note is never sent for review, so it kept its first status and the map said "1 draft"
    for the record of a supervision; as My portfolio does, the map calls it a supervision note."""
    first, second = competence("PS-LW-01"), competence("PS-LW-02")
    for title, to in (("March", [first, second]), ("April", [first])):
        note = supervision_note(worker, supervisor, title=f"Supervision in {title}")
        note.links = [EvidenceLink(competence_id=c.id) for c in to]
    link_draft(worker, [first])
    db.session.commit()
    auth.login_as(worker)
    page = text_of(client.get("/portfolio/map"))
    assert map_row(page, first.statement) == f"{first.statement} 3 1 draft 2 supervision notes In progress"
    assert map_row(page, second.statement) == f"{second.statement} 1 1 supervision note In progress"


def test_a_change_to_the_portfolio_shows_on_the_map_at_once(client, auth, map_world):
    assert "1 draft" in map_row(text_of(client.get("/portfolio/map")), competence("PS-LW-01").statement)
    assert "No evidence" in map_row(text_of(client.get("/portfolio/map")), competence("PS-LW-02").statement)
    item = make_item(map_world, title="Second reflection")
    response = client.post(
        f"/portfolio/{item.id}/links",
        data={"csrf_token": auth.token(f"/portfolio/{item.id}/links"), "competence_id": competence("PS-LW-02").id},
    )
    assert response.status_code == 303
    page = text_of(client.get("/portfolio/map"))
    row = map_row(page, competence("PS-LW-02").statement)
    assert "1 draft" in row and "In progress" in row
    assert map_rows(text_of(client.get("/portfolio/map?status=in-progress"))) == [
        competence("PS-LW-01").statement,
        competence("PS-LW-02").statement,
    ]


def test_a_statement_reworded_shows_on_the_map_at_once(client, map_world):
    assert competence("PS-LW-01").statement in map_rows(text_of(client.get("/portfolio/map")))
    statement = competence("PS-LW-01")
    statement.statement = "Reworded: works with people to find what matters to them"
    db.session.commit()  # a framework's change: every portfolio's kept answers are stale
    rows = map_rows(text_of(client.get("/portfolio/map")))
    assert "Reworded: works with people to find what matters to them" in rows


def test_one_workers_kept_map_is_never_another_workers(client, auth, map_world, other_worker):
    assert "1 draft" in map_row(text_of(client.get("/portfolio/map")), competence("PS-LW-01").statement)
    auth.login_as(other_worker)
    row = map_row(text_of(client.get("/portfolio/map")), competence("PS-LW-01").statement)
    assert "No evidence" in row and "draft" not in row


# --- My portfolio's list, kept for the whole portfolio until it changes (issue 12, speed) -----------------


def test_a_page_of_the_whole_portfolio_is_rendered_once_and_then_kept(client, worker, portfolio, rendered):
    first = text_of(client.get("/portfolio/"))
    assert rendered.count(LIST) == 1
    again = text_of(client.get("/portfolio/"))  # the page again, its list from the kept copy
    assert without_tokens(again) == without_tokens(first)
    fragment = text_of(client.get("/portfolio/", headers={"HX-Request": "true"}))
    assert rendered.count(LIST) == 1
    body, _ = swapped_parts(fragment, "evidence-list")
    assert (
        listed_titles(body)
        == listed_titles(first)
        == [
            "Community garden visit",
            "Safeguarding certificate",
            "Walking group",
            "Observed assessment",
        ]
    )
    assert status_line(fragment, "evidence-count") == ("4 items", True)  # the numbers kept with it

    for _ in range(2):  # a filtered list is read and rendered every time
        filtered = text_of(client.get("/portfolio/?kind=reflection"))
        assert listed_titles(filtered) == ["Community garden visit", "Walking group"]
    assert rendered.count(LIST) == 3


def test_each_page_of_the_whole_portfolio_is_kept_with_its_own_numbers(client, worker, rendered):
    add_rows(
        worker,
        [
            dict(kind=EvidenceKind.OTHER, title=f"Item {n:02d}", occurred_on=date(2025, 1, 1) + timedelta(days=n))
            for n in range(25)
        ],
    )
    for _ in range(2):
        first = text_of(client.get("/portfolio/"))
        second = text_of(client.get("/portfolio/?page=2"))
        assert listed_titles(first) == [f"Item {n:02d}" for n in range(24, 4, -1)]
        assert status_of(first, "evidence-count") == "25 items, showing 1 to 20 (page 1 of 2)"
        assert 'href="/portfolio/?page=2"' in first
        assert listed_titles(second) == [f"Item {n:02d}" for n in range(4, -1, -1)]
        assert status_of(second, "evidence-count") == "25 items, showing 21 to 25 (page 2 of 2)"
    assert rendered.count(LIST) == 2


def replace_file_row(stored: EvidenceFile, **changes) -> EvidenceFile:
    """Another row like ``stored``, for the same item, written without the item changing."""
    columns = ("evidence_id", "stored_name", "original_name", "content_type", "size", "sha256")
    return EvidenceFile(**{**{name: getattr(stored, name) for name in columns}, **changes})


def test_a_change_to_the_portfolio_shows_in_the_list_at_once(client, worker):
    item = make_item(worker, title="First reflection")
    page = text_of(client.get("/portfolio/"))
    assert listed_titles(page) == ["First reflection"] and status_of(page, "evidence-count") == "1 item"
    assert "1 file" not in words(page)

    same = EvidenceInput(
        title="First reflection",
        occurred_on=EVENT_DAY,
        what_happened="I visited a person at home.",
        what_learned="Listen first.",
    )
    service.update_evidence(worker, reload(item), same, [FileStorage(stream=io.BytesIO(PDF), filename="notes.pdf")])
    assert "Reflective account, 1 file" in words(text_of(client.get("/portfolio/")))  # a file added with the item

    db.session.add(replace_file_row(reload(item).files[0], stored_name="second.pdf"))  # a file row alone
    db.session.commit()
    assert "Reflective account, 2 files" in words(text_of(client.get("/portfolio/")))

    service.remove_file(worker, reload(item), reload(item).files[0])  # a removal alone
    assert "Reflective account, 1 file" in words(text_of(client.get("/portfolio/")))

    service.update_evidence(worker, reload(item), replace(same, title="First reflection, renamed"))
    make_item(worker, title="Second reflection", occurred_on=EVENT_DAY + timedelta(days=1))
    page = text_of(client.get("/portfolio/"))
    assert listed_titles(page) == ["Second reflection", "First reflection, renamed"]
    assert status_of(page, "evidence-count") == "2 items"


def test_a_list_with_a_filter_given_twice_is_not_kept_as_the_whole_portfolio(client, worker, portfolio):
    """An empty value and a real one for the same filter (a hand-made address): the form reads the first, the
    page links keep both, so the list is not the whole portfolio's and is not kept as it."""
    add_rows(
        worker,
        [
            dict(kind=EvidenceKind.OTHER, title=f"Item {n:02d}", occurred_on=date(2025, 1, 1) + timedelta(days=n))
            for n in range(25)
        ],
    )
    twice = text_of(client.get("/portfolio/?kind=&kind=other&page=2"))
    # No filter applies (the form reads the empty value), so the count does not say "match your filters".
    assert status_of(twice, "evidence-count") == "29 items, showing 21 to 29 (page 2 of 2)"
    assert 'href="/portfolio/?kind=other"' in twice
    whole = text_of(client.get("/portfolio/?page=2"))
    assert status_of(whole, "evidence-count") == "29 items, showing 21 to 29 (page 2 of 2)"
    assert 'href="/portfolio/"' in whole and "kind=other" not in whole.split('id="evidence-list"', 1)[1]
    blank = text_of(client.get("/portfolio/?kind=&status=&page=2"))  # a form sent with no filter chosen
    assert status_of(blank, "evidence-count") == "29 items, showing 21 to 29 (page 2 of 2)"


def test_one_workers_kept_list_is_never_another_workers(client, auth, worker, other_worker):
    make_item(worker, title="Wendy's reflection")
    make_item(other_worker, title="Olive's reflection")
    assert listed_titles(text_of(client.get("/portfolio/"))) == ["Wendy's reflection"]
    auth.login_as(other_worker)
    assert listed_titles(text_of(client.get("/portfolio/"))) == ["Olive's reflection"]


def test_a_change_names_every_problem_in_one_answer(app, client, auth, worker):
    """As on a new item: the form refuses the hours, the service the expiry before the date completed; both at once."""
    evidence = make_item(worker, EvidenceKind.CERTIFICATE, uploads=[("cert.pdf", PDF)])
    data = {
        **valid_post("certificate"),
        "cpd_hours": "three",
        **date_fields("expires_on", EVENT_DAY - timedelta(days=1)),
        "title": "Safeguarding adults level 3",
    }
    response = post_form(client, auth, f"/portfolio/{evidence.id}/edit", data)
    assert response.status_code == 422
    page = text_of(response)
    assert {href: message for message, href in summary_links(page).items()} == {
        "expires_on-day": "The expiry date must be the same as or after the date completed",
        "cpd_hours": "Enter CPD hours as a number, like 7.5",
    }
    assert 'value="three"' in page
    stored = reload(evidence)
    assert (stored.title, stored.expires_on, stored.cpd_hours) == ("Safeguarding adults level 2", None, None)
    assert [f.original_name for f in stored.files] == ["cert.pdf"] and len(files_on_disk(app)) == 1
    # Only the form's problem left: the service has nothing more to say, and the page says the one.
    data = {**data, **date_fields("expires_on", None), "files": []}
    response = post_form(client, auth, f"/portfolio/{evidence.id}/edit", data)
    assert list(summary_links(text_of(response)).values()) == ["cpd_hours"]
    assert reload(evidence).title == "Safeguarding adults level 2"


@pytest.mark.parametrize("signed_in", [True, False], ids=["signed-in", "signed-out"])
def test_a_reflection_sent_after_its_form_expired_is_shown_back_to_copy(client, auth, worker, signed_in):
    """Found by a helper trying the app: a reflection written over half an hour, sent after the idle timeout (its
    form's token lived with the session), was lost with the page. Nothing is saved, and what was typed is shown."""
    if not signed_in:
        client.delete_cookie("session")  # the idle timeout: the session cookie is gone
    written = {
        "title": "Group session on healthy eating",
        "what_happened": "Six people came.\nTwo brought recipes.",
        "what_learned": "Asking first keeps everyone talking.",
        "occurred_on-day": "3",
        "csrf_token": "a token of a session that has ended",
        "form_key": "abc",
    }
    response = client.post("/portfolio/new/reflection", data=written, headers={"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 400
    page = text_of(response)
    assert "Your form has expired" in page and "Nothing was saved" in page
    assert ("you were signed out" in page) is not signed_in
    shown = page.split('id="written"', 1)[1]
    assert re.findall(r'<h3 class="nhsuk-heading-s">([^<]+)</h3>', shown) == [
        "Title",
        "What happened",
        "What I learned",
    ]
    assert "Six people came.\nTwo brought recipes." in shown
    assert "a token of a session" not in page and ">abc<" not in page and ">3<" not in page
    assert response.headers["Cache-Control"] == "no-store"
    assert row_counts(*EVIDENCE_MODELS) == NO_EVIDENCE


def test_a_password_is_never_shown_back_on_an_expired_form(client, app):
    """Found by a review: the invitation form's second password field ("confirm") was shown back in plain text."""
    from portfolio.errors import _typed_fields

    shown = _typed_fields()
    for form in (PasswordField, HiddenField):
        assert not [name for name in shown if name in _field_names_of(form)], form
    page = text_of(
        client.post(
            "/invitation/not-a-token",
            data={"csrf_token": "stale", "password": "Correct horse battery 42", "confirm": "Correct horse battery 42"},
            headers={"Sec-Fetch-Site": "same-origin"},
        )
    )
    assert "Correct horse" not in page


def _field_names_of(field_class) -> set[str]:
    """The names every form gives fields of ``field_class`` (a password, a hidden value)."""
    from wtforms import Form
    from wtforms.fields.core import UnboundField

    names, classes = set(), [Form]
    while classes:
        cls = classes.pop()
        classes.extend(cls.__subclasses__())
        names |= {
            n for n, f in vars(cls).items() if isinstance(f, UnboundField) and issubclass(f.field_class, field_class)
        }
    return names


def test_another_sites_form_posted_here_is_not_shown_back(client, auth, worker):
    """A page of ours must not carry words another site's form posted (a message to mislead whoever reads it)."""
    data = {"title": "Your account is locked: call 0800 000 000", "csrf_token": "forged"}
    for headers in ({"Sec-Fetch-Site": "cross-site", "Origin": "https://elsewhere.example"}, {}):
        response = client.post("/portfolio/new/reflection", data=data, headers=headers)
        assert response.status_code == 400
        assert "Your account is locked" not in text_of(response) and 'id="written"' not in text_of(response)
