"""'Download all my data': complete by construction, readable, only one's own, in a fixed number of queries."""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from datetime import timedelta
from decimal import Decimal
from urllib.parse import unquote

import pytest
from defusedxml import ElementTree
from sqlalchemy import Column, ForeignKey, Integer, MetaData, Table, select
from werkzeug.datastructures import FileStorage

from portfolio.audit import ledger
from portfolio.evidence import service as evidence_service
from portfolio.evidence.service import ActionInput, EvidenceInput
from portfolio.extensions import db
from portfolio.models import (
    Appraisal,
    CompetenceDecision,
    CpdActivity,
    CpdGoal,
    Decision,
    DecisionOutcome,
    Evidence,
    EvidenceKind,
    EvidenceStatus,
    NoteOutcome,
    NoteReview,
    Notification,
    PromotionDecision,
    PromotionRecommendation,
    PromotionRequest,
    Requirement,
    RequirementVerification,
    Role,
    SignInAttempt,
    TierChange,
    User,
)
from portfolio.portability import leap2a
from portfolio.privacy import export
from tests.conftest import built_document
from tests.factories import HASH, RECENT_DAY, TODAY, assign, certificate, course, make_user, send_for_review, tier
from tests.privacy_support import competences, pdf_bytes


def person_tables(metadata: MetaData) -> set[str]:
    """Tables holding a person's id: a column with a foreign key to users.id (and users itself)."""
    return {
        table.name
        for table in metadata.tables.values()
        if table.name == "users"
        or any(fk.column.table.name == "users" for column in table.columns for fk in column.foreign_keys)
    }


def uncovered(metadata: MetaData) -> set[str]:
    return person_tables(metadata) - export.covered_tables() - set(export.NOT_EXPORTED)


def test_every_table_holding_a_persons_id_is_exported_or_deliberately_left_out(app):
    missing = uncovered(db.metadata)
    assert not missing, (
        f"tables holding a person's id that no export contributor covers: {sorted(missing)}. "
        "Export them with @contributor in portfolio/privacy/export.py, or add them to NOT_EXPORTED with the reason."
    )
    # No contributor claims a table that does not exist (a renamed table would pass unseen otherwise).
    assert export.covered_tables() <= set(db.metadata.tables)
    assert set(export.NOT_EXPORTED) <= set(db.metadata.tables) | set(export.NOT_EXPORTED)
    assert "sign_in_attempts" in export.covered_tables()  # kept by email, not id: covered all the same


def test_the_coverage_check_catches_a_new_table(app):
    """A table added tomorrow with a user column fails the check until someone decides about it."""
    metadata = MetaData()
    for table in db.metadata.tables.values():
        table.to_metadata(metadata)
    Table("mfa_factors", metadata, Column("id", Integer, primary_key=True), Column("user_id", ForeignKey("users.id")))
    assert uncovered(metadata) == {"mfa_factors"}


def add_items_of_every_sort(worker: User, supervisor: User, n: int, start: int = 0) -> None:
    """``n`` items of every sort: files, links with notes, agreed actions, decisions, note reviews."""
    pool = competences()
    for i in range(start, start + n):
        c = pool[i % len(pool)]
        if i % 3 == 0:
            item = evidence_service.create_evidence(
                worker,
                EvidenceKind.SUPERVISION_NOTE,
                EvidenceInput(
                    title=f"Supervision {i}",
                    occurred_on=RECENT_DAY,
                    description=f"<p>Discussed {i}.</p>",
                    supervisor_id=supervisor.id,
                    actions=[ActionInput(description=f"Action {i}", owner="worker", due_on=TODAY)],
                ),
            )
        else:
            item = evidence_service.create_evidence(
                worker,
                EvidenceKind.OTHER,
                EvidenceInput(title=f"Item {i}", occurred_on=RECENT_DAY, description=f"<p>Did {i}.</p>"),
                [FileStorage(io.BytesIO(pdf_bytes(f"item {i}")), filename=f"item-{i}.pdf")],
            )
        evidence_service.link_competence(worker, db.session.get(Evidence, item.id), c.id, note=f"Note {i}")
        if i % 3 == 0:
            db.session.add(
                NoteReview(
                    evidence_id=item.id, supervisor_id=supervisor.id, outcome=NoteOutcome.CONFIRMED, content_hash=HASH
                )
            )
        if i % 3 == 1:
            item = db.session.get(Evidence, item.id)
            submission = send_for_review(item)
            item.status = EvidenceStatus.SIGNED_OFF  # and signed off, below
            decision = Decision(
                submission_id=submission.id,
                evidence_id=item.id,
                supervisor_id=supervisor.id,
                outcome=DecisionOutcome.SIGNED_OFF,
                content_hash=HASH,
                comment=f"Well done {i}",
            )
            decision.outcomes = [CompetenceDecision(competence_id=c.id, accepted=True, comment=f"Accepted {i}")]
            db.session.add(decision)
        db.session.commit()


