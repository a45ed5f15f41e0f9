"""The competence picker in bulk: the next tier first, linked ones last and not counted, ten a page, "Link all shown";
and "Link an existing item" from the competence map and What's missing (issue 13)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from portfolio.errors import FieldError
from portfolio.evidence import service
from portfolio.extensions import db
from portfolio.models import Evidence, EvidenceLink, EvidenceStatus, NoteOutcome, NoteReview, Role
from tests.conftest import csrf_token
from tests.factories import (
    EVIDENCE_MODELS,
    HASH,
    competence,
    competences,
    link_draft,
    make_supervisor_of,
    make_user,
    supervision_note,
    tier,
    waiting_item,
)
from tests.pages import (
    assert_error_shown,
    page_title,
    reload,
    row_counts,
    status_line,
    status_of,
    summary_links,
    text_of,
    words,
)
from tests.racing import Rounds, no_server_errors, race, signed_in

COACH = ("link-worker", "link-worker-coach")


def linked_refs(evidence: Evidence) -> list[str]:
    db.session.expire_all()
    rows = db.session.scalars(select(EvidenceLink).where(EvidenceLink.evidence_id == evidence.id)).all()
    return sorted(link.competence.ref for link in rows)


def shown_ids(page: str) -> list[int]:
    """The competences listed in the picker's results, in order."""
    results = page.split('id="picker-results"', 1)[1]
    return [int(i) for i in re.findall(r'id="pick-(\d+)"', results)]


def link_all_form(page: str) -> tuple[str, dict[str, list[str]]]:
    """The "Link all shown" form: its action and its hidden fields."""
    form = re.search(r'<form method="post" action="([^"]+)" class="link-all-form"[^>]*>(.*?)</form>', page, re.S)
    assert form, "no Link all shown form"
    fields: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(2)):
        fields.setdefault(name, []).append(value)
    assert "Link all shown" in words(form.group(2))
    return form.group(1), fields


@pytest.fixture
def signed_in_worker(worker, auth):
    auth.login_as(worker)
    return worker


# --- the service ------------------------------------------------------------------------


def test_link_competences_links_each_once_in_one_go(app, worker):
    evidence = link_draft(worker, [])
    coach = competences(*COACH)
    added = service.link_competences(worker, evidence, [c.id for c in coach[:10]] + [coach[0].id])
    assert [link.competence_id for link in added] == [c.id for c in coach[:10]]
    # Sent again with two more: only the two are new.
    added = service.link_competences(worker, reload(evidence), [c.id for c in coach[:12]])
    assert [link.competence_id for link in added] == [c.id for c in coach[10:12]]
    assert linked_refs(evidence) == sorted(c.ref for c in coach[:12])
    # Everything already linked: nothing written, nothing refused.
    assert service.link_competences(worker, reload(evidence), [coach[3].id]) == []
    assert db.session.scalar(select(func.count()).select_from(EvidenceLink)) == 12


@pytest.mark.parametrize(
    ("wanted", "message"),
    [
        (lambda: [competence("PS-LW-01").id, 2_000_000_000], "Choose competences from your framework"),
        (lambda: [competence("CORE-01", "sfh-senior-engagement-worker").id], "Choose competences from your framework"),
        (lambda: [], "There are no competences to link on this page"),
        (lambda: list(range(1, 102)), "Choose at most 100 competences at once"),
    ],
    ids=["unknown", "another-framework", "none", "too-many"],
)
def test_link_competences_refuses_bad_choices_and_writes_nothing(app, worker, wanted, message):
    evidence = link_draft(worker, [])
    before = row_counts(*EVIDENCE_MODELS)
    with pytest.raises(FieldError) as refused:
        service.link_competences(worker, evidence, wanted())
    assert (refused.value.field, refused.value.message) == ("competence_ids", message)
    assert row_counts(*EVIDENCE_MODELS) == before


def test_link_competences_refuses_a_retired_competence(app, worker):
    evidence = link_draft(worker, [])
    retired = competence("PS-LW-06")
    retired.retired_at = datetime.now(UTC)
    db.session.commit()
    with pytest.raises(FieldError, match="Choose competences from your framework"):
        service.link_competences(worker, evidence, [competence("PS-LW-05").id, retired.id])
    assert linked_refs(evidence) == []


