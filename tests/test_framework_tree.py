"""One framework tree, one count per statement ref, one set of rules: every view agrees.

After a new version of a framework loads, evidence linked and accepted on the
old version still counts for the same statement (matched by ref) on the
competence map, a competence's page, My progress, what is missing, the
framework page, the panel PDF and the data export.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from portfolio.extensions import db
from portfolio.frameworks import loader, tree
from portfolio.models import (
    Competence,
    Evidence,
    EvidenceLink,
    EvidenceStatus,
    Framework,
    Requirement,
    RequirementVerification,
    Role,
    Tier,
    User,
)
from portfolio.progress import rules, service
from portfolio.progress.rules import CompetenceStatus
from tests.conftest import built_document
from tests.factories import LINK_WORKER_FILE, TODAY, assign, link_draft, make_user, meet
from tests.factories import tier as tier_of
from tests.pages import map_row, pdf_text, text_of, words

NEW_STATEMENT = "Demonstrate conversation skills that follow an evidence-based framework"


def current_competence(ref: str) -> Competence:
    return db.session.scalar(
        select(Competence)
        .join(Framework)
        .where(Framework.key == "link-worker", Framework.is_current.is_(True), Competence.ref == ref)
    )


def load_new_version(tmp_path) -> Framework:
    """A changed copy of the Link Worker file: one statement reworded (same ref)."""
    text = LINK_WORKER_FILE.read_text(encoding="utf-8").replace(
        "Demonstrate conversations skills adhering to an evidence-based framework", NEW_STATEMENT
    )
    changed = tmp_path / "link-worker.yaml"
    changed.write_text(text, encoding="utf-8")
    result = loader.load_file(changed)
    assert result.created and result.framework.version == 2
    db.session.expire_all()
    return result.framework


def move_to_a_framework_sharing_the_ref(worker: User, frameworks, ref: str) -> tuple[Framework, Competence]:
    """Move the worker to the Skills for Health profile, whose first statement is given ``ref`` (the others
    keep theirs): the profile and that statement."""
    profile = frameworks["sfh-senior-engagement-worker"]
    clash = db.session.scalar(
        select(Competence).where(Competence.framework_id == profile.id).order_by(Competence.position).limit(1)
    )
    clash.ref = ref
    worker.framework_id = profile.id
    worker.tier_id = tier_of("sfh-senior-engagement-worker", "senior-engagement-worker").id
    db.session.commit()
    return profile, clash


@pytest.fixture
def people(app, frameworks):
    worker = make_user(Role.WORKER, name="Wren Worker", tier=tier_of("link-worker", "link-worker"))
    supervisor = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    assign(supervisor, worker, TODAY - timedelta(days=90))
    return worker, supervisor


@pytest.fixture
def upgraded(people, tmp_path):
    """Evidence on version 1 (accepted and drafts), version 2 loaded, and more evidence on version 2.

    PS-LW-01: one signed-off item accepting it and one draft, both on v1, the
    draft linked again on v2 (it counts once): 2 items, met.
    PS-LW-03: a draft on v1 and a draft on v2: 2 items, in progress.
    PS-LW-02: nothing.
    """
    worker, supervisor = people
    old = {c.ref: c for c in (current_competence(r) for r in ("PS-LW-01", "PS-LW-02", "PS-LW-03"))}
    meet(worker, [old["PS-LW-01"]], supervisor=supervisor, title="Accepted on version 1")
    draft = link_draft(worker, [old["PS-LW-01"], old["PS-LW-03"]], title="Draft on version 1")
    new = load_new_version(tmp_path)
    new_01, new_03 = current_competence("PS-LW-01"), current_competence("PS-LW-03")
    assert new_01.framework_id == new.id and new_01.statement == NEW_STATEMENT
    db.session.add(EvidenceLink(evidence_id=draft.id, competence_id=new_01.id))
    db.session.commit()
    link_draft(worker, [new_03], title="Draft on version 2")
    worker = db.session.get(User, worker.id)
    assert worker.framework_id == new.id
    return worker, new


# --- The tree itself ----------------------------------------------------------------------


def test_the_tree_counts_by_ref_across_versions(upgraded):
    worker, new = upgraded
    rows = tree.framework_tree(new, worker).by_ref()
    one, two, three = rows["PS-LW-01"], rows["PS-LW-02"], rows["PS-LW-03"]
    assert (one.status, one.total, one.accepted, one.counts) == (
        CompetenceStatus.MET,
        2,
        1,
        {EvidenceStatus.SIGNED_OFF: 1, EvidenceStatus.DRAFT: 1},
    )
    assert (two.status, two.total, two.accepted) == (CompetenceStatus.NOT_STARTED, 0, 0)
    assert (three.status, three.total, three.accepted, three.counts) == (
        CompetenceStatus.IN_PROGRESS,
        2,
        0,
        {EvidenceStatus.DRAFT: 2},
    )
    assert one.competence.framework_id == new.id
    # Only the current version's statements, once each, in document order.
    assert [r.competence.framework_id for r in rows.values()] == [new.id] * len(rows)


def test_the_tree_without_a_worker_has_no_counts(upgraded):
    _, new = upgraded
    built = tree.framework_tree(new)
    assert all(r.total == 0 and r.status == CompetenceStatus.NOT_STARTED for r in built.rows)
    assert [p.title for p in built.parts] == [t.name for t in built.tiers]
    assert sum(p.total for p in built.parts) == len(built.rows) == 85


def test_linked_and_accepted_counts_come_in_one_query_for_several_workers(upgraded, count_queries):
    worker, new = upgraded
    other = make_user(Role.WORKER, name="Olive Other", tier=tier_of("link-worker", "link-worker"))
    link_draft(other, [current_competence("PS-LW-02")], title="Olive's draft")
    ids = [worker.id, other.id]

    with count_queries:
        both = rules.counts(ids)
    # The portfolios' version tokens, then both workers' counts in one query.
    assert count_queries.count == 2, count_queries.statements
    # Kept: asked again in the same transaction, nothing is read; in the next, only the tokens.
    with count_queries(keep=True):
        assert rules.counts(ids) == both
    assert count_queries.count == 0, count_queries.statements
    db.session.commit()
    with count_queries(keep=True):
        assert rules.counts(ids) == both
    assert count_queries.count == 1, count_queries.statements
    assert both.linked == {
        (ids[0], "PS-LW-01"): {EvidenceStatus.SIGNED_OFF: 1, EvidenceStatus.DRAFT: 1},  # the draft counts once
        (ids[0], "PS-LW-03"): {EvidenceStatus.DRAFT: 2},
        (ids[1], "PS-LW-02"): {EvidenceStatus.DRAFT: 1},
    }
    assert both.accepted == {(ids[0], "PS-LW-01"): 1}
    # The single-purpose answers are the same numbers.
    assert rules.linked_counts(ids) == both.linked
    assert rules.accepted_counts(ids) == both.accepted


def test_the_newest_items_follow_the_ref_and_an_item_linked_on_both_versions_takes_one_place(upgraded):
    """What is missing lists the newest five different items of a statement, whichever version they were linked on."""
    worker, new = upgraded
    new_01 = current_competence("PS-LW-01")
    for days in range(1, 5):
        older = link_draft(worker, [new_01], title=f"{days} days earlier")
        older.occurred_on -= timedelta(days=days)
    db.session.commit()

    rows = service.worker_progress(db.session.get(User, worker.id), with_items=True).tree.by_ref()
    assert [i.title for i in rows["PS-LW-01"].items] == [
        "Draft on version 1",  # linked on both versions: listed once, in one of the five places
        "Accepted on version 1",
        "1 days earlier",
        "2 days earlier",
        "3 days earlier",
    ]
    assert [i.title for i in rows["PS-LW-03"].items] == ["Draft on version 2", "Draft on version 1"]
    assert rows["PS-LW-02"].items == []
    assert rows["PS-LW-01"].total == 6


def test_another_frameworks_statement_with_the_same_ref_does_not_count(people, frameworks):
    """Counts are by ref within the worker's own framework: a worker who moved framework starts afresh."""
    worker, supervisor = people
    meet(worker, [current_competence("PS-LW-01")], supervisor=supervisor)
    profile, _ = move_to_a_framework_sharing_the_ref(worker, frameworks, "PS-LW-01")
    row = tree.framework_tree(profile, worker).by_ref()["PS-LW-01"]
    assert (row.status, row.total, row.accepted) == (CompetenceStatus.NOT_STARTED, 0, 0)


