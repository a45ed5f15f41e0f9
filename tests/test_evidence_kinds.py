"""The registry of evidence kinds: every kind has every piece, and every place that differs by kind asks it.

The tests iterate the registry, so a kind added to it is checked everywhere
here without a new test; SAMPLES must hold an item of it (the first test says so).
"""

from __future__ import annotations

import io
import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from portfolio.errors import FieldError
from portfolio.evidence import kinds, service
from portfolio.evidence.forms import EvidenceForm
from portfolio.evidence.service import AnonymityCheckNeeded, EvidenceInput
from portfolio.extensions import db
from portfolio.models import Evidence, EvidenceKind
from portfolio.privacy import export
from portfolio.review.service import content_hash
from tests.factories import EVENT_DAY, NHS_NUMBER, PDF, PINNED_TODAY
from tests.pages import text_of

ENTRIES = list(kinds.KINDS.values())
# Rendered by the page itself, not by a kind's partial.
# Drawn by the page, not a kind's template; remove_file_ids only on a change of an item with files (its own tests in
# test_evidence_routes).
PAGE_FIELDS = {"csrf_token", "form_key", "files", "confirm_anonymous", "remove_file_ids", "seen"}

#: A valid item of each kind, every typed and written part holding a word found nowhere else.
SAMPLES: dict[EvidenceKind, dict] = {
    EvidenceKind.REFLECTION: dict(
        title="Walking group zephyr",
        what_happened="Ran it quokka.",
        what_learned="Pace it wombat.",
        practice_change="Shorter routes narwhal.",
        next_steps="Ask members okapi.",
    ),
    EvidenceKind.CERTIFICATE: dict(
        title="Safeguarding adults zephyr",
        provider="Learning Hub axolotl",
        expires_on=date(2029, 3, 10),
        cpd_hours=Decimal("3.5"),
    ),
    EvidenceKind.SUPERVISION_NOTE: dict(title="Supervision zephyr", description="Caseload quokka."),
    EvidenceKind.OBSERVATION: dict(
        title="Observed zephyr", observed_by="Practice lead axolotl", description="What they saw quokka."
    ),
    EvidenceKind.FEEDBACK: dict(
        title="Card zephyr",
        feedback_source="partner-agency",
        feedback_from="Adviser axolotl",
        description="Thank you quokka.",
    ),
    EvidenceKind.OTHER: dict(title="Asset map zephyr", description="Local groups quokka."),
}


def visible_text(page: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


def evidence_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Evidence))


@pytest.fixture
def worker(worker, auth):
    """The kit's worker, signed in."""
    auth.login_as(worker)
    return worker


def sample_input(entry: kinds.Kind, supervisor, **changes) -> EvidenceInput:
    values = {"occurred_on": EVENT_DAY, **SAMPLES[entry.kind], **changes}
    if entry.supervisor_confirms:
        values.setdefault("supervisor_id", supervisor.id)
    return EvidenceInput(**values)


def create_sample(entry: kinds.Kind, worker, supervisor, **changes) -> Evidence:
    uploads = [FileStorage(stream=io.BytesIO(PDF), filename="certificate.pdf")] if entry.file_required else []
    return service.create_evidence(
        worker, entry.kind, sample_input(entry, supervisor, **changes), uploads, today=PINNED_TODAY
    )


# --- every kind has every piece -----------------------------------------------------------


def test_every_kind_is_registered_once_and_has_a_sample(app):
    assert list(kinds.KINDS) == list(EvidenceKind)
    assert all(kinds.get(kind).kind is kind and kinds.get(kind.value) is kinds.get(kind) for kind in EvidenceKind)
    assert set(SAMPLES) == set(kinds.KINDS), "add a sample item of the new kind to SAMPLES"
    with pytest.raises(ValueError):
        kinds.get("diary")


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.value)
def test_every_kind_has_every_piece(app, entry):
    columns = set(Evidence.__table__.columns.keys())
    fields = set(entry.form_fields())
    assert entry.label and entry.add_heading.startswith("Add ") and entry.hint and entry.date_label
    assert entry.kind.label == entry.label and entry.kind.add_heading == entry.add_heading
    assert issubclass(entry.form, EvidenceForm)
    assert {"title", "occurred_on", "files"} <= fields
    # Every typed and written column is a column of the item and a field of its form, with a label for messages.
    for name in entry.plain_columns + entry.text_columns:
        assert name in columns and name in fields, name
        assert entry.field_label(name) and "(optional)" not in entry.field_label(name)
    assert all(heading for _, heading in entry.written)
    assert set(entry.export_columns) <= columns
    # Both partials exist and compile.
    for name in (entry.fields_template, entry.show_template):
        assert app.jinja_env.get_template(name) is not None
    assert entry.fields_template == f"evidence/kinds/{entry.value.replace('-', '_')}_fields.html"