@pytest.fixture
def people(app, frameworks):
    worker = make_user(
        Role.WORKER, name="Wren Worker", email="wren@example.org", tier=tier("link-worker", "link-worker")
    )
    supervisor = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    manager = make_user(Role.MANAGER, name="Mo Manager")
    other = make_user(
        Role.WORKER, name="Olive Other", email="olive@example.org", tier=tier("link-worker", "link-worker")
    )
    assign(supervisor, worker, TODAY - timedelta(days=90))
    assign(supervisor, other, TODAY - timedelta(days=90))
    return worker, supervisor, manager, other


def fill_every_area(person: User, supervisor: User, manager: User, word: str) -> None:
    """One row in every area for ``person``, each carrying ``word``."""
    requirement = db.session.scalar(select(Requirement).where(Requirement.framework_id == person.framework_id))
    db.session.add(
        RequirementVerification(
            worker_id=person.id,
            requirement_id=requirement.id,
            verified_by_id=manager.id,
            verified_on=RECENT_DAY,
            note=f"{word} DBS seen",
        )
    )
    coach, base = tier("link-worker", "link-worker-coach"), tier("link-worker", "link-worker")
    request = PromotionRequest(worker_id=person.id, from_tier_id=base.id, target_tier_id=coach.id)
    db.session.add(request)
    db.session.flush()
    db.session.add(
        PromotionRecommendation(
            request_id=request.id, supervisor_id=supervisor.id, supports=True, reasons=f"{word} is ready"
        )
    )
    decision = PromotionDecision(
        request_id=request.id, manager_id=manager.id, approved=True, effective_on=TODAY, reasons=f"{word} approved"
    )
    db.session.add(decision)
    db.session.flush()
    db.session.add(
        TierChange(
            worker_id=person.id, from_tier_id=base.id, to_tier_id=coach.id, effective_on=TODAY, decision_id=decision.id
        )
    )
    appraisal = Appraisal(
        worker_id=person.id,
        year=TODAY.year,
        held_on=TODAY,
        appraiser_id=supervisor.id,
        review=f"{word} review of the year",
        objectives=f"{word} objectives",
        learning_needs=f"{word} needs",
    )
    appraisal.goals = [
        CpdGoal(description=f"{word} goal", method=f"{word} method", target_on=TODAY + timedelta(days=90))
    ]
    db.session.add(appraisal)
    db.session.flush()
    activity = CpdActivity(
        worker_id=person.id,
        done_on=RECENT_DAY,
        title=f"{word} course",
        hours=Decimal("2.5"),
        learned=f"{word} learned",
        impact=f"{word} impact",
        goal_id=appraisal.goals[0].id,
    )
    activity.competences = competences()[:2]
    db.session.add(activity)
    db.session.add(Notification(user_id=person.id, message=f"{word} notified", url="/progress/"))
    db.session.add(SignInAttempt(email=person.email, address="192.0.2.7", succeeded=True))
    ledger.record(manager, "promotion.decided", f"user:{person.id}", request_id=request.id, note=f"{word} audit")
    db.session.commit()


def download(client, auth) -> zipfile.ZipFile:
    """The signed-in person's data export: asked for, built and downloaded as its button does."""
    return zipfile.ZipFile(io.BytesIO(built_document(client, auth, "/progress/export.zip")))