def test_a_statements_page_finds_its_items_on_every_version_once_each_with_the_first_link(client, auth, upgraded):
    """The items linked to a statement on either version, each once with its first link's note, whichever version
    that is on; an item a sign-off on version 1 accepted counts for the statement of version 2 (no "not accepted for this")."""
    worker, new = upgraded
    old_01 = db.session.scalar(
        select(Competence)
        .join(Framework)
        .where(Framework.key == "link-worker", Framework.version == 1, Competence.ref == "PS-LW-01")
    )
    draft = db.session.scalar(select(Evidence).where(Evidence.title == "Draft on version 1"))
    for link in draft.links:
        link.note = "First, on version 1" if link.competence_id == old_01.id else "Again, on version 2"
    db.session.commit()
    accepted = db.session.scalar(select(Evidence).where(Evidence.title == "Accepted on version 1"))
    # Linked on version 2 first, then on version 1: its first link is the one on version 2.
    later = link_draft(worker, [current_competence("PS-LW-01")], title="Linked on version 2 first")
    later.links[0].note = "First, on version 2"
    db.session.add(EvidenceLink(evidence_id=later.id, competence_id=old_01.id, note="Then, on version 1"))
    db.session.commit()

    auth.login_as(worker)
    page = words(text_of(client.get(f"/portfolio/competences/{current_competence('PS-LW-01').id}")))
    assert "Evidence linked (3)" in page
    assert page.count("Draft on version 1") == 1 and "First, on version 1" in page
    assert "Again, on version 2" not in page
    assert page.count("Linked on version 2 first") == 1 and "First, on version 2" in page
    assert "Then, on version 1" not in page
    assert "Accepted on version 1 Signed off" in page and "not accepted for this" not in page
    assert rules.accepted_pairs(worker, [accepted.id, draft.id]) == {(accepted.id, "PS-LW-01")}


