"""A supervisor sees the evidence a worker they supervise has shared with them, decided or not.

Found by a helper acting as a supervisor: once an item left the review queue (signed off or returned), nothing led
back to it, so a supervisor could not see afterwards what they had signed off or returned.
"""

from __future__ import annotations

import re
from datetime import timedelta

from portfolio.extensions import db
from portfolio.models import DecisionOutcome, Evidence, EvidenceStatus, Role, SupervisionAssignment
from tests.factories import (
    TODAY,
    assign,
    certificate,
    competence,
    course,
    days_ago,
    decide_on,
    link_draft,
    make_supervisor_of,
    make_user,
    send_for_review,
    supervision_note,
    tier,
    waiting_item,
)
from tests.pages import reload, status_line, text_of, words


def shared_rows(page: str) -> list[tuple[str, str, str | None]]:
    """Each row of the list: its title, the words of its status, and where its title leads (None: no link)."""
    body = page.split('id="shared-list"', 1)[1]
    rows = body.split('role="row">')[2:]
    found = []
    for row in rows:
        link = re.search(r'<a href="([^"]+)">([^<]+)</a>', row)
        title = link[2] if link else words(row.split("Evidence </span>", 1)[1].split("<br>", 1)[0])
        status = words(row.split("Status </span>", 1)[1].split("</td>", 1)[0])
        found.append((title, status, link[1] if link else None))
    return found


def test_a_supervisor_sees_what_the_worker_sent_and_the_notes_naming_them_newest_first(client, auth, worker):
    sam = make_supervisor_of(worker)
    other = make_user(Role.SUPERVISOR, email="olu@example.org", name="Olu Other")
    assign(other, worker)
    statement = competence("PS-LW-01")
    signed = decide_on(worker, [statement], supervisor=sam, title="Signed off walk", occurred_on=days_ago(30))
    returned = decide_on(
        worker,
        [statement],
        supervisor=sam,
        title="Returned visit",
        outcome=DecisionOutcome.RETURNED,
        occurred_on=days_ago(20),
    )
    waiting = waiting_item(worker, title="Waiting group")
    note = supervision_note(worker, sam, title="Supervision in November")
    supervision_note(worker, other, title="Supervision with Olu")  # names someone else
    link_draft(worker, [statement], title="Draft not sent")
    private = link_draft(worker, [], title="Private thoughts")
    private.is_private = True
    certificate(worker, course("Safeguarding adults", 36), days_ago(5), title="Certificate draft", checked=False)
    db.session.commit()
    # Sent again after its return: the list opens its newest submission.
    resent = reload(returned)
    second = send_for_review(resent)
    db.session.commit()

    auth.login_as(sam)
    response = client.get(f"/review/workers/{worker.id}/evidence")
    assert response.status_code == 200
    page = text_of(response)
    assert "<h1>Wendy Worker’s evidence</h1>" in page
    rows = shared_rows(page)
    titles = [title for title, _, _ in rows]
    assert set(titles) == {"Signed off walk", "Returned visit", "Waiting group", "Supervision in November"}
    by_title = {title: (status, href) for title, status, href in rows}
    assert by_title["Signed off walk"][0] == "Signed off"
    assert by_title["Returned visit"][0] == "Submitted for review"
    assert by_title["Returned visit"][1] == f"/review/{second.id}?back=evidence"
    assert by_title["Supervision in November"] == ("Waiting for confirmation", f"/review/notes/{note.id}?back=evidence")
    assert by_title["Waiting group"][1].startswith("/review/")
    note_page = text_of(client.get(f"/review/notes/{note.id}?back=evidence"))
    assert re.search(rf'class="nhsuk-back-link"\s*href="/review/workers/{worker.id}/evidence"', note_page)
    # Newest first, by the date of the evidence.
    dates = {e.title: e.occurred_on for e in db.session.scalars(db.select(Evidence))}
    assert [dates[t] for t in titles] == sorted((dates[t] for t in titles), reverse=True)
    assert status_line(page, "shared-status") == ("4 items", False)
    assert signed.status == EvidenceStatus.SIGNED_OFF and waiting.status == EvidenceStatus.SUBMITTED

    # Reached from the worker's progress page and from the team list.
    link = f'href="/review/workers/{worker.id}/evidence"'
    assert link in text_of(client.get(f"/progress/workers/{worker.id}"))
    assert link in text_of(client.get("/review/team"))


