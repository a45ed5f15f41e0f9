"""The links page reads as a summary list (Change note, Remove), and the submit page offers no sending without a
competence: it says what to do instead."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from portfolio.evidence import service as evidence_service
from portfolio.evidence.service import EvidenceInput
from portfolio.extensions import db
from portfolio.models import Evidence, EvidenceFile, EvidenceKind, EvidenceLink, EvidenceStatus, Role, Submission
from portfolio.review import service as review
from tests.factories import TODAY, assign, competence, make_user, tier
from tests.pages import count, error_summary, long_date, seen_on, text_of, words


@pytest.fixture
def worker(app, frameworks):
    return make_user(Role.WORKER, name="Wendy Worker", tier=tier("link-worker", "link-worker"))


def draft(worker, *refs: str) -> Evidence:
    evidence = evidence_service.create_evidence(
        worker,
        EvidenceKind.OTHER,
        EvidenceInput(title="Walking group leaflet", occurred_on=date(2026, 3, 10), description="A leaflet."),
    )
    for n, ref in enumerate(refs):
        evidence_service.link_competence(worker, evidence, competence(ref).id, "Wrote it" if n else "")
    db.session.expire_all()
    return db.session.get(Evidence, evidence.id)


def linked_item(worker, kind: EvidenceKind, data: EvidenceInput) -> Evidence:
    """An item of ``kind`` linked to PS-LW-01: ready for its check page."""
    item = evidence_service.create_evidence(worker, kind, data)
    evidence_service.link_competence(worker, item, competence("PS-LW-01").id, "")
    return item


def rows_of(page: str) -> list[dict]:
    """The linked competences' summary list: each row's key, value and action texts."""
    body = page.split('class="nhsuk-summary-list linked-competences"', 1)[1].split("</dl>", 1)[0]
    rows = []
    for row in re.findall(
        r'<div class="nhsuk-summary-list__row linked-competence"[^>]*>(.*?)</div>\s*(?=<div|$)', body, re.S
    ):
        key = re.search(r'<dt class="nhsuk-summary-list__key">(.*?)</dt>', row, re.S).group(1)
        value = re.search(r'<dd class="nhsuk-summary-list__value">(.*?)</dd>', row, re.S).group(1)
        actions = re.findall(r"<(?:a|button)\b[^>]*>(.*?)<span", row, re.S)
        rows.append({"key": " ".join(key.split()), "value": value, "actions": [a.strip() for a in actions]})
    return rows


def test_linked_competences_are_a_summary_list_with_change_note_and_remove(client, auth, worker):
    evidence = draft(worker, "PS-LW-01", "PS-LW-02")
    auth.login_as(worker)
    page = text_of(client.get(f"/portfolio/{evidence.id}/links"))
    rows = rows_of(page)
    assert [r["key"] for r in rows] == [competence(r).statement for r in ("PS-LW-01", "PS-LW-02")]
    assert [" ".join(r["value"].split()) for r in rows] == ["No note", "Wrote it"]
    assert all(r["actions"] == ["Change note", "Remove"] for r in rows)
    # No note boxes and no warning buttons until a note is to be changed.
    linked = page.split('class="nhsuk-summary-list linked-competences"', 1)[1].split("</dl>", 1)[0]
    assert 'name="note"' not in linked and "nhsuk-button--warning" not in linked


def test_change_note_opens_that_one_note_and_saves_it(client, auth, worker):
    evidence = draft(worker, "PS-LW-01", "PS-LW-02")
    first, second = evidence.links
    auth.login_as(worker)
    page = text_of(client.get(f"/portfolio/{evidence.id}/links"))
    change = re.search(r'<a href="([^"]+)">Change note<span class="nhsuk-u-visually-hidden"> for ', page).group(1)
    page = text_of(client.get(change.replace("&amp;", "&")))
    rows = rows_of(page)
    assert f'id="note-{first.id}"' in rows[0]["value"] and rows[0]["actions"] == ["Save note", "Remove"]
    assert 'name="note"' not in rows[1]["value"]

    token = auth.token(f"/portfolio/{evidence.id}/links")
    response = client.post(f"/portfolio/{evidence.id}/links/{first.id}", data={"csrf_token": token, "note": "Ran it"})
    assert response.status_code == 303
    assert db.session.get(EvidenceLink, first.id).note == "Ran it"
    assert "Ran it" in rows_of(text_of(client.get(response.headers["Location"])))[0]["value"]


def test_remove_is_a_form_that_reads_as_a_link(client, auth, worker):
    evidence = draft(worker, "PS-LW-01", "PS-LW-02")
    first = evidence.links[0]
    auth.login_as(worker)
    page = text_of(client.get(f"/portfolio/{evidence.id}/links"))
    assert re.search(
        rf'<form method="post" action="/portfolio/{evidence.id}/links/{first.id}/delete" class="inline-form">\s*'
        r'<input[^>]*name="csrf_token"[^>]*>\s*<button class="link-button" type="submit">Remove',
        page,
    )
    token = auth.token(f"/portfolio/{evidence.id}/links")
    response = client.post(f"/portfolio/{evidence.id}/links/{first.id}/delete", data={"csrf_token": token})
    assert response.status_code == 303
    db.session.expire_all()
    assert [link.competence.ref for link in db.session.get(Evidence, evidence.id).links] == ["PS-LW-02"]


def test_a_submitted_items_links_have_no_actions(client, auth, worker):
    evidence = draft(worker, "PS-LW-01")
    evidence_service.submit(worker, evidence)
    auth.login_as(worker)
    page = text_of(client.get(f"/portfolio/{evidence.id}/links"))
    assert rows_of(page)[0]["actions"] == []


def test_the_submit_page_without_a_competence_says_what_to_do_instead(client, auth, worker):
    evidence = draft(worker)
    auth.login_as(worker)
    path = f"/portfolio/{evidence.id}/submit"
    response = client.get(path)
    assert response.status_code == 200
    page = text_of(response)
    assert 'id="submit"' not in page  # the form with the Submit button
    assert "This item is not linked to any competence yet, so there is nothing for a supervisor to sign off." in page
    assert re.search(rf'href="/portfolio/{evidence.id}/links"[^>]*>\s*Link competences', page)

    # A post anyway (an old tab) is refused with the reason, and still offers no button.
    response = client.post(path, data={"csrf_token": auth.token(path)})
    assert response.status_code == 422
    page = text_of(response)
    assert "Link the item to at least one competence before you submit it" in page
    assert 'id="submit"' not in page
    assert db.session.get(Evidence, evidence.id).status == EvidenceStatus.DRAFT


def test_the_submit_page_with_a_competence_offers_sending(client, auth, worker):
    evidence = draft(worker, "PS-LW-01")
    assign(make_user(Role.SUPERVISOR, name="Sam Supervisor"), worker)
    auth.login_as(worker)
    page = text_of(client.get(f"/portfolio/{evidence.id}/submit"))
    assert 'id="submit"' in page and "Your supervisors will see this item" in page
    assert "the 1 competence you linked it to" in page
    assert "not linked to any competence" not in page and "no supervisor yet" not in page


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_the_submit_page_of_a_worker_without_a_supervisor_says_who_will_see_it(client, auth, worker, headers):
    """Found by a helper: it said 'Your supervisors will see this item' to a worker who had none."""
    evidence = draft(worker, "PS-LW-01")
    auth.login_as(worker)
    page = text_of(client.get(f"/portfolio/{evidence.id}/submit", headers=headers))
    assert "Your supervisors will see" not in page
    assert "You have no supervisor yet: the item waits for review until a manager assigns you one" in words(page)
    assert 'id="submit"' in page  # it may still be sent: it waits in the queue of whoever is assigned


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_the_submit_page_of_a_worker_whose_supervision_starts_later_says_when(client, auth, worker, headers):
    """Found by a review: a worker assigned a supervisor from next month read 'You have no supervisor yet'."""
    evidence = draft(worker, "PS-LW-01")
    sam = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    later = make_user(Role.SUPERVISOR, name="Lou Later")
    starts = TODAY + timedelta(days=20)
    assign(later, worker, starts + timedelta(days=30))
    assign(sam, worker, starts)  # the sooner of the two
    auth.login_as(worker)
    page = words(text_of(client.get(f"/portfolio/{evidence.id}/submit", headers=headers)))
    assert (
        f"Your supervision with Sam Supervisor starts on {long_date(starts)}: the item waits for review until then"
        in page
    )
    assert "no supervisor yet" not in page and "Your supervisors will see" not in page


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_the_submit_page_of_a_private_reflection_offers_no_send_button(client, auth, worker, headers):
    """Found by a helper: it said 'Your supervisors will see this item' and offered Send, which was refused."""
    reflection = evidence_service.create_evidence(
        worker,
        EvidenceKind.REFLECTION,
        EvidenceInput(
            title="A hard visit",
            occurred_on=date(2026, 3, 10),
            what_happened="It was hard.",
            what_learned="Ask for help.",
            is_private=True,
        ),
        link_competence_id=competence("PS-LW-01").id,
    )
    auth.login_as(worker)
    path = f"/portfolio/{reflection.id}/submit"
    page = text_of(client.get(path, headers=headers))
    assert 'id="submit"' not in page and "Your supervisors will see" not in page
    assert "This reflection is private: only you can see it, so it cannot be sent for review." in words(page)
    assert re.search(rf'href="/portfolio/{reflection.id}/edit\?back=check"[^>]*>\s*Change who can see it', page)
    # A post anyway (an old tab) is refused next to the item, and nothing is sent.
    refused = client.post(path, data={"csrf_token": auth.token(path)})
    assert refused.status_code == 422
    assert "A private reflection cannot be submitted: make it shareable first" in text_of(refused)
    assert 'id="submit"' not in text_of(refused) and "Your supervisors will see" not in text_of(refused)
    assert db.session.get(Evidence, reflection.id).status == EvidenceStatus.DRAFT


def check_answers(page: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """The submit page's check-your-answers list: each row's key, value, and its actions' (words, href)."""
    body = page.split("nhsuk-summary-list check-answers", 1)[1].split("</dl>", 1)[0]
    rows = []
    for row in body.split('<div class="nhsuk-summary-list__row')[1:]:
        key = re.search(r'<dt class="nhsuk-summary-list__key"\s*>(.*?)</dt>', row, re.S).group(1)
        value = re.search(r'<dd class="nhsuk-summary-list__value"\s*>(.*?)</dd>', row, re.S).group(1)
        actions = [
            (words(text), href) for href, text in re.findall(r'<a\b[^>]*href="([^"]+)"[^>]*>(.*?)</a>', row, re.S)
        ]
        rows.append((words(key), words(value), actions))
    return rows


