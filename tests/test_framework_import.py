"""Frameworks in: CASE packages and SmartEvidence matrices, previewed, then imported as a framework or a new version."""

from __future__ import annotations

import io
import json
import re
from datetime import date

import pytest
from sqlalchemy import func, select

from portfolio.errors import FieldError
from portfolio.evidence import service as evidence_service
from portfolio.extensions import db
from portfolio.frameworks import loader
from portfolio.frameworks.tree import framework_tree
from portfolio.models import (
    AuditEntry,
    Competence,
    Evidence,
    EvidenceKind,
    Framework,
    FrameworkImport,
    PromotionDecision,
    Role,
    TierChange,
    User,
)
from portfolio.portability import case, importing
from portfolio.portability import service as import_service
from tests.factories import TODAY, imported, make_ready, make_user, promotion_request, tier
from tests.factories import case_child_of as child_of
from tests.pages import audit_rows, count, date_fields, error_next_to, selected_options
from tests.racing import Rounds, no_server_errors, race, signed_in

from .conftest import csrf_token

MATRIX_MAORI = {
    "framework": {
        "institution": "all",
        "name": "Ngā paerewa mō te umanga whakaakoranga",
        "description": "<p>Ko <a href='https://example.org'>ngā paerewa</a> mō te umanga</p>",
        "standards": [{"shortname": "Ngā paerewa", "name": "Ngā paerewa", "description": "", "standardid": 1}],
        "standardelements": [
            {
                "shortname": "Te Tiriti",
                "name": "Te hononga pātui i raro o Te Tiriti o Waitangi",
                "description": "<p>Me whakaatu i te <em>ngākaunui</em></p>",
                "standardid": 1,
                "elementid": "1.0",
            },
            {
                "shortname": "Akoranga",
                "name": "Akoranga ngaiotanga",
                "description": "",
                "standardid": 1,
                "elementid": "2.0",
            },
            {
                "shortname": "Akoranga 2.1",
                "name": "Me patapatai",
                "description": "",
                "standardid": 1,
                "elementid": "2.1",
                "parentelementid": "2.0",
            },
        ],
    }
}

MATRIX_NESTED = {
    "framework": {
        "name": "SmartEvidence",
        "standards": [
            {
                "shortname": "Professional knowledge 1.",
                "name": "Know the students",
                "standardelement": [
                    {"shortname": "1.1", "name": "one point one", "description": "", "parent": False},
                    {"shortname": "1.2", "name": "one point two", "description": "", "parent": False},
                    {"shortname": "1.2.1", "name": "one point two point one", "description": "", "parent": True},
                ],
            },
            {"shortname": "Unused", "name": "Will add elements later"},
        ],
    }
}


def messy_case() -> dict:
    """A CASE package as real tools write them: no UUIDs, no time zones, extras, an item listed twice."""
    item = {"identifier": "tier-1", "fullStatement": "Practitioner", "lastChangeDateTime": "2024-05-01T10:00:00"}
    return {
        "CFPackage": {
            "CFDocument": {
                "identifier": "doc-1",
                "title": "Wellbeing Coach Standards",
                "creator": "Coaches UK",
                "x": 1,
            },
            "CFItems": [
                item,
                dict(item),
                {"identifier": "area-1", "fullStatement": "Listening", "CFItemType": "Cluster", "colour": "blue"},
                {"identifier": "s-2", "fullStatement": "Reflect feelings back", "humanCodingScheme": "L.2"},
                {"identifier": "s-1", "fullStatement": "Listen without judging", "humanCodingScheme": "L.1"},
            ],
            "CFAssociations": [
                child_of("tier-1", "doc-1", 1),
                child_of("area-1", "tier-1", 1),
                child_of("s-1", "area-1", 1),
                child_of("s-2", "area-1", 2),
                child_of("s-2", "area-1", 2),
                {"associationType": "isRelatedTo", "originNodeURI": {"identifier": "s-1"}},
            ],
        }
    }


def titled(title: str, statement: str = "Listen without judging", tier_name: str = "Practitioner") -> dict:
    """``messy_case()`` under another title, its first statement and its one tier renamed."""
    package = messy_case()
    package["CFPackage"]["CFDocument"]["title"] = title
    for item in package["CFPackage"]["CFItems"]:
        if item["identifier"] == "s-1":
            item["fullStatement"] = statement
        if item["identifier"] == "tier-1":
            item["fullStatement"] = tier_name
    return package


def as_file(data: dict) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