def test_link_competences_leaves_an_item_sent_for_review_alone(app, worker):
    item = waiting_item(worker)
    with pytest.raises(service.NotEditable, match="submitted for review and cannot be changed"):
        service.link_competences(worker, item, [competence("PS-LW-05").id])
    assert linked_refs(item) == [competences("link-worker", "link-worker")[0].ref]


def test_linkable_items_are_my_drafts_and_returned_items_not_linked_to_it(app, worker):
    target = competence("PS-LW-05")
    supervisor = make_supervisor_of(worker)
    plain = link_draft(worker, [], "Plain draft")
    returned = link_draft(worker, [competence("PS-LW-01")], "Returned item", status=EvidenceStatus.RETURNED)
    link_draft(worker, [target], "Already linked")
    waiting_item(worker, "Waiting for review")
    link_draft(worker, [], "Signed off", status=EvidenceStatus.SIGNED_OFF)
    confirmed = supervision_note(worker, supervisor, "Confirmed note")
    db.session.add(
        NoteReview(
            evidence_id=confirmed.id, supervisor_id=supervisor.id, outcome=NoteOutcome.CONFIRMED, content_hash=HASH
        )
    )
    waiting_note = supervision_note(worker, supervisor, "Note waiting for confirmation")
    db.session.commit()
    other = make_user(Role.WORKER, tier=tier("link-worker", "link-worker"))
    link_draft(other, [], "Their draft")

    page = service.linkable_items(worker, target)
    assert {e.id for e in page.items} == {plain.id, returned.id, waiting_note.id}
    assert page.total == 3


def test_linkable_items_come_a_page_at_a_time(app, worker):
    for n in range(service.PAGE_SIZE + 3):
        link_draft(worker, [], f"Draft {n:02d}")
    target = competence("PS-LW-05")
    first = service.linkable_items(worker, target)
    assert (first.total, len(first.items), first.pages) == (service.PAGE_SIZE + 3, service.PAGE_SIZE, 2)
    assert len(service.linkable_items(worker, target, page=2).items) == 3


# --- "Link all shown" through the links page ------------------------------------------------


def test_linking_every_competence_of_a_tier_a_page_at_a_time(client, auth, signed_in_worker):
    evidence = link_draft(signed_in_worker, [])
    coach = tier(*COACH)
    path = f"/portfolio/{evidence.id}/links"
    page = text_of(client.get(f"{path}?tier={coach.id}"))
    assert status_of(page, "picker-count") == "20 competences to link, showing 1 to 10 (page 1 of 2)"
    action, fields = link_all_form(page)
    assert action == f"{path}/all"
    assert [int(i) for i in fields["competence_ids"]] == shown_ids(page)
    assert fields["tier"] == [str(coach.id)]

    response = client.post(action, data={k: v for k, v in fields.items()})
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert (location.path, parse_qs(location.query), location.fragment) == (path, {"tier": [str(coach.id)]}, "find")
    assert len(linked_refs(evidence)) == 10

    # The same page of results now shows the next ten to link, the ten linked listed after them and not counted.
    page = text_of(client.get(response.headers["Location"]))
    assert (
        "Linked to 10 competences. Linked competences move to the end of the list, so the next ones to link are now"
        " shown here." in words(page)
    )
    assert "Linked competences (10)" in page
    assert status_of(page, "picker-count") == "10 competences to link, 10 linked already, showing 1 to 10 (page 1 of 2)"
    first_ten = {int(i) for i in fields["competence_ids"]}
    _, fields = link_all_form(page)
    assert [int(i) for i in fields["competence_ids"]] == shown_ids(page)
    assert not first_ten & set(shown_ids(page))
    client.post(action, data=fields)
    assert linked_refs(evidence) == sorted(c.ref for c in competences(*COACH))

    page = text_of(client.get(f"{path}?tier={coach.id}"))
    assert (
        status_of(page, "picker-count") == "All 20 competences here are linked already, showing 1 to 10 (page 1 of 2)"
    )
    assert 'class="link-all-form"' not in page
    results = page.split('id="picker-results"', 1)[1]
    assert len(re.findall(r'nhsuk-tag--green"\s*>\s*Linked\s*<', results)) == 10  # each one shown marked Linked


