"""Adding evidence in one flow: the form suggests competences as you write; tick, then save or send."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from portfolio import clock
from portfolio.evidence import kinds
from portfolio.evidence import service as evidence_service
from portfolio.extensions import db
from portfolio.models import Competence, Evidence, EvidenceLink, EvidenceStatus, Framework

from .conftest import csrf_token, post_with_token
from .factories import make_worker
from .pages import BOOSTED, date_shown, error_next_to, error_summary, form_key, page_title, text_of

TEXT = "I listened and empathised with an anxious man, stayed calm, and we wrote a support plan with goals."


def ref(code: str, key: str = "link-worker") -> Competence:
    return db.session.scalar(
        select(Competence).join(Framework).where(Framework.key == key, Framework.is_current, Competence.ref == code)
    )


def form_data(page: str, **extra) -> dict:
    today = clock.today()
    return {
        "csrf_token": csrf_token(page),
        "form_key": page.split('name="form_key" type="hidden" value="')[1].split('"')[0],
        "title": "Home visit with Mr A",
        "occurred_on-day": str(today.day),
        "occurred_on-month": str(today.month),
        "occurred_on-year": str(today.year),
        "what_happened": TEXT,
        "what_learned": "Slowing down helped him say what mattered.",
        "visibility": "shareable",
        **extra,
    }


def items() -> int:
    return db.session.scalar(select(func.count(Evidence.id)))


def test_the_new_form_has_a_place_for_suggestions(client, auth, worker):
    auth.login_as(worker)
    page = client.get("/portfolio/new/reflection", follow_redirects=True).get_data(as_text=True)
    assert "Competences this evidence shows" in page
    assert "Save and send for review" in page and "Save as draft" in page


@pytest.mark.parametrize("kind", [k.value for k in kinds.KINDS])
def test_only_a_certificate_starts_without_a_date(client, auth, worker, kind):
    """A course is seldom recorded the day it was done, and its expiry follows from that day."""
    auth.login_as(worker)
    page = client.get(f"/portfolio/new/{kind}", follow_redirects=True).get_data(as_text=True)
    today = clock.today()
    expected = ("", "", "") if kind == "certificate" else (str(today.day), str(today.month), str(today.year))
    assert date_shown(page, "occurred_on") == expected


def ask_for_suggestions(client, auth, typed: dict):
    """What htmx posts as she types on a new reflection's form (with its CSRF token)."""
    return post_with_token(client, auth, "/portfolio/new/reflection/suggestions", typed, headers={"HX-Request": "true"})


def test_suggestions_follow_what_is_typed_and_keep_ticked_ones(client, auth, worker):
    auth.login_as(worker)
    plan = ref("PS-LW-05")
    answer = ask_for_suggestions(
        client, auth, {"title": "Support plan", "what_happened": TEXT, "competence_ids": [plan.id]}
    )
    fragment = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "<html" not in fragment
    assert f'id="competence-{plan.id}" name="competence_ids" type="checkbox" value="{plan.id}" checked' in fragment
    assert f'value="{ref("PS-LW-02").id}"' in fragment  # listening and empathising, suggested
    assert fragment.count('name="competence_ids"') <= 6  # the ticked one and five suggestions