def shape(framework: Framework) -> dict:
    """What a round trip must keep: statements with refs, tiers, areas, requirements."""
    tree = framework_tree(framework)
    return {
        "statements": sorted((r.competence.ref, r.competence.statement) for r in tree.rows),
        "tiers": [t.name for t in tree.tiers],
        "areas": sorted({tree.top(r.competence.group_id).name for r in tree.rows}),
        "tier of": sorted((r.competence.ref, r.competence.tier.name) for r in tree.rows),
        "requirements": [(q.ref, q.statement) for q in tree.requirements],
    }


# --- Reading files ------------------------------------------------------------------------------


def test_the_link_worker_framework_survives_a_round_trip_through_case(app, frameworks):
    original = frameworks["link-worker"]
    exported = as_file(case.package_for(original).as_json())

    tree = importing.parse("link-worker.json", exported)
    copy = imported(tree, key="link-worker-copy", tier_level=1, area_level=2)

    assert shape(copy) == shape(original)
    assert len(shape(copy)["tiers"]) == 3 and len(shape(copy)["requirements"]) == 3


def test_the_role_profile_survives_a_round_trip_through_case(app, frameworks):
    original = frameworks["sfh-senior-engagement-worker"]
    manager = make_user(Role.MANAGER)
    from portfolio.frameworks import service as frameworks_service

    frameworks_service.add_locality_competence(
        manager,
        original,
        statement="Support Māori whānau to reach kaupapa services",
        principle="Local",
        function="Te ao",
    )
    tree = importing.parse("sew.json", as_file(case.package_for(original).as_json()))
    levels = tree.levels()
    assert [level.kinds for level in levels[:3]] == [["Tier"], ["Section"], ["Principle"]]

    copy = imported(tree, key="sew-copy", tier_level=1, area_level=3)

    want, got = shape(original), shape(copy)
    assert got["statements"] == want["statements"]
    assert got["tiers"] == want["tiers"] == ["Senior Engagement Worker"]
    assert got["areas"] == want["areas"]
    assert "Support Māori whānau to reach kaupapa services" in [s for _, s in got["statements"]]


def test_a_maori_matrix_keeps_its_macrons_and_loses_its_html(app, frameworks):
    tree = importing.parse("standards.matrix", as_file(MATRIX_MAORI))

    assert tree.file_format == "Mahara SmartEvidence"
    assert tree.title == "Ngā paerewa mō te umanga whakaakoranga"
    assert tree.description == "Ko ngā paerewa mō te umanga"
    texts = [n.text for n in tree.nodes]
    assert texts == [
        "Ngā paerewa",
        "Te hononga pātui i raro o Te Tiriti o Waitangi: Me whakaatu i te ngākaunui",
        "Akoranga ngaiotanga",
        "Me patapatai",
    ]
    framework = imported(tree, key="nga-paerewa", tier_level=None, area_level=1)
    assert shape(framework)["statements"] == [
        ("Akoranga 2.1", "Me patapatai"),
        ("Te Tiriti", "Te hononga pātui i raro o Te Tiriti o Waitangi: Me whakaatu i te ngākaunui"),
    ]
    assert shape(framework)["tiers"] == ["Ngā paerewa mō te umanga whakaakoranga"]


def test_entities_in_imported_text_are_decoded_once_whatever_they_are(app, frameworks):
    """A description pasted from Word holds &nbsp;; a statement about HTML may write &amp;lt; for the text "&lt;"."""
    matrix = json.loads(json.dumps(MATRIX_MAORI))
    matrix["framework"]["description"] = "<p>Communicate&nbsp;effectively &amp; kindly</p>"
    matrix["framework"]["standardelements"][1]["name"] = "Writes &amp;lt;br&amp;gt; for a line break"
    matrix["framework"]["standardelements"][2]["name"] = "Caf\u00e9&nbsp;groups &eacute;t&eacute;, Care &notes &copy2"

    tree = importing.parse("standards.matrix", as_file(matrix))

    assert tree.description == "Communicate effectively & kindly"
    texts = [n.text for n in tree.nodes]
    assert texts[2] == "Writes &lt;br&gt; for a line break"
    assert texts[3] == "Café groups été, Care &notes &copy2"  # no ";": text, not an entity


def test_the_older_matrix_layout_nests_elements_marked_parent(app):
    tree = importing.parse("example.matrix", as_file(MATRIX_NESTED))
    depth = tree.depths()
    by_text = {n.text: n for n in tree.nodes}

    assert depth[by_text["one point two point one"].id] == 3
    assert by_text["one point two point one"].parent == by_text["one point two"].id
    assert [level.count for level in tree.levels()] == [2, 2, 1]