def test_the_submit_page_is_a_check_of_every_answer_with_change_links(client, auth, worker):
    evidence = draft(worker, "PS-LW-01", "PS-LW-02")
    db.session.add(
        EvidenceFile(
            evidence_id=evidence.id,
            original_name="leaflet.pdf",
            stored_name="x" * 32,
            content_type="application/pdf",
            size=10,
            sha256="0" * 64,
        )
    )
    db.session.commit()
    auth.login_as(worker)
    path = f"/portfolio/{evidence.id}/submit"
    edit, links = f"/portfolio/{evidence.id}/edit?back=check", f"/portfolio/{evidence.id}/links"
    for headers in ({}, {"HX-Request": "true", "HX-Boosted": "true"}):  # boosted navigation gets the whole page
        page = text_of(client.get(path, headers=headers))
        assert "<html" in page and "Check your answers before sending" in page
        assert check_answers(page) == [
            ("Title", "Walking group leaflet", [("Change title", edit)]),
            ("Date", "10 March 2026", [("Change date", edit)]),
            ("Description", "A leaflet.", [("Change description", edit)]),
            ("Files", "leaflet.pdf", [("Change files", edit)]),
            (
                "Competence PS-LW-01",
                words(competence("PS-LW-01").statement),
                [("Change competence PS-LW-01", links)],
            ),
            (
                "Competence PS-LW-02",
                words(competence("PS-LW-02").statement) + " Your note: Wrote it",  # as the supervisor reads it
                [("Change competence PS-LW-02", links)],
            ),
        ]
        assert re.search(r"<button[^>]*>\s*Send for review\s*</button>", page)

    response = client.post(path, data={"csrf_token": auth.token(path)})
    assert response.status_code == 303
    assert db.session.get(Evidence, evidence.id).status == EvidenceStatus.SUBMITTED