def test_suggestions_for_a_long_reflection_are_posted_not_put_in_an_address(client, auth, worker):
    """Found by a helper: a reflection of some 500 words made the address of the suggestions' request longer than
    the server takes (gunicorn refused it, 414), the list became the error's text and the ticks were lost. What she
    writes is private too, and an address ends up in logs and history: the form posts it (and its CSRF token)."""
    auth.login_as(worker)
    page = client.get("/portfolio/new/reflection", follow_redirects=True).get_data(as_text=True)
    region = re.search(r'<div id="suggested-competences"[^>]*>', page).group(0)
    assert 'hx-post="/portfolio/new/reflection/suggestions"' in region and "hx-get" not in region
    assert 'hx-params="not files"' in region  # the chosen files are not sent as she types
    plan = ref("PS-LW-05")
    long_text = (TEXT + " ") * 80
    assert len(long_text) >= 8000  # twice what gunicorn takes in an address
    typed = {"title": "Support plan", "what_happened": long_text, "competence_ids": [plan.id]}
    answer = ask_for_suggestions(client, auth, typed)
    fragment = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert f'value="{plan.id}" checked' in fragment and f'value="{ref("PS-LW-02").id}"' in fragment
    assert (
        client.post(
            "/portfolio/new/reflection/suggestions", data={"title": "x"}, headers={"HX-Request": "true"}
        ).status_code
        == 400
    )  # no CSRF token: refused
    # A page from before they were posted still asks with GET as she types: it is reloaded, not drawn into the list.
    old_tab = client.get("/portfolio/new/reflection/suggestions?title=x", headers={"HX-Request": "true"})
    assert old_tab.status_code == 204 and old_tab.headers["HX-Refresh"] == "true"


def test_an_error_answering_a_part_of_a_page_takes_the_whole_window(client, auth, worker):
    """Found by a review: the suggestions posted with a token the session no longer knows (a form left open past the
    idle timeout) were answered with the "Your form has expired" page, which htmx drew inside the list. An error page
    answering a part of a page replaces the whole page; a whole page's error (boosted, or JavaScript off) is as it
    was."""
    auth.login_as(worker)
    path, data = "/portfolio/new/reflection/suggestions", {"title": "x", "csrf_token": "stale"}
    answer = client.post(path, data=data, headers={"HX-Request": "true"})
    assert answer.status_code == 400 and "Your form has expired" in text_of(answer)
    assert (answer.headers["HX-Retarget"], answer.headers["HX-Reswap"]) == ("body", "innerHTML")
    boosted = client.post(path, data=data, headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert boosted.status_code == 400 and "HX-Retarget" not in boosted.headers
    gone = client.get("/portfolio/999999", headers={"HX-Request": "true"})  # any error page, a 404 too
    assert gone.status_code == 404 and gone.headers["HX-Retarget"] == "body"
    found = client.get("/portfolio/?page=1", headers={"HX-Request": "true"})  # a part answered: left where it goes
    assert found.status_code == 200 and "HX-Retarget" not in found.headers


def test_the_suggestions_address_opened_on_its_own_goes_to_the_form(client, auth, worker):
    auth.login_as(worker)
    answer = client.get("/portfolio/new/reflection/suggestions", query_string={"title": "listening"})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/portfolio/new/reflection")
    page = client.get(answer.headers["Location"], follow_redirects=True).get_data(as_text=True)
    assert 'id="title"' in page and "Competences this evidence shows" in page


def test_save_and_send_links_the_ticked_competences_and_goes_to_check_your_answers(client, auth, worker):
    auth.login_as(worker)
    page = client.get("/portfolio/new/reflection", follow_redirects=True).get_data(as_text=True)
    chosen = [ref("PS-LW-02").id, ref("PS-LW-05").id, ref("PS-LW-07").id]

    answer = client.post("/portfolio/new/reflection", data=form_data(page, competence_ids=chosen, action="send"))

    item = db.session.scalar(select(Evidence))
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"/portfolio/{item.id}/submit")
    assert item.status == EvidenceStatus.DRAFT and item.occurred_on == clock.today()
    assert sorted(link.competence_id for link in item.links) == sorted(chosen)
    check = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Home visit with Mr A" in check and "3 competences" in check