def test_a_messy_case_package_is_accepted_in_sequence_order(app, frameworks):
    tree = importing.parse("coach.json", as_file(messy_case()))

    assert [n.text for n in tree.nodes] == [
        "Practitioner",
        "Listening",
        "Listen without judging",
        "Reflect feelings back",
    ]
    framework = imported(tree, key="coach", tier_level=1, area_level=2)
    assert shape(framework)["statements"] == [("L.1", "Listen without judging"), ("L.2", "Reflect feelings back")]
    assert shape(framework)["areas"] == ["Listening"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG not json", "This is not a framework file: choose a CASE package (a .json file)"),
        (b'{"framework": \xff', "This is not a framework file"),  # cut short, and not UTF-8
        (b'{"hello": "world"}', "This is not a framework file: choose a CASE package"),
        (json.dumps({"CFItems": []}).encode(), "This is not a framework file: choose a CASE package"),
        (json.dumps({"CFDocument": {"identifier": "d"}}).encode(), "has no title"),
        (
            json.dumps(
                {"CFDocument": {"title": "T"}, "CFItems": [{"identifier": "a", "humanCodingScheme": "A.1"}]}
            ).encode(),
            "The item A.1 has no text",
        ),
        (
            json.dumps(
                {
                    "CFDocument": {"title": "T"},
                    "CFItems": [
                        {"identifier": "a", "fullStatement": "Alpha", "humanCodingScheme": "A"},
                        {"identifier": "b", "fullStatement": "Beta", "humanCodingScheme": "B"},
                    ],
                    "CFAssociations": [child_of("a", "b", 1), child_of("b", "a", 1)],
                }
            ).encode(),
            "is its own ancestor (a cycle)",
        ),
        (json.dumps({"framework": {"name": "M", "standards": []}}).encode(), "has no standards"),
    ],
)
def test_files_that_cannot_become_a_framework_are_refused_by_name(app, content, message):
    with pytest.raises(importing.ImportProblem, match=message.replace("(", r"\(").replace(")", r"\)")):
        importing.parse("file.json", content)


def test_levels_that_leave_no_statement_are_refused(app):
    tree = importing.parse("coach.json", as_file(messy_case()))
    with pytest.raises(importing.ImportProblem, match="no statements"):
        importing.framework_data(tree, key="k", tier_level=1, area_level=3)
    with pytest.raises(importing.ImportProblem, match="below the tiers"):
        importing.framework_data(tree, key="k", tier_level=2, area_level=1)


# --- Pages ----------------------------------------------------------------------------------


def upload(client, auth, content: bytes, filename: str = "coach.json", headers=None):
    token = auth.token("/frameworks/import/")
    return client.post(
        "/frameworks/import/",
        data={"csrf_token": token, "file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
        headers=headers or {},
    )


def test_a_manager_uploads_previews_and_imports_a_framework(client, auth, frameworks):
    manager = make_user(Role.MANAGER)
    auth.login_as(manager)
    assert "Import a framework" in client.get("/frameworks/").get_data(as_text=True)

    response = upload(client, auth, as_file(messy_case()))
    assert response.status_code == 303
    preview_path = response.headers["Location"]
    page = client.get(preview_path).get_data(as_text=True)
    assert "<h1>Check the framework to import</h1>" in page
    assert "Wellbeing Coach Standards, from Coaches UK" in page
    assert "Reflect feelings back" in page  # the whole tree
    assert 'value="1" selected' in page  # tiers on level 1 suggested

    token = csrf_token(page)
    answer = client.post(
        preview_path, data={"csrf_token": token, "tier_level": "1", "area_level": "2", "target": "new"}
    )
    assert answer.status_code == 303
    framework = db.session.scalar(select(Framework).where(Framework.title == "Wellbeing Coach Standards"))
    assert answer.headers["Location"].endswith(f"/frameworks/{framework.id}")
    shown = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Wellbeing Coach Standards imported as version 1" in shown and "Listen without judging" in shown
    held = db.session.scalar(select(FrameworkImport))
    assert held.framework_id == framework.id and held.imported_at is not None
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "framework.imported"))
    assert entry.subject == f"framework:{framework.id}"

    # Confirming again (a double click, a back button) finds the same framework.
    again = client.post(preview_path, data={"csrf_token": token, "tier_level": "1", "area_level": "2", "target": "new"})
    assert again.status_code == 303 and again.headers["Location"].endswith(f"/frameworks/{framework.id}")
    assert db.session.scalar(select(func.count(Framework.id)).where(Framework.title == framework.title)) == 1


