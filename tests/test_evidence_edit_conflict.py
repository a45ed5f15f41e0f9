"""An item changed from two tabs at once: the change sent from a page drawn before the other landed is refused (409)
with a message and the item as it is now, never saved over the other; a change sent again (a lost answer) is not."""

from __future__ import annotations

import functools
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from portfolio.evidence import service
from portfolio.evidence.service import ActionInput, ChangedMeanwhile, EvidenceInput
from portfolio.extensions import db
from portfolio.models import ActionOwner, Competence, Evidence, EvidenceKind, Submission, SupervisionAction, User
from tests.conftest import csrf_token
from tests.factories import (
    EVENT_DAY,
    EVIDENCE_MODELS,
    PDF,
    course,
    make_supervisor_of,
    pdf_page,
    service_item,
    supervision_note,
)
from tests.pages import (
    BOOSTED,
    HTMX,
    date_fields,
    error_summary,
    files_on_disk,
    page_title,
    reload,
    row_counts,
    seen_on,
    selected_options,
    text_of,
    words,
)
from tests.pages import form_values as values_of

from .racing import Rounds, fire, no_server_errors, signed_in

CHANGED = (
    "This item was changed in another tab or window since you opened this page: your changes were not saved. "
    "Check the item as it is now, then make your changes again."
)


def as_shown(page: str) -> dict[str, str]:
    """What the item's change form on ``page`` sends as it is shown (its hidden fields included)."""
    form = re.search(r'<form\b[^>]*id="item-form".*?</form>', page, re.S)
    assert form, "no change form on the page"
    values = values_of(form.group(0))
    for name, options in re.findall(r'<select[^>]*\sname="([^"]+)"[^>]*>(.*?)</select>', form.group(0), re.S):
        chosen = re.search(r'<option value="([^"]*)"[^>]*\sselected', options) or re.search(r'value="([^"]*)"', options)
        values[name] = chosen.group(1) if chosen else ""  # a browser sends the chosen option, or the first
    return values


def send(client, path: str, page: str, headers: dict | None = None, **changes):
    return client.post(
        path, data={**as_shown(page), **changes}, content_type="multipart/form-data", headers=headers or {}
    )


def stored_row(evidence_id: int) -> tuple:
    """The item's columns as the database holds them (no identity map in the way)."""
    db.session.commit()
    return tuple(db.session.execute(select(Evidence.__table__).where(Evidence.id == evidence_id)).one())


@pytest.fixture
def worker(worker, auth):
    """The kit's worker, signed in."""
    auth.login_as(worker)
    return worker


# --- the use case ----------------------------------------------------------------------------------------------


def as_changed(evidence: Evidence, **values) -> EvidenceInput:
    """The item's values as its form would send them, with ``values`` changed."""
    current = {
        "title": evidence.title,
        "occurred_on": evidence.occurred_on,
        "description": evidence.description,
        "what_happened": evidence.what_happened,
        "what_learned": evidence.what_learned,
        "provider": evidence.provider or "",
        "is_private": evidence.is_private,
        "training_item_id": evidence.training_item_id,
    }
    return EvidenceInput(**{**current, **values})


def test_a_change_from_a_page_drawn_before_another_change_writes_nothing(app, worker):
    evidence = service_item(worker, EvidenceKind.CERTIFICATE, uploads=[("cert.pdf", PDF)])
    seen = service.drawn_from(evidence)
    service.update_evidence(
        worker, reload(evidence), as_changed(evidence, title="Safeguarding adults level 3"), seen=seen
    )
    before, rows, kept = stored_row(evidence.id), row_counts(*EVIDENCE_MODELS), files_on_disk(app)

    stale = as_changed(
        reload(evidence), title="Safeguarding adults (refresher)", remove_file_ids=[evidence.files[0].id]
    )
    new_file = FileStorage(io.BytesIO(pdf_page("new")), filename="new.pdf")
    with pytest.raises(ChangedMeanwhile) as refused:
        service.update_evidence(worker, reload(evidence), stale, [new_file], seen=seen)
    assert refused.value.message == CHANGED
    assert stored_row(evidence.id) == before and row_counts(*EVIDENCE_MODELS) == rows
    assert files_on_disk(app) == kept  # the new file was not kept either
    assert reload(evidence).title == "Safeguarding adults level 3"

    # From a page drawn now, the same change is saved.
    saved = service.update_evidence(
        worker, reload(evidence), stale, [new_file], seen=service.drawn_from(reload(evidence))
    )
    assert saved.removed == ["cert.pdf"]
    assert reload(evidence).title == "Safeguarding adults (refresher)"
    assert [f.original_name for f in reload(evidence).files] == ["new.pdf"]