def test_link_all_shown_twice_links_each_once(client, auth, signed_in_worker):
    evidence = link_draft(signed_in_worker, [])
    path = f"/portfolio/{evidence.id}/links"
    _, fields = link_all_form(text_of(client.get(path)))
    assert client.post(f"{path}/all", data=fields).status_code == 303
    again = client.post(f"{path}/all", data=fields)  # a double click, or the form from another tab
    assert again.status_code == 303
    assert "These competences were already linked" in text_of(client.get(again.headers["Location"]))
    assert len(linked_refs(evidence)) == 10
    assert db.session.scalar(select(func.count()).select_from(EvidenceLink)) == 10


def test_link_all_keeps_the_page_of_results(client, auth, signed_in_worker):
    evidence = link_draft(signed_in_worker, [])
    path = f"/portfolio/{evidence.id}/links"
    page = text_of(client.get(f"{path}?q=the&page=2"))
    _, fields = link_all_form(page)
    assert fields["q"] == ["the"] and fields["page"] == ["2"]
    response = client.post(f"{path}/all", data=fields)
    assert parse_qs(urlsplit(response.headers["Location"]).query) == {"q": ["the"], "page": ["2"]}
    # Opened on its own (a page link on a refused page): the picker at that search.
    response = client.get(f"{path}/all?q=the&page=3")
    assert response.status_code == 303
    assert parse_qs(urlsplit(response.headers["Location"]).query) == {"q": ["the"], "page": ["3"]}


def test_the_picker_pages_as_a_fragment_with_its_count_out_of_band(client, signed_in_worker):
    evidence = link_draft(signed_in_worker, [])
    path = f"/portfolio/{evidence.id}/links"
    full = text_of(client.get(path))
    assert full.count("<h1") == 1
    assert re.search(rf'<a[^>]*href="{path}\?page=2"[^>]*hx-get="{path}\?page=2"', full), "no link to page 2"

    response = client.get(f"{path}?page=2", headers={"HX-Request": "true"})
    fragment = text_of(response)
    assert "<html" not in fragment and "<h1" not in fragment
    words_said, out_of_band = status_line(fragment, "picker-count")
    assert out_of_band and words_said == "85 competences to link, showing 11 to 20 (page 2 of 9)"
    assert shown_ids(fragment) == shown_ids(text_of(client.get(f"{path}?page=2")))
    assert "HX-Request" in response.headers["Vary"]
    _, fields = link_all_form(fragment)
    assert fields["page"] == ["2"]

    # A boosted navigation (a link followed with hx-boost) gets the whole page.
    boosted = text_of(client.get(f"{path}?page=2", headers={"HX-Request": "true", "HX-Boosted": "true"}))
    assert "<html" in boosted and boosted.count("<h1") == 1
    assert status_line(boosted, "picker-count")[1] is False


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        (lambda: [str(competence("PS-LW-01").id), "2000000000"], "Choose competences from your framework"),
        (lambda: [str(competence("PS-LW-01").id), "abc"], "Choose competences from your framework"),
        (
            lambda: [str(competence("CORE-01", "sfh-senior-engagement-worker").id)],
            "Choose competences from your framework",
        ),
        (lambda: [], "There are no competences to link on this page"),
    ],
    ids=["unknown", "not-a-number", "another-framework", "none"],
)
def test_link_all_refuses_bad_choices_next_to_the_button(client, auth, signed_in_worker, ids, message):
    evidence = link_draft(signed_in_worker, [])
    path = f"/portfolio/{evidence.id}/links"
    response = client.post(f"{path}/all", data={"csrf_token": auth.token(path), "competence_ids": ids()})
    page = assert_error_shown(response, "competence_ids", message)
    assert 'id="picker-results"' in page and page.count("<h1") == 1
    assert linked_refs(evidence) == []