@pytest.mark.parametrize("htmx", [{}, {"HX-Request": "true", "HX-Boosted": "true"}])
def test_a_file_of_a_framework_already_here_is_offered_as_its_new_version_not_a_second_one(
    client, auth, frameworks, htmx
):
    """Found by a helper: importing the same file twice made two frameworks of the same name, told apart nowhere."""
    auth.login_as(make_user(Role.MANAGER))
    first = upload(client, auth, as_file(messy_case()))
    data = {"tier_level": "1", "area_level": "2", "target": "new"}
    assert client.post(first.headers["Location"], data={"csrf_token": auth.token("/"), **data}).status_code == 303
    [existing] = db.session.scalars(select(Framework).where(Framework.title == "Wellbeing Coach Standards")).all()

    package = messy_case()
    package["CFPackage"]["CFDocument"]["title"] = "wellbeing  coach STANDARDS"  # case and spaces aside, the same
    again = upload(client, auth, as_file(package))
    page = client.get(again.headers["Location"], headers=htmx).text
    assert selected_options(page, "target") == [existing.key]  # suggested: a new version of it
    refused = client.post(again.headers["Location"], data={"csrf_token": auth.token("/"), **data}, headers=htmx)
    assert refused.status_code == 422 and "<h1>Check the framework to import</h1>" in refused.text
    assert error_next_to(refused.text, "target") == (
        "Error: Wellbeing Coach Standards is already here: import this as a new version of it"
    )
    assert db.session.scalar(select(func.count(Framework.id))) == db.session.scalar(
        select(func.count(Framework.id)).where(Framework.id <= existing.id)
    )
    as_version = client.post(
        again.headers["Location"], data={"csrf_token": auth.token("/"), **data, "target": existing.key}
    )
    assert as_version.status_code == 303
    current = db.session.scalar(select(Framework).where(Framework.key == existing.key, Framework.is_current))
    assert current.version == existing.version + 1


@pytest.mark.parametrize("htmx", [{}, {"HX-Request": "true", "HX-Boosted": "true"}])
def test_a_new_version_that_lacks_a_tier_people_hold_is_refused_and_nobody_moves(client, auth, frameworks, htmx):
    """Found by a review: the loader moves people whose tier a new version lacks to its first tier, so importing
    another source's file as a new version quietly changed tiers, with no promotion. Such a version is refused."""
    coach = tier("link-worker", "link-worker-coach")
    worker = make_user(Role.WORKER, email="w@example.org", tier=coach)
    link_worker = db.session.scalar(select(Framework).where(Framework.key == "link-worker", Framework.is_current))
    versions_before = db.session.scalar(select(func.count(Framework.id)).where(Framework.key == "link-worker"))
    auth.login_as(make_user(Role.MANAGER))
    held = upload(client, auth, as_file(messy_case()))
    data = {"csrf_token": auth.token("/"), "tier_level": "1", "area_level": "2", "target": "link-worker"}
    refused = client.post(held.headers["Location"], data=data, headers=htmx)
    assert refused.status_code == 422 and "<h1>Check the framework to import</h1>" in refused.text
    message = error_next_to(refused.text, "tier_level")
    assert message.startswith("Error: These tiers are not in the file: Link Worker Coach (1 person).")
    assert "nobody's tier changes without a promotion" in message
    assert db.session.get(type(worker), worker.id).tier_id == coach.id
    assert db.session.scalar(select(func.count(Framework.id)).where(Framework.key == "link-worker")) == versions_before
    assert link_worker.is_current and db.session.scalar(select(func.count(AuditEntry.id))) == 0


def test_a_file_named_as_a_role_profile_cannot_become_its_version_and_is_asked_for_another_title(app, frameworks):
    """A role profile is not tiered, so an import cannot be its new version: only another title will do."""
    profile = db.session.scalar(select(Framework).where(Framework.kind == "role-profile", Framework.is_current))
    package = messy_case()
    package["CFPackage"]["CFDocument"]["title"] = profile.title
    manager = make_user(Role.MANAGER)
    held = import_service.upload(manager, "profile.json", as_file(package))
    with pytest.raises(FieldError) as error:
        import_service.confirm(manager, held, tier_level=1, area_level=2, target="new")
    assert (error.value.field, error.value.message) == (
        "target",
        f"{profile.title} is already here: give the framework in the file another title",
    )
    assert db.session.scalar(select(func.count(Framework.id)).where(Framework.title == profile.title)) == 1