def test_the_check_page_of_feedback_shows_who_gave_it_and_what_they_said(client, auth, worker):
    """Found by a helper: the check page showed the title, the date and the files, not the answers the supervisor
    reads (who gave the feedback, and the feedback itself)."""
    feedback = linked_item(
        worker,
        EvidenceKind.FEEDBACK,
        EvidenceInput(
            title="Feedback from the walking group lead",
            occurred_on=date(2026, 3, 10),
            feedback_source="partner-agency",
            feedback_from="Walking group lead",
            description="<p>Every session was <strong>well planned</strong>.</p>",
        ),
    )
    auth.login_as(worker)
    path = f"/portfolio/{feedback.id}/submit"
    edit = f"/portfolio/{feedback.id}/edit?back=check"
    for headers in ({}, {"HX-Request": "true", "HX-Boosted": "true"}):
        page = text_of(client.get(path, headers=headers))
        rows = check_answers(page)
        assert rows[:4] == [
            ("Title", "Feedback from the walking group lead", [("Change title", edit)]),
            ("Date", "10 March 2026", [("Change date", edit)]),
            ("Feedback from", "A partner agency: Walking group lead", [("Change feedback from", edit)]),
            # Under the words the form asked it with, not "Description".
            ("The feedback", "Every session was well planned .", [("Change the feedback", edit)]),
        ]
        assert "<strong>well planned</strong>" in page  # as written, not escaped