def test_a_change_saved_already_and_sent_again_from_the_same_page_is_not_refused(app, worker):
    """A retry after a lost answer carries the page's old hash, but changes nothing: saved, the file once."""
    evidence = service_item(worker, EvidenceKind.CERTIFICATE, uploads=[("front.pdf", PDF)])
    seen = service.drawn_from(evidence)
    back = pdf_page("the back")
    for _ in range(2):
        saved = service.update_evidence(
            worker,
            reload(evidence),
            as_changed(evidence, title="Safeguarding adults level 3"),
            [FileStorage(io.BytesIO(back), filename="back.pdf")],
            seen=seen,
        )
    assert saved.already_attached == [("back.pdf", "back.pdf")]
    assert [f.original_name for f in reload(evidence).files] == ["front.pdf", "back.pdf"]


def test_without_what_the_page_was_drawn_from_a_change_is_saved_as_before(app, worker):
    evidence = service_item(worker, EvidenceKind.OTHER)
    service.update_evidence(worker, reload(evidence), as_changed(evidence, title="First"))
    service.update_evidence(worker, reload(evidence), as_changed(evidence, title="Second"), seen=None)
    assert reload(evidence).title == "Second"


def test_what_a_page_is_drawn_from_covers_every_field_its_form_changes(app, worker):
    """Who can see a reflection and a certificate's course are on their forms: they count (the review's hash leaves
    them out)."""
    reflection = service_item(worker, EvidenceKind.REFLECTION)
    drawn = service.drawn_from(reflection)
    service.update_evidence(worker, reload(reflection), as_changed(reload(reflection), is_private=True))
    assert reload(reflection).is_private and service.drawn_from(reload(reflection)) != drawn

    certificate = service_item(worker, EvidenceKind.CERTIFICATE, uploads=[("cert.pdf", PDF)])
    drawn = service.drawn_from(certificate)
    chosen = course("Safeguarding adults", 36)
    service.update_evidence(worker, reload(certificate), as_changed(reload(certificate), training_item_id=chosen.id))
    assert reload(certificate).training_item_id == chosen.id and service.drawn_from(reload(certificate)) != drawn


def test_a_supervision_notes_actions_changed_meanwhile_refuse_a_change_of_its_title(app, worker):
    supervisor = make_supervisor_of(worker)
    note = supervision_note(worker, supervisor)
    seen = service.drawn_from(note)
    action = ActionInput("Read the lone working policy", ActionOwner.WORKER.value, EVENT_DAY + timedelta(days=7))

    def note_change(**values) -> EvidenceInput:
        base = {"occurred_on": note.occurred_on, "description": note.description, "supervisor_id": supervisor.id}
        return EvidenceInput(**{"title": note.title, **base, **values})

    service.update_evidence(worker, reload(note), note_change(actions=[action]), seen=seen)
    with pytest.raises(ChangedMeanwhile):
        service.update_evidence(worker, reload(note), note_change(title="Supervision, March"), seen=seen)
    assert reload(note).title == "Supervision in March"
    assert [a.description for a in reload(note).actions] == ["Read the lone working policy"]