def test_sending_with_nothing_ticked_says_so_next_to_the_competences_and_saves_nothing(client, auth, worker):
    auth.login_as(worker)
    page = client.get("/portfolio/new/reflection", follow_redirects=True).get_data(as_text=True)

    data = form_data(page, action="send") | {"files": (io.BytesIO(b"%PDF-1.4\n%%EOF\n"), "plan.pdf")}
    answer = client.post("/portfolio/new/reflection", data=data, content_type="multipart/form-data")

    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert 'id="competence_ids-error"' in html and "Tick at least one competence" in html
    assert "Choose plan.pdf again: files are not kept when this page is shown again." in html
    assert 'href="#competence_ids"' in html  # the error summary points at it
    assert items() == 0
    # What was typed is kept, and the suggestions are there to tick.
    assert "Home visit with Mr A" in html and f'value="{ref("PS-LW-02").id}"' in html


def test_sending_with_nothing_ticked_and_a_date_to_come_names_both_problems_at_once(client, auth, worker):
    """Not the competences now and the date on the next try."""
    auth.login_as(worker)
    page = client.get("/portfolio/new/reflection", follow_redirects=True).get_data(as_text=True)
    later = clock.today() + timedelta(days=400)
    data = form_data(page, action="send") | {"occurred_on-year": str(later.year)}

    answer = client.post("/portfolio/new/reflection", data=data)

    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    # The other button by its name on this form (a certificate's is "Save the certificate": test_evidence_routes).
    assert error_next_to(html, "competence_ids") == (
        "Error: Tick at least one competence this evidence shows, or choose “Save as draft” and link competences later"
    )
    assert "The date must be today or in the past" in error_next_to(html, "occurred_on")
    assert {href for href, _ in error_summary(html)} >= {"#competence_ids", "#occurred_on-day"}
    assert items() == 0


def test_without_javascript_the_suggest_button_shows_suggestions_and_saves_nothing(client, auth, worker):
    auth.login_as(worker)
    page = client.get("/portfolio/new/reflection", follow_redirects=True).get_data(as_text=True)

    answer = client.post("/portfolio/new/reflection", data=form_data(page, action="suggest"))

    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and items() == 0
    assert f'value="{ref("PS-LW-02").id}"' in html and "Home visit with Mr A" in html
    assert "There is a problem" not in html


def test_a_competence_of_another_framework_is_refused_and_nothing_is_written(client, auth, worker):
    auth.login_as(worker)
    page = client.get("/portfolio/new/reflection", follow_redirects=True).get_data(as_text=True)
    other = db.session.scalar(
        select(Competence).join(Framework).where(Framework.key == "sfh-senior-engagement-worker").limit(1)
    )

    answer = client.post("/portfolio/new/reflection", data=form_data(page, competence_ids=[other.id], action="send"))

    assert answer.status_code == 422 and "Choose competences from your framework" in answer.get_data(as_text=True)
    assert items() == 0 and db.session.scalar(select(func.count(EvidenceLink.id))) == 0


def test_save_as_draft_still_goes_to_the_links_page_with_the_ticked_links(client, auth, worker):
    auth.login_as(worker)
    page = client.get("/portfolio/new/reflection", follow_redirects=True).get_data(as_text=True)
    plan = ref("PS-LW-05")

    answer = client.post("/portfolio/new/reflection", data=form_data(page, competence_ids=[plan.id], action="draft"))

    item = db.session.scalar(select(Evidence))
    assert answer.headers["Location"].endswith(f"/portfolio/{item.id}/links")
    assert [link.competence_id for link in item.links] == [plan.id]


def test_a_double_click_on_send_makes_one_item(client, auth, worker):
    auth.login_as(worker)
    page = client.get("/portfolio/new/reflection", follow_redirects=True).get_data(as_text=True)
    data = form_data(page, competence_ids=[ref("PS-LW-05").id], action="send")

    first = client.post("/portfolio/new/reflection", data=data)
    second = client.post("/portfolio/new/reflection", data=data)

    assert items() == 1
    assert first.status_code == 303 and second.status_code in (303, 200)