def test_the_check_page_of_a_supervision_note_lists_the_actions_agreed(client, auth, worker):
    """Found by a new user: the actions agreed were on the item's page, not on the page that checks it before
    sending, though the supervisor confirms them with the note."""
    sam = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    assign(sam, worker)
    due = TODAY + timedelta(days=30)
    note = linked_item(
        worker,
        EvidenceKind.SUPERVISION_NOTE,
        EvidenceInput(
            title="Supervision in March",
            occurred_on=date(2026, 3, 10),
            supervisor_id=sam.id,
            description="<p>We discussed lone working.</p>",
            actions=[
                evidence_service.ActionInput("Book PREVENT training", "worker", due),
                evidence_service.ActionInput("Find a shadowing day", "supervisor", due + timedelta(days=1)),
            ],
        ),
    )
    auth.login_as(worker)
    edit = f"/portfolio/{note.id}/edit?back=check"
    for headers in ({}, {"HX-Request": "true", "HX-Boosted": "true"}):
        rows = check_answers(text_of(client.get(f"/portfolio/{note.id}/submit", headers=headers)))
        actions = [row for row in rows if row[0].startswith("Action")]
        assert actions == [
            ("Action 1", f"Book PREVENT training Owner: Worker, due {long_date(due)}", [("Change action 1", edit)]),
            (
                "Action 2",
                f"Find a shadowing day Owner: Supervisor, due {long_date(due + timedelta(days=1))}",
                [("Change action 2", edit)],
            ),
        ]
        assert [row[0] for row in rows].index("Action 1") < [row[0] for row in rows].index("Files")


def test_the_check_page_keeps_a_capital_i_in_what_screen_readers_hear(client, auth, worker):
    """Found by a helper: "Change what i learned" (the label lower-cased whole)."""
    reflection = linked_item(
        worker,
        EvidenceKind.REFLECTION,
        EvidenceInput(
            title="First group",
            occurred_on=date(2026, 3, 10),
            what_happened="<p>We walked.</p>",
            what_learned="<p>Pace matters.</p>",
            practice_change="<p>Slower start.</p>",
        ),
    )
    auth.login_as(worker)
    rows = check_answers(text_of(client.get(f"/portfolio/{reflection.id}/submit")))
    changes = {key: [text for text, _ in actions] for key, _, actions in rows}
    assert changes["What I learned"] == ["Change what I learned"]
    assert changes["What happened"] == ["Change what happened"]