# --- through the routes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, HTMX, BOOSTED], ids=["plain", "htmx", "boosted"])
def test_the_second_tab_is_told_its_change_was_not_saved_and_shown_the_item_as_it_is(app, client, worker, headers):
    evidence = service_item(worker, EvidenceKind.OTHER)
    path = f"/portfolio/{evidence.id}/edit"
    tab_a, tab_b = text_of(client.get(path)), text_of(client.get(path))
    assert seen_on(tab_a) == seen_on(tab_b) == service.drawn_from(reload(evidence))

    first = send(client, path, tab_a, headers, title="Walking group leaflet, second draft", action="save")
    assert first.status_code == 303
    assert "Changes saved" in words(text_of(client.get(first.headers["Location"])))
    after_a = stored_row(evidence.id)

    # As a browser sends it from one of our pages (errors.written_in_form shows only what our own pages sent).
    from_tab_b = {**headers, "Sec-Fetch-Site": "same-origin"}
    second = send(client, path, tab_b, from_tab_b, title="Walking leaflet", description="Rewritten.", action="save")
    assert second.status_code == 409
    page = text_of(second)
    # What she typed in this tab is shown to copy, not lost with the form (which shows the item as it is now).
    written = page.split('id="written"', 1)[1].split("<form", 1)[0]
    assert "What you wrote in this tab" in page
    assert re.findall(r'<p class="written-back">(.*?)</p>', written) == ["Walking leaflet", "Rewritten."]
    assert "<html" in page  # the whole page: a boosted form swaps the body, a plain POST reads it
    assert page_title(page).startswith("Error: Change: Walking group leaflet, second draft")
    assert error_summary(page) == [("#item-form", CHANGED)]
    assert 'id="item-form"' in page
    # The item as it is now, drawn afresh: its title from the first tab, and the hash of what it shows.
    shown = as_shown(page)
    assert shown["title"] == "Walking group leaflet, second draft"
    assert shown["description"].strip() == "A leaflet for the walking group."
    assert shown["seen"] == service.drawn_from(reload(evidence))
    assert "Walking leaflet" not in as_shown(page).values()
    assert stored_row(evidence.id) == after_a  # nothing written by the second tab

    # Her changes made again on the page she was shown: saved.
    again = send(client, path, page, headers, title="Walking leaflet", action="save")
    assert again.status_code == 303
    assert reload(evidence).title == "Walking leaflet"


def test_one_tab_changes_as_before(app, client, worker):
    evidence = service_item(worker, EvidenceKind.OTHER)
    path = f"/portfolio/{evidence.id}/edit"
    page = text_of(client.get(path))
    assert re.search(r'<input id="seen" name="seen" type="hidden" value="[0-9a-f]{64}">', page)
    response = send(client, path, page, title="Walking group leaflet, final", action="save")
    assert response.status_code == 303 and response.headers["Location"] == f"/portfolio/{evidence.id}"
    assert reload(evidence).title == "Walking group leaflet, final"
    # The same form sent again (its first answer lost): nothing to undo, so saved again, not refused.
    assert send(client, path, page, title="Walking group leaflet, final", action="save").status_code == 303
    # A new item's form has nothing to compare, and does not carry the field.
    assert 'name="seen"' not in text_of(client.get("/portfolio/new/other", follow_redirects=True))


def test_a_refused_value_then_corrected_keeps_what_the_page_was_drawn_from(app, client, worker):
    evidence = service_item(worker, EvidenceKind.OTHER)
    path = f"/portfolio/{evidence.id}/edit"
    page = text_of(client.get(path))
    drawn = seen_on(page)
    refused = send(client, path, page, title="", action="save")
    assert refused.status_code == 422
    corrected_page = text_of(refused)
    assert seen_on(corrected_page) == drawn  # carried through the refusal
    assert send(client, path, corrected_page, title="Walking group leaflet, v2", action="save").status_code == 303
    assert reload(evidence).title == "Walking group leaflet, v2"

    # A page refused for a value while another tab saved: the corrected change is still refused as out of date.
    page = text_of(client.get(path))
    refused = text_of(send(client, path, page, title="", action="save"))
    assert send(client, path, text_of(client.get(path)), title="From the other tab").status_code == 303
    late = send(client, path, refused, title="Walking group leaflet, v3", action="save")
    assert late.status_code == 409 and error_summary(text_of(late)) == [("#item-form", CHANGED)]
    assert reload(evidence).title == "From the other tab"