def test_a_statements_page_and_its_accepted_items_keep_to_the_workers_framework(client, auth, people, frameworks):
    """A worker who moved framework: her items linked and accepted for PS-LW-01 of the Link Worker framework are
    not listed under, nor accepted for, a statement of her new framework that happens to share the ref."""
    worker, supervisor = people
    accepted = meet(worker, [current_competence("PS-LW-01")], supervisor=supervisor, title="Accepted for link work")
    _, clash = move_to_a_framework_sharing_the_ref(worker, frameworks, "PS-LW-01")

    auth.login_as(worker)
    page = words(text_of(client.get(f"/portfolio/competences/{clash.id}")))
    assert "Evidence linked (0)" in page and "Accepted for link work" not in page
    assert rules.accepted_pairs(db.session.get(User, worker.id), [accepted.id]) == set()


# --- Every view agrees after a new version ----------------------------------------------


def test_every_view_agrees_after_a_new_framework_version(client, auth, upgraded):
    worker, new = upgraded
    one, two, three = (current_competence(r) for r in ("PS-LW-01", "PS-LW-02", "PS-LW-03"))
    auth.login_as(worker)

    # The competence map: items per statement by status, and the statement's status.
    page = text_of(client.get("/portfolio/map"))
    assert map_row(page, NEW_STATEMENT) == f"{NEW_STATEMENT} 2 1 draft 1 accepted Met"
    assert map_row(page, three.statement) == f"{three.statement} 2 2 draft In progress"
    assert map_row(page, two.statement) == f"{two.statement} 0 No evidence Not started"

    # Each competence's page lists the same items, whichever version they were linked on.
    page = text_of(client.get(f"/portfolio/competences/{one.id}"))
    assert "Status: Met" in words(page) and "Evidence linked (2)" in page
    assert "Accepted on version 1" in page and "Draft on version 1" in page
    page = text_of(client.get(f"/portfolio/competences/{three.id}"))
    assert "Status: In progress" in words(page) and "Evidence linked (2)" in page
    assert "Draft on version 1" in page and "Draft on version 2" in page
    assert "Evidence linked (0)" in text_of(client.get(f"/portfolio/competences/{two.id}"))

    # My progress: one of the Link Worker statements met.
    progress = service.worker_progress(worker, with_items=True)
    assert (progress.blocks[0].title, progress.blocks[0].met, progress.blocks[0].total) == ("Link Worker", 1, 48)
    assert "Link Worker: 1 of 48 met" in words(text_of(client.get("/progress/")))
    # What is missing: PS-LW-03 in progress with both drafts; PS-LW-01 (met) not there.
    missing = words(text_of(client.get("/progress/missing")))
    assert f"{three.statement} Link Worker · In progress Draft on version 2 Draft Draft on version 1 Draft" in missing
    assert NEW_STATEMENT not in missing

    # The framework page, for the worker: the same numbers next to each statement.
    page = text_of(client.get(f"/frameworks/{new.id}"))

    def listed(competence: Competence) -> str:
        return words(page.split(f'id="competence-{competence.id}">')[1].split("</li>")[0])

    assert listed(one) == f"{NEW_STATEMENT} 2 items linked · Met"
    assert listed(three) == f"{three.statement} 2 items linked · In progress"
    assert listed(two) == f"{two.statement} 0 items linked · Not started"

    # The panel PDF.
    text = pdf_text(built_document(client, auth, "/progress/portfolio.pdf"))
    assert "Link Worker: 1 of 48 competences met" in text
    assert f"{NEW_STATEMENT} [Met] Accepted on version 1 (Other evidence," in text
    assert f"{three.statement} [In progress] No accepted evidence yet" in text
    assert f"{two.statement} [Not started] No accepted evidence yet" in text

    # The data export.
    archive = zipfile.ZipFile(io.BytesIO(built_document(client, auth, "/progress/export.zip")))
    exported = {p["ref"]: p for p in json.loads(archive.read("portfolio.json"))["progress"]}
    assert exported["PS-LW-01"] == {
        "ref": "PS-LW-01",
        "statement": NEW_STATEMENT,
        "status": "met",
        "linked": 2,
        "accepted": 1,
    }
    assert (exported["PS-LW-03"]["status"], exported["PS-LW-03"]["linked"], exported["PS-LW-03"]["accepted"]) == (
        "in-progress",
        2,
        0,
    )
    assert (exported["PS-LW-02"]["status"], exported["PS-LW-02"]["linked"]) == ("not-started", 0)
    assert len(exported) == 85