@pytest.mark.parametrize("htmx", [{}, {"HX-Request": "true", "HX-Boosted": "true"}])
def test_a_bad_file_is_refused_next_to_the_field_and_nothing_is_kept(client, auth, frameworks, htmx):
    auth.login_as(make_user(Role.MANAGER))

    response = upload(client, auth, b'{"hello": "world"}', headers=htmx)

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "<title>Error: Import a framework" in page
    assert error_next_to(page, "file") == (
        "Error: This is not a framework file: choose a CASE package (a .json file) or a SmartEvidence matrix "
        "(a .matrix file)."
    )
    assert db.session.scalar(select(func.count(FrameworkImport.id))) == 0

    empty = client.post(
        "/frameworks/import/",
        data={"csrf_token": auth.token("/frameworks/import/")},
        content_type="multipart/form-data",
    )
    assert empty.status_code == 422 and "Select a CASE package (.json) or a SmartEvidence matrix" in empty.get_data(
        as_text=True
    )


def test_levels_that_give_no_framework_are_refused_next_to_the_field(client, auth, frameworks):
    auth.login_as(make_user(Role.MANAGER))
    preview_path = upload(client, auth, as_file(messy_case())).headers["Location"]
    token = csrf_token(client.get(preview_path).get_data(as_text=True))

    answer = client.post(
        preview_path, data={"csrf_token": token, "tier_level": "1", "area_level": "3", "target": "new"}
    )

    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert 'id="area_level-error"' in page and "no statements" in page
    assert db.session.scalar(select(func.count(Framework.id)).where(Framework.title.like("Wellbeing%"))) == 0


def test_an_import_can_be_a_new_version_whose_links_follow_statements_by_ref(client, auth, frameworks):
    worker = make_user(Role.WORKER, tier=tier("link-worker", "link-worker"))
    first = db.session.scalar(
        select(Competence).where(Competence.framework_id == frameworks["link-worker"].id).order_by(Competence.position)
    )
    evidence = evidence_service.create_evidence(
        worker,
        EvidenceKind.OTHER,
        evidence_service.EvidenceInput(title="Walking group", occurred_on=date(2026, 1, 5), description="Notes"),
        link_competence_id=first.id,
    )
    package = case.package_for(frameworks["link-worker"]).as_json()
    for item in package["CFItems"]:
        if item.get("humanCodingScheme") == first.ref:
            item["fullStatement"] = "Reworded in the new version"
    manager = make_user(Role.MANAGER)
    auth.login_as(manager)
    preview_path = upload(client, auth, as_file(package), "link-worker.json").headers["Location"]
    page = client.get(preview_path).get_data(as_text=True)
    assert "A new version of Link Worker Competency Framework (now version 1)" in page

    answer = client.post(
        preview_path,
        data={"csrf_token": csrf_token(page), "tier_level": "1", "area_level": "2", "target": "link-worker"},
    )

    assert answer.status_code == 303
    current = db.session.scalar(select(Framework).where(Framework.key == "link-worker", Framework.is_current))
    assert current.version == 2
    db.session.expire_all()
    assert db.session.get(type(worker), worker.id).framework_id == current.id
    row = framework_tree(current, db.session.get(type(worker), worker.id)).by_ref()[first.ref]
    assert row.competence.statement == "Reworded in the new version" and row.total == 1
    assert db.session.get(Evidence, evidence.id).title == "Walking group"


def test_people_other_than_managers_cannot_import(client, auth, frameworks):
    auth.login_as(make_user(Role.SUPERVISOR))
    assert client.get("/frameworks/import/").status_code == 403
    assert "Import a framework" not in client.get("/frameworks/").get_data(as_text=True)