def test_the_export_holds_every_area_of_the_workers_data_and_nothing_of_anyone_elses(client, auth, people):
    worker, supervisor, manager, other = people
    add_items_of_every_sort(worker, supervisor, 3)
    fill_every_area(worker, supervisor, manager, "Wrenword")
    add_items_of_every_sort(other, supervisor, 3, start=100)
    fill_every_area(other, supervisor, manager, "Olivesecret")
    auth.login_as(worker)
    archive = download(client, auth)
    data = json.loads(archive.read("portfolio.json"))

    assert data["person"]["name"] == "Wren Worker" and data["person"]["email"] == "wren@example.org"
    assert data["sign_in_history"] == [
        {"at": data["sign_in_history"][0]["at"], "succeeded": True, "address": "192.0.2.7"}
    ]
    assert {e["title"] for e in data["evidence"]} == {"Supervision 0", "Item 1", "Item 2"}
    assert [a["description"] for e in data["evidence"] for a in e["actions"]] == ["Action 0"]
    assert {link["note"] for link in data["links"]} == {"Note 0", "Note 1", "Note 2"}
    assert {f["original_name"] for f in data["files"]} == {"item-1.pdf", "item-2.pdf"}
    assert [(d["comment"], d["supervisor"], d["competences"][0]["comment"]) for d in data["decisions"]] == [
        ("Well done 1", "Sam Supervisor", "Accepted 1")
    ]
    assert [r["supervisor"] for r in data["note_reviews"]] == ["Sam Supervisor"]
    assert [a["supervised_by"] for a in data["supervision_assignments"]] == ["Sam Supervisor"]
    assert [(v["note"], v["verified_by"]) for v in data["requirement_verifications"]] == [
        ("Wrenword DBS seen", "Mo Manager")
    ]
    [request] = data["promotion_requests"]
    assert (
        request["recommendations"][0]["reasons"] == "Wrenword is ready"
        and request["decision"]["reasons"] == "Wrenword approved"
    )
    assert [t["to"] for t in data["tier_history"]] == ["Link Worker Coach"]
    [appraisal] = data["appraisals"]
    assert appraisal["review"] == "Wrenword review of the year" and appraisal["appraiser"] == "Sam Supervisor"
    assert [(g["description"], g["method"]) for g in appraisal["cpd_goals"]] == [("Wrenword goal", "Wrenword method")]
    [activity] = data["cpd_activities"]
    assert (activity["title"], activity["hours"], len(activity["competences"])) == ("Wrenword course", "2.50", 2)
    assert [n["message"] for n in data["notifications"]] == ["Wrenword notified"]
    assert "Wrenword audit" in json.dumps(data["audit"])
    assert {f"user:{worker.id}"} <= {row["subject"] for row in data["audit"]}

    files = [n for n in archive.namelist() if n.startswith("files/")]
    assert sorted(n.rsplit("-", 1)[-1] for n in files) == ["1.pdf", "2.pdf"]
    for name in archive.namelist():
        text = archive.read(name).decode("utf-8", "replace")
        assert "Olivesecret" not in text and "Olive" not in text and "item-10" not in text, (
            f"another worker's data in {name}"
        )


def test_index_html_is_readable_plain_text_and_escaped(client, auth, people):
    worker, supervisor, manager, _ = people
    evidence_service.create_evidence(
        worker,
        EvidenceKind.REFLECTION,
        EvidenceInput(
            title='Group <b>"walk" & talk</b>',
            occurred_on=RECENT_DAY,
            what_happened="<p>We walked <strong>far</strong>.</p>",
            what_learned="<p>Pace matters.</p>",
        ),
    )
    fill_every_area(worker, supervisor, manager, "Wrenword")
    auth.login_as(worker)
    index = download(client, auth).read("index.html").decode()

    assert index.startswith("<!DOCTYPE html>") and "<script" not in index and "style=" not in index
    assert "Group &lt;b&gt;&#34;walk&#34; &amp; talk&lt;/b&gt;" in index  # typed text, escaped
    assert "<b>" not in index
    assert "We walked far." in index  # stored HTML shown as the plain text people read
    assert "<strong>" not in index and "&lt;p&gt;" not in index and "&lt;strong&gt;" not in index
    readable = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", index)).split())
    for heading in (
        "All your data: Wren Worker",
        "About you",
        "Your evidence",
        "Reviews of your evidence",
        "Supervision",
        "Requirements, promotion and tiers",
        "Appraisals and CPD",
        "Notifications",
        "Audit ledger",
        "Sign in history",
        "Cpd activities",
        "Appraisals",
    ):
        assert heading in readable, heading
    for value in (
        "Wrenword review of the year",
        "Wrenword goal",
        "Wrenword course",
        "Wrenword DBS seen",
        "Sam Supervisor",
        "192.0.2.7",
    ):
        assert value in readable, value