def test_the_framework_page_shows_no_counts_to_others(client, auth, upgraded):
    worker, new = upgraded
    manager = make_user(Role.MANAGER)
    auth.login_as(manager)
    page = text_of(client.get(f"/frameworks/{new.id}"))
    assert NEW_STATEMENT in page and "items linked" not in page


def test_the_htmx_search_on_the_framework_page_keeps_the_workers_counts(client, auth, upgraded):
    worker, new = upgraded
    auth.login_as(worker)
    response = client.get(f"/frameworks/{new.id}?q=evidence-based", headers={"HX-Request": "true"})
    fragment = text_of(response)
    assert "<html" not in fragment and 'id="competences"' in fragment
    assert f"{NEW_STATEMENT} 2 items linked · Met" in words(fragment)


def test_the_picker_counts_items_by_ref(client, auth, upgraded):
    from portfolio.evidence import service as evidence_service
    from portfolio.models import Evidence

    worker, _ = upgraded
    item = db.session.scalar(select(Evidence).where(Evidence.title == "Draft on version 2"))
    results = evidence_service.picker(worker, item, q="conversation skills that follow").items
    assert [(r.competence.ref, r.evidence_count) for r in results] == [("PS-LW-01", 2)]


def test_the_map_competence_and_framework_pages_run_a_fixed_number_of_queries(client, auth, people, count_queries):
    worker, supervisor = people
    statements = [current_competence(r) for r in ("PS-LW-01", "PS-LW-02", "PS-LW-03")]
    meet(worker, statements[:1], supervisor=supervisor)
    auth.login_as(worker)
    framework_id = worker.framework_id
    paths = [
        "/portfolio/map",
        f"/portfolio/competences/{statements[0].id}",
        f"/frameworks/{framework_id}",
        "/progress/missing",
    ]

    def measure() -> list[int]:
        counts = []
        for path in paths:
            with count_queries:
                assert client.get(path).status_code == 200
            counts.append(count_queries.count)
        return counts

    few = measure()
    for n in range(40):
        meet(worker, statements, supervisor=supervisor, title=f"Item {n}")
        link_draft(worker, statements, title=f"Draft {n}")
    assert measure() == few
    assert "Evidence linked (81)" in text_of(client.get(f"/portfolio/competences/{statements[0].id}"))