def test_a_page_drawn_before_pages_carried_the_hash_is_saved_as_before(app, client, worker):
    """An old page open across a deploy sends no ``seen``: nothing to compare, so saved (as before this check)."""
    evidence = service_item(worker, EvidenceKind.OTHER)
    path = f"/portfolio/{evidence.id}/edit"
    page = text_of(client.get(path))
    assert send(client, path, page, title="From another tab").status_code == 303
    old = {k: v for k, v in as_shown(page).items() if k != "seen"}
    response = client.post(path, data={**old, "title": "From an old page"}, content_type="multipart/form-data")
    assert response.status_code == 303
    assert reload(evidence).title == "From an old page"
    # A value that is no hash of ours is out of date, not a server error.
    response = send(client, path, page, seen="not-a-hash", title="From a tampered page")
    assert response.status_code == 409 and reload(evidence).title == "From an old page"


def test_a_supervision_notes_actions_saved_in_one_tab_are_not_undone_from_the_other(app, client, worker):
    supervisor = make_supervisor_of(worker)
    note = supervision_note(worker, supervisor)
    path = f"/portfolio/{note.id}/edit"
    tab_a, tab_b = text_of(client.get(path)), text_of(client.get(path))
    assert selected_options(tab_a, "supervisor_id") == [str(supervisor.id)]
    action = {
        "actions-0-description": "Read the lone working policy",
        "actions-0-owner": "worker",
        **date_fields("actions-0-due_on", EVENT_DAY + timedelta(days=7)),
    }
    assert send(client, path, tab_a, **action).status_code == 303
    other_action = {
        "actions-1-description": "Shadow a home visit",
        "actions-1-owner": "supervisor",
        **date_fields("actions-1-due_on", EVENT_DAY + timedelta(days=14)),
    }
    second = client.post(
        path,
        data={
            **as_shown(tab_b),
            "title": "Supervision, March",
            **other_action,
            "action": "save",
            "files": (io.BytesIO(PDF), "minutes.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert second.status_code == 409 and error_summary(text_of(second)) == [("#item-form", CHANGED)]
    assert 'value="Read the lone working policy"' in text_of(second)  # shown as it is now
    # What this tab held and the note does not is there to copy, an action's row too; the file is to choose again.
    written = text_of(second).split('id="written"', 1)[1].split("<form", 1)[0]
    assert re.findall(r"<h3 class=\"nhsuk-heading-s\">(.*?)</h3>", written) == ["Title (optional)", "Action 2"]
    assert re.findall(r'<p class="written-back">(.*?)</p>', written) == ["Supervision, March", "Shadow a home visit"]
    assert "The files you chose were not added: choose them again." in words(written)
    stored = reload(note)
    assert stored.title == "Supervision in March"
    assert db.session.scalars(select(SupervisionAction.description)).all() == ["Read the lone working policy"]


# --- over real HTTP, at once ----------------------------------------------------------------------------------


def test_two_tabs_saving_at_once_one_wins_the_other_is_told(app, server, worker):
    """Both tabs drawn, both changes released together: exactly one is saved, the other answers 409 and wrote
    nothing (on SQLite the write lock, on PostgreSQL the row lock, keeps the comparison and the write together)."""
    first_tab, second_tab = signed_in(server, ("first tab", worker.email), ("second tab", worker.email))
    rounds = Rounds()
    for number in rounds:
        evidence_id = service_item(
            reload(User, worker.id), EvidenceKind.OTHER, title=f"Walking group leaflet {number}"
        ).id
        path = f"/portfolio/{evidence_id}/edit"
        pages = [tab.get(path) for tab in (first_tab, second_tab)]
        assert [p.status for p in pages] == [200, 200], [p.describe() for p in pages]
        titles = [f"Leaflet {number}, first tab", f"Leaflet {number}, second tab"]
        sent = [
            {**as_shown(page.text), "title": title, "action": "save"} for page, title in zip(pages, titles, strict=True)
        ]
        assert all(len(data["seen"]) == 64 for data in sent)
        answers = fire(
            *(
                functools.partial(tab.start_post, path, data, headers)
                for tab, data, headers in zip((first_tab, second_tab), sent, ({}, BOOSTED), strict=True)
            )
        )
        no_server_errors({"first tab": answers[0], "second tab": answers[1]}, number)
        described = f"round {number}: " + "; ".join(a.describe() for a in answers)
        assert sorted(a.status for a in answers) == [303, 409], described
        rounds.record(answers)
        winner = next(i for i, a in enumerate(answers) if a.status == 303)
        loser = answers[1 - winner]
        assert CHANGED in loser.text, described
        assert f'value="{titles[winner]}"' in loser.text, described  # shown as it is now
        db.session.commit()
        assert db.session.scalar(select(Evidence.title).where(Evidence.id == evidence_id)) == titles[winner]
    rounds.assert_enough()


def test_the_hash_stays_while_nothing_changes_and_leaves_out_the_links(app, worker):
    """Drawn twice with nothing changed, the same (else every change would be refused). A competence linked from
    another tab is not something the form can undo: a change of the text from a page drawn before it is saved
    (found by a review: linking in one tab refused every save in the other)."""
    evidence = service_item(worker, EvidenceKind.CERTIFICATE, uploads=[("cert.pdf", PDF)])
    drawn = service.drawn_from(evidence)
    assert service.drawn_from(reload(evidence)) == drawn
    competence_id = db.session.scalar(
        select(Competence.id).where(Competence.framework_id == worker.framework_id).order_by(Competence.id).limit(1)
    )
    service.link_competence(worker, reload(evidence), competence_id)
    assert service.drawn_from(reload(evidence)) == drawn
    service.update_evidence(worker, reload(evidence), as_changed(reload(evidence), title="Renamed"), seen=drawn)
    assert reload(evidence).title == "Renamed" and [link.competence_id for link in reload(evidence).links] == [
        competence_id
    ]


def test_a_change_and_a_send_from_two_tabs_at_once_never_send_what_was_not_checked(app, server, worker):
    """One tab saves a change while the other sends from its check page, both drawn before: one wins. Sent, the
    submission binds what the check page showed; changed, nothing is sent and the sending tab is told (409)."""
    editing, sending = signed_in(server, ("editing tab", worker.email), ("sending tab", worker.email))
    competence_id = db.session.scalar(
        select(Competence.id).where(Competence.framework_id == worker.framework_id).order_by(Competence.id).limit(1)
    )
    rounds = Rounds()
    for number in rounds:
        item = service_item(reload(User, worker.id), EvidenceKind.OTHER, title=f"Walking group leaflet {number}")
        service.link_competence(reload(User, worker.id), item, competence_id)
        edit_page = editing.get(f"/portfolio/{item.id}/edit")
        check_page = sending.get(f"/portfolio/{item.id}/submit")
        assert (edit_page.status, check_page.status) == (200, 200)
        checked = seen_on(check_page.text)
        change = {**as_shown(edit_page.text), "title": f"Leaflet {number}, changed", "action": "save"}
        send = {"csrf_token": csrf_token(check_page.text), "seen": checked}
        answers = fire(
            functools.partial(editing.start_post, f"/portfolio/{item.id}/edit", change, {}),
            functools.partial(sending.start_post, f"/portfolio/{item.id}/submit", send, BOOSTED),
        )
        no_server_errors({"editing tab": answers[0], "sending tab": answers[1]}, number)
        described = f"round {number}: " + "; ".join(a.describe() for a in answers)
        db.session.commit()
        saved = db.session.get(Evidence, item.id)
        db.session.refresh(saved)
        sent = db.session.scalars(select(Submission).where(Submission.evidence_id == item.id)).all()
        if answers[1].status == 303:  # sent first: what was checked, and the change came too late to be saved
            assert [s.content_hash for s in sent] == [checked] and saved.title == f"Walking group leaflet {number}"
            assert answers[0].status in (409, 422), described
        else:  # changed first: nothing sent, and the sending tab was told
            assert answers[0].status == 303 and answers[1].status == 409, described
            assert (
                "so it was not sent" in answers[1].text and sent == [] and saved.title == f"Leaflet {number}, changed"
            )
        rounds.record(answers)
    rounds.assert_enough()