def test_a_supervisors_export_holds_what_they_wrote_not_the_workers_items(client, auth, people):
    worker, supervisor, manager, _ = people
    add_items_of_every_sort(worker, supervisor, 3)
    fill_every_area(worker, supervisor, manager, "Wrenword")
    supervisor.is_worker = True
    db.session.commit()
    auth.login_as(supervisor)
    data = json.loads(download(client, auth).read("portfolio.json"))
    assert data["evidence"] == [] and data["files"] == []
    assert [d["comment"] for d in data["decisions_given"]] == ["Well done 1"]
    assert [r["reasons"] for r in data["promotion_recommendations_given"]] == ["Wrenword is ready"]
    assert [a["supervising"] for a in data["supervision_assignments"]] == ["Wren Worker", "Olive Other"]
    assert [(a["worker"], a["year"]) for a in data["appraisals_given"]] == [("Wren Worker", TODAY.year)]
    text = json.dumps(data)
    assert "Wrenword review of the year" not in text and "Item 1" not in text and "Wrenword goal" not in text


def test_the_export_runs_a_fixed_number_of_queries_whatever_the_portfolio_size(client, auth, people, count_queries):
    worker, supervisor, manager, _ = people
    fill_every_area(worker, supervisor, manager, "Wrenword")
    add_items_of_every_sort(worker, supervisor, 5)
    auth.login_as(worker)
    with count_queries:
        few_archive = download(client, auth)
    few = count_queries.count
    add_items_of_every_sort(worker, supervisor, 55, start=5)
    with count_queries:
        many_archive = download(client, auth)
    assert count_queries.count == few, f"{few} queries for 5 items, {count_queries.count} for 60"
    # Of those, the build itself (what the task runs): about two per contributor, never one per item.
    with count_queries:
        export.export_zip(worker).close()
    assert count_queries.count < 50, count_queries.count
    assert len(json.loads(few_archive.read("portfolio.json"))["evidence"]) == 5
    assert len(json.loads(many_archive.read("portfolio.json"))["evidence"]) == 60
    assert len(leap2a_entries(many_archive)["leap2:entry"]) == 60  # Leap2A reads what was collected: no query
    assert len([n for n in many_archive.namelist() if n.startswith("files/")]) == 40


def test_a_certificate_check_is_in_the_checkers_export_by_id_and_time_and_in_the_workers_item(client, auth, people):
    worker, supervisor, _, _ = people
    checked = certificate(worker, course("Safeguarding adults", 36), RECENT_DAY, title="Wrenword certificate")
    checked.checked_by_id = supervisor.id
    db.session.commit()
    supervisor.is_worker = True
    db.session.commit()
    auth.login_as(supervisor)
    data = json.loads(download(client, auth).read("portfolio.json"))
    [row] = data["certificates_checked"]
    assert row["evidence_id"] == checked.id and row["checked_at"]
    assert "Wrenword certificate" not in json.dumps(data)  # the worker's certificate itself is theirs
    auth.login_as(worker)
    data = json.loads(download(client, auth).read("portfolio.json"))
    [item] = [e for e in data["evidence"] if e["id"] == checked.id]
    assert item["checked_at"] and data["certificates_checked"] == []


def test_a_certificate_sent_back_is_in_the_checkers_export_with_their_reason_and_in_the_workers_item(
    client, auth, people
):
    worker, supervisor, _, _ = people
    sent = certificate(
        worker, course("Safeguarding adults", 36), RECENT_DAY, title="Wrenword certificate", sent_back="Blank page"
    )
    sent.sent_back_by_id = supervisor.id
    supervisor.is_worker = True
    db.session.commit()
    auth.login_as(supervisor)
    data = json.loads(download(client, auth).read("portfolio.json"))
    [row] = data["certificates_sent_back"]
    assert (row["evidence_id"], row["reason"]) == (sent.id, "Blank page") and row["sent_back_at"]
    assert "Wrenword certificate" not in json.dumps(data)
    auth.login_as(worker)
    data = json.loads(download(client, auth).read("portfolio.json"))
    [item] = [e for e in data["evidence"] if e["id"] == sent.id]
    assert item["sent_back_reason"] == "Blank page" and item["sent_back_at"] and item["checked_at"] is None
    assert item["earlier_sent_back_reason"] is None  # kept once she changes it: exported then too
    assert data["certificates_sent_back"] == []


# --- The same portfolio as Leap2A ------------------------------------------------------------------

NS = {"atom": leap2a.ATOM, "rdf": leap2a.RDF, "leap2": leap2a.LEAP2}


def leap2a_feed(archive: zipfile.ZipFile):
    return ElementTree.fromstring(archive.read(leap2a.FILE_NAME))


