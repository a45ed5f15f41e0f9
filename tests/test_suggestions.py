"""Suggested competences: from the item's own words, the right ones among five, one click to link."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import yaml
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from portfolio.evidence import service as evidence_service
from portfolio.evidence import suggest
from portfolio.extensions import db
from portfolio.models import EvidenceKind, EvidenceLink, Role
from tests.conftest import post_with_token
from tests.factories import PDF, competence, make_user, tier

LABELLED = yaml.safe_load((Path(__file__).parent / "data" / "suggestions.yaml").read_text("utf-8"))


def test_the_labelled_reflections_find_their_competences_among_the_five(worker):
    assert len(LABELLED) >= 30
    misses = []
    for reflection in LABELLED:
        suggested = [c.ref for c in suggest.suggest(worker, reflection["text"])]
        assert len(suggested) <= 5
        if not all(ref in suggested for ref in reflection["refs"]):
            misses.append((reflection["refs"], suggested, reflection["text"][:60]))
    found = 1 - len(misses) / len(LABELLED)
    assert found >= 0.7, f"{found:.0%} found; missed: {misses}"


def test_linked_competences_are_not_suggested_again(worker):
    text = "I listened and empathised, adapting how I communicate to his needs."
    first = suggest.suggest(worker, text)
    assert first[0].ref == "PS-LW-02"

    again = suggest.suggest(worker, text, linked_ids={first[0].id})
    assert "PS-LW-02" not in [c.ref for c in again]


def test_the_current_and_next_tier_come_before_later_ones(worker):
    # "Conflict" is in Coach and Psychosocial statements: the Coach one (next tier) comes first.
    refs = [c.ref for c in suggest.suggest(worker, "conflict")]
    assert refs[0].startswith("PC-LWC")
    assert any(ref.startswith("PC-PLW") for ref in refs)
    coach = make_user(Role.WORKER, email="cora@example.org", tier=tier("link-worker", "link-worker-coach"))
    assert suggest.suggest(coach, "conflict")[0].ref.startswith(("PC-LWC", "PC-PLW"))


def test_nothing_to_go_on_suggests_nothing(worker):
    assert suggest.suggest(worker, "") == []
    assert suggest.suggest(worker, "the and of it") == []
    assert suggest.suggest(make_user(Role.MANAGER), "listening") == []


def new_item(worker, text: str):
    item = evidence_service.create_evidence(
        worker,
        EvidenceKind.OTHER,
        evidence_service.EvidenceInput(title="Home visit", occurred_on=date(2026, 11, 2), description=text),
    )
    db.session.commit()
    return item


def test_the_links_page_suggests_and_one_click_links(client, auth, worker):
    item = new_item(worker, "She was anxious and tearful; I stayed calm and kept a sensitive approach.")
    auth.login_as(worker)
    page = client.get(f"/portfolio/{item.id}/links").get_data(as_text=True)
    calm = competence("PS-LW-07")
    assert "Suggested from what you wrote" in page and f'id="suggest-{calm.id}"' in page

    answer = client.post(
        f"/portfolio/{item.id}/links",
        data={"csrf_token": auth.token(f"/portfolio/{item.id}/links"), "competence_id": calm.id},
    )

    assert answer.status_code == 303
    assert db.session.scalar(select(EvidenceLink).where(EvidenceLink.evidence_id == item.id)).competence_id == calm.id
    after = client.get(f"/portfolio/{item.id}/links").get_data(as_text=True)
    assert f'id="suggest-{calm.id}"' not in after


def test_the_picker_fragment_leaves_the_suggestions_alone(client, auth, worker):
    item = new_item(worker, "I listened and empathised with him.")
    auth.login_as(worker)
    fragment = client.get(f"/portfolio/{item.id}/links?q=listen", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and "Suggested from what you wrote" not in fragment
    boosted = client.get(f"/portfolio/{item.id}/links", headers={"HX-Request": "true", "HX-Boosted": "true"}).get_data(
        as_text=True
    )
    assert "<html" in boosted and "Suggested from what you wrote" in boosted


def test_the_links_page_costs_the_same_queries_for_a_long_text(client, auth, worker, count_queries):
    short = new_item(worker, "listening")
    long = new_item(worker, " ".join(["I listened, planned goals, managed my caseload and kept records."] * 200))
    auth.login_as(worker)
    client.get(f"/portfolio/{short.id}/links")
    with count_queries:
        client.get(f"/portfolio/{short.id}/links")
    few = count_queries.count
    with count_queries:
        client.get(f"/portfolio/{long.id}/links")
    assert count_queries.count == few


def test_a_certificates_suggestions_read_its_catalogue_course(client, auth, worker):
    """Found by a helper: "EDI essentials" suggested nothing, though the course chosen from the catalogue was
    "Equality, diversity and inclusion"; and the links page suggested unrelated statements."""
    from tests.factories import course

    edi = course("Equality, diversity and inclusion: respecting lifestyles and backgrounds", 36)
    diversity = f'name="competence_ids" type="checkbox" value="{competence("PC-LW-05").id}"'
    auth.login_as(worker)
    typed = {"title": "EDI essentials", "provider": "County Council"}
    path, htmx = "/portfolio/new/certificate/suggestions", {"HX-Request": "true"}
    alone = post_with_token(client, auth, path, typed, headers=htmx)
    with_course = post_with_token(client, auth, path, {**typed, "training_item_id": str(edi.id)}, headers=htmx)
    assert diversity not in alone.get_data(as_text=True)
    assert diversity in with_course.get_data(as_text=True)
    # The form opened for the course suggests for it at once; and so does the saved certificate's links page.
    assert diversity in client.get(f"/portfolio/new/certificate?course={edi.id}", follow_redirects=True).get_data(
        as_text=True
    )
    item = evidence_service.create_evidence(
        worker,
        EvidenceKind.CERTIFICATE,
        evidence_service.EvidenceInput(
            title="EDI essentials", provider="County Council", occurred_on=date(2026, 11, 2), training_item_id=edi.id
        ),
        [FileStorage(io.BytesIO(PDF), filename="edi.pdf", content_type="application/pdf")],
    )
    links_page = client.get(f"/portfolio/{item.id}/links").get_data(as_text=True)
    assert f'id="suggest-{competence("PC-LW-05").id}"' in links_page