def test_link_all_on_an_item_sent_meanwhile_is_refused(client, auth, signed_in_worker):
    evidence = link_draft(signed_in_worker, [])
    service.link_competence(signed_in_worker, evidence, competence("PS-LW-01").id)
    path = f"/portfolio/{evidence.id}/links"
    _, fields = link_all_form(text_of(client.get(path)))
    service.submit(signed_in_worker, reload(evidence))  # from another tab
    response = client.post(f"{path}/all", data=fields)
    assert response.status_code == 422
    page = text_of(response)
    assert summary_links(page) == {"This item is submitted for review and cannot be changed": "linked"}
    assert 'class="link-all-form"' not in page
    assert linked_refs(evidence) == ["PS-LW-01"]


def test_the_picker_runs_a_fixed_number_of_queries(client, signed_in_worker, count_queries):
    """Whatever the number of items, of links on this item and of competences matching."""
    evidence = link_draft(signed_in_worker, [])
    service.link_competences(signed_in_worker, evidence, [competence("PS-LW-01").id])

    def queries(path, headers=None) -> int:
        with count_queries:
            response = client.get(path, headers=headers or {})
        assert response.status_code == 200
        return count_queries.count

    paths = [
        (f"/portfolio/{evidence.id}/links", None),
        (f"/portfolio/{evidence.id}/links?page=2", {"HX-Request": "true"}),
    ]
    client.get(paths[0][0])  # warm up (the app's first request)
    few = [queries(path, headers) for path, headers in paths]

    everything = [c.id for c in competences()]
    service.link_competences(signed_in_worker, reload(evidence), everything[:60])
    for n in range(40):
        other = link_draft(signed_in_worker, [], f"Another item {n}")
        service.link_competences(signed_in_worker, other, everything[n : n + 5])
    many = [queries(path, headers) for path, headers in paths]
    assert many == few, count_queries.statements
    assert "60 linked already" in status_of(text_of(client.get(paths[0][0])), "picker-count")


# --- "Link an existing item", from the competence map and What's missing ------------------------


def test_what_is_missing_and_the_competence_page_offer_linking_an_existing_item(client, signed_in_worker):
    """Next to each "Add evidence for this": on What's missing, and on the competence page the map links each row to."""
    target = competence("PS-LW-05")
    href = f"/portfolio/competences/{target.id}/link"
    assert f'href="/portfolio/competences/{target.id}"' in text_of(client.get("/portfolio/map"))
    for path in ("/progress/missing", f"/portfolio/competences/{target.id}"):
        page = text_of(client.get(path))
        assert re.search(rf'href="{href}"[^>]*>\s*Link an existing item', page), path
        assert re.search(rf'href="/portfolio/new\?competence={target.id}"[^>]*>\s*Add evidence for this', page), path


def test_linking_an_existing_item_to_a_competence(client, auth, signed_in_worker):
    target = competence("PS-LW-05")
    first, second = link_draft(signed_in_worker, [], "Group session"), link_draft(signed_in_worker, [], "Home visit")
    sent = waiting_item(signed_in_worker, "Sent already")
    path = f"/portfolio/competences/{target.id}/link"

    page = text_of(client.get(path))
    assert page.count("<h1") == 1 and "<h1>Link an existing item</h1>" in page
    assert f"To: {target.statement}" in page
    assert status_of(page, "linkable-status") == "2 items can be linked"
    assert "Group session" in page and "Home visit" in page and "Sent already" not in page
    forms = re.findall(
        rf'<form method="post" action="{path}"[^>]*>.*?name="evidence_id" value="(\d+)".*?Link this item', page, re.S
    )
    assert sorted(int(i) for i in forms) == sorted([first.id, second.id])

    fragment = text_of(client.get(path, headers={"HX-Request": "true"}))
    assert "<html" not in fragment and 'id="linkable-items"' in fragment
    assert status_line(fragment, "linkable-status") == ("2 items can be linked", True)

    token = auth.token(path)
    response = client.post(path, data={"csrf_token": token, "evidence_id": first.id})
    assert response.status_code == 303 and response.headers["Location"] == path
    page = text_of(client.get(path))
    assert "Linked “Group session” to this competence" in page
    assert status_of(page, "linkable-status") == "1 item can be linked"
    assert linked_refs(first) == [target.ref]

    # Sent twice (a double click): linked once, and said the same way.
    assert client.post(path, data={"csrf_token": token, "evidence_id": first.id}).status_code == 303
    assert linked_refs(first) == [target.ref]

    # An item sent for review is refused with the reason; nothing written.
    response = client.post(path, data={"csrf_token": token, "evidence_id": sent.id})
    assert response.status_code == 422
    assert summary_links(text_of(response)) == {
        "This item is submitted for review and cannot be changed": "linkable-items"
    }
    assert target.ref not in linked_refs(sent)