def leap2a_entries(archive: zipfile.ZipFile) -> dict[str, dict[str, object]]:
    """The feed's entries by Leap2A type, then by id."""
    found: dict[str, dict[str, object]] = {}
    for entry in leap2a_feed(archive).iterfind("atom:entry", NS):
        kind = entry.find("rdf:type", NS).get(f"{{{leap2a.RDF}}}resource")
        found.setdefault(kind, {})[entry.findtext("atom:id", namespaces=NS)] = entry
    return found


def links(entry, rel: str) -> list[str]:
    return [link.get("href") for link in entry.iterfind("atom:link", NS) if link.get("rel") == rel]


def test_the_export_offers_the_portfolio_as_leap2a_with_items_files_and_competences(client, auth, people):
    worker, supervisor, manager, other = people
    add_items_of_every_sort(worker, supervisor, 3)
    special = evidence_service.create_evidence(
        worker,
        EvidenceKind.OTHER,
        EvidenceInput(
            title='Whānau hui <b>& "R&D"</b>',
            occurred_on=RECENT_DAY,
            description="<p>Kōrero with the kaumātua, then tea &amp; cake</p>",
        ),
        [FileStorage(io.BytesIO(pdf_bytes("hui")), filename="hui notes ā.pdf")],
    )
    add_items_of_every_sort(other, supervisor, 3, start=100)
    auth.login_as(worker)
    archive = download(client, auth)

    feed = leap2a_feed(archive)
    assert feed.tag == f"{{{leap2a.ATOM}}}feed"
    assert feed.findtext("leap2:version", namespaces=NS) == "http://www.leapspecs.org/2010-07/2A/"
    assert feed.findtext("atom:author/atom:name", namespaces=NS) == "Wren Worker"
    entries = leap2a_entries(archive)
    items, files, abilities = entries["leap2:entry"], entries["leap2:resource"], entries["leap2:ability"]
    [selection] = entries["leap2:selection"].values()
    assert sorted(e.findtext("atom:title", namespaces=NS) for e in items.values()) == sorted(
        ["Supervision 0", "Item 1", "Item 2", 'Whānau hui <b>& "R&D"</b>']
    )

    # The text, as escaped HTML content, non-ASCII intact.
    mine = items[f"portfolio:evidence-{special.id}"]
    content = mine.find("atom:content", NS)
    assert content.get("type") == "html" and "<p>Kōrero with the kaumātua, then tea &amp; cake</p>" in content.text
    assert 'Whānau hui &lt;b&gt;&amp; "R&amp;D"&lt;/b&gt;' in archive.read(leap2a.FILE_NAME).decode("utf-8")
    assert mine.findtext("leap2:date", namespaces=NS) == RECENT_DAY.isoformat()

    # Every item links to its competence, and the competence back; each is part of the framework selection.
    data = json.loads(archive.read("portfolio.json"))
    expected = {
        (f"portfolio:evidence-{link['evidence_id']}", f"portfolio:competence-{link['competence_id']}")
        for link in data["links"]
    }
    assert {(i, c) for i, e in items.items() for c in links(e, "leap2:is_evidence_of")} == expected
    assert {(i, c) for c, e in abilities.items() for i in links(e, "leap2:has_evidence")} == expected
    assert {a.findtext("atom:title", namespaces=NS) for a in abilities.values()} == {
        link["competence"] for link in data["links"]
    }
    assert sorted(links(selection, "leap2:has_part")) == sorted(abilities)
    assert selection.findtext("atom:title", namespaces=NS) == data["person"]["framework"]
    refs = {c.get("term") for a in abilities.values() for c in a.iterfind("atom:category", NS)}
    assert refs == {link["competence_ref"] for link in data["links"]}

    # Files: a resource each, its enclosure the file inside this zip, attached both ways to its item.
    assert len(files) == 3
    for file_id, resource in files.items():
        [enclosure] = [link for link in resource.iterfind("atom:link", NS) if link.get("rel") == "enclosure"]
        assert " " not in enclosure.get("href")  # percent-encoded, as a URI must be
        member = archive.getinfo(unquote(enclosure.get("href")))
        assert int(enclosure.get("length")) == member.file_size and enclosure.get("type") == "application/pdf"
        [owner] = links(resource, "leap2:is_attachment_of")
        assert links(items[owner], "leap2:has_attachment") == [file_id]

    # Only the worker's own: no other worker, no supervisor, no reviewer's words.
    text = archive.read(leap2a.FILE_NAME).decode("utf-8")
    for word in ("Olive", "Item 10", "Sam Supervisor", "Well done", "Accepted 1", supervisor.email):
        assert word not in text