def test_two_confirms_at_once_create_one_framework(app, server, frameworks):
    with app.test_request_context():
        manager = make_user(Role.MANAGER, email="maya@example.org")
        manager_id = manager.id
    first, second = signed_in(server, ("first", "maya@example.org"), ("second", "maya@example.org"))
    rounds = Rounds()
    for number in rounds:
        document = messy_case()
        document["CFPackage"]["CFDocument"]["title"] = f"Coach Standards {number}"
        with app.test_request_context():
            held = import_service.upload(db.session.get(type(manager), manager_id), "coach.json", as_file(document))
            path = f"/frameworks/import/{held.id}"
        tokens = [csrf_token(client.get(path).text) for client in (first, second)]
        data = {"tier_level": "1", "area_level": "2", "target": "new"}
        answers = race(
            [
                client.start_post(path, {**data, "csrf_token": t})
                for client, t in zip((first, second), tokens, strict=True)
            ]
        )
        no_server_errors({"first": answers[0], "second": answers[1]}, number)
        db.session.commit()
        made = db.session.scalars(select(Framework).where(Framework.title == f"Coach Standards {number}")).all()
        assert len(made) == 1, [a.describe() for a in answers]
        assert {a.status for a in answers} == {303}
        assert all(a.headers["location"].endswith(f"/frameworks/{made[0].id}") for a in answers)
        # One import, said once: the other click is told the file was imported already (or, when it came after,
        # is simply shown the framework).
        shown = [client.get(a.headers["location"]).text for client, a in zip((first, second), answers, strict=True)]
        assert sum(f"Coach Standards {number} imported as version 1" in page for page in shown) == 1, shown
        rounds.record(answers)
    rounds.assert_enough()


@pytest.mark.parametrize("htmx", [{}, {"HX-Request": "true", "HX-Boosted": "true"}])
def test_a_new_version_the_same_as_the_current_one_changes_nothing_and_says_so(client, auth, frameworks, htmx):
    """Found by a review: the loader makes nothing for a file the same as the current version, yet the page said
    "imported as version 1" and the ledger "framework.imported"."""
    auth.login_as(make_user(Role.MANAGER))
    data = {"tier_level": "1", "area_level": "2"}
    first = upload(client, auth, as_file(messy_case()))
    assert client.post(first.headers["Location"], data={"csrf_token": auth.token("/"), **data, "target": "new"})
    [existing] = db.session.scalars(select(Framework).where(Framework.title == "Wellbeing Coach Standards")).all()

    again = upload(client, auth, as_file(messy_case()), "same.json")
    answer = client.post(
        again.headers["Location"],
        data={"csrf_token": auth.token("/"), **data, "target": existing.key},
        headers=htmx,
    )

    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"/frameworks/{existing.id}")
    shown = client.get(answer.headers["Location"], headers=htmx).text
    assert "Nothing changed: the file is the same as version 1 of Wellbeing Coach Standards" in shown
    assert "imported as version" not in shown
    assert count(Framework, Framework.key == existing.key) == 1
    [unchanged] = audit_rows("framework.import_unchanged")
    assert (unchanged.subject, unchanged.details["filename"], unchanged.details["version"]) == (
        f"framework:{existing.id}",
        "same.json",
        1,
    )
    assert len(audit_rows("framework.imported")) == 1  # the first import only
    # The upload is done with: opening it again leads to the framework it matched.
    assert client.get(again.headers["Location"]).headers["Location"].endswith(f"/frameworks/{existing.id}")


def test_two_managers_importing_files_of_one_new_title_at_once_make_one_framework(app, server, frameworks):
    """Found by a review: both confirms found the title free and the second failed on the unique key (a 500 on
    PostgreSQL). Confirms take turns, so the second finds the first's framework and is told so."""
    with app.test_request_context():
        managers = [
            make_user(Role.MANAGER, email="ann@example.org", name="Ann Manager"),
            make_user(Role.MANAGER, email="bob@example.org", name="Bob Manager"),
        ]
        manager_ids = [m.id for m in managers]
    browsers = signed_in(server, ("ann", "ann@example.org"), ("bob", "bob@example.org"))
    rounds = Rounds()
    for number in rounds:
        title = f"Coach Standards {number}"
        with app.test_request_context():
            held_ids = [
                import_service.upload(
                    db.session.get_one(User, manager_id),
                    f"{name}.json",
                    as_file(titled(title, statement=f"Listen as {name} says")),
                ).id
                for manager_id, name in zip(manager_ids, ("ann", "bob"), strict=True)
            ]
        paths = [f"/frameworks/import/{held_id}" for held_id in held_ids]
        tokens = [csrf_token(browser.get(path).text) for browser, path in zip(browsers, paths, strict=True)]
        data = {"tier_level": "1", "area_level": "2", "target": "new"}
        answers = race(
            [
                browser.start_post(path, {**data, "csrf_token": token})
                for browser, path, token in zip(browsers, paths, tokens, strict=True)
            ]
        )
        no_server_errors({"ann": answers[0], "bob": answers[1]}, number)
        db.session.commit()  # a fresh snapshot: see what the server committed
        made = db.session.scalars(select(Framework).where(Framework.title == title)).all()
        assert len(made) == 1, [a.describe() for a in answers]
        assert sorted(a.status for a in answers) == [303, 422], [a.describe() for a in answers]
        [won] = [a for a in answers if a.status == 303]
        [lost] = [a for a in answers if a.status == 422]
        assert won.headers["location"].endswith(f"/frameworks/{made[0].id}")
        assert "<h1>Check the framework to import</h1>" in lost.text
        assert (
            error_next_to(lost.text, "target") == f"Error: {title} is already here: import this as a new version of it"
        )
        db.session.expire_all()
        confirmed = [db.session.get_one(FrameworkImport, held_id).framework_id for held_id in held_ids]
        assert sorted(confirmed, key=lambda x: x is None) == [made[0].id, None]  # the refused upload is still held
        assert (
            len(audit_rows("framework.imported", version=1, filename="ann.json"))
            + len(audit_rows("framework.imported", version=1, filename="bob.json"))
            == number + 1
        )
        rounds.record(answers)
    rounds.assert_enough()