def test_every_kinds_columns_reach_search_the_hash_and_the_export(app):
    for entry in ENTRIES:
        assert set(entry.text_columns) <= set(kinds.TEXT_COLUMNS)
        assert set(entry.plain_columns) <= set(kinds.PLAIN_COLUMNS)
        assert set(entry.export_columns) <= set(kinds.EXPORT_COLUMNS)


# --- the pages ask the registry ------------------------------------------------------------


def test_choosing_a_kind_lists_every_registered_kind_with_its_hint(client, worker):
    response = client.get("/portfolio/new")
    page = text_of(response)
    assert response.status_code == 200
    for entry in ENTRIES:
        assert f'value="{entry.value}"' in page
        assert entry.label in page and entry.hint in page


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.value)
def test_each_kinds_form_page_shows_every_field_of_its_form(client, worker, supervisor, entry):
    response = client.get(f"/portfolio/new/{entry.value}", follow_redirects=True)
    page = text_of(response)
    assert response.status_code == 200
    assert f"<h1>{entry.add_heading}</h1>" in page
    for name in set(entry.form_fields()) - PAGE_FIELDS:
        assert f'name="{name}' in page, f"{entry.fields_template} does not show {name}"
    for name in entry.plain_columns + entry.text_columns:
        assert entry.field_label(name) in page


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.value)
def test_each_kinds_page_shows_its_rows_and_written_parts(client, worker, supervisor, entry):
    evidence = create_sample(entry, worker, supervisor)
    response = client.get(f"/portfolio/{evidence.id}")
    page = visible_text(text_of(response))
    assert response.status_code == 200
    assert entry.label in page
    assert f"{entry.date_label} 10 March 2026" in page
    for name, heading in entry.written:
        assert f"{heading} {SAMPLES[entry.kind][name]}" in page
    for name in entry.short:
        assert SAMPLES[entry.kind][name] in page
    assert ("Confirmation by Sam Supervisor" in page) == entry.supervisor_confirms


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.value)
def test_changing_an_item_fills_its_form_with_what_it_holds(client, worker, supervisor, entry):
    evidence = create_sample(entry, worker, supervisor)
    response = client.get(f"/portfolio/{evidence.id}/edit")
    page = text_of(response)
    assert response.status_code == 200
    for name in entry.plain_columns:
        assert f'value="{SAMPLES[entry.kind][name]}"' in page
    for name in entry.text_columns:
        assert SAMPLES[entry.kind][name] in page


# --- one set of messages: the form's, for the form and for a direct caller --------------------


REQUIRED = [
    pytest.param(entry, name, id=f"{entry.value}-{name}")
    for entry in ENTRIES
    for name in entry.plain_columns + entry.text_columns
    if entry.required_message(name)
]


@pytest.mark.parametrize(("entry", "name"), REQUIRED)
def test_a_direct_caller_gets_the_forms_message_for_a_missing_field(app, worker, supervisor, entry, name):
    with pytest.raises(FieldError) as error:
        create_sample(entry, worker, supervisor, **{name: "  "})
    assert (error.value.field, error.value.message) == (name, entry.required_message(name))
    assert evidence_count() == 0


@pytest.mark.parametrize(("entry", "name"), REQUIRED)
def test_the_form_shows_the_same_message_next_to_the_field(client, auth, worker, supervisor, entry, name):
    path = f"/portfolio/new/{entry.value}"
    data = {
        "csrf_token": auth.token(path),
        "occurred_on-day": "10",
        "occurred_on-month": "3",
        "occurred_on-year": "2026",
    }
    data |= {key: str(value) for key, value in SAMPLES[entry.kind].items() if not isinstance(value, date)}
    data[name] = ""
    response = client.post(path, data=data, content_type="multipart/form-data")
    page = visible_text(text_of(response))
    assert response.status_code == 422
    assert "There is a problem" in page
    assert f"Error: {entry.required_message(name)}" in page  # the inline message, after its hidden prefix
    assert evidence_count() == 0