# --- The rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accepted", "required", "met"), [(0, 1, False), (1, 1, True), (1, 2, False), (2, 2, True), (3, 2, True)]
)
def test_met_is_enough_different_accepted_items(accepted, required, met):
    assert rules.is_met(accepted, required) is met
    assert (rules.status_of(accepted, accepted, required) == CompetenceStatus.MET) is met


def test_requirement_state_verified_lapsed_missing():
    on = date(2026, 6, 1)
    assert rules.requirement_state(None, on) == "missing"
    assert (
        rules.requirement_state(RequirementVerification(verified_on=date(2026, 1, 1), expires_on=None), on)
        == "verified"
    )
    assert (
        rules.requirement_state(RequirementVerification(verified_on=date(2026, 1, 1), expires_on=on), on) == "verified"
    )
    assert (
        rules.requirement_state(
            RequirementVerification(verified_on=date(2026, 1, 1), expires_on=on - timedelta(days=1)), on
        )
        == "lapsed"
    )


def test_the_newest_verification_decides_a_requirements_state(people, frameworks):
    worker, _ = people
    manager = make_user(Role.MANAGER)
    dbs = db.session.scalar(
        select(Requirement).where(Requirement.framework_id == worker.framework_id, Requirement.ref == "REQ-DBS")
    )
    for verified_on, expires_on in (
        (TODAY - timedelta(days=400), TODAY + timedelta(days=30)),
        (TODAY - timedelta(days=10), TODAY - timedelta(days=1)),
    ):
        db.session.add(
            RequirementVerification(
                worker_id=worker.id,
                requirement_id=dbs.id,
                verified_by_id=manager.id,
                verified_on=verified_on,
                expires_on=expires_on,
            )
        )
    db.session.commit()
    [state] = rules.requirement_states(worker, [dbs], TODAY)
    assert (state.state, state.in_date, state.verification.verified_on) == ("lapsed", False, TODAY - timedelta(days=10))
    [row] = [r for r in service.overview() if r.worker.id == worker.id]
    assert row.lapsed == [dbs.statement] and row.ready is False


def test_readiness_is_cumulative_across_tiers(people, frameworks):
    worker, _ = people
    tiers = list(
        db.session.scalars(select(Tier).where(Tier.framework_id == worker.framework_id).order_by(Tier.position))
    )
    competences = list(db.session.scalars(select(Competence).where(Competence.framework_id == worker.framework_id)))
    introduced = [sum(1 for c in competences if c.tier_id == t.id) for t in tiers]
    for number, target in enumerate(tiers, start=1):
        assert len(rules.required_for(target, tiers, competences)) == sum(introduced[:number])
    assert rules.next_tier(worker, tiers).slug == "link-worker-coach"
    readiness = service.worker_progress(worker).readiness
    assert readiness.tier.slug == "link-worker-coach"
    assert readiness.missing_count == introduced[0] + introduced[1]
    assert {row.competence.tier.slug for area in readiness.missing for row in area.rows} == {
        "link-worker",
        "link-worker-coach",
    }


@pytest.mark.parametrize(
    ("has_tier", "missing", "problems", "ready"),
    [(True, 0, 0, True), (True, 1, 0, False), (True, 0, 1, False), (False, 0, 0, False)],
)
def test_ready_needs_a_tier_nothing_missing_and_every_requirement_in_date(has_tier, missing, problems, ready):
    assert rules.is_ready(Tier(name="Coach") if has_tier else None, missing, problems) is ready


# --- Dead code removed: the upload field takes its types from evidence/files.py -------------


def test_the_upload_field_offers_the_types_the_server_accepts(client, auth, people):
    from portfolio.evidence import files

    worker, _ = people
    auth.login_as(worker)
    page = text_of(client.get("/portfolio/new/observation", follow_redirects=True))
    assert f'accept="{files.ACCEPT}"' in page
    assert files.ACCEPT == ".pdf,.png,.jpg,.jpeg,.docx,application/pdf,image/png,image/jpeg," + files.DOCX
    assert "PDF, PNG, JPEG or DOCX, each smaller than" in page
    assert "A PDF, PNG, JPEG or DOCX of the certificate" in text_of(
        client.get("/portfolio/new/certificate", follow_redirects=True)
    )