def test_the_check_page_of_an_item_already_sent_leads_back_to_the_item(client, auth, worker):
    """The back button after sending, or an old tab: no "Send for review" button that can only be refused."""
    evidence = draft(worker, "PS-LW-01")
    evidence_service.submit(worker, evidence)
    auth.login_as(worker)

    for headers in ({}, {"HX-Request": "true", "HX-Boosted": "true"}):
        response = client.get(f"/portfolio/{evidence.id}/submit", headers=headers)
        assert response.status_code == 303, response.headers.get("Location")
        assert response.headers["Location"].endswith(f"/portfolio/{evidence.id}")
        page = text_of(client.get(response.headers["Location"]))
        # Found by a helper: "cannot be changed, so there is nothing to send" read as if something had gone wrong.
        assert "You have sent this item for review: there is nothing more to do until it is reviewed" in page
        assert "Send for review" not in page
    assert db.session.get(Evidence, evidence.id).status == EvidenceStatus.SUBMITTED


def _changed_in_another_tab(worker, evidence: Evidence, how: str) -> None:
    """What another tab does to the item after its check page was drawn."""
    if how == "text":
        evidence_service.update_evidence(
            worker,
            evidence,
            EvidenceInput(
                title="Walking group leaflet, second draft", occurred_on=date(2026, 3, 10), description="A leaflet."
            ),
        )
    else:
        evidence_service.link_competence(worker, evidence, competence("PS-LW-02").id, "Also this")


@pytest.mark.parametrize("how", ["text", "links"])
@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_an_item_changed_in_another_tab_is_not_sent_unseen(client, auth, worker, how, headers):
    """Send sends what the check page showed, or nothing: a change made in another tab since (its text, or a
    competence linked) is shown as the item is now, with a fresh Send."""
    evidence = draft(worker, "PS-LW-01")
    assign(make_user(Role.SUPERVISOR, name="Sam Supervisor"), worker)
    auth.login_as(worker)
    page = client.get(f"/portfolio/{evidence.id}/submit").get_data(as_text=True)
    drawn = seen_on(page)
    assert drawn
    _changed_in_another_tab(worker, db.session.get(Evidence, evidence.id), how)

    sent = client.post(
        f"/portfolio/{evidence.id}/submit", data={"csrf_token": auth.token(), "seen": drawn}, headers=headers
    )
    shown = text_of(sent)
    assert sent.status_code == 409
    assert "This item was changed in another tab or window since you opened this page, so it was not sent." in words(
        shown
    )
    assert error_summary(shown)  # said at the top, as every refusal is
    if how == "text":
        assert "Walking group leaflet, second draft" in shown
    else:
        assert competence("PS-LW-02").statement in shown and "Also this" in shown
    db.session.expire_all()
    assert db.session.get(Evidence, evidence.id).status == EvidenceStatus.DRAFT
    assert count(Submission) == 0

    # Checked again as it is now: Send sends it.
    fresh = seen_on(shown)
    assert fresh and fresh != drawn
    again = client.post(f"/portfolio/{evidence.id}/submit", data={"csrf_token": auth.token(), "seen": fresh})
    assert again.status_code == 303
    assert db.session.get(Evidence, evidence.id).status == EvidenceStatus.SUBMITTED


def test_a_check_page_from_before_it_carried_what_it_showed_still_sends(client, auth, worker):
    evidence = draft(worker, "PS-LW-01")
    auth.login_as(worker)
    assert client.post(f"/portfolio/{evidence.id}/submit", data={"csrf_token": auth.token()}).status_code == 303
    assert db.session.get(Evidence, evidence.id).status == EvidenceStatus.SUBMITTED


def test_submit_refuses_what_the_page_did_not_show_and_writes_nothing(worker):
    evidence = draft(worker, "PS-LW-01")
    with pytest.raises(evidence_service.ChangedMeanwhile, match="so it was not sent"):
        evidence_service.submit(worker, evidence, seen="0" * 64)
    db.session.expire_all()
    assert db.session.get(Evidence, evidence.id).status == EvidenceStatus.DRAFT and count(Submission) == 0
    sent = evidence_service.submit(worker, evidence, seen=review.content_hash(evidence))
    assert sent.status == EvidenceStatus.SUBMITTED
