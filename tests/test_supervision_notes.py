"""Supervision notes: one state both sides read (waiting for confirmation, confirmed, disputed), and the only
supervisor preselected when a worker writes one."""

from __future__ import annotations

import re
from datetime import date

import pytest

from portfolio.extensions import db
from portfolio.models import Evidence, EvidenceKind, EvidenceLink, NoteOutcome, NoteState, Role
from portfolio.review import service as review
from tests.factories import assign, competence, make_user, supervision_note, tier
from tests.pages import options, selected, text_of


@pytest.fixture
def people(app, frameworks):
    worker = make_user(Role.WORKER, name="Wendy Worker", tier=tier("link-worker", "link-worker"))
    sam = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    assign(sam, worker, starts_on=date(2026, 1, 1))
    return worker, sam


def state_on_both_sides(client, auth, people, note: Evidence) -> tuple[str, str]:
    """The words of the note's state tag on the worker's page, then on the supervisor's."""
    worker, sam = people
    auth.login_as(worker)
    mine = text_of(client.get(f"/portfolio/{note.id}"))
    auth.login_as(sam)
    theirs = text_of(client.get(f"/review/notes/{note.id}"))
    return tags_in(mine, 'id="status"'), tags_in(theirs, 'id="note-state"')


def tags_in(page: str, marker: str) -> str:
    paragraph = page.split(marker, 1)[1].split("</p>", 1)[0]
    return " / ".join(
        " ".join(t.split()) for t in re.findall(r'<strong class="nhsuk-tag[^"]*"\s*>(.*?)</strong>', paragraph, re.S)
    )


def test_a_new_note_is_waiting_for_confirmation_not_a_draft(client, auth, people):
    worker, sam = people
    note = supervision_note(worker, sam)
    assert note.note_state == NoteState.WAITING
    assert state_on_both_sides(client, auth, people, note) == ("Waiting for confirmation", "Waiting for confirmation")
    auth.login_as(worker)
    assert "Draft" not in text_of(client.get(f"/portfolio/{note.id}")).split('id="status"', 1)[1].split("</p>", 1)[0]


def test_a_disputed_note_says_so_on_both_sides(client, auth, people):
    worker, sam = people
    note = supervision_note(worker, sam)
    review.review_note(sam, note, NoteOutcome.DISPUTED, "We did not agree the second action.")
    db.session.expire_all()
    assert db.session.get(Evidence, note.id).note_state == NoteState.DISPUTED
    assert state_on_both_sides(client, auth, people, note) == ("Disputed", "Disputed")


def test_the_data_export_says_each_notes_state_as_its_pages_do(app, people):
    """Found by a helper: the export said a confirmed note was "draft" (its status) while the app said Confirmed."""
    from portfolio.privacy import export

    worker, sam = people
    waiting, disputed, confirmed = (supervision_note(worker, sam, title=t) for t in ("One", "Two", "Three"))
    review.review_note(sam, disputed, NoteOutcome.DISPUTED, "Not what we agreed.")
    review.review_note(sam, db.session.get(Evidence, confirmed.id), NoteOutcome.DISPUTED, "First thoughts.")
    review.review_note(sam, db.session.get(Evidence, confirmed.id), NoteOutcome.CONFIRMED, "")
    db.session.expire_all()
    rows = {row["title"]: row for row in export.collect(db.session.get(type(worker), worker.id))["evidence"]}
    assert {title: (row["status"], row["note_state"]) for title, row in rows.items()} == {
        "One": ("draft", "waiting"),
        "Two": ("draft", "disputed"),
        "Three": ("draft", "confirmed"),
    }