def test_only_their_supervisor_today_sees_it(client, auth, worker, manager):
    sam = make_supervisor_of(worker)
    waiting_item(worker, title="Waiting group")
    stranger = make_user(Role.SUPERVISOR, email="stan@example.org", name="Stan Stranger")
    former = make_user(Role.SUPERVISOR, email="fay@example.org", name="Fay Former")
    assign(former, worker, starts_on=TODAY - timedelta(days=100))
    db.session.execute(
        db.update(SupervisionAssignment)
        .where(SupervisionAssignment.supervisor_id == former.id)
        .values(ends_on=TODAY - timedelta(days=1))
    )
    db.session.commit()
    address = f"/review/workers/{worker.id}/evidence"
    for person in (stranger, former):
        auth.login_as(person)
        assert client.get(address).status_code == 404
    assert client.get("/review/workers/999999/evidence").status_code == 404
    # A supervisor who is a worker too never opens their own here.
    willa = make_user(
        Role.WORKER, Role.SUPERVISOR, email="willa@example.org", name="Willa", tier=tier("link-worker", "link-worker")
    )
    auth.login_as(willa)
    assert client.get(f"/review/workers/{willa.id}/evidence").status_code == 404
    # A manager who supervises nobody sees progress, not this list (the page links it only for a supervisor).
    auth.login_as(manager)
    assert client.get(address).status_code == 403
    assert 'id="shared-evidence"' not in text_of(client.get(f"/progress/workers/{worker.id}"))
    auth.login_as(sam)
    assert client.get(address).status_code == 200


def test_the_list_pages_in_place_and_asks_a_fixed_number_of_queries(client, auth, worker, count_queries):
    sam = make_supervisor_of(worker)
    for n in range(3):
        waiting_item(worker, title=f"Item {n}")
    auth.login_as(sam)
    address = f"/review/workers/{worker.id}/evidence"
    client.get(address)  # warm up
    with count_queries:
        assert len(shared_rows(text_of(client.get(address)))) == 3
    few = count_queries.count

    for n in range(3, 30):
        waiting_item(worker, title=f"Item {n}")
    supervision_note(worker, sam, title="A note")
    with count_queries:
        first = text_of(client.get(address))
    assert len(shared_rows(first)) == 25
    assert count_queries.count == few, count_queries.statements
    assert status_line(first, "shared-status") == ("31 items, showing 1 to 25 (page 1 of 2)", False)

    # Page 2 by htmx: the list alone, its status line out of band; by a boosted link or a fresh load, the page.
    fragment = text_of(client.get(f"{address}?page=2", headers={"HX-Request": "true"}))
    assert "<html" not in fragment and '<div id="shared-list">' in fragment
    assert len(shared_rows(fragment)) == 6
    assert status_line(fragment, "shared-status") == ("31 items, showing 26 to 31 (page 2 of 2)", True)
    for headers in ({}, {"HX-Request": "true", "HX-Boosted": "true"}):
        whole = text_of(client.get(f"{address}?page=2", headers=headers))
        assert "<html" in whole and len(shared_rows(whole)) == 6


def test_nothing_sent_yet_says_so(client, auth, worker):
    sam = make_supervisor_of(worker)
    link_draft(worker, [competence("PS-LW-01")], title="Draft not sent")
    auth.login_as(sam)
    page = text_of(client.get(f"/review/workers/{worker.id}/evidence"))
    assert "Wendy Worker has not sent you any evidence yet." in words(page)
    assert "Draft not sent" not in page


def test_an_item_opened_from_the_list_shows_what_was_decided(client, auth, worker):
    """Found by a helper: a decided item's review page said only "This submission has been decided: signed off by
    Sam Supervisor", without his comment or which competence he did not accept."""
    sam = make_supervisor_of(worker)
    statement = competence("PS-LW-01")
    decide_on(worker, [statement], supervisor=sam, title="Signed off walk", accepted=False, comment="Good start.")
    auth.login_as(sam)
    [(_, _, href)] = shared_rows(text_of(client.get(f"/review/workers/{worker.id}/evidence")))
    page = text_of(client.get(href))
    # It leads back to the list it was opened from (opened from the queue, back to the queue).
    back = rf'class="nhsuk-back-link"\s*href="/review/workers/{worker.id}/evidence"'
    assert re.search(back, page)
    assert not re.search(back, text_of(client.get(href.split("?", 1)[0])))
    assert "This submission has been decided: signed off by Sam Supervisor." in words(page)
    history = words(page.split('id="history"', 1)[1])
    assert "Signed off by Sam Supervisor" in history and "Good start." in history
    assert f"Not accepted: {statement.statement}" in history