def test_the_new_form_carries_its_one_time_key_in_its_address(client, auth, worker):
    """Opened without one, the form's address gains a fresh key (and keeps what else it said); a key of the wrong
    shape is replaced, never trusted."""
    auth.login_as(worker)
    target = ref("PS-LW-06")
    answer = client.get(f"/portfolio/new/other?competence={target.id}&back=home&unknown=x")
    assert answer.status_code == 303
    address = urlsplit(answer.headers["Location"])
    query = parse_qs(address.query)
    assert address.path == "/portfolio/new/other" and set(query) == {"competence", "back", "key"}
    assert query["competence"] == [str(target.id)] and query["back"] == ["home"] and len(query["key"][0]) == 43
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert form_key(page) == query["key"][0] and f"This evidence will be linked to: {target.statement}" in page
    assert client.get(answer.headers["Location"]).get_data(as_text=True).count(query["key"][0]) == 2  # same key
    for bad in ("short", "x" * 101, "not a key at all!!!!!!!!!"):
        again = client.get("/portfolio/new/other", query_string={"key": bad})
        assert again.status_code == 303 and bad not in again.headers["Location"]
    assert items() == 0


@pytest.mark.parametrize("headers", [{}, BOOSTED], ids=["page", "boosted"])
def test_back_to_a_saved_form_says_it_is_saved_and_saves_nothing_twice(client, auth, worker, headers):
    """Back after saving returns to the form's address, and so to its key: the page says the item is saved, with
    the way to it, rather than a fresh form that would make a second one."""
    auth.login_as(worker)
    address = client.get("/portfolio/new/reflection").headers["Location"]
    page = client.get(address).get_data(as_text=True)
    assert client.post(address, data=form_data(page)).status_code == 303
    saved = db.session.scalar(select(Evidence))

    back = client.get(address, headers=headers)
    shown = text_of(back)
    assert back.status_code == 200 and page_title(shown).startswith("You have saved this already")
    assert "<h1>You have saved this already</h1>" in shown
    assert f'<a href="/portfolio/{saved.id}" id="saved-item">Home visit with Mr A</a>' in shown
    assert 'href="/portfolio/new/reflection"' in shown  # another one: a fresh form, a fresh key
    assert 'name="form_key"' not in shown and 'id="item-form"' not in shown
    # The form restored by the browser and sent again still makes one item.
    assert client.post(address, data=form_data(page)).status_code == 303
    assert items() == 1


def test_someone_elses_key_opens_a_form_that_says_nothing_of_her_item(client, auth, worker):
    auth.login_as(worker)
    address = client.get("/portfolio/new/reflection").headers["Location"]
    page = client.get(address).get_data(as_text=True)
    client.post(address, data=form_data(page))
    auth.login_as(make_worker(name="Olive Other", email="olive@example.org"))

    theirs = text_of(client.get(address))
    assert "Home visit with Mr A" not in theirs and "You have saved" not in theirs and 'id="item-form"' in theirs
    assert items() == 1


def test_a_form_whose_item_was_deleted_saves_afresh(client, auth, worker):
    """Saved, deleted, then Back and saved again: nothing is left to duplicate, so it saves (not a 500 on the key
    already spent)."""
    auth.login_as(worker)
    address = client.get("/portfolio/new/reflection").headers["Location"]
    page = client.get(address).get_data(as_text=True)
    client.post(address, data=form_data(page))
    evidence_service.delete_evidence(worker, db.session.scalar(select(Evidence)))
    assert items() == 0

    form = client.get(address).get_data(as_text=True)
    assert 'id="item-form"' in form and form_key(form) == form_key(page)
    again = client.post(address, data=form_data(form))
    assert again.status_code == 303
    [second] = db.session.scalars(select(Evidence)).all()
    assert second.title == "Home visit with Mr A"  # (SQLite may give it the deleted one's id)
    # And that key now stands for the new item.
    assert f'href="/portfolio/{second.id}" id="saved-item"' in text_of(client.get(address))