def link_worker_as_shipped(shipped: str) -> None:
    """A race round's start: the Link Worker framework as shipped (a last round may have imported a one-tier
    version), and nobody on a framework, so only this round's people hold a tier of it."""
    current = db.session.scalar(select(Framework).where(Framework.key == "link-worker", Framework.is_current))
    if current.content_hash != shipped:
        loader.load_file(loader.DATA_FOLDER / "link-worker.yaml")
    for earlier in db.session.scalars(select(User).where(User.framework_id.is_not(None))):
        earlier.framework_id = earlier.tier_id = None
    db.session.commit()


def test_a_promotion_decided_while_a_version_without_its_tier_is_imported_is_never_undone(app, server, frameworks):
    """Found by a review: the import read who holds which tier without locking them, so a promotion to a tier the
    file lacks, decided between that check and the carry-over, was undone by the carry-over (moved to the new
    version's first tier: a change of tier without a promotion). The import locks those people before it checks:
    either the promotion comes first and the import is refused, or the import comes first and the promotion is."""
    with app.test_request_context():
        ann_id, _, vera_id, sam_id = (
            make_user(role, email=f"{name.split()[0].lower()}@example.org", name=name).id
            for role, name in (
                (Role.MANAGER, "Ann Manager"),
                (Role.MANAGER, "Bob Manager"),
                (Role.MANAGER, "Vera Verifier"),
                (Role.SUPERVISOR, "Sam Supervisor"),
            )
        )
    importer, decider = signed_in(server, ("ann", "ann@example.org"), ("bob", "bob@example.org"))
    shipped = loader.content_hash(loader.read_data(loader.DATA_FOLDER / "link-worker.yaml"))
    outcomes = {"promoted, import refused": 0, "imported, promotion refused": 0}
    rounds = Rounds()
    for number in rounds:
        with app.test_request_context():
            link_worker_as_shipped(shipped)
            worker = make_user(
                Role.WORKER,
                email=f"wren{number}@example.org",
                name=f"Wren {number}",
                tier=tier("link-worker", "link-worker"),
            )
            sam = db.session.get_one(User, sam_id)
            make_ready(worker, sam, db.session.get_one(User, vera_id))
            request = promotion_request(worker, recommended_by=sam)
            held = import_service.upload(
                db.session.get_one(User, ann_id),
                "link-worker.json",
                as_file(titled("Link Worker Competency Framework", tier_name="Link Worker")),
            )
            worker_id, request_id, held_path = worker.id, request.id, f"/frameworks/import/{held.id}"
        import_token = csrf_token(importer.get(held_path).text)
        decide_page = decider.get(f"/progress/workers/{worker_id}").text
        decide_token = csrf_token(decide_page)
        seen = re.search(r'name="recommendations_seen"[^>]*value="([^"]*)"', decide_page).group(1)
        answers = race(
            [
                importer.start_post(
                    held_path,
                    {"csrf_token": import_token, "tier_level": "1", "area_level": "2", "target": "link-worker"},
                ),
                decider.start_post(
                    f"/progress/requests/{request_id}/decide",
                    {
                        "csrf_token": decide_token,
                        "recommendations_seen": seen,
                        "approved": "yes",
                        **date_fields("effective_on", TODAY),
                        "reasons": "",
                    },
                ),
            ]
        )
        no_server_errors({"import": answers[0], "decide": answers[1]}, number)
        imported_answer, decided = answers
        db.session.commit()  # a fresh snapshot: see what the server committed
        db.session.expire_all()
        worker = db.session.get_one(User, worker_id)
        changes = db.session.scalars(select(TierChange).where(TierChange.worker_id == worker_id)).all()
        approved = db.session.scalars(
            select(PromotionDecision).where(PromotionDecision.request_id == request_id, PromotionDecision.approved)
        ).all()
        # The worker is on the current version, at the tier their promotions (if any) gave them.
        assert worker.framework.is_current and worker.framework.key == "link-worker"
        assert worker.tier.slug == ("link-worker-coach" if changes else "link-worker"), [a.describe() for a in answers]
        if decided.status == 303:
            assert len(approved) == len(changes) == 1
            assert imported_answer.status == 422, imported_answer.describe()
            assert error_next_to(imported_answer.text, "tier_level").startswith(
                "Error: These tiers are not in the file: Link Worker Coach (1 person)"
            )
            assert worker.framework.content_hash == shipped
            outcomes["promoted, import refused"] += 1
        else:
            assert decided.status == 422, decided.describe()
            assert f"Wren {number} is no longer ready for Link Worker Coach" in decided.text
            assert imported_answer.status == 303, imported_answer.describe()
            assert approved == changes == []
            assert [t.slug for t in worker.framework.tiers] == ["link-worker"]
            outcomes["imported, promotion refused"] += 1
        rounds.record(answers)
    rounds.assert_enough(outcomes)