def test_the_numbers_a_form_allows_are_the_numbers_the_service_allows(app, worker, supervisor):
    entry = kinds.get(EvidenceKind.CERTIFICATE)
    rule = entry.range_rule("cpd_hours")
    with pytest.raises(FieldError) as error:
        create_sample(entry, worker, supervisor, cpd_hours=Decimal(rule.max) + Decimal("0.01"))
    assert (error.value.field, error.value.message) == ("cpd_hours", "CPD hours must be between 0 and 1,000")
    stored = create_sample(entry, worker, supervisor, cpd_hours=Decimal(rule.max))
    assert db.session.get(Evidence, stored.id).cpd_hours == Decimal("1000.00")


# --- search, content hash, export and the anonymity check cover every kind's fields ------------


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.value)
def test_every_written_and_typed_part_is_searchable(client, worker, supervisor, entry):
    evidence = create_sample(entry, worker, supervisor)
    stored = db.session.get(Evidence, evidence.id)
    for name in entry.plain_columns + entry.text_columns:
        word = SAMPLES[entry.kind][name].split()[-1].strip(".").lower()
        assert word in stored.search_text
        response = client.get(f"/portfolio/?q={word}", headers={"HX-Request": "true"})
        fragment = text_of(response)
        assert "<html" not in fragment and SAMPLES[entry.kind]["title"] in fragment, name


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.value)
def test_a_change_to_any_part_changes_the_content_hash(app, worker, supervisor, entry):
    evidence = db.session.get(Evidence, create_sample(entry, worker, supervisor).id)
    before = content_hash(evidence)
    for name in entry.plain_columns + entry.text_columns:
        original = getattr(evidence, name)
        setattr(evidence, name, original + " changed")
        assert content_hash(evidence) != before, name
        setattr(evidence, name, original)
    assert content_hash(evidence) == before
    db.session.rollback()


def test_an_observation_saved_before_its_observer_was_asked_keeps_its_content_hash(app, worker, supervisor):
    """Migration 0030 added who observed: an observation sent for review before it, without one, must still match
    the hash its submission holds, or the review would say it changed since it was sent."""
    import hashlib
    import json

    entry = kinds.get(EvidenceKind.OBSERVATION)
    evidence = db.session.get(Evidence, create_sample(entry, worker, supervisor).id)
    evidence.observed_by = None
    # What content_hash held before 0030, key for key.
    before_0030 = {
        "kind": "observation",
        "title": evidence.title,
        "occurred_on": evidence.occurred_on.isoformat(),
        "text": [getattr(evidence, name) for name in kinds.TEXT_COLUMNS],
        "provider": None,
        "expires_on": None,
        "cpd_hours": None,
        "supervisor_id": None,
        "feedback": [None, None],
        "actions": [],
        "files": [],
        "links": [],
    }
    expected = hashlib.sha256(json.dumps(before_0030, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    assert content_hash(evidence) == expected
    evidence.observed_by = "Priya Shah, practice lead"
    assert content_hash(evidence) != expected
    db.session.rollback()


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.value)
def test_the_export_holds_every_kinds_own_columns(app, worker, supervisor, entry):
    create_sample(entry, worker, supervisor)
    [row] = export.collect(worker)["evidence"]
    assert row["kind"] == entry.value
    for name in entry.export_columns + entry.text_columns:
        # As the export writes them: dates as ISO dates, hours as numbers, written parts as their HTML.
        assert str(export._plain(SAMPLES[entry.kind][name])) in str(export._plain(row[name])), name


FIXED_FIELDS = [
    pytest.param(entry, name, id=f"{entry.value}-{name}")
    for entry in ENTRIES
    for name in entry.plain_columns + (() if entry.confirmable else entry.text_columns)
]


@pytest.mark.parametrize(("entry", "name"), FIXED_FIELDS)
def test_identifying_details_are_refused_in_every_field_that_cannot_be_confirmed(app, worker, supervisor, entry, name):
    with pytest.raises(FieldError) as error:
        create_sample(entry, worker, supervisor, **{name: f"Mr D, NHS number {NHS_NUMBER}"})
    assert error.value.field == name
    assert error.value.message.startswith(f"{entry.field_label(name)} contains 1 possible NHS number")
    assert evidence_count() == 0


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.confirmable], ids=lambda e: e.value)
def test_a_confirmable_kinds_written_parts_ask_for_confirmation(app, worker, supervisor, entry):
    for name in entry.text_columns:
        with pytest.raises(AnonymityCheckNeeded) as error:
            create_sample(entry, worker, supervisor, **{name: f"Called about NHS number {NHS_NUMBER}"})
        assert error.value.message.endswith("not about a person you support")
        assert f"in {entry.field_label(name)}" in error.value.message
    assert evidence_count() == 0