def test_a_confirmed_note_is_confirmed_everywhere_and_offers_nothing_to_do(client, auth, people):
    worker, sam = people
    note = supervision_note(worker, sam)
    review.review_note(sam, note, NoteOutcome.DISPUTED, "We did not agree the second action.")
    review.review_note(sam, db.session.get(Evidence, note.id), NoteOutcome.CONFIRMED, "")
    db.session.expire_all()
    assert db.session.get(Evidence, note.id).note_state == NoteState.CONFIRMED  # the confirmation wins
    assert state_on_both_sides(client, auth, people, note) == ("Confirmed", "Confirmed")

    auth.login_as(worker)
    page = text_of(client.get(f"/portfolio/{note.id}"))
    assert "Draft" not in page
    assert "Submit for review" not in page and f"/portfolio/{note.id}/submit" not in page
    assert f"/portfolio/{note.id}/edit" not in page
    # In the list of the worker's portfolio too.
    listing = text_of(client.get("/portfolio/"))
    row = listing.split(note.title, 1)[1].split("</tr>", 1)[0]
    assert "Confirmed" in row and "Draft" not in row


def test_other_kinds_keep_their_review_status(client, auth, people):
    worker, _ = people
    item = Evidence(owner_id=worker.id, kind=EvidenceKind.OTHER, title="Leaflet", occurred_on=date(2026, 3, 1))
    db.session.add(item)
    db.session.commit()
    assert item.note_state is None
    auth.login_as(worker)
    assert tags_in(text_of(client.get(f"/portfolio/{item.id}")), 'id="status"') == "Draft"


def test_the_only_supervisor_is_preselected(client, auth, people):
    worker, sam = people
    auth.login_as(worker)
    page = text_of(client.get("/portfolio/new/supervision-note", follow_redirects=True))
    assert selected(page, "supervisor_id") == [str(sam.id)]


def test_with_two_supervisors_the_worker_chooses(client, auth, people):
    worker, sam = people
    fatima = make_user(Role.SUPERVISOR, name="Fatima First")
    assign(fatima, worker, starts_on=date(2026, 1, 1))
    auth.login_as(worker)
    page = text_of(client.get("/portfolio/new/supervision-note", follow_redirects=True))
    assert selected(page, "supervisor_id") in ([], ["0"])
    assert {v for v, _ in options(page, "supervisor_id")} == {"0", str(sam.id), str(fatima.id)}


# --- The competence page and What's missing say the same as the note's own page --------------


def linked_note(worker, sam, ref: str = "PS-LW-01") -> Evidence:
    """A supervision note linked to competence ``ref`` (still a draft as far as review goes)."""
    note = supervision_note(worker, sam)
    db.session.add(EvidenceLink(evidence_id=note.id, competence_id=competence(ref).id))
    db.session.commit()
    return note


def note_line(page: str, note: Evidence) -> str:
    """The words of the line naming ``note`` in a list of linked items."""
    return " ".join(page.split(f'href="/portfolio/{note.id}"', 1)[1].split("</li>", 1)[0].split())


@pytest.mark.parametrize(
    ("answers", "state"),
    [
        ((), "Waiting for confirmation"),
        ((NoteOutcome.DISPUTED,), "Disputed"),
        ((NoteOutcome.DISPUTED, NoteOutcome.CONFIRMED), "Confirmed"),
    ],
)
def test_linked_lists_show_the_notes_one_state_never_draft(client, auth, people, answers, state):
    worker, sam = people
    note = linked_note(worker, sam)
    for outcome in answers:
        review.review_note(
            sam, db.session.get(Evidence, note.id), outcome, "Not quite." if outcome.value == "disputed" else ""
        )
    db.session.expire_all()
    auth.login_as(worker)
    on_competence = note_line(text_of(client.get(f"/portfolio/competences/{competence('PS-LW-01').id}")), note)
    on_missing = note_line(text_of(client.get("/progress/missing")), note)
    for line in (on_competence, on_missing):
        assert state in line
        assert "Draft" not in line


def test_the_competence_page_reads_every_notes_state_in_one_query(client, auth, people, count_queries):
    worker, sam = people
    linked_note(worker, sam)
    auth.login_as(worker)
    url = f"/portfolio/competences/{competence('PS-LW-01').id}"
    client.get(url)
    with count_queries:
        client.get(url)
    one = count_queries.count
    for _ in range(4):
        review.review_note(sam, db.session.get(Evidence, linked_note(worker, sam).id), NoteOutcome.CONFIRMED, "")
    with count_queries:
        page = text_of(client.get(url))
    assert page.count("Confirmed") == 4
    assert count_queries.count == one