def test_a_person_given_a_tier_while_its_framework_is_imported_ends_on_the_current_version(app, server, frameworks):
    """Found by a helper: giving a person a tier of a framework's current version while a new version is imported,
    committed after the import's carry-over, left them on a version no longer current (their progress then counted
    against an old tree). Changing a worker's tier takes turns with imports: either it comes first and the import
    carries the person over, or the import does and the change is refused, the tier no longer current."""
    with app.test_request_context():
        ann_id, bob_id = (
            make_user(Role.MANAGER, email=f"{name}@example.org", name=f"{name.title()} Manager").id
            for name in ("ann", "bob")
        )
    importer, changer = signed_in(server, ("ann", "ann@example.org"), ("bob", "bob@example.org"))
    shipped = loader.content_hash(loader.read_data(loader.DATA_FOLDER / "link-worker.yaml"))
    outcomes = {"changed, then carried over": 0, "imported, change refused": 0}
    rounds = Rounds()
    for number in rounds:
        with app.test_request_context():
            link_worker_as_shipped(shipped)
            person = make_user(Role.SUPERVISOR, email=f"pat{number}@example.org", name=f"Pat {number}")
            old_tier = tier("link-worker", "link-worker")
            held = import_service.upload(
                db.session.get_one(User, ann_id),
                "link-worker.json",
                as_file(titled("Link Worker Competency Framework", tier_name="Link Worker")),
            )
            person_id, old_tier_id, held_path = person.id, old_tier.id, f"/frameworks/import/{held.id}"
        edit_path = f"/people/{person_id}/edit"
        import_token = csrf_token(importer.get(held_path).text)
        change_token = csrf_token(changer.get(edit_path).text)  # its tier list offers the version current now
        answers = race(
            [
                importer.start_post(
                    held_path,
                    {"csrf_token": import_token, "tier_level": "1", "area_level": "2", "target": "link-worker"},
                ),
                changer.start_post(
                    edit_path,
                    {
                        "csrf_token": change_token,
                        "name": f"Pat {number}",
                        "roles": ["worker", "supervisor"],
                        "tier_id": str(old_tier_id),
                    },
                ),
            ]
        )
        no_server_errors({"import": answers[0], "change": answers[1]}, number)
        imported_answer, changed = answers
        assert imported_answer.status == 303, imported_answer.describe()
        db.session.commit()  # a fresh snapshot: see what the server committed
        db.session.expire_all()
        person = db.session.get_one(User, person_id)
        if changed.status == 303:
            # On the new version, carried over with the others: never left on the old one.
            assert person.is_worker and person.framework.is_current and person.framework.key == "link-worker"
            assert person.tier.slug == "link-worker"
            outcomes["changed, then carried over"] += 1
        else:
            assert changed.status == 422, changed.describe()
            assert error_next_to(changed.text, "tier_id") == "Error: Choose the framework and tier this worker follows"
            assert not person.is_worker and person.framework_id is None
            outcomes["imported, change refused"] += 1
        rounds.record(answers)
    rounds.assert_enough(outcomes)