def test_linking_an_existing_item_refuses_bad_input(client, auth, signed_in_worker):
    target = competence("PS-LW-05")
    path = f"/portfolio/competences/{target.id}/link"
    token = auth.token(path)
    response = client.post(path, data={"csrf_token": token})
    assert_error_shown(response, "evidence_id", "Choose an item")
    response = client.post(path, data={"csrf_token": token, "evidence_id": "abc"})
    assert_error_shown(response, "evidence_id", "Choose one of your items")

    other = make_user(Role.WORKER, tier=tier("link-worker", "link-worker"))
    theirs = link_draft(other, [], "Their draft")
    assert client.post(path, data={"csrf_token": token, "evidence_id": theirs.id}).status_code == 404
    assert linked_refs(theirs) == []
    foreign = competence("CORE-01", "sfh-senior-engagement-worker")
    assert client.get(f"/portfolio/competences/{foreign.id}/link").status_code == 404
    retired = competence("PS-LW-06")
    retired.retired_at = datetime.now(UTC)
    db.session.commit()
    assert client.get(f"/portfolio/competences/{retired.id}/link").status_code == 404


def test_no_item_to_link_offers_adding_evidence(client, signed_in_worker):
    target = competence("PS-LW-05")
    page = text_of(client.get(f"/portfolio/competences/{target.id}/link"))
    assert status_of(page, "linkable-status") == "No items can be linked"
    assert re.search(rf'href="/portfolio/new\?competence={target.id}"[^>]*>\s*Add evidence for this', page)
    assert page_title(page).startswith("Link an existing item to: ")


def test_the_link_existing_page_runs_a_fixed_number_of_queries(client, signed_in_worker, count_queries, supervisor):
    target = competence("PS-LW-05")
    path = f"/portfolio/competences/{target.id}/link"
    link_draft(signed_in_worker, [])
    client.get(path)

    def queries() -> int:
        with count_queries:
            assert client.get(path).status_code == 200
        return count_queries.count

    few = queries()
    for n in range(10):
        supervision_note(signed_in_worker, supervisor, f"Note {n}")
        link_draft(signed_in_worker, [], f"Draft {n}")
    assert queries() == few, count_queries.statements


# --- two "Link all shown" at once, over real HTTP ----------------------------------------------


def test_two_link_all_requests_at_once_create_each_link_once(app, server, worker):
    [browser] = signed_in(server, ("browser", worker.email))
    rounds = Rounds()
    for number in rounds:
        db.session.rollback()  # end the read begun before the server wrote (the sign-in), or SQLite refuses the write
        evidence_id = link_draft(worker, [], f"Racing item {number}").id
        path = f"/portfolio/{evidence_id}/links"
        page = browser.get(path)
        assert page.status == 200, page.describe()
        _, fields = link_all_form(page.text.replace("&amp;", "&"))
        data = {"csrf_token": csrf_token(page.text), "competence_ids": fields["competence_ids"]}
        pending = [browser.start_post(f"{path}/all", data) for _ in range(2)]
        answers = race(pending)
        no_server_errors({"first": answers[0], "second": answers[1]}, number)
        described = f"round {number}: " + "; ".join(a.describe() for a in answers)
        assert [a.status for a in answers] == [303, 303], described
        rounds.record(answers)

        db.session.commit()
        rows = db.session.scalars(select(EvidenceLink.competence_id).where(EvidenceLink.evidence_id == evidence_id))
        assert sorted(rows) == sorted(int(i) for i in fields["competence_ids"]), described
    rounds.assert_enough()
